//! The `rtrb` ring that carries ticks from the feed thread to the core thread (`Tick` payload, 48 bytes).
//!
//! - `ring/hop_latency`: one ring hop between two threads. A ping-pong over two rings (this thread
//!   pushes into ring A, an echo thread pops it and pushes it into ring B, this thread pops it); each
//!   iteration is one round trip and the time reported is the round trip / 2. Both threads spin; on a
//!   2-core machine anything else running shows up here.
//! - `ring/push_pop_single_thread`: push then pop of one tick on the same thread (the bare cost).
//! - `ring/chunk_1024_single_thread`: a 1024-tick chunked write and chunked read, the way the feed and
//!   core threads move ticks (throughput in ticks).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pinion_core::tick::Tick;
use rtrb::RingBuffer;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn tick(i: u64) -> Tick {
    Tick { ts_ns: i as i64, bid: 67_067, ask: 67_070, bid_size: 1_000_000, ask_size: 1_000_000, ..Tick::default() }
}

fn bench_hop(c: &mut Criterion) {
    let (mut ping_tx, mut ping_rx) = RingBuffer::<Tick>::new(1024);
    let (mut pong_tx, mut pong_rx) = RingBuffer::<Tick>::new(1024);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let echo = std::thread::Builder::new()
        .name("ring-echo".into())
        .spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match ping_rx.pop() {
                    Ok(t) => {
                        while pong_tx.push(t).is_err() {
                            std::hint::spin_loop();
                        }
                    }
                    Err(_) => std::hint::spin_loop(),
                }
            }
        })
        .expect("spawning the echo thread");

    let mut g = c.benchmark_group("ring");
    g.bench_function("hop_latency", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for i in 0..iters {
                while ping_tx.push(tick(i)).is_err() {
                    std::hint::spin_loop();
                }
                loop {
                    if let Ok(t) = pong_rx.pop() {
                        black_box(t);
                        break;
                    }
                    std::hint::spin_loop();
                }
            }
            t0.elapsed() / 2
        })
    });
    g.finish();
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
}

fn bench_single_thread(c: &mut Criterion) {
    let (mut tx, mut rx) = RingBuffer::<Tick>::new(1 << 16);
    let mut g = c.benchmark_group("ring");
    let mut i = 0u64;
    g.bench_function("push_pop_single_thread", |b| {
        b.iter(|| {
            i += 1;
            let _ = tx.push(black_box(tick(i)));
            black_box(rx.pop().ok())
        })
    });
    const CHUNK: usize = 1024;
    let src: Vec<Tick> = (0..CHUNK as u64).map(tick).collect();
    g.throughput(Throughput::Elements(CHUNK as u64));
    g.bench_function("chunk_1024_single_thread", |b| {
        b.iter(|| {
            if let Ok(w) = tx.write_chunk_uninit(CHUNK) {
                w.fill_from_iter(black_box(&src).iter().copied());
            }
            let mut acc = 0i64;
            if let Ok(r) = rx.read_chunk(CHUNK) {
                let (a, b2) = r.as_slices();
                for t in a.iter().chain(b2) {
                    acc = acc.wrapping_add(t.bid);
                }
                r.commit_all();
            }
            black_box(acc)
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = bench_hop, bench_single_thread }
criterion_main!(benches);
