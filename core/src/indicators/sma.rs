//! Simple moving average: the arithmetic mean of the last N inputs.
//!
//! Conventions: ready after N inputs; `value()` before that is the mean of the inputs so far (0.0 with
//! none). The last N inputs live in a fixed ring buffer allocated in `new`; the running sum is
//! recomputed exactly once every N updates so it never drifts (amortised O(1) per update).

use super::window::RollingWindow;
use super::{check_period, IndicatorError};

/// Simple moving average of the last `period` inputs (see the module conventions).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Sma {
    window: RollingWindow,
}

impl Sma {
    /// An SMA over `period` inputs (ring buffer allocated here); a period of 0 is an error.
    pub fn new(period: usize) -> Result<Sma, IndicatorError> {
        let period = check_period("SMA", period)?;
        Ok(Sma { window: RollingWindow::new(period) })
    }

    /// Adds an input; returns the average once N inputs have been seen.
    pub fn update(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        self.is_ready().then(|| self.value())
    }

    /// Mean of the last N inputs (of all inputs so far before ready; 0.0 with none).
    pub fn value(&self) -> f64 {
        self.window.mean()
    }

    /// Whether `period` inputs have been seen.
    pub fn is_ready(&self) -> bool {
        self.window.is_full()
    }

    /// The window length N, in inputs.
    pub fn period(&self) -> usize {
        self.window.period()
    }

    /// Forgets every input seen (back to the state after `new`).
    pub fn reset(&mut self) {
        self.window.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sma3_of_1_to_5() {
        let mut s = Sma::new(3).unwrap();
        assert_eq!(s.update(1.0), None);
        assert_eq!(s.update(2.0), None);
        assert_eq!(s.value(), 1.5); // partial: (1+2)/2
        assert_eq!(s.update(3.0), Some(2.0)); // (1+2+3)/3
        assert_eq!(s.update(4.0), Some(3.0)); // (2+3+4)/3
        assert_eq!(s.update(5.0), Some(4.0)); // (3+4+5)/3
        assert!(s.is_ready());
        s.reset();
        assert!(!s.is_ready());
        assert_eq!(s.value(), 0.0);
        assert_eq!(s.update(7.0), None);
    }

    #[test]
    fn period_one_is_the_input() {
        let mut s = Sma::new(1).unwrap();
        assert_eq!(s.update(2.5), Some(2.5));
        assert_eq!(s.update(-1.0), Some(-1.0));
    }

    #[test]
    fn zero_period_is_an_error() {
        assert!(Sma::new(0).is_err());
    }
}
