/* auth.c — who is calling the HTTP API: see auth.h. */
#include "agent/auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define AUTH_MAX_GROUPS 256

bool auth_route_changes_state(const char *method, const char *url)
{
        size_t n = strlen(url);

        if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
                return false;
        return !(strcmp(method, "POST") == 0 && n >= 6 && strcmp(url + n - 6, "/infer") == 0);
}

static void verdict(AuthVerdict *v, unsigned status, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void verdict(AuthVerdict *v, unsigned status, const char *error, const char *fmt, ...)
{
        va_list ap;

        v->status = status;
        v->error = error;
        va_start(ap, fmt);
        vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
        va_end(ap);
}

/* The host part of a Host or Origin value (port and brackets removed) into out. */
static int host_part(const char *v, char *out, size_t size)
{
        const char *end;
        size_t n;

        if (v[0] == '[') {
                end = strchr(v, ']');
                if (!end)
                        return -EINVAL;
                v++;
        } else {
                end = strchr(v, ':');
                if (!end)
                        end = v + strlen(v);
        }
        n = (size_t)(end - v);
        if (n == 0 || n >= size)
                return -EINVAL;
        memcpy(out, v, n);
        out[n] = '\0';
        return 0;
}

static bool host_trusted(const TrustConfig *t, const char *value)
{
        char host[256];
        struct in_addr a4;
        struct in6_addr a6;

        if (host_part(value, host, sizeof(host)) < 0)
                return false;
        if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
                return true;
        if (inet_pton(AF_INET, host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        if (inet_pton(AF_INET6, host, &a6) == 1)
                return IN6_IS_ADDR_LOOPBACK(&a6);
        for (size_t i = 0; i < t->n_api_hosts; i++)
                if (strcasecmp(host, t->api_hosts[i]) == 0)
                        return true;
        return false;
}

/* The Origin's host: "scheme://host[:port]"; "null" and anything else odd is foreign. */
static bool origin_trusted(const TrustConfig *t, const char *origin)
{
        const char *p = strstr(origin, "://");

        if (!p)
                return false;
        return host_trusted(t, p + 3);
}

/* Constant-time comparison of the presented token with the configured one. */
static bool token_equal(const char *a, const char *b)
{
        size_t na = strlen(a), nb = strlen(b);
        unsigned char d = na != nb;

        for (size_t i = 0; i < nb; i++)
                d |= (unsigned char)(b[i] ^ (i < na ? a[i] : 0));
        return d == 0;
}

static bool peer_in_group(int fd, gid_t gid, gid_t primary)
{
        gid_t groups[AUTH_MAX_GROUPS];
        socklen_t len = sizeof(groups);

        if (primary == gid)
                return true;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
                return false;
        for (size_t i = 0; i < len / sizeof(gid_t); i++)
                if (groups[i] == gid)
                        return true;
        return false;
}

static void check_unix(const TrustConfig *t, int fd, AuthVerdict *v)
{
        struct ucred cred;
        socklen_t len = sizeof(cred);
        const char *group = t->api_group ? t->api_group : TRUST_DEFAULT_GROUP;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                verdict(v, 401, "unidentified caller",
                        "cannot identify the caller on the UNIX socket (SO_PEERCRED: %s)",
                        strerror(errno));
                return;
        }
        if (cred.uid == 0 || cred.uid == geteuid() ||
            (t->api_gid_valid && peer_in_group(fd, t->api_gid, cred.gid)))
                return;
        verdict(v, 403, "not allowed",
                "uid %u may read and infer but not change pipelines or plans: changes are for "
                "root, the agent's uid %u%s%s%s (run spongectl as one of them)",
                (unsigned)cred.uid, (unsigned)geteuid(),
                t->api_gid_valid ? " or members of group " : "", t->api_gid_valid ? group : "",
                t->api_gid_valid ? "" : " (no group: api_group unset or missing)");
}

static void check_tcp_change(const TrustConfig *t, struct MHD_Connection *c, AuthVerdict *v)
{
        const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

        if (origin && !origin_trusted(t, origin)) {
                verdict(v, 403, "foreign origin",
                        "a change sent from a web page of \"%.100s\" is refused; changes come from "
                        "spongectl or a client without a foreign Origin",
                        origin);
                return;
        }
        if (!t->api_token) {
                verdict(v, 401, "changes need the UNIX socket",
                        "this TCP listener accepts no changes (no api_token_file is configured): "
                        "use the UNIX socket (spongectl does by default) as root or a member of "
                        "the agent's group, or configure api_token_file and send "
                        "Authorization: Bearer <token>");
                v->www_authenticate = true;
                return;
        }
        if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || !token_equal(auth + 7, t->api_token)) {
                verdict(v, 401, auth ? "invalid token" : "token required",
                        "changes over TCP need \"Authorization: Bearer <token>\" with the token of "
                        "the agent's api_token_file (spongectl --token-file FILE), or the UNIX "
                        "socket");
                v->www_authenticate = true;
        }
}

int auth_check(const TrustConfig *t, struct MHD_Connection *c, const char *method, const char *url,
               AuthVerdict *ret)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        bool change = auth_route_changes_state(method, url);
        const char *host;

        *ret = (AuthVerdict){0};
        if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &len) < 0) {
                verdict(ret, 403, "unidentified caller", "cannot inspect the connection");
                return -ENOTSOCK;
        }
        if (ss.ss_family == AF_UNIX) {
                if (change)
                        check_unix(t, ci->connect_fd, ret);
                return 0;
        }
        host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
        if (host && !host_trusted(t, host)) {
                verdict(ret, 421, "foreign host",
                        "Host \"%.100s\" is not this agent's: accepted are localhost, loopback "
                        "addresses and the node config's api_hosts",
                        host);
                return 0;
        }
        if (change)
                check_tcp_change(t, c, ret);
        return 0;
}
