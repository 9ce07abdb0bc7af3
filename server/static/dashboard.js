// The operator dashboard: polls GET /api/dashboard, draws each section only when its data
// changed (no flicker), opens a call's transcript from GET /api/calls/{id}. No framework:
// every piece of call content goes in as text, never as HTML.

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;
const PAGE = 50;
const TOKEN_KEY = 'salesvoice.api_token';
const SVG = 'http://www.w3.org/2000/svg';
const GUARDRAIL_NAMES = {
  opt_out_rate: 'Opt-out rate', complaint_rate: 'Complaint rate',
  compliance_hits_per_turn: 'Compliance hits / turn', call_seconds: 'Call length (s)',
  turns_per_call: 'Turns / call', voice_to_voice_p50_s: 'Voice-to-voice p50 (s)',
  voice_to_voice_p95_s: 'Voice-to-voice p95 (s)',
};

const view = { offset: 0, hours: 24, drawn: {}, inFlight: false, waitingForToken: false,
  timer: null, lastOk: null };

// -- formatting --------------------------------------------------------------------------

const int = (n) => (n == null ? '—' : Number(n).toLocaleString('en-US'));
const pct = (x, d = 1) => (x == null ? '—' : `${(x * 100).toFixed(d)} %`);
const pts = (x) => (x == null ? '—' : `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)} pts`);
const secs = (x, d = 2) => (x == null ? '—' : `${Number(x).toFixed(d)} s`);
const pval = (p) => (p == null ? '—' : p < 0.0001 ? '< 0.0001' : p.toFixed(4));
const num = (x, d = 3) => (x == null ? '—' : Number(x).toFixed(d));
const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString('en-GB') : '—');
function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString('en-GB')
    : `${d.toLocaleDateString('en-CA')} ${d.toLocaleTimeString('en-GB')}`;
}
function duration(s) {
  if (s == null) return '—';
  const m = Math.floor(s / 60);
  return m ? `${m} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`;
}

// -- DOM helpers ---------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) if (c != null) el.append(c instanceof Node ? c : String(c));
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, v);
  for (const c of children.flat(Infinity)) if (c != null) el.append(c instanceof Node ? c : String(c));
  return el;
}

// A heading written '#Turns' is a number column: right-aligned like its cells.
function table(head, rows, attrs) {
  const th = (c) => (c.startsWith('#') ? h('th', { scope: 'col', class: 'num' }, c.slice(1))
    : h('th', { scope: 'col' }, c));
  return h('div', { class: 'table-scroll' }, h('table', attrs, h('thead', null, h('tr', null, head.map(th))),
    h('tbody', null, rows)));
}

function fill(id, ...children) {
  $(id).replaceChildren(...children.flat());
}

// -- data ----------------------------------------------------------------------------------

class AuthNeeded extends Error {}

async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  let res;
  try {
    res = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {},
      cache: 'no-store' });
  } catch (e) {
    throw new Error(`cannot reach the server (${e.message}); retrying every ${REFRESH_MS / 1000} s`);
  }
  if (res.status === 401 || res.status === 403) {
    throw new AuthNeeded(await message(res) || `the server refused the request (${res.status})`);
  }
  if (!res.ok) throw new Error(`${path} failed: HTTP ${res.status}: ${await message(res)}`);
  return res.json();
}

async function message(res) {
  const text = await res.text();
  try { return JSON.parse(text).error || text; } catch { return text.slice(0, 300); }
}

function showError(text) {
  const box = $('error');
  box.replaceChildren(h('p', null, `Error: ${text}`));
  box.hidden = !text;
}

function askToken(why) {
  view.waitingForToken = true;
  const had = sessionStorage.getItem(TOKEN_KEY);
  $('token-why').textContent = had
    ? `The stored API token was refused: ${why}. Enter the right one.`
    : `This dashboard's data needs the API token: ${why}`;
  $('token-form').hidden = false;
  $('status').textContent = 'Waiting for the API token.';
  $('token').focus();
}

async function refresh() {
  if (view.inFlight || view.waitingForToken) return;
  view.inFlight = true;
  try {
    const data = await api(`/api/dashboard?offset=${view.offset}&limit=${PAGE}&hours=${view.hours}`);
    showError('');
    const t0 = performance.now();
    draw(data);
    document.body.dataset.drawMs = (performance.now() - t0).toFixed(1);
    view.lastOk = data.now;
    $('status').textContent = `Updated ${clock(data.now)} · refreshes every ${REFRESH_MS / 1000} s`;
    document.body.dataset.loaded = '1';
  } catch (e) {
    if (e instanceof AuthNeeded) askToken(e.message);
    else {
      showError(e.message);
      $('status').textContent = view.lastOk
        ? `Showing data from ${clock(view.lastOk)} (the last refresh failed)` : 'No data.';
    }
  } finally {
    view.inFlight = false;
  }
}

// Draw a section only when its part of the data changed: no flicker, no lost scroll.
function section(key, data, render) {
  const text = JSON.stringify(data);
  if (view.drawn[key] === text) return;
  view.drawn[key] = text;
  render(data);
}

function draw(data) {
  section('tiles', [data.guardrails, data.live_calls.length], () => drawTiles(data));
  section('experiments', data.experiments, drawExperiments);
  section('latency', data.latency, drawLatency);
  section('live', data.live_calls, drawLive);
  section('recent', data.recent_calls, drawRecent);
}

// -- sections ------------------------------------------------------------------------------

function tile(field, label, value, note) {
  return h('div', { class: 'tile', 'data-field': field }, h('span', { class: 'label' }, label),
    h('span', { class: 'value' }, value), note ? h('span', { class: 'note' }, note) : null);
}

function drawTiles(data) {
  const g = data.guardrails;
  $('guardrails-heading').textContent =
    `Last ${g.window_hours >= 48 ? `${g.window_hours / 24} days` : `${g.window_hours} hours`}`;
  fill('tiles',
    tile('live', 'Live now', int(data.live_calls.length)),
    tile('calls', 'Calls', int(g.calls), `${int(g.turns)} turns`),
    tile('opt_out_rate', 'Opt-out rate', pct(g.opt_out_rate)),
    tile('compliance_hits_per_turn', 'Compliance hits / turn', pct(g.compliance_hits_per_turn, 2)),
    tile('mean_call_seconds', 'Mean call length', secs(g.mean_call_seconds, 1)),
    tile('v2v_p50_s', 'Voice-to-voice p50', secs(g.v2v_p50_s)),
    tile('v2v_p95_s', 'Voice-to-voice p95', secs(g.v2v_p95_s)));
}

function drawExperiments(list) {
  if (!list.length) {
    fill('experiment-list', h('p', { class: 'card muted' },
      'No experiment yet. Start one with: salesvoice ab create --config exp.toml'));
    return;
  }
  fill('experiment-list', list.map(experimentCard));
}

function verdictClass(a) {
  if (a.verdict === 'not enough data yet') return 'pending';
  if (a.verdict.includes('beats')) return 'winner';
  return 'neutral';
}

function experimentCard(a) {
  const plan = a.plan || {};
  const progress = Math.max(0, Math.min(1, plan.progress ?? 0));
  const srmBad = (a.srm || []).filter((e) => e.flagged);
  const ex = a.excluded || {};
  return h('article', { class: 'card experiment', 'data-experiment': a.experiment },
    h('div', { class: 'exp-head' },
      h('h3', null, a.experiment),
      h('span', { class: `badge ${a.status}` }, a.status),
      h('span', { class: 'muted' }, `control arm: ${a.control}`)),
    h('p', { class: `verdict ${verdictClass(a)}`, 'data-field': 'verdict' },
      a.verdict[0].toUpperCase() + a.verdict.slice(1),
      a.decided_by ? h('span', { class: 'muted' }, ` (decided by ${a.decided_by})`) : null),
    h('div', { class: 'progress' },
      h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100,
        'aria-valuenow': Math.round(progress * 100), 'aria-label': 'planned sample reached' },
      h('div', { style: `width: ${(progress * 100).toFixed(1)}%` })),
      h('span', null, `${pct(plan.progress, 0)} of the planned ${int(plan.units_per_arm)} units per arm`
        + ` · power now ${pct(plan.power_now, 0)} · MDE ${pts(plan.mde)} at α ${plan.alpha ?? '—'}`)),
    intervalChart(a),
    table(['Arm', '#Weight', '#Units', '#Conversions', '#Rate', '95 % interval'],
      a.arms.map((arm) => h('tr', { 'data-arm': arm.arm },
        h('th', { scope: 'row' }, arm.arm + (arm.arm === a.control ? ' (control)' : '')),
        h('td', { class: 'num' }, num(arm.weight, 2)),
        h('td', { class: 'num', 'data-field': 'units' }, int(arm.units)),
        h('td', { class: 'num', 'data-field': 'conversions' }, int(arm.conversions)),
        h('td', { class: 'num', 'data-field': 'rate' }, pct(arm.rate)),
        h('td', null, `${pct(arm.low)} – ${pct(arm.high)}`))), { class: 'arms' }),
    a.comparisons.length ? table(
      ['Comparison', 'Difference (95 %)', '#p fixed', '#p always-valid', '#P(beats)', 'Guardrails'],
      a.comparisons.map(comparisonRow), { class: 'comparisons' }) : null,
    guardrailTable(a),
    h('p', { class: srmBad.length ? 'srm bad' : 'srm muted' }, srmBad.length
      ? srmBad.map((e) => `Sample ratio mismatch in epoch ${e.epoch}: counts ${e.counts.join(' / ')}`
        + `, expected ${e.expected.map((x) => Math.round(x)).join(' / ')} (p = ${pval(e.p)}). `
        + 'Check the assignment before trusting these numbers.').join(' ')
      : `Sample ratio OK${(a.srm || []).length ? ` (p = ${pval(a.srm[a.srm.length - 1].p)})` : ''}.`
        + ` Excluded: ${int(ex.forced)} forced calls, ${int(ex.crossovers)} crossovers;`
        + ` ${int(ex.no_caller_id_units)} units without a caller id.`));
}

function comparisonRow(c) {
  const breached = Object.entries(c.guardrails || {}).filter(([, g]) => g.breached);
  return h('tr', { 'data-arm': c.arm, class: c.significant ? 'significant' : null },
    h('th', { scope: 'row' }, `${c.arm} vs ${c.vs}`),
    h('td', { 'data-field': 'diff' }, `${pts(c.diff)} [${pts(c.low)}, ${pts(c.high)}]`),
    h('td', { class: 'num' }, pval(c.p_fixed)), h('td', { class: 'num' }, pval(c.p_always_valid)),
    h('td', { class: 'num' }, pct(c.prob_beats)),
    h('td', { class: breached.length ? 'bad' : null }, breached.length
      ? `Breached: ${breached.map(([k]) => GUARDRAIL_NAMES[k] || k).join(', ')}` : 'none breached'));
}

function guardrailTable(a) {
  const names = [...new Set(a.arms.flatMap((arm) => Object.keys(arm.guardrails || {})))];
  if (!names.length) return null;
  const breached = (arm, k) => a.comparisons.find((c) => c.arm === arm)?.guardrails?.[k]?.breached;
  const show = (k, g) => {
    if (!g || g.value == null) return '—';
    const f = k.endsWith('_rate') || k === 'compliance_hits_per_turn' ? (x) => pct(x, 2) : (x) => num(x, 2);
    return g.low == null ? f(g.value) : `${f(g.value)} [${f(g.low)}, ${f(g.high)}]`;
  };
  return h('details', { class: 'guardrails' }, h('summary', null, 'Guardrails per arm'),
    table(['Guardrail', ...a.arms.map((arm) => arm.arm)], names.map((k) => h('tr', null,
      h('th', { scope: 'row' }, GUARDRAIL_NAMES[k] || k),
      a.arms.map((arm) => h('td', { class: breached(arm.arm, k) ? 'bad' : null },
        show(k, arm.guardrails?.[k]), breached(arm.arm, k) ? ' (breached)' : ''))))));
}

// Each arm's rate with its interval, on one shared axis; the control's rate as a guide.
function intervalChart(a) {
  const W = 560, row = 28, top = 8, left = 90, right = 150;
  const H = top + row * a.arms.length + 26;
  const hi = Math.max(0.01, ...a.arms.map((x) => x.high ?? 0));
  const max = niceCeil(hi * 1.05);
  const x = (v) => left + (v / max) * (W - left - right);
  const ticks = [0, max / 4, max / 2, (3 * max) / 4, max];
  const control = a.arms.find((r) => r.arm === a.control);
  return s('svg', { class: 'intervals', viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': `Conversion rate per arm with 95 % intervals: ${a.arms.map((r) =>
      `${r.arm} ${pct(r.rate)} (${pct(r.low)} to ${pct(r.high)})`).join('; ')}` },
  ticks.map((t) => [
    s('line', { x1: x(t), x2: x(t), y1: top - 4, y2: H - 22, class: 'grid' }),
    s('text', { x: x(t), y: H - 6, 'text-anchor': 'middle', class: 'tick' }, pct(t, 0)),
  ]),
  control?.rate != null ? s('line', { x1: x(control.rate), x2: x(control.rate), y1: top - 4,
    y2: H - 22, class: 'guide' }) : null,
  a.arms.map((r, i) => {
    const y = top + row * i + row / 2;
    return s('g', { class: r.arm === a.control ? 'arm control' : 'arm' },
      s('text', { x: left - 10, y: y + 4, 'text-anchor': 'end', class: 'name' }, r.arm),
      r.rate == null ? null : [
        s('line', { x1: x(r.low), x2: x(r.high), y1: y, y2: y, class: 'ci' }),
        s('line', { x1: x(r.low), x2: x(r.low), y1: y - 6, y2: y + 6, class: 'ci' }),
        s('line', { x1: x(r.high), x2: x(r.high), y1: y - 6, y2: y + 6, class: 'ci' }),
        s('circle', { cx: x(r.rate), cy: y, r: 5, class: 'dot' }),
      ],
      s('text', { x: W - right + 10, y: y + 4, class: 'value' },
        `${pct(r.rate)} (n ${int(r.units)})`));
  }));
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function drawLatency(lat) {
  const pts50 = lat.series.filter((b) => b.v2v_p50_s != null);
  if (!pts50.length) {
    fill('latency-chart', h('p', { class: 'muted' }, 'No timed turns in this window.'));
    return;
  }
  const W = 560, H = 230, left = 46, right = 12, top = 12, bottom = 40;
  const n = lat.series.length;
  const max = niceCeil(Math.max(...lat.series.map((b) => b.v2v_p95_s ?? 0)) * 1.05);
  const x = (i) => left + ((i + 0.5) / n) * (W - left - right);
  const y = (v) => top + (1 - v / max) * (H - top - bottom);
  const line = (key) => {
    // A bucket without turns breaks the line instead of drawing through it.
    let d = '', pen = false;
    lat.series.forEach((b, i) => {
      if (b[key] == null) { pen = false; return; }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(b[key]).toFixed(1)}`;
      pen = true;
    });
    return d;
  };
  const every = Math.max(1, Math.ceil(n / 8));
  const label = (iso) => {
    const d = new Date(iso);
    return lat.bucket_s >= 86400 || (n * lat.bucket_s > 86400 && d.getHours() === 0)
      ? d.toLocaleDateString('en-CA').slice(5) : d.toLocaleTimeString('en-GB').slice(0, 5);
  };
  const yTicks = [0, max / 2, max];
  const yDigits = max < 1 ? 2 : 1;
  const last = [...lat.series].reverse().find((b) => b.v2v_p50_s != null);
  fill('latency-chart',
    h('p', { class: 'legend' },
      h('span', { class: 'key p50' }, 'p50'), ' median  ',
      h('span', { class: 'key p95' }, 'p95'), ` 95th percentile · ${lat.bucket_s / 3600} h buckets`,
      last ? ` · latest: p50 ${secs(last.v2v_p50_s)}, p95 ${secs(last.v2v_p95_s)}` : ''),
    s('svg', { class: 'latency', viewBox: `0 0 ${W} ${H}`, role: 'img',
      'aria-label': 'Voice-to-voice latency p50 and p95 per time bucket' },
    yTicks.map((t) => [
      s('line', { x1: left, x2: W - right, y1: y(t), y2: y(t), class: 'grid' }),
      s('text', { x: left - 6, y: y(t) + 4, 'text-anchor': 'end', class: 'tick' }, `${t.toFixed(yDigits)} s`),
    ]),
    lat.series.map((b, i) => (i % every === 0 ? s('text', { x: x(i), y: H - bottom + 16,
      'text-anchor': 'middle', class: 'tick' }, label(b.start)) : null)),
    s('text', { x: W - right, y: H - 4, 'text-anchor': 'end', class: 'tick' }, 'bucket start'),
    s('path', { d: line('v2v_p95_s'), class: 'series p95' }),
    s('path', { d: line('v2v_p50_s'), class: 'series p50' }),
    lat.series.map((b, i) => (b.v2v_p50_s == null ? null : s('g', null,
      s('circle', { cx: x(i), cy: y(b.v2v_p95_s), r: 2.5, class: 'pt p95' }),
      s('circle', { cx: x(i), cy: y(b.v2v_p50_s), r: 2.5, class: 'pt p50' }),
      s('title', null, `${when(b.start)}: ${int(b.calls)} calls, ${int(b.turns)} turns, `
        + `p50 ${secs(b.v2v_p50_s)}, p95 ${secs(b.v2v_p95_s)}`))))));
}

function drawLive(list) {
  $('live-heading').textContent = `Live calls (${list.length})`;
  if (!list.length) {
    fill('live-list', h('p', { class: 'muted' }, 'No call in progress.'));
    return;
  }
  fill('live-list', table(['Started', 'Call', 'Transport', 'Arm', '#Turns'],
    list.map((c) => h('tr', null, h('td', null, when(c.created_at)), h('td', null, callLink(c.id)),
      h('td', null, c.transport), h('td', null, c.arm ?? '—'), h('td', { class: 'num' }, int(c.turns))))));
}

function callLink(id) {
  return h('button', { type: 'button', class: 'link', 'data-call': id, title: `Open call ${id}`,
    onclick: () => openCall(id) }, id.length > 14 ? `${id.slice(0, 12)}…` : id);
}

function drawRecent(page) {
  const { total, offset, items } = page;
  $('page-info').textContent = total
    ? `${int(offset + 1)}–${int(offset + items.length)} of ${int(total)}` : 'no calls';
  $('prev').disabled = offset === 0;
  $('next').disabled = offset + items.length >= total;
  if (!items.length) {
    fill('recent-list', h('p', { class: 'muted' }, total ? 'No calls on this page.' : 'No call recorded yet.'));
    return;
  }
  fill('recent-list', table(
    ['Started', 'Call', 'Transport', 'Experiment · arm', 'How', 'Outcome', '#Turns', '#Length', '#V2V p50'],
    items.map((c) => h('tr', { 'data-call': c.id, class: 'clickable', onclick: (e) => {
      if (!e.target.closest('button')) openCall(c.id);
    } },
    h('td', null, when(c.created_at)), h('td', null, callLink(c.id)), h('td', null, c.transport),
    h('td', null, c.experiment ? `${c.experiment} · ${c.arm}` : c.arm ?? '—'),
    h('td', { class: c.how === 'forced' ? 'warn' : null }, c.how ?? '—'),
    h('td', { class: `outcome ${c.outcome ?? 'running'}` }, c.outcome ? c.outcome.replace('_', ' ')
      : c.finished_at ? '—' : 'in progress'),
    h('td', { class: 'num' }, int(c.turns)), h('td', { class: 'num' }, duration(c.seconds)),
    h('td', { class: 'num' }, secs(c.v2v_p50_s)))), { class: 'recent' }));
}

// -- one call ------------------------------------------------------------------------------

async function openCall(id) {
  const dialog = $('call-dialog');
  $('call-title').textContent = `Call ${id}`;
  fill('call-body', h('p', { class: 'muted' }, 'Loading…'));
  if (!dialog.open) dialog.showModal();
  try {
    drawCall(await api(`/api/calls/${encodeURIComponent(id)}`));
  } catch (e) {
    if (e instanceof AuthNeeded) { dialog.close(); askToken(e.message); return; }
    fill('call-body', h('p', { class: 'error' }, `Error: ${e.message}`));
  }
}

function drawCall(c) {
  const a = c.assignment;
  const facts = [
    ['Started', when(c.created_at)], ['Ended', c.finished_at ? when(c.finished_at) : 'in progress'],
    ['Length', duration(c.seconds)], ['Transport', c.transport],
    ['Experiment', a ? `${a.experiment} · arm ${a.arm} (${a.how})` : c.variant ?? '—'],
    ['Outcome', c.outcome ?? '—'], ['End reason', c.end_reason ?? '—'],
    ['Caller', [c.caller?.name, c.caller?.occupation, c.caller_id].filter(Boolean).join(' · ') || '—'],
    ['Program', c.program_version],
  ];
  fill('call-body',
    h('dl', { class: 'facts' }, facts.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v)))),
    h('ol', { class: 'turns', 'aria-label': 'Transcript' }, c.turns.map(turnItem)));
}

function turnItem(t) {
  const th = t.thought;
  return h('li', { class: 'turn', 'data-turn': t.index },
    t.user_text ? h('p', { class: 'line user' }, h('b', null, 'Caller: '), t.user_text) : null,
    h('p', { class: 'line agent' }, h('b', null, 'Agent: '), t.agent_text,
      t.interrupted ? h('span', { class: 'muted' }, ' (interrupted)') : null),
    h('dl', { class: 'notes' },
      h('dt', null, 'Thought'), h('dd', { class: 'thought' }, th
        ? `${th.template}${th.intent ? ` → ${th.intent}` : ''} · caller ${th.user_state}${th.note ? ` · ${th.note}` : ''}`
        : '—'),
      h('dt', null, 'Strategy'), h('dd', null, t.strategy || '—'),
      h('dt', null, 'Compliance'), h('dd', { class: t.compliance.length ? 'bad' : null },
        t.compliance.length ? t.compliance.join(', ') : 'no rule hit'),
      h('dt', null, 'Voice-to-voice'), h('dd', null, secs(t.voice_to_voice_s))));
}

// -- start ---------------------------------------------------------------------------------

function start() {
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    $('token').value = '';
    $('token-form').hidden = true;
    view.waitingForToken = false;
    refresh();
  });
  $('hours').addEventListener('change', () => {
    view.hours = Number($('hours').value);
    refresh();
  });
  $('prev').addEventListener('click', () => { view.offset = Math.max(0, view.offset - PAGE); refresh(); });
  $('next').addEventListener('click', () => { view.offset += PAGE; refresh(); });
  $('close-call').addEventListener('click', () => $('call-dialog').close());
  refresh();
  view.timer = setInterval(refresh, REFRESH_MS);
}

start();
