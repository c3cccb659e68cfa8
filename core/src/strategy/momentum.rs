//! `MomentumStrategy`: RSI plus MACD crossover on primary bar closes, with a trend filter from the other
//! bar sizes and an ATR trailing exit.
//!
//! Long entry: MACD crosses above its signal, RSI below `rsi_overbought`, and no other bar size's latest
//! closed bar is bearish (close < open). Short entry mirrors it (RSI above `rsi_oversold`, no bullish
//! higher bar). Exit: the opposite MACD cross, RSI reaching the far extreme, or price retreating more than
//! `atr_multiplier * ATR(14)` from the best close since entry.

use super::{check_period, check_range_f64, Cross, CrossDetector, IndicatorValues, Strategy, StrategyContext, StrategyError};
use crate::bars::Bar;
use crate::indicators::{atr::Atr, macd::Macd, rsi::Rsi};
use crate::order::Side;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MomentumConfig {
    pub rsi_period: usize,
    pub rsi_oversold: f64,
    pub rsi_overbought: f64,
    pub atr_multiplier: f64,
    pub macd_fast: usize,
    pub macd_slow: usize,
    pub macd_signal: usize,
}

impl Default for MomentumConfig {
    fn default() -> Self {
        MomentumConfig {
            rsi_period: 14,
            rsi_oversold: 30.0,
            rsi_overbought: 70.0,
            atr_multiplier: 2.0,
            macd_fast: 12,
            macd_slow: 26,
            macd_signal: 9,
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Momentum {
    cfg: MomentumConfig,
    rsi: Rsi,
    macd: Macd,
    atr: Atr,
    cross: CrossDetector,
    best_close: f64,
}

impl Momentum {
    pub fn new(cfg: MomentumConfig) -> Result<Momentum, StrategyError> {
        check_period("rsi_period", cfg.rsi_period, 2)?;
        check_range_f64("rsi_oversold", cfg.rsi_oversold, 0.0, 100.0)?;
        check_range_f64("rsi_overbought", cfg.rsi_overbought, 0.0, 100.0)?;
        if cfg.rsi_oversold >= cfg.rsi_overbought {
            return Err(StrategyError::Config("rsi_oversold must be below rsi_overbought".into()));
        }
        check_range_f64("atr_multiplier", cfg.atr_multiplier, 0.1, 100.0)?;
        check_period("macd_fast", cfg.macd_fast, 1)?;
        check_period("macd_slow", cfg.macd_slow, 2)?;
        check_period("macd_signal", cfg.macd_signal, 1)?;
        if cfg.macd_fast >= cfg.macd_slow {
            return Err(StrategyError::Config("macd_fast must be below macd_slow".into()));
        }
        let e = |e: crate::indicators::IndicatorError| StrategyError::Config(e.to_string());
        Ok(Momentum {
            rsi: Rsi::new(cfg.rsi_period).map_err(e)?,
            macd: Macd::new(cfg.macd_fast, cfg.macd_slow, cfg.macd_signal).map_err(e)?,
            atr: Atr::new(14).map_err(e)?,
            cross: CrossDetector::default(),
            best_close: 0.0,
            cfg,
        })
    }

    /// +1 when every other size's latest closed bar is bullish or flat, -1 when all bearish or flat, 0 mixed.
    fn higher_trend(ctx: &StrategyContext) -> (bool, bool) {
        let (mut any_bull, mut any_bear) = (false, false);
        for i in 0..ctx.bars.len() {
            if i == ctx.primary {
                continue;
            }
            if let Some(b) = ctx.bars.last_closed(i) {
                any_bull |= b.close > b.open;
                any_bear |= b.close < b.open;
            }
        }
        (!any_bear, !any_bull)
    }
}

impl Strategy for Momentum {
    super::saved_with_serde!();

    fn name(&self) -> &'static str {
        "MomentumStrategy"
    }

    fn indicators(&self, out: &mut IndicatorValues) {
        if self.rsi.is_ready() {
            out.push("rsi", self.rsi.value(), false);
        }
        if self.macd.is_ready() {
            out.push("macd", self.macd.macd(), false);
            out.push("macd_signal", self.macd.signal(), false);
        }
        if self.atr.is_ready() {
            out.push("atr", self.atr.value(), false);
        }
    }

    fn on_bar(&mut self, size_index: usize, bar: &Bar, ctx: &mut StrategyContext) {
        if size_index != ctx.primary {
            return;
        }
        let (h, l, c) = (ctx.price(bar.high), ctx.price(bar.low), ctx.price(bar.close));
        self.atr.update(h, l, c);
        self.rsi.update(c);
        self.macd.update(c);
        if !(self.rsi.is_ready() && self.macd.is_ready()) {
            return;
        }
        let cross = self.cross.update(self.macd.macd() - self.macd.signal());
        let rsi = self.rsi.value();
        let pos = ctx.position;
        if pos != 0 {
            self.best_close = if pos > 0 { self.best_close.max(c) } else { self.best_close.min(c) };
            let trail = self.atr.is_ready()
                && (self.best_close - c).abs() > self.cfg.atr_multiplier * self.atr.value()
                && (pos > 0) == (c < self.best_close);
            let exit = if pos > 0 {
                cross == Cross::Down || rsi >= self.cfg.rsi_overbought || trail
            } else {
                cross == Cross::Up || rsi <= self.cfg.rsi_oversold || trail
            };
            if exit {
                ctx.close();
            }
            return;
        }
        let (long_ok, short_ok) = Self::higher_trend(ctx);
        if cross == Cross::Up && rsi < self.cfg.rsi_overbought && long_ok {
            self.best_close = c;
            ctx.enter(Side::Buy, None);
        } else if cross == Cross::Down && rsi > self.cfg.rsi_oversold && short_ok {
            self.best_close = c;
            ctx.enter(Side::Sell, None);
        }
    }
}
