//! A long-lived HTTP/1.1 GET whose body is read line by line: OANDA's pricing stream (chunked,
//! newline-delimited JSON). Written on `std::net::TcpStream` (and rustls for https) rather than a
//! general client because the caller must notice silence: reads time out every `poll` so the stream
//! thread can run its watchdog and stop flag, and a stalled connection is simply dropped. The body
//! decoder is resumable across timeouts (a read may end mid-chunk or mid-line).
//! Chunked framing per RFC 9112 section 7.1; a body without chunking is read to the connection's end.

use super::{host_of, OandaError};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// The longest line or head accepted (a PRICE line is a few hundred bytes).
const MAX_LINE: usize = 1 << 20;

trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

/// What one poll of the stream gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A complete line (without its newline; empty lines are skipped).
    Line(Vec<u8>),
    /// Nothing arrived within the poll interval.
    Idle,
    /// The server ended the body or closed the connection.
    Closed,
}

/// An open streaming response.
pub struct LineStream {
    conn: Box<dyn Conn>,
    /// Bytes read but not yet decoded.
    raw: Vec<u8>,
    /// Decoded body bytes not yet returned as lines.
    data: Vec<u8>,
    chunked: bool,
    /// Without chunking: the body bytes `Content-Length` still announces (None: until the connection ends).
    length_left: Option<usize>,
    /// Bytes left in the current chunk (None: a size line comes next).
    chunk_left: Option<usize>,
    ended: bool,
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
}

/// Sends `GET {base}{path}` with `Authorization: <bearer>` and reads the response head. On 2xx the body
/// stream is returned; otherwise `Err((status, body))` (the body read up to `MAX_LINE`).
pub fn get(base: &str, path: &str, bearer: &str, poll: Duration, connect_timeout: Duration) -> Result<LineStream, StreamError> {
    let (scheme, authority) = base.split_once("://").ok_or_else(|| StreamError::Io(format!("bad URL {base}")))?;
    let tls = scheme == "https";
    let host = host_of(authority);
    let with_port = if authority.trim_start_matches(host).starts_with(':') {
        authority.to_string()
    } else {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| StreamError::Io(format!("resolving {authority}: {e}")))?
        .next()
        .ok_or_else(|| StreamError::Io(format!("{authority} resolves to no address")))?;
    let tcp = TcpStream::connect_timeout(&addr, connect_timeout).map_err(|e| StreamError::Io(format!("connecting to {authority}: {e}")))?;
    tcp.set_nodelay(true).map_err(|e| StreamError::Io(e.to_string()))?;
    tcp.set_read_timeout(Some(poll)).map_err(|e| StreamError::Io(e.to_string()))?;
    tcp.set_write_timeout(Some(connect_timeout)).map_err(|e| StreamError::Io(e.to_string()))?;
    let mut conn: Box<dyn Conn> = if tls {
        let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
            .map_err(|e| StreamError::Io(format!("TLS name {host}: {e}")))?;
        let client = rustls::ClientConnection::new(tls_config(), name).map_err(|e| StreamError::Io(format!("TLS: {e}")))?;
        Box::new(rustls::StreamOwned::new(client, tcp))
    } else {
        Box::new(tcp)
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: {bearer}\r\nAccept: application/json\r\nAccept-Datetime-Format: RFC3339\r\nUser-Agent: pinion\r\nConnection: keep-alive\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).map_err(|e| StreamError::Io(format!("sending the request: {e}")))?;
    let mut s = LineStream {
        conn,
        raw: Vec::with_capacity(16 * 1024),
        data: Vec::new(),
        chunked: false,
        length_left: None,
        chunk_left: None,
        ended: false,
    };
    let head = s.read_head(connect_timeout.max(poll))?;
    let status: u16 =
        head.split_whitespace().nth(1).and_then(|v| v.parse().ok()).ok_or_else(|| StreamError::Io("malformed status line".into()))?;
    let header = |name: &str| {
        head.lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    s.chunked = header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if !s.chunked {
        s.length_left = header("content-length").and_then(|v| v.parse().ok());
    }
    if !(200..300).contains(&status) {
        let body = s.read_rest(Duration::from_secs(5));
        return Err(StreamError::Status { status, body });
    }
    Ok(s)
}

/// Why a stream could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// Connecting, TLS, writing or reading failed.
    Io(String),
    /// The server answered with a non-2xx status and this body.
    Status {
        /// HTTP status.
        status: u16,
        /// The body (an OANDA `errorMessage` object, usually).
        body: String,
    },
}

impl StreamError {
    /// As an [`OandaError`] for `what`, recognising a refused token.
    pub fn into_oanda(self, what: &str, account: &str) -> OandaError {
        match self {
            StreamError::Io(detail) => OandaError::Transport { what: what.to_string(), detail },
            StreamError::Status { status, body } => {
                let message = serde_json::from_str::<super::wire::ErrorBody>(&body).map_or(body, |b| b.error_message);
                if status == 401 || status == 403 {
                    OandaError::Unauthorized { account: account.to_string(), status, message }
                } else {
                    OandaError::Http { what: what.to_string(), status, message }
                }
            }
        }
    }
}

impl LineStream {
    /// Reads more bytes into `raw`; Ok(false) on a timeout, Err on a closed or failed connection.
    fn fill(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 8192];
        match self.conn.read(&mut buf) {
            Ok(0) => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(n) => {
                self.raw.extend_from_slice(&buf[..n]);
                if self.raw.len() > 2 * MAX_LINE {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "the stream sent an overlong line"));
                }
                Ok(true)
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn read_head(&mut self, within: Duration) -> Result<String, StreamError> {
        let t0 = std::time::Instant::now();
        loop {
            if let Some(i) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.raw[..i]).into_owned();
                self.raw.drain(..i + 4);
                return Ok(head);
            }
            if self.raw.len() > MAX_LINE || t0.elapsed() > within {
                return Err(StreamError::Io("no complete response head".into()));
            }
            self.fill().map_err(|e| StreamError::Io(format!("reading the response head: {e}")))?;
        }
    }

    fn read_rest(&mut self, within: Duration) -> String {
        let t0 = std::time::Instant::now();
        let mut out = Vec::new();
        while t0.elapsed() < within && out.len() < MAX_LINE {
            match self.next_line() {
                Next::Line(l) => {
                    out.extend_from_slice(&l);
                    out.push(b'\n');
                }
                Next::Idle => {}
                Next::Closed => break,
            }
        }
        out.extend_from_slice(&self.data);
        String::from_utf8_lossy(&out).trim().to_string()
    }

    /// Moves decodable bytes from `raw` to `data` (de-chunking). False when the body has ended.
    fn decode(&mut self) -> bool {
        if !self.chunked {
            let Some(left) = self.length_left else {
                self.data.append(&mut self.raw);
                return true;
            };
            let take = left.min(self.raw.len());
            self.data.extend(self.raw.drain(..take));
            self.length_left = Some(left - take);
            return left > take;
        }
        loop {
            match self.chunk_left {
                None => {
                    let Some(i) = self.raw.windows(2).position(|w| w == b"\r\n") else { return true };
                    let line = String::from_utf8_lossy(&self.raw[..i]).into_owned();
                    self.raw.drain(..i + 2);
                    let size = line.split(';').next().unwrap_or("").trim();
                    match usize::from_str_radix(size, 16) {
                        Ok(0) => return false,
                        Ok(n) => self.chunk_left = Some(n),
                        Err(_) if size.is_empty() => {} // the CRLF after a chunk's data
                        Err(_) => return false,
                    }
                }
                Some(left) => {
                    if self.raw.is_empty() {
                        return true;
                    }
                    let take = left.min(self.raw.len());
                    self.data.extend(self.raw.drain(..take));
                    self.chunk_left = if take == left { None } else { Some(left - take) };
                }
            }
        }
    }

    /// The next line of the body, or Idle after one poll interval without one, or Closed.
    pub fn next_line(&mut self) -> Next {
        loop {
            if let Some(i) = self.data.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.data.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.is_empty() {
                    continue;
                }
                return Next::Line(line);
            }
            if self.ended {
                return Next::Closed;
            }
            if !self.decode() {
                self.ended = true;
                continue;
            }
            if self.data.contains(&b'\n') {
                continue;
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return Next::Idle,
                Err(_) => {
                    self.ended = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve(answer: Vec<Vec<u8>>, pause: Duration) -> String {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            for part in answer {
                let _ = s.write_all(&part);
                let _ = s.flush();
                std::thread::sleep(pause);
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn chunked_lines_come_out_whole_across_chunk_and_read_boundaries() {
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
        let body = b"{\"type\":\"HEARTBEAT\"}\n{\"a\":1}\n";
        let mut chunks = vec![head];
        // Split the body into chunks of 5 bytes, each sent as its own write.
        for c in body.chunks(5) {
            let mut x = format!("{:x}\r\n", c.len()).into_bytes();
            x.extend_from_slice(c);
            x.extend_from_slice(b"\r\n");
            chunks.push(x);
        }
        chunks.push(b"0\r\n\r\n".to_vec());
        let base = serve(chunks, Duration::from_millis(5));
        let mut s = get(&base, "/x", "Bearer t", Duration::from_millis(20), Duration::from_secs(2)).expect("open");
        let mut lines = Vec::new();
        loop {
            match s.next_line() {
                Next::Line(l) => lines.push(String::from_utf8(l).expect("utf8")),
                Next::Idle => {}
                Next::Closed => break,
            }
        }
        assert_eq!(lines, vec!["{\"type\":\"HEARTBEAT\"}", "{\"a\":1}"]);
    }

    #[test]
    fn a_refusal_carries_its_status_and_body_and_silence_is_idle() {
        let body = "{\"errorMessage\":\"Insufficient authorization to perform request.\"}";
        let base =
            serve(vec![format!("HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()], Duration::ZERO);
        match get(&base, "/x", "Bearer t", Duration::from_millis(20), Duration::from_secs(2)) {
            Err(e @ StreamError::Status { status: 401, .. }) => {
                let o = e.into_oanda("pricing stream", "1-2");
                assert!(matches!(o, OandaError::Unauthorized { status: 401, .. }), "{o:?}");
                assert!(o.to_string().contains("Insufficient authorization"), "{o}");
            }
            other => panic!("expected a 401, got {:?}", other.map(|_| "a stream")),
        }
        let base = serve(vec![b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()], Duration::from_millis(300));
        let mut s = get(&base, "/x", "Bearer t", Duration::from_millis(20), Duration::from_secs(2)).expect("open");
        assert_eq!(s.next_line(), Next::Idle);
    }
}
