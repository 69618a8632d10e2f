#!/usr/bin/env bash
# vm-run.sh — run one command inside a throw-away qemu VM (Debian's kernel, cgroup v2) and exit
# with that command's status. See tests/vm/README.md for the whole story.
#
#   vm-run.sh --cache DIR [--timeout S] [--mem MB] [--smp N] [--file HOST[:GUEST]]...
#             [--modules NAME,NAME...] [--env NAME=VALUE]... [--append KERNEL-ARGS]
#             [--qemu-arg ARG]... [--systemd] [--keep] [--console-log FILE]
#             -- COMMAND [ARGS...]
#
# Plain mode: an initramfs holds busybox-static, the --file files (and COMMAND itself when it is
# a host path) with every shared library `ldd` lists plus the dynamic loader, and the requested
# kernel modules with their dependencies. Its /init mounts proc, sysfs, devtmpfs, devpts and
# cgroup2 (at /sys/fs/cgroup), loads the modules, runs COMMAND as root in / with stdin from
# /dev/null, prints
#   SPONGE-VM-VERDICT rc=<status> id=<random id of this run> uptime=<guest seconds>
# on the serial console and powers off.
#
# --systemd mode: the guest mounts the host's / read-only over virtio-9p, puts a tmpfs overlay on
# top, copies the --file files in, installs sponge-vm-test.service (runs COMMAND, prints the
# verdict, powers off) and switch_roots into /lib/systemd/systemd as PID 1.
#
# The host echoes the console prefixed with "vm| ", and exits with the guest's status (77 =
# skipped stays 77). No verdict within --timeout (qemu hung, kernel panic, init died) is a loud
# failure (exit 1) that prints the console's tail. Missing host tools (qemu, busybox-static,
# cpio) are a skip (77) with the reason; see vm-kernel.sh for how a kernel download failure is
# treated.
set -euo pipefail

me=vm-run.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() {
	echo "$me: FAIL: $*" >&2
	exit 1
}
skip() {
	echo "$me: SKIP: $*" >&2
	exit 77
}
usage() {
	sed -n '5,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,2\}//' >&2
	exit 2
}

cache='' timeout_s=240 mem_mb=1024 smp=2 systemd=0 keep=0 console_log='' append=''
files=() modules=() envs=() qextra=()
while [ $# -gt 0 ]; do
	case $1 in
	--cache) cache=${2:?}; shift 2 ;;
	--timeout) timeout_s=${2:?}; shift 2 ;;
	--mem) mem_mb=${2:?}; shift 2 ;;
	--smp) smp=${2:?}; shift 2 ;;
	--file) files+=("${2:?}"); shift 2 ;;
	--modules) IFS=, read -r -a m <<<"${2:?}"; modules+=("${m[@]}"); shift 2 ;;
	--env) envs+=("${2:?}"); shift 2 ;;
	--append) append="$append ${2:?}"; shift 2 ;;
	--qemu-arg) qextra+=("${2:?}"); shift 2 ;;
	--systemd) systemd=1; shift ;;
	--keep) keep=1; shift ;;
	--console-log) console_log=${2:?}; shift 2 ;;
	--) shift; break ;;
	-h | --help) usage ;;
	*) echo "$me: unknown option $1" >&2; usage ;;
	esac
done
if [ -z "$cache" ] || [ $# -eq 0 ]; then usage; fi
[[ $timeout_s =~ ^[0-9]+$ && $mem_mb =~ ^[0-9]+$ && $smp =~ ^[0-9]+$ ]] ||
	die "--timeout, --mem and --smp take whole numbers"
for e in "${envs[@]}"; do
	[[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env $e: expected NAME=VALUE"
done

qemu=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 not installed (tests/setup.sh)"
command -v cpio >/dev/null || skip "cpio not installed (tests/setup.sh)"
busybox=
for b in /bin/busybox /usr/bin/busybox; do
	# Only a static busybox runs in the initramfs without its libraries.
	if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b && break; fi
done
[ -n "$busybox" ] || skip "no static busybox (package busybox-static, tests/setup.sh)"

vmlinuz=$("$here/vm-kernel.sh" "$cache") || exit $? # 77 stays a skip, anything else a failure
release=${vmlinuz##*/vmlinuz-}
moddir=$(dirname "$(dirname "$vmlinuz")")/lib/modules/$release
cache=$(cd "$cache" && pwd)

# Work dirs of runs that were SIGKILLed (a ctest timeout) are swept after two hours.
find "$cache" -maxdepth 1 -name 'run.*' -mmin +120 -exec rm -rf {} + 2>/dev/null || true
stage=$(mktemp -d "$cache/run.XXXXXX")
root=$stage/initramfs
qpid=
# shellcheck disable=SC2317 # called through trap
cleanup() {
	if [ -n "$qpid" ]; then kill -KILL "$qpid" 2>/dev/null || true; fi
	if [ "$keep" = 1 ]; then
		echo "$me: kept $stage" >&2
	else
		rm -rf "$stage"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---------------------------------------------------------------- initramfs content
# Files keep their host paths in the guest unless HOST:GUEST says otherwise. In --systemd mode
# they are carried under /payload and copied onto the overlay root before switch_root.
payload=$root
[ "$systemd" = 1 ] && payload=$root/payload
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,etc,mnt} "$payload"
cp "$busybox" "$root/bin/busybox"

declare -A copied=()
copy_in() { # copy_in HOSTPATH GUESTPATH: dereference symlinks, keep the mode
	local src=$1 dst=$2
	[ -n "${copied[$dst]:-}" ] && return 0
	copied[$dst]=1
	mkdir -p "$payload$(dirname "$dst")"
	cp -L --preserve=mode "$src" "$payload$dst" || die "cannot copy $src"
}
copy_with_libs() { # copy_with_libs HOSTPATH GUESTPATH: the file and, for a dynamic ELF, its libs
	local src=$1 dst=$2 out lib
	copy_in "$src" "$dst"
	# In --systemd mode the guest's root is the host's: the libraries are already there.
	[ -x "$src" ] && [ "$systemd" = 0 ] || return 0
	out=$(LC_ALL=C ldd "$src" 2>&1) || return 0 # not a dynamic executable: nothing more needed
	if grep -q 'not found' <<<"$out"; then
		die "$src: missing shared libraries:"$'\n'"$out"
	fi
	# "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x..)" and "/lib64/ld-linux-x86-64.so.2 (0x..)";
	# linux-vdso.so.1 has no file. Libraries keep their paths; ld.so.cache is copied below.
	while read -r lib; do
		copy_in "$lib" "$lib"
	done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out")
}

cmd=("$@")
for f in "${files[@]}"; do
	src=${f%%:*}
	dst=${f#*:}
	[ -f "$src" ] || die "--file $src: not a file"
	[ "$dst" = "$f" ] && dst=$(realpath -s "$src")
	[[ $dst == /* ]] || die "--file $f: the guest path must be absolute"
	[[ $dst =~ ^/(proc|sys|dev)(/|$) ]] && die "--file $f: /proc, /sys and /dev are mounted over"
	src=$(realpath "$src")
	copy_with_libs "$src" "$dst"
done
# COMMAND given as an existing host path goes in too, so `vm-run.sh -- build/test-x` just works
# (a relative path becomes the absolute one, in the guest as on the host).
if [[ ${cmd[0]} == */* && ${cmd[0]} != /* && ! -f ${cmd[0]} ]]; then
	die "COMMAND ${cmd[0]}: no such file (relative paths name host files)"
fi
if [[ ${cmd[0]} == */* ]] && [ -f "${cmd[0]}" ]; then
	[[ ${cmd[0]} == /* ]] || cmd[0]=$(realpath -s "${cmd[0]}")
	[ -n "${copied[${cmd[0]}]:-}" ] || copy_with_libs "$(realpath "${cmd[0]}")" "${cmd[0]}"
fi
[ -f /etc/ld.so.cache ] && [ "$systemd" = 0 ] && cp /etc/ld.so.cache "$root/etc/ld.so.cache"

# Kernel modules: resolve each name's "depends=" (from the .modinfo section) depth first, so the
# list is in load order; store them decompressed as /lib/modules/sponge-vm/<name>.ko.
declare -A modpath=() modstate=()
modorder=()
if [ "${#modules[@]}" -gt 0 ] || [ "$systemd" = 1 ]; then
	[ -d "$moddir/kernel" ] || die "no modules at $moddir"
	while IFS= read -r p; do
		n=${p##*/}
		n=${n%%.ko*}
		modpath[${n//-/_}]=$p
	done < <(find "$moddir/kernel" -name '*.ko*')
fi
modcat() {
	case $1 in
	*.ko) cat "$1" ;;
	*.ko.xz) xz -dc "$1" ;;
	*.ko.zst) zstd -dcq "$1" ;;
	*.ko.gz) gzip -dc "$1" ;;
	*) die "unknown module format $1" ;;
	esac
}
add_module() {
	local n=${1//-/_} d deps
	[ "${modstate[$n]:-}" = loaded ] && return 0
	[ "${modstate[$n]:-}" = visiting ] && die "module dependency cycle at $n"
	if [ -z "${modpath[$n]:-}" ]; then
		grep -qE "/${n//_/[-_]}\.ko$" "$moddir/modules.builtin" 2>/dev/null && return 0 # built in
		die "no kernel module $n in $moddir"
	fi
	modstate[$n]=visiting
	deps=$(modcat "${modpath[$n]}" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n 1)
	IFS=, read -r -a deps <<<"$deps"
	for d in "${deps[@]}"; do add_module "$d"; done
	modstate[$n]=loaded
	modorder+=("$n")
	mkdir -p "$root/lib/modules/sponge-vm"
	modcat "${modpath[$n]}" >"$root/lib/modules/sponge-vm/$n.ko"
}
if [ "$systemd" = 1 ]; then
	# 9p over virtio-pci for the host's root, overlay for the writable layer on top.
	modules+=(virtio_pci 9pnet_virtio 9p overlay)
fi
for m in "${modules[@]}"; do [ -n "$m" ] && add_module "$m"; done

# ---------------------------------------------------------------- /init
run_id=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
quote() { # POSIX-shell single quoting that busybox ash reads back verbatim
	local s=${1//\'/\'\\\'\'}
	printf "'%s'" "$s"
}
cmdline=
for a in "${cmd[@]}"; do cmdline="$cmdline $(quote "$a")"; done
envlines=
for e in "${envs[@]}"; do envlines+="export ${e%%=*}=$(quote "${e#*=}")"$'\n'; done

# The part shared by both modes: mounts, console, modules.
cat >"$root/init" <<EOF
#!/bin/busybox sh
# Generated by tests/vm/vm-run.sh (run $run_id).
/bin/busybox --install -s
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t devtmpfs devtmpfs /dev
# Without /dev/console in the archive the kernel started us with no fds at all.
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# The initramfs root (rootfs) is itself writable: /tmp and /run stay plain directories so that
# files put there with --file are not hidden under a new mount.
chmod 1777 /tmp
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
hostname sponge-vm
verdict() {
	echo "SPONGE-VM-VERDICT rc=\$1 id=$run_id uptime=\$(cut -d' ' -f1 /proc/uptime)"
	sync
	poweroff -f
	sleep 5
	exit 1 # PID 1 exits: panic, and -no-reboot ends qemu
}
for m in ${modorder[*]}; do
	insmod /lib/modules/sponge-vm/\$m.ko || { echo "init: insmod \$m failed"; verdict 1; }
done
EOF

if [ "$systemd" = 0 ]; then
	cat >>"$root/init" <<EOF
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || { echo "init: no cgroup2"; verdict 1; }
$envlines
cd /
echo "SPONGE-VM-START id=$run_id"
$cmdline </dev/null
verdict \$?
EOF
else
	# The guest boots into sponge-vm.target = basic.target + the test unit, not multi-user:
	# the host's own services (web servers, databases, ...) neither slow the boot nor fail it.
	# A test that wants them runs `systemctl start multi-user.target`. The unit is Type=exec, so
	# boot completes while it runs (systemd-analyze, is-system-running work); its output goes
	# straight to the serial port.
	runner=/sponge-vm/run
	units=$root/payload/etc/systemd/system
	mkdir -p "$root/payload/sponge-vm" "$units/sponge-vm.target.wants"
	cat >"$root/payload$runner" <<EOF
#!/bin/sh
$envlines
echo "SPONGE-VM-START id=$run_id"
cd /
$cmdline </dev/null
rc=\$?
echo "SPONGE-VM-VERDICT rc=\$rc id=$run_id uptime=\$(cut -d' ' -f1 /proc/uptime)"
sync
systemctl poweroff --force --force
EOF
	chmod 755 "$root/payload$runner"
	cat >"$units/sponge-vm.target" <<EOF
[Unit]
Description=sponged VM test boot target (tests/vm/vm-run.sh)
Requires=basic.target
After=basic.target
AllowIsolate=yes
EOF
	cat >"$units/sponge-vm-test.service" <<EOF
[Unit]
Description=sponged VM test (tests/vm/vm-run.sh)
After=basic.target
[Service]
Type=exec
ExecStart=$runner
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS0
EOF
	ln -s ../sponge-vm-test.service "$units/sponge-vm.target.wants/sponge-vm-test.service"
	# The console belongs to the test; the host's fstab names disks the VM does not have.
	ln -s /dev/null "$units/serial-getty@ttyS0.service"
	ln -s /dev/null "$units/getty@tty1.service"
	: >"$root/payload/etc/fstab"
	cat >>"$root/init" <<EOF
mkdir -p /mnt/lower /mnt/rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 sponge-root /mnt/lower ||
	{ echo "init: cannot mount the host root over 9p"; verdict 1; }
mount -t tmpfs -o mode=755 tmpfs /mnt/rw
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work overlay /newroot ||
	{ echo "init: cannot mount the overlay root"; verdict 1; }
# Fresh tmpfs over the host's scratch and log trees: systemd-tmpfiles --remove at boot would
# otherwise whiteout every file of the host's /tmp (file by file, over 9p), and its z/Z lines
# would copy the host's journal files up into the overlay.
for d in /tmp /var/tmp /var/log; do mount -t tmpfs -o mode=1777 tmpfs /newroot\$d; done
chmod 755 /newroot/var/log
# systemd must see a VM, not the container the host root may come from.
rm -f /newroot/.dockerenv /newroot/run/.containerenv
# Unpacked by the new root's own tar, chrooted: the host's / has merged-/usr symlinks (/bin ->
# usr/bin) that must be followed, not replaced.
(cd /payload && tar -cf - .) | chroot /newroot /bin/tar -xf - --keep-directory-symlink -C / ||
	{ echo "init: cannot copy the payload"; verdict 1; }
umount /dev/pts /dev/shm
mount --move /dev /newroot/dev
umount /proc /sys
echo "SPONGE-VM-SWITCH-ROOT id=$run_id"
exec switch_root /newroot /lib/systemd/systemd
EOF
fi
chmod 755 "$root/init"

# /dev/console for the kernel's first open, when we may create device nodes (root); /init
# copes without it.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
(cd "$root" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$stage/initrd.gz"

# ---------------------------------------------------------------- boot and watch the console
log=${console_log:-$stage/console.log}
: >"$log"
kargs="console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init"
[ "$systemd" = 1 ] && kargs="$kargs systemd.unit=sponge-vm.target systemd.show_status=error"
kargs="$kargs$append"
qargs=(-accel tcg -machine pc -cpu max -m "$mem_mb" -smp "$smp"
	-nodefaults -no-user-config -display none -no-reboot
	-serial "file:$log" -kernel "$vmlinuz" -initrd "$stage/initrd.gz" -append "$kargs")
qargs+=("${qextra[@]}")
[ "$systemd" = 1 ] && qargs+=(-virtfs "local,path=/,mount_tag=sponge-root,security_model=none,readonly=on,multidevs=remap")

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(now)
echo "$me: booting $release ($(basename "$qemu") TCG, ${smp} vCPU, ${mem_mb} MiB, initramfs $(du -k "$stage/initrd.gz" | cut -f1) KiB), timeout ${timeout_s} s: ${cmd[*]}"
# qemu dies with this script even when it is SIGKILLed (a ctest timeout).
setpriv --pdeathsig KILL -- "$qemu" "${qargs[@]}" </dev/null >"$stage/qemu.out" 2>&1 &
qpid=$!
tail -n +1 -F --pid="$qpid" "$log" 2>/dev/null | tr -d '\r' | sed -u 's/^/vm| /' &
tailpid=$!

start_s='' verdict_s='' timed_out=0
deadline=$(awk -v a="$t0" -v t="$timeout_s" 'BEGIN { printf "%d", a + t + 0.999 }')
while kill -0 "$qpid" 2>/dev/null; do
	if [ -z "$start_s" ] && grep -qa "SPONGE-VM-START id=$run_id" "$log"; then start_s=$(since "$t0"); fi
	if grep -qa "SPONGE-VM-VERDICT rc=[0-9]* id=$run_id " "$log"; then
		verdict_s=$(since "$t0")
		break
	fi
	if [ "$(date +%s)" -ge "$deadline" ]; then timed_out=1 && break; fi
	sleep 0.2
done
# After the verdict the guest powers off by itself; give it a moment, then stop it.
if [ -n "$verdict_s" ]; then
	for _ in $(seq 50); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
fi
[ -z "$verdict_s" ] && grep -qa "SPONGE-VM-VERDICT rc=[0-9]* id=$run_id " "$log" && verdict_s=$(since "$t0")
[ -z "$start_s" ] && grep -qa "SPONGE-VM-START id=$run_id" "$log" && start_s=$(since "$t0")
kill -KILL "$qpid" 2>/dev/null || true
wait "$qpid" 2>/dev/null || true
qpid=
wait "$tailpid" 2>/dev/null || true

# Not anchored: a command whose last output lacks a newline shares the verdict's line.
verdict=$(tr -d '\r' <"$log" | grep -ao "SPONGE-VM-VERDICT rc=[0-9]* id=$run_id uptime=[0-9.]*" |
	head -n 1) || true
rc=$(sed -n 's/^SPONGE-VM-VERDICT rc=\([0-9]*\) .*/\1/p' <<<"$verdict")
uptime=$(sed -n 's/.* uptime=\([0-9.]*\).*/\1/p' <<<"$verdict")
if [ -z "$rc" ]; then
	if [ "$timed_out" = 1 ]; then
		echo "$me: FAIL: no verdict from the guest within the ${timeout_s} s timeout" >&2
	else
		echo "$me: FAIL: the guest stopped after $(since "$t0") s without a verdict" \
			"(kernel panic, /init died, or qemu failed)" >&2
	fi
	if [ -s "$stage/qemu.out" ]; then
		echo "$me: qemu said:" >&2
		sed 's/^/  /' "$stage/qemu.out" >&2
	fi
	echo "$me: last 40 console lines:" >&2
	tr -d '\r' <"$log" | tail -n 40 | sed 's/^/  | /' >&2
	exit 1
fi
echo "$me: guest rc=$rc; boot-to-command ${start_s:-?} s, boot-to-verdict ${verdict_s} s host wall clock, ${uptime:-?} s guest uptime"
exit "$rc"
