// forgetful: the live page of a training run (issue "Watch it learn").
// Reads the blocks the trainer embeds in the page (lib/page.h lists them), draws every figure as inline SVG
// sized to its box (so text stays 11-13 px on a phone), and reloads itself while the run is live.
// One run gives the run page; several runs (run0-, run1-, ...) give the compare page.
// No framework, nothing fetched: a file:// page cannot read its sibling files anyway.
(function () {
'use strict';
const $ = (id) => document.getElementById(id);
const fin = Number.isFinite;
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

// ---------------------------------------------------------------------------------------------
// 1. The embedded blocks. Every block's text is HTML-escaped by the writer (& -> &amp;, < -> &lt;)
// so that no end tag or comment opener in the data can end or confuse the block; undo exactly that.

function block(id) {
  const el = $(id);
  return el ? el.textContent.replace(/&(lt|amp);/g, (m, e) => (e === 'lt' ? '<' : '&')) : null;
}
function jsonBlock(id, fallback) {
  const t = block(id);
  if (t === null || !t.trim()) return fallback;
  try { return JSON.parse(t); } catch (e) { console.warn('block ' + id + ': ' + e.message); return fallback; }
}
// The trainer's CSVs: a header row, then plain comma-separated cells (no quoting); an empty cell is
// "not measured" (NaN). Columns are looked up by name, so added or missing columns are fine.
const STRING_COLS = new Set(['stage', 'set', 'layer', 'model']);
function parseCSV(text) {
  const lines = (text || '').split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 1) return { cols: [], rows: [] };
  const cols = lines[0].split(',').map((c) => c.trim());
  const rows = lines.slice(1).map((line) => {
    const cells = line.split(','), row = {};
    cols.forEach((c, i) => {
      const s = (cells[i] || '').trim();
      row[c] = STRING_COLS.has(c) ? s : s === '' ? NaN : Number(s);
    });
    return row;
  });
  return { cols, rows };
}
// Samples as train.c prints them: a line "---- TITLE", the text, a line "----". A "----" line in the
// model's own text ends a sample only when a header or the end of the block follows it.
function parseSamples(text) {
  const lines = (text || '').replace(/\n$/, '').split('\n'), out = [];
  let cur = null;
  lines.forEach((line, i) => {
    const next = lines[i + 1];
    if (cur && line === '----' && (next === undefined || next.startsWith('---- '))) { out.push(cur); cur = null; }
    else if (!cur && line.startsWith('---- ')) cur = { title: line.slice(5), lines: [] };
    else if (cur) cur.lines.push(line);
    else if (line.trim()) { cur = { title: 'sample', lines: [line] }; }
  });
  if (cur) out.push(cur);
  return out.map((s) => ({ title: s.title, text: s.lines.join('\n') }));
}

// ---------------------------------------------------------------------------------------------
// 2. Runs. A probe row's global step g continues after the last pre-training probe step in later
// stages (DPO), as in lib/plot.c, so one step axis holds both stages. Rows of the `final` set (the
// larger probe set measured once at the end of a stage) are not part of the trajectory: they are
// kept apart, per layer, and drawn as stars.

function loadRun(k) {
  const p = 'run' + k + '-', name = block(p + 'name');
  if (name === null) return null;
  const probes = parseCSV(block(p + 'probes')), train = parseCSV(block(p + 'train'));
  const run = { k, name: name.trim() || 'run ' + k, settings: jsonBlock(p + 'settings', {}),
    probes: probes.rows, cols: new Set(probes.cols), train: train.rows,
    dpo: parseCSV(block(p + 'dpo')).rows, baselines: parseCSV(block(p + 'baselines')).rows, ib: parseCSV(block(p + 'ib')).rows,
    samples: parseSamples(block(p + 'samples')) };
  const pre = run.probes.filter((r) => r.stage === 'pretrain');
  run.preEnd = pre.length ? Math.max(...pre.map((r) => r.step)) : 0;
  run.probes.forEach((r, i) => { r.g = r.step + (r.stage === 'pretrain' ? 0 : run.preEnd); r.i = i; });
  run.train.forEach((r) => { r.g = r.step + (r.stage && r.stage !== 'pretrain' ? run.preEnd : 0); });
  run.gmax = Math.max(0, ...run.probes.map((r) => r.g));
  run.byLayer = new Map();
  run.finals = new Map();
  run.probes.forEach((r) => {
    const m = r.set === 'final' ? run.finals : run.byLayer;
    if (!m.has(r.layer)) m.set(r.layer, []);
    m.get(r.layer).push(r);
  });
  run.byLayer.forEach((rows) => rows.sort((a, b) => a.g - b.g));
  run.traj = [].concat(...run.byLayer.values());
  run.L = [...run.byLayer.keys()].filter((l) => l !== 'mean').length; // hidden states, 0..L-1
  run.hasDpo = run.dpo.length > 0 || run.probes.some((r) => r.stage !== 'pretrain');
  return run;
}
const RUNS = [];
for (let k = 0, r; (r = loadRun(k)); k++) RUNS.push(r);
const COMPARE = RUNS.length > 1;
const STATUS = jsonBlock('page-status', {});
const LIVE = STATUS.state === 'live';
const LAYERS = [...new Set(RUNS.flatMap((r) => [...r.byLayer.keys()]))]
  .sort((a, b) => (a === 'mean') - (b === 'mean') || a - b);
const STEPS = [...new Set(RUNS.flatMap((r) => r.traj.map((p) => p.g)))].sort((a, b) => a - b);
const HAS_FINAL = RUNS.some((r) => r.finals.size > 0);
const anyCol = (c) => RUNS.some((r) => r.cols.has(c));
const NS = [1, 2, 3, 4].filter((n) => anyCol('I_in' + n) && anyCol('I_out' + n));
const HAS_NULL = RUNS.some((r) => [...r.cols].some((c) => c.endsWith('_null')));

// ---------------------------------------------------------------------------------------------
// 3. View state, kept in location.hash so that a reload (live refresh) or a shared link keeps it:
// #s=STEP|last&n=1&x=in|ctx&raw=0|1&hide=LAYERS&off=RUNS&play=0|1. "last" follows a live run.

const S = { i: STEPS.length - 1, n: NS[0] || 1, x: 'in', raw: true, hide: new Set(), off: new Set(), play: false };
function readHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  const s = h.get('s');
  if (s !== null && s !== 'last') {
    let i = 0;
    while (i + 1 < STEPS.length && STEPS[i + 1] <= +s) i++;
    S.i = i;
  }
  if (NS.includes(+h.get('n'))) S.n = +h.get('n');
  if (h.get('x') === 'ctx' && anyCol('I_ctx')) S.x = 'ctx';
  S.raw = h.get('raw') !== '0' || !HAS_NULL;
  if (h.get('hide')) S.hide = new Set(h.get('hide').split(','));
  if (h.get('off')) S.off = new Set(h.get('off').split(','));
  S.play = h.get('play') === '1';
}
// at most every 200 ms: Chrome throttles replaceState beyond ~200 calls in 10 s (a slider drag)
let hashTimer = null;
function writeHash() { if (!hashTimer) hashTimer = setTimeout(writeHashNow, 200); }
function writeHashNow() {
  clearTimeout(hashTimer); hashTimer = null;
  const h = new URLSearchParams();
  h.set('s', S.i >= STEPS.length - 1 ? 'last' : String(STEPS[S.i]));
  h.set('n', S.n); h.set('x', S.x); h.set('raw', S.raw ? 1 : 0);
  if (S.hide.size) h.set('hide', [...S.hide].join(','));
  if (S.off.size) h.set('off', [...S.off].join(','));
  if (S.play) h.set('play', 1);
  try { history.replaceState(null, '', '#' + h); } catch (e) { location.hash = h; }
}
const curStep = () => (STEPS.length ? STEPS[clamp(S.i, 0, STEPS.length - 1)] : 0);
const visibleRuns = () => RUNS.filter((r) => !S.off.has(String(r.k)));
// calls f(run, layer, rows) for every shown layer of every shown run, the `mean` row last
function eachSeries(f) {
  visibleRuns().forEach((run) => LAYERS.forEach((l) => {
    if (!S.hide.has(l) && run.byLayer.has(l)) f(run, l, run.byLayer.get(l));
  }));
}

// A probe value as shown: raw, as the SVG figures draw it by default (the permutation null
// over-corrects: README "Reading the logs"), or value - null where that is chosen and the row has one. "opt" is the optimality I_out n / I_in n of the chosen n.
function val(r, c) {
  if (c === 'opt') {
    const a = val(r, 'I_out' + S.n), b = val(r, 'I_in' + S.n);
    return fin(a) && fin(b) && b > 1e-9 ? a / b : S.n === 1 && S.raw ? r.optimality : NaN;
  }
  const v = r[c], nul = r[c + '_null'];
  return !S.raw && fin(nul) ? v - nul : v;
}
const f4 = (v) => (!fin(v) ? '—' : Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(4) : v.toPrecision(3));
function describe(r, c) {
  if (c === 'opt') return 'optimality ' + f4(val(r, c));
  const sd = r[c + '_sd'], nul = r[c + '_null'];
  let s = c.padEnd(7) + ' ' + f4(val(r, c));
  if (fin(sd)) s += ' ± ' + f4(sd);
  if (fin(nul)) s += S.raw ? '  (null ' + f4(nul) + ')' : '  (raw ' + f4(r[c]) + ' − null ' + f4(nul) + ')';
  return s;
}
function stepName(run, g) {
  return g > run.preEnd && run.hasDpo ? 'DPO step ' + (g - run.preEnd) + ' (global ' + g + ')' : 'step ' + g;
}
function layerName(run, l) {
  if (l === 'mean') return 'mean of blocks 1..' + (run.L - 1);
  return 'layer ' + l + (l === '0' ? ' (embeddings)' : +l === run.L - 1 && run.L > 2 ? ' (final, ln_f)' : '');
}
function tipFor(run, r, cols) {
  const set = r.set === 'final' ? '\nfinal probe set' : '', pos = fin(r.positions) ? (set ? ', ' : '\n') + r.positions + ' positions' : '';
  return (COMPARE ? run.name + ' · ' : '') + layerName(run, r.layer) + ' · ' + stepName(run, r.g) + set + pos + '\n' +
    cols.filter((c) => c === 'opt' || r[c] !== undefined).map((c) => describe(r, c)).join('\n');
}

// ---------------------------------------------------------------------------------------------
// 4. Colours (svg_layer_colour in lib/svg.c), markers, scales and axes.

const OKABE = ['#000000', '#E69F00', '#56B4E9', '#009E73', '#0072B2', '#D55E00', '#CC79A7'];
const VIRIDIS = [[68, 1, 84], [65, 68, 135], [42, 120, 142], [34, 168, 132], [122, 209, 81], [210, 200, 30]];
const FAMILY = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000']; // one per run
const SHAPES = ['circle', 'square', 'triangle', 'diamond', 'down'];
const MEAN = '#8a8a8a';
const hex = (rgb) => '#' + rgb.map((v) => Math.round(v).toString(16).padStart(2, '0')).join('').toUpperCase();
const rgbOf = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
const mix = (a, b, t) => hex(rgbOf(a).map((v, i) => v * (1 - t) + rgbOf(b)[i] * t));
function layerColour(l, L) {
  if (L <= 7) return OKABE[l % 7];
  const x = L > 1 ? (l / (L - 1)) * 5 : 0, i = Math.min(4, Math.floor(x)), f = x - i;
  return hex(VIRIDIS[i].map((v, k) => v * (1 - f) + VIRIDIS[i + 1][k] * f));
}
// single run: the trainer's layer colours; compare: the run's colour family, light = shallow
function colour(run, l) {
  if (!COMPARE) return l === 'mean' ? MEAN : layerColour(+l, run.L);
  const base = FAMILY[run.k % FAMILY.length];
  if (l === 'mean') return mix(base, '#000000', 0.35);
  return mix(base, '#FFFFFF', 0.5 * (1 - (run.L > 1 ? +l / (run.L - 1) : 1)));
}
function shapeOf(run, r) {
  if (COMPARE) return SHAPES[run.k % SHAPES.length];
  return r.layer === 'mean' ? 'triangle' : r.stage === 'pretrain' ? 'circle' : 'diamond';
}

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
function el(tag, a, inner) {
  let s = '<' + tag;
  for (const k in a) if (a[k] !== undefined && a[k] !== null) s += ' ' + k + '="' + esc(a[k]) + '"';
  return s + (inner === undefined ? '/>' : '>' + inner + '</' + tag + '>');
}
function marker(shape, x, y, r, a) {
  const P = (pts) => el('path', Object.assign({ d: 'M' + pts.map((q) => q[0].toFixed(1) + ' ' + q[1].toFixed(1)).join(' L') + 'Z' }, a));
  if (shape === 'square') return el('rect', Object.assign({ x: (x - r).toFixed(1), y: (y - r).toFixed(1), width: 2 * r, height: 2 * r }, a));
  if (shape === 'diamond') return P([[x, y - 1.3 * r], [x + 1.3 * r, y], [x, y + 1.3 * r], [x - 1.3 * r, y]]);
  if (shape === 'triangle') return P([[x, y - 1.3 * r], [x + 1.2 * r, y + 0.8 * r], [x - 1.2 * r, y + 0.8 * r]]);
  if (shape === 'down') return P([[x, y + 1.3 * r], [x + 1.2 * r, y - 0.8 * r], [x - 1.2 * r, y - 0.8 * r]]);
  if (shape === 'star') return P([...Array(10).keys()].map((k) => { // five points, as the SVGs' final-set marker
    const a = (Math.PI * k) / 5 - Math.PI / 2, q = k % 2 ? 0.45 * r : 1.15 * r;
    return [x + q * Math.cos(a), y + q * Math.sin(a)];
  }));
  return el('circle', Object.assign({ cx: x.toFixed(1), cy: y.toFixed(1), r }, a));
}
// a "nice" step (1, 2 or 5 x 10^k) for about `target` intervals; ranges snap outwards to it
function niceStep(span, target) {
  const raw = span / target, mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}
function fit(vals, pad, target) {
  let lo = Math.min(...vals.filter(fin)), hi = Math.max(...vals.filter(fin));
  if (!fin(lo)) { lo = 0; hi = 1; }
  if (hi - lo < 1e-12) { const m = Math.abs(lo) > 0 ? 0.1 * Math.abs(lo) : 0.5; lo -= m; hi += m; }
  const d = (hi - lo) * pad, st = niceStep(hi - lo + 2 * d, target);
  return [Math.floor((lo - d) / st + 1e-9) * st, Math.ceil((hi + d) / st - 1e-9) * st, st];
}
const stepRange = (lo, hi, target) => [lo, hi > lo ? hi : lo + 1, Math.max(1, niceStep((hi > lo ? hi : lo + 1) - lo, target))];
function frame(W, H, m, xr, yr) {
  const p = { W, H, x: m.l, y: m.t, w: W - m.l - m.r, h: H - m.t - m.b, x0: xr[0], x1: xr[1], dx: xr[2], y0: yr[0], y1: yr[1], dy: yr[2] };
  p.sx = (v) => p.x + ((v - p.x0) / (p.x1 - p.x0)) * p.w;
  p.sy = (v) => p.y + p.h - ((v - p.y0) / (p.y1 - p.y0)) * p.h;
  p.ix = (px) => p.x0 + ((px - p.x) / p.w) * (p.x1 - p.x0);
  return p;
}
function tick(v, st) {
  if (Math.abs(v) < st * 1e-6) v = 0;
  if (st >= 1 && Math.abs(v) >= 10000 && v % 1000 === 0) return v / 1000 + 'k';
  return v.toFixed(st >= 1 ? 0 : Math.ceil(-Math.log10(st) - 1e-9));
}
// grid, frame, ticks and labels; tiny values (I_pref ~ 1e-4) get scaled ticks and a "x 1e-4" note
function axes(p, xlabel, ylabel, title) {
  let s = '<g class="axes" font-size="11">';
  for (let k = Math.ceil(p.x0 / p.dx - 1e-9); k * p.dx <= p.x1 + p.dx * 1e-6; k++) {
    const x = p.sx(k * p.dx).toFixed(1);
    s += el('line', { x1: x, x2: x, y1: p.y, y2: p.y + p.h, stroke: '#e6e6e6' }) +
      el('line', { x1: x, x2: x, y1: p.y + p.h, y2: p.y + p.h + 4, stroke: '#333' }) +
      el('text', { x, y: p.y + p.h + 15, 'text-anchor': 'middle' }, tick(k * p.dx, p.dx));
  }
  const ymax = Math.max(Math.abs(p.y0), Math.abs(p.y1));
  const yexp = p.dy < 1e-3 && ymax > 0 ? Math.floor(Math.log10(ymax)) : 0, ys = Math.pow(10, -yexp);
  for (let k = Math.ceil(p.y0 / p.dy - 1e-9); k * p.dy <= p.y1 + p.dy * 1e-6; k++) {
    const y = p.sy(k * p.dy).toFixed(1);
    s += el('line', { x1: p.x, x2: p.x + p.w, y1: y, y2: y, stroke: '#e6e6e6' }) +
      el('line', { x1: p.x - 4, x2: p.x, y1: y, y2: y, stroke: '#333' }) +
      el('text', { x: p.x - 6, y: +y + 4, 'text-anchor': 'end' }, tick(k * p.dy * ys, p.dy * ys));
  }
  s += el('rect', { x: p.x, y: p.y, width: p.w, height: p.h, fill: 'none', stroke: '#333' });
  if (xlabel) s += el('text', { x: p.x + p.w / 2, y: p.y + p.h + 30, 'text-anchor': 'middle', 'font-size': 12 }, esc(xlabel));
  if (ylabel) s += el('text', { transform: 'translate(12,' + (p.y + p.h / 2) + ') rotate(-90)', 'text-anchor': 'middle', 'font-size': 12 },
    esc(ylabel + (yexp ? '  (×1e' + yexp + ')' : '')));
  if (title) s += el('text', { x: 2, y: 14, 'font-size': 13, 'font-weight': 'bold' }, esc(title));
  return s + '</g>';
}
// polyline through [x, y] pixel points; a NaN breaks the line
function pathD(pts) {
  let d = '', pen = false;
  pts.forEach(([x, y]) => {
    if (!fin(x) || !fin(y)) { pen = false; return; }
    d += (pen ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1);
    pen = true;
  });
  return d;
}
let clipId = 0;
function clip(p) {
  const id = 'clip' + ++clipId;
  return { open: '<defs><clipPath id="' + id + '">' + el('rect', { x: p.x, y: p.y, width: p.w, height: p.h }) +
    '</clipPath></defs><g clip-path="url(#' + id + ')">', close: '</g>' };
}

// ---------------------------------------------------------------------------------------------
// 5. The information plane: x = I_in n (or I_ctx), y = I_out n, one trajectory per hidden state up
// to the slider's step. Axes span every step, so replaying never rescales them. renderPlane draws
// every point once; updatePlane (each slider move) only shows or hides points and redraws the
// trajectories' paths and the few highlighted markers: re-parsing thousands of SVG elements per
// frame (13 layers x 200 probe steps) is too slow to play.

let PLANE = null;
function renderPlane() {
  const box = $('plane'), W = Math.max(280, box.clientWidth), H = Math.round(clamp(W * 0.8, 300, 500));
  const ctx = S.x === 'ctx', xc = ctx ? 'I_ctx' : 'I_in' + S.n, yc = 'I_out' + S.n;
  const series = [];
  const plotted = (r) => fin(val(r, xc)) && fin(val(r, yc));
  eachSeries((run, l, rows) => {
    const ok = rows.filter(plotted);
    if (ok.length) series.push({ run, l, rows: ok, col: colour(run, l), finals: (run.finals.get(l) || []).filter(plotted) });
  });
  $('plane-title').textContent = ctx ? 'Information plane: context (exact bound)' : 'Information plane';
  PLANE = null;
  if (!series.length) { box.innerHTML = '<p class="empty">no probe rows with ' + esc(xc) + ' and ' + esc(yc) + ' yet</p>'; return; }
  const all = series.flatMap((se) => se.rows.concat(se.finals));
  const p = frame(W, H, { l: 54, r: 16, t: 8, b: 40 }, fit(all.map((r) => val(r, xc)), 0.06, W > 420 ? 6 : 4),
    fit(all.map((r) => val(r, yc)), 0.06, H > 360 ? 6 : 4));
  const corr = S.raw ? '' : ', value − permutation null', gram = S.n === 1 ? 'token' : S.n + '-gram';
  let s = axes(p, (ctx ? 'I(C;Z), C = whole input context' : 'complexity I(X;Z), X = input ' + gram) + corr,
    'expressivity I(Y;Z), Y = next ' + gram + corr);
  const c = clip(p);
  s += c.open;
  // y = x: an exact bound on the context plane (I_out n <= I_ctx), optimality = 1 on the other;
  // its label sits above the line, the side that the context plane's data can never reach
  const a = Math.max(p.x0, p.y0), b = Math.min(p.x1, p.y1);
  if (b > a) {
    const [x1, y1, x2, y2] = [p.sx(a), p.sy(a), p.sx(b), p.sy(b)];
    s += el('line', { class: 'bound', x1, y1, x2, y2, stroke: '#888', 'stroke-width': 1.5, 'stroke-dasharray': '2 3' });
    // the label at the middle of the line's visible part, where the frame cannot cut it off; the
    // key names the line when that part is too short for it
    const label = ctx ? 'exact bound: I(Y;Z) ≤ I(C;Z)' : 'optimality = 1';
    const ang = (Math.atan2(y2 - y1, x2 - x1) * 180) / Math.PI, tx = (x1 + x2) / 2, ty = (y1 + y2) / 2;
    if (Math.hypot(x2 - x1, y2 - y1) > 6 * label.length + 24)
      s += el('text', { x: tx.toFixed(1), y: (ty - 6).toFixed(1), 'font-size': 11, 'text-anchor': 'middle', fill: '#777',
        transform: 'rotate(' + ang.toFixed(1) + ' ' + tx.toFixed(1) + ' ' + ty.toFixed(1) + ')' }, label);
  }
  // --ib-bound: the IB curve of an encoder of the current token alone (a reference, not a bound on
  // hidden states, which see the whole context), in the units of I_in1 and I_out1
  if (!ctx && S.n === 1) visibleRuns().filter((r) => r.ib.length).forEach((run) => {
    s += el('path', { class: 'ib', d: pathD(run.ib.map((q) => [p.sx(q.I_XT), p.sy(q.I_TY)])), fill: 'none',
      stroke: COMPARE ? FAMILY[run.k % FAMILY.length] : '#888', 'stroke-width': 1.5, 'stroke-dasharray': '6 3' });
  });
  series.forEach((se) => {
    const { run, l, col } = se, mean = l === 'mean', data = { 'data-run': run.k, 'data-layer': l };
    se.pts = se.rows.map((r) => [p.sx(val(r, xc)), p.sy(val(r, yc))]);
    // later stages (DPO) come after pre-training in g order; they continue dashed
    se.nPre = se.rows.filter((r) => r.stage === 'pretrain').length;
    s += el('g', Object.assign({ class: 'series', fill: col }, data),
      el('path', Object.assign({ class: 'traj', fill: 'none', stroke: col, 'stroke-width': mean ? 2.6 : 1.6, 'stroke-opacity': 0.75,
        'stroke-linejoin': 'round' }, data)) +
      el('path', { class: 'traj-dpo', fill: 'none', stroke: col, 'stroke-width': 1.6, 'stroke-dasharray': '5 3' }) +
      se.rows.map((r, i) => marker(shapeOf(run, r), se.pts[i][0], se.pts[i][1], mean ? 3 : 2.6, { class: 'pt',
        'data-step': r.g, 'data-row': run.k + ':' + r.i, 'fill-opacity': (0.15 + 0.85 * (run.gmax > 0 ? r.g / run.gmax : 1)).toFixed(2) })).join(''));
  });
  box.innerHTML = el('svg', { id: 'plane-svg', class: 'plane', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H,
    'data-layers': LAYERS.join(','), 'data-cols': [xc, yc, 'opt', 'H'].join(',') }, s + c.close + '<g class="top"></g>');
  const svg = box.firstChild, groups = svg.querySelectorAll('g.series');
  series.forEach((se, k) => {
    se.traj = groups[k].querySelector('.traj'); se.dpo = groups[k].querySelector('.traj-dpo');
    se.nodes = groups[k].querySelectorAll('.pt'); se.shown = se.rows.length;
  });
  PLANE = { p, xc, yc, series, svg, top: svg.lastChild };
}
function updatePlane() {
  if (!PLANE) return;
  const { p, xc, yc } = PLANE, step = curStep();
  let top = ''; // start/end/current markers, drawn over every trajectory
  PLANE.series.forEach((se) => {
    const { run, l, col, rows, pts } = se, mean = l === 'mean', data = { 'data-run': run.k, 'data-layer': l };
    let n = 0;
    while (n < rows.length && rows[n].g <= step) n++;
    for (let i = Math.min(n, se.shown); i < Math.max(n, se.shown); i++) se.nodes[i].setAttribute('display', i < n ? 'inline' : 'none');
    se.shown = n;
    const nPre = Math.min(n, se.nPre), row = (i) => ({ 'data-row': run.k + ':' + rows[i].i });
    se.traj.setAttribute('d', pathD(pts.slice(0, nPre)));
    se.traj.setAttribute('data-points', n);
    se.dpo.setAttribute('d', n > nPre ? pathD(pts.slice(Math.max(0, nPre - 1), n)) : '');
    if (!n) return;
    if (!COMPARE && !mean) {
      top += marker('circle', ...pts[0], 5, Object.assign({ class: 'start', fill: 'white', stroke: col, 'stroke-width': 1.2 }, row(0)));
      if (n > nPre && nPre)
        top += marker('square', ...pts[nPre - 1], 4.5, Object.assign({ class: 'end', fill: col, stroke: 'white' }, row(nPre - 1)));
    }
    const cur = rows[n - 1], [x, y] = pts[n - 1], sx = cur[xc + '_sd'], sy = cur[yc + '_sd'];
    const bar = { class: 'err', stroke: col, 'stroke-width': 1.4 }; // +- sd over reference-point seeds
    if (fin(sx)) top += el('line', Object.assign({ x1: p.sx(val(cur, xc) - sx), x2: p.sx(val(cur, xc) + sx), y1: y, y2: y }, bar));
    if (fin(sy)) top += el('line', Object.assign({ y1: p.sy(val(cur, yc) - sy), y2: p.sy(val(cur, yc) + sy), x1: x, x2: x }, bar));
    top += marker(COMPARE || mean ? shapeOf(run, cur) : 'circle', x, y, 5.5, Object.assign({ class: 'cur', 'data-step': cur.g,
      fill: col, stroke: '#222', 'stroke-width': 1.5 }, data, row(n - 1)));
  });
  PLANE.series.forEach((se) => se.finals.forEach((r) => { // the final probe set, once the slider reaches it
    if (r.g > step) return;
    const x = p.sx(val(r, xc)), y = p.sy(val(r, yc)), sx = r[xc + '_sd'], sy = r[yc + '_sd'];
    const bar = { class: 'err', stroke: se.col, 'stroke-width': 1.4 };
    if (fin(sx)) top += el('line', Object.assign({ x1: p.sx(val(r, xc) - sx), x2: p.sx(val(r, xc) + sx), y1: y, y2: y }, bar));
    if (fin(sy)) top += el('line', Object.assign({ y1: p.sy(val(r, yc) - sy), y2: p.sy(val(r, yc) + sy), x1: x, x2: x }, bar));
    top += marker('star', x, y, 6.5, { class: 'final', 'data-step': r.g, 'data-run': se.run.k, 'data-layer': se.l,
      'data-row': se.run.k + ':' + r.i, fill: se.col, stroke: '#000', 'stroke-width': 1 });
  }));
  PLANE.top.innerHTML = top;
  PLANE.svg.setAttribute('data-step', step);
}

// ---------------------------------------------------------------------------------------------
// 6. Step-axis charts (training curves, probes, DPO). Each chart registers its scale so the
// slider's cursor can move without redrawing, and a click on a chart moves the slider there.

let CURSORS = [];
function chart(o) {
  // o: {title, xlabel, ylabel, x: [lo, hi], y?: fixed range, series: [{pts: [[x, y, sd?]], colour,
  //     width?, dash?, dots?, shape?, tips?: [string], data?, finals?: [[x, y, row]]}], hlines?: [{y, label}],
  //     dpoAt?, off?}
  const W = o.w, H = o.h, vals = [];
  o.series.forEach((se) => {
    se.pts.forEach((q) => {
      vals.push(q[1]);
      if (fin(q[2])) vals.push(q[1] - q[2], q[1] + q[2]);
    });
    (se.finals || []).forEach((q) => vals.push(q[1]));
  });
  (o.hlines || []).forEach((h) => vals.push(h.y));
  const p = frame(W, H, { l: 48, r: 16, t: 22, b: 38 }, stepRange(o.x[0], o.x[1], W > 300 ? 5 : 4), o.y || fit(vals, 0.06, H > 190 ? 5 : 4));
  let s = '';
  if (o.dpoAt !== undefined && o.dpoAt < p.x1) { // the DPO stage as a light band, as lib/plot.c draws it
    const x = p.sx(o.dpoAt);
    s += el('rect', { x, y: p.y, width: p.x + p.w - x, height: p.h, fill: '#f2f2f2' }) +
      el('text', { x: p.x + p.w - 3, y: p.y + 11, 'font-size': 10, fill: '#555', 'text-anchor': 'end' }, 'DPO');
  }
  s += axes(p, o.xlabel, o.ylabel, o.title);
  const c = clip(p);
  s += c.open;
  // labels at the right end above their lines, where the loss has flattened below them; labels of
  // lines closer than a label's height (bigram and trigram are often 2 px apart) stack upwards
  let prev = Infinity;
  (o.hlines || []).slice().sort((u, v) => u.y - v.y).forEach((h) => {
    const y = p.sy(h.y), ty = Math.min(y - 3, prev - 11);
    s += el('line', { class: 'baseline', x1: p.x, x2: p.x + p.w, y1: y, y2: y, stroke: '#777', 'stroke-dasharray': '1 3', 'stroke-width': 1.3 });
    s += el('text', { x: p.x + p.w - 4, y: ty, 'font-size': 10, fill: '#555', 'text-anchor': 'end',
      stroke: 'white', 'stroke-width': 3, 'paint-order': 'stroke' }, esc(h.label));
    prev = ty;
  });
  o.series.forEach((se) => {
    const pts = se.pts.filter((q) => fin(q[0]));
    const band = pts.filter((q) => fin(q[1]) && fin(q[2]));
    if (band.length > 1) // spread over reference-point seeds
      s += el('path', { class: 'sd', fill: se.colour, 'fill-opacity': 0.14, stroke: 'none', d: pathD(band.map((q) => [p.sx(q[0]), p.sy(q[1] + q[2])])
        .concat(band.slice().reverse().map((q) => [p.sx(q[0]), p.sy(q[1] - q[2])]))) + 'Z' });
    s += el('path', Object.assign({ class: 'curve', d: pathD(pts.map((q) => [p.sx(q[0]), p.sy(q[1])])), fill: 'none', stroke: se.colour,
      'stroke-width': se.width || 1.5, 'stroke-dasharray': se.dash, 'stroke-linejoin': 'round' }, se.data || {}));
    if (se.dots && pts.length <= 60)
      pts.forEach((q, i) => { if (fin(q[1])) s += marker(se.shape || 'circle', p.sx(q[0]), p.sy(q[1]), se.shape && se.shape !== 'circle' ? 2.4 : 2,
        se.rows ? { fill: se.colour, 'data-row': se.rows[i], 'data-cols': se.col } : { fill: se.colour, 'data-tip': se.tips && se.tips[i] }); });
    (se.finals || []).forEach((q) => { // the final probe set: a star, apart from the trajectory
      if (fin(q[1])) s += marker('star', p.sx(q[0]), p.sy(q[1]), 5, { class: 'final', fill: se.colour, stroke: '#000', 'stroke-width': 0.8,
        'data-row': q[2], 'data-cols': se.col });
    });
  });
  s += c.close + el('line', { class: 'cursor', x1: 0, x2: 0, y1: p.y, y2: p.y + p.h, stroke: '#333', 'stroke-opacity': 0.5 });
  return { svg: el('svg', { class: 'chart', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H }, s), p, off: o.off || 0 };
}
// Renders the charts o[] into the grid box: one cell each, sized by its cell's width.
function renderGrid(box, charts) {
  box.innerHTML = charts.map(() => '<div></div>').join('');
  [...box.children].forEach((cell, i) => {
    const w = Math.max(220, cell.clientWidth), h = Math.round(clamp(w * 0.62, 170, 215));
    const c = chart(Object.assign({ w, h }, charts[i]));
    cell.innerHTML = c.svg;
    CURSORS.push({ svg: cell.firstChild, line: cell.querySelector('.cursor'), p: c.p, off: c.off });
  });
}
function moveCursors() {
  const g = curStep();
  CURSORS.forEach((c) => {
    const x = c.p.sx(g + c.off), on = STEPS.length && x >= c.p.x - 0.5 && x <= c.p.x + c.p.w + 0.5;
    c.line.setAttribute('x1', x.toFixed(1)); c.line.setAttribute('x2', x.toFixed(1));
    c.line.setAttribute('visibility', on ? 'visible' : 'hidden');
  });
}
// the step axis: every probe and train row, and the run's planned steps while it is live
function xmax() {
  let m = Math.max(1, ...RUNS.map((r) => r.gmax), ...RUNS.flatMap((r) => r.train.map((t) => t.g).filter(fin)));
  // while live, the stage's planned length, so that the axes do not rescale at every reload
  if (LIVE && fin(STATUS.steps)) m = Math.max(m, STATUS.steps + (STATUS.stage === 'dpo' ? RUNS[0].preEnd : 0));
  return m;
}
const runColour = (run, alt) => (COMPARE ? FAMILY[run.k % FAMILY.length] : alt);
function probeSeries(col, stage) {
  const out = [];
  eachSeries((run, l, rows) => {
    const rs = rows.filter((r) => (stage ? r.stage !== 'pretrain' : true));
    if (!rs.some((r) => fin(val(r, col)))) return;
    const fs = (run.finals.get(l) || []).filter((r) => (stage ? r.stage !== 'pretrain' : true));
    out.push({ pts: rs.map((r) => [stage ? r.step : r.g, val(r, col), col === 'opt' ? NaN : r[col + '_sd']]),
      finals: fs.map((r) => [stage ? r.step : r.g, val(r, col), run.k + ':' + r.i]),
      colour: colour(run, l), width: l === 'mean' ? 2.6 : 1.5, dots: true, shape: COMPARE ? SHAPES[run.k % SHAPES.length] : undefined,
      rows: rs.map((r) => run.k + ':' + r.i), col, data: { 'data-run': run.k, 'data-layer': l } });
  });
  return out;
}
function renderCurves() {
  const X = [0, xmax()], dpoAt = RUNS.some((r) => r.hasDpo) ? RUNS.find((r) => r.hasDpo).preEnd : undefined;
  const loss = [], hl = [];
  visibleRuns().forEach((run) => {
    const tag = COMPARE ? run.name + ' ' : '';
    loss.push({ pts: run.train.map((t) => [t.g, t.loss]), colour: runColour(run, '#0072B2'), width: 1.1 });
    const v = run.train.filter((t) => fin(t.val_loss));
    loss.push({ pts: v.map((t) => [t.g, t.val_loss]), colour: runColour(run, '#D55E00'), width: 1.8, dash: '5 3', dots: true,
      tips: v.map((t) => tag + 'step ' + t.step + '\nval loss ' + f4(t.val_loss)) });
    if (!COMPARE || run === visibleRuns()[0])
      run.baselines.forEach((b) => {
        const y = b.val_loss_nats_per_token;
        if (fin(y)) hl.push({ y, label: b.model + ' ' + y.toFixed(2) });
      });
  });
  const cs = [{ title: 'Loss (train —, val - -)', ylabel: 'cross-entropy (nats)', series: loss, hlines: hl }];
  const n = S.n, corr = S.raw ? '' : ' (− null)';
  cs.push({ title: 'Entropy H(Z)', ylabel: 'H / ln n_bins', series: probeSeries('H') });
  cs.push({ title: 'Complexity I_in' + n + corr, ylabel: 'I / ln n_bins', series: probeSeries('I_in' + n) });
  cs.push({ title: 'Expressivity I_out' + n + corr, ylabel: 'I / ln n_bins', series: probeSeries('I_out' + n) });
  cs.push({ title: 'Optimality I_out' + n + ' / I_in' + n, ylabel: 'ratio', series: probeSeries('opt') });
  if (anyCol('I_ctx')) cs.push({ title: 'Context I_ctx' + corr, ylabel: 'I / ln n_bins', series: probeSeries('I_ctx') });
  renderGrid($('curves'), cs.map((o) => Object.assign({ x: X, xlabel: 'step', dpoAt }, o)));
}

// ---------------------------------------------------------------------------------------------
// 7. The DPO stage, against the DPO step: loss, rewards, accuracy, I_pref per layer.

function renderDpo() {
  const runs = visibleRuns().filter((r) => r.hasDpo);
  $('dpo-card').hidden = !runs.length;
  if (!runs.length) { $('dpo').innerHTML = ''; return; }
  const dpoSteps = (r) => r.dpo.map((d) => d.step).concat(r.probes.filter((p) => p.stage !== 'pretrain').map((p) => p.step));
  const X = [0, Math.max(1, ...runs.flatMap(dpoSteps))];
  const S_ = (run, col, c, more) => Object.assign({ pts: run.dpo.map((d) => [d.step, d[col]]), colour: runColour(run, c) }, more || {});
  const loss = [], rew = [], acc = [];
  runs.forEach((run) => {
    loss.push(S_(run, 'loss', '#0072B2'));
    rew.push(S_(run, 'margin', '#000000', { width: 2 }));
    if (!COMPARE) rew.push(S_(run, 'rewards_chosen', '#009E73', { width: 1.2 }), S_(run, 'rewards_rejected', '#CC79A7', { width: 1.2 }));
    acc.push(S_(run, 'accuracy', '#0072B2', { width: 1.1 }));
    const v = run.dpo.filter((d) => fin(d.val_accuracy));
    acc.push({ pts: v.map((d) => [d.step, d.val_accuracy]), colour: runColour(run, '#D55E00'), width: 1.8, dash: '5 3', dots: true,
      tips: v.map((d) => (COMPARE ? run.name + ' ' : '') + 'DPO step ' + d.step + '\nval accuracy ' + f4(d.val_accuracy)) });
  });
  const off = -runs[0].preEnd, cs = [
    { title: 'DPO loss', ylabel: 'loss', series: loss },
    { title: COMPARE ? 'Reward margin' : 'Rewards: margin, chosen, rejected', ylabel: 'reward (nats)', series: rew },
    { title: 'Accuracy (batch —, val - -)', ylabel: 'accuracy', series: acc, y: [0, 1, 0.2] },
    { title: 'I(preference; Z) per layer' + (S.raw ? '' : ' (− null)'), ylabel: 'I_pref / ln n_bins', series: probeSeries('I_pref', 'dpo') }];
  renderGrid($('dpo'), cs.filter((o) => o.series.some((se) => se.pts.some((q) => fin(q[1]))))
    .map((o) => Object.assign({ x: X, xlabel: 'DPO step', off }, o)));
}

// ---------------------------------------------------------------------------------------------
// 8. Legend and key, runs, samples, settings, status.

function renderLegend() {
  let s = '';
  if (COMPARE) RUNS.forEach((run) => {
    const grad = 'linear-gradient(90deg,' + colour(run, '0') + ',' + colour(run, String(run.L - 1)) + ')';
    s += '<button type="button" data-run-toggle="' + run.k + '" class="' + (S.off.has(String(run.k)) ? 'off' : '') + '">' +
      miniMarker(SHAPES[run.k % SHAPES.length], FAMILY[run.k % FAMILY.length]) +
      '<span class="swatch" style="background:' + grad + '"></span>' + esc(run.name) + '</button>';
  });
  LAYERS.forEach((l) => {
    const run = RUNS.find((r) => r.byLayer.has(l));
    const label = l === 'mean' ? 'mean 1..' + (run.L - 1) : l === '0' ? '0 embeddings' : !COMPARE && +l === run.L - 1 ? l + ' ln_f' : l;
    const sw = COMPARE ? '' : '<span class="swatch" style="background:' + colour(run, l) + '"></span>';
    s += '<button type="button" data-layer-toggle="' + esc(l) + '" class="' + (S.hide.has(l) ? 'off' : '') + '">' + sw + esc(label) + '</button>';
  });
  $('legend').innerHTML = s;
  const k = [];
  if (!COMPARE) k.push(miniMarker('circle', 'white', '#333') + ' start', miniMarker('square', '#333') + ' end of pre-training');
  if (RUNS.some((r) => r.hasDpo)) k.push(miniLine('5 3') + (COMPARE ? '' : miniMarker('diamond', '#333')) + ' DPO');
  k.push(miniMarker('circle', '#999', '#222') + ' at the slider’s step', miniLine('2 3', '#888') +
    (S.x === 'ctx' ? ' y = x, the exact bound I(Y;Z) ≤ I(C;Z)' : ' y = x, optimality = 1'));
  if (LAYERS.includes('mean')) k.push(COMPARE ? 'mean of blocks 1..L: darkest, thick' : miniMarker('triangle', MEAN) + ' mean of blocks 1..L');
  if (RUNS.some((r) => r.ib.length)) k.push(miniLine('6 3', '#888') + ' IB curve of a current-token encoder (n = 1)');
  if (HAS_FINAL) k.push(miniMarker('star', '#bbb', '#000') + ' final, larger probe set');
  if (RUNS.some((r) => [...r.cols].some((c) => c.endsWith('_sd')))) k.push('bars/bands ± sd over probe seeds');
  k.push('lighter = earlier');
  $('key').innerHTML = k.map((x) => '<span>' + x + '</span>').join(' · ');
}
function miniMarker(shape, fill, stroke) {
  const m = marker(shape, 6, 6, shape === 'circle' ? 4.5 : 3.6, { fill, stroke: stroke || 'none', 'stroke-width': 1.3 });
  return el('svg', { width: 12, height: 12, viewBox: '0 0 12 12' }, m);
}
const miniLine = (dash, c) => el('svg', { width: 20, height: 12, viewBox: '0 0 20 12' },
  el('line', { x1: 0, x2: 20, y1: 6, y2: 6, stroke: c || '#333', 'stroke-width': 1.6, 'stroke-dasharray': dash }));
const lastFinite = (rows, c) => { for (let i = rows.length - 1; i >= 0; i--) if (fin(rows[i][c])) return rows[i][c]; return NaN; };

function renderRuns() {
  $('runs-card').hidden = !COMPARE;
  $('runs').innerHTML = RUNS.map((run) => {
    const st = run.train.length ? Math.max(...run.train.map((t) => t.step).filter(fin)) : 0;
    const bits = ['val loss ' + f4(lastFinite(run.train, 'val_loss')), st + ' steps', run.L + ' hidden states'];
    if (run.dpo.length) bits.push('DPO val acc ' + f4(lastFinite(run.dpo, 'val_accuracy')));
    return '<li data-run="' + run.k + '">' + miniMarker(SHAPES[run.k % SHAPES.length], FAMILY[run.k % FAMILY.length]) +
      '<b>' + esc(run.name) + '</b><span>' + esc(bits.join(' · ')) + '</span></li>';
  }).join('');
}
// Samples are arbitrary model text: only ever set through textContent.
function renderSamples() {
  const box = $('samples');
  box.textContent = '';
  const add = (parent, s) => {
    const t = document.createElement('div'), pre = document.createElement('pre');
    t.className = 'sample-title'; t.textContent = s.title; pre.textContent = s.text;
    parent.append(t, pre);
  };
  RUNS.forEach((run) => {
    const list = run.samples, host = COMPARE ? document.createElement('details') : box;
    if (COMPARE) { host.open = true; const sm = document.createElement('summary'); sm.textContent = run.name; host.append(sm); box.append(host); }
    if (!list.length) { const p = document.createElement('p'); p.className = 'empty'; p.textContent = 'no samples yet'; host.append(p); return; }
    add(host, list[list.length - 1]);
    if (list.length > 1) {
      const d = document.createElement('details'), sm = document.createElement('summary');
      sm.textContent = 'earlier samples (' + (list.length - 1) + ')';
      d.append(sm);
      list.slice(0, -1).reverse().forEach((s) => add(d, s));
      host.append(d);
    }
  });
}
function flatten(o, pre, out) {
  Object.entries(o || {}).forEach(([k, v]) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) flatten(v, pre + k + '.', out);
    else out[pre + k] = Array.isArray(v) ? JSON.stringify(v) : String(v);
  });
  return out;
}
function renderSettings() {
  const flat = RUNS.map((r) => flatten(r.settings, '', {})), keys = [...new Set(flat.flatMap(Object.keys))];
  if (!keys.length) { $('settings').innerHTML = '<p class="empty">no run.json in the run folder (yet)</p>'; return; }
  if (!COMPARE) {
    const items = keys.map((k) => '<div><dt>' + esc(k) + '</dt><dd>' + esc(flat[0][k]) + '</dd></div>');
    $('settings').innerHTML = '<dl class="kv">' + items.join('') + '</dl>';
    return;
  }
  let s = '<table><tr><th></th>' + RUNS.map((r) => '<th>' + esc(r.name) + '</th>').join('') + '</tr>';
  keys.forEach((k) => {
    const vs = flat.map((f) => (k in f ? f[k] : '—'));
    s += '<tr class="' + (new Set(vs).size > 1 ? 'diff' : '') + '"><td>' + esc(k) + '</td>' +
      vs.map((v) => '<td>' + esc(v) + '</td>').join('') + '</tr>';
  });
  $('settings').innerHTML = s + '</table>';
}
const pad2 = (v) => String(v).padStart(2, '0');
const hms = (d) => pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
function renderStatus() {
  const b = $('status'), up = fin(STATUS.updated_unix) ? new Date(STATUS.updated_unix * 1000) : null;
  const refresh = fin(STATUS.refresh_s) && STATUS.refresh_s > 0 ? STATUS.refresh_s : 10;
  if (LIVE) {
    // no news for much longer than the last gap between updates: the trainer has probably stopped
    // (a crash, a kill) without saying so
    const gap = fin(STATUS.interval_s) ? STATUS.interval_s : 0;
    const stale = up && Date.now() - up.getTime() > Math.max(3 * refresh, 3 * gap, 120) * 1000;
    b.className = 'badge ' + (stale ? 'stale' : 'live');
    b.textContent = (stale ? 'live? no update since ' : 'live — updated ') + (up ? hms(up) : '?');
  } else {
    // finished, interrupted (Ctrl-C), paused (--pause-at) or a compare page's snapshot: no reloads
    b.className = 'badge' + (STATUS.state === 'interrupted' || STATUS.state === 'paused' ? ' stale' : '');
    const day = up ? up.getFullYear() + '-' + pad2(up.getMonth() + 1) + '-' + pad2(up.getDate()) + ' ' + hms(up) : '';
    b.textContent = STATUS.state ? String(STATUS.state) + (day ? ' — ' + day : '') : 'no status';
  }
  const prog = [];
  if (STATUS.stage) prog.push(STATUS.stage === 'pretrain' ? 'pre-training' : STATUS.stage);
  if (fin(STATUS.step)) prog.push('step ' + STATUS.step + (fin(STATUS.steps) ? ' / ' + STATUS.steps : ''));
  $('progress').textContent = prog.join(' ');
  $('title').textContent = '— ' + (COMPARE ? RUNS.length + ' runs: ' + RUNS.map((r) => r.name).join(', ')
    : RUNS.length ? RUNS[0].name : 'no run embedded');
  document.title = (LIVE ? '● ' : '') + (COMPARE ? 'compare' : RUNS.length ? RUNS[0].name : 'forgetful') + ' — forgetful';
  return refresh;
}

// ---------------------------------------------------------------------------------------------
// 9. Interaction: slider, play, options, tooltip, live reload.

function renderOptions() {
  const seg = (label, items, on, key) => (items.length > 1 ? '<span>' + label + '</span>' + items.map(([v, t]) =>
    '<button type="button" data-' + key + '="' + v + '" class="' + (String(on) === String(v) ? 'on' : '') + '">' + t + '</button>').join('') : '');
  $('n-choice').innerHTML = seg('n', NS.map((n) => [n, n]), S.n, 'n');
  $('x-choice').innerHTML = anyCol('I_ctx') ? seg('x', [['in', 'I_in n'], ['ctx', 'I_ctx']], S.x, 'x') : '';
  $('raw-label').hidden = !HAS_NULL;
  $('raw').checked = S.raw;
}
function setIndex(i) {
  S.i = clamp(i, 0, Math.max(0, STEPS.length - 1));
  $('slider').value = S.i;
  const g = curStep(), run = RUNS.find((r) => r.traj.some((p) => p.g === g)) || RUNS[0];
  $('step-label').textContent = !STEPS.length ? 'no probe steps yet' : stepName(run, g) +
    (g > run.preEnd && run.hasDpo ? '' : ' · pre-training') + '  (' + (S.i + 1) + '/' + STEPS.length + ')';
  updatePlane();
  moveCursors();
  writeHash();
}
let timer = null;
function play(on) {
  S.play = on && STEPS.length > 1;
  clearInterval(timer);
  $('play').innerHTML = S.play ? '&#10073;&#10073;' : '&#9654;';
  $('play').setAttribute('aria-label', S.play ? 'pause' : 'play');
  if (S.play) {
    if (S.i >= STEPS.length - 1) setIndex(0);
    // a replay takes about 8 s whatever the number of probe steps
    timer = setInterval(() => (S.i >= STEPS.length - 1 ? play(false) : setIndex(S.i + 1)), clamp(8000 / STEPS.length, 90, 500));
  }
  writeHash();
}
function renderAll() {
  CURSORS = [];
  renderOptions(); renderLegend(); renderPlane(); renderCurves(); renderDpo();
  setIndex(S.i);
}

readHash();
const refresh = renderStatus();
const slider = $('slider');
slider.max = Math.max(0, STEPS.length - 1);
renderRuns(); renderSamples(); renderSettings(); renderAll();
if (S.play) play(true);
try { // back where the reader was before the live reload
  const y = sessionStorage.getItem('forgetful-scroll');
  if (y !== null) { sessionStorage.removeItem('forgetful-scroll'); scrollTo(0, +y); }
} catch (e) { /* storage off (some browsers' file:// pages) */ }

slider.addEventListener('input', () => { if (S.play) play(false); setIndex(+slider.value); });
$('play').addEventListener('click', () => play(!S.play));
$('raw').addEventListener('change', () => { S.raw = $('raw').checked; renderAll(); });
const flip = (set, v) => (set.has(v) ? set.delete(v) : set.add(v));
document.addEventListener('click', (e) => {
  const t = e.target.closest('button');
  if (t && t.dataset.n) { S.n = +t.dataset.n; renderAll(); }
  else if (t && t.dataset.x) { S.x = t.dataset.x; renderAll(); }
  else if (t && t.dataset.layerToggle !== undefined) { flip(S.hide, t.dataset.layerToggle); renderAll(); }
  else if (t && t.dataset.runToggle !== undefined) { flip(S.off, t.dataset.runToggle); renderAll(); }
  const svg = e.target.closest('svg.chart'), c = svg && CURSORS.find((q) => q.svg === svg);
  if (c && STEPS.length) { // a click on a chart moves the slider to the nearest probe step
    const x = e.clientX - svg.getBoundingClientRect().left;
    if (x < c.p.x || x > c.p.x + c.p.w) return;
    const g = c.p.ix(x) - c.off;
    let best = 0;
    STEPS.forEach((st, i) => { if (Math.abs(st - g) < Math.abs(STEPS[best] - g)) best = i; });
    if (S.play) play(false);
    setIndex(best);
  }
});
// keyboard: left/right step when focus is not in a control that uses them itself
document.addEventListener('keydown', (e) => {
  if (e.target.closest('input, button, select, textarea')) return;
  if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') { if (S.play) play(false); setIndex(S.i + (e.key === 'ArrowRight' ? 1 : -1)); }
  else if (e.key === ' ') { e.preventDefault(); play(!S.play); }
});
const tip = $('tip');
function placeTip(e) {
  const r = tip.getBoundingClientRect();
  let x = e.clientX + 14, y = e.clientY + 14;
  if (x + r.width > innerWidth - 4) x = Math.max(4, e.clientX - r.width - 14);
  if (y + r.height > innerHeight - 4) y = Math.max(4, e.clientY - r.height - 14);
  tip.style.left = x + 'px'; tip.style.top = y + 'px';
}
document.addEventListener('pointerover', (e) => {
  const t = e.target.closest && e.target.closest('[data-tip], [data-row]');
  if (!t) return;
  // plane and probe points name their row ("run:index"); the text is made only when shown
  const [k, i] = (t.getAttribute('data-row') || '').split(':'), run = RUNS[+k];
  tip.textContent = run ? tipFor(run, run.probes[+i], t.closest('[data-cols]').getAttribute('data-cols').split(',')) : t.getAttribute('data-tip');
  tip.hidden = false;
  placeTip(e);
});
document.addEventListener('pointermove', (e) => { if (!tip.hidden) placeTip(e); });
document.addEventListener('pointerout', (e) => { if (e.target.closest && e.target.closest('[data-tip], [data-row]')) tip.hidden = true; });
addEventListener('scroll', () => { tip.hidden = true; }, { passive: true });
let resizeTimer = null;
addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(renderAll, 150); });

// Live: reload the whole page every refresh_s seconds (a file:// page cannot fetch the new data).
// The view survives in location.hash, the scroll position in sessionStorage. A drag on the slider
// or an open tooltip postpones the reload a little.
let dragging = false;
slider.addEventListener('pointerdown', () => { dragging = true; });
addEventListener('pointerup', () => { dragging = false; });
if (LIVE) {
  const reload = () => {
    if (dragging || !tip.hidden) return setTimeout(reload, 2000);
    writeHashNow();
    try { sessionStorage.setItem('forgetful-scroll', String(scrollY)); } catch (e) { /* storage off */ }
    location.reload();
  };
  setTimeout(reload, Math.max(1, refresh) * 1000);
}
})();
