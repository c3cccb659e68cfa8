//! Measures that the tick path allocates nothing: a counting global allocator wraps the system one, and
//! every tick that produces no order (no event) must leave the allocation count unchanged. The engine
//! runs an `ema_cross` book, a bar strategy on three bar sizes, the risk engine and the session's bar
//! history, so bars closing, indicators updating and strategies deciding are all on the measured path.
//! The live server's telemetry is attached and every tick is stamped as a feed stamps it, so the core's
//! hop recording (per-instrument counts, `ring_to_tick`, `tick_to_intent`, ...) and the flush stamps of
//! the event sink are measured too; and each recording primitive is then called alone, many times. The
//! dashboard's rings (closed bars with indicator values, the decision context of each order) are written
//! on that path as well and must not allocate either.

use pinion_core::bars::BarSize;
use pinion_core::broker::PaperConfig;
use pinion_core::engine::pipeline::EventSink;
use pinion_core::engine::{BookSpec, Engine, StopLossType, TakeProfitType};
use pinion_core::events::EngineEvent;
use pinion_core::fixed::{Money, Price, Quantity, Rate};
use pinion_core::instrument::{Instrument, InstrumentId, InstrumentTable};
use pinion_core::risk::{RiskEngine, RiskLimits};
use pinion_core::strategy::build_strategy;
use pinion_core::telemetry::{Hop, Ring, StampedSink, Telemetry};
use pinion_core::tick::Tick;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

struct NullSink;

impl EventSink for NullSink {
    fn publish(&mut self, _events: &[EngineEvent]) {}
}

struct Counting;

thread_local! {
    /// Allocations made by this thread (the tests of this file run in parallel threads).
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

fn count() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counter is a
// thread-local side effect that allocates nothing, so `System`'s guarantees carry over as they are.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: forwards the caller's `GlobalAlloc::alloc` contract (non-zero-size `l`) unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` was allocated by this allocator, i.e. by `System`, with layout `l` (caller's contract).
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: `p`/`l` came from this allocator, i.e. from `System`, and `n` is valid (caller's contract).
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn ticks_without_orders_allocate_nothing() {
    let mut t = InstrumentTable::new();
    let eu = t.add(Instrument::fx("EUR", "USD")).unwrap();
    t.add(Instrument::fx("AUD", "USD")).unwrap();
    let inst = t.get(eu).clone();
    let mut e =
        Engine::new(t, PaperConfig { starting_balance: Money::from_units(1_000_000), commission_rate: Rate::parse("0.00002").unwrap() });
    e.set_risk(Some(RiskEngine::new(RiskLimits::default())));
    e.enable_history(BarSize::parse("1 min").unwrap(), 256);
    let sizes: Vec<BarSize> = ["1 min", "5 mins", "1 hour"].iter().map(|s| BarSize::parse(s).unwrap()).collect();
    let ema = build_strategy("ema_cross", &serde_json::json!({"fast": 10, "slow": 50, "trade_size": 10000}), &inst).unwrap();
    e.add_book(BookSpec {
        instrument: eu,
        bar_sizes: sizes.clone(),
        primary: 0,
        strategy: ema,
        capital: Money::from_units(100_000),
        stop_loss: Some((StopLossType::Pips, 20.0)),
        take_profit: Some((TakeProfitType::RiskReward, 2.0)),
        risk_fraction: 0.01,
    })
    .unwrap();
    let mom = build_strategy("MomentumStrategy", &serde_json::json!({}), &inst).unwrap();
    e.add_book(BookSpec {
        instrument: eu,
        bar_sizes: sizes,
        primary: 0,
        strategy: mom,
        capital: Money::from_units(100_000),
        stop_loss: Some((StopLossType::Atr, 1.5)),
        take_profit: Some((TakeProfitType::RiskReward, 2.0)),
        risk_fraction: 0.01,
    })
    .unwrap();

    let telemetry = Arc::new(Telemetry::new(2));
    e.attach_telemetry(telemetry.clone());
    let (mut sink, _stamps) = StampedSink::new(NullSink, telemetry.clock());

    let mut quiet_ticks = 0u64;
    let mut allocating = Vec::new();
    for i in 0..200_000i64 {
        // A slow sine plus noise, ticks every 500 ms, alternating instruments.
        let x = i as f64;
        let mid = 110_000.0 + 300.0 * (x / 5_000.0).sin() + ((i * 7919) % 13) as f64;
        let id = InstrumentId((i % 2) as u16);
        let mut tick = Tick::quote(i * 500_000_000, id, Price(mid as i64), Price(mid as i64 + 2), Quantity(1), Quantity(1));
        let before = allocs();
        let received = telemetry.feed_received(&mut tick);
        telemetry.feed_pushed(received, 1);
        e.on_tick(&tick);
        sink.publish(e.events());
        let after = allocs();
        if e.events().is_empty() {
            quiet_ticks += 1;
            if after != before {
                allocating.push(i);
            }
        }
        e.drain_events(|_| {});
    }
    assert!(quiet_ticks > 150_000, "most ticks produce no order ({quiet_ticks})");
    assert!(allocating.is_empty(), "{} quiet ticks allocated, first at {:?}", allocating.len(), allocating.first());
    // The recording ran: every tick counted and timed from its stamp; intents and orders timed.
    assert_eq!(telemetry.ticks_processed(0) + telemetry.ticks_processed(1), 200_000);
    assert_eq!(telemetry.hop(Hop::RingToTick).snapshot().count(), 200_000);
    assert_eq!(telemetry.hop(Hop::FeedToRing).snapshot().count(), 200_000);
    for hop in [Hop::TickToIntent, Hop::IntentToOrder, Hop::OrderToReport] {
        assert!(telemetry.hop(hop).snapshot().count() > 0, "{hop:?} never recorded");
    }
    // The dashboard's rings were written on the measured path: bars with indicator values as bars
    // closed, and a decision context for orders (their ticks are the ones that may allocate).
    let ema_book = &e.books()[0];
    assert_eq!(ema_book.chart[0].len(), pinion_core::engine::chart::CHART_BARS, "the 1-minute chart ring is full");
    assert!(ema_book.chart[0].iter().any(|c| !c.indicators.is_empty()), "indicator values recorded with the bars");
    assert!(!ema_book.chart[2].is_empty(), "hourly bars recorded too");
    let d = ema_book.decisions.iter().last().expect("a decision recorded for an order");
    assert!(ema_book.decision(d.order_id).is_some());
    assert!(d.indicators.as_slice().iter().any(|(n, ..)| *n == "ema_fast"), "{d:?}");
}

#[test]
fn each_recording_primitive_allocates_nothing() {
    let telemetry = Telemetry::new(4);
    let clock = telemetry.clock().clone();
    let (mut sink, _stamps) = StampedSink::new(NullSink, &clock);
    let mut tick = Tick::default();
    // Warm everything once (lazily initialised statics, the clock's calibration).
    telemetry.core_tick(&tick, clock.now_ns());
    let before = allocs();
    for i in 0..100_000u64 {
        let t0 = clock.now_ns();
        let at = telemetry.feed_received(&mut tick);
        telemetry.feed_pushed(at, 1);
        telemetry.core_tick(&tick, clock.now_ns());
        for hop in Hop::ALL {
            telemetry.record(hop, i * 37 % 5_000_000);
        }
        telemetry.hop(Hop::FeedToRing).record_shared(clock.since(t0));
        telemetry.set_ring(Ring::Ticks, (i % 64) as usize, 64);
        sink.publish(&[]);
    }
    let after = allocs();
    assert_eq!(after, before, "recording allocated {} times", after - before);
    assert_eq!(telemetry.hop(Hop::EventToWs).snapshot().count(), 100_000);
}
