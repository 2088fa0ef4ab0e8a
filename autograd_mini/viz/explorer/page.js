// The autograd-mini graph explorer: draws the graph from the JSON in #ag-data, with pan/zoom, search, a detail
// panel, collapsible module boxes, a backward step-through and a training timeline. No libraries. Every string
// from the data goes through textContent or setAttribute, never through HTML parsing.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("ag-data").textContent);
  const NS = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const N = D.nodes, B = D.boxes, BW = D.backward, TL = D.timeline || null;
  const svg = $("view"), world = $("world");
  const BIG = N.length > 600; // big graphs: one line of text per node (the panel has the rest); text is slow
  const collapsed = new Set(B.flatMap((b, j) => (b.collapsed ? [j] : [])));
  const members = B.map(() => []);
  N.forEach((n, i) => n.chain.forEach((b) => members[b].push(i)));
  const consumers = N.map(() => []);
  N.forEach((n, i) => n.ins.forEach((s) => { if (s >= 0 && consumers[s].at(-1) !== i) consumers[s].push(i); }));
  let view = { x: 0, y: 0, k: 1 };
  let bstep = BW.steps.length; // the backward slider; at the end every gradient is shown
  let tstep = TL ? TL.steps.length - 1 : -1;
  let selected = null; // "n<i>" or "b<j>"
  let elems = new Map(); // shown id -> {g, shape, x, y, w, h}
  let frames = new Map(); // open box -> its frame (coloured by the training step)
  let up = new Map(), down = new Map(), edgeEls = [];
  let matches = [], matchAt = -1;

  // ---- small helpers --------------------------------------------------------------------------------------
  function el(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function html(tag, text, parent, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined) return "-";
    if (typeof v === "string") return v;
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : String(+v.toPrecision(4));
  }
  const triple = ([fill, font, edge]) => ({ fill, font, edge });
  function colourOf(g) { // the static picture's scale (viz.SCALE), zero = dead, non-finite = red
    if (g === null || g === undefined) return null;
    if (typeof g === "string") return triple(D.legend.bad);
    if (g === 0) return triple(D.legend.dead);
    for (const [b, fill, edge, font] of D.legend.scale) if (b === null || g < b) return { fill, font, edge };
    return null;
  }
  const rep = (i) => { for (const b of N[i].chain) if (collapsed.has(b)) return "b" + b; return "n" + i; };
  // Two layouts: D.initial while the boxes shut at the start are the ones shut (each laid out at its summary's
  // size), else the fully open one, where a shut box shrinks to its summary, centred where its contents were.
  const startShut = [...collapsed].sort().join();
  let L = null;
  const pickLayout = () => { L = D.initial && [...collapsed].sort().join() === startShut ? D.initial : null; };
  const nodeAt = (i) => (L ? L.pos[i] : [N[i].x, N[i].y]);
  function boxAt(j) {
    if (L || !collapsed.has(j)) return L ? L.bb[j] : B[j].bb;
    const [x0, y0, x1, y1] = B[j].bb, w = Math.min(B[j].size[0], x1 - x0), h = Math.min(B[j].size[1], y1 - y0);
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
  }
  const extent = () => (L ? [L.width, L.height] : [D.width, D.height]);
  const boxShown = (j) => { for (let p = B[j].parent; p >= 0; p = B[p].parent) if (collapsed.has(p)) return false; return true; };

  // ---- drawing ----------------------------------------------------------------------------------------------
  function textLines(g, lines, cx, cy, colour, weightFirst) {
    const top = cy - (lines.length - 1) * 7;
    lines.forEach((s, k) => {
      const t = el("text", { x: cx, y: top + k * 14 + 4, "text-anchor": "middle", fill: colour || "black" }, g);
      if (k === 0 && weightFirst) t.setAttribute("font-weight", "bold");
      t.textContent = s;
    });
  }
  function drawBox(j, layer, titles) {
    const b = B[j], [x0, y0, x1, y1] = boxAt(j);
    const g = el("g", { class: "box " + b.kind, "data-box": j }, layer);
    if (collapsed.has(j)) {
      g.classList.add("collapsed");
      const shape = el("rect", { class: "shape", x: x0, y: y0, width: x1 - x0, height: y1 - y0, rx: 6, fill: b.fill }, g);
      const lines = b.kind === "module" ? b.lines : [b.label].concat(b.lines);
      textLines(g, lines, (x0 + x1) / 2, (y0 + y1) / 2, b.font, true);
      if (b.calls > 1) {
        el("rect", { class: "badge", x: x1 - 34, y: y0 - 9, width: 34, height: 18, rx: 9 }, g);
        el("text", { class: "badge-text", x: x1 - 17, y: y0 + 4, "text-anchor": "middle" }, g).textContent = "\u00d7" + b.calls;
      }
      g.addEventListener("click", (ev) => { if (!dragged) { selected = "b" + j; toggle(j); } ev.stopPropagation(); });
      elems.set("b" + j, { g, shape, x: (x0 + x1) / 2, y: (y0 + y1) / 2, w: x1 - x0, h: y1 - y0 });
    } else {
      frames.set(j, el("rect", { class: "frame", x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, g));
      const what = b.kind === "rollup" ? " (roll up)" : " \u2212";
      const over = el("g", { class: "box " + b.kind, "data-box": j }, titles); // above the edges: none cuts it
      const t = el("text", { class: "title", x: x0 + 6, y: y0 + 12 }, over);
      t.textContent = (b.label.length > 60 ? b.label.slice(0, 59) + "\u2026" : b.label) + what;
      t.style.pointerEvents = "all";
      t.addEventListener("click", (ev) => { if (!dragged) { selected = "b" + j; toggle(j); } ev.stopPropagation(); });
    }
  }
  function drawNode(i, layer) {
    const n = N[i], g = el("g", { class: "node " + n.kind, "data-key": n.key, "data-i": i }, layer);
    if (n.out) g.classList.add("out");
    if (n.source) g.classList.add("source");
    const [x, y] = nodeAt(i), x0 = x - n.w / 2, y0 = y - n.h / 2;
    const shape = n.kind === "input"
      ? el("ellipse", { class: "shape", cx: x, cy: y, rx: n.w / 2 + 4, ry: n.h / 2 + 2 }, g)
      : el("rect", { class: "shape", x: x0, y: y0, width: n.w, height: n.h, rx: n.kind === "op" ? 6 : 0 }, g);
    textLines(g, BIG ? n.lines.slice(0, 1) : n.lines, x, y, n.font, false);
    g.addEventListener("click", (ev) => { if (!dragged) select("n" + i); ev.stopPropagation(); });
    elems.set("n" + i, { g, shape, x, y, w: n.w, h: n.h });
  }
  function edgePath(a, b) { // out of a's far side into b's near side; side to side when b is not beyond a
    const lr = D.rankdir === "LR", u = lr ? "x" : "y", v = lr ? "y" : "x", du = lr ? "w" : "h", dv = lr ? "h" : "w";
    const pt = (p, q) => (lr ? `${p},${q}` : `${q},${p}`); // (along the ranks, across them) -> "x,y"
    const end = a[u] + a[du] / 2, start = b[u] - b[du] / 2;
    if (start >= end - 1) {
      const m = (end + start) / 2;
      return `M${pt(end, a[v])} C${pt(m, a[v])} ${pt(m, b[v])} ${pt(start, b[v])}`;
    }
    const s = b[v] >= a[v] ? 1 : -1, p1 = a[v] + (s * a[dv]) / 2, p2 = b[v] - (s * b[dv]) / 2, m = (p1 + p2) / 2;
    return `M${pt(a[u], p1)} C${pt(a[u], m)} ${pt(b[u], m)} ${pt(b[u], p2)}`;
  }
  function render() {
    pickLayout();
    const [boxes, edges, titles, nodes] = ["boxes", "edges", "titles", "nodes"].map((id) => { const e = $(id); e.replaceChildren(); return e; });
    elems = new Map(); frames = new Map(); up = new Map(); down = new Map(); edgeEls = [];
    hiNodes = new Set(); hiEdges = new Set();
    B.forEach((b, j) => { if (boxShown(j)) drawBox(j, boxes, titles); });
    N.forEach((n, i) => { if (rep(i) === "n" + i) drawNode(i, nodes); });
    const seen = new Set();
    N.forEach((n, i) => {
      const d = rep(i);
      for (const s of n.ins) {
        if (s < 0) continue;
        const r = rep(s), key = r + ">" + d;
        if (r === d || seen.has(key)) continue;
        seen.add(key);
        const p = el("path", { class: "edge", d: edgePath(elems.get(r), elems.get(d)), "marker-end": "url(#arrow)" }, edges);
        p.dataset.src = r; p.dataset.dst = d; p.dataset.from = s;
        edgeEls.push(p);
        (up.get(d) || up.set(d, []).get(d)).push(r);
        (down.get(r) || down.set(r, []).get(r)).push(d);
      }
    });
    for (const [id, e] of elems) {
      e.g.addEventListener("mouseenter", () => hover(id));
      e.g.addEventListener("mouseleave", () => hover(null));
    }
    paint();
    markMatches();
    if (selected && elems.has(selected)) elems.get(selected).g.classList.add("selected");
  }

  // ---- colours: static, backward step, training step --------------------------------------------------------
  function seriesColour(i) { // a node's colour at the selected training step, or null
    if (!TL || tstep < 0) return null;
    const s = TL.node_series[i];
    return s === undefined || s === null ? null : colourOf(TL.params[s].g[tstep]);
  }
  function paint() { // colours (static, or of the selected training step), then the backward step's classes
    for (const [id, e] of elems) {
      const isBox = id[0] === "b", k = +id.slice(1);
      const c = (isBox ? boxSeriesColour(k) : seriesColour(k)) ||
        (isBox ? B[k] : { fill: N[k].fill || N[k].base, font: N[k].font, edge: N[k].edge });
      if (e.fill !== c.fill) {
        e.fill = c.fill;
        e.shape.setAttribute("fill", c.fill);
        for (const t of e.g.querySelectorAll("text:not(.badge-text)")) t.setAttribute("fill", c.font);
      }
      e.edge = c.edge;
    }
    for (const [j, f] of frames) {
      const c = boxSeriesColour(j);
      f.style.stroke = c ? c.edge : ""; f.style.strokeWidth = c ? "3" : "";
    }
    for (const p of edgeEls) {
      p.setAttribute("stroke", elems.get(p.dataset.src).edge || "#495057");
      p.classList.toggle("dead", N[+p.dataset.from].gnorm === 0);
    }
    paintStep();
  }
  function litAt(id) { // the backward step at which this node (or the first member of this box) gets a gradient
    const k = +id.slice(1), at = (i) => (BW.lit[i] === null || BW.lit[i] === undefined ? Infinity : BW.lit[i]);
    return id[0] === "b" ? Math.min(...members[k].map(at)) : at(k);
  }
  function paintStep() {
    const stepping = bstep < BW.steps.length;
    const current = stepping && bstep > 0 ? BW.steps[bstep - 1][0] : -1;
    const currentId = current >= 0 ? rep(current) : null;
    for (const [id, e] of elems) {
      if (e.litAt === undefined) e.litAt = litAt(id);
      e.g.classList.toggle("unlit", stepping && !(e.litAt <= bstep));
      e.g.classList.toggle("current", id === currentId);
    }
    if (selected) showPanel(selected);
  }
  function boxSeriesColour(j) {
    if (!TL || tstep < 0 || TL.box_series[j] === undefined || TL.box_series[j] === null) return null;
    return colourOf(TL.modules[TL.box_series[j]].g[tstep]);
  }

  // ---- hover: ancestors and descendants -------------------------------------------------------------------
  function reach(start, adj) {
    const seen = new Set([start]), stack = [start];
    while (stack.length) for (const m of adj.get(stack.pop()) || []) if (!seen.has(m)) { seen.add(m); stack.push(m); }
    return seen;
  }
  let hiNodes = new Set(), hiEdges = new Set(); // what carries class "hi" now (it only shows while hovering)
  function hover(id) {
    svg.classList.toggle("hovering", id !== null);
    if (id === null) return; // the marks stay: the next hover only changes what differs (big graphs stay quick)
    const a = reach(id, up), d = reach(id, down), nodes = new Set([...a, ...d]), edges = new Set();
    for (const p of edgeEls) {
      const s = p.dataset.src, t = p.dataset.dst;
      if ((a.has(s) && a.has(t)) || (d.has(s) && d.has(t))) edges.add(p);
    }
    for (const m of hiNodes) if (!nodes.has(m) && elems.has(m)) elems.get(m).g.classList.remove("hi");
    for (const m of nodes) if (!hiNodes.has(m)) elems.get(m).g.classList.add("hi");
    for (const p of hiEdges) if (!edges.has(p)) p.classList.remove("hi");
    for (const p of edges) if (!hiEdges.has(p)) p.classList.add("hi");
    hiNodes = nodes; hiEdges = edges;
  }

  // ---- collapse / expand ---------------------------------------------------------------------------------
  function toggle(j) { // the layout may change with it: the box stays where it was on the screen
    const centre = () => { const [x0, y0, x1, y1] = boxAt(j); return [(x0 + x1) / 2, (y0 + y1) / 2]; };
    const [bx, by] = centre();
    if (collapsed.has(j)) collapsed.delete(j); else collapsed.add(j);
    pickLayout();
    const [ax, ay] = centre();
    view.x += (bx - ax) * view.k; view.y += (by - ay) * view.k;
    apply();
    render();
  }

  // ---- the side panel -------------------------------------------------------------------------------------
  function select(id, fromLine) {
    if (selected && elems.has(selected)) elems.get(selected).g.classList.remove("selected");
    selected = id;
    if (elems.has(id)) elems.get(id).g.classList.add("selected");
    showPanel(id);
    if (P) { // its program lines; scrolled to, unless a click on one of them chose it
      const ks = id[0] === "n" ? linesOf[+id.slice(1)] : [];
      selLines = markLines(selLines, ks, "sel", fromLine ? undefined : ks[0]);
    }
  }
  function row(table, k, v, cls) {
    const tr = html("tr", null, table);
    html("td", k, tr);
    html("td", v, tr, cls);
  }
  function histogram(parent, st) {
    if (!st || !st.hist) return;
    const w = 300, h = 44, n = st.hist.length, top = Math.max(...st.hist, 1);
    const s = el("svg", { width: w, height: h + 14, class: "hist" }, parent);
    st.hist.forEach((c, k) => el("rect", { x: (k * w) / n + 1, y: h - (h * c) / top, width: w / n - 2, height: (h * c) / top, fill: "#74add1" }, s));
    el("text", { x: 0, y: h + 12, "font-size": 10 }, s).textContent = fmt(st.min);
    el("text", { x: w, y: h + 12, "font-size": 10, "text-anchor": "end" }, s).textContent = fmt(st.max);
  }
  function stats(panel, title, st) {
    html("h3", title, panel);
    if (!st) { html("p", "none", panel, "hint"); return; }
    const t = html("table", null, panel);
    row(t, "size", String(st.size));
    for (const k of ["min", "max", "mean", "std"]) if (k in st) row(t, k, fmt(st[k]), "stat-" + k);
    if ("nan" in st) row(t, "NaN / inf", `${st.nan} / ${st.inf}`, "stat-bad");
    histogram(panel, st);
  }
  function link(parent, i) {
    const a = html("span", N[i].label === N[i].key ? N[i].key : `${N[i].key}`, parent, "link");
    a.addEventListener("click", () => goTo(i));
    html("span", " ", parent);
  }
  function showPanel(id) {
    const panel = $("panel");
    panel.replaceChildren();
    const k = +id.slice(1);
    if (id[0] === "b") {
      const b = B[k];
      html("h2", b.label, panel, "panel-title");
      const t = html("table", null, panel);
      b.lines.forEach((s) => row(t, "", s));
      if (b.calls > 1) row(t, "calls", String(b.calls));
      row(t, "members", String(members[k].length));
      if (TL && TL.box_series[k] !== undefined && TL.box_series[k] !== null) {
        const m = TL.modules[TL.box_series[k]];
        row(t, `|grad| at step ${TL.steps[tstep]}`, fmt(m.g[tstep]), "t-grad");
        row(t, `|value| at step ${TL.steps[tstep]}`, fmt(m.v[tstep]));
      }
      const btn = html("button", collapsed.has(k) ? "open" : "collapse", panel);
      btn.addEventListener("click", () => toggle(k));
      return;
    }
    const n = N[k];
    html("h2", n.key, panel, "panel-title");
    const t = html("table", null, panel);
    row(t, "kind", n.kind === "op" ? `op ${n.op}` : n.kind);
    if (n.params && n.params.length) row(t, "arguments", n.params.join(" "));
    row(t, "shape", n.shape === undefined ? "-" : n.shape, "shape");
    row(t, "dtype", n.dtype || "-", "dtype");
    if (n.kind === "op") row(t, "made at", n.trace || "not recorded: build the graph inside ag.viz.recording()", "trace");
    if (n.gnorm !== null) row(t, "|grad|", fmt(n.gnorm));
    if (n.source) row(t, "NaN/inf", `source (in its ${n.source})`);
    else if (n.vbad || n.gbad) row(t, "NaN/inf", [n.vbad && `${n.vbad} in value`, n.gbad && `${n.gbad} in grad`].filter(Boolean).join(", "));
    if (P) row(t, "program lines", linesOf[k].length ? spans(linesOf[k]) : "none (not in the program)", "prog-lines");
    if (BW.lit.length) row(t, "backward", BW.lit[k] ? `gets its gradient at step ${BW.lit[k]} of ${BW.steps.length}` : "gets no gradient");
    const ts = TL && TL.node_series[k] !== undefined && TL.node_series[k] !== null ? TL.params[TL.node_series[k]] : null;
    if (ts) {
      row(t, `|grad| at step ${TL.steps[tstep]}`, fmt(ts.g[tstep]), "t-grad");
      row(t, `|value| at step ${TL.steps[tstep]}`, fmt(ts.v[tstep]));
    }
    const ins = html("p", "inputs: ", panel);
    n.ins.forEach((s) => (s >= 0 ? link(ins, s) : html("span", "(cut by max_nodes) ", ins)));
    if (!n.ins.length) html("span", "none (a leaf)", ins);
    const outs = html("p", "used by: ", panel);
    consumers[k].forEach((c) => link(outs, c));
    if (!consumers[k].length) html("span", n.out ? "none (an output)" : "none", outs);
    if (!TL) { stats(panel, "value", n.value); stats(panel, "gradient", n.grad); }
    else if (ts && ts.hist) stats(panel, `gradient at step ${TL.steps[tstep]}`, ts.hist[tstep]); // the step's only
    if (n.explain) { html("h3", "why no gradient", panel); html("pre", n.explain, panel, "explain"); }
  }
  function goTo(i, fromLine) {
    for (const b of N[i].chain) collapsed.delete(b);
    render();
    const e = elems.get("n" + i), r = svg.getBoundingClientRect();
    view.x = r.width / 2 - e.x * view.k; view.y = r.height / 2 - e.y * view.k;
    apply();
    select("n" + i, fromLine);
  }

  // ---- the compiled program beside the graph (ag.viz.explore(step, *args)) ------------------------------------
  const P = D.program || null, code = $("program-code"), rows = [], linesOf = N.map(() => []);
  let selLines = [], stepLines = [];
  if (P) {
    P.code.forEach((parts, k) => {
      const r = html("div", null, code, "line");
      html("span", String(k + 1), r, "ln");
      for (const [text, cls] of parts) html("span", text, r, cls);
      const i = P.node[k];
      if (i >= 0) {
        linesOf[i].push(k);
        r.classList.add("owned");
        r.addEventListener("click", () => goTo(i, true));
      }
      rows.push(r);
    });
    const pane = $("program"), split = $("program-split"), toggle = $("program-toggle");
    pane.hidden = split.hidden = toggle.hidden = false;
    toggle.addEventListener("click", () => { pane.hidden = split.hidden = !pane.hidden; });
    split.addEventListener("mousedown", (ev) => { // drag to resize
      ev.preventDefault();
      const x0 = ev.clientX, w0 = pane.getBoundingClientRect().width;
      const move = (e) => { pane.style.width = Math.max(160, w0 + e.clientX - x0) + "px"; };
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", () => window.removeEventListener("mousemove", move), { once: true });
    });
  }
  function markLines(old, ks, cls, reveal) { // lines ks get class cls instead of lines old; line reveal is scrolled to
    for (const k of old) rows[k].classList.remove(cls);
    for (const k of ks) rows[k].classList.add(cls);
    const r = reveal === undefined ? null : rows[reveal];
    if (r && (r.offsetTop < code.scrollTop || r.offsetTop + r.offsetHeight > code.scrollTop + code.clientHeight)) {
      code.scrollTop = r.offsetTop - code.clientHeight / 3;
    }
    return ks;
  }
  function markStepLines() { // the backward lines of the node the slider is at
    if (!P) return;
    const i = bstep > 0 && bstep < BW.steps.length ? BW.steps[bstep - 1][0] : -1;
    const ks = i >= 0 ? linesOf[i].filter((k) => P.back[k]) : [];
    stepLines = markLines(stepLines, ks, "current", ks[0]);
  }
  function spans(ks) { // [3, 4, 5, 9] -> "4-6, 10" (1-based, as the gutter)
    const out = [];
    ks.forEach((k, j) => { if (j && k === ks[j - 1] + 1) out[out.length - 1][1] = k + 1; else out.push([k + 1, k + 1]); });
    return out.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(", ");
  }

  // ---- search ------------------------------------------------------------------------------------------------
  function markMatches() {
    for (const e of elems.values()) e.g.classList.remove("match");
    for (const i of matches) { const e = elems.get(rep(i)); if (e) e.g.classList.add("match"); }
  }
  $("search").addEventListener("input", (ev) => {
    const q = ev.target.value.trim().toLowerCase();
    matches = q ? N.flatMap((n, i) => ([n.key, n.label, n.op || ""].some((s) => s.toLowerCase().includes(q)) ? [i] : [])) : [];
    matchAt = -1;
    $("search-status").textContent = q ? `${matches.length} match${matches.length === 1 ? "" : "es"}` : "";
    markMatches();
  });
  $("search").addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter" || !matches.length) return;
    matchAt = (matchAt + 1) % matches.length;
    goTo(matches[matchAt]);
    markMatches();
    $("search-status").textContent = `${matchAt + 1} of ${matches.length}`;
  });

  // ---- pan and zoom ------------------------------------------------------------------------------------------
  let dragged = false, drag = null;
  function apply() { world.setAttribute("transform", `translate(${view.x},${view.y}) scale(${view.k})`); }
  function fit() {
    const r = svg.getBoundingClientRect(), m = 20;
    const [w, h] = extent();
    view.k = Math.min((r.width - m) / Math.max(w, 1), (r.height - m) / Math.max(h, 1), 2);
    view.x = (r.width - w * view.k) / 2; view.y = (r.height - h * view.k) / 2;
    apply();
  }
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect(), f = Math.exp(-ev.deltaY * 0.0015);
    const px = ev.clientX - r.left, py = ev.clientY - r.top;
    view.x = px - (px - view.x) * f; view.y = py - (py - view.y) * f; view.k *= f;
    apply();
  }, { passive: false });
  svg.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y }; dragged = false; });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) { dragged = true; svg.classList.add("dragging"); }
    if (dragged) { view.x = drag.vx + dx; view.y = drag.vy + dy; apply(); }
  });
  window.addEventListener("mouseup", () => { drag = null; svg.classList.remove("dragging"); setTimeout(() => { dragged = false; }, 0); });
  $("fit").addEventListener("click", fit);

  // ---- backward step-through ---------------------------------------------------------------------------------
  function backwardText() {
    const S = BW.steps.length;
    if (!S) return BW.why;
    if (bstep === S) return `all ${S} steps done: every node shows its gradient (drag left to replay the engine's order)`;
    if (bstep === 0) return `step 0 of ${S}: before backward, no gradient yet`;
    const [i, op, g, run] = BW.steps[bstep - 1];
    const who = i >= 0 ? N[i].key : `${op} (not shown)`;
    return `step ${bstep} of ${S}: ${who} receives |g| = ${fmt(g)}; leaves' gradient norm so far ${fmt(run)}`;
  }
  const bs = $("bstep");
  bs.max = BW.steps.length; bs.value = bstep; bs.disabled = !BW.steps.length;
  $("backward").hidden = !BW.steps.length && !BW.why;
  function narrate() { // the narration of the current step (ag.explain_backward's text), while stepping
    const pre = $("bstep-narration"), S = BW.steps.length, text = BW.narration && BW.narration[bstep - 1];
    pre.hidden = !S || bstep === 0 || !(text || BW.narration_why);
    pre.textContent = text || BW.narration_why || "";
  }
  bs.addEventListener("input", () => { bstep = +bs.value; $("bstep-text").textContent = backwardText(); narrate(); paintStep(); markStepLines(); });
  $("bstep-text").textContent = backwardText();
  narrate();

  // ---- training timeline -------------------------------------------------------------------------------------
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  function chart(svgEl, title, series, logy, named) {
    svgEl.replaceChildren();
    const r = svgEl.getBoundingClientRect(), W = r.width || 400, H = r.height || 150, L = 48, T = 16, Bm = 18;
    const T_ = TL.steps.length, s0 = TL.steps[0], logx = $("logx").checked;
    const f = (k) => (logx ? Math.log10(1 + TL.steps[k] - s0) : TL.steps[k] - s0); // x: the step, or log(1 + step)
    // the series' names in a column right of the plot, where no line can run under them
    const R = named ? Math.min(W / 3, 14 + 6 * Math.max(...series.map((s) => s.name.length))) : 8;
    const xs = (k) => L + ((W - L - R) * f(k)) / Math.max(f(T_ - 1), 1e-9);
    const vals = series.flatMap((s) => s.y.filter((v) => typeof v === "number" && (!logy || v > 0)));
    let lo = Math.min(...vals), hi = Math.max(...vals);
    if (!vals.length) { lo = 0; hi = 1; }
    const tf = (v) => (logy ? Math.log10(v) : v);
    let a = tf(lo), b = tf(hi);
    if (a === b) { a -= 1; b += 1; }
    const ys = (v) => T + ((H - T - Bm) * (b - tf(v))) / (b - a);
    el("text", { x: L, y: 11, "font-size": 11 }, svgEl).textContent = title;
    el("text", { x: 2, y: T + 8, "font-size": 10 }, svgEl).textContent = fmt(hi);
    el("text", { x: 2, y: H - Bm, "font-size": 10 }, svgEl).textContent = fmt(lo);
    el("line", { x1: L, y1: H - Bm, x2: W - R, y2: H - Bm, stroke: "#adb5bd" }, svgEl);
    series.forEach((s, k) => {
      let d = "", pen = "M";
      s.y.forEach((v, t) => {
        if (typeof v !== "number" || (logy && v <= 0)) {
          pen = "M";
          if (typeof v === "string") el("circle", { cx: xs(t), cy: T, r: 2.5, fill: D.legend.bad[0] }, svgEl);
          return;
        }
        d += `${pen}${xs(t).toFixed(1)},${ys(v).toFixed(1)} `; pen = "L";
      });
      el("path", { d, fill: "none", stroke: s.colour || PALETTE[k % PALETTE.length], "stroke-width": 1.5, class: "series" }, svgEl)
        .appendChild(el("title", {})).textContent = s.name;
      if (named) el("text", { x: W - R + 6, y: T + 10 + 11 * k, "font-size": 10, fill: s.colour || PALETTE[k % PALETTE.length] }, svgEl).textContent = s.name;
    });
    el("line", { class: "cursor", x1: xs(tstep), x2: xs(tstep), y1: T, y2: H - Bm, stroke: "#f03e3e" }, svgEl);
    el("text", { x: L, y: H - 4, "font-size": 10 }, svgEl).textContent = `step ${TL.steps[0]}`;
    el("text", { x: W - R, y: H - 4, "font-size": 10, "text-anchor": "end" }, svgEl).textContent = `step ${TL.steps[T_ - 1]}`;
    svgEl.onclick = (ev) => { // the kept step nearest to the click
      const x = ev.clientX - svgEl.getBoundingClientRect().left;
      let best = 0;
      for (let k = 1; k < T_; k++) if (Math.abs(xs(k) - x) < Math.abs(xs(best) - x)) best = k;
      setStep(best);
    };
  }
  function charts() {
    const layers = TL.modules.length ? TL.modules : TL.params;
    chart($("chart-grad"), `|grad| per ${TL.modules.length ? "layer" : "parameter"} (log scale)`, layers.map((m) => ({ name: m.name, y: m.g })), true, true);
    chart($("chart-loss"), "loss", [{ name: "loss", y: TL.loss, colour: "#212529" }], TL.loss.some((v) => typeof v === "number" && v > 0) && TL.loss.every((v) => typeof v !== "number" || v > 0));
  }
  function setStep(k) {
    tstep = Math.max(0, Math.min(TL.steps.length - 1, k));
    $("tstep").value = tstep;
    const loss = TL.loss[tstep];
    $("tstep-text").textContent = `step ${TL.steps[tstep]} (${tstep + 1} of ${TL.steps.length} kept)` + (loss === null ? "" : `: loss ${fmt(loss)}`);
    paint();
    charts();
  }
  if (TL && TL.steps.length) {
    $("timeline").hidden = false;
    $("logx").checked = !!TL.log_steps;
    $("tstep").max = TL.steps.length - 1;
    $("tstep").addEventListener("input", () => setStep(+$("tstep").value));
    $("logx").addEventListener("change", charts);
  }

  // ---- legend and notes --------------------------------------------------------------------------------------
  const legend = $("legend");
  html("span", "|grad|", legend);
  for (const [b, fill, , font] of D.legend.scale) {
    const s = html("span", b === null ? "more" : "<" + b.toExponential(0).replace("e+", "e"), legend);
    s.style.background = fill; s.style.color = font;
  }
  for (const [text, [fill, font]] of [["0 dead", D.legend.dead], ["NaN/inf", D.legend.bad], ["source", D.legend.source]]) {
    const s = html("span", text, legend); s.style.background = fill; s.style.color = font;
  }
  const notes = $("notes");
  for (const n of D.notes.concat([`layout: ${D.layout}`])) html("div", n, notes);

  const t0 = performance.now();
  pickLayout();
  fit(); // before drawing: measuring the view later would lay out every drawn element
  if (view.k < 0.3) { // too big to read whole: start readable, at its top (its left edge, drawn left to right),
    // centred on the first thing there (fit shows it all)
    const centres = N.flatMap((n, i) => (rep(i) === "n" + i ? [nodeAt(i)] : [])).concat(B.flatMap((b, j) => {
      const [x0, y0, x1, y1] = boxAt(j);
      return collapsed.has(j) && boxShown(j) ? [[(x0 + x1) / 2, (y0 + y1) / 2]] : [];
    }));
    const lr = D.rankdir === "LR", r = svg.getBoundingClientRect(), m = 10;
    const first = centres.reduce((a, c) => (c[lr ? 0 : 1] < a[lr ? 0 : 1] ? c : a), centres[0] || [0, 0]);
    view.k = 0.6;
    view.x = lr ? m : r.width / 2 - first[0] * view.k;
    view.y = lr ? r.height / 2 - first[1] * view.k : m;
    apply();
  }
  render();
  if (TL && TL.steps.length) setStep(tstep);
  document.body.dataset.drawMs = Math.round(performance.now() - t0);
  document.body.dataset.ready = "1";
})();
