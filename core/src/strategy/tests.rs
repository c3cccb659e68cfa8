//! Tests of strategy configuration validation and of `ema_cross` decisions.

use super::*;
use crate::bars::BarSize;
use crate::fixed::Price;
use crate::instrument::{Instrument, InstrumentId};
use serde_json::json;

fn eurusd() -> Instrument {
    Instrument::fx("EUR", "USD")
}

#[test]
fn unknown_keys_and_out_of_range_values_are_rejected() {
    let i = eurusd();
    let err = |name, cfg| build_strategy(name, &cfg, &i).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err("ema_cross", json!({"fast": 10, "slow": 20, "bogus": 1})).contains("bogus"));
    assert!(err("ema_cross", json!({"fast": 30, "slow": 20})).contains("fast"));
    assert!(err("ema_cross", json!({"trade_size": 0.5})).contains("trade_size"));
    assert!(err("ema_cross", json!({"fast": 0})).contains("fast"));
    assert!(err("MomentumStrategy", json!({"rsi_period": 1})).contains("rsi_period"));
    assert!(err("MomentumStrategy", json!({"rsi_oversold": 80, "rsi_overbought": 70})).contains("rsi_oversold"));
    assert!(err("RSIStrategy", json!({"overbought": 170})).contains("overbought"));
    assert!(err("BollingerBandsMeanReversion", json!({"num_std": -1})).contains("num_std"));
    assert!(err("ATRBreakout", json!({"lookback": 0})).contains("lookback"));
    assert!(err("BuyAndHoldStrategy", json!({"x": 1})).contains("x"));
    assert!(err("Nope", json!({})).contains("unknown strategy"));
    assert!(err("ema_cross", json!([1])).contains("object"));
    for name in STRATEGY_NAMES {
        assert!(build_strategy(name, &json!({}), &i).is_ok(), "{name} defaults");
        assert!(build_strategy(name, &serde_json::Value::Null, &i).is_ok(), "{name} null config");
    }
}

#[test]
fn hostile_numbers_in_configs_are_refused_naming_the_field() {
    let i = eurusd();
    let err = |name, cfg| build_strategy(name, &cfg, &i).err().map(|e| e.to_string()).unwrap_or_default();
    for (name, cfg, field) in [
        ("ema_cross", json!({"trade_size": 4294967296u64}), "trade_size"),
        ("ema_cross", json!({"trade_size": 1e308}), "trade_size"),
        ("ema_cross", json!({"trade_size": 4.9e-324}), "trade_size"),
        ("ema_cross", json!({"fast": 10, "slow": 10_001}), "slow"),
        ("MomentumStrategy", json!({"macd_signal": 10_001}), "macd_signal"),
        ("RSIStrategy", json!({"exit_long": 4.9e-324}), "exit_long"),
        ("RSIStrategy", json!({"oversold": -1e308}), "oversold"),
        ("BollingerBandsMeanReversion", json!({"period": 1u64 << 40}), "period"),
        ("ATRBreakout", json!({"multiplier": 2.2e-310}), "multiplier"),
    ] {
        let e = err(name, cfg.clone());
        assert!(e.contains(field), "{name} {cfg}: {e}");
    }
    assert!(
        build_strategy("ema_cross", &json!({"fast": 9_999, "slow": 10_000, "trade_size": 1e9}), &i).is_ok(),
        "the bounds are inclusive"
    );
}

fn run_ticks(s: &mut dyn Strategy, inst: &Instrument, mids: &[i64], mut position: i64) -> Vec<Vec<Intent>> {
    let bars = BarAggregator::new(&[BarSize::parse("1 min").unwrap()]);
    let mut out = Vec::new();
    for (k, &m) in mids.iter().enumerate() {
        let mut intents = Intents::default();
        let mut ctx = StrategyContext { instrument: inst, position, bars: &bars, primary: 0, entries_allowed: true, intents: &mut intents };
        let t = Tick::quote(k as i64, InstrumentId(0), Price(m), Price(m), Quantity(1), Quantity(1));
        s.on_tick(&t, &mut ctx);
        let got: Vec<Intent> = (0..intents.len()).filter_map(|i| intents.get(i)).collect();
        for i in &got {
            match *i {
                Intent::Close => position = 0,
                Intent::Enter { side, quantity } => position += side.sign() * quantity.map_or(1, |q| q.0),
            }
        }
        out.push(got);
    }
    out
}

#[test]
fn ema_cross_enters_once_ready_then_reverses_with_two_orders() {
    let inst = eurusd();
    let mut s = EmaCross::new(EmaCrossConfig { fast: 2, slow: 3, trade_size: 1000.0 }, &inst).unwrap();
    // rising prices: ready after 3 inputs, fast >= slow -> long
    let got = run_ticks(&mut s, &inst, &[100, 101, 102, 103, 90, 80], 0);
    assert!(got[0].is_empty() && got[1].is_empty());
    assert_eq!(got[2], vec![Intent::Enter { side: Side::Buy, quantity: Some(Quantity(1000)) }]);
    assert!(got[3].is_empty(), "never adds");
    // the fall turns fast below slow: close then open short on the same tick
    let rev = got.iter().position(|g| g.len() == 2).expect("a reversal");
    assert_eq!(got[rev], vec![Intent::Close, Intent::Enter { side: Side::Sell, quantity: Some(Quantity(1000)) }]);
}
