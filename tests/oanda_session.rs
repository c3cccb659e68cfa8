//! pinion against a fake OANDA v20 server, end to end, for what a trader does after the first trade:
//! the model session on OANDA (its warm-up filled from OANDA's candles, so it is ready in seconds
//! instead of waiting 32 live bars; each rebalance sent once; its positions equal OANDA's trades), and
//! an operation paused and resumed, then its prices stalled and back (`feed_stale` in `/health` and
//! `/session/status`, no entries meanwhile, trading again after); and `CLOSE_ALL` crash recovery closing
//! at OANDA a position whose entry was still unanswered when pinion was SIGKILLed.

mod oanda_support;

use oanda_support::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Units pinion's trades hold at the fake, per instrument.
fn oanda_units(fake: &pinion_io::oanda_fake::FakeOanda) -> i64 {
    fake.account()
        .trades
        .iter()
        .filter(|t| t.client_extensions.as_ref().and_then(|c| c.id.as_deref()).is_some_and(|id| id.starts_with("pinion-")))
        .map(|t| t.units)
        .sum()
}

#[test]
fn a_session_warms_up_from_oandas_candles_in_seconds_and_trades_each_order_once() {
    // 10,000 past ticks: about 150 one-minute candles of history before the stream starts.
    let fake = fake_with_history(30.0, 10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Pinion::start(dir.path(), &fake.base_url());
    poll("prices to flow", Duration::from_secs(30), || p.get("/health")["engine"] == "running");
    let cfg = json!({ "symbols": ["AUD_USD"], "model_path": "example", "target_capital_usd": 20000 });
    let (st, body) = p.req("POST", "/session/config", Some(&cfg));
    assert_eq!(st, 200, "{body}");
    let asked = Instant::now();
    let (st, body) = p.req("POST", "/session/start", Some(&json!({ "cold_start_timeout_sec": 60 })));
    assert_eq!(st, 202, "{body}");
    // Live bars alone would take 32 bars x 2 s = 64 s at 30x; the candles make it ready at once.
    poll("the session to be running", Duration::from_secs(30), || p.get("/session/status")["state"] == "running");
    let ready_in = asked.elapsed();
    assert!(p.log().contains("bars of AUD_USD from oanda"), "{}", p.log());
    let st = p.get("/session/status");
    assert_eq!((st["warmup"]["ready"].as_bool(), st["feed_stale"].as_bool()), (Some(true), Some(false)), "{st}");

    poll("session orders filled at OANDA", Duration::from_secs(90), || {
        let st = p.get("/session/status");
        st["decisions"].as_u64().unwrap_or(0) >= 3 && oanda_units(&fake) != 0
    });
    let (st, body) = p.req("POST", "/session/stop", Some(&json!({})));
    assert_eq!(st, 200, "{body}");
    // Once nothing awaits OANDA, pinion's session position is OANDA's, and every order went once.
    poll("the session position to equal OANDA's", Duration::from_secs(30), || {
        let st = p.get("/session/status");
        let units: f64 = st["open_positions"].as_array().map_or(0.0, |rows| rows.iter().filter_map(|r| r["units"].as_f64()).sum());
        units as i64 == oanda_units(&fake)
    });
    let counts = fake.order_counts();
    assert!(!counts.is_empty());
    for (client, n) in &counts {
        assert_eq!(*n, 1, "{client} was sent {n} times");
    }
    // Stops and targets rest at OANDA on every trade the session opened.
    for t in fake.account().trades {
        assert!(t.stop_loss.is_some() && t.take_profit.is_some(), "a session trade without its stop and target at OANDA: {t:?}");
    }
    // pinion polls the account every 2 s while stops and targets may fill at OANDA: read both again.
    poll("pinion's balance to match OANDA's", Duration::from_secs(30), || {
        close(p.get("/account/summary")["balance"].as_f64().unwrap_or(-1.0), fake.account().balance.as_f64())
    });
    eprintln!("session ready {ready_in:?} after /session/start; {} orders sent once each", counts.len());
}

fn entries(p: &Pinion, id: u64) -> Vec<Value> {
    p.get(&format!("/api/operations/{id}/orders?limit=1000"))
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|o| o["purpose"] == "ENTRY")
        .collect()
}

#[test]
fn a_paused_operation_sends_no_entry_its_stop_stays_at_oanda_and_trading_resumes_after_stale_prices() {
    let fake = fake(30.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Pinion::start(dir.path(), &fake.base_url());
    poll("prices to flow", Duration::from_secs(30), || p.get("/health")["engine"] == "running");
    let op = json!({ "asset": "AUD_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
        "strategy_config": { "fast": 3, "slow": 8, "trade_size": 1000 }, "stop_loss_type": "PIPS", "stop_loss_value": 30,
        "take_profit_type": "PIPS", "take_profit_value": 30, "crash_recovery_mode": "RESUME" });
    let (st, body) = p.req("POST", "/api/operations", Some(&op));
    assert_eq!(st, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).expect("json")["id"].as_u64().expect("id");
    poll("an entry filled at OANDA", Duration::from_secs(120), || entries(&p, id).iter().any(|o| o["status"] == "FILLED"));

    // Paused: no entry for 3 market minutes; the open trade keeps its stop at OANDA.
    let (st, body) = p.req("POST", &format!("/api/operations/{id}/pause"), Some(&json!({})));
    assert_eq!(st, 200, "{body}");
    let before = entries(&p, id).len();
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(entries(&p, id).len(), before, "an entry while paused");
    for t in fake.account().trades {
        assert!(t.stop_loss.is_some(), "the paused operation's trade lost its stop at OANDA: {t:?}");
    }
    let (st, body) = p.req("POST", &format!("/api/operations/{id}/resume"), Some(&json!({})));
    assert_eq!(st, 200, "{body}");

    // Prices stall: stale after 10 s of silence, no entry meanwhile; then they flow and it trades again.
    fake.faults().stall_pricing(Duration::from_secs(20));
    poll("feed_stale", Duration::from_secs(30), || {
        p.get("/health")["engine"] == "feed_stale" && p.get("/session/status")["feed_stale"] == true
    });
    let during = entries(&p, id).len();
    poll("prices again", Duration::from_secs(60), || {
        p.get("/health")["engine"] == "running" && p.get("/session/status")["feed_stale"] == false
    });
    poll("a new entry after the stall", Duration::from_secs(120), || entries(&p, id).len() > during);
    let (st, body) = p.req("DELETE", &format!("/api/operations/{id}"), None);
    assert_eq!(st, 200, "{body}");
    poll("nothing left open at OANDA", Duration::from_secs(60), || oanda_units(&fake) == 0);
    for (client, n) in fake.order_counts() {
        assert_eq!(n, 1, "{client} was sent {n} times");
    }
}

#[test]
fn close_all_recovery_closes_the_position_at_oanda_after_a_crash() {
    let fake = fake(30.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Pinion::start(dir.path(), &fake.base_url());
    poll("prices to flow", Duration::from_secs(30), || p.get("/health")["engine"] == "running");
    let op = json!({ "asset": "AUD_USD", "bar_sizes": ["1 min"], "strategy_name": "BuyAndHoldStrategy", "strategy_config": {},
        "stop_loss_type": "PIPS", "stop_loss_value": 50, "crash_recovery_mode": "CLOSE_ALL" });
    // OANDA fills the entry but answers late: pinion dies with the entry still SUBMITTED, so its
    // recovery must wait for the lookup of that order before it knows there is a position to close.
    fake.faults().delay_next("POST /orders", 1, Duration::from_secs(30));
    let (st, body) = p.req("POST", "/api/operations", Some(&op));
    assert_eq!(st, 201, "{body}");
    poll("the entry filled at OANDA", Duration::from_secs(120), || oanda_units(&fake) != 0);
    let held = oanda_units(&fake);
    let orders = p.get("/api/operations/1/orders");
    assert!(orders.as_array().is_some_and(|os| os.iter().any(|o| o["status"] == "SUBMITTED")), "{orders}");
    drop(p); // SIGKILL with the answer still on its way

    let p = Pinion::start(dir.path(), &fake.base_url());
    poll("CLOSE_ALL to close the position at OANDA", Duration::from_secs(60), || oanda_units(&fake) == 0);
    poll("pinion's books to agree", Duration::from_secs(30), || {
        p.get("/api/operations/1/positions").as_array().is_some_and(Vec::is_empty)
            && p.get("/api/operations/1/orders").as_array().is_some_and(|os| {
                os.iter().any(|o| o["purpose"] == "RECOVERY" && o["status"] == "FILLED") && os.iter().all(|o| o["status"] != "SUBMITTED")
            })
    });
    assert!(p.log().contains("operation 1: crash recovery waits for the answers to its orders in flight"), "{}", p.log());
    assert!(p.log().contains("crash recovery applied to operation 1: CLOSE_ALL closed AUD_USD"), "{}", p.log());
    for (client, n) in fake.order_counts() {
        assert_eq!(n, 1, "{client} was sent {n} times");
    }
    assert_eq!(fake.order_counts().len(), 2, "the entry and the recovery close, nothing else (held {held})");
}

#[test]
fn an_operation_stopped_with_its_entry_in_flight_leaves_nothing_open_at_oanda() {
    let fake = fake(30.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Pinion::start(dir.path(), &fake.base_url());
    poll("prices to flow", Duration::from_secs(30), || p.get("/health")["engine"] == "running");
    // OANDA fills the entry but answers 3 s late; the operation is stopped meanwhile.
    fake.faults().delay_next("POST /orders", 1, Duration::from_secs(3));
    let op = json!({ "asset": "AUD_USD", "bar_sizes": ["1 min"], "strategy_name": "BuyAndHoldStrategy", "strategy_config": {},
        "stop_loss_type": "PIPS", "stop_loss_value": 50, "crash_recovery_mode": "RESUME" });
    let (st, body) = p.req("POST", "/api/operations", Some(&op));
    assert_eq!(st, 201, "{body}");
    poll("the entry to reach OANDA", Duration::from_secs(60), || !fake.order_counts().is_empty());
    let (st, body) = p.req("DELETE", "/api/operations/1", None);
    assert_eq!(st, 200, "{body}");
    poll("the late fill closed at OANDA", Duration::from_secs(30), || {
        oanda_units(&fake) == 0
            && p.get("/api/operations/1/orders").as_array().is_some_and(|os| {
                os.iter().any(|o| o["purpose"] == "ENTRY" && o["status"] == "FILLED") && os.iter().all(|o| o["status"] != "SUBMITTED")
            })
    });
    assert_eq!(p.get("/api/operations/1/positions").as_array().map(Vec::len), Some(0));
    for (client, n) in fake.order_counts() {
        assert_eq!(n, 1, "{client} was sent {n} times");
    }
}
