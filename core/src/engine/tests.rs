//! Engine tests: stop-loss/take-profit placement by type, pause/resume/close, bars closed by time.

use super::*;
use crate::bars::BarSize;
use crate::fixed::Rate;
use crate::instrument::Instrument;
use crate::order::OrderStatus;
use crate::strategy::{Strategy, StrategyContext};

/// Enters long on the first tick it sees while flat, if `go` is set.
struct EnterOnce {
    side: Side,
    quantity: Option<Quantity>,
    done: bool,
}

impl Strategy for EnterOnce {
    fn name(&self) -> &'static str {
        "enter_once"
    }
    fn on_tick(&mut self, _t: &Tick, ctx: &mut StrategyContext) {
        if !self.done && ctx.position == 0 && ctx.entries_allowed {
            self.done = true;
            ctx.enter(self.side, self.quantity);
        }
    }
}

pub(super) fn engine() -> Engine {
    let mut t = InstrumentTable::new();
    t.add(Instrument::fx("EUR", "USD")).unwrap();
    Engine::new(t, PaperConfig { starting_balance: Money::from_units(100_000), commission_rate: Rate::ZERO })
}

pub(super) fn spec(side: Side, q: Option<i64>, sl: Option<(StopLossType, f64)>, tp: Option<(TakeProfitType, f64)>) -> BookSpec {
    BookSpec {
        instrument: InstrumentId(0),
        bar_sizes: vec![BarSize::parse("1 min").unwrap()],
        primary: 0,
        strategy: Box::new(EnterOnce { side, quantity: q.map(Quantity), done: false }),
        capital: Money::from_units(10_000),
        stop_loss: sl,
        take_profit: tp,
        risk_fraction: 0.01,
    }
}

pub(super) fn tick(ts: i64, bid: i64, ask: i64) -> Tick {
    Tick::quote(ts, InstrumentId(0), Price(bid), Price(ask), Quantity(1), Quantity(1))
}

fn protective(e: &Engine) -> (Option<Price>, Option<Price>) {
    let p = e.broker().position(BookId(0), InstrumentId(0)).expect("open position");
    (p.stop_loss.map(|s| s.price), p.take_profit.map(|t| t.price))
}

#[test]
fn stop_and_take_by_type() {
    // entry long at the ask 1.10010
    type Case = (Option<(StopLossType, f64)>, Option<(TakeProfitType, f64)>, Option<i64>, Option<i64>);
    let cases: [Case; 5] = [
        (Some((StopLossType::Pips, 20.0)), Some((TakeProfitType::RiskReward, 2.0)), Some(109_810), Some(110_410)),
        (Some((StopLossType::Percentage, 0.01)), Some((TakeProfitType::Percentage, 0.02)), Some(108_910), Some(112_210)),
        (Some((StopLossType::Fixed, 0.005)), Some((TakeProfitType::Fixed, 0.0025)), Some(109_510), Some(110_260)),
        (Some((StopLossType::Pips, 10.0)), Some((TakeProfitType::Pips, 15.0)), Some(109_910), Some(110_160)),
        (None, None, None, None),
    ];
    for (sl, tp, want_sl, want_tp) in cases {
        let mut e = engine();
        e.add_book(spec(Side::Buy, Some(1000), sl, tp)).unwrap();
        e.on_tick(&tick(1, 110_000, 110_010));
        assert_eq!(protective(&e), (want_sl.map(Price), want_tp.map(Price)), "{sl:?} {tp:?}");
    }
}

#[test]
fn atr_stops_wait_for_the_indicator_then_use_it() {
    let mut e = engine();
    e.add_book(spec(Side::Sell, Some(1000), Some((StopLossType::Atr, 1.5)), Some((TakeProfitType::Atr, 3.0)))).unwrap();
    e.on_tick(&tick(1, 110_000, 110_010));
    let rejected = e
        .events()
        .iter()
        .any(|ev| matches!(ev, EngineEvent::Order { status: OrderStatus::Rejected, reason: Some(RejectReason::StopNotReady), .. }));
    assert!(rejected, "ATR not ready: refused with a reason");
    // 15 one-minute bars each 20 pips high-low at constant close: ATR(14) = 0.0020
    let mut e = engine();
    let mut s = spec(Side::Sell, Some(1000), Some((StopLossType::Atr, 1.5)), Some((TakeProfitType::Atr, 3.0)));
    s.strategy = Box::new(EnterOnce { side: Side::Sell, quantity: Some(Quantity(1000)), done: true });
    e.add_book(s).unwrap();
    let min = 60_000_000_000i64;
    for k in 0..16 {
        let t0 = k * min;
        e.on_tick(&tick(t0, 110_000, 110_000));
        e.on_tick(&tick(t0 + 1, 110_100, 110_100));
        e.on_tick(&tick(t0 + 2, 109_900, 109_900));
        e.on_tick(&tick(t0 + 3, 110_000, 110_000));
    }
    assert!(e.books()[0].atr.is_ready());
    assert!((e.books()[0].atr.value() - 0.0020).abs() < 1e-12);
    e.books[0].strategy = Box::new(EnterOnce { side: Side::Sell, quantity: Some(Quantity(1000)), done: false });
    e.on_tick(&tick(16 * min, 110_000, 110_010));
    // short at the bid 1.10000: stop 1.10000 + 1.5*0.0020, take 1.10000 - 3*0.0020
    assert_eq!(protective(&e), (Some(Price(110_300)), Some(Price(109_400))));
}

#[test]
fn default_size_risks_one_percent_over_the_stop() {
    let mut e = engine();
    e.add_book(spec(Side::Buy, None, Some((StopLossType::Pips, 20.0)), None)).unwrap();
    e.on_tick(&tick(1, 110_000, 110_010));
    // 1% of 10,000 USD = 100 USD over 0.0020 = 50,000 units
    assert_eq!(e.broker().net_quantity(BookId(0), InstrumentId(0)), 50_000);
}

#[test]
fn pause_blocks_entries_resume_and_close() {
    let mut e = engine();
    let id = e.add_book(spec(Side::Buy, Some(1000), None, None)).unwrap();
    e.pause(id).unwrap();
    e.on_tick(&tick(1, 110_000, 110_010));
    assert_eq!(e.broker().net_quantity(id, InstrumentId(0)), 0, "paused: no entry");
    assert!(matches!(e.pause(id), Err(EngineError::WrongState { .. })));
    e.resume(id).unwrap();
    assert!(matches!(e.resume(id), Err(EngineError::WrongState { .. })));
    e.on_tick(&tick(2, 110_000, 110_010));
    assert_eq!(e.broker().net_quantity(id, InstrumentId(0)), 1000);
    e.close_book(id, OrderPurpose::Close).unwrap();
    assert_eq!(e.broker().net_quantity(id, InstrumentId(0)), 0);
    assert_eq!(e.books()[0].status, BookStatus::Closed);
    assert!(matches!(e.close_book(id, OrderPurpose::Close), Err(EngineError::WrongState { .. })));
    assert!(matches!(e.pause(BookId(9)), Err(EngineError::UnknownBook(9))));
}

/// Asks to enter long on every tick while flat.
struct EnterAlways;

impl Strategy for EnterAlways {
    fn name(&self) -> &'static str {
        "enter_always"
    }
    fn on_tick(&mut self, _t: &Tick, ctx: &mut StrategyContext) {
        if ctx.position == 0 {
            ctx.enter(Side::Buy, Some(Quantity(1000)));
        }
    }
}

#[test]
fn a_refused_entry_is_retried_only_after_the_next_primary_bar() {
    let mut e = engine();
    let mut s = spec(Side::Buy, Some(1000), Some((StopLossType::Atr, 1.5)), None);
    s.strategy = Box::new(EnterAlways);
    e.add_book(s).unwrap();
    let min = 60_000_000_000i64;
    let mut rejects = 0;
    for k in 0..120 {
        e.on_tick(&tick(k * 1_000_000_000, 110_000, 110_010));
        rejects += e.events().iter().filter(|ev| matches!(ev, EngineEvent::Order { status: OrderStatus::Rejected, .. })).count();
        e.drain_events(|_| {});
    }
    // two minutes of ticks: one refusal in the first bar, one after the first bar closed
    assert_eq!(rejects, 2, "one refusal per primary bar, not one per tick ({min})");
}

#[test]
fn risk_limits_refuse_entries_with_a_reason() {
    let mut e = engine();
    let limits = crate::risk::RiskLimits { max_total_exposure_usd: 500.0, ..Default::default() };
    e.set_risk(Some(crate::risk::RiskEngine::new(limits)));
    e.add_book(spec(Side::Buy, Some(1000), None, None)).unwrap();
    e.on_tick(&tick(1, 110_000, 110_010));
    assert!(e
        .events()
        .iter()
        .any(|ev| matches!(ev, EngineEvent::Order { status: OrderStatus::Rejected, reason: Some(RejectReason::MaxTotalExposure), .. })));
    assert_eq!(e.broker().net_quantity(BookId(0), InstrumentId(0)), 0);
}

/// Enters long 1000 whenever flat (so a book that may still trade re-enters at once).
struct EnterWhenFlat;

impl Strategy for EnterWhenFlat {
    fn name(&self) -> &'static str {
        "enter_when_flat"
    }
    fn on_tick(&mut self, _t: &Tick, ctx: &mut StrategyContext) {
        if ctx.position == 0 && ctx.entries_allowed {
            ctx.enter(Side::Buy, Some(Quantity(1000)));
        }
    }
}

/// A 10 USD book long 1000 EUR_USD with a 150-pip stop, through a fall that exhausts its capital, then
/// the stop, then a recovery: every event, in order.
fn exhaust_capital() -> (Engine, Vec<EngineEvent>) {
    let mut e = engine();
    let mut s = spec(Side::Buy, None, Some((StopLossType::Pips, 150.0)), None);
    s.strategy = Box::new(EnterWhenFlat);
    s.capital = Money::from_units(10);
    e.add_book(s).unwrap();
    let mut events = Vec::new();
    for (k, (bid, ask)) in [(110_000, 110_010), (109_000, 109_010), (108_000, 108_010), (111_000, 111_010)].into_iter().enumerate() {
        e.on_tick(&tick(k as i64 + 1, bid, ask));
        if k == 1 {
            assert_eq!(e.books()[0].status, BookStatus::Error, "equity 10 - 10.10 USD is exhausted");
            let p = e.broker().position(BookId(0), InstrumentId(0)).expect("the position stays open");
            assert_eq!(p.stop_loss.map(|s| s.price), Some(Price(108_510)), "and keeps its stop");
        }
        e.drain_events(|ev| events.push(*ev));
    }
    (e, events)
}

#[test]
fn exhausted_capital_puts_the_book_in_error_and_refuses_entries() {
    let (mut e, events) = exhaust_capital();
    let errors: Vec<_> = events
        .iter()
        .filter_map(|ev| match ev {
            EngineEvent::BookStatus { status: BookStatus::Error, reason, ts_ns, .. } => Some((*reason, *ts_ns)),
            _ => None,
        })
        .collect();
    let reason = Some(crate::events::BookErrorReason::CapitalExhausted { equity: Money::from_f64(-0.10) });
    assert_eq!(errors, vec![(reason, 2)], "one error status, at the tick that exhausted the capital");
    let entries = events
        .iter()
        .filter(|ev| matches!(ev, EngineEvent::Order { order, status: OrderStatus::Filled, .. } if order.purpose == OrderPurpose::Entry))
        .count();
    assert_eq!(entries, 1, "no entry after the error, not even once the stop closed the position and prices recovered");
    assert!(e.broker().position(BookId(0), InstrumentId(0)).is_none_or(|p| p.is_flat()), "the stop closed it");
    assert!(e.book_equity(BookId(0)).is_some_and(|m| m < Money::ZERO));
    assert!(matches!(e.resume(BookId(0)), Err(EngineError::WrongState { status: BookStatus::Error, .. })));
    e.close_book(BookId(0), OrderPurpose::Close).expect("stop is allowed from error");
    assert_eq!(e.books()[0].status, BookStatus::Closed);
    // Derived from ticks only: the same ticks give the same events (what journal replay relies on).
    assert_eq!(exhaust_capital().1, events);
}
