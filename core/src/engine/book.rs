//! A book: one strategy instance trading one instrument (an operation, or the session), with its bars,
//! protective-order rules, sizing and capital.

use super::chart::{ChartBar, Decision, Ring, CHART_BARS, DECISIONS};
use crate::bars::{Bar, BarAggregator, BarSize};
use crate::events::BookStatus;
use crate::fixed::Money;
use crate::indicators::atr::Atr;
use crate::instrument::{Instrument, InstrumentId};
use crate::order::BookId;
use crate::strategy::{Intents, Strategy};
use serde::{Deserialize, Serialize};

/// How a stop-loss distance is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StopLossType {
    /// value x ATR(14, Wilder) of the primary bar size.
    Atr,
    /// value x entry price (0.01 = 1%).
    Percentage,
    /// value as a price distance.
    Fixed,
    /// value pips.
    Pips,
}

/// How a take-profit distance is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TakeProfitType {
    /// value x |entry - stop| beyond the entry.
    RiskReward,
    /// value x ATR(14, Wilder) of the primary bar size.
    Atr,
    /// value x entry price (0.01 = 1%).
    Percentage,
    /// value as a price distance (not an absolute price).
    Fixed,
    /// value pips.
    Pips,
}

/// What to do with an active book's open positions after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CrashRecoveryMode {
    /// Close them at the first price; the operation stays active.
    CloseAll,
    /// Keep them with their stop-loss and take-profit and go on trading.
    Resume,
    /// Close only those whose unrealized loss exceeds emergency_stop_loss_pct of entry notional.
    EmergencyExit,
}

/// Period of the ATR used by ATR stop-losses and take-profits (Wilder, on the primary bar size).
pub const PROTECTION_ATR_PERIOD: usize = 14;

/// Everything needed to create a book, already validated.
pub struct BookSpec {
    /// The instrument the book trades.
    pub instrument: InstrumentId,
    /// Bar sizes the strategy consumes (at least one).
    pub bar_sizes: Vec<BarSize>,
    /// Index of the primary size in `bar_sizes`.
    pub primary: usize,
    /// The strategy instance the book owns.
    pub strategy: Box<dyn Strategy>,
    /// Capital allotted to the book, USD cents.
    pub capital: Money,
    /// Stop-loss rule: how it is measured and the value in that unit (None: no stop-loss).
    pub stop_loss: Option<(StopLossType, f64)>,
    /// Take-profit rule: how it is measured and the value in that unit (None: no take-profit).
    pub take_profit: Option<(TakeProfitType, f64)>,
    /// Fraction of current capital risked per entry under default sizing (0.01 = 1%).
    pub risk_fraction: f64,
}

/// One strategy instance trading one instrument: an operation, or the model session's book.
///
/// Owned by the [`Engine`](super::Engine), which keeps every book in a `Vec` indexed by its [`BookId`]
/// (books are never removed, a closed book stays at its index) and drives it on the engine's thread only.
/// On each tick of its instrument the book aggregates bars, updates the ATR used for protective
/// distances, and asks its strategy for intents; the engine turns those into orders at the paper
/// broker, where the book's positions live (keyed by book and instrument). The book itself keeps
/// only its own ledger: `capital()` = initial capital + realized P&L - commission, all USD cents,
/// updated from its fills. `status` follows the [`BookStatus`] lifecycle; only an ACTIVE book opens
/// positions.
pub struct Book {
    /// Index of the book in the engine (stable for its life).
    pub id: BookId,
    /// The instrument it trades.
    pub instrument: InstrumentId,
    /// Lifecycle state (active, paused, closed...).
    pub status: BookStatus,
    /// The strategy instance.
    pub strategy: Box<dyn Strategy>,
    /// Bar aggregation for the strategy's bar sizes.
    pub bars: BarAggregator,
    /// Index of the primary bar size in `bars`.
    pub primary: usize,
    /// ATR(14, Wilder) of the primary bar size, for ATR stop-loss and take-profit distances.
    pub atr: Atr,
    /// Stop-loss rule (kind and value), None for no stop-loss.
    pub stop_loss: Option<(StopLossType, f64)>,
    /// Take-profit rule (kind and value), None for no take-profit.
    pub take_profit: Option<(TakeProfitType, f64)>,
    /// Fraction of current capital risked per entry under default sizing (0.01 = 1%).
    pub risk_fraction: f64,
    /// Capital allotted at creation, USD cents.
    pub initial_capital: Money,
    /// Realized P&L of the book's closed trades, USD cents, before commission.
    pub realized: Money,
    /// Commission paid by the book's fills, USD cents.
    pub commission: Money,
    /// Set when an entry was refused; cleared at the next primary bar close, so a strategy that asks on
    /// every tick produces at most one refusal per bar instead of one per tick.
    pub entry_blocked: bool,
    /// Closed bars of the current tick, delivered after aggregation (capacity reserved up front).
    pub(crate) closed: Vec<(usize, Bar)>,
    pub(crate) intents: Intents,
    /// The latest closed bars of each bar size (indexed like `bars`), with the strategy's indicator
    /// values on the primary size (the dashboard's chart).
    pub chart: Vec<Ring<ChartBar>>,
    /// The decision context of the book's latest orders (the dashboard's "why" panel).
    pub decisions: Ring<Decision>,
}

impl Book {
    /// A new ACTIVE book `id` from a validated spec, with empty bars, a cold ATR and no P&L.
    pub fn new(id: BookId, spec: BookSpec) -> Book {
        let n = spec.bar_sizes.len();
        Book {
            id,
            instrument: spec.instrument,
            status: BookStatus::Active,
            strategy: spec.strategy,
            bars: BarAggregator::new(&spec.bar_sizes),
            primary: spec.primary,
            atr: Atr::new(PROTECTION_ATR_PERIOD).expect("constant period is valid"),
            stop_loss: spec.stop_loss,
            take_profit: spec.take_profit,
            risk_fraction: spec.risk_fraction,
            initial_capital: spec.capital,
            realized: Money::ZERO,
            commission: Money::ZERO,
            entry_blocked: false,
            closed: Vec::with_capacity(n * 2 + 2),
            intents: Intents::default(),
            chart: (0..n).map(|_| Ring::new(CHART_BARS)).collect(),
            decisions: Ring::new(DECISIONS),
        }
    }

    /// The decision context recorded when order `id` was sent, if still held.
    pub fn decision(&self, id: crate::order::OrderId) -> Option<&Decision> {
        self.decisions.iter().rev().find(|d| d.order_id == id)
    }

    /// Initial capital plus realized P&L minus commission.
    pub fn capital(&self) -> Money {
        self.initial_capital + self.realized - self.commission
    }

    /// Stop distance in price units for an entry at `entry`, or None when not available yet.
    pub fn stop_distance(&self, inst: &Instrument, entry: f64) -> Option<f64> {
        let (kind, v) = self.stop_loss?;
        let unit = match kind {
            StopLossType::Atr => Distance::Atr,
            StopLossType::Percentage => Distance::Percentage,
            StopLossType::Fixed => Distance::Fixed,
            StopLossType::Pips => Distance::Pips,
        };
        self.measure(unit, v, inst, entry)
    }

    /// Take-profit distance given the stop distance (needed by RISK_REWARD).
    pub fn take_distance(&self, inst: &Instrument, entry: f64, stop_distance: Option<f64>) -> Option<f64> {
        let (kind, v) = self.take_profit?;
        let unit = match kind {
            TakeProfitType::RiskReward => return Some(v * stop_distance?).filter(|d| *d > 0.0 && d.is_finite()),
            TakeProfitType::Atr => Distance::Atr,
            TakeProfitType::Percentage => Distance::Percentage,
            TakeProfitType::Fixed => Distance::Fixed,
            TakeProfitType::Pips => Distance::Pips,
        };
        self.measure(unit, v, inst, entry)
    }

    /// `v` in the given unit as a price distance (None while the ATR warms up, or if not positive).
    fn measure(&self, unit: Distance, v: f64, inst: &Instrument, entry: f64) -> Option<f64> {
        let d = match unit {
            Distance::Atr => v * self.atr.is_ready().then(|| self.atr.value())?,
            Distance::Percentage => v * entry,
            Distance::Fixed => v,
            Distance::Pips => v * inst.pip_value(),
        };
        (d > 0.0 && d.is_finite()).then_some(d)
    }
}

/// How a stop or take-profit value is measured.
#[derive(Debug, Clone, Copy)]
enum Distance {
    Atr,
    Percentage,
    Fixed,
    Pips,
}
