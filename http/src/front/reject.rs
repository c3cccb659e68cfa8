//! Refusing or ending a connection politely: write the last bytes (an error response, a WebSocket
//! Close frame, or nothing), shut down the write side, then drain input until the peer closes, so
//! closing does not reset the connection before the peer has read them. Bounded by [`LINGER`].

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use super::{Conn, Step};

/// Most time spent finishing a refused connection.
pub(super) const LINGER: Duration = Duration::from_secs(5);

/// A connection being refused: the response and how much of it was written.
pub(super) struct Reject {
    pub(super) stream: TcpStream,
    out: Vec<u8>,
    sent: usize,
    pub(super) deadline: Instant,
}

/// Starts refusing `stream` with the response `out` (empty: just close politely).
pub(super) fn reject(stream: TcpStream, out: Vec<u8>) -> Step {
    if out.is_empty() {
        let _ = stream.shutdown(Shutdown::Write);
    }
    reject_step(Reject { stream, out, sent: 0, deadline: Instant::now() + LINGER })
}

/// Writes what it can of the response, then drains; Close once the peer is gone.
pub(super) fn reject_step(mut r: Reject) -> Step {
    let mut sink = [0u8; 4096];
    loop {
        let result = if r.sent < r.out.len() { r.stream.write(&r.out[r.sent..]) } else { r.stream.read(&mut sink) };
        match result {
            Ok(0) => return Step::Close(Conn::Reject(r), None),
            Ok(n) if r.sent < r.out.len() => {
                r.sent += n;
                if r.sent == r.out.len() {
                    let _ = r.stream.shutdown(Shutdown::Write);
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Keep(Conn::Reject(r)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Step::Close(Conn::Reject(r), None),
        }
    }
}
