#!/usr/bin/env bash
# vm-kernel.sh CACHE_DIR — fetch Debian's kernel once and print the path of its vmlinuz.
#
# The package is the one Debian's meta-package names (`apt-cache depends linux-image-amd64`,
# e.g. linux-image-6.1.0-56-amd64); it is fetched with `apt-get download` and unpacked with
# `dpkg-deb -x` into CACHE_DIR/<package>/ (boot/vmlinuz-*, lib/modules/<release>/).
# A second call finds the stamp file and prints the same path at once. Concurrent calls are
# serialised with flock, so two VM tests started together share one download.
#
# Environment:
#   SPONGE_VM_KERNEL_DEB=/path/x.deb  use this local kernel package instead of downloading
#   SPONGE_VM_ALLOW_SKIP=1            a failed download is a skip (77), not a failure (1)
#
# Exit status: 0 and the vmlinuz path on stdout; 77 (skip, reason on stderr) when apt knows
# no source for linux-image-amd64 (not a Debian host, no sources configured); 1 on any other
# failure — notably a failed download, because CI reaches Debian's archive and a VM test that
# silently skipped there would hide a broken harness.
set -euo pipefail

me=vm-kernel.sh
die() {
	echo "$me: $*" >&2
	exit 1
}
skip() {
	echo "$me: SKIP: $*" >&2
	exit 77
}

[ $# -eq 1 ] || die "usage: $me CACHE_DIR"
cache=$1
mkdir -p "$cache" || die "cannot create cache dir $cache"
cache=$(cd "$cache" && pwd)
stamp=$cache/kernel.path

exec 9>"$cache/.kernel.lock"
flock 9 || die "cannot lock $cache/.kernel.lock"

if [ -s "$stamp" ]; then
	vmlinuz=$(cat "$stamp")
	if [ -f "$vmlinuz" ]; then
		echo "$vmlinuz"
		exit 0
	fi
fi

work=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -n "${SPONGE_VM_KERNEL_DEB:-}" ]; then
	[ -f "$SPONGE_VM_KERNEL_DEB" ] || die "SPONGE_VM_KERNEL_DEB=$SPONGE_VM_KERNEL_DEB: no such file"
	deb=$SPONGE_VM_KERNEL_DEB
else
	if ! command -v apt-cache >/dev/null || ! command -v apt-get >/dev/null; then
		skip "no apt-get/apt-cache on this host: cannot fetch Debian's kernel"
	fi
	# The meta-package depends on exactly one versioned image package.
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1) || true
	[ -n "$pkg" ] ||
		skip "apt has no source for linux-image-amd64 (apt-cache depends names no image package)"

	# apt drops privileges to _apt for downloads; as root in a directory _apt cannot write to,
	# that only produces a warning, so download as root explicitly.
	aptopt=()
	[ "$(id -u)" -eq 0 ] && aptopt=(-o APT::Sandbox::User=root)
	fetch() { (cd "$work" && apt-get download -q "${aptopt[@]}" "$pkg") >"$work/apt.log" 2>&1; }
	if ! fetch; then
		# Stale package lists name a version the mirror no longer has: refresh once (root only).
		if [ "$(id -u)" -eq 0 ] && apt-get update -qq >>"$work/apt.log" 2>&1 && fetch; then
			:
		else
			cat "$work/apt.log" >&2
			msg="apt-get download $pkg failed (log above)"
			[ "${SPONGE_VM_ALLOW_SKIP:-0}" = 1 ] && skip "$msg; SPONGE_VM_ALLOW_SKIP=1"
			die "$msg; set SPONGE_VM_ALLOW_SKIP=1 to count this as a skip"
		fi
	fi
	deb=$(find "$work" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
	[ -n "$deb" ] || die "apt-get download $pkg left no .deb in $work"
fi

name=$(dpkg-deb -f "$deb" Package) || die "$deb is not a Debian package"
dpkg-deb -x "$deb" "$work/root" || die "dpkg-deb -x $deb failed"
vmlinuz_rel=$(cd "$work/root" && find boot -maxdepth 1 -name 'vmlinuz-*' | head -n 1)
[ -n "$vmlinuz_rel" ] || die "$deb contains no boot/vmlinuz-*"
release=${vmlinuz_rel#boot/vmlinuz-}
[ -d "$work/root/lib/modules/$release/kernel" ] || die "$deb has no lib/modules/$release/kernel"

rm -rf "${cache:?}/$name"
mv "$work/root" "$cache/$name"
echo "$cache/$name/$vmlinuz_rel" >"$stamp.tmp"
mv "$stamp.tmp" "$stamp"
echo "$me: unpacked $name ($release) into $cache/$name" >&2
cat "$stamp"
