//! The observation the model session feeds its policy (feature set `pinion_v1`, 6 features per bar):
//!
//! | # | feature | definition |
//! |---|---------|------------|
//! | 0 | log return | ln(close_t / close_{t-1}) (0 for the oldest bar of the window) |
//! | 1 | range | (high - low) / close |
//! | 2 | body | (close - open) / close |
//! | 3 | ATR | ATR(14, Wilder, over the window) / close, the same value on every row |
//! | 4 | position | signed position notional / per-symbol target capital, clipped to [-1, 1] |
//! | 5 | trend | ln(close_t / mean close of the window) |
//!
//! Rows run oldest to newest; empty symbol slots are zeros with mask 0.

use super::history::BarHistory;

/// Name of the feature set a model must declare to get this observation.
pub const FEATURE_SET_V1: &str = "pinion_v1";
/// Features per bar row in `pinion_v1`.
pub const N_FEATURES_V1: usize = 6;
/// ATR period of the `ATR` feature (Wilder).
pub const ATR_PERIOD: usize = 14;

/// ATR(`ATR_PERIOD`) with Wilder smoothing over the newest `window` bars (None when too few bars).
pub fn window_atr(h: &BarHistory, window: usize, precision_scale: f64) -> Option<f64> {
    let n = window.min(h.len());
    if n < ATR_PERIOD + 1 {
        return None;
    }
    let mut atr = 0.0;
    let mut prev_close: Option<f64> = None;
    let mut count = 0usize;
    for k in (0..n).rev() {
        let b = h.newest(k)?;
        let (hi, lo, cl) = (b.high as f64 / precision_scale, b.low as f64 / precision_scale, b.close as f64 / precision_scale);
        let tr = match prev_close {
            Some(pc) => (hi - lo).max((hi - pc).abs()).max((lo - pc).abs()),
            None => hi - lo,
        };
        prev_close = Some(cl);
        count += 1;
        if count <= ATR_PERIOD {
            atr += tr / ATR_PERIOD as f64;
        } else {
            atr = (atr * (ATR_PERIOD as f64 - 1.0) + tr) / ATR_PERIOD as f64;
        }
    }
    Some(atr)
}

/// Writes one symbol's `lookback x N_FEATURES_V1` block into `out` (row-major, oldest row first).
/// `scale` turns half price steps into prices (2 * 10^precision). Returns false if the history is short.
pub fn write_symbol_block(h: &BarHistory, lookback: usize, scale: f64, position_frac: f32, out: &mut [f32]) -> bool {
    if h.len() < lookback || out.len() < lookback * N_FEATURES_V1 {
        return false;
    }
    let atr = window_atr(h, lookback, scale).unwrap_or(0.0);
    let mut mean = 0.0;
    for k in 0..lookback {
        mean += h.newest(k).map_or(0.0, |b| b.close as f64 / scale);
    }
    mean /= lookback as f64;
    for row in 0..lookback {
        let k = lookback - 1 - row;
        let Some(b) = h.newest(k) else { return false };
        let close = b.close as f64 / scale;
        let prev = h.newest(k + 1).map(|p| p.close as f64 / scale);
        let f = &mut out[row * N_FEATURES_V1..(row + 1) * N_FEATURES_V1];
        f[0] = match prev {
            Some(p) if row > 0 && p > 0.0 && close > 0.0 => (close / p).ln() as f32,
            _ => 0.0,
        };
        f[1] = ((b.high - b.low) as f64 / scale / close) as f32;
        f[2] = ((b.close - b.open) as f64 / scale / close) as f32;
        f[3] = (atr / close) as f32;
        f[4] = position_frac.clamp(-1.0, 1.0);
        f[5] = if mean > 0.0 { (close / mean).ln() as f32 } else { 0.0 };
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bars::BarSize;

    #[test]
    fn block_has_documented_features() {
        let mut h = BarHistory::new(BarSize::parse("1 min").unwrap(), 64);
        let min = 60_000_000_000i64;
        // closes 1.0000, 1.0010, 1.0020 ... (x2 units at precision 4: 2 * 10^4 scale)
        for k in 0..20i64 {
            let mid_x2 = 2 * (10_000 + 10 * k);
            h.on_tick(k * min, mid_x2);
        }
        h.advance_time(20 * min);
        let mut out = vec![0f32; 4 * N_FEATURES_V1];
        assert!(write_symbol_block(&h, 4, 20_000.0, 0.5, &mut out));
        let last = &out[3 * N_FEATURES_V1..];
        assert!((last[0] as f64 - (1.0190f64 / 1.0180).ln()).abs() < 1e-6);
        assert_eq!(last[1], 0.0);
        assert_eq!(last[4], 0.5);
        assert_eq!(out[0], 0.0, "oldest row has no previous close in the window");
        assert!(!write_symbol_block(&h, 40, 20_000.0, 0.0, &mut out));
    }
}
