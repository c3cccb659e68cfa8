// The page's shared state: the latest frame of each kind (status, account, positions, metric), the
// one Push connection, and a tiny publish/subscribe so views redraw only what changed.

import { Push } from './api.js';

export const push = new Push();
export const latest = { status: null, account: null, positions: [], metric: null, health: null, risk: null };
const subs = {};

export function subscribe(key, f) { (subs[key] ||= []).push(f); }
export function publish(key, value) {
  latest[key] = value;
  (subs[key] || []).forEach((f) => { try { f(value); } catch (e) { console.warn('view update failed', e); } });
}

for (const topic of ['status', 'account', 'positions', 'metric']) push.on(topic, (d) => publish(topic, d));

/** Measured per-update costs (ms) of the views, for the performance figures. */
export const perf = { updates: [], record(name, ms) { this.updates.push([name, ms]); if (this.updates.length > 5000) this.updates.shift(); } };
window.__pinionPerf = perf;
// For the browser tests: drop the socket as a network failure would.
window.__pinionDropSocket = () => push.ws && push.ws.close();
