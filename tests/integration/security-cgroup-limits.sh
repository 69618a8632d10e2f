#!/usr/bin/env bash
# security.cgroup-limits — per-replica memory and pids limits in the kernel's cgroups (issue 15,
# point 5): a stage's pids_max and memory_max_mb become the replica's pids.max and memory limit
# (v2: in its cgroup; v1: in mirrors of it in the pids and memory hierarchies), a worker cannot
# fork past pids.max, a worker past its memory limit is OOM-killed and restarted while another
# pipeline's worker is untouched and keeps answering, and DELETE removes the mirrors.
# Usage: security-cgroup-limits.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/security-lib.sh"
security_init security.cgroup-limits 18862 "$@"
rel=${CG_ROOT#"$CG_MOUNT"}
if [ "$CG_VERSION" = v1 ]; then
        mem_mnt=$(awk '$0 ~ / - cgroup / { n = split($NF, o, ","); for (i = 1; i <= n; i++) if (o[i] == "memory") print $5 }' /proc/self/mountinfo | head -n1)
        pids_mnt=$(awk '$0 ~ / - cgroup / { n = split($NF, o, ","); for (i = 1; i <= n; i++) if (o[i] == "pids") print $5 }' /proc/self/mountinfo | head -n1)
        [ -n "$mem_mnt" ] && [ -n "$pids_mnt" ] || skip "no v1 memory or pids hierarchy is mounted"
        MEM_DIR=$mem_mnt$rel PIDS_DIR=$pids_mnt$rel MEM_FILE=memory.limit_in_bytes
else
        MEM_DIR=$CG_ROOT PIDS_DIR=$CG_ROOT MEM_FILE=memory.max
fi
agent_config "\"worker_dirs\": [\"$BIN\", \"$TRUSTED\"]"
agent_start

# A worker that tries to start 20 processes under pids.max 8.
install_probe fork "$PY"' -c "
import os, time
n = 0
for i in range(20):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    n += 1
print(\"forked\", n)
"'
probe_pipeline fork "[\"$TRUSTED/fork\"]" '{}' '{"pids_max": 8, "memory_max_mb": 256}'
apply_pipeline "$TMP/fork.json"
wait_ready fork 30 || die "pipeline fork never became ready"
[ "$(cat "$PIDS_DIR/fork/s0/r0/pids.max" 2>/dev/null)" = 8 ] ||
        fail "pids.max of fork/s0/r0 is \"$(cat "$PIDS_DIR/fork/s0/r0/pids.max" 2>&1)\", expected 8"
[ "$(cat "$MEM_DIR/fork/s0/r0/$MEM_FILE" 2>/dev/null)" = $((256 << 20)) ] ||
        fail "$MEM_FILE of fork/s0/r0 is \"$(cat "$MEM_DIR/fork/s0/r0/$MEM_FILE" 2>&1)\", expected $((256 << 20))"
n=$(awk '/^forked/ {print $2}' "$MARKS/fork.out")
say "the worker forked $n of 20 under pids.max 8 ($(tr '\n' ' ' <"$MARKS/fork.out"))"
[ -n "$n" ] && [ "$n" -gt 0 ] && [ "$n" -lt 8 ] || fail "forked \"$n\" processes under pids.max 8"
fork_pid=$(sget fork 'j["stages"][0]["replica_list"][0]["pid"]')
pass "pids.max 8: the worker could not fork past it"

# A worker that needs 200 MiB under a 48 MiB limit: OOM-killed, restarted, again.
install_probe oom "exec $PY"' -c "
open(\"'"$MARKS"'/oom.runs\", \"a\").write(\"run\\n\")
b = b\"x\" * (200 << 20)
print(\"survived\")
"'
probe_pipeline oom "[\"$TRUSTED/oom\"]" '{}' '{"memory_max_mb": 48}'
apply_pipeline "$TMP/oom.json"
runs() { [ "$(wc -l <"$MARKS/oom.runs" 2>/dev/null || echo 0)" -ge 3 ]; }
wait_until 30 "the OOM-killed worker restarted twice" runs
grep -q survived "$MARKS/oom.out" && fail "the worker survived 200 MiB under a 48 MiB limit"
grep -Eq "Replica oom/s0/r[0-9]+ \(pid [0-9]+\) killed by signal (Killed|9)" "$LOG" ||
        fail "no log line of the OOM-killed replica: $(grep 'Replica oom' "$LOG" | tail -n 2)"
# The kernel's own count: the memory controller OOM-killed in that group.
if [ "$CG_VERSION" = v1 ]; then
        kills=$(cat "$MEM_DIR"/oom/s0/r*/memory.oom_control 2>/dev/null | awk '$1 == "oom_kill" {s += $2} END {print s + 0}')
else
        kills=$(cat "$MEM_DIR"/oom/s0/r*/memory.events 2>/dev/null | awk '$1 == "oom_kill" {s += $2} END {print s + 0}')
fi
[ "$kills" -ge 2 ] || fail "the memory controller counted $kills OOM kills in oom/s0, expected >= 2"
[ "$(sget fork 'j["stages"][0]["replica_list"][0]["pid"]')" = "$fork_pid" ] ||
        fail "the other pipeline's worker changed"
http POST /v1/pipelines/fork/infer --data-binary hi
expect_status 200 "the other pipeline answers while oom crash-loops"
pass "memory limit: OOM-killed and restarted; the other pipeline untouched"

for p in oom fork; do
        http DELETE /v1/pipelines/$p
        expect_status 200 "DELETE $p"
done
wait_until 20 "the limit groups of fork and oom removed" sh -c "[ ! -d '$MEM_DIR/fork' ] && [ ! -d '$PIDS_DIR/fork' ] && [ ! -d '$MEM_DIR/oom' ]"
agent_stop 30 || fail "sponged did not stop"
[ -d "$MEM_DIR" ] && fail "the memory mirror root $MEM_DIR is left after exit"
[ -d "$PIDS_DIR" ] && [ "$CG_VERSION" = v1 ] && fail "the pids mirror root $PIDS_DIR is left after exit"
agent_finish
