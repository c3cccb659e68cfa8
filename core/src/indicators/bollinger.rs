//! Bollinger bands: middle = SMA(N), upper/lower = middle +/- k * population standard deviation of the
//! last N inputs.
//!
//! Conventions: ready after N inputs; before that the bands are computed over the inputs so far (all
//! zero with none). Population (divide by N) standard deviation, as Bollinger defined it. Running sums
//! over a fixed ring buffer, recomputed exactly once every N updates (amortised O(1), no drift).

use super::window::RollingWindow;
use super::{check_period, IndicatorError};

/// One Bollinger reading.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bands {
    /// SMA of the window.
    pub middle: f64,
    /// `middle + k * std_dev`.
    pub upper: f64,
    /// `middle - k * std_dev`.
    pub lower: f64,
}

/// Bollinger bands over the last `period` inputs with width multiplier `k` (see the module conventions).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Bollinger {
    window: RollingWindow,
    k: f64,
}

impl Bollinger {
    /// `k` must be finite and > 0 (commonly 2.0).
    pub fn new(period: usize, k: f64) -> Result<Bollinger, IndicatorError> {
        let period = check_period("Bollinger", period)?;
        if !(k.is_finite() && k > 0.0) {
            return Err(IndicatorError::InvalidK(k));
        }
        Ok(Bollinger { window: RollingWindow::new(period), k })
    }

    /// Adds an input; returns the bands once N inputs have been seen.
    pub fn update(&mut self, x: f64) -> Option<Bands> {
        self.window.push(x);
        self.is_ready().then(|| self.value())
    }

    /// Latest bands.
    pub fn value(&self) -> Bands {
        let middle = self.window.mean();
        let w = self.k * self.std_dev();
        Bands { middle, upper: middle + w, lower: middle - w }
    }

    /// Latest middle band (the SMA).
    pub fn middle(&self) -> f64 {
        self.window.mean()
    }

    /// Latest upper band.
    pub fn upper(&self) -> f64 {
        self.value().upper
    }

    /// Latest lower band.
    pub fn lower(&self) -> f64 {
        self.value().lower
    }

    /// Population standard deviation of the window.
    pub fn std_dev(&self) -> f64 {
        self.window.variance().sqrt()
    }

    /// Whether `period` inputs have been seen.
    pub fn is_ready(&self) -> bool {
        self.window.is_full()
    }

    /// The window length N, in inputs.
    pub fn period(&self) -> usize {
        self.window.period()
    }

    /// The band width multiplier, in standard deviations.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// Forgets every input seen (back to the state after `new`).
    pub fn reset(&mut self) {
        self.window.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn bollinger4_by_hand() {
        let mut b = Bollinger::new(4, 2.0).unwrap();
        for x in [2.0, 4.0, 4.0] {
            assert_eq!(b.update(x), None);
        }
        // Window 2, 4, 4, 6: mean 4, deviations -2, 0, 0, 2, variance (4+0+0+4)/4 = 2, sd sqrt(2).
        let v = b.update(6.0).unwrap();
        assert!(close(v.middle, 4.0));
        assert!(close(v.upper, 4.0 + 2.0 * 2f64.sqrt()), "{v:?}");
        assert!(close(v.lower, 4.0 - 2.0 * 2f64.sqrt()), "{v:?}");
        // Window 4, 4, 6, 10: mean 6, deviations -2, -2, 0, 4, variance (4+4+0+16)/4 = 6, sd sqrt(6).
        let v = b.update(10.0).unwrap();
        assert!(close(v.middle, 6.0));
        assert!(close(b.std_dev(), 6f64.sqrt()));
        assert!(close(v.upper, 6.0 + 2.0 * 6f64.sqrt()) && close(v.lower, 6.0 - 2.0 * 6f64.sqrt()));
        // Flat window: the bands collapse onto the middle.
        for _ in 0..4 {
            b.update(3.0);
        }
        assert_eq!(b.value(), Bands { middle: 3.0, upper: 3.0, lower: 3.0 });
        b.reset();
        assert!(!b.is_ready());
        assert_eq!(b.value(), Bands::default());
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(Bollinger::new(0, 2.0).is_err());
        for k in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(Bollinger::new(20, k), Err(IndicatorError::InvalidK(_))), "{k}");
        }
    }
}
