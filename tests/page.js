#!/usr/bin/env node
// tests/page.js: the run's page (lib/page.js) in a real browser: Debian's chromium, headless, driven
// through the npm package playwright-core (dev/node_modules; .ci/run installs both). It runs
// ./train on a tiny model, opens the index.html that the run leaves from the file system, and
// checks what a reader sees: every layer's trajectory, the slider and play button, tooltips, the
// charts, the samples (hostile text shown verbatim, never run), no console error, a phone-width
// screen; the same for a run folder in the new probes.csv format (set = trajectory/final, I_in4,
// I_ctx, *_null, *_sd, mean rows), one in the old format, an empty one and the compare page of
// three; and a live run, whose page reloads itself until Ctrl-C stops the run.
//
//   node tests/page.js TRAIN_BIN WORKDIR     (./test_gpt page runs it; screenshots in WORKDIR/shots)
//
// One line per check: "ok   ...", "FAIL ...", or "SKIP ... because ..."; exit status 0 when every
// check passed, 1 when one failed, 77 when the browser or playwright-core is missing (one SKIP line).
'use strict';
const fs = require('fs'), path = require('path'), cp = require('child_process');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const [TRAIN, WORK] = process.argv.slice(2).map((p) => p && path.resolve(p));
if (!TRAIN || !WORK) { console.log('usage: node tests/page.js TRAIN_BIN WORKDIR'); process.exit(2); }
let pw;
try { pw = require(path.join(__dirname, '..', 'dev', 'node_modules', 'playwright-core')); } catch (e) {
  try { pw = require('playwright-core'); } catch (e2) {
    console.log('SKIP page: the browser test because playwright-core is not installed (npm install --prefix dev)');
    process.exit(77);
  }
}
if (!fs.existsSync(CHROMIUM)) {
  console.log('SKIP page: the browser test because there is no chromium at ' + CHROMIUM + ' (apt-get install chromium)');
  process.exit(77);
}
const SHOTS = path.join(WORK, 'shots');
fs.mkdirSync(SHOTS, { recursive: true });
let passed = 0, failed = 0;
function check(ok, what, detail) {
  if (ok) passed++; else failed++;
  console.log((ok ? 'ok   ' : 'FAIL ') + 'page: ' + what + (!ok && detail !== undefined ? '  (' + detail + ')' : ''));
}

// ------------------------------------------------------------------------------------------------
// Run folders: a real tiny run, and fakes derived from it in both probes.csv formats

// A tiny model that trains, probes, samples and runs DPO in a few seconds.
const TINY = ['-L', '2', '-C', '32', '-H', '2', '-T', '16', '-B', '4', '--threads', '1', '--sample-len', '40', '--peak-gflops', '1',
  '--probe-seqs', '8', '--probe-bins', '16', '--dpo-pairs', '40', '--dpo-prompts', '4'];
const ENV = Object.assign({}, process.env, { OMP_WAIT_POLICY: 'passive' });
function train(args) {
  return cp.execFileSync(TRAIN, args, { cwd: WORK, env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
const read = (f) => fs.readFileSync(f, 'utf8');
function csv(text) {
  const lines = text.split('\n').filter((l) => l.trim());
  return { cols: lines[0].split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}
const writeCsv = (f, cols, rows) => fs.writeFileSync(f, [cols].concat(rows).map((r) => r.join(',')).join('\n') + '\n');
const OLD = 'step,stage,layer,H,I_in1,I_in2,I_in3,I_out1,I_out2,I_out3,I_pref,optimality'.split(',');
const fmt = (v) => (Number.isFinite(v) ? String(+v.toPrecision(6)) : '');

// probes.csv rows (objects) in the new format, made up from the old columns: n = 4 extrapolated,
// I_ctx above every I_out n, nulls and sds, a `mean` row per step, and a `final` copy of the last
// probe step of each stage. The numbers mean nothing; the format is the new one.
function toNew(old) {
  const num = (r, c) => (r[c] === '' ? NaN : +r[c]);
  const rows = old.map((r) => {
    const o = Object.assign({}, r, { set: 'trajectory', positions: '832' }), v = {};
    for (const c of OLD.slice(3)) v[c] = num(r, c);
    v.I_in4 = v.I_in3 + 0.45 * (v.I_in3 - v.I_in2);
    v.I_out4 = v.I_out3 + 0.45 * (v.I_out3 - v.I_out2);
    v.I_ctx = Math.min(v.H, Math.max(v.I_in4, v.I_out4) + 0.04);
    for (let n = 1; n <= 4; n++) { v['I_in' + n + '_null'] = 0.002 * n * n; v['I_out' + n + '_null'] = 0.0015 * n * n; }
    v.I_ctx_null = 0.09;
    v.I_pref_null = Number.isFinite(v.I_pref) ? 2e-5 : NaN;
    for (const c of Object.keys(v)) if (c.startsWith('I_') && !c.endsWith('_null')) v[c + '_sd'] = Math.abs(v[c]) * 0.008;
    for (const c of Object.keys(v)) o[c] = fmt(v[c]);
    return o;
  });
  const out = [], key = (r) => r.stage + ':' + r.step;
  const lastOf = {};
  rows.forEach((r) => { lastOf[r.stage] = r.step; });
  for (let i = 0; i < rows.length;) {
    let j = i;
    while (j < rows.length && key(rows[j]) === key(rows[i])) j++;
    const group = rows.slice(i, j), blocks = group.filter((r) => r.layer !== '0');
    const mean = Object.assign({}, group[0], { layer: 'mean' });
    for (const c of Object.keys(mean)) if (/^(H|I_|optimality)/.test(c)) {
      const xs = blocks.map((r) => r[c]).filter((s) => s !== '').map(Number);
      mean[c] = xs.length ? fmt(xs.reduce((a, b) => a + b, 0) / xs.length) : '';
    }
    out.push(...group, mean);
    if (group[0].step === lastOf[group[0].stage]) // the final, larger probe set at the stage's end
      out.push(...group.concat([mean]).map((r) => Object.assign({}, r, { set: 'final', positions: '3328',
        I_in1: fmt(+r.I_in1 * 0.97), I_out1: fmt(+r.I_out1 * 1.02) })));
    i = j;
  }
  return out;
}
const objects = (t) => t.rows.map((r) => Object.fromEntries(t.cols.map((c, i) => [c, r[i] || ''])));
const HOSTILE = '---- sample at step 400\nThe cat said "</script><script>window.__pwned = 1</script>" and left.\n' +
  '<!-- <script> a comment that opens a script </script> -->\nTom & Uma wrote &lt;b&gt; and \\x1b[31m; ünïcödé ✓\n----\n' +
  '---- final sample\n----\nthe model wrote a line of four dashes above </SCRIPT >\n----\n';

// The fakes beside the real run A: F in the new format (run.json, hostile samples), O in the old
// one (whichever format A has), E just started (baselines and a train.csv header).
function makeFolders(A) {
  const probes = objects(csv(read(path.join(A, 'probes.csv'))));
  const isNew = probes.length && 'set' in probes[0];
  const F = path.join(WORK, 'F'), O = path.join(WORK, 'O'), E = path.join(WORK, 'E');
  for (const d of [F, O, E]) fs.mkdirSync(d, { recursive: true });
  for (const f of ['train.csv', 'dpo.csv', 'baselines.csv']) for (const d of [F, O]) fs.copyFileSync(path.join(A, f), path.join(d, f));
  const nrows = isNew ? probes : toNew(probes.filter((r) => r.layer !== 'mean'));
  const ncols = Object.keys(nrows[0]);
  writeCsv(path.join(F, 'probes.csv'), ncols, nrows.map((r) => ncols.map((c) => r[c])));
  const orows = probes.filter((r) => r.layer !== 'mean' && r.set !== 'final');
  writeCsv(path.join(O, 'probes.csv'), OLD, orows.map((r) => OLD.map((c) => r[c] || '')));
  // F's losses a little lower, so the compare page's curves differ
  const t = csv(read(path.join(A, 'train.csv')));
  writeCsv(path.join(F, 'train.csv'), t.cols, t.rows.map((r) => r.map((v, i) => (i === 2 || i === 3) && v ? fmt(v * 0.97) : v)));
  writeCsv(path.join(F, 'ib_bound.csv'), ['I_XT', 'I_TY', 'beta'], [[0, 0, 0], [0.2, 0.15, 2], [0.5, 0.3, 10]]);
  fs.writeFileSync(path.join(F, 'run.json'), JSON.stringify({ model: 'tiny', L: 2, C: 32, steps: 40, seed: 7,
    probe_seqs: 8, build: { cc: 'gcc', flavor: 'cpu' }, note: '</script><b>not bold</b> & more' }));
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  fs.writeFileSync(path.join(F, 'index.html'), '<script type="text/plain" id="run0-samples">' + esc(HOSTILE) + '</script>\n');
  fs.copyFileSync(path.join(A, 'baselines.csv'), path.join(E, 'baselines.csv'));
  fs.writeFileSync(path.join(E, 'train.csv'), t.cols.join(',') + '\n');
  return { F, O, E, newRows: nrows, oldRows: orows.map((r) => Object.fromEntries(OLD.map((c) => [c, r[c] || '']))) };
}

// ------------------------------------------------------------------------------------------------
// The browser

// The embedded blocks of a page, read from the file the way the page reads them.
function blocks(file) {
  const html = read(file), out = {};
  const re = /<script type="[^"]+" id="([^"]+)">([\s\S]*?)<\/script>/g;
  for (let m; (m = re.exec(html));) out[m[1]] = m[2].replace(/&(lt|amp);/g, (x, e) => (e === 'lt' ? '<' : '&'));
  return out;
}
async function open(ctx, file, w, h) {
  const page = await ctx.newPage(), errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
  page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
  page.on('request', (r) => { if (!/^(file|data):/.test(r.url())) errors.push('request: ' + r.url()); });
  await page.setViewportSize({ width: w, height: h });
  await page.goto('file://' + file);
  await page.waitForSelector('#plane-svg, #plane .empty');
  return { page, errors };
}
const count = (page, sel) => page.$$eval(sel, (e) => e.length);
// points up to the slider's step (the later ones stay in the DOM with display="none")
const shown = (page, sel) => page.$$eval(sel, (e) => e.filter((x) => x.getAttribute('display') !== 'none').length);
const setSlider = (page, i) => page.$eval('#slider', (s, v) => { s.value = v; s.dispatchEvent(new Event('input', { bubbles: true })); }, i);
const finite = (s) => s !== '' && s !== undefined && Number.isFinite(+s);

// The checks of one run's page; rows: its probes.csv rows (objects).
async function runPage(ctx, file, label, rows, o) {
  const { page, errors } = await open(ctx, file, 1280, 800);
  const b = blocks(file), traj = rows.filter((r) => r.set !== 'final'), finals = rows.filter((r) => r.set === 'final');
  const layers = [...new Set(traj.map((r) => r.layer))];
  let bad = [];
  for (const l of layers) {
    const n = traj.filter((r) => r.layer === l && finite(r.I_in1) && finite(r.I_out1)).length;
    const paths = await count(page, `#plane-svg path.traj[data-layer="${l}"]`);
    const pts = await shown(page, `#plane-svg g[data-layer="${l}"] .pt`);
    if (paths !== 1 || pts !== n || n < 2) bad.push(`layer ${l}: ${paths} paths, ${pts} of ${n} points`);
  }
  check(!bad.length && layers.length >= 3, `${label}: every layer (${layers.join(' ')}) has a trajectory through each of its probe steps`, bad.join('; '));
  const max = +(await page.$eval('#slider', (s) => s.max));
  const stars = await count(page, '#plane-svg .final');
  const want = finals.filter((r) => finite(r.I_in1) && finite(r.I_out1)).length;
  // the slider's steps: a later stage's probe step continues after pre-training's last one
  const preEnd = Math.max(...traj.filter((r) => r.stage === 'pretrain').map((r) => +r.step));
  const steps = new Set(traj.map((r) => +r.step + (r.stage === 'pretrain' ? 0 : preEnd))).size;
  if (o.final) check(want > 0 && stars === want && max === steps - 1,
    `${label}: the final probe set is ${want} stars, apart from the slider's ${max + 1} trajectory steps`, `stars ${stars}, max ${max}`);
  else check(stars === 0, `${label}: no final set, no stars`, stars);
  // the slider changes what the plane shows
  const look = async () => ({ pts: await shown(page, '#plane-svg .pt'), d: await page.$eval('#plane-svg path.traj', (p) => p.getAttribute('d')),
    stars: await count(page, '#plane-svg .final') });
  const atMax = await look();
  await setSlider(page, 0);
  const at0 = await look();
  check(at0.pts === layers.length && at0.stars === 0, `${label}: at the slider's first step one point per layer and no star`, JSON.stringify(at0));
  check(max > 0 && atMax.pts > at0.pts && atMax.d !== at0.d, `${label}: moving the slider changes the plane (${at0.pts} -> ${atMax.pts} points)`);
  await setSlider(page, Math.floor(max / 2));
  const mid = await page.$eval('#plane-svg', (s) => +s.dataset.step);
  check(mid > 0 && (await page.$eval('#step-label', (e) => e.textContent)).includes(String(mid)), `${label}: the plane and the label follow the slider (step ${mid})`);
  await page.waitForTimeout(300); // the view goes to location.hash at most every 200 ms
  const hash = await page.evaluate(() => location.hash);
  check(hash.includes('s=' + mid), `${label}: the view is kept in location.hash (${hash})`);
  // play advances the slider; the button pauses it
  await setSlider(page, 0);
  await page.click('#play');
  await page.waitForTimeout(1200);
  const v = +(await page.$eval('#slider', (s) => s.value));
  await page.click('#play');
  check(v > 0, `${label}: play advances the slider (to ${v} of ${max})`);
  await setSlider(page, max);
  // hovering a point names its step, layer and values
  await page.hover('#plane-svg .cur[data-layer="0"]', { force: true });
  const tip = await page.$eval('#tip', (t) => ({ hidden: t.hidden, text: t.textContent }));
  if (o.shots) await page.screenshot({ path: path.join(SHOTS, label + '-tooltip.png'), clip: { x: 0, y: 0, width: 640, height: 600 } });
  check(!tip.hidden && /layer 0/.test(tip.text) && /step \d+/.test(tip.text) && /I_in1/.test(tip.text), `${label}: hover shows step, layer and values`, JSON.stringify(tip));
  if (o.final && stars) {
    await page.hover('#plane-svg .final', { force: true });
    const t2 = await page.$eval('#tip', (t) => t.textContent);
    check(/final probe set, \d+ positions/.test(t2), `${label}: a star's tooltip names the final set and its positions`, t2.split('\n').slice(0, 2).join(' / '));
  }
  await page.mouse.move(2, 2);
  // the loss chart with the n-gram baselines, the probe charts, the DPO stage
  const base = csv(b['run0-baselines']).rows.length;
  check((await count(page, '#curves > div:first-child .baseline')) === base && base === 3, `${label}: the loss chart draws the ${base} n-gram baselines`);
  check((await count(page, '#curves svg.chart')) >= 5 && (await page.$$eval('#curves svg.chart', (s) => s.every((x) => x.querySelector('path.curve')))),
    `${label}: H, I_in, I_out and optimality charts beside the loss, each with curves`);
  check(!(await page.$eval('#dpo-card', (e) => e.hidden)) && (await count(page, '#dpo svg.chart')) === 4, `${label}: the DPO stage: loss, rewards, accuracy, I_pref`);
  // options where the columns exist
  const cols = Object.keys(rows[0]);
  if (cols.includes('I_in4')) {
    await page.click('button[data-n="4"]');
    check((await page.$eval('#plane-svg', (s) => s.textContent)).includes('input 4-gram'), `${label}: n = 4 relabels the plane`);
    await page.click('button[data-n="1"]');
  } else check((await count(page, 'button[data-n="4"]')) === 0, `${label}: no n = 4 without I_in4`);
  if (cols.includes('I_ctx')) {
    await page.click('button[data-x="ctx"]');
    const named = (await page.$eval('#plane-card', (e) => e.textContent)).includes('exact bound');
    check((await count(page, '#plane-svg line.bound')) === 1 && named, `${label}: the context plane draws and names its exact bound`);
    await page.click('button[data-x="in"]');
  }
  if (cols.some((c) => c.endsWith('_null'))) {
    const before = await page.$eval('#plane-svg .cur', (c) => c.getAttribute('cx'));
    check(await page.$eval('#raw', (e) => e.checked), `${label}: the raw box is ticked at first`);
    await page.click('#raw');
    const after = await page.$eval('#plane-svg .cur', (c) => c.getAttribute('cx'));
    await page.click('#raw');
    check(before !== after, `${label}: raw by default (as the SVG figures), value - null a click away (x ${before} -> ${after})`);
  } else check(await page.$eval('#raw-label', (e) => e.hidden), `${label}: no raw toggle without *_null columns`);
  if (o.ib) {
    const at1 = await count(page, '#plane-svg path.ib');
    await page.click('button[data-n="2"]');
    const at2 = await count(page, '#plane-svg path.ib');
    await page.click('button[data-n="1"]');
    check(at1 === 1 && at2 === 0, `${label}: the IB curve of ib_bound.csv on the n = 1 plane only`, `${at1}, ${at2}`);
  }
  if (layers.includes('mean')) check((await count(page, '#plane-svg path.traj[data-layer="mean"]')) === 1, `${label}: the mean row has its own trajectory`);
  await page.click('button[data-layer-toggle="0"]');
  check((await count(page, '#plane-svg path.traj[data-layer="0"]')) === 0, `${label}: a legend click hides a layer`);
  await page.click('button[data-layer-toggle="0"]');
  // samples verbatim, never run
  const pre = await page.$$eval('#samples pre', (p) => p.map((x) => x.textContent).join('\n'));
  const sample = b['run0-samples'] || '';
  const want1 = sample.includes('</script>') ? '"</script><script>window.__pwned = 1</script>"' : sample.split('\n')[1];
  if (sample) check(pre.includes(want1), `${label}: the latest samples shown verbatim`, pre.slice(0, 120));
  else check((await page.$eval('#samples', (e) => e.textContent)) === 'no samples yet', `${label}: without samples the page says so`);
  check((await page.evaluate(() => window.__pwned)) === undefined, `${label}: markup in the samples did not run`);
  if (o.settings === 'hostile') check((await count(page, '#settings .kv > div')) >= 6 && (await page.$eval('#settings', (e) => e.textContent)).includes('</script><b>not bold</b>'),
    `${label}: run.json's settings listed, as text`);
  else if (o.settings) check((await count(page, '#settings .kv > div')) >= 6, `${label}: ./train's run.json listed in the settings`);
  else check((await count(page, '#settings .empty')) === 1, `${label}: without run.json the settings say so`);
  const status = await page.$eval('#status', (e) => e.textContent);
  check(status.startsWith(o.state + ' — '), `${label}: status "${status}"`);
  if (o.noReload) { // a page that is not live never reloads, even after its refresh_s
    await page.evaluate(() => { window.__still = 1; });
    await page.waitForTimeout(1000 * (JSON.parse(b['page-status']).refresh_s || 2) + 500);
    check((await page.evaluate(() => window.__still)) === 1, `${label}: a finished page does not reload`);
  }
  if (o.shots) {
    await page.screenshot({ path: path.join(SHOTS, label + '-1280.png') });
    await page.screenshot({ path: path.join(SHOTS, label + '-1280-full.png'), fullPage: true });
  }
  await phone(page, label, o.shots);
  check(errors.length === 0, `${label}: no console or page errors`, errors.join('; '));
  await page.close();
}

// At phone width (390 px): no sideways scrolling, every figure inside the screen.
async function phone(page, label, shots) {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(400); // the figures redraw 150 ms after a resize
  const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  const wide = await page.$$eval('svg.chart, #plane-svg', (s) => s.filter((x) => x.getBoundingClientRect().right > 390).length);
  check(over <= 0 && wide === 0, `${label}: fits a 390 px phone screen`, `${over} px too wide, ${wide} figures`);
  if (shots) {
    await page.screenshot({ path: path.join(SHOTS, label + '-390.png') });
    await page.screenshot({ path: path.join(SHOTS, label + '-390-full.png'), fullPage: true });
  }
}

async function emptyPage(ctx, file) {
  const { page, errors } = await open(ctx, file, 390, 844);
  check((await count(page, '#plane .empty')) === 1, 'empty: a run that has just started says there are no probe rows yet');
  await page.click('#play');
  await page.waitForTimeout(200);
  check(errors.length === 0, 'empty: no console or page errors', errors.join('; '));
  await page.close();
}

async function comparePage(ctx, file, names) {
  const { page, errors } = await open(ctx, file, 1280, 800);
  const b = blocks(file);
  const listed = await page.$$eval('#runs li b', (e) => e.map((x) => x.textContent));
  check(!(await page.$eval('#runs-card', (e) => e.hidden)) && JSON.stringify(listed) === JSON.stringify(names),
    `compare: lists every run (${names.join(', ')})`, listed.join(', '));
  let bad = [];
  for (let k = 0; k < names.length; k++) {
    const layers = [...new Set(csv(b['run' + k + '-probes']).rows.map((r) => r[csv(b['run' + k + '-probes']).cols.indexOf('layer')]))];
    for (const l of layers) if ((await count(page, `#plane-svg path.traj[data-run="${k}"][data-layer="${l}"]`)) !== 1) bad.push(names[k] + ' layer ' + l);
  }
  check(!bad.length, 'compare: a trajectory per run and layer on one plane', bad.join(', '));
  const loss = await count(page, '#curves > div:first-child path.curve');
  check(loss === 2 * names.length, `compare: train and val loss of every run overlaid (${loss} curves)`);
  // (the runs' points overlap: the event goes to run 1's marker itself, not to whatever lies on top)
  await page.$eval('#plane-svg .cur[data-run="1"]', (c) => {
    const r = c.getBoundingClientRect();
    c.dispatchEvent(new PointerEvent('pointerover', { bubbles: true, clientX: r.x, clientY: r.y }));
  });
  const tip = await page.$eval('#tip', (t) => t.textContent);
  check(tip.startsWith(names[1] + ' · '), 'compare: a tooltip names its run', tip.split('\n')[0]);
  await page.mouse.move(2, 2);
  await page.click('button[data-run-toggle="0"]');
  check((await count(page, '#plane-svg path.traj[data-run="0"]')) === 0, 'compare: a run can be hidden');
  await page.click('button[data-run-toggle="0"]');
  await page.screenshot({ path: path.join(SHOTS, 'compare-1280.png') });
  await page.screenshot({ path: path.join(SHOTS, 'compare-1280-full.png'), fullPage: true });
  await phone(page, 'compare', true);
  check(errors.length === 0, 'compare: no console or page errors', errors.join('; '));
  await page.close();
}

// A live run: its page reloads itself with the new steps, keeps the reader's view, and stops
// reloading once Ctrl-C has stopped the run.
async function livePage(ctx) {
  const dir = path.join(WORK, 'live'), file = path.join(dir, 'index.html');
  const child = cp.spawn(TRAIN, ['--steps', '20000', '--probe-every', '100', '--eval-every', '100', '--sample-every', '300',
    '--dpo-steps', '0', ...TINY, '--out', dir], { cwd: WORK, env: ENV, stdio: 'ignore' });
  let exited = null;
  child.on('exit', (code) => { exited = code; });
  try {
    const t0 = Date.now(); // until the page holds two probe steps
    while (Date.now() - t0 < 60000 && exited === null) {
      if (fs.existsSync(file) && (blocks(file)['run0-probes'] || '').split('\n').filter((l) => /^100,/.test(l)).length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const { page, errors } = await open(ctx, file, 1280, 800);
    const state = async () => ({ status: await page.$eval('#status', (e) => e.textContent), max: +(await page.$eval('#slider', (s) => s.max)),
      value: +(await page.$eval('#slider', (s) => s.value)), progress: await page.$eval('#progress', (e) => e.textContent) });
    const s0 = await state();
    check(/^live — updated \d\d:\d\d:\d\d$/.test(s0.status) && /^pre-training step \d+ \/ 20000$/.test(s0.progress),
      `live: "${s0.status}", "${s0.progress}"`);
    await setSlider(page, 0);
    await page.evaluate(() => { window.__before = 1; });
    const reload = async () => { await page.waitForEvent('load', { timeout: 15000 }); await page.waitForSelector('#plane-svg'); };
    await reload();
    const reloaded = (await page.evaluate(() => window.__before)) === undefined;
    let s1 = await state();
    for (const t = Date.now(); s1.max <= s0.max && Date.now() - t < 30000;) { // a busy machine trains slowly
      await reload();
      s1 = await state();
    }
    check(reloaded && s1.max > s0.max, `live: the page reloaded itself with new probe steps (${s0.max + 1} -> ${s1.max + 1})`);
    check(s1.value === 0, 'live: the slider kept its place through the reload', JSON.stringify(s1));
    await setSlider(page, s1.max); // at the last step it follows the run
    await page.waitForTimeout(300);
    await reload();
    const s2 = await state();
    check(s2.value === s2.max && s2.max >= s1.max, `live: a slider at the last step follows the run (${s2.value} of ${s2.max})`);
    // (a page that reloads every 2 s on a busy machine may not hold still for a screenshot)
    await page.screenshot({ path: path.join(SHOTS, 'live-1280.png'), timeout: 10000 })
      .catch((e) => console.log('note: no live screenshot: ' + e.message.split('\n')[0]));
    child.kill('SIGINT');
    const t1 = Date.now();
    while (exited === null && Date.now() - t1 < 30000) await new Promise((r) => setTimeout(r, 100));
    check(exited === 0 && JSON.parse(blocks(file)['page-status']).state === 'interrupted', `live: Ctrl-C stops the run (exit ${exited}) and marks its page interrupted`);
    let s3 = s2;
    for (let k = 0; k < 3 && /^live/.test(s3.status); k++) { // a reload begun before the exit still shows "live"
      await reload();
      s3 = await state();
    }
    await page.evaluate(() => { window.__still = 1; });
    await page.waitForTimeout(1000 * JSON.parse(blocks(file)['page-status']).refresh_s + 1000);
    check(/^interrupted — /.test(s3.status) && (await page.evaluate(() => window.__still)) === 1,
      `live: the page shows "${s3.status}" and stops reloading`);
    check(errors.length === 0, 'live: no console or page errors', errors.join('; '));
    await page.close();
  } finally {
    if (exited === null) child.kill('SIGKILL');
  }
}

(async () => {
  const A = path.join(WORK, 'A');
  try {
    train(['--steps', '40', '--probe-every', '10', '--eval-every', '10', '--sample-every', '20', '--dpo-steps', '6',
      '--dpo-eval-every', '3', ...TINY, '--out', A]);
  } catch (e) {
    check(false, 'a tiny ./train run', String(e.stderr || e.message).trim());
    process.exit(1);
  }
  const { F, O, E, newRows, oldRows } = makeFolders(A);
  const P = (d) => path.join(WORK, d, 'index.html');
  train(['--compare', F, '--out', path.join(WORK, 'pF')]);
  train(['--compare', O, '--out', path.join(WORK, 'pO')]);
  train(['--compare', E, '--out', path.join(WORK, 'pE')]);
  train(['--compare', 'A', 'F', 'O', '--out', path.join(WORK, 'compare')]);
  const real = objects(csv(read(path.join(A, 'probes.csv'))));
  let ctx;
  const profile = fs.mkdtempSync(path.join(WORK, 'profile-'));
  try {
    ctx = await pw.chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  } catch (e) {
    console.log('SKIP page: the browser test because chromium did not start: ' + e.message.split('\n')[0]);
    process.exit(77);
  }
  try {
    await runPage(ctx, P('A'), 'run', real, { state: 'finished', final: real.some((r) => r.set === 'final'), settings: 'run', shots: true, noReload: true });
    await runPage(ctx, P('pF'), 'new-format', newRows, { state: 'snapshot', final: true, settings: 'hostile', shots: true, ib: true });
    await runPage(ctx, P('pO'), 'old-format', oldRows, { state: 'snapshot', final: false });
    await emptyPage(ctx, P('pE'));
    await comparePage(ctx, P('compare'), ['A', 'F', 'O']);
    await livePage(ctx);
  } catch (e) {
    check(false, 'the browser test ran to its end', e.stack.split('\n').slice(0, 3).join(' '));
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log('page: ' + passed + ' passed, ' + failed + ' failed; screenshots in ' + SHOTS);
  process.exit(failed ? 1 : 0);
})();
