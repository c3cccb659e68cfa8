//! History beyond the read model's window, end to end: with a window of 25 rows per list, an operation
//! trades hundreds of orders; a `before_id` cursor walks its orders while new ones arrive with no
//! duplicate and no gap across the window/SQLite boundary; the account's trade list pages the same way;
//! and after a graceful stop and a restart every order, fill and trade is served again, the older ones
//! from `history.sqlite3`, with the same content.

#[path = "crash_support/server.rs"]
mod server;

use serde_json::{json, Value};
use server::Server;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const WINDOW: &str = "25";

fn poll(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < within, "timed out after {within:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Walks `path` with a `before_id` cursor, `limit` rows a page; asserts ids strictly fall.
fn walk(s: &Server, path: &str, limit: usize) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut cursor: Option<u64> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match cursor {
            Some(c) => format!("{path}{sep}limit={limit}&before_id={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let page = s.get(&url);
        let rows = page.as_array().unwrap_or_else(|| panic!("GET {url}: {page}")).clone();
        for r in &rows {
            let id: u64 = r["id"].as_u64().or_else(|| r["id"].as_str().and_then(|v| v.parse().ok())).expect("row id");
            if let Some(prev) = out.last() {
                let p: u64 = prev["id"].as_u64().or_else(|| prev["id"].as_str().and_then(|v| v.parse().ok())).expect("row id");
                assert!(id < p, "GET {url}: id {id} after {p} (a duplicate or out of order)");
            }
            out.push(r.clone());
        }
        if rows.len() < limit {
            return out;
        }
        let last = out.last().expect("a row");
        cursor = Some(last["id"].as_u64().or_else(|| last["id"].as_str().and_then(|v| v.parse().ok())).expect("row id"));
    }
}

fn by_id(rows: Vec<Value>) -> BTreeMap<String, Value> {
    rows.into_iter().map(|r| (r["id"].to_string(), r)).collect()
}

#[test]
fn pages_beyond_the_window_come_from_sqlite_without_duplicate_or_gap_and_survive_a_restart() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let env = [("PINION_HISTORY_WINDOW", WINDOW.to_string())];
    let mut srv = Server::start(&data, &tmp.path().join("stderr-1.log"), 400.0, &env);
    let op = json!({ "asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
        "strategy_config": { "fast": 2, "slow": 5, "trade_size": 1000 }, "stop_loss_type": "PIPS", "stop_loss_value": 5,
        "crash_recovery_mode": "RESUME" });
    let id = srv.post("/api/operations", &op, 201)["id"].as_u64().expect("operation id");
    let orders_path = format!("/api/operations/{id}/orders");
    poll("200 orders", Duration::from_secs(120), || srv.all_pages(&orders_path, true).len() >= 200);

    // A cursor walk while orders keep arriving: every id below the first page's top, exactly once.
    let walked = walk(&srv, &orders_path, 30);
    let top = walked[0]["id"].as_u64().expect("id");
    let later: BTreeSet<u64> = srv.all_pages(&orders_path, true).iter().filter_map(|o| o["id"].as_u64()).filter(|&i| i <= top).collect();
    let seen: BTreeSet<u64> = walked.iter().filter_map(|o| o["id"].as_u64()).collect();
    assert_eq!(seen, later, "the cursor walk missed or added orders");
    assert!(seen.len() > 150, "the walk crossed the window: {} orders", seen.len());
    // The account's trades, open and closed, the same way.
    let trades = walk(&srv, "/account/trades", 40);
    assert!(trades.len() > 30, "the walk crossed the window of 25: {} account trades", trades.len());

    // A graceful stop, a restart: the same history, served past the window from the database.
    srv.signal("TERM");
    srv.wait_exit(Duration::from_secs(60));
    let stopped_orders = by_id(walked);
    let srv = Server::start(&data, &tmp.path().join("stderr-2.log"), 400.0, &env);
    assert!(data.join("history.sqlite3").exists(), "no history database in the data directory");
    let after = by_id(srv.all_pages(&orders_path, true));
    for (k, o) in &stopped_orders {
        let got = after.get(k).unwrap_or_else(|| panic!("order {k} lost across the restart"));
        for f in ["side", "type", "purpose", "quantity", "created_at", "instrument", "operation_id"] {
            assert_eq!(got[f], o[f], "order {k} field {f}");
        }
    }
    for what in ["transactions", "trades"] {
        let path = format!("/api/operations/{id}/{what}");
        let rows = walk(&srv, &path, 100);
        assert!(rows.len() > 50, "{what}: {} rows after the restart", rows.len());
        // Trading goes on after the restart: compare the rows up to the walk's newest.
        let newest = rows.first().and_then(|r| r["id"].as_u64()).unwrap_or(0);
        let offset_rows: Vec<Value> =
            srv.all_pages(&path, false).into_iter().filter(|r| r["id"].as_u64().is_some_and(|i| i <= newest)).collect();
        assert_eq!(
            by_id(rows).keys().collect::<Vec<_>>(),
            by_id(offset_rows).keys().collect::<Vec<_>>(),
            "{what}: cursor and offset paging differ"
        );
    }
    // The list first, the stats after: trades only ever add up, so the stats count at least as many.
    let closed = srv.all_pages(&format!("/api/operations/{id}/trades"), false).len() as u64;
    let stats = srv.get(&format!("/api/operations/{id}/stats"));
    assert!(stats["total_trades"].as_u64().is_some_and(|n| n >= closed && n > 0), "stats {stats} vs {closed} trades listed");
}
