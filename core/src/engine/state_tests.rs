//! Snapshot tests: an engine saved mid-run, serialized to JSON and restored continues exactly like the
//! engine that never stopped (same events, same venue state), with every built-in strategy trading.

use super::*;
use crate::bars::BarSize;
use crate::fixed::Rate;
use crate::instrument::Instrument;
use crate::risk::RiskLimits;
use crate::strategy::build_strategy;

fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    t.add(Instrument::fx("EUR", "USD")).unwrap();
    t.add(Instrument::fx("USD", "JPY")).unwrap();
    t
}

fn config() -> PaperConfig {
    PaperConfig { starting_balance: Money::from_units(1_000_000), commission_rate: Rate::parse("0.00002").unwrap() }
}

/// A wavy EUR/USD and USD/JPY feed, one quote every 5 s, alternating instruments.
fn feed(n: usize) -> Vec<Tick> {
    (0..n)
        .map(|i| {
            let ts = 1_580_342_400_000_000_000 + i as i64 * 5_000_000_000;
            let x = i as f64;
            if i % 2 == 0 {
                let mid = 110_000.0 + 300.0 * (x / 90.0).sin() + 80.0 * (x / 7.0).sin();
                Tick::quote(ts, InstrumentId(0), Price(mid as i64 - 1), Price(mid as i64 + 1), Quantity(1), Quantity(1))
            } else {
                let mid = 109_000.0 + 200.0 * (x / 60.0).cos();
                Tick::quote(ts, InstrumentId(1), Price(mid as i64 - 2), Price(mid as i64 + 2), Quantity(1), Quantity(1))
            }
        })
        .collect()
}

fn engine_with_books() -> Engine {
    let mut e = Engine::new(table(), config());
    e.set_risk(Some(RiskEngine::new(RiskLimits::default())));
    e.enable_history(BarSize::parse("1 min").unwrap(), 64);
    let eur = e.instruments().get(InstrumentId(0)).clone();
    type BookCase = (&'static str, serde_json::Value, Option<(StopLossType, f64)>, Option<(TakeProfitType, f64)>);
    let books: [BookCase; 6] = [
        ("ema_cross", serde_json::json!({"fast": 5, "slow": 20, "trade_size": 10000}), Some((StopLossType::Pips, 10.0)), None),
        ("MomentumStrategy", serde_json::Value::Null, Some((StopLossType::Atr, 2.0)), Some((TakeProfitType::RiskReward, 2.0))),
        ("RSIStrategy", serde_json::json!({"rsi_period": 5}), None, None),
        ("BollingerBandsMeanReversion", serde_json::json!({"period": 10}), Some((StopLossType::Percentage, 0.002)), None),
        ("ATRBreakout", serde_json::json!({"atr_period": 5, "lookback": 5}), Some((StopLossType::Atr, 1.0)), None),
        ("BuyAndHoldStrategy", serde_json::Value::Null, None, Some((TakeProfitType::Pips, 5.0))),
    ];
    for (name, cfg, sl, tp) in books {
        let spec = BookSpec {
            instrument: InstrumentId(0),
            bar_sizes: vec![BarSize::parse("1 min").unwrap(), BarSize::parse("5 mins").unwrap()],
            primary: 0,
            strategy: build_strategy(name, &cfg, &eur).unwrap(),
            capital: Money::from_units(100_000),
            stop_loss: sl,
            take_profit: tp,
            risk_fraction: 0.01,
        };
        e.add_book(spec).unwrap();
    }
    e.pause(BookId(2)).unwrap();
    e
}

fn run(e: &mut Engine, ticks: &[Tick], out: &mut Vec<EngineEvent>) {
    for (i, t) in ticks.iter().enumerate() {
        e.on_tick(t);
        if i % 50 == 0 {
            e.publish_account();
        }
        e.drain_events(|ev| out.push(*ev));
    }
}

#[test]
fn restored_engine_continues_bit_identically() {
    let ticks = feed(6000);
    let (head, tail) = ticks.split_at(2500);
    let mut original = engine_with_books();
    let mut sink = Vec::new();
    run(&mut original, head, &mut sink);
    original.note_command();
    let fills_before = sink.iter().filter(|e| matches!(e, EngineEvent::Fill(_))).count();
    assert!(fills_before > 10, "the head of the feed should trade (got {fills_before} fills)");

    let saved = original.save_state().unwrap();
    let bytes = serde_json::to_vec(&saved).unwrap();
    let parsed: state::EngineState = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(parsed, saved, "JSON round trip of the saved state");
    let mut restored = Engine::restore(table(), config(), parsed, &mut |_| Err("no session".into())).unwrap();
    assert_eq!(restored.save_state().unwrap(), saved, "restore then save gives the same state");
    assert_eq!(restored.commands_applied(), 1);
    assert_eq!(restored.event_seq(), original.event_seq());

    let (mut a, mut b) = (Vec::new(), Vec::new());
    run(&mut original, tail, &mut a);
    run(&mut restored, tail, &mut b);
    assert!(a.iter().filter(|e| matches!(e, EngineEvent::Fill(_))).count() > 10, "the tail should trade too");
    assert_eq!(a, b, "events after the snapshot");
    assert_eq!(original.save_state().unwrap(), restored.save_state().unwrap(), "final state");
    assert_eq!(original.broker().balance(), restored.broker().balance());
}

#[test]
fn unsaveable_strategy_and_pending_events_refuse_a_snapshot() {
    struct Opaque;
    impl crate::strategy::Strategy for Opaque {
        fn name(&self) -> &'static str {
            "opaque"
        }
    }
    let mut e = Engine::new(table(), config());
    let spec = BookSpec {
        instrument: InstrumentId(0),
        bar_sizes: vec![BarSize::parse("1 min").unwrap()],
        primary: 0,
        strategy: Box::new(Opaque),
        capital: Money::from_units(1000),
        stop_loss: None,
        take_profit: None,
        risk_fraction: 0.01,
    };
    e.add_book(spec).unwrap();
    assert!(matches!(e.save_state(), Err(state::SnapshotError::NotSaveable(_))), "BookStatus event pending");
    e.drain_events(|_| {});
    let err = e.save_state().unwrap_err().to_string();
    assert!(err.contains("opaque"), "{err}");
}

#[test]
fn a_state_of_another_version_or_table_is_refused() {
    let e = engine_with_books();
    let mut e2 = engine_with_books();
    e2.drain_events(|_| {});
    drop(e);
    let mut s = e2.save_state().unwrap();
    s.version = 99;
    let err = Engine::restore(table(), config(), s.clone(), &mut |_| Err("x".into())).err().unwrap().to_string();
    assert!(err.contains("version 99"), "{err}");
    s.version = state::ENGINE_STATE_VERSION;
    let mut small = InstrumentTable::new();
    small.add(Instrument::fx("EUR", "USD")).unwrap();
    let err = Engine::restore(small, config(), s, &mut |_| Err("x".into())).err().unwrap().to_string();
    assert!(err.contains("instruments"), "{err}");
}
