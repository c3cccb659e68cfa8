//! Graceful shutdown end to end: a `pinion serve` with the journal on gets two operations and a risk
//! change, a WebSocket client stays connected, and SIGTERM stops it: exit 0 within 5 s, the client gets
//! a Close frame with code 1001 (going away), the log has the stop line, and a final snapshot covers
//! the journal's last record. The restart resumes from that snapshot with no journal record after it
//! and shows every operation and setting; SIGINT then stops it with exit 0 too. A keep-alive REST
//! connection left open holds a shutdown for the 2 s grace only, and a second signal during it exits
//! at once with 128 + the signal.

#[path = "crash_support/server.rs"]
mod server;

use serde_json::{json, Value};
use server::{tail, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tungstenite::Message;

/// What the issue asks a shutdown to take at most.
const STOP_WITHIN: Duration = Duration::from_secs(5);

fn op(asset: &str) -> Value {
    json!({ "asset": asset, "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
        "strategy_config": { "fast": 10, "slow": 40, "trade_size": 10000 }, "stop_loss_type": "PIPS", "stop_loss_value": 10 })
}

/// Connects a WebSocket client to `/ws` and reads it on a thread until the server closes it; the
/// thread returns the close code (None: the connection ended without a Close frame).
fn watch_ws(addr: &str) -> std::thread::JoinHandle<Option<u16>> {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    let (mut ws, resp) = tungstenite::client(format!("ws://{addr}/ws"), stream).unwrap_or_else(|e| panic!("WebSocket handshake: {e}"));
    assert_eq!(resp.status().as_u16(), 101);
    ws.get_ref().set_read_timeout(Some(Duration::from_millis(200))).expect("read timeout");
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match ws.read() {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return None,
            }
        }
        None
    })
}

/// The journal's last record, from `pinion journal verify` ("... (seq A..=B); ...").
fn journal_last_seq(data: &Path) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_pinion"))
        .args(["journal", "verify"])
        .arg(data.join("journal"))
        .output()
        .expect("pinion journal verify");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "pinion journal verify failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    let after = text.split("..=").nth(1).unwrap_or_else(|| panic!("no seq range in {text:?}"));
    after.split(')').next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no last seq in {text:?}"))
}

/// Journal seqs of the snapshot files, ascending.
fn snapshot_seqs(data: &Path) -> Vec<u64> {
    let mut seqs: Vec<u64> = std::fs::read_dir(data.join("snapshots"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().strip_prefix("snapshot-")?.strip_suffix(".snap")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    seqs.sort_unstable();
    seqs
}

#[test]
fn sigterm_stops_cleanly_with_a_final_snapshot_and_sigint_too() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let log = |n: u32| tmp.path().join(format!("stderr-{n}.log"));

    let mut srv = Server::start(&data, &log(0), 100.0, &[]);
    for asset in ["EUR_USD", "AUD_USD"] {
        srv.post("/api/operations", &op(asset), 201);
    }
    srv.post("/api/operations/2/pause", &json!({}), 200);
    srv.post("/risk/update", &json!({ "max_concurrent_positions": 7 }), 200);
    let ws = watch_ws(&srv.addr);
    std::thread::sleep(Duration::from_millis(500)); // Some ticks after the changes.
    let brief = |ops: Vec<Value>| ops.iter().map(|o| (o["id"].clone(), o["status"].clone())).collect::<Vec<_>>();
    let before = brief(srv.all_pages("/api/operations", true));
    assert_eq!(before.len(), 2, "{before:?}");

    srv.signal("TERM");
    let (status, took) = srv.wait_exit(Duration::from_secs(30));
    let stopped = std::fs::read_to_string(log(0)).unwrap_or_default();
    assert!(status.success(), "exit status {status} after SIGTERM\n{}", tail(&log(0), 20));
    assert!(took < STOP_WITHIN, "SIGTERM to exit took {took:?}\n{}", tail(&log(0), 20));
    eprintln!("SIGTERM to exit: {:.0} ms", took.as_secs_f64() * 1e3);
    assert_eq!(ws.join().expect("WebSocket reader"), Some(1001), "the WebSocket client is told the server is going away");
    let last = journal_last_seq(&data);
    assert!(
        stopped.contains("pinion stopped in ") && stopped.contains(&format!("final snapshot at journal seq {last},")),
        "the stop line names the final snapshot at the journal's last record {last}:\n{}",
        tail(&log(0), 20)
    );
    assert_eq!(snapshot_seqs(&data).last(), Some(&last), "the newest snapshot covers the journal's last record");
    assert!(!stopped.contains(" ERROR "), "no error on a graceful shutdown:\n{}", tail(&log(0), 20));

    let mut srv = Server::start(&data, &log(1), 100.0, &[]);
    let started = std::fs::read_to_string(log(1)).unwrap_or_default();
    assert!(
        started.contains(&format!("snapshot at journal seq {last} / tick ")) && started.contains(" and 0 journal records after it"),
        "the restart resumes from the final snapshot and replays nothing:\n{}",
        tail(&log(1), 20)
    );
    assert_eq!(brief(srv.all_pages("/api/operations", true)), before, "every operation comes back as it was");
    assert_eq!(srv.get("/api/operations/1")["status"], json!("active"));
    assert_eq!(srv.get("/api/operations/2")["status"], json!("paused"));
    assert_eq!(srv.get("/risk")["risk"]["max_concurrent_positions"], json!(7), "{}", srv.get("/risk"));

    srv.signal("INT");
    let (status, took) = srv.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "exit status {status} after SIGINT\n{}", tail(&log(1), 20));
    assert!(took < STOP_WITHIN, "SIGINT to exit took {took:?}\n{}", tail(&log(1), 20));
    let stopped = std::fs::read_to_string(log(1)).unwrap_or_default();
    assert!(stopped.contains("SIGINT received") && stopped.contains("pinion stopped in "), "{}", tail(&log(1), 20));
}

/// A REST connection kept alive after its answer (as browsers keep them).
fn keep_alive(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(15))).expect("read timeout");
    s.write_all(format!("GET /api/operations HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).expect("sending a request");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).expect("reading the answer");
    assert_eq!(&head, b"HTTP/1.1 200");
    s
}

#[test]
fn an_open_keep_alive_connection_holds_the_shutdown_for_the_grace_only_and_a_second_signal_exits_at_once() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let log = |n: u32| tmp.path().join(format!("stderr-{n}.log"));

    let mut srv = Server::start(&data, &log(0), 100.0, &[]);
    let _kept = keep_alive(&srv.addr);
    srv.signal("TERM");
    let (status, took) = srv.wait_exit(Duration::from_secs(30));
    let stopped = std::fs::read_to_string(log(0)).unwrap_or_default();
    assert!(status.success(), "exit status {status}\n{}", tail(&log(0), 20));
    assert!(took >= Duration::from_secs(2) && took < STOP_WITHIN, "took {took:?}\n{}", tail(&log(0), 20));
    assert!(stopped.contains("1 REST connection(s) cut off"), "{}", tail(&log(0), 20));

    let mut srv = Server::start(&data, &log(1), 100.0, &[]);
    let _kept = keep_alive(&srv.addr);
    srv.signal("TERM");
    // Inside the 2 s grace (the open connection holds it), once the server has taken the first signal.
    let t0 = Instant::now();
    while !std::fs::read_to_string(log(1)).unwrap_or_default().contains("SIGTERM received: shutting down") {
        assert!(t0.elapsed() < Duration::from_secs(30), "SIGTERM not taken\n{}", tail(&log(1), 20));
        std::thread::sleep(Duration::from_millis(10));
    }
    srv.signal("INT");
    let (status, took) = srv.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(128 + 2), "a second signal (SIGINT) exits at once with 130\n{}", tail(&log(1), 20));
    // At once: well inside what the grace would have held (2 s) and the shutdown's bound.
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let stopped = std::fs::read_to_string(log(1)).unwrap_or_default();
    assert!(stopped.contains("SIGINT received during the shutdown: exiting now"), "{}", tail(&log(1), 20));
    assert!(!stopped.contains("pinion stopped in "), "{}", tail(&log(1), 20));
}
