//! Tick -> decision latency of `ema_cross` (fast 10 / slow 20 / trade size 100,000) inside the engine:
//! an engine with the AUD/USD instrument and one ema_cross book, pre-warmed on a full pass of the real
//! quotes, then `engine.on_tick(&tick)` per tick over the file cyclically (timestamps shifted to stay
//! monotonic), draining the events after every tick.
//!
//! - `decision/ema_cross_on_tick`: mean cost of one tick, all ticks (most decide to do nothing).
//! - `decision/ema_cross_order_ticks`: mean cost of the ticks that sent orders (a crossover: close plus
//!   reverse), each timed alone with `Instant` (its ~20 ns overhead included).
//!
//! Every 10 passes the engine is replaced, untimed, by a fresh pre-warmed one so the paper account
//! (losing ~2% of its $1M per pass to commission and spread) never runs out of margin.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pinion_bench::{load_audusd, DecisionRig};
use pinion_core::events::EngineEvent;
use std::hint::black_box;
use std::time::{Duration, Instant};

const FRESH_EVERY_PASSES: i64 = 10;

fn bench_decision(c: &mut Criterion) {
    let data = match load_audusd() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("decision bench skipped: {e}");
            return;
        }
    };
    let mut g = c.benchmark_group("decision");
    g.throughput(Throughput::Elements(1));

    let mut rig = DecisionRig::new(&data, FRESH_EVERY_PASSES);
    g.bench_function("ema_cross_on_tick", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                rig.refresh_if_due();
                let n = left.min(rig.left_in_pass() as u64);
                let t0 = Instant::now();
                for _ in 0..n {
                    let t = rig.feed.next_tick();
                    rig.engine.on_tick(black_box(&t));
                    rig.engine.drain_events(|e| {
                        black_box(e);
                    });
                }
                total += t0.elapsed();
                left -= n;
            }
            total
        })
    });

    let mut rig = DecisionRig::new(&data, FRESH_EVERY_PASSES);
    g.bench_function("ema_cross_order_ticks", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut timed = 0u64;
            while timed < iters {
                rig.refresh_if_due();
                for _ in 0..rig.left_in_pass() {
                    let t = rig.feed.next_tick();
                    let t0 = Instant::now();
                    rig.engine.on_tick(black_box(&t));
                    let d = t0.elapsed();
                    if rig.engine.events().iter().any(|e| matches!(e, EngineEvent::Order { .. })) {
                        total += d;
                        timed += 1;
                    }
                    rig.engine.drain_events(|e| {
                        black_box(e);
                    });
                    if timed == iters {
                        break;
                    }
                }
            }
            total
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = bench_decision }
criterion_main!(benches);
