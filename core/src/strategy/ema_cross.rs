//! `ema_cross`: a tick-level fast/slow EMA crossover that is always in the market once both EMAs are
//! ready, long when fast >= slow and short otherwise, reversing with two market orders.

use super::{check_period, size_to_quantity, IndicatorValues, Strategy, StrategyContext, StrategyError};
use crate::fixed::Quantity;
use crate::indicators::ema::Ema;
use crate::instrument::Instrument;
use crate::order::Side;
use crate::tick::Tick;
use serde::Deserialize;

/// Settings of `ema_cross` (the book's `strategy_config`); unknown keys are refused.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmaCrossConfig {
    /// Span of the fast EMA, in ticks (1..=100000, below `slow`).
    pub fast: usize,
    /// Span of the slow EMA, in ticks (1..=100000).
    pub slow: usize,
    /// Order size in instrument units (FX: units of the base currency).
    pub trade_size: f64,
}

impl Default for EmaCrossConfig {
    fn default() -> Self {
        EmaCrossConfig { fast: 10, slow: 20, trade_size: 100_000.0 }
    }
}

/// The `ema_cross` strategy: EMAs of the tick mid, always long or short once both are ready.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct EmaCross {
    fast: Ema,
    slow: Ema,
    size: Quantity,
    precision: u8,
}

impl EmaCross {
    /// Validates `cfg` and builds the strategy for `instrument` (the trade size is converted to its size steps).
    pub fn new(cfg: EmaCrossConfig, instrument: &Instrument) -> Result<EmaCross, StrategyError> {
        check_period("fast", cfg.fast, 1)?;
        check_period("slow", cfg.slow, 1)?;
        if cfg.fast >= cfg.slow {
            return Err(StrategyError::Config(format!("fast ({}) must be below slow ({})", cfg.fast, cfg.slow)));
        }
        let size = size_to_quantity("trade_size", cfg.trade_size, instrument)?;
        let ema = |n| Ema::new(n).map_err(|e| StrategyError::Config(e.to_string()));
        Ok(EmaCross { fast: ema(cfg.fast)?, slow: ema(cfg.slow)?, size, precision: instrument.price_precision })
    }
}

impl Strategy for EmaCross {
    super::saved_with_serde!();

    fn name(&self) -> &'static str {
        "ema_cross"
    }

    fn indicators(&self, out: &mut IndicatorValues) {
        if self.fast.is_ready() && self.slow.is_ready() {
            out.push("ema_fast", self.fast.value(), true);
            out.push("ema_slow", self.slow.value(), true);
        }
    }

    fn on_tick(&mut self, tick: &Tick, ctx: &mut StrategyContext) {
        if !tick.is_quote() {
            return;
        }
        let mid = tick.mid_f64(self.precision);
        self.fast.update(mid);
        self.slow.update(mid);
        if !(self.fast.is_ready() && self.slow.is_ready()) {
            return;
        }
        let side = if self.fast.value() >= self.slow.value() { Side::Buy } else { Side::Sell };
        if ctx.position != 0 || ctx.entries_allowed {
            ctx.target(side, Some(self.size));
        }
    }
}
