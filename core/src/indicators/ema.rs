//! Exponential moving average.
//!
//! Conventions: `alpha = 2 / (N + 1)`; the first input seeds the value (`value = x0`), then every input
//! applies `value += alpha * (x - value)`, including before ready (this equals pandas
//! `ewm(span=N, adjust=False).mean()`). Ready after N inputs. `value()` is 0.0 before any input.

use super::{check_period, IndicatorError};

/// Exponential moving average with `alpha = 2 / (N + 1)`, seeded with the first input (see the module conventions).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ema {
    period: usize,
    alpha: f64,
    value: f64,
    count: usize,
}

impl Ema {
    /// An EMA of span `period`; a period of 0 is an error.
    pub fn new(period: usize) -> Result<Ema, IndicatorError> {
        let period = check_period("EMA", period)?;
        Ok(Ema { period, alpha: 2.0 / (period as f64 + 1.0), value: 0.0, count: 0 })
    }

    /// Adds an input; returns the average once N inputs have been seen.
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if self.count == 0 {
            self.value = x;
        } else {
            self.value += self.alpha * (x - self.value);
        }
        if self.count < self.period {
            self.count += 1;
        }
        self.is_ready().then_some(self.value)
    }

    /// Latest value (updated on every input, also before ready; 0.0 before any input).
    pub fn value(&self) -> f64 {
        self.value
    }

    /// Whether `period` inputs have been seen.
    pub fn is_ready(&self) -> bool {
        self.count >= self.period
    }

    /// The span N, in inputs.
    pub fn period(&self) -> usize {
        self.period
    }

    /// The smoothing factor `2 / (N + 1)`.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Forgets every input seen (back to the state after `new`).
    pub fn reset(&mut self) {
        self.value = 0.0;
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn ema3_by_hand() {
        // alpha = 2/(3+1) = 0.5. Inputs 2, 4, 6, 8:
        // 2 (seed), 2 + 0.5*(4-2) = 3, 3 + 0.5*(6-3) = 4.5, 4.5 + 0.5*(8-4.5) = 6.25.
        let mut e = Ema::new(3).unwrap();
        assert_eq!(e.update(2.0), None);
        assert_eq!(e.value(), 2.0);
        assert_eq!(e.update(4.0), None);
        assert_eq!(e.value(), 3.0);
        assert_eq!(e.update(6.0), Some(4.5));
        assert_eq!(e.update(8.0), Some(6.25));
        e.reset();
        assert_eq!(e.value(), 0.0);
        assert!(!e.is_ready());
    }

    #[test]
    fn ema4_by_hand() {
        // alpha = 2/5 = 0.4. Inputs 10, 11, 9:
        // 10, 10 + 0.4*1 = 10.4, 10.4 + 0.4*(9-10.4) = 10.4 - 0.56 = 9.84.
        let mut e = Ema::new(4).unwrap();
        e.update(10.0);
        e.update(11.0);
        e.update(9.0);
        assert!(close(e.value(), 9.84));
        assert!(!e.is_ready());
        assert!(e.update(9.0).is_some());
    }
}
