//! Tests of the model session on the engine: warm-up from history, decisions that trade, stop.

use super::*;
use crate::bars::BarSize;
use crate::fixed::Rate;
use crate::instrument::Instrument;
use crate::policy::{Policy, PolicyError, PolicyShape};
use crate::risk::{RiskEngine, RiskLimits};
use crate::session::{SessionSpec, SessionState};

/// Long the first slot, short the second, and checks the observation is finite.
struct FixedPolicy {
    shape: PolicyShape,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Policy for FixedPolicy {
    fn shape(&self) -> PolicyShape {
        self.shape
    }
    fn decide(&mut self, obs: &[f32], mask: &[f32], actions: &mut [f32]) -> Result<(), PolicyError> {
        assert!(obs.iter().all(|x| x.is_finite()));
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for (i, a) in actions.iter_mut().enumerate() {
            *a = if mask[i] == 0.0 {
                0.0
            } else if i == 0 {
                0.5
            } else {
                -0.5
            };
        }
        Ok(())
    }
    fn source(&self) -> Option<String> {
        Some("fixed".into())
    }
}

const MIN: i64 = 60_000_000_000;

fn two_symbol_engine() -> Engine {
    let mut t = InstrumentTable::new();
    t.add(Instrument::fx("EUR", "USD")).unwrap();
    t.add(Instrument::fx("AUD", "USD")).unwrap();
    let mut e = Engine::new(t, PaperConfig { starting_balance: Money::from_units(100_000), commission_rate: Rate::ZERO });
    e.enable_history(BarSize::parse("1 min").unwrap(), 256);
    e.set_risk(Some(RiskEngine::new(RiskLimits::default())));
    e
}

fn feed(e: &mut Engine, from_min: i64, to_min: i64) {
    for m in from_min..to_min {
        for k in 0..4 {
            let ts = m * MIN + k * 15_000_000_000;
            let wiggle = (m * 7 + k * 3) % 11;
            e.on_tick(&Tick::quote(ts, InstrumentId(0), Price(110_000 + wiggle), Price(110_002 + wiggle), Quantity(1), Quantity(1)));
            e.on_tick(&Tick::quote(ts + 1, InstrumentId(1), Price(67_000 + wiggle), Price(67_002 + wiggle), Quantity(1), Quantity(1)));
        }
    }
}

#[test]
fn session_warms_up_from_history_trades_and_stops() {
    let mut e = two_symbol_engine();
    feed(&mut e, 0, 10);
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let policy = FixedPolicy { shape: PolicyShape { max_symbols: 4, lookback_window: 20, n_features: 6 }, calls: calls.clone() };
    let book = e
        .start_session(SessionSpec {
            symbols: vec![InstrumentId(0), InstrumentId(1)],
            target_capital: Money::from_units(20_000),
            policy: Box::new(policy),
        })
        .unwrap();
    let st = e.session_status();
    assert_eq!(st.state, SessionState::WarmingUp);
    assert!(!st.warmup_ready);
    assert_eq!(st.warmup_missing.len(), 2);
    feed(&mut e, 10, 40);
    let st = e.session_status();
    assert_eq!(st.state, SessionState::Running);
    assert!(st.decisions > 0 && calls.load(std::sync::atomic::Ordering::Relaxed) as u64 == st.decisions);
    // 0.5 of 10,000 USD per symbol: long EUR ~4,545 units, short AUD ~7,462 units
    let eu = e.broker().net_quantity(book, InstrumentId(0));
    let au = e.broker().net_quantity(book, InstrumentId(1));
    assert!((4_000..5_000).contains(&eu), "EUR position {eu}");
    assert!((-8_000..-7_000).contains(&au), "AUD position {au}");
    let stopped = e.stop_session().unwrap();
    assert_eq!(stopped.state, SessionState::Stopped);
    assert_eq!(stopped.open_positions.len(), 2);
    let before = e.session_status().decisions;
    feed(&mut e, 40, 45);
    assert_eq!(e.session_status().decisions, before, "no decisions after stop");
    assert!(matches!(e.stop_session(), Err(SessionError::NotRunning)));
}

#[test]
fn warmup_failure_is_reported() {
    let mut e = two_symbol_engine();
    let policy = FixedPolicy { shape: PolicyShape { max_symbols: 2, lookback_window: 500, n_features: 6 }, calls: Default::default() };
    e.start_session(SessionSpec { symbols: vec![InstrumentId(0)], target_capital: Money::from_units(1000), policy: Box::new(policy) })
        .unwrap();
    e.fail_session("warm-up not ready within 1 s: EUR_USD has 0 of 500 bars".into());
    let st = e.session_status();
    assert_eq!(st.state, SessionState::Failed);
    assert!(st.reason.unwrap().contains("EUR_USD"));
    let too_many = FixedPolicy { shape: PolicyShape { max_symbols: 1, lookback_window: 5, n_features: 6 }, calls: Default::default() };
    assert!(matches!(
        e.start_session(SessionSpec {
            symbols: vec![InstrumentId(0), InstrumentId(1)],
            target_capital: Money::from_units(1000),
            policy: Box::new(too_many)
        }),
        Err(SessionError::Invalid(_))
    ));
}

/// Follows the last bar's first feature of each slot: a pure function of the observation, like a
/// TorchScript policy, so a reloaded copy decides exactly as the original.
struct FollowPolicy {
    shape: PolicyShape,
}

impl Policy for FollowPolicy {
    fn shape(&self) -> PolicyShape {
        self.shape
    }
    fn decide(&mut self, obs: &[f32], mask: &[f32], actions: &mut [f32]) -> Result<(), PolicyError> {
        let (l, f) = (self.shape.lookback_window, self.shape.n_features);
        for (i, a) in actions.iter_mut().enumerate() {
            *a = if mask[i] == 0.0 { 0.0 } else { (obs[i * l * f + (l - 1) * f] * 5000.0).tanh() };
        }
        Ok(())
    }
    fn source(&self) -> Option<String> {
        Some("follow".into())
    }
}

#[test]
fn a_running_session_survives_save_and_restore() {
    let shape = PolicyShape { max_symbols: 4, lookback_window: 20, n_features: 6 };
    let mut e = two_symbol_engine();
    feed(&mut e, 0, 10);
    e.start_session(SessionSpec {
        symbols: vec![InstrumentId(0), InstrumentId(1)],
        target_capital: Money::from_units(20_000),
        policy: Box::new(FollowPolicy { shape }),
    })
    .unwrap();
    feed(&mut e, 10, 30);
    e.drain_events(|_| {});
    let before = e.session_status();
    assert_eq!(before.state, SessionState::Running);
    assert!(before.decisions > 0 && !before.open_positions.is_empty(), "{before:?}");

    let saved = e.save_state().unwrap();
    let json = serde_json::to_vec(&saved).unwrap();
    let parsed: super::state::EngineState = serde_json::from_slice(&json).unwrap();
    let table = e.instruments().clone();
    let config = PaperConfig { starting_balance: Money::from_units(100_000), commission_rate: Rate::ZERO };
    let mut loaded = Vec::new();
    let mut r = Engine::restore(table, config, parsed, &mut |src| {
        loaded.push(src.to_string());
        Ok(Box::new(FollowPolicy { shape }) as Box<dyn Policy>)
    })
    .unwrap();
    assert_eq!(loaded, ["follow"]);
    // Everything but the wall time a decision took (a measurement, not state that decides anything).
    let untimed = |mut s: crate::session::SessionStatus| {
        s.last_decision_cost_ns = 0;
        s
    };
    let untimed_state = |mut s: super::state::EngineState| {
        if let Some(x) = s.session.as_mut() {
            x.last_decision_cost_ns = 0;
        }
        s
    };
    assert_eq!(untimed(r.session_status()), untimed(before.clone()));

    feed(&mut e, 30, 45);
    feed(&mut r, 30, 45);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    e.drain_events(|x| a.push(*x));
    r.drain_events(|x| b.push(*x));
    assert!(e.session_status().decisions > before.decisions, "the session keeps deciding after the snapshot");
    assert!(a.iter().any(|x| matches!(x, EngineEvent::Fill(_))), "and trading");
    assert_eq!(a, b);
    assert_eq!(untimed(e.session_status()), untimed(r.session_status()));
    assert_eq!(untimed_state(e.save_state().unwrap()), untimed_state(r.save_state().unwrap()));
}

/// `n` one-minute bars of both symbols ending at `end_min`, as a broker's candles give them.
fn candles(inst: usize, end_min: i64, n: i64) -> Vec<crate::bars::Bar> {
    let base = if inst == 0 { 220_000 } else { 134_000 };
    (end_min - n..end_min)
        .map(|m| {
            let mid = base + 2 * ((m * 7) % 11);
            crate::bars::Bar { start_ns: m * MIN, end_ns: (m + 1) * MIN, open: mid, high: mid + 4, low: mid - 4, close: mid + 2, ticks: 3 }
        })
        .collect()
}

fn apply(e: &mut Engine, c: crate::change::Change) -> Result<(), crate::change::ChangeError> {
    let c = e.prepare_change(c, &ChangeResources::default())?;
    e.apply_change(&c, ChangeResources::default())
}

#[test]
fn a_session_at_an_external_venue_warms_up_from_seeded_bars_and_waits_for_each_report() {
    use crate::broker::VenueReport;
    use crate::change::Change;
    let mut e = two_symbol_engine();
    e.set_external_venue(true);
    feed(&mut e, 100, 101);
    for (i, symbol) in ["EUR_USD", "AUD_USD"].iter().enumerate() {
        apply(&mut e, Change::BarsSeeded { symbol: symbol.to_string(), bars: candles(i, 100, 30) }).expect("seeded");
    }
    let mut bad = candles(0, 100, 2);
    bad.reverse();
    let refused = apply(&mut e, Change::BarsSeeded { symbol: "EUR_USD".into(), bars: bad });
    assert!(matches!(refused, Err(crate::change::ChangeError::Invalid { ref field, .. }) if field == "bars"), "{refused:?}");
    let policy = FixedPolicy { shape: PolicyShape { max_symbols: 4, lookback_window: 20, n_features: 6 }, calls: Default::default() };
    let book = e
        .start_session(SessionSpec {
            symbols: vec![InstrumentId(0), InstrumentId(1)],
            target_capital: Money::from_units(20_000),
            policy: Box::new(policy),
        })
        .unwrap();
    assert_eq!(e.session_status().state, SessionState::Running, "ready from the seeded bars, no live bars needed");
    feed(&mut e, 101, 102);
    let sent: Vec<_> = e.broker().awaiting().to_vec();
    assert_eq!(sent.len(), 2, "one order per symbol: {sent:?}");
    assert!(sent.iter().all(|a| a.stop_loss.is_some() && a.take_profit.is_some()), "stops and targets go to the venue: {sent:?}");
    assert_eq!(e.broker().net_quantity(book, InstrumentId(0)), 0, "nothing booked before the venue reports");
    // More decisions while the orders are out send nothing more.
    feed(&mut e, 102, 105);
    assert_eq!(e.broker().awaiting().len(), 2);
    assert!(e.session_status().decisions >= 3);
    for a in sent {
        let price = if a.order.side == Side::Buy { Price(110_010) } else { Price(67_000) };
        apply(
            &mut e,
            Change::VenueReported { report: VenueReport::Filled { order_id: a.order.id, price, ts_ns: 105 * MIN, venue_txn: 10 } },
        )
        .expect("fill");
    }
    let (eu, au) = (e.broker().net_quantity(book, InstrumentId(0)), e.broker().net_quantity(book, InstrumentId(1)));
    assert!(eu > 0 && au < 0, "{eu} {au}");
    // Stale prices: no new exposure.
    apply(&mut e, Change::VenueReported { report: VenueReport::FeedStale { stale: true } }).expect("stale");
    apply(&mut e, Change::SessionStopped).expect("stopped");
    assert!(e.broker().awaiting().is_empty());
}

#[test]
fn the_stopped_sessions_positions_are_closed_at_market_on_request() {
    use crate::change::{Change, ChangeError};
    let mut e = two_symbol_engine();
    let close = || Change::SessionPositionsClosed { closes: Vec::new() };
    assert!(matches!(apply(&mut e, close()), Err(ChangeError::Conflict(m)) if m.contains("no session")));
    feed(&mut e, 0, 10);
    let policy = FixedPolicy { shape: PolicyShape { max_symbols: 4, lookback_window: 20, n_features: 6 }, calls: Default::default() };
    let spec = SessionSpec {
        symbols: vec![InstrumentId(0), InstrumentId(1)],
        target_capital: Money::from_units(20_000),
        policy: Box::new(policy),
    };
    let book = e.start_session(spec).unwrap();
    feed(&mut e, 10, 40);
    assert!(e.broker().net_quantity(book, InstrumentId(0)) > 0 && e.broker().net_quantity(book, InstrumentId(1)) < 0);
    // While it runs it would open them again: refused, nothing closed.
    assert!(matches!(apply(&mut e, close()), Err(ChangeError::Conflict(m)) if m.contains("stop it first")));
    apply(&mut e, Change::SessionStopped).expect("stopped");
    // The prepared change names what it closes, so a replay closes exactly that.
    let prepared = e.prepare_change(close(), &ChangeResources::default()).expect("prepared");
    assert_eq!(prepared, Change::SessionPositionsClosed { closes: vec!["AUD_USD".into(), "EUR_USD".into()] });
    e.apply_change(&prepared, ChangeResources::default()).expect("closed");
    assert_eq!((e.broker().net_quantity(book, InstrumentId(0)), e.broker().net_quantity(book, InstrumentId(1))), (0, 0));
    assert!(e.session_status().open_positions.is_empty());
    assert!(matches!(apply(&mut e, close()), Err(ChangeError::Conflict(m)) if m.contains("no open positions")));
}
