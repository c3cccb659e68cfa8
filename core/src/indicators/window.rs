//! Fixed-length rolling window of f64 with running mean and population variance, shared by SMA and
//! Bollinger. The ring buffer is allocated once in `new`.
//!
//! Numerics: the running sums are kept over values shifted by a reference `shift` (close to the data),
//! so the variance does not suffer the cancellation of the raw `E[x^2] - E[x]^2` form on prices like
//! 0.67xxx. Each time the ring wraps (every `period` updates once full) both sums are recomputed
//! exactly from the buffer and the shift is moved to the window mean, so rounding drift never
//! accumulates: O(1) per update, O(period) once per `period` updates (amortised O(1)).

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct RollingWindow {
    buf: Vec<f64>,
    /// Next slot to write (also the oldest value once full).
    next: usize,
    /// Values held, up to `buf.len()`.
    count: usize,
    /// Reference subtracted from every value in the sums.
    shift: f64,
    /// Sum of `x - shift` over the window.
    sum: f64,
    /// Sum of `(x - shift)^2` over the window.
    sum_sq: f64,
}

impl RollingWindow {
    /// `period` must be non-zero (checked by the indicators).
    pub(crate) fn new(period: usize) -> RollingWindow {
        RollingWindow { buf: vec![0.0; period.max(1)], next: 0, count: 0, shift: 0.0, sum: 0.0, sum_sq: 0.0 }
    }

    pub(crate) fn period(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.count == self.buf.len()
    }

    pub(crate) fn push(&mut self, x: f64) {
        if self.count == 0 {
            self.shift = x;
        }
        let d = x - self.shift;
        if self.is_full() {
            let old = self.buf[self.next] - self.shift;
            self.sum -= old;
            self.sum_sq -= old * old;
        } else {
            self.count += 1;
        }
        self.sum += d;
        self.sum_sq += d * d;
        self.buf[self.next] = x;
        self.next += 1;
        if self.next == self.buf.len() {
            self.next = 0;
            self.recompute();
        }
    }

    /// Exact sums from the buffer, re-centred on the current mean.
    fn recompute(&mut self) {
        let n = self.count as f64;
        let values = &self.buf[..self.count];
        let mean = values.iter().sum::<f64>() / n;
        self.shift = mean;
        let (mut s, mut s2) = (0.0, 0.0);
        for &x in values {
            let d = x - mean;
            s += d;
            s2 += d * d;
        }
        self.sum = s;
        self.sum_sq = s2;
    }

    /// Mean of the values held (0.0 when empty).
    pub(crate) fn mean(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        self.shift + self.sum / self.count as f64
    }

    /// Population variance of the values held (0.0 when empty), never negative.
    pub(crate) fn variance(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let n = self.count as f64;
        let m = self.sum / n;
        (self.sum_sq / n - m * m).max(0.0)
    }

    pub(crate) fn reset(&mut self) {
        self.buf.iter_mut().for_each(|x| *x = 0.0);
        self.next = 0;
        self.count = 0;
        self.shift = 0.0;
        self.sum = 0.0;
        self.sum_sq = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(values: &[f64]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn matches_a_two_pass_computation_over_a_long_run() {
        // A deterministic price-like walk around 0.67 with tiny moves, where E[x^2]-E[x]^2 breaks down.
        let mut w = RollingWindow::new(20);
        let mut xs = Vec::new();
        let mut p = 0.67067;
        let mut seed: u64 = 12345;
        for _ in 0..100_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            p += ((seed >> 33) % 7) as f64 * 1e-5 - 3e-5;
            xs.push(p);
            w.push(p);
        }
        let (mean, var) = naive(&xs[xs.len() - 20..]);
        assert!((w.mean() - mean).abs() < 1e-12, "{} vs {mean}", w.mean());
        assert!((w.variance() - var).abs() < 1e-15 + var * 1e-6, "{} vs {var}", w.variance());
    }

    #[test]
    fn partial_window_and_reset() {
        let mut w = RollingWindow::new(4);
        w.push(1.0);
        w.push(3.0);
        assert!(!w.is_full());
        assert_eq!(w.mean(), 2.0);
        assert_eq!(w.variance(), 1.0);
        w.reset();
        assert_eq!(w.mean(), 0.0);
        assert_eq!(w.period(), 4);
    }
}
