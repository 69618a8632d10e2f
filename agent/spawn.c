/* spawn.c — the one way a worker process is started: see spawn.h. */
#include "agent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pipelines/worker/protocol.h"

#define CAP_PROBE_MAX 64 /* PR_CAPBSET_DROP answers EINVAL past the kernel's last capability */

extern char **environ;

static const char *const passthrough[] = {
    "PATH", "LANG", "TMPDIR", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "OPENBLAS_CORETYPE"};

/* The child's environment, all strings allocated here (freed by free_env). */
static char **build_env(char *const *extra)
{
        size_t n_extra = 0, n = 0;
        char **envp;

        while (extra && extra[n_extra])
                n_extra++;
        envp = calloc(sizeof(passthrough) / sizeof(passthrough[0]) + n_extra + 2, sizeof(char *));
        if (!envp)
                return NULL;
        for (size_t i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++) {
                const char *v = getenv(passthrough[i]);
                if (v && asprintf(&envp[n], "%s=%s", passthrough[i], v) >= 0)
                        n++;
        }
        if (asprintf(&envp[n], "%s=%d", SPP_ENV_SOCKET_FD, SPAWN_WORKER_FD) < 0) {
                envp[n] = NULL;
                goto fail;
        }
        n++;
        for (size_t i = 0; i < n_extra; i++) {
                envp[n] = strdup(extra[i]);
                if (!envp[n])
                        goto fail;
                n++;
        }
        return envp;
fail:
        for (size_t i = 0; envp[i]; i++)
                free(envp[i]);
        free(envp);
        return NULL;
}

static void free_env(char **envp)
{
        for (size_t i = 0; envp && envp[i]; i++)
                free(envp[i]);
        free(envp);
}

/* Async-signal-safe: "sponged worker setup: STEP failed (errno N)\n" on stderr, exit 126. */
static void __attribute__((noreturn)) child_fail(const char *step, int code)
{
        char buf[160], num[16];
        size_t n = 0, k = 0;
        int e = errno;
        const char *parts[] = {"sponged worker setup: ", step, " failed (errno ", num, ")\n"};

        do
                num[k++] = (char)('0' + e % 10);
        while ((e /= 10) > 0 && k < sizeof(num) - 1);
        for (size_t i = 0; i < k / 2; i++) {
                char t = num[i];
                num[i] = num[k - 1 - i];
                num[k - 1 - i] = t;
        }
        num[k] = '\0';
        for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
                for (const char *p = parts[i]; *p && n < sizeof(buf); p++)
                        buf[n++] = *p;
        (void)!write(STDERR_FILENO, buf, n);
        _exit(code);
}

static void child_signals(void)
{
        struct sigaction sa = {.sa_handler = SIG_DFL};
        sigset_t none;

        /* An ignored signal (the agent ignores SIGPIPE) stays ignored across execve. */
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void)sigaction(sig, &sa, NULL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child_capabilities(const TrustConfig *t)
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct d[2];

        /* The bounding set: needs CAP_SETPCAP (root has it; under the unit the set is already
         * CapabilityBoundingSet=, and no_new_privs below keeps exec from raising anything). */
        for (int cap = 0; cap < CAP_PROBE_MAX; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EPERM && errno != EINVAL)
                        child_fail("dropping the capability bounding set", 126);
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                child_fail("clearing the ambient capabilities", 126);
        if (t && t->worker_switch) {
                if (setgroups(0, NULL) < 0)
                        child_fail("setgroups", 126);
                if (setresgid(t->worker_gid, t->worker_gid, t->worker_gid) < 0)
                        child_fail("setgid to the worker user's group", 126);
                if (setresuid(t->worker_uid, t->worker_uid, t->worker_uid) < 0)
                        child_fail("setuid to the worker user", 126);
        }
        memset(d, 0, sizeof(d));
        if (syscall(SYS_capset, &h, d) < 0)
                child_fail("emptying the capability sets", 126);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail("no_new_privs", 126);
}

/* In the child: only async-signal-safe calls from here on. */
static void __attribute__((noreturn))
child_exec(const SpawnSpec *s, pid_t parent, int sock, int gate, char *const envp[])
{
        char c;

        child_signals();
        if (setpgid(0, 0) < 0)
                child_fail("setpgid", 126);
        /* Wait until the parent has put us in our cgroup. */
        if (read(gate, &c, 1) != 1)
                _exit(126);
        if (sock == SPAWN_WORKER_FD) {
                if (fcntl(sock, F_SETFD, 0) < 0)
                        child_fail("fcntl", 126);
        } else if (dup2(sock, SPAWN_WORKER_FD) < 0)
                child_fail("dup2 of the worker socket", 126);
        if (close_range(SPAWN_WORKER_FD + 1, ~0U, 0) < 0)
                child_fail("close_range", 126);
        child_capabilities(s->trust);
        /* After the uid change, which clears it; the parent may be gone already. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                child_fail("PR_SET_PDEATHSIG", 126);
        if (getppid() != parent)
                _exit(126);
        execve(s->path, s->argv, envp);
        child_fail("execve", 127);
}

int spawn_worker(const SpawnSpec *s, pid_t *ret_pid, int *ret_fd)
{
        char **envp = build_env(s->extra_env);
        pid_t parent = getpid(), pid;
        int sv[2], gate[2], r = 0;

        if (!envp)
                return -ENOMEM;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                r = -errno;
                free_env(envp);
                return r;
        }
        if (pipe2(gate, O_CLOEXEC) < 0) {
                r = -errno;
                close(sv[0]);
                close(sv[1]);
                free_env(envp);
                return r;
        }
        pid = fork();
        if (pid == 0)
                child_exec(s, parent, sv[1], gate[0], envp);
        if (pid < 0)
                r = -errno;
        free_env(envp);
        close(sv[1]);
        close(gate[0]);
        if (pid < 0) {
                close(sv[0]);
                close(gate[1]);
                return r;
        }
        /* Both sides set the group, so it exists whoever runs first (kill(-pid) needs it). */
        (void)setpgid(pid, pid);
        if (s->place)
                r = s->place(pid, s->userdata);
        if (r < 0 || write(gate[1], "g", 1) != 1) {
                kill(pid, SIGKILL);
                if (r >= 0)
                        r = -EPIPE;
        }
        close(gate[1]);
        *ret_pid = pid;
        *ret_fd = sv[0];
        return r;
}

int spawn_kill_tree(pid_t pid)
{
        if (pid <= 0)
                return -EINVAL;
        /* The group exists from fork on: both parent and child set it. */
        return kill(-pid, SIGKILL) == 0 ? 0 : -errno;
}
