#!/usr/bin/env bash
# The whole suite, as CI runs it: set-up, format check, -Werror build + every test,
# then an ASan+UBSan build + every test but the VM ones (the guest has no sanitizer runtime
# budget to spare under TCG). Run as root: integration tests use the kernel's cgroups.
# A failed test is run once more (--repeat until-pass:2): the control-loop and throughput
# tests measure real CPU time on a 2-core machine, where a neighbour can cost one run its SLO;
# a real regression fails both times. The control-loop tests (agent.control-*) judge plans by
# the workers' real speed, which the sanitizers change 10-50x; they run in the first pass only
# (the agent's code paths run under ASan in the other agent.* tests); so does cluster.haproxy,
# which judges request shares and SLOs of three nodes on two cores, and ui.live, whose browser
# check needs a 100-millicore worker to answer within its batch deadline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
bash tests/format.sh
cmake --preset ci
cmake --build --preset ci
ctest --preset ci --repeat until-pass:2
cmake --preset asan
cmake --build --preset asan
ctest --preset asan --label-exclude vm --exclude-regex '^(agent\.control-|cluster\.haproxy$|ui\.live$)' --repeat until-pass:2
# libFuzzer targets (clang): each fuzz.* test fuzzes its parser for 45 s under ASan+UBSan.
cmake --preset fuzz
cmake --build --preset fuzz
ctest --preset fuzz
