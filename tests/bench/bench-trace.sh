#!/usr/bin/env bash
# bench-trace — the scaling policies (static, reactive, horizontal, vertical, full) and the
# oracle on real trace segments; table, plots (PNG + SVG), last line one JSON object.
#
#   sudo bash tests/bench/bench-trace.sh [BUILD_DIR] [OPTIONS]      (~18 min on 2 cores)
#   sudo bash tests/bench/bench-trace.sh --smoke [BUILD_DIR]         (CI: full only, 60 s)
#
# BUILD_DIR defaults to build/ beside the sources; the binaries it needs (sponged,
# sponge-worker-flops, sponge-load, bench-oracle) are built there if missing. Options go to
# tests/bench/bench-trace.py (--help lists them: --segment NAME:START:LENGTH:SCALE,
# --policies, --image-bytes, --node-millicores, --warmup-s, --out, ...). Output in
# BUILD_DIR/bench-trace/ (report.txt, result.json, bench-trace-SEGMENT.{png,svg}, runs/).
# Exit: 0 done, 1 a run or the harness failed, 77 cannot run here (not root, no cgroup cpu
# controller, no gnuplot, no python3). See tests/bench/README.md, section bench-trace.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
args=()
build=
prev=
for a in "$@"; do
  # BUILD_DIR: the first word that is neither an option nor an option's value
  case "$prev" in
  --segment|--policies|--pipeline|--slo-ms|--image-bytes|--node-millicores|--warmup-s|\
  --body-bytes|--seed|--out|--build|--downscale-delay-ms) args+=("$a") ;;
  *) if [ -z "$build" ] && [ "${a#-}" = "$a" ]; then build=$a; else args+=("$a"); fi ;;
  esac
  prev=$a
done
build=${build:-$src/build}
[ "$(id -u)" -eq 0 ] || { echo "bench-trace: SKIP: needs root (real cgroups)" >&2; exit 77; }
command -v python3 >/dev/null || { echo "bench-trace: SKIP: python3 missing" >&2; exit 77; }
missing=()
for b in sponged sponge-worker-flops sponge-load bench-oracle; do
  [ -x "$build/bin/$b" ] || missing+=("$b")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench-trace: building ${missing[*]} in $build" >&2
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j2 --target "${missing[@]}" >/dev/null
fi
# A sanitizer build instruments the workers too: the smoke run then asks less of them.
if grep -q '^SPONGE_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  args+=(--sanitized)
fi
exec python3 "$src/tests/bench/bench-trace.py" --build "$build" ${args[@]+"${args[@]}"}
