//! `pinion bench live`: the core's tick -> order-intent latency when its ticks come from OANDA's
//! pricing stream instead of the replayed file. Two runs of the real server in-process, each with the
//! journal on and one ema_cross operation: first the file replayed at `--speed`, then the fake OANDA
//! on loopback streaming the same quotes at the same speed, with the operation's orders sent to the
//! fake. `--rounds` windows of `--seconds` each; the p50/p99 printed are medians over the windows, and
//! the change is live against replay. The stream thread parses and pushes on its own core, so the
//! core's figure should not move.

use super::{change_pct, data_path, load, median_u64, note, start_server_cfg, LiveArgs, Pct};
use anyhow::{bail, Context};
use pinion_core::instrument::InstrumentTable;
use pinion_io::oanda_fake::{FakeConfig, FakeOanda};
use serde_json::json;
use std::time::Duration;

const ACCOUNT: &str = "101-004-1234567-001";

/// How the operation's orders ended: "PURPOSE STATUS" -> count, newest 1000.
fn order_outcomes(h: &super::Harness) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let got = super::http::HttpConn::connect(h.server.addr)
        .and_then(|mut c| c.request("GET", &format!("/api/operations/{}/orders?limit=1000", h.operation), None));
    if let Ok((200, body)) = got {
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
        for o in rows {
            let key = format!(
                "{} {}{}",
                o["purpose"].as_str().unwrap_or("?"),
                o["status"].as_str().unwrap_or("?"),
                o["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default()
            );
            let n = out.get(&key).and_then(serde_json::Value::as_u64).unwrap_or(0);
            out.insert(key, json!(n + 1));
        }
    }
    out
}

/// `rounds` windows of the harness's core samples: (p50s, p99s, samples).
fn windows(h: &super::Harness, rounds: usize, seconds: u64, what: &str) -> anyhow::Result<(Vec<u64>, Vec<u64>, usize)> {
    std::thread::sleep(Duration::from_secs(2));
    let (mut p50, mut p99, mut n) = (Vec::new(), Vec::new(), 0);
    for r in 1..=rounds {
        note(format!("{what}: window {r}/{rounds}, {seconds} s"));
        let p = Pct::of(h.core_window(seconds)?);
        if p.count == 0 {
            bail!("{what}: no tick -> intent samples in {seconds} s (is the feed flowing?)");
        }
        p50.push(p.p50);
        p99.push(p.p99);
        n += p.count;
    }
    Ok((p50, p99, n))
}

pub(super) fn run(a: LiveArgs) -> anyhow::Result<()> {
    if a.rounds == 0 || a.seconds == 0 || !a.speed.is_finite() || a.speed <= 0.0 {
        bail!("--rounds, --seconds and --speed must be positive");
    }
    let path = data_path(&a.data)?;
    let replay = start_server_cfg(path.clone(), a.speed, |c| c.journal = true)?;
    let (r50, r99, rn) = windows(&replay, a.rounds, a.seconds, "replayed file")?;
    let replay_orders = order_outcomes(&replay);
    drop(replay);

    let data = load(&path)?;
    let mut cfg = FakeConfig::from_tick_data(ACCOUNT, &data, &InstrumentTable::builtin()).context("the fake's config")?;
    cfg.speed = a.speed;
    cfg.warmup_ticks = 100;
    cfg.loop_ticks = true;
    cfg.heartbeat_every = Duration::from_secs(1);
    cfg.starting_balance = pinion_core::fixed::Money::from_units(10_000_000);
    let token = cfg.token.clone().unwrap_or_default();
    let symbols: Vec<String> = cfg.instruments.iter().map(|i| i.name.clone()).collect();
    let fake = FakeOanda::start(cfg)?;
    let secrets = tempfile::tempdir().context("a directory for the token file")?;
    let token_file = secrets.path().join("oanda-token");
    std::fs::write(&token_file, token).context("writing the token file")?;
    let base = fake.base_url();
    note(format!("fake OANDA on {base} streaming {} at {}x", symbols.join(","), a.speed));
    let live = start_server_cfg(path, a.speed, |c| {
        c.journal = true;
        c.broker.kind = "oanda".into();
        c.broker.account_id = Some(ACCOUNT.into());
        c.broker.token_file = Some(token_file.clone());
        c.broker.rest_url = Some(base.clone());
        c.broker.stream_url = Some(base.clone());
        c.broker.instruments = symbols.clone();
    })?;
    let (l50, l99, ln) = windows(&live, a.rounds, a.seconds, "OANDA stream")?;
    let sent: usize = fake.order_counts().values().map(|n| *n as usize).sum();
    let live_orders = order_outcomes(&live);
    drop(live);
    fake.stop();

    let (r50, r99, l50, l99) = (median_u64(r50), median_u64(r99), median_u64(l50), median_u64(l99));
    println!(
        "{}",
        json!({
            "bench": "live_core",
            "speed": a.speed,
            "rounds": a.rounds,
            "seconds": a.seconds,
            "replay": { "samples": rn, "p50_ns": r50, "p99_ns": r99, "orders": replay_orders },
            "oanda_stream": { "samples": ln, "p50_ns": l50, "p99_ns": l99, "orders_sent_to_fake": sent, "orders": live_orders },
            "p99_change_pct": change_pct(r99, l99),
        })
    );
    Ok(())
}
