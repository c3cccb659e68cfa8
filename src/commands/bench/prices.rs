//! `pinion bench prices`: the cost of OANDA's pricing stream on pinion's side, per line: a v20 `PRICE`
//! line (as the stream sends it) parsed with simd-json into a quote tick and pushed into the tick ring
//! (`pinion_io::oanda::pricing::parse_line` + `rtrb` push), timed line by line. The lines are built from
//! the recorded AUD/USD quotes; a consumer thread drains the ring like the core does. Prints p50/p90/p99
//! per line in ns and lines per second, medians over `--repeat` runs.

use super::{data_path, load, median_u64, note, Pct, PricesArgs};
use pinion_core::instrument::InstrumentId;
use pinion_core::tick::Tick;
use pinion_io::oanda::pricing::{parse_line, StreamInstrument};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn price_line(symbol: &str, t: &Tick, precision: u8) -> String {
    let px = |v: i64| pinion_io::oanda::orders::decimal(v, precision);
    json!({
        "type": "PRICE", "time": pinion_core::time::format_iso(t.ts_ns),
        "bids": [{ "price": px(t.bid), "liquidity": 1_000_000 }], "asks": [{ "price": px(t.ask), "liquidity": 1_000_000 }],
        "closeoutBid": px(t.bid), "closeoutAsk": px(t.ask), "status": "tradeable", "tradeable": true, "instrument": symbol,
    })
    .to_string()
}

pub fn run(a: PricesArgs) -> anyhow::Result<()> {
    let data = load(&data_path(&a.data)?)?;
    let inst = data.instruments().first().cloned().ok_or_else(|| anyhow::anyhow!("the file holds no instrument"))?;
    let lines: Vec<Vec<u8>> =
        data.ticks().iter().take(a.lines).map(|t| price_line(&inst.symbol, t, inst.price_precision).into_bytes()).collect();
    let instruments = vec![StreamInstrument {
        name: inst.symbol.clone(),
        id: InstrumentId(0),
        price_precision: inst.price_precision,
        size_precision: inst.size_precision,
    }];
    note(format!(
        "{} PRICE lines of {} ({} bytes each on average)",
        lines.len(),
        inst.symbol,
        lines.iter().map(Vec::len).sum::<usize>() / lines.len().max(1)
    ));
    let (mut p50, mut p90, mut p99, mut rate) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..a.repeat {
        let (mut producer, mut consumer) = rtrb::RingBuffer::<Tick>::new(1 << 16);
        let done = Arc::new(AtomicBool::new(false));
        let done2 = done.clone();
        let drain = std::thread::spawn(move || {
            let mut n = 0u64;
            while !done2.load(Ordering::Acquire) || !consumer.is_empty() {
                match consumer.pop() {
                    Ok(_) => n += 1,
                    Err(_) => std::hint::spin_loop(),
                }
            }
            n
        });
        let mut samples = Vec::with_capacity(lines.len());
        let mut buf = Vec::with_capacity(1024);
        let t0 = Instant::now();
        for l in &lines {
            buf.clear();
            buf.extend_from_slice(l);
            let s = Instant::now();
            let tick = parse_line(&mut buf, &instruments).map_err(|e| anyhow::anyhow!(e))?.ok_or_else(|| anyhow::anyhow!("not a price"))?;
            while producer.push(tick).is_err() {
                std::hint::spin_loop();
            }
            samples.push(s.elapsed().as_nanos() as u64);
        }
        let secs = t0.elapsed().as_secs_f64();
        done.store(true, Ordering::Release);
        let got = drain.join().map_err(|_| anyhow::anyhow!("the consumer panicked"))?;
        anyhow::ensure!(got == lines.len() as u64, "the ring delivered {got} of {} ticks", lines.len());
        let pct = Pct::of(samples);
        p50.push(pct.p50);
        p90.push(pct.p90);
        p99.push(pct.p99);
        rate.push((lines.len() as f64 / secs) as u64);
    }
    println!(
        "{}",
        json!({ "bench": "oanda_price_line", "lines": lines.len(), "repeat": a.repeat,
            "parse_push_ns": { "p50": median_u64(p50), "p90": median_u64(p90), "p99": median_u64(p99) },
            "lines_per_second": median_u64(rate) })
    );
    Ok(())
}
