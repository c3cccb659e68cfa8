//! The strategy interface (fed ticks and closed bars, emitting order intents), the built-in strategies
//! and their validated JSON configurations.

mod atr_breakout;
mod bollinger;
mod buy_and_hold;
mod ema_cross;
mod momentum;
mod rsi;

pub use ema_cross::{EmaCross, EmaCrossConfig};

use crate::bars::{Bar, BarAggregator};
use crate::bounds::{CONFIG_NUMBER_MAX, PERIOD_MAX, TRADE_SIZE_MAX};
use crate::fixed::{Quantity, POW10};
use crate::instrument::Instrument;
use crate::order::Side;
use crate::tick::Tick;
use serde::de::DeserializeOwned;
use thiserror::Error;

/// What a strategy wants done; the engine turns intents into market orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Open (or add to) a position. `None` size means the book's default sizing (risk over stop).
    Enter {
        /// BUY to go long, SELL to go short.
        side: Side,
        /// Unsigned size in size steps, or None for the book's default sizing.
        quantity: Option<Quantity>,
    },
    /// Close the whole open position.
    Close,
}

/// A small fixed-capacity list of intents produced by one callback (no allocation).
#[derive(Debug, Clone, Copy, Default)]
pub struct Intents {
    items: [Option<Intent>; 4],
    len: usize,
}

impl Intents {
    /// Queues an intent; a fifth intent in one callback is dropped (strategies emit at most two).
    pub fn push(&mut self, intent: Intent) {
        if self.len < self.items.len() {
            self.items[self.len] = Some(intent);
            self.len += 1;
        }
    }
    /// Number of intents queued.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether no intent is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Drops every queued intent.
    pub fn clear(&mut self) {
        self.len = 0;
    }
    /// The `i`-th intent queued, in order.
    pub fn get(&self, i: usize) -> Option<Intent> {
        if i < self.len {
            self.items[i]
        } else {
            None
        }
    }
}

/// Most indicator values one strategy shows.
pub const MAX_INDICATORS: usize = 6;

/// The indicator values a strategy shows on the dashboard's price chart and in an order's "why"
/// context: `(name, value, overlay)` where `overlay` means "a price level, drawn over the candles"
/// (an EMA, a band) and false an oscillator (RSI, MACD). Fixed capacity, so filling it never allocates.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IndicatorValues {
    items: [(&'static str, f64, bool); MAX_INDICATORS],
    len: usize,
}

impl IndicatorValues {
    /// Adds a value (a seventh one is dropped; non-finite values are skipped: not ready).
    pub fn push(&mut self, name: &'static str, value: f64, overlay: bool) {
        if self.len < MAX_INDICATORS && value.is_finite() {
            self.items[self.len] = (name, value, overlay);
            self.len += 1;
        }
    }
    /// The values, in the order pushed.
    pub fn as_slice(&self) -> &[(&'static str, f64, bool)] {
        &self.items[..self.len]
    }
    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What a strategy sees when called.
pub struct StrategyContext<'a> {
    /// The instrument the book trades (precisions, pip size).
    pub instrument: &'a Instrument,
    /// Net position of this book in the instrument (signed, size steps).
    pub position: i64,
    /// All bar sizes of the book; `last_closed(i)` gives the latest closed bar of size `i`.
    pub bars: &'a BarAggregator,
    /// Index of the primary bar size in `bars`.
    pub primary: usize,
    /// False while the book is paused: strategies keep their indicators current but the engine drops
    /// entry intents.
    pub entries_allowed: bool,
    /// Where intents go; read by the engine after the callback.
    pub intents: &'a mut Intents,
}

impl StrategyContext<'_> {
    /// Converts a bar price (mid in half steps) to f64.
    pub fn price(&self, x2: i64) -> f64 {
        x2 as f64 / (2 * POW10[self.instrument.price_precision as usize]) as f64
    }
    /// Queues an entry on `side` (`quantity` in size steps, None for default sizing).
    pub fn enter(&mut self, side: Side, quantity: Option<Quantity>) {
        self.intents.push(Intent::Enter { side, quantity });
    }
    /// Queues closing the whole position.
    pub fn close(&mut self) {
        self.intents.push(Intent::Close);
    }
    /// Goes to `side`: enters when flat, closes and reverses when opposite, does nothing when already there.
    pub fn target(&mut self, side: Side, quantity: Option<Quantity>) {
        let want = side.sign();
        if self.position == 0 {
            self.enter(side, quantity);
        } else if self.position.signum() != want {
            self.close();
            self.enter(side, quantity);
        }
    }
}

/// A trading strategy. Called on the core thread: must not block, lock, log or allocate per call.
pub trait Strategy: Send {
    /// The strategy's registered name (as in `build_strategy` and snapshots).
    fn name(&self) -> &'static str;
    /// Every tick of the book's instrument (after bars closed by this tick were delivered).
    fn on_tick(&mut self, _tick: &Tick, _ctx: &mut StrategyContext) {}
    /// Every closed bar of every size of the book; most strategies act only when `size_index == ctx.primary`.
    fn on_bar(&mut self, _size_index: usize, _bar: &Bar, _ctx: &mut StrategyContext) {}
    /// Writes the current indicator values the strategy decides on (none by default). Called on the core
    /// thread when a primary bar closes and when an order is sent: must not allocate.
    fn indicators(&self, _out: &mut IndicatorValues) {}
    /// The whole state (configuration and indicators) for a snapshot, restored by [`restore_strategy`];
    /// None when this strategy cannot be saved (a snapshot is then skipped, never written partial).
    fn save_state(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Implements [`Strategy::save_state`] with the strategy's serde form.
macro_rules! saved_with_serde {
    () => {
        fn save_state(&self) -> Option<serde_json::Value> {
            serde_json::to_value(self).ok()
        }
    };
}
pub(crate) use saved_with_serde;

/// Rebuilds a built-in strategy from its name and a state saved by [`Strategy::save_state`].
pub fn restore_strategy(name: &str, state: &serde_json::Value) -> Result<Box<dyn Strategy>, StrategyError> {
    fn load<T: DeserializeOwned>(name: &str, v: &serde_json::Value) -> Result<T, StrategyError> {
        serde_json::from_value(v.clone()).map_err(|e| StrategyError::Config(format!("saved state of {name}: {e}")))
    }
    Ok(match name {
        "ema_cross" => Box::new(load::<EmaCross>(name, state)?),
        "MomentumStrategy" => Box::new(load::<momentum::Momentum>(name, state)?),
        "RSIStrategy" => Box::new(load::<rsi::RsiReversal>(name, state)?),
        "BollingerBandsMeanReversion" => Box::new(load::<bollinger::BollingerReversion>(name, state)?),
        "ATRBreakout" => Box::new(load::<atr_breakout::AtrBreakout>(name, state)?),
        "BuyAndHoldStrategy" => Box::new(load::<buy_and_hold::BuyAndHold>(name, state)?),
        other => return Err(StrategyError::Unknown(other.to_string())),
    })
}

/// Why a strategy could not be built or restored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StrategyError {
    /// No strategy has this name.
    #[error("unknown strategy {0:?}; known strategies: {known}", known = STRATEGY_NAMES.join(", "))]
    Unknown(String),
    /// The configuration (or saved state) was refused; the text says why.
    #[error("invalid strategy_config: {0}")]
    Config(String),
}

/// Names accepted by [`build_strategy`].
pub const STRATEGY_NAMES: &[&str] =
    &["ema_cross", "MomentumStrategy", "RSIStrategy", "BollingerBandsMeanReversion", "ATRBreakout", "BuyAndHoldStrategy"];

/// Builds a strategy from its name and JSON configuration (unknown keys and out-of-range values are errors).
pub fn build_strategy(name: &str, config: &serde_json::Value, instrument: &Instrument) -> Result<Box<dyn Strategy>, StrategyError> {
    Ok(match name {
        "ema_cross" => Box::new(EmaCross::new(parse_config(config)?, instrument)?),
        "MomentumStrategy" => Box::new(momentum::Momentum::new(parse_config(config)?)?),
        "RSIStrategy" => Box::new(rsi::RsiReversal::new(parse_config(config)?)?),
        "BollingerBandsMeanReversion" => Box::new(bollinger::BollingerReversion::new(parse_config(config)?)?),
        "ATRBreakout" => Box::new(atr_breakout::AtrBreakout::new(parse_config(config)?)?),
        "BuyAndHoldStrategy" => Box::new(buy_and_hold::BuyAndHold::new(parse_config(config)?)),
        other => return Err(StrategyError::Unknown(other.to_string())),
    })
}

/// Deserializes a config object; `null` means all defaults.
fn parse_config<T: DeserializeOwned + Default>(v: &serde_json::Value) -> Result<T, StrategyError> {
    if v.is_null() {
        return Ok(T::default());
    }
    let Some(obj) = v.as_object() else {
        return Err(StrategyError::Config("must be a JSON object".into()));
    };
    // Hostile magnitudes first (each field's own range is checked by the strategy's constructor).
    for (k, x) in obj {
        if let Some(f) = x.as_f64() {
            check_range_f64(k, f, -CONFIG_NUMBER_MAX, CONFIG_NUMBER_MAX)?;
        }
    }
    serde_json::from_value(v.clone()).map_err(|e| StrategyError::Config(e.to_string()))
}

/// Checks `lo <= value <= hi` for a named config field.
fn check_range<T: PartialOrd + std::fmt::Display>(field: &str, value: T, lo: T, hi: T) -> Result<(), StrategyError> {
    if value >= lo && value <= hi {
        Ok(())
    } else {
        Err(StrategyError::Config(format!("{field} must be between {lo} and {hi}, got {value}")))
    }
}

/// Checks `lo <= value <= hi` for a named float config field, refusing denormals too.
fn check_range_f64(field: &str, value: f64, lo: f64, hi: f64) -> Result<(), StrategyError> {
    crate::bounds::check_range(value, lo, hi).map(|_| ()).map_err(|e| StrategyError::Config(format!("{field}: {e}")))
}

/// Checks `1 <= period <= PERIOD_MAX` (or from `lo`) for a named period field, in bars.
fn check_period(field: &str, value: usize, lo: usize) -> Result<(), StrategyError> {
    check_range(field, value, lo, PERIOD_MAX)
}

/// Turns a decimal size into integer size steps of the instrument, refusing fractions it cannot trade.
pub fn size_to_quantity(field: &str, size: f64, instrument: &Instrument) -> Result<Quantity, StrategyError> {
    let scaled = size * POW10[instrument.size_precision as usize] as f64;
    if !scaled.is_finite() || scaled < 1.0 || size > TRADE_SIZE_MAX || (scaled - scaled.round()).abs() > 1e-6 {
        return Err(StrategyError::Config(format!(
            "{field} must be a positive size of at most {TRADE_SIZE_MAX} in steps of 1e-{} {}, got {size}",
            instrument.size_precision, instrument.base
        )));
    }
    Ok(Quantity(scaled.round() as i64))
}

/// Tracks whether `a - b` changed sign between calls (for crossovers).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
struct CrossDetector {
    prev: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cross {
    Up,
    Down,
    None,
}

impl CrossDetector {
    fn update(&mut self, diff: f64) -> Cross {
        let out = match self.prev {
            Some(p) if p <= 0.0 && diff > 0.0 => Cross::Up,
            Some(p) if p >= 0.0 && diff < 0.0 => Cross::Down,
            _ => Cross::None,
        };
        self.prev = Some(diff);
        out
    }
}

#[cfg(test)]
mod tests;
