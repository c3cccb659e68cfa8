//! End-to-end tests of `pinion backtest` and `pinion import`: the issue's reference backtest is
//! bit-identical across runs (same fills file, same balance) and consistent with its own fills, and a
//! merged import round-trips through a backtest.

use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} is not present", p.display());
        None
    }
}

fn pinion(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pinion")).args(args).output().expect("running pinion");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "pinion {args:?} failed: {stderr}");
    (stdout, stderr)
}

fn summary(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.lines().last().expect("a summary line")).expect("summary is JSON")
}

#[test]
fn ema_cross_reference_backtest_is_bit_identical_across_runs() {
    let Some(file) = data("audusd_truefx_20200130-31_quotes.csv.gz") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for i in 0..2 {
        let fills = dir.path().join(format!("fills{i}.csv"));
        let (out, _) = pinion(&[
            "backtest",
            "--data",
            file.to_str().unwrap(),
            "--strategy",
            "ema_cross",
            "--config",
            r#"{"fast":10,"slow":20,"trade_size":100000}"#,
            "--capital",
            "1000000",
            "--commission-rate",
            "0.00002",
            "--fills-out",
            fills.to_str().unwrap(),
        ]);
        runs.push((summary(&out), std::fs::read(&fills).unwrap()));
    }
    let (a, fa) = &runs[0];
    let (b, fb) = &runs[1];
    assert_eq!(fa, fb, "fills files differ between runs");
    for k in ["ticks", "orders", "fills", "closed_trades", "commission", "realized_pnl", "final_balance"] {
        assert_eq!(a[k], b[k], "{k} differs between runs");
    }
    assert_eq!(a["ticks"], 100_000);
    let fills = a["fills"].as_u64().unwrap();
    assert!(fills > 100, "ema_cross trades on this file");
    // The fills file agrees with the summary: one row per fill, commissions sum to the total, and
    // balance = capital + realized P&L - commission to the cent.
    let text = String::from_utf8_lossy(fa);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len() as u64, fills);
    let commission_cents: i64 = rows.iter().map(|r| (r.rsplit(',').next().unwrap().parse::<f64>().unwrap() * 100.0).round() as i64).sum();
    assert_eq!(commission_cents, (a["commission"].as_f64().unwrap() * 100.0).round() as i64);
    let balance = 1_000_000.0 + a["realized_pnl"].as_f64().unwrap() - a["commission"].as_f64().unwrap();
    assert!((balance - a["final_balance"].as_f64().unwrap()).abs() < 0.005);
    assert_eq!(a["orders"], a["fills"], "market orders fill completely, one fill each");
}

#[test]
fn merged_import_replays_through_a_backtest() {
    let (Some(eu), Some(au)) = (data("eurusd_histdata_20200130-31_quotes.csv.gz"), data("audusd_truefx_20200130-31_quotes.csv.gz")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fx.pinticks");
    let (line, _) = pinion(&["import", "--quiet", eu.to_str().unwrap(), au.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let s = summary(&line);
    assert_eq!(s["ticks"], 199_308);
    let (bt, _) = pinion(&[
        "backtest",
        "--data",
        out.to_str().unwrap(),
        "--instrument",
        "EUR_USD",
        "--strategy",
        "MomentumStrategy",
        "--bar-sizes",
        "1 min,15 mins",
        "--stop-loss",
        "PIPS:15",
        "--take-profit",
        "RISK_REWARD:2",
    ]);
    let b = summary(&bt);
    assert_eq!(b["ticks"], 199_308);
    assert_eq!(b["instrument"], "EUR_USD");
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("eurusd_bad_quotes.csv");
    std::fs::write(&bad, "ts_ns,bid,ask,bid_size,ask_size\n1,1.10000,1.10010,1,1\n0,1.10000,1.10010,1,1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pinion"))
        .args(["backtest", "--data", bad.to_str().unwrap(), "--strategy", "ema_cross"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("eurusd_bad_quotes.csv") && err.contains("line 3"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_pinion"))
        .args(["backtest", "--data", bad.to_str().unwrap(), "--strategy", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
