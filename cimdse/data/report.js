/* cimdse report: draws the run's figures with plotly from the JSON in #report-data (written by cimdse/report.py).
   Everything is local: no request leaves the page. When done, #report-status holds what was drawn (points, bars,
   lines per figure), the time since the page started loading, and any script error (tests read it). */
(function () {
  "use strict";
  var TIMES = { start: Math.round(performance.now()) };
  var D = JSON.parse(document.getElementById("report-data").textContent);
  TIMES.parsed = Math.round(performance.now());
  var C = D.columns;
  var N = C.trial.length;
  var METRIC = {}, PARAM = {};
  D.metrics.forEach(function (m) { METRIC[m.name] = m; });
  D.params.forEach(function (p) { PARAM[p.name] = p; });
  var OBJ = D.objectives.map(function (o) { return o[0]; });
  var DIR = {};
  D.metrics.forEach(function (m) { DIR[m.name] = m.direction; });
  D.objectives.forEach(function (o) { DIR[o[0]] = o[1]; });
  var FONT = { family: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif', size: 13, color: "#1d2430" };
  // no plotly logo link and no "share to Plotly Cloud" button: nothing in the page may reach a server; WebGL
  // figures at the screen's pixel ratio (plotly's default of 2 costs 4x the pixels on an ordinary screen)
  var CONFIG = { displaylogo: false, showSendToCloud: false, responsive: true, plotGlPixelRatio: Math.min(2, window.devicePixelRatio || 1),
                 toImageButtonOptions: { format: "png", scale: 2 } };
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
                 "#aec7e8", "#ffbb78"];
  var status = { errors: window.__reportErrors || [], figures: {} };
  var state = { x: null, y: null, color: null, logx: false, logy: false, infeasible: true, selected: null };
  var byTrial = new Map();
  for (var t = 0; t < N; t++) byTrial.set(C.trial[t], t);
  var BD = D.breakdown;
  var bdIndex = new Map();
  if (BD) BD.rows.forEach(function (r, j) { bdIndex.set(r, j); });

  // ---------------------------------------------------------------------------------------------- helpers
  function el(id) { return document.getElementById(id); }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; }); }
  function group3(digits) { return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function fmt(v) {
    // 4 significant digits, thousands separators, exponents below 0.001 and from 10^6 (no Intl: 100,000s of calls)
    if (v === null || v === undefined) return "-";
    if (typeof v === "string") return v;
    var a = Math.abs(v);
    if (Number.isInteger(v) && a < 1e9) return (v < 0 ? "-" : "") + group3(String(a));
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3).replace(/\.?0+e/, "e").replace("e+", "e");
    var t = String(Number(v.toPrecision(4)));
    var dot = t.indexOf(".");
    return dot < 0 ? group3(t) : group3(t.slice(0, dot)) + t.slice(dot);
  }
  function unit(m) { return METRIC[m] ? METRIC[m].unit : ""; }
  function label(m) { return unit(m) ? m + " [" + unit(m) + "]" : m; }
  function better(m) { return DIR[m] === "maximize" ? "higher is better" : "lower is better"; }
  function pval(k, i) { var p = PARAM[k]; return p.kind === "cat" ? p.choices[C[k][i]] : C[k][i]; }
  function pfmt(k, i) { var v = pval(k, i); var u = PARAM[k].unit; return typeof v === "string" ? v : fmt(v) + (u ? " " + u : ""); }
  function autoLog(vals) {
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < vals.length; i++) { var v = vals[i]; if (v === null) continue; if (v <= 0) return false; if (v < lo) lo = v; if (v > hi) hi = v; }
    return hi > 0 && hi / lo > 100;
  }
  function distinct(k) { var s = new Set(C[k]); return s.size; }

  // ---------------------------------------------------------------------------------------------- header
  el("title").textContent = "cimdse report: " + D.title;
  var w = D.workload;
  el("subtitle").textContent = w.model + ", batch " + w.batch + ", prompt " + w.prompt_tokens + " tokens, generate " +
    w.generate_tokens + " tokens";
  el("run-table").innerHTML = D.header.map(function (r) { return "<tr><th>" + esc(r[0]) + "</th><td>" + esc(r[1]) + "</td></tr>"; }).join("");
  var notes = [];
  var cnt = D.counts;
  if (cnt.sampled) {
    notes.push("This run has " + fmt(cnt.trials) + " trials; the page holds all " +
      fmt(cnt.shown_front) + " Pareto-front designs and a fixed random sample of the others (" +
      fmt(cnt.shown) + " trials in all, " + fmt(cnt.shown_feasible) +
      " feasible), so that it opens quickly. The staircase and the points drawn are those of the sample; the run's " +
      "front itself is complete. The full table is trials.csv.");
  }
  if (D.breakdown_note) notes.push(D.breakdown_note + ".");
  if (BD && BD.mismatch) {
    notes.push("Re-scoring the designs for their breakdowns gave " + BD.mismatch + " value(s) that differ from trials.csv " +
      "(the cost model changed since the run?); the breakdowns are today's model.");
  }
  el("notes").innerHTML = notes.map(function (n) { return '<p class="note">' + esc(n) + "</p>"; }).join("");

  // ---------------------------------------------------------------------------------------------- hover box
  // written when a point is hovered (not for every point up front: 20,000 labels took a second to build)
  var hoverParams = D.params.filter(function (p) { return distinct(p.name) > 1; }).map(function (p) { return p.name; });
  var hoverMetrics = OBJ.concat(D.hover_metrics.filter(function (m) { return OBJ.indexOf(m) < 0; }));
  var tip = document.createElement("div");
  tip.id = "hover-box";
  document.body.appendChild(tip);
  function hoverHtml(i) {
    var s = "<b>trial " + C.trial[i] + "</b> " + (C.front[i] ? "(Pareto front)" : C.feasible[i] ? "(feasible)" : "(infeasible)");
    if (!C.feasible[i] && C.violation) s += "<br><i>" + esc(D.violations[C.violation[i]]) + "</i>";
    var ms = [state.x, state.y].concat(hoverMetrics.filter(function (m) { return m !== state.x && m !== state.y; }));
    s += '<table><tr><td colspan="2" class="h">metrics</td></tr>';
    ms.forEach(function (m) { s += "<tr><td>" + m + "</td><td>" + fmt(C[m][i]) + " " + esc(unit(m)) + "</td></tr>"; });
    s += '<tr><td colspan="2" class="h">design</td></tr>';
    hoverParams.forEach(function (k) { s += "<tr><td>" + k + "</td><td>" + esc(pfmt(k, i)) + "</td></tr>"; });
    return s + "</table><i>click: breakdown below</i>";
  }
  function showTip(ev) {
    var p = ev.points && ev.points[0];
    if (!p || p.customdata === undefined || p.customdata === null) return;
    tip.innerHTML = hoverHtml(p.customdata);
    tip.style.display = "block";
    var e = ev.event || {}, x = (e.clientX || 0) + 16, y = (e.clientY || 0) + 12;
    var r = tip.getBoundingClientRect();
    if (x + r.width > window.innerWidth - 8) x = Math.max(8, (e.clientX || 0) - r.width - 16);
    if (y + r.height > window.innerHeight - 8) y = Math.max(8, window.innerHeight - r.height - 8);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }

  // ---------------------------------------------------------------------------------------------- scatter
  var metricNames = D.metrics.map(function (m) { return m.name; });
  function fillSelect(id, options, value) {
    el(id).innerHTML = options.map(function (o) {
      return '<option value="' + esc(o[0]) + '"' + (o[0] === value ? " selected" : "") + ">" + esc(o[1]) + "</option>";
    }).join("");
  }
  function defaultAxes() {
    if (OBJ.length >= 2) return [OBJ[0], OBJ[1]];
    return [OBJ[0], OBJ[0] !== "area_mm2" ? "area_mm2" : "energy_per_token_uj"];
  }
  function defaultColor() {
    var vary = D.params.filter(function (p) { return distinct(p.name) > 1; });
    if (vary.some(function (p) { return p.name === "device"; })) return "device";
    var cat = vary.filter(function (p) { return p.kind === "cat"; });
    if (cat.length) return cat[0].name;
    var few = vary.filter(function (p) { return distinct(p.name) <= 10; });
    return few.length ? few[0].name : (vary.length ? vary[0].name : "");
  }
  var axes = defaultAxes();
  state.x = axes[0]; state.y = axes[1]; state.color = defaultColor();
  var metricOptions = metricNames.map(function (m) { return [m, label(m) + (OBJ.indexOf(m) >= 0 ? "  (objective)" : "")]; });
  fillSelect("x-metric", metricOptions, state.x);
  fillSelect("y-metric", metricOptions, state.y);
  fillSelect("color-by", [["", "none"]].concat(D.params.map(function (p) { return [p.name, p.name]; })), state.color);

  function colorGroups(k) {
    // [{name, idx: [...], color}] for a parameter with at most 12 values; null for a continuous colour scale
    if (!k) return [{ name: "feasible", idx: null, color: PALETTE[0] }];
    var p = PARAM[k];
    var values = p.kind === "cat" ? p.choices.map(function (_, j) { return j; }) : Array.from(new Set(C[k])).sort(function (a, b) { return a - b; });
    if (values.length > 12) return null;
    return values.map(function (v, j) {
      return { name: k + " = " + (p.kind === "cat" ? p.choices[v] : fmt(v) + (p.unit ? " " + p.unit : "")), value: v, color: PALETTE[j % PALETTE.length] };
    });
  }
  function front2d(idx, xm, ym) {
    // indices of idx that no other point of idx dominates in (xm, ym), sorted by x ascending
    var sx = DIR[xm] === "maximize" ? -1 : 1, sy = DIR[ym] === "maximize" ? -1 : 1;
    var order = idx.slice().sort(function (a, b) { return sx * (C[xm][a] - C[xm][b]) || sy * (C[ym][a] - C[ym][b]); });
    var out = [], best = Infinity;
    for (var i = 0; i < order.length; i++) { var v = sy * C[ym][order[i]]; if (v < best) { out.push(order[i]); best = v; } }
    return out.sort(function (a, b) { return C[xm][a] - C[xm][b]; });
  }
  function glType(n) { return n > 1500 ? "scattergl" : "scatter"; }
  function pointTrace(idx, name, marker, type, extra) {
    var xs = new Array(idx.length), ys = new Array(idx.length);
    for (var j = 0; j < idx.length; j++) { var i = idx[j]; xs[j] = C[state.x][i]; ys[j] = C[state.y][i]; }
    return Object.assign({ type: type, mode: "markers", name: name, x: xs, y: ys, customdata: idx, marker: marker,
      hoverinfo: "none" }, extra || {});
  }
  var wired = false;
  function drawScatter() {
    var xm = state.x, ym = state.y;
    var infeas = [], feasRest = [], front = [], feasAll = [];
    for (var i = 0; i < N; i++) {
      if (!C.feasible[i]) { infeas.push(i); continue; }
      feasAll.push(i);
      (C.front[i] ? front : feasRest).push(i);
    }
    var traces = [];
    if (state.infeasible && infeas.length) {
      traces.push(pointTrace(infeas, "infeasible (" + fmt(infeas.length) + ")",
        { symbol: "x", size: 6, color: "rgba(120,120,120,0.45)" }, glType(infeas.length)));
    }
    var groups = colorGroups(state.color);
    var frontMarker = { size: 11, line: { color: "#000", width: 1.6 } };
    if (groups) {
      groups.forEach(function (g) {
        var idx = g.idx || feasRest.filter(function (i) { return !state.color || C[state.color][i] === g.value; });
        var nf = g.idx ? feasAll.length : feasAll.filter(function (i) { return C[state.color][i] === g.value; }).length;
        traces.push(pointTrace(idx, g.name + " (" + fmt(nf) + " feasible)",
          { size: 7, color: g.color, opacity: 0.6 }, glType(idx.length), { legendgroup: g.name }));
      });
      var fcol = front.map(function (i) {
        if (!state.color) return PALETTE[0];
        var g = groups.find(function (gg) { return gg.value === C[state.color][i]; });
        return g ? g.color : "#999";
      });
      frontMarker.color = fcol;
    } else {
      var vals = feasAll.map(function (i) { return C[state.color][i]; });
      var lg = autoLog(vals), f = lg ? Math.log10 : function (v) { return v; };
      var lo = Math.min.apply(null, vals.map(f)), hi = Math.max.apply(null, vals.map(f));
      var scale = { colorscale: "Viridis", cmin: lo, cmax: hi };
      traces.push(pointTrace(feasRest, "feasible (" + fmt(feasAll.length) + ")",
        Object.assign({ size: 7, opacity: 0.6, color: feasRest.map(function (i) { return f(C[state.color][i]); }), showscale: true,
          colorbar: { title: { text: (lg ? "log10 " : "") + state.color }, thickness: 14, x: 1.02 } }, scale), glType(feasRest.length)));
      Object.assign(frontMarker, scale, { color: front.map(function (i) { return f(C[state.color][i]); }) });
    }
    var nShownFront = front.length;
    traces.push(pointTrace(front, "Pareto front of the run (" + fmt(D.counts.front) + ")", frontMarker, glType(front.length)));
    var stairs = front2d(feasAll, xm, ym);
    var isObjView = OBJ.length === 2 && ((xm === OBJ[0] && ym === OBJ[1]) || (xm === OBJ[1] && ym === OBJ[0]));
    traces.push({ type: "scatter", mode: "lines", name: isObjView ? "front staircase" : "non-dominated in this view",
      x: stairs.map(function (i) { return C[xm][i]; }), y: stairs.map(function (i) { return C[ym][i]; }),
      line: { shape: DIR[xm] === "maximize" ? "vh" : "hv", color: "#000", width: 1.4, dash: isObjView ? "solid" : "dot" },
      hoverinfo: "skip" });
    var refPlaced = false;
    if (D.baseline && D.baseline.metrics[xm] !== undefined && D.baseline.metrics[ym] !== undefined) {
      refPlaced = true;
      traces.push({ type: "scatter", mode: "markers+text", name: D.baseline.label, x: [D.baseline.metrics[xm]], y: [D.baseline.metrics[ym]],
        text: [D.baseline.label], textposition: baselineRight(xm) ? "top left" : "top right", textfont: { size: 13, color: "#000" }, cliponaxis: false,
        marker: { symbol: "star", size: 22, color: "#ffd700", line: { color: "#000", width: 1.5 } },
        hovertemplate: "<b>" + esc(D.baseline.label) + "</b><br>" + xm + ": %{x} " + unit(xm) + "<br>" + ym + ": %{y} " + unit(ym) + "<extra></extra>" });
    }
    if (state.selected !== null) {
      var s = state.selected;
      traces.push({ type: "scatter", mode: "markers", name: "selected: trial " + C.trial[s], x: [C[xm][s]], y: [C[ym][s]],
        marker: { symbol: "circle-open", size: 22, color: "#d62728", line: { width: 3 } }, hoverinfo: "skip" });
    }
    var all = infeas.concat(feasAll).map(function (i) { return C[xm][i]; });
    var ally = infeas.concat(feasAll).map(function (i) { return C[ym][i]; });
    if (refPlaced) { all.push(D.baseline.metrics[xm]); ally.push(D.baseline.metrics[ym]); }
    var layout = {
      font: FONT, height: 600, margin: { l: 80, r: 20, t: 20, b: 70 }, hovermode: "closest", uirevision: xm + "|" + ym,
      xaxis: { title: { text: label(xm) + " (" + better(xm) + ")" }, type: state.logx ? "log" : "linear", zeroline: false, gridcolor: "#e6e9ee", exponentformat: "power" },
      yaxis: { title: { text: label(ym) + " (" + better(ym) + ")" }, type: state.logy ? "log" : "linear", zeroline: false, gridcolor: "#e6e9ee", exponentformat: "power" },
      legend: { x: 1.02, xanchor: "left", y: 1, font: { size: 13 } },
      plot_bgcolor: "#fff", paper_bgcolor: "#fff"
    };
    if (groups === null) layout.legend = { x: 0, y: 1.02, yanchor: "bottom", orientation: "h" };
    if (state.logx) Object.assign(layout.xaxis, logTicks(all));
    if (state.logy) Object.assign(layout.yaxis, logTicks(ally));
    var gd = el("scatter");
    TIMES.scatter_traces = Math.round(performance.now());
    var done = Plotly.react(gd, traces, layout, CONFIG);
    TIMES.scatter_drawn = Math.round(performance.now());
    if (!wired) {  // once: the handlers stay on the figure across redraws
      wired = true;
      gd.on("plotly_hover", showTip);
      gd.on("plotly_unhover", function () { tip.style.display = "none"; });
      gd.on("plotly_click", function (ev) {
        var p = ev.points && ev.points[0];
        if (p && p.customdata !== undefined && p.customdata !== null) { tip.style.display = "none"; select(p.customdata); }
      });
    }
    var nPts = 0;
    traces.forEach(function (tr) { if (tr.customdata) nPts += tr.x.length; });
    status.figures.scatter = { points: nPts, front_points: nShownFront, infeasible_points: state.infeasible ? infeas.length : 0,
      baseline: refPlaced, traces: traces.length, x: xm, y: ym, staircase: stairs.length,
      selected: state.selected === null ? null : C.trial[state.selected] };
    var cap = (isObjView ? "The line is the run's Pareto front (" : "The dotted line joins the trials no other trial shown beats on both axes (") +
      better(xm).replace(" is better", "") + " " + xm + ", " + better(ym).replace(" is better", "") + " " + ym + "); black-edged points are the run's front for its objectives (" +
      D.objectives.map(function (o) { return o[0] + " " + (o[1] === "minimize" ? "min" : "max"); }).join(", ") + "). Hover a point for its design; click it for its breakdown below." +
      (D.baseline && !refPlaced ? " The GPU baseline has no value for one of these axes." : "");
    el("scatter-caption").textContent = cap;
    return done;
  }
  function logTicks(vals) {
    // plain-number ticks on a log axis: 1, 2, 5 x 10^k under three decades, powers of ten beyond
    var lo = Infinity, hi = -Infinity;
    vals.forEach(function (v) { if (v > 0) { if (v < lo) lo = v; if (v > hi) hi = v; } });
    if (!(hi > lo)) return {};
    var e0 = Math.floor(Math.log10(lo)), e1 = Math.ceil(Math.log10(hi)), steps = e1 - e0 <= 3 ? [1, 2, 5] : [1];
    var tv = [];
    for (var e = e0; e <= e1; e++) steps.forEach(function (m) { var v = m * Math.pow(10, e); if (v >= lo / 1.5 && v <= hi * 1.5) tv.push(v); });
    if (tv.length < 3) return {};
    return { tickvals: tv, ticktext: tv.map(function (v) { return fmt(Number(v.toPrecision(3))); }) };
  }
  function baselineRight(m) {
    // whether the GPU sits right of most designs on axis m (its label then goes to its left, inside the plot)
    var v = D.baseline.metrics[m], below = 0;
    for (var i = 0; i < N; i++) if (C[m][i] < v) below++;
    return below > N / 2;
  }
  function setAxis(which, m) {
    state[which] = m;
    // as pareto.png: every trial drawn (infeasible ones too) and the GPU decide
    var vals = C[m].slice();
    if (D.baseline && D.baseline.metrics[m] !== undefined) vals.push(D.baseline.metrics[m]);
    var lg = autoLog(vals);
    state["log" + which] = lg;
    el("log-" + which).checked = lg;
  }
  setAxis("x", state.x); setAxis("y", state.y);
  el("x-metric").addEventListener("change", function (e) { setAxis("x", e.target.value); drawScatter(); });
  el("y-metric").addEventListener("change", function (e) { setAxis("y", e.target.value); drawScatter(); });
  el("color-by").addEventListener("change", function (e) { state.color = e.target.value; drawScatter(); });
  el("log-x").addEventListener("change", function (e) { state.logx = e.target.checked; drawScatter(); });
  el("log-y").addEventListener("change", function (e) { state.logy = e.target.checked; drawScatter(); });
  el("show-infeasible").addEventListener("change", function (e) { state.infeasible = e.target.checked; drawScatter(); });
  function chooseTrial() {
    var v = Number(el("trial-input").value);
    if (!byTrial.has(v)) {
      el("selected-title").textContent = "Trial " + el("trial-input").value + " is not in this page" +
        (cnt.sampled ? " (the page holds a sample of the run's trials; see trials.csv)" : "");
      return;
    }
    select(byTrial.get(v));
  }
  el("trial-go").addEventListener("click", chooseTrial);
  el("trial-input").addEventListener("keydown", function (e) { if (e.key === "Enter") chooseTrial(); });

  // ---------------------------------------------------------------------------------------------- selected design
  function evalLine(i) {
    var parts = ["cimdse eval --model " + w.model, "--batch " + w.batch, "--prompt-tokens " + w.prompt_tokens,
      "--generate-tokens " + w.generate_tokens, "--weight-bits " + w.weight_bits, "--act-bits " + w.act_bits];
    Object.keys(D.constant).forEach(function (k) { parts.push("--set " + k + "=" + D.constant[k]); });
    D.params.forEach(function (p) { parts.push("--set " + p.name + "=" + pval(p.name, i)); });
    return parts.join(" ") + " --breakdown";
  }
  function metricTable(i) {
    // two tables side by side (half the metrics each), so the breakdown below stays near the scatter
    var base = D.baseline ? D.baseline.metrics : null;
    var head = "<thead><tr><th>metric</th><th>value</th><th>unit</th>" + (base ? '<th title="' + esc(D.baseline.label) + '">GPU</th>' : "") + "</tr></thead>";
    var rows = D.metrics.map(function (m) {
      var cls = OBJ.indexOf(m.name) >= 0 ? ' class="objective"' : "";
      var b = base ? "<td>" + (base[m.name] !== undefined ? fmt(base[m.name]) : "") + "</td>" : "";
      return "<tr" + cls + ' title="' + esc(m.doc) + '"><td>' + m.name + "</td><td>" + fmt(C[m.name][i]) + "</td><td>" + esc(m.unit) + "</td>" + b + "</tr>";
    });
    var half = Math.ceil(rows.length / 2);
    return '<div class="split"><table class="data">' + head + "<tbody>" + rows.slice(0, half).join("") + '</tbody></table><table class="data">' +
      head + "<tbody>" + rows.slice(half).join("") + "</tbody></table></div>";
  }
  function designTable(i) {
    var rows = D.params.map(function (p) {
      return '<tr title="' + esc(p.doc) + '"><td>' + p.name + "</td><td>" + esc(pfmt(p.name, i)) + "</td></tr>";
    });
    Object.keys(D.constant).forEach(function (k) { rows.push("<tr><td>" + k + "</td><td>" + esc(fmt(D.constant[k])) + " (fixed)</td></tr>"); });
    return '<table class="data"><thead><tr><th>design parameter</th><th>value</th></tr></thead><tbody>' + rows.join("") + "</tbody></table>";
  }
  function select(i) {
    state.selected = i;
    var kind = C.front[i] ? '<span class="badge front">Pareto front</span>' : C.feasible[i] ? '<span class="badge feasible">feasible</span>' :
      '<span class="badge infeasible">infeasible: ' + esc(C.violation ? D.violations[C.violation[i]] : "") + "</span>";
    el("selected-title").innerHTML = "Selected design: trial " + C.trial[i] + " " + kind;
    el("trial-input").value = C.trial[i];
    el("design-table").innerHTML = designTable(i);
    el("metric-table").innerHTML = metricTable(i);
    el("eval-line").innerHTML = '<p class="caption">The same design on the command line:</p><code class="cmd">' + esc(evalLine(i)) + "</code>";
    drawScatter();
    return drawBreakdown(i);
  }

  // ---------------------------------------------------------------------------------------------- breakdown
  var PHASES = ["prefill", "decode"];
  var PH_COLOR = { prefill: "#4c78a8", decode: "#f58518" };
  function drawBreakdown(i) {
    var gd = el("breakdown");
    if (i === null) {
      gd.innerHTML = '<p class="note">No feasible design: nothing to break down.</p>';
      status.figures.breakdown = { bars: 0, trial: null };
      return Promise.resolve();
    }
    if (!BD || !bdIndex.has(i)) {
      Plotly.purge(gd);
      gd.innerHTML = '<p class="note">No breakdown in this page for this design (' + esc(D.breakdown_note || "not re-scored") +
        "); the command above prints it.</p>";
      status.figures.breakdown = { bars: 0, trial: C.trial[i] };
      el("breakdown-caption").textContent = "";
      return Promise.resolve();
    }
    var j = bdIndex.get(i);
    var phases = PHASES.filter(function (ph) { return BD.energy[ph]; });
    var blocks = [["energy", "energy by component"], ["operators", "energy by operator"], ["latency", "latency by component"]];
    var traces = [], annotations = [], layout = { font: FONT, height: 1000, showlegend: false, margin: { l: 120, r: 30, t: 50, b: 40 },
      plot_bgcolor: "#fff", paper_bgcolor: "#fff", bargap: 0.25 };
    var rows = blocks.length + 1, gapY = 0.075, h = (1 - gapY * (rows - 1)) / rows;
    var colDom = [[0, 0.43], [0.57, 1]];
    var nAx = 0, nBars = 0;
    function addBars(parts, values, total, unitText, color, r, c, title, log) {
      nAx += 1;
      var xa = "x" + (nAx === 1 ? "" : nAx), ya = "y" + (nAx === 1 ? "" : nAx);
      var top = 1 - r * (h + gapY);
      var names = parts.slice().reverse(), vals = names.map(function (k) { return values[k]; });
      traces.push({ type: "bar", orientation: "h", x: vals, y: names, xaxis: xa, yaxis: ya, marker: { color: color },
        text: vals.map(function (v) { return total > 0 ? fmt(v) + " (" + (100 * v / total).toFixed(v / total < 0.1 ? 1 : 0) + "%)" : fmt(v); }),
        textposition: "outside", cliponaxis: false, hovertemplate: "%{y}: %{x} " + unitText + "<extra></extra>" });
      nBars += vals.length;
      var xmax = Math.max.apply(null, vals.concat([0]));
      layout["xaxis" + (nAx === 1 ? "" : nAx)] = log ? { domain: colDom[c], anchor: ya, title: { text: unitText, standoff: 4 }, gridcolor: "#e6e9ee",
        type: "log", automargin: true } : { domain: colDom[c], anchor: ya, title: { text: unitText, standoff: 4 }, gridcolor: "#e6e9ee",
        range: [0, xmax > 0 ? xmax * 1.32 : 1], zeroline: true, automargin: true };
      layout["yaxis" + (nAx === 1 ? "" : nAx)] = { domain: [top - h, top], anchor: xa, automargin: true, tickfont: { size: 12 } };
      annotations.push({ text: "<b>" + title + "</b>", x: colDom[c][0], xref: "paper", xanchor: "left", y: top + 0.012, yref: "paper",
        yanchor: "bottom", showarrow: false, font: { size: 14 } });
    }
    blocks.forEach(function (b, r) {
      var union = Object.keys(BD[b[0]][phases[0]]).filter(function (k) {
        return phases.some(function (ph) { return BD[b[0]][ph][k][j] > 0; });
      });
      if (!union.length) union = Object.keys(BD[b[0]][phases[0]]);
      phases.forEach(function (ph, c) {
        var vals = {}, tot = 0;
        union.forEach(function (k) { vals[k] = BD[b[0]][ph][k][j]; tot += vals[k]; });
        var u = BD.units[ph][b[0] === "latency" ? "latency" : "energy"];
        addBars(union, vals, tot, u, PH_COLOR[ph], r, c, ph + ": " + b[1] + " (total " + fmt(tot) + " " + u + ")");
      });
    });
    var areaParts = Object.keys(BD.area).filter(function (k) { return BD.area[k][j] > 0; });
    var av = {}, at = 0;
    areaParts.forEach(function (k) { av[k] = BD.area[k][j]; at += av[k]; });
    addBars(areaParts, av, at, "mm²", "#54a24b", blocks.length, 0, "area by component (total " + fmt(at) + " mm²)");
    if (D.baseline) {
      var ratios = ["speedup_vs_gpu", "energy_gain_vs_gpu"].filter(function (m) { return C[m]; });
      if (ratios.length) {
        var rv = {};
        ratios.forEach(function (m) { rv[m] = C[m][i]; });
        addBars(ratios, rv, 0, "x, log scale (above 1: better than the GPU)", "#b279a2", blocks.length, 1, "against " + D.baseline.label, true);
      }
    }
    layout.annotations = annotations;
    var done = Plotly.react(gd, traces, layout, CONFIG);
    status.figures.breakdown = { bars: nBars, trial: C.trial[i], subplots: nAx };
    el("breakdown-caption").textContent = "Re-scored with the cost model (cimdse eval --breakdown). Decode: energy per generated token of one " +
      "sequence and time per decode step; prefill: energy and time of the whole prompt pass (TTFT). The cost model splits latency " +
      "by component only (arrays, digital lanes, KV writes, reload, off-chip, chip links), not by operator. Leakage (static power over the " +
      "pass) is one bar of its own in the operator charts, so that they add up to the same totals.";
    return done;
  }

  // ---------------------------------------------------------------------------------------------- parallel coordinates
  function drawParcoords() {
    var rows = D.parcoords, gd = el("parcoords");
    if (gd.firstElementChild && gd.firstElementChild.tagName === "P") gd.innerHTML = "";  // the placeholder
    if (!rows.length) {
      gd.innerHTML = '<p class="note">No feasible trial.</p>';
      status.figures.parcoords = { lines: 0, dimensions: 0 };
      return Promise.resolve();
    }
    var dims = [];
    function take(k) { return rows.map(function (i) { return C[k][i]; }); }
    function varies(v) { for (var j = 1; j < v.length; j++) if (v[j] !== v[0]) return true; return false; }
    D.params.forEach(function (p) {
      var v = take(p.name);
      if (!varies(v)) return;
      var name = p.name + (p.unit ? " [" + p.unit + "]" : "");
      if (p.kind === "cat" || (p.choices && p.choices.length <= 12)) {
        // categories, and numeric parameters searched over a list: one evenly spaced tick per value
        var text = p.kind === "cat" ? p.choices : p.choices.map(fmt);
        if (p.kind !== "cat") v = v.map(function (x) { return p.choices.indexOf(x); });
        var ticks = text.map(function (_, j) { return j; });
        dims.push({ label: name, values: v, tickvals: ticks, ticktext: text, range: [0, Math.max(text.length - 1, 1)] });
      } else {
        dims.push(logDim(name, v, p.log || autoLog(v)));
      }
    });
    var shownM = OBJ.slice();
    D.constraints.forEach(function (c) { var m = c.split(/\s/)[0]; if (METRIC[m] && shownM.indexOf(m) < 0 && varies(take(m))) shownM.push(m); });
    shownM.forEach(function (m) { var v = take(m); dims.push(logDim(label(m), v, autoLog(v))); });
    var cm = OBJ[0], cv = take(cm), clog = autoLog(cv);
    var line = { color: cv.map(function (v) { return clog ? Math.log10(v) : v; }), colorscale: "Viridis", reversescale: DIR[cm] !== "maximize",
      showscale: true, colorbar: { title: { text: (clog ? "log10 " : "") + cm }, thickness: 14 } };
    var layout = { font: FONT, height: 480, margin: { l: 70, r: 90, t: 100, b: 30 }, paper_bgcolor: "#fff" };
    var done = Plotly.react(gd, [{ type: "parcoords", line: line, dimensions: dims, labelangle: -20, labelside: "top", labelfont: { size: 13 },
      tickfont: { size: 11 }, rangefont: { size: 10 } }], layout, CONFIG);
    status.figures.parcoords = { lines: rows.length, dimensions: dims.length };
    el("parcoords-caption").textContent = fmt(rows.length) + " feasible trials" +
      (rows.length < cnt.feasible ? " (of " + fmt(cnt.feasible) + ": every front design in the page and a fixed random sample of the others)" : "") +
      ", one line each, coloured by " + cm + " (yellow is best). Drag along an axis to keep only the lines inside a range (drag " +
      "several axes to combine); click outside the range to clear it; drag an axis title sideways to reorder. Axes marked log are log10 scales.";
    return done;
  }
  function logDim(name, v, lg) {
    if (!lg) return { label: name, values: v };
    var lv = v.map(function (x) { return Math.log10(x); });
    var lo = Math.floor(Math.min.apply(null, lv)), hi = Math.ceil(Math.max.apply(null, lv));
    var tv = [], tt = [];
    for (var e = lo; e <= hi; e++) { tv.push(e); tt.push(fmt(Math.pow(10, e))); }
    return { label: name + " (log)", values: lv, tickvals: tv, ticktext: tt };
  }

  // ---------------------------------------------------------------------------------------------- history, importance
  function drawHistory() {
    var H = D.history, gd = el("history");
    if (!H.x) { gd.innerHTML = '<p class="note">' + esc(H.note) + "</p>"; status.figures.history = { points: 0 }; return Promise.resolve(); }
    var done = Plotly.react(gd, [{ type: "scatter", mode: "lines", x: H.x, y: H.y, line: { shape: "hv", color: "#1f77b4", width: 2 },
      hovertemplate: "after trial %{x}: %{y:.1f}%<extra></extra>" }],
      { font: FONT, height: 380, margin: { l: 70, r: 20, t: 40, b: 60 }, plot_bgcolor: "#fff", paper_bgcolor: "#fff",
        xaxis: { title: { text: "trial number" + (D.sampler === "exhaustive" ? " (enumeration order)" : "") }, gridcolor: "#e6e9ee" },
        yaxis: { title: { text: "hypervolume [% of final]" }, range: [0, 105], gridcolor: "#e6e9ee" } }, CONFIG);
    status.figures.history = { points: H.x.length };
    el("history-caption").textContent = "Hypervolume of the feasible front over " + H.space.join(", ") + " after each trial, as a share of the final one; " +
      "reference point " + H.reference.join(", ") + " (each objective's worst feasible value pushed out by 10% of its range).";
    return done;
  }
  function drawImportance() {
    var I = D.importance, gd = el("importance");
    if (!I.values) { gd.innerHTML = '<p class="note">' + esc(I.note) + "</p>"; status.figures.importance = { bars: 0 }; return Promise.resolve(); }
    var objs = Object.keys(I.values), params = Object.keys(I.values[objs[0]]);
    params.sort(function (a, b) {
      var sa = 0, sb = 0; objs.forEach(function (o) { sa += I.values[o][a]; sb += I.values[o][b]; }); return sa - sb;
    });
    var traces = objs.map(function (o, j) {
      return { type: "bar", orientation: "h", name: o + " (" + (DIR[o] === "maximize" ? "max" : "min") + ")", y: params, x: params.map(function (p) { return I.values[o][p]; }),
        marker: { color: PALETTE[j % PALETTE.length] }, hovertemplate: "%{y}: %{x:.3f}<extra>" + o + "</extra>" };
    });
    var done = Plotly.react(gd, traces, { font: FONT, height: Math.max(300, 90 + params.length * objs.length * 16), barmode: "group",
      margin: { l: 120, r: 20, t: 40, b: 60 }, plot_bgcolor: "#fff", paper_bgcolor: "#fff", legend: { orientation: "h", x: 0, y: 1.01, yanchor: "bottom" },
      xaxis: { title: { text: "importance (sums to 1 per objective)" }, gridcolor: "#e6e9ee", rangemode: "tozero" },
      yaxis: { automargin: true } }, CONFIG);
    status.figures.importance = { bars: params.length * objs.length };
    el("importance-caption").textContent = "Optuna's PED-ANOVA over " + fmt(I.trials) + " feasible trials: how differently each searched " +
      "parameter is distributed among the best 10% than among all, per objective (docs/PLOTS.md).";
    return done;
  }

  // ---------------------------------------------------------------------------------------------- verified front
  function drawVerify() {
    // sweep --verify: the predicted objectives beside the perplexity and logit SQNR measured on the checkpoint
    var V = D.verify;
    if (!V) return;
    el("verify-section").hidden = false;
    var head = V.columns.map(function (c, j) { return "<th>" + esc(c) + (V.units[j] ? " [" + esc(V.units[j]) + "]" : "") + "</th>"; });
    var body = V.rows.map(function (r) {
      return "<tr>" + r.map(function (v, j) {
        var text = v === null ? "" : (j === 0 ? String(v) : fmt(v));
        return "<td>" + (j === 0 && byTrial.has(v) ? '<a href="#trial=' + v + '" data-trial="' + v + '">' + text + "</a>" : esc(text)) + "</td>";
      }).join("") + "</tr>";
    });
    el("verify-table").innerHTML = '<table class="data"><thead><tr>' + head.join("") + "</tr></thead><tbody>" + body.join("") + "</tbody></table>";
    el("verify-table").querySelectorAll("a[data-trial]").forEach(function (a) {
      a.addEventListener("click", function (ev) { ev.preventDefault(); select(byTrial.get(Number(a.getAttribute("data-trial")))); el("selected").scrollIntoView(); });
    });
    el("verify-caption").textContent = fmt(V.rows.length) + " front designs, each run on " + V.checkpoint + " over " + fmt(V.tokens) +
      " tokens with its predicted noise (cimdse sweep --verify; docs/ACCURACY.md); the checkpoint's own perplexity is " +
      (V.reference_ppl === null ? "unknown" : fmt(V.reference_ppl)) + ". Click a trial number to select it above.";
    status.figures.verify = { rows: V.rows.length };
  }

  // ---------------------------------------------------------------------------------------------- draw everything
  function finish() {
    status.render_ms = Math.round(performance.now());
    status.times_ms = TIMES;
    status.trials_in_page = N;
    status.domPoints = { scatter: el("scatter").querySelectorAll(".scatterlayer .point").length,
      breakdown_bars: el("breakdown").querySelectorAll(".barlayer .point").length,
      parcoords_canvases: el("parcoords").querySelectorAll("canvas").length };
    status.ok = status.errors.length === 0;
    var s = el("report-status");
    s.textContent = JSON.stringify(status);
    s.setAttribute("data-done", "1");
    el("footer").textContent = D.generator + " · " + fmt(N) + " trials in the page · first screen drawn " +
      (TIMES.first_view / 1000).toFixed(2) + " s and every figure " + (status.render_ms / 1000).toFixed(2) +
      " s after the page started loading · nothing is fetched from any server";
  }
  function fail(e) { status.errors.push("script: " + (e && e.stack ? e.stack : e)); }
  function afterPaint(fn) {
    // run fn once the browser has painted what is drawn so far (a frame, then a task)
    requestAnimationFrame(function () { setTimeout(fn, 0); });
  }
  var waits = [];
  try {
    // first the header, the Pareto scatter with the selected design's breakdown, history and importances ...
    // report.html#trial=N opens with trial N selected; #click-trial=N does it through the scatter's click handler
    var hash = /^#(click-)?trial=(\d+)$/.exec(location.hash);
    var start = hash && byTrial.has(Number(hash[2])) ? byTrial.get(Number(hash[2])) : middleFront();
    if (start === null) { waits.push(drawScatter()); waits.push(drawBreakdown(null)); }
    else if (hash && hash[1]) { waits.push(drawScatter()); el("scatter").emit("plotly_click", { points: [{ customdata: start }] }); }
    else { waits.push(select(start)); }
    TIMES.scatter_breakdown = Math.round(performance.now());
    waits.push(drawHistory(), drawImportance());
    drawVerify();
    TIMES.history_importance = Math.round(performance.now());
  } catch (e) { fail(e); }
  // ... then the parallel coordinates, once that is on screen and the figure is scrolled near: WebGL, by far the
  // slowest figure where the browser draws WebGL in software (1-4 s in headless Chromium, milliseconds on a GPU)
  afterPaint(function () {
    TIMES.first_view = Math.round(performance.now());
    document.body.setAttribute("data-first-view", String(TIMES.first_view));
    whenNear(el("parcoords"), function () {
      TIMES.parcoords_start = Math.round(performance.now());
      try { waits.push(drawParcoords()); } catch (e) { fail(e); }
      TIMES.parcoords = Math.round(performance.now());
      Promise.all(waits).then(finish, function (e) { status.errors.push("render: " + e); finish(); });
    });
  });
  function whenNear(node, fn) {
    // fn() now if node is within 400 px of the window, else when scrolling brings it there
    var r = node.getBoundingClientRect();
    if (!("IntersectionObserver" in window) || (r.top < window.innerHeight + 400 && r.bottom > -400)) { fn(); return; }
    var io = new IntersectionObserver(function (entries) {
      if (entries.some(function (e) { return e.isIntersecting; })) { io.disconnect(); fn(); }
    }, { rootMargin: "400px" });
    io.observe(node);
  }
  function middleFront() {
    // the front design in the middle of the front ordered by the first objective: where the breakdown starts
    var m = OBJ[0], f = [];
    for (var i = 0; i < N; i++) if (C.front[i]) f.push(i);
    if (!f.length) return null;
    f.sort(function (a, b) { return C[m][a] - C[m][b] || C.trial[a] - C.trial[b]; });
    return f[Math.floor((f.length - 1) / 2)];
  }
})();
