//! `BollingerBandsMeanReversion`: on primary bar closes, buy a close below the lower band, sell a close
//! above the upper band, and exit when price returns to the middle band.

use super::{check_period, check_range_f64, IndicatorValues, Strategy, StrategyContext, StrategyError};
use crate::bars::Bar;
use crate::indicators::bollinger::Bollinger;
use crate::order::Side;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BollingerConfig {
    pub period: usize,
    pub num_std: f64,
}

impl Default for BollingerConfig {
    fn default() -> Self {
        BollingerConfig { period: 20, num_std: 2.0 }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct BollingerReversion {
    bands: Bollinger,
}

impl BollingerReversion {
    pub fn new(cfg: BollingerConfig) -> Result<BollingerReversion, StrategyError> {
        check_period("period", cfg.period, 2)?;
        check_range_f64("num_std", cfg.num_std, 0.1, 10.0)?;
        let bands = Bollinger::new(cfg.period, cfg.num_std).map_err(|e| StrategyError::Config(e.to_string()))?;
        Ok(BollingerReversion { bands })
    }
}

impl Strategy for BollingerReversion {
    super::saved_with_serde!();

    fn name(&self) -> &'static str {
        "BollingerBandsMeanReversion"
    }

    fn indicators(&self, out: &mut IndicatorValues) {
        if self.bands.is_ready() {
            let b = self.bands.value();
            out.push("bb_upper", b.upper, true);
            out.push("bb_middle", b.middle, true);
            out.push("bb_lower", b.lower, true);
        }
    }

    fn on_bar(&mut self, size_index: usize, bar: &Bar, ctx: &mut StrategyContext) {
        if size_index != ctx.primary {
            return;
        }
        let c = ctx.price(bar.close);
        self.bands.update(c);
        if !self.bands.is_ready() {
            return;
        }
        let (upper, middle, lower) = (self.bands.upper(), self.bands.middle(), self.bands.lower());
        match ctx.position {
            p if p > 0 && c >= middle => ctx.close(),
            p if p < 0 && c <= middle => ctx.close(),
            0 if c < lower => ctx.enter(Side::Buy, None),
            0 if c > upper => ctx.enter(Side::Sell, None),
            _ => {}
        }
    }
}
