//! `pinion bench soak`: is memory flat over a long run? The real server in-process with the journal,
//! the history database and periodic snapshots on, `--operations` ema_cross operations trading on the
//! bundled samples (or `--data`) replayed at `--replay-speed`, for `--minutes`. Every `--sample-secs`
//! it prints the process RSS, the newest snapshot's size and the orders, fills and trades so far (one
//! JSON line each), then a summary: RSS after the first minute and at the end, the growth between
//! them, the largest snapshot. The targets (issue 11): growth under 50 MB after the first minute,
//! snapshots under 5 MB.

use super::http::HttpConn;
use super::{note, SoakArgs};
use crate::config::ServeConfig;
use crate::server::Server;
use anyhow::{bail, Context};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// Resident set size of this process, bytes (Linux `/proc/self/status`).
fn rss_bytes() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no VmRSS line in /proc/self/status")?;
    Ok(kb * 1024)
}

/// Size of the newest snapshot file in `dir` (0 when none yet).
fn newest_snapshot(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .max()
        .map_or(0, |(_, len)| len)
}

fn mb(bytes: u64) -> f64 {
    (bytes as f64 / 1e6 * 10.0).round() / 10.0
}

pub fn run(a: SoakArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("creating a temporary data directory")?;
    let mut cfg = ServeConfig {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        replay_speed: a.replay_speed,
        journal: true,
        snapshot_every_secs: a.snapshot_secs,
        log_level: "warn".into(),
        ..ServeConfig::default()
    };
    if let Some(d) = &a.data {
        cfg.ticks = vec![d.clone()];
    }
    cfg.validate()?;
    let server = Server::start(&cfg)?;
    note(format!("server on {} with the journal on, feed {} at {}x", server.addr, server.fed.join(","), a.replay_speed));
    let mut conn = HttpConn::connect(server.addr)?;
    for i in 0..a.operations {
        let asset = &server.fed[i % server.fed.len()];
        let (fast, slow) = (3 + i as u64, 8 + 2 * i as u64);
        let body = json!({
            "asset": asset, "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
            "strategy_config": { "fast": fast, "slow": slow, "trade_size": 10000 },
            "initial_capital": 100000, "stop_loss_type": "PIPS", "stop_loss_value": 10, "take_profit_type": "RISK_REWARD", "take_profit_value": 2,
        });
        let (status, resp) = conn.request("POST", "/api/operations", Some(&body.to_string()))?;
        if status != 201 {
            bail!("creating operation {i}: HTTP {status}: {}", String::from_utf8_lossy(&resp));
        }
    }
    let snapshots = crate::snapshots::dir(&cfg.data_dir);
    let t0 = Instant::now();
    let end = Duration::from_secs_f64(a.minutes * 60.0);
    let (mut at_minute, mut max_rss, mut max_snapshot) = (None, 0u64, 0u64);
    loop {
        std::thread::sleep(Duration::from_secs_f64(a.sample_secs).min(end.saturating_sub(t0.elapsed())).max(Duration::from_millis(10)));
        let elapsed = t0.elapsed();
        let rss = rss_bytes()?;
        let snapshot = newest_snapshot(&snapshots);
        let (orders, fills, trades) = {
            let s = server.app.read.read();
            s.books.iter().fold((0, 0, 0), |(o, f, t), b| (o + b.counts.orders, f + b.counts.fills, t + b.counts.trades))
        };
        println!(
            "{}",
            json!({ "bench": "soak_sample", "seconds": elapsed.as_secs(), "rss_mb": mb(rss), "snapshot_mb": mb(snapshot),
                "orders": orders, "fills": fills, "trades": trades })
        );
        if at_minute.is_none() && elapsed >= Duration::from_secs(60) {
            at_minute = Some(rss);
        }
        (max_rss, max_snapshot) = (max_rss.max(rss), max_snapshot.max(snapshot));
        let last_rss = rss;
        if elapsed >= end {
            let base = at_minute.unwrap_or(last_rss);
            println!(
                "{}",
                json!({
                    "bench": "soak", "minutes": a.minutes, "replay_speed": a.replay_speed, "operations": a.operations,
                    "rss_mb_after_1_min": mb(base), "rss_mb_end": mb(last_rss), "rss_mb_max": mb(max_rss),
                    "rss_growth_mb_after_1_min": mb(last_rss.saturating_sub(base)),
                    "snapshot_mb_max": mb(max_snapshot), "orders": orders, "fills": fills, "trades": trades,
                    "history_db_mb": mb(std::fs::metadata(cfg.data_dir.join(pinion_io::history::FILE_NAME)).map_or(0, |m| m.len())),
                })
            );
            break;
        }
    }
    server.shutdown();
    Ok(())
}
