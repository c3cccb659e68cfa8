//! pinion-bench: shared helpers for the criterion benchmarks in benches/: where the real AUD/USD quotes
//! live and how to load them, a strategy that never trades, and engines set up the way the benchmarks
//! (and `pinion bench`) use them.

use pinion_core::bars::BarSize;
use pinion_core::broker::PaperConfig;
use pinion_core::engine::{BookSpec, Engine};
use pinion_core::fixed::{Money, Rate};
use pinion_core::instrument::{Instrument, InstrumentId, InstrumentTable};
use pinion_core::strategy::{EmaCross, EmaCrossConfig, Strategy, StrategyContext};
use pinion_core::tick::Tick;
use pinion_io::replay::loop_period;
use pinion_io::{load_many, ImportInput, ImportOptions, TickData};
use std::path::PathBuf;

/// The 100k real AUD/USD TrueFX quotes of 2020-01-30/31 (outside the repository, next to it).
pub const AUDUSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/audusd_truefx_20200130-31_quotes.csv.gz");

/// Starting balance of the trading benchmarks (USD).
pub const CAPITAL: i64 = 1_000_000;
/// Commission of the trading benchmarks, as a fraction of notional per fill.
pub const COMMISSION: &str = "0.00002";

pub fn audusd_path() -> PathBuf {
    PathBuf::from(AUDUSD)
}

/// Loads the AUD/USD quotes; an error names the file (benchmarks skip themselves on it).
pub fn load_audusd() -> Result<TickData, String> {
    let path = audusd_path();
    if !path.exists() {
        return Err(format!("{} is absent", path.display()));
    }
    let data = load_many(&[ImportInput::new(&path)], &ImportOptions::quiet()).map_err(|e| format!("{}: {e}", path.display()))?;
    if data.is_empty() {
        return Err(format!("{} holds no ticks", path.display()));
    }
    Ok(data)
}

/// A strategy that reads every tick and never trades: measures the pipeline without order flow.
#[derive(Debug, Default)]
pub struct NoTrade {
    /// Folded from each tick so the read is not optimized away.
    pub seen: i64,
}

impl Strategy for NoTrade {
    fn name(&self) -> &'static str {
        "no_trade"
    }
    #[inline]
    fn on_tick(&mut self, tick: &Tick, _ctx: &mut StrategyContext) {
        self.seen = self.seen.wrapping_add(tick.bid ^ tick.ask);
    }
}

/// `ema_cross` fast 10 / slow 20 / trade size 100,000 units for `instrument`.
pub fn ema_cross(instrument: &Instrument) -> Box<dyn Strategy> {
    let cfg = EmaCrossConfig { fast: 10, slow: 20, trade_size: 100_000.0 };
    Box::new(EmaCross::new(cfg, instrument).expect("ema_cross 10/20/100000 is a valid configuration"))
}

/// An engine over `instruments` (ids as in the tick data) with one book on the first instrument running
/// `make(instrument)` on 1-minute bars, no stop-loss, $1,000,000 of capital and a 0.2 bp commission.
pub fn engine_with(instruments: &[Instrument], make: impl FnOnce(&Instrument) -> Box<dyn Strategy>) -> Engine {
    let mut table = InstrumentTable::new();
    for inst in instruments {
        table.add(inst.clone()).expect("the tick data's instruments fit the table");
    }
    let capital = Money::from_units(CAPITAL);
    let commission_rate = Rate::parse(COMMISSION).expect("valid commission");
    let strategy = make(table.get(InstrumentId(0)));
    let mut engine = Engine::new(table, PaperConfig { starting_balance: capital, commission_rate });
    engine
        .add_book(BookSpec {
            instrument: InstrumentId(0),
            bar_sizes: vec![BarSize::parse("1 min").expect("valid bar size")],
            primary: 0,
            strategy,
            capital,
            stop_loss: None,
            take_profit: None,
            risk_fraction: 0.01,
        })
        .expect("the book's instrument exists");
    engine.drain_events(|_| {});
    engine
}

/// The engine of the trading benchmarks: ema_cross 10/20/100000 on the data's first instrument.
pub fn ema_cross_engine(data: &TickData) -> Engine {
    engine_with(data.instruments(), ema_cross)
}

/// The engine of the non-trading benchmarks: [`NoTrade`] on the data's first instrument.
pub fn no_trade_engine(data: &TickData) -> Engine {
    engine_with(data.instruments(), |_| Box::new(NoTrade::default()))
}

/// `laps` copies of `ticks`, each shifted forward in time like a looped replay (time stays monotonic).
pub fn looped(ticks: &[Tick], laps: usize) -> Vec<Tick> {
    let period = loop_period(ticks);
    let mut out = Vec::with_capacity(ticks.len() * laps);
    for lap in 0..laps as i64 {
        out.extend(ticks.iter().map(|t| Tick { ts_ns: t.ts_ns + lap * period, ..*t }));
    }
    out
}

/// Feeds the real ticks one at a time, cyclically, with timestamps shifted forward on every pass so
/// time stays monotonic.
pub struct CyclicTicks<'a> {
    ticks: &'a [Tick],
    period: i64,
    pos: usize,
    lap: i64,
}

impl<'a> CyclicTicks<'a> {
    pub fn new(ticks: &'a [Tick]) -> Self {
        assert!(!ticks.is_empty(), "no ticks to cycle over");
        CyclicTicks { ticks, period: loop_period(ticks), pos: 0, lap: 0 }
    }

    /// Starts the next lap as if `laps` passes had already been made (keeps time moving forward for a
    /// fresh engine that is warmed up on an earlier pass).
    pub fn set_lap(&mut self, lap: i64) {
        self.lap = lap;
        self.pos = 0;
    }

    /// Completed passes over the data.
    pub fn lap(&self) -> i64 {
        self.lap
    }

    #[inline]
    pub fn next_tick(&mut self) -> Tick {
        let mut t = self.ticks[self.pos];
        t.ts_ns += self.lap * self.period;
        self.pos += 1;
        if self.pos == self.ticks.len() {
            self.pos = 0;
            self.lap += 1;
        }
        t
    }
}

/// A pre-warmed ema_cross engine for per-tick decision benchmarks: every `fresh_every` passes over the
/// file the engine is replaced (untimed by the caller) by a fresh one warmed on a full pass, so the
/// paper account never runs out of margin however long the benchmark runs.
pub struct DecisionRig<'a> {
    pub engine: Engine,
    pub feed: CyclicTicks<'a>,
    instruments: &'a [Instrument],
    fresh_every: i64,
    built_at_lap: i64,
}

impl<'a> DecisionRig<'a> {
    pub fn new(data: &'a TickData, fresh_every: i64) -> Self {
        let mut rig = DecisionRig {
            engine: engine_with(data.instruments(), ema_cross),
            feed: CyclicTicks::new(data.ticks()),
            instruments: data.instruments(),
            fresh_every: fresh_every.max(1),
            built_at_lap: 0,
        };
        rig.warm();
        rig
    }

    /// One untimed pass over the file (indicators ready, buffers at their working size).
    fn warm(&mut self) {
        let lap = self.feed.lap();
        for _ in 0..self.feed.ticks.len() {
            let t = self.feed.next_tick();
            self.engine.on_tick(&t);
            self.engine.drain_events(|_| {});
        }
        self.built_at_lap = lap;
    }

    /// Replaces the engine when it has run `fresh_every` passes; call it outside the timed region.
    pub fn refresh_if_due(&mut self) {
        if self.feed.lap() - self.built_at_lap >= self.fresh_every {
            self.engine = engine_with(self.instruments, ema_cross);
            let lap = self.feed.lap();
            self.feed.set_lap(lap + 1);
            self.warm();
        }
    }

    /// Ticks left before the current pass wraps.
    pub fn left_in_pass(&self) -> usize {
        self.feed.ticks.len() - self.feed.pos
    }
}
