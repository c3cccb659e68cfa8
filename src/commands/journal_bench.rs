//! `pinion journal bench`: what durability costs. Restart time of a server whose journal holds N events
//! (default 1,000,000), and the core's tick -> order-intent latency with the journal on versus off.

use crate::config::ServeConfig;
use crate::durable::{CHANGE, EVENT, PROGRESS};
use crate::server::Server;
use pinion_io::journal::{Journal, JournalOptions};
use serde_json::json;
use std::time::{Duration, Instant};

/// Writes a journal of `events` order events (one operation, progress markers every 100 events).
fn write_journal(dir: &std::path::Path, events: u64) -> anyhow::Result<()> {
    let (mut j, _) = Journal::open(dir, JournalOptions::default())?;
    let create = json!({ "tick_pos": 0, "cmd": 1, "change": { "kind": "operation_created", "op_id": 1, "book": 0, "spec": {
        "asset": "EUR_USD", "bar_sizes": ["1 min"], "primary_bar_size": "1 min", "strategy_name": "ema_cross",
        "strategy_config": {"fast": 10, "slow": 30, "trade_size": 10000}, "initial_capital": 1_000_000,
        "stop_loss_type": "PIPS", "stop_loss_value": 10.0, "take_profit_type": "RISK_REWARD", "take_profit_value": 2.0,
        "crash_recovery_mode": "RESUME", "emergency_stop_loss_pct": 0.05 } } });
    j.append(CHANGE, create.to_string().as_bytes())?;
    let (order, progress) = (EVENT, PROGRESS);
    for i in 0..events {
        let e = json!({ "e": "order", "id": i + 1, "book": 0, "inst": 0, "side": "BUY", "type": "MARKET", "purpose": "ENTRY",
            "qty": 10000, "price": 0, "status": "FILLED", "fill": 110_000 + (i % 50) as i64, "reason": null, "ts": 1_580_398_089_820_000_000i64 + i as i64 });
        j.append(order, e.to_string().as_bytes())?;
        if i % 100 == 99 {
            j.append(progress, json!({ "ticks": 1000, "ts": 0 }).to_string().as_bytes())?;
        }
        if i % 65_536 == 0 {
            j.commit()?;
        }
    }
    j.commit()?;
    Ok(())
}

fn config(dir: &std::path::Path, journal: bool, speed: f64) -> ServeConfig {
    ServeConfig { bind: "127.0.0.1:0".into(), data_dir: dir.to_path_buf(), journal, replay_speed: speed, ..ServeConfig::default() }
}

/// Core tick -> order-intent percentiles over `secs` seconds of a running server with one ema_cross operation.
fn core_latency(journal: bool, secs: u64) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(&config(dir.path(), journal, 300.0))?;
    let app = server.app.clone();
    let body = json!({ "asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
        "strategy_config": {"fast": 5, "slow": 20, "trade_size": 10000}, "stop_loss_type": "PIPS", "stop_loss_value": 10 });
    let req = pinion_http::api::Request::post_json("/api/operations", &body.to_string());
    let reply = pinion_http::server::dispatch(&app, &req);
    if reply.status != 201 {
        anyhow::bail!("creating the operation: {} {}", reply.status, reply.body);
    }
    app.call(|e| e.enable_latency(1 << 20)).map_err(|e| anyhow::anyhow!(e.detail))?;
    std::thread::sleep(Duration::from_secs(secs));
    let p = app.call(|e| e.latency().map(|l| l.percentiles())).map_err(|e| anyhow::anyhow!(e.detail))?.unwrap_or_default();
    drop(app);
    server.shutdown();
    Ok(json!({ "journal": journal, "intents": p.count, "p50_ns": p.p50, "p99_ns": p.p99, "p999_ns": p.p999, "max_ns": p.max }))
}

/// Starts `pinion serve` on `data` in a child process and returns the seconds until it listens (journal
/// recovery included), then kills it.
fn timed_start(data: &std::path::Path) -> anyhow::Result<f64> {
    use std::io::BufRead;
    let t = Instant::now();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--bind", "127.0.0.1:0", "--replay-speed", "1", "--log-level", "warn", "--data-dir"])
        .arg(data)
        .env_remove("PINION_SNAPSHOT_EVERY_SECS")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut line = String::new();
    let read = child.stdout.take().map(|out| std::io::BufReader::new(out).read_line(&mut line));
    let took = t.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    if !matches!(read, Some(Ok(n)) if n > 0) || !line.contains("listening") {
        anyhow::bail!("pinion serve did not start on {}", data.display());
    }
    Ok(took)
}

pub fn run(events: u64, secs: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let jdir = dir.path().join("journal");
    let t = Instant::now();
    write_journal(&jdir, events)?;
    let write_s = t.elapsed().as_secs_f64();
    // First start: no snapshot yet, every record is read; it writes a start-up snapshot.
    let restart_s = timed_start(dir.path())?;
    // Second start: from that snapshot, reading only the journal after it.
    let snapshot_s = timed_start(dir.path())?;
    let snapshot_bytes: u64 =
        std::fs::read_dir(crate::snapshots::dir(dir.path()))?.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum();
    println!(
        "{}",
        json!({ "bench": "restart", "events": events, "journal_write_seconds": write_s, "restart_seconds": restart_s,
        "restart_from_snapshot_seconds": snapshot_s, "snapshot_bytes": snapshot_bytes,
        "note": "child `pinion serve` until it listens: first from the journal alone (read + parse every record, re-execute the feed), then from the snapshot the first start wrote" })
    );
    for journal in [false, true] {
        println!("{}", json!({ "bench": "core_latency", "seconds": secs, "result": core_latency(journal, secs)? }));
    }
    Ok(())
}
