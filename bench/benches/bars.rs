//! Bar aggregation throughput: the 100k real AUD/USD TrueFX quotes of 2020-01-30/31 pushed through one
//! `BarAggregator` building 1-minute, 5-minute and 1-hour mid bars (ticks per second).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::read::GzDecoder;
use pinion_core::bars::{Bar, BarAggregator, BarSize};
use pinion_core::fixed::{parse_decimal, written_precision};
use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

const DATA: &str = "../../shared/data/audusd_truefx_20200130-31_quotes.csv.gz";

/// Reads `ts_ns,bid,ask,bid_size,ask_size` rows into `(ts_ns, bid + ask)` pairs.
fn load_mids() -> Result<Vec<(i64, i64)>, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DATA);
    let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader = BufReader::new(GzDecoder::new(file));
    let mut out = Vec::with_capacity(100_000);
    let mut precision = None;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 || line.is_empty() {
            continue; // header
        }
        let bad = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
        let mut fields = line.split(',');
        let (Some(ts), Some(bid), Some(ask)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad("too few fields"));
        };
        let ts: i64 = ts.parse().map_err(|_| bad("bad timestamp"))?;
        let p = *precision.get_or_insert_with(|| written_precision(bid.as_bytes()));
        let bid = parse_decimal(bid.as_bytes(), p).map_err(|e| bad(&e.to_string()))?;
        let ask = parse_decimal(ask.as_bytes(), p).map_err(|e| bad(&e.to_string()))?;
        out.push((ts, bid + ask));
    }
    Ok(out)
}

fn bench_bars(c: &mut Criterion) {
    let ticks = match load_mids() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bars bench skipped: cannot read tick data: {e}");
            return;
        }
    };
    let sizes: Vec<BarSize> = match ["1 min", "5 mins", "1 hour"].iter().map(|s| BarSize::parse(s)).collect() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bars bench skipped: {e}");
            return;
        }
    };
    let mut agg = BarAggregator::new(&sizes);
    let mut group = c.benchmark_group("bars");
    group.throughput(Throughput::Elements(ticks.len() as u64));
    group.bench_function("audusd_100k_1min_5min_1hour", |b| {
        b.iter(|| {
            agg.reset();
            let mut closed = 0u64;
            let mut emit = |i: usize, bar: &Bar| {
                closed += i as u64 + bar.ticks as u64;
            };
            for &(ts, mid_x2) in black_box(&ticks) {
                agg.on_tick(ts, mid_x2, &mut emit);
            }
            black_box(closed)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_bars);
criterion_main!(benches);
