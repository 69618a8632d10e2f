#!/usr/bin/python3
"""cluster.haproxy — three sponged nodes behind Debian's HAProxy, on this machine.

Each node is a network namespace (veth to the root namespace, 10.251.N.2) running its own real
sponged with its own cgroup root, its own share of the cores (node config millicores) and its own
CPUs (taskset); each answers HAProxy's agent check with its capacity signal (agent/capacity.h).
HAProxy listens on loopback, balances round-robin by the weights the agents report, checks
/healthz, and retries refused connections elsewhere. sponge-load replays a Twitter trace slice
through it. Phases, each checked:

  A  shares    requests split as the reported weights say (800/800/400 millicores → 40/40/20 %);
  B  CPU hog   two busy loops on node 2's CPU: its usable millicores and weight fall (eBPF
               run-queue contention) and so does its share of the requests;
  C  drain     SIGTERM to node 3 (drain_grace_ms): it stops getting new requests before it
               stops, and no request of the run is lost or refused in that window;
  D  kill      SIGKILL to node 1: only what it had in flight is lost; node 2 keeps the SLO.

Prints a table of per-node figures and one JSON object on its last line. Exit 0 pass, 1 fail,
77 skipped (not root, no cgroup cpu controller, no HAProxy, no network namespaces).
Usage: cluster-haproxy.py [BINARY_DIR [SOURCE_DIR]]   (ports 18960-18961 + SPONGE_TEST_PORT_OFFSET)
"""
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SRC = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else os.environ.get(
    "SPONGE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "SPONGE_BINARY_DIR", os.path.join(SRC, "build-ci")))
BIN = os.path.join(BUILD, "bin")
OFFSET = int(os.environ.get("SPONGE_TEST_PORT_OFFSET", "0"))
FRONT_PORT = 18960 + OFFSET
PID = os.getpid()
PIPELINE = "classify"
SLO_MS = 1000
# (millicores, CPUs) per node: node 2 alone on CPU 1, where the hog goes.
NODES = [(800, "0"), (800, "1"), (400, "0")]
# Timeline, seconds from the start of the load.
WARM, A_END, HOG_AT, B_START, B_END, DRAIN_AT, KILL_AT, END = 15, 45, 45, 57, 87, 92, 104, 128
FAILS = []


def say(msg):
    print("cluster.haproxy: [%6.1fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr,
          flush=True)


def check(ok, msg):
    say(("ok: " if ok else "FAIL: ") + msg)
    if not ok:
        FAILS.append(msg)


def skip(msg):
    print("cluster.haproxy: SKIP: " + msg, file=sys.stderr)
    sys.exit(77)


def run(*argv, check_rc=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check_rc and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip()))
    return r


def cpu_mounts():
    """The v1 cpu controller's mount and the cpuacct one (may be the same)."""
    cpu = acct = None
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        tail = line.split(" - ")[1].split()
        if tail[0] == "cgroup":
            opts = tail[2].split(",")
            if "cpu" in opts:
                cpu = f[4]
            if "cpuacct" in opts:
                acct = f[4]
    return cpu, acct


class Node:
    def __init__(self, i, millicores, cpus, tmp, cg_mount):
        self.i, self.millicores, self.cpus = i, millicores, cpus
        self.ns = "spc%dn%d" % (PID, i)
        self.host_if, self.ns_if = "sp%dh%d" % (PID % 100000, i), "sp%dn%d" % (PID % 100000, i)
        self.addr = "10.251.%d.2" % i
        self.dir = os.path.join(tmp, "n%d" % i)
        self.cg_root = os.path.join(cg_mount, "sponged-cluster-%d-n%d" % (PID, i))
        self.proc = None
        self.last = {}

    def net_up(self):
        run("ip", "netns", "add", self.ns)
        run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        run("ip", "link", "set", self.ns_if, "netns", self.ns)
        run("ip", "addr", "add", "10.251.%d.1/24" % self.i, "dev", self.host_if)
        run("ip", "link", "set", self.host_if, "up")
        for cmd in (["ip", "addr", "add", self.addr + "/24", "dev", self.ns_if],
                    ["ip", "link", "set", self.ns_if, "up"], ["ip", "link", "set", "lo", "up"]):
            run("ip", "netns", "exec", self.ns, *cmd)

    def start(self, profile):
        pdir = os.path.join(self.dir, "pipelines.d")
        os.makedirs(pdir)
        stage = {"name": "s0", "max_batch": 8,
                 "millicores": {"min": 100, "max": self.millicores, "step": 50},
                 "replicas": {"min": 1, "max": 2},
                 "variants": [{"name": "resnet18", "accuracy": 69.8, "startup_ms": 200,
                               "command": ["sponge-worker-flops", "--variant", "resnet18"],
                               "env": {"CLUSTER_TEST": str(PID)}, "profile": profile}]}
        with open(os.path.join(pdir, PIPELINE + ".json"), "w") as f:
            json.dump({"name": PIPELINE, "slo_ms": SLO_MS, "stages": [stage]}, f)
        cfg = {"listen": [self.addr + ":8750", "127.0.0.1:8750",
                          "unix:" + os.path.join(self.dir, "api.sock")],
               "pipelines_dir": pdir, "worker_path": BIN, "millicores": self.millicores,
               "cgroup": {"backend": "auto", "root": self.cg_root},
               "drain_grace_ms": 4000, "drain_timeout_ms": 10000,
               "agent_check": {"listen": self.addr + ":8751", "reference_millicores": 1000}}
        with open(os.path.join(self.dir, "node.json"), "w") as f:
            json.dump(cfg, f)
        self.log = open(os.path.join(self.dir, "sponged.log"), "w")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "taskset", "-c", self.cpus,
             os.path.join(BIN, "sponged"), "--config", os.path.join(self.dir, "node.json")],
            stdout=self.log, stderr=subprocess.STDOUT)

    def get(self, path, timeout=3):
        req = urllib.request.Request("http://%s:8750%s" % (self.addr, path),
                                     headers={"Host": "localhost"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r)

    def status(self):
        """The pipeline's status (also kept as self.last), or None when the node is gone."""
        try:
            self.last = self.get("/v1/pipelines/" + PIPELINE)
            return self.last
        except (OSError, ValueError):
            return None

    def ready(self):
        s = self.status()
        return bool(s) and all(r["state"] == "ready" for st in s["stages"]
                               for r in st["replica_list"]) and s["stages"][0]["replica_list"]

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def haproxy_cfg(tmp, nodes):
    servers = "\n".join("    server n%d %s:8750" % (n.i, n.addr) for n in nodes)
    return """global
    maxconn 4000
    stats socket %s/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 2
    option redispatch
    retry-on conn-failure
frontend front
    bind 127.0.0.1:%d
    default_backend sponged
backend sponged
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    default-server weight 100 check inter 500ms fall 2 rise 2 agent-check agent-port 8751 agent-inter 500ms agent-send "%s\\n"
%s
""" % (tmp, FRONT_PORT, PIPELINE, servers)


def haproxy_stat(tmp):
    """{server: (status, weight)} from HAProxy's stats socket."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(3)
    s.connect(os.path.join(tmp, "haproxy.sock"))
    s.sendall(b"show stat\n")
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    rows = list(csv.reader(data.decode().lstrip("# ").splitlines()))
    head = rows[0]
    out = {}
    for r in rows[1:]:
        if len(r) == len(head) and r[0] == "sponged" and r[1].startswith("n"):
            d = dict(zip(head, r))
            out[r[1]] = (d["status"], int(d["weight"] or 0))
    return out


def wait_for(what, fn, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if fn():
            return True
        time.sleep(0.2)
    check(False, "timed out after %d s waiting for %s" % (limit, what))
    return False


def accepted(nodes):
    return [(n.status() or n.last).get("accepted", 0) for n in nodes]


def shares(before, after):
    d = [max(0, a - b) for a, b in zip(after, before)]
    t = sum(d) or 1
    return [x / t for x in d], sum(d)


def window(rows, lo, hi):
    w = [r for r in rows if lo <= float(r["send_s"]) < hi]
    errors = [r for r in w if r["status"] != "200"]
    within = sum(r["within_budget"] == "1" for r in w)
    return len(w), len(errors), (100.0 * within / len(w) if w else 0.0)


def main():
    global T0
    T0 = time.monotonic()
    if os.geteuid() != 0:
        skip("needs root: network namespaces, cgroups")
    for tool in ("haproxy", "ip", "taskset"):
        if not shutil.which(tool):
            skip("%s is not installed (tests/setup.sh installs it)" % tool)
    if os.cpu_count() < 2:
        skip("needs two CPUs: one of them gets the CPU hog")
    cpu, acct = cpu_mounts()
    if not cpu:
        skip("no cgroup v1 cpu controller (this test places nodes on v1 here)")
    if subprocess.run(["ip", "netns", "add", "spcprobe%d" % PID], capture_output=True).returncode:
        skip("cannot create network namespaces here")
    run("ip", "netns", "del", "spcprobe%d" % PID)
    for b in ("sponged", "sponge-worker-flops", "sponge-load"):
        if not os.access(os.path.join(BIN, b), os.X_OK):
            check(False, "%s/%s not built" % (BIN, b))
            return
    tmp = tempfile.mkdtemp(prefix="cluster-haproxy.")
    profile = json.load(open(os.path.join(SRC, "pipelines/worker/profiles/resnet18.json")))
    nodes = [Node(i + 1, mc, c, tmp, cpu) for i, (mc, c) in enumerate(NODES)]
    procs = []
    try:
        scenario(tmp, nodes, profile, procs)
    finally:
        cleanup(tmp, nodes, procs, cpu, acct)


def scenario(tmp, nodes, profile, procs):
    for n in nodes:
        n.net_up()
        os.makedirs(n.dir)
        n.start(profile)
    say("nodes starting: " + ", ".join("n%d %s %d mc CPU %s" % (n.i, n.addr, n.millicores, n.cpus)
                                     for n in nodes))
    if not wait_for("every node's pipeline ready", lambda: all(n.ready() for n in nodes), 60):
        return
    with open(os.path.join(tmp, "haproxy.cfg"), "w") as f:
        f.write(haproxy_cfg(tmp, nodes))
    hap = subprocess.Popen(["haproxy", "-db", "-f", os.path.join(tmp, "haproxy.cfg")],
                           stdout=open(os.path.join(tmp, "haproxy.log"), "w"),
                           stderr=subprocess.STDOUT)
    procs.append(hap)
    want = {"n%d" % n.i: n.millicores // 10 for n in nodes}

    def weights_as_reported():
        try:
            st = haproxy_stat(tmp)
        except OSError:
            return False
        return all(st.get(k, ("", 0))[0] == "UP" and st[k][1] == w for k, w in want.items())
    if not wait_for("HAProxy: every node UP with its reported weight %s" % want,
                    weights_as_reported, 30):
        return
    say("HAProxy up: %s" % haproxy_stat(tmp))
    csvf = os.path.join(tmp, "load.csv")
    load = subprocess.Popen(
        [os.path.join(BIN, "sponge-load"), "--url",
         "http://127.0.0.1:%d/v1/pipelines/%s/infer" % (FRONT_PORT, PIPELINE),
         "--trace", os.path.join(SRC, "tests/data/twitter-steady-high.txt"), "--start", "0",
         "--length", str(END), "--scale", "0.07", "--slo-ms", str(SLO_MS), "--body-bytes", "64",
         "--csv", csvf, "--quiet", "--drain-s", "15"],
        stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "load.err"), "w"), text=True)
    procs.append(load)
    t_load = time.monotonic()

    def at(t, weights=None):
        """Sleeps until t s into the load; with a list, samples HAProxy's weights each second."""
        while True:
            d = t_load + t - time.monotonic()
            if d <= 0:
                return
            if weights is not None:
                st = haproxy_stat(tmp)
                weights.append([st["n%d" % n.i][1] for n in nodes])
            time.sleep(min(d, 1.0))

    def mean_share(weights):
        """Each node's mean weight over the samples, as a share of their sum."""
        m = [sum(w[k] for w in weights) / len(weights) for k in range(len(nodes))]
        return [x / (sum(m) or 1) for x in m], [round(x, 1) for x in m]

    figs = {"nodes": {}}
    at(WARM)
    a0 = accepted(nodes)
    wa = []
    at(A_END, wa)
    a1 = accepted(nodes)
    share_a, n_a = shares(a0, a1)
    exp_a, mean_a = mean_share(wa)
    for k, n in enumerate(nodes):
        check(abs(share_a[k] - exp_a[k]) <= 0.08,
              "phase A: n%d got %.1f%% of %d requests (mean weight %.1f: expected %.1f%%)"
              % (n.i, 100 * share_a[k], n_a, mean_a[k], 100 * exp_a[k]))
    # B: a CPU hog beside node 2.
    hogs = [subprocess.Popen(["taskset", "-c", nodes[1].cpus, sys.executable, "-c",
                              "while True: pass"]) for _ in range(2)]
    procs.extend(hogs)
    at(B_START)
    b0 = accepted(nodes)
    deliv_b = nodes[1].get("/v1/node")["capacity"]["deliverable_cores"]
    wb = []
    at(B_END, wb)
    b1 = accepted(nodes)
    for h in hogs:
        h.kill()
        h.wait()
    share_b, n_b = shares(b0, b1)
    exp_b, mean_b = mean_share(wb)
    check(exp_b[1] < exp_a[1] * 0.8,
          "phase B: n2's weight under the hog %.1f of %.1f in all (was %.1f of %.1f), "
          "deliverable %.2f cores" % (mean_b[1], sum(mean_b), mean_a[1], sum(mean_a), deliv_b))
    check(share_b[1] < share_a[1] * 0.8 and abs(share_b[1] - exp_b[1]) <= 0.08,
          "phase B: n2's share %.1f%% of %d requests under the hog (was %.1f%%; its weight "
          "says %.1f%%)" % (100 * share_b[1], n_b, 100 * share_a[1], 100 * exp_b[1]))
    # C: drain node 3.
    at(DRAIN_AT)
    n3 = nodes[2]
    figs["nodes"]["n3"] = summary(n3)
    # `ip netns exec` and taskset exec sponged: the Popen pid is sponged's own.
    os.kill(n3.proc.pid, signal.SIGTERM)
    t_term = time.monotonic()
    last_count, t_last_new = (n3.status() or n3.last).get("accepted", 0), t_term
    while n3.alive() and time.monotonic() - t_term < 20:
        s = n3.status()
        if s and s["accepted"] > last_count:
            last_count, t_last_new = s["accepted"], time.monotonic()
            figs["nodes"]["n3"] = summary(n3)
        time.sleep(0.1)
    t_exit = time.monotonic()
    check(not n3.alive() and n3.proc.returncode == 0,
          "drain: n3 exited by itself (status %s) %.1f s after SIGTERM"
          % (n3.proc.returncode, t_exit - t_term))
    check(t_exit - t_last_new >= 1.0,
          "drain: n3's last new request %.1f s after SIGTERM, %.1f s before it stopped"
          % (t_last_new - t_term, t_exit - t_last_new))
    # D: kill node 1.
    at(KILL_AT)
    n1 = nodes[0]
    s1 = n1.status() or n1.last
    figs["nodes"]["n1"] = summary(n1)
    inflight = s1.get("in_flight", 0)
    os.kill(n1.proc.pid, signal.SIGKILL)
    n1.proc.wait(timeout=10)
    out, _ = load.communicate(timeout=END + 60)
    total = json.loads(out.strip().splitlines()[-1])
    figs["nodes"]["n2"] = summary(nodes[1])
    rows = list(csv.DictReader(open(csvf)))
    n_c, err_c, att_c = window(rows, DRAIN_AT - 1, KILL_AT)
    check(err_c == 0, "drain: %d requests sent around the drain, %d not answered 200" % (n_c, err_c))
    n_d, err_d, _ = window(rows, KILL_AT - 1, KILL_AT + 3)
    check(err_d <= inflight + 2, "kill: %d requests lost or refused around the SIGKILL (n1 had %d "
          "in flight)" % (err_d, inflight))
    n_e, err_e, att_e = window(rows, KILL_AT + 3, END)
    check(err_e == 0 and att_e >= 98.0, "kill: afterwards n2 alone answered %d of %d, %.1f%% "
          "within budget" % (n_e - err_e, n_e, att_e))
    figs.update({"share_a_pct": [round(100 * x, 1) for x in share_a],
                 "share_b_pct": [round(100 * x, 1) for x in share_b],
                 "weights_a": mean_a, "weights_b": mean_b,
                 "drain_quiet_s": round(t_exit - t_last_new, 2), "drain_errors": err_c,
                 "kill_lost": err_d, "kill_inflight": inflight, "after_kill_attainment_pct":
                 round(att_e, 2), "client": {k: total.get(k) for k in (
                     "sent", "answered", "ok", "attainment_pct", "p50_ms", "p99_ms")}})
    report(nodes, figs)


def summary(n):
    s = n.last or {}
    return {"accepted": s.get("accepted", 0), "attainment_pct": s.get("slo_attainment_pct"),
            "core_seconds": round(s.get("core_seconds", 0.0), 2), "p99_ms": s.get("p99_ms")}


def report(nodes, figs):
    print("node  share A  share B  weight A  weight B  accepted  attainment  core-s")
    for k, n in enumerate(nodes):
        f = figs["nodes"].get("n%d" % n.i, {})
        print("n%d    %5.1f%%   %5.1f%%   %6.1f    %6.1f    %6s    %7s%%   %6s" % (
            n.i, figs["share_a_pct"][k], figs["share_b_pct"][k], figs["weights_a"][k],
            figs["weights_b"][k], f.get("accepted"), f.get("attainment_pct"),
            f.get("core_seconds")))
    print(json.dumps(figs))


def cleanup(tmp, nodes, procs, cpu, acct):
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    for n in nodes:
        if n.alive():
            n.proc.send_signal(signal.SIGTERM)
            try:
                n.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                check(False, "n%d did not stop within 20 s of SIGTERM" % n.i)
                n.proc.kill()
                n.proc.wait()
    # Workers of the SIGKILLed node die with it (PDEATHSIG); give them a moment, then remove
    # what that node could not.
    time.sleep(0.5)
    for mount in {cpu, acct} - {None}:
        for n in nodes:
            d = os.path.join(mount, os.path.basename(n.cg_root))
            if not os.path.isdir(d):
                continue
            for root, dirs, _ in sorted(os.walk(d), key=lambda x: -len(x[0])):
                for pid in open(os.path.join(root, "cgroup.procs")).read().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
            time.sleep(0.2)
            for root, dirs, _ in sorted(os.walk(d), key=lambda x: -len(x[0])):
                try:
                    os.rmdir(root)
                except OSError as e:
                    check(False, "cannot remove cgroup %s: %s" % (root, e))
    for n in nodes:
        subprocess.run(["ip", "netns", "del", n.ns], capture_output=True)
        subprocess.run(["ip", "link", "del", n.host_if], capture_output=True)
    if FAILS:
        say("FAILED (%d checks); files kept in %s" % (len(FAILS), tmp))
        for n in nodes:
            log = os.path.join(n.dir, "sponged.log")
            if os.path.exists(log):
                say("last lines of n%d's log:\n    " % n.i +
                    "\n    ".join(open(log).read().splitlines()[-8:]))
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    T0 = time.monotonic()
    try:
        main()
    except Exception as e:  # a broken step is a failure, with its cause
        check(False, "error: %r" % e)
    sys.exit(1 if FAILS else 0)
