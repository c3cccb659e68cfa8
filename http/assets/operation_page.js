// One operation's page: overview and stats, pause / resume / stop, the price chart (candles of the
// primary bar size, the strategy's indicator lines, entry/exit markers with P/L in their tooltip, the
// open position's entry, stop and target as price lines, live), the "why" panel behind each marker and
// order, and its positions, orders, transactions and trades, paged.

import { call, get, post, del } from './api.js';
import { h, tid, money, pct, num, signClass, statusTag, table, time, chartTime, toast, confirmAction, modal, kv } from './dom.js';
import { push, perf } from './state.js';
import { chartTheme } from './account.js';

let cur = null; // { id, op, chart, candles, lines, osc, fills, priceLines, timers }
const PAGE = 50;
const COLORS = ['#f0b429', '#b36bff', '#4cc9f0', '#ff7ab6', '#9ad14b', '#ff9f43'];

function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

function barSeconds(size) {
  const m = /^(\d+)\s*(sec|secs|min|mins|hour|hours|day|days|week|weeks)$/.exec(size || '');
  if (!m) return 60;
  const unit = { sec: 1, secs: 1, min: 60, mins: 60, hour: 3600, hours: 3600, day: 86400, days: 86400, week: 604800, weeks: 604800 }[m[2]];
  return Number(m[1]) * unit;
}

export function leaveOperation() {
  if (!cur) return;
  cur.timers.forEach(clearInterval);
  if (cur.chart) cur.chart.remove();
  cur = null;
}

export async function renderOperation(root, id) {
  leaveOperation();
  cur = { id, timers: [], fills: [], priceLines: [], tab: 'orders', page: 0, lines: {} };
  root.replaceChildren(
    h('div.panel', { testid: 'op-header' }, h('h2', h('a', { href: '#/operations' }, '← Operations'), h('span', { testid: 'op-title' }, `Operation ${id}`), h('span.spacer'), h('span', { testid: 'op-controls' }))),
    h('div.cards', { testid: 'op-stats' }),
    h('div.three',
      h('div.panel', h('h2', 'Price', h('span.spacer'), h('span.legend', { testid: 'op-legend' })), h('div.chart.tall', { testid: 'price-chart' })),
      h('div.panel', h('h2', 'Overview'), h('div', { testid: 'op-overview' }), h('h2', { style: 'margin-top:14px' }, 'Positions'), h('div', { testid: 'op-positions' }))),
    h('div.panel',
      h('div.subtabs', ['orders', 'transactions', 'trades'].map((t) => h('button', { testid: `op-tab-${t}`, class: t === 'orders' ? 'active' : '', onclick: (e) => {
        cur.tab = t; cur.page = 0; root.querySelectorAll('.subtabs button').forEach((b) => b.classList.remove('active')); e.target.classList.add('active'); drawList();
      } }, t[0].toUpperCase() + t.slice(1)))),
      h('div.scroll', { testid: 'op-list' }), h('div.pager', { testid: 'op-pager' })));
  try {
    cur.op = await get(`/api/operations/${id}`);
  } catch (e) {
    tid('op-title').textContent = `Operation ${id}: ${e.detail}`;
    return;
  }
  const t0 = performance.now();
  drawHeader();
  await Promise.all([drawStats(), buildChart(), drawList()]);
  perf.record('operation-page-first-render', performance.now() - t0);
  cur.timers.push(setInterval(() => { if (cur) liveBars(); }, 2000));
}

function drawHeader() {
  const op = cur.op;
  tid('op-title').replaceChildren(`Operation ${op.id} · ${op.strategy_name} on ${op.asset} `, statusTag(op.status));
  tid('op-title').dataset.status = op.status;
  const act = (what) => async () => {
    try {
      if (what === 'stop') {
        if (!(await confirmAction(`Stop operation ${op.id}?`, 'Closes its open positions at market and marks it closed.'))) return;
        cur.op = await del(`/api/operations/${op.id}`);
      } else cur.op = await post(`/api/operations/${op.id}/${what}`, {});
      toast('info', `Operation ${op.id} ${what === 'stop' ? 'stopped' : what + 'd'}`);
    } catch (e) { toast('error', `${what} refused`, e.detail); }
    if (cur) { drawHeader(); drawStats(); }
  };
  tid('op-controls').replaceChildren(h('span.actions',
    op.status === 'active' ? h('button', { testid: 'opp-pause', onclick: act('pause') }, 'Pause') : null,
    op.status === 'paused' ? h('button', { testid: 'opp-resume', onclick: act('resume') }, 'Resume') : null,
    op.status !== 'closed' ? h('button.danger', { testid: 'opp-stop', onclick: act('stop') }, 'Stop') : null));
  tid('op-overview').replaceChildren(kv([
    ['Asset', op.asset], ['Bar sizes', `${op.bar_sizes.join(', ')} (primary ${op.primary_bar_size})`], ['Strategy', op.strategy_name],
    ['Config', JSON.stringify(op.strategy_config)], ['Capital', `${money(op.current_capital)} of ${money(op.initial_capital)}`],
    ['Stop-loss', `${op.stop_loss_type} ${op.stop_loss_value}`], ['Take-profit', `${op.take_profit_type} ${op.take_profit_value}`],
    ['Crash recovery', op.crash_recovery_mode], ['Emergency stop', pct(op.emergency_stop_loss_pct * 100)],
    ['Created', time(op.created_at)], ['Error', op.error || '–'],
  ], 'op-overview-kv'));
}

async function drawStats() {
  if (!cur) return;
  try {
    const [s, pos] = await Promise.all([get(`/api/operations/${cur.id}/stats`), get(`/api/operations/${cur.id}/positions`)]);
    const c = (k, v, cls, id) => h('div.card', h('div.k', k), h('div.v', { class: `v ${cls || ''}`, testid: id }, v));
    tid('op-stats').replaceChildren(
      c('Total P/L', money(s.total_pnl, true), signClass(s.total_pnl), 'ops-total-pnl'), c('Trades', String(s.total_trades), '', 'ops-trades'),
      c('Win rate', pct(s.win_rate), '', 'ops-winrate'), c('Profit factor', s.profit_factor === null ? '–' : num(s.profit_factor)),
      c('Avg win / loss', `${money(s.average_win)} / ${money(s.average_loss)}`), c('Max drawdown', pct(s.max_drawdown_pct)),
      c('Sharpe', s.sharpe === null ? '–' : num(s.sharpe)), c('Commission', money(s.total_commission)));
    tid('op-positions').replaceChildren(pos.length ? table([
      ['Side', (p) => p.side], ['Qty', (p) => p.quantity, 'num'], ['Entry', (p) => p.entry_price, 'num'], ['Mark', (p) => p.current_price ?? '–', 'num'],
      ['Stop', (p) => p.stop_loss ?? '–', 'num'], ['Target', (p) => p.take_profit ?? '–', 'num'],
      ['Unrealized', (p) => h('span', { class: signClass(p.unrealized_pnl) }, money(p.unrealized_pnl, true)), 'num'],
    ], pos, 'op-positions-table') : h('div.muted', 'Flat'));
    drawPriceLines(pos);
  } catch { /* transient */ }
}

async function buildChart() {
  const el = tid('price-chart');
  if (!window.LightweightCharts || !el) return;
  const chart = LightweightCharts.createChart(el, { ...chartTheme(), autoSize: true });
  cur.chart = chart;
  cur.candles = chart.addCandlestickSeries({ upColor: css('--up'), downColor: css('--down'), wickUpColor: css('--up'), wickDownColor: css('--down'), borderVisible: false });
  cur.candles.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.25 } });
  let data;
  try { data = await get(`/api/operations/${cur.id}/bars?limit=600`); } catch (e) { el.append(h('div.muted', e.detail)); return; }
  if (!cur) return;
  cur.precision = data.price_precision;
  cur.candles.applyOptions({ priceFormat: { type: 'price', precision: data.price_precision + 1, minMove: 10 ** -(data.price_precision + 1) } });
  cur.barSecs = barSeconds(data.bar_size);
  tid('op-legend').replaceChildren(h('span', `${data.instrument} · ${data.bar_size}`));
  ensureLines(data.indicators);
  setBars(data.bars);
  chart.timeScale().fitContent();
  await loadFills();
  const tip = h('div.tip.hidden', { testid: 'marker-tip' });
  el.append(tip);
  chart.subscribeCrosshairMove((p) => {
    const g = p.hoveredObjectId && cur.groups && cur.groups.get(p.hoveredObjectId);
    if (!g || !p.point) { tip.classList.add('hidden'); return; }
    const f = g.fills[g.fills.length - 1];
    const pnl = g.fills.reduce((s, x) => s + (x.profit || 0), 0);
    tip.classList.remove('hidden');
    tip.replaceChildren(h('b', `${f.action} ${f.side} ${f.quantity} @ ${f.price}`), g.fills.length > 1 ? h('span.muted', ` (latest of ${g.fills.length} this bar)`) : null, h('br'),
      f.action === 'EXIT' ? h('span', { class: signClass(pnl) }, `P/L ${money(pnl, true)}${g.fills.length > 1 ? ' in total' : ` (${pct(f.profit_pct)})`}`) : h('span.muted', `commission ${money(f.commission)}`),
      h('br'), h('span.muted', `${time(f.executed_at)} · click for why`));
    tip.style.left = `${Math.min(p.point.x + 12, el.clientWidth - 220)}px`;
    tip.style.top = `${Math.max(p.point.y - 60, 0)}px`;
  });
  chart.subscribeClick((p) => {
    const g = p.hoveredObjectId && cur.groups && cur.groups.get(p.hoveredObjectId);
    if (g) showWhy(g.fills[g.fills.length - 1].order_id);
  });
}

/** Adds a line (and its legend entry) for each indicator not drawn yet: a strategy's indicators appear
 * once they are warm, which may be after the chart was built. */
function ensureLines(indicators) {
  let added = false;
  for (const ind of indicators) {
    if (cur.lines[ind.name]) continue;
    const color = COLORS[Object.keys(cur.lines).length % COLORS.length];
    cur.lines[ind.name] = cur.chart.addLineSeries({ color, lineWidth: ind.overlay ? 2 : 1, priceLineVisible: false, lastValueVisible: false, priceScaleId: ind.overlay ? 'right' : 'osc' });
    if (!ind.overlay) cur.chart.priceScale('osc').applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    tid('op-legend').append(h('span', { testid: `legend-${ind.name}` }, h('i', { style: `background:${color}` }), ind.name));
    added = true;
  }
  return added;
}

function point(b) { return { time: chartTime(b.time), open: b.open, high: b.high, low: b.low, close: b.close }; }

function setBars(bars) {
  cur.lastBar = bars.length ? bars[bars.length - 1].time : 0;
  cur.candles.setData(bars.map(point));
  for (const [name, s] of Object.entries(cur.lines)) {
    s.setData(bars.filter((b) => b.indicators[name] !== undefined).map((b) => ({ time: chartTime(b.time), value: b.indicators[name] })));
  }
}

async function liveBars() {
  if (!cur?.candles) return;
  try {
    const data = await get(`/api/operations/${cur.id}/bars?limit=3`);
    if (!cur) return;
    if (ensureLines(data.indicators)) {
      // New lines: draw their history too.
      const all = await get(`/api/operations/${cur.id}/bars?limit=600`);
      if (cur) setBars(all.bars);
      return;
    }
    const t0 = performance.now();
    for (const b of data.bars) {
      if (b.time < cur.lastBar) continue;
      cur.lastBar = b.time;
      cur.candles.update(point(b));
      for (const [name, s] of Object.entries(cur.lines)) if (b.indicators[name] !== undefined) s.update({ time: chartTime(b.time), value: b.indicators[name] });
    }
    perf.record('price-update', performance.now() - t0);
  } catch { /* next time */ }
}

async function loadFills() {
  if (!cur?.candles) return;
  try {
    const fills = await get(`/api/operations/${cur.id}/transactions?limit=1000`);
    if (!cur) return;
    cur.fills = fills.slice().reverse();
    const first = cur.lastBar ? cur.lastBar - 600 * cur.barSecs : 0;
    // One marker per bar and kind (entries long, entries short, exits): a busy strategy fills many times
    // a bar, and hundreds of stacked markers would hide the candles (and cost the chart its frame rate).
    const groups = new Map();
    for (const f of cur.fills) {
      const at = Date.parse(f.executed_at) / 1000;
      if (at < first) continue;
      const t = Math.floor(at / cur.barSecs) * cur.barSecs;
      const kind = f.action === 'EXIT' ? 'exit' : f.side === 'BUY' ? 'buy' : 'sell';
      const key = `b${t}-${kind}`;
      if (!groups.has(key)) groups.set(key, { t, kind, fills: [] });
      groups.get(key).fills.push(f);
    }
    cur.groups = groups;
    const markers = [...groups.entries()].map(([id, g]) => {
      const pnl = g.fills.reduce((s, f) => s + (f.profit || 0), 0);
      const n = g.fills.length > 1 ? `${g.fills.length}× ` : '';
      return {
        time: chartTime(g.t), id, position: g.kind === 'sell' ? 'aboveBar' : 'belowBar',
        color: g.kind === 'exit' ? (pnl >= 0 ? css('--ok') : css('--bad')) : g.kind === 'buy' ? css('--up') : css('--down'),
        shape: g.kind === 'exit' ? 'circle' : g.kind === 'buy' ? 'arrowUp' : 'arrowDown',
        // Entries are arrows only; exits carry their P/L (the tooltip has the rest).
        text: g.kind === 'exit' ? `${n}${money(pnl, true)}` : '',
      };
    });
    markers.sort((a, b) => a.time - b.time);
    cur.candles.setMarkers(markers);
    tid('price-chart').dataset.markers = String(markers.length);
  } catch { /* next order frame retries */ }
}

function drawPriceLines(pos) {
  if (!cur?.candles) return;
  cur.priceLines.forEach((l) => cur.candles.removePriceLine(l));
  cur.priceLines = [];
  for (const p of pos) {
    const line = (price, color, title) => price !== null && price !== undefined && cur.priceLines.push(cur.candles.createPriceLine({ price, color, lineWidth: 1, lineStyle: 2, axisLabelVisible: true, title }));
    line(p.entry_price, css('--accent'), `entry ${p.side}`);
    line(p.stop_loss, css('--bad'), 'stop');
    line(p.take_profit, css('--ok'), 'target');
  }
  tid('price-chart').dataset.priceLines = String(cur.priceLines.length);
}

async function drawList() {
  if (!cur) return;
  const el = tid('op-list');
  const what = cur.tab;
  let r;
  try { r = await call('GET', `/api/operations/${cur.id}/${what}?limit=${PAGE}&offset=${cur.page * PAGE}`); } catch (e) { el.replaceChildren(h('div.muted', e.detail)); return; }
  if (!cur || cur.tab !== what) return;
  const total = Number(r.headers.get('X-Total-Count') || r.data.length);
  const t0 = performance.now();
  const cols = {
    orders: [['#', (o) => o.id], ['Time', (o) => time(o.created_at)], ['Purpose', (o) => o.purpose], ['Type', (o) => o.type], ['Side', (o) => o.side],
      ['Qty', (o) => o.quantity, 'num'], ['Price', (o) => o.price ?? '–', 'num'], ['Status', (o) => statusTag(o.status)], ['Reason', (o) => o.reason || ''],
      ['', (o) => h('button.small', { testid: `why-${o.id}`, onclick: () => showWhy(o.id) }, 'why')]],
    transactions: [['#', (t) => t.id], ['Time', (t) => time(t.executed_at)], ['Order', (t) => t.order_id], ['Action', (t) => t.action], ['Side', (t) => t.side],
      ['Qty', (t) => t.quantity, 'num'], ['Price', (t) => t.price, 'num'], ['Commission', (t) => money(t.commission), 'num'],
      ['Profit', (t) => h('span', { class: signClass(t.profit) }, money(t.profit, true)), 'num']],
    trades: [['#', (t) => t.id], ['Side', (t) => t.side], ['Qty', (t) => t.quantity, 'num'], ['Entry', (t) => t.entry_price, 'num'], ['Exit', (t) => t.exit_price, 'num'],
      ['Opened', (t) => time(t.entry_time)], ['Closed', (t) => time(t.exit_time)], ['Net P/L', (t) => h('span', { class: signClass(t.net_pnl) }, money(t.net_pnl, true)), 'num'],
      ['Duration', (t) => `${Math.round(t.duration_seconds)} s`, 'num']],
  }[what];
  el.replaceChildren(r.data.length ? table(cols, r.data, `op-${what}-table`, (x) => `${what}-row-${x.id}`) : h('div.muted', `No ${what} yet`));
  const pages = Math.max(1, Math.ceil(total / PAGE));
  tid('op-pager').replaceChildren(h('span', { testid: 'op-total' }, `${total} ${what}`),
    h('button.small', { disabled: cur.page === 0, onclick: () => { cur.page -= 1; drawList(); } }, 'Newer'),
    h('span', `page ${cur.page + 1} / ${pages}`),
    h('button.small', { testid: 'op-older', disabled: cur.page + 1 >= pages, onclick: () => { cur.page += 1; drawList(); } }, 'Older'));
  perf.record(`operation-${what}-table`, performance.now() - t0);
}

/** The "why" panel: the decision context the engine recorded when the order was sent. */
export async function showWhy(orderId) {
  if (!cur) return;
  let d;
  try {
    const rows = await get(`/api/operations/${cur.id}/decisions?order_id=${orderId}`);
    d = rows[0];
  } catch (e) { toast('error', 'why', e.detail); return; }
  const body = d ? h('div.why', { testid: 'why-panel' },
    h('h3', `Why order ${orderId}: ${d.intent}`),
    kv([['Purpose', d.purpose], ['When', time(d.timestamp)], ['Triggered by', d.trigger.replace('_', ' ')],
      ['Model action', d.model_action ?? '–'], ['Quote', `${d.bid} / ${d.ask}`], ['Position before', d.position_before],
      ['Stop sent', d.stop ?? '–'], ['Target sent', d.target ?? '–'], ['Entries allowed', d.entries_allowed ? 'yes' : 'no (paused)']]),
    h('h4', 'Bar'), d.bar ? kv([['Start', time(d.bar.time)], ['O / H / L / C', `${d.bar.open} / ${d.bar.high} / ${d.bar.low} / ${d.bar.close}`], ['Ticks', d.bar.ticks]]) : h('div.muted', 'no closed bar yet'),
    h('h4', 'Indicators'), Object.keys(d.indicators).length ? kv(Object.entries(d.indicators).map(([k, v]) => [k, num(v, 6)]), 'why-indicators') : h('div.muted', 'none'),
    h('h4', 'Risk checks'), h('div', { testid: 'why-risk', class: d.risk.passed ? 'pos' : 'neg' }, d.risk.passed ? 'passed (exits and protective orders are not risk-checked)' : `refused: ${d.risk.reason}`))
    : h('div.why', { testid: 'why-panel' }, h('h3', `Why order ${orderId}`), h('p.muted', 'Its decision context is no longer held (the engine keeps the latest 256 orders per operation, and none from before a restart).'));
  const close = modal(h('div', body, h('div.row', h('button', { testid: 'why-close', onclick: () => close() }, 'Close'))));
}

export function initOperationPage() {
  let timer = null;
  push.on('order', (o) => {
    if (!cur || o.operation_id !== cur.id || timer) return;
    timer = setTimeout(async () => {
      timer = null;
      if (!cur) return;
      await Promise.all([loadFills(), drawStats(), drawList()]);
    }, 800);
  });
}
