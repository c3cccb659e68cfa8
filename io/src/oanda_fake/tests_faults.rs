//! Tests of every injected fault over real TCP: dropped and stalled streams, 503 / 429 answers,
//! delays, an order executed without an answer, a changed token, a price move that triggers a stop
//! while no client is connected, and a trade opened outside pinion.

use super::test_client::Client;
use super::tests::{config, market, start};
use pinion_core::fixed::Money;
use serde_json::json;
use std::thread;
use std::time::{Duration, Instant};

/// Waits until `f` holds (at most 2 s).
fn eventually(f: impl Fn() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        if f() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn dropped_streams_close_and_reconnect() {
    let (fake, c) = start(config(vec![]));
    let mut prices = c.stream(&c.acct("/pricing/stream?instruments=EUR_USD")).unwrap();
    let mut txns = c.stream(&c.acct("/transactions/stream")).unwrap();
    assert_eq!(prices.next().unwrap()["type"], "PRICE");
    assert!(eventually(|| fake.faults().pricing_streams() == 1 && fake.faults().transaction_streams() == 1));
    assert_eq!(fake.faults().drop_pricing_streams(), 1);
    let ended = (0..100).map(|_| prices.next()).find(|r| r.is_err());
    assert!(ended.is_some(), "the pricing stream must end");
    assert!(eventually(|| fake.faults().pricing_streams() == 0));
    assert_eq!(txns.next_of("HEARTBEAT", 5).unwrap()["lastTransactionID"], "2");
    assert_eq!(fake.faults().drop_transaction_streams(), 1);
    assert!((0..100).map(|_| txns.next()).any(|r| r.is_err()));
    let mut again = c.stream(&c.acct("/pricing/stream?instruments=EUR_USD")).unwrap();
    assert_eq!(again.next().unwrap()["closeoutAsk"], "1.10236");
}

#[test]
fn stalled_pricing_stream_sends_nothing_for_the_duration() {
    let (fake, c) = start(config(vec![]));
    let mut s = c.stream(&c.acct("/pricing/stream?instruments=EUR_USD")).unwrap();
    s.next().unwrap();
    assert_eq!(s.next().unwrap()["type"], "HEARTBEAT");
    fake.faults().stall_pricing(Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(s.next().unwrap()["type"], "HEARTBEAT");
    assert!(t.elapsed() >= Duration::from_millis(250), "{:?}", t.elapsed());
    let t = Instant::now();
    s.next().unwrap();
    assert!(t.elapsed() < Duration::from_millis(250), "heartbeats resume: {:?}", t.elapsed());
}

#[test]
fn next_requests_fail_with_503_or_429() {
    let (fake, c) = start(config(vec![]));
    fake.faults().fail_next_503("/summary", 2);
    for _ in 0..2 {
        let r = c.get(&c.acct("/summary"));
        assert_eq!(r.status, 503);
        assert!(r.body["errorMessage"].is_string());
    }
    assert_eq!(c.get(&c.acct("/summary")).status, 200);
    fake.faults().fail_next_429("GET /openTrades", 1, Duration::from_millis(1_500));
    let r = c.get(&c.acct("/openTrades"));
    assert_eq!((r.status, r.header("Retry-After")), (429, Some("2")));
    assert_eq!(c.get(&c.acct("/openTrades")).status, 200);
    // A failed order request is not executed.
    fake.faults().fail_next_503("POST /orders", 1);
    assert_eq!(c.post(&c.acct("/orders"), &market("EUR_USD", 100, Some("f1"), None, None)).status, 503);
    assert_eq!((fake.account().open_trade_count, fake.orders_received("f1")), (0, 1));
}

#[test]
fn answers_are_delayed() {
    let (fake, c) = start(config(vec![]));
    fake.faults().delay_next("/summary", 1, Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(c.get(&c.acct("/summary")).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));
    let t = Instant::now();
    c.get(&c.acct("/summary"));
    assert!(t.elapsed() < Duration::from_millis(200));
    fake.faults().delay_all(Some(Duration::from_millis(120)));
    let t = Instant::now();
    c.get(&c.acct("/openTrades"));
    assert!(t.elapsed() >= Duration::from_millis(120));
    fake.faults().clear();
}

#[test]
fn swallowed_order_executes_without_an_answer() {
    let (fake, c) = start(config(vec![]));
    fake.faults().swallow_next("POST /orders", 1);
    let r = c.request("POST", &c.acct("/orders"), Some(&market("EUR_USD", 1_000, Some("lost-1"), Some("1.10000"), None)));
    assert!(r.is_err(), "no answer expected, got {r:?}");
    let a = fake.account();
    assert_eq!((a.open_trade_count, a.trades[0].stop_loss.is_some()), (1, true));
    // The client can find out what happened, and a retry with the same id is refused.
    let o = c.get(&c.acct("/orders/@lost-1")).body["order"].clone();
    assert_eq!((o["state"].as_str(), o["tradeOpenedID"].as_str()), (Some("FILLED"), Some("4")));
    assert_eq!(c.get(&c.acct("/transactions/sinceid?id=2")).body["lastTransactionID"], "5");
    let retry = c.post(&c.acct("/orders"), &market("EUR_USD", 1_000, Some("lost-1"), None, None));
    assert_eq!(retry.body["errorCode"], "CLIENT_ORDER_ID_ALREADY_EXISTS");
    assert_eq!((fake.orders_received("lost-1"), fake.account().open_trade_count), (2, 1));
}

#[test]
fn token_can_be_changed_or_dropped() {
    let (fake, c) = start(config(vec![]));
    fake.faults().set_token(Some("rotated"));
    let r = c.get(&c.acct("/summary"));
    assert_eq!((r.status, r.body.clone()), (401, json!({"errorMessage": "Insufficient authorization to perform request."})));
    assert_eq!(c.get(&c.acct("/pricing/stream?instruments=EUR_USD")).status, 401);
    assert_eq!(Client::with_token(&fake, Some("rotated")).get(&c.acct("/summary")).status, 200);
    fake.faults().set_token(None);
    assert_eq!(Client::with_token(&fake, None).get(&c.acct("/summary")).status, 200);
    assert_eq!(fake.faults().token(), None);
}

#[test]
fn price_move_triggers_a_stop_with_no_client_connected() {
    let (fake, c) = start(config(vec![]));
    assert_eq!(c.post(&c.acct("/orders"), &market("EUR_USD", -2_000, Some("short"), Some("1.10300"), None)).status, 201);
    assert_eq!(fake.faults().pricing_streams() + fake.faults().transaction_streams(), 0);
    fake.push_price_text("EUR_USD", "1.10298", "1.10301").unwrap();
    // Short stop at 1.10300 fills at the ask 1.10301: −2,000 × (1.10301 − 1.10234) = −1.34.
    let a = fake.account();
    assert_eq!((a.open_trade_count, a.balance), (0, Money(9_999_866)));
    let fill = a.transactions_of_type("ORDER_FILL").last().map(|t| (*t).clone()).unwrap();
    assert_eq!(
        (fill["reason"].as_str(), fill["price"].as_str(), fill["pl"].as_str()),
        (Some("STOP_LOSS_ORDER"), Some("1.10301"), Some("-1.3400"))
    );
    let since = c.get(&c.acct("/transactions/sinceid?id=5")).body;
    assert_eq!(since["transactions"][0]["reason"], "STOP_LOSS_ORDER");
    assert!(fake.push_price("EUR_USD", 5, 4).is_err());
    assert!(fake.push_price("XAU_USD", 4, 5).is_err());
}

#[test]
fn trade_opened_outside_pinion_has_no_client_extensions() {
    let (fake, c) = start(config(vec![]));
    let id = fake.open_trade_outside("EUR_USD", -5_000, Some(110_400), None).unwrap();
    let t = c.get(&c.acct("/openTrades")).body["trades"][0].clone();
    assert_eq!(
        (t["id"].as_str(), t["currentUnits"].as_str(), t.get("clientExtensions")),
        (Some(id.to_string().as_str()), Some("-5000"), None)
    );
    assert_eq!(t["stopLossOrder"]["price"], "1.10400");
    let a = fake.account();
    assert_eq!((a.trades[0].client_extensions.clone(), a.trades[0].stop_loss.map(|p| p.0)), (None, Some(110_400)));
    assert!(a.transactions_of_type("MARKET_ORDER")[0].get("clientExtensions").is_none());
    assert!(fake.close_trade_outside(id).is_ok());
    assert_eq!(fake.account().open_trade_count, 0);
    assert!(fake.open_trade_outside("EUR_USD", 1_000, Some(110_300), None).is_err());
}
