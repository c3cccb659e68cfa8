//! End-to-end tests of the `/ws` WebSocket push against a real `pinion serve` (the bundled samples
//! replayed looped and fast) with real clients: the on-connect snapshot and the 1 Hz `account` /
//! `metric` cadence, `order` and `positions` frames of an operation created over REST (positions priced
//! from their first frame), a refused entry's WARN `log` frame in feed time, topic
//! subscriptions, isolation of a client that never reads, and the bearer token on the upgrade.
//!
//! The tests run one at a time (a process-wide lock): they assert wall-clock cadences, and on a
//! small machine several fast replays at once would measure the machine rather than the server.

mod common;

use common::{iso_secs, poll, Server};
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::{Message, WebSocket};

/// Replay speed: one minute bar every 0.2 s.
const SPEED: f64 = 300.0;
/// Bound on anything that should happen "soon" (an operation's first orders, a frame).
const WAIT: Duration = Duration::from_secs(20);
/// How long one blocking read of a client may wait before it looks at its deadline again.
const READ_SLICE: Duration = Duration::from_millis(100);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A tick-level EMA cross (always in the market once its EMAs are ready) with a 10-pip stop: it
/// trades within a few ticks of its creation.
fn ema_op(asset: &str, fast: u32, slow: u32) -> Value {
    json!({
        "asset": asset,
        "bar_sizes": ["1 min"],
        "strategy_name": "ema_cross",
        "strategy_config": { "fast": fast, "slow": slow, "trade_size": 1000 },
        "stop_loss_type": "PIPS",
        "stop_loss_value": 10,
    })
}

fn create(s: &Server, body: &Value) -> u64 {
    let r = s.post_json("/api/operations", body);
    assert_eq!(r.status, 201, "creating {body}: {} (server: {})", r.text, s.stderr_tail());
    r.json()["id"].as_u64().expect("operation id")
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("`{k}` is not a number in {v}"))
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("`{k}` is not a string in {v}"))
}

/// One received frame: its `type`, its `data`, its raw text and when it arrived.
#[derive(Debug, Clone)]
struct Got {
    kind: String,
    data: Value,
    raw: String,
    at: Instant,
}

/// A WebSocket client over a plain blocking `TcpStream` with a short read timeout, so that every
/// read is bounded by a deadline.
struct Client {
    ws: WebSocket<TcpStream>,
}

/// Opens `ws://addr{path}` with extra request headers; the handshake's error (an HTTP answer other
/// than 101 comes back as `tungstenite::Error::Http`) is returned as is.
fn try_connect(addr: &str, path: &str, headers: &[(&str, &str)]) -> Result<Client, tungstenite::Error> {
    let stream = TcpStream::connect(addr).map_err(tungstenite::Error::Io)?;
    stream.set_read_timeout(Some(READ_SLICE)).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("ws://{addr}{path}").into_client_request()?;
    for (k, v) in headers {
        req.headers_mut().insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
    }
    let deadline = Instant::now() + WAIT;
    let mut attempt = tungstenite::client(req, stream);
    loop {
        match attempt {
            Ok((ws, resp)) => {
                assert_eq!(resp.status().as_u16(), 101);
                return Ok(Client { ws });
            }
            Err(HandshakeError::Failure(e)) => return Err(e),
            Err(HandshakeError::Interrupted(mid)) => {
                assert!(Instant::now() < deadline, "WebSocket handshake with {addr} did not finish within {WAIT:?}");
                attempt = mid.handshake();
            }
        }
    }
}

fn connect(addr: &str, path: &str, headers: &[(&str, &str)]) -> Client {
    try_connect(addr, path, headers).unwrap_or_else(|e| panic!("connecting to ws://{addr}{path}: {e}"))
}

impl Client {
    /// The next JSON frame, or None once `deadline` passes. Panics on a close or an error.
    fn next(&mut self, deadline: Instant) -> Option<Got> {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    let at = Instant::now();
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or_else(|e| panic!("frame is not JSON ({e}): {t}"));
                    let kind = v["type"].as_str().unwrap_or_else(|| panic!("frame without a string `type`: {v}")).to_string();
                    assert!(v.get("data").is_some(), "frame without `data`: {v}");
                    let obj = v.as_object().unwrap();
                    assert_eq!(obj.len(), 2, "a frame is exactly {{type, data}}: {v}");
                    return Some(Got { kind, data: v["data"].clone(), raw: t.to_string(), at });
                }
                Ok(Message::Binary(_)) => panic!("unexpected binary frame"),
                Ok(Message::Close(c)) => panic!("server closed the WebSocket: {c:?}"),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("WebSocket read failed: {e}"),
            }
            if Instant::now() >= deadline {
                return None;
            }
        }
    }

    /// Every frame received within `d`.
    fn collect(&mut self, d: Duration) -> Vec<Got> {
        let deadline = Instant::now() + d;
        std::iter::from_fn(|| self.next(deadline)).collect()
    }

    /// Frames up to and including the first one `pred` accepts; panics after `timeout`.
    fn until(&mut self, what: &str, timeout: Duration, mut pred: impl FnMut(&Got) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let Some(g) = self.next(deadline) else {
                let kinds: Vec<&str> = seen.iter().map(|g: &Got| g.kind.as_str()).collect();
                panic!("no {what} within {timeout:?}; got {} frames: {kinds:?}", seen.len());
            };
            let done = pred(&g);
            seen.push(g);
            if done {
                return seen;
            }
        }
    }

    fn send(&mut self, v: &Value) {
        self.ws.send(Message::text(v.to_string())).unwrap_or_else(|e| panic!("sending {v}: {e}"));
    }

    /// The four frames of the on-connect snapshot, in order.
    fn snapshot(&mut self) -> Vec<Got> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let snap: Vec<Got> = (0..4).map_while(|_| self.next(deadline)).collect();
        let kinds: Vec<&str> = snap.iter().map(|g| g.kind.as_str()).collect();
        assert_eq!(kinds, ["status", "account", "positions", "metric"], "the on-connect snapshot, first and in order");
        snap
    }
}

fn check_account(d: &Value) {
    for k in ["balance", "NAV", "equity", "unrealizedPL", "pl", "marginUsed"] {
        num(d, k);
    }
    assert_eq!(d["NAV"], d["equity"], "equity is NAV: {d}");
    assert!((num(d, "NAV") - num(d, "balance") - num(d, "unrealizedPL")).abs() < 0.011, "NAV = balance + unrealized: {d}");
    assert!(d["openPositionCount"].as_u64().is_some(), "{d}");
    iso_secs(text(d, "timestamp"));
}

fn check_metric(d: &Value) {
    let (equity, pnl, dd) = (num(d, "equity"), num(d, "pnl"), num(d, "drawdown"));
    assert!(equity > 0.0, "{d}");
    // The default starting balance is 100000 USD.
    assert!((pnl - (equity - 100_000.0)).abs() < 0.011, "pnl is equity - starting balance: {d}");
    assert!((0.0..1.0).contains(&dd), "drawdown in [0, 1): {d}");
    iso_secs(text(d, "timestamp"));
}

fn check_order_frame(d: &Value, op: u64) {
    assert!(d["id"].as_u64().is_some(), "order id: {d}");
    assert_eq!(d["operation_id"], json!(op), "{d}");
    assert_eq!(text(d, "instrument"), "EUR_USD", "the asset as the client sent it: {d}");
    assert!(matches!(text(d, "side"), "BUY" | "SELL"), "{d}");
    assert!(matches!(text(d, "type"), "MARKET" | "LIMIT" | "STOP"), "{d}");
    match text(d, "status") {
        "FILLED" | "PARTIALLY_FILLED" => assert!(num(d, "price") > 0.0, "{d}"),
        "REJECTED" => assert!(!text(d, "reason").is_empty(), "{d}"),
        "PENDING" | "CANCELLED" => {}
        other => panic!("order status {other}: {d}"),
    }
    assert!(num(d, "quantity") > 0.0, "{d}");
    iso_secs(text(d, "created_at"));
}

/// Largest gap between consecutive instants, and between `from` / `to` and the first / last one.
fn max_gap(times: &[Instant], from: Instant, to: Instant) -> Duration {
    let mut all = vec![from];
    all.extend_from_slice(times);
    all.push(to);
    all.windows(2).map(|w| w[1].saturating_duration_since(w[0])).max().unwrap_or_default()
}

#[test]
fn snapshot_on_connect_then_account_and_metric_every_second() {
    let _serial = serial();
    let s = Server::start(SPEED);
    // A client that does not read but gets little traffic is kept (see the slow-client test).
    let mut idle = raw_upgrade(&s.addr);
    let t0 = Instant::now();
    let mut c = connect(&s.addr, "/ws", &[]);
    let snap = c.snapshot();
    // At once: the bound only catches a snapshot that waits for something (a loaded CI machine is slow).
    assert!(t0.elapsed() < Duration::from_secs(8), "snapshot took {:?}", t0.elapsed());
    let status = &snap[0].data;
    assert_eq!(text(status, "engine"), "running", "{status}");
    assert!(status["operations"]["total"].as_u64().is_some(), "{status}");
    check_account(&snap[1].data);
    assert!(snap[2].data.is_array(), "positions is an array: {}", snap[2].data);
    check_metric(&snap[3].data);

    // Then `account` and `metric` once a second, `status` every 5 s.
    let start = Instant::now();
    let frames = c.collect(Duration::from_millis(8000));
    let end = Instant::now();
    let of = |k: &str| frames.iter().filter(|g| g.kind == k).collect::<Vec<_>>();
    let (metrics, accounts, statuses) = (of("metric"), of("account"), of("status"));
    metrics.iter().for_each(|g| check_metric(&g.data));
    accounts.iter().for_each(|g| check_account(&g.data));
    assert!((4..=10).contains(&metrics.len()), "about one metric frame a second: {} in 8 s", metrics.len());
    assert!((4..=10).contains(&accounts.len()), "about one account frame a second: {} in 8 s", accounts.len());
    let times: Vec<Instant> = metrics.iter().map(|g| g.at).collect();
    let gap = max_gap(&times, start, end);
    // ~1 s apart; the slack absorbs a busy 2-core CI machine (a stall of the publisher's thread).
    assert!(gap <= Duration::from_millis(3500), "metric frames about 1 s apart: largest gap {gap:?}");
    // Within the first 5 seconds already two or more.
    assert!(times.iter().filter(|t| t.duration_since(start) <= Duration::from_secs(5)).count() >= 2, "2+ metric frames within 5 s");
    // Replay time moves on between frames (the feed is live) and never goes back.
    let stamps: Vec<f64> = metrics.iter().map(|g| iso_secs(text(&g.data, "timestamp"))).collect();
    assert!(stamps.windows(2).all(|w| w[1] >= w[0]), "metric timestamps never go back: {stamps:?}");
    assert!(stamps.last() > stamps.first(), "replay time moves: {stamps:?}");
    // Every metric frame comes with an account frame of the same instant.
    for m in &metrics {
        assert!(
            accounts.iter().any(|a| a.data["timestamp"] == m.data["timestamp"] && a.data["equity"] == m.data["equity"]),
            "no account frame matching {}",
            m.raw
        );
    }
    assert!(!statuses.is_empty(), "a status frame at least every 5 s: none in 8 s");
    for st in statuses {
        assert_eq!(text(&st.data, "engine"), "running");
    }
    // The idle client is still connected: its pings go through and its frames are there to read.
    for _ in 0..3 {
        idle.write_all(&PING).expect("the idle client was disconnected");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).expect("reading the idle client");
    assert!(n > 0 && buf[0] == 0x81, "a text frame for the idle client, got {n} bytes");
    // Nothing trades: no order or positions frames, no other types.
    for g in &frames {
        assert!(matches!(g.kind.as_str(), "metric" | "account" | "status" | "log"), "unexpected frame without trading: {}", g.raw);
    }
}

#[test]
fn operation_orders_and_positions_are_pushed() {
    let _serial = serial();
    let s = Server::start(SPEED);
    let mut c = connect(&s.addr, "/ws", &[]);
    c.snapshot();
    let id = create(&s, &ema_op("EUR_USD", 3, 8));

    // Order frames of this operation (several, one filled) and a positions frame holding its position.
    let mut orders: Vec<Value> = Vec::new();
    let mut position_rows: Vec<Value> = Vec::new();
    c.until("3 order frames (one filled) and a positions frame of the operation", WAIT, |g| {
        match g.kind.as_str() {
            "order" => {
                check_order_frame(&g.data, id);
                orders.push(g.data.clone());
            }
            "positions" => {
                let rows = g.data.as_array().unwrap_or_else(|| panic!("positions is an array: {}", g.raw));
                position_rows.extend(rows.iter().filter(|r| r["holder"]["operation_id"] == json!(id)).cloned());
            }
            _ => {}
        }
        orders.len() >= 3 && orders.iter().any(|o| o["status"] == "FILLED") && !position_rows.is_empty()
    });
    for r in &position_rows {
        assert_eq!(text(r, "instrument"), "EUR_USD", "{r}");
        let units = num(r, "units");
        assert!(units != 0.0 && units.abs() == 1000.0, "trade_size 1000: {r}");
        assert_eq!(text(r, "side"), if units > 0.0 { "BUY" } else { "SELL" }, "{r}");
        assert!(num(r, "avgPrice") > 0.5 && num(r, "avgPrice") < 2.0, "{r}");
        // Priced from its first moment: the frame sent on the fill carries the mark, P&L and margin.
        assert!(num(r, "currentPrice") > 0.5 && num(r, "currentPrice") < 2.0, "{r}");
        num(r, "unrealizedPL");
        assert!(num(r, "marginUsed") > 0.0, "{r}");
        assert!(r["holder"]["operation_id"] == json!(id), "{r}");
    }

    // Every positions frame row for 2 s more, and the REST rows meanwhile, carry a price and P&L.
    let frames = c.collect(Duration::from_secs(2));
    frames.iter().filter(|g| g.kind == "positions").for_each(|g| position_rows.extend(common::rows(&g.data)));
    position_rows.iter().for_each(|r| common::assert_priced(r, "currentPrice", "unrealizedPL", "positions frame"));
    for _ in 0..10 {
        common::rows(&s.get_ok("/account/positions"))
            .iter()
            .for_each(|r| common::assert_priced(r, "currentPrice", "unrealizedPL", "account"));
        let op_rows = common::rows(&s.get_ok(&format!("/api/operations/{id}/positions")));
        op_rows.iter().for_each(|r| common::assert_priced(r, "current_price", "unrealized_pnl", "operation"));
        std::thread::sleep(Duration::from_millis(100));
    }

    // Every order id pushed is one of the operation's orders over REST; a filled one is filled there.
    let rest = s.all_pages(&format!("/api/operations/{id}/orders"));
    for o in &orders {
        let oid = o["id"].as_u64().unwrap();
        let r = rest.get(&oid).unwrap_or_else(|| panic!("order {oid} pushed over /ws is not in GET /api/operations/{id}/orders"));
        for k in ["side", "type", "purpose", "instrument", "operation_id"] {
            assert_eq!(r[k], o[k], "{k} of order {oid}: REST {r} vs frame {o}");
        }
        if o["status"] == "FILLED" {
            assert_eq!(r["status"], "FILLED", "REST {r} vs frame {o}");
            assert_eq!(r["price"], o["price"], "REST {r} vs frame {o}");
        }
    }
}

#[test]
fn a_refused_entry_is_a_warn_log_frame_with_the_bare_message_in_feed_time() {
    let _serial = serial();
    let s = Server::start(SPEED);
    // No new entries at all: every entry of the operation is refused.
    let r = s.post_json("/risk/update", &json!({"max_concurrent_positions": 0}));
    assert_eq!(r.status, 200, "{}", r.text);
    let mut c = connect(&s.addr, "/ws", &[]);
    c.snapshot();
    let id = create(&s, &ema_op("EUR_USD", 3, 8));
    let mut refused: Option<Value> = None;
    let frames = c.until("a log frame of the operation's refused entry", WAIT, |g| {
        if g.kind == "order" && g.data["status"] == "REJECTED" && refused.is_none() {
            refused = Some(g.data.clone());
        }
        g.kind == "log" && g.data["message"].as_str().is_some_and(|m| m.starts_with(&format!("operation {id}:")))
    });
    let log = &frames.last().expect("the log frame").data;
    assert_eq!(log.as_object().map(|o| o.len()), Some(3), "a log frame is {{level, message, timestamp}}: {log}");
    assert_eq!(text(log, "level"), "WARN", "{log}");
    let message = text(log, "message");
    assert!(message.contains("max_concurrent_positions"), "the message names the reason: {message}");
    assert!(message.contains("refused") && message.contains("EUR_USD"), "{message}");
    // The bare message: no time, level or target in front of it.
    assert!(!message.contains("pinion::") && !message.contains("WARN"), "{message}");
    let order = refused.expect("the REJECTED order frame comes before its log frame");
    assert_eq!(order["operation_id"], json!(id), "{order}");
    assert!(message.contains(&format!("(order {})", order["id"])), "the message names the order {}: {message}", order["id"]);
    // Feed time: at or after the refused order and within a few seconds of replay (300x) of it, on the
    // clock of every other frame (the 2020 sample, not the wall clock).
    let (at, ordered) = (iso_secs(text(log, "timestamp")), iso_secs(text(&order, "created_at")));
    assert!(at >= ordered && at - ordered < 3.0 * SPEED, "log at {at}, order at {ordered}: {log}");
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    assert!(wall - at > 86_400.0, "feed time (the recorded sample), not the wall clock: {log}");
    // The operation never traded.
    assert_eq!(s.get_ok(&format!("/api/operations/{id}/positions")), json!([]));
    // Control actions are log records (INFO) and frames too, naming the operation.
    assert_eq!(s.request("POST", &format!("/api/operations/{id}/pause"), Some("application/json"), b"").status, 200);
    let paused = format!("operation {id} paused");
    let frames = c.until("the pause's log frame", WAIT, |g| g.kind == "log" && g.data["message"] == json!(paused));
    assert_eq!(text(&frames.last().expect("the log frame").data, "level"), "INFO");
}

#[test]
fn subscribe_narrows_topics_and_bad_commands_get_error_frames() {
    let _serial = serial();
    let s = Server::start(SPEED);
    // Trading traffic, so that narrowing has something to leave out.
    let id = create(&s, &ema_op("EUR_USD", 3, 8));
    let mut c = connect(&s.addr, "/ws", &[]);
    c.snapshot();
    c.until("an order frame before narrowing", WAIT, |g| g.kind == "order");

    c.send(&json!({"type": "subscribe", "topics": ["metric"]}));
    let pre = c.until("the subscribed ack", WAIT, |g| g.kind == "subscribed");
    assert_eq!(pre.last().unwrap().data, json!({"topics": ["metric"]}));
    // Two frames after the ack, each checked (a metric frame comes once a second).
    let mut frames = c.until("a metric frame after subscribing", WAIT, |_| true);
    frames.extend(c.until("a second metric frame after subscribing", WAIT, |_| true));
    for g in &frames {
        assert_eq!(g.kind, "metric", "only metric frames after subscribing to metric: {}", g.raw);
        check_metric(&g.data);
    }

    // Unknown topic, unknown command, missing topics, not JSON: an `error` frame each, and the
    // subscription is unchanged.
    for (cmd, needle) in [
        (json!({"type": "subscribe", "topics": ["metric", "ticks"]}).to_string(), "ticks"),
        (json!({"type": "subscribe", "topics": ["bogus"]}).to_string(), "bogus"),
        (json!({"type": "resubscribe", "topics": ["metric"]}).to_string(), "resubscribe"),
        (json!({"type": "subscribe"}).to_string(), "topics"),
        ("not json".to_string(), "invalid"),
    ] {
        c.ws.send(Message::text(cmd.clone())).unwrap();
        let got = c.until(&format!("an error frame for {cmd}"), WAIT, |g| g.kind != "metric");
        let e = got.last().unwrap();
        assert_eq!(e.kind, "error", "answer to {cmd}: {}", e.raw);
        let detail = text(&e.data, "detail");
        assert!(detail.contains(needle), "error detail for {cmd} should mention {needle:?}: {detail}");
    }
    for g in c.collect(Duration::from_millis(1500)) {
        assert_eq!(g.kind, "metric", "subscription unchanged after errors: {}", g.raw);
    }

    // Unsubscribing the last topic leaves nothing.
    c.send(&json!({"type": "unsubscribe", "topics": ["metric"]}));
    c.until("the unsubscribe ack", WAIT, |g| g.kind == "subscribed" && g.data == json!({"topics": []}));
    let quiet = c.collect(Duration::from_millis(1500));
    assert!(quiet.is_empty(), "no frames with no topics: {:?}", quiet.iter().map(|g| &g.raw).collect::<Vec<_>>());

    // Orders and positions only.
    c.send(&json!({"type": "subscribe", "topics": ["order", "positions"]}));
    c.until("the ack", WAIT, |g| g.kind == "subscribed" && g.data == json!({"topics": ["positions", "order"]}));
    // Order frames flow while the operation trades.
    let frames = c.until("an order frame after subscribing", WAIT, |g| g.kind == "order");
    for g in &frames {
        assert!(matches!(g.kind.as_str(), "order" | "positions"), "only order/positions frames: {}", g.raw);
        if g.kind == "order" {
            check_order_frame(&g.data, id);
        }
    }
}

/// A WebSocket client on a raw socket: sends the upgrade, reads exactly the 101 head, then reads
/// nothing more.
fn raw_upgrade(addr: &str) -> TcpStream {
    let mut t = TcpStream::connect(addr).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    t.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    t.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(t.read(&mut b).unwrap(), 1, "EOF in the upgrade answer: {:?}", String::from_utf8_lossy(&head));
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "upgrade answer: {head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "RFC 6455 accept key: {head}");
    t
}

/// An empty masked ping frame (client frames must be masked).
const PING: [u8; 6] = [0x89, 0x80, 0x12, 0x34, 0x56, 0x78];

#[test]
fn a_client_that_never_reads_is_dropped_while_others_keep_their_cadence() {
    let _serial = serial();
    // Fast enough for lots of order frames: ~700 ticks a second per instrument.
    let s = Server::start(1000.0);
    let mut slow = raw_upgrade(&s.addr);

    // The normal client reads on its own thread and records when each frame arrives.
    let mut normal = connect(&s.addr, "/ws", &[]);
    normal.snapshot();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let reader = std::thread::spawn(move || {
        let mut got: Vec<(String, Instant)> = Vec::new();
        let mut bytes = 0usize;
        while !stop2.load(Ordering::Relaxed) {
            if let Some(g) = normal.next(Instant::now() + READ_SLICE) {
                bytes += g.raw.len();
                got.push((g.kind, g.at));
            }
        }
        (got, bytes)
    });

    // Traffic: several operations that reverse on almost every tick (fast 1 / slow 2).
    let start = Instant::now();
    for asset in ["EUR_USD", "AUD_USD", "EUR_USD", "AUD_USD"] {
        create(&s, &ema_op(asset, 1, 2));
    }

    // The slow client pings now and then and never reads: once the server has dropped it (its
    // queue of 1024 unsent frames overflowed on top of the full socket buffers), a write is
    // answered with a reset and a later write fails. The normal client is watched over a fixed
    // window that goes well past the drop.
    let window = Duration::from_secs(8);
    let deadline = start + Duration::from_secs(40);
    let mut dropped_after = None;
    while Instant::now() < deadline && (dropped_after.is_none() || start.elapsed() < window) {
        if dropped_after.is_none() && slow.write_all(&PING).is_err() {
            dropped_after = Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    let end = Instant::now();
    let (got, bytes) = reader.join().expect("the normal client's reader panicked");

    let metric_times: Vec<Instant> = got.iter().filter(|(k, _)| k == "metric").map(|(_, t)| *t).collect();
    let orders = got.iter().filter(|(k, _)| k == "order").count();
    let secs = end.duration_since(start).as_secs_f64();
    let offsets: Vec<String> = metric_times.iter().map(|t| format!("{:.2}", t.duration_since(start).as_secs_f64())).collect();
    eprintln!(
        "slow-client test: {} frames ({orders} orders, {} metric at {offsets:?} s, {bytes} bytes) in {secs:.1} s to the normal client; slow client dropped after {dropped_after:?}",
        got.len(),
        metric_times.len(),
    );
    assert!(orders > 100, "the operations generate order traffic: only {orders} order frames");
    let gap = max_gap(&metric_times, start, end);
    // ~1 Hz; the slack is for a loaded 2-core CI machine (a client that blocked the others would stop
    // their frames until it was dropped, for far longer).
    assert!(gap <= Duration::from_millis(4000), "the normal client got metric frames at ~1 Hz throughout: largest gap {gap:?}");
    assert!(metric_times.len() as f64 >= secs * 0.4, "{} metric frames in {secs:.1} s", metric_times.len());

    assert!(dropped_after.is_some(), "the client that never reads was not disconnected within 40 s");
    // It was dropped for being slow (the server says so at WARN).
    poll("the server's slow-client warning", WAIT, || s.stderr_has("too slow").then_some(()));
    // Reading now ends in EOF or a reset, never in more data for ever.
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let read_deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match slow.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => assert!(Instant::now() < read_deadline, "the dropped client's socket still delivers data"),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                assert!(matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe), "reading the dropped socket: {e}");
                break;
            }
        }
    }
}

const TOKEN: &str = "tok-9f3b2c7e-ws";

fn http_status(e: tungstenite::Error) -> u16 {
    match e {
        tungstenite::Error::Http(resp) => resp.status().as_u16(),
        other => panic!("expected an HTTP answer to the upgrade, got {other}"),
    }
}

#[test]
fn websocket_upgrade_needs_the_token_when_auth_is_on() {
    let _serial = serial();
    let s = Server::start_with_env(SPEED, &[("PINION_TOKEN", TOKEN)]);
    let err = |path: &str, h: &[(&str, &str)]| match try_connect(&s.addr, path, h) {
        Ok(_) => panic!("upgrade {path} with {h:?} was accepted"),
        Err(e) => http_status(e),
    };
    assert_eq!(err("/ws", &[]), 401, "no token");
    assert_eq!(err("/ws?token=wrong", &[]), 401, "wrong query token");
    assert_eq!(err("/ws", &[("Authorization", "Bearer wrong")]), 401, "wrong bearer token");
    assert_eq!(err("/ws", &[("Authorization", TOKEN)]), 401, "token without the Bearer scheme");

    // The raw 401 answer is JSON with a detail and a WWW-Authenticate challenge.
    let r = common::http(
        &s.addr,
        "GET",
        "/ws",
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ],
        b"",
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert!(!r.detail().is_empty());
    assert!(r.header("WWW-Authenticate").is_some_and(|v| v.starts_with("Bearer")), "{r:?}");

    let bearer = format!("Bearer {TOKEN}");
    let mut frames = Vec::new();
    for (path, h) in [("/ws".to_string(), vec![("Authorization", bearer.as_str())]), (format!("/ws?token={TOKEN}"), vec![])] {
        let mut c = connect(&s.addr, &path, &h);
        let snap = c.snapshot();
        let more = c.until("a metric frame", WAIT, |g| g.kind == "metric");
        frames.extend(snap.into_iter().chain(more));
    }
    for g in &frames {
        assert!(!g.raw.contains(TOKEN), "the token leaked into a frame: {}", g.raw);
    }
    drop(s);

    // Auth off: no token needed (and one given is ignored).
    let open = Server::start(SPEED);
    connect(&open.addr, "/ws", &[]).snapshot();
    connect(&open.addr, "/ws?token=anything", &[]).snapshot();
    poll("health", Duration::from_secs(5), || (open.get("/health").status == 200).then_some(()));
}
