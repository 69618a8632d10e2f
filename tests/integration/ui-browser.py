#!/usr/bin/python3
"""ui-browser.py URL PIPELINES SCREENSHOT — drives headless Chromium (cdp.py) through the web
view at URL (…/ui/): the page loads with no console error, no exception and no failed resource;
it shows one section per pipeline of the comma-separated PIPELINES, each with its four charts and
a row per stage; its numbers change while the caller keeps load running (answered ok grows,
the cores and p99 figures are numbers); then saves a PNG screenshot. Exit 0 or 1 with the reasons
on stderr."""
import base64
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402

url, want, shot = sys.argv[1], sorted(sys.argv[2].split(",")), sys.argv[3]
fails = []


def say(msg):
    print("ui-browser: " + msg, file=sys.stderr, flush=True)


def wait_for(b, sid, expr, limit, what):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        v = b.evaluate(sid, expr)
        if v:
            return v
        time.sleep(0.2)
    fails.append("timed out after %g s waiting for %s" % (limit, what))
    return None


def ok_counts(b, sid):
    return b.evaluate(sid, """Object.fromEntries([...document.querySelectorAll(
        'section.pipeline')].map(s => [s.dataset.pipeline,
        Number(s.querySelector('[data-k=ok]').textContent)]))""")


b = cdp.Browser.launch()
try:
    sid = b.page(1280, 1500)
    n0 = len(b.events)
    b.call("Page.navigate", {"url": url}, session=sid)
    b.wait_event("Page.loadEventFired", sid, timeout=60, since=n0)
    say("loaded " + url)
    wait_for(b, sid, "Number(document.body.dataset.polls || 0) >= 3", 60, "three polls")
    names = b.evaluate(sid, "[...document.querySelectorAll('section.pipeline')]"
                       ".map(s => s.dataset.pipeline).sort()")
    if names != want:
        fails.append("pipelines shown %s, expected %s" % (names, want))
    shape = b.evaluate(sid, """[...document.querySelectorAll('section.pipeline')].map(s => ({
        p: s.dataset.pipeline, charts: s.querySelectorAll('.chart canvas').length,
        stages: s.querySelectorAll('tr[data-stage]').length,
        variant: s.querySelector('tr[data-stage] td.variant').textContent}))""")
    say("sections: %s" % shape)
    for s in shape or []:
        if s["charts"] != 4:
            fails.append("%s: %d charts drawn, expected 4" % (s["p"], s["charts"]))
        if s["stages"] < 1 or not s["variant"]:
            fails.append("%s: no stage rows with a variant" % s["p"])
    first = ok_counts(b, sid)
    say("answered ok now: %s" % first)
    # under the caller's load the counts must grow within a few polls
    end = time.monotonic() + 20
    later = first
    while time.monotonic() < end:
        time.sleep(1)
        later = ok_counts(b, sid)
        if first and all(later.get(p, 0) > first.get(p, 0) for p in want):
            break
    say("answered ok later: %s" % later)
    for p in want:
        if not later.get(p, 0) > (first or {}).get(p, 0):
            fails.append("%s: answered ok did not change under load (%s -> %s)" % (
                p, (first or {}).get(p), later.get(p)))
    kpis = b.evaluate(sid, """[...document.querySelectorAll('section.pipeline')].map(s =>
        ['cores', 'p99', 'slo'].map(k => s.querySelector('[data-k=' + k + ']').textContent))""")
    for k in kpis or []:
        for v in k:
            try:
                float(v)
            except ValueError:
                fails.append("a figure is not a number: %s" % k)
    points = b.evaluate(sid, "document.body.dataset.polls")
    say("polls so far: %s" % points)
    png = b.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                 session=sid)
    with open(shot, "wb") as f:
        f.write(base64.b64decode(png["data"]))
    say("screenshot %s (%d bytes)" % (shot, os.path.getsize(shot)))
    errs = b.errors()
    if errs:
        fails.append("browser console errors: %s" % errs[:5])
except cdp.CdpError as e:
    fails.append("DevTools: %s" % e)
finally:
    b.close()
for f in fails:
    say("FAIL: " + f)
sys.exit(1 if fails else 0)
