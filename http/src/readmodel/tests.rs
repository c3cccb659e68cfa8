//! Tests of the read model's snapshots: export -> JSON bytes -> import gives an equal state that goes on
//! folding events identically, and `Checkpoint` events capture exactly the events before them.

use super::book::BookRecord;
use super::{OperationMeta, ReadModel, ReadState};
use crate::{account, publisher, views};
use pinion_core::events::{AccountState, BookStatus, EngineEvent};
use pinion_core::fixed::{Money, Price, Quantity};
use pinion_core::instrument::{InstrumentId, InstrumentTable};
use pinion_core::order::{BookId, ClosedTrade, Fill, Order, OrderPurpose, OrderStatus, OrderType, PositionState, RejectReason, Side};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const DAY: i64 = 86_400_000_000_000;
const T0: i64 = 1_700_000_000_000_000_000;
const SESSION: BookId = BookId(0);
const OP: BookId = BookId(1);

fn start() -> Money {
    Money::from_units(100_000)
}

fn model() -> ReadModel {
    ReadModel::new(InstrumentTable::builtin(), start())
}

fn inst(name: &str) -> InstrumentId {
    InstrumentTable::builtin().find(name).expect("builtin instrument")
}

fn order(id: u64, book: BookId, instrument: InstrumentId, side: Side, purpose: OrderPurpose, qty: i64, ts: i64) -> Order {
    let order_type = if purpose == OrderPurpose::StopLoss { OrderType::Stop } else { OrderType::Market };
    Order { id, book, instrument, side, order_type, purpose, quantity: Quantity(qty), price: Price(0), created_ns: ts }
}

fn ev_order(o: Order, status: OrderStatus, fill: i64, reason: Option<RejectReason>, ts: i64) -> EngineEvent {
    EngineEvent::Order { order: o, status, fill_price: Price(fill), reason, ts_ns: ts }
}

fn ev_fill(o: &Order, is_entry: bool, qty: i64, price: i64, pnl: i64, ts: i64) -> EngineEvent {
    EngineEvent::Fill(Fill {
        order_id: o.id,
        book: o.book,
        instrument: o.instrument,
        side: o.side,
        is_entry,
        quantity: Quantity(qty),
        price: Price(price),
        commission: Money(qty / 7 + 3),
        realized_pnl: Money(pnl),
        ts_ns: ts,
    })
}

fn ev_position(book: BookId, instrument: InstrumentId, quantity: i64, avg_price: f64, ts: i64) -> EngineEvent {
    let stop_loss = if quantity > 0 { Some(Price(109_500)) } else { None };
    EngineEvent::Position(PositionState { book, instrument, quantity, avg_price, stop_loss, take_profit: None, ts_ns: ts })
}

fn ev_account(balance: i64, unrealized: i64, open_positions: u32, ts: i64) -> EngineEvent {
    EngineEvent::Account(AccountState {
        balance: Money(balance),
        unrealized: Money(unrealized),
        realized: Money(balance - start().0),
        commission: Money(41),
        margin_used: Money(333_333),
        open_positions,
        ts_ns: ts,
    })
}

fn operation_meta() -> OperationMeta {
    OperationMeta {
        id: 7,
        book: OP,
        asset: "EURUSD".into(),
        bar_sizes: vec!["1m".into(), "5m".into()],
        primary_bar_size: "1m".into(),
        strategy_name: "ema_cross".into(),
        strategy_config: json!({ "fast": 12, "slow": 26, "ratio": 0.1 + 0.2, "tags": ["a", null] }),
        initial_capital: Money::from_units(50_000),
        stop_loss_type: "percentage".into(),
        stop_loss_value: 1.0 / 3.0,
        take_profit_type: "pips".into(),
        take_profit_value: 42.5,
        crash_recovery_mode: "close_all".into(),
        emergency_stop_loss_pct: 12.345_678_901_234_5,
        created_ns: T0 - 5,
        updated_ns: T0 - 5,
        error: Some("none \"quoted\"".into()),
    }
}

/// Two books (the session's and an operation's) through entries, a rejection, a partial exit with its
/// FIFO trade, marks, account and book equity over two UTC days, progress and a status change.
fn history() -> Vec<EngineEvent> {
    let (eur, gbp, btc) = (inst("EUR_USD"), inst("GBP_USD"), inst("BTC_USDT"));
    let o1 = order(1, OP, eur, Side::Buy, OrderPurpose::Entry, 1_000, T0);
    let o2 = order(2, SESSION, gbp, Side::Sell, OrderPurpose::Entry, 9_000_000, T0 + 10);
    let o3 = order(3, SESSION, btc, Side::Sell, OrderPurpose::Entry, 500, T0 + 20);
    let o4 = order(4, OP, eur, Side::Sell, OrderPurpose::Exit, 600, T0 + DAY);
    let o5 = order(5, OP, eur, Side::Sell, OrderPurpose::StopLoss, 400, T0 + DAY + 1);
    vec![
        ev_order(o1, OrderStatus::Pending, 0, None, T0),
        ev_order(o1, OrderStatus::Filled, 110_003, None, T0 + 1),
        ev_fill(&o1, true, 1_000, 110_003, 0, T0 + 1),
        ev_position(OP, eur, 1_000, 110_003.0, T0 + 1),
        ev_account(start().0 - 12, 0, 1, T0 + 1),
        EngineEvent::BookEquity { book: OP, equity: Money::from_units(50_000) - Money(12), ts_ns: T0 + 1 },
        EngineEvent::PositionMark {
            book: OP,
            instrument: eur,
            mark: Price(110_100),
            unrealized: Money(97),
            margin: Money(3_667),
            ts_ns: T0 + 2,
        },
        ev_order(o2, OrderStatus::Pending, 0, None, T0 + 10),
        ev_order(o2, OrderStatus::Rejected, 0, Some(RejectReason::InsufficientMargin), T0 + 10),
        ev_order(o3, OrderStatus::Pending, 0, None, T0 + 20),
        ev_order(o3, OrderStatus::Filled, 3_512_345, None, T0 + 21),
        ev_fill(&o3, true, 500, 3_512_345, 0, T0 + 21),
        ev_position(SESSION, btc, -500, 3_512_345.0 / 3.0, T0 + 21),
        EngineEvent::PositionMark {
            book: SESSION,
            instrument: btc,
            mark: Price(3_500_000),
            unrealized: Money(-6_172),
            margin: Money(8_780),
            ts_ns: T0 + 22,
        },
        EngineEvent::Progress { ticks: 1_234, ts_ns: T0 + 30 },
        ev_account(start().0 - 12 - 74, -6_075, 2, T0 + 30),
        ev_order(o4, OrderStatus::Pending, 0, None, T0 + DAY),
        ev_order(o4, OrderStatus::Filled, 110_207, None, T0 + DAY),
        ev_fill(&o4, false, 600, 110_207, 1_224, T0 + DAY),
        EngineEvent::Trade(ClosedTrade {
            book: OP,
            instrument: eur,
            direction: 1,
            quantity: Quantity(600),
            entry_price: Price(110_003),
            exit_price: Price(110_207),
            entry_ns: T0 + 1,
            exit_ns: T0 + DAY,
            pnl: Money(1_224),
            commission: Money(95),
        }),
        ev_position(OP, eur, 400, 110_003.000_000_1, T0 + DAY),
        EngineEvent::BookEquity { book: OP, equity: Money::from_units(50_000) + Money(1_130), ts_ns: T0 + DAY },
        ev_order(o5, OrderStatus::Pending, 0, None, T0 + DAY + 1),
        ev_account(start().0 + 1_130, -6_000, 2, T0 + DAY + 2),
        EngineEvent::BookStatus { book: OP, status: BookStatus::Paused, reason: None, ts_ns: T0 + DAY + 3 },
        EngineEvent::Progress { ticks: 2_000, ts_ns: T0 + DAY + 4 },
    ]
}

/// What comes after the snapshot: the stop fills and closes the rest, then a new session order.
fn more() -> Vec<EngineEvent> {
    let (eur, gbp) = (inst("EUR_USD"), inst("GBP_USD"));
    let o5 = order(5, OP, eur, Side::Sell, OrderPurpose::StopLoss, 400, T0 + DAY + 1);
    let o6 = order(6, SESSION, gbp, Side::Buy, OrderPurpose::Entry, 10_000, T0 + DAY + 20);
    vec![
        ev_order(o5, OrderStatus::Filled, 109_500, None, T0 + DAY + 10),
        ev_fill(&o5, false, 400, 109_500, -2_012, T0 + DAY + 10),
        EngineEvent::Trade(ClosedTrade {
            book: OP,
            instrument: eur,
            direction: 1,
            quantity: Quantity(400),
            entry_price: Price(110_003),
            exit_price: Price(109_500),
            entry_ns: T0 + 1,
            exit_ns: T0 + DAY + 10,
            pnl: Money(-2_012),
            commission: Money(60),
        }),
        ev_position(OP, eur, 0, 0.0, T0 + DAY + 10),
        ev_order(o6, OrderStatus::Pending, 0, None, T0 + DAY + 20),
        ev_account(start().0 - 900, -5_000, 1, T0 + 2 * DAY),
    ]
}

/// A model with the operation registered (as `operations::register` does), the session book set, and
/// `events` applied in two batches.
fn folded(events: &[EngineEvent]) -> ReadModel {
    let m = model();
    {
        let mut s = m.write();
        s.operations.push(operation_meta());
        while s.books.len() <= OP.0 as usize {
            s.books.push(BookRecord::new(Money::ZERO));
        }
        s.books[OP.0 as usize] = BookRecord::new(Money::from_units(50_000));
        s.session_book = Some(SESSION);
    }
    let (a, b) = events.split_at(events.len() / 2);
    m.apply_batch(a);
    m.apply_batch(b);
    m
}

fn bytes(s: &ReadState) -> Vec<u8> {
    serde_json::to_vec(&s.export_state()).expect("serialize export")
}

/// Export -> bytes -> import into a fresh model.
fn roundtrip(m: &ReadModel) -> ReadModel {
    let v: Value = serde_json::from_slice(&bytes(&m.read())).expect("parse export");
    let fresh = model();
    fresh.import_state(&v).expect("import");
    fresh
}

/// Every rendered view of the state: what REST and the WebSocket frames show.
fn views_of(s: &ReadState) -> Value {
    let mut out = vec![account::positions_json(s), publisher::account_data(s), publisher::metric_data(s)];
    for op in &s.operations {
        out.push(views::operation(s, op));
    }
    for (bi, b) in s.books.iter().enumerate() {
        let op = s.operation_of_book(BookId(bi as u32));
        out.push(views::book_stats(b));
        out.extend(b.orders.iter().map(|o| views::order(s, op, o)));
        out.extend(b.fills.iter().map(|f| views::transaction(s, op, f)));
        out.extend(b.trades.iter().map(|t| views::trade(s, op, t)));
        out.extend(b.positions.values().map(|p| views::position(s, op, p)));
    }
    Value::Array(out)
}

fn assert_same(a: &ReadState, b: &ReadState) {
    assert_eq!(a.books, b.books);
    assert_eq!(a.operations, b.operations);
    assert_eq!(a.account, b.account);
    assert_eq!(a.starting_balance, b.starting_balance);
    assert_eq!(a.equity, b.equity);
    assert_eq!(a.session_book, b.session_book);
    assert_eq!(a.last_transaction_id, b.last_transaction_id);
    assert_eq!(a.applied_seq, b.applied_seq);
    assert_eq!(a.txn_seq, b.txn_seq);
    assert_eq!(a.now_ns, b.now_ns);
    assert_eq!(a.instruments.len(), b.instruments.len());
    assert_eq!(bytes(a), bytes(b));
    assert_eq!(views_of(a), views_of(b));
}

#[test]
fn history_covers_everything() {
    let m = folded(&history());
    let s = m.read();
    let (op, session) = (&s.books[OP.0 as usize], &s.books[SESSION.0 as usize]);
    assert_eq!((op.orders.len(), op.fills.len(), op.trades.len(), op.lots.len(), op.positions.len()), (3, 2, 1, 1, 1));
    assert_eq!((session.orders.len(), session.fills.len(), session.lots.len(), session.positions.len()), (2, 1, 1, 1));
    assert_eq!(op.status, BookStatus::Paused);
    assert_eq!(op.equity.daily.len(), 2);
    assert_eq!(s.equity.daily.len(), 2);
    assert!(op.counts.orders + session.counts.orders == 5 && s.txn_seq == 13 && s.last_transaction_id == 13);
    assert_ne!(session.positions.values().next().map(|p| p.mark), Some(Price(0)));
}

#[test]
fn export_bytes_import_gives_an_equal_state() {
    let m = folded(&history());
    let fresh = roundtrip(&m);
    let (a, b) = (m.read(), fresh.read());
    assert_same(&a, &b);
    assert!(b.positions_dirty);
    // f64 fields come back bit for bit.
    let avg = |s: &ReadState| s.books[SESSION.0 as usize].positions.values().next().map(|p| p.state.avg_price.to_bits());
    assert_eq!(avg(&a), avg(&b));
    assert_eq!(a.operations[0].stop_loss_value.to_bits(), b.operations[0].stop_loss_value.to_bits());
    assert_eq!(a.operations[0].strategy_config, b.operations[0].strategy_config);
    drop((a, b));
    // The applied counter follows the import.
    assert!(fresh.wait_for(m.read().applied_seq, Duration::ZERO));
    assert!(!fresh.wait_for(m.read().applied_seq + 1, Duration::ZERO));
}

#[test]
fn imported_state_goes_on_like_the_original() {
    let m = folded(&history());
    let fresh = roundtrip(&m);
    let before = m.read().txn_seq;
    m.apply_batch(&more());
    fresh.apply_batch(&more());
    let (a, b) = (m.read(), fresh.read());
    assert_same(&a, &b);
    // Transaction ids continue from the snapshot's, and the stop order found its imported record.
    let op = &b.books[OP.0 as usize];
    assert_eq!(op.fills.back().map(|f| f.id), Some(before + 2));
    assert_eq!(op.trades.back().map(|t| t.id), Some(before + 3));
    assert_eq!(b.last_transaction_id, before + 4);
    assert_eq!(op.orders.iter().find(|o| o.order.id == 5).map(|o| o.status), Some(OrderStatus::Filled));
    assert!(op.positions.is_empty() && op.lots.is_empty());
}

#[test]
fn bad_imports_are_refused_and_change_nothing() {
    let m = folded(&history());
    let good = m.read().export_state();
    let fresh = folded(&more());
    let before = bytes(&fresh.read());
    let mut cases: Vec<(Value, &str)> = vec![(json!([1, 2]), "expected an object"), (json!({}), "missing field `version`")];
    let mut edit = |f: &dyn Fn(&mut Value), want: &'static str| {
        let mut v = good.clone();
        f(&mut v);
        cases.push((v, want));
    };
    edit(&|v| v["version"] = json!(99), "version 99");
    edit(&|v| v["extra"] = json!(1), "unknown field `extra`");
    edit(
        &|v| {
            if let Some(o) = v.as_object_mut() {
                o.remove("txn_seq");
            }
        },
        "missing field `txn_seq`",
    );
    edit(&|v| v["books"][1]["orders"][0]["status"] = json!("LOST"), "books[1]:");
    edit(&|v| v["books"][1]["lots"] = json!(3), "books[1]:");
    edit(&|v| v["books"][0]["orders"][0]["order"]["book"] = json!(1), "belongs to book 1");
    edit(&|v| v["books"][1]["orders"][1]["order"]["id"] = json!(3), "order id 3 already at");
    edit(
        &|v| {
            if let Some(a) = v["books"][1]["positions"].as_array_mut() {
                a.push(a[0].clone());
            }
        },
        "two positions for instrument",
    );
    edit(&|v| v["operations"][0]["stop_loss_value"] = Value::Null, "operations[0]:");
    edit(&|v| v["txn_seq"] = json!(3), "exceeds txn_seq 3");
    edit(&|v| v["account"] = json!("rich"), "field `account`");
    for (v, want) in &cases {
        let e = fresh.import_state(v).expect_err(want);
        assert!(e.contains(want), "{e:?} should mention {want:?}");
        assert_eq!(bytes(&fresh.read()), before, "a refused import ({want}) changed the state");
    }
    assert!(fresh.import_state(&good).is_ok());
}

#[test]
fn checkpoint_captures_exactly_the_events_before_it() {
    let events = history();
    let cut = 11;
    let mut with_marker = events.clone();
    with_marker.insert(cut, EngineEvent::Checkpoint { id: 3, ticks: 1_111 });
    let m = folded(&[]);
    m.apply_batch(&with_marker);
    let (ticks, v) = m.wait_checkpoint(3, Duration::from_secs(5)).expect("captured");
    assert_eq!(ticks, 1_111);
    // The export equals a model that saw only the events before the marker.
    let head = folded(&[]);
    head.apply_batch(&events[..cut]);
    assert_eq!(v, head.read().export_state());
    assert_eq!(v["applied_seq"], json!(cut));
    // The marker counts as an applied event, and everything after it was applied too.
    assert_eq!(m.read().applied_seq, events.len() as u64 + 1);
    assert!(m.wait_for(events.len() as u64 + 1, Duration::ZERO));
    let whole = folded(&events);
    assert_eq!(m.read().books, whole.read().books);
    assert_eq!(m.read().txn_seq, whole.read().txn_seq);
    // Taken once; other ids time out.
    assert!(m.wait_checkpoint(3, Duration::from_millis(10)).is_none());
    // Importing the capture then applying the rest gives the same state as the live model.
    let restored = folded(&[]);
    restored.import_state(&v).expect("import capture");
    restored.apply_batch(&with_marker[cut..]);
    assert_same(&m.read(), &restored.read());
}

#[test]
fn wait_checkpoint_waits_for_its_id() {
    let m = Arc::new(folded(&[]));
    let waiter = {
        let m = Arc::clone(&m);
        std::thread::spawn(move || m.wait_checkpoint(9, Duration::from_secs(10)))
    };
    let events = history();
    m.apply_batch(&[events[0], EngineEvent::Checkpoint { id: 8, ticks: 80 }]);
    m.apply_batch(&[events[1], EngineEvent::Checkpoint { id: 9, ticks: 90 }, events[2]]);
    let (ticks, v) = waiter.join().expect("waiter").expect("checkpoint 9");
    assert_eq!(ticks, 90);
    assert_eq!(v["applied_seq"], json!(3));
    assert_eq!(m.read().applied_seq, 5);
    // Checkpoint 8 was replaced by 9 before anyone took it.
    assert!(m.wait_checkpoint(8, Duration::ZERO).is_none());
}
