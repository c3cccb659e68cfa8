//! Property tests of the front's request parser (`head::sniff` and `framing::check`): arbitrary bytes,
//! and request heads assembled from hostile parts, never panic and always get an answer: a complete or
//! overlong head is proxied (framed within the body limit), upgraded, or refused with a 4xx JSON error
//! naming the problem. Only a head that is still incomplete and may grow waits for more bytes.

use super::config::FrontConfig;
use super::head::{sniff, Sniffed};
use super::MAX_HEAD;
use proptest::prelude::*;

fn cfg(token: bool) -> FrontConfig {
    FrontConfig { bearer_token: token.then(|| "s3cret".to_string()), max_body_bytes: 64 * 1024, ..FrontConfig::default() }
}

/// A refusal is a whole HTTP/1.1 4xx answer with a JSON `detail`.
fn assert_refusal(resp: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(resp);
    prop_assert!(text.starts_with("HTTP/1.1 4"), "not a 4xx answer: {text:?}");
    let (_, body) = text.split_once("\r\n\r\n").ok_or_else(|| TestCaseError::fail(format!("no head end: {text:?}")))?;
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| TestCaseError::fail(format!("body not JSON ({e}): {body:?}")))?;
    prop_assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "no detail: {body}");
    Ok(())
}

fn assert_answered(s: &Sniffed, buf: &[u8], max_body: usize) -> Result<(), TestCaseError> {
    match s {
        Sniffed::Partial => prop_assert!(false, "a full head buffer must be answered"),
        Sniffed::Reject(resp) => assert_refusal(resp)?,
        Sniffed::Proxy(info) => {
            prop_assert!(info.body_len <= max_body, "body of {} bytes over the limit", info.body_len);
            prop_assert!(info.head_len <= buf.len());
            let forwarded = info.forwarded(buf);
            prop_assert!(forwarded.len() <= info.total() + MAX_HEAD);
        }
        Sniffed::Upgrade { response, head_len } => {
            prop_assert!(*head_len <= buf.len());
            prop_assert!(response.starts_with(b"HTTP/1.1 101"));
        }
    }
    Ok(())
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_string()),
        Just("POST".to_string()),
        Just("HEAD".to_string()),
        Just("DELETE".to_string()),
        "[A-Z]{1,8}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/health".to_string()),
        Just("/ws".to_string()),
        Just("/api/operations?limit=5".to_string()),
        "/[ -~]{0,40}",
        any::<String>().prop_map(|s| format!("/{}", s.chars().take(40).collect::<String>())),
    ]
}

fn header() -> impl Strategy<Value = (String, Vec<u8>)> {
    let name = prop_oneof![
        Just("Content-Length".to_string()),
        Just("Transfer-Encoding".to_string()),
        Just("Expect".to_string()),
        Just("Connection".to_string()),
        Just("Upgrade".to_string()),
        Just("Sec-WebSocket-Key".to_string()),
        Just("Sec-WebSocket-Version".to_string()),
        Just("Authorization".to_string()),
        Just("Origin".to_string()),
        "[A-Za-z-]{1,20}",
        "[ -~]{0,10}",
    ];
    let value = prop_oneof![
        Just(b"100000000000000".to_vec()),
        Just(b"18446744073709551615".to_vec()),
        Just(b"18446744073709551616".to_vec()),
        Just(b"5, 5".to_vec()),
        Just(b"5, 6".to_vec()),
        Just(b"-1".to_vec()),
        Just(b"100-continue".to_vec()),
        Just(b"chunked".to_vec()),
        Just(b"websocket".to_vec()),
        Just(b"Upgrade".to_vec()),
        Just(b"Bearer s3cret".to_vec()),
        Just(b"dGhlIHNhbXBsZSBub25jZQ==".to_vec()),
        Just(b"13".to_vec()),
        "[0-9]{0,25}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    (name, value)
}

fn request() -> impl Strategy<Value = Vec<u8>> {
    (method(), target(), prop_oneof![Just("HTTP/1.1"), Just("HTTP/1.0"), Just("HTTP/9.9")], proptest::collection::vec(header(), 0..12))
        .prop_map(|(m, t, v, hs)| {
            let mut out = format!("{m} {t} {v}\r\n").into_bytes();
            for (n, val) in hs {
                out.extend_from_slice(n.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(&val);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_a_full_buffer_is_answered(bytes in proptest::collection::vec(any::<u8>(), 0..2048), token in any::<bool>()) {
        let c = cfg(token);
        // A buffer that may still grow: any outcome but a panic.
        let _ = sniff(&bytes, false, &c);
        // One that cannot: always an answer.
        assert_answered(&sniff(&bytes, true, &c), &bytes, c.max_body_bytes)?;
    }

    #[test]
    fn hostile_request_heads_are_proxied_within_limits_or_refused(head in request(), body in proptest::collection::vec(any::<u8>(), 0..64), token in any::<bool>()) {
        let c = cfg(token);
        let mut buf = head.clone();
        buf.extend_from_slice(&body);
        let s = sniff(&buf, false, &c);
        // The head is complete (it ends in an empty line), so it is answered now, unless the
        // request line itself hides the end (a CR or LF inside a generated part).
        if !matches!(s, Sniffed::Partial) {
            assert_answered(&s, &buf, c.max_body_bytes)?;
        }
        assert_answered(&sniff(&buf, true, &c), &buf, c.max_body_bytes)?;
    }
}
