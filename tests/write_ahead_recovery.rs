//! Write-ahead end to end: a server that dies after a change is journaled and before it applies finds
//! it applied exactly once after the restart; a journal holding a record this build cannot read (an
//! unknown kind, a change cut short) stops start-up with an error naming the record, its segment file
//! and offset, instead of guessing.

#[path = "crash_support/server.rs"]
mod server;

use serde_json::{json, Value};
use server::{tail, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn op(asset: &str) -> Value {
    json!({ "asset": asset, "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
        "strategy_config": { "fast": 5, "slow": 20, "trade_size": 10000 }, "stop_loss_type": "PIPS", "stop_loss_value": 10,
        "crash_recovery_mode": "RESUME" })
}

/// Sends a POST the server will die on; returns whatever came back (nothing, when it died first).
fn post_into_crash(addr: &str, path: &str, body: &Value) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else { return String::new() };
    let body = body.to_string();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    let _ = s.write_all(req.as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Waits for the aborted server's process to be gone (its port stops answering).
fn wait_dead(srv: &mut Server) {
    srv.kill();
}

/// Journal records (as `pinion journal dump` prints them) containing every one of `parts`.
fn journaled(data: &Path, parts: &[&str]) -> usize {
    let out =
        Command::new(env!("CARGO_BIN_EXE_pinion")).args(["journal", "dump"]).arg(data.join("journal")).output().expect("journal dump");
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| parts.iter().all(|p| l.contains(p))).count()
}

const PAUSES: &[&str] = &["\"kind\":\"operation_lifecycle\"", "\"action\":\"pause\""];
const CREATES: &[&str] = &["\"kind\":\"operation_created\""];

#[test]
fn a_crash_between_journaling_and_applying_applies_the_change_exactly_once() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let log = |n: u32| tmp.path().join(format!("stderr-{n}.log"));

    // 1. The pause is journaled, then the process aborts before the core applies it.
    let fault = |kind: &str| vec![("PINION_FAULT_ABORT_AFTER_JOURNAL", kind.to_string())];
    let mut srv = Server::start(&data, &log(0), 50.0, &fault("operation_paused"));
    assert_eq!(srv.post("/api/operations", &op("EUR_USD"), 201)["id"], 1);
    let answer = post_into_crash(&srv.addr, "/api/operations/1/pause", &json!({}));
    assert!(!answer.contains("200 OK"), "the pause must not be acknowledged: {answer}");
    wait_dead(&mut srv);
    assert!(
        std::fs::read_to_string(log(0)).unwrap_or_default().contains("aborting after journaling operation_paused"),
        "{}",
        tail(&log(0), 20)
    );
    assert_eq!(journaled(&data, PAUSES), 1);

    // 2. The restart re-applies it: paused, once (a second pause is a 409 and journals nothing).
    let mut srv = Server::start(&data, &log(1), 50.0, &fault("operation_created"));
    assert_eq!(srv.get("/api/operations/1")["status"], "paused", "{}", tail(&log(1), 20));
    srv.post("/api/operations/1/pause", &json!({}), 409);
    assert_eq!(journaled(&data, PAUSES), 1);

    // 3. A create journaled and then lost to a crash comes back as operation 2, exactly once.
    let answer = post_into_crash(&srv.addr, "/api/operations", &op("AUD_USD"));
    assert!(!answer.contains("201 Created"), "the create must not be acknowledged: {answer}");
    wait_dead(&mut srv);
    let srv = Server::start(&data, &log(2), 50.0, &[]);
    let ops = srv.all_pages("/api/operations", true);
    let ids: Vec<u64> = ops.iter().map(|o| o["id"].as_u64().expect("id")).collect();
    assert_eq!(ids, [1, 2], "{ops:?}");
    assert_eq!(srv.get("/api/operations/2")["asset"], "AUD_USD");
    assert_eq!(srv.post("/api/operations", &op("EUR_USD"), 201)["id"], 3);
    assert_eq!(journaled(&data, CREATES), 3);
}

/// Runs `pinion serve` on `data`, expecting it to refuse to start; returns its stderr.
fn refused_start(data: &Path) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_pinion"))
        .args(["serve", "--bind", "127.0.0.1:0", "--log-level", "warn", "--data-dir"])
        .arg(data)
        .arg("--ticks")
        .arg(root.join("samples/eurusd_sample_quotes.csv.gz"))
        .env_remove("PINION_FAULT_ABORT_AFTER_JOURNAL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning pinion serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("waiting") {
            assert!(!status.success(), "pinion serve should refuse to start");
            let mut err = String::new();
            child.stderr.take().expect("stderr").read_to_string(&mut err).expect("stderr");
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("pinion serve started on a journal it cannot read");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A data directory whose journal holds one operation, then `payload` as a record of `kind`.
fn journal_with(tmp: &Path, kind: u16, payload: &[u8]) -> (PathBuf, u64) {
    let data = tmp.join("data");
    let mut srv = Server::start(&data, &tmp.join("stderr.log"), 50.0, &[]);
    srv.post("/api/operations", &op("EUR_USD"), 201);
    srv.kill();
    // Start-up snapshots would let a restart skip the journal before them: remove them so every record is read.
    let _ = std::fs::remove_dir_all(data.join("snapshots"));
    let (mut j, _) = pinion_io::journal::Journal::open(data.join("journal"), Default::default()).expect("journal");
    let seq = j.append(kind, payload).expect("append");
    j.commit().expect("commit");
    (data, seq)
}

#[test]
fn an_unknown_record_kind_stops_start_up_naming_the_record() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (data, seq) = journal_with(tmp.path(), 9, br#"{"op_id": 1, "action": "close_book"}"#);
    let err = refused_start(&data);
    assert!(err.contains(&format!("journal record {seq} (unknown)")), "{err}");
    assert!(err.contains("record kind 9 is not one this build reads"), "{err}");
    assert!(err.contains(".seg") || err.contains("journal/"), "names the segment file: {err}");
    assert!(err.contains("byte offset"), "{err}");
}

#[test]
fn a_change_record_cut_short_stops_start_up_naming_the_record() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let cut = br#"{"tick_pos": 5, "cmd": 2, "change": {"kind": "operation_lifecycle", "op_id": 1, "book": 0"#;
    let (data, seq) = journal_with(tmp.path(), 1, cut);
    let err = refused_start(&data);
    assert!(err.contains(&format!("journal record {seq} (change)")), "{err}");
    assert!(err.contains("EOF while parsing"), "{err}");
    // A change missing a field is refused the same way: no default is invented on replay.
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = br#"{"tick_pos": 5, "cmd": 2, "change": {"kind": "operation_lifecycle", "op_id": 1, "book": 0}}"#;
    let (data, seq) = journal_with(tmp.path(), 1, missing);
    let err = refused_start(&data);
    assert!(err.contains(&format!("journal record {seq} (change)")) && err.contains("missing field `action`"), "{err}");
}
