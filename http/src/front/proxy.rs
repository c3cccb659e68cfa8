//! Byte-for-byte proxy between a public client connection and the internal REST backend: two
//! bounded 64 KiB buffers (one per direction), reads paused while a buffer is full, client
//! half-close forwarded as a write shutdown to the backend, and the connection finished once the
//! backend's answer is fully delivered and the backend has closed (or on any socket error).

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::net::TcpStream;

use super::head::json_error;

/// Size of each direction's buffer.
pub(super) const PIPE_BUF: usize = 64 * 1024;

/// One direction: bytes read from one socket and not yet written to the other.
struct Pipe {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The source reached end of stream.
    eof: bool,
    /// The write side of the destination has been shut down.
    shut: bool,
}

impl Pipe {
    fn new(initial: &[u8]) -> Self {
        let mut buf = vec![0u8; PIPE_BUF.max(initial.len())].into_boxed_slice();
        buf[..initial.len()].copy_from_slice(initial);
        Pipe { buf, start: 0, end: initial.len(), eof: false, shut: false }
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Reads until the source would block, the buffer is full or the source ends.
    fn fill(&mut self, src: &mut impl Read) -> io::Result<bool> {
        let mut progress = false;
        while !self.eof {
            if self.is_empty() {
                self.start = 0;
                self.end = 0;
            } else if self.end == self.buf.len() && self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                break;
            }
            match src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    progress = true;
                }
                Ok(n) => {
                    self.end += n;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(progress)
    }

    /// Writes buffered bytes until empty or the destination would block.
    fn drain(&mut self, dst: &mut impl Write) -> io::Result<bool> {
        let mut progress = false;
        while !self.is_empty() {
            match dst.write(&self.buf[self.start..self.end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.start += n;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(progress)
    }
}

/// A proxied connection; both sockets are registered with the front's poll.
pub(super) struct Proxy {
    pub(super) client: TcpStream,
    pub(super) backend: TcpStream,
    connected: bool,
    /// client -> backend
    up: Pipe,
    /// backend -> client
    down: Pipe,
}

impl Proxy {
    /// `head` holds the bytes already read from the client (at least the request head).
    pub(super) fn new(client: TcpStream, backend: TcpStream, head: &[u8]) -> Self {
        Proxy { client, backend, connected: false, up: Pipe::new(head), down: Pipe::new(&[]) }
    }

    /// Moves whatever bytes can move now. Ok(true) when the connection is finished.
    pub(super) fn on_event(&mut self) -> io::Result<bool> {
        if !self.connected && !self.up.shut {
            self.check_connected();
        }
        loop {
            let mut progress = self.up.fill(&mut self.client)?;
            if self.connected {
                progress |= self.up.drain(&mut self.backend)?;
                progress |= self.down.fill(&mut self.backend)?;
            }
            progress |= self.down.drain(&mut self.client)?;
            if !progress {
                break;
            }
        }
        if self.connected && self.up.eof && self.up.is_empty() && !self.up.shut {
            self.up.shut = true;
            // The client finished sending: forward the half-close.
            let _ = self.backend.shutdown(Shutdown::Write);
        }
        if self.down.eof && self.down.is_empty() && !self.down.shut {
            self.down.shut = true;
            let _ = self.client.shutdown(Shutdown::Write);
        }
        Ok(self.down.shut)
    }

    /// Completes the non-blocking connect, or turns a failed one into a 502 for the client.
    fn check_connected(&mut self) {
        let failure = match self.backend.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match self.backend.peer_addr() {
                Ok(_) => {
                    self.connected = true;
                    let _ = self.backend.set_nodelay(true);
                    None
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => None,
                Err(e) => Some(e),
            },
        };
        if let Some(e) = failure {
            log::warn!("REST backend connect failed: {e}");
            self.fail_with(&json_error(502, "REST backend unavailable", ""));
        }
    }

    /// Stops talking to the backend and answers `response` to the client instead.
    fn fail_with(&mut self, response: &[u8]) {
        self.up = Pipe::new(&[]);
        self.up.eof = true;
        self.up.shut = true;
        self.down = Pipe::new(response);
        self.down.eof = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_fills_compacts_and_drains() {
        let mut p = Pipe::new(b"head");
        let data = vec![7u8; PIPE_BUF + 20];
        let mut src: &[u8] = &data;
        assert!(p.fill(&mut src).unwrap());
        assert_eq!(p.end, PIPE_BUF); // full: stopped before reading the rest
        assert!(!p.eof);
        let mut out = Vec::new();
        let mut limited = LimitedWriter { out: &mut out, room: 10 };
        assert!(p.drain(&mut limited).unwrap());
        assert_eq!(p.start, 10);
        assert!(p.fill(&mut src).unwrap()); // compacted, read 10 more bytes
        assert_eq!((p.start, p.end), (0, PIPE_BUF));
        p.drain(&mut out).unwrap();
        assert!(p.fill(&mut src).unwrap()); // the rest, then end of stream
        p.drain(&mut out).unwrap();
        assert!(p.eof && p.is_empty());
        assert_eq!(out.len(), 4 + PIPE_BUF + 20);
        assert_eq!(&out[..4], b"head");
    }

    struct LimitedWriter<'a> {
        out: &'a mut Vec<u8>,
        room: usize,
    }

    impl Write for LimitedWriter<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
