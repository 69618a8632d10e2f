#!/bin/sh
# guest-boot-check.sh — the vm.boot smoke test, run INSIDE the guest by vm-run.sh (busybox sh).
#
# Proves the harness hands a test what the cgroup tests rely on: cgroup2 mounted at
# /sys/fs/cgroup with the cpu controller, and a cpu.max that the kernel really enforces — a busy
# loop in a child group limited to "30000 100000" (0.3 core) is throttled (cpu.stat nr_throttled
# > 0) and consumes no more than its quota. Times are guest times (/proc/uptime): under TCG the
# guest clock runs at host wall-clock speed, and the guest scheduler charges usage in it too.
# Exit 0 pass, 1 fail.
cg=/sys/fs/cgroup
grp=$cg/vm-boot-check
fail() {
	echo "vm.boot: FAIL: $*"
	[ -n "$loop" ] && kill "$loop" 2>/dev/null
	exit 1
}

fstype=$(awk -v m="$cg" '$2 == m { print $3 }' /proc/mounts)
[ "$fstype" = cgroup2 ] || fail "$cg is '$fstype', not cgroup2"
controllers=$(cat $cg/cgroup.controllers)
echo "vm.boot: kernel $(uname -r), $(nproc) CPUs, controllers: $controllers"
case " $controllers " in *" cpu "*) ;; *) fail "no cpu controller in '$controllers'" ;; esac

echo +cpu >$cg/cgroup.subtree_control || fail "cannot enable +cpu in $cg/cgroup.subtree_control"
mkdir $grp || fail "cannot create $grp"
echo "30000 100000" >$grp/cpu.max || fail "cannot write $grp/cpu.max"
max=$(cat $grp/cpu.max)
[ "$max" = "30000 100000" ] || fail "cpu.max reads back '$max'"

# The child moves itself into the group before it starts spinning.
sh -c "echo \$\$ >$grp/cgroup.procs && while :; do :; done" &
loop=$!
sleep 0.5
grep -qx "$loop" $grp/cgroup.procs || fail "busy loop $loop is not in $grp"

stat_get() { awk -v k="$1" '$1 == k { print $2 }' $grp/cpu.stat; }
t0=$(cut -d' ' -f1 /proc/uptime)
u0=$(stat_get usage_usec)
sleep 2
t1=$(cut -d' ' -f1 /proc/uptime)
u1=$(stat_get usage_usec)
periods=$(stat_get nr_periods)
throttled=$(stat_get nr_throttled)
kill "$loop"
wait "$loop" 2>/dev/null
loop=

cores=$(awk -v u0="$u0" -v u1="$u1" -v t0="$t0" -v t1="$t1" \
	'BEGIN { printf "%.3f", (u1 - u0) / 1e6 / (t1 - t0) }')
echo "vm.boot: cpu.max '$max': $cores cores over $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s," \
	"nr_periods=$periods nr_throttled=$throttled"
[ "${throttled:-0}" -gt 0 ] || fail "busy loop under cpu.max 30000 100000 was never throttled"
# 0.3 core allowed; a period's overrun is bounded, so even a coarse window stays well under 0.45.
awk -v c="$cores" 'BEGIN { exit !(c > 0.10 && c < 0.45) }' ||
	fail "busy loop used $cores cores under a 0.30-core limit"

rmdir $grp || fail "cannot remove $grp"
echo "vm.boot: PASS"
exit 0
