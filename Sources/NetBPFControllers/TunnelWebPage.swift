import Foundation

/// The monitor's web page and the self-contained HTML report: one template, plain JavaScript
/// and SVG, everything inline (no external script, style, font or image). The live page gets
/// its first snapshot inline and then updates from /events (server-sent events), falling back
/// to polling /api/snapshot; the report has its snapshot inline and no network at all.
public enum TunnelWebPage {
    /// The live page (`snapshot` is the newest one, or nil before the first sample).
    public static func live(snapshot: TunnelSnapshot?, intervalSeconds: Double) -> String {
        render(snapshot: snapshot, live: true, intervalSeconds: intervalSeconds)
    }

    /// A report of one snapshot, readable offline.
    public static func report(snapshot: TunnelSnapshot, source: String) -> String {
        render(snapshot: snapshot, live: false, intervalSeconds: snapshot.intervalSeconds, source: source)
    }

    /// JSON safe inside a <script> element: no "<" at all (so no "</script>" or "<!--").
    public static func scriptSafeJSON(_ data: Data) -> String {
        String(decoding: data, as: UTF8.self)
            .replacingOccurrences(of: "<", with: "\\u003c")
            .replacingOccurrences(of: "\u{2028}", with: "\\u2028")
            .replacingOccurrences(of: "\u{2029}", with: "\\u2029")
    }

    static func render(snapshot: TunnelSnapshot?, live: Bool, intervalSeconds: Double, source: String = "") -> String {
        let json = snapshot.flatMap { try? $0.json() }.map(scriptSafeJSON) ?? "null"
        let src = scriptSafeJSON((try? JSONEncoder().encode([source])) ?? Data("[\"\"]".utf8))
        return template
            .replacingOccurrences(of: "__NETBPF_LIVE__", with: live ? "true" : "false")
            .replacingOccurrences(of: "__NETBPF_INTERVAL__", with: String(format: "%.3f", intervalSeconds))
            .replacingOccurrences(of: "__NETBPF_SOURCE__", with: src)
            .replacingOccurrences(of: "__NETBPF_DATA__", with: json)
    }

    static let template = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>netbpf tunnel monitor</title>
<style>
  :root { --fg:#1d2433; --muted:#667085; --line:#e4e7ec; --bg:#f8fafc; --card:#fff; --accent:#2563eb; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
  header { padding:14px 22px; background:#0f172a; color:#e2e8f0; display:flex; align-items:baseline; gap:18px; flex-wrap:wrap; }
  header h1 { font-size:18px; margin:0; font-weight:600; }
  header .meta { color:#94a3b8; font-size:13px; }
  #status { margin-left:auto; font-size:12px; padding:2px 8px; border-radius:10px; background:#1e293b; }
  #status.live { background:#166534; color:#dcfce7; }
  main { padding:16px 22px; display:grid; gap:16px; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 16px; }
  .card h2 { font-size:15px; margin:0 0 10px; }
  .totals { display:grid; grid-template-columns:repeat(auto-fit, minmax(150px, 1fr)); gap:10px; }
  .stat .v { font-size:20px; font-weight:600; }
  .stat .k { color:var(--muted); font-size:12px; }
  table { border-collapse:collapse; width:100%; font-size:13px; }
  th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--muted); font-weight:500; }
  td.n, th.n { text-align:right; font-variant-numeric:tabular-nums; }
  .vnis { display:grid; grid-template-columns:repeat(auto-fill, minmax(600px, 1fr)); gap:16px; }
  .vni { border-top:1px solid var(--line); padding-top:8px; }
  .vni h3 { margin:0 0 6px; font-size:14px; }
  .vni .sub { color:var(--muted); font-size:12px; margin-bottom:6px; }
  .views { display:flex; gap:10px; flex-wrap:wrap; align-items:flex-start; }
  svg text { font-family:inherit; }
  .legend span { display:inline-block; margin-right:14px; font-size:12px; }
  .legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:middle; }
  .muted { color:var(--muted); }
  .err { color:#b42318; }
</style>
</head>
<body>
<header><h1>VXLAN tunnel monitor</h1><span class="meta" id="meta">waiting for the first sample…</span><span id="status"></span></header>
<main>
  <section class="card"><h2>Totals</h2><div class="totals" id="totals"></div></section>
  <section class="card"><h2>Rates over time (bit/s, tx + rx, per VNI)</h2><div id="chart"></div><div class="legend" id="legend"></div></section>
  <section class="card"><h2>Who talks to whom, per VNI</h2><div class="muted" style="margin-bottom:8px">Chord view: endpoints (inner address @ VTEP) around a circle, a band per conversation, width by bytes. Matrix: bytes from row to column (darker = more).</div><div class="vnis" id="vnis"></div></section>
  <section class="card"><h2>Top conversations</h2><div style="overflow-x:auto"><table id="conversations"></table></div></section>
  <section class="card"><h2>Flooded frames (multicast/broadcast outer destination, not counted as conversations)</h2><div id="floods"></div></section>
  <section class="card"><h2>Frames and errors</h2><div id="frames"></div></section>
</main>
<script id="netbpf-data" type="application/json">__NETBPF_DATA__</script>
<script>
"use strict";
const LIVE = __NETBPF_LIVE__;
const INTERVAL = __NETBPF_INTERVAL__;
const SOURCE = __NETBPF_SOURCE__[0];
const PALETTE = ["#2563eb","#dc2626","#16a34a","#d97706","#7c3aed","#0891b2","#db2777","#65a30d","#ea580c","#4f46e5","#0d9488","#9333ea"];
const $ = id => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";
function esc(s) { return String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c])); }
function unit(v, units, base) { let i = 0; while (Math.abs(v) >= base && i < units.length - 1) { v /= base; i++; } return (i ? v.toFixed(v < 10 ? 2 : 1) : Math.round(v)) + " " + units[i]; }
function bits(v) { return unit(v, ["bit/s","kbit/s","Mbit/s","Gbit/s","Tbit/s"], 1000); }
function bytes(v) { return unit(v, ["B","KiB","MiB","GiB","TiB"], 1024); }
function num(v) { return Number(v).toLocaleString("en-US"); }
function pps(v) { return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString("en-US"); }
function vniColor(vni, vnis) { const i = vnis.indexOf(vni); return PALETTE[(i < 0 ? 0 : i) % PALETTE.length]; }
function el(name, attrs, text) {
  const e = document.createElementNS(SVGNS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function endpoint(inner, outer) { return inner === "-" ? "@" + outer : inner + " @" + outer; }

function renderTotals(s) {
  const t = s.totals;
  const items = [
    ["conversations", num(s.conversation_count) + " / " + num(s.capacity)],
    ["VNIs", s.vnis.length],
    ["tx now", bits(t.tx_bits_per_second)], ["rx now", bits(t.rx_bits_per_second)],
    ["tx total", num(t.tx_packets) + " pkts, " + bytes(t.tx_bytes)],
    ["rx total", num(t.rx_packets) + " pkts, " + bytes(t.rx_bytes)],
  ];
  $("totals").innerHTML = items.map(([k, v]) => '<div class="stat"><div class="v">' + esc(v) + '</div><div class="k">' + esc(k) + '</div></div>').join("");
}

function renderChart(s) {
  const W = 900, H = 220, L = 70, R = 10, T = 10, B = 28;
  const hist = s.history || [];
  const vnis = s.vnis.map(v => v.vni);
  const svg = el("svg", {viewBox: "0 0 " + W + " " + H, width: "100%", height: H, role: "img", "aria-label": "rates over time"});
  let max = 0;
  for (const p of hist) for (const v of p.vnis) max = Math.max(max, v.tx_bits_per_second + v.rx_bits_per_second);
  if (max <= 0) max = 1;
  const t0 = hist.length ? hist[0].time : 0, t1 = hist.length ? hist[hist.length - 1].time : 1;
  const x = t => L + (t1 > t0 ? (t - t0) / (t1 - t0) : 1) * (W - L - R);
  const y = v => T + (1 - v / max) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = max * i / 4;
    svg.appendChild(el("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e4e7ec"}));
    svg.appendChild(el("text", {x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#667085"}, bits(v)));
  }
  if (hist.length) {
    const fmt = t => new Date(t * 1000).toLocaleTimeString("en-GB");
    svg.appendChild(el("text", {x: L, y: H - 8, "font-size": 11, fill: "#667085"}, fmt(t0)));
    svg.appendChild(el("text", {x: W - R, y: H - 8, "text-anchor": "end", "font-size": 11, fill: "#667085"}, fmt(t1)));
  }
  for (const vni of vnis) {
    const pts = [];
    for (const p of hist) {
      const v = p.vnis.find(q => q.vni === vni);
      pts.push(x(p.time).toFixed(1) + "," + y(v ? v.tx_bits_per_second + v.rx_bits_per_second : 0).toFixed(1));
    }
    if (pts.length === 1) pts.push((W - R) + "," + pts[0].split(",")[1]);
    if (pts.length) svg.appendChild(el("polyline", {points: pts.join(" "), fill: "none", stroke: vniColor(vni, vnis), "stroke-width": 2}));
  }
  $("chart").replaceChildren(svg);
  $("legend").innerHTML = vnis.map(v => '<span><i style="background:' + vniColor(v, vnis) + '"></i>VNI ' + v + '</span>').join("");
}

function vniGraph(s, vni) {
  const nodes = new Map(), flows = [];
  const node = (inner, outer) => {
    const id = endpoint(inner, outer);
    if (!nodes.has(id)) nodes.set(id, {id, inner, outer, bytes: 0});
    return nodes.get(id);
  };
  for (const c of s.conversations) {
    if (c.vni !== vni) continue;
    const a = node(c.inner_a, c.outer_a), b = node(c.inner_b, c.outer_b);
    a.bytes += c.a_to_b_bytes + c.b_to_a_bytes; b.bytes += c.a_to_b_bytes + c.b_to_a_bytes;
    if (c.a_to_b_bytes) flows.push({from: a.id, to: b.id, bytes: c.a_to_b_bytes, rate: c.a_to_b_bits_per_second, proto: c.inner_proto});
    if (c.b_to_a_bytes) flows.push({from: b.id, to: a.id, bytes: c.b_to_a_bytes, rate: c.b_to_a_bits_per_second, proto: c.inner_proto});
  }
  let list = [...nodes.values()].sort((p, q) => q.bytes - p.bytes).slice(0, 24);
  list.sort((p, q) => p.outer.localeCompare(q.outer, "en", {numeric: true}) || p.inner.localeCompare(q.inner, "en", {numeric: true}));
  const keep = new Set(list.map(n => n.id));
  return {nodes: list, flows: flows.filter(f => keep.has(f.from) && keep.has(f.to)), hidden: nodes.size - list.length};
}

function chord(g, color) {
  const S = 300, C = S / 2, R = 86;
  const svg = el("svg", {viewBox: "0 0 " + S + " " + S, width: S, height: S, class: "chord", style: "overflow:visible"});
  const n = g.nodes.length;
  const pos = new Map();
  g.nodes.forEach((nd, i) => {
    const a = -Math.PI / 2 + 2 * Math.PI * i / Math.max(n, 1);
    pos.set(nd.id, {a, x: C + R * Math.cos(a), y: C + R * Math.sin(a), i});
  });
  let max = 1;
  for (const f of g.flows) max = Math.max(max, f.bytes);
  const pairs = new Map();
  for (const f of g.flows) {
    const k = [f.from, f.to].sort().join("|");
    const p = pairs.get(k) || {a: f.from, b: f.to, bytes: 0, parts: []};
    p.bytes += f.bytes; p.parts.push(f); pairs.set(k, p);
  }
  let pmax = 1;
  for (const p of pairs.values()) pmax = Math.max(pmax, p.bytes);
  for (const p of pairs.values()) {
    const A = pos.get(p.a), Bp = pos.get(p.b);
    const w = 1.5 + 10 * Math.log1p(p.bytes) / Math.log1p(pmax);
    const path = el("path", {d: "M" + A.x.toFixed(1) + "," + A.y.toFixed(1) + " Q" + C + "," + C + " " + Bp.x.toFixed(1) + "," + Bp.y.toFixed(1),
      fill: "none", stroke: PALETTE[A.i % PALETTE.length], "stroke-opacity": 0.55, "stroke-width": w.toFixed(1), "stroke-linecap": "round"});
    path.appendChild(el("title", {}, p.parts.map(f => f.from + " → " + f.to + ": " + bytes(f.bytes) + ", now " + bits(f.rate)).join("\n")));
    svg.appendChild(path);
  }
  g.nodes.forEach(nd => {
    const P = pos.get(nd.id);
    const arc = el("circle", {cx: P.x.toFixed(1), cy: P.y.toFixed(1), r: 6, fill: PALETTE[P.i % PALETTE.length]});
    arc.appendChild(el("title", {}, nd.id + ": " + bytes(nd.bytes)));
    svg.appendChild(arc);
    const lx = C + (R + 12) * Math.cos(P.a), ly = C + (R + 12) * Math.sin(P.a);
    const right = Math.cos(P.a) >= -0.01;
    svg.appendChild(el("text", {x: lx.toFixed(1), y: (ly + 4).toFixed(1), "font-size": 10, "text-anchor": right ? "start" : "end", fill: "#1d2433"},
      nd.inner === "-" ? nd.outer : nd.inner));
  });
  if (!n) svg.appendChild(el("text", {x: C, y: C, "text-anchor": "middle", fill: "#667085"}, "no conversations"));
  return svg;
}

function matrix(g) {
  const n = g.nodes.length, cell = 24, L = 180, T = 90;
  const W = L + n * cell + 70, H = T + n * cell + 4;
  const svg = el("svg", {viewBox: "0 0 " + W + " " + H, width: W, height: H, class: "matrix"});
  const idx = new Map(g.nodes.map((nd, i) => [nd.id, i]));
  let max = 1;
  for (const f of g.flows) max = Math.max(max, f.bytes);
  g.nodes.forEach((nd, i) => {
    svg.appendChild(el("text", {x: L - 6, y: T + i * cell + 15, "text-anchor": "end", "font-size": 10}, nd.id));
    const tx = L + i * cell + 14, ty = T - 6;
    svg.appendChild(el("text", {x: tx, y: ty, "font-size": 10, transform: "rotate(-50 " + tx + " " + ty + ")"}, nd.inner === "-" ? "@" + nd.outer : nd.inner));
    for (let j = 0; j < n; j++) svg.appendChild(el("rect", {x: L + j * cell, y: T + i * cell, width: cell - 2, height: cell - 2, fill: "#f1f5f9"}));
  });
  for (const f of g.flows) {
    const i = idx.get(f.from), j = idx.get(f.to);
    const a = 0.15 + 0.85 * Math.log1p(f.bytes) / Math.log1p(max);
    const r = el("rect", {x: L + j * cell, y: T + i * cell, width: cell - 2, height: cell - 2, fill: "rgba(37,99,235," + a.toFixed(2) + ")"});
    r.appendChild(el("title", {}, f.from + " → " + f.to + " (" + f.proto + "): " + bytes(f.bytes) + ", now " + bits(f.rate)));
    svg.appendChild(r);
  }
  svg.appendChild(el("text", {x: 2, y: 12, "font-size": 10, fill: "#667085"}, "from (row) → to (column)"));
  return svg;
}

function renderVNIs(s) {
  const box = $("vnis");
  box.replaceChildren();
  const vnis = [...s.vnis].sort((a, b) => (b.tx_bytes + b.rx_bytes) - (a.tx_bytes + a.rx_bytes)).slice(0, 16);
  for (const v of vnis) {
    const g = vniGraph(s, v.vni);
    const card = document.createElement("div");
    card.className = "vni";
    card.id = "vni-" + v.vni;
    card.innerHTML = "<h3>VNI " + v.vni + "</h3><div class='sub'>" + num(v.conversations) + " conversations · tx " + bits(v.tx_bits_per_second) +
      " · rx " + bits(v.rx_bits_per_second) + " · " + bytes(v.tx_bytes + v.rx_bytes) + " in all" +
      (g.hidden > 0 ? " · " + g.hidden + " quieter endpoints not drawn" : "") + "</div>";
    const views = document.createElement("div");
    views.className = "views";
    views.appendChild(chord(g));
    views.appendChild(matrix(g));
    card.appendChild(views);
    box.appendChild(card);
  }
  if (!vnis.length) box.innerHTML = '<div class="muted">No VXLAN conversations yet.</div>';
}

function renderTable(s) {
  const rows = s.conversations.slice(0, 100);
  const head = "<tr><th>VNI</th><th>endpoint a (inner @VTEP)</th><th>endpoint b</th><th>inner</th><th class=n>a→b now</th><th class=n>b→a now</th>" +
    "<th class=n>tx pkts</th><th class=n>rx pkts</th><th class=n>tx bytes</th><th class=n>rx bytes</th><th class=n>bytes/pkt</th></tr>";
  const body = rows.map(c => {
    const p = c.tx_packets + c.rx_packets, b = c.tx_bytes + c.rx_bytes;
    return "<tr><td>" + c.vni + "</td><td>" + esc(endpoint(c.inner_a, c.outer_a)) + "</td><td>" + esc(endpoint(c.inner_b, c.outer_b)) + "</td><td>" + esc(c.inner_proto) +
      "</td><td class=n>" + bits(c.a_to_b_bits_per_second) + "</td><td class=n>" + bits(c.b_to_a_bits_per_second) +
      "</td><td class=n>" + num(c.tx_packets) + "</td><td class=n>" + num(c.rx_packets) + "</td><td class=n>" + num(c.tx_bytes) + "</td><td class=n>" + num(c.rx_bytes) +
      "</td><td class=n>" + (p ? (b / p).toFixed(1) : "-") + "</td></tr>";
  }).join("");
  const more = s.conversation_count > rows.length ? "<tr><td colspan=11 class=muted>" + num(s.conversation_count - rows.length) + " more conversations not shown</td></tr>" : "";
  $("conversations").innerHTML = head + (body || "<tr><td colspan=11 class=muted>none yet</td></tr>") + more;
}

function renderFloods(s) {
  if (!s.floods.length) { $("floods").innerHTML = '<div class="muted">none</div>'; }
  else $("floods").innerHTML = "<table><tr><th>VNI</th><th>outer destination</th><th class=n>tx pkts</th><th class=n>rx pkts</th><th class=n>tx bytes</th><th class=n>rx bytes</th></tr>" +
    s.floods.map(f => "<tr><td>" + f.vni + "</td><td>" + esc(f.group) + "</td><td class=n>" + num(f.tx_packets) + "</td><td class=n>" + num(f.rx_packets) +
      "</td><td class=n>" + num(f.tx_bytes) + "</td><td class=n>" + num(f.rx_bytes) + "</td></tr>").join("") + "</table>";
  const fr = s.frames, er = s.errors;
  $("frames").innerHTML = "<table><tr>" + Object.keys(fr).map(k => "<th class=n>" + esc(k) + "</th>").join("") + Object.keys(er).map(k => "<th class=n>" + esc(k) + "</th>").join("") + "</tr><tr>" +
    Object.values(fr).map(v => "<td class=n>" + num(v) + "</td>").join("") + Object.values(er).map(v => "<td class='n" + (v ? " err" : "") + "'>" + num(v) + "</td>").join("") + "</tr></table>";
}

function render(s) {
  if (!s) return;
  $("meta").textContent = (LIVE ? "" : "report · ") + s.interface + (s.namespace ? " (netns " + s.namespace + ")" : "") + " · UDP " + s.ports.join(", ") +
    " · " + new Date(s.time * 1000).toLocaleString("en-GB") + " · every " + s.interval_seconds.toFixed(1) + " s" + (SOURCE ? " · " + SOURCE : "");
  renderTotals(s); renderChart(s); renderVNIs(s); renderTable(s); renderFloods(s);
}

let current = JSON.parse($("netbpf-data").textContent);
render(current);
if (LIVE) {
  let last = Date.now();
  const status = $("status");
  const poll = () => fetch("api/snapshot", {cache: "no-store"}).then(r => r.json()).then(s => { current = s; last = Date.now(); render(s); }).catch(() => {});
  if (window.EventSource) {
    const es = new EventSource("events");
    es.onopen = () => { status.textContent = "live"; status.className = "live"; };
    es.onmessage = e => { try { current = JSON.parse(e.data); last = Date.now(); render(current); } catch (err) {} };
    es.onerror = () => { status.textContent = "reconnecting…"; status.className = ""; };
  }
  setInterval(() => { if (Date.now() - last > Math.max(3000, 3 * INTERVAL * 1000)) poll(); }, Math.max(1000, INTERVAL * 1000));
} else {
  $("status").textContent = "report";
}
</script>
</body>
</html>
"""#
}
