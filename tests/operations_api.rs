//! End-to-end tests of the operations API against a real `pinion serve` (the bundled EUR_USD and
//! AUD_USD samples replayed looped and fast) with a real HTTP client: the full lifecycle of an
//! operation and the consistency of its orders, transactions, trades, positions and stats; two
//! operations on one asset; every 400/404/405/409 answer. (The OpenAPI document against the routes:
//! `openapi_contract.rs`.)

mod common;

use common::{iso_secs, poll, Resp, Server};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Replay speed of the trading tests: one minute bar every 0.2 s, the 12-hour sample in ~2.4 min.
const SPEED: f64 = 300.0;
const WAIT: Duration = Duration::from_secs(20);
/// The content type every POST sends.
const JSON: Option<&str> = Some("application/json");

/// An operation that trades at once: a tick-level EMA cross (always in the market once its EMAs are
/// ready) with a 10-pip stop, so nothing waits for an ATR.
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

fn create(s: &Server, body: &Value) -> Value {
    let r = s.post_json("/api/operations", body);
    assert_eq!(r.status, 201, "creating {body}: {} (server: {})", r.text, s.stderr_tail());
    r.json()
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("`{k}` is not a number in {v}"))
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("`{k}` is not a string in {v}"))
}

fn arr(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => panic!("expected an array, got {other}"),
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// Newest first: ids strictly decreasing, and the time field never increasing.
fn assert_newest_first(items: &[Value], time_field: &str, what: &str) {
    for w in items.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert!(a["id"].as_u64() > b["id"].as_u64(), "{what} not newest first by id: {} then {}", a["id"], b["id"]);
        assert!(iso_secs(text(a, time_field)) >= iso_secs(text(b, time_field)), "{what} not newest first by {time_field}: {a} then {b}");
    }
}

fn check_order(o: &Value, op: u64, asset: &str) {
    assert!(o["id"].as_u64().is_some(), "order id: {o}");
    assert_eq!(o["operation_id"], json!(op), "order of another operation: {o}");
    assert_eq!(text(o, "instrument"), asset, "{o}");
    assert!(matches!(text(o, "side"), "BUY" | "SELL"), "{o}");
    assert!(matches!(text(o, "type"), "MARKET" | "LIMIT" | "STOP"), "{o}");
    assert!(matches!(text(o, "purpose"), "ENTRY" | "EXIT" | "STOP_LOSS" | "TAKE_PROFIT" | "CLOSE" | "RECOVERY" | "REBALANCE"), "{o}");
    assert!(num(o, "quantity") > 0.0, "{o}");
    iso_secs(text(o, "created_at"));
    iso_secs(text(o, "updated_at"));
    match text(o, "status") {
        "FILLED" | "PARTIALLY_FILLED" => assert!(num(o, "price") > 0.0, "a filled order has a price: {o}"),
        "REJECTED" => assert!(!text(o, "reason").is_empty(), "a rejected order has a reason: {o}"),
        "PENDING" | "CANCELLED" => {}
        other => panic!("unknown order status {other}: {o}"),
    }
    if matches!(text(o, "type"), "LIMIT" | "STOP") {
        assert!(num(o, "trigger_price") > 0.0, "a {} order has a trigger price: {o}", o["type"]);
    }
}

fn check_transaction(t: &Value, op: u64, asset: &str) {
    assert_eq!(t["operation_id"], json!(op), "{t}");
    assert_eq!(text(t, "instrument"), asset, "{t}");
    let (side, action, pos) = (text(t, "side"), text(t, "action"), text(t, "position_side"));
    let expected_side = match (action, pos) {
        ("ENTRY", "LONG") | ("EXIT", "SHORT") => "BUY",
        ("ENTRY", "SHORT") | ("EXIT", "LONG") => "SELL",
        _ => panic!("action must be ENTRY/EXIT and position_side LONG/SHORT: {t}"),
    };
    assert_eq!(side, expected_side, "{action} of a {pos} position: {t}");
    assert!(num(t, "price") > 0.0 && num(t, "quantity") > 0.0, "{t}");
    assert!(num(t, "commission") >= 0.0, "{t}");
    if action == "ENTRY" {
        assert_eq!(num(t, "profit"), 0.0, "an entry realizes nothing: {t}");
        assert_eq!(num(t, "profit_pct"), 0.0, "{t}");
    }
    assert!(t["order_id"].as_u64().is_some(), "{t}");
    iso_secs(text(t, "executed_at"));
}

fn check_trade(t: &Value, op: u64, asset: &str) {
    assert_eq!(t["operation_id"], json!(op), "{t}");
    assert_eq!(text(t, "instrument"), asset, "{t}");
    let dir = match text(t, "side") {
        "LONG" => 1.0,
        "SHORT" => -1.0,
        other => panic!("trade side {other}: {t}"),
    };
    let (entry, exit, qty, pnl) = (num(t, "entry_price"), num(t, "exit_price"), num(t, "quantity"), num(t, "pnl"));
    assert!(entry > 0.0 && exit > 0.0 && qty > 0.0, "{t}");
    assert!(num(t, "duration_seconds") >= 0.0, "{t}");
    let (t0, t1) = (iso_secs(text(t, "entry_time")), iso_secs(text(t, "exit_time")));
    assert!(t1 >= t0, "exit before entry: {t}");
    assert!(close(num(t, "duration_seconds"), t1 - t0, 1e-3), "duration is exit - entry: {t}");
    // EUR-USD and AUD-USD are quoted in USD: pnl is the price move times the units, in cents.
    assert!(close(pnl, (exit - entry) * qty * dir, 0.011), "pnl {pnl} vs ({exit} - {entry}) * {qty} * {dir}: {t}");
    assert!(num(t, "total_commission") >= 0.0, "{t}");
    assert!(close(num(t, "net_pnl"), pnl - num(t, "total_commission"), 0.0051), "{t}");
    assert!(close(num(t, "pnl_pct"), (exit - entry) / entry * 100.0 * dir, 5.1e-5), "pnl_pct in percent, 4 decimals: {t}");
}

fn check_position(p: &Value, op: u64, asset: &str) {
    assert_eq!(p["operation_id"], json!(op), "{p}");
    assert_eq!(text(p, "instrument"), asset, "{p}");
    let dir = match text(p, "side") {
        "LONG" => 1.0,
        "SHORT" => -1.0,
        other => panic!("position side {other}: {p}"),
    };
    let entry = num(p, "entry_price");
    assert!(entry > 0.0 && num(p, "quantity") > 0.0, "{p}");
    num(p, "unrealized_pnl");
    iso_secs(text(p, "opened_at"));
    // PIPS 10 on EUR-USD is 0.0010; RISK_REWARD 2.0 puts the target twice as far on the other side.
    let (sl, tp) = (num(p, "stop_loss"), num(p, "take_profit"));
    assert!(close(entry - sl, dir * 0.0010, 1.1e-5), "stop 10 pips from the entry: {p}");
    assert!(close(tp - entry, dir * 0.0020, 2.1e-5), "take-profit at 2R: {p}");
}

/// The latest replayed time the server has seen.
fn replay_now(s: &Server) -> f64 {
    iso_secs(text(&s.get_ok("/account/summary"), "asOf"))
}

/// Waits until the replay has moved `secs` of market time past `from`.
fn wait_replay(s: &Server, from: f64, secs: f64) {
    poll(&format!("{secs} s of replayed time"), WAIT, || (replay_now(s) >= from + secs).then_some(()));
}

fn ids_of(list: &[Value]) -> Vec<u64> {
    list.iter().map(|x| x["id"].as_u64().unwrap()).collect()
}

fn expect_status(r: &Resp, status: u16, what: &str) -> String {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    if status >= 400 {
        let d = r.detail();
        assert!(!d.is_empty(), "{what}: empty detail");
        d
    } else {
        String::new()
    }
}

#[test]
fn iso_times_parse() {
    assert_eq!(iso_secs("1970-01-01T00:00:00Z"), 0.0);
    assert!(close(iso_secs("2020-01-30T15:27:51.336000000Z"), 1_580_398_071.336, 1e-6));
}

#[test]
fn operation_lifecycle_end_to_end() {
    let s = Server::start(SPEED);
    assert_eq!(s.fed, vec!["EUR_USD", "AUD_USD"]);

    // Create: 201 with every field, the defaults filled in and the asset echoed as sent.
    let created = create(&s, &ema_op("EUR-USD", 3, 8));
    let id = created["id"].as_u64().expect("id");
    assert!(id > 0);
    for (k, v) in [
        ("asset", json!("EUR-USD")),
        ("bar_sizes", json!(["1 min"])),
        ("primary_bar_size", json!("1 min")),
        ("strategy_name", json!("ema_cross")),
        ("strategy_config", json!({ "fast": 3, "slow": 8, "trade_size": 1000 })),
        ("initial_capital", json!(10000.0)),
        ("stop_loss_type", json!("PIPS")),
        ("stop_loss_value", json!(10.0)),
        ("take_profit_type", json!("RISK_REWARD")),
        ("take_profit_value", json!(2.0)),
        ("crash_recovery_mode", json!("CLOSE_ALL")),
        ("emergency_stop_loss_pct", json!(0.05)),
        ("status", json!("active")),
        ("error", Value::Null),
    ] {
        assert_eq!(created[k], v, "{k} of the created operation {created}");
    }
    num(&created, "current_capital");
    iso_secs(text(&created, "created_at"));
    iso_secs(text(&created, "updated_at"));

    // A minimal request gets every default (ATR 1.5 stop included); stop it at once.
    let minimal = create(&s, &json!({ "asset": "AUD_USD", "bar_sizes": ["5 mins", "1 hour"], "strategy_name": "ema_cross" }));
    let min_id = minimal["id"].as_u64().unwrap();
    assert_ne!(min_id, id);
    for (k, v) in [
        ("asset", json!("AUD_USD")),
        ("primary_bar_size", json!("5 mins")),
        ("initial_capital", json!(10000.0)),
        ("stop_loss_type", json!("ATR")),
        ("stop_loss_value", json!(1.5)),
        ("take_profit_type", json!("RISK_REWARD")),
        ("take_profit_value", json!(2.0)),
        ("crash_recovery_mode", json!("CLOSE_ALL")),
        ("emergency_stop_loss_pct", json!(0.05)),
    ] {
        assert_eq!(minimal[k], v, "default {k}: {minimal}");
    }
    assert_eq!(text(&s.delete(&format!("/api/operations/{min_id}")).json(), "status"), "closed");

    // GET answers the same operation.
    let got = s.get_ok(&format!("/api/operations/{id}"));
    for k in ["id", "asset", "bar_sizes", "strategy_config", "stop_loss_type", "take_profit_type", "created_at"] {
        assert_eq!(got[k], created[k], "{k}");
    }

    // It trades: orders, fills and closed round trips appear.
    let base = format!("/api/operations/{id}");
    poll("three closed trades", WAIT, || (arr(s.get_ok(&format!("{base}/trades"))).len() >= 3).then_some(()));
    let orders = arr(s.get_ok(&format!("{base}/orders?limit=1000")));
    let txs = arr(s.get_ok(&format!("{base}/transactions?limit=1000")));
    let trades = arr(s.get_ok(&format!("{base}/trades?limit=1000")));
    orders.iter().for_each(|o| check_order(o, id, "EUR-USD"));
    txs.iter().for_each(|t| check_transaction(t, id, "EUR-USD"));
    trades.iter().for_each(|t| check_trade(t, id, "EUR-USD"));
    assert_newest_first(&orders, "created_at", "orders");
    assert_newest_first(&txs, "executed_at", "transactions");
    assert_newest_first(&trades, "exit_time", "trades");
    assert!(orders.iter().any(|o| o["status"] == "FILLED" && o["purpose"] == "ENTRY"), "a filled entry");
    assert!(txs.iter().any(|t| t["action"] == "ENTRY") && txs.iter().any(|t| t["action"] == "EXIT"));
    for p in arr(s.get_ok(&format!("{base}/positions"))) {
        check_position(&p, id, "EUR-USD");
    }
    let stats = s.get_ok(&format!("{base}/stats"));
    for k in [
        "total_trades",
        "winning_trades",
        "losing_trades",
        "win_rate",
        "total_pnl",
        "total_pnl_pct",
        "gross_profit",
        "gross_loss",
        "average_win",
        "average_loss",
        "max_drawdown",
        "max_drawdown_pct",
        "total_commission",
        "open_positions",
        "current_capital",
    ] {
        num(&stats, k);
    }
    assert!(stats.get("profit_factor").is_some() && stats.get("sharpe").is_some(), "{stats}");

    // Pause: 200 and paused; from now on no new entries (exits may still happen).
    let paused = s.request("POST", &format!("{base}/pause"), JSON, b"");
    expect_status(&paused, 200, "pause");
    let paused = paused.json();
    assert_eq!(text(&paused, "status"), "paused");
    let paused_at = iso_secs(text(&paused, "updated_at"));
    let before = s.all_pages(&format!("{base}/orders"));
    let entries_before = before.values().filter(|o| o["purpose"] == "ENTRY").count();
    let max_id_before = *before.keys().next_back().unwrap();
    // ema_cross exits on its next reversal (or the stop/target hits) and cannot re-enter.
    poll("the paused operation to be flat", WAIT, || arr(s.get_ok(&format!("{base}/positions"))).is_empty().then_some(()));
    wait_replay(&s, paused_at, 600.0);
    let after = s.all_pages(&format!("{base}/orders"));
    let entries_after = after.values().filter(|o| o["purpose"] == "ENTRY").count();
    assert_eq!(entries_after, entries_before, "ENTRY orders were created while paused");
    for o in after.values() {
        if o["purpose"] == "ENTRY" {
            assert!(o["id"].as_u64().unwrap() <= max_id_before, "entry after the pause: {o}");
            assert!(iso_secs(text(o, "created_at")) <= paused_at, "entry after the pause: {o}");
        }
    }
    assert_eq!(text(&s.get_ok(&base), "status"), "paused");

    // Paused and flat, the books are still: check them against each other in full.
    let orders: BTreeMap<u64, Value> = s.all_pages(&format!("{base}/orders"));
    let txs: BTreeMap<u64, Value> = s.all_pages(&format!("{base}/transactions"));
    let trades: BTreeMap<u64, Value> = s.all_pages(&format!("{base}/trades"));
    let stats = s.get_ok(&format!("{base}/stats"));
    let op = s.get_ok(&base);
    orders.values().for_each(|o| check_order(o, id, "EUR-USD"));
    txs.values().for_each(|t| check_transaction(t, id, "EUR-USD"));
    trades.values().for_each(|t| check_trade(t, id, "EUR-USD"));
    assert!(!orders.values().any(|o| o["status"] == "PENDING"), "a flat book has no pending order");
    for t in txs.values() {
        let o = orders.get(&t["order_id"].as_u64().unwrap()).unwrap_or_else(|| panic!("transaction of an unknown order: {t}"));
        assert!(matches!(text(o, "status"), "FILLED" | "PARTIALLY_FILLED"), "fill of a {} order: {t}", o["status"]);
    }
    let filled_ids: BTreeSet<u64> = txs.values().map(|t| t["order_id"].as_u64().unwrap()).collect();
    for o in orders.values().filter(|o| o["status"] == "FILLED") {
        assert!(filled_ids.contains(&o["id"].as_u64().unwrap()), "a FILLED order without a transaction: {o}");
    }
    let qty = |action: &str| txs.values().filter(|t| t["action"] == action).map(|t| num(t, "quantity")).sum::<f64>();
    let traded: f64 = trades.values().map(|t| num(t, "quantity")).sum();
    assert_eq!(qty("ENTRY"), qty("EXIT"), "flat: every unit entered was exited");
    assert_eq!(qty("EXIT"), traded, "every exited unit is in a trade");
    let n = trades.len() as u64;
    let pnls: Vec<f64> = trades.values().map(|t| num(t, "pnl")).collect();
    // Stats count each trade at its P/L net of commission.
    let nets: Vec<f64> = trades.values().map(|t| num(t, "net_pnl")).collect();
    let tol = 1e-6 * (n as f64 + txs.len() as f64) + 1e-6;
    assert_eq!(stats["total_trades"].as_u64(), Some(n), "total_trades vs the trades list: {stats}");
    assert_eq!(stats["winning_trades"].as_u64(), Some(nets.iter().filter(|p| **p > 0.0).count() as u64), "{stats}");
    assert_eq!(stats["losing_trades"].as_u64(), Some(nets.iter().filter(|p| **p < 0.0).count() as u64), "{stats}");
    assert!(close(num(&stats, "win_rate"), num(&stats, "winning_trades") / n as f64 * 100.0, 1e-4), "win_rate in percent: {stats}");
    let gross_profit: f64 = nets.iter().filter(|p| **p > 0.0).sum();
    let gross_loss: f64 = -nets.iter().filter(|p| **p < 0.0).sum::<f64>();
    assert!(close(num(&stats, "gross_profit"), gross_profit, tol), "gross_profit {gross_profit}: {stats}");
    assert!(close(num(&stats, "gross_loss"), gross_loss, tol), "gross_loss {gross_loss}: {stats}");
    if gross_loss > 0.0 {
        assert!(close(num(&stats, "profit_factor"), gross_profit / gross_loss, 5.1e-5), "{stats}");
    }
    let commission: f64 = txs.values().map(|t| num(t, "commission")).sum();
    assert!(close(num(&stats, "total_commission"), commission, tol), "commission {commission}: {stats}");
    let realized: f64 = pnls.iter().sum();
    assert!(close(num(&stats, "total_pnl"), realized - commission, tol), "total_pnl vs trades and fills: {stats}");
    assert!(close(num(&stats, "current_capital"), 10000.0 + num(&stats, "total_pnl"), tol), "{stats}");
    assert!(close(num(&op, "current_capital"), num(&stats, "current_capital"), 1e-9), "{op} vs {stats}");
    assert_eq!(stats["open_positions"], json!(0));
    assert_eq!(op["open_positions"], json!(0));
    assert!(num(&stats, "max_drawdown") >= 0.0 && num(&stats, "max_drawdown_pct") >= 0.0, "{stats}");

    // limit/offset on every list.
    for (list, all) in [("orders", &orders), ("transactions", &txs), ("trades", &trades)] {
        let newest: Vec<u64> = all.keys().rev().copied().collect();
        assert!(newest.len() >= 3, "{list}: too few to page");
        let page = |q: &str| ids_of(&arr(s.get_ok(&format!("{base}/{list}?{q}"))));
        assert_eq!(page("limit=2"), newest[..2], "{list} limit=2");
        assert_eq!(page("limit=2&offset=1"), newest[1..3], "{list} limit=2&offset=1");
        assert_eq!(page("offset=1&limit=1000"), newest[1..newest.len().min(1001)], "{list} offset=1");
        assert!(page(&format!("offset={}", newest.len())).is_empty(), "{list} past the end");
        let d = expect_status(&s.get(&format!("{base}/{list}?limit=0")), 400, "limit=0");
        assert!(d.contains("limit"), "{d}");
        if newest.len() <= 100 {
            assert_eq!(page(""), newest, "{list} default page");
        } else {
            assert_eq!(page(""), newest[..100], "{list} default limit is 100");
        }
        for q in ["limit=1001", "limit=-1", "limit=abc"] {
            let d = expect_status(&s.get(&format!("{base}/{list}?{q}")), 400, &format!("{list}?{q}"));
            assert!(d.contains("limit"), "{list}?{q}: {d}");
        }
        let d = expect_status(&s.get(&format!("{base}/{list}?offset=x")), 400, "offset=x");
        assert!(d.contains("offset"), "{d}");
    }

    // Status filters while paused.
    let ids = |q: &str| ids_of(&arr(s.get_ok(&format!("/api/operations{q}"))));
    assert!(ids("?status=paused").contains(&id));
    assert!(!ids("?status=active").contains(&id));
    assert_eq!(ids(""), vec![min_id.max(id), min_id.min(id)], "list is newest first");

    // Pause twice is 409; resume is 200 and active; resume twice is 409.
    let d = expect_status(&s.request("POST", &format!("{base}/pause"), JSON, b""), 409, "second pause");
    assert!(d.contains("paused"), "{d}");
    let resumed = s.request("POST", &format!("{base}/resume"), JSON, b"");
    expect_status(&resumed, 200, "resume");
    assert_eq!(text(&resumed.json(), "status"), "active");
    let d = expect_status(&s.request("POST", &format!("{base}/resume"), JSON, b""), 409, "second resume");
    assert!(d.contains("active"), "{d}");

    // Trading again: a new entry and an open position.
    let max_before_resume = *orders.keys().next_back().unwrap();
    poll("an entry after resume and an open position", WAIT, || {
        let o = arr(s.get_ok(&format!("{base}/orders?limit=50")));
        let entered = o.iter().any(|x| x["purpose"] == "ENTRY" && x["id"].as_u64().unwrap() > max_before_resume);
        (entered && !arr(s.get_ok(&format!("{base}/positions"))).is_empty()).then_some(())
    });

    // DELETE: 200 and closed, positions closed at market with a CLOSE order.
    let open_before = arr(s.get_ok(&format!("{base}/positions")));
    let last_order_before = ids_of(&arr(s.get_ok(&format!("{base}/orders?limit=1"))))[0];
    let stopped = s.delete(&base);
    expect_status(&stopped, 200, "DELETE");
    let stopped = stopped.json();
    assert_eq!(text(&stopped, "status"), "closed");
    assert_eq!(stopped["open_positions"], json!(0));
    assert!(arr(s.get_ok(&format!("{base}/positions"))).is_empty(), "positions after DELETE");
    let recent = arr(s.get_ok(&format!("{base}/orders?limit=1000")));
    let closes: Vec<&Value> = recent.iter().filter(|o| o["purpose"] == "CLOSE").collect();
    if !open_before.is_empty() {
        // A CLOSE order, unless the position's stop, target or an exit flattened it between the read
        // and the DELETE (at 300x, 100 ms is half a minute of market).
        let flattened_first = recent.iter().any(|o| {
            o["status"] == "FILLED"
                && o["id"].as_u64().unwrap() > last_order_before
                && matches!(o["purpose"].as_str(), Some("STOP_LOSS" | "TAKE_PROFIT" | "EXIT"))
        });
        assert!(
            flattened_first || closes.iter().any(|o| o["status"] == "FILLED" && o["id"].as_u64().unwrap() > last_order_before),
            "DELETE with an open position ({open_before:?}) sent no filled CLOSE order: {:?}",
            &recent[..recent.len().min(6)]
        );
    }
    assert!(!recent.iter().any(|o| o["status"] == "PENDING"), "pending orders after DELETE");
    // Closed means no more trading.
    let last_after_close = ids_of(&recent)[0];
    wait_replay(&s, replay_now(&s), 300.0);
    assert_eq!(ids_of(&arr(s.get_ok(&format!("{base}/orders?limit=1"))))[0], last_after_close, "orders after close");

    for (method, path, needs) in
        [("DELETE", base.clone(), "closed"), ("POST", format!("{base}/pause"), "closed"), ("POST", format!("{base}/resume"), "closed")]
    {
        let ct = if method == "POST" { JSON } else { None };
        let d = expect_status(&s.request(method, &path, ct, b""), 409, &format!("{method} {path} on a closed operation"));
        assert!(d.contains(needs), "{d}");
    }

    // Lists and overall stats.
    let closed = ids("?status=closed");
    assert!(closed.contains(&id) && closed.contains(&min_id), "{closed:?}");
    assert!(ids("?status=active").is_empty());
    let d = expect_status(&s.get("/api/operations?status=bogus"), 400, "status=bogus");
    assert!(d.contains("status"), "{d}");
    let overall = s.get_ok("/api/stats/overall");
    assert_eq!(overall["total_operations"], json!(2), "{overall}");
    assert_eq!(overall["active_operations"], json!(0), "{overall}");
    let own = s.get_ok(&format!("{base}/stats"));
    assert!(overall["total_trades"].as_u64() >= own["total_trades"].as_u64(), "{overall} vs {own}");
}

#[test]
fn two_operations_on_one_asset_keep_separate_books() {
    let s = Server::start(SPEED);
    let a = create(&s, &ema_op("EUR-USD", 3, 8))["id"].as_u64().unwrap();
    let b = create(&s, &ema_op("EUR_USD", 5, 13))["id"].as_u64().unwrap();
    assert_ne!(a, b);
    let orders = |id: u64| arr(s.get_ok(&format!("/api/operations/{id}/orders?limit=1000")));
    poll("both operations to trade", WAIT, || {
        let ok = [a, b].iter().all(|id| arr(s.get_ok(&format!("/api/operations/{id}/trades"))).len() >= 2);
        ok.then_some(())
    });
    // Fills first, then orders: every fill's order is then in its own book's page (or older than it).
    let txs = |id: u64| arr(s.get_ok(&format!("/api/operations/{id}/transactions?limit=1000")));
    let (ta, tb) = (txs(a), txs(b));
    let (oa, ob) = (orders(a), orders(b));
    oa.iter().for_each(|o| check_order(o, a, "EUR-USD"));
    ob.iter().for_each(|o| check_order(o, b, "EUR_USD"));
    let ia: BTreeSet<u64> = ids_of(&oa).into_iter().collect();
    let ib: BTreeSet<u64> = ids_of(&ob).into_iter().collect();
    assert!(ia.is_disjoint(&ib), "the two operations share orders");
    assert_ne!(ids_of(&oa), ids_of(&ob));
    for (id, asset, own, other, fills) in [(a, "EUR-USD", &ia, &ib, &ta), (b, "EUR_USD", &ib, &ia, &tb)] {
        for t in fills {
            check_transaction(t, id, asset);
            let oid = t["order_id"].as_u64().unwrap();
            assert!(!other.contains(&oid), "fill of the other book's order: {t}");
            assert!(own.contains(&oid) || oid < *own.iter().next().unwrap(), "fill of an order not in its book: {t}");
        }
        for t in arr(s.get_ok(&format!("/api/operations/{id}/trades?limit=1000"))) {
            check_trade(&t, id, asset);
        }
        for p in arr(s.get_ok(&format!("/api/operations/{id}/positions"))) {
            check_position(&p, id, asset);
        }
    }
    // Each book's position shows in the account view under its own operation.
    poll("both books to hold a position", WAIT, || {
        let holders: BTreeSet<u64> = arr(s.get_ok("/account/positions"))
            .iter()
            .filter(|r| r["instrument"] == "EUR_USD")
            .filter_map(|r| r["holder"]["operation_id"].as_u64())
            .collect();
        (holders.contains(&a) && holders.contains(&b)).then_some(())
    });
    // Stopping one leaves the other trading.
    assert_eq!(text(&s.delete(&format!("/api/operations/{a}")).json(), "status"), "closed");
    let last_b = ids_of(&orders(b))[0];
    poll("the other operation to keep trading", WAIT, || (ids_of(&orders(b))[0] > last_b).then_some(()));
    assert_eq!(text(&s.get_ok(&format!("/api/operations/{b}")), "status"), "active");
    let overall = s.get_ok("/api/stats/overall");
    assert_eq!(overall["total_operations"], json!(2), "{overall}");
    assert_eq!(overall["active_operations"], json!(1), "{overall}");
}

#[test]
fn bad_requests_are_400_404_405_with_a_detail() {
    let s = Server::start(SPEED);
    let ok = json!({ "asset": "EUR-USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross" });
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let json_cases: Vec<(&str, Value, &str)> = vec![
        ("unknown asset", with("asset", json!("XYZ-ABC")), "asset"),
        ("asset not fed", with("asset", json!("USD_JPY")), "asset"),
        ("asset not a string", with("asset", json!(5)), "asset"),
        ("unknown strategy", with("strategy_name", json!("NoSuchStrategy")), "strategy_name"),
        ("strategy_config unknown key", with("strategy_config", json!({ "bogus": 1 })), "strategy_config"),
        ("strategy_config out of range", with("strategy_config", json!({ "fast": 0 })), "strategy_config"),
        ("strategy_config fast >= slow", with("strategy_config", json!({ "fast": 30, "slow": 20 })), "strategy_config"),
        ("strategy_config not an object", with("strategy_config", json!([1])), "strategy_config"),
        ("bar size not understood", with("bar_sizes", json!(["7 mins"])), "bar_sizes"),
        ("bar sizes empty", with("bar_sizes", json!([])), "bar_sizes"),
        ("bar sizes not a list", with("bar_sizes", json!("1 min")), "bar_sizes"),
        ("primary not in bar_sizes", with("primary_bar_size", json!("1 hour")), "primary_bar_size"),
        ("primary not understood", with("primary_bar_size", json!("an hour")), "primary_bar_size"),
        ("initial_capital 0", with("initial_capital", json!(0)), "initial_capital"),
        ("initial_capital negative", with("initial_capital", json!(-100)), "initial_capital"),
        ("initial_capital a string", with("initial_capital", json!("10000")), "initial_capital"),
        ("unknown stop_loss_type", with("stop_loss_type", json!("TRAILING")), "stop_loss_type"),
        ("stop_loss_value negative", with("stop_loss_value", json!(-1)), "stop_loss_value"),
        ("unknown take_profit_type", with("take_profit_type", json!("MOON")), "take_profit_type"),
        ("unknown crash_recovery_mode", with("crash_recovery_mode", json!("PANIC")), "crash_recovery_mode"),
        ("emergency_stop_loss_pct out of range", with("emergency_stop_loss_pct", json!(2)), "emergency_stop_loss_pct"),
        ("missing asset", without("asset"), "asset"),
        ("missing bar_sizes", without("bar_sizes"), "bar_sizes"),
        ("missing strategy_name", without("strategy_name"), "strategy_name"),
        ("unknown extra field", with("leverage", json!(50)), "leverage"),
    ];
    for (what, body, field) in &json_cases {
        let r = s.post_json("/api/operations", body);
        let d = expect_status(&r, 400, what);
        assert!(d.contains(field), "{what}: detail {d:?} does not name {field}");
    }

    // Bodies that are not a JSON object, or not sent as JSON.
    let valid = ok.to_string();
    let big = format!(r#"{{"asset":"EUR-USD","pad":"{}"}}"#, "x".repeat(70 * 1024));
    let raw_cases: Vec<(&str, Option<&str>, &[u8], &str)> = vec![
        ("non-JSON body", Some("application/json"), b"{not json", "JSON"),
        ("JSON array body", Some("application/json"), b"[1, 2]", "object"),
        ("JSON string body", Some("application/json"), b"\"hello\"", "object"),
        ("empty body", Some("application/json"), b"", "empty"),
        ("text/plain", Some("text/plain"), valid.as_bytes(), "Content-Type"),
        ("form body", Some("application/x-www-form-urlencoded"), b"asset=EUR-USD", "Content-Type"),
        ("no Content-Type", None, valid.as_bytes(), "Content-Type"),
    ];
    for (what, ct, body, needle) in raw_cases {
        let r = s.request("POST", "/api/operations", ct, body);
        let d = expect_status(&r, 400, what);
        assert!(d.contains(needle), "{what}: detail {d:?} does not say {needle:?}");
    }
    // A body over the 64 KiB limit is 413 (refused by the front from its Content-Length).
    let r = s.request("POST", "/api/operations", Some("application/json"), big.as_bytes());
    let d = expect_status(&r, 413, "body over 64 KiB");
    assert!(d.contains("too large"), "body over 64 KiB: detail {d:?}");
    // Content-Type with parameters is still JSON (and this one is valid: the server is still up).
    let r = s.request("POST", "/api/operations", Some("application/json; charset=utf-8"), valid.as_bytes());
    expect_status(&r, 201, "JSON with a charset");
    let live = r.json()["id"].as_u64().unwrap();

    // Malformed ids are 400 and unknown ids 404, on every sub-route.
    let routes = [
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/pause"),
        ("POST", "/resume"),
        ("GET", "/positions"),
        ("GET", "/transactions"),
        ("GET", "/trades"),
        ("GET", "/orders"),
        ("GET", "/stats"),
    ];
    for (method, sub) in routes {
        // POST always sends JSON (every POST needs the content type, bodyless ones too).
        let ct = if method == "POST" { JSON } else { None };
        for bad in ["abc", "0", "-1", "1.5", "99999999999999999999999"] {
            let path = format!("/api/operations/{bad}{sub}");
            let d = expect_status(&s.request(method, &path, ct, b""), 400, &format!("{method} {path}"));
            assert!(d.contains("id"), "{method} {path}: {d}");
        }
        let path = format!("/api/operations/999999{sub}");
        let d = expect_status(&s.request(method, &path, ct, b""), 404, &format!("{method} {path}"));
        assert!(d.contains("999999"), "{method} {path}: {d}");
    }

    // Unknown routes are 404; a known path with the wrong method is 405.
    for path in ["/api/nope", "/api/operations/1/bogus", "/nope", "/api", "/api/stats"] {
        let d = expect_status(&s.get(path), 404, path);
        assert!(d.contains("no route"), "{path}: {d}");
    }
    for (method, path) in [
        ("PUT", "/api/operations".to_string()),
        ("DELETE", "/api/operations".to_string()),
        ("PATCH", format!("/api/operations/{live}")),
        ("GET", format!("/api/operations/{live}/pause")),
        ("POST", format!("/api/operations/{live}/orders")),
        ("POST", "/api/stats/overall".to_string()),
        ("POST", "/health".to_string()),
    ] {
        let d = expect_status(&s.request(method, &path, None, b""), 405, &format!("{method} {path}"));
        assert!(d.contains(method), "{method} {path}: {d}");
    }

    // Only the one valid request created anything.
    assert_eq!(ids_of(&arr(s.get_ok("/api/operations"))), vec![live]);
}
