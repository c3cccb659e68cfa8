//! Snapshots end to end: a server taking snapshots while it trades is SIGKILLed, its newest snapshot is
//! damaged, and the restart falls back to the older snapshot (logging why), re-executes from there, and
//! shows every transaction, operation and setting clients saw before the kill; a restart after that
//! resumes from the snapshot the previous start wrote.

#[path = "crash_support/server.rs"]
mod server;

use serde_json::{json, Value};
use server::{tail, Server};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn snapshots(data: &Path) -> Vec<(u64, PathBuf)> {
    let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(data.join("snapshots"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    let seq = name.strip_prefix("snapshot-")?.strip_suffix(".snap")?.parse().ok()?;
                    Some((seq, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn op(asset: &str) -> Value {
    json!({ "asset": asset, "bar_sizes": ["1 min", "5 mins"], "strategy_name": "ema_cross",
        "strategy_config": { "fast": 10, "slow": 40, "trade_size": 10000 }, "stop_loss_type": "PIPS", "stop_loss_value": 10,
        "take_profit_type": "RISK_REWARD", "take_profit_value": 2, "crash_recovery_mode": "RESUME" })
}

/// Every transaction of every operation, by id.
fn transactions(srv: &Server, ops: &[u64]) -> Vec<Value> {
    ops.iter().flat_map(|id| srv.all_pages(&format!("/api/operations/{id}/transactions"), false)).collect()
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_older_one() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let log = |n: u32| tmp.path().join(format!("stderr-{n}.log"));
    let env = [("PINION_SNAPSHOT_EVERY_SECS", "0.2".to_string())];

    let mut srv = Server::start(&data, &log(0), 1000.0, &env);
    let ops: Vec<u64> =
        ["EUR_USD", "AUD_USD"].iter().map(|a| srv.post("/api/operations", &op(a), 201)["id"].as_u64().expect("operation id")).collect();
    srv.post("/api/operations/2/pause", &json!({}), 200);
    srv.post("/risk/update", &json!({ "max_concurrent_positions": 7 }), 200);
    // Trade until there are fills and at least two snapshots taken after the changes above.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let fills = transactions(&srv, &ops).len();
        let taken = std::fs::read_to_string(log(0)).unwrap_or_default().matches(") taken in").count();
        if fills >= 6 && taken >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "no trading or no snapshots: {fills} fills, {taken} snapshots\n{}", tail(&log(0), 20));
        std::thread::sleep(Duration::from_millis(200));
    }
    let seen = transactions(&srv, &ops);
    srv.kill();

    let snaps = snapshots(&data);
    // Two are kept; a third can be there when the kill came between a write and its prune.
    assert!((2..=3).contains(&snaps.len()), "the two newest snapshots are kept: {snaps:?}");
    let (older, newest) = (snaps[snaps.len() - 2].0, &snaps[snaps.len() - 1].1);
    let mut bytes = std::fs::read(newest).expect("reading the newest snapshot");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(newest, &bytes).expect("damaging the newest snapshot");

    let srv = Server::start(&data, &log(1), 1000.0, &[]);
    let started = std::fs::read_to_string(log(1)).unwrap_or_default();
    assert!(started.contains("ignoring snapshot"), "the damaged snapshot is reported:\n{}", tail(&log(1), 20));
    assert!(
        started.contains(&format!("snapshot at journal seq {older} ")),
        "recovery starts from the older snapshot:\n{}",
        tail(&log(1), 20)
    );
    let after = transactions(&srv, &ops);
    for t in &seen {
        assert!(after.iter().any(|a| a == t), "transaction shown before the kill is gone or changed after the restart: {t}");
    }
    assert_eq!(srv.get("/api/operations/1")["status"], json!("active"));
    assert_eq!(srv.get("/api/operations/2")["status"], json!("paused"));
    assert_eq!(srv.get("/risk")["risk"]["max_concurrent_positions"], json!(7), "{}", srv.get("/risk"));
    drop(srv);

    // The next start resumes from the snapshot this start wrote (its newest).
    let newest_now = snapshots(&data).last().expect("a snapshot").0;
    let srv = Server::start(&data, &log(2), 1000.0, &[]);
    let started = std::fs::read_to_string(log(2)).unwrap_or_default();
    assert!(started.contains(&format!("snapshot at journal seq {newest_now} ")), "{}", tail(&log(2), 20));
    assert!(!started.contains("ignoring snapshot"), "{}", tail(&log(2), 20));
    let again = transactions(&srv, &ops);
    for t in &after {
        assert!(again.iter().any(|a| a == t), "transaction lost on the second restart: {t}");
    }
}
