#!/usr/bin/python3
"""grafana-check.py DASHBOARD METRICS_TEXT — every query of the Grafana dashboard names metrics
the agent exports: each PromQL expression (panel targets and template variables) parses
(`promtool check rules` on a rules file made of them, Grafana's $variables substituted), names at
least one sponged_/process_ series, every series it names appears in METRICS_TEXT (a real
scrape of /metrics), and every label it matches on or groups by is a label of those series.
Exit 0, or 1 with the reasons on stderr."""
import json
import os
import re
import subprocess
import sys
import tempfile

dash = json.load(open(sys.argv[1]))
labels = {}  # series name -> label names seen
for line in open(sys.argv[2]):
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ", line)
    if m:
        ls = labels.setdefault(m.group(1), set())
        ls.update(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(2) or ""))

exprs = []
for p in dash.get("panels", []):
    for t in p.get("targets", []):
        exprs.append(("panel %r" % p.get("title"), t["expr"]))
for v in dash.get("templating", {}).get("list", []):
    if v.get("type") == "query":
        exprs.append(("variable %s" % v["name"], v.get("definition") or v["query"]["query"]))

fails = []
SERIES = re.compile(r"\b((?:sponged|process)_[a-zA-Z0-9_]+)\s*(\{([^}]*)\})?")
promql = []
for where, e in exprs:
    q = e.replace("$__rate_interval", "1m").replace("$pipeline", ".*")
    lv = re.match(r"label_values\((\w+),\s*(\w+)\)$", q)
    if lv:
        name, label = lv.groups()
        if name not in labels:
            fails.append("%s: %s not exported" % (where, name))
        elif label not in labels[name]:
            fails.append("%s: %s has no label %s" % (where, name, label))
        continue
    promql.append((where, q))
    names = SERIES.findall(q)
    if not names:
        fails.append("%s: names no sponged_ or process_ metric: %s" % (where, e))
    seen_labels = set()
    for name, _, matchers in names:
        if name not in labels:
            fails.append("%s: %s is not exported by the agent" % (where, name))
            continue
        seen_labels |= labels[name]
        for lab in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)', matchers or ""):
            if lab not in labels[name]:
                fails.append("%s: %s has no label %s" % (where, name, lab))
    for grp in re.findall(r"\bby\s*\(([^)]*)\)", q):
        for lab in (x.strip() for x in grp.split(",") if x.strip()):
            if lab not in seen_labels:
                fails.append("%s: groups by %s, which none of its metrics has" % (where, lab))

with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
    f.write("groups:\n- name: dashboard\n  rules:\n")
    for i, (where, q) in enumerate(promql):
        f.write("  - record: dashboard:expr_%d\n    expr: %s\n" % (i, json.dumps(q)))
r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
os.unlink(f.name)
if r.returncode != 0:
    fails.append("promtool check rules: %s %s" % (r.stdout.strip(), r.stderr.strip()))
print("grafana-check: %d queries, %d problems" % (len(exprs), len(fails)), file=sys.stderr)
for x in fails:
    print("grafana-check: FAIL: " + x, file=sys.stderr)
sys.exit(1 if fails else 0)
