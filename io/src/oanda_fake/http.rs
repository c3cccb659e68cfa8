//! Just enough HTTP/1.1 for the fake: read one request (request line, headers, a Content-Length
//! body) from a buffered socket, write a response with Content-Length, or start a chunked stream
//! and write chunks. Malformed input is an error the server answers with an OANDA-style 400.

use std::io::{self, BufRead, Read, Write};

/// Longest request head (request line plus headers) accepted.
const MAX_HEAD: u64 = 64 * 1024;
/// Largest request body accepted.
const MAX_BODY: usize = 1024 * 1024;

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// `GET`, `POST`, `PUT`...
    pub method: String,
    /// Percent-decoded path without the query.
    pub path: String,
    /// Percent-decoded query pairs in order.
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body (empty when none).
    pub body: Vec<u8>,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
}

impl Request {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first query parameter named `key`.
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the connection between requests.
    Closed,
    /// The request is malformed; the text says how.
    Bad(String),
    /// The socket failed.
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Decodes `%XX` escapes and `+` (as a space, in queries) leniently: a bad escape stays as written.
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one request. `Closed` when the peer closed cleanly before sending anything. A client that
/// sent `Expect: 100-continue` is told to go on through `w` before its body is read.
pub(crate) fn read_request<R: BufRead, W: Write>(r: &mut R, w: &mut W) -> Result<Request, ReadError> {
    let mut head = r.by_ref().take(MAX_HEAD);
    let mut line = String::new();
    // Skip blank lines between requests (RFC 9112 allows one).
    loop {
        line.clear();
        if head.read_line(&mut line)? == 0 {
            return Err(ReadError::Closed);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ReadError::Bad(format!("malformed request line {:?}", line.trim_end())));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad(format!("unsupported protocol {version:?}")));
    }
    let (method, version) = (method.to_string(), version.to_string());
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(raw_path, false);
    let query = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if head.read_line(&mut line)? == 0 {
            return Err(ReadError::Bad("request head ended early or is too long".to_string()));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let Some((k, v)) = l.split_once(':') else {
            return Err(ReadError::Bad(format!("malformed header {l:?}")));
        };
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut req = Request { method, path, query, headers, body: Vec::new(), keep_alive: true };
    if req.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return Err(ReadError::Bad("chunked request bodies are not supported; send Content-Length".to_string()));
    }
    let len = match req.header("content-length") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| ReadError::Bad(format!("bad Content-Length {v:?}")))?,
    };
    if len > MAX_BODY {
        return Err(ReadError::Bad(format!("body of {len} bytes is over the {MAX_BODY} byte limit")));
    }
    if len > 0 && req.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        w.flush()?;
    }
    req.body = vec![0; len];
    r.read_exact(&mut req.body)?;
    let conn = req.header("connection").map(str::to_ascii_lowercase);
    req.keep_alive = match conn.as_deref() {
        Some(c) if c.contains("close") => false,
        Some(c) if c.contains("keep-alive") => true,
        _ => version != "HTTP/1.0",
    };
    Ok(req)
}

/// Reason phrase of a status code.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes a complete JSON response with Content-Length.
pub(crate) fn write_response<W: Write>(
    w: &mut W,
    status: u16,
    extra: &[(String, String)],
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", reason(status), body.len());
    head.push_str(if keep_alive { "Connection: keep-alive\r\n" } else { "Connection: close\r\n" });
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut buf = head.into_bytes();
    buf.extend_from_slice(body);
    w.write_all(&buf)?;
    w.flush()
}

/// Starts a 200 chunked stream (OANDA streams are `Transfer-Encoding: chunked`).
pub(crate) fn write_stream_head<W: Write>(w: &mut W, request_id: &str) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nRequestID: {request_id}\r\n\r\n"
    );
    w.write_all(head.as_bytes())?;
    w.flush()
}

/// Writes one chunk holding `line` and a newline (not flushed: the caller decides when).
pub(crate) fn write_chunk<W: Write>(w: &mut W, line: &[u8]) -> io::Result<()> {
    write!(w, "{:x}\r\n", line.len() + 1)?;
    w.write_all(line)?;
    w.write_all(b"\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    #[test]
    fn parses_requests_and_keep_alive() {
        let raw = b"GET /v3/accounts/1/pricing/stream?instruments=EUR_USD%2CAUD_USD&x HTTP/1.1\r\nAuthorization: Bearer t\r\n\r\n\
                    POST /o HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n{}";
        let mut r = BufReader::new(&raw[..]);
        let mut sink = Vec::new();
        let a = read_request(&mut r, &mut sink).unwrap();
        assert_eq!((a.method.as_str(), a.path.as_str()), ("GET", "/v3/accounts/1/pricing/stream"));
        assert_eq!(a.query("instruments"), Some("EUR_USD,AUD_USD"));
        assert_eq!(a.query("x"), Some(""));
        assert_eq!(a.header("authorization"), Some("Bearer t"));
        assert!(a.keep_alive);
        assert!(sink.is_empty());
        let b = read_request(&mut r, &mut sink).unwrap();
        assert_eq!((b.body.as_slice(), b.keep_alive), (&b"{}"[..], false));
        assert_eq!(sink, b"HTTP/1.1 100 Continue\r\n\r\n");
        assert!(matches!(read_request(&mut r, &mut sink), Err(ReadError::Closed)));
        let bad = b"GARBAGE\r\n\r\n";
        assert!(matches!(read_request(&mut BufReader::new(&bad[..]), &mut sink), Err(ReadError::Bad(_))));
        assert_eq!(percent_decode("a%2Cb%zz+c%", true), "a,b%zz c%");
    }
}
