//! What one backtest run is, shared by `pinion backtest`, `pinion sweep` and sweep workers: the settings
//! as typed on the command line ([`RunSettings`], serializable so a job can carry them), parsed and
//! checked into a [`RunSpec`], the engine built from a spec, and the one function that runs it over a
//! slice of ticks ([`run_one`]) so a sweep run cannot drift from a backtest.

use pinion_core::bars::BarSize;
use pinion_core::broker::PaperConfig;
use pinion_core::engine::pipeline::{run_slice, CoreConfig, CoreStats, EventSink};
use pinion_core::engine::{BookSpec, Engine, StopLossType, TakeProfitType};
use pinion_core::fixed::{Money, Rate};
use pinion_core::instrument::{Instrument, InstrumentId, InstrumentTable};
use pinion_core::order::OrderPurpose;
use pinion_core::strategy::build_strategy;
use pinion_core::tick::Tick;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why run settings were refused; every message names the flag or key at fault.
#[derive(Debug, Error)]
pub enum SpecError {
    /// A flag's value was refused.
    #[error("--{flag}: {msg}")]
    Flag {
        /// The flag, without dashes.
        flag: &'static str,
        /// Why.
        msg: String,
    },
    /// The strategy or its configuration was refused.
    #[error(transparent)]
    Strategy(#[from] pinion_core::strategy::StrategyError),
    /// The engine refused the book.
    #[error(transparent)]
    Engine(#[from] pinion_core::engine::EngineError),
    /// The instrument table refused the data's instruments.
    #[error("instruments of the data: {0}")]
    Instruments(String),
}

fn flag(flag: &'static str, msg: impl Into<String>) -> SpecError {
    SpecError::Flag { flag, msg: msg.into() }
}

/// The settings of a run as the command line gives them (strings, parsed by [`RunSettings::spec`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// Strategy name.
    pub strategy: String,
    /// Strategy configuration (a JSON object, or null for the defaults).
    pub config: serde_json::Value,
    /// Starting balance in USD.
    pub capital: String,
    /// Commission as a fraction of notional per fill.
    pub commission_rate: String,
    /// Instrument to trade (None: the first of the data).
    pub instrument: Option<String>,
    /// Bar sizes, comma-separated.
    pub bar_sizes: String,
    /// Primary bar size (None: the first of `bar_sizes`).
    pub primary_bar_size: Option<String>,
    /// Attached stop-loss as TYPE:VALUE.
    pub stop_loss: Option<String>,
    /// Attached take-profit as TYPE:VALUE.
    pub take_profit: Option<String>,
}

/// Checked settings of one run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Strategy name.
    pub strategy: String,
    /// Strategy configuration.
    pub config: serde_json::Value,
    /// Starting balance.
    pub capital: Money,
    /// Commission rate.
    pub commission_rate: Rate,
    /// Instrument to trade (None: the first of the data).
    pub instrument: Option<String>,
    /// Bar sizes of the book.
    pub bar_sizes: Vec<BarSize>,
    /// Index of the primary bar size in `bar_sizes`.
    pub primary: usize,
    /// Attached stop-loss.
    pub stop_loss: Option<(StopLossType, f64)>,
    /// Attached take-profit.
    pub take_profit: Option<(TakeProfitType, f64)>,
}

fn parse_protection<T: serde::de::DeserializeOwned>(name: &'static str, s: &str) -> Result<(T, f64), SpecError> {
    let (kind, value) = s.split_once(':').ok_or_else(|| flag(name, format!("must look like TYPE:VALUE, got {s:?}")))?;
    let kind: T = serde_json::from_value(serde_json::Value::String(kind.trim().to_ascii_uppercase()))
        .map_err(|_| flag(name, format!("unknown type {kind:?}")))?;
    let value: f64 = value.trim().parse().map_err(|_| flag(name, format!("value {value:?} is not a number")))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(flag(name, format!("value must be positive, got {value}")));
    }
    Ok((kind, value))
}

impl RunSettings {
    /// Parses and checks every setting (not yet the strategy configuration: see [`RunSpec::build_engine`]).
    pub fn spec(&self) -> Result<RunSpec, SpecError> {
        let capital = Money::parse(&self.capital).map_err(|e| flag("capital", e.to_string()))?;
        if capital.0 <= 0 {
            return Err(flag("capital", "must be positive"));
        }
        let commission_rate = Rate::parse(&self.commission_rate).map_err(|e| flag("commission-rate", e.to_string()))?;
        if commission_rate.0 < 0 {
            return Err(flag("commission-rate", "must not be negative"));
        }
        let bar_sizes: Vec<BarSize> = self
            .bar_sizes
            .split(',')
            .map(|s| BarSize::parse(s.trim()))
            .collect::<Result<_, _>>()
            .map_err(|e| flag("bar-sizes", e.to_string()))?;
        let primary = match &self.primary_bar_size {
            Some(p) => {
                let p = BarSize::parse(p).map_err(|e| flag("primary-bar-size", e.to_string()))?;
                bar_sizes.iter().position(|s| *s == p).ok_or_else(|| flag("primary-bar-size", format!("{p} is not one of --bar-sizes")))?
            }
            None => 0,
        };
        let stop_loss = self.stop_loss.as_deref().map(|s| parse_protection::<StopLossType>("stop-loss", s)).transpose()?;
        let take_profit = self.take_profit.as_deref().map(|s| parse_protection::<TakeProfitType>("take-profit", s)).transpose()?;
        Ok(RunSpec {
            strategy: self.strategy.clone(),
            config: self.config.clone(),
            capital,
            commission_rate,
            instrument: self.instrument.clone(),
            bar_sizes,
            primary,
            stop_loss,
            take_profit,
        })
    }
}

impl RunSpec {
    /// Builds the engine with one book for this spec over the data's instruments; returns it with the
    /// traded instrument.
    pub fn build_engine(&self, instruments: &[Instrument]) -> Result<(Engine, Instrument), SpecError> {
        let mut table = InstrumentTable::new();
        for inst in instruments {
            table.add(inst.clone()).map_err(|e| SpecError::Instruments(e.to_string()))?;
        }
        let inst_id = match &self.instrument {
            Some(name) => table.resolve(name).map_err(|_| flag("instrument", format!("{name} is not in the data")))?,
            None => InstrumentId(0),
        };
        let instrument = table.get(inst_id).clone();
        let strategy = build_strategy(&self.strategy, &self.config, &instrument)?;
        let mut engine = Engine::new(table, PaperConfig { starting_balance: self.capital, commission_rate: self.commission_rate });
        engine.add_book(BookSpec {
            instrument: inst_id,
            bar_sizes: self.bar_sizes.clone(),
            primary: self.primary,
            strategy,
            capital: self.capital,
            stop_loss: self.stop_loss,
            take_profit: self.take_profit,
            risk_fraction: 0.01,
        })?;
        Ok((engine, instrument))
    }
}

/// Closes what is still open at the end of the data and hands the closing events to `sink`: the last
/// step of every backtest and sweep run.
pub fn finish<S: EventSink>(engine: &mut Engine, sink: &mut S) {
    engine.close_all(OrderPurpose::Close);
    engine.drain_events(|e| sink.publish(std::slice::from_ref(e)));
}

/// Runs one spec over `ticks` on the calling thread (engine driven straight over the slice, then
/// [`finish`]); returns the engine (for its balance), the traded instrument and the core counters.
pub fn run_one<S: EventSink>(
    spec: &RunSpec,
    instruments: &[Instrument],
    ticks: &[Tick],
    sink: &mut S,
) -> Result<(Engine, Instrument, CoreStats), SpecError> {
    let (mut engine, instrument) = spec.build_engine(instruments)?;
    let stats = run_slice(&mut engine, ticks, sink, &CoreConfig::default());
    finish(&mut engine, sink);
    Ok((engine, instrument, stats))
}
