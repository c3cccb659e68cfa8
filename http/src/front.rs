//! The public front: one `mio` thread (`pinion-front`) owns the server's only public listener and
//! serves both REST and the `/ws` WebSocket on the same port.
//!
//! Why: the REST API runs on `tiny_http`, which cannot hand an accepted socket over to another
//! component, so it cannot perform a WebSocket upgrade for us. Rather than run a second port (the
//! spec wants `ws://host:8000/ws` next to `http://host:8000`), the front accepts every connection
//! and reads each request whole, head (at most 16 KiB) and body (at most `max_body_bytes`), under
//! one deadline and a minimum rate ([`request`]), checking its framing first ([`framing`]: bad
//! or oversized `Content-Length`, chunked bodies, non-ASCII headers are answered 400/411/413 by
//! the front and never reach tiny_http). Then it routes the request:
//! - `GET /ws` (query allowed) with `Upgrade: websocket` becomes a WebSocket client of this same
//!   loop: `Origin` check (a browser origin not in `allowed_origins` gets 403), token check
//!   (`Authorization: Bearer` or `?token=`), RFC 6455 handshake, then the initial snapshot and
//!   broadcast frames. A client that breaks the protocol gets a Close frame with its code.
//! - anything else is sent whole to the internal tiny_http server on an ephemeral 127.0.0.1 port
//!   and its answer relayed back ([`exchange`]); the connection then reads its next request.
//!   tiny_http therefore sees every peer as 127.0.0.1, which is fine: the API binds to localhost
//!   and authorizes by token. Backend connections come warm from [`backend_pool`], which opens
//!   them strictly one at a time (tiny_http 0.12 can leave a connection accepted right after
//!   another one unserved), and go back to it after each exchange; a request arriving while none
//!   is ready waits, buffered, until the next one is.
//!
//! A single readiness loop keeps WebSocket fan-out cheap (each frame is serialized once and shared)
//! and isolates clients: every socket is non-blocking, every buffer is bounded, every client has a
//! bounded frame queue and a client whose queue overflows is disconnected instead of slowing the
//! others. Idle keep-alive connections close after `idle_timeout`; at most `max_connections` are
//! open at once. Timeouts are checked by a sweep every [`SWEEP`].

mod backend_pool;
mod config;
mod drain;
mod exchange;
mod framing;
#[cfg(test)]
mod fuzz_tests;
mod head;
mod pipe;
mod reject;
mod request;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use tungstenite::Utf8Bytes;

use self::backend_pool::{BackendPool, MAX_WARM};
use self::config::Counters;
pub use self::config::{FrontConfig, FrontStats, StatsSource};
use self::drain::Drain;
use self::exchange::{Exchange, Finished};
use self::head::{json_error, Sniffed};
use self::reject::{reject, reject_step, Reject};
use self::request::{Expired, ReadOutcome, Reading};
use crate::ws::{broadcast_channel, BroadcastRx, Broadcaster, Frame, Topic, WsClient, WsEnd};

/// Most bytes of a request head.
const MAX_HEAD: usize = 16 * 1024;
/// Most broadcast frames taken from the channel per loop turn (keeps sockets serviced).
const BATCH: usize = 256;
/// How often request deadlines, idle connections and lingering refusals are checked.
const SWEEP: Duration = Duration::from_millis(100);
const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);
/// First token of the backend pool's connections (up to `MAX_WARM` of them, below `WAKER`).
const POOL_BASE: Token = Token(WAKER.0 - MAX_WARM);

/// Produces the frames a new WebSocket client receives first (the current state snapshot). It is
/// called on the front thread, so it must be quick.
pub type OnConnect = Arc<dyn Fn() -> Vec<Frame> + Send + Sync>;

/// The running front; dropping it stops the thread too.
pub struct FrontHandle {
    pub local_addr: SocketAddr,
    pub broadcaster: Broadcaster,
    stop: Arc<AtomicBool>,
    drain: Arc<Drain>,
    waker: Arc<Waker>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

impl FrontHandle {
    pub fn stats(&self) -> FrontStats {
        self.stats_source().stats()
    }

    /// A reader of the counters that outlives borrowing the handle (for `/metrics`).
    pub fn stats_source(&self) -> StatsSource {
        StatsSource::new(self.counters.clone(), self.broadcaster.clone())
    }

    /// Closes the listener and every connection (WebSocket clients get a close frame with code 1001,
    /// going away, best effort) and joins the thread. [`drain`](FrontHandle::drain) first to let the
    /// REST exchanges in flight finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Err(e) = self.waker.wake() {
            log::warn!("front waker failed: {e}");
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("front thread panicked");
            }
        }
    }
}

impl Drop for FrontHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the front on `listener`, proxying non-WebSocket traffic to `rest_backend`.
pub fn start_front(
    listener: std::net::TcpListener,
    rest_backend: SocketAddr,
    cfg: FrontConfig,
    on_connect: OnConnect,
) -> io::Result<FrontHandle> {
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;
    let mut listener = TcpListener::from_std(listener);
    let poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (broadcaster, rx) = broadcast_channel(waker.clone(), cfg.broadcast_queue_frames);
    let stop = Arc::new(AtomicBool::new(false));
    let drain = Arc::new(Drain::default());
    let counters = Arc::new(Counters::default());
    let pool = BackendPool::new(rest_backend, cfg.warm_backend_connections, cfg.backend_warm_timeout, POOL_BASE);
    let mut front = Front {
        poll,
        listener: Some(listener),
        pool,
        waiters: VecDeque::new(),
        rerun: Vec::new(),
        cfg,
        on_connect,
        rx,
        stop: stop.clone(),
        drain: drain.clone(),
        drained: false,
        counters: counters.clone(),
        slots: Vec::new(),
        free: Vec::new(),
        next_gen: 0,
        next_sweep: Instant::now() + SWEEP,
        conn_count: 0,
        ws_count: 0,
        batch: Vec::with_capacity(BATCH),
    };
    let thread = std::thread::Builder::new().name("pinion-front".into()).spawn(move || front.run())?;
    Ok(FrontHandle { local_addr, broadcaster, stop, drain, waker, counters, thread: Some(thread) })
}

enum Conn {
    /// Reading a request (or idle between requests).
    Read(Reading),
    /// A complete request to proxy, waiting for a warm backend connection.
    Wait(Reading),
    Reject(Reject),
    Exchange(Box<Exchange>),
    Ws(Box<WsClient>),
}

struct Slot {
    gen: u64,
    conn: Conn,
}

enum Step {
    Keep(Conn),
    Close(Conn, Option<WsEnd>),
}

/// Token of a slot's client socket; `+ 1` is its backend socket.
fn client_token(idx: usize) -> Token {
    Token(idx * 2)
}

struct Front {
    poll: Poll,
    /// None once a drain closed it.
    listener: Option<TcpListener>,
    pool: BackendPool,
    /// Clients in `Conn::Wait`, in arrival order: (slot, generation); stale entries are skipped.
    waiters: VecDeque<(usize, u64)>,
    /// Connections to step again without an event (a keep-alive client whose next request may
    /// already sit in its socket): (slot, generation).
    rerun: Vec<(usize, u64)>,
    cfg: FrontConfig,
    on_connect: OnConnect,
    rx: BroadcastRx,
    stop: Arc<AtomicBool>,
    drain: Arc<Drain>,
    /// A drain found nothing left in flight: no backend connection is needed any more.
    drained: bool,
    counters: Arc<Counters>,
    /// Connections by token / 2, with a free list of reusable indices.
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    next_gen: u64,
    next_sweep: Instant,
    conn_count: usize,
    ws_count: usize,
    batch: Vec<(Topic, Utf8Bytes, u64)>,
}

impl Front {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        self.pump_backends(); // Warm the first backend connections before any client comes.
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("front poll failed: {e}");
                break;
            }
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {}
                    t if self.pool.owns(t) => self.pool.on_event(self.poll.registry(), t),
                    Token(t) => self.on_event(t / 2, None),
                }
            }
            for (idx, gen) in std::mem::take(&mut self.rerun) {
                self.on_event(idx, Some(gen));
            }
            if !self.drained {
                self.pump_backends();
            }
            self.broadcast();
            let now = Instant::now();
            if now >= self.next_sweep {
                self.sweep(now);
                self.next_sweep = now + SWEEP;
            }
            if self.drain.requested() {
                self.drain_turn();
            }
        }
        self.close_all();
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.rx.is_empty() || !self.rerun.is_empty() {
            return Some(Duration::ZERO);
        }
        let deadline = self.pool.deadline().map_or(self.next_sweep, |d| d.min(self.next_sweep));
        Some(deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(1))
    }

    fn accept_all(&mut self) {
        loop {
            let Some(accepted) = self.listener.as_ref().map(TcpListener::accept) else { return };
            match accepted {
                Ok((mut stream, _peer)) if self.conn_count >= self.cfg.max_connections => {
                    // A best-effort answer on a fresh socket, then close.
                    let _ = stream.write(&json_error(503, "too many connections", ""));
                }
                Ok((mut stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let idx = self.free.pop().unwrap_or_else(|| {
                        self.slots.push(None);
                        self.slots.len() - 1
                    });
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(e) = self.poll.registry().register(&mut stream, client_token(idx), interest) {
                        log::warn!("front: cannot register a connection: {e}");
                        self.free.push(idx);
                        continue;
                    }
                    let gen = self.next_gen;
                    self.next_gen += 1;
                    self.conn_count += 1;
                    let conn = Conn::Read(Reading::new(stream, Instant::now()));
                    self.slots[idx] = Some(Slot { gen, conn });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => {}
                Err(e) => {
                    // E.g. out of file descriptors: the next connection retries.
                    log::warn!("front: accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// Steps the connection in slot `idx` (only if still of generation `only`, when given).
    fn on_event(&mut self, idx: usize, only: Option<u64>) {
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        if only.is_some_and(|g| slot.as_ref().is_none_or(|s| s.gen != g)) {
            return;
        }
        let Some(Slot { gen, conn }) = slot.take() else {
            return;
        };
        let step = self.step(idx, gen, conn);
        self.settle(idx, gen, step);
    }

    fn step(&mut self, idx: usize, gen: u64, conn: Conn) -> Step {
        match conn {
            Conn::Read(r) => self.read_step(idx, gen, r),
            // Its next bytes stay in the socket until the exchange is over.
            Conn::Wait(r) => Step::Keep(Conn::Wait(r)),
            Conn::Reject(r) => reject_step(r),
            Conn::Exchange(x) => self.exchange_step(idx, gen, x),
            Conn::Ws(c) => self.ws_step(c),
        }
    }

    fn read_step(&mut self, idx: usize, gen: u64, mut r: Reading) -> Step {
        match r.read(&self.cfg) {
            ReadOutcome::Pending => Step::Keep(Conn::Read(r)),
            ReadOutcome::Gone => Step::Close(Conn::Read(r), None),
            ReadOutcome::Ready => match r.sniffed.take() {
                Some(Sniffed::Proxy(info)) => {
                    r.sniffed = Some(Sniffed::Proxy(info));
                    self.start_proxy(idx, gen, r)
                }
                Some(Sniffed::Upgrade { response, head_len }) => self.start_ws(r, response, head_len),
                Some(Sniffed::Reject(response)) => {
                    self.counters.refused_requests.fetch_add(1, Ordering::Relaxed);
                    reject(r.stream, response)
                }
                Some(Sniffed::Partial) | None => Step::Keep(Conn::Read(r)),
            },
        }
    }

    fn exchange_step(&mut self, idx: usize, gen: u64, mut x: Box<Exchange>) -> Step {
        let finished = x.on_event().unwrap_or_else(|e| {
            log::debug!("front: proxied request failed: {e}");
            Some(Finished::Close)
        });
        let Some(finished) = finished else {
            return Step::Keep(Conn::Exchange(x));
        };
        let Exchange { client, mut backend, leftover, .. } = *x;
        if finished == Finished::KeepAlive {
            self.pool.put_back(self.poll.registry(), backend);
            self.rerun.push((idx, gen));
            return Step::Keep(Conn::Read(Reading::next_request(client, Instant::now(), leftover)));
        }
        drop(self.poll.registry().deregister(&mut backend));
        reject(client, Vec::new())
    }

    fn ws_step(&mut self, mut c: Box<WsClient>) -> Step {
        match c.on_event() {
            Ok(n) => {
                self.counters.frames_sent.fetch_add(n, Ordering::Relaxed);
                Step::Keep(Conn::Ws(c))
            }
            Err(WsEnd::Violation(code)) => {
                self.ws_gone(WsEnd::Violation(code));
                match c.into_close(code) {
                    Ok((stream, frame)) => reject(stream, frame),
                    Err(stream) => reject(stream, Vec::new()),
                }
            }
            Err(end) => Step::Close(Conn::Ws(c), Some(end)),
        }
    }

    /// Sends the complete request over a warm backend connection, or queues it until one is ready.
    fn start_proxy(&mut self, idx: usize, gen: u64, r: Reading) -> Step {
        match self.pool.take(self.poll.registry()) {
            Some(backend) => self.proxy_with(idx, gen, r, backend),
            None => {
                self.waiters.push_back((idx, gen));
                Step::Keep(Conn::Wait(r))
            }
        }
    }

    fn proxy_with(&mut self, idx: usize, gen: u64, r: Reading, mut backend: TcpStream) -> Step {
        let token = Token(client_token(idx).0 + 1);
        let interest = Interest::READABLE | Interest::WRITABLE;
        let Some(Sniffed::Proxy(info)) = &r.sniffed else {
            drop(self.poll.registry().deregister(&mut backend));
            return reject(r.stream, json_error(500, "internal error: no request to proxy", ""));
        };
        if let Err(e) = self.poll.registry().reregister(&mut backend, token, interest) {
            log::warn!("front: cannot register a backend connection: {e}");
            drop(self.poll.registry().deregister(&mut backend));
            return reject(r.stream, json_error(502, "REST backend unavailable", ""));
        }
        if !r.proxied_before {
            self.counters.proxied_connections.fetch_add(1, Ordering::Relaxed);
        }
        let x = Box::new(Exchange::new(r.stream, backend, info, &r.buf));
        self.exchange_step(idx, gen, x)
    }

    /// Moves the backend pool along (timeouts, next warm-up) and hands ready connections to the
    /// waiting clients in order; when a warm-up failed, the clients waiting then get 502.
    fn pump_backends(&mut self) {
        loop {
            self.pool.tick(self.poll.registry(), Instant::now(), !self.waiters.is_empty());
            if self.pool.take_failure() {
                for (idx, gen) in std::mem::take(&mut self.waiters) {
                    if let Some(r) = self.take_waiter(idx, gen) {
                        let step = reject(r.stream, json_error(502, "REST backend unavailable", ""));
                        self.settle(idx, gen, step);
                    }
                }
                continue; // A later client may start the next warm-up at once.
            }
            let Some(&(idx, gen)) = self.waiters.front() else {
                return;
            };
            let Some(r) = self.take_waiter(idx, gen) else {
                self.waiters.pop_front();
                continue;
            };
            match self.pool.take(self.poll.registry()) {
                Some(backend) => {
                    self.waiters.pop_front();
                    let step = self.proxy_with(idx, gen, r, backend);
                    self.settle(idx, gen, step);
                }
                None => {
                    self.slots[idx] = Some(Slot { gen, conn: Conn::Wait(r) });
                    return;
                }
            }
        }
    }

    /// Takes the waiting client out of slot `idx` if it is still the one of generation `gen`.
    fn take_waiter(&mut self, idx: usize, gen: u64) -> Option<Reading> {
        let slot = self.slots.get_mut(idx)?;
        match slot.take() {
            Some(Slot { gen: g, conn: Conn::Wait(r) }) if g == gen => Some(r),
            other => {
                *slot = other;
                None
            }
        }
    }

    fn settle(&mut self, idx: usize, gen: u64, step: Step) {
        match step {
            Step::Keep(conn) => self.slots[idx] = Some(Slot { gen, conn }),
            Step::Close(conn, why) => self.release(idx, conn, why),
        }
    }

    fn start_ws(&mut self, r: Reading, response: Vec<u8>, head_len: usize) -> Step {
        if self.ws_count >= self.cfg.max_clients {
            log::warn!("front: WebSocket client refused, {} connected", self.ws_count);
            return reject(r.stream, json_error(503, "too many WebSocket clients", ""));
        }
        let leftover = r.buf.get(head_len..).unwrap_or_default().to_vec();
        let mut c = Box::new(WsClient::new(r.stream, response, leftover));
        for frame in (self.on_connect)() {
            c.push_direct(Utf8Bytes::from(&*frame.text));
        }
        self.ws_count += 1;
        self.counters.ws_clients.store(self.ws_count as u64, Ordering::Relaxed);
        self.ws_step(c)
    }

    /// Fans the next batch of broadcast frames out to every WebSocket client.
    fn broadcast(&mut self) {
        self.batch.clear();
        self.rx.drain(BATCH, &mut self.batch);
        if self.batch.is_empty() {
            return;
        }
        let cap = self.cfg.client_queue_frames;
        for idx in 0..self.slots.len() {
            let Some(Slot { conn: Conn::Ws(c), .. }) = &mut self.slots[idx] else {
                continue;
            };
            let mut outcome = Ok(false);
            for (topic, text, _) in &self.batch {
                match c.offer(*topic, text, cap) {
                    Ok(queued) => outcome = outcome.map(|any| any || queued),
                    Err(end) => {
                        outcome = Err(end);
                        break;
                    }
                }
            }
            let outcome = match outcome {
                Ok(true) => c.pump(),
                Ok(false) => Ok(0),
                Err(end) => Err(end),
            };
            match outcome {
                Ok(n) => {
                    self.counters.frames_sent.fetch_add(n, Ordering::Relaxed);
                }
                Err(end) => {
                    if let Some(slot) = self.slots[idx].take() {
                        self.release(idx, slot.conn, Some(end));
                    }
                }
            }
        }
        if let (Some(t), true) = (&self.cfg.telemetry, self.ws_count > 0) {
            config::record_written(t, &self.batch);
        }
    }

    /// Answers 408 to requests that are late or too slow, closes idle connections and ends
    /// refusals that lingered too long.
    fn sweep(&mut self, now: Instant) {
        for idx in 0..self.slots.len() {
            let verdict = match &self.slots[idx] {
                Some(Slot { conn: Conn::Read(r), .. }) => r.expired(now, &self.cfg),
                Some(Slot { conn: Conn::Reject(r), .. }) if r.deadline <= now => Some(Expired::Idle),
                _ => None,
            };
            let Some(verdict) = verdict else {
                continue;
            };
            let Some(Slot { gen, conn }) = self.slots[idx].take() else {
                continue;
            };
            match (conn, verdict) {
                (Conn::Read(r), Expired::Slow) => {
                    self.counters.refused_requests.fetch_add(1, Ordering::Relaxed);
                    let detail = format!(
                        "request not received in time: a request must arrive whole within {} s, at {} bytes/s or more",
                        self.cfg.request_timeout.as_secs_f64(),
                        self.cfg.min_request_rate
                    );
                    let step = reject(r.stream, json_error(408, &detail, ""));
                    self.settle(idx, gen, step);
                }
                (conn, _) => self.release(idx, conn, None),
            }
        }
    }

    fn ws_gone(&mut self, why: WsEnd) {
        self.ws_count -= 1;
        self.counters.ws_clients.store(self.ws_count as u64, Ordering::Relaxed);
        if why == WsEnd::Slow {
            self.counters.ws_dropped_slow.fetch_add(1, Ordering::Relaxed);
            log::warn!("front: WebSocket client too slow, disconnected");
        }
    }

    fn release(&mut self, idx: usize, conn: Conn, why: Option<WsEnd>) {
        let registry = self.poll.registry();
        match conn {
            Conn::Read(mut r) | Conn::Wait(mut r) => drop(registry.deregister(&mut r.stream)),
            Conn::Reject(mut r) => drop(registry.deregister(&mut r.stream)),
            Conn::Exchange(mut x) => {
                drop(registry.deregister(&mut x.client));
                drop(registry.deregister(&mut x.backend));
            }
            Conn::Ws(mut c) => {
                drop(registry.deregister(c.stream_mut()));
                self.ws_gone(why.unwrap_or(WsEnd::Closed));
            }
        }
        self.conn_count -= 1;
        self.free.push(idx);
    }

    fn close_all(&mut self) {
        self.pool.close_all(self.poll.registry());
        self.waiters.clear();
        for idx in 0..self.slots.len() {
            if let Some(Slot { mut conn, .. }) = self.slots[idx].take() {
                if let Conn::Ws(c) = &mut conn {
                    c.close_going_away();
                }
                self.release(idx, conn, None);
            }
        }
    }
}
