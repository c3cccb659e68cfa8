//! End-to-end tests of issue 11, "no request can take the server down", against a real `pinion
//! serve`: absurd, negative and conflicting `Content-Length`s (with and without a token), chunked
//! bodies and non-ASCII header bytes are refused by the front with `{"detail": ...}` and the server
//! stays up; four clients trickling a body at 1 byte/s get 408 and never slow the API down; an idle
//! keep-alive connection is closed after `PINION_IDLE_TIMEOUT_SECS`; a panicking handler
//! (`PINION_FAULT_PANIC_ROUTE=1`) is answered 500 more times than there are REST workers and the
//! server still serves; WebSocket protocol errors close with their RFC 6455 code (1007, 1002, 1009).

mod common;

use common::{Resp, Server};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// Real-time replay: the feed costs little CPU, which keeps the timing checks honest.
const SPEED: f64 = 1.0;
const TOKEN: &str = "s3cret";

/// One server at a time: the latency checks must not compete with another test's server.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends `request` as is and reads the answer until the server closes (or 15 s pass).
fn raw(addr: &str, request: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if !out.is_empty() && e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the answer to {:?}: {e}", String::from_utf8_lossy(request)),
        }
    }
    parse(&out).unwrap_or_else(|| panic!("malformed answer {:?}", String::from_utf8_lossy(&out)))
}

/// Status, headers and (Content-Length framed) body of one raw answer.
fn parse(raw: &[u8]) -> Option<Resp> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let len = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.parse().ok());
    let body = &raw[end..];
    let body = &body[..len.unwrap_or(body.len()).min(body.len())];
    Some(Resp { status, headers, text: String::from_utf8_lossy(body).into_owned() })
}

fn expect(r: &Resp, status: u16, needle: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {r:?}");
    let d = r.detail();
    assert!(d.to_lowercase().contains(needle), "{what}: detail {d:?} does not say {needle:?}");
}

fn alive(s: &Server, token: Option<&str>) {
    let h = s.get("/health");
    assert_eq!(h.status, 200, "health after hostile requests: {h:?} ({})", s.stderr_tail());
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let r = s.request_with("GET", "/api/operations", &headers, b"");
    assert_eq!(r.status, 200, "an API call after hostile requests: {r:?}");
}

fn hostile_lengths(s: &Server, token: Option<&str>) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let post = |headers: &str, body: &str| {
        let req = format!("POST /api/operations HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n{headers}\r\n{body}");
        raw(&s.addr, req.as_bytes())
    };
    for huge in ["100000000000000", "18446744073709551615", "99999999999999999999999"] {
        expect(&post(&format!("Content-Length: {huge}\r\n"), "{}"), 413, "too large", huge);
    }
    expect(&post("Content-Length: 70000\r\n", ""), 413, "too large", "just over the limit");
    expect(&post("Content-Length: -1\r\n", ""), 400, "content-length", "negative");
    expect(&post("Content-Length: abc\r\n", ""), 400, "content-length", "not a number");
    expect(&post("Content-Length: 2\r\nContent-Length: 3\r\n", "{}"), 400, "conflicting", "two different values");
    expect(&post("Transfer-Encoding: chunked\r\n", "2\r\n{}\r\n0\r\n\r\n"), 411, "content-length", "chunked body");
    // Header bytes tiny_http would drop the connection for: non-UTF-8, non-ASCII, control.
    for (what, bad) in [("latin-1", &b"caf\xe9"[..]), ("utf-8", "café".as_bytes()), ("control", b"a\x01b")] {
        let mut req = format!("GET /health HTTP/1.1\r\nHost: x\r\n{auth}X-Note: ").into_bytes();
        req.extend_from_slice(bad);
        req.extend_from_slice(b"\r\n\r\n");
        let r = raw(&s.addr, &req);
        assert_eq!(r.status, 400, "{what} header byte: {r:?}");
        assert!(!r.detail().is_empty());
    }
    // The same hostile length on the second request of a keep-alive connection.
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let first = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let second = format!("POST /api/operations HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 18446744073709551615\r\n\r\n");
    c.write_all(format!("{first}{second}").as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "pipelined: {text}");
    assert!(text.contains("HTTP/1.1 413"), "pipelined: {text}");
}

#[test]
fn hostile_content_lengths_are_refused_and_the_server_stays_up() {
    let _g = serial();
    let open = Server::start(SPEED);
    hostile_lengths(&open, None);
    alive(&open, None);
    // Without the fault variable there is no panic route.
    assert_eq!(open.get("/debug/panic").status, 404);
    drop(open);
    let guarded = Server::start_with_env(SPEED, &[("PINION_TOKEN", TOKEN)]);
    hostile_lengths(&guarded, Some(TOKEN));
    // Refused before the token check too: nothing reaches tiny_http.
    hostile_lengths(&guarded, None);
    alive(&guarded, Some(TOKEN));
}

#[test]
fn slow_bodies_get_408_and_never_starve_the_api() {
    let _g = serial();
    let s = Server::start(SPEED);
    let started = Instant::now();
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let addr = s.addr.clone();
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(&addr).unwrap();
                c.set_read_timeout(Some(Duration::from_millis(1000))).unwrap();
                let head = "POST /api/operations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n";
                c.write_all(head.as_bytes()).unwrap();
                let mut out = Vec::new();
                let mut chunk = [0u8; 1024];
                // One byte a second until the server answers (or 20 s pass).
                for _ in 0..20 {
                    if c.write_all(b" ").is_err() {
                        break;
                    }
                    match c.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => out.extend_from_slice(&chunk[..n]),
                        Err(_) => {}
                    }
                    if out.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                String::from_utf8_lossy(&out).into_owned()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // While they trickle, the API answers as usual.
    let mut worst = Duration::ZERO;
    while started.elapsed() < Duration::from_millis(1800) {
        for path in ["/health", "/api/operations", "/account"] {
            let t = Instant::now();
            let r = s.get(path);
            worst = worst.max(t.elapsed());
            assert!(r.status == 200 || r.status == 404, "{path} during slow uploads: {r:?}");
        }
    }
    // A starved API would wait for the slow clients' 10 s cut-off; the bound leaves room for a loaded
    // 2-core CI machine.
    assert!(worst < Duration::from_secs(3), "a request took {worst:?} while slow clients trickled");
    for t in slow {
        let answer = t.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "slow client answer: {answer:?}");
        assert!(answer.contains("not received in time"), "{answer}");
    }
    assert!(started.elapsed() < Duration::from_secs(12), "slow clients cut off only after {:?}", started.elapsed());
    alive(&s, None);
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let _g = serial();
    let s = Server::start_with_env(SPEED, &[("PINION_IDLE_TIMEOUT_SECS", "3")]);
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let ask = |c: &mut TcpStream| {
        c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        while parse(&out).is_none_or(|r| r.text.is_empty()) {
            let n = c.read(&mut chunk).unwrap();
            assert!(n > 0, "closed during an exchange");
            out.extend_from_slice(&chunk[..n]);
        }
        parse(&out).map(|r| r.status)
    };
    assert_eq!(ask(&mut c), Some(200));
    std::thread::sleep(Duration::from_millis(500));
    // Within the idle time the connection still serves. The server's idle clock starts when it
    // answers, so ours starts before we ask.
    let idle = Instant::now();
    assert_eq!(ask(&mut c), Some(200));
    let mut chunk = [0u8; 16];
    let n = c.read(&mut chunk).expect("the server closes an idle connection");
    assert_eq!(n, 0, "unexpected bytes on an idle connection");
    let waited = idle.elapsed();
    assert!(waited >= Duration::from_millis(2900) && waited < Duration::from_secs(12), "closed after {waited:?}");
}

#[test]
fn a_panicking_handler_is_answered_500_and_the_workers_survive() {
    let _g = serial();
    let s = Server::start_with_env(SPEED, &[("PINION_FAULT_PANIC_ROUTE", "1")]);
    // More panics than REST workers (4 by default).
    for i in 0..10 {
        let r = s.get("/debug/panic");
        assert_eq!(r.status, 500, "panic {i}: {r:?}");
        assert!(r.detail().starts_with("internal error: "), "{r:?}");
    }
    for _ in 0..10 {
        alive(&s, None);
    }
    assert!(s.stderr_has("panic while handling GET /debug/panic"), "{}", s.stderr_tail());
}

type Client = WebSocket<TcpStream>;

fn ws(addr: &str) -> Client {
    let req = format!("ws://{addr}/ws").into_client_request().unwrap();
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    match tungstenite::client(req, stream) {
        Ok((ws, _)) => ws,
        Err(e) => panic!("WebSocket handshake: {e}"),
    }
}

/// A masked client frame written straight to the socket (`first` = FIN/RSV/opcode byte).
fn send_raw_frame(c: &mut Client, first: u8, payload: &[u8]) {
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    let mut f = vec![first];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    c.get_mut().write_all(&f).unwrap();
}

/// Reads frames until the server's Close frame; its code.
fn close_code(c: &mut Client) -> CloseCode {
    loop {
        match c.read() {
            Ok(Message::Close(Some(frame))) => return frame.code,
            Ok(Message::Close(None)) => panic!("Close frame without a code"),
            Ok(_) => {}
            Err(e) => panic!("no Close frame before the connection ended: {e}"),
        }
    }
}

#[test]
fn websocket_protocol_errors_close_with_their_code() {
    let _g = serial();
    let s = Server::start(SPEED);
    // A text frame whose payload is not UTF-8.
    let mut c = ws(&s.addr);
    send_raw_frame(&mut c, 0x81, b"{\"type\":\"subscribe\xff\xfe\"}");
    assert_eq!(close_code(&mut c), CloseCode::Invalid, "invalid UTF-8 must close with 1007");
    // Reserved bits set: a protocol error.
    let mut c = ws(&s.addr);
    send_raw_frame(&mut c, 0x81 | 0x40, b"{}");
    assert_eq!(close_code(&mut c), CloseCode::Protocol, "RSV1 must close with 1002");
    // A message over the 64 KiB limit.
    let mut c = ws(&s.addr);
    let big = "x".repeat(65_000);
    send_raw_frame(&mut c, 0x01, big.as_bytes());
    send_raw_frame(&mut c, 0x80, big.as_bytes());
    assert_eq!(close_code(&mut c), CloseCode::Size, "an oversized message must close with 1009");
    // The server still serves new clients.
    let mut c = ws(&s.addr);
    c.send(Message::text(r#"{"type":"subscribe","topics":["status"]}"#)).unwrap();
    assert_eq!(s.get("/health").status, 200);
}
