// The Skyway dashboard: draws the server's view model (see sim/src/dashboard/model.rs) and sends
// fault requests. Every judgement is made by the model; this file only lays it out.
"use strict";

const NS = "http://www.w3.org/2000/svg";
const token = new URLSearchParams(location.search).get("token");
let live = true;        // drawing the stream (false: a replayed moment)
let model = null;       // the model drawn now
let latest = null;      // the newest model from the stream

function el(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function h(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
function secs(ms) { return (ms / 1000).toFixed(1) + " s"; }
function clock(s) {
  s = Math.max(0, Math.floor(s));
  return Math.floor(s / 3600) + ":" + String(Math.floor(s / 60) % 60).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
}

// ---- faults ----------------------------------------------------------------------------------
function toast(text, bad) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.className = "toast" + (bad ? " bad" : "");
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
}
async function fault(request) {
  const headers = { "content-type": "application/json" };
  if (token) headers["x-skyway-token"] = token;
  toast("asking: " + JSON.stringify(request));
  try {
    const response = await fetch("/api/faults", { method: "POST", headers, body: JSON.stringify(request) });
    const answer = await response.json();
    if (answer.ok) toast("done: " + answer.done);
    else toast("refused (" + response.status + "): " + answer.error, true);
  } catch (e) {
    toast("the dashboard's server did not answer: " + e, true);
  }
}
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-fault]");
  if (!button) return;
  const request = { action: button.dataset.fault };
  if (button.dataset.target) request.target = button.dataset.target;
  fault(request);
});
document.getElementById("set-speed").addEventListener("click", () => {
  fault({ action: "speed", value: Number(document.getElementById("speed").value) });
});
function stall() {
  fault({ action: "stall", position_m: Number(document.getElementById("stall-at").value), lane: Number(document.getElementById("stall-lane").value) });
}
document.getElementById("stall").addEventListener("click", stall);
// The operator's orders: written for the role's primary to carry out (the page never commands
// the actuator, nor does the server).
function laneOrder(action) {
  fault({ action, target: document.getElementById("op-segment").value, lane: Number(document.getElementById("op-lane").value) });
}
function runwayOrder(action) {
  fault({ action, target: document.getElementById("op-runway").value });
}
document.getElementById("close-lane").addEventListener("click", () => laneOrder("close-lane"));
document.getElementById("reopen-lane").addEventListener("click", () => laneOrder("reopen-lane"));
document.getElementById("close-runway").addEventListener("click", () => runwayOrder("close-runway"));
document.getElementById("reopen-runway").addEventListener("click", () => runwayOrder("reopen-runway"));
// Fills a <select> with `values` (labelled by `label`) when they change, keeping the choice.
function options(id, values, label) {
  const select = document.getElementById(id);
  const key = values.join(",");
  if (select.dataset.key === key) return;
  const chosen = select.value;
  clear(select);
  for (const v of values) select.appendChild(h("option", { value: v }, label(v)));
  if (values.includes(chosen)) select.value = chosen;
  select.dataset.key = key;
}
document.getElementById("large").addEventListener("click", () => document.body.classList.toggle("large"));
// ?large=1 opens in large type (a projector's bookmark).
if (new URLSearchParams(location.search).get("large") === "1") document.body.classList.add("large");
document.getElementById("help-button").addEventListener("click", () => {
  const help = document.getElementById("help");
  help.hidden = !help.hidden;
});

function firstRole(kind) {
  const roles = (model && model.roles) || [];
  const lane = roles.find((l) => l.role.startsWith(kind + "/") && l.bars.some((b) => b.current));
  return lane ? lane.role : null;
}
document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT" || event.ctrlKey || event.metaKey || event.altKey) return;
  const roleFault = (action, kind) => {
    const role = firstRole(kind);
    if (role) fault({ action, target: role });
    else toast("no " + kind + " role has a primary yet", true);
  };
  switch (event.key) {
    case "k": roleFault("kill", "segment"); break;
    case "t": roleFault("kill", "runway"); break;
    case "p": roleFault("pause", "runway"); break;
    case "c": roleFault("cut-off", "segment"); break;
    case "l": fault({ action: "kill", target: "leader" }); break;
    case "r": fault({ action: "lesson" }); break;
    case "s": stall(); break;
    case "b": document.body.classList.toggle("large"); break;
    case "?": document.getElementById("help-button").click(); break;
    case "ArrowLeft": step(-5000); break;
    case "ArrowRight": step(5000); break;
    case " ": goLive(); event.preventDefault(); break;
    default: return;
  }
});

// ---- replay ----------------------------------------------------------------------------------
const slider = document.getElementById("slider");
async function replay(at) {
  live = false;
  document.getElementById("live").classList.remove("on");
  document.getElementById("live").textContent = "○ go live";
  try {
    const response = await fetch("/api/state?at_t_ms=" + Math.max(0, Math.round(at)));
    const replayed = await response.json();
    if (!live) draw(replayed);
  } catch (e) {
    toast("cannot replay: " + e, true);
  }
}
function step(ms) {
  const at = Number(slider.value) + ms;
  if (latest && at >= latest.span_t_ms) goLive();
  else replay(at);
  slider.value = String(Math.max(0, at));
}
function goLive() {
  live = true;
  const button = document.getElementById("live");
  button.classList.add("on");
  button.textContent = "● live";
  if (latest) draw(latest);
}
slider.addEventListener("input", () => replay(Number(slider.value)));
document.getElementById("live").addEventListener("click", goLive);

// ---- the stream ------------------------------------------------------------------------------
function connect() {
  const source = new EventSource("/events");
  source.addEventListener("model", (event) => {
    latest = JSON.parse(event.data);
    if (live) draw(latest);
    slider.max = String(latest.span_t_ms);
    if (live) slider.value = slider.max;
  });
  // EventSource reconnects by itself, sending Last-Event-ID; nothing else to do.
  source.onerror = () => { document.getElementById("clock").textContent = "reconnecting…"; };
}
connect();

// ---- drawing ---------------------------------------------------------------------------------
function draw(m) {
  model = m;
  document.getElementById("scenario").textContent = m.scenario;
  const w = m.world;
  document.getElementById("clock").textContent =
    (m.replay ? "REPLAY " : "") + "t = " + secs(m.at_t_ms) + (w ? " · world " + clock(w.time_s) + " at " + w.speed + "×" : "");
  document.getElementById("replay-at").textContent = secs(m.at_t_ms) + " / " + secs(m.span_t_ms);
  const verdict = document.getElementById("verdict");
  verdict.textContent = (m.verdict.ok ? "✔ " : "✖ ") + m.verdict.text;
  verdict.className = "verdict " + (m.verdict.ok ? "ok" : "bad");
  drawHighway(w && w.highway);
  drawAirport(w && w.airport, w);
  drawLanes(m);
  drawCoordinator(m.coordinator);
  drawControllers(m);
  drawMembership(m.membership);
  drawDecisions(m.decisions);
  drawCameras(m);
  drawLesson(m.lesson);
}

// Large type: the SVGs get a narrower coordinate system, so their text is drawn larger too.
function zoom() { return document.body.classList.contains("large") ? 1.6 : 1; }

function speedClass(kmh) { return kmh >= 80 ? "fast" : kmh >= 40 ? "mid" : "slow"; }
const COLOURS = { fast: "#1a9850", mid: "#e6a100", slow: "#d73027" };

function drawHighway(road) {
  const svg = document.getElementById("road");
  clear(svg);
  if (!road) {
    svg.setAttribute("viewBox", "0 0 1000 40");
    svg.appendChild(el("text", { x: 10, y: 25 }, "no road in this world"));
    document.getElementById("highway-figures").textContent = "";
    return;
  }
  const W = Math.round(1200 / zoom()), laneH = 16, top = 34, left = 10, right = 10;
  const H = top + road.lanes * laneH + 34;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const x = (m) => left + (m / road.length_m) * (W - left - right);
  // Lanes: lane 1 (rightmost) at the bottom.
  const laneY = (lane) => top + (road.lanes - lane) * laneH;
  svg.appendChild(el("rect", { x: left, y: top, width: W - left - right, height: road.lanes * laneH, fill: "#555" }));
  for (let lane = 1; lane < road.lanes; lane++) {
    svg.appendChild(el("line", { x1: left, x2: W - right, y1: laneY(lane), y2: laneY(lane), stroke: "#fff", "stroke-dasharray": "6 6", "stroke-width": 1 }));
  }
  for (const s of road.segments) {
    const g = el("g", { "data-testid": "segment", "data-segment": s.n });
    g.appendChild(el("line", { x1: x(s.start_m), x2: x(s.start_m), y1: 2, y2: top + road.lanes * laneH + 4, stroke: "#222", "stroke-width": 2 }));
    const primary = s.primary ? `${s.primary[0]} #${s.primary[1]}` : "no primary";
    g.appendChild(el("text", { x: x(s.start_m) + 4, y: 13, "font-size": 12, "font-weight": "bold" }, `S${s.n} · ${primary}`));
    const limit = s.limit_kmh != null ? s.limit_kmh : road.default_limit_kmh;
    if (limit != null) {
      const cx = x(s.end_m) - 16;
      g.appendChild(el("circle", { cx, cy: 16, r: 12, fill: "#fff", stroke: s.limit_kmh != null ? "#c40000" : "#999", "stroke-width": s.limit_kmh != null ? 4 : 2 }));
      g.appendChild(el("text", { x: cx, y: 20, "font-size": 11, "text-anchor": "middle", "font-weight": "bold" }, String(limit)));
    }
    for (const c of s.closed) {
      const y = laneY(c.lane);
      // Who keeps it closed: the primary whose accepted command closes it, with its token.
      const by = c.by ? ` by ${c.by[0]} #${c.by[1]}` : "";
      const rect = el("rect", { x: x(c.from_m), y: y + 1, width: Math.max(2, x(c.to_m) - x(c.from_m)), height: laneH - 2, fill: "url(#hatch)", stroke: "#c40000", "stroke-width": 2,
        "data-testid": "closed-lane", "data-segment": s.n, "data-lane": c.lane, "data-operator": c.operator, "data-by": c.by ? c.by[0] : "", "data-token": c.by ? c.by[1] : "" });
      rect.appendChild(el("title", {}, `lane ${c.lane} closed${by}${c.operator ? ", on the operator's order" : ", by the primary on its own (a blockage)"}`));
      g.appendChild(rect);
      g.appendChild(el("text", { x: x(c.from_m) + 3, y: y + laneH - 4, "font-size": 11, fill: "#fff", "font-weight": "bold" }, `✖ closed${by}${c.operator ? " (operator)" : ""}`));
    }
    // Ordered by the operator, not yet carried out by the primary: a dashed outline.
    for (const lane of s.operator_closed.filter((l) => !s.closed.some((c) => c.lane === l))) {
      const y = laneY(lane);
      g.appendChild(el("rect", { x: x(s.start_m), y: y + 1, width: x(s.end_m) - x(s.start_m), height: laneH - 2, fill: "none", stroke: "#c40000", "stroke-width": 2, "stroke-dasharray": "5 3", "data-testid": "ordered-lane", "data-segment": s.n, "data-lane": lane }));
    }
    for (const l of s.loops) {
      const lx = x(l.position_m);
      g.appendChild(el("rect", { x: lx - 1.5, y: top - 3, width: 3, height: road.lanes * laneH + 6, fill: "#36c" }));
      g.appendChild(el("text", { x: lx, y: top + road.lanes * laneH + 16, "font-size": 10, "text-anchor": "middle", fill: "#36c" },
        `${l.count}${l.mean_kmh != null ? " @" + l.mean_kmh : ""}`));
    }
    svg.appendChild(g);
  }
  const defs = el("defs");
  const pattern = el("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
  pattern.appendChild(el("rect", { width: 6, height: 6, fill: "#c40000", opacity: 0.35 }));
  pattern.appendChild(el("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#c40000", "stroke-width": 3 }));
  defs.appendChild(pattern);
  svg.appendChild(defs);
  const cars = el("g", { "data-testid": "vehicles" });
  for (const [id, lane, pos, kmh, truck, stalled] of road.vehicles) {
    const y = laneY(lane) + laneH / 2;
    const cx = x(pos);
    if (stalled) {
      cars.appendChild(el("text", { x: cx, y: y + 5, "font-size": 16, "text-anchor": "middle", "font-weight": "bold", fill: "#000", "data-testid": "stalled" }, "✖"));
      continue;
    }
    const cls = speedClass(kmh);
    const len = truck ? 6 : 3.5;
    if (cls === "fast") cars.appendChild(el("rect", { x: cx - len, y: y - 3.5, width: len, height: 7, fill: COLOURS.fast }));
    else if (cls === "mid") cars.appendChild(el("path", { d: `M${cx - len} ${y + 4} L${cx} ${y + 4} L${cx - len / 2} ${y - 4} Z`, fill: COLOURS.mid }));
    else cars.appendChild(el("circle", { cx: cx - 2, cy: y, r: truck ? 4 : 3, fill: COLOURS.slow }));
    void id;
  }
  svg.appendChild(cars);
  options("op-segment", road.segments.map((s) => `segment/${s.n}`), (v) => v.replace("segment/", "S"));
  options("op-lane", Array.from({ length: road.lanes }, (_, i) => String(i + 1)), (v) => v === "1" ? "1 (rightmost)" : v);
  document.getElementById("highway-figures").textContent =
    `${road.present} vehicles · mean ${road.mean_kmh} km/h · ${road.stalled} stalled`;
}

function drawAirport(airport, world) {
  const svg = document.getElementById("runways");
  clear(svg);
  if (!airport) {
    svg.setAttribute("viewBox", "0 0 600 40");
    svg.appendChild(el("text", { x: 10, y: 25 }, "no airport in this world"));
    document.getElementById("airport-figures").textContent = "";
    return;
  }
  const W = Math.round(600 / Math.sqrt(zoom())), rowH = 92;
  svg.setAttribute("viewBox", `0 0 ${W} ${airport.runways.length * rowH + 30}`);
  airport.runways.forEach((r, i) => {
    const y0 = i * rowH + 6;
    const g = el("g", { "data-testid": "runway", "data-runway": r.id, "data-closed": r.closed, "data-operator": r.operator_closed,
      "data-closed-by": r.closed_by ? r.closed_by[0] : "", "data-closed-token": r.closed_by ? r.closed_by[1] : "" });
    const primary = r.primary ? `${r.primary[0]} #${r.primary[1]}` : "no primary";
    const closed = r.closed ? ` · ✖ CLOSED${r.closed_by ? ` by ${r.closed_by[0]} #${r.closed_by[1]}` : ""}${r.operator_closed ? " (operator)" : ""}`
      : r.operator_closed ? " · closing (operator's order)" : "";
    g.appendChild(el("text", { x: 4, y: y0 + 12, "font-size": 13, "font-weight": "bold" }, `${r.id} · tower ${primary}${closed}`));
    // Final approach on the left, the runway in the middle.
    const rx = Math.round(W * 0.38), rw = Math.round(W * 0.5), ry = y0 + 30;
    g.appendChild(el("line", { x1: 10, x2: rx, y1: ry + 10, y2: ry + 10, stroke: "#aaa", "stroke-dasharray": "4 4" }));
    g.appendChild(el("rect", { x: rx, y: ry, width: rw, height: 20, fill: r.closed ? "url(#hatch)" : "#444", stroke: r.occupants.length > 1 ? "#c40000" : "#222", "stroke-width": r.occupants.length > 1 ? 4 : 1 }));
    g.appendChild(el("text", { x: rx + 4, y: ry + 14, "font-size": 11, fill: "#fff" }, r.id));
    r.on_final.forEach(([callsign, progress], j) => {
      const fx = 10 + progress * (rx - 30);
      g.appendChild(el("text", { x: fx, y: ry + 14 - (j % 2) * 16, "font-size": 14, "data-testid": "on-final" }, "✈"));
      g.appendChild(el("text", { x: fx, y: ry + 30 + (j % 2) * 10, "font-size": 9 }, callsign));
    });
    r.occupants.forEach(([who, activity], j) => {
      const ox = rx + 40 + j * 110;
      g.appendChild(el("text", { x: ox, y: ry + 15, "font-size": 14, fill: "#ffd400", "font-weight": "bold" }, "▶"));
      g.appendChild(el("text", { x: ox + 14, y: ry + 15, "font-size": 11, fill: "#fff" }, `${who} ${activity}`));
    });
    const line = [];
    if (r.holding.length) line.push(`holding: ${r.holding.join(" ")}`);
    if (r.crossing_queue.length) line.push(`◆ to cross: ${r.crossing_queue.join(" ")}`);
    if (r.circling.length) line.push(`⟳ gone around: ${r.circling.join(" ")}`);
    g.appendChild(el("text", { x: 10, y: ry + 48, "font-size": 11 }, line.join(" · ") || "no queue"));
    svg.appendChild(g);
  });
  options("op-runway", airport.runways.map((r) => `runway/${r.id}`), (v) => v.replace("runway/", ""));
  const yb = airport.runways.length * rowH + 20;
  svg.appendChild(el("text", { x: 4, y: yb, "font-size": 14, "font-weight": "bold", fill: airport.incursions ? "#c40000" : "#0a7d32", "data-testid": "incursions" },
    `${airport.incursions ? "✖" : "✔"} INCURSIONS ${airport.incursions}`));
  document.getElementById("airport-figures").textContent =
    `${airport.landed} landed · ${airport.departed} departed · ${airport.go_arounds} go-arounds · world conflicts ${world.conflicts}`;
}

function drawLanes(m) {
  const svg = document.getElementById("lanes");
  clear(svg);
  const W = Math.round(1200 / zoom()), labelW = 150, laneH = 42, top = 18;
  const H = top + m.roles.length * laneH + 32;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const window = Math.min(Math.max(m.at_t_ms, 30000), 180000);
  const t0 = Math.max(0, m.at_t_ms - window), t1 = t0 + window;
  const x = (t) => labelW + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * (W - labelW - 110);
  // Time axis.
  for (let t = Math.ceil(t0 / 10000) * 10000; t <= t1; t += 10000) {
    svg.appendChild(el("line", { x1: x(t), x2: x(t), y1: top - 4, y2: H - 28, stroke: "#eee" }));
    svg.appendChild(el("text", { x: x(t), y: H - 6, "font-size": 10, "text-anchor": "middle", fill: "#666" }, secs(t)));
  }
  // Fault bands across every lane.
  let shown = 0;
  for (const f of m.faults) {
    const to = f.to_t_ms != null ? f.to_t_ms : m.at_t_ms;
    if (to < t0 || f.from_t_ms > t1) continue;
    // Labels alternate above the lanes and below them, so that close faults stay readable.
    const labelY = shown++ % 2 === 0 ? top - 8 : top + m.roles.length * laneH + 10;
    const g = el("g", { "data-testid": "fault-band" });
    g.appendChild(el("rect", { x: x(f.from_t_ms), y: top - 6, width: Math.max(3, x(to) - x(f.from_t_ms)), height: m.roles.length * laneH + 6, fill: "rgba(90,90,90,.18)", stroke: "#777", "stroke-dasharray": "3 2" }));
    g.appendChild(el("text", { x: x(f.from_t_ms) + 2, y: labelY, "font-size": 10, fill: "#333", "font-weight": "bold" }, `⚡ ${f.action === f.target ? f.action : f.action + " " + f.target}`));
    svg.appendChild(g);
  }
  m.roles.forEach((lane, i) => {
    const y = top + i * laneH;
    const g = el("g", { "data-testid": "role-lane", "data-role": lane.role });
    g.appendChild(el("text", { x: 4, y: y + 20, "font-size": 13, "font-weight": "bold" }, lane.role));
    g.appendChild(el("line", { x1: labelW, x2: W - 110, y1: y + laneH - 2, y2: y + laneH - 2, stroke: "#ddd" }));
    for (const b of lane.bars) {
      const to = b.current && !m.replay ? m.at_t_ms : b.to_t_ms;
      if (to < t0) continue;
      const bx = x(b.from_t_ms), bw = Math.max(3, x(to) - x(b.from_t_ms));
      const bar = el("g", { "data-testid": "bar", "data-controller": b.controller, "data-token": b.token, "data-current": b.current, "data-overlap": b.overlap });
      bar.appendChild(el("rect", { x: bx, y: y + 4, width: bw, height: laneH - 18, rx: 3, fill: b.overlap ? "#c40000" : controllerColour(b.controller, m), stroke: b.overlap ? "#000" : "none", "stroke-width": 2 }));
      if (bw > 30) bar.appendChild(el("text", { x: bx + 4, y: y + 21, "font-size": 12, fill: "#fff", "font-weight": "bold" }, `${b.controller} #${b.token}${b.overlap ? " OVERLAP" : ""}`));
      g.appendChild(bar);
    }
    for (const gap of lane.gaps) {
      if (gap.to_t_ms < t0) continue;
      const gx = x(gap.from_t_ms), gw = x(gap.to_t_ms) - gx;
      const line = el("line", { x1: gx, x2: gx + gw, y1: y + laneH / 2, y2: y + laneH / 2, stroke: "#000", "stroke-width": 1, "stroke-dasharray": "2 2" });
      line.appendChild(el("title", {}, gap.fault ? `after ${gap.fault}` : `handover: ${secs(gap.gap_ms)} without a command`));
      g.appendChild(line);
      // Only a fault's failover is annotated in text (a balancing handover just shows its gap).
      if (gap.fault) {
        const label = el("text", { x: gx, y: y + laneH - 3, "font-size": 10, fill: "#000", "font-weight": "bold", "data-testid": "gap" },
          `↔ detect ${secs(gap.detection_ms)} · takeover ${secs(gap.takeover_ms)}`);
        g.appendChild(label);
      }
    }
    for (const r of lane.refused) {
      if (r.t_ms < t0) continue;
      const mark = el("text", { x: x(r.t_ms), y: y + 22, "font-size": 18, "text-anchor": "middle", fill: "#c40000", "font-weight": "bold", "data-testid": "refused-mark", "data-controller": r.controller, "data-token": r.token }, "✖");
      mark.appendChild(el("title", {}, `refused: ${r.controller} #${r.token} below the floor #${r.floor}: ${r.action}`));
      g.appendChild(mark);
    }
    // The lane's fault buttons (its primary, whoever it is when pressed).
    const fo = el("foreignObject", { x: W - 108, y: y + 2, width: 108, height: laneH - 4 });
    const div = h("div", { style: "display:flex;gap:2px;font-size:10px" });
    for (const [action, label] of [["kill", "kill"], ["pause", "pause"], ["cut-off", "cut"]]) {
      const button = h("button", { "data-fault": action, "data-target": lane.role, "data-testid": `${action}-primary`, "data-role": lane.role, title: `${action} the primary of ${lane.role}`, style: "font-size:10px;padding:1px 3px" }, label);
      div.appendChild(button);
    }
    fo.appendChild(div);
    g.appendChild(fo);
    svg.appendChild(g);
  });
}

const PALETTE = ["#2c7bb6", "#7b3294", "#008837", "#a6611a", "#404040", "#0571b0"];
function controllerColour(name, m) {
  const i = m.controllers.indexOf(name);
  return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
}

function drawCoordinator(c) {
  const nodes = document.getElementById("nodes");
  clear(nodes);
  if (!c.nodes.length) nodes.appendChild(h("div", { class: "empty" }, "no sample yet"));
  for (const n of c.nodes) {
    const leader = n.up && n.role === "Leader";
    const card = h("div", { class: "node" + (leader ? " leader" : "") + (n.up ? "" : " down"), "data-testid": "node", "data-node": n.id, "data-role": n.up ? n.role : "down" });
    card.appendChild(h("b", {}, `${leader ? "★ " : n.up ? "" : "✖ "}node ${n.id || "?"}`));
    card.appendChild(h("div", {}, n.up ? n.role : "DOWN"));
    if (n.up) card.appendChild(h("div", { class: "small" }, `term ${n.term} · commit ${n.committed} · applied ${n.applied}`));
    else card.appendChild(h("div", { class: "small" }, n.endpoint));
    const kill = h("button", { "data-fault": n.up ? "kill" : "restart", "data-target": `node ${n.id}` }, n.up ? "kill" : "restart");
    if (n.id) card.appendChild(kill);
    nodes.appendChild(card);
  }
  const leaders = document.getElementById("leaders");
  leaders.textContent = "leader changes: " + (c.leader_changes.map((l) => `${secs(l.t_ms)} → ${l.leader ? "node " + l.leader : "none"} (term ${l.term})`).join(" · ") || "none");
}

function drawControllers(m) {
  const box = document.getElementById("controllers");
  clear(box);
  if (!m.controllers.length) box.appendChild(h("div", { class: "empty" }, "no controllers"));
  const paused = new Set(), cut = new Set(), down = new Set();
  for (const f of m.faults) {
    const open = f.to_t_ms == null;
    if (!open) continue;
    if (f.action === "pause") paused.add(f.target);
    if (f.action === "cut-off") cut.add(f.target);
    if (f.action === "kill") down.add(f.target);
  }
  for (const name of m.controllers) {
    const roles = m.roles.filter((l) => l.bars.some((b) => b.current && b.controller === name)).map((l) => l.role);
    const row = h("div", { class: "controller", "data-testid": "controller", "data-controller": name });
    row.appendChild(h("b", {}, name));
    const state = down.has(name) ? "✖ killed" : paused.has(name) ? "⏸ paused" : cut.has(name) ? "✂ cut off" : "● running";
    row.appendChild(h("span", {}, state));
    for (const [action, label] of [["kill", "kill"], ["pause", "pause"], ["resume", "resume"], ["cut-off", "cut off"], ["reconnect", "reconnect"]]) {
      row.appendChild(h("button", { "data-fault": action, "data-target": name }, label));
    }
    row.appendChild(h("span", { class: "small" }, roles.length ? "primary of " + roles.join(", ") : "backup"));
    box.appendChild(row);
  }
  if (model && model.world) document.getElementById("speed").placeholder = String(model.world.speed);
}

function drawMembership(lines) {
  const list = document.getElementById("membership");
  clear(list);
  if (!lines.length) list.appendChild(h("li", { class: "small" }, "empty"));
  for (const l of lines.slice().reverse()) {
    const mark = l.kind === "joined" ? "+" : l.kind === "failed" ? "✖" : "−";
    list.appendChild(h("li", { class: l.kind, "data-testid": "member-line", "data-member": l.member, "data-kind": l.kind },
      `${secs(l.t_ms)} #${l.revision} ${mark} ${l.member} ${l.kind}`));
  }
}

function drawDecisions(d) {
  document.getElementById("decision-counts").textContent = `${d.accepted} commands accepted · ${d.claims} claims · ${d.refused} refused`;
  const refusals = document.getElementById("refusals");
  clear(refusals);
  for (const r of d.refusals.slice(-4).reverse()) {
    refusals.appendChild(h("div", { class: "refusal", "data-testid": "refusal", "data-controller": r.controller, "data-token": r.token, "data-role": r.role },
      `✖ REFUSED at ${secs(r.t_ms)}: ${r.controller} #${r.token} on ${r.role} — below the floor #${r.floor} (${r.action})`));
  }
  const recent = document.getElementById("recent");
  clear(recent);
  for (const r of d.recent.slice(-14).reverse()) {
    recent.appendChild(h("li", { class: r.accepted ? "" : "refused" }, `${secs(r.t_ms)} ${r.accepted ? "✔" : "✖"} ${r.role} ${r.controller} #${r.token} ${r.action}`));
  }
}

function drawLesson(lesson) {
  const box = document.getElementById("lesson");
  if (!lesson) return;
  clear(box);
  for (const log of lesson.logs) {
    const bad = log.lost > 0 || log.split_brain_runways.length > 0;
    const col = h("div", { class: "log-col " + (bad ? "bad" : "good"), "data-testid": "lesson-log", "data-title": log.title });
    col.appendChild(h("b", {}, (bad ? "✖ " : "✔ ") + log.title));
    // One mark per append, a row per writer: kept (filled ●), acknowledged then lost (hollow,
    // crossed ⊗), never acknowledged (grey, dashed).
    const marks = h("div", { class: "marks" });
    let writer = -1, row = null;
    for (const mark of log.marks) {
      if (mark.writer !== writer) {
        writer = mark.writer;
        row = h("div", { class: "mark-row" });
        row.appendChild(h("span", { class: "small" }, "w" + writer));
        marks.appendChild(row);
      }
      const text = { kept: "kept", lost: "acknowledged, then LOST", unacknowledged: "not acknowledged" }[mark.fate];
      row.appendChild(h("span", { class: "mark " + mark.fate, "data-testid": "lesson-mark", "data-fate": mark.fate, title: `${mark.id}: ${text}` }));
    }
    col.appendChild(marks);
    const counts = h("div", { "data-testid": "lesson-counts" });
    counts.appendChild(h("span", {}, `${log.written} written · ${log.acknowledged} acknowledged · ${log.present} present · `));
    counts.appendChild(h("b", { class: log.lost ? "bad-text" : "" }, `${log.lost} LOST`));
    col.appendChild(counts);
    // What each reader believes about who is primary; contradicted runways highlighted.
    const beliefs = h("table", { class: "beliefs" });
    const runways = [...new Set(log.beliefs.flatMap((b) => Object.keys(b.primaries)))].sort();
    const head = h("tr");
    head.appendChild(h("th", {}, "reader"));
    for (const r of runways) head.appendChild(h("th", {}, r));
    beliefs.appendChild(head);
    for (const b of log.beliefs) {
      const tr = h("tr", { "data-testid": "reader-belief", "data-reader": b.reader });
      tr.appendChild(h("td", {}, "r" + b.reader));
      for (const r of runways) {
        const split = b.contradicted.includes(r);
        tr.appendChild(h("td", { class: split ? "contradicted" : "", "data-contradicted": split, title: split ? `reader ${b.reader} contradicted another reader about ${r}` : "" },
          (split ? "✖ " : "") + (b.primaries[r] || "—")));
      }
      beliefs.appendChild(tr);
    }
    col.appendChild(beliefs);
    col.appendChild(h("div", { class: log.split_brain_runways.length ? "refusal" : "" },
      log.split_brain_runways.length ? `readers disagree who is primary of ${log.split_brain_runways.join(", ")} (${log.disagreeing_reader_pairs} reader pairs)` : "✔ every reader believes the same primaries"));
    col.appendChild(h("div", { class: "small" }, log.explanation));
    box.appendChild(col);
  }
  for (const s of lesson.skipped) box.appendChild(h("div", { class: "small" }, "skipped: " + s));
}

// ---- cameras ---------------------------------------------------------------------------------
// One card per camera, kept across updates: a frame is fetched (through this server, which
// checks its hash) at most once a second per camera, however often the model arrives.
const FRAME_EVERY_MS = 1000;
const cameraCards = new Map();
function cameraCard(id) {
  let card = cameraCards.get(id);
  if (card) return card;
  const root = h("div", { class: "camera", "data-testid": "camera", "data-camera": id });
  const img = h("img", { "data-testid": "camera-frame", "data-camera": id, alt: `the latest frame of ${id}`, width: 320, height: 180 });
  const problem = h("div", { class: "frame-error", "data-testid": "camera-error", hidden: "" });
  const caption = h("div", { class: "small" });
  const verdict = h("div", { class: "camera-verdict", "data-testid": "camera-verdict" });
  root.append(h("b", {}, id), img, problem, caption, verdict);
  // `loading`: one frame in flight per camera, so that a slow server is never sent a queue of
  // requests for frames that have moved on by the time they are served.
  // `want`: the frame to show next (the newest, or in a replay the one newest then), loaded as
  // soon as the one in flight is done.
  card = { root, img, problem, caption, verdict, src: null, at: 0, loading: false, want: null };
  img.addEventListener("load", () => { card.loading = false; problem.hidden = true; img.hidden = false; pump(card); });
  img.addEventListener("error", async () => {
    // Say why (the server's JSON error), in place of the picture.
    let why = "the frame did not load", gone = false;
    try {
      const response = await fetch(img.src);
      why = response.ok ? "the image could not be decoded" : ((await response.json()).error || `HTTP ${response.status}`);
      gone = response.status === 404 && why.includes("no longer retained");
    } catch (e) { why = "the dashboard's server did not answer: " + e; }
    card.loading = false;
    img.hidden = true;
    problem.hidden = false;
    // A frame the janitor deleted is no fault (a replay asks for old ones): a grey placeholder.
    problem.className = gone ? "frame-gone" : "frame-error";
    problem.dataset.gone = gone;
    problem.textContent = gone ? "⌫ frame no longer retained — " + why : "✖ frame unavailable: " + why;
    pump(card);
  });
  cameraCards.set(id, card);
  return card;
}
function pump(card) {
  const want = card.want;
  if (card.loading || !want || want.src === card.src) return;
  card.src = want.src;
  card.loading = true;
  card.img.src = want.src;
  card.img.title = want.url;
  card.caption.textContent = want.caption;
}
function drawCameras(m) {
  const box = document.getElementById("cameras");
  if (!m.cameras.length) {
    box.className = "cameras empty";
    box.textContent = "no cameras in this run (or none recorded in the coordinator yet)";
    return;
  }
  box.className = "cameras";
  if (box.querySelector(".empty-note") || !box.querySelector(".camera")) clear(box);
  const now = Date.now();
  for (const c of m.cameras) {
    const card = cameraCard(c.id);
    if (!card.root.parentNode) box.appendChild(card.root);
    card.root.dataset.replay = m.replay;
    // Live: the newest frame, at most one a second. Replay: the frame newest then, at once.
    if (c.frame && c.frame.src !== card.src && (m.replay || now - card.at >= FRAME_EVERY_MS)) {
      card.at = now;
      const when = m.replay ? `REPLAY: newest at ${secs(c.frame.t_ms)} · ` : "";
      card.want = { src: c.frame.src, url: c.frame.url,
        caption: `${when}frame #${c.frame.seq} · world ${clock(c.frame.world_time_s)} · ${(c.frame.size / 1024).toFixed(0)} KiB` };
      pump(card);
    } else if (!c.frame) {
      card.want = null;
      card.caption.textContent = m.replay ? "no frame stored yet at this moment" : "no frame stored yet";
    }
    const a = c.analysis, t = c.truth;
    const mark = { agree: "✔", disagree: "✖", warming_up: "⌛", waiting: "…" }[c.agreement];
    clear(card.verdict);
    card.verdict.className = "camera-verdict " + c.agreement;
    card.verdict.dataset.agreement = c.agreement;
    const counts = h("div", { class: "counts" });
    counts.appendChild(h("span", { "data-testid": "analyzer-count" }, m.replay ? "analyzer: its count is drawn live only" :
      a ? `analyzer ${a.analyzer} #${a.token}: ${a.in_view != null ? "≈" + a.in_view : "?"} in view · ${a.counted} counted · ${a.stalled} stalled` : "analyzer: no result yet"));
    counts.appendChild(h("span", { "data-testid": "truth-count" }, t ? `truth (frame #${t.seq}): ${t.in_view} in view · ${t.stalled} stalled` : "truth: not read yet"));
    card.verdict.appendChild(counts);
    card.verdict.appendChild(h("b", {}, `${mark} ${c.agreement.replace("_", " ")}`));
    card.verdict.title = c.text;
  }
}
