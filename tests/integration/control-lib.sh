# shellcheck shell=bash
# control-lib.sh — helpers of the agent.control-* integration tests (sourced, not run).
#
# The control tests are black-box tests of the real sponged's control loop: they start sponged
# with "control": true on a temporary node config, drive it with the open-loop load generator
# (sponge-load), sample its HTTP status and the kernel's cgroup files over time, and judge the
# timeline afterwards. They build on tests/integration/lib-agent.sh (start/stop, leftover
# checks, HTTP helpers, test pipelines) and add:
#   control_init NAME PORT [BINARY_DIR [SOURCE_DIR]]
#                       like agent_init, with the control tests' ports (18830-18849) and
#                       cgroup root ($CG_MOUNT/sponged-ctl-NAME-$$)
#   ctl_pipe ARGS...    a test pipeline JSON with the measured profiles of the flops worker
#   ctl_drive ARGS...   runs sponge-load (with --csv) while sampling status + cgroups into a
#                       timeline (JSON lines); see `ctltool drive --help`
#   ctltool CMD ...     the Python side (timeline analysis); standard library only
#
# Every wait is bounded; every figure a check is based on is printed on stderr.

source "$(dirname "${BASH_SOURCE[0]}")/lib-agent.sh"

# control_init NAME PORT [BINARY_DIR [SOURCE_DIR]] — sets up like agent_init (skips with 77
# when not root or without a cpu controller; the EXIT trap checks for leftovers).
control_init() {
        local name=$1 port=$2
        shift 2
        AGENT_PORTS=18830-18849
        AGENT_TOOLS=sponge-load
        AGENT_CG_NAME=sponged-ctl-$name-$$
        AGENT_INIT_HOOK=ctl_write_tool
        agent_init "agent.control-$name" "$port" "$@"
        # shellcheck disable=SC2034 # read by ctl_pipe
        CTL_SCALE=$([ "$AGENT_SANITIZED" = 1 ] && echo 10 || echo 1)
        PROFILES=$SRC/pipelines/worker/profiles
        [ -r "$PROFILES/resnet18.json" ] || die "no measured profiles in $PROFILES"
}

# ctltool CMD ARGS... — the Python helper of the control tests.
ctltool() {
        "$PY" "$CTLTOOL" "$@"
}

# ctl_pipe ARGS... — a pipeline JSON on stdout (see `ctltool pipe --help`); the variants use
# the flops worker's measured profiles from pipelines/worker/profiles/ and carry ITEST_TAG.
# In a sanitizer build the profiles are scaled by CTL_SCALE (10: measured here, resnet18 at
# batch 1 on 1000 millicores takes 161 ms sanitized, 16 ms plain), so the loop plans with what
# the workers really do.
ctl_pipe() {
        ctltool pipe --tag "$TAG" --profiles "$PROFILES" --scale "$CTL_SCALE" "$@"
}

# ctl_drive ARGS... — runs the load generator and the sampler (see `ctltool drive --help`).
ctl_drive() {
        ctltool drive --url "$URL" --load "$BIN/sponge-load" --cg-version "$CG_VERSION" "$@"
}

# cg_limit DIR — the CPU limit in force in a replica cgroup, in millicores ("max" = none).
cg_limit_mc() {
        ctltool cg-limit "$CG_VERSION" "$1"
}

ctl_write_tool() {
        CTLTOOL=$TMP/ctltool.py
        cat >"$CTLTOOL" <<'PYEOF'
"""Helpers of the agent.control-* tests: pipelines with measured profiles, a load + sampling
driver, and timeline analysis. Standard library only."""
import argparse, json, os, subprocess, sys, threading, time, urllib.request


def cg_limit_mc(version, d):
    """Millicores allowed by the cgroup's CPU limit, None when unlimited or unreadable."""
    try:
        if version == "v1":
            with open(os.path.join(d, "cpu.cfs_quota_us")) as f:
                q = int(f.read())
            with open(os.path.join(d, "cpu.cfs_period_us")) as f:
                p = int(f.read())
        else:
            with open(os.path.join(d, "cpu.max")) as f:
                qs, ps = f.read().split()
            if qs == "max":
                return None
            q, p = int(qs), int(ps)
    except (OSError, ValueError):
        return None
    if q < 0:
        return None
    return round(q * 1000 / p)


def cmd_cg_limit(a):
    v = cg_limit_mc(a[0], a[1])
    print("max" if v is None else v)


ACCURACY = {"resnet18": 69.8, "resnet34": 73.3, "resnet50": 76.1, "resnet101": 77.4,
            "resnet152": 78.3}


def cmd_pipe(a):
    p = argparse.ArgumentParser(prog="pipe")
    p.add_argument("--tag", required=True)
    p.add_argument("--profiles", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--slo-ms", type=float, required=True)
    p.add_argument("--stage", action="append", required=True, help="NAME:VARIANT[,VARIANT...]")
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--millicores", default="100,2000,100", help="min,max,step")
    p.add_argument("--replicas", default="1,1", help="min,max")
    p.add_argument("--policy", default="vertical")
    p.add_argument("--late", default="serve")
    p.add_argument("--objective", default="1,10,0.01", help="accuracy,cores,batch weights")
    p.add_argument("--startup-ms", type=int, default=300)
    p.add_argument("--queue-limit", type=int, default=4096)
    p.add_argument("--worker", default="sponge-worker-flops")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply the profile's latencies (sanitizer builds run ~10x slower)")
    o = p.parse_args(a)
    mmin, mmax, mstep = (int(x) for x in o.millicores.split(","))
    rmin, rmax = (int(x) for x in o.replicas.split(","))
    wa, wc, wb = (float(x) for x in o.objective.split(","))
    stages = []
    for spec in o.stage:
        sname, vs = spec.split(":")
        variants = []
        for v in vs.split(","):
            with open(os.path.join(o.profiles, v + ".json")) as f:
                prof = json.load(f)
            for k in ("gamma", "delta", "epsilon", "eta"):
                prof["model"][k] *= o.scale
            variants.append({"name": v, "accuracy": ACCURACY[v],
                             "command": [o.worker, "--variant", v],
                             "env": {"ITEST_TAG": o.tag}, "startup_ms": o.startup_ms,
                             "profile": prof})
        stages.append({"name": sname, "max_batch": o.max_batch,
                       "millicores": {"min": mmin, "max": mmax, "step": mstep},
                       "replicas": {"min": rmin, "max": rmax}, "variants": variants})
    j = {"name": o.name, "slo_ms": o.slo_ms, "policy": o.policy, "late": o.late,
         "queue_limit": o.queue_limit,
         "objective": {"accuracy": wa, "cores": wc, "batch": wb}, "stages": stages}
    json.dump(j, sys.stdout, indent=2)
    print()


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def sample(base, pipelines, cgv):
    """One sample: per pipeline its plans, replicas (with the kernel's limit of each replica's
    cgroup), control and contention; the node."""
    s = {"t": time.monotonic(), "p": {}}
    for name in pipelines:
        try:
            j = get_json(base + "/v1/pipelines/" + name)
        except Exception as e:
            s["p"][name] = {"error": str(e)}
            continue
        st = []
        for x in j["stages"]:
            reps = []
            for r in x["replica_list"]:
                reps.append({"pid": r["pid"], "state": r["state"], "variant": r["variant"],
                             "millicores": r["millicores"], "cgroup": r.get("cgroup"),
                             "kernel_mc": cg_limit_mc(cgv, r["cgroup"]) if r.get("cgroup")
                             else None})
            st.append({"plan": x["plan"], "replicas": reps, "contention": x.get("contention"),
                       "queue": x.get("queue_length"), "model": x.get("model")})
        s["p"][name] = {"stages": st, "control": j.get("control"),
                        "attainment": j.get("slo_attainment_pct")}
    try:
        s["node"] = get_json(base + "/v1/node")
    except Exception as e:
        s["node"] = {"error": str(e)}
    return s


def cmd_drive(a):
    p = argparse.ArgumentParser(prog="drive")
    p.add_argument("--url", required=True)
    p.add_argument("--load", required=True, help="sponge-load binary")
    p.add_argument("--cg-version", required=True)
    p.add_argument("--pipeline", action="append", required=True,
                   help="NAME=STEPS=SLO_MS[=LABEL] — one load generator per entry; STEPS as "
                        "sponge-load --steps; SLO_MS is sent as X-Sponge-Slo-Ms and judged; "
                        "its files are LABEL.csv, LABEL.load.out (LABEL defaults to NAME)")
    p.add_argument("--watch", action="append", default=[], help="more pipelines to sample")
    p.add_argument("--period", type=float, default=0.2)
    p.add_argument("--tail", type=float, default=0.0, help="keep sampling this long after")
    p.add_argument("--out", required=True, help="directory for timeline.jsonl and NAME.csv")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--uniform", action="store_true",
                   help="evenly spaced arrivals within each second (no Poisson bursts)")
    o = p.parse_args(a)
    base = o.url.rstrip("/")
    names = sorted(set([x.split("=")[0] for x in o.pipeline] + o.watch))
    procs, starts = [], {}
    t_launch = time.monotonic()
    for i, spec in enumerate(o.pipeline):
        f = spec.split("=")
        name, steps, slo = f[:3]
        label = f[3] if len(f) > 3 else name
        argv = [o.load, "--url", "%s/v1/pipelines/%s/infer" % (base, name), "--steps", steps,
                "--slo-ms", slo, "--csv", os.path.join(o.out, label + ".csv"), "--seed",
                str(o.seed + i), "--drain-s", "10", "--timeout-s", "20", "--quiet"]
        if o.uniform:
            argv.append("--uniform")
        out = open(os.path.join(o.out, label + ".load.out"), "w")
        err = open(os.path.join(o.out, label + ".load.err"), "w")
        starts[label] = time.monotonic() + 0.02  # START_LEAD_US of sponge-load
        procs.append((label, subprocess.Popen(argv, stdout=out, stderr=err, close_fds=True)))
    timeline = open(os.path.join(o.out, "timeline.jsonl"), "w")
    json.dump({"starts": starts, "launch": t_launch}, timeline)
    timeline.write("\n")
    end_tail = None
    while True:
        t0 = time.monotonic()
        s = sample(base, names, o.cg_version)
        timeline.write(json.dumps(s) + "\n")
        timeline.flush()
        if all(pr.poll() is not None for _, pr in procs):
            if end_tail is None:
                end_tail = time.monotonic() + o.tail
            if time.monotonic() >= end_tail:
                break
        time.sleep(max(0.0, o.period - (time.monotonic() - t0)))
    rc = 0
    for name, pr in procs:
        if pr.wait() != 0:
            print("sponge-load for %s exited with %d" % (name, pr.returncode), file=sys.stderr)
            rc = 1
    sys.exit(rc)


def load_timeline(d):
    with open(os.path.join(d, "timeline.jsonl")) as f:
        head = json.loads(f.readline())
        samples = [json.loads(line) for line in f if line.strip()]
    return head, samples


def load_csv(path):
    import csv
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            rows.append({"t": float(r["send_s"]), "status": int(r["status"]),
                         "lat": float(r["latency_ms"]) if r["latency_ms"] else None,
                         "budget": float(r["budget_ms"]), "within": r["within_budget"] == "1",
                         "outcome": r["outcome"]})
    return rows


def stage_series(samples, P, i, t0):
    """One record per sample of pipeline P's stage i: t (s since t0), plan (dict), mc (plan
    millicores x replicas), rep_mc (sum of the replicas' millicores), kernel (sum of the
    replicas' kernel limits, None if one is unlimited/unreadable), pids, states, control,
    contention, node."""
    out = []
    for s in samples:
        p = s["p"].get(P)
        if not p or "error" in p:
            continue
        st = p["stages"][i]
        reps = st["replicas"]
        kern = [r["kernel_mc"] for r in reps]
        out.append({"t": s["t"] - t0, "plan": st["plan"],
                    "mc": st["plan"]["millicores"] * st["plan"]["replicas"],
                    "rep_mc": sum(r["millicores"] for r in reps),
                    "kernel": None if any(k is None for k in kern) else sum(kern),
                    "pids": [r["pid"] for r in reps], "states": [r["state"] for r in reps],
                    "variants": [r["variant"] for r in reps], "control": p["control"],
                    "contention": st.get("contention"), "queue": st.get("queue"),
                    "model": st.get("model") or {}, "node": s.get("node", {})})
    return out


def print_series(tl, label, every=1.0):
    """A compact table on stdout: one line per plan change and at most one per `every` s."""
    last_t, last_key = None, None
    for x in tl:
        pl = x["plan"]
        key = (pl["variant"], pl["batch"], pl["millicores"], pl["replicas"], x["kernel"],
               tuple(x["pids"]))
        if key == last_key and last_t is not None and x["t"] - last_t < every:
            continue
        last_t, last_key = x["t"], key
        c, ct, n = x["control"], x["contention"] or {}, x["node"]
        print("%s %6.2fs plan %s b%d %dmc x%d | kernel %s pids %s | rps %.1f plan-rps %.1f "
              "budget %.0f q %s %s | rq50 %.2fms wait %.2f thr %.2f slow %.2f%s | model g %.1f "
              "d %.2f e %.1f h %.1f pred %.0fms | node %s/%s/%s%s"
              % (label, x["t"], pl["variant"], pl["batch"], pl["millicores"], pl["replicas"],
                 x["kernel"], ",".join(map(str, x["pids"])), c["observed_rps"] or 0,
                 c["planned_rps"] or 0, c["budget_ms"] or 0, x["queue"], c["reason"][:48],
                 ct.get("runqueue_p50_ms", 0), ct.get("wait_share", 0),
                 ct.get("throttled_share", 0), ct.get("slowdown", 0),
                 " CONTENDED" if ct.get("contended") else "", x["model"].get("gamma") or 0,
                 x["model"].get("delta") or 0, x["model"].get("epsilon") or 0,
                 x["model"].get("eta") or 0, x["model"].get("predicted_ms_at_plan") or 0,
                 n.get("millicores_allocated"),
                 n.get("millicores_usable"), n.get("millicores_total"),
                 " node-contended" if n.get("contended") else ""))


def main():
    cmds = {"cg-limit": cmd_cg_limit, "pipe": cmd_pipe, "drive": cmd_drive}
    if sys.argv[1] in cmds:
        cmds[sys.argv[1]](sys.argv[2:])
    else:
        sys.exit("unknown command " + sys.argv[1])


if __name__ == "__main__":
    main()
PYEOF
}

# ctl_reserve_cpu — gives the agent's cgroup root a high CPU weight (v1 cpu.shares 10240, v2
# cpu.weight 10000; default 1024 / 100), as a node that reserves its CPU for sponged would
# (systemd: CPUWeight= on sponged.service). On a shared test machine the workers then get the
# cores their quota allows even when other processes keep the CPUs busy, so the SLO checks
# judge the control loop, not the neighbours. Call after agent_start (sponged creates the root).
ctl_reserve_cpu() {
        local f v
        if [ "$CG_VERSION" = v1 ]; then
                f=$CG_ROOT/cpu.shares v=10240
        else
                f=$CG_ROOT/cpu.weight v=10000
        fi
        wait_until 5 "cgroup root $CG_ROOT" test -w "$f" || return 1
        echo "$v" >"$f" || die "cannot write $v to $f"
        say "CPU weight of $CG_ROOT: $(cat "$f") ($f)"
}
