// The header: engine and WebSocket state, a staleness badge per topic, the clock (UTC or local),
// session start/stop, the emergency stop (every operation stopped, positions closed, then the
// session stopped) behind a typed confirmation, and the settings kept in the browser.

import { get, post, del, ApiError, token } from './api.js';
import { h, tid, time, settings, toast, confirmAction } from './dom.js';
import { push, subscribe, latest } from './state.js';

function engineLabel(s) {
  if (!s) return ['unknown', 'engine: …'];
  const e = s.engine || 'running';
  const names = { running: 'running', feed_stale: 'feed stale', halted: 'error: storage fault', stopped: 'stopped' };
  return [e, `engine: ${names[e] || e}`];
}

export function initHeader() {
  const eng = tid('engine-state');
  const paint = (s) => {
    const [state, label] = engineLabel(s);
    eng.dataset.state = state;
    eng.textContent = label;
    eng.title = s?.storage_fault || s?.feed?.reason || '';
    const ss = s?.session?.state || (s?.session?.running ? 'running' : 'stopped');
    tid('header-session').textContent = `session: ${String(ss || '–').replace('_', ' ')}`;
  };
  subscribe('status', paint);
  subscribe('health', (hl) => { if (!latest.status) paint({ engine: hl?.engine === 'running' ? 'running' : hl?.engine }); });

  const ws = tid('ws-state');
  push.onState((st) => {
    ws.dataset.state = st;
    ws.textContent = `ws: ${st === 'open' ? 'live' : st === 'down' ? 'disconnected, retrying' : 'connecting'}`;
    drawBadges();
  });

  const badges = tid('staleness');
  const drawBadges = () => {
    const s = push.staleness();
    badges.replaceChildren(...Object.entries(s).map(([topic, st]) =>
      h('span.badge', { 'data-state': st, testid: `stale-${topic}`, title: `${topic}: ${st}` }, topic)));
    const feedStale = latest.status?.engine === 'feed_stale' || latest.status?.feed?.stale;
    badges.append(h('span.badge', { 'data-state': feedStale ? 'stale' : push.state === 'open' ? 'fresh' : 'down', testid: 'stale-feed', title: latest.status?.feed?.reason || 'price feed' }, 'feed'));
  };
  setInterval(drawBadges, 1000);

  const clock = tid('clock');
  const tick = () => {
    const t = latest.metric?.timestamp || latest.status?.timestamp;
    const wall = time(new Date().toISOString(), false);
    clock.textContent = `${wall} ${settings.tz === 'utc' ? 'UTC' : 'local'}` + (t ? ` · feed ${time(t)}` : '');
  };
  setInterval(tick, 1000);
  tick();
  clock.addEventListener('click', () => { settings.tz = settings.tz === 'utc' ? 'local' : 'utc'; tid('setting-tz').value = settings.tz; tick(); window.dispatchEvent(new Event('pinion-settings')); });

  tid('session-start').addEventListener('click', async () => {
    try {
      await post('/session/start', {});
      toast('info', 'Session starting', 'warm-up runs in the background; see the Session tab');
    } catch (e) { toast('error', 'Session start refused', e.detail || e.message, 'toast-error'); }
  });
  tid('session-stop').addEventListener('click', async () => {
    if (!(await confirmAction('Stop the session?', 'The model session stops deciding.'))) return;
    try { await post('/session/stop', {}); toast('info', 'Session stopped'); } catch (e) { toast('error', 'Session stop refused', e.detail); }
  });
  tid('emergency-stop').addEventListener('click', emergencyStop);

  // Settings.
  tid('settings-toggle').addEventListener('click', () => tid('settings').classList.toggle('hidden'));
  const tz = tid('setting-tz');
  tz.value = settings.tz;
  tz.addEventListener('change', () => { settings.tz = tz.value; tick(); window.dispatchEvent(new Event('pinion-settings')); });
  const theme = tid('setting-theme');
  theme.value = settings.theme;
  document.documentElement.dataset.theme = settings.theme;
  theme.addEventListener('change', () => { settings.theme = theme.value; document.documentElement.dataset.theme = theme.value; window.dispatchEvent(new Event('pinion-settings')); });
  tid('forget-token').addEventListener('click', () => { token.clear(); location.reload(); });
}

async function emergencyStop() {
  const ok = await confirmAction('Emergency stop',
    'Stops every operation (closing its positions at market), stops the session and closes its positions at market. This cannot be undone.', 'STOP');
  if (!ok) return;
  const failures = [];
  let closed = [];
  try {
    const ops = await get('/api/operations?limit=1000');
    for (const op of ops.filter((o) => o.status !== 'closed')) {
      try { await del(`/api/operations/${op.id}`); } catch (e) { if (!(e instanceof ApiError && e.status === 409)) failures.push(`operation ${op.id}: ${e.detail}`); }
    }
    try { await post('/session/stop', {}); } catch (e) { if (e.status !== 409) failures.push(`session: ${e.detail}`); }
    // 409 here: the session holds nothing (or never ran).
    try { closed = (await post('/session/positions/close', {}))?.closed || []; } catch (e) { if (e.status !== 409) failures.push(`session positions: ${e.detail}`); }
  } catch (e) { failures.push(e.detail || e.message); }
  if (failures.length) toast('error', 'Emergency stop incomplete', failures.join('; '));
  else if (closed.length) {
    toast('warn', 'Emergency stop done', `every operation stopped with its positions closed, the session stopped and its ${closed.map((p) => `${p.units} ${p.instrument}`).join(', ')} closed at market`, 'toast-emergency');
  } else toast('warn', 'Emergency stop done', 'every operation stopped with its positions closed, the session stopped', 'toast-emergency');
}
