//! A bounded byte pipe between two non-blocking sockets: bytes read from one and not yet written
//! to the other, in a 64 KiB buffer (reads pause while it is full).

use std::io::{self, Read, Write};

/// Size of the buffer.
pub(super) const PIPE_BUF: usize = 64 * 1024;

/// One direction: bytes read from one socket and not yet written to the other.
pub(super) struct Pipe {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The source reached end of stream.
    pub(super) eof: bool,
}

impl Pipe {
    pub(super) fn new(initial: &[u8]) -> Self {
        let mut buf = vec![0u8; PIPE_BUF.max(initial.len())].into_boxed_slice();
        buf[..initial.len()].copy_from_slice(initial);
        Pipe { buf, start: 0, end: initial.len(), eof: false }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The last `n` bytes read (still buffered when nothing was drained since they were read).
    pub(super) fn last(&self, n: usize) -> &[u8] {
        &self.buf[self.end.saturating_sub(n).max(self.start)..self.end]
    }

    /// Bytes buffered, not yet written.
    pub(super) fn len(&self) -> usize {
        self.end - self.start
    }

    /// Reads until the source would block, the buffer is full or the source ends.
    pub(super) fn fill(&mut self, src: &mut impl Read) -> io::Result<bool> {
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
    pub(super) fn drain(&mut self, dst: &mut impl Write) -> io::Result<bool> {
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
