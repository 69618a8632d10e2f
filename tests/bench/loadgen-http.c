/* SPDX-License-Identifier: MIT */
/* loadgen-http.c — sponge-load's targets (loopback URL or UNIX socket) and its incremental
 * HTTP/1.1 response parser (RFC 9112: status line, headers, Content-Length, chunked, or a body
 * delimited by close). See loadgen.h. */
#include "tests/bench/loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return r;
}

/* ---- targets -------------------------------------------------------------------------------- */

/* A request target we can put on the request line as is: '/' then visible ASCII. */
static bool path_ok(const char *path)
{
        if (path[0] != '/' || strlen(path) >= sizeof(((LgTarget *)0)->path))
                return false;
        for (const char *p = path; *p; p++)
                if (*p <= ' ' || *p >= 0x7f)
                        return false;
        return true;
}

static int parse_port(const char *s, size_t n, uint16_t *ret)
{
        unsigned long v = 0;

        if (n == 0 || n > 5)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned long)(s[i] - '0');
        }
        if (v == 0 || v > 65535)
                return -EINVAL;
        *ret = (uint16_t)v;
        return 0;
}

int lg_target_parse_url(const char *url, LgTarget *ret, char *err, size_t errlen)
{
        static const char scheme[] = "http://";
        const char *auth, *slash, *host_end, *port_s = NULL;
        char host[64];
        size_t host_len;
        uint16_t port = 80;
        LgTarget t = {0};

        if (strncmp(url, scheme, strlen(scheme)) != 0)
                return fail(err, errlen, -EINVAL,
                            "--url \"%.80s\": expected http://HOST[:PORT]/PATH (plain HTTP)", url);
        auth = url + strlen(scheme);
        slash = strchr(auth, '/');
        if (!slash)
                return fail(err, errlen, -EINVAL,
                            "--url \"%.80s\": no path (e.g. "
                            "/v1/pipelines/NAME/infer)",
                            url);
        if (auth[0] == '[') {
                host_end = memchr(auth, ']', (size_t)(slash - auth));
                if (!host_end)
                        return fail(err, errlen, -EINVAL, "--url: unterminated [IPv6] host");
                auth++;
                host_len = (size_t)(host_end - auth);
                host_end++;
        } else {
                host_end = memchr(auth, ':', (size_t)(slash - auth));
                if (!host_end)
                        host_end = slash;
                host_len = (size_t)(host_end - auth);
        }
        if (host_end < slash) {
                if (*host_end != ':')
                        return fail(err, errlen, -EINVAL, "--url: junk after the host");
                port_s = host_end + 1;
                if (parse_port(port_s, (size_t)(slash - port_s), &port) < 0)
                        return fail(
                            err, errlen, -EINVAL, "--url: port \"%.*s\": expected 1 to 65535",
                            (int)((size_t)(slash - port_s) < 10 ? slash - port_s : 10), port_s);
        }
        if (host_len == 0 || host_len >= sizeof(host))
                return fail(err, errlen, -EINVAL, "--url: bad host");
        memcpy(host, auth, host_len);
        host[host_len] = '\0';
        if (!path_ok(slash))
                return fail(err, errlen, -EINVAL,
                            "--url: the path must be visible ASCII without spaces, under %zu "
                            "bytes",
                            sizeof(t.path));
        if (strcasecmp(host, "localhost") == 0)
                snprintf(host, sizeof(host), "127.0.0.1");
        if (url[strlen(scheme)] == '[') {
                struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&t.addr;
                if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
                        return fail(err, errlen, -EINVAL, "--url: bad IPv6 address \"%s\"", host);
                /* Loopback only: ::1, or an IPv4-mapped 127.x address. */
                if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr) &&
                    !(IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr) && a6->sin6_addr.s6_addr[12] == 127))
                        return fail(err, errlen, -EPERM,
                                    "--url: %s is not a loopback address; sponge-load only "
                                    "talks to this machine (127.0.0.0/8, ::1 or --unix)",
                                    host);
                a6->sin6_family = AF_INET6;
                a6->sin6_port = htons(port);
                t.addr_len = sizeof(*a6);
        } else {
                struct sockaddr_in *a4 = (struct sockaddr_in *)&t.addr;
                if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
                        return fail(err, errlen, -EINVAL,
                                    "--url: host \"%s\" must be an IP literal or localhost (no "
                                    "name lookups)",
                                    host);
                if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
                        return fail(err, errlen, -EPERM,
                                    "--url: %s is not a loopback address; sponge-load only "
                                    "talks to this machine (127.0.0.0/8, ::1 or --unix)",
                                    host);
                a4->sin_family = AF_INET;
                a4->sin_port = htons(port);
                t.addr_len = sizeof(*a4);
        }
        snprintf(t.host, sizeof(t.host), "%s%s%s:%u", url[strlen(scheme)] == '[' ? "[" : "", host,
                 url[strlen(scheme)] == '[' ? "]" : "", (unsigned)port);
        memcpy(t.path, slash, strlen(slash) + 1);
        *ret = t;
        return 0;
}

int lg_target_unix(const char *sock_path, const char *path, LgTarget *ret, char *err, size_t errlen)
{
        LgTarget t = {0};
        struct sockaddr_un *sa = (struct sockaddr_un *)&t.addr;

        if (sock_path[0] == '\0' || strlen(sock_path) >= sizeof(sa->sun_path))
                return fail(err, errlen, -EINVAL, "--unix: path empty or longer than %zu bytes",
                            sizeof(sa->sun_path) - 1);
        if (!path || !path_ok(path))
                return fail(err, errlen, -EINVAL,
                            "--path: expected /v1/pipelines/NAME/infer (visible ASCII, starting "
                            "with /)");
        sa->sun_family = AF_UNIX;
        memcpy(sa->sun_path, sock_path, strlen(sock_path) + 1);
        t.addr_len = (socklen_t)sizeof(*sa);
        snprintf(t.host, sizeof(t.host), "localhost");
        memcpy(t.path, path, strlen(path) + 1);
        *ret = t;
        return 0;
}

/* ---- response parser ------------------------------------------------------------------------ */

void lg_resp_reset(LgResp *p)
{
        p->state = LG_RESP_HEAD;
        p->status = 0;
        p->keep_alive = false;
        p->late = false;
        p->server_ms = -1;
        p->remaining = 0;
        p->head_len = 0;
        p->line_len = 0;
        p->body_bytes = 0;
        p->variants[0] = '\0';
}

bool lg_resp_started(const LgResp *p)
{
        return p->state != LG_RESP_HEAD || p->head_len > 0 || p->status != 0;
}

/* Whether the comma-separated list v contains token tok (case-insensitive). */
static bool has_token(const char *v, const char *tok)
{
        size_t n = strlen(tok);

        while (*v) {
                while (*v == ' ' || *v == '\t' || *v == ',')
                        v++;
                if (strncasecmp(v, tok, n) == 0 &&
                    (v[n] == '\0' || v[n] == ',' || v[n] == ' ' || v[n] == '\t'))
                        return true;
                v += strcspn(v, ",");
        }
        return false;
}

static int parse_u64_dec(const char *s, uint64_t *ret)
{
        uint64_t v = 0;

        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
                        return -EINVAL;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        *ret = v;
        return 0;
}

typedef struct HeadInfo {
        bool chunked, have_len, conn_close, conn_keep;
        uint64_t len;
} HeadInfo;

/* One "Name: value" line (NUL-terminated, no CRLF). */
static int head_field(LgResp *p, char *line, HeadInfo *h)
{
        char *colon = strchr(line, ':'), *v, *end;

        if (!colon || colon == line)
                return -EBADMSG;
        for (char *c = line; c < colon; c++)
                if (*c <= ' ' || *c >= 0x7f)
                        return -EBADMSG; /* no whitespace before the colon (RFC 9112 5.1) */
        *colon = '\0';
        v = colon + 1;
        while (*v == ' ' || *v == '\t')
                v++;
        end = v + strlen(v);
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                *--end = '\0';
        if (strcasecmp(line, "Content-Length") == 0) {
                uint64_t len;
                if (parse_u64_dec(v, &len) < 0 || (h->have_len && len != h->len))
                        return -EBADMSG;
                h->have_len = true;
                h->len = len;
        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
                /* Only "chunked" last can be delimited; anything else reads until close. */
                size_t n = strlen(v);
                h->chunked = n >= 7 && strcasecmp(v + n - 7, "chunked") == 0;
                if (!h->chunked)
                        h->conn_close = true;
        } else if (strcasecmp(line, "Connection") == 0) {
                h->conn_close |= has_token(v, "close");
                h->conn_keep |= has_token(v, "keep-alive");
        } else if (strcasecmp(line, "X-Sponge-Variants") == 0) {
                /* Kept for the CSV: visible ASCII only, no quotes, so the field stays one field */
                size_t n = 0;
                for (; *v && n < sizeof(p->variants) - 1; v++)
                        if (*v > ' ' && *v < 0x7f && *v != '"')
                                p->variants[n++] = *v;
                p->variants[n] = '\0';
        } else if (strcasecmp(line, "X-Sponge-Latency-Ms") == 0) {
                char *e;
                double ms = strtod(v, &e);
                if (e != v && *e == '\0' && ms >= 0)
                        p->server_ms = ms;
        } else if (strcasecmp(line, "X-Sponge-Late") == 0) {
                p->late = strcmp(v, "1") == 0;
        }
        return 0;
}

/* The head is complete in p->head (NUL-terminated, ends with CRLF CRLF). Sets the body state. */
static int head_parse(LgResp *p)
{
        HeadInfo h = {0};
        char *line = p->head, *eol;
        bool http10;

        /* Status line: HTTP/1.x SP 3DIGIT [SP reason] */
        if (strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
            line[8] != ' ')
                return -EBADMSG;
        http10 = line[7] == '0';
        for (int i = 9; i < 12; i++)
                if (line[i] < '0' || line[i] > '9')
                        return -EBADMSG;
        if (line[12] != ' ' && line[12] != '\r')
                return -EBADMSG;
        p->status = (unsigned)((line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0'));
        if (p->status < 100 || p->status > 599)
                return -EBADMSG;
        eol = strstr(line, "\r\n");
        for (line = eol + 2; line[0] != '\r'; line = eol + 2) {
                eol = strstr(line, "\r\n");
                *eol = '\0';
                if (head_field(p, line, &h) < 0)
                        return -EBADMSG;
        }
        p->keep_alive = http10 ? h.conn_keep && !h.conn_close : !h.conn_close;
        if (p->status < 200 || p->status == 204 || p->status == 304) {
                p->state = LG_RESP_DONE;
        } else if (h.chunked) {
                p->state = LG_RESP_CHUNK_SIZE;
                p->line_len = 0;
        } else if (h.have_len) {
                if (h.len > LG_RESP_BODY_MAX)
                        return -EBADMSG;
                p->remaining = h.len;
                p->state = h.len ? LG_RESP_BODY_LEN : LG_RESP_DONE;
        } else {
                p->keep_alive = false;
                p->state = LG_RESP_BODY_EOF;
        }
        return 0;
}

/* Takes head bytes until the blank line. Returns bytes used; *done when the head is complete. */
static int feed_head(LgResp *p, const char *data, size_t len, size_t *used, bool *done)
{
        size_t scan_from = p->head_len > 3 ? p->head_len - 3 : 0;
        size_t take = len < LG_HEAD_MAX - 1 - p->head_len ? len : LG_HEAD_MAX - 1 - p->head_len;
        char *end;

        memcpy(p->head + p->head_len, data, take);
        p->head_len += take;
        p->head[p->head_len] = '\0';
        end = memmem(p->head + scan_from, p->head_len - scan_from, "\r\n\r\n", 4);
        /* The head is text (a NUL would cut it short); what follows it is body, any bytes. */
        if (memchr(p->head, '\0', end ? (size_t)(end - p->head) : p->head_len))
                return -EBADMSG;
        if (!end) {
                if (p->head_len >= LG_HEAD_MAX - 1)
                        return -EBADMSG;
                if (p->head_len >= 8 && strncmp(p->head, "HTTP/1.", 7) != 0)
                        return -EBADMSG; /* not HTTP: say so without waiting for 16 KiB */
                *used = take;
                *done = false;
                return 0;
        }
        /* Keep only the head; the rest of data is body. */
        *used = take - (p->head_len - (size_t)(end + 4 - p->head));
        p->head_len = (size_t)(end + 4 - p->head);
        p->head[p->head_len] = '\0';
        *done = true;
        return head_parse(p);
}

/* A chunk-size line "HEX[;ext]" → remaining; 0 means the last chunk. */
static int chunk_size(LgResp *p)
{
        uint64_t v = 0;
        size_t i = 0;

        for (; i < p->line_len && p->line[i] != ';' && p->line[i] != ' '; i++) {
                char c = p->line[i];
                unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                             : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                             : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                    : 16u;
                if (d > 15 || v > (LG_RESP_BODY_MAX >> 4))
                        return -EBADMSG;
                v = v * 16 + d;
        }
        if (i == 0 || p->body_bytes + v > LG_RESP_BODY_MAX)
                return -EBADMSG;
        p->remaining = v;
        return 0;
}

/* Accumulates a CRLF-terminated line into p->line. Returns 1 when complete (CRLF stripped). */
static int take_line(LgResp *p, char c)
{
        if (c == '\n') {
                if (p->line_len == 0 || p->line[p->line_len - 1] != '\r')
                        return -EBADMSG;
                p->line_len--;
                return 1;
        }
        if (p->line_len >= sizeof(p->line) - 1)
                return -EBADMSG;
        p->line[p->line_len++] = c;
        return 0;
}

static int feed_body(LgResp *p, const char *data, size_t len, size_t *used)
{
        size_t i = 0;

        while (i < len && p->state != LG_RESP_DONE) {
                size_t n;
                int r;
                switch (p->state) {
                case LG_RESP_BODY_EOF:
                        p->body_bytes += len - i;
                        if (p->body_bytes > LG_RESP_BODY_MAX)
                                return -EBADMSG;
                        i = len;
                        break;
                case LG_RESP_BODY_LEN:
                case LG_RESP_CHUNK_DATA:
                        n = len - i < p->remaining ? len - i : (size_t)p->remaining;
                        p->remaining -= n;
                        p->body_bytes += n;
                        i += n;
                        if (p->remaining == 0)
                                p->state = p->state == LG_RESP_BODY_LEN ? LG_RESP_DONE
                                                                        : LG_RESP_CHUNK_CRLF;
                        p->line_len = 0;
                        break;
                case LG_RESP_CHUNK_SIZE:
                        r = take_line(p, data[i++]);
                        if (r < 0 || (r == 1 && chunk_size(p) < 0))
                                return -EBADMSG;
                        if (r == 1) {
                                p->line_len = 0;
                                p->state = p->remaining ? LG_RESP_CHUNK_DATA : LG_RESP_TRAILER;
                        }
                        break;
                case LG_RESP_CHUNK_CRLF: /* exactly CRLF after the chunk's data */
                        if (data[i] != '\r' && data[i] != '\n')
                                return -EBADMSG;
                        r = take_line(p, data[i++]);
                        if (r < 0 || (r == 1 && p->line_len != 0))
                                return -EBADMSG;
                        if (r == 1)
                                p->state = LG_RESP_CHUNK_SIZE;
                        break;
                case LG_RESP_TRAILER: /* trailer fields, ignored, until an empty line */
                        r = take_line(p, data[i++]);
                        if (r < 0)
                                return -EBADMSG;
                        if (r == 1) {
                                if (p->line_len == 0)
                                        p->state = LG_RESP_DONE;
                                p->line_len = 0;
                        }
                        break;
                default:
                        return -EBADMSG;
                }
        }
        *used = i;
        return 0;
}

int lg_resp_feed(LgResp *p, const char *data, size_t len, size_t *ret_used)
{
        size_t total = 0;

        while (p->state != LG_RESP_DONE && total < len) {
                size_t used = 0;
                bool done = false;
                int r;

                if (p->state == LG_RESP_HEAD) {
                        r = feed_head(p, data + total, len - total, &used, &done);
                        if (r < 0)
                                return r;
                        total += used;
                        if (done && p->status < 200)
                                lg_resp_reset(p); /* 1xx: an interim answer, the real one follows */
                        continue;
                }
                r = feed_body(p, data + total, len - total, &used);
                if (r < 0)
                        return r;
                total += used;
        }
        *ret_used = total;
        return p->state == LG_RESP_DONE ? 1 : 0;
}

int lg_resp_eof(const LgResp *p)
{
        return p->state == LG_RESP_DONE || p->state == LG_RESP_BODY_EOF ? 1 : -ECONNRESET;
}
