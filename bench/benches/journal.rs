//! Journal benchmarks: append throughput, group-commit latency with 1 and 8
//! writers, and restart time (open + scan, full read) of 1,000,000 events.
//!
//! Writes into a temp dir; set `PINION_BENCH_DIR` to measure a real disk
//! (a tmpfs makes fdatasync free).

use std::hint::black_box;
use std::path::Path;
use std::sync::Barrier;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pinion_io::journal::{Journal, JournalError, JournalHandle, JournalOptions, JournalReader};

const PAYLOAD: usize = 100;

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("PINION_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("create bench temp dir")
}

type Started = (JournalHandle, JoinHandle<Result<Journal, JournalError>>);

fn start(dir: &Path) -> Started {
    let opts = JournalOptions { segment_size: 16 << 20, ..JournalOptions::default() };
    let (journal, _) = Journal::open(dir, opts).expect("open journal");
    journal.start()
}

fn stop((handle, thread): Started) {
    handle.close().expect("close journal");
    thread.join().expect("journal thread").expect("journal stop");
}

/// Appends `BATCH` records without waiting, then waits for the last one.
fn append_throughput(c: &mut Criterion) {
    const BATCH: u64 = 10_000;
    let dir = bench_dir();
    let started = start(dir.path());
    let handle = &started.0;
    let mut group = c.benchmark_group("journal_append");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("nowait_100B_x10k_then_wait", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for _ in 1..BATCH {
                    handle.append_nowait(1, vec![0xA5; PAYLOAD]).expect("append");
                }
                let ticket = handle.append(1, vec![0xA5; PAYLOAD]).expect("append");
                ticket.wait().expect("durable");
                total += start.elapsed();
                // Keep the disk footprint bounded; not measured.
                handle.compact(handle.durable_seq()).expect("compact");
            }
            total
        })
    });
    group.finish();
    stop(started);
}

/// Latency of `append(..).wait()` seen by each of `writers` concurrent
/// writers; one iteration is one durable append per writer.
fn commit_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("journal_commit_latency");
    group.sample_size(20);
    for writers in [1usize, 8] {
        let dir = bench_dir();
        let started = start(dir.path());
        let handle = &started.0;
        group.throughput(Throughput::Elements(writers as u64));
        group.bench_with_input(BenchmarkId::new("append_wait_100B", writers), &writers, |b, &writers| {
            b.iter_custom(|iters| {
                let barrier = Barrier::new(writers);
                let elapsed = std::thread::scope(|s| {
                    let threads: Vec<_> = (0..writers)
                        .map(|_| {
                            s.spawn(|| {
                                barrier.wait();
                                let start = Instant::now();
                                for _ in 0..iters {
                                    let t = handle.append(2, vec![0x5A; PAYLOAD]).expect("append");
                                    t.wait().expect("durable");
                                }
                                start.elapsed()
                            })
                        })
                        .collect();
                    threads.into_iter().map(|t| t.join().expect("writer thread")).max().unwrap_or_default()
                });
                handle.compact(handle.durable_seq()).expect("compact");
                elapsed
            })
        });
        stop(started);
    }
    group.finish();
}

/// Open (recovery scan) and full read of a journal of 1,000,000 events.
fn restart(c: &mut Criterion) {
    const EVENTS: u64 = 1_000_000;
    let dir = bench_dir();
    {
        let (mut journal, _) = Journal::open(dir.path(), JournalOptions::default()).expect("open journal");
        let payload = [0x3C; PAYLOAD];
        for i in 0..EVENTS {
            journal.append((i % 16) as u16, &payload).expect("append");
            if i % 65_536 == 65_535 {
                journal.commit().expect("commit");
            }
        }
        journal.commit().expect("commit");
    }
    let mut group = c.benchmark_group("journal_restart_1M_100B");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS));
    group.bench_function("open_scan", |b| {
        b.iter(|| {
            let (journal, recovery) = Journal::open(dir.path(), JournalOptions::default()).expect("open journal");
            assert_eq!(recovery.records, EVENTS);
            black_box(journal)
        })
    });
    group.bench_function("read_all", |b| {
        b.iter(|| {
            let mut reader = JournalReader::open(dir.path(), 0).expect("open reader");
            let (mut n, mut bytes) = (0u64, 0usize);
            while let Some(r) = reader.next_record().expect("read") {
                n += 1;
                bytes += r.payload.len();
            }
            assert_eq!(n, EVENTS);
            black_box(bytes)
        })
    });
    group.finish();
}

criterion_group!(benches, append_throughput, commit_latency, restart);
criterion_main!(benches);
