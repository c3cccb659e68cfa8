//! Technical indicators over f64 inputs (normally bar closes / highs / lows): SMA, EMA, Wilder ATR and
//! RSI, MACD and Bollinger bands. Every indicator is incremental: `update` is O(1) (Bollinger/SMA
//! amortised O(1)), allocates nothing and takes no lock; storage is allocated once in `new`.
//!
//! Common shape: `new(..) -> Result<Self, IndicatorError>`, `update(..)` returning `Some(value)` once
//! the indicator is ready (`None` while warming up), `value()` for the latest value (defined but not
//! meaningful before ready, see each type), `is_ready()`, and `reset()` back to the freshly built state.
//! Inputs must be finite; a NaN or infinite input poisons the value until `reset()`.

mod window;

pub mod atr;
pub mod bollinger;
pub mod ema;
pub mod macd;
pub mod rsi;
pub mod sma;

pub use atr::Atr;
pub use bollinger::{Bands, Bollinger};
pub use ema::Ema;
pub use macd::{Macd, MacdValue};
pub use rsi::Rsi;
pub use sma::Sma;

use thiserror::Error;

/// Why an indicator could not be built from its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum IndicatorError {
    /// A period (number of inputs) of zero.
    #[error("{indicator} period must be at least 1, got 0")]
    ZeroPeriod {
        /// Name of the indicator.
        indicator: &'static str,
    },
    /// MACD needs its fast EMA strictly shorter than its slow EMA.
    #[error("MACD fast period ({fast}) must be shorter than its slow period ({slow})")]
    FastNotBelowSlow {
        /// The fast period given.
        fast: usize,
        /// The slow period given.
        slow: usize,
    },
    /// A band width multiplier that is negative, zero, NaN or infinite.
    #[error("band multiplier k must be a finite number > 0, got {0}")]
    InvalidK(f64),
}

/// Checks a period is non-zero.
pub(crate) fn check_period(indicator: &'static str, period: usize) -> Result<usize, IndicatorError> {
    if period == 0 {
        Err(IndicatorError::ZeroPeriod { indicator })
    } else {
        Ok(period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(Sma::new(0).unwrap_err(), IndicatorError::ZeroPeriod { indicator: "SMA" });
        assert_eq!(IndicatorError::ZeroPeriod { indicator: "EMA" }.to_string(), "EMA period must be at least 1, got 0");
        assert!(Bollinger::new(20, -1.0).unwrap_err().to_string().contains("-1"));
        assert!(matches!(Macd::new(26, 12, 9), Err(IndicatorError::FastNotBelowSlow { fast: 26, slow: 12 })));
    }
}
