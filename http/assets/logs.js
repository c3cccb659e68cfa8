// The log (the records before the page opened from /api/logs, then live `log` frames; level filter,
// text search, pause, auto-scroll) and the audit trail of control actions (/api/audit, refreshed after
// each control record).

import { get } from './api.js';
import { h, tid, time, table } from './dom.js';
import { push } from './state.js';
import { noteAudit } from './account.js';

const MAX = 5000;
const records = [];
const view = { level: 'INFO', q: '', paused: false, follow: true, buffered: [] };
const RANK = { ERROR: 1, WARN: 2, INFO: 3 };

function line(r) {
  return h('div', { class: r.level }, h('span.ts', time(r.timestamp)), h('span.lv', r.level), r.message);
}
function visible(r) {
  return RANK[r.level] <= RANK[view.level] && (!view.q || r.message.toLowerCase().includes(view.q));
}

export function renderLog(root) {
  root.replaceChildren(h('div.panel',
    h('div.toolbar',
      h('select', { testid: 'log-level', onchange: (e) => { view.level = e.target.value; redraw(); } },
        ['INFO', 'WARN', 'ERROR'].map((l) => h('option', { value: l, selected: l === view.level }, `${l} and above`))),
      h('input', { testid: 'log-search', placeholder: 'search…', value: view.q, oninput: (e) => { view.q = e.target.value.toLowerCase(); redraw(); } }),
      h('button', { testid: 'log-pause', onclick: (e) => {
        view.paused = !view.paused;
        e.target.textContent = view.paused ? 'Resume' : 'Pause';
        if (!view.paused) { records.push(...view.buffered); view.buffered = []; redraw(); }
      } }, view.paused ? 'Resume' : 'Pause'),
      h('label', h('input', { type: 'checkbox', testid: 'log-follow', checked: view.follow, onchange: (e) => { view.follow = e.target.checked; } }), ' auto-scroll'),
      h('span.muted', { testid: 'log-count' })),
    h('div.log', { testid: 'log-lines' })));
  redraw();
}

function redraw() {
  const el = tid('log-lines');
  if (!el) return;
  const shown = records.filter(visible).slice(-1500);
  el.replaceChildren(...shown.map(line));
  tid('log-count').textContent = `${shown.length} shown of ${records.length}`;
  if (view.follow) el.scrollTop = el.scrollHeight;
}

function add(r) {
  if (view.paused) { view.buffered.push(r); return; }
  records.push(r);
  if (records.length > MAX) records.splice(0, records.length - MAX);
  const el = tid('log-lines');
  if (el && visible(r)) {
    el.append(line(r));
    while (el.childElementCount > 1500) el.firstChild.remove();
    if (view.follow) el.scrollTop = el.scrollHeight;
    tid('log-count').textContent = `${el.childElementCount} shown of ${records.length}`;
  }
}

export async function loadLogHistory() {
  try {
    const rows = await get('/api/logs?limit=1000');
    const seen = new Set(records.map((r) => `${r.timestamp}|${r.message}`));
    const older = rows.reverse().filter((r) => !seen.has(`${r.timestamp}|${r.message}`));
    records.unshift(...older);
    redraw();
  } catch { /* shown by the header */ }
}

export function renderAudit(root) {
  root.replaceChildren(h('div.panel', h('h2', 'Audit trail: every control action'), h('div.scroll', { testid: 'audit-list' })));
  drawAudit();
}

const fmt = (v) => (v === null || v === undefined ? '–' : typeof v === 'string' ? v : JSON.stringify(v));
/** `active → paused`, or for two objects only the fields that changed: `per_symbol_limit 1000000 → 1`. */
function change(a) {
  const isObj = (v) => v && typeof v === 'object' && !Array.isArray(v);
  if (isObj(a.old) && isObj(a.new)) {
    const keys = [...new Set([...Object.keys(a.old), ...Object.keys(a.new)])].filter((k) => JSON.stringify(a.old[k]) !== JSON.stringify(a.new[k]));
    return keys.length ? keys.map((k) => `${k} ${fmt(a.old[k])} → ${fmt(a.new[k])}`).join('; ') : 'no change';
  }
  if (isObj(a.new) && a.new.spec) return `${fmt(a.old)} → ${a.new.status}: ${a.new.spec.strategy_name} on ${a.new.spec.asset}`;
  return `${fmt(a.old).slice(0, 60)} → ${fmt(a.new).slice(0, 80)}`;
}
let auditTimer = null;
async function drawAudit() {
  auditTimer = null;
  try {
    const rows = await get('/api/audit?limit=500');
    noteAudit(rows);
    const el = tid('audit-list');
    if (!el) return;
    el.replaceChildren(rows.length ? table([
      ['When', (a) => time(a.timestamp)], ['Who', (a) => a.actor], ['Action', (a) => a.action], ['Target', (a) => a.target],
      ['Old → new', (a) => h('span', { title: `${fmt(a.old)} → ${fmt(a.new)}`, testid: `audit-change-${a.seq}` }, change(a))],
      ['Detail', (a) => a.detail],
    ], rows, 'audit-table', (a) => `audit-row-${a.seq}`) : h('div.muted', 'No control action yet'));
  } catch { /* next time */ }
}

export function initLogs() {
  push.on('log', (d) => {
    add(d);
    // A control action was made: the audit trail (and the equity markers) follow.
    if (!auditTimer) auditTimer = setTimeout(drawAudit, 700);
  });
}
