//! Refusing a connection politely: write the error response, shut down the write side, then drain
//! input until the peer closes, so closing does not reset the connection before the response is read.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::net::TcpStream;

use super::{Conn, Step};

/// A connection being refused: the response and how much of it was written.
pub(super) struct Reject {
    pub(super) stream: TcpStream,
    out: Vec<u8>,
    sent: usize,
}

/// Starts refusing `stream` with the response `out`.
pub(super) fn reject(stream: TcpStream, out: Vec<u8>) -> Step {
    reject_step(Reject { stream, out, sent: 0 })
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
