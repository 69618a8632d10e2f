/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the trust boundary's pure parts (agent/auth.h, agent/execpath.h, agent/trust.h):
 * which routes change state, the trusted-directory walk on real paths (/, /usr/bin, a temp
 * directory below the world-writable /tmp), argv[0] resolution through realpath against the
 * worker directories, the node config's trust keys, and the token file's mode check.
 *
 *   test-trust [name]     runs one test (the CTest names are trust.<name>), or all
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/auth.h"
#include "agent/execpath.h"
#include "agent/trust.h"

static void test_routes(void **state)
{
        (void)state;
        assert_false(auth_route_changes_state("GET", "/v1/pipelines/p"));
        assert_false(auth_route_changes_state("HEAD", "/metrics"));
        assert_false(auth_route_changes_state("POST", "/v1/pipelines/p/infer"));
        assert_false(auth_route_changes_state("POST", "/v2/models/p/infer"));
        assert_true(auth_route_changes_state("PUT", "/v1/pipelines/p"));
        assert_true(auth_route_changes_state("DELETE", "/v1/pipelines/p"));
        assert_true(auth_route_changes_state("PUT", "/v1/pipelines/p/plan"));
        assert_true(auth_route_changes_state("DELETE", "/v1/pipelines/p/plan"));
        assert_true(auth_route_changes_state("POST", "/v1/pipelines/p"));
        assert_true(auth_route_changes_state("POST", "/v1/pipelines/p/infer/x"));
        assert_true(auth_route_changes_state("PATCH", "/anything"));
        assert_true(auth_route_changes_state("POST", "/infe"));
}

static void test_dirs(void **state)
{
        char why[512], tmpl[] = "/tmp/test-trust.XXXXXX";

        (void)state;
        assert_int_equal(execpath_check_dir("/", why, sizeof(why)), 0);
        assert_int_equal(execpath_check_dir("/usr/bin", why, sizeof(why)), 0);
        assert_non_null(mkdtemp(tmpl));
        chmod(tmpl, 0755);
        /* /tmp is mode 1777: nothing below it is trusted, whatever its own mode. */
        assert_int_equal(execpath_check_dir(tmpl, why, sizeof(why)), -EACCES);
        assert_non_null(strstr(why, "/tmp is writable by others"));
        assert_int_equal(execpath_check_dir("relative", why, sizeof(why)), -EINVAL);
        assert_true(execpath_check_dir("/nonexistent-dir-xyz", why, sizeof(why)) < 0);
        rmdir(tmpl);
}

static void test_resolve(void **state)
{
        TrustConfig t = {0};
        char real[PATH_MAX], why[1024];

        (void)state;
        t.worker_dirs[0] = (char *)"/usr/bin";
        t.n_worker_dirs = 1;
        assert_int_equal(execpath_resolve(&t, NULL, "true", real, sizeof(real), why, sizeof(why)),
                         0);
        assert_string_equal(real, "/usr/bin/true");
        assert_int_equal(
            execpath_resolve(&t, NULL, "/usr/bin/true", real, sizeof(real), why, sizeof(why)), 0);
        assert_int_equal(
            execpath_resolve(&t, NULL, "no-such-program-xyz", real, sizeof(real), why, sizeof(why)),
            -ENOENT);
        t.worker_dirs[0] = (char *)"/usr/sbin";
        assert_int_equal(execpath_resolve(&t, NULL, "true", real, sizeof(real), why, sizeof(why)),
                         -EACCES);
        assert_non_null(strstr(why, "(/usr/bin/true) is not in a worker directory"));
        assert_non_null(strstr(why, "/usr/sbin"));
        /* A prefix is not a directory: /usr/bi is not /usr/bin. */
        t.worker_dirs[0] = (char *)"/usr/bi";
        assert_int_equal(
            execpath_resolve(&t, NULL, "/usr/bin/true", real, sizeof(real), why, sizeof(why)),
            -EACCES);
}

static void test_keys(void **state)
{
        TrustConfig t = {0};
        char err[512];
        json_t *v;

        (void)state;
        v = json_string("relative/token");
        assert_int_equal(trust_config_key(&t, "api_token_file", v, err, sizeof(err)), -EINVAL);
        json_decref(v);
        v = json_string("/x");
        assert_int_equal(trust_config_key(&t, "worker_dirs", v, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "worker_dirs: expected an array"));
        json_decref(v);
        v = json_pack("[s, s]", "/usr/bin", "/usr/lib");
        assert_int_equal(trust_config_key(&t, "worker_dirs", v, err, sizeof(err)), 0);
        json_decref(v);
        v = json_integer(0);
        assert_int_equal(trust_config_key(&t, "max_pipelines", v, err, sizeof(err)), -EINVAL);
        json_decref(v);
        v = json_true();
        assert_int_equal(trust_config_key(&t, "colour", v, err, sizeof(err)), -ENOENT);
        json_decref(v);
        v = json_string("no-such-user-xyz");
        assert_int_equal(trust_config_key(&t, "worker_user", v, err, sizeof(err)), 0);
        json_decref(v);
        /* Root has CAP_SETUID: a named user that does not exist is an error. */
        if (geteuid() == 0) {
                assert_int_equal(trust_config_finish(&t, err, sizeof(err)), -EINVAL);
                assert_non_null(strstr(err, "no-such-user-xyz"));
        }
        trust_config_done(&t);
}

static void test_token(void **state)
{
        char path[] = "/tmp/test-trust-token.XXXXXX", err[512];
        const char *tok = "0123456789abcdef0123456789abcdef\n";
        TrustConfig t = {0};
        int fd = mkstemp(path);

        (void)state;
        assert_true(fd >= 0);
        assert_int_equal(write(fd, tok, strlen(tok)), (ssize_t)strlen(tok));
        close(fd);
        fchmodat(AT_FDCWD, path, 0644, 0);
        t.api_token_file = strdup(path);
        assert_int_equal(trust_config_finish(&t, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "has mode 0644"));
        trust_config_done(&t);
        chmod(path, 0600);
        t = (TrustConfig){.api_token_file = strdup(path)};
        assert_int_equal(trust_config_finish(&t, err, sizeof(err)), 0);
        assert_string_equal(t.api_token, "0123456789abcdef0123456789abcdef");
        trust_config_done(&t);
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_int_equal(write(fd, "short\n", 6), 6);
        close(fd);
        t = (TrustConfig){.api_token_file = strdup(path)};
        assert_int_equal(trust_config_finish(&t, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "at least 16"));
        trust_config_done(&t);
        unlink(path);
}

int main(int argc, char **argv)
{
        static const struct CMUnitTest tests[] = {
            {"routes", test_routes, NULL, NULL, NULL},   {"dirs", test_dirs, NULL, NULL, NULL},
            {"resolve", test_resolve, NULL, NULL, NULL}, {"keys", test_keys, NULL, NULL, NULL},
            {"token", test_token, NULL, NULL, NULL},
        };
        const size_t n_tests = sizeof(tests) / sizeof(tests[0]);
        const char *only = argc > 1 ? argv[1] : NULL;

        if (only) {
                size_t i = 0;
                while (i < n_tests && strcmp(tests[i].name, only) != 0)
                        i++;
                if (i == n_tests) {
                        fprintf(stderr, "%s: no test named '%s'\n", argv[0], only);
                        return 2;
                }
                cmocka_set_test_filter(only);
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
