//! End-to-end test of the live event export (`pinion serve --events-to`): with a real nats-server
//! stopped and restarted while an operation trades, every journaled order, fill, trade, change and
//! account mark reaches the JetStream stream exactly once, in journal order, with the journal's payload.

mod nats_support;
#[allow(dead_code)]
#[path = "crash_support/server.rs"]
mod server;

use nats_support::Nats;
use pinion_io::journal::JournalReader;
use serde_json::json;
use server::Server;
use std::time::{Duration, Instant};

const NODE: &str = "node-a";

/// Journal records the export publishes (changes, events and account marks), as (seq, payload).
fn journaled(data: &std::path::Path) -> Vec<(u64, Vec<u8>)> {
    JournalReader::open(data.join("journal"), 0)
        .expect("opening the journal")
        .map(|r| r.expect("a journal record"))
        .filter(|r| matches!(r.kind, 1 | 21 | 23))
        .map(|r| (r.seq, r.payload))
        .collect()
}

fn exported(nats: &Nats) -> Vec<pinion_bus::export::ExportedEvent> {
    pinion_bus::export::read_all(&nats.url(), NODE).expect("reading the events stream")
}

/// What is exported so far (nothing while the export has not created its stream yet).
fn exported_so_far(nats: &Nats) -> Vec<pinion_bus::export::ExportedEvent> {
    pinion_bus::export::read_all(&nats.url(), NODE).unwrap_or_default()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_journaled_event_is_exported_once_in_order_across_a_nats_outage() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut nats = Nats::start();
    let env = [("PINION_EVENTS_TO", nats.url()), ("PINION_NODE", NODE.to_string())];
    let mut srv = Server::start(&data, &dir.path().join("serve.log"), 50.0, &env);
    let body = json!({
        "asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
        "strategy_config": { "fast": 2, "slow": 5, "trade_size": 1000 },
    });
    srv.post("/api/operations", &body, 201);
    wait_for("fills exported", Duration::from_secs(60), || exported_so_far(&nats).iter().any(|e| e.subject.ends_with(".fill")));

    // NATS goes away while the operation keeps trading; the core and the journal do not wait.
    let before = exported(&nats).last().map_or(0, |e| e.seq);
    nats.stop();
    std::thread::sleep(Duration::from_secs(3));
    let journal_during = journaled(&data).last().map_or(0, |r| r.0);
    assert!(journal_during > before, "the journal went on during the outage");
    nats.restart();
    wait_for("the export to catch up", Duration::from_secs(60), || exported_so_far(&nats).last().is_some_and(|e| e.seq >= journal_during));

    // Caught up with the journal as it is now, so the stop drains only a short tail.
    let journal_now = journaled(&data).last().map_or(0, |r| r.0);
    wait_for("the export to reach the journal's end", Duration::from_secs(60), || {
        exported_so_far(&nats).last().is_some_and(|e| e.seq >= journal_now)
    });
    srv.signal("TERM");
    let (status, _) = srv.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "pinion serve exited with {status}");

    let want = journaled(&data);
    let got = exported(&nats);
    assert!(want.len() > 10, "the operation traded");
    let seqs: Vec<u64> = got.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "exported in journal order, each once");
    assert_eq!(seqs, want.iter().map(|r| r.0).collect::<Vec<_>>(), "every journaled event exported");
    for (e, (seq, payload)) in got.iter().zip(&want) {
        assert_eq!(&e.payload, payload, "payload of record {seq}");
        assert!(e.subject.starts_with(&format!("pinion.{NODE}.events.")), "{}", e.subject);
    }
    assert!(got.iter().any(|e| e.subject.ends_with(".operation_created")));
    assert!(got.iter().any(|e| e.subject.ends_with(".order")));
    // The account, marked once a second, during the outage too.
    let marks: Vec<_> = got.iter().filter(|e| e.subject.ends_with(".account_mark")).collect();
    assert!(marks.len() >= 3 && marks.iter().any(|e| e.seq > before && e.seq <= journal_during), "{} marks", marks.len());
    for m in &marks {
        let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("a mark is JSON");
        assert!(v["NAV"].is_string() || v["NAV"].is_number(), "{v}");
        assert!(v["balance"].is_string() || v["balance"].is_number(), "{v}");
    }
    assert!(got.iter().any(|e| e.seq > before && e.seq <= journal_during), "records of the outage were exported after it");
}
