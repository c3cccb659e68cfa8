//! Numeric bounds of every number a client can send (operation bodies, strategy configurations, risk
//! limits, the session's capital and warm-up timeout): one source of truth for both the validators and
//! the OpenAPI schemas (the body structs name these constants in their `#[schemars(range(...))]`
//! attributes). Every bound is inclusive. Beyond its range, a value that is not finite or is subnormal
//! (a denormal such as 4.9e-324, far below anything meaningful and silently rounded to zero by the
//! money and price arithmetic) is refused, so that hostile numbers are a 400 naming the field rather
//! than a value stored as zero or an overflow later.

use thiserror::Error;

/// Smallest operation `initial_capital`, USD (one cent, after rounding to cents).
pub const CAPITAL_MIN: f64 = 0.01;
/// Largest operation `initial_capital`, USD.
pub const CAPITAL_MAX: f64 = 1e9;
/// Smallest session `target_capital_usd`, USD (the upper bound is the account balance).
pub const TARGET_CAPITAL_MIN: f64 = 0.01;

/// Smallest `emergency_stop_loss_pct` (a fraction of entry notional: 0.000001 = 0.0001%).
pub const EMERGENCY_PCT_MIN: f64 = 1e-6;
/// Largest `emergency_stop_loss_pct` (1 = 100% of entry notional).
pub const EMERGENCY_PCT_MAX: f64 = 1.0;

/// Stop-loss / take-profit value as an ATR multiple: smallest.
pub const ATR_MULTIPLE_MIN: f64 = 0.01;
/// Stop-loss / take-profit value as an ATR multiple: largest.
pub const ATR_MULTIPLE_MAX: f64 = 100.0;
/// Take-profit value as a RISK_REWARD ratio (of the stop distance): smallest.
pub const RISK_REWARD_MIN: f64 = 0.01;
/// Take-profit value as a RISK_REWARD ratio (of the stop distance): largest.
pub const RISK_REWARD_MAX: f64 = 100.0;
/// Stop-loss / take-profit value as a PERCENTAGE, a fraction of the entry price (0.01 = 1%): smallest.
pub const PRICE_FRACTION_MIN: f64 = 1e-6;
/// Stop-loss / take-profit value as a PERCENTAGE, a fraction of the entry price (1 = 100%): largest.
pub const PRICE_FRACTION_MAX: f64 = 1.0;
/// Stop-loss / take-profit value as a FIXED price distance: smallest (below any instrument's price step).
pub const PRICE_DISTANCE_MIN: f64 = 1e-6;
/// Stop-loss / take-profit value as a FIXED price distance: largest (above any FX price).
pub const PRICE_DISTANCE_MAX: f64 = 10_000.0;
/// Stop-loss / take-profit value in PIPS: smallest (a tenth of a pip, one pipette).
pub const PIPS_MIN: f64 = 0.1;
/// Stop-loss / take-profit value in PIPS: largest.
pub const PIPS_MAX: f64 = 10_000.0;
/// Smallest stop-loss / take-profit value of any type (the schema's `minimum`).
pub const PROTECTION_VALUE_MIN: f64 = 1e-6;
/// Largest stop-loss / take-profit value of any type (the schema's `maximum`).
pub const PROTECTION_VALUE_MAX: f64 = 10_000.0;

/// Largest indicator period (bars) of any strategy configuration.
pub const PERIOD_MAX: usize = 10_000;
/// Largest strategy `trade_size`, in units of the instrument's base currency.
pub const TRADE_SIZE_MAX: f64 = 1e9;
/// Largest magnitude of any number in a strategy configuration (thresholds have narrower ranges).
pub const CONFIG_NUMBER_MAX: f64 = 1e15;

/// Largest `max_total_exposure_usd`, USD.
pub const EXPOSURE_MAX: f64 = 1e12;
/// Smallest `max_total_exposure_usd`, USD (one cent).
pub const EXPOSURE_MIN: f64 = 0.01;
/// Smallest percentage limit (`max_risk_per_trade_percent`, `daily_loss_limit_pct`): a millionth of a
/// percent (small enough that the first cent of loss trips the daily-loss limit).
pub const PERCENT_MIN: f64 = 1e-6;
/// Largest percentage limit: 100%.
pub const PERCENT_MAX: f64 = 100.0;
/// Largest `per_symbol_limit`, units.
pub const PER_SYMBOL_LIMIT_MAX: i64 = 1_000_000_000_000;
/// Largest `max_concurrent_positions`.
pub const POSITIONS_MAX: usize = 10_000;
/// Largest risk `atr_period`, bars.
pub const ATR_PERIOD_MAX: usize = 1000;

/// Smallest `cold_start_timeout_sec`, seconds.
pub const COLD_START_MIN_SEC: f64 = 0.001;
/// Largest `cold_start_timeout_sec`, seconds (one day).
pub const COLD_START_MAX_SEC: f64 = 86_400.0;

/// Why a number was refused; the caller prefixes the field name (`field: message`).
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum NumberError {
    /// NaN or an infinity.
    #[error("must be a finite number, got {0}")]
    NotFinite(f64),
    /// A subnormal (denormal) number such as 4.9e-324.
    #[error("{0:e} is a denormal number, not a meaningful value")]
    Denormal(f64),
    /// Outside `[min, max]`.
    #[error("must be between {min} and {max}, got {value}")]
    OutOfRange {
        /// The value refused.
        value: f64,
        /// Smallest value accepted.
        min: f64,
        /// Largest value accepted.
        max: f64,
    },
}

/// Refuses NaN, infinities and denormals (zero is fine here; ranges decide on it).
pub fn check_finite(value: f64) -> Result<f64, NumberError> {
    if !value.is_finite() {
        Err(NumberError::NotFinite(value))
    } else if value.is_subnormal() {
        Err(NumberError::Denormal(value))
    } else {
        Ok(value)
    }
}

/// `value` when it is finite, not denormal and within `[min, max]`.
pub fn check_range(value: f64, min: f64, max: f64) -> Result<f64, NumberError> {
    let v = check_finite(value)?;
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(NumberError::OutOfRange { value, min, max })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_numbers_are_refused_and_bounds_are_inclusive() {
        assert_eq!(check_range(f64::NAN, 0.0, 1.0).map_err(|e| matches!(e, NumberError::NotFinite(_))), Err(true));
        assert!(matches!(check_range(f64::INFINITY, 0.0, 1.0), Err(NumberError::NotFinite(_))));
        assert!(matches!(check_range(4.9e-324, 0.0, 1.0), Err(NumberError::Denormal(_))));
        assert!(matches!(check_range(-2.2e-310, -1.0, 1.0), Err(NumberError::Denormal(_))));
        assert!(matches!(check_range(1e308, 0.0, CAPITAL_MAX), Err(NumberError::OutOfRange { .. })));
        assert_eq!(check_range(CAPITAL_MIN, CAPITAL_MIN, CAPITAL_MAX), Ok(CAPITAL_MIN));
        assert_eq!(check_range(CAPITAL_MAX, CAPITAL_MIN, CAPITAL_MAX), Ok(CAPITAL_MAX));
        assert_eq!(check_finite(0.0), Ok(0.0));
        assert!(check_range(f64::MIN_POSITIVE, 0.0, 1.0).is_ok(), "the smallest normal number is not a denormal");
        let msg = check_range(4.9e-324, 0.0, 1.0).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("denormal"), "{msg}");
    }
}
