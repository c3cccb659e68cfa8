// The server's two channels: REST calls (with the bearer token when one is set, errors as ApiError
// carrying the server's `detail` and the field it names) and the /ws push, reconnected with backoff,
// resynced over REST after each reconnect, with per-topic staleness (a topic is stale when it misses
// twice its cadence; everything is down while the socket is).

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
    // "field: message" (400s name their field); nested fields keep their dots.
    const m = /^([A-Za-z_][\w.\[\]]*): /.exec(detail || '');
    this.field = status === 400 && m ? m[1] : null;
  }
}

export const token = {
  get() { return sessionStorage.getItem('pinion.token') || localStorage.getItem('pinion.token') || ''; },
  set(t) { localStorage.setItem('pinion.token', t); },
  clear() { localStorage.removeItem('pinion.token'); sessionStorage.removeItem('pinion.token'); },
};

let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

/** Calls the API; resolves to {data, headers} for 2xx, rejects with ApiError otherwise. */
export async function call(method, path, body) {
  const headers = {};
  const t = token.get();
  if (t) headers.Authorization = `Bearer ${t}`;
  const init = { method, headers };
  if (method !== 'GET' && method !== 'DELETE') {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `the server cannot be reached (${e.message})`);
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!r.ok) {
    if (r.status === 401) onUnauthorized();
    throw new ApiError(r.status, (data && data.detail) || `HTTP ${r.status}`);
  }
  return { data, headers: r.headers };
}
export const get = async (path) => (await call('GET', path)).data;
export const post = async (path, body) => (await call('POST', path, body)).data;
export const del = async (path) => (await call('DELETE', path)).data;

/** Seconds each topic is expected at (status every 5 s, account and metric every second). */
const CADENCE = { status: 5, account: 1, metric: 1 };

/** The /ws client: `on(topic, f)`, `onState(f)`, `onResync(f)`; staleness via `staleness()`. */
export class Push {
  constructor() {
    this.handlers = {};
    this.stateHandlers = [];
    this.resyncHandlers = [];
    this.last = {};
    this.state = 'connecting';
    this.attempt = 0;
    this.connects = 0;
  }
  on(topic, f) { (this.handlers[topic] ||= []).push(f); }
  onState(f) { this.stateHandlers.push(f); }
  onResync(f) { this.resyncHandlers.push(f); }
  setState(s) { this.state = s; this.stateHandlers.forEach((f) => f(s)); }
  connect() {
    const t = token.get();
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws${t ? `?token=${encodeURIComponent(t)}` : ''}`;
    this.setState('connecting');
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.connects += 1;
      this.setState('open');
      // After a reconnect, what was missed is read again over REST.
      if (this.connects > 1) this.resyncHandlers.forEach((f) => f());
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this.last[msg.type] = performance.now();
      (this.handlers[msg.type] || []).forEach((f) => f(msg.data));
      (this.handlers['*'] || []).forEach((f) => f(msg.type, msg.data));
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.setState('down');
      const wait = Math.min(10000, 500 * 2 ** this.attempt++);
      setTimeout(() => this.connect(), wait);
    };
    ws.onerror = () => {};
  }
  /** {topic: 'fresh'|'stale'|'down'|'waiting'} for the topics with a cadence. */
  staleness() {
    const now = performance.now();
    const out = {};
    for (const [topic, secs] of Object.entries(CADENCE)) {
      if (this.state !== 'open') out[topic] = 'down';
      else if (this.last[topic] === undefined) out[topic] = 'waiting';
      else out[topic] = now - this.last[topic] > 2 * secs * 1000 ? 'stale' : 'fresh';
    }
    return out;
  }
}
