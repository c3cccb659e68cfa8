//! One model-session decision (observation build + TorchScript inference + risk sizing) for 1, 5 and 20
//! symbols with the shipped example model (20 slots, 32-bar lookback, 6 features).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pinion_core::bars::BarSize;
use pinion_core::broker::PaperConfig;
use pinion_core::engine::Engine;
use pinion_core::fixed::{Money, Price, Quantity, Rate};
use pinion_core::instrument::{Instrument, InstrumentId, InstrumentTable};
use pinion_core::risk::{RiskEngine, RiskLimits};
use pinion_core::session::SessionSpec;
use pinion_core::tick::Tick;
use pinion_models::{build_example, TorchPolicy, EXAMPLE_LOOKBACK_WINDOW, EXAMPLE_MAX_SYMBOLS, EXAMPLE_N_FEATURES};

const MIN: i64 = 60_000_000_000;

/// 20 USD-quoted pairs: the built-in ones plus synthetic codes.
fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    for base in [
        "EUR", "GBP", "AUD", "NZD", "XAA", "XAB", "XAC", "XAD", "XAE", "XAF", "XAG", "XAH", "XAI", "XAJ", "XAK", "XAL", "XAM", "XAN",
        "XAO", "XAP",
    ] {
        t.add(Instrument::fx(base, "USD")).expect("room for 20 instruments");
    }
    t
}

/// An engine whose history holds 40 one-minute bars per instrument and a running session on `n` symbols.
fn engine_with_session(model: &std::path::Path, n: usize) -> Engine {
    let t = table();
    let count = t.len();
    let mut e = Engine::new(t, PaperConfig { starting_balance: Money::from_units(1_000_000), commission_rate: Rate::ZERO });
    e.enable_history(BarSize::parse("1 min").expect("valid"), 256);
    e.set_risk(Some(RiskEngine::new(RiskLimits { max_total_exposure_usd: 1e9, ..Default::default() })));
    for m in 0..40i64 {
        for k in 0..6i64 {
            for i in 0..count {
                let w = (m * 13 + k * 7 + i as i64 * 3) % 17;
                let ts = m * MIN + k * 10_000_000_000 + i as i64;
                e.on_tick(&Tick::quote(ts, InstrumentId(i as u16), Price(100_000 + w), Price(100_002 + w), Quantity(1), Quantity(1)));
            }
        }
    }
    let policy = TorchPolicy::load(model).expect("example model loads");
    let symbols = (0..n).map(|i| InstrumentId(i as u16)).collect();
    e.start_session(SessionSpec { symbols, target_capital: Money::from_units(100_000), policy: Box::new(policy) }).expect("session starts");
    e.on_tick(&Tick::quote(41 * MIN, InstrumentId(0), Price(100_000), Price(100_002), Quantity(1), Quantity(1)));
    e
}

fn bench_decision(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("example.pt");
    build_example(&model, EXAMPLE_MAX_SYMBOLS, EXAMPLE_LOOKBACK_WINDOW, EXAMPLE_N_FEATURES).expect("example model builds");
    let mut g = c.benchmark_group("session_decision");
    for n in [1usize, 5, 20] {
        let mut e = engine_with_session(&model, n);
        let mut end = 100 * MIN;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                end += MIN;
                e.decide(end);
                e.drain_events(|_| {});
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_decision);
criterion_main!(benches);
