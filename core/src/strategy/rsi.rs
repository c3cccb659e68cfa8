//! `RSIStrategy`: RSI mean reversion on primary bar closes. Long when RSI crosses back up through
//! `oversold`, short when it crosses back down through `overbought`; a long exits when RSI reaches
//! `exit_long` (default 50), a short when it falls to `exit_short` (default 50).

use super::{check_period, check_range_f64, IndicatorValues, Strategy, StrategyContext, StrategyError};
use crate::bars::Bar;
use crate::indicators::rsi::Rsi;
use crate::order::Side;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RsiConfig {
    pub rsi_period: usize,
    pub oversold: f64,
    pub overbought: f64,
    pub exit_long: f64,
    pub exit_short: f64,
}

impl Default for RsiConfig {
    fn default() -> Self {
        RsiConfig { rsi_period: 14, oversold: 30.0, overbought: 70.0, exit_long: 50.0, exit_short: 50.0 }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct RsiReversal {
    cfg: RsiConfig,
    rsi: Rsi,
    prev: Option<f64>,
}

impl RsiReversal {
    pub fn new(cfg: RsiConfig) -> Result<RsiReversal, StrategyError> {
        check_period("rsi_period", cfg.rsi_period, 2)?;
        for (f, v) in
            [("oversold", cfg.oversold), ("overbought", cfg.overbought), ("exit_long", cfg.exit_long), ("exit_short", cfg.exit_short)]
        {
            check_range_f64(f, v, 0.0, 100.0)?;
        }
        if cfg.oversold >= cfg.overbought {
            return Err(StrategyError::Config("oversold must be below overbought".into()));
        }
        let rsi = Rsi::new(cfg.rsi_period).map_err(|e| StrategyError::Config(e.to_string()))?;
        Ok(RsiReversal { cfg, rsi, prev: None })
    }
}

impl Strategy for RsiReversal {
    super::saved_with_serde!();

    fn name(&self) -> &'static str {
        "RSIStrategy"
    }

    fn indicators(&self, out: &mut IndicatorValues) {
        if self.rsi.is_ready() {
            out.push("rsi", self.rsi.value(), false);
        }
    }

    fn on_bar(&mut self, size_index: usize, bar: &Bar, ctx: &mut StrategyContext) {
        if size_index != ctx.primary {
            return;
        }
        self.rsi.update(ctx.price(bar.close));
        if !self.rsi.is_ready() {
            return;
        }
        let now = self.rsi.value();
        let prev = self.prev.replace(now);
        if ctx.position > 0 && now >= self.cfg.exit_long || ctx.position < 0 && now <= self.cfg.exit_short {
            ctx.close();
            return;
        }
        let Some(prev) = prev else { return };
        if ctx.position == 0 {
            if prev < self.cfg.oversold && now >= self.cfg.oversold {
                ctx.enter(Side::Buy, None);
            } else if prev > self.cfg.overbought && now <= self.cfg.overbought {
                ctx.enter(Side::Sell, None);
            }
        }
    }
}
