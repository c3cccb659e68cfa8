//! Request framing checks of the front, done on every request head before a byte of it reaches
//! tiny_http (which trusts `Content-Length`: tiny_http 0.12 allocates the declared length up front,
//! so `Content-Length: 100000000000000` aborts the process, and it silently drops connections
//! whose headers are not ASCII):
//! - header names and values must be printable ASCII (tab allowed): anything else is 400;
//! - `Content-Length` must be digits only; repeated values (several headers or a comma list) must
//!   agree; a value above `max_body_bytes` (or beyond `u64`) is 413, anything else malformed 400;
//! - `Transfer-Encoding` (chunked request bodies) is refused with 411: every client we serve can
//!   send a `Content-Length`, and one framing rule leaves no room for request smuggling;
//! - `Expect: 100-continue` is answered by the front itself (it reads the body before proxying) and
//!   removed from the head forwarded to tiny_http; any other expectation is 417.

use super::head::json_error;

/// How one request is framed and what the connection does after its response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReqInfo {
    /// Bytes of the request head.
    pub(crate) head_len: usize,
    /// Bytes of the body (from `Content-Length`, at most `max_body_bytes`).
    pub(crate) body_len: usize,
    /// The connection stays open for another request after the answer.
    pub(crate) keep_alive: bool,
    /// A HEAD request: its answer has no body whatever its `Content-Length` says.
    pub(crate) head_method: bool,
    /// The client waits for `100 Continue` before sending the body.
    pub(crate) expect_continue: bool,
    /// The head to forward when it differs from the one received (`Expect` removed).
    pub(crate) forward_head: Option<Vec<u8>>,
}

impl ReqInfo {
    /// Bytes of the whole request.
    pub(crate) fn total(&self) -> usize {
        self.head_len + self.body_len
    }

    /// The request as sent to the backend, from the complete request in `buf`.
    pub(crate) fn forwarded(&self, buf: &[u8]) -> Vec<u8> {
        let total = self.total().min(buf.len());
        match &self.forward_head {
            Some(head) => {
                let mut out = Vec::with_capacity(head.len() + self.body_len);
                out.extend_from_slice(head);
                out.extend_from_slice(buf.get(self.head_len..total).unwrap_or_default());
                out
            }
            None => buf[..total].to_vec(),
        }
    }
}

/// Checks a parsed request head (`head_len` bytes of `buf`); Err is the response to refuse it with.
pub(super) fn check(req: &httparse::Request, buf: &[u8], head_len: usize, max_body: usize) -> Result<ReqInfo, Vec<u8>> {
    let bad = |status: u16, detail: String| Err(json_error(status, &detail, ""));
    if !req.path.unwrap_or("").bytes().all(|b| b.is_ascii_graphic()) {
        return bad(400, "invalid byte in the request target".into());
    }
    let mut length: Option<u64> = None;
    let mut expect_continue = false;
    let mut connection = String::new();
    for h in req.headers.iter() {
        if !h.value.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b)) {
            return bad(400, format!("invalid byte in the value of header '{}' (printable ASCII only)", h.name.escape_debug()));
        }
        // Printable ASCII, checked just above.
        let value = std::str::from_utf8(h.value).unwrap_or_default().trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            for part in value.split(',').map(str::trim) {
                let n = parse_length(part, max_body)?;
                if length.is_some_and(|l| l != n) {
                    return bad(400, "conflicting Content-Length values".into());
                }
                length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return bad(411, "chunked or encoded request bodies are not supported: send the body with a Content-Length".into());
        } else if h.name.eq_ignore_ascii_case("expect") {
            if !value.eq_ignore_ascii_case("100-continue") {
                return bad(417, format!("unsupported expectation {value:?} (only 100-continue)"));
            }
            expect_continue = true;
        } else if h.name.eq_ignore_ascii_case("connection") {
            connection.push_str(&value.to_ascii_lowercase());
            connection.push(',');
        }
    }
    // Decided as tiny_http decides, so that a connection we keep is one it keeps too.
    let keep_alive = if connection.contains("close") || connection.contains("upgrade") {
        false
    } else {
        req.version == Some(1) || connection.contains("keep-alive")
    };
    let body_len = usize::try_from(length.unwrap_or(0)).unwrap_or(usize::MAX);
    let forward_head = expect_continue.then(|| without_expect(req, buf, head_len));
    Ok(ReqInfo { head_len, body_len, keep_alive, head_method: req.method == Some("HEAD"), expect_continue, forward_head })
}

/// One `Content-Length` value: digits only, at most `max_body`.
fn parse_length(v: &str, max_body: usize) -> Result<u64, Vec<u8>> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(json_error(400, &format!("invalid Content-Length {v:?}"), ""));
    }
    // Digits only: the parse fails only beyond u64, which is over any limit.
    match v.parse::<u64>() {
        Ok(n) if n <= max_body as u64 => Ok(n),
        _ => Err(json_error(413, &format!("request body too large: Content-Length {v} is over the limit of {max_body} bytes"), "")),
    }
}

/// The head rebuilt without its `Expect` header (the front answers `100 Continue` itself).
fn without_expect(req: &httparse::Request, buf: &[u8], head_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(head_len);
    // The request line as received: everything up to its line end.
    let line_end = buf.windows(2).position(|w| w == b"\r\n").map_or(0, |i| i + 2);
    out.extend_from_slice(&buf[..line_end.min(head_len)]);
    for h in req.headers.iter().filter(|h| !h.name.eq_ignore_ascii_case("expect")) {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(head: &str) -> Result<ReqInfo, String> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(n)) = req.parse(head.as_bytes()) else { panic!("bad test head {head:?}") };
        check(&req, head.as_bytes(), n, 1000).map_err(|r| String::from_utf8_lossy(&r[9..12]).into_owned())
    }

    fn with(headers: &str) -> Result<ReqInfo, String> {
        run(&format!("POST /x HTTP/1.1\r\nHost: a\r\n{headers}\r\n"))
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(with("Content-Length: 12\r\n").map(|i| i.body_len), Ok(12));
        assert_eq!(with("Content-Length: 1000\r\nContent-Length: 1000\r\n").map(|i| i.body_len), Ok(1000));
        assert_eq!(with("Content-Length: 5, 5\r\n").map(|i| i.body_len), Ok(5));
        assert_eq!(with("").map(|i| i.body_len), Ok(0));
        for (v, status) in [
            ("1001", "413"),
            ("100000000000000", "413"),
            ("18446744073709551615", "413"),
            ("99999999999999999999999", "413"),
            ("-1", "400"),
            ("+5", "400"),
            ("", "400"),
            ("1 2", "400"),
            ("0x10", "400"),
        ] {
            assert_eq!(with(&format!("Content-Length: {v}\r\n")).err().as_deref(), Some(status), "{v:?}");
        }
        assert_eq!(with("Content-Length: 5\r\nContent-Length: 6\r\n").err().as_deref(), Some("400"));
        assert_eq!(with("Content-Length: 5, 6\r\n").err().as_deref(), Some("400"));
        assert_eq!(with("Transfer-Encoding: chunked\r\n").err().as_deref(), Some("411"));
    }

    #[test]
    fn header_bytes_must_be_printable_ascii() {
        let head = b"GET /x HTTP/1.1\r\nX-A: caf\xc3\xa9\r\n\r\n";
        let mut headers = [httparse::EMPTY_HEADER; 4];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(n)) = req.parse(head) else { panic!() };
        let refused = check(&req, head, n, 10).unwrap_err();
        assert!(refused.starts_with(b"HTTP/1.1 400 "));
        assert!(with("X-A: a\tb\r\n").is_ok());
    }

    #[test]
    fn keep_alive_and_expect() {
        assert!(with("").unwrap().keep_alive);
        assert!(!with("Connection: close\r\n").unwrap().keep_alive);
        assert!(!run("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        assert!(run("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap().keep_alive);
        assert!(run("HEAD / HTTP/1.1\r\n\r\n").unwrap().head_method);
        let head = "POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        let info = run(head).unwrap();
        assert!(info.expect_continue);
        let mut buf = head.as_bytes().to_vec();
        buf.extend_from_slice(b"ok");
        let fwd = String::from_utf8(info.forwarded(&buf)).unwrap();
        assert_eq!(fwd, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(with("Expect: something\r\n").err().as_deref(), Some("417"));
    }
}
