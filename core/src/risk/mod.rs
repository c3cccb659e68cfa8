//! Pre-trade risk: the limits of `POST /risk/update` and a pure, allocation-free engine that checks an
//! entry against them and tracks the daily loss halt (realized + unrealized loss since 00:00 UTC).
//!
//! The risk engine holds no positions: the caller (the engine loop) gathers the account-wide figures
//! into an [`EntryCheck`] and asks [`RiskEngine::check_entry`]. Every method is O(1) and allocates
//! nothing.

mod limits;

pub use limits::{RiskLimits, RiskUpdateError, RISK_FIELDS};

use crate::fixed::{Money, POW10};
use crate::order::RejectReason;
use crate::time::{utc_day_start, NS_PER_DAY};

/// Tolerance, in cents, on the per-trade risk check (sizing floors units, but the risk in cents is
/// rounded).
pub const RISK_TOLERANCE_CENTS: i64 = 1;

/// Account-wide figures for one proposed entry, gathered by the caller before the order is sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntryCheck {
    /// Current signed net position in the instrument, summed over ALL books, in size steps.
    pub instrument_symbol_net_units: i64,
    /// Signed size of the entry (+buy / -sell), in size steps.
    pub order_units: i64,
    /// The instrument's size precision: one whole unit is `10^size_precision` size steps (FX: 0, so
    /// steps are units). `per_symbol_limit` is in whole units.
    pub size_precision: u8,
    /// Notional of the entry in USD (taken as absolute).
    pub order_notional_usd: Money,
    /// Sum of open notional over all books and instruments, in USD, before the order.
    pub total_exposure_usd: Money,
    /// Number of open net positions (all books, all instruments) before the order.
    pub open_positions: u32,
    /// The entry opens a position that was flat.
    pub opens_new_position: bool,
    /// USD lost if the stop is hit (units * stop distance * USD per quote unit); `None` without a stop.
    pub risk_usd: Option<Money>,
    /// Account NAV (balance + unrealized), USD.
    pub nav: Money,
    /// Account equity now (= NAV), USD: used for the daily loss check.
    pub equity: Money,
}

/// Sentinel for "no day seen yet": never a UTC day start (2^63 is not a multiple of a day's ns).
const NO_DAY: i64 = i64::MIN;

/// The pre-trade risk engine: limits plus the daily-loss state of the current UTC day.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RiskEngine {
    /// Live limits; replace or `apply_update` them at any time (a halt already in force stays until
    /// the next UTC day unless `daily_loss_limit_pct` is raised past today's loss).
    pub limits: RiskLimits,
    /// Start (ns) of the current UTC day, `i64::MIN` before the first [`RiskEngine::on_time`].
    day_start_ns: i64,
    /// Equity at the first tick of the current UTC day.
    day_start_equity: Money,
    /// The UTC day (its start, ns) on which new entries are halted by the daily loss limit.
    halted_day: Option<i64>,
    /// The `daily_loss_limit_pct` in force when the halt began: a higher limit re-checks the halt.
    #[serde(default)]
    halted_limit_pct: f64,
}

impl Default for RiskEngine {
    fn default() -> Self {
        RiskEngine::new(RiskLimits::default())
    }
}

impl RiskEngine {
    /// A risk engine enforcing `limits`, with no daily state yet (it starts at the first tick's day).
    pub fn new(limits: RiskLimits) -> Self {
        RiskEngine { limits, day_start_ns: NO_DAY, day_start_equity: Money::ZERO, halted_day: None, halted_limit_pct: 0.0 }
    }

    /// Called on every tick. One compare unless the UTC day of `ts_ns` differs from the current one;
    /// then rolls: the day starts at that day's 00:00 UTC with `equity` as its baseline, and any halt
    /// is lifted. The first call initialises.
    #[inline]
    pub fn on_time(&mut self, ts_ns: i64, equity: Money) {
        // Unsigned offset into the current day: also catches time before it and the NO_DAY sentinel.
        if (ts_ns.wrapping_sub(self.day_start_ns) as u64) < NS_PER_DAY as u64 {
            return;
        }
        self.day_start_ns = utc_day_start(ts_ns);
        self.day_start_equity = equity;
        self.halted_day = None;
    }

    /// Start (ns) of the current UTC day, `None` before the first [`RiskEngine::on_time`].
    pub fn day_start_ns(&self) -> Option<i64> {
        (self.day_start_ns != NO_DAY).then_some(self.day_start_ns)
    }

    /// Equity at the start of the current UTC day.
    pub fn day_start_equity(&self) -> Money {
        self.day_start_equity
    }

    /// Whether new entries are halted for the rest of the current UTC day.
    pub fn is_halted(&self) -> bool {
        self.day_start_ns != NO_DAY && self.halted_day == Some(self.day_start_ns)
    }

    /// The loss, in cents, beyond which the day halts: `daily_loss_limit_pct`% of the day's starting
    /// equity, rounded to cents.
    pub fn daily_loss_limit(&self) -> Money {
        Money((self.day_start_equity.cents() as f64 * self.limits.daily_loss_limit_pct / 100.0).round() as i64)
    }

    /// Loss since 00:00 UTC (positive when down), in cents.
    fn day_loss(&self, equity: Money) -> i128 {
        self.day_start_equity.cents() as i128 - equity.cents() as i128
    }

    /// Checks the daily loss: when `day_start_equity - equity` (realized + unrealized since 00:00 UTC)
    /// exceeds the limit, halts new entries for the rest of the UTC day (sticky until the next day roll,
    /// even if equity recovers). A halt is re-checked against today's loss only when
    /// `daily_loss_limit_pct` was raised since it began; lowering the limit below today's loss halts
    /// here. Returns whether entries are halted. Before the first `on_time` there is no baseline: false.
    pub fn check_daily_loss(&mut self, equity: Money) -> bool {
        if self.day_start_ns == NO_DAY {
            return false;
        }
        if self.is_halted() {
            if self.limits.daily_loss_limit_pct <= self.halted_limit_pct {
                return true;
            }
            self.halted_day = None;
        }
        if self.day_loss(equity) > self.daily_loss_limit().cents() as i128 {
            self.halted_day = Some(self.day_start_ns);
            self.halted_limit_pct = self.limits.daily_loss_limit_pct;
            return true;
        }
        false
    }

    /// Installs new limits (a journaled `/risk/update` or a session start's) with the account's equity
    /// now. A raised `daily_loss_limit_pct` that today's loss no longer exceeds lifts a halt at once;
    /// nothing else changes before the next check (which halts when a lowered limit is exceeded).
    pub fn set_limits(&mut self, limits: RiskLimits, equity: Money) {
        self.limits = limits;
        if self.is_halted()
            && self.limits.daily_loss_limit_pct > self.halted_limit_pct
            && self.day_loss(equity) <= self.daily_loss_limit().cents() as i128
        {
            self.halted_day = None;
        }
    }

    /// Applies a `POST /risk/update` body (see [`RiskLimits::apply_update`]) through
    /// [`set_limits`](Self::set_limits). All or nothing.
    pub fn apply_update(&mut self, update: &serde_json::Value, equity: Money) -> Result<RiskLimits, RiskUpdateError> {
        let mut next = self.limits;
        next.apply_update(update)?;
        self.set_limits(next, equity);
        Ok(self.limits)
    }

    /// Checks an entry against every limit, in this order, and returns the first failure:
    /// DailyLossLimit, MaxConcurrentPositions (every entry when the limit is 0), PerSymbolLimit (only when the order increases the
    /// instrument's absolute net), MaxTotalExposure, MaxRiskPerTrade.
    pub fn check_entry(&mut self, req: &EntryCheck) -> Result<(), RejectReason> {
        if self.check_daily_loss(req.equity) {
            return Err(RejectReason::DailyLossLimit);
        }
        let l = &self.limits;
        // 0 freezes every entry; otherwise only an entry that opens a position counts against the cap.
        if l.max_concurrent_positions == 0 || req.opens_new_position && req.open_positions as usize >= l.max_concurrent_positions {
            return Err(RejectReason::MaxConcurrentPositions);
        }
        let net = req.instrument_symbol_net_units as i128;
        let after = net + req.order_units as i128;
        let scale = POW10[(req.size_precision as usize).min(POW10.len() - 1)] as i128;
        if after.abs() > net.abs() && after.abs() > l.per_symbol_limit as i128 * scale {
            return Err(RejectReason::PerSymbolLimit);
        }
        let exposure = req.total_exposure_usd.cents() as i128 + (req.order_notional_usd.cents() as i128).abs();
        if exposure > (l.max_total_exposure_usd * 100.0).round() as i128 {
            return Err(RejectReason::MaxTotalExposure);
        }
        if let Some(risk) = req.risk_usd {
            let allowed = req.nav.cents() as f64 * l.max_risk_per_trade_percent / 100.0 + RISK_TOLERANCE_CENTS as f64;
            if (risk.cents() as f64).abs() > allowed {
                return Err(RejectReason::MaxRiskPerTrade);
            }
        }
        Ok(())
    }

    /// Units (possibly fractional; the caller rounds down to its size steps) such that
    /// `units * stop_distance_price * usd_per_quote_unit = nav * max_risk_per_trade_percent / 100`.
    /// Zero for a non-positive NAV, stop distance or rate.
    pub fn max_units_for_risk(&self, nav: Money, stop_distance_price: f64, usd_per_quote_unit: f64) -> f64 {
        let per_unit = stop_distance_price * usd_per_quote_unit;
        if !(per_unit.is_finite() && per_unit > 0.0) || nav.cents() <= 0 {
            return 0.0;
        }
        let units = nav.as_f64() * self.limits.max_risk_per_trade_percent / 100.0 / per_unit;
        if units.is_finite() {
            units
        } else {
            0.0
        }
    }

    /// Stop and take-profit distances in price units: `atr * {stop_loss,take_profit}_atr_multiplier`
    /// when `use_atr_sizing` (`None` while the ATR is not ready), else
    /// `{stop_loss,take_profit}_pips * pip_value` (`pip_value`: price size of one pip, e.g. 0.0001).
    pub fn stop_distance(&self, atr: Option<f64>, pip_value: f64) -> Option<(f64, f64)> {
        let l = &self.limits;
        if l.use_atr_sizing {
            let atr = atr.filter(|a| a.is_finite() && *a > 0.0)?;
            Some((atr * l.stop_loss_atr_multiplier, atr * l.take_profit_atr_multiplier))
        } else if pip_value.is_finite() && pip_value > 0.0 {
            Some((l.stop_loss_pips * pip_value, l.take_profit_pips * pip_value))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests;
