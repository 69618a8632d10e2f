#!/usr/bin/env bash
# Fails on any clang-format diff in the project's C sources; `--fix` rewrites them in place.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' \
  | grep -v -E '(^|/)vmlinux\.h$|\.skel\.h$' || true)
[ "${#files[@]}" -gt 0 ] || { echo "format.sh: no C sources"; exit 0; }
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}"; then
  echo "format.sh: clang-format wants changes above; run 'bash tests/format.sh --fix'" >&2
  exit 1
fi
echo "format.sh: ${#files[@]} files clean"
