//! Average true range with Wilder smoothing, fed one bar at a time: `update(high, low, close)`.
//!
//! Conventions: true range = max(high - low, |high - prev_close|, |low - prev_close|), and just
//! `high - low` for the first bar. The first ATR is the simple mean of the first N true ranges; after
//! that `atr = (atr * (N - 1) + tr) / N`. Ready after N bars. `value()` before that is the mean of the
//! true ranges so far (0.0 with none).

use super::{check_period, IndicatorError};

/// Average true range with Wilder smoothing over `period` bars (see the module conventions).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Atr {
    period: usize,
    prev_close: Option<f64>,
    count: usize,
    /// Running sum of true ranges during warm-up, then unused.
    sum_tr: f64,
    atr: f64,
    last_tr: f64,
}

impl Atr {
    /// An ATR over `period` bars; a period of 0 is an error.
    pub fn new(period: usize) -> Result<Atr, IndicatorError> {
        let period = check_period("ATR", period)?;
        Ok(Atr { period, prev_close: None, count: 0, sum_tr: 0.0, atr: 0.0, last_tr: 0.0 })
    }

    /// Adds a bar; returns the ATR once N bars have been seen.
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let range = high - low;
        let tr = match self.prev_close {
            None => range,
            Some(pc) => range.max((high - pc).abs()).max((low - pc).abs()),
        };
        self.prev_close = Some(close);
        self.last_tr = tr;
        if self.count < self.period {
            self.count += 1;
            self.sum_tr += tr;
            self.atr = self.sum_tr / self.count as f64;
        } else {
            let n = self.period as f64;
            self.atr = (self.atr * (n - 1.0) + tr) / n;
        }
        self.is_ready().then_some(self.atr)
    }

    /// Latest ATR (before ready: mean of the true ranges so far; 0.0 with none).
    pub fn value(&self) -> f64 {
        self.atr
    }

    /// True range of the latest bar (0.0 before any).
    pub fn last_true_range(&self) -> f64 {
        self.last_tr
    }

    /// Whether `period` bars have been seen.
    pub fn is_ready(&self) -> bool {
        self.count >= self.period
    }

    /// The smoothing period N, in bars.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Forgets every bar seen (back to the state after `new`).
    pub fn reset(&mut self) {
        self.prev_close = None;
        self.count = 0;
        self.sum_tr = 0.0;
        self.atr = 0.0;
        self.last_tr = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn atr3_on_four_hand_bars() {
        let mut a = Atr::new(3).unwrap();
        // Bar 1: H10 L8 C9, first bar: TR = H - L = 2.
        assert_eq!(a.update(10.0, 8.0, 9.0), None);
        assert_eq!(a.last_true_range(), 2.0);
        // Bar 2: H11 L9 C10.5, prev close 9: max(2, |11-9|=2, |9-9|=0) = 2.
        assert_eq!(a.update(11.0, 9.0, 10.5), None);
        assert_eq!(a.last_true_range(), 2.0);
        // Bar 3: H13 L11.5 C12, prev 10.5: max(1.5, |13-10.5|=2.5, |11.5-10.5|=1) = 2.5 (gap up).
        // First ATR = (2 + 2 + 2.5) / 3 = 13/6.
        let v = a.update(13.0, 11.5, 12.0).unwrap();
        assert_eq!(a.last_true_range(), 2.5);
        assert!(close(v, 13.0 / 6.0));
        // Bar 4: H11 L10 C10.5, prev 12: max(1, |11-12|=1, |10-12|=2) = 2 (gap down).
        // Wilder: (13/6 * 2 + 2) / 3 = 19/9.
        let v = a.update(11.0, 10.0, 10.5).unwrap();
        assert_eq!(a.last_true_range(), 2.0);
        assert!(close(v, 19.0 / 9.0), "{v}");
        assert!(a.is_ready());
        a.reset();
        assert!(!a.is_ready());
        // After reset the first bar is again high - low, ignoring the old close.
        a.update(5.0, 4.0, 4.5);
        assert_eq!(a.last_true_range(), 1.0);
    }

    #[test]
    fn zero_period_is_an_error() {
        assert!(Atr::new(0).is_err());
    }
}
