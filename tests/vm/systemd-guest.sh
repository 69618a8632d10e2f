#!/bin/bash
# systemd-guest.sh DEB — the guest half of vm.systemd. Runs as root inside the VM that
# `vm-run.sh --systemd` boots (systemd 252 as PID 1, cgroup v2, the host's root read-only under a
# tmpfs overlay), started by sponge-vm-test.service. It installs the sponged .deb exactly as a
# user would, then drives the service through its life: READY, the API, a flops pipeline served
# in cgroups under the delegated subtree, an in-place cpu.max resize, reload with a changed and a
# broken pipeline, the hardening score, stop, and purge. Exit 0 = every check passed; the first
# failed check prints why plus the unit's journal and exits 1. See systemd/README.md.
set -u

deb=${1:?usage: systemd-guest.sh DEB}
me=vm.systemd
unit=sponged.service
api=http://127.0.0.1:8750
sock=/run/sponged/api.sock
cgdir=/sys/fs/cgroup/system.slice/sponged.service
pdir=/etc/sponged/pipelines.d
work=/root/vm-systemd
max_exposure=2.0

step() { echo "$me: --- [$(cut -d' ' -f1 /proc/uptime) s] $*"; }
ok() { echo "$me: ok: $*"; }
fail() {
	echo "$me: FAIL: $*"
	echo "$me: systemctl status $unit:"
	systemctl status "$unit" --no-pager 2>&1 | head -n 20 | sed 's/^/  /'
	echo "$me: journal of $unit (last 50 lines):"
	journalctl -u "$unit" --no-pager -o short-monotonic 2>&1 | tail -n 50 | sed 's/^/  /'
	exit 1
}
# props: the unit's properties into P[...], one systemctl call (each costs ~0.5 s under TCG).
declare -A P
props() {
	local k v
	P=()
	while IFS='=' read -r k v; do P[$k]=$v; done < <(systemctl show "$unit" -p MainPID \
		-p ExecMainStartTimestampMonotonic -p ActiveEnterTimestampMonotonic -p StatusText \
		-p Type -p NotifyAccess -p WatchdogTimestampMonotonic -p WatchdogUSec -p NRestarts \
		-p Result -p ExecMainStatus -p ActiveState)
}
now_us() { awk '{ printf "%d", $1 * 1000000 }' /proc/uptime; }
secs() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1e6 }'; }
# wait_for SECONDS COMMAND...: true once COMMAND succeeds, false after SECONDS (guest clock).
wait_for() {
	local end=$(($(now_us) + $1 * 1000000))
	shift
	until "$@"; do
		[ "$(now_us)" -lt "$end" ] || return 1
		sleep 0.2
	done
}
journal_count() { journalctl -u "$unit" --no-pager -o cat 2>/dev/null | grep -c -F -- "$1"; }
journal_has_more() { [ "$(journal_count "$1")" -gt "$2" ]; }
pipeline_json() { curl -fsS --max-time 10 "$api/v1/pipelines/sdtest"; }
pipeline_has() { pipeline_json 2>/dev/null | grep -q -F -- "$1"; }
# Fields of the one replica of sdtest: "pid cgroup state millicores slo_ms".
replica() {
	pipeline_json | python3 -c '
import json, sys
p = json.load(sys.stdin)
r = p["stages"][0]["replica_list"]
if len(r) != 1:
    sys.exit("expected one replica, got %d" % len(r))
r = r[0]
print(r["pid"], r["cgroup"], r["state"], r["millicores"], int(p["slo_ms"]))'
}
# infer N: N concurrent requests; true when every one is answered 200.
infer() {
	local i codes
	codes=$(for i in $(seq "$1"); do
		curl -sS -o /dev/null -w '%{http_code}\n' --max-time 90 \
			--data-binary "request $i" "$api/v1/pipelines/sdtest/infer" &
	done
		wait)
	echo "$me: answers: $(echo $codes)"
	[ "$(grep -c '^200$' <<<"$codes")" -eq "$1" ] || return 1
	# Diagnostic only (the stop check fails on it): an answered request the agent still counts.
	wait_for 5 node_idle || echo "$me: note: the agent still counts $(in_flight) requests in flight"
}
in_flight() { curl -sS --max-time 10 "$api/v1/node" | tr -d '\n ' | sed -n 's/.*"requests_in_flight":\([0-9]*\).*/\1/p'; }
node_idle() { [ "$(in_flight)" = 0 ]; }
# The pipeline: one stage of the compute-calibrated worker doing 0.02 GFLOP of real arithmetic per
# item (about 1 ms of a host core, ~100 ms under TCG: a quarter core throttles it), a generous SLO
# for TCG and "late": "serve" so that every request is answered.
write_pipeline() { # write_pipeline FILE SLO_MS
	cat >"$1" <<EOF
{
  "name": "sdtest",
  "slo_ms": $2,
  "late": "serve",
  "policy": "vertical",
  "stages": [
    {
      "name": "classify",
      "max_batch": 4,
      "millicores": {"min": 250, "max": 1000, "step": 250},
      "replicas": {"min": 1, "max": 1},
      "variants": [
        {
          "name": "tiny",
          "accuracy": 50.0,
          "command": ["sponge-worker-flops", "--gflops", "0.02", "--name", "tiny"],
          "startup_ms": 200,
          "profile": {"model": {"gamma": 9.0, "delta": 0.2, "epsilon": 0.5, "eta": 1.0}}
        }
      ]
    }
  ],
  "plan": [{"variant": "tiny", "batch": 1, "millicores": 250, "replicas": 1}]
}
EOF
}

# ---------------------------------------------------------------- the machine
step "guest: $(uname -r), $(systemctl --version | head -n 1)"
[ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is $(cat /proc/1/comm), not systemd (vm-run.sh --systemd?)"
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || fail "/sys/fs/cgroup is not cgroup2"
grep -qw cpu /sys/fs/cgroup/cgroup.controllers || fail "no cpu controller in cgroup v2"
[ -f "$deb" ] || fail "no package at $deb"
mkdir -p "$work"

# ---------------------------------------------------------------- install: the .deb
# dpkg proper, with its maintainer scripts and conffiles, but a private, empty admin directory:
# reading the host's package database (~140000 file entries over 9p under TCG) takes dpkg about
# 100 s. An empty database knows none of the Depends, hence --force-depends; they are this very
# machine's libraries, which the binaries load below anyway.
step "dpkg -i $(basename "$deb")"
adm=$work/dpkg
mkdir -p "$adm/info" "$adm/updates" "$adm/triggers"
: >"$adm/status"
: >"$adm/available"
t0=$(now_us)
# --force-confnew: the guest's /etc is the host's under a tmpfs overlay; a conffile the host
# happens to hold (a developer's earlier install) must not stop the test at dpkg's prompt.
dpkg --admindir="$adm" --force-depends --force-confnew -i "$deb" </dev/null 2>&1 | grep -v 'dependency problems\|depends on \|is not installed' | sed 's/^/  dpkg| /'
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "dpkg -i failed"
ok "installed in $(secs $(($(now_us) - t0))) s: $(dpkg-query --admindir="$adm" -W -f='${Package} ${Version}' sponged)"
for f in /usr/bin/sponged /usr/bin/spongectl /usr/bin/sponge-worker-flops \
	/usr/lib/systemd/system/$unit /etc/sponged/sponged.json /etc/sponged/examples/video.json; do
	[ -e "$f" ] || fail "the package did not install $f"
done
grep -q '^ExecStart=/usr/bin/sponged ' /usr/lib/systemd/system/$unit ||
	fail "ExecStart= of the installed unit does not name /usr/bin/sponged"
id sponged >/dev/null 2>&1 || fail "postinst did not create the user sponged (sysusers.d)"
[ "$(stat -c %U "$pdir")" = sponged ] || fail "$pdir is not owned by sponged (tmpfiles.d)"
ok "user $(id sponged); $pdir owned by sponged"

# ---------------------------------------------------------------- enabled, active, READY
step "postinst enabled and started the service"
[ "$(systemctl is-enabled $unit)" = enabled ] || fail "not enabled: $(systemctl is-enabled $unit)"
[ "$(systemctl is-active $unit)" = active ] || fail "not active: $(systemctl is-active $unit)"
# Type=notify: "active" is only entered on READY=1.
props
start_us=${P[ExecMainStartTimestampMonotonic]}
ready_us=${P[ActiveEnterTimestampMonotonic]}
main_pid=${P[MainPID]}
[ "$start_us" -gt 0 ] && [ "$ready_us" -ge "$start_us" ] || fail "no start/ready timestamps"
ok "READY $(secs $((ready_us - start_us))) s after exec (guest uptime at READY $(secs "$ready_us") s), status \"${P[StatusText]}\""
case "${P[StatusText]}" in
serving\ *pipeline*millicores\ allocated*) ;;
*) fail "STATUS= is \"${P[StatusText]}\", expected \"serving N pipelines, A/T millicores allocated, ...\"" ;;
esac
[ "${P[Type]}" = notify ] && [ "${P[NotifyAccess]}" = main ] || fail "not Type=notify/NotifyAccess=main"
[ "$(ps -o user= -p "$main_pid" | tr -d ' ')" = sponged ] || fail "main pid $main_pid does not run as sponged"
[ "$(cat /proc/"$main_pid"/cgroup)" = "0::/system.slice/$unit/agent" ] ||
	fail "the agent is in $(cat /proc/"$main_pid"/cgroup), expected its leaf agent/"
grep -qw cpu "$cgdir/cgroup.subtree_control" || fail "+cpu not enabled in $cgdir/cgroup.subtree_control"
[ "$(stat -c %U "$cgdir")" = sponged ] || fail "$cgdir is not delegated to sponged"
ok "pid $main_pid runs as sponged in $cgdir/agent; cpu enabled below the delegated cgroup"
# The eBPF probe loads with just CAP_BPF + CAP_PERFMON (the unit's only capabilities).
ebpf=$(journalctl -u "$unit" --no-pager -o cat | grep -m1 'eBPF ')
[[ $ebpf == "eBPF on"* ]] || fail "the eBPF run-queue delay probe did not load: $ebpf"
ok "$ebpf"

# ---------------------------------------------------------------- the API
step "API on loopback and on the UNIX socket"
curl -fsS --max-time 10 "$api/healthz" | grep -q '"status": "ok"' || fail "GET $api/healthz"
curl -fsS --max-time 10 --unix-socket "$sock" http://sponged/healthz | grep -q '"status": "ok"' ||
	fail "GET /healthz on $sock"
node=$(spongectl --url "unix:$sock" node) || fail "spongectl node"
grep -q '"backend": "v2"' <<<"$node" || fail "the agent does not use cgroup v2: $node"
grep -q "\"cgroup_root\": \"$cgdir\"" <<<"$node" || fail "cgroup root is not $cgdir: $node"
ok "/healthz answers; spongectl node: backend v2, root $cgdir"

# ---------------------------------------------------------------- a pipeline, served in cgroups
step "apply the flops pipeline and serve requests"
write_pipeline "$work/sdtest.json" 60000
spongectl --url "unix:$sock" apply "$work/sdtest.json" || fail "spongectl apply"
[ "$(stat -c %U "$pdir/sdtest.json" 2>/dev/null)" = sponged ] ||
	fail "the API did not persist $pdir/sdtest.json (ReadWritePaths=, tmpfiles.d)"
wait_for 60 pipeline_has '"state": "ready"' || fail "the replica never became ready"
r=$(replica) || fail "cannot read the replica"
read -r pid cg state mc slo <<<"$r"
[ "$mc" = 250 ] || fail "replica at $mc millicores, expected the file's 250"
cgpath=$cg
[ -f "$cgpath/cpu.max" ] || fail "no cgroup $cgpath for the replica"
[ "$(cat /proc/"$pid"/cgroup)" = "0::${cgpath#/sys/fs/cgroup}" ] ||
	fail "worker $pid is in $(cat /proc/"$pid"/cgroup), expected $cgpath"
[[ $cgpath == "$cgdir"/sdtest/* ]] || fail "the replica's cgroup $cgpath is not below $cgdir"
[ "$(stat -c %U "$cgpath")" = sponged ] || fail "$cgpath was not created by sponged"
[ "$(cat "$cgpath/cpu.max")" = "25000 100000" ] || fail "cpu.max is $(cat "$cgpath/cpu.max"), expected 25000 100000"
ok "worker pid $pid ($(ps -o user= -p "$pid" | tr -d ' ')) in $cgpath, cpu.max $(cat "$cgpath/cpu.max")"
# The trust boundary under the real unit: the worker runs as sponged-worker with no capability
# at all and no_new_privs; as that user, pipelines.d, the cgroup's cpu.max and the agent are out
# of reach.
[ "$(ps -o user= -p "$pid" | tr -d ' ')" = sponged-worker ] ||
	fail "worker $pid runs as $(ps -o user= -p "$pid"), expected sponged-worker"
for k in CapInh CapPrm CapEff CapBnd CapAmb; do
	grep -qx "$k:[[:space:]]*0000000000000000" /proc/"$pid"/status ||
		fail "worker $k is not empty: $(grep "^$k" /proc/"$pid"/status)"
done
grep -qx 'NoNewPrivs:[[:space:]]*1' /proc/"$pid"/status || fail "worker without no_new_privs"
fds=$(ls /proc/"$pid"/fd | sort -n | tr '\n' ' ')
[ "$fds" = "0 1 2 3 " ] || fail "worker fds: $fds (expected 0 1 2 3)"
asw() { setpriv --reuid=sponged-worker --regid=sponged-worker --clear-groups "$@" 2>/dev/null; }
asw sh -c "echo max >$cgpath/cpu.max" && fail "sponged-worker could write $cgpath/cpu.max"
asw touch "$pdir/pwned.json" && fail "sponged-worker could write $pdir"
asw kill -0 "$main_pid" && fail "sponged-worker could signal the agent"
[ "$(cat "$cgpath/pids.max")" = 256 ] || fail "pids.max of the replica is $(cat "$cgpath/pids.max"), expected the default 256"
[ "$(cat "$cgpath/memory.max")" = $((2048 << 20)) ] || fail "memory.max of the replica is $(cat "$cgpath/memory.max"), expected the default 2048 MiB"
ok "worker $pid: user sponged-worker, no capabilities, no_new_privs, fds 0-3; cannot write cpu.max or pipelines.d, nor signal the agent; pids.max 256, memory.max 2 GiB"
infer 4 || fail "requests at 250 millicores were not all answered 200"
throttled=$(awk '$1 == "nr_throttled" { print $2 }' "$cgpath/cpu.stat")
[ "${throttled:-0}" -gt 0 ] || fail "the worker was never throttled at 250 millicores: $(tr '\n' ' ' <"$cgpath/cpu.stat")"
ok "4 answers 200; the real cpu controller throttled the worker in $throttled periods"

# ---------------------------------------------------------------- resize in place
step "pin 1000 millicores: cpu.max rewritten in place, same process"
# Changes only from identified callers: over TCP without a token, 401; over the socket as root.
code=$(curl -sS -o "$work/plan.out" -w '%{http_code}' --max-time 10 -X PUT \
	--data '[{"variant": "tiny", "batch": 2, "millicores": 1000, "replicas": 1}]' \
	"$api/v1/pipelines/sdtest/plan")
[ "$code" = 401 ] || fail "PUT plan over TCP without a token answered $code: $(cat "$work/plan.out")"
code=$(curl -sS -o "$work/plan.out" -w '%{http_code}' --max-time 10 -X PUT \
	--data '[{"variant": "tiny", "batch": 2, "millicores": 1000, "replicas": 1}]' \
	--unix-socket "$sock" "http://sponged/v1/pipelines/sdtest/plan")
[ "$code" = 200 ] || fail "PUT plan answered $code: $(cat "$work/plan.out")"
wait_for 10 grep -qx '100000 100000' "$cgpath/cpu.max" ||
	fail "cpu.max is $(cat "$cgpath/cpu.max") after the pin, expected 100000 100000"
r=$(replica) || fail "cannot read the replica"
read -r pid2 cg2 state2 mc2 slo <<<"$r"
[ "$pid2" = "$pid" ] && [ "$cg2" = "$cg" ] || fail "the replica changed: pid $pid -> $pid2, cgroup $cg -> $cg2"
kill -0 "$pid" 2>/dev/null || fail "worker $pid is gone"
[ "$(cat /proc/"$pid"/cgroup)" = "0::${cgpath#/sys/fs/cgroup}" ] || fail "worker $pid left its cgroup"
[ "$mc2" = 1000 ] || fail "replica reports $mc2 millicores"
infer 2 || fail "requests at 1000 millicores were not all answered 200"
ok "cpu.max $(cat "$cgpath/cpu.max"), pid $pid unchanged, still serving"

# ---------------------------------------------------------------- PyTorch workers under the unit
# The installed fmnist-torch example (two Python/PyTorch stages from libexec/sponged): its
# workers need executable memory (oneDNN's JIT) and set_mempolicy, which the unit allows. Under
# TCG the guest runs ~100x slower than the host (the flops worker: ~1 ms of a host core, ~100 ms
# here), so torch's import alone (2.3 s measured on the host, the example's startup_ms) takes
# minutes: the copy applied here says so in startup_ms (the start-up deadline is 4x it) and in
# its SLO, and holds a fixed plan of one core per stage (policy static).
step "the PyTorch pipeline (examples/fmnist-torch.json) serves a test image under the unit"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	python3 - /etc/sponged/examples/fmnist-torch.json "$work/fmnist-torch.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
j.update(slo_ms=600000, policy="static")
for s in j["stages"]:
    for v in s["variants"]:
        v["startup_ms"] = 100000
j["plan"] = [{"variant": s["variants"][0]["name"], "batch": 1, "millicores": 1000, "replicas": 1}
             for s in j["stages"]]
json.dump(j, open(sys.argv[2], "w"))
PYEOF
	curl -sS -o /dev/null --max-time 10 -X DELETE --unix-socket "$sock" "http://sponged/v1/pipelines/sdtest/plan"
	t_torch=$(now_us)
	spongectl --url "unix:$sock" apply "$work/fmnist-torch.json" || fail "spongectl apply fmnist-torch"
	torch_ready() {
		curl -fsS --max-time 10 "$api/v1/pipelines/fmnist-torch" 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
sys.exit(0 if all(s["replica_list"] and all(r["state"] == "ready" for r in s["replica_list"])
                  for s in j["stages"]) else 1)'
	}
	wait_for 420 torch_ready || fail "the PyTorch workers never became ready: $(journalctl -u $unit -n 8 --no-pager)"
	echo "$me: PyTorch workers ready $(secs $(($(now_us) - t_torch))) s after the apply (TCG)"
	for w in $(pgrep -f sponge-worker-torch); do
		[ "$(ps -o user= -p "$w" | tr -d ' ')" = sponged-worker ] ||
			fail "PyTorch worker $w runs as $(ps -o user= -p "$w")"
	done
	# The packaged sample: Fashion-MNIST's first test image (an ankle boot).
	code=$(curl -sS -o "$work/torch.out" -w '%{http_code}' --max-time 300 \
		--data-binary @/usr/share/sponged/samples/fmnist-torch.bin \
		"$api/v1/pipelines/fmnist-torch/infer")
	[ "$code" = 200 ] && grep -q '"label":"Ankle boot"' "$work/torch.out" ||
		fail "fmnist-torch answered $code: $(head -c 300 "$work/torch.out")"
	ok "fmnist-torch: the first test image is $(cat "$work/torch.out"), workers as sponged-worker"
	spongectl --url "unix:$sock" delete fmnist-torch || fail "spongectl delete fmnist-torch"
else
	echo "$me: note: python3-torch is not installed; the PyTorch step is left out"
fi

# ---------------------------------------------------------------- reload: a changed pipeline
step "systemctl reload with a changed pipeline file"
n_reload=$(journal_count "Reloading configuration")
write_pipeline "$pdir/sdtest.json" 45000
chown sponged:sponged "$pdir/sdtest.json"
systemctl reload "$unit" || fail "systemctl reload failed"
wait_for 30 pipeline_has '"slo_ms": 45000' || fail "the changed pipeline (slo_ms 45000) was not applied"
journal_has_more "Reloading configuration" "$n_reload" || fail "the agent did not log its reload"
props
[ "${P[MainPID]}" = "$main_pid" ] || fail "reload changed the main pid to ${P[MainPID]}"
wait_for 60 pipeline_has '"state": "ready"' || fail "the new version's replica never became ready"
infer 1 || fail "the reloaded pipeline did not answer 200"
ok "applied (slo_ms 45000), same main pid $main_pid, serving"

# ---------------------------------------------------------------- reload: a broken pipeline
step "systemctl reload with a broken pipeline file"
n_rejected=$(journal_count "Rejected pipeline file $pdir/sdtest.json")
printf '{"name": "sdtest", "slo_ms": "soon",\n' >"$pdir/sdtest.json"
systemctl reload "$unit" || fail "systemctl reload failed"
wait_for 30 journal_has_more "Rejected pipeline file $pdir/sdtest.json" "$n_rejected" ||
	fail "the broken file was not reported"
echo "$me: journal: $(journalctl -u "$unit" --no-pager -o cat | grep -F 'Rejected pipeline file' | tail -n 1)"
wait_for 10 sh -c "[ \"\$(systemctl is-active $unit)\" = active ]" ||
	fail "the service is $(systemctl is-active $unit) after a broken reload"
props
[ "${P[MainPID]}" = "$main_pid" ] || fail "the broken reload changed the main pid to ${P[MainPID]}"
pipeline_has '"slo_ms": 45000' || fail "the running version (slo_ms 45000) was not kept"
infer 1 || fail "the kept pipeline did not answer 200"
ok "rejected, running version kept, service active"

# ---------------------------------------------------------------- watchdog and hardening
step "watchdog keep-alives and hardening"
# Keep-alives come every WatchdogSec/2 = 15 s, the first right after READY; systemd stamps each.
# So 16 s after READY the last one must be at least 14 s after READY.
since_ready=$(($(now_us) - ready_us))
if [ "$since_ready" -lt 16000000 ]; then
	sleep "$(secs $((16000000 - since_ready)))"
fi
props
wd_us=${P[WatchdogTimestampMonotonic]}
echo "$me: WatchdogUSec=${P[WatchdogUSec]}; last WATCHDOG=1 $(secs $((wd_us - ready_us))) s after READY, now $(secs $(($(now_us) - ready_us))) s after READY"
[ "${P[WatchdogUSec]}" = 30s ] || fail "WatchdogUSec is ${P[WatchdogUSec]}, expected 30s"
[ "$wd_us" -ge $((ready_us + 14000000)) ] || fail "no WATCHDOG=1 keep-alive since READY"
ok "watchdog keep-alives arrive"
[ "${P[NRestarts]}" = 0 ] || fail "the service restarted ${P[NRestarts]} times"
systemd-analyze security --no-pager "$unit" >"$work/security.txt" 2>&1 || true
sed 's/^/  /' "$work/security.txt"
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$work/security.txt")
[ -n "$exposure" ] || fail "systemd-analyze security printed no exposure level"
awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }' ||
	fail "exposure $exposure is above $max_exposure"
ok "systemd-analyze security: exposure $exposure (goal <= $max_exposure)"

# ---------------------------------------------------------------- stop
step "systemctl stop"
echo "$me: before stop: $(in_flight) requests in flight, agent CPU time $(ps -o time= -p "$main_pid" | tr -d ' ') in $(secs $(($(now_us) - ready_us))) s"
workers=$(pgrep -u sponged -d ' ' -f sponge-worker || true)
n_killed=$(journalctl -u "$unit" --no-pager -o cat | grep -c 'with signal SIGKILL')
t0=$(now_us)
systemctl stop "$unit" || fail "systemctl stop failed"
stop_us=$(($(now_us) - t0))
props
[ "${P[ActiveState]}" = inactive ] || fail "after stop the unit is ${P[ActiveState]}"
[ "${P[Result]}" = success ] && [ "${P[ExecMainStatus]}" = 0 ] ||
	fail "the agent did not exit cleanly: Result=${P[Result]} ExecMainStatus=${P[ExecMainStatus]}"
left=$(pgrep -u sponged -a || true)
[ -z "$left" ] || fail "processes of sponged left after stop: $left"
for p in $main_pid $workers; do
	! kill -0 "$p" 2>/dev/null || fail "pid $p still runs after stop"
done
[ ! -e "$cgdir" ] || fail "cgroup left after stop: $(find "$cgdir" -type d)"
journal=$(journalctl -u "$unit" --no-pager -o cat)
grep -q "workers stopped; exiting" <<<"$journal" || fail "the agent did not report a clean shutdown"
[ "$(grep -c 'with signal SIGKILL' <<<"$journal")" = "$n_killed" ] ||
	fail "systemd had to SIGKILL leftovers: the agent did not stop its workers"
ok "stopped in $(secs "$stop_us") s, exit 0; no process (agent $main_pid, workers $workers) and no cgroup left"

# ---------------------------------------------------------------- purge
step "dpkg --purge sponged"
# (The private database does not know that other packages own /usr/bin and the like.)
dpkg --admindir="$adm" --purge sponged 2>&1 | grep -v 'not empty so not removed' | sed 's/^/  dpkg| /'
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "dpkg --purge failed"
[ ! -e /usr/lib/systemd/system/$unit ] && [ ! -e "$pdir" ] || fail "purge left the unit or $pdir"
[ ! -e /etc/systemd/system/multi-user.target.wants/$unit ] || fail "purge left the unit enabled"
ok "purged: unit, enablement and pipelines gone"

echo "$me: PASS: start-to-READY $(secs $((ready_us - start_us))) s, guest uptime at READY $(secs "$ready_us") s, stop $(secs "$stop_us") s, exposure $exposure"
exit 0
