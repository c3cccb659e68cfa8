//! Warm backend connections for the front's REST proxy, opened strictly one at a time.
//!
//! Why: tiny_http 0.12 runs each accepted connection as a long-lived task of its thread pool, and
//! that pool loses wakeups: `TaskPool::spawn` trusts a count of idle threads that still includes
//! threads already notified for an earlier task, so when two connections are accepted back to back
//! the second task can stay queued with no thread woken for it. With keep-alive connections the
//! busy threads do not come back, and that client's first request hangs until some other
//! connection closes. Whenever the queue is empty at each spawn there is no lost wakeup: any idle
//! thread counted is either waiting (and is woken) or about to re-check the queue.
//!
//! So the front never connects to the backend on a client's behalf. This pool connects one
//! connection at a time (non-blocking), sends `GET /health`, and reads the complete answer: only
//! then has a tiny_http thread picked the connection's task up, and only then does the next
//! connection start. Completed connections wait, registered for readability so that a close by the
//! backend is noticed (and the connection dropped and replaced); a client takes one with
//! [`BackendPool::take`] and, after a complete exchange, gives it back with
//! [`BackendPool::put_back`] (kept if a slot is free). The pool keeps `target` of them ready and warms more on demand while
//! clients wait. A warm-up that fails (refused, closed, malformed or late answer) raises a failure
//! flag (the front answers its waiting clients 502) and refilling then backs off.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

/// Most pool slots (warm connections kept plus the one warming); a larger target is clamped.
pub(super) const MAX_WARM: usize = 64;
/// The warm-up request; `/health` needs no token and is cheap.
const WARM_REQUEST: &[u8] = b"GET /health HTTP/1.1\r\nHost: pinion\r\n\r\n";
/// Most bytes accepted in the warm-up answer.
const MAX_WARM_RESPONSE: usize = 64 * 1024;
/// First pause before refilling after a failed warm-up; doubled per failure up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A connection being warmed.
struct Warming {
    stream: TcpStream,
    connected: bool,
    sent: usize,
    buf: Vec<u8>,
    deadline: Instant,
}

enum Entry {
    Warming(Box<Warming>),
    Ready(TcpStream),
}

pub(super) struct BackendPool {
    addr: SocketAddr,
    target: usize,
    timeout: Duration,
    /// First token of the pool; slot `i` uses `base + i`.
    base: usize,
    /// At most one entry is `Warming`.
    slots: Vec<Option<Entry>>,
    /// Set when a warm-up fails; cleared by [`BackendPool::take_failure`].
    failed: bool,
    backoff: Duration,
    /// No refill (without waiting clients) before this.
    retry_at: Option<Instant>,
}

impl BackendPool {
    /// A pool keeping `target` warm connections to `addr` (at least one slot, so that warming on
    /// demand works with 0), each warm-up allowed `timeout`, using tokens from `base` on.
    pub(super) fn new(addr: SocketAddr, target: usize, timeout: Duration, base: Token) -> Self {
        let target = target.min(MAX_WARM);
        let slots = (0..target.max(1)).map(|_| None).collect();
        BackendPool { addr, target, timeout, base: base.0, slots, failed: false, backoff: MIN_BACKOFF, retry_at: None }
    }

    /// True when `token` belongs to the pool.
    pub(super) fn owns(&self, token: Token) -> bool {
        token.0 >= self.base && token.0 - self.base < self.slots.len()
    }

    fn warming_slot(&self) -> Option<usize> {
        self.slots.iter().position(|e| matches!(e, Some(Entry::Warming(_))))
    }

    fn ready_count(&self) -> usize {
        self.slots.iter().filter(|e| matches!(e, Some(Entry::Ready(_)))).count()
    }

    /// When the front must call [`BackendPool::tick`] next without any event: the warm-up
    /// deadline, or the end of the refill backoff.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let warming = self.slots.iter().find_map(|e| match e {
            Some(Entry::Warming(w)) => Some(w.deadline),
            _ => None,
        });
        if warming.is_some() {
            return warming;
        }
        if self.ready_count() < self.target {
            return self.retry_at;
        }
        None
    }

    /// Whether a warm-up failed since the last call.
    pub(super) fn take_failure(&mut self) -> bool {
        std::mem::take(&mut self.failed)
    }

    /// Expires a late warm-up, then starts the next one when none is running and either a client
    /// waits (`demand`) or fewer than `target` connections are ready (outside the backoff).
    pub(super) fn tick(&mut self, registry: &Registry, now: Instant, demand: bool) {
        if let Some(i) = self.warming_slot() {
            let late = matches!(&self.slots[i], Some(Entry::Warming(w)) if w.deadline <= now);
            if late {
                log::warn!("front: REST backend warm-up timed out");
                self.fail(registry, i, now);
            } else {
                return;
            }
        }
        let refill = self.ready_count() < self.target && self.retry_at.is_none_or(|t| t <= now);
        if !demand && !refill {
            return;
        }
        let Some(i) = self.slots.iter().position(Option::is_none) else {
            return;
        };
        let mut stream = match TcpStream::connect(self.addr) {
            Ok(s) => s,
            Err(e) => {
                log::warn!("front: cannot connect to the REST backend: {e}");
                return self.note_failure(now);
            }
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = registry.register(&mut stream, Token(self.base + i), interest) {
            log::warn!("front: cannot register a backend connection: {e}");
            return self.note_failure(now);
        }
        let w = Warming { stream, connected: false, sent: 0, buf: Vec::new(), deadline: now + self.timeout };
        self.slots[i] = Some(Entry::Warming(Box::new(w)));
    }

    /// Handles readiness of the pool connection behind `token`.
    pub(super) fn on_event(&mut self, registry: &Registry, token: Token) {
        let i = token.0.wrapping_sub(self.base);
        match self.slots.get_mut(i) {
            Some(Some(Entry::Warming(w))) => match w.advance() {
                Ok(false) => {}
                Ok(true) => {
                    if let Some(Entry::Warming(w)) = self.slots[i].take() {
                        self.slots[i] = Some(Entry::Ready(w.stream));
                        self.backoff = MIN_BACKOFF;
                        self.retry_at = None;
                    }
                }
                Err(e) => {
                    log::warn!("front: REST backend warm-up failed: {e}");
                    self.fail(registry, i, Instant::now());
                }
            },
            Some(Some(Entry::Ready(s))) if !alive(s) => {
                log::debug!("front: the REST backend closed a warm connection");
                self.discard(registry, i);
            }
            _ => {}
        }
    }

    /// A ready connection, still registered under its pool token (the caller re-registers it).
    pub(super) fn take(&mut self, registry: &Registry) -> Option<TcpStream> {
        loop {
            let i = self.slots.iter().position(|e| matches!(e, Some(Entry::Ready(_))))?;
            if let Some(Entry::Ready(mut s)) = self.slots[i].take() {
                if alive(&s) {
                    return Some(s);
                }
                drop(registry.deregister(&mut s));
            }
        }
    }

    /// Takes back a connection after a complete exchange (the caller registered it under another
    /// token); kept when a slot is free and it is still open, else closed.
    pub(super) fn put_back(&mut self, registry: &Registry, mut stream: TcpStream) {
        if let Some(i) = self.slots.iter().position(Option::is_none) {
            if alive(&stream) && registry.reregister(&mut stream, Token(self.base + i), Interest::READABLE).is_ok() {
                self.slots[i] = Some(Entry::Ready(stream));
                return;
            }
        }
        drop(registry.deregister(&mut stream));
    }

    /// Drops every connection.
    pub(super) fn close_all(&mut self, registry: &Registry) {
        for i in 0..self.slots.len() {
            self.discard(registry, i);
        }
    }

    fn discard(&mut self, registry: &Registry, i: usize) {
        match self.slots.get_mut(i).and_then(Option::take) {
            Some(Entry::Warming(mut w)) => drop(registry.deregister(&mut w.stream)),
            Some(Entry::Ready(mut s)) => drop(registry.deregister(&mut s)),
            None => {}
        }
    }

    fn fail(&mut self, registry: &Registry, i: usize, now: Instant) {
        self.discard(registry, i);
        self.note_failure(now);
    }

    fn note_failure(&mut self, now: Instant) {
        self.failed = true;
        self.retry_at = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// False when an idle warm connection was closed, failed or (unexpectedly) received data.
fn alive(mut s: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    loop {
        match s.read(&mut probe) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            _ => return false,
        }
    }
}

impl Warming {
    /// Moves the warm-up along. Ok(true) once the complete answer is in and the connection can
    /// carry further requests.
    fn advance(&mut self) -> io::Result<bool> {
        if !self.connected {
            if let Some(e) = self.stream.take_error()? {
                return Err(e);
            }
            match self.stream.peer_addr() {
                Ok(_) => {
                    self.connected = true;
                    let _ = self.stream.set_nodelay(true);
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        while self.sent < WARM_REQUEST.len() {
            match self.stream.write(&WARM_REQUEST[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during the warm-up")),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    if self.buf.len() > MAX_WARM_RESPONSE {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, "warm-up answer too large"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        response_complete(&self.buf)
    }
}

/// Whether `buf` holds one complete answer that leaves the connection open for more requests;
/// an error for anything else (unknown body framing, `Connection: close`, trailing bytes).
fn response_complete(buf: &[u8]) -> io::Result<bool> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, format!("warm-up answer: {why}"));
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(false),
        Err(e) => return Err(invalid(e.to_string())),
    };
    let header = |name: &str| {
        resp.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).and_then(|h| std::str::from_utf8(h.value).ok()).map(str::trim)
    };
    if header("connection").is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))) {
        return Err(invalid("the backend closes the connection".into()));
    }
    if header("transfer-encoding").is_some() {
        return Err(invalid("only Content-Length bodies are supported".into()));
    }
    let body_len = match header("content-length") {
        Some(v) => v.parse::<usize>().map_err(|_| invalid(format!("bad Content-Length {v:?}")))?,
        None => 0,
    };
    let have = buf.len() - head_len;
    if have > body_len {
        return Err(invalid("bytes after the answer".into()));
    }
    Ok(have == body_len)
}

#[cfg(test)]
mod tests {
    use super::response_complete;

    #[test]
    fn warm_up_answers_are_framed_by_content_length() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert!(!response_complete(&ok[..10]).unwrap());
        assert!(!response_complete(&ok[..ok.len() - 1]).unwrap());
        assert!(response_complete(ok).unwrap());
        assert!(response_complete(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap());
        assert!(response_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokX").is_err());
        assert!(response_complete(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").is_err());
        assert!(response_complete(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err());
        assert!(response_complete(b"junk\r\n\r\n").is_err());
    }
}
