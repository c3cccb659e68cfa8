//! Import throughput: the real AUD/USD quote CSV (gzip) parsed into ticks, and a `.pinticks` file
//! opened (mapped and validated) and iterated, both in ticks per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pinion_io::import::import_csv_quotes;
use pinion_io::tickfile::{write_tick_file, TickFile};
use std::hint::black_box;
use std::path::Path;

const AUDUSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/audusd_truefx_20200130-31_quotes.csv.gz");

fn bench_import(c: &mut Criterion) {
    let src = Path::new(AUDUSD);
    if !src.exists() {
        eprintln!("note: {AUDUSD} absent; skipping the import benchmarks");
        return;
    }
    let imported = match import_csv_quotes(src, None) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("cannot import {AUDUSD}: {e}");
            return;
        }
    };
    let n = imported.ticks.len() as u64;

    let mut g = c.benchmark_group("import");
    g.throughput(Throughput::Elements(n));
    g.sample_size(20);
    g.bench_function("csv_gz_audusd", |b| {
        b.iter(|| {
            let got = import_csv_quotes(black_box(src), None);
            black_box(got.map(|i| i.ticks.len()).unwrap_or(0))
        })
    });

    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("no temp dir: {e}");
            return;
        }
    };
    let path = dir.path().join("audusd.pinticks");
    if let Err(e) = write_tick_file(&path, &imported.instruments, &imported.ticks) {
        eprintln!("cannot write {}: {e}", path.display());
        return;
    }
    g.bench_function("pinticks_open_iterate", |b| {
        b.iter(|| {
            let Ok(f) = TickFile::open(black_box(&path)) else {
                return 0;
            };
            f.ticks().iter().fold(0i64, |acc, t| acc.wrapping_add(t.bid ^ t.ask ^ t.ts_ns))
        })
    });
    g.finish();
}

criterion_group!(benches, bench_import);
criterion_main!(benches);
