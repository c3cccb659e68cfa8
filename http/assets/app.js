// The dashboard's entry point: asks for the token when the server wants one, connects /ws, routes the
// hash (#/account, #/operations, #/operations/N, #/session, #/risk, #/log, #/audit) to its view, toasts
// fills, refusals and errors, and resyncs every view over REST after a reconnect.

import { get, token, setUnauthorizedHandler } from './api.js';
import { h, tid, toast, modal } from './dom.js';
import { push, publish, latest } from './state.js';
import { initHeader } from './header.js';
import { renderAccount, initAccount, loadEquity, refreshAccount } from './account.js';
import { renderOperations, initOperations } from './operations.js';
import { renderOperation, initOperationPage, leaveOperation } from './operation_page.js';
import { renderSession, initSession, leaveSession } from './session.js';
import { renderRisk } from './risk.js';
import { renderLog, renderAudit, initLogs, loadLogHistory } from './logs.js';

window.addEventListener('error', (e) => { window.__pinionErrors = (window.__pinionErrors || []).concat(String(e.message)); });
window.addEventListener('unhandledrejection', (e) => { window.__pinionErrors = (window.__pinionErrors || []).concat(String(e.reason && (e.reason.detail || e.reason.message) || e.reason)); });

let asking = null;
function askToken() {
  if (asking) return asking;
  asking = new Promise((resolve) => {
    const input = h('input', { type: 'password', testid: 'token-input', placeholder: 'bearer token', autocomplete: 'off' });
    const err = h('div.form-error', { testid: 'token-error' });
    let close = () => {};
    const submit = async (e) => {
      e.preventDefault();
      token.set(input.value.trim());
      try {
        await get('/account/summary');
        close();
        asking = null;
        resolve();
        location.reload();
      } catch (x) { err.textContent = x.status === 401 ? 'that token is not accepted' : x.detail; token.clear(); }
    };
    close = modal(h('form', { testid: 'token-dialog', onsubmit: submit },
      h('h3', 'This server needs a token'),
      h('p.muted', 'Enter the bearer token pinion was started with (PINION_TOKEN). It is kept in this browser only.'),
      input, err, h('div.row', h('button.primary', { type: 'submit', testid: 'token-submit' }, 'Continue'))));
    input.focus();
  });
  return asking;
}

const VIEWS = ['account', 'operations', 'operation', 'session', 'risk', 'log', 'audit'];
function route() {
  const parts = (location.hash || '#/account').slice(2).split('/');
  let name = parts[0] || 'account';
  const id = name === 'operations' && parts[1] ? Number(parts[1]) : null;
  if (id) name = 'operation';
  if (!VIEWS.includes(name)) name = 'account';
  for (const v of VIEWS) tid(`view-${v}`).classList.toggle('hidden', v !== name);
  document.querySelectorAll('.tabs a').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === `#/${name === 'operation' ? 'operations' : name}`));
  if (name !== 'operation') leaveOperation();
  if (name !== 'session') leaveSession();
  const root = tid(`view-${name}`);
  ({
    account: () => { if (!root.childElementCount) { renderAccount(root); loadEquity(); } refreshAccount(); },
    operations: () => renderOperations(root),
    operation: () => renderOperation(root, id),
    session: () => renderSession(root),
    risk: () => renderRisk(root),
    log: () => renderLog(root),
    audit: () => renderAudit(root),
  })[name]();
}

function toasts() {
  push.on('order', (o) => {
    const who = o.operation_id ? `operation ${o.operation_id}` : o.session ? 'session' : 'order';
    if (o.status === 'FILLED') toast('fill', `Filled: ${o.side} ${o.quantity} ${o.instrument} @ ${o.price}`, `${who} · ${o.purpose.toLowerCase().replace('_', ' ')} · order ${o.id}`, 'toast-fill');
    else if (o.status === 'REJECTED') toast('reject', `Rejected: ${o.side} ${o.quantity} ${o.instrument}`, `${who}: ${o.reason || 'no reason given'}`, 'toast-reject');
  });
  push.on('log', (l) => { if (l.level === 'ERROR') toast('error', 'Error', l.message, 'toast-log-error'); });
}

async function resync() {
  try { publish('health', await get('/health')); } catch { /* the header shows it */ }
  loadEquity();
  loadLogHistory();
  route();
}

async function main() {
  initHeader();
  setUnauthorizedHandler(() => askToken());
  try { publish('health', await get('/health')); } catch (e) { toast('error', 'Server unreachable', e.detail); }
  try { await get('/account/summary'); } catch (e) { if (e.status === 401) await askToken(); }
  initAccount();
  initOperations();
  initOperationPage();
  initSession();
  initLogs();
  toasts();
  push.onResync(resync);
  push.connect();
  window.addEventListener('hashchange', route);
  route();
  loadLogHistory();
  document.body.dataset.ready = 'true';
  window.__pinionReady = performance.now();
}

main();
export { latest };
