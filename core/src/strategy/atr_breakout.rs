//! `ATRBreakout`: on primary bar closes, go long when the close breaks above the highest high of the
//! previous `lookback` bars plus `multiplier * ATR`, short on the mirror break below the lowest low;
//! an opposite breakout reverses the position.

use super::{check_period, check_range_f64, IndicatorValues, Strategy, StrategyContext, StrategyError};
use crate::bars::Bar;
use crate::indicators::atr::Atr;
use crate::order::Side;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AtrBreakoutConfig {
    pub atr_period: usize,
    pub lookback: usize,
    pub multiplier: f64,
}

impl Default for AtrBreakoutConfig {
    fn default() -> Self {
        AtrBreakoutConfig { atr_period: 14, lookback: 20, multiplier: 0.5 }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct AtrBreakout {
    cfg: AtrBreakoutConfig,
    atr: Atr,
    highs: Vec<f64>,
    lows: Vec<f64>,
    seen: usize,
}

impl AtrBreakout {
    pub fn new(cfg: AtrBreakoutConfig) -> Result<AtrBreakout, StrategyError> {
        check_period("atr_period", cfg.atr_period, 1)?;
        check_period("lookback", cfg.lookback, 1)?;
        check_range_f64("multiplier", cfg.multiplier, 0.0, 100.0)?;
        let atr = Atr::new(cfg.atr_period).map_err(|e| StrategyError::Config(e.to_string()))?;
        Ok(AtrBreakout { atr, highs: vec![0.0; cfg.lookback], lows: vec![0.0; cfg.lookback], seen: 0, cfg })
    }
}

impl Strategy for AtrBreakout {
    super::saved_with_serde!();

    fn name(&self) -> &'static str {
        "ATRBreakout"
    }

    fn indicators(&self, out: &mut IndicatorValues) {
        if self.seen >= self.cfg.lookback && self.atr.is_ready() {
            let hh = self.highs.iter().copied().fold(f64::MIN, f64::max);
            let ll = self.lows.iter().copied().fold(f64::MAX, f64::min);
            let band = self.cfg.multiplier * self.atr.value();
            out.push("breakout_high", hh + band, true);
            out.push("breakout_low", ll - band, true);
        }
    }

    fn on_bar(&mut self, size_index: usize, bar: &Bar, ctx: &mut StrategyContext) {
        if size_index != ctx.primary {
            return;
        }
        let (h, l, c) = (ctx.price(bar.high), ctx.price(bar.low), ctx.price(bar.close));
        if self.seen >= self.cfg.lookback && self.atr.is_ready() {
            let hh = self.highs.iter().copied().fold(f64::MIN, f64::max);
            let ll = self.lows.iter().copied().fold(f64::MAX, f64::min);
            let band = self.cfg.multiplier * self.atr.value();
            if c > hh + band {
                ctx.target(Side::Buy, None);
            } else if c < ll - band {
                ctx.target(Side::Sell, None);
            }
        }
        self.atr.update(h, l, c);
        let slot = self.seen % self.cfg.lookback;
        self.highs[slot] = h;
        self.lows[slot] = l;
        self.seen += 1;
    }
}
