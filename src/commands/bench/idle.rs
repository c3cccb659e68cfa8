//! `pinion bench idle` and `pinion bench scrape`: the live server's tick -> order-intent latency as the
//! core's idle policy and the tick rate change, and what scraping `/metrics` does to it.
//!
//! - `idle`: for each `--policies` x `--replay-speeds`, the real server in-process (one ema_cross
//!   operation, no load), `--seconds` of exact tick -> intent samples from the engine's recorder, plus
//!   the per-hop p50/p99 the server itself reports at `GET /api/latency` for the same window.
//! - `scrape`: one server; `--rounds` pairs of windows, the first without scrapes and the second with a
//!   client scraping `/metrics` `--hz` times a second; the core's p99 in each (medians over the rounds)
//!   and the scrape's own latency and size.

use super::http::HttpConn;
use super::{change_pct, data_path, median_u64, note, start_server_with, IdleArgs, Pct, ScrapeArgs};
use anyhow::{bail, Context};
use pinion_core::idle::IdlePolicy;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Comma-separated values, each parsed.
fn list<T: std::str::FromStr>(s: &str, what: &str) -> anyhow::Result<Vec<T>> {
    s.split(',').map(str::trim).filter(|v| !v.is_empty()).map(|v| v.parse::<T>().map_err(|_| anyhow::anyhow!("{what}: {v:?}"))).collect()
}

pub(super) fn run_idle(a: IdleArgs) -> anyhow::Result<()> {
    let policies: Vec<IdlePolicy> = list(&a.policies, "--policies")?;
    let speeds: Vec<f64> = list(&a.replay_speeds, "--replay-speeds")?;
    if policies.is_empty() || speeds.is_empty() || a.seconds == 0 {
        bail!("--policies, --replay-speeds and --seconds must not be empty or zero");
    }
    let data = data_path(&a.data)?;
    let mut table = Vec::new();
    for speed in &speeds {
        for policy in &policies {
            let h = start_server_with(data.clone(), *speed, *policy)?;
            std::thread::sleep(Duration::from_secs(1));
            note(format!("{policy} at {speed}x: {} s", a.seconds));
            let core = Pct::of(h.core_window(a.seconds)?);
            let (status, body) = HttpConn::connect(h.server.addr)?.request("GET", "/api/latency", None)?;
            if status != 200 {
                bail!("GET /api/latency: HTTP {status}");
            }
            let view: Value = serde_json::from_slice(&body).context("the latency view is not JSON")?;
            let hops: serde_json::Map<String, Value> = view["hops"]
                .as_array()
                .map(|hs| hs.iter().map(|x| (x["hop"].as_str().unwrap_or("?").to_string(), json!([x["p50_ns"], x["p99_ns"]]))).collect())
                .unwrap_or_default();
            let line = json!({
                "bench": "idle",
                "idle_policy": policy.name(),
                "replay_speed": speed,
                "seconds": a.seconds,
                "core_tick_to_intent_ns": core.json(1.0),
                "server_hops_p50_p99_ns": hops,
            });
            println!("{line}");
            table.push((policy.name(), *speed, core.count, core.p50, core.p99));
            drop(h);
        }
    }
    let rows: Vec<Value> = table
        .iter()
        .map(|(p, s, n, p50, p99)| json!({ "idle_policy": p, "replay_speed": s, "samples": n, "p50_ns": p50, "p99_ns": p99 }))
        .collect();
    println!("{}", json!({ "bench": "idle_summary", "rows": rows }));
    Ok(())
}

pub(super) fn run_scrape(a: ScrapeArgs) -> anyhow::Result<()> {
    if a.hz == 0 || a.rounds == 0 || a.seconds == 0 {
        bail!("--hz, --rounds and --seconds must be positive");
    }
    let h = start_server_with(data_path(&a.data)?, a.replay_speed, a.idle_policy)?;
    std::thread::sleep(Duration::from_secs(1));
    let (mut quiet, mut scraped) = (Vec::new(), Vec::new());
    let (mut scrape_ns, mut sizes) = (Vec::new(), Vec::new());
    for round in 1..=a.rounds {
        note(format!("round {round}/{}: {} s without scrapes", a.rounds, a.seconds));
        quiet.push(Pct::of(h.core_window(a.seconds)?));
        note(format!("round {round}/{}: {} s scraping /metrics {} times a second", a.rounds, a.seconds, a.hz));
        let stop = Arc::new(AtomicBool::new(false));
        let (addr, hz, stop2) = (h.server.addr, a.hz, stop.clone());
        let scraper = std::thread::Builder::new().name("bench-scrape".into()).spawn(move || -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
            let mut conn = HttpConn::connect(addr)?;
            let (mut took, mut size) = (Vec::new(), Vec::new());
            let every = Duration::from_secs_f64(1.0 / hz as f64);
            let start = Instant::now();
            for k in 0u32.. {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let due = start + every * k;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let t0 = Instant::now();
                let (status, body) = conn.request("GET", "/metrics", None)?;
                if status != 200 {
                    bail!("GET /metrics: HTTP {status}");
                }
                took.push(t0.elapsed().as_nanos() as u64);
                size.push(body.len() as u64);
            }
            Ok((took, size))
        })?;
        let window = h.core_window(a.seconds);
        stop.store(true, Ordering::Relaxed);
        let (took, size) = scraper.join().map_err(|_| anyhow::anyhow!("the scraper panicked"))??;
        scraped.push(Pct::of(window?));
        scrape_ns.extend(took);
        sizes.extend(size);
    }
    let p99 = |v: &[Pct]| median_u64(v.iter().map(|p| p.p99).collect());
    let (before, after) = (p99(&quiet), p99(&scraped));
    let rounds: Vec<Value> = quiet
        .iter()
        .zip(&scraped)
        .map(|(q, s)| json!({ "quiet": q.json(1.0), "scraped": s.json(1.0), "p99_change_pct": change_pct(q.p99, s.p99) }))
        .collect();
    println!(
        "{}",
        json!({
            "bench": "scrape",
            "idle_policy": a.idle_policy.name(),
            "replay_speed": a.replay_speed,
            "hz": a.hz,
            "seconds": a.seconds,
            "rounds": rounds,
            "core_p99_ns_quiet_median": before,
            "core_p99_ns_scraped_median": after,
            "core_p99_change_pct": change_pct(before, after),
            "scrapes": scrape_ns.len(),
            "scrape_latency_us": Pct::of(scrape_ns).json(1000.0),
            "scrape_bytes_median": median_u64(sizes),
        })
    );
    Ok(())
}
