//! End-to-end tests of `pinion sweep` on one machine: a sweep run equals `pinion backtest` with the
//! same parameters fill for fill; 1 and 2 jobs give the same table; random samples; a bad grid is an
//! error naming the key; the HTML report is self-contained.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(name);
    assert!(p.exists(), "{} is not present (tests read the shared data set)", p.display());
    p
}

fn pinion(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pinion")).args(args).output().expect("running pinion");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn ok(args: &[&str]) -> String {
    let (success, stdout, stderr) = pinion(args);
    assert!(success, "pinion {args:?} failed: {stderr}");
    stdout
}

const EU: &str = "eurusd_dukascopy_20190101_quotes.csv.gz";
const JP: &str = "usdjpy_dukascopy_20190101_quotes.csv.gz";

/// The CSV without its two timing columns (they differ from run to run).
fn table(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("sweep.csv")).unwrap().lines().map(|l| l.rsplitn(3, ',').nth(2).unwrap().to_string()).collect()
}

fn sweep(out: &Path, extra: &[&str]) -> Value {
    let (eu, jp) = (data(EU), data(JP));
    let o = out.to_str().unwrap();
    let mut args = vec![
        "sweep",
        "--data",
        eu.to_str().unwrap(),
        jp.to_str().unwrap(),
        "--strategy",
        "ema_cross",
        "--capital",
        "1000000",
        "--commission-rate",
        "0.00002",
        "--out",
        o,
        "--quiet",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(ok(&args).lines().last().unwrap()).unwrap()
}

#[test]
fn a_sweep_run_equals_the_backtest_fill_for_fill() {
    let dir = tempfile::tempdir().unwrap();
    for (k, protection) in [[].as_slice(), ["--stop-loss", "PIPS:5", "--take-profit", "RISK_REWARD:2"].as_slice()].iter().enumerate() {
        let out = dir.path().join(format!("sweep{k}"));
        let mut extra = vec!["--grid", r#"{"fast":[5,10],"slow":[20,50]}"#, "--keep-fills", "--jobs", "2"];
        extra.extend_from_slice(protection);
        let summary = sweep(&out, &extra);
        assert_eq!(summary["runs"], 8);
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
        let rows = doc["runs"].as_array().unwrap();
        for row in rows {
            let file = data(row["file"].as_str().unwrap());
            let fills = dir.path().join(format!("bt{k}-{}.csv", row["run"]));
            let config = row["params"].to_string();
            let mut args = vec![
                "backtest",
                "--data",
                file.to_str().unwrap(),
                "--strategy",
                "ema_cross",
                "--config",
                &config,
                "--capital",
                "1000000",
                "--commission-rate",
                "0.00002",
                "--fills-out",
                fills.to_str().unwrap(),
            ];
            args.extend_from_slice(protection);
            let bt: Value = serde_json::from_str(ok(&args).lines().last().unwrap()).unwrap();
            let swept = std::fs::read(out.join(format!("fills/run-{}.csv", row["run"]))).unwrap();
            assert_eq!(std::fs::read(&fills).unwrap(), swept, "fills of run {} differ from the backtest's", row["run"]);
            assert!(bt["fills"].as_u64().unwrap() > 10, "the run trades");
            for (a, b) in [
                ("final_balance", "final_balance"),
                ("commission", "commission"),
                ("realized_pnl", "realized_pnl"),
                ("fills", "fills"),
                ("orders", "orders"),
                ("ticks", "ticks"),
            ] {
                assert_eq!(bt[a], row[b], "run {}: {a} differs", row["run"]);
            }
            assert_eq!(bt["closed_trades"], row["trades"]);
        }
    }
}

#[test]
fn one_and_two_jobs_give_the_same_table_and_a_self_contained_report() {
    let dir = tempfile::tempdir().unwrap();
    let grid = r#"{"fast":[5,10,20],"slow":[20,50,100]}"#;
    let a = sweep(&dir.path().join("j1"), &["--grid", grid, "--jobs", "1"]);
    let b = sweep(&dir.path().join("j2"), &["--grid", grid, "--jobs", "2", "--rank-by", "pnl"]);
    // fast 20 / slow 20 is refused by the strategy and skipped: 8 sets x 2 files.
    assert_eq!(a["runs"], 16);
    assert_eq!(a["skipped"], 1);
    assert_eq!(a["best"], b["best"]);
    let t = table(&dir.path().join("j1"));
    assert_eq!(t.len(), 17);
    assert!(t[0].starts_with("rank,run,file,fast,slow,trades,wins,win_rate,pnl"), "{}", t[0]);
    assert_eq!(t, table(&dir.path().join("j2")));
    let html = std::fs::read_to_string(dir.path().join("j2/report.html")).unwrap();
    assert!(html.contains("<h2>Ranking</h2>") && html.contains("Heatmap") && html.contains("<polyline"), "report sections");
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="), "the report fetches nothing");
}

#[test]
fn random_samples_are_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let ranges = r#"{"fast":{"min":2,"max":15},"slow":[30,60]}"#;
    let a = sweep(&dir.path().join("r1"), &["--grid", ranges, "--random", "5", "--seed", "9", "--rank-by", "sharpe"]);
    sweep(&dir.path().join("r2"), &["--grid", ranges, "--random", "5", "--seed", "9", "--rank-by", "sharpe"]);
    assert_eq!(a["runs"], 10);
    assert_eq!(a["rank_by"], "sharpe");
    assert_eq!(table(&dir.path().join("r1")), table(&dir.path().join("r2")));
}

#[test]
fn a_bad_grid_is_an_error_naming_the_key() {
    let eu = data(EU);
    for (grid, key) in [
        (r#"{"fst":[5,10]}"#, "fst"),
        (r#"{"fast":[]}"#, "fast"),
        (r#"{"fast":5}"#, "fast"),
        (r#"{"fast":["five"]}"#, "five"),
        (r#"{"slow":[{"a":1}]}"#, "slow"),
        ("[1]", "JSON object"),
    ] {
        let (success, _, stderr) =
            pinion(&["sweep", "--data", eu.to_str().unwrap(), "--strategy", "ema_cross", "--grid", grid, "--out", "/nonexistent/never"]);
        assert!(!success, "{grid} was accepted");
        assert!(stderr.contains(key), "the error for {grid} does not name {key}: {stderr}");
    }
    let (success, _, stderr) =
        pinion(&["sweep", "--data", eu.to_str().unwrap(), "--strategy", "ema_cross", "--grid", r#"{"fast":[50],"slow":[20]}"#]);
    assert!(!success && stderr.contains("none of the 1 parameter sets"), "{stderr}");
}
