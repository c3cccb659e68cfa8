// The model session: symbols from /symbols/training, a model from /models?min_symbols=n (n = symbols
// chosen), target capital, configure / start / stop, warm-up progress per symbol, and the latest
// decisions, actions and positions, from /session/status and `status` frames.

import { get, post, ApiError } from './api.js';
import { h, tid, money, num, statusTag, table, time, toast, confirmAction } from './dom.js';
import { subscribe } from './state.js';

let shown = false;

export function renderSession(root) {
  shown = true;
  root.replaceChildren(
    h('div.two',
      h('div.panel', h('h2', 'Configure'),
        h('form.form', { testid: 'session-form', onsubmit: (e) => { e.preventDefault(); configure(); } },
          h('label.field.wide', { 'data-field': 'symbols' }, h('span', 'Symbols (training set)'), h('div.checks', { testid: 'session-symbols' }), h('div.err', { testid: 'err-symbols' })),
          h('label.field', { 'data-field': 'model_path' }, h('span', 'Model'), h('select', { testid: 'session-model' }), h('div.err', { testid: 'err-model_path' })),
          h('label.field', { 'data-field': 'target_capital_usd' }, h('span', 'Target capital (USD)'), h('input', { testid: 'session-capital', value: '20000', inputmode: 'decimal' }), h('div.err', { testid: 'err-target_capital_usd' })),
          h('label.field', h('span', 'Warm-up timeout (s)'), h('input', { testid: 'session-timeout', value: '120', inputmode: 'numeric' })),
          h('div.form-actions',
            h('button.primary', { type: 'submit', testid: 'session-configure' }, 'Save config'),
            h('button', { type: 'button', testid: 'session-start-btn', onclick: start }, 'Start'),
            h('button.danger', { type: 'button', testid: 'session-stop-btn', onclick: stop }, 'Stop'),
            h('span.form-error', { testid: 'session-error' })))),
      h('div.panel', h('h2', 'Status'), h('div', { testid: 'session-status' }))),
    h('div.two',
      h('div.panel', h('h2', 'Warm-up'), h('div', { testid: 'session-warmup' })),
      h('div.panel', h('h2', 'Latest actions'), h('div', { testid: 'session-actions' }))));
  load();
}
export function leaveSession() { shown = false; }

async function load() {
  try {
    const [sym, st] = await Promise.all([get('/symbols/training'), get('/session/status')]);
    const chosen = new Set(st.selected_symbols?.length ? st.selected_symbols : sym.symbols.slice(0, 2));
    tid('session-symbols').replaceChildren(...sym.symbols.map((s) => h('label', h('input', { type: 'checkbox', value: s, checked: chosen.has(s), onchange: loadModels }), s)));
    await loadModels(st.model?.name);
    if (st.target_capital_usd) tid('session-capital').value = String(st.target_capital_usd);
    draw(st);
  } catch (e) { tid('session-error').textContent = e.detail || e.message; }
}

function symbols() { return [...tid('session-symbols').querySelectorAll('input:checked')].map((i) => i.value); }

async function loadModels(selected) {
  const n = symbols().length;
  const sel = tid('session-model');
  try {
    const models = await get(`/models?min_symbols=${n}`);
    const keep = typeof selected === 'string' ? selected : sel.value;
    sel.replaceChildren(...models.map((m) => h('option', { value: m.name, selected: m.name === keep }, `${m.name} (≤ ${m.max_symbols ?? '?'} symbols, lookback ${m.lookback_window ?? '?'})`)));
    if (!models.length) sel.append(h('option', { value: '' }, `no model takes ${n} symbols`));
  } catch (e) { tid('session-error').textContent = e.detail; }
}

function clearErrors() {
  document.querySelectorAll('[data-testid="session-form"] .field').forEach((f) => { f.classList.remove('invalid'); const e = f.querySelector('.err'); if (e) e.textContent = ''; });
  tid('session-error').textContent = '';
}
function fail(e) {
  const f = e instanceof ApiError && e.field && document.querySelector(`[data-testid="session-form"] .field[data-field="${e.field.split('.')[0]}"]`);
  if (f) { f.classList.add('invalid'); f.querySelector('.err').textContent = e.detail; } else tid('session-error').textContent = e.detail || e.message;
}

async function configure() {
  clearErrors();
  const cap = tid('session-capital').value.trim();
  try {
    await post('/session/config', { symbols: symbols(), model_path: tid('session-model').value, target_capital_usd: Number.isNaN(Number(cap)) ? cap : Number(cap) });
    toast('info', 'Session configured', symbols().join(', '), 'toast-session-configured');
    refresh();
    return true;
  } catch (e) { fail(e); return false; }
}

async function start() {
  clearErrors();
  if (!(await configure())) return;
  try {
    await post('/session/start', { cold_start_timeout_sec: Number(tid('session-timeout').value) || 120 });
    toast('info', 'Session starting', 'warming up', 'toast-session-started');
    refresh();
  } catch (e) { fail(e); }
}

async function stop() {
  if (!(await confirmAction('Stop the session?', 'The model stops deciding; its open positions stay until closed.'))) return;
  try { await post('/session/stop', {}); toast('info', 'Session stopped'); refresh(); } catch (e) { fail(e); }
}

async function refresh() { try { draw(await get('/session/status')); } catch { /* next status frame */ } }

function draw(st) {
  if (!shown || !tid('session-status')) return;
  tid('session-status').replaceChildren(h('dl.kv',
    h('dt', 'State'), h('dd', { testid: 'session-state', 'data-state': st.state }, statusTag(st.state || (st.running ? 'running' : 'stopped'))),
    h('dt', 'Reason'), h('dd', st.reason || '–'),
    h('dt', 'Symbols'), h('dd', (st.selected_symbols || []).join(', ') || '–'),
    h('dt', 'Model'), h('dd', st.model?.name || '–'),
    h('dt', 'Target capital'), h('dd', st.target_capital_usd ? money(st.target_capital_usd) : '–'),
    h('dt', 'Decisions'), h('dd', { testid: 'session-decisions' }, String(st.decisions ?? 0)),
    h('dt', 'Last decision'), h('dd', st.last_decision_at ? `${time(st.last_decision_at)} (${num(st.last_decision_cost_us, 0)} µs)` : '–')));
  const w = st.warmup || { bars: [] };
  tid('session-warmup').replaceChildren(
    h('div', { testid: 'warmup-ready', 'data-ready': String(!!w.ready) }, w.ready ? 'ready' : `waiting for ${(w.missing || []).join(', ') || '–'}`),
    ...(w.bars || []).map((b) => h('div', { testid: `warmup-${b.symbol}`, 'data-have': b.have, 'data-need': b.need, style: 'display:flex;gap:10px;align-items:center;margin-top:6px' },
      h('span', { style: 'width:80px' }, b.symbol), h('div.progress', h('div', { style: `width:${Math.min(100, (100 * b.have) / Math.max(1, b.need))}%` })), h('span.muted', `${b.have} / ${b.need} bars`))));
  const acts = st.last_actions || [];
  tid('session-actions').replaceChildren(h('div',
    acts.length ? table([['Symbol', (a) => a.symbol], ['Action', (a) => num(a.action, 3), 'num']], acts, 'session-actions-table') : h('div.muted', 'No decision yet'),
    (st.open_positions || []).length ? table([['Instrument', (p) => p.instrument], ['Units', (p) => p.units, 'num']], st.open_positions, 'session-positions-table') : null));
}

export function initSession() {
  subscribe('status', (s) => { if (shown && s?.session) draw(s.session); });
}
