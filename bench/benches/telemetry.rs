//! What the tick path pays for its telemetry, to choose the hop clock and check the recording stays
//! cheap:
//!
//! - `clock/std_instant_now`: `std::time::Instant::now()` (vDSO `clock_gettime`).
//! - `clock/cheap_clock_now_ns`: `CheapClock::now_ns()` (`quanta`: `rdtsc` + scale).
//! - `histogram/record`: one single-writer record into a hop histogram.
//! - `telemetry/core_tick`: what `Engine::on_tick` adds per tick with telemetry attached (clock read,
//!   per-instrument count, `ring_to_tick` from the feed's stamp).

use criterion::{criterion_group, criterion_main, Criterion};
use pinion_core::telemetry::{CheapClock, Hop, Telemetry};
use pinion_core::tick::Tick;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let clock = CheapClock::global().clone();
    let mut g = c.benchmark_group("clock");
    g.bench_function("std_instant_now", |b| b.iter(|| black_box(std::time::Instant::now())));
    g.bench_function("cheap_clock_now_ns", |b| b.iter(|| black_box(clock.now_ns())));
    g.finish();
    let t = Telemetry::new(4);
    let mut i = 0u64;
    c.bench_function("histogram/record", |b| {
        b.iter(|| {
            i = i.wrapping_add(7919);
            t.record(Hop::TickToIntent, black_box(i % 100_000));
        })
    });
    let mut tick = Tick::default();
    t.feed_received(&mut tick);
    c.bench_function("telemetry/core_tick", |b| {
        b.iter(|| {
            let now = clock.now_ns();
            t.core_tick(black_box(&tick), now);
            black_box(now)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
