//! Operation and overall statistics: totals folded from a book's closed trades (each counted at its P/L
//! net of commission, so that gross_profit - gross_loss = total_pnl to the cent) and their view.

use super::{money, percent, round4, to_json};
use crate::readmodel::book::BookRecord;
use crate::readmodel::ReadState;
use pinion_core::events::BookStatus;
use pinion_core::fixed::Money;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// Counts and money fields of the stats, summed by the overall endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StatsTotals {
    pub total_trades: u64,
    pub winning: u64,
    pub losing: u64,
    /// Sum of the closed trades' net P/L (pnl - commission) = gross_profit - gross_loss.
    pub total_pnl: Money,
    pub gross_profit: Money,
    pub gross_loss: Money,
    pub commission: Money,
    pub open_positions: u64,
    pub capital: Money,
    pub initial: Money,
    pub max_drawdown: Money,
}

impl StatsTotals {
    /// Adds another book's totals (the overall stats).
    pub fn add(&mut self, x: &StatsTotals) {
        self.total_trades += x.total_trades;
        self.winning += x.winning;
        self.losing += x.losing;
        self.total_pnl += x.total_pnl;
        self.gross_profit += x.gross_profit;
        self.gross_loss += x.gross_loss;
        self.commission += x.commission;
        self.open_positions += x.open_positions;
        self.capital += x.capital;
        self.initial += x.initial;
        self.max_drawdown += x.max_drawdown;
    }
}

pub fn book_totals(b: &BookRecord) -> StatsTotals {
    let c = &b.closed;
    StatsTotals {
        total_trades: c.trades,
        winning: c.winning,
        losing: c.losing,
        total_pnl: c.net_pnl,
        gross_profit: c.gross_profit,
        gross_loss: c.gross_loss,
        initial: b.initial_capital,
        capital: b.capital(),
        commission: b.commission,
        open_positions: b.positions.len() as u64,
        max_drawdown: b.equity.max_drawdown,
    }
}

/// Annualised Sharpe ratio from daily returns of the equity curve (None with fewer than two returns).
pub fn sharpe(daily: &[(i64, Money)], start: Money) -> Option<f64> {
    let mut prev = start.as_f64();
    let mut rets = Vec::with_capacity(daily.len());
    for (_, e) in daily {
        let v = e.as_f64();
        if prev > 0.0 {
            rets.push(v / prev - 1.0);
        }
        prev = v;
    }
    if rets.len() < 2 {
        return None;
    }
    let n = rets.len() as f64;
    let mean = rets.iter().sum::<f64>() / n;
    let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    (sd > 0.0).then(|| mean / sd * 252f64.sqrt()).filter(|v| v.is_finite())
}

/// Statistics of an operation. Every count and money field is over closed trades at their P/L net of
/// commission (`net_pnl` of `/trades`), so a trade that lost after commission is a losing trade and
/// `gross_profit - gross_loss = total_pnl`. Money: USD, 2 decimals. Percentages: percent, 4 decimals.
/// Ratios: 4 decimals.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StatsView {
    /// Closed trades.
    pub total_trades: u64,
    /// Closed trades whose net P/L is above zero.
    pub winning_trades: u64,
    /// Closed trades whose net P/L is below zero (a trade netting exactly zero is neither).
    pub losing_trades: u64,
    /// winning_trades / total_trades, in percent (0-100, 4 decimals; 0 with no trades).
    pub win_rate: f64,
    /// Sum of the closed trades' net P/L, USD (= gross_profit - gross_loss). Commission of entries
    /// still open counts in total_commission and current_capital, here only once the trade closes.
    pub total_pnl: f64,
    /// total_pnl over the initial capital, in percent (4 decimals).
    pub total_pnl_pct: f64,
    /// Sum of the winning trades' net P/L, USD (>= 0).
    pub gross_profit: f64,
    /// Sum of the losing trades' net losses as a positive number, USD (>= 0).
    pub gross_loss: f64,
    /// gross_profit / gross_loss, 4 decimals; null when gross_loss is 0.
    pub profit_factor: Option<f64>,
    /// gross_profit / winning_trades, USD (2 decimals; 0 with no winner).
    pub average_win: f64,
    /// gross_loss / losing_trades as a positive number, USD (2 decimals; 0 with no loser).
    pub average_loss: f64,
    /// Largest peak-to-trough fall of the equity curve (capital + unrealized), USD.
    pub max_drawdown: f64,
    /// Largest fall of the equity curve relative to its peak, in percent (4 decimals).
    pub max_drawdown_pct: f64,
    /// Annualised Sharpe ratio of daily equity returns (sqrt(252)), 4 decimals; null with fewer than
    /// two daily returns or none varying.
    pub sharpe: Option<f64>,
    /// Commission paid on every fill (open positions' entries included), USD.
    pub total_commission: f64,
    /// Open net positions.
    pub open_positions: u64,
    /// initial capital + realized P/L - commission, USD.
    pub current_capital: f64,
}

/// Overall statistics: the operations' stats with counts and money summed (max_drawdown summed,
/// max_drawdown_pct the largest), plus the operation counts.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OverallStatsView {
    #[serde(flatten)]
    pub stats: StatsView,
    /// Operations ever created (any status).
    pub total_operations: u64,
    /// Operations whose status is `active`.
    pub active_operations: u64,
}

fn average(sum: Money, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        // Cents, rounded half away from zero.
        let c = sum.0 as i128;
        let n = n as i128;
        let q = (2 * c.abs() + n) / (2 * n);
        (q as f64 * c.signum() as f64) / 100.0
    }
}

pub fn stats_view(t: &StatsTotals, max_dd_pct: f64, sharpe: Option<f64>) -> StatsView {
    StatsView {
        total_trades: t.total_trades,
        winning_trades: t.winning,
        losing_trades: t.losing,
        win_rate: percent(t.winning as f64, t.total_trades as f64),
        total_pnl: money(t.total_pnl),
        total_pnl_pct: percent(t.total_pnl.0 as f64, t.initial.0 as f64),
        gross_profit: money(t.gross_profit),
        gross_loss: money(t.gross_loss),
        profit_factor: (t.gross_loss.0 != 0).then(|| round4(t.gross_profit.0 as f64 / t.gross_loss.0 as f64)),
        average_win: average(t.gross_profit, t.winning),
        average_loss: average(t.gross_loss, t.losing),
        max_drawdown: money(t.max_drawdown),
        max_drawdown_pct: round4(max_dd_pct),
        sharpe: sharpe.map(round4),
        total_commission: money(t.commission),
        open_positions: t.open_positions,
        current_capital: money(t.capital),
    }
}

pub fn stats_json(t: &StatsTotals, max_dd_pct: f64, sharpe: Option<f64>) -> Value {
    to_json(&stats_view(t, max_dd_pct, sharpe))
}

pub fn book_stats(b: &BookRecord) -> Value {
    let t = book_totals(b);
    stats_json(&t, b.equity.max_drawdown_pct, sharpe(&b.equity.daily, b.initial_capital))
}

pub fn overall_view(s: &ReadState) -> OverallStatsView {
    let mut t = StatsTotals::default();
    let mut active = 0;
    let mut dd_pct: f64 = 0.0;
    for op in &s.operations {
        if s.book_status(op.book) == BookStatus::Active {
            active += 1;
        }
        if let Some(b) = s.book(op.book) {
            t.add(&book_totals(b));
            dd_pct = dd_pct.max(b.equity.max_drawdown_pct);
        }
    }
    OverallStatsView { stats: stats_view(&t, dd_pct, None), total_operations: s.operations.len() as u64, active_operations: active }
}

pub fn overall_stats(s: &ReadState) -> Value {
    to_json(&overall_view(s))
}
