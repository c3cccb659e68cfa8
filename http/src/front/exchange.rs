//! One request/answer exchange over a warm backend connection: the front writes the whole,
//! already-checked request to tiny_http, then relays the answer to the client through a bounded
//! 64 KiB buffer while following its framing (`Content-Length`, none for HEAD/204/304), so that it
//! knows where the answer ends. Then the backend connection goes back to the pool and the client
//! connection back to reading its next request (each request is checked, not only the first), or,
//! when either side asked for `Connection: close`, the client connection is closed. An answer with
//! another framing (never sent by our REST server) is relayed until the backend closes.

use std::io::{self, Write};

use mio::net::TcpStream;

use super::framing::ReqInfo;
use super::pipe::Pipe;

/// Most bytes of an answer head.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

enum Answer {
    /// Reading the head (its bytes so far).
    Head(Vec<u8>),
    /// This many body bytes are still to come.
    Body(u64),
    /// Relayed until the backend closes.
    UntilClose,
    Done,
}

/// How an exchange ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Finished {
    /// The answer is delivered and both connections can carry another request.
    KeepAlive,
    /// The answer is delivered (or the exchange failed): close the client, drop the backend.
    Close,
}

pub(super) struct Exchange {
    pub(super) client: TcpStream,
    pub(super) backend: TcpStream,
    request: Vec<u8>,
    sent: usize,
    down: Pipe,
    answer: Answer,
    head_method: bool,
    keep_alive: bool,
    /// Bytes read past the request (the start of a pipelined next one).
    pub(super) leftover: Vec<u8>,
}

impl Exchange {
    /// `buf` holds the complete request that `info` describes (and maybe more).
    pub(super) fn new(client: TcpStream, backend: TcpStream, info: &ReqInfo, buf: &[u8]) -> Self {
        Exchange {
            client,
            backend,
            request: info.forwarded(buf),
            sent: 0,
            down: Pipe::new(&[]),
            answer: Answer::Head(Vec::new()),
            head_method: info.head_method,
            keep_alive: info.keep_alive,
            leftover: buf.get(info.total()..).unwrap_or_default().to_vec(),
        }
    }

    /// Moves what can move now; Some when the exchange is over.
    pub(super) fn on_event(&mut self) -> io::Result<Option<Finished>> {
        loop {
            let mut progress = false;
            while self.sent < self.request.len() {
                match self.backend.write(&self.request[self.sent..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        self.sent += n;
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if !self.down.eof && !matches!(self.answer, Answer::Done) {
                let before = self.down.len();
                progress |= self.down.fill(&mut self.backend)?;
                let new = self.down.len() - before;
                if new > 0 {
                    self.follow(new)?;
                }
            }
            progress |= self.down.drain(&mut self.client)?;
            if !progress {
                break;
            }
        }
        if !self.down.is_empty() {
            return Ok(None);
        }
        match self.answer {
            Answer::Done if self.keep_alive => Ok(Some(Finished::KeepAlive)),
            Answer::Done => Ok(Some(Finished::Close)),
            _ if self.down.eof => Ok(Some(Finished::Close)),
            _ => Ok(None),
        }
    }

    /// Follows the answer's framing over the `new` bytes just read.
    fn follow(&mut self, new: usize) -> io::Result<()> {
        let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("REST backend answer: {why}"));
        match &mut self.answer {
            Answer::Head(head) => {
                head.extend_from_slice(self.down.last(new));
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut resp = httparse::Response::new(&mut headers);
                let head_len = match resp.parse(head) {
                    Ok(httparse::Status::Complete(n)) => n,
                    Ok(httparse::Status::Partial) if head.len() > MAX_RESPONSE_HEAD => return Err(invalid("head too large")),
                    Ok(httparse::Status::Partial) => return Ok(()),
                    Err(e) => return Err(invalid(&e.to_string())),
                };
                let value = |name: &str| {
                    resp.headers
                        .iter()
                        .filter(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
                        .next()
                };
                let status = resp.code.unwrap_or(0);
                if value("connection").is_some_and(|v| v.contains("close")) {
                    self.keep_alive = false;
                }
                let body = if self.head_method || status == 204 || status == 304 || (100..200).contains(&status) {
                    Some(0)
                } else if value("transfer-encoding").is_some() {
                    None
                } else {
                    value("content-length").and_then(|v| v.parse::<u64>().ok())
                };
                let extra = (head.len() - head_len) as u64;
                self.answer = match body {
                    _ if (100..200).contains(&status) => Answer::UntilClose, // No interim answers expected.
                    Some(n) if extra > n => return Err(invalid("bytes after the answer")),
                    Some(n) if extra == n => Answer::Done,
                    Some(n) => Answer::Body(n - extra),
                    None => Answer::UntilClose,
                };
                if matches!(self.answer, Answer::UntilClose) {
                    self.keep_alive = false;
                }
            }
            Answer::Body(rest) => match (new as u64).cmp(rest) {
                std::cmp::Ordering::Less => *rest -= new as u64,
                std::cmp::Ordering::Equal => self.answer = Answer::Done,
                std::cmp::Ordering::Greater => return Err(invalid("bytes after the answer")),
            },
            Answer::UntilClose | Answer::Done => {}
        }
        Ok(())
    }
}
