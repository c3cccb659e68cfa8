// DOM and formatting helpers shared by every view: element builder, number/time formats (UTC or
// local, from the settings), toasts and confirmation dialogs. No innerHTML with data: text only.

export const settings = {
  get tz() { return localStorage.getItem('pinion.tz') || 'utc'; },
  set tz(v) { localStorage.setItem('pinion.tz', v); },
  get theme() { return localStorage.getItem('pinion.theme') || 'dark'; },
  set theme(v) { localStorage.setItem('pinion.theme', v); },
};

/** h('div.cls', {attrs}, ...children): builds an element; strings become text nodes. */
export function h(tag, attrs, ...kids) {
  const [name, ...cls] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (cls.length) el.className = cls.join(' ');
  if (attrs !== undefined && attrs !== null && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) { kids.unshift(attrs); attrs = null; }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'testid') el.dataset.testid = v;
    else if (k === 'class') el.className = v;
    else if (k === 'style') el.style.cssText = v; // CSSOM: allowed under the page's CSP, a style attribute is not
    else if (k in el && k !== 'list' && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const tid = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

export function money(v, sign = false) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  const s = Number(v).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return sign && v > 0 ? `+${s}` : s;
}
export function num(v, dp = 2) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  return Number(v).toLocaleString('en-US', { minimumFractionDigits: dp, maximumFractionDigits: dp });
}
export function pct(v, dp = 2) { return v === null || v === undefined ? '–' : `${num(v, dp)}%`; }
export function signClass(v) { return v > 0 ? 'pos' : v < 0 ? 'neg' : ''; }

/** An ISO time or epoch seconds as `YYYY-MM-DD HH:MM:SS` in the chosen zone. */
export function time(t, withDate = true) {
  if (t === null || t === undefined || t === '') return '–';
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  if (d.getTime() <= 0) return '–'; // before the feed's first tick
  const utc = settings.tz === 'utc';
  const p = (n) => String(n).padStart(2, '0');
  const Y = utc ? d.getUTCFullYear() : d.getFullYear(), M = p((utc ? d.getUTCMonth() : d.getMonth()) + 1), D = p(utc ? d.getUTCDate() : d.getDate());
  const hh = p(utc ? d.getUTCHours() : d.getHours()), mm = p(utc ? d.getUTCMinutes() : d.getMinutes()), ss = p(utc ? d.getUTCSeconds() : d.getSeconds());
  return withDate ? `${Y}-${M}-${D} ${hh}:${mm}:${ss}` : `${hh}:${mm}:${ss}`;
}
/** Epoch seconds shifted so that a chart drawing UTC shows the chosen zone. */
export function chartTime(sec) {
  return settings.tz === 'utc' ? sec : sec - new Date(sec * 1000).getTimezoneOffset() * 60;
}

export function statusTag(s) { return h('span', { class: `status ${s}` }, String(s).replace('_', ' ')); }

/** A toast: kind is fill | reject | error | warn | info. */
export function toast(kind, title, text, testid) {
  const box = document.querySelector('[data-testid="toasts"]');
  // The same news again (a strategy refused on every bar) counts up instead of stacking.
  const key = `${kind}|${title}|${text || ''}`;
  const same = [...box.children].find((c) => c.dataset.key === key);
  const ttl = kind === 'reject' || kind === 'error' ? 12000 : kind === 'fill' ? 4000 : 6000;
  if (same) {
    same.dataset.count = String(Number(same.dataset.count || 1) + 1);
    same.querySelector('b').textContent = `${title} ×${same.dataset.count}`;
    clearTimeout(same._timer);
    same._timer = setTimeout(() => same.remove(), ttl);
    return;
  }
  // Fills are frequent: at most two of them on screen, the newest.
  if (kind === 'fill') [...box.querySelectorAll('.toast.fill')].slice(0, -1).forEach((c) => c.remove());
  const t = h('div', { class: `toast ${kind}`, testid: testid || `toast-${kind}`, 'data-key': key }, h('b', title), text ? h('span', text) : null);
  box.append(t);
  while (box.children.length > 5) box.firstChild.remove();
  t._timer = setTimeout(() => t.remove(), ttl);
}

/** Shows `content` in the modal; returns a function that closes it. */
export function modal(content) {
  const m = document.querySelector('[data-testid="modal"]');
  const box = document.querySelector('[data-testid="modal-box"]');
  box.replaceChildren(content);
  m.classList.remove('hidden');
  const close = () => { m.classList.add('hidden'); box.replaceChildren(); };
  m.onclick = (e) => { if (e.target === m) close(); };
  return close;
}

/** Asks to confirm a destructive action; with `typed`, the user must type that word. Resolves true/false. */
export function confirmAction(title, text, typed) {
  return new Promise((resolve) => {
    const input = typed ? h('input', { testid: 'confirm-input', placeholder: `type ${typed}`, autocomplete: 'off' }) : null;
    const ok = h('button', { class: 'danger', testid: 'confirm-ok', disabled: !!typed }, 'Confirm');
    let close = () => {};
    const done = (v) => { close(); resolve(v); };
    if (input) input.addEventListener('input', () => { ok.disabled = input.value.trim() !== typed; });
    ok.addEventListener('click', () => done(true));
    close = modal(h('div', { testid: 'confirm-dialog' },
      h('h3', title), h('p', text), input,
      h('div.row', h('button', { testid: 'confirm-cancel', onclick: () => done(false) }, 'Cancel'), ok)));
    (input || ok).focus();
  });
}

/** A table from rows: `cols` is [[header, row => cell, className?]]. */
export function table(cols, rows, testid, rowTestid) {
  return h('table', { testid },
    h('thead', h('tr', cols.map(([name, , cls]) => h('th', { class: cls || '' }, name)))),
    h('tbody', rows.map((r) => h('tr', { testid: rowTestid ? rowTestid(r) : null }, cols.map(([, f, cls]) => h('td', { class: cls || '' }, f(r)))))));
}

export function kv(pairs, testid) {
  return h('dl.kv', { testid }, pairs.flatMap(([k, v]) => [h('dt', k), h('dd', v)]));
}
