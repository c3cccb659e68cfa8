//! A sweep's table: ranking the rows by a chosen metric, and writing them as CSV (one row per run)
//! and JSON (rows with their equity curves, plus what was skipped).

use super::grid::Params;
use super::metrics::RunResult;
use serde_json::Value;
use std::io::Write;
use std::path::Path;

/// What a sweep ranks its runs by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Net P&L (higher is better).
    Pnl,
    /// Per-trade Sharpe ratio (higher is better).
    Sharpe,
    /// Profit factor (higher is better; no losses ranks first).
    ProfitFactor,
    /// Win rate (higher is better).
    WinRate,
    /// Max drawdown (lower is better).
    MaxDrawdown,
    /// Final balance (higher is better).
    FinalBalance,
}

/// The names `--rank-by` takes.
pub const METRIC_NAMES: [&str; 6] = ["pnl", "sharpe", "profit_factor", "win_rate", "max_drawdown", "final_balance"];

impl Metric {
    /// Parses a metric name (see [`METRIC_NAMES`]).
    pub fn parse(s: &str) -> Result<Metric, String> {
        Ok(match s {
            "pnl" => Metric::Pnl,
            "sharpe" => Metric::Sharpe,
            "profit_factor" => Metric::ProfitFactor,
            "win_rate" => Metric::WinRate,
            "max_drawdown" => Metric::MaxDrawdown,
            "final_balance" => Metric::FinalBalance,
            other => return Err(format!("--rank-by: unknown metric {other:?}; one of {}", METRIC_NAMES.join(", "))),
        })
    }

    /// The metric's name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Pnl => "pnl",
            Metric::Sharpe => "sharpe",
            Metric::ProfitFactor => "profit_factor",
            Metric::WinRate => "win_rate",
            Metric::MaxDrawdown => "max_drawdown",
            Metric::FinalBalance => "final_balance",
        }
    }

    /// The value of a row, oriented so that higher is better.
    pub fn score(self, r: &RunResult) -> f64 {
        match self {
            Metric::Pnl => r.pnl,
            Metric::Sharpe => r.sharpe,
            Metric::ProfitFactor => r.profit_factor.unwrap_or(f64::INFINITY),
            Metric::WinRate => r.win_rate,
            Metric::MaxDrawdown => -r.max_drawdown,
            Metric::FinalBalance => r.final_balance,
        }
    }

    /// The value of a row as shown (not oriented).
    pub fn value(self, r: &RunResult) -> f64 {
        match self {
            Metric::MaxDrawdown => r.max_drawdown,
            m => m.score(r),
        }
    }
}

/// The rows best first by `metric` (ties: lower run number first).
pub fn rank(rows: &[RunResult], metric: Metric) -> Vec<RunResult> {
    let mut v = rows.to_vec();
    v.sort_by(|a, b| metric.score(b).total_cmp(&metric.score(a)).then(a.run.cmp(&b.run)));
    v
}

/// The parameter names of the rows, in order of first appearance.
pub fn param_keys(rows: &[RunResult]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for r in rows {
        for k in r.params.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys
}

fn csv_field(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The CSV columns after the parameters; the two timing columns come last.
pub const CSV_COLUMNS: &str =
    "trades,wins,win_rate,pnl,realized_pnl,commission,final_balance,profit_factor,max_drawdown,max_drawdown_pct,sharpe,orders,fills,ticks,wall_seconds,ticks_per_second";

/// Writes the ranked rows as CSV: rank, run, file, one column per parameter, then [`CSV_COLUMNS`].
pub fn write_csv(path: &Path, ranked: &[RunResult]) -> std::io::Result<()> {
    let keys = param_keys(ranked);
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let header: Vec<String> = keys.iter().map(|k| csv_field(&Value::String(k.clone()))).collect();
    writeln!(w, "rank,run,file,{},{CSV_COLUMNS}", header.join(","))?;
    for (i, r) in ranked.iter().enumerate() {
        let params: Vec<String> = keys.iter().map(|k| csv_field(r.params.get(k).unwrap_or(&Value::Null))).collect();
        let pf = r.profit_factor.map(|x| x.to_string()).unwrap_or_else(|| "inf".into());
        writeln!(
            w,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            i + 1,
            r.run,
            csv_field(&Value::String(r.file.clone())),
            params.join(","),
            r.trades,
            r.wins,
            r.win_rate,
            r.pnl,
            r.realized_pnl,
            r.commission,
            r.final_balance,
            pf,
            r.max_drawdown,
            r.max_drawdown_pct,
            r.sharpe,
            r.orders,
            r.fills,
            r.ticks,
            r.wall_seconds,
            r.ticks_per_second
        )?;
    }
    w.flush()
}

/// Writes the sweep as JSON: the settings, the ranking metric, every row ranked (with equity curves)
/// and the skipped parameter sets with their reasons.
pub fn write_json(
    path: &Path,
    settings: &Value,
    metric: Metric,
    ranked: &[RunResult],
    skipped: &[(Params, String)],
) -> std::io::Result<()> {
    let skipped: Vec<Value> = skipped.iter().map(|(p, why)| serde_json::json!({"params": p, "reason": why})).collect();
    let doc = serde_json::json!({
        "settings": settings,
        "rank_by": metric.name(),
        "runs": ranked,
        "skipped": skipped,
    });
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    serde_json::to_writer_pretty(&mut w, &doc)?;
    writeln!(w)?;
    w.flush()
}
