// app.js — the live web view of sponged: polls GET /v1/pipelines and GET /v1/node every
// second, keeps the last WINDOW_S seconds in memory, and draws per pipeline: load against the
// planned (forecast) rate, p50/p99 against the SLO, cores and batch per stage, the variant in
// force and its switches. No build step, no framework; charts by uPlot (vendor/uplot, MIT).
"use strict";

const POLL_MS = 1000;
const WINDOW_S = 300;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];
const views = new Map(); // pipeline name -> view

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
}

function fmt(x, digits) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  return x.toFixed(digits);
}

function chart(parent, title, seriesDefs) {
  const box = el("div", { class: "chart" }, el("h3", {}, title));
  parent.append(box);
  const opts = {
    width: Math.max(300, box.clientWidth || 380),
    height: 170,
    scales: { x: { time: true } },
    axes: [{}, { size: 60 }],
    legend: { live: false },
    series: [{}].concat(seriesDefs.map((s, i) => ({
      label: s.label,
      stroke: s.color || COLORS[i % COLORS.length],
      width: s.width || 1.5,
      dash: s.dash,
      points: { show: false },
    }))),
  };
  const data = [[]].concat(seriesDefs.map(() => []));
  const u = new uPlot(opts, data, box);
  new ResizeObserver(() => {
    const w = Math.max(300, box.clientWidth);
    if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height: 170 });
  }).observe(box);
  return u;
}

function signature(p) {
  return p.stages.map((s) => s.name).join("/");
}

function makeView(p) {
  const sec = el("section", { class: "pipeline", "data-pipeline": p.name });
  const kpis = el("div", { class: "kpis" });
  const kpi = {};
  for (const [k, label] of [["rps", "load req/s"], ["planned", "planned req/s"],
    ["ok", "answered ok"], ["p50", "p50 ms"], ["p99", "p99 ms"], ["slo", "SLO ms"],
    ["attain", "within SLO %"], ["cores", "cores"], ["acc", "mean accuracy"]]) {
    const b = el("b", { "data-k": k }, "–");
    kpi[k] = b;
    kpis.append(el("span", { class: "kpi", "data-kpi": k }, label + " ", b));
  }
  const charts = el("div", { class: "charts" });
  const table = el("table", { class: "stages" });
  const head = el("tr", {});
  for (const h of ["stage", "variant", "batch", "replicas", "cores/replica", "queue", "items",
    "batch p99 ms", "dropped"]) head.append(el("th", {}, h));
  table.append(head);
  const rows = p.stages.map((s) => {
    const r = el("tr", { "data-stage": s.name });
    const cells = {};
    for (const k of ["name", "variant", "batch", "replicas", "cores", "queue", "items", "p99",
      "dropped"]) {
      cells[k] = el("td", k === "variant" ? { class: "variant" } : {});
      r.append(cells[k]);
    }
    cells.name.textContent = s.name;
    table.append(r);
    return cells;
  });
  const switches = el("div", { class: "switches" });
  sec.append(el("h2", {}, p.name), kpis, charts, table, switches);
  document.getElementById("pipelines").append(sec);
  const stageDefs = p.stages.map((s) => ({ label: s.name }));
  const v = {
    sig: signature(p), sec, kpi, rows, switches, log: [],
    lastVariant: p.stages.map((s) => s.plan.variant),
    hist: { t: [], rps: [], planned: [], served: [], p50: [], p99: [], slo: [],
      cores: p.stages.map(() => []), batch: p.stages.map(() => []) },
    prev: null,
  };
  v.cLoad = chart(charts, "load (requests/s)", [
    { label: "arrivals" }, { label: "planned (forecast)", dash: [5, 4] }, { label: "served ok" }]);
  v.cLat = chart(charts, "latency (ms) against the SLO", [
    { label: "p50" }, { label: "p99" }, { label: "SLO", color: "#000", dash: [2, 3] }]);
  v.cCores = chart(charts, "cores per stage", stageDefs);
  v.cBatch = chart(charts, "batch size per stage", stageDefs);
  return v;
}

function push(arr, x) {
  arr.push(x);
}

function trim(v, now) {
  const h = v.hist;
  let n = 0;
  while (n < h.t.length && h.t[n] < now - WINDOW_S) n++;
  if (!n) return;
  for (const k of ["t", "rps", "planned", "served", "p50", "p99", "slo"]) h[k].splice(0, n);
  for (const a of h.cores.concat(h.batch)) a.splice(0, n);
}

function stageCores(s) {
  let mc = 0;
  for (const r of s.replica_list || [])
    if (r.state === "ready" || r.state === "starting" || r.state === "draining") mc += r.millicores;
  return mc / 1000;
}

function update(v, p, now) {
  const h = v.hist;
  const ok = p.answered ? p.answered.ok : 0;
  let served = null;
  if (v.prev && now > v.prev.t) served = (ok - v.prev.ok) / (now - v.prev.t);
  v.prev = { t: now, ok };
  const c = p.control || {};
  push(h.t, now);
  push(h.rps, c.observed_rps);
  push(h.planned, c.planned_rps);
  push(h.served, served);
  push(h.p50, p.p50_ms);
  push(h.p99, p.p99_ms);
  push(h.slo, p.slo_ms);
  let cores = 0;
  p.stages.forEach((s, i) => {
    const sc = stageCores(s);
    cores += sc;
    push(h.cores[i], sc);
    push(h.batch[i], s.plan.batch);
    const row = v.rows[i];
    row.variant.textContent = s.plan.variant;
    row.batch.textContent = s.plan.batch;
    row.replicas.textContent = s.plan.replicas;
    row.cores.textContent = fmt(s.plan.millicores / 1000, 2);
    row.queue.textContent = s.queue_length;
    row.items.textContent = s.items;
    row.p99.textContent = fmt(s.processing_p99_ms, 1);
    row.dropped.textContent = s.dropped + s.queue_full;
    if (s.plan.variant !== v.lastVariant[i]) {
      v.log.unshift(new Date(now * 1000).toLocaleTimeString() + " " + s.name + ": " +
        v.lastVariant[i] + " → " + s.plan.variant);
      v.log.length = Math.min(v.log.length, 5);
      v.lastVariant[i] = s.plan.variant;
    }
  });
  trim(v, now);
  v.kpi.rps.textContent = fmt(c.observed_rps, 1);
  v.kpi.planned.textContent = fmt(c.planned_rps, 1);
  v.kpi.ok.textContent = ok;
  v.kpi.p50.textContent = fmt(p.p50_ms, 1);
  v.kpi.p99.textContent = fmt(p.p99_ms, 1);
  v.kpi.slo.textContent = fmt(p.slo_ms, 0);
  v.kpi.attain.textContent = fmt(p.slo_attainment_pct, 2);
  v.kpi.cores.textContent = fmt(cores, 2);
  v.kpi.acc.textContent = fmt(p.mean_accuracy, 1);
  v.kpi.p99.parentElement.classList.toggle("bad", p.p99_ms > p.slo_ms);
  v.switches.textContent = v.log.length ? "variant switches: " + v.log.join(" · ") : "";
  v.cLoad.setData([h.t, h.rps, h.planned, h.served]);
  v.cLat.setData([h.t, h.p50, h.p99, h.slo]);
  v.cCores.setData([h.t].concat(h.cores));
  v.cBatch.setData([h.t].concat(h.batch));
}

function render(list, now) {
  const seen = new Set();
  for (const p of list) {
    if (p.retired) continue;
    seen.add(p.name);
    let v = views.get(p.name);
    if (v && v.sig !== signature(p)) {
      v.sec.remove();
      v = null;
    }
    if (!v) {
      v = makeView(p);
      views.set(p.name, v);
    }
    update(v, p, now);
  }
  for (const [name, v] of views) {
    if (!seen.has(name)) {
      v.sec.remove();
      views.delete(name);
    }
  }
  const main = document.getElementById("pipelines");
  const empty = main.querySelector(".empty");
  if (!views.size && !empty) main.append(el("p", { class: "empty" }, "no pipelines"));
  if (views.size && empty) empty.remove();
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

async function poll() {
  const conn = document.getElementById("conn");
  try {
    const [pl, node] = await Promise.all([getJSON("/v1/pipelines"), getJSON("/v1/node")]);
    const now = Date.now() / 1000;
    document.getElementById("node").textContent =
      "cores " + fmt(node.millicores_allocated / 1000, 2) + " of " +
      fmt(node.millicores_total / 1000, 2) + " allocated · backend " + node.backend +
      " · control " + (node.control ? "on" : "off") + " · up " + fmt(node.uptime_s, 0) + " s";
    render(pl.pipelines, now);
    conn.textContent = "live";
    conn.classList.remove("down");
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  } catch (e) {
    conn.textContent = "agent unreachable: " + e.message;
    conn.classList.add("down");
  }
  setTimeout(poll, POLL_MS);
}

poll();
