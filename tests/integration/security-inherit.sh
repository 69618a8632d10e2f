#!/usr/bin/env bash
# security.inherit — what a worker inherits (issue 15, point 4). With worker_user set (nobody
# here; sponged-worker from systemd/sponged.sysusers in a real install), a worker runs as that
# user with every capability set empty (bounding and ambient too), no_new_privs, only fds 0-3,
# its own process group, and none of the agent's environment beyond the pass-through list. A
# probe run as the worker cannot write pipelines.d, nor its cgroup's cpu limit, nor signal the
# agent. The profiler starts its worker the same way (agent/spawn.c).
# Usage: security-inherit.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/security-lib.sh"
security_init security.inherit 18856 "$@"
agent_config "\"worker_dirs\": [\"$BIN\", \"$TRUSTED\"], \"worker_user\": \"nobody\""
# Something of the agent's environment that must not reach a worker.
export SPONGE_ITEST_AGENT_SECRET=agent-only
agent_start
unset SPONGE_ITEST_AGENT_SECRET
chmod 0755 "$PIPELINES_DIR"

install_probe inh '
id -u
grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):" /proc/self/status
if touch "'"$PIPELINES_DIR"'/pwned.json"; then echo "wrote pipelines.d"; fi
if [ "'"$CG_VERSION"'" = v1 ]; then
        cg=$(awk -F: "\$2 ~ /(^|,)cpu(,|\$)/ {print \$3}" /proc/self/cgroup); f=cpu.cfs_quota_us
else
        cg=$(awk -F: "\$1 == 0 {print \$3}" /proc/self/cgroup); f=cpu.max
fi
echo "cgroup file '"$CG_MOUNT"'$cg/$f"
if echo 100000 >"'"$CG_MOUNT"'$cg/$f"; then echo "wrote the cpu limit"; fi
if kill -0 "$PPID"; then echo "could signal the agent $PPID"; fi
'
probe_pipeline inh "[\"$TRUSTED/inh\"]"
apply_pipeline "$TMP/inh.json"
wait_ready inh 30 || die "pipeline inh never became ready"
out=$(cat "$MARKS/inh.out")
say "probe said: $(echo "$out" | tr '\n' '|')"
[ "$(echo "$out" | head -n1)" = 65534 ] || fail "the worker's uid is $(echo "$out" | head -n1), expected 65534 (nobody)"
for k in CapInh CapPrm CapEff CapBnd CapAmb; do
        echo "$out" | grep -qx "$k:[[:space:]]*0000000000000000" || fail "worker $k is not empty: $(echo "$out" | grep "^$k")"
done
echo "$out" | grep -qx "NoNewPrivs:[[:space:]]*1" || fail "worker without no_new_privs"
echo "$out" | grep -q "wrote pipelines.d" && fail "the worker could write pipelines.d"
[ -e "$PIPELINES_DIR/pwned.json" ] && fail "pipelines.d/pwned.json exists"
echo "$out" | grep -q "^cgroup file $CG_MOUNT/" || fail "the probe found no cgroup file"
echo "$out" | grep -q "wrote the cpu limit" && fail "the worker could write its cgroup's cpu limit"
echo "$out" | grep -q "could signal the agent" && fail "the worker could signal the agent"

# The worker proper (after the probe's exec): identity, fds, process group, environment.
pid=$(sget inh 'j["stages"][0]["replica_list"][0]["pid"]')
[ -n "$pid" ] && [ -d "/proc/$pid" ] || die "no worker pid"
[ "$(awk '/^Uid:/ {print $2 $3 $4 $5}' "/proc/$pid/status")" = 65534655346553465534 ] ||
        fail "worker uids: $(grep ^Uid: "/proc/$pid/status")"
[ "$(awk '/^Groups:/ {print $2}' "/proc/$pid/status")" = "" ] ||
        fail "worker keeps supplementary groups: $(grep ^Groups: "/proc/$pid/status")"
fds=$(ls "/proc/$pid/fd" | sort -n | tr '\n' ' ')
[ "$fds" = "0 1 2 3 " ] || fail "worker fds: $fds (expected 0 1 2 3)"
[ "$(awk '{print $5}' "/proc/$pid/stat")" = "$pid" ] || fail "the worker is not its own process group leader"
tr '\0' '\n' <"/proc/$pid/environ" | grep -q SPONGE_ITEST_AGENT_SECRET &&
        fail "the agent's environment leaked into the worker"
pass "worker: uid nobody, no capabilities, no_new_privs, fds 0-3, cannot touch pipelines.d, cpu limit or agent"
agent_finish
