/*
 * cgroups.bpf_noperm — without the privileges, rqd_open fails cleanly: a negative errno
 * (-EPERM), a reason that names the missing capabilities, no crash, nothing left behind.
 *
 * Each case runs in a forked child that first gives up privileges, in the two ways an agent
 * may find itself unprivileged:
 *   - "nobody":   setresuid/setresgid to 65534 (all capabilities go with uid 0);
 *   - "dropcaps": stays uid 0 but drops CAP_SYS_ADMIN, CAP_BPF and CAP_PERFMON from its
 *                 effective, permitted and inheritable sets (capset(2)), like a container
 *                 root or a hardened unit without AmbientCapabilities.
 * As a control, the parent (root) must load the programs, so the failures are the dropped
 * privileges' doing. Not root: the control cannot run, the test skips.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroups/bpf/rqdelay.h"

static int drop_to_nobody(void)
{
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0)
                return -errno;
        return 0;
}

static int drop_bpf_caps(void)
{
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {0};
        const int caps[] = {CAP_SYS_ADMIN, RQD_CAP_BPF, RQD_CAP_PERFMON}; /* what rqd_open needs */

        if (syscall(SYS_capget, &hdr, data) < 0)
                return -errno;
        for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
                __u32 bit = 1u << (caps[i] % 32);

                data[caps[i] / 32].effective &= ~bit;
                data[caps[i] / 32].permitted &= ~bit;
                data[caps[i] / 32].inheritable &= ~bit;
        }
        if (syscall(SYS_capset, &hdr, data) < 0)
                return -errno;
        return 0;
}

/* Child: drop, then rqd_open must fail with a reason. Exit 0 = behaved, 1 = loaded anyway,
 * 2 = failed without a proper reason, 3 = could not drop. */
static int child(const char *how)
{
        char err[512];
        rqd *r = NULL;
        int rc = strcmp(how, "nobody") == 0 ? drop_to_nobody() : drop_bpf_caps();

        if (rc < 0) {
                fprintf(stderr, "[%s] cannot drop privileges: %s\n", how, strerror(-rc));
                return 3;
        }
        memset(err, 'x', sizeof(err)); /* must come back NUL-terminated */
        rc = rqd_open(&r, err, sizeof(err));
        if (rc == 0) {
                fprintf(stderr, "[%s] rqd_open succeeded without privileges\n", how);
                rqd_free(r);
                return 1;
        }
        if (memchr(err, '\0', sizeof(err)) == NULL) {
                fprintf(stderr, "[%s] error message not terminated\n", how);
                return 2;
        }
        printf("[%s] rqd_open: %d (%s): %s\n", how, rc, strerror(-rc), err);
        if (rc != -EPERM || r != NULL || strstr(err, "CAP_BPF") == NULL)
                return 2;
        return 0;
}

static int run_case(const char *how)
{
        int status;
        pid_t pid;

        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int rc = child(how);

                fflush(stdout); /* _exit does not flush stdio */
                fflush(stderr);
                _exit(rc);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFSIGNALED(status)) {
                fprintf(stderr, "FAIL [%s]: child killed by signal %d\n", how, WTERMSIG(status));
                return 1;
        }
        if (WEXITSTATUS(status) != 0) {
                fprintf(stderr, "FAIL [%s]: child exit %d\n", how, WEXITSTATUS(status));
                return 1;
        }
        return 0;
}

int main(void)
{
        char err[512];
        int failures = 0, rc;
        rqd *r = NULL;

        if (geteuid() != 0) {
                printf("SKIP: not root: the privileged control case cannot run\n");
                return 77;
        }
        rc = rqd_open(&r, err, sizeof(err));
        if (rc < 0) {
                fprintf(stderr, "FAIL: control: root cannot load: %s (%d)\n", err, rc);
                return 1;
        }
        rqd_free(r);
        printf("[root] rqd_open: ok\n");

        failures += run_case("nobody") != 0;
        failures += run_case("dropcaps") != 0;
        if (failures)
                return 1;
        printf("PASS\n");
        return 0;
}
