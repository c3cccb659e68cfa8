//! What one sweep run measured: a sink that totals the run exactly as `pinion backtest` does (it
//! wraps [`SummarySink`]) and also follows closed trades and the realized equity curve, and the
//! [`RunResult`] row built from it (win rate, profit factor, max drawdown, Sharpe, ...).

use super::grid::Params;
use crate::backtest::SummarySink;
use pinion_core::engine::pipeline::EventSink;
use pinion_core::events::EngineEvent;
use pinion_core::fixed::Money;
use serde::{Deserialize, Serialize};

/// Most points of a run's equity curve kept in its result (evenly thinned, the last one always kept).
pub const EQUITY_POINTS: usize = 200;

/// Totals of one sweep run.
#[derive(Debug, Clone)]
pub struct SweepSink {
    /// The backtest's own totals (orders, fills, commission, realized P&L, optional fill log).
    pub summary: SummarySink,
    /// Net P&L (after commission) of every closed trade, USD cents.
    pub trade_pnl: Vec<i64>,
    /// Realized equity after every fill: (tick time ns, balance in cents).
    pub equity: Vec<(i64, i64)>,
    balance: Money,
}

impl SweepSink {
    /// An empty sink for a run starting with `capital`; with `keep_fills` it logs every fill.
    pub fn new(capital: Money, keep_fills: bool) -> SweepSink {
        SweepSink { summary: SummarySink::new(keep_fills), trade_pnl: Vec::new(), equity: Vec::new(), balance: capital }
    }
}

impl EventSink for SweepSink {
    fn publish(&mut self, events: &[EngineEvent]) {
        self.summary.publish(events);
        for e in events {
            match e {
                EngineEvent::Fill(f) => {
                    self.balance += f.realized_pnl - f.commission;
                    self.equity.push((f.ts_ns, self.balance.0));
                }
                EngineEvent::Trade(t) => self.trade_pnl.push((t.pnl - t.commission).0),
                _ => {}
            }
        }
    }
}

/// One row of a sweep's table: the run's parameters, its file and what it measured. Money is in USD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Run number in the sweep (parameter set index x files + file index).
    pub run: u32,
    /// The tick file's name.
    pub file: String,
    /// The strategy parameters that varied.
    pub params: Params,
    /// Ticks processed.
    pub ticks: u64,
    /// Orders counted as `pinion backtest` counts them.
    pub orders: u64,
    /// Fill legs.
    pub fills: u64,
    /// Closed round trips.
    pub trades: u64,
    /// Closed trades with a positive net P&L.
    pub wins: u64,
    /// `wins / trades` (0 without trades).
    pub win_rate: f64,
    /// Net P&L: realized P&L minus commission.
    pub pnl: f64,
    /// Realized P&L before commission.
    pub realized_pnl: f64,
    /// Commission paid.
    pub commission: f64,
    /// Balance at the end (positions closed at the end of the data).
    pub final_balance: f64,
    /// Gross profit / gross loss of the closed trades' net P&L (None when nothing was lost).
    pub profit_factor: Option<f64>,
    /// Largest drop of the realized equity curve from a previous peak, USD.
    pub max_drawdown: f64,
    /// The same drop as a percentage of that peak.
    pub max_drawdown_pct: f64,
    /// Per-trade Sharpe ratio: mean / sample standard deviation of the closed trades' net P&L (0 with
    /// fewer than two trades), not annualized.
    pub sharpe: f64,
    /// Wall time of the run, seconds (varies between machines: not part of a result's identity).
    pub wall_seconds: f64,
    /// Ticks per second of the run (varies between machines).
    pub ticks_per_second: f64,
    /// Realized equity curve, thinned to at most [`EQUITY_POINTS`]: (tick time ns, balance in cents).
    pub equity: Vec<(i64, i64)>,
}

impl RunResult {
    /// The result without its timings: what must be identical wherever the run ran.
    pub fn without_timing(&self) -> RunResult {
        RunResult { wall_seconds: 0.0, ticks_per_second: 0.0, ..self.clone() }
    }
}

/// The identity of a run: its number, file and parameters.
#[derive(Debug, Clone)]
pub struct RunLabel {
    /// Run number.
    pub run: u32,
    /// File name.
    pub file: String,
    /// Parameters.
    pub params: Params,
}

/// Builds the row of a finished run from its sink, final balance, tick count and wall time.
pub fn summarize(label: RunLabel, sink: &SweepSink, capital: Money, final_balance: Money, ticks: u64, wall_seconds: f64) -> RunResult {
    let s = &sink.summary;
    let trades = sink.trade_pnl.len() as u64;
    let wins = sink.trade_pnl.iter().filter(|p| **p > 0).count() as u64;
    let gross_win: i64 = sink.trade_pnl.iter().filter(|p| **p > 0).sum();
    let gross_loss: i64 = -sink.trade_pnl.iter().filter(|p| **p < 0).sum::<i64>();
    let (max_dd, max_dd_pct) = max_drawdown(capital.0, &sink.equity);
    RunResult {
        run: label.run,
        file: label.file,
        params: label.params,
        ticks,
        orders: s.orders,
        fills: s.fills,
        trades,
        wins,
        win_rate: if trades > 0 { wins as f64 / trades as f64 } else { 0.0 },
        pnl: (s.realized_pnl - s.commission).as_f64(),
        realized_pnl: s.realized_pnl.as_f64(),
        commission: s.commission.as_f64(),
        final_balance: final_balance.as_f64(),
        profit_factor: (gross_loss > 0).then(|| gross_win as f64 / gross_loss as f64),
        max_drawdown: Money(max_dd).as_f64(),
        max_drawdown_pct: max_dd_pct,
        sharpe: sharpe(&sink.trade_pnl),
        wall_seconds,
        ticks_per_second: if wall_seconds > 0.0 { (ticks as f64 / wall_seconds).round() } else { 0.0 },
        equity: thin(&sink.equity, EQUITY_POINTS),
    }
}

/// Largest peak-to-trough drop in cents, and as a percentage of its peak.
fn max_drawdown(start: i64, curve: &[(i64, i64)]) -> (i64, f64) {
    let (mut peak, mut worst, mut worst_pct) = (start, 0i64, 0.0f64);
    for &(_, b) in curve {
        peak = peak.max(b);
        let dd = peak - b;
        if dd > worst {
            worst = dd;
            worst_pct = if peak > 0 { dd as f64 / peak as f64 * 100.0 } else { 0.0 };
        }
    }
    (worst, worst_pct)
}

fn sharpe(pnl: &[i64]) -> f64 {
    if pnl.len() < 2 {
        return 0.0;
    }
    let n = pnl.len() as f64;
    let mean = pnl.iter().map(|p| *p as f64).sum::<f64>() / n;
    let var = pnl.iter().map(|p| (*p as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
    if var > 0.0 {
        mean / var.sqrt()
    } else {
        0.0
    }
}

fn thin(curve: &[(i64, i64)], most: usize) -> Vec<(i64, i64)> {
    if curve.len() <= most {
        return curve.to_vec();
    }
    let last = curve.len() - 1;
    (0..most).map(|i| curve[i * last / (most - 1)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawdown_sharpe_and_thinning() {
        let curve = [(1, 110), (2, 90), (3, 120), (4, 60), (5, 130)];
        let (dd, pct) = max_drawdown(100, &curve);
        assert_eq!(dd, 60);
        assert!((pct - 50.0).abs() < 1e-12);
        assert_eq!(sharpe(&[5]), 0.0);
        assert_eq!(sharpe(&[3, 3]), 0.0);
        assert!((sharpe(&[1, 3]) - 2.0 / 2f64.sqrt()).abs() < 1e-12);
        let long: Vec<(i64, i64)> = (0..1000).map(|i| (i, i)).collect();
        let t = thin(&long, 200);
        assert_eq!(t.len(), 200);
        assert_eq!(t[0], (0, 0));
        assert_eq!(t[199], (999, 999));
    }
}
