# shellcheck shell=bash
# reliability-lib.sh — helpers of the reliability.* integration tests (sourced, not run): issue
# 16, "bounded failure". They are agent tests (tests/integration/lib-agent.sh: real sponged,
# real workers, real HTTP, the kernel's cgroups) with their own ports, 18870-18889 (plus
# $SPONGE_TEST_PORT_OFFSET), and their own cgroup root name. Stuck workers are the real echo
# and flops workers stopped with SIGSTOP, or the echo worker's --never-ready mode.
#   reliability_init NAME PORT [BINARY_DIR [SOURCE_DIR]]   like agent_init

AGENT_PORTS=18870-18889
source "$(dirname "${BASH_SOURCE[0]}")/lib-agent.sh"

reliability_init() {
        local name=$1 port=$2
        shift 2
        AGENT_CG_NAME=sponged-rel-$name-$$
        agent_init "reliability.$name" "$port" "$@"
}

# elapsed T0 — seconds since T0 (from now_s), two decimals.
elapsed() {
        "$PY" -c "print('%.2f' % ($(now_s) - $1))"
}

# below X LIMIT — whether the number X is below LIMIT.
below() {
        "$PY" -c "import sys; sys.exit(0 if $1 < $2 else 1)"
}
