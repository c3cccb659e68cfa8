//! Relative strength index with Wilder smoothing, fed closes.
//!
//! Conventions: changes start at the 2nd input. The first average gain / loss are the simple means of
//! the first N changes; after that `avg = (avg * (N - 1) + x) / N` for both. RSI = 100 - 100 / (1 + RS)
//! with RS = avg_gain / avg_loss; 100 when avg_loss is 0 (and 50 when both are 0). Ready after N + 1
//! inputs. `value()` before that is the RSI of the partial means so far (50 with no change yet).

use super::{check_period, IndicatorError};

/// Relative strength index with Wilder smoothing over `period` changes, fed closes (see the module conventions).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Rsi {
    period: usize,
    prev: Option<f64>,
    /// Changes seen, capped at `period`.
    changes: usize,
    /// Sums during warm-up, Wilder averages once ready.
    gain: f64,
    loss: f64,
}

impl Rsi {
    /// An RSI over `period` changes; a period of 0 is an error.
    pub fn new(period: usize) -> Result<Rsi, IndicatorError> {
        let period = check_period("RSI", period)?;
        Ok(Rsi { period, prev: None, changes: 0, gain: 0.0, loss: 0.0 })
    }

    /// Adds a close; returns the RSI once N + 1 closes have been seen.
    pub fn update(&mut self, close: f64) -> Option<f64> {
        let prev = self.prev.replace(close)?;
        let change = close - prev;
        let (g, l) = if change > 0.0 { (change, 0.0) } else { (0.0, -change) };
        if self.changes < self.period {
            self.changes += 1;
            self.gain += g;
            self.loss += l;
            if self.changes == self.period {
                let n = self.period as f64;
                self.gain /= n;
                self.loss /= n;
            }
        } else {
            let n = self.period as f64;
            self.gain = (self.gain * (n - 1.0) + g) / n;
            self.loss = (self.loss * (n - 1.0) + l) / n;
        }
        self.is_ready().then(|| self.value())
    }

    /// Average gain (before ready: the mean of the gains so far).
    pub fn avg_gain(&self) -> f64 {
        if self.is_ready() || self.changes == 0 {
            self.gain
        } else {
            self.gain / self.changes as f64
        }
    }

    /// Average loss as a positive number (before ready: the mean of the losses so far).
    pub fn avg_loss(&self) -> f64 {
        if self.is_ready() || self.changes == 0 {
            self.loss
        } else {
            self.loss / self.changes as f64
        }
    }

    /// Latest RSI in [0, 100].
    pub fn value(&self) -> f64 {
        let (g, l) = (self.avg_gain(), self.avg_loss());
        if l == 0.0 {
            if g == 0.0 {
                50.0
            } else {
                100.0
            }
        } else {
            100.0 - 100.0 / (1.0 + g / l)
        }
    }

    /// Whether `period + 1` closes have been seen.
    pub fn is_ready(&self) -> bool {
        self.changes >= self.period
    }

    /// The smoothing period N, in changes.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Forgets every close seen (back to the state after `new`).
    pub fn reset(&mut self) {
        self.prev = None;
        self.changes = 0;
        self.gain = 0.0;
        self.loss = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn rsi3_by_hand() {
        // Closes 10, 11, 10.5, 11.5, 11, 12 -> changes +1, -0.5, +1, -0.5, +1.
        let mut r = Rsi::new(3).unwrap();
        assert_eq!(r.update(10.0), None);
        assert_eq!(r.update(11.0), None);
        assert_eq!(r.update(10.5), None);
        // First 3 changes: avg gain (1+0+1)/3 = 2/3, avg loss (0+0.5+0)/3 = 1/6, RS = 4,
        // RSI = 100 - 100/5 = 80.
        let v = r.update(11.5).unwrap();
        assert!(close(v, 80.0), "{v}");
        // -0.5: gain (2/3*2 + 0)/3 = 4/9, loss (1/6*2 + 0.5)/3 = 5/18, RS = 1.6, RSI = 100 - 100/2.6.
        let v = r.update(11.0).unwrap();
        assert!(close(v, 61.538_461_538_461_54), "{v}");
        assert!(close(r.avg_gain(), 4.0 / 9.0) && close(r.avg_loss(), 5.0 / 18.0));
        // +1: gain (4/9*2 + 1)/3 = 17/27, loss (5/18*2)/3 = 5/27, RS = 3.4, RSI = 100 - 100/4.4.
        let v = r.update(12.0).unwrap();
        assert!(close(v, 77.272_727_272_727_27), "{v}");
    }

    #[test]
    fn all_gains_is_100_and_flat_is_50() {
        let mut r = Rsi::new(2).unwrap();
        assert_eq!(r.value(), 50.0);
        r.update(1.0);
        r.update(2.0);
        assert_eq!(r.update(3.0), Some(100.0));
        r.reset();
        for _ in 0..3 {
            r.update(5.0);
        }
        assert!(r.is_ready());
        assert_eq!(r.value(), 50.0);
        // A single loss after flat: gain 0, loss > 0 -> RSI 0.
        assert_eq!(r.update(4.0), Some(0.0));
    }

    #[test]
    fn zero_period_is_an_error() {
        assert!(Rsi::new(0).is_err());
    }
}
