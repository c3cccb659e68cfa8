// Risk limits: every field of POST /risk/update, prefilled with the limits in force (GET /risk); only
// the changed fields are sent, a 400 is shown next to the field it names, and a daily-loss halt is
// shown as a banner.

import { get, post, ApiError } from './api.js';
import { h, tid, money, toast } from './dom.js';

const FIELDS = [
  ['max_total_exposure_usd', 'Max total exposure (USD)', 'number'],
  ['max_risk_per_trade_percent', 'Max risk per trade (% of NAV)', 'number'],
  ['use_atr_sizing', 'Use ATR sizing', 'bool'],
  ['atr_period', 'ATR period (bars)', 'number'],
  ['stop_loss_atr_multiplier', 'Stop-loss ATR multiplier', 'number'],
  ['take_profit_atr_multiplier', 'Take-profit ATR multiplier', 'number'],
  ['stop_loss_pips', 'Stop-loss pips', 'number'],
  ['take_profit_pips', 'Take-profit pips', 'number'],
  ['daily_loss_limit_pct', 'Daily loss limit (%)', 'number'],
  ['max_concurrent_positions', 'Max concurrent positions', 'number'],
  ['per_symbol_limit', 'Per-symbol limit (units)', 'number'],
];
let current = null;

export function renderRisk(root) {
  const form = h('form.form', { testid: 'risk-form', onsubmit: (e) => { e.preventDefault(); save(); } },
    FIELDS.map(([name, label, kind]) => h('label.field', { 'data-field': name }, h('span', label),
      kind === 'bool' ? h('select', { testid: `risk-${name}` }, h('option', { value: 'true' }, 'yes'), h('option', { value: 'false' }, 'no'))
        : h('input', { testid: `risk-${name}`, inputmode: 'decimal' }),
      h('div.err', { testid: `err-risk-${name}` }))),
    h('div.form-actions', h('button.primary', { type: 'submit', testid: 'risk-save' }, 'Apply'), h('button', { type: 'button', onclick: load }, 'Reset'),
      h('span.form-error', { testid: 'risk-error' })));
  root.replaceChildren(h('div', { testid: 'risk-halt' }), h('div.panel', h('h2', 'Risk limits'), form));
  load();
}

async function load() {
  try {
    const r = await get('/risk');
    current = r.risk || {};
    for (const [name, , kind] of FIELDS) {
      const el = tid(`risk-${name}`);
      if (el) el.value = kind === 'bool' ? String(!!current[name]) : String(current[name] ?? '');
    }
    const halt = tid('risk-halt');
    halt.replaceChildren(r.daily_loss_halted ? h('div.halt', { testid: 'risk-halted' },
      `Daily loss limit reached: new entries are halted until 00:00 UTC (day start equity ${money(r.day_start_equity)}).`) : []);
    if (!r.risk) tid('risk-error').textContent = 'the server runs without a risk engine';
  } catch (e) { tid('risk-error').textContent = e.detail || e.message; }
}

async function save() {
  document.querySelectorAll('[data-testid="risk-form"] .field').forEach((f) => { f.classList.remove('invalid'); f.querySelector('.err').textContent = ''; });
  tid('risk-error').textContent = '';
  const body = {};
  for (const [name, , kind] of FIELDS) {
    const raw = tid(`risk-${name}`).value.trim();
    const v = kind === 'bool' ? raw === 'true' : raw !== '' && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
    if (current && v !== current[name]) body[name] = v;
  }
  if (!Object.keys(body).length) { tid('risk-error').textContent = 'nothing changed'; return; }
  try {
    await post('/risk/update', body);
    toast('info', 'Risk limits updated', Object.entries(body).map(([k, v]) => `${k} = ${v}`).join(', '), 'toast-risk-updated');
    load();
  } catch (e) {
    const f = e instanceof ApiError && e.field && document.querySelector(`[data-testid="risk-form"] .field[data-field="${e.field}"]`);
    if (f) { f.classList.add('invalid'); f.querySelector('.err').textContent = e.detail; } else tid('risk-error').textContent = e.detail || e.message;
  }
}
