#!/usr/bin/env bash
# systemd-host.sh --build DIR [vm-run.sh options...] — the host half of vm.systemd.
#
# Packs the build tree DIR into the sponged .deb with CPack (what a user gets from
# `cpack -G DEB`), then boots the systemd VM (tests/vm/vm-run.sh --systemd) with the package and
# tests/vm/systemd-guest.sh, which installs it and drives the service. Exits with the guest's
# status; 77 (skip) only when the host cannot build a .deb at all (no dpkg tools: not Debian).
set -euo pipefail

me=systemd-host.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=
vmargs=()
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?}; shift 2 ;;
	*) vmargs+=("$1"); shift ;;
	esac
done
[ -n "$build" ] || { echo "usage: $me --build DIR [vm-run.sh options...]" >&2; exit 2; }
for tool in cpack dpkg-deb dpkg-shlibdeps; do
	command -v "$tool" >/dev/null ||
		{ echo "$me: SKIP: $tool not installed (cmake, dpkg-dev: tests/setup.sh)" >&2; exit 77; }
done
build=$(cd "$build" && pwd)
[ -f "$build/CPackConfig.cmake" ] ||
	{ echo "$me: FAIL: no $build/CPackConfig.cmake (is include(CPack) in systemd/?)" >&2; exit 1; }

out=$build/vm-systemd
rm -rf "$out"
mkdir -p "$out"
t0=$(date +%s.%N)
if ! cpack -G DEB --config "$build/CPackConfig.cmake" -B "$out" >"$out/cpack.log" 2>&1; then
	echo "$me: FAIL: cpack could not build the package:" >&2
	tail -n 30 "$out/cpack.log" | sed 's/^/  | /' >&2
	exit 1
fi
debs=("$out"/sponged_*.deb)
[ "${#debs[@]}" -eq 1 ] && [ -f "${debs[0]}" ] ||
	{ echo "$me: FAIL: expected one sponged_*.deb in $out, found: ${debs[*]}" >&2; exit 1; }
deb=${debs[0]}
echo "$me: $(basename "$deb"): $(du -k "$deb" | cut -f1) KiB in" \
	"$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s;" \
	"$(dpkg-deb -f "$deb" Depends)"

# Both go in through the initramfs, so the guest finds them even when the build or source tree
# sits under a directory the guest mounts over (/tmp).
exec bash "$here/vm-run.sh" "${vmargs[@]}" --systemd \
	--file "$deb:/sponge-vm/sponged.deb" \
	--file "$here/systemd-guest.sh:/sponge-vm/systemd-guest.sh" \
	-- /bin/bash /sponge-vm/systemd-guest.sh /sponge-vm/sponged.deb
