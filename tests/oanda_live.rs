//! pinion against a fake OANDA v20 server (`pinion_io::oanda_fake`, fed from `../shared/data` ticks),
//! end to end, as a trader runs it: `pinion serve` with `PINION_BROKER=oanda` and the three account
//! variables. A wrong token stops start-up with OANDA's message (and never the token); prices stream
//! into the engine; `/account/summary` is the fake's account truth and `/symbols/oanda` its instruments;
//! a dropped stream shows `feed_stale` in `/health` and recovers by itself, and so does a stalled one
//! after 10 s of silence; the token appears in no answer and no log line. An operation trades live:
//! every order reaches OANDA exactly once under pinion's client id, fills at OANDA's price, and stops
//! OANDA fills on its own are booked by pinion.

mod oanda_support;

use oanda_support::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[test]
fn a_wrong_token_stops_start_up_with_oandas_message_and_never_the_token() {
    let fake = fake(1.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("stderr.log");
    let wrong = "wrong-token-55c1d0";
    let mut child = spawn(dir.path(), &fake.base_url(), wrong, &log);
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "pinion kept running with a wrong token");
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!status.success(), "{text}");
    assert!(text.contains("OANDA refused the token") && text.contains(ACCOUNT), "{text}");
    assert!(!text.contains(wrong), "the token is in the log: {text}");
}

#[test]
fn prices_stream_in_the_account_is_oandas_and_a_dropped_or_silent_stream_recovers() {
    let fake = fake(20.0);
    // A trade opened before pinion starts, outside it; and OANDA busy at first (503s are retried).
    let before = fake.open_trade_outside("AUD_USD", -2000, None, None).expect("a trade outside pinion");
    fake.faults().fail_next_503("/summary", 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Pinion::start(dir.path(), &fake.base_url());
    assert!(p.log().contains(&format!("OANDA trade {before} (AUD_USD -2000 units")) && p.log().contains("left alone"), "{}", p.log());
    poll("prices to flow", Duration::from_secs(30), || p.get("/health")["engine"] == "running");
    let h = p.get("/health");
    assert_eq!((h["broker"].as_str(), h["environment"].as_str()), (Some("oanda"), Some("practice")), "{h}");

    // The account is OANDA's (as pinion last polled it, every 2 s, while prices move NAV: read both
    // again until one poll matches).
    poll("pinion's summary to match OANDA's account", Duration::from_secs(30), || {
        let truth = fake.account();
        let s = p.get("/account/summary");
        assert_eq!(s["accountId"], json!(ACCOUNT), "{s}");
        close(s["balance"].as_f64().unwrap_or(-1.0), truth.balance.as_f64())
            && close(s["NAV"].as_f64().unwrap_or(-1.0), truth.nav.as_f64())
            && close(s["marginUsed"].as_f64().unwrap_or(-1.0), truth.margin_used.as_f64())
    });
    let symbols = p.get("/symbols/oanda");
    assert_eq!(symbols["source"], "broker", "{symbols}");
    let aud = symbols["instruments"].as_array().expect("list").iter().find(|i| i["name"] == "AUD_USD").cloned().expect("AUD_USD");
    assert_eq!(aud["fed"], true, "{aud}");

    // A trade opened outside pinion: reported with OANDA's id and no holder, and left alone.
    let outside = fake.open_trade_outside("AUD_USD", -1000, None, None).expect("a trade outside pinion");
    poll("the outside trade in /account/trades", Duration::from_secs(30), || {
        p.get("/account/trades").as_array().is_some_and(|rows| rows.iter().any(|r| r["id"] == json!(outside.to_string())))
    });
    let row =
        p.get("/account/trades").as_array().expect("rows").iter().find(|r| r["id"] == json!(outside.to_string())).cloned().expect("row");
    assert_eq!((row["units"].as_f64(), row["status"].as_str(), row["holder"].is_null()), (Some(-1000.0), Some("OPEN"), true), "{row}");
    let positions = p.get("/account/positions");
    assert!(positions.as_array().expect("rows").iter().any(|r| r["instrument"] == "AUD_USD"), "{positions}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(fake.account().trades.iter().any(|t| t.id == outside), "pinion touched a trade it did not open");

    // A dropped stream: feed_stale, then prices again by themselves.
    let mut saw_stale = false;
    assert!(fake.faults().drop_pricing_streams() >= 1, "no stream to drop");
    poll("prices to flow again after a drop", Duration::from_secs(30), || {
        let h = p.get("/health");
        saw_stale |= h["engine"] == "feed_stale";
        saw_stale && h["engine"] == "running"
    });
    // The reconnect reconciles with OANDA at once: the trade opened outside since start is reported.
    poll("the outside trade reported by the reconciliation", Duration::from_secs(30), || {
        p.log().contains(&format!("OANDA trade {outside} (AUD_USD -1000 units")) && p.log().contains("left alone")
    });
    // A silent stream (no price, no heartbeat): dropped after 10 s, then recovered.
    fake.faults().stall_pricing(Duration::from_secs(13));
    poll("feed_stale after 10 s of silence", Duration::from_secs(20), || {
        let h = p.get("/health");
        h["engine"] == "feed_stale" && h["detail"].as_str().is_some_and(|d| d.contains("no price or heartbeat"))
    });
    poll("prices after the stall", Duration::from_secs(30), || p.get("/health")["engine"] == "running");
    let log = p.log();
    assert!(log.contains("OANDA prices stale") && log.contains("OANDA prices flow"), "{log}");
    assert!(!log.contains(TOKEN), "the token is in the log");
}

#[test]
fn an_operation_trades_live_each_order_once_at_oandas_price_and_stops_at_oanda_are_booked() {
    let fake = fake(30.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Pinion::start(dir.path(), &fake.base_url());
    poll("prices to flow", Duration::from_secs(30), || p.get("/health")["engine"] == "running");
    let op = json!({ "asset": "AUD_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
        "strategy_config": { "fast": 20, "slow": 60, "trade_size": 1000 }, "stop_loss_type": "PIPS", "stop_loss_value": 2,
        "take_profit_type": "PIPS", "take_profit_value": 2, "crash_recovery_mode": "RESUME" });
    let (st, body) = p.req("POST", "/api/operations", Some(&op));
    assert_eq!(st, 201, "{body}");
    let id: u64 = serde_json::from_str::<Value>(&body).expect("json")["id"].as_u64().expect("id");
    let orders = |p: &Pinion| p.get(&format!("/api/operations/{id}/orders?limit=1000")).as_array().cloned().unwrap_or_default();
    poll("entries filled at OANDA and a stop or target filled by OANDA", Duration::from_secs(120), || {
        let os = orders(&p);
        let entries = os.iter().filter(|o| o["purpose"] == "ENTRY" && o["status"] == "FILLED").count();
        let by_oanda =
            os.iter().filter(|o| matches!(o["purpose"].as_str(), Some("STOP_LOSS" | "TAKE_PROFIT")) && o["status"] == "FILLED").count();
        entries >= 2 && by_oanda >= 1
    });
    // Stop the operation (its position closes at OANDA too), then compare with OANDA's books.
    let (st, body) = p.req("DELETE", &format!("/api/operations/{id}"), None);
    assert_eq!(st, 200, "{body}");
    poll("nothing awaiting OANDA", Duration::from_secs(30), || orders(&p).iter().all(|o| o["status"] != "SUBMITTED"));
    std::thread::sleep(Duration::from_millis(500));
    let fills = pinion_fills(&fake);
    for (client, n) in fake.order_counts() {
        assert_eq!(n, 1, "{client} was sent {n} times");
    }
    let mine: Vec<Value> = orders(&p)
        .into_iter()
        .filter(|o| o["status"] == "FILLED" && !matches!(o["purpose"].as_str(), Some("STOP_LOSS" | "TAKE_PROFIT")))
        .collect();
    assert!(!mine.is_empty());
    for o in &mine {
        let client = fills
            .iter()
            .find(|(c, _)| c.ends_with(&format!("-{}", o["id"])))
            .unwrap_or_else(|| panic!("pinion order {o} has no fill at OANDA"));
        let oanda: f64 = client.1.parse().expect("price");
        assert!((o["price"].as_f64().unwrap_or(0.0) - oanda).abs() < 1e-9, "pinion booked {o} at another price than OANDA's {oanda}");
    }
    assert!(
        fake.account().trades.iter().all(|t| !format!("{t:?}").contains("pinion-")),
        "a pinion trade is still open at OANDA: {:?}",
        fake.account().trades
    );
    let positions = p.get(&format!("/api/operations/{id}/positions"));
    assert_eq!(positions.as_array().map(Vec::len), Some(0), "{positions}");

    // The live feed and broker in /metrics: ticks received, connected, and OANDA's round trips.
    let (st, metrics) = p.req("GET", "/metrics", None);
    assert_eq!(st, 200);
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    };
    assert!(value("pinion_feed_ticks_received_total{instrument=\"AUD_USD\"}") > 0.0);
    assert_eq!(value("pinion_feed_connected"), 1.0);
    assert!(value("pinion_broker_round_trip_seconds_count") >= mine.len() as f64, "every order's round trip is recorded");
}

#[test]
fn a_crash_between_sending_an_order_and_its_answer_applies_the_fill_once_and_sends_nothing_twice() {
    let fake = fake(30.0);
    // OANDA executes the order but answers late; pinion dies meanwhile.
    fake.faults().delay_next("POST /orders", 1, Duration::from_secs(30));
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Pinion::start(dir.path(), &fake.base_url());
    poll("prices to flow", Duration::from_secs(30), || p.get("/health")["engine"] == "running");
    let op = json!({ "asset": "AUD_USD", "bar_sizes": ["1 min"], "strategy_name": "BuyAndHoldStrategy", "strategy_config": {},
        "stop_loss_type": "PIPS", "stop_loss_value": 50, "crash_recovery_mode": "RESUME" });
    let (st, body) = p.req("POST", "/api/operations", Some(&op));
    assert_eq!(st, 201, "{body}");
    poll("the order to reach OANDA", Duration::from_secs(120), || !fake.order_counts().is_empty());
    let entry = p.get("/api/operations/1/orders").as_array().cloned().unwrap_or_default();
    assert!(entry.iter().any(|o| o["purpose"] == "ENTRY" && o["status"] == "SUBMITTED"), "{entry:?}");
    drop(p); // SIGKILL, the answer still on its way

    let p = Pinion::start(dir.path(), &fake.base_url());
    poll("the entry filled after the restart", Duration::from_secs(60), || {
        p.get("/api/operations/1/orders").as_array().is_some_and(|os| os.iter().any(|o| o["purpose"] == "ENTRY" && o["status"] == "FILLED"))
    });
    let counts = fake.order_counts();
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert!(counts.values().all(|n| *n == 1), "an order was sent twice: {counts:?}");
    let fills = pinion_fills(&fake);
    let (_, oanda_price) = fills.iter().next().expect("a fill at OANDA");
    let filled = p.get("/api/operations/1/orders").as_array().cloned().unwrap_or_default();
    let e = filled.iter().find(|o| o["purpose"] == "ENTRY" && o["status"] == "FILLED").expect("entry");
    assert!((e["price"].as_f64().unwrap_or(0.0) - oanda_price.parse::<f64>().expect("price")).abs() < 1e-9, "{e} vs {oanda_price}");
    let truth = fake.account();
    let positions = p.get("/api/operations/1/positions");
    let units: f64 =
        positions.as_array().expect("rows").iter().map(|r| r["quantity"].as_f64().or(r["units"].as_f64()).unwrap_or(0.0)).sum();
    let oanda_units: i64 = truth.trades.iter().map(|t| t.units).sum();
    assert_eq!(units.abs() as i64, oanda_units.abs(), "pinion {positions} vs OANDA {:?}", truth.trades);
    assert!(p.log().contains("broker filled order"), "{}", p.log());

    // Down again; meanwhile OANDA fills the stop. The restart books it from OANDA's history.
    drop(p);
    fake.push_price_text("AUD_USD", "0.66000", "0.66010").expect("a price through the stop");
    poll("OANDA to fill the stop", Duration::from_secs(30), || fake.account().trades.is_empty());
    let p = Pinion::start(dir.path(), &fake.base_url());
    poll("the stop booked after the restart", Duration::from_secs(30), || {
        p.get("/api/operations/1/orders")
            .as_array()
            .is_some_and(|os| os.iter().any(|o| o["purpose"] == "STOP_LOSS" && o["status"] == "FILLED"))
    });
    assert_eq!(p.get("/api/operations/1/positions").as_array().map(Vec::len), Some(0));
    assert_eq!(fake.order_counts().len(), 1, "nothing more was sent");
}
