//! Moving average convergence/divergence: macd = EMA(fast) - EMA(slow), signal = EMA(signal) of macd,
//! histogram = macd - signal.
//!
//! Conventions: the three EMAs follow [`Ema`] (seeded with the first input, alpha = 2/(N+1)). The
//! signal EMA is fed the macd line from the very first input, so every value equals the usual pandas
//! form `ewm(span=fast, adjust=False) - ewm(span=slow, adjust=False)` and its `ewm(span=signal,
//! adjust=False)`. Ready when both the slow EMA and the signal EMA are ready, i.e. after
//! max(slow, signal) inputs. The fast period must be strictly shorter than the slow one.

use super::{check_period, Ema, IndicatorError};

/// One MACD reading.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct MacdValue {
    /// EMA(fast) - EMA(slow).
    pub macd: f64,
    /// EMA(signal) of the macd line.
    pub signal: f64,
    /// `macd - signal`.
    pub histogram: f64,
}

/// MACD: fast and slow EMAs of the input and a signal EMA of their difference (see the module conventions).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
    value: MacdValue,
}

impl Macd {
    /// A MACD with the given EMA spans; zero periods, or `fast >= slow`, are errors.
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Macd, IndicatorError> {
        check_period("MACD fast", fast)?;
        check_period("MACD slow", slow)?;
        check_period("MACD signal", signal)?;
        if fast >= slow {
            return Err(IndicatorError::FastNotBelowSlow { fast, slow });
        }
        Ok(Macd { fast: Ema::new(fast)?, slow: Ema::new(slow)?, signal: Ema::new(signal)?, value: MacdValue::default() })
    }

    /// Adds an input; returns the reading once ready.
    pub fn update(&mut self, x: f64) -> Option<MacdValue> {
        self.fast.update(x);
        self.slow.update(x);
        let macd = self.fast.value() - self.slow.value();
        self.signal.update(macd);
        let signal = self.signal.value();
        self.value = MacdValue { macd, signal, histogram: macd - signal };
        self.is_ready().then_some(self.value)
    }

    /// Latest reading (also during warm-up; all zero before any input).
    pub fn value(&self) -> MacdValue {
        self.value
    }

    /// Latest macd line (EMA(fast) - EMA(slow)).
    pub fn macd(&self) -> f64 {
        self.value.macd
    }

    /// Latest signal line.
    pub fn signal(&self) -> f64 {
        self.value.signal
    }

    /// Latest histogram (macd - signal).
    pub fn histogram(&self) -> f64 {
        self.value.histogram
    }

    /// Whether both the slow and the signal EMA are ready (after max(slow, signal) inputs).
    pub fn is_ready(&self) -> bool {
        self.slow.is_ready() && self.signal.is_ready()
    }

    /// (fast, slow, signal) periods.
    pub fn periods(&self) -> (usize, usize, usize) {
        (self.fast.period(), self.slow.period(), self.signal.period())
    }

    /// Forgets every input seen (back to the state after `new`).
    pub fn reset(&mut self) {
        self.fast.reset();
        self.slow.reset();
        self.signal.reset();
        self.value = MacdValue::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn macd_2_3_2_by_hand() {
        // Inputs 0, 3, 0, 3. fast alpha 2/3: 0, 2, 2/3, 20/9. slow alpha 1/2: 0, 1.5, 0.75, 1.875.
        // macd: 0, 0.5, -1/12, 25/72. signal (alpha 2/3 on macd): 0, 1/3, 1/18, 1/4.
        let mut m = Macd::new(2, 3, 2).unwrap();
        assert_eq!(m.update(0.0), None);
        assert_eq!(m.update(3.0), None);
        assert!(close(m.macd(), 0.5) && close(m.signal(), 1.0 / 3.0));
        // Ready at the 3rd input (slow EMA ready after 3, signal after 2).
        let v = m.update(0.0).unwrap();
        assert!(close(v.macd, -1.0 / 12.0), "{v:?}");
        assert!(close(v.signal, 1.0 / 18.0), "{v:?}");
        assert!(close(v.histogram, -5.0 / 36.0), "{v:?}");
        let v = m.update(3.0).unwrap();
        assert!(close(v.macd, 25.0 / 72.0), "{v:?}");
        assert!(close(v.signal, 0.25), "{v:?}");
        assert!(close(v.histogram, 7.0 / 72.0), "{v:?}");
        m.reset();
        assert!(!m.is_ready());
        assert_eq!(m.value(), MacdValue::default());
        assert_eq!(m.periods(), (2, 3, 2));
    }

    #[test]
    fn bad_periods_are_errors() {
        assert!(Macd::new(0, 26, 9).is_err());
        assert!(Macd::new(12, 26, 0).is_err());
        assert_eq!(Macd::new(12, 12, 9).unwrap_err(), IndicatorError::FastNotBelowSlow { fast: 12, slow: 12 });
    }
}
