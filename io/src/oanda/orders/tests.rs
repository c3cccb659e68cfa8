//! The order client against the fake OANDA: a fill at the touch with the stop and target attached and
//! pinion's client id on the order and the trade; an order looked up instead of re-sent; an answer
//! lost after execution resolved by its client id; a 503 that did not execute reported refused, never
//! re-sent; a refusal.

use super::*;
use crate::oanda::{Environment, OandaConfig, Token};
use crate::oanda_fake::{FakeConfig, FakeInstrument, FakeOanda, FakeTick};
use pinion_core::fixed::Quantity;
use pinion_core::instrument::InstrumentId;
use pinion_core::order::{OrderPurpose, OrderType};

const ACCOUNT: &str = "101-004-1234567-001";

fn fake() -> FakeOanda {
    let ticks = vec![FakeTick::parse("EUR_USD", 1_580_398_071_438_000_000, "1.10234", "1.10246", 5).expect("tick")];
    let mut cfg = FakeConfig::new(ACCOUNT, vec![FakeInstrument::fx("EUR_USD")], ticks);
    cfg.warmup_ticks = 1;
    cfg.speed = 0.0;
    FakeOanda::start(cfg).expect("fake")
}

fn client(f: &FakeOanda) -> OrderClient {
    let token = Token::new("fake-token").expect("token");
    let cfg = OandaConfig::new(ACCOUNT, token, Environment::Practice, Some(&f.base_url()), Some(&f.base_url())).expect("config");
    OrderClient::new(cfg, Duration::from_secs(5))
}

fn buy(id: u64, units: i64) -> OrderToSend {
    OrderToSend {
        order: Order {
            id,
            book: BookId(2),
            instrument: InstrumentId(0),
            side: Side::Buy,
            order_type: OrderType::Market,
            purpose: OrderPurpose::Entry,
            quantity: Quantity(units),
            price: Price(0),
            created_ns: 1,
        },
        instrument: "EUR_USD".into(),
        price_precision: 5,
        size_precision: 0,
        stop_loss: Some(Price(109_000)),
        take_profit: Some(Price(112_000)),
        maybe_sent: false,
    }
}

#[test]
fn a_fill_at_the_ask_with_protection_and_pinions_client_id_and_a_lookup_instead_of_a_resend() {
    let f = fake();
    let c = client(&f);
    let o = buy(7, 1000);
    let e = c.execute(&o).expect("executed");
    let r = e.report.clone();
    assert!(matches!(r, VenueReport::Filled { order_id: 7, price: Price(110_246), .. }), "{r:?}");
    assert!(e.trade_opened.is_some(), "{e:?}");
    let truth = f.account();
    assert_eq!(truth.trades.len(), 1, "{truth:?}");
    let t = &truth.trades[0];
    assert_eq!(t.units, 1000);
    assert_eq!(f.orders_received("pinion-2-7"), 1);
    assert_eq!(parse_client_id("pinion-2-7"), Some((BookId(2), 7)));
    assert!(format!("{t:?}").contains("pinion-2-7") && format!("{t:?}").contains("109000"), "{t:?}");
    // After a restart the same order may have been sent: it is looked up, not sent again.
    let again = c.execute(&OrderToSend { maybe_sent: true, ..o }).expect("looked up");
    assert_eq!(again.report, r);
    assert_eq!(f.orders_received("pinion-2-7"), 1, "sent twice");
}

#[test]
fn an_answer_lost_after_execution_is_resolved_by_the_client_id_and_a_503_is_never_resent() {
    let f = fake();
    let c = client(&f);
    f.faults().swallow_next("POST /orders", 1);
    let r = c.execute(&buy(8, 500)).expect("resolved").report;
    assert!(matches!(r, VenueReport::Filled { order_id: 8, price: Price(110_246), .. }), "{r:?}");
    assert_eq!(f.orders_received("pinion-2-8"), 1);
    f.faults().fail_next_503("POST /orders", 1);
    let r = c.execute(&buy(9, 500)).expect("resolved").report;
    assert!(matches!(r, VenueReport::Rejected { order_id: 9, ref message, .. } if message.contains("not executed")), "{r:?}");
    assert_eq!(f.account().trades.len(), 1, "the 503'd order must not exist");
}

#[test]
fn a_refusal_is_reported_with_oandas_reason() {
    let f = fake();
    let c = client(&f);
    let mut o = buy(10, 1000);
    o.instrument = "NOT_AN_INSTRUMENT".into();
    let r = c.execute(&o).expect("answered").report;
    assert!(matches!(r, VenueReport::Rejected { order_id: 10, ref message, .. } if message.starts_with("OANDA 4")), "{r:?}");
    assert_eq!(decimal(-123_456, 5), "-1.23456");
    assert_eq!(decimal(5, 5), "0.00005");
    assert_eq!(decimal(-1000, 0), "-1000");
}

#[test]
fn a_stop_oanda_fills_on_its_own_reaches_the_watcher_once() {
    let f = fake();
    let c = client(&f);
    let e = c.execute(&buy(11, 1000)).expect("filled");
    assert!(matches!(e.report, VenueReport::Filled { .. }), "{e:?}");
    let token = Token::new("fake-token").expect("token");
    let cfg = OandaConfig::new(ACCOUNT, token, Environment::Practice, Some(&f.base_url()), Some(&f.base_url())).expect("config");
    let (tx, rx) = std::sync::mpsc::channel();
    let last = f.account().last_transaction_id;
    let w = crate::oanda::transactions::start(cfg, last, Box::new(move |c| drop(tx.send(c)))).expect("watcher");
    std::thread::sleep(Duration::from_millis(300));
    f.push_price_text("EUR_USD", "1.08990", "1.09000").expect("price through the stop");
    let close = rx.recv_timeout(Duration::from_secs(10)).expect("the stop's fill");
    assert_eq!((close.reason.as_str(), close.units.as_str(), Some(close.trade_id.clone())), ("STOP_LOSS_ORDER", "1000", e.trade_opened));
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err(), "handed over twice");
    w.stop();
}
