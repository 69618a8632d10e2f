#!/usr/bin/python3
"""cdp.py — a small Chrome DevTools Protocol client over --remote-debugging-pipe (stdlib only).

Chromium reads commands from its fd 3 and writes answers and events to its fd 4, one JSON
message per NUL-terminated record. Browser.launch() starts Debian's chromium headless with a
fresh profile; page() opens a tab and attaches to it (flattened session); call() sends a command
and waits (bounded) for its answer; events are kept in order for the caller to inspect.
Used by the ui.* tests; nothing here fakes the browser.
"""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe"]


class CdpError(Exception):
    pass


class Browser:
    def __init__(self, proc, wfd, rfd, profile):
        self.proc, self.wfd, self.rfd, self.profile = proc, wfd, rfd, profile
        self.next_id = 0
        self.lock = threading.Condition()
        self.answers = {}
        self.events = []
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    @classmethod
    def launch(cls, exe="/usr/bin/chromium", extra=()):
        profile = tempfile.mkdtemp(prefix="sponge-chromium.")
        to_r, to_w = os.pipe2(os.O_CLOEXEC)      # we write, chromium reads on fd 3
        from_r, from_w = os.pipe2(os.O_CLOEXEC)  # chromium writes on fd 4, we read
        # Move the child's ends out of the way of 3 and 4 before dup2 puts them there.
        hi_r, hi_w = os.dup(to_r), os.dup(from_w)

        def child():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        argv = [exe] + FLAGS + ["--user-data-dir=" + profile] + list(extra) + ["about:blank"]
        proc = subprocess.Popen(argv, preexec_fn=child, pass_fds=(3, 4), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for fd in (to_r, from_w, hi_r, hi_w):
            os.close(fd)
        return cls(proc, to_w, from_r, profile)

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.rfd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self.lock:
                    self.closed = True
                    self.lock.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                rec, buf = buf.split(b"\0", 1)
                msg = json.loads(rec)
                with self.lock:
                    if "id" in msg:
                        self.answers[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self.lock.notify_all()

    def call(self, method, params=None, session=None, timeout=60):
        with self.lock:
            self.next_id += 1
            mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self.wfd, data)
            data = data[n:]
        end = time.monotonic() + timeout
        with self.lock:
            while mid not in self.answers:
                left = end - time.monotonic()
                if left <= 0 or self.closed:
                    raise CdpError("%s: no answer within %g s%s" % (
                        method, timeout, " (browser gone)" if self.closed else ""))
                self.lock.wait(left)
            ans = self.answers.pop(mid)
        if "error" in ans:
            raise CdpError("%s: %s" % (method, ans["error"]))
        return ans.get("result", {})

    def wait_event(self, method, session=None, timeout=20, since=0):
        """The first event METHOD (of SESSION) at index >= since; raises after timeout."""
        end = time.monotonic() + timeout
        with self.lock:
            while True:
                for e in self.events[since:]:
                    if e.get("method") == method and (session is None or
                                                      e.get("sessionId") == session):
                        return e
                left = end - time.monotonic()
                if left <= 0 or self.closed:
                    raise CdpError("no %s within %g s" % (method, timeout))
                self.lock.wait(left)

    def page(self, width=1280, height=900):
        """Opens a tab, attaches, enables Runtime, Log and Page; returns the session id."""
        tid = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = self.call("Target.attachToTarget", {"targetId": tid, "flatten": True})["sessionId"]
        for m in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(m, session=sid)
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                          "deviceScaleFactor": 1,
                                                          "mobile": False}, session=sid)
        return sid

    def evaluate(self, sid, expr, timeout=60):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True}, session=sid, timeout=timeout)
        if "exceptionDetails" in r:
            raise CdpError("evaluate %r: %s" % (expr, r["exceptionDetails"].get("text")))
        return r["result"].get("value")

    def errors(self):
        """Console errors, uncaught exceptions and browser log errors seen so far (strings)."""
        out = []
        with self.lock:
            evs = list(self.events)
        for e in evs:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.%s: %s" % (p["type"], " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p.get("args", []))))
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: %s %s" % (d.get("text", ""), d.get(
                    "exception", {}).get("description", "")))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                en = p["entry"]
                out.append("log: %s %s" % (en.get("text", ""), en.get("url", "")))
        return out

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except CdpError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.wfd)
        shutil.rmtree(self.profile, ignore_errors=True)
