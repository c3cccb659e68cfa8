//! Risk limits (the `POST /risk/update` body) and their validation.

use crate::bounds::{
    check_range, ATR_MULTIPLE_MAX, ATR_MULTIPLE_MIN, ATR_PERIOD_MAX, EXPOSURE_MAX, EXPOSURE_MIN, PERCENT_MAX, PERCENT_MIN,
    PER_SYMBOL_LIMIT_MAX, PIPS_MAX, PIPS_MIN, POSITIONS_MAX,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// The risk limits that apply to everything that trades (sessions and operations alike).
///
/// Field names and meanings are exactly those of `POST /risk/update` (session-api.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RiskLimits {
    /// Cap on the sum of open notional over all books and instruments, in USD. In [0.01, 1e12].
    #[schemars(range(min = EXPOSURE_MIN, max = EXPOSURE_MAX))]
    pub max_total_exposure_usd: f64,
    /// Money at risk per entry (to its stop) as a percentage of NAV: `1.0` means 1%. In [0.000001, 100].
    #[schemars(range(min = PERCENT_MIN, max = PERCENT_MAX))]
    pub max_risk_per_trade_percent: f64,
    /// Stop and take-profit distances from the ATR (multipliers below) instead of fixed pips.
    pub use_atr_sizing: bool,
    /// ATR lookback in closed bars when `use_atr_sizing`. 1..=1000.
    #[schemars(range(min = 1, max = ATR_PERIOD_MAX))]
    pub atr_period: usize,
    /// Stop distance as a multiple of the ATR (price units). In [0.01, 100].
    #[schemars(range(min = ATR_MULTIPLE_MIN, max = ATR_MULTIPLE_MAX))]
    pub stop_loss_atr_multiplier: f64,
    /// Take-profit distance as a multiple of the ATR (price units). In [0.01, 100].
    #[schemars(range(min = ATR_MULTIPLE_MIN, max = ATR_MULTIPLE_MAX))]
    pub take_profit_atr_multiplier: f64,
    /// Stop distance in pips when not `use_atr_sizing`. In [0.1, 10000].
    #[schemars(range(min = PIPS_MIN, max = PIPS_MAX))]
    pub stop_loss_pips: f64,
    /// Take-profit distance in pips when not `use_atr_sizing`. In [0.1, 10000].
    #[schemars(range(min = PIPS_MIN, max = PIPS_MAX))]
    pub take_profit_pips: f64,
    /// Realized + unrealized loss since 00:00 UTC, as a percentage of that day's starting equity, beyond
    /// which new entries halt until the next UTC day: `5.0` means 5%. In [0.000001, 100]. Changing it during a
    /// halted day: raising it past today's loss lifts the halt (at once on `POST /risk/update`, else at
    /// the next check); lowering it below today's loss halts at the next check.
    #[schemars(range(min = PERCENT_MIN, max = PERCENT_MAX))]
    pub daily_loss_limit_pct: f64,
    /// Maximum number of open net positions (all books, all instruments). 0..=10000; `0` freezes new
    /// entries: every entry (opening or adding to a position) is refused, exits still run.
    #[schemars(range(min = 0, max = POSITIONS_MAX))]
    pub max_concurrent_positions: usize,
    /// Maximum absolute net position per instrument, in whole units (FX: units), summed over all books.
    /// In 1..=1e12.
    #[schemars(range(min = 1, max = PER_SYMBOL_LIMIT_MAX))]
    pub per_symbol_limit: i64,
}

impl Default for RiskLimits {
    fn default() -> Self {
        RiskLimits {
            max_total_exposure_usd: 100_000.0,
            max_risk_per_trade_percent: 1.0,
            use_atr_sizing: false,
            atr_period: 14,
            stop_loss_atr_multiplier: 1.5,
            take_profit_atr_multiplier: 3.0,
            stop_loss_pips: 20.0,
            take_profit_pips: 40.0,
            daily_loss_limit_pct: 5.0,
            max_concurrent_positions: 10,
            per_symbol_limit: 1_000_000,
        }
    }
}

/// A rejected risk update: which field, and why. Displays as `field: message`; the HTTP layer answers
/// 400 `{"detail": "<display>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct RiskUpdateError {
    /// The offending field (`body` when the body itself is not a JSON object).
    pub field: String,
    /// Why the value was refused.
    pub message: String,
}

impl RiskUpdateError {
    fn new(field: &str, message: impl Into<String>) -> Self {
        RiskUpdateError { field: field.to_string(), message: message.into() }
    }
}

/// The field names `POST /risk/update` accepts, in documentation order.
pub const RISK_FIELDS: [&str; 11] = [
    "max_total_exposure_usd",
    "max_risk_per_trade_percent",
    "use_atr_sizing",
    "atr_period",
    "stop_loss_atr_multiplier",
    "take_profit_atr_multiplier",
    "stop_loss_pips",
    "take_profit_pips",
    "daily_loss_limit_pct",
    "max_concurrent_positions",
    "per_symbol_limit",
];

// Range checks, shared by `validate` and `apply_update`; the bounds are those of `crate::bounds`.

fn check_range_f(field: &str, v: f64, min: f64, max: f64) -> Result<f64, RiskUpdateError> {
    check_range(v, min, max).map_err(|e| RiskUpdateError::new(field, format!("must be a number in [{min}, {max}]: {e}")))
}

fn check_range_i(field: &str, v: i128, min: i128, max: i128) -> Result<i128, RiskUpdateError> {
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(RiskUpdateError::new(field, format!("must be an integer in {min}..={max} (got {v})")))
    }
}

fn number(field: &str, v: &Value) -> Result<f64, RiskUpdateError> {
    v.as_f64().ok_or_else(|| RiskUpdateError::new(field, "must be a number"))
}

/// An integer, also when written as an integral float (`14.0`); values beyond i64 are kept in i128
/// so that they fail the range check rather than the type check.
fn integer(field: &str, v: &Value) -> Result<i128, RiskUpdateError> {
    if let Some(i) = v.as_i64() {
        return Ok(i as i128);
    }
    if let Some(u) = v.as_u64() {
        return Ok(u as i128);
    }
    match v.as_f64() {
        Some(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e30 => Ok(f as i128),
        _ => Err(RiskUpdateError::new(field, "must be an integer")),
    }
}

const ATR_PERIOD_MAX_I: i128 = ATR_PERIOD_MAX as i128;
const POSITIONS_MAX_I: i128 = POSITIONS_MAX as i128;
const PER_SYMBOL_MAX_I: i128 = PER_SYMBOL_LIMIT_MAX as i128;

impl RiskLimits {
    /// Checks every field's range; the error names the first offending field.
    pub fn validate(&self) -> Result<(), RiskUpdateError> {
        check_range_f("max_total_exposure_usd", self.max_total_exposure_usd, EXPOSURE_MIN, EXPOSURE_MAX)?;
        check_range_f("max_risk_per_trade_percent", self.max_risk_per_trade_percent, PERCENT_MIN, PERCENT_MAX)?;
        check_range_i("atr_period", self.atr_period as i128, 1, ATR_PERIOD_MAX_I)?;
        check_range_f("stop_loss_atr_multiplier", self.stop_loss_atr_multiplier, ATR_MULTIPLE_MIN, ATR_MULTIPLE_MAX)?;
        check_range_f("take_profit_atr_multiplier", self.take_profit_atr_multiplier, ATR_MULTIPLE_MIN, ATR_MULTIPLE_MAX)?;
        check_range_f("stop_loss_pips", self.stop_loss_pips, PIPS_MIN, PIPS_MAX)?;
        check_range_f("take_profit_pips", self.take_profit_pips, PIPS_MIN, PIPS_MAX)?;
        check_range_f("daily_loss_limit_pct", self.daily_loss_limit_pct, PERCENT_MIN, PERCENT_MAX)?;
        check_range_i("max_concurrent_positions", self.max_concurrent_positions as i128, 0, POSITIONS_MAX_I)?;
        check_range_i("per_symbol_limit", self.per_symbol_limit as i128, 1, PER_SYMBOL_MAX_I)?;
        Ok(())
    }

    /// Applies a partial update (the `POST /risk/update` body): a JSON object whose present fields are
    /// each checked for name, type and range. All or nothing: on any error `self` is unchanged.
    pub fn apply_update(&mut self, update: &Value) -> Result<(), RiskUpdateError> {
        let obj = update.as_object().ok_or_else(|| RiskUpdateError::new("body", "must be a JSON object"))?;
        let mut next = *self;
        for (name, v) in obj {
            let f = name.as_str();
            match f {
                "max_total_exposure_usd" => next.max_total_exposure_usd = check_range_f(f, number(f, v)?, EXPOSURE_MIN, EXPOSURE_MAX)?,
                "max_risk_per_trade_percent" => {
                    next.max_risk_per_trade_percent = check_range_f(f, number(f, v)?, PERCENT_MIN, PERCENT_MAX)?
                }
                "use_atr_sizing" => next.use_atr_sizing = v.as_bool().ok_or_else(|| RiskUpdateError::new(f, "must be a boolean"))?,
                "atr_period" => next.atr_period = check_range_i(f, integer(f, v)?, 1, ATR_PERIOD_MAX_I)? as usize,
                "stop_loss_atr_multiplier" => {
                    next.stop_loss_atr_multiplier = check_range_f(f, number(f, v)?, ATR_MULTIPLE_MIN, ATR_MULTIPLE_MAX)?
                }
                "take_profit_atr_multiplier" => {
                    next.take_profit_atr_multiplier = check_range_f(f, number(f, v)?, ATR_MULTIPLE_MIN, ATR_MULTIPLE_MAX)?
                }
                "stop_loss_pips" => next.stop_loss_pips = check_range_f(f, number(f, v)?, PIPS_MIN, PIPS_MAX)?,
                "take_profit_pips" => next.take_profit_pips = check_range_f(f, number(f, v)?, PIPS_MIN, PIPS_MAX)?,
                "daily_loss_limit_pct" => next.daily_loss_limit_pct = check_range_f(f, number(f, v)?, PERCENT_MIN, PERCENT_MAX)?,
                "max_concurrent_positions" => {
                    next.max_concurrent_positions = check_range_i(f, integer(f, v)?, 0, POSITIONS_MAX_I)? as usize
                }
                "per_symbol_limit" => next.per_symbol_limit = check_range_i(f, integer(f, v)?, 1, PER_SYMBOL_MAX_I)? as i64,
                _ => return Err(RiskUpdateError::new(f, format!("unknown field; known fields: {}", RISK_FIELDS.join(", ")))),
            }
        }
        next.validate()?;
        *self = next;
        Ok(())
    }
}
