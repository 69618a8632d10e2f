/* spongectl — the command line client of sponged's HTTP API (and `validate`, which needs no
 * running agent). Speaks HTTP/1.1 over TCP or a UNIX socket with a small built-in client.
 * Errors go to stderr; the exit status is 0 on success, 1 on an API or I/O error, 2 on usage. */
#include <arpa/inet.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "agent/auth.h"
#include "agent/util.h"
#include "pipelines/pipeline.h"

#define RESPONSE_MAX   (64u << 20)
#define DEFAULT_URL    "http://127.0.0.1:8750"
#define DEFAULT_SOCKET "/run/sponged/api.sock"
#define TOKEN_MAX      4096

typedef struct Client {
        const char *url;   /* http://HOST:PORT or unix:/path */
        char socket[4096]; /* "unix:PATH": where changes go when url is TCP without a token */
        char *token;       /* owned: bearer token for changes over TCP (--token-file) */
} Client;

/* Changes go over the UNIX socket (SO_PEERCRED identifies us) unless a token was given or the
 * URL is a UNIX socket already; reads and inference go to the URL. */
static const char *target_of(const Client *c, const char *method, const char *path)
{
        if (!auth_route_changes_state(method, path) || c->token || strncmp(c->url, "unix:", 5) == 0)
                return c->url;
        return c->socket;
}

typedef struct Response {
        unsigned status;
        Buf headers;
        Buf body;
} Response;

static int connect_to(const char *url)
{
        if (strncmp(url, "unix:", 5) == 0) {
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                int fd;
                if (strlen(url + 5) >= sizeof(sa.sun_path))
                        return -ENAMETOOLONG;
                memcpy(sa.sun_path, url + 5, strlen(url + 5));
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                        int r = -errno;
                        if (fd >= 0)
                                close(fd);
                        return r;
                }
                return fd;
        }
        char host[256], *port;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : url;
        int fd = -1, r;

        if (snprintf(host, sizeof(host), "%s", p) >= (int)sizeof(host))
                return -ENAMETOOLONG;
        host[strcspn(host, "/")] = '\0';
        port = strrchr(host, ':');
        if (!port)
                return -EINVAL;
        *port++ = '\0';
        if (host[0] == '[') {
                memmove(host, host + 1, strlen(host));
                host[strcspn(host, "]")] = '\0';
        }
        r = getaddrinfo(host, port, &hints, &ai);
        if (r != 0)
                return -EHOSTUNREACH;
        for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
                fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
                if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
                        r = -errno;
                        close(fd);
                        fd = -1;
                }
        }
        freeaddrinfo(ai);
        return fd >= 0 ? fd : (r < 0 ? r : -ECONNREFUSED);
}

static int send_all(int fd, const void *p, size_t n)
{
        const char *c = p;

        while (n > 0) {
                ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                c += w;
                n -= (size_t)w;
        }
        return 0;
}

/* One request, "Connection: close", the whole answer read. extra: more header lines or "". */
static int http(const Client *c, const char *method, const char *path, const char *extra,
                const void *body, size_t len, Response *ret)
{
        _cleanup_close_ int fd = connect_to(target_of(c, method, path));
        char head[2048], auth[TOKEN_MAX + 32] = "";
        _cleanup_free_ char *raw = NULL;
        size_t raw_len = 0;
        char *sep;
        int n, r;

        if (fd < 0)
                return fd;
        if (c->token && auth_route_changes_state(method, path))
                snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", c->token);
        n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n",
                     method, path, len, auth, extra);
        if (n < 0 || (size_t)n >= sizeof(head))
                return -ENAMETOOLONG;
        r = send_all(fd, head, (size_t)n);
        if (r >= 0 && len > 0)
                r = send_all(fd, body, len);
        if (r >= 0)
                r = pl_read_fd(fd, RESPONSE_MAX, &raw, &raw_len);
        if (r < 0)
                return r;
        sep = strstr(raw, "\r\n\r\n");
        if (!sep || sscanf(raw, "HTTP/1.%*d %u", &ret->status) != 1)
                return -EBADMSG;
        buf_append(&ret->headers, raw, (size_t)(sep - raw));
        buf_append(&ret->body, sep + 4, raw_len - (size_t)(sep + 4 - raw));
        buf_append(&ret->body, "", 1);
        ret->body.len--;
        return 0;
}

static void response_done(Response *r)
{
        buf_done(&r->headers);
        buf_done(&r->body);
}

/* Prints an API error (JSON {"error","detail"}) to stderr; returns 1. */
static int api_error(const Response *r)
{
        json_t *j = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
        const char *e = j ? json_string_value(json_object_get(j, "error")) : NULL;
        const char *d = j ? json_string_value(json_object_get(j, "detail")) : NULL;

        fprintf(stderr, "spongectl: HTTP %u: %s%s%s\n", r->status,
                e ? e : (const char *)r->body.data, d && *d ? ": " : "", d ? d : "");
        json_decref(j);
        return 1;
}

static int call(const Client *c, const char *method, const char *path, const char *extra,
                const void *body, size_t len, Response *ret)
{
        int r = http(c, method, path, extra, body, len, ret);
        bool change = auth_route_changes_state(method, path);

        if (r < 0) {
                fprintf(stderr, "spongectl: cannot reach sponged at %s: %s\n",
                        target_of(c, method, path), strerror(-r));
                if (change && (r == -EACCES || r == -EPERM))
                        fprintf(stderr, "spongectl: changes go over the agent's UNIX socket: run "
                                        "as root or as a member of group sponged, or pass "
                                        "--token-file FILE to use TCP\n");
                return 1;
        }
        if (ret->status == 401 || ret->status == 403) {
                api_error(ret);
                fprintf(stderr,
                        "spongectl: refused: changes are for the operator. Run spongectl as "
                        "root or as a member of group sponged (it uses the UNIX socket %s; "
                        "--socket PATH), or pass --token-file FILE with the agent's "
                        "api_token_file for TCP\n",
                        c->socket + 5);
                return 1;
        }
        return ret->status >= 300 ? api_error(ret) : 0;
}

static void print_stage_row(const char *pipeline, json_t *s, json_t *p)
{
        json_t *plan = json_object_get(s, "plan");

        printf("%-12s %-10s %-10s %5lld %7lld %4lld %6lld %8.1f %8.1f %7.2f\n", pipeline,
               json_string_value(json_object_get(s, "name")),
               json_string_value(json_object_get(plan, "variant")),
               json_integer_value(json_object_get(plan, "batch")),
               json_integer_value(json_object_get(plan, "millicores")),
               json_integer_value(json_object_get(plan, "replicas")),
               json_integer_value(json_object_get(s, "queue_length")),
               json_real_value(json_object_get(s, "processing_p99_ms")),
               json_real_value(json_object_get(p, "p99_ms")),
               json_real_value(json_object_get(p, "slo_attainment_pct")));
}

static int print_status(json_t *root)
{
        json_t *list = json_object_get(root, "pipelines"), *one = NULL, *p, *s;
        size_t i, k;

        if (!list) {
                one = json_array();
                json_array_append(one, root);
                list = one;
        }
        printf("%-12s %-10s %-10s %5s %7s %4s %6s %8s %8s %7s\n", "PIPELINE", "STAGE", "VARIANT",
               "BATCH", "MCORES", "REPL", "QUEUE", "PROC99ms", "E2E99ms", "SLO%");
        json_array_foreach(list, i, p)
        {
                const char *name = json_string_value(json_object_get(p, "name"));
                json_array_foreach(json_object_get(p, "stages"), k, s) print_stage_row(name, s, p);
                printf("%-12s control: %s\n", "",
                       json_string_value(json_object_get(json_object_get(p, "control"), "reason")));
        }
        json_decref(one);
        return 0;
}

static int cmd_status(const Client *c, int argc, char **argv, bool raw)
{
        char path[128];
        Response r = {0};
        json_t *j;
        int k;

        snprintf(path, sizeof(path), "/v1/pipelines%s%.40s", argc > 0 ? "/" : "",
                 argc > 0 ? argv[0] : "");
        k = call(c, "GET", path, "", NULL, 0, &r);
        if (k == 0 && raw)
                fwrite(r.body.data, 1, r.body.len, stdout);
        else if (k == 0) {
                j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
                k = j ? print_status(j) : 1;
                json_decref(j);
        }
        response_done(&r);
        return k;
}

/* names: one pipeline name a line (scripts, bash completion). */
static int cmd_names(const Client *c)
{
        Response r = {0};
        json_t *j, *p;
        size_t i;
        int k = call(c, "GET", "/v1/pipelines", "", NULL, 0, &r);

        if (k == 0) {
                j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
                json_array_foreach(json_object_get(j, "pipelines"), i, p)
                {
                        const char *n = json_string_value(json_object_get(p, "name"));
                        if (n && !json_is_true(json_object_get(p, "retired")))
                                puts(n);
                }
                k = j ? 0 : 1;
                json_decref(j);
        }
        response_done(&r);
        return k;
}

static int read_input(const char *file, char **ret, size_t *ret_len)
{
        if (file && strcmp(file, "-") != 0)
                return read_file(file, PL_FILE_BYTES_MAX, ret, ret_len);
        return pl_read_fd(STDIN_FILENO, RESPONSE_MAX, ret, ret_len);
}

static int cmd_validate(int argc, char **argv)
{
        int bad = 0;

        if (argc < 1)
                return fprintf(stderr, "spongectl validate FILE...\n"), 2;
        for (int i = 0; i < argc; i++) {
                pl_pipeline *p = NULL;
                char err[1024];
                if (pl_load_file(argv[i], &p, err, sizeof(err)) < 0) {
                        fprintf(stderr, "%s\n", err);
                        bad = 1;
                        continue;
                }
                printf("%s: valid pipeline \"%s\" (%zu stages, policy %s)\n", argv[i], p->name,
                       p->n_stages, pl_policy_to_string(p->policy));
                pl_pipeline_free(p);
        }
        return bad;
}

/* apply FILE: validates locally (precise errors without a round trip), then PUT. */
static int cmd_apply(const Client *c, int argc, char **argv)
{
        _cleanup_free_ char *text = NULL;
        pl_pipeline *p = NULL;
        char err[1024], path[128];
        Response r = {0};
        size_t len;
        int k;

        if (argc != 1)
                return fprintf(stderr, "spongectl apply FILE\n"), 2;
        k = read_input(argv[0], &text, &len);
        if (k < 0)
                return fprintf(stderr, "spongectl: %s: %s\n", argv[0], strerror(-k)), 1;
        if (pl_parse(text, len, &p, err, sizeof(err)) < 0)
                return fprintf(stderr, "spongectl: %s: %s\n", argv[0], err), 1;
        snprintf(path, sizeof(path), "/v1/pipelines/%s", p->name);
        pl_pipeline_free(p);
        k = call(c, "PUT", path, "Content-Type: application/json\r\n", text, len, &r);
        if (k == 0)
                printf("applied %s (HTTP %u)\n", path + 14, r.status);
        response_done(&r);
        return k;
}

/* method /v1/pipelines/NAME + suffix, with an optional body from file; prints the answer. */
static int cmd_simple(const Client *c, const char *method, const char *name, const char *suffix,
                      const char *file)
{
        _cleanup_free_ char *text = NULL;
        char path[128];
        Response r = {0};
        size_t len = 0;
        int k;

        if (file && (k = read_input(file, &text, &len)) < 0)
                return fprintf(stderr, "spongectl: %s: %s\n", file, strerror(-k)), 1;
        if (name)
                snprintf(path, sizeof(path), "/v1/pipelines/%.40s%s", name, suffix);
        else
                snprintf(path, sizeof(path), "%s", suffix);
        k = call(c, method, path, "", text, len, &r);
        if (k == 0)
                fwrite(r.body.data, 1, r.body.len, stdout);
        response_done(&r);
        return k;
}

static int cmd_infer(const Client *c, int argc, char **argv)
{
        _cleanup_free_ char *in = NULL;
        char path[128], extra[128] = "";
        Response r = {0};
        size_t len;
        int k;

        if (argc < 1 || argc > 2)
                return fprintf(stderr, "spongectl infer NAME [BUDGET_MS] < input\n"), 2;
        if (argc == 2)
                snprintf(extra, sizeof(extra), "X-Sponge-Deadline-Ms: %.32s\r\n", argv[1]);
        k = read_input(NULL, &in, &len);
        if (k < 0)
                return fprintf(stderr, "spongectl: reading stdin: %s\n", strerror(-k)), 1;
        snprintf(path, sizeof(path), "/v1/pipelines/%.40s/infer", argv[0]);
        k = call(c, "POST", path, extra, in, len, &r);
        if (k == 0)
                fwrite(r.body.data, 1, r.body.len, stdout);
        response_done(&r);
        return k;
}

/* One line of `watch`: rate, per stage variant/batch/millicores/replicas, p99, attainment. */
static void print_watch_line(json_t *p, double t)
{
        json_t *ctl = json_object_get(p, "control"), *s;
        double cores = 0;
        size_t i;

        printf("%6.1fs %6.1f/%6.1f rps ", t, json_real_value(json_object_get(ctl, "observed_rps")),
               json_real_value(json_object_get(ctl, "planned_rps")));
        json_array_foreach(json_object_get(p, "stages"), i, s)
        {
                json_t *plan = json_object_get(s, "plan");
                json_int_t mc = json_integer_value(json_object_get(plan, "millicores"));
                json_int_t n = json_integer_value(json_object_get(plan, "replicas"));
                cores += (double)(mc * n) / 1000.0;
                printf("| %s %s b%lld %lldm x%lld q%lld ",
                       json_string_value(json_object_get(s, "name")),
                       json_string_value(json_object_get(plan, "variant")),
                       json_integer_value(json_object_get(plan, "batch")), mc, n,
                       json_integer_value(json_object_get(s, "queue_length")));
        }
        printf("| p99 %7.1f ms | SLO %6.2f%% | %.2f cores\n",
               json_real_value(json_object_get(p, "p99_ms")),
               json_real_value(json_object_get(p, "slo_attainment_pct")), cores);
        fflush(stdout);
}

/* watch NAME [SECONDS]: one status line per second (0 = until interrupted or the agent goes). */
static int cmd_watch(const Client *c, int argc, char **argv)
{
        char path[128];
        uint64_t secs = 0, start = now_us();

        if (argc < 1 || argc > 2 || (argc == 2 && parse_u64(argv[1], &secs) < 0))
                return fprintf(stderr, "spongectl watch NAME [SECONDS]\n"), 2;
        snprintf(path, sizeof(path), "/v1/pipelines/%.40s", argv[0]);
        for (uint64_t n = 0; secs == 0 || n < secs; n++) {
                Response r = {0};
                json_t *j;
                int k = call(c, "GET", path, "", NULL, 0, &r);
                if (k != 0) {
                        response_done(&r);
                        return k;
                }
                j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
                if (j)
                        print_watch_line(j, (double)(now_us() - start) / 1e6);
                json_decref(j);
                response_done(&r);
                usleep((useconds_t)(USEC_PER_SEC - (now_us() - start) % USEC_PER_SEC));
        }
        return 0;
}

/* The first line of the token file given with --token-file. */
static int read_token(const char *path, char **ret)
{
        char *s = NULL;
        size_t len = 0;
        int r = read_file(path, TOKEN_MAX, &s, &len);

        if (r < 0) {
                fprintf(stderr, "spongectl: cannot read the token file %s: %s\n", path,
                        strerror(-r));
                return r;
        }
        s[strcspn(s, "\r\n")] = '\0';
        if (!*s) {
                fprintf(stderr, "spongectl: the token file %s is empty\n", path);
                free(s);
                return -EINVAL;
        }
        *ret = s;
        return 0;
}

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: spongectl [--url URL] [--socket PATH] [--token-file FILE] [--json] COMMAND "
                "...\n"
                "  status [PIPELINE]       plan and state as a table (--json: raw JSON)\n"
                "  apply FILE              validate, then create or replace a pipeline\n"
                "  delete NAME             remove a pipeline (its requests are answered)\n"
                "  plan NAME               the plan in force\n"
                "  pin NAME FILE           pin a plan by hand (JSON array, one per stage)\n"
                "  unpin NAME              let the control loop plan again\n"
                "  infer NAME [BUDGET_MS]  send stdin as a request, print the answer\n"
                "  watch NAME [SECONDS]    one status line a second (0 or none: until ^C)\n"
                "  node                    node state (backend, cores)\n"
                "  names                   pipeline names, one a line\n"
                "  validate FILE...        check pipeline files (no agent needed)\n"
                "URL: http://HOST:PORT or unix:/path (default $SPONGED_URL or %s)\n"
                "Changes (apply, delete, pin, unpin) go over the UNIX socket (--socket PATH,\n"
                "default $SPONGED_SOCKET or %s), where sponged identifies the caller\n"
                "(root, its own user, or group sponged); with --token-file FILE they go to\n"
                "the URL with that bearer token instead.\n",
                DEFAULT_URL, DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"url", required_argument, NULL, 'u'},
            {"socket", required_argument, NULL, 's'},
            {"token-file", required_argument, NULL, 't'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {0},
        };
        Client c = {.url = getenv("SPONGED_URL") ? getenv("SPONGED_URL") : DEFAULT_URL};
        const char *sock = getenv("SPONGED_SOCKET") ? getenv("SPONGED_SOCKET") : DEFAULT_SOCKET;
        _cleanup_free_ char *token = NULL;
        bool json = false;
        const char *cmd;
        int o;

        while ((o = getopt_long(argc, argv, "+u:s:t:jh", opts, NULL)) != -1) {
                if (o == 'u')
                        c.url = optarg;
                else if (o == 's')
                        sock = optarg;
                else if (o == 't') {
                        if (read_token(optarg, &token) < 0)
                                return 1;
                        c.token = token;
                } else if (o == 'j')
                        json = true;
                else if (o == 'h')
                        return usage(stdout), 0;
                else if (o == 'V')
                        return puts("spongectl " SPONGED_VERSION), 0;
                else
                        return usage(stderr), 2;
        }
        if (optind >= argc)
                return usage(stderr), 2;
        if (snprintf(c.socket, sizeof(c.socket), "unix:%s", sock) >= (int)sizeof(c.socket)) {
                fprintf(stderr, "spongectl: --socket path too long\n");
                return 2;
        }
        cmd = argv[optind];
        argc -= optind + 1;
        argv += optind + 1;
        if (strcmp(cmd, "status") == 0)
                return cmd_status(&c, argc, argv, json);
        if (strcmp(cmd, "validate") == 0)
                return cmd_validate(argc, argv);
        if (strcmp(cmd, "apply") == 0)
                return cmd_apply(&c, argc, argv);
        if (strcmp(cmd, "infer") == 0)
                return cmd_infer(&c, argc, argv);
        if (strcmp(cmd, "watch") == 0)
                return cmd_watch(&c, argc, argv);
        if (strcmp(cmd, "names") == 0 && argc == 0)
                return cmd_names(&c);
        if (strcmp(cmd, "node") == 0 && argc == 0)
                return cmd_simple(&c, "GET", NULL, "/v1/node", NULL);
        if (strcmp(cmd, "delete") == 0 && argc == 1)
                return cmd_simple(&c, "DELETE", argv[0], "", NULL);
        if (strcmp(cmd, "plan") == 0 && argc == 1)
                return cmd_simple(&c, "GET", argv[0], "/plan", NULL);
        if (strcmp(cmd, "pin") == 0 && argc == 2)
                return cmd_simple(&c, "PUT", argv[0], "/plan", argv[1]);
        if (strcmp(cmd, "unpin") == 0 && argc == 1)
                return cmd_simple(&c, "DELETE", argv[0], "/plan", NULL);
        fprintf(stderr, "spongectl: unknown command or wrong arguments: %s\n", cmd);
        usage(stderr);
        return 2;
}
