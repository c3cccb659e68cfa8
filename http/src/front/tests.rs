//! Socket-level tests of the front: REST proxying to a real tiny_http backend, WebSocket snapshot,
//! broadcast, subscriptions, bearer token, slow-client isolation and many clients.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use super::*;

/// A tiny_http backend answering `{"method","url","len","sum"}` for every request.
fn backend() -> SocketAddr {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = server.server_addr().to_ip().unwrap();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = Vec::new();
            let _ = req.as_reader().read_to_end(&mut body);
            let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
            let answer = serde_json::json!({
                "method": req.method().to_string(), "url": req.url(), "len": body.len(), "sum": sum,
            });
            let _ = req.respond(tiny_http::Response::from_string(answer.to_string()));
        }
    });
    addr
}

fn start(cfg: FrontConfig, snapshot: Vec<Frame>) -> FrontHandle {
    start_with(backend(), cfg, snapshot)
}

fn start_with(rest: SocketAddr, cfg: FrontConfig, snapshot: Vec<Frame>) -> FrontHandle {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    start_front(listener, rest, cfg, Arc::new(move || snapshot.clone())).unwrap()
}

/// Sends raw bytes, half-closes when asked, and reads until the server closes.
fn raw(addr: SocketAddr, request: &[u8], half_close: bool) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    if half_close {
        s.shutdown(Shutdown::Write).unwrap();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn body_json(response: &str) -> Value {
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or(Value::Null)
}

type Client = WebSocket<TcpStream>;

fn ws_connect(addr: SocketAddr, query: &str, auth: Option<&str>) -> Result<Client, tungstenite::Error> {
    let mut req = format!("ws://{addr}/ws{query}").into_client_request()?;
    if let Some(value) = auth {
        req.headers_mut().insert("Authorization", value.parse().unwrap());
    }
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    tungstenite::client(req, stream).map(|(ws, _)| ws).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => panic!("blocking handshake interrupted"),
    })
}

fn next_text(ws: &mut Client) -> String {
    loop {
        match ws.read().unwrap() {
            Message::Text(t) => return t.as_str().to_string(),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn frame(topic: Topic, seq: usize) -> Frame {
    Frame::json(topic, &serde_json::json!({ "seq": seq })).unwrap()
}

#[test]
fn plain_get_is_proxied() {
    let front = start(FrontConfig::default(), vec![]);
    let resp = raw(front.local_addr, b"GET /health?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let v = body_json(&resp);
    assert_eq!((v["method"].as_str(), v["url"].as_str()), (Some("GET"), Some("/health?x=1")));
    // A plain GET on /ws (no upgrade) is REST traffic too.
    let resp = raw(front.local_addr, b"GET /ws HTTP/1.0\r\n\r\n", true);
    assert_eq!(body_json(&resp)["url"], "/ws", "{resp}");
    assert_eq!(front.stats().proxied_connections, 2);
    front.stop();
}

#[test]
fn post_body_larger_than_buffers_passes_through() {
    let front = start(FrontConfig { max_body_bytes: 300_000, ..FrontConfig::default() }, vec![]);
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut req =
        format!("POST /session/config HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    req.extend_from_slice(&body);
    let resp = raw(front.local_addr, &req, true);
    let v = body_json(&resp);
    assert_eq!(v["method"], "POST", "{resp}");
    assert_eq!(v["len"], body.len());
    assert_eq!(v["sum"], body.iter().map(|&b| u64::from(b)).sum::<u64>());
}

#[test]
fn keep_alive_requests_share_the_proxied_connection() {
    let front = start(FrontConfig::default(), vec![]);
    let mut s = TcpStream::connect(front.local_addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for path in ["/a", "/b"] {
        write!(s, "GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        let resp = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert_eq!(body_json(&resp)["url"], path, "{resp}");
    }
    assert_eq!(front.stats().proxied_connections, 1);
}

#[test]
fn unreachable_backend_answers_502() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let front = start_with(dead, FrontConfig::default(), vec![]);
    let resp = raw(front.local_addr, b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n", false);
    assert!(resp.starts_with("HTTP/1.1 502"), "{resp}");
    assert_eq!(body_json(&resp)["detail"], "REST backend unavailable");
}

#[test]
fn slow_request_head_is_cut_off() {
    let cfg = FrontConfig { request_timeout: Duration::from_millis(200), ..FrontConfig::default() };
    let front = start(cfg, vec![]);
    let started = Instant::now();
    let resp = raw(front.local_addr, b"GET /health HTTP/1.1\r\nHost:", false);
    assert!(resp.starts_with("HTTP/1.1 408 "), "{resp}");
    assert!(body_json(&resp)["detail"].as_str().is_some_and(|d| d.contains("not received in time")), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A connection that sends nothing is closed without an answer.
    assert_eq!(raw(front.local_addr, b"", false), "");
    // Oversized heads are refused.
    let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
    big.resize(MAX_HEAD + 10, b'a');
    let resp = raw(front.local_addr, &big, false);
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
}

#[test]
fn ws_snapshot_then_broadcast_then_close() {
    let snapshot = vec![frame(Topic::Status, 0), frame(Topic::Account, 1)];
    let front = start(FrontConfig::default(), snapshot);
    let mut ws = ws_connect(front.local_addr, "", None).unwrap();
    assert_eq!(next_text(&mut ws), r#"{"type":"status","data":{"seq":0}}"#);
    assert_eq!(next_text(&mut ws), r#"{"type":"account","data":{"seq":1}}"#);
    assert_eq!(front.stats().ws_clients, 1);
    for (i, t) in Topic::ALL.into_iter().enumerate() {
        assert!(front.broadcaster.send(frame(t, i)));
    }
    for (i, t) in Topic::ALL.into_iter().enumerate() {
        let v: Value = serde_json::from_str(&next_text(&mut ws)).unwrap();
        assert_eq!((v["type"].as_str(), v["data"]["seq"].as_u64()), (Some(t.name()), Some(i as u64)));
    }
    ws.send(Message::Ping(b"hi".to_vec().into())).unwrap();
    loop {
        if let Message::Pong(p) = ws.read().unwrap() {
            assert_eq!(&p[..], b"hi");
            break;
        }
    }
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    wait_until("client gone", || front.stats().ws_clients == 0);
    assert_eq!(front.stats().frames_sent, 8);
}

#[test]
fn subscribe_narrows_topics() {
    let front = start(FrontConfig::default(), vec![]);
    let mut ws = ws_connect(front.local_addr, "?v=1", None).unwrap();
    ws.send(Message::text(r#"{"type":"subscribe","topics":["metric","order"]}"#)).unwrap();
    assert_eq!(next_text(&mut ws), r#"{"type":"subscribed","data":{"topics":["order","metric"]}}"#);
    ws.send(Message::text(r#"{"type":"subscribe","topics":["metric","bogus"]}"#)).unwrap();
    assert_eq!(next_text(&mut ws), r#"{"type":"error","data":{"detail":"unknown topic 'bogus'"}}"#);
    ws.send(Message::text("not json")).unwrap();
    assert!(next_text(&mut ws).starts_with(r#"{"type":"error","data":{"detail":"invalid command"#));
    for (i, t) in [Topic::Status, Topic::Metric, Topic::Log, Topic::Order].into_iter().enumerate() {
        front.broadcaster.send(frame(t, i));
    }
    assert_eq!(next_text(&mut ws), r#"{"type":"metric","data":{"seq":1}}"#);
    assert_eq!(next_text(&mut ws), r#"{"type":"order","data":{"seq":3}}"#);
    ws.send(Message::text(r#"{"type":"unsubscribe","topics":["metric"]}"#)).unwrap();
    assert_eq!(next_text(&mut ws), r#"{"type":"subscribed","data":{"topics":["order"]}}"#);
    front.broadcaster.send(frame(Topic::Metric, 4));
    front.broadcaster.send(frame(Topic::Order, 5));
    assert_eq!(next_text(&mut ws), r#"{"type":"order","data":{"seq":5}}"#);
}

#[test]
fn bearer_token_guards_the_upgrade() {
    let cfg = FrontConfig { bearer_token: Some("s3cret".into()), ..FrontConfig::default() };
    let front = start(cfg, vec![frame(Topic::Status, 7)]);
    match ws_connect(front.local_addr, "", None) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    match ws_connect(front.local_addr, "?token=wrong", Some("Bearer nope")) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    let upgrade = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let resp = raw(front.local_addr, upgrade.as_bytes(), false);
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    assert!(body_json(&resp)["detail"].is_string(), "{resp}");
    let mut ws = ws_connect(front.local_addr, "", Some("Bearer s3cret")).unwrap();
    assert_eq!(next_text(&mut ws), r#"{"type":"status","data":{"seq":7}}"#);
    let mut ws = ws_connect(front.local_addr, "?token=s3cret", None).unwrap();
    assert_eq!(next_text(&mut ws), r#"{"type":"status","data":{"seq":7}}"#);
    // REST traffic is not the front's business: it passes without a token.
    let resp = raw(front.local_addr, b"GET /health HTTP/1.0\r\n\r\n", false);
    assert!(resp.starts_with("HTTP/1.0 200"), "{resp}");
}

#[test]
fn max_clients_refuses_with_503() {
    let cfg = FrontConfig { max_clients: 1, ..FrontConfig::default() };
    let front = start(cfg, vec![]);
    let _first = ws_connect(front.local_addr, "", None).unwrap();
    match ws_connect(front.local_addr, "", None) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn slow_client_is_dropped_while_fast_client_gets_everything() {
    const N: usize = 20_000;
    let front = start(FrontConfig::default(), vec![]);
    let _slow = ws_connect(front.local_addr, "", None).unwrap(); // never reads
    let mut fast = ws_connect(front.local_addr, "", None).unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let reader = {
        let received = received.clone();
        std::thread::spawn(move || {
            for i in 0..N {
                let v: Value = serde_json::from_str(&next_text(&mut fast)).unwrap();
                assert_eq!(v["data"]["seq"].as_u64(), Some(i as u64), "out of order");
                received.store(i + 1, Ordering::Release);
            }
            fast
        })
    };
    let pad = "x".repeat(1000);
    for i in 0..N {
        // A producer at a rate the fast client sustains: at most 512 frames in flight.
        while i - received.load(Ordering::Acquire) > 512 {
            std::thread::sleep(Duration::from_micros(50));
        }
        let f = Frame::json(Topic::Metric, &serde_json::json!({ "seq": i, "pad": pad })).unwrap();
        assert!(front.broadcaster.send(f));
    }
    let _fast = reader.join().unwrap();
    wait_until("slow client dropped", || front.stats().ws_dropped_slow == 1);
    let stats = front.stats();
    assert_eq!((stats.ws_clients, stats.broadcast_dropped), (1, 0));
}

#[test]
fn two_hundred_clients_all_receive_a_broadcast() {
    let front = start(FrontConfig::default(), vec![frame(Topic::Status, 0)]);
    let mut clients: Vec<Client> = (0..200).map(|_| ws_connect(front.local_addr, "", None).unwrap()).collect();
    assert_eq!(front.stats().ws_clients, 200);
    front.broadcaster.send(frame(Topic::Positions, 1));
    for ws in &mut clients {
        assert_eq!(next_text(ws), r#"{"type":"status","data":{"seq":0}}"#);
        assert_eq!(next_text(ws), r#"{"type":"positions","data":{"seq":1}}"#);
    }
    assert_eq!(front.stats().frames_sent, 400);
    front.stop();
    for ws in &mut clients {
        match ws.read() {
            Ok(Message::Close(Some(c))) => assert_eq!(c.reason.as_str(), "server shutting down"),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Many keep-alive clients arriving at once, each sending one request and staying connected:
/// every one is answered promptly. tiny_http 0.12's task pool can lose the wakeup of a connection
/// accepted right after another one (the second task stays queued until some connection closes),
/// so the front must never open backend connections back to back.
#[test]
fn simultaneous_keep_alive_clients_are_all_answered() {
    const CLIENTS: usize = 16;
    let front = start(FrontConfig::default(), vec![]);
    let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| TcpStream::connect(front.local_addr).unwrap()).collect();
    let started = Instant::now();
    for (i, s) in clients.iter_mut().enumerate() {
        write!(s, "GET /c{i} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    }
    for (i, s) in clients.iter_mut().enumerate() {
        let left = Duration::from_secs(3).saturating_sub(started.elapsed()).max(Duration::from_millis(1));
        s.set_read_timeout(Some(left)).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).unwrap_or_else(|e| panic!("client {i} unanswered after {:?}: {e}", started.elapsed()));
        let resp = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert_eq!(body_json(&resp)["url"], format!("/c{i}"), "{resp}");
    }
    assert_eq!(front.stats().proxied_connections, CLIENTS as u64);
    // The connections stay usable.
    for s in &mut clients {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        assert_eq!(body_json(&String::from_utf8_lossy(&buf[..n]))["url"], "/again");
    }
}

/// A raw HTTP/1.1 backend; connection `n` (from 0) closes right after its first answer when
/// `n < closing`. Each answer's body is `{"conn": n, "seen": requests on that connection}`.
fn closing_backend(closing: usize) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, s) in listener.incoming().enumerate() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let (mut buf, mut seen) = (Vec::new(), 0);
                let mut chunk = [0u8; 4096];
                while let Ok(k @ 1..) = s.read(&mut chunk) {
                    buf.extend_from_slice(&chunk[..k]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        seen += 1;
                        let body = serde_json::json!({ "conn": n, "seen": seen }).to_string();
                        let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                        let _ = s.write_all(answer.as_bytes());
                        if n < closing {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn warm_connections_closed_by_the_backend_are_replaced() {
    let front = start_with(closing_backend(3), FrontConfig::default(), vec![]);
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        let mut s = TcpStream::connect(front.local_addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let (mut resp, mut chunk) = (Vec::new(), [0u8; 4096]);
        while !resp.ends_with(b"}") {
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&resp));
            resp.extend_from_slice(&chunk[..n]);
        }
        let resp = String::from_utf8_lossy(&resp).into_owned();
        let v = body_json(&resp);
        // A warm connection that was not closed: its warm-up was its first request (and it goes
        // back to the pool after each answer, so a later client may reuse it).
        assert!(v["conn"].as_u64().is_some_and(|c| c >= 3), "{resp}");
        assert!(v["seen"].as_u64().is_some_and(|n| n >= 2), "{resp}");
    }
}

#[test]
fn connections_beyond_the_cap_get_503() {
    let front = start(FrontConfig { max_connections: 2, ..FrontConfig::default() }, vec![]);
    let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(front.local_addr).unwrap()).collect();
    wait_until("both connections accepted", || {
        let resp = raw(front.local_addr, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", false);
        resp.starts_with("HTTP/1.1 503") && body_json(&resp)["detail"] == "too many connections"
    });
    drop(held);
    wait_until("a slot is free again", || {
        raw(front.local_addr, b"GET /y HTTP/1.1\r\nConnection: close\r\n\r\n", false).starts_with("HTTP/1.1 200")
    });
}

#[test]
fn expect_continue_is_answered_by_the_front_and_the_body_proxied() {
    let front = start(FrontConfig::default(), vec![]);
    let mut s = TcpStream::connect(front.local_addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /p HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\n").unwrap();
    let mut buf = [0u8; 25];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"abc").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(!out.contains("100 Continue"), "a second interim answer: {out}");
    assert_eq!(body_json(&out)["len"], 3, "{out}");
    // Chunked bodies and absurd lengths are refused by the front.
    let resp = raw(front.local_addr, b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false);
    assert!(resp.starts_with("HTTP/1.1 411"), "{resp}");
    let resp = raw(front.local_addr, b"POST /p HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n", false);
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert_eq!(front.stats().refused_requests, 2);
}

/// A tiny_http backend that answers `ok` after `delay`.
fn slow_backend(delay: Duration) -> SocketAddr {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = server.server_addr().to_ip().unwrap();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            std::thread::sleep(delay);
            let _ = req.respond(tiny_http::Response::from_string("ok"));
        }
    });
    addr
}

#[test]
fn drain_finishes_the_exchange_in_flight_refuses_new_ones_and_keeps_websockets_until_stop() {
    let front = start_with(slow_backend(Duration::from_millis(300)), FrontConfig::default(), vec![]);
    let addr = front.local_addr;
    let mut ws = ws_connect(addr, "", None).unwrap();
    wait_until("the WebSocket client", || front.stats().ws_clients == 1);
    let in_flight = std::thread::spawn(move || raw(addr, b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false));
    wait_until("the request proxied", || front.stats().proxied_connections == 1);

    let t0 = Instant::now();
    assert_eq!(front.drain(Duration::from_secs(5)), 0, "nothing left in flight");
    assert!(t0.elapsed() < Duration::from_secs(2), "the drain ends when the exchange does: {:?}", t0.elapsed());
    let answer = in_flight.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer:?}");
    assert!(TcpStream::connect(addr).is_err(), "the listener is closed");
    assert_eq!(front.stats().ws_clients, 1, "WebSocket clients stay until stop");

    front.stop();
    loop {
        match ws.read() {
            Ok(Message::Close(Some(c))) => break assert_eq!(u16::from(c.code), 1001),
            Ok(Message::Close(None)) => panic!("close frame without a code"),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

#[test]
fn drain_gives_up_after_its_grace_on_a_keep_alive_connection_left_open() {
    let front = start(FrontConfig::default(), vec![]);
    let mut kept = TcpStream::connect(front.local_addr).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    kept.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = [0u8; 12];
    kept.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"HTTP/1.1 200");
    let t0 = Instant::now();
    assert_eq!(front.drain(Duration::from_millis(300)), 1, "the keep-alive connection is still open");
    assert!(t0.elapsed() >= Duration::from_millis(300) && t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    front.stop();
}
