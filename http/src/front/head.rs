//! Request-head sniffing for the front: decides from each HTTP request head whether it is a
//! WebSocket upgrade on `/ws` (checking the browser `Origin`, the bearer token and the RFC 6455
//! headers) or a request for the REST backend, whose framing it checks first (see
//! [`super::framing`]), and builds the small responses the front answers itself.

use tungstenite::handshake::derive_accept_key;

use super::framing::{self, ReqInfo};
use super::FrontConfig;
use crate::api::{bearer_matches, constant_time_eq};
use crate::browser::origin_allowed;

/// Most headers accepted in a request head.
const MAX_HEADERS: usize = 64;

/// What to do with a connection after looking at its first bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Sniffed {
    /// The head is not complete yet.
    Partial,
    /// A request for the REST backend, framed as `info` says.
    Proxy(ReqInfo),
    /// A valid, authorized upgrade: `response` is the 101 answer, `head_len` the bytes consumed.
    Upgrade { response: Vec<u8>, head_len: usize },
    /// Answer this (an error response) and close.
    Reject(Vec<u8>),
}

/// Looks at the bytes read so far; `full` means the head buffer cannot grow any more.
pub(super) fn sniff(buf: &[u8], full: bool, cfg: &FrontConfig) -> Sniffed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if full => return Sniffed::Reject(json_error(431, "request head too large", "")),
        Ok(httparse::Status::Partial) => return Sniffed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Sniffed::Reject(json_error(431, "too many request headers", "")),
        Err(e) => return Sniffed::Reject(json_error(400, &format!("malformed request: {e}"), "")),
    };
    let info = match framing::check(&req, buf, head_len, cfg.max_body_bytes) {
        Ok(info) => info,
        Err(response) => return Sniffed::Reject(response),
    };
    let (path, query) = match req.path.unwrap_or("").split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (req.path.unwrap_or(""), None),
    };
    let header = |name: &str| {
        req.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).and_then(|h| std::str::from_utf8(h.value).ok()).map(str::trim)
    };
    let upgrade = header("upgrade").is_some_and(|v| has_token(v, "websocket"));
    if req.method != Some("GET") || path != "/ws" || !upgrade {
        return Sniffed::Proxy(info);
    }
    // A page from a foreign origin must not open a socket with the user's credentials.
    let host = header("host");
    if let Some(origin) = header("origin").filter(|o| !origin_allowed(&cfg.allowed_origins, o) && !crate::browser::same_origin(o, host)) {
        let detail = crate::browser::refusal(origin).detail;
        return Sniffed::Reject(json_error(403, &detail, ""));
    }
    if let Some(expected) = cfg.bearer_token.as_deref() {
        if !authorized(header("authorization"), query, expected) {
            return Sniffed::Reject(json_error(401, "missing or invalid bearer token", "WWW-Authenticate: Bearer\r\n"));
        }
    }
    if header("sec-websocket-version") != Some("13") {
        return Sniffed::Reject(json_error(426, "unsupported WebSocket version (13 required)", "Sec-WebSocket-Version: 13\r\n"));
    }
    if !header("connection").is_some_and(|v| has_token(v, "upgrade")) {
        return Sniffed::Reject(json_error(400, "missing 'Connection: Upgrade'", ""));
    }
    let Some(key) = header("sec-websocket-key").filter(|k| k.len() == 24) else {
        return Sniffed::Reject(json_error(400, "missing or invalid Sec-WebSocket-Key", ""));
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    Sniffed::Upgrade { response: response.into_bytes(), head_len }
}

/// True when a comma-separated header value lists `token` (case-insensitive).
fn has_token(value: &str, token: &str) -> bool {
    value.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The token from `Authorization: Bearer <t>` (any case of the scheme) or from `?token=<t>`.
fn authorized(authorization: Option<&str>, query: Option<&str>, expected: &str) -> bool {
    if bearer_matches(authorization, expected) {
        return true;
    }
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "token")
        .any(|(_, v)| percent_decode(v).is_some_and(|t| constant_time_eq(&t, expected.as_bytes())))
}

/// Decodes `%XX` and `+` in a query value; None on a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// A complete `Connection: close` response with a `{"detail": ...}` JSON body.
pub(super) fn json_error(status: u16, detail: &str, extra_headers: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let body = serde_json::json!({ "detail": detail }).to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn upgrade_head(target: &str, extra: &str) -> String {
        format!(
            "GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
        )
    }

    fn cfg(token: Option<&str>) -> FrontConfig {
        FrontConfig { bearer_token: token.map(String::from), ..FrontConfig::default() }
    }

    fn status_of(s: &Sniffed) -> &str {
        match s {
            Sniffed::Reject(r) => std::str::from_utf8(&r[9..12]).unwrap(),
            _ => "none",
        }
    }

    #[test]
    fn routes_plain_requests_to_the_backend() {
        assert!(matches!(sniff(b"GET /health HTTP/1.1\r\n\r\n", false, &cfg(None)), Sniffed::Proxy(_)));
        assert!(matches!(sniff(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", false, &cfg(Some("t"))), Sniffed::Proxy(_)));
        assert_eq!(sniff(b"GET /health HTTP/1.1\r\nHo", false, &cfg(None)), Sniffed::Partial);
        assert_eq!(status_of(&sniff(b"GET /health HTTP/1.1\r\nHo", true, &cfg(None))), "431");
        assert_eq!(status_of(&sniff(b"\x16\x03\x01 garbage\r\n\r\n", false, &cfg(None))), "400");
    }

    #[test]
    fn upgrade_answers_rfc_accept_key() {
        let head = upgrade_head("/ws?x=1", "");
        match sniff(head.as_bytes(), false, &cfg(None)) {
            Sniffed::Upgrade { response, head_len } => {
                assert_eq!(head_len, head.len());
                let text = String::from_utf8(response).unwrap();
                assert!(text.starts_with("HTTP/1.1 101 "));
                // The sample from RFC 6455 section 1.3.
                assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bearer_token_from_header_or_query() {
        let no = sniff(upgrade_head("/ws", "").as_bytes(), false, &cfg(Some("s3cr t")));
        assert_eq!(status_of(&no), "401");
        let Sniffed::Reject(body) = no else { unreachable!() };
        assert!(String::from_utf8(body).unwrap().ends_with(r#"{"detail":"missing or invalid bearer token"}"#));
        let hdr = upgrade_head("/ws", "Authorization: bearer s3cr t\r\n");
        assert!(matches!(sniff(hdr.as_bytes(), false, &cfg(Some("s3cr t"))), Sniffed::Upgrade { .. }));
        let q = upgrade_head("/ws?a=b&token=s3cr%20t", "");
        assert!(matches!(sniff(q.as_bytes(), false, &cfg(Some("s3cr t"))), Sniffed::Upgrade { .. }));
        let wrong = upgrade_head("/ws?token=s3cr", "Authorization: Bearer nope\r\n");
        assert_eq!(status_of(&sniff(wrong.as_bytes(), false, &cfg(Some("s3cr t")))), "401");
    }

    #[test]
    fn foreign_origins_cannot_upgrade() {
        let allowed = FrontConfig { allowed_origins: vec!["https://app.example".into()], ..cfg(Some("t")) };
        let foreign = upgrade_head("/ws?token=t", "Origin: https://evil.example\r\n");
        let refused = sniff(foreign.as_bytes(), false, &allowed);
        assert_eq!(status_of(&refused), "403");
        let Sniffed::Reject(body) = refused else { unreachable!() };
        assert!(String::from_utf8(body).unwrap().contains("not allowed"));
        let ours = upgrade_head("/ws?token=t", "Origin: https://app.example\r\n");
        assert!(matches!(sniff(ours.as_bytes(), false, &allowed), Sniffed::Upgrade { .. }));
        // No origin (not a browser) is not gated; a foreign one is refused even before the token.
        assert!(matches!(sniff(upgrade_head("/ws?token=t", "").as_bytes(), false, &allowed), Sniffed::Upgrade { .. }));
        assert_eq!(status_of(&sniff(upgrade_head("/ws", "Origin: null\r\n").as_bytes(), false, &allowed)), "403");
    }

    #[test]
    fn rejects_bad_upgrades() {
        let v8 = upgrade_head("/ws", "").replace("Version: 13", "Version: 8");
        assert_eq!(status_of(&sniff(v8.as_bytes(), false, &cfg(None))), "426");
        let nokey = upgrade_head("/ws", "").replace(KEY, "short");
        assert_eq!(status_of(&sniff(nokey.as_bytes(), false, &cfg(None))), "400");
        let noconn = upgrade_head("/ws", "").replace("keep-alive, Upgrade", "keep-alive");
        assert_eq!(status_of(&sniff(noconn.as_bytes(), false, &cfg(None))), "400");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb+c").as_deref(), Some(&b"a/b c"[..]));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("bad%+1"), None);
    }
}
