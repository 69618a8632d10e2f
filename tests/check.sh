#!/usr/bin/env bash
# The whole suite, as CI runs it: set-up, format check, -Werror build + every test,
# then an ASan+UBSan build + every test but the VM ones (the guest has no sanitizer runtime
# budget to spare under TCG). Run as root: integration tests use the kernel's cgroups.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
bash tests/format.sh
cmake --preset ci
cmake --build --preset ci
ctest --preset ci
cmake --preset asan
cmake --build --preset asan
ctest --preset asan --label-exclude vm
