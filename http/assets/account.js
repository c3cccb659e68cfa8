// The account view: NAV, balance, P/L, margin, open positions and trades, drawdown; the equity curve
// (NAV, so unrealized P/L included; balance dashed; drawdown shaded below) loaded from /api/equity and
// extended live by `metric` frames, with every control action from /api/audit as a marker on it.

import { get } from './api.js';
import { h, tid, money, pct, signClass, table, time, chartTime, settings } from './dom.js';
import { push, subscribe, latest, perf } from './state.js';

let chart, eqSeries, balSeries, ddSeries, points = [], audit = [], lastTime = 0;

function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

export function chartTheme() {
  return {
    // The logo injects a <style> element, which the page's CSP refuses; the footer carries the attribution
    // and the link to tradingview.com instead, as the library's licence notes allow.
    layout: { background: { color: 'transparent' }, textColor: css('--muted'), fontSize: 11, attributionLogo: false },
    grid: { vertLines: { color: css('--line') + '55' }, horzLines: { color: css('--line') + '55' } },
    timeScale: { timeVisible: true, secondsVisible: false, borderColor: css('--line') },
    rightPriceScale: { borderColor: css('--line') },
    crosshair: { mode: 0 },
  };
}

function card(k, testid) { return h('div.card', h('div.k', k), h('div.v', { testid }, '–')); }

export function renderAccount(root) {
  root.replaceChildren(
    h('div.cards', { testid: 'account-cards' },
      card('NAV', 'acct-nav'), card('Balance', 'acct-balance'), card('Realized P/L', 'acct-realized'),
      card('Unrealized P/L', 'acct-unrealized'), card('Margin used', 'acct-margin-used'), card('Margin available', 'acct-margin-available'),
      card('Open positions', 'acct-open-positions'), card('Open trades', 'acct-open-trades'), card('Drawdown', 'acct-drawdown')),
    h('div.panel', h('h2', 'Equity', h('span.spacer'), h('span.legend',
      h('span', h('i', { class: 'lg-eq' }), 'NAV (incl. unrealized)'), h('span', h('i', { class: 'lg-bal' }), 'balance'),
      h('span', h('i', { class: 'lg-dd' }), 'drawdown'), h('span', '▲ control action'))),
      h('div.chart.tall', { testid: 'equity-chart' }), h('div.muted', { testid: 'equity-count' }, '')),
    h('div.two',
      h('div.panel', h('h2', 'Open positions'), h('div.scroll', { testid: 'account-positions' })),
      h('div.panel', h('h2', 'Trades'), h('div.scroll', { testid: 'account-trades' }))));
  buildChart();
  drawPositions(latest.positions || []);
}

function buildChart() {
  const el = tid('equity-chart');
  if (!window.LightweightCharts || !el) return;
  chart = LightweightCharts.createChart(el, { ...chartTheme(), autoSize: true, leftPriceScale: { visible: false } });
  eqSeries = chart.addAreaSeries({ lineColor: css('--accent'), topColor: css('--accent') + '55', bottomColor: css('--accent') + '05', lineWidth: 2, priceLineVisible: false });
  balSeries = chart.addLineSeries({ color: css('--muted'), lineWidth: 1, lineStyle: 2, priceLineVisible: false, lastValueVisible: false });
  ddSeries = chart.addBaselineSeries({
    priceScaleId: 'dd', baseValue: { type: 'price', price: 0 }, lineWidth: 1, priceLineVisible: false, lastValueVisible: false,
    topLineColor: 'transparent', topFillColor1: 'transparent', topFillColor2: 'transparent',
    bottomLineColor: css('--down'), bottomFillColor1: css('--down') + '10', bottomFillColor2: css('--down') + '66',
    priceFormat: { type: 'custom', formatter: (v) => `${v.toFixed(2)}%` },
  });
  chart.priceScale('dd').applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  eqSeries.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.25 } });
  setData();
}

function setData() {
  if (!eqSeries) return;
  const t0 = performance.now();
  eqSeries.setData(points.map((p) => ({ time: chartTime(p.t), value: p.equity })));
  balSeries.setData(points.map((p) => ({ time: chartTime(p.t), value: p.balance })));
  ddSeries.setData(points.map((p) => ({ time: chartTime(p.t), value: -p.drawdown * 100 })));
  setMarkers();
  fit();
  perf.record('equity-setData', performance.now() - t0);
  tid('equity-count').textContent = `${points.length} points`;
}

/** Fits the whole curve in view. The chart sizes itself (autoSize) a little after it is built, so this is
 * repeated once it has its width; while the curve is short, every update keeps it fitted. */
function fit() {
  if (!chart) return;
  chart.timeScale().fitContent();
  setTimeout(() => chart && chart.timeScale().fitContent(), 150);
}

/** Control actions as markers, each on the equity point at or before it. */
function setMarkers() {
  if (!eqSeries || !points.length) return;
  const markers = [];
  for (const a of audit) {
    const at = Date.parse(a.timestamp) / 1000;
    let lo = 0, hi = points.length - 1;
    if (at < points[0].t) continue;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (points[mid].t <= at) lo = mid; else hi = mid - 1; }
    markers.push({ time: chartTime(points[lo].t), position: 'aboveBar', color: css('--warn'), shape: 'arrowDown', text: label(a), id: `audit-${a.seq}` });
  }
  markers.sort((x, y) => x.time - y.time);
  eqSeries.setMarkers(markers);
}
/** A marker's few words: `op 3 paused`, `risk`, `session running`. */
function label(a) {
  const who = a.target.replace('operation ', 'op ');
  const what = typeof a.new === 'string' ? a.new : a.new && a.new.status ? 'created' : a.new && a.new.state ? a.new.state : '';
  if (a.action === 'risk_updated') return 'risk';
  if (a.action === 'session_configured') return 'session configured';
  return `${who} ${what}`.trim();
}

export async function loadEquity() {
  try {
    const [eq, au] = await Promise.all([get('/api/equity?max_points=20000'), get('/api/audit?limit=500')]);
    points = eq.map((p) => ({ t: Math.floor(p.time), equity: p.equity, balance: p.balance, drawdown: p.drawdown })).filter((p, i, a) => i === 0 || p.t > a[i - 1].t);
    lastTime = points.length ? points[points.length - 1].t : 0;
    audit = au.slice().reverse();
    setData();
  } catch (e) { console.warn('equity history', e); }
}

function onMetric(m) {
  const t = Math.floor(Date.parse(m.timestamp) / 1000);
  const a = latest.account;
  tid('acct-drawdown') && (tid('acct-drawdown').textContent = pct(m.drawdown * 100));
  if (!(t > lastTime)) return;
  const t0 = performance.now();
  lastTime = t;
  const p = { t, equity: m.equity, balance: a ? a.balance : m.equity, drawdown: m.drawdown };
  points.push(p);
  // Drawn points stay near what /api/equity loads (20,000 for a day): past 30,000 the older half is
  // thinned once, so a page left open for days keeps its frame rate (see BENCHMARKS.md).
  if (points.length > 30000) {
    const half = points.length >> 1;
    points = points.slice(0, half).filter((_, i) => i % 2 === 0).concat(points.slice(half));
    setData();
    return;
  }
  if (eqSeries) {
    eqSeries.update({ time: chartTime(t), value: p.equity });
    balSeries.update({ time: chartTime(t), value: p.balance });
    ddSeries.update({ time: chartTime(t), value: -p.drawdown * 100 });
    tid('equity-count').textContent = `${points.length} points`;
    if (points.length < 600) chart.timeScale().fitContent();
  }
  perf.record('equity-update', performance.now() - t0);
}

function onAccount(a) {
  const set = (id, v, cls) => { const el = tid(id); if (el) { el.textContent = v; el.className = `v ${cls || ''}`; } };
  set('acct-nav', money(a.NAV));
  set('acct-balance', money(a.balance));
  set('acct-realized', money(a.pl, true), signClass(a.pl));
  set('acct-unrealized', money(a.unrealizedPL, true), signClass(a.unrealizedPL));
  set('acct-margin-used', money(a.marginUsed));
  set('acct-margin-available', money(a.marginAvailable ?? a.NAV - a.marginUsed));
  set('acct-open-positions', String(a.openPositionCount));
  if (a.openTradeCount !== undefined) set('acct-open-trades', String(a.openTradeCount));
}

function holder(p) { return p.holder?.operation_id ? h('a', { href: `#/operations/${p.holder.operation_id}` }, `op ${p.holder.operation_id}`) : p.holder?.session ? 'session' : '–'; }

function drawPositions(rows) {
  const el = tid('account-positions');
  if (!el) return;
  el.replaceChildren(rows.length ? table([
    ['Holder', holder], ['Instrument', (p) => p.instrument], ['Side', (p) => p.side], ['Units', (p) => p.units, 'num'],
    ['Avg price', (p) => p.avgPrice, 'num'], ['Mark', (p) => p.currentPrice ?? '–', 'num'], ['Stop', (p) => p.stopLoss ?? '–', 'num'],
    ['Target', (p) => p.takeProfit ?? '–', 'num'], ['Unrealized', (p) => h('span', { class: signClass(p.unrealizedPL) }, money(p.unrealizedPL, true)), 'num'],
  ], rows, 'account-positions-table') : h('div.muted', 'No open positions'));
}

let tradesTimer = null;
async function drawTrades() {
  tradesTimer = null;
  const el = tid('account-trades');
  if (!el) return;
  try {
    const rows = await get('/account/trades?limit=50');
    el.replaceChildren(rows.length ? table([
      ['Holder', holder], ['Instrument', (t) => t.instrument], ['Units', (t) => t.units, 'num'], ['Entry', (t) => t.entry_price, 'num'],
      ['Exit', (t) => t.close_price ?? '–', 'num'], ['Status', (t) => t.status], ['P/L', (t) => h('span', { class: signClass(t.pnl) }, money(t.pnl, true)), 'num'],
      ['Opened', (t) => time(t.open_timestamp)],
    ], rows, 'account-trades-table') : h('div.muted', 'No trades yet'));
  } catch (e) { el.replaceChildren(h('div.muted', e.detail || e.message)); }
}

export async function refreshAccount() {
  try {
    const s = await get('/account/summary');
    onAccount(s);
  } catch { /* shown by the header */ }
  drawTrades();
}

export function initAccount() {
  subscribe('account', onAccount);
  subscribe('metric', onMetric);
  subscribe('positions', drawPositions);
  push.on('order', () => { if (!tradesTimer) tradesTimer = setTimeout(drawTrades, 1500); });
  push.on('log', () => {});
  window.addEventListener('pinion-settings', () => {
    if (chart) { chart.remove(); chart = null; eqSeries = null; }
    const el = tid('equity-chart');
    if (el) { el.replaceChildren(); buildChart(); }
  });
}

/** Appends a control action live (from the audit refresh after each `log` frame of pinion::control). */
export function noteAudit(entries) { audit = entries.slice().reverse(); setMarkers(); }
export { settings };

/**
 * The performance probe the browser test calls: draws a synthetic `n`-point equity curve (one point a
 * second, drawdown and markers included) in a chart built like the live one, and measures the time to
 * the first painted frame, then `updates` live updates (each one's own cost, and with a forced repaint).
 */
window.__pinionBenchEquity = async (n, updates) => {
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  const el = h('div', { style: 'position:fixed;left:0;top:0;width:1200px;height:420px;z-index:-1' });
  document.body.append(el);
  const t0 = performance.now();
  const c = LightweightCharts.createChart(el, { ...chartTheme(), width: 1200, height: 420 });
  const eq = c.addAreaSeries({ lineColor: css('--accent'), topColor: css('--accent') + '55', bottomColor: css('--accent') + '05', lineWidth: 2 });
  const dd = c.addBaselineSeries({ priceScaleId: 'dd', baseValue: { type: 'price', price: 0 } });
  const start = 1700000000;
  let v = 100000, peak = v;
  const pts = [], dds = [];
  for (let i = 0; i < n; i += 1) {
    v += Math.sin(i / 500) * 3 + ((i * 7919) % 13) - 6;
    peak = Math.max(peak, v);
    pts.push({ time: start + i, value: v });
    dds.push({ time: start + i, value: -(1 - v / peak) * 100 });
  }
  eq.setData(pts);
  dd.setData(dds);
  eq.setMarkers(Array.from({ length: 50 }, (_, k) => ({ time: start + Math.floor((k * n) / 50), position: 'aboveBar', shape: 'arrowDown', color: '#f0b429', text: 'op' })));
  c.timeScale().fitContent();
  await frame();
  await frame();
  const first = performance.now() - t0;
  const own = [], painted = [], forced = [];
  for (let i = 0; i < updates; i += 1) {
    v += ((i * 31) % 7) - 3;
    const a = performance.now();
    eq.update({ time: start + n + i, value: v });
    dd.update({ time: start + n + i, value: -(1 - v / Math.max(peak, v)) * 100 });
    own.push(performance.now() - a);
    // Until the update is on screen: the chart paints on the next animation frame.
    await frame();
    painted.push(performance.now() - a);
    if (i < 10) {
      // A full synchronous repaint of every pane (an upper bound of one frame's drawing).
      const r = performance.now();
      c.takeScreenshot();
      forced.push(performance.now() - r);
    }
    await new Promise((r) => setTimeout(r, 0));
  }
  c.remove();
  el.remove();
  const stats = (xs) => { const s = xs.slice().sort((x, y) => x - y); return { mean: s.reduce((p, q) => p + q, 0) / s.length, p99: s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] }; };
  return { points: n, first_render_ms: first, update: stats(own), update_to_next_frame: stats(painted), full_repaint: stats(forced) };
};
