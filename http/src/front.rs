//! The public front: one `mio` thread (`pinion-front`) owns the server's only public listener and
//! serves both REST and the `/ws` WebSocket on the same port.
//!
//! Why: the REST API runs on `tiny_http`, which cannot hand an accepted socket over to another
//! component, so it cannot perform a WebSocket upgrade for us. Rather than run a second port (the
//! spec wants `ws://host:8000/ws` next to `http://host:8000`), the front accepts every connection,
//! reads its first request head (non-blocking, at most 16 KiB, within 10 s against slowloris)
//! and routes it:
//! - `GET /ws` (query allowed) with `Upgrade: websocket` becomes a WebSocket client of this same
//!   loop: `Origin` check (a browser origin not in `allowed_origins` gets 403), token check
//!   (`Authorization: Bearer` or `?token=`), RFC 6455 handshake, then the initial snapshot and
//!   broadcast frames.
//! - anything else is proxied byte-for-byte (already-read head included, nothing added) to the
//!   internal tiny_http server on an ephemeral 127.0.0.1 port. tiny_http therefore sees every
//!   peer as 127.0.0.1, which is fine: the API binds to localhost and authorizes by token. The
//!   backend connection comes warm from [`backend_pool`], which opens them strictly one at a time
//!   (tiny_http 0.12 can leave a connection accepted right after another one unserved); a client
//!   arriving while none is ready waits, its head buffered, until the next one is.
//!
//! A single readiness loop keeps WebSocket fan-out cheap (each frame is serialized once and shared)
//! and isolates clients: every socket is non-blocking, every client has a bounded frame queue and a
//! client whose queue overflows is disconnected instead of slowing the others. Limits: only the
//! first request of a connection is inspected (a later request on a proxied keep-alive
//! connection goes to tiny_http as is); proxied connections have no idle timeout of their own.

mod backend_pool;
mod config;
mod drain;
mod head;
mod proxy;
mod reject;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use tungstenite::Utf8Bytes;

use self::backend_pool::{BackendPool, MAX_WARM};
pub use self::config::FrontConfig;
use self::drain::Drain;
use self::head::{json_error, Sniffed};
use self::proxy::Proxy;
use self::reject::{reject, reject_step, Reject};
use crate::ws::{broadcast_channel, BroadcastRx, Broadcaster, Frame, Topic, WsClient, WsEnd};

/// Most bytes read while looking for the first request head.
const MAX_HEAD: usize = 16 * 1024;
/// Most broadcast frames taken from the channel per loop turn (keeps sockets serviced).
const BATCH: usize = 256;
const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);
/// First token of the backend pool's connections (up to `MAX_WARM` of them, below `WAKER`).
const POOL_BASE: Token = Token(WAKER.0 - MAX_WARM);

/// Counters of the front, read with [`FrontHandle::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrontStats {
    /// WebSocket clients connected now.
    pub ws_clients: u64,
    /// Clients disconnected because their frame queue overflowed.
    pub ws_dropped_slow: u64,
    /// Frames handed to client sockets (one per client per frame).
    pub frames_sent: u64,
    /// Connections proxied to the REST backend since start.
    pub proxied_connections: u64,
    /// Frames dropped by [`Broadcaster::send`] because the front's channel was full.
    pub broadcast_dropped: u64,
}

#[derive(Default)]
struct Counters {
    ws_clients: AtomicU64,
    ws_dropped_slow: AtomicU64,
    frames_sent: AtomicU64,
    proxied_connections: AtomicU64,
}

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
        let c = &self.counters;
        FrontStats {
            ws_clients: c.ws_clients.load(Ordering::Relaxed),
            ws_dropped_slow: c.ws_dropped_slow.load(Ordering::Relaxed),
            frames_sent: c.frames_sent.load(Ordering::Relaxed),
            proxied_connections: c.proxied_connections.load(Ordering::Relaxed),
            broadcast_dropped: self.broadcaster.dropped(),
        }
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
        deadlines: VecDeque::new(),
        ws_count: 0,
        batch: Vec::with_capacity(BATCH),
    };
    let thread = std::thread::Builder::new().name("pinion-front".into()).spawn(move || front.run())?;
    Ok(FrontHandle { local_addr, broadcaster, stop, drain, waker, counters, thread: Some(thread) })
}

/// Reading the first request head.
struct Sniff {
    stream: TcpStream,
    buf: Vec<u8>,
}

enum Conn {
    Sniff(Sniff),
    /// A client to proxy, waiting for a warm backend connection.
    Wait(Sniff),
    Reject(Reject),
    Proxy(Box<Proxy>),
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
    /// Head deadlines in accept order: (deadline, slot, generation).
    deadlines: VecDeque<(Instant, usize, u64)>,
    ws_count: usize,
    batch: Vec<(Topic, Utf8Bytes)>,
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
                    Token(t) => self.on_event(t / 2),
                }
            }
            if !self.drained {
                self.pump_backends();
            }
            self.broadcast();
            self.expire();
            if self.drain.requested() {
                self.drain_turn();
            }
        }
        self.close_all();
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.rx.is_empty() {
            return Some(Duration::ZERO);
        }
        let head = self.deadlines.front().map(|&(d, _, _)| d);
        let deadline = match (head, self.pool.deadline()) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(1))
    }

    fn accept_all(&mut self) {
        loop {
            let Some(accepted) = self.listener.as_ref().map(TcpListener::accept) else { return };
            match accepted {
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
                    let conn = Conn::Sniff(Sniff { stream, buf: Vec::new() });
                    self.slots[idx] = Some(Slot { gen, conn });
                    self.deadlines.push_back((Instant::now() + self.cfg.head_timeout, idx, gen));
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

    fn on_event(&mut self, idx: usize) {
        let Some(Slot { gen, conn }) = self.slots.get_mut(idx).and_then(Option::take) else {
            return;
        };
        let step = self.step(idx, gen, conn);
        self.settle(idx, gen, step);
    }

    fn step(&mut self, idx: usize, gen: u64, conn: Conn) -> Step {
        match conn {
            Conn::Sniff(s) => self.sniff(idx, gen, s),
            // Its bytes stay in the socket until the proxy starts; a hang-up shows then.
            Conn::Wait(s) => Step::Keep(Conn::Wait(s)),
            Conn::Reject(r) => reject_step(r),
            Conn::Proxy(mut p) => match p.on_event() {
                Ok(false) => Step::Keep(Conn::Proxy(p)),
                Ok(true) => Step::Close(Conn::Proxy(p), None),
                Err(e) => {
                    log::debug!("front: proxied connection failed: {e}");
                    Step::Close(Conn::Proxy(p), None)
                }
            },
            Conn::Ws(c) => self.ws_step(c),
        }
    }

    fn ws_step(&mut self, mut c: Box<WsClient>) -> Step {
        match c.on_event() {
            Ok(n) => {
                self.counters.frames_sent.fetch_add(n, Ordering::Relaxed);
                Step::Keep(Conn::Ws(c))
            }
            Err(end) => Step::Close(Conn::Ws(c), Some(end)),
        }
    }

    fn sniff(&mut self, idx: usize, gen: u64, mut s: Sniff) -> Step {
        let mut len = s.buf.len();
        s.buf.resize(MAX_HEAD, 0);
        let mut eof = false;
        while len < MAX_HEAD {
            match s.stream.read(&mut s.buf[len..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Step::Close(Conn::Sniff(s), None),
            }
        }
        s.buf.truncate(len);
        if len == 0 {
            return match eof {
                true => Step::Close(Conn::Sniff(s), None),
                false => Step::Keep(Conn::Sniff(s)),
            };
        }
        match head::sniff(&s.buf, len == MAX_HEAD, &self.cfg) {
            Sniffed::Partial if eof => Step::Close(Conn::Sniff(s), None),
            Sniffed::Partial => Step::Keep(Conn::Sniff(s)),
            Sniffed::Reject(response) => reject(s.stream, response),
            Sniffed::Proxy => self.start_proxy(idx, gen, s),
            Sniffed::Upgrade { response, head_len } => self.start_ws(s, response, head_len),
        }
    }

    /// Proxies the client over a warm backend connection, or queues it until one is ready.
    fn start_proxy(&mut self, idx: usize, gen: u64, s: Sniff) -> Step {
        match self.pool.take(self.poll.registry()) {
            Some(backend) => self.proxy_with(idx, s, backend),
            None => {
                self.waiters.push_back((idx, gen));
                Step::Keep(Conn::Wait(s))
            }
        }
    }

    fn proxy_with(&mut self, idx: usize, s: Sniff, mut backend: TcpStream) -> Step {
        let token = Token(client_token(idx).0 + 1);
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.poll.registry().reregister(&mut backend, token, interest) {
            log::warn!("front: cannot register a backend connection: {e}");
            drop(self.poll.registry().deregister(&mut backend));
            return reject(s.stream, json_error(502, "REST backend unavailable", ""));
        }
        self.counters.proxied_connections.fetch_add(1, Ordering::Relaxed);
        let mut p = Box::new(Proxy::new(s.stream, backend, &s.buf));
        match p.on_event() {
            Ok(false) => Step::Keep(Conn::Proxy(p)),
            Ok(true) | Err(_) => Step::Close(Conn::Proxy(p), None),
        }
    }

    /// Moves the backend pool along (timeouts, next warm-up) and hands ready connections to the
    /// waiting clients in order; when a warm-up failed, the clients waiting then get 502.
    fn pump_backends(&mut self) {
        loop {
            self.pool.tick(self.poll.registry(), Instant::now(), !self.waiters.is_empty());
            if self.pool.take_failure() {
                for (idx, gen) in std::mem::take(&mut self.waiters) {
                    if let Some(s) = self.take_waiter(idx, gen) {
                        let step = reject(s.stream, json_error(502, "REST backend unavailable", ""));
                        self.settle(idx, gen, step);
                    }
                }
                continue; // A later client may start the next warm-up at once.
            }
            let Some(&(idx, gen)) = self.waiters.front() else {
                return;
            };
            let Some(s) = self.take_waiter(idx, gen) else {
                self.waiters.pop_front();
                continue;
            };
            match self.pool.take(self.poll.registry()) {
                Some(backend) => {
                    self.waiters.pop_front();
                    let step = self.proxy_with(idx, s, backend);
                    self.settle(idx, gen, step);
                }
                None => {
                    self.slots[idx] = Some(Slot { gen, conn: Conn::Wait(s) });
                    return;
                }
            }
        }
    }

    /// Takes the waiting client out of slot `idx` if it is still the one of generation `gen`.
    fn take_waiter(&mut self, idx: usize, gen: u64) -> Option<Sniff> {
        let slot = self.slots.get_mut(idx)?;
        match slot.take() {
            Some(Slot { gen: g, conn: Conn::Wait(s) }) if g == gen => Some(s),
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

    fn start_ws(&mut self, s: Sniff, response: Vec<u8>, head_len: usize) -> Step {
        if self.ws_count >= self.cfg.max_clients {
            log::warn!("front: WebSocket client refused, {} connected", self.ws_count);
            return reject(s.stream, json_error(503, "too many WebSocket clients", ""));
        }
        let leftover = s.buf.get(head_len..).unwrap_or_default().to_vec();
        let mut c = Box::new(WsClient::new(s.stream, response, leftover));
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
            for (topic, text) in &self.batch {
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
    }

    /// Closes connections that did not finish their request head (or rejection) in time.
    fn expire(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, idx, gen)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            let stale = matches!(
                self.slots.get(idx),
                Some(Some(Slot { gen: g, conn: Conn::Sniff(_) | Conn::Reject(_) })) if *g == gen
            );
            if stale {
                if let Some(slot) = self.slots[idx].take() {
                    log::debug!("front: request head timeout");
                    self.release(idx, slot.conn, None);
                }
            }
        }
    }

    fn release(&mut self, idx: usize, conn: Conn, why: Option<WsEnd>) {
        let registry = self.poll.registry();
        match conn {
            Conn::Sniff(mut s) | Conn::Wait(mut s) => drop(registry.deregister(&mut s.stream)),
            Conn::Reject(mut r) => drop(registry.deregister(&mut r.stream)),
            Conn::Proxy(mut p) => {
                drop(registry.deregister(&mut p.client));
                drop(registry.deregister(&mut p.backend));
            }
            Conn::Ws(mut c) => {
                drop(registry.deregister(c.stream_mut()));
                self.ws_count -= 1;
                self.counters.ws_clients.store(self.ws_count as u64, Ordering::Relaxed);
                if why == Some(WsEnd::Slow) {
                    self.counters.ws_dropped_slow.fetch_add(1, Ordering::Relaxed);
                    log::warn!("front: WebSocket client too slow, disconnected");
                }
            }
        }
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
