// The operations view: overall stats, the list with a status filter and pause / resume / stop per row
// (stop behind a confirmation), and the create form with every field of POST /api/operations, where a
// 400 is shown next to the field its detail names.

import { get, post, del, ApiError } from './api.js';
import { h, tid, money, pct, num, signClass, statusTag, table, time, toast, confirmAction } from './dom.js';
import { push } from './state.js';

export const STRATEGIES = {
  ema_cross: { fast: 10, slow: 30, trade_size: 10000 },
  MomentumStrategy: {},
  RSIStrategy: {},
  BollingerBandsMeanReversion: {},
  ATRBreakout: {},
  BuyAndHoldStrategy: {},
};
const BAR_SIZES = ['5 secs', '10 secs', '15 secs', '30 secs', '1 min', '2 mins', '3 mins', '5 mins', '10 mins', '15 mins', '20 mins', '30 mins',
  '1 hour', '2 hours', '3 hours', '4 hours', '8 hours', '1 day', '1 week'];
const SL_TYPES = ['ATR', 'PERCENTAGE', 'FIXED', 'PIPS'];
const TP_TYPES = ['RISK_REWARD', 'ATR', 'PERCENTAGE', 'FIXED', 'PIPS'];
const RECOVERY = ['CLOSE_ALL', 'RESUME', 'EMERGENCY_EXIT'];

let filter = '';
let refreshTimer = null;

export function renderOperations(root) {
  root.replaceChildren(
    h('div.cards', { testid: 'overall-stats' }),
    h('div.panel',
      h('h2', 'Operations', h('span.spacer'),
        h('select', { testid: 'ops-filter', onchange: (e) => { filter = e.target.value; drawList(); } },
          ['', 'active', 'paused', 'closed', 'error'].map((s) => h('option', { value: s, selected: s === filter }, s || 'all statuses'))),
        h('button.primary', { testid: 'ops-new', onclick: () => tid('create-panel').classList.toggle('hidden') }, 'New operation')),
      h('div.scroll', { testid: 'ops-list' })),
    h('div.panel.hidden', { id: 'create-panel', testid: 'create-panel' }, h('h2', 'Create operation'), createForm()));
  drawList();
  loadInstruments();
}

async function drawOverall() {
  const el = tid('overall-stats');
  if (!el) return;
  try {
    const s = await get('/api/stats/overall');
    const c = (k, v, cls, id) => h('div.card', h('div.k', k), h('div.v', { class: `v ${cls || ''}`, testid: id }, v));
    el.replaceChildren(
      c('Operations', `${s.active_operations} active / ${s.total_operations}`, '', 'overall-ops'),
      c('Total P/L', money(s.total_pnl, true), signClass(s.total_pnl), 'overall-pnl'),
      c('Trades', String(s.total_trades), '', 'overall-trades'),
      c('Win rate', pct(s.win_rate), '', 'overall-winrate'),
      c('Profit factor', s.profit_factor === null ? '–' : num(s.profit_factor), '', 'overall-pf'),
      c('Max drawdown', pct(s.max_drawdown_pct), '', 'overall-dd'),
      c('Commission', money(s.total_commission), '', 'overall-commission'));
  } catch { /* header shows connectivity */ }
}

async function drawList() {
  refreshTimer = null;
  const el = tid('ops-list');
  if (!el) return;
  drawOverall();
  let ops;
  try { ops = await get(`/api/operations?limit=1000${filter ? `&status=${filter}` : ''}`); } catch (e) { el.replaceChildren(h('div.muted', e.detail)); return; }
  const act = (op, what) => async () => {
    try {
      if (what === 'stop') {
        if (!(await confirmAction(`Stop operation ${op.id}?`, `Closes its ${op.open_positions} open position(s) at market and marks it closed.`))) return;
        await del(`/api/operations/${op.id}`);
      } else {
        await post(`/api/operations/${op.id}/${what}`, {});
      }
      toast('info', `Operation ${op.id} ${what === 'stop' ? 'stopped' : what + 'd'}`);
    } catch (e) { toast('error', `Operation ${op.id}: ${what} refused`, e.detail); }
    drawList();
  };
  el.replaceChildren(ops.length ? table([
    ['#', (o) => h('a', { href: `#/operations/${o.id}`, testid: `op-link-${o.id}` }, String(o.id))],
    ['Status', (o) => h('span', { testid: `op-status-${o.id}` }, statusTag(o.status))],
    ['Asset', (o) => o.asset], ['Strategy', (o) => o.strategy_name], ['Bars', (o) => o.bar_sizes.join(', ')],
    ['Capital', (o) => money(o.current_capital), 'num'],
    ['P/L', (o) => { const v = o.current_capital - o.initial_capital; return h('span', { class: signClass(v) }, money(v, true)); }, 'num'],
    ['Open', (o) => o.open_positions, 'num'], ['Created', (o) => time(o.created_at)],
    ['', (o) => h('span.actions',
      o.status === 'active' ? h('button.small', { testid: `op-pause-${o.id}`, onclick: act(o, 'pause') }, 'Pause') : null,
      o.status === 'paused' ? h('button.small', { testid: `op-resume-${o.id}`, onclick: act(o, 'resume') }, 'Resume') : null,
      o.status !== 'closed' ? h('button.small.danger', { testid: `op-stop-${o.id}`, onclick: act(o, 'stop') }, 'Stop') : null)],
  ], ops, 'ops-table', (o) => `op-row-${o.id}`) : h('div.muted', { testid: 'ops-empty' }, 'No operations yet: create one below.'));
}

function field(name, label, input, wide) {
  return h('label', { class: `field${wide ? ' wide' : ''}`, 'data-field': name }, h('span', label), input, h('div.err', { testid: `err-${name}` }));
}
const opt = (v, sel) => h('option', { value: v, selected: v === sel }, v);

function createForm() {
  const sizes = h('div.checks', { testid: 'f-bar_sizes' }, BAR_SIZES.map((s) => h('label', h('input', { type: 'checkbox', value: s, checked: s === '1 min' || s === '15 mins', onchange: syncPrimary }), s)));
  const primary = h('select', { name: 'primary_bar_size', testid: 'f-primary_bar_size' });
  function syncPrimary() {
    const chosen = [...sizes.querySelectorAll('input:checked')].map((i) => i.value);
    const cur = primary.value;
    primary.replaceChildren(...chosen.map((s) => opt(s, cur || chosen[0])));
  }
  syncPrimary();
  const strategy = h('select', { name: 'strategy_name', testid: 'f-strategy_name' }, Object.keys(STRATEGIES).map((s) => opt(s, 'ema_cross')));
  const config = h('textarea', { name: 'strategy_config', testid: 'f-strategy_config', rows: 3 }, JSON.stringify(STRATEGIES.ema_cross));
  strategy.addEventListener('change', () => { config.value = JSON.stringify(STRATEGIES[strategy.value] || {}); });
  const form = h('form.form', { testid: 'create-form', onsubmit: (e) => { e.preventDefault(); submit(form, sizes); } },
    field('asset', 'Asset', h('select', { name: 'asset', testid: 'f-asset' }, opt('EUR_USD'))),
    field('bar_sizes', 'Bar sizes', sizes, true),
    field('primary_bar_size', 'Primary bar size', primary),
    field('strategy_name', 'Strategy', strategy),
    field('strategy_config', 'Strategy config (JSON)', config, true),
    field('initial_capital', 'Initial capital (USD)', h('input', { name: 'initial_capital', testid: 'f-initial_capital', type: 'text', inputmode: 'decimal', value: '10000' })),
    field('stop_loss_type', 'Stop-loss type', h('select', { name: 'stop_loss_type', testid: 'f-stop_loss_type' }, SL_TYPES.map((t) => opt(t, 'PIPS')))),
    field('stop_loss_value', 'Stop-loss value', h('input', { name: 'stop_loss_value', testid: 'f-stop_loss_value', type: 'text', inputmode: 'decimal', value: '10' })),
    field('take_profit_type', 'Take-profit type', h('select', { name: 'take_profit_type', testid: 'f-take_profit_type' }, TP_TYPES.map((t) => opt(t, 'RISK_REWARD')))),
    field('take_profit_value', 'Take-profit value', h('input', { name: 'take_profit_value', testid: 'f-take_profit_value', type: 'text', inputmode: 'decimal', value: '2' })),
    field('crash_recovery_mode', 'Crash recovery', h('select', { name: 'crash_recovery_mode', testid: 'f-crash_recovery_mode' }, RECOVERY.map((t) => opt(t, 'CLOSE_ALL')))),
    field('emergency_stop_loss_pct', 'Emergency stop (fraction, 0.05 = 5%)', h('input', { name: 'emergency_stop_loss_pct', testid: 'f-emergency_stop_loss_pct', type: 'text', inputmode: 'decimal', value: '0.05' })),
    h('div.form-actions', h('button.primary', { type: 'submit', testid: 'create-submit' }, 'Create'), h('span.form-error', { testid: 'create-error' })));
  return form;
}

async function loadInstruments() {
  const sel = tid('f-asset');
  if (!sel) return;
  try {
    const r = await get('/symbols/oanda');
    const fed = r.instruments.filter((i) => i.fed).map((i) => i.name);
    if (fed.length) sel.replaceChildren(...fed.map((n) => opt(n, fed[0])));
  } catch { /* keep the default */ }
}

/** A number field: sent as typed when it parses, else as the raw text so the server names it. */
function numeric(v) { const t = v.trim(); return t !== '' && !Number.isNaN(Number(t)) ? Number(t) : t; }

async function submit(form, sizes) {
  form.querySelectorAll('.field').forEach((f) => { f.classList.remove('invalid'); f.querySelector('.err').textContent = ''; });
  tid('create-error').textContent = '';
  const val = (n) => form.querySelector(`[name="${n}"]`).value;
  let config;
  try { config = JSON.parse(val('strategy_config') || '{}'); } catch (e) { return showError(form, 'strategy_config', `not valid JSON: ${e.message}`); }
  const body = {
    asset: val('asset'),
    bar_sizes: [...sizes.querySelectorAll('input:checked')].map((i) => i.value),
    primary_bar_size: val('primary_bar_size'),
    strategy_name: val('strategy_name'),
    strategy_config: config,
    initial_capital: numeric(val('initial_capital')),
    stop_loss_type: val('stop_loss_type'),
    stop_loss_value: numeric(val('stop_loss_value')),
    take_profit_type: val('take_profit_type'),
    take_profit_value: numeric(val('take_profit_value')),
    crash_recovery_mode: val('crash_recovery_mode'),
    emergency_stop_loss_pct: numeric(val('emergency_stop_loss_pct')),
  };
  try {
    const op = await post('/api/operations', body);
    toast('info', `Operation ${op.id} created`, `${op.strategy_name} on ${op.asset}`, 'toast-created');
    tid('create-panel').classList.add('hidden');
    location.hash = `#/operations/${op.id}`;
  } catch (e) {
    if (e instanceof ApiError && e.field) showError(form, e.field.split(/[.[]/)[0], e.detail);
    else tid('create-error').textContent = e.detail || e.message;
  }
}

function showError(form, name, detail) {
  const f = form.querySelector(`.field[data-field="${name}"]`);
  if (!f) { tid('create-error').textContent = detail; return; }
  f.classList.add('invalid');
  f.querySelector('.err').textContent = detail;
}

export function initOperations() {
  // Order frames change capital, positions and statuses: redraw at most every 2 s while shown.
  const soon = () => { if (!refreshTimer && tid('ops-list') && !tid('view-operations').classList.contains('hidden')) refreshTimer = setTimeout(drawList, 2000); };
  push.on('order', soon);
  push.on('status', soon);
}
export { drawList as refreshOperations };
