//! Reading one whole request (head and body) from a client connection before anything is proxied,
//! so that a slow or hostile client only ever costs the front a bounded buffer: never a backend
//! connection, a tiny_http thread or a REST worker.
//!
//! Timing: a request must be complete within `request_timeout` of its start (the accept for a
//! connection's first request, the first byte for a later one) and, after a grace of
//! [`RATE_GRACE`], arrive at `min_request_rate` bytes per second on average; otherwise it is
//! answered 408. A keep-alive connection with no request begun is closed silently after
//! `idle_timeout` (a new connection that sends nothing, after `request_timeout`).

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use super::head::{self, Sniffed};
use super::{FrontConfig, MAX_HEAD};

/// Time a request may take before the minimum rate applies.
pub(super) const RATE_GRACE: Duration = Duration::from_secs(2);
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A client connection between requests or reading one.
pub(super) struct Reading {
    pub(super) stream: TcpStream,
    /// Bytes of the current request read so far (at most `MAX_HEAD` + `max_body_bytes`).
    pub(super) buf: Vec<u8>,
    /// When the current request started; None while waiting for a keep-alive request's first byte.
    started: Option<Instant>,
    /// When the connection became idle (accept, or the end of the previous answer).
    idle_since: Instant,
    /// What the head says, once it is complete.
    pub(super) sniffed: Option<Sniffed>,
    continue_sent: bool,
    /// A request of this connection was proxied before (for the connection counter).
    pub(super) proxied_before: bool,
}

/// What reading did.
pub(super) enum ReadOutcome {
    /// More bytes are needed.
    Pending,
    /// The peer closed or failed before a request was complete.
    Gone,
    /// The head is complete and `sniffed` is set; for `Sniffed::Proxy` the body is complete too.
    Ready,
}

/// Why a reading connection's time is up.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Expired {
    /// Nothing of a request arrived: close without an answer.
    Idle,
    /// A request began but is too slow: answer 408.
    Slow,
}

impl Reading {
    /// A freshly accepted connection: its first request's clock starts now.
    pub(super) fn new(stream: TcpStream, now: Instant) -> Self {
        Reading { stream, buf: Vec::new(), started: Some(now), idle_since: now, sniffed: None, continue_sent: false, proxied_before: false }
    }

    /// The same connection after an answer: waits (idle) for the next request, of which
    /// `leftover` (pipelined bytes read with the previous one) may be the start.
    pub(super) fn next_request(stream: TcpStream, now: Instant, leftover: Vec<u8>) -> Self {
        let started = (!leftover.is_empty()).then_some(now);
        Reading { buf: leftover, started, proxied_before: true, ..Reading::new(stream, now) }
    }

    /// Reads what is available (bounded) and re-examines the request.
    pub(super) fn read(&mut self, cfg: &FrontConfig) -> ReadOutcome {
        let mut chunk = [0u8; 16 * 1024];
        if self.sniffed.is_none() && !self.buf.is_empty() {
            self.examine(false, cfg);
        }
        loop {
            if self.complete() {
                return ReadOutcome::Ready;
            }
            let limit = match &self.sniffed {
                Some(Sniffed::Proxy(info)) => info.total(),
                _ => MAX_HEAD,
            };
            let room = limit.saturating_sub(self.buf.len()).min(chunk.len());
            if room == 0 {
                // The head did not fit: sniffing answers 431.
                self.examine(true, cfg);
                return ReadOutcome::Ready;
            }
            match self.stream.read(&mut chunk[..room]) {
                Ok(0) => return ReadOutcome::Gone,
                Ok(n) => {
                    if self.buf.is_empty() && self.started.is_none() {
                        self.started = Some(Instant::now());
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                    if self.sniffed.is_none() {
                        self.examine(false, cfg);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if self.complete() { ReadOutcome::Ready } else { ReadOutcome::Pending };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return ReadOutcome::Gone,
            }
        }
    }

    fn examine(&mut self, full: bool, cfg: &FrontConfig) {
        match head::sniff(&self.buf, full, cfg) {
            Sniffed::Partial => {}
            Sniffed::Proxy(info) => {
                if info.expect_continue && self.buf.len() < info.total() && !self.continue_sent {
                    self.continue_sent = true;
                    // A fresh 25-byte answer fits any socket buffer; a client that loses it
                    // sends its body after its own wait anyway.
                    let _ = self.stream.write(CONTINUE);
                }
                self.sniffed = Some(Sniffed::Proxy(info));
            }
            other => self.sniffed = Some(other),
        }
    }

    fn complete(&self) -> bool {
        match &self.sniffed {
            None | Some(Sniffed::Partial) => false,
            Some(Sniffed::Proxy(info)) => self.buf.len() >= info.total(),
            Some(_) => true,
        }
    }

    /// Whether this connection's time is up at `now`.
    pub(super) fn expired(&self, now: Instant, cfg: &FrontConfig) -> Option<Expired> {
        let Some(started) = self.started else {
            return (now >= self.idle_since + cfg.idle_timeout).then_some(Expired::Idle);
        };
        let elapsed = now.saturating_duration_since(started);
        if elapsed >= cfg.request_timeout {
            return Some(if self.buf.is_empty() { Expired::Idle } else { Expired::Slow });
        }
        let rated = elapsed.saturating_sub(RATE_GRACE).as_secs_f64();
        let needed = rated * cfg.min_request_rate as f64;
        (rated > 0.0 && (self.buf.len() as f64) < needed).then_some(if self.buf.is_empty() { Expired::Idle } else { Expired::Slow })
    }
}
