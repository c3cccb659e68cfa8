//! Backtest throughput through the whole pipeline, `pinion_io::backtest::run_recorded`: feed thread ->
//! `rtrb` ring -> core thread (pinned to the last CPU) -> engine -> paper broker -> summary sink, over
//! the 100k real AUD/USD quotes (throughput in ticks).
//!
//! - `pipeline/no_trade`: a strategy that reads every tick and never trades (`pinion_bench::NoTrade`).
//! - `pipeline/ema_cross`: ema_cross 10/20/100000, commission 0.00002, capital $1,000,000 (~8,900 fills).
//!
//! Each iteration runs on a freshly built engine (built untimed); the time includes starting the feed
//! thread.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pinion_bench::{ema_cross_engine, load_audusd, no_trade_engine};
use pinion_io::backtest::{run_recorded, SummarySink, DEFAULT_RING_CAPACITY};
use std::hint::black_box;
use std::time::Duration;

fn bench_pipeline(c: &mut Criterion) {
    let data = match load_audusd() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("pipeline bench skipped: {e}");
            return;
        }
    };
    let ticks = data.ticks();
    let pin = Some(std::thread::available_parallelism().map_or(1, |n| n.get()) - 1);
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(ticks.len() as u64));
    g.bench_function("no_trade", |b| {
        b.iter_batched(
            || no_trade_engine(&data),
            |mut engine| {
                let mut sink = SummarySink::new(false);
                let run = run_recorded(&mut engine, ticks, &mut sink, DEFAULT_RING_CAPACITY, pin);
                assert_eq!(run.core.ticks, ticks.len() as u64);
                black_box((run.core.ticks, sink.orders))
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("ema_cross", |b| {
        b.iter_batched(
            || ema_cross_engine(&data),
            |mut engine| {
                let mut sink = SummarySink::new(false);
                let run = run_recorded(&mut engine, ticks, &mut sink, DEFAULT_RING_CAPACITY, pin);
                assert_eq!(run.core.ticks, ticks.len() as u64);
                black_box((run.core.ticks, sink.fills))
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = bench_pipeline }
criterion_main!(benches);
