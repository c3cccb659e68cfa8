//! Tests of the refused-order and control-action records and of the `log` frame they become.

use super::*;
use crate::readmodel::{OperationMeta, ReadModel};
use pinion_core::events::BookStatus;
use pinion_core::fixed::{Money, Price, Quantity};
use pinion_core::instrument::InstrumentTable;
use pinion_core::order::{BookId, OrderType, Side};
use serde_json::{json, Value};
use std::sync::{Mutex, OnceLock};

/// Captures the records of this module's targets (other tests of the crate log too).
struct Capture(Mutex<Vec<(log::Level, String, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        if [CONTROL_TARGET, ORDERS_TARGET, OPERATIONS_TARGET].contains(&r.target()) {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push((r.level(), r.target().to_string(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

fn captured() -> &'static Capture {
    static C: OnceLock<&'static Capture> = OnceLock::new();
    C.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        let _ = log::set_logger(c);
        log::set_max_level(log::LevelFilter::Trace);
        c
    })
}

fn records_with(needle: &str) -> Vec<(log::Level, String, String)> {
    captured().0.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|r| r.2.contains(needle)).cloned().collect()
}

fn order(id: u64, book: BookId, side: Side, qty: i64) -> Order {
    let eur = InstrumentTable::builtin().find("EUR_USD").expect("EUR_USD");
    Order {
        id,
        book,
        instrument: eur,
        side,
        order_type: OrderType::Market,
        purpose: OrderPurpose::Entry,
        quantity: Quantity(qty),
        price: Price(0),
        created_ns: 5,
    }
}

/// An operation as the read model registers it.
fn operation(id: u64, book: BookId) -> OperationMeta {
    OperationMeta {
        id,
        book,
        asset: "EUR-USD".into(),
        bar_sizes: vec!["1 min".into()],
        primary_bar_size: "1 min".into(),
        strategy_name: "ema_cross".into(),
        strategy_config: json!({}),
        initial_capital: Money::from_units(10_000),
        stop_loss_type: "ATR".into(),
        stop_loss_value: 1.5,
        take_profit_type: "RISK_REWARD".into(),
        take_profit_value: 2.0,
        crash_recovery_mode: "CLOSE_ALL".into(),
        emergency_stop_loss_pct: 0.05,
        created_ns: 0,
        updated_ns: 0,
        error: None,
    }
}

fn rejected(o: Order, reason: Option<RejectReason>) -> EngineEvent {
    EngineEvent::Order { order: o, status: OrderStatus::Rejected, fill_price: Price(0), reason, ts_ns: 5 }
}

#[test]
fn every_refused_order_gives_one_warn_record_naming_its_holder_and_reason() {
    captured();
    let m = ReadModel::new(InstrumentTable::builtin(), Money::from_units(100_000));
    {
        let mut s = m.write();
        s.operations.push(operation(44, BookId(2)));
        s.session_book = Some(BookId(0));
    }
    let filled = EngineEvent::Order {
        order: order(1, BookId(2), Side::Buy, 1000),
        status: OrderStatus::Filled,
        fill_price: Price(110_000),
        reason: None,
        ts_ns: 5,
    };
    let batch = [
        filled,
        rejected(order(9101, BookId(2), Side::Buy, 1000), Some(RejectReason::MaxConcurrentPositions)),
        rejected(order(9102, BookId(0), Side::Sell, 2500), Some(RejectReason::StopNotReady)),
        rejected(order(9103, BookId(7), Side::Sell, 1), None),
    ];
    let msgs = refusals(&m.read(), &batch);
    assert_eq!(
        msgs,
        [
            "operation 44: entry BUY 1000 EUR_USD refused: max_concurrent_positions reached (order 9101)",
            "session: entry SELL 2500 EUR_USD refused: stop distance not available yet (indicator warming up) (order 9102)",
            "book 7: entry SELL 1 EUR_USD refused: no reason given (order 9103)",
        ]
    );
    log_refusals(&msgs);
    for id in [9101, 9102, 9103] {
        let got = records_with(&format!("(order {id})"));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].0, got[0].1.as_str()), (log::Level::Warn, "pinion::orders"));
    }
}

#[test]
fn log_frames_carry_the_bare_message_and_the_feed_clock() {
    // 2020-01-30T12:00:00Z in ns.
    let f = log_frame(log::Level::Warn, "operation 1: entry refused", 1_580_385_600_000_000_000).expect("frame");
    assert_eq!(f.topic, Topic::Log);
    let v: Value = serde_json::from_str(&f.text).expect("json");
    assert_eq!(v["type"], "log");
    assert_eq!(v["data"]["level"], "WARN");
    assert_eq!(v["data"]["message"], "operation 1: entry refused");
    assert!(v["data"]["timestamp"].as_str().is_some_and(|t| t.starts_with("2020-01-30T12:00:00")), "{v}");
    assert_eq!(v["data"].as_object().map(|o| o.len()), Some(3));
    // Before the feed's first tick: the wall clock, not 1970.
    let f = log_frame(log::Level::Info, "started", 0).expect("frame");
    let v: Value = serde_json::from_str(&f.text).expect("json");
    assert!(!v["data"]["timestamp"].as_str().unwrap_or("1970").starts_with("1970"), "{v}");
}

#[test]
fn a_book_the_engine_put_in_error_gets_its_reason_and_one_warn_record() {
    captured();
    let m = ReadModel::new(InstrumentTable::builtin(), Money::from_units(100_000));
    m.write().operations.push(operation(45, BookId(3)));
    let reason = pinion_core::events::BookErrorReason::CapitalExhausted { equity: Money::from_f64(-0.1) };
    let batch = [
        EngineEvent::BookStatus { book: BookId(3), status: BookStatus::Active, reason: None, ts_ns: 1 },
        EngineEvent::BookStatus { book: BookId(3), status: BookStatus::Error, reason: Some(reason), ts_ns: 7 },
    ];
    m.apply_batch(&batch);
    let s = m.read();
    let op = s.operation(45).expect("operation 45");
    assert_eq!(s.book_status(BookId(3)), BookStatus::Error);
    assert!(op.error.as_deref().is_some_and(|e| e.starts_with("capital exhausted: equity -0.10 USD")), "{:?}", op.error);
    let msgs = book_errors(&s, &batch);
    drop(s);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].starts_with("operation 45: error: capital exhausted"), "{msgs:?}");
    log_book_errors(&msgs);
    let got = records_with("operation 45: error");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].0, got[0].1.as_str()), (log::Level::Warn, OPERATIONS_TARGET));
}
