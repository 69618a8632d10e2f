#!/usr/bin/env python3
"""bench-trace — the scaling policies against each other on real trace segments.

For every segment (a slice of the Twitter requests/s trace, scaled to this machine) and every
policy (static, reactive, horizontal, vertical, full), one after another: a fresh sponged
serving the same pipeline (pipelines/examples/video.json with the policy's "policy"/"plan"/
"resize"), the same open-loop load (sponge-load, same seed: the same arrival times and
per-request budgets from the Ghent 4G log), GET /v1/pipelines/P sampled every second, the
per-request CSV of the load generator; then the oracle (bench-oracle: per second the least
cores any plan needs for that second's true rate and budget). Prints a table per segment, the
goals of issue 11 checked against the figures, writes plots (gnuplot: PNG and SVG) and, as the
last line, one JSON object with every figure.

Policies:
  static      the optimizer's plan for the segment's peak (bench-oracle), held fixed;
  reactive    VPA-like, run by THIS script: static's variants/batch/replicas, cores per replica
              = 1.3 x the stage's CPU usage over the last window (read from /metrics), applied
              with "resize": "restart" (a new worker with the new quota, the old one drained);
  horizontal  "policy": "horizontal": fixed-size replicas, the count follows the load;
  vertical    "policy": "vertical": one variant per stage, cores and batch in place (Sponge);
  full        "policy": "full": variant, batch, cores and replicas (this project).

Run through tests/bench/bench-trace.sh (root). See tests/bench/README.md, section bench-trace.
"""

import argparse
import csv
import gzip
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

POLICIES = ["static", "reactive", "horizontal", "vertical", "full"]
# name: (first trace line (0-based), run seconds, scale, compression). A run replays
# seconds x compression trace lines, each run second carrying the mean rate of `compression`
# consecutive trace seconds. Bursty: the whole of IPA's 1301160-1302360 (low ~45 req/s, a
# rise to ~220 within ~20 s at 1301540, high for ~6 min, back down by 1301900) compressed 12x
# into 100 s, so the run sees the rise, the plateau and the fall; steady-high: the first 80 s
# of IPA's 1768800-1769400 in real time. Scales: the optimizer's plan for the peak (the static
# baseline) takes 1.75 of the node's 2 cores in both (23.5 and 19.0 req/s at the peak).
SEGMENTS = {
    "bursty": (1301160, 100, 0.1, 12),
    "steady-high": (1768800, 80, 0.07, 1),
}
RATE_RESOLUTION = 100  # schedule files hold rate x 100 as integers (sponge-load reads integers)
# The slices in tests/data (used when the full trace is not there): first index of each.
SLICES = {"twitter-bursty.txt": 1301160, "twitter-steady-high.txt": 1768800}
PORT_BASE = 18820 + int(os.environ.get("SPONGE_TEST_PORT_OFFSET", "0"))  # +0..8 runs, +9 smoke
CG_NAME = "sponged-bench-trace" + os.environ.get("SPONGE_TEST_PORT_OFFSET", "")
BOOST_SHARES = 10240  # cgroup v1 cpu.shares of our groups (the default is 1024)
BOOST_WEIGHT = 1000  # cgroup v2 cpu.weight (default 100)

# reactive (VPA-like) controller
REACTIVE_HEADROOM = 1.3
REACTIVE_INTERVAL_S = 5.0
REACTIVE_WINDOW_S = 10.0
REACTIVE_COOLDOWN_S = 10.0


def log(msg):
    print(f"bench-trace: {msg}", file=sys.stderr, flush=True)


class Skip(Exception):
    pass


class HarnessError(Exception):
    pass


# ---- environment --------------------------------------------------------------------------


def find_cgroup():
    """(cpu hierarchy dir, cpuacct hierarchy dir or None, version) of this machine."""
    v1cpu = v1acct = v2 = None
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, fstype, opts = line.split()[:4]
            o = opts.split(",")
            if fstype == "cgroup" and "cpu" in o and v1cpu is None:
                v1cpu = mnt
            if fstype == "cgroup" and "cpuacct" in o and v1acct is None:
                v1acct = mnt
            if fstype == "cgroup2" and v2 is None:
                v2 = mnt
    if v1cpu:
        return v1cpu, v1acct, 1
    if v2 and os.path.exists(os.path.join(v2, "cgroup.controllers")):
        with open(os.path.join(v2, "cgroup.controllers")) as f:
            if "cpu" in f.read().split():
                return v2, None, 2
    return None, None, 0


class Cgroups:
    """Our cgroup root (handed to sponged) and a sibling for the harness itself (agent, load
    generator, this script), both with a raised CPU weight so that other jobs on a shared
    machine do not take the time the workers' quotas grant. Both are removed at the end."""

    def __init__(self):
        self.cpu, self.acct, self.version = find_cgroup()
        if not self.version:
            raise Skip("no cgroup cpu controller (v1 cpu hierarchy or v2 with cpu)")
        self.root = os.path.join(self.cpu, CG_NAME)
        self.acct_root = os.path.join(self.acct, CG_NAME) if self.acct and self.acct != self.cpu else None
        self.ctl = os.path.join(self.cpu, CG_NAME + "-ctl") if self.version == 1 else None
        self.old_cgroup = None

    def _boost(self, path):
        for f, v in (("cpu.shares", BOOST_SHARES), ("cpu.weight", BOOST_WEIGHT)):
            p = os.path.join(path, f)
            if os.path.exists(p):
                try:
                    with open(p, "w") as fh:
                        fh.write(str(v))
                except OSError as e:
                    log(f"cannot raise {p}: {e}")

    def setup(self):
        self.remove_stale()
        os.makedirs(self.root, exist_ok=True)
        self._boost(self.root)
        if self.acct_root:
            os.makedirs(self.acct_root, exist_ok=True)
        if self.ctl:
            os.makedirs(self.ctl, exist_ok=True)
            self._boost(self.ctl)
            with open(f"/proc/{os.getpid()}/cgroup") as f:
                for line in f:
                    _, ctrls, path = line.rstrip("\n").split(":", 2)
                    if "cpu" in ctrls.split(","):
                        self.old_cgroup = os.path.join(self.cpu, path.lstrip("/"))
            with open(os.path.join(self.ctl, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def usage_s(self):
        """CPU seconds used by everything below the root so far (groups removed since included:
        v1 cpuacct charges every ancestor; v2 cpu.stat is hierarchical too)."""
        try:
            if self.version == 1:
                d = self.acct_root or self.root
                with open(os.path.join(d, "cpuacct.usage")) as f:
                    return int(f.read()) / 1e9
            with open(os.path.join(self.root, "cpu.stat")) as f:
                for line in f:
                    k, v = line.split()
                    if k == "usage_usec":
                        return int(v) / 1e6
        except (OSError, ValueError):
            pass
        return None

    def _rmtree(self, path):
        if not os.path.isdir(path):
            return True
        ok = True
        for name in os.listdir(path):
            sub = os.path.join(path, name)
            if os.path.isdir(sub):
                ok = self._rmtree(sub) and ok
        try:
            os.rmdir(path)
        except OSError:
            ok = False
        return ok

    def remove_stale(self):
        for d in (self.root, self.acct_root):
            if d and not self._rmtree(d):
                raise HarnessError(f"{d} exists and cannot be removed (processes left in it?)")

    def teardown(self):
        ok = True
        if self.ctl and self.old_cgroup:
            try:
                with open(os.path.join(self.old_cgroup, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))
            except OSError as e:
                log(f"cannot move back to {self.old_cgroup}: {e}")
        for d in (self.root, self.acct_root, self.ctl):
            if d and not self._rmtree(d):
                log(f"cannot remove {d}")
                ok = False
        return ok


def log_tail(path, lines=40):
    """The end of a failed run's sponged log, on stderr: CI keeps no files."""
    try:
        with open(path, errors="replace") as f:
            tail = f.readlines()[-lines:]
    except OSError as e:
        log(f"no log: {e}")
        return
    log(f"last {len(tail)} lines of {path}:")
    sys.stderr.write("".join("  | " + t for t in tail))
    sys.stderr.flush()


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # as sponged (libmicrohttpd) binds: connections of the last run in TIME_WAIT do not count
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over sponged's UNIX socket, where it identifies the caller (SO_PEERCRED)."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Api:
    def __init__(self, port, unix_path=None):
        self.port = port
        self.unix_path = unix_path

    def request(self, method, path, body=None, timeout=2.0):
        # Changes (anything but GET and infer) only over the UNIX socket (agent/auth.h).
        if self.unix_path and method != "GET" and not path.endswith("/infer"):
            c = UnixHTTPConnection(self.unix_path, timeout)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def get_json(self, path):
        st, data = self.request("GET", path)
        if st != 200:
            raise HarnessError(f"GET {path}: HTTP {st}: {data[:200]!r}")
        return json.loads(data)


def parse_metrics(text, pipeline):
    """{stage: {"all": cpu seconds}} from sponged_stage_cpu_used_seconds_total (monotonic over
    the stage's replicas, past and present)."""
    out = {}
    name = "sponged_stage_cpu_used_seconds_total{"
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        lab, val = line[len(name):].rsplit("} ", 1)
        labels = dict(kv.split("=", 1) for kv in lab.split(","))
        labels = {k: v.strip('"') for k, v in labels.items()}
        if labels.get("pipeline") != pipeline:
            continue
        out.setdefault(labels["stage"], {})["all"] = float(val)
    return out


# ---- the reactive (VPA-like) controller ---------------------------------------------------


class Reactive:
    """Cores per replica from recent usage with headroom, changed only by restarting the worker
    (the pipeline says "resize": "restart"): every REACTIVE_INTERVAL_S, per stage, usage over
    the last REACTIVE_WINDOW_S (sum over its replicas, from /metrics) / replicas x 1.3, rounded
    up to the stage's millicore grid; a stage changed less than REACTIVE_COOLDOWN_S ago is left
    alone (its new worker has not been measured yet)."""

    def __init__(self, api, pipeline, stages, plan):
        self.api, self.pipeline, self.stages = api, pipeline, stages
        self.plan = [dict(e) for e in plan]
        self.history = []  # (t, {stage: {replica: seconds}})
        self.next_t = None
        self.changed_at = [-1e9] * len(stages)
        self.decisions = []
        self.put_errors = 0

    def grid(self, s, mc):
        lo, hi, step = s["millicores"]["min"], s["millicores"]["max"], s["millicores"]["step"]
        mc = max(lo, min(hi, mc))
        return min(hi, lo + math.ceil((mc - lo) / step) * step)

    def usage_cores(self, stage, now):
        base = None
        for t, u in self.history:
            if t >= now - REACTIVE_WINDOW_S - 0.5:
                base = (t, u)
                break
        if not base or now - base[0] < REACTIVE_WINDOW_S / 2:
            return None
        last = {}
        for t, u in self.history:
            if t >= base[0]:
                for r, v in u.get(stage, {}).items():
                    last[r] = v
        b = base[1].get(stage, {})
        used = sum(v - b.get(r, 0.0) for r, v in last.items())
        return max(used, 0.0) / (now - base[0])

    def tick(self, now, metrics_text):
        self.history.append((now, parse_metrics(metrics_text, self.pipeline)))
        self.history = [h for h in self.history if h[0] >= now - 3 * REACTIVE_WINDOW_S]
        if self.next_t is None:
            self.next_t = now + REACTIVE_INTERVAL_S
        if now < self.next_t:
            return
        self.next_t = now + REACTIVE_INTERVAL_S
        new = [dict(e) for e in self.plan]
        changed = False
        for i, s in enumerate(self.stages):
            if now - self.changed_at[i] < REACTIVE_COOLDOWN_S:
                continue
            used = self.usage_cores(s["name"], now)
            if used is None:
                continue
            per = used / max(1, new[i]["replicas"])
            target = self.grid(s, REACTIVE_HEADROOM * per * 1000.0)
            if target != new[i]["millicores"]:
                self.decisions.append((round(now, 1), s["name"], new[i]["millicores"], target,
                                       round(used, 3)))
                new[i]["millicores"] = target
                self.changed_at[i] = now
                changed = True
        if changed:
            st, data = self.api.request("PUT", f"/v1/pipelines/{self.pipeline}/plan",
                                        body=json.dumps(new))
            if st != 200:
                # The agent applies a valid plan before it writes the answer, and the answer
                # (the pipeline's state) may fail to serialise (HTTP 500): check what is in force.
                now_plan = self.api.get_json(f"/v1/pipelines/{self.pipeline}/plan")["plan"]
                if [{k: e[k] for k in ("variant", "batch", "millicores", "replicas")}
                        for e in now_plan] != new:
                    raise HarnessError(f"reactive: PUT plan: HTTP {st}: {data[:300]!r}")
                self.put_errors += 1
            self.plan = new


# ---- one run -------------------------------------------------------------------------------


class Run:
    def __init__(self, ctx, seg, policy, port, plans):
        self.ctx, self.seg, self.policy, self.port, self.plans = ctx, seg, policy, port, plans
        self.dir = os.path.join(ctx.out, "runs", f"{seg['name']}-{policy}")
        self.samples = []  # dicts, see poll()
        self.error = None
        self.reactive = None

    def pipeline_json(self):
        p = json.loads(json.dumps(self.ctx.pipeline))
        p.pop("plan", None)
        # --slo-ms (and the sanitized smoke run's 15 s) must reach the agent too: it caps each
        # request's budget header at the pipeline's SLO.
        p["slo_ms"] = self.ctx.slo_ms
        if self.policy in ("static", "reactive"):
            p["policy"] = "static"
            p["plan"] = self.plans["static"]
            if self.policy == "reactive":
                p["resize"] = "restart"
        elif self.policy == "horizontal":
            p["policy"] = "horizontal"
            p["plan"] = self.plans["horizontal"]
        elif self.policy == "vertical":
            p["policy"] = "vertical"
            p["plan"] = self.plans["vertical"]
        else:
            p["policy"] = "full"
        return p

    def poll(self, api, t0, stop):
        name = self.ctx.pipeline["name"]
        next_t = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            try:
                # /v1/node and /plan rather than the pipeline's state: while its plan is
                # infeasible, GET /v1/pipelines/P answers 500 (a non-finite predicted latency
                # cannot be written as JSON), and these two carry what the plots need.
                node = api.get_json("/v1/node")
                plan = api.get_json(f"/v1/pipelines/{name}/plan")["plan"]
                metrics = None
                if self.reactive:
                    code, metrics = api.request("GET", "/metrics")
                    metrics = metrics.decode() if code == 200 else ""
                self.samples.append({
                    "t": now - t0,
                    "core_seconds": node["core_seconds"],
                    "usage_s": self.ctx.cg.usage_s(),
                    "allocated_millicores": node["millicores_allocated"],
                    "usable_millicores": node.get("millicores_usable"),
                    "contended": node.get("contended"),
                    "stages": [{k: e[k] for k in ("variant", "batch", "millicores", "replicas")}
                               for e in plan],
                    "state": self.state(api, name),
                })
                if self.reactive:
                    self.reactive.tick(now - t0, metrics)
            except Exception as e:  # noqa: BLE001 - a failed sample is recorded, not fatal
                if self.reactive and isinstance(e, HarnessError):
                    self.error = str(e)
                self.samples.append({"t": now - t0, "error": str(e)})
            next_t += 1.0
            stop.wait(max(0.0, next_t - time.monotonic()))

    @staticmethod
    def state(api, name):
        """The control loop's view, for the record (runs/*/samples.json): rates, budget,
        feasibility, per stage queue, drops, processing times and contention; or the HTTP
        status when the agent cannot answer."""
        code, data = api.request("GET", f"/v1/pipelines/{name}")
        if code != 200:
            return {"http_status": code}
        st = json.loads(data)
        c = st.get("control", {})
        return {
            "control": {k: c.get(k) for k in ("observed_rps", "planned_rps", "budget_ms",
                                               "feasible", "reason", "predicted_latency_ms",
                                               "cores", "downscale_pending")},
            "stages": [{"queue": s["queue_length"], "dropped": s["dropped"],
                        "processing_p50_ms": s["processing_p50_ms"],
                        "processing_p99_ms": s["processing_p99_ms"],
                        "live": sum(1 for r in s["replica_list"] if r["state"] in ("starting", "ready")),
                        "model": s.get("model"),
                        **{k: s["contention"][k] for k in ("slowdown", "contended", "wait_share",
                                                           "throttled_share")}}
                       for s in st["stages"]],
        }

    def start_agent(self):
        os.makedirs(os.path.join(self.dir, "pipelines"), exist_ok=True)
        with open(os.path.join(self.dir, "pipelines", "video.json"), "w") as f:
            json.dump(self.pipeline_json(), f, indent=1)
        self.unix_path = os.path.join(self.dir, "api.sock")
        node = {"listen": [f"127.0.0.1:{self.port}", "unix:" + self.unix_path],
                "pipelines_dir": os.path.join(self.dir, "pipelines"),
                "cgroup": {"root": self.ctx.cg.root},
                "millicores": self.ctx.args.node_millicores,
                "log_level": "info"}
        if self.ctx.args.downscale_delay_ms is not None:
            node["downscale_delay_ms"] = self.ctx.args.downscale_delay_ms
        with open(os.path.join(self.dir, "node.json"), "w") as f:
            json.dump(node, f, indent=1)
        self.log = open(os.path.join(self.dir, "sponged.log"), "w")
        self.agent = subprocess.Popen([self.ctx.bin("sponged"), "--config",
                                       os.path.join(self.dir, "node.json")],
                                      stdout=self.log, stderr=subprocess.STDOUT,
                                      close_fds=True)
        api = Api(self.port, self.unix_path)
        deadline = time.monotonic() + 15
        while True:
            if self.agent.poll() is not None:
                raise HarnessError(f"sponged exited with {self.agent.returncode} at start "
                                   f"(log: {self.dir}/sponged.log)")
            try:
                if api.request("GET", "/healthz", timeout=0.5)[0] == 200:
                    st = api.get_json(f"/v1/pipelines/{self.ctx.pipeline['name']}")
                    if all(any(r["state"] == "ready" for r in s["replica_list"])
                           for s in st["stages"]):
                        return api
            except (OSError, HarnessError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise HarnessError(f"sponged not ready within 15 s (log: {self.dir}/sponged.log)")
            time.sleep(0.1)

    def stop_agent(self):
        """SIGTERM; returns True when sponged exited 0 by itself. It answers every accepted
        request first and waits for the batches in its workers: its own bound is the node's
        drain_timeout_ms (default 30 s) plus 6 s for the workers to stop (agent/manager.c).
        Under sanitizers a batch of a large variant takes tens of seconds."""
        limit = 40
        if self.agent.poll() is None:
            self.agent.send_signal(signal.SIGTERM)
        try:
            rc = self.agent.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.agent.kill()
            self.agent.wait()
            log(f"{self.seg['name']}/{self.policy}: sponged did not exit within {limit:.0f} s: "
                "killed")
            rc = None
        self.log.close()
        return rc == 0

    def run(self):
        a, seg = self.ctx.args, self.seg
        os.makedirs(self.dir, exist_ok=True)
        api = self.start_agent()
        if self.policy == "reactive":
            self.reactive = Reactive(api, self.ctx.pipeline["name"], self.ctx.pipeline["stages"],
                                     self.plans["static"])
        stop = threading.Event()
        csv_path = os.path.join(self.dir, "requests.csv")
        cmd = [self.ctx.bin("sponge-load"),
               "--url", f"http://127.0.0.1:{self.port}/v1/pipelines/{self.ctx.pipeline['name']}/infer",
               "--trace", seg["schedule"], "--start", "0",
               "--length", str(seg["length"] + a.warmup_s),
               "--scale", str(seg["scale"] / RATE_RESOLUTION),
               "--slo-ms", str(self.ctx.slo_ms), "--body-bytes", str(a.body_bytes),
               "--seed", str(a.seed), "--csv", csv_path, "--quiet",
               # every request gets its answer: queued ones at the latest their 504 at the
               # deadline, one in a worker's batch when the batch returns (under sanitizers a
               # large variant's batch takes tens of seconds)
               "--drain-s", str(max(10, math.ceil(self.ctx.slo_ms / 1000) + 5) *
                                (3 if a.sanitized else 1))]
        if a.image_bytes > 0:
            cmd += ["--ghent", self.ctx.ghent_path, "--image-bytes", str(a.image_bytes)]
        t0 = time.monotonic()
        poller = threading.Thread(target=self.poll, args=(api, t0, stop), daemon=True)
        poller.start()
        try:
            out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 timeout=seg["length"] + a.warmup_s + self.ctx.slo_ms / 1000 + 60)
        finally:
            time.sleep(1.0)  # one more sample after the last answer
            stop.set()
            poller.join()
        self.load_json = {}
        lines = out.stdout.strip().splitlines()
        if out.returncode != 0 or not lines:
            raise HarnessError(f"sponge-load failed ({out.returncode}): {out.stderr.strip()[-500:]}")
        self.load_json = json.loads(lines[-1])
        try:
            code, m = api.request("GET", "/metrics")
            self.metrics_text = m.decode() if code == 200 else ""
        except (OSError, HarnessError, ValueError) as e:
            raise HarnessError(f"sponged unreachable after the run: {e}")
        self.clean_exit = self.stop_agent()
        with open(os.path.join(self.dir, "samples.json"), "w") as f:
            json.dump(self.samples, f)
        if self.reactive:
            with open(os.path.join(self.dir, "reactive.json"), "w") as f:
                json.dump(self.reactive.decisions, f)
        if self.error:
            raise HarnessError(self.error)
        return self.analyse(csv_path)

    # ---- figures of one run ----

    def at(self, key, t):
        """Counter `key` linearly interpolated at time t (s from the load's start)."""
        pts = [(s["t"], s[key]) for s in self.samples if s.get(key) is not None]
        if not pts:
            return None
        if t <= pts[0][0]:
            return pts[0][1]
        for (ta, va), (tb, vb) in zip(pts, pts[1:]):
            if ta <= t <= tb:
                return va + (vb - va) * (t - ta) / (tb - ta) if tb > ta else vb
        return pts[-1][1]

    def analyse(self, csv_path):
        a, seg = self.ctx.args, self.seg
        w0, w1 = float(a.warmup_s), float(a.warmup_s + seg["length"])
        acc = {}
        for s in self.ctx.pipeline["stages"]:
            for v in s["variants"]:
                acc[(s["name"], v["name"])] = v["accuracy"]
        stage_names = [s["name"] for s in self.ctx.pipeline["stages"]]
        n = {"sched": 0, "sent": 0, "ok": 0, "within": 0, "not_sent": 0, "timeout": 0,
             "errors": 0}
        by_status = {}
        lat_ok, acc_ok = [], []
        per_sec = [{"n": 0, "lat": [], "within": 0} for _ in range(seg["length"])]
        with open(csv_path, newline="") as f:
            for row in csv.reader(f):
                if row[0] == "send_s":
                    continue  # header
                t, status, lat, _budget, within, variants, outcome = row
                t = float(t)
                if t < w0 or t >= w1:
                    continue
                k = int(t - w0)
                n["sched"] += 1
                per_sec[k]["n"] += 1
                if outcome.startswith("not_sent"):
                    n["not_sent"] += 1
                    continue
                n["sent"] += 1
                if outcome == "timeout":
                    n["timeout"] += 1
                elif outcome.startswith("error"):
                    n["errors"] += 1
                status = int(status)
                if status:
                    by_status[status] = by_status.get(status, 0) + 1
                if within == "1":
                    n["within"] += 1
                    per_sec[k]["within"] += 1
                if status == 200:
                    n["ok"] += 1
                    lat_ok.append(float(lat))
                    per_sec[k]["lat"].append(float(lat))
                    names = variants.split(",") if variants else []
                    if len(names) == len(stage_names):
                        acc_ok.append(sum(acc[(s, v)] for s, v in zip(stage_names, names))
                                      / len(names))
        lat_ok.sort()

        def q(v, p):
            return v[min(len(v) - 1, max(0, math.ceil(p * len(v)) - 1))] if v else None

        cs0, cs1 = self.at("core_seconds", w0), self.at("core_seconds", w1)
        us0, us1 = self.at("usage_s", w0), self.at("usage_s", w1)
        res = {
            "attainment_pct": round(100.0 * n["within"] / n["sent"], 3) if n["sent"] else 0.0,
            "p50_ms": round(q(lat_ok, 0.5), 2) if lat_ok else None,
            "p99_ms": round(q(lat_ok, 0.99), 2) if lat_ok else None,
            "drops": n["sent"] - n["ok"],
            "requests": n["sent"],
            "not_sent": n["not_sent"],
            "by_status": {str(k): v for k, v in sorted(by_status.items())},
            "timeouts": n["timeout"],
            "core_seconds": round(cs1 - cs0, 2) if cs0 is not None else None,
            "core_seconds_used": round(us1 - us0, 2) if us0 is not None else None,
            "mean_accuracy": round(sum(acc_ok) / len(acc_ok), 3) if acc_ok else None,
            "clean_exit": self.clean_exit,
            "samples": sum(1 for s in self.samples if "error" not in s),
            "sample_errors": sum(1 for s in self.samples if "error" in s),
            "plan_changes": None,
            "contended_samples": sum(1 for s in self.samples if s.get("contended")),
            "min_usable_millicores": min((s["usable_millicores"] for s in self.samples
                                          if s.get("usable_millicores")), default=None),
        }
        m = [l for l in self.metrics_text.splitlines() if l.startswith("sponged_plan_updates_total ")]
        if m:
            res["plan_changes"] = int(float(m[0].split()[1]))
        if self.reactive:
            res["reactive_decisions"] = len(self.reactive.decisions)
            res["reactive_put_http_errors"] = self.reactive.put_errors
        res["state_http_errors"] = sum(1 for s in self.samples
                                       if s.get("state", {}).get("http_status"))
        self.write_series(per_sec, w0)
        return res

    def write_series(self, per_sec, w0):
        """runs/SEG-POLICY/series.dat: per sample t, alloc cores, used cores, plan accuracy,
        then per stage batch, variant index, replicas, millicores; p99.dat: per second of the
        load, requests sent, p99 ms of those answered 200, share within budget."""
        stages = self.ctx.pipeline["stages"]
        vidx = [{v["name"]: i for i, v in enumerate(s["variants"])} for s in stages]
        vacc = [{v["name"]: v["accuracy"] for v in s["variants"]} for s in stages]
        good = [s for s in self.samples if "error" not in s]
        with open(os.path.join(self.dir, "series.dat"), "w") as f:
            f.write("# t_s alloc_cores used_cores plan_accuracy"
                    + "".join(f" {s['name']}_batch {s['name']}_variant {s['name']}_replicas "
                              f"{s['name']}_millicores" for s in stages) + "\n")
            for a, b in zip(good, good[1:]):
                dt = b["t"] - a["t"]
                if dt <= 0:
                    continue
                alloc = (b["core_seconds"] - a["core_seconds"]) / dt
                used = ((b["usage_s"] - a["usage_s"]) / dt
                        if a["usage_s"] is not None and b["usage_s"] is not None else float("nan"))
                pacc = sum(vacc[i][st["variant"]] for i, st in enumerate(b["stages"])) / len(stages)
                cols = [b["t"] - w0, alloc, used, pacc]
                for i, st in enumerate(b["stages"]):
                    cols += [st["batch"], vidx[i][st["variant"]], st["replicas"], st["millicores"]]
                f.write(" ".join(f"{c:.4g}" if isinstance(c, float) else str(c) for c in cols)
                        + "\n")
        with open(os.path.join(self.dir, "p99.dat"), "w") as f:
            f.write("# t_s sent p99_ms within_pct\n")
            for k, s in enumerate(per_sec):
                lat = sorted(s["lat"])
                p99 = lat[min(len(lat) - 1, math.ceil(0.99 * len(lat)) - 1)] if lat else float("nan")
                w = 100.0 * s["within"] / s["n"] if s["n"] else float("nan")
                f.write(f"{k + 0.5} {s['n']} {p99:.2f} {w:.1f}\n")


# ---- the whole benchmark --------------------------------------------------------------------


class Context:
    def __init__(self, args):
        self.args = args
        self.src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.build = os.path.abspath(args.build)
        self.out = os.path.abspath(args.out or os.path.join(self.build, "bench-trace"))
        with open(args.pipeline) as f:
            self.pipeline = json.load(f)
        self.slo_ms = args.slo_ms or self.pipeline["slo_ms"]
        shared = os.environ.get("SPONGE_SHARED_DATA") or os.path.join(self.src, "..", "shared", "data")
        self.full_trace = os.path.join(shared, "twitter-2018-04-rps.txt.gz")
        ghent = os.path.join(shared, "ghent-4g-bus-bandwidth.log")
        self.ghent_path = ghent if os.path.exists(ghent) else os.path.join(self.src, "tests", "data", "ghent-slice.txt")
        self.cg = None

    def bin(self, name):
        return os.path.join(self.build, "bin", name)

    def trace_lines(self, first, n):
        """Trace lines first..first+n-1 from the full trace, else from a slice in tests/data;
        lines before what a slice holds repeat its first line (warm-up only)."""
        if os.path.exists(self.full_trace):
            out = []
            with gzip.open(self.full_trace, "rt") as f:
                for i, line in enumerate(f):
                    if i >= first + n:
                        break
                    if i >= first:
                        out.append(int(line))
            if len(out) == n:
                return out
            raise HarnessError(f"{self.full_trace} is shorter than line {first + n}")
        for name, start in SLICES.items():
            path = os.path.join(self.src, "tests", "data", name)
            with open(path) as f:
                v = [int(x) for x in f if x.strip()]
            lo = max(first, start)
            if start <= first + n and first + n <= start + len(v) and lo - first <= n // 10:
                return [v[0]] * (lo - first) + v[lo - start:first + n - start]
        raise Skip(f"trace lines {first}..{first + n - 1} not available "
                   f"({self.full_trace} missing and outside the slices in tests/data)")

    def make_schedule(self, seg):
        """runs/SEG-schedule.txt: the warm-up then the segment, one line per run second = the
        mean of `compress` trace seconds x RATE_RESOLUTION (sponge-load and bench-oracle replay
        it with scale / RATE_RESOLUTION, so both see the same rates)."""
        k, w = seg["compress"], self.args.warmup_s
        raw = self.trace_lines(seg["trace_start"] - w * k, (w + seg["length"]) * k)
        path = os.path.join(self.out, "runs", f"{seg['name']}-schedule.txt")
        with open(path, "w") as f:
            for i in range(w + seg["length"]):
                f.write(f"{round(RATE_RESOLUTION * sum(raw[i * k:(i + 1) * k]) / k)}\n")
        return path


def oracle(ctx, seg):
    a = ctx.args
    cmd = [ctx.bin("bench-oracle"), "--pipeline", a.pipeline, "--trace", seg["schedule"],
           "--start", str(a.warmup_s), "--length", str(seg["length"]),
           "--scale", str(seg["scale"] / RATE_RESOLUTION), "--slo-ms", str(ctx.slo_ms),
           "--node-millicores", str(a.node_millicores), "--series"]
    if a.image_bytes > 0:
        cmd += ["--ghent", ctx.ghent_path, "--image-bytes", str(a.image_bytes),
                "--ghent-offset", str(a.warmup_s)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise HarnessError(f"bench-oracle failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def plan_entries(o):
    return [{k: e[k] for k in ("variant", "batch", "millicores", "replicas")} for e in o["plan"]]


def gnuplot_terminal():
    r = subprocess.run(["gnuplot", "-e", "set terminal"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    return "pngcairo" if "pngcairo" in r.stdout else "png"


def plot(ctx, seg, policies, odir):
    """One figure per segment: offered load, allocated cores (with the oracle), used cores,
    batch per stage, plan accuracy (the variants), p99 per second; one line per policy."""
    stages = ctx.pipeline["stages"]
    name = seg["name"]
    with open(os.path.join(odir, "oracle.dat"), "w") as f:
        f.write("# t_s rps budget_ms oracle_cores oracle_objective_cores\n")
        for t, rps, budget, cm, co in seg["oracle"]["series"]:
            f.write(f"{t + 0.5} {rps} {budget:.1f} {cm} {co}\n")
    colors = {"static": "#555555", "reactive": "#e6550d", "horizontal": "#3182bd",
              "vertical": "#31a354", "full": "#d62728"}
    rdir = lambda p: os.path.join(ctx.out, "runs", f"{name}-{p}")  # noqa: E731
    panels = [("offered load (req/s)", None), ("allocated cores", 2), ("used cores", 3)]
    for i, s in enumerate(stages):
        panels.append((f"batch: {s['name']}", 5 + 4 * i))
    panels.append(("plan accuracy (mean of the stages' variants)", 4))
    panels.append(("p99 latency per second (ms)", "p99"))
    n = len(panels)
    lines = [f"set multiplot layout {n},1 title \"bench-trace: {name} (trace {seg['trace_start']}"
             f" +{seg['length'] * seg['compress']} s" + (f" in {seg['length']} s" if seg['compress'] > 1 else "")
             + f", x{seg['scale']}, {ctx.pipeline['name']}.json)\"",
             "set grid", "set key outside right top", "set xrange [0:%d]" % seg["length"],
             "set lmargin 10", "set rmargin 16"]
    for title, col in panels:
        lines.append(f"set title \"{title}\"")
        lines.append("unset logscale y")
        if col is None:
            lines.append(f"plot \"{odir}/oracle.dat\" using 1:2 with steps lw 2 lc rgb \"black\" "
                         f"title \"trace x{seg['scale']}\", "
                         f"\"{rdir(policies[0])}/p99.dat\" using 1:2 with impulses lc rgb \"#999999\" "
                         f"title \"sent\"")
            continue
        parts = []
        for p in policies:
            if col == "p99":
                parts.append(f"\"{rdir(p)}/p99.dat\" using 1:3 with lines lw 1.5 "
                             f"lc rgb \"{colors.get(p, 'black')}\" title \"{p}\"")
            else:
                parts.append(f"\"{rdir(p)}/series.dat\" using 1:{col} with steps lw 1.5 "
                             f"lc rgb \"{colors.get(p, 'black')}\" title \"{p}\"")
        if col == 2:
            parts.append(f"\"{odir}/oracle.dat\" using 1:4 with steps lw 1 dt 2 lc rgb \"black\" "
                         f"title \"oracle\"")
        if col == "p99":
            lines.append("set logscale y")
            # a fixed range: a run without any 200 has no p99 at all, and autoscaling an
            # all-undefined plot is an error in gnuplot
            lines.append(f"set yrange [1:{max(30000, 10 * ctx.slo_ms):g}]")
            lines.append(f"set arrow 1 from 0,{ctx.slo_ms} to {seg['length']},{ctx.slo_ms} "
                         f"nohead dt 3 lc rgb \"black\"")
        lines.append("plot " + ", ".join(parts))
        lines.append("unset arrow 1")
        lines.append("set autoscale y")
    lines.append("unset multiplot")
    body = "\n".join(lines) + "\n"
    height = 170 * n + 60
    outs = []
    term = gnuplot_terminal()
    for ext, term_line in ((
            "png", f"set terminal {term} size 1100,{height}" + (" font \",9\"" if term == "pngcairo" else "")),
            ("svg", f"set terminal svg size 1100,{height} dynamic")):
        path = os.path.join(ctx.out, f"bench-trace-{name}.{ext}")
        script = f"{term_line}\nset output \"{path}\"\n{body}"
        with open(os.path.join(odir, f"plot-{ext}.gp"), "w") as f:
            f.write(script)
        r = subprocess.run(["gnuplot"], input=script, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0 or not os.path.exists(path) or os.path.getsize(path) < 1000:
            raise HarnessError(f"gnuplot ({ext}) failed: {r.stderr.strip()[-500:]}")
        outs.append(path)
    return outs


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def report(ctx, segs, policies):
    out = []
    goals = {}
    for seg in segs:
        name, res, o = seg["name"], seg["results"], seg["oracle"]
        ocs = o["oracle"]["core_seconds"]
        st = res.get("static", {}).get("core_seconds")
        out.append("")
        out.append(f"== {name}: trace lines {seg['trace_start']}..{seg['trace_start'] + seg['length'] * seg['compress'] - 1}"
                   + (f" compressed {seg['compress']}x into {seg['length']} s" if seg['compress'] > 1 else f" ({seg['length']} s)")
                   + f" x{seg['scale']} (peak {o['peak_rps']:.1f} req/s, mean {o['mean_rps']:.1f}), "
                   f"SLO {ctx.slo_ms:.0f} ms"
                   + (f" minus a {ctx.args.image_bytes} B upload (Ghent 4G)" if ctx.args.image_bytes else "")
                   + f", planning budget {o['planning_budget_ms']:.0f} ms, node {ctx.args.node_millicores} mc")
        plan = lambda p: " | ".join(f"{e['variant']} b{e['batch']} {e['millicores']}mc x{e['replicas']}" for e in p)  # noqa: E731
        out.append(f"   static plan: {plan(o['static']['plan'])} ({o['static']['cores']:.2f} cores)")
        if o.get("vertical"):
            out.append(f"   vertical start: {plan(o['vertical']['plan'])}")
        if o.get("horizontal"):
            out.append(f"   horizontal replicas: {plan(o['horizontal']['plan'])}")
        hdr = (f"{'policy':<11} {'attain%':>8} {'p50ms':>7} {'p99ms':>7} {'drops':>6} {'sent':>6} "
               f"{'core-s':>7} {'used':>7} {'acc':>6} {'/static':>7} {'/oracle':>7} {'plan chg':>8}")
        out.append(hdr)
        for p in policies:
            r = res.get(p)
            if not r:
                continue
            cs = r.get("core_seconds")
            r["vs_static"] = round(cs / st, 3) if cs and st else None
            r["vs_oracle"] = round(cs / ocs, 3) if cs and ocs else None
            if "failed" in r:
                out.append(f"{p:<11} FAILED: {r['failed']}")
                continue
            out.append(f"{p:<11} {fmt(r['attainment_pct'], 2):>8} {fmt(r['p50_ms']):>7} "
                       f"{fmt(r['p99_ms']):>7} {r['drops']:>6} {r['requests']:>6} {fmt(cs):>7} "
                       f"{fmt(r['core_seconds_used']):>7} {fmt(r['mean_accuracy'], 2):>6} "
                       f"{fmt(r['vs_static'], 2):>7} {fmt(r['vs_oracle'], 2):>7} "
                       f"{fmt(r['plan_changes']):>8}")
        oo = o["oracle_objective"]
        out.append(f"{'oracle':<11} {'':>8} {'':>7} {'':>7} {'':>6} {'':>6} {ocs:>7.1f} {'':>7} "
                   f"{o['oracle']['mean_accuracy']:>6.2f}   (least cores per second, any variant)")
        out.append(f"{'oracle-obj':<11} {'':>8} {'':>7} {'':>7} {'':>6} {'':>6} "
                   f"{oo['core_seconds']:>7.1f} {'':>7} {oo['mean_accuracy']:>6.2f}   (the "
                   f"pipeline's objective, perfect forecast)")
        if o["oracle"]["budget_relaxed_s"] or o["oracle"]["infeasible_s"]:
            out.append(f"   oracle: {o['oracle']['budget_relaxed_s']} s with a budget no plan meets "
                       f"(planned at the SLO), {o['oracle']['infeasible_s']} s infeasible")
        g = goals.setdefault(name, {})
        f, s, v = res.get("full"), res.get("static"), res.get("vertical")
        ok = lambda r: r and "failed" not in r and r.get("core_seconds")  # noqa: E731
        if ok(f):
            g["full_attainment_ge_99"] = f["attainment_pct"] >= 99.0
            if ok(s):
                g["full_core_s_le_0.7_static"] = f["core_seconds"] <= 0.7 * s["core_seconds"]
            g["full_core_s_le_1.25_oracle"] = f["core_seconds"] <= 1.25 * ocs
            if ok(v):
                g["full_vs_vertical_accuracy_higher"] = (f["mean_accuracy"] or 0) > (v["mean_accuracy"] or 0)
                g["full_vs_vertical_core_s_le_1.05"] = f["core_seconds"] <= 1.05 * v["core_seconds"]
            for b in ("reactive", "horizontal"):
                if ok(res.get(b)):
                    g[f"full_vs_{b}_attainment_higher"] = f["attainment_pct"] > res[b]["attainment_pct"]
                    g[f"full_vs_{b}_core_s_le"] = f["core_seconds"] <= res[b]["core_seconds"]
        if g:
            out.append("   goals: " + ", ".join(f"{k} {'MET' if v else 'missed'}" for k, v in g.items()))
        if seg.get("plots"):
            out.append("   plots: " + " ".join(seg["plots"]))
    return out, goals


def check_smoke(segs, sanitized):
    """What a working harness must produce (the smoke test fails otherwise). Under sanitizers
    the workers themselves are instrumented (several times slower than their profiles), so the
    attainment floor is not checked there; everything else is."""
    problems = []
    for seg in segs:
        for p, r in seg["results"].items():
            if "failed" in r:
                problems.append(f"{seg['name']}/{p}: {r['failed']}")
                continue
            if r["requests"] < (20 if sanitized else 50):
                problems.append(f"{seg['name']}/{p}: only {r['requests']} requests sent")
            answered = sum(r["by_status"].values())
            if answered < 0.95 * r["requests"]:
                problems.append(f"{seg['name']}/{p}: {answered} of {r['requests']} answered")
            if r["attainment_pct"] < 50 and not sanitized:
                problems.append(f"{seg['name']}/{p}: attainment {r['attainment_pct']}% < 50%")
            if not r["core_seconds"] or r["core_seconds"] <= 0:
                problems.append(f"{seg['name']}/{p}: no core-seconds")
            if not r["core_seconds_used"] or r["core_seconds_used"] <= 0:
                problems.append(f"{seg['name']}/{p}: no CPU usage measured")
            if r["samples"] < 0.8 * seg["length"]:
                problems.append(f"{seg['name']}/{p}: {r['samples']} state samples in {seg['length']} s")
            if r["mean_accuracy"] is None:
                problems.append(f"{seg['name']}/{p}: no accuracy (X-Sponge-Variants missing)")
            if not r["clean_exit"]:
                problems.append(f"{seg['name']}/{p}: sponged did not exit 0 on SIGTERM")
        if not seg["oracle"]["oracle"]["core_seconds"] > 0:
            problems.append(f"{seg['name']}: oracle computed no core-seconds")
        if not seg.get("plots"):
            problems.append(f"{seg['name']}: no plots")
    return problems


def parse_segment(spec, defaults):
    """NAME or NAME:START:LENGTH:SCALE[:COMPRESS] (empty fields keep the defaults of NAME)."""
    parts = spec.split(":")
    name = parts[0]
    d = list(defaults.get(name, (None, None, None, 1)))
    for i, conv in enumerate((int, int, float, int)):
        if len(parts) > i + 1 and parts[i + 1] != "":
            d[i] = conv(parts[i + 1])
    if None in d or d[1] < 5 or d[2] <= 0 or d[3] < 1:
        raise SystemExit(f"bench-trace: segment {spec!r}: expected NAME:START:LENGTH:SCALE[:COMPRESS] "
                         "with LENGTH >= 5 run seconds, SCALE > 0, COMPRESS >= 1")
    return {"name": name, "trace_start": d[0], "length": d[1], "scale": d[2], "compress": d[3]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True, help="build directory (bin/sponged ...)")
    ap.add_argument("--segment", action="append",
                    help="NAME[:START:LENGTH:SCALE], repeatable (default: bursty and steady-high "
                         + ", ".join(f"{k}={':'.join(map(str, v))}" for k, v in SEGMENTS.items()) + ")")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--pipeline", help="pipeline file (default pipelines/examples/video.json)")
    ap.add_argument("--slo-ms", type=float, default=0, help="default: the pipeline's slo_ms")
    ap.add_argument("--image-bytes", type=int, default=200000,
                    help="upload per request on the Ghent 4G log (0: fixed budget = SLO)")
    ap.add_argument("--node-millicores", type=int, default=2000)
    ap.add_argument("--warmup-s", type=int, default=5,
                    help="trace seconds replayed before the segment, not counted")
    ap.add_argument("--body-bytes", type=int, default=1024)
    ap.add_argument("--downscale-delay-ms", type=int, default=None,
                    help="the agent's downscale_delay_ms (default: the agent's own, 5000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="output directory (default BUILD/bench-trace)")
    ap.add_argument("--sanitized", action="store_true",
                    help="the build is instrumented (ASan/UBSan): the smoke run uses a twentieth "
                         "of the load and a 15 s SLO, and does not check attainment")
    ap.add_argument("--smoke", action="store_true",
                    help="CI: full policy only, 60 s of the bursty segment, port 18829; exit 1 "
                         "when the harness produced something broken")
    a = ap.parse_args()
    if a.downscale_delay_ms is not None and not 0 <= a.downscale_delay_ms <= 3600000:
        ap.error("--downscale-delay-ms: expected 0..3600000 (the agent's range)")
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    a.pipeline = os.path.abspath(a.pipeline or os.path.join(src, "pipelines", "examples", "video.json"))
    if a.smoke:
        a.segment = a.segment or ["bursty::55"]
        if a.sanitized:
            # Instrumented workers are 10-50x slower than their profiles (yolov5n ~1.5 s an
            # item): a twentieth of the load, a 15 s SLO, no upload. Still the whole harness,
            # and sponged under ASan/UBSan through plan changes and drops.
            a.segment = ["bursty::55:%g" % (SEGMENTS["bursty"][2] / 20)]
            a.slo_ms = a.slo_ms or 15000
            a.image_bytes = 0
        a.policies = "full" if a.policies == ",".join(POLICIES) else a.policies
        a.out = a.out or os.path.join(os.path.abspath(a.build), "bench-trace-smoke")
    segs = [parse_segment(s, SEGMENTS) for s in (a.segment or list(SEGMENTS))]
    policies = [p for p in a.policies.split(",") if p]
    for p in policies:
        if p not in POLICIES:
            raise SystemExit(f"bench-trace: unknown policy {p!r} (known: {', '.join(POLICIES)})")

    ctx = Context(a)
    for b in ("sponged", "sponge-load", "bench-oracle", "sponge-worker-flops"):
        if not os.access(ctx.bin(b), os.X_OK):
            raise HarnessError(f"{ctx.bin(b)} missing: build first "
                               f"(cmake --build {ctx.build} --target sponged sponge-load "
                               f"bench-oracle sponge-worker-flops)")
    if os.geteuid() != 0:
        raise Skip("needs root (real cgroups)")
    if not shutil.which("gnuplot"):
        raise Skip("gnuplot missing (Debian package gnuplot-nox)")
    ctx.cg = Cgroups()
    if os.path.isdir(ctx.out):
        shutil.rmtree(os.path.join(ctx.out, "runs"), ignore_errors=True)
    os.makedirs(os.path.join(ctx.out, "runs"), exist_ok=True)
    t_begin = time.monotonic()
    ctx.cg.setup()
    ok = True
    try:
        k = 0
        for seg in segs:
            seg["schedule"] = ctx.make_schedule(seg)
            seg["oracle"] = oracle(ctx, seg)
            plans = {"static": plan_entries(seg["oracle"]["static"])}
            for p in ("vertical", "horizontal"):
                if seg["oracle"].get(p):
                    plans[p] = plan_entries(seg["oracle"][p])
            seg["results"] = {}
            for p in policies:
                if p not in plans and p in ("vertical", "horizontal"):
                    seg["results"][p] = {"failed": f"no {p} plan serves the peak"}
                    continue
                port = PORT_BASE + 9 if a.smoke else PORT_BASE + k % 9
                k += 1
                for _ in range(50):
                    if port_free(port):
                        break
                    time.sleep(0.2)
                else:
                    raise HarnessError(f"port {port} busy")
                log(f"{seg['name']}/{p}: {seg['length']} s (+{a.warmup_s} s warm-up) at "
                    f"x{seg['scale']} on port {port}")
                run = Run(ctx, seg, p, port, plans)
                try:
                    seg["results"][p] = run.run()
                except HarnessError as e:
                    ok = False
                    seg["results"][p] = {"failed": str(e)}
                    log(f"{seg['name']}/{p}: FAILED: {e}")
                    if getattr(run, "agent", None):
                        if run.agent.poll() is None:
                            run.stop_agent()
                        else:
                            log(f"{seg['name']}/{p}: sponged had exited with {run.agent.returncode}")
                        log_tail(os.path.join(run.dir, "sponged.log"))
                r = seg["results"][p]
                if "failed" not in r:
                    log(f"{seg['name']}/{p}: attainment {r['attainment_pct']}%, p99 {r['p99_ms']} ms, "
                        f"{r['core_seconds']} core-s allocated, {r['core_seconds_used']} used, "
                        f"accuracy {r['mean_accuracy']}")
            done = [p for p in policies if "failed" not in seg["results"].get(p, {"failed": 1})]
            seg["plots"] = []
            if done:
                odir = os.path.join(ctx.out, "runs", f"{seg['name']}-plot")
                os.makedirs(odir, exist_ok=True)
                try:
                    seg["plots"] = plot(ctx, seg, done, odir)
                except HarnessError as e:
                    ok = False
                    log(f"{seg['name']}: plot FAILED: {e}")
    finally:
        if not ctx.cg.teardown():
            ok = False

    lines, goals = report(ctx, segs, policies)
    for line in lines:
        print(line)
    result = {"segments": {}, "goals": goals, "elapsed_s": round(time.monotonic() - t_begin, 1),
              "pipeline": os.path.relpath(a.pipeline, src) if a.pipeline.startswith(src) else a.pipeline,
              "slo_ms": ctx.slo_ms, "image_bytes": a.image_bytes,
              "node_millicores": a.node_millicores, "warmup_s": a.warmup_s,
              "load_average": os.getloadavg()[0], "out": ctx.out}
    for seg in segs:
        o = seg["oracle"]
        result["segments"][seg["name"]] = {
            "trace_start": seg["trace_start"], "length_s": seg["length"], "scale": seg["scale"],
            "compress": seg["compress"],
            "peak_rps": o["peak_rps"], "mean_rps": o["mean_rps"],
            "planning_budget_ms": o["planning_budget_ms"],
            "policies": seg["results"],
            "oracle_core_seconds": o["oracle"]["core_seconds"],
            "oracle_mean_accuracy": o["oracle"]["mean_accuracy"],
            "oracle_objective_core_seconds": o["oracle_objective"]["core_seconds"],
            "oracle_objective_mean_accuracy": o["oracle_objective"]["mean_accuracy"],
            "static_plan": o["static"]["plan"],
            "plots": seg.get("plots", []),
        }
    with open(os.path.join(ctx.out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(ctx.out, "report.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if a.smoke:
        problems = check_smoke(segs, a.sanitized)
        for pr in problems:
            log(f"smoke: FAIL: {pr}")
        ok = ok and not problems
    print(json.dumps(result, separators=(",", ":")))
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Skip as e:
        print(f"bench-trace: SKIP: {e}", file=sys.stderr)
        sys.exit(77)
    except HarnessError as e:
        print(f"bench-trace: {e}", file=sys.stderr)
        sys.exit(1)
