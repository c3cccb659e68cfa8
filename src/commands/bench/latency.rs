//! `pinion bench latency`: ema_cross 10/20/100000 through the real backtest pipeline (`run_recorded`)
//! with the engine's tick -> order-intent latency recorder on, plus pipeline ticks/s with and without
//! trading; medians over `--repeat` runs.

use super::{data_path, load, median_f64, median_u64, note, LatencyArgs, Pct, CAPITAL, COMMISSION};
use anyhow::bail;
use pinion_core::bars::BarSize;
use pinion_core::broker::PaperConfig;
use pinion_core::engine::{BookSpec, Engine};
use pinion_core::fixed::{Money, Rate};
use pinion_core::instrument::{Instrument, InstrumentId, InstrumentTable};
use pinion_core::strategy::{EmaCross, EmaCrossConfig, Strategy, StrategyContext};
use pinion_core::tick::Tick;
use pinion_io::backtest::{run_recorded, SummarySink, DEFAULT_RING_CAPACITY};
use pinion_io::replay::loop_period;
use pinion_io::TickData;
use serde_json::json;

/// Reads every tick, never trades.
#[derive(Default)]
struct NoTrade {
    seen: i64,
}

impl Strategy for NoTrade {
    fn name(&self) -> &'static str {
        "no_trade"
    }
    fn on_tick(&mut self, tick: &Tick, _ctx: &mut StrategyContext) {
        self.seen = self.seen.wrapping_add(tick.bid ^ tick.ask);
    }
}

fn ema_cross(inst: &Instrument) -> anyhow::Result<Box<dyn Strategy>> {
    Ok(Box::new(EmaCross::new(EmaCrossConfig { fast: 10, slow: 20, trade_size: 100_000.0 }, inst)?))
}

/// One book on the data's first instrument, 1-minute bars, no stop, $1M, 0.2 bp commission.
fn engine_with(data: &TickData, trading: bool) -> anyhow::Result<Engine> {
    let mut table = InstrumentTable::new();
    for inst in data.instruments() {
        table.add(inst.clone())?;
    }
    let strategy: Box<dyn Strategy> = if trading { ema_cross(table.get(InstrumentId(0)))? } else { Box::new(NoTrade::default()) };
    let capital = Money::from_units(CAPITAL);
    let commission_rate = Rate::parse(COMMISSION).map_err(|e| anyhow::anyhow!("commission: {e}"))?;
    let mut engine = Engine::new(table, PaperConfig { starting_balance: capital, commission_rate });
    engine.add_book(BookSpec {
        instrument: InstrumentId(0),
        bar_sizes: vec![BarSize::parse("1 min")?],
        primary: 0,
        strategy,
        capital,
        stop_loss: None,
        take_profit: None,
        risk_fraction: 0.01,
    })?;
    engine.drain_events(|_| {});
    Ok(engine)
}

fn looped(ticks: &[Tick], laps: usize) -> Vec<Tick> {
    let period = loop_period(ticks);
    let mut out = Vec::with_capacity(ticks.len() * laps);
    for lap in 0..laps as i64 {
        out.extend(ticks.iter().map(|t| Tick { ts_ns: t.ts_ns + lap * period, ..*t }));
    }
    out
}

struct PipelineFigures {
    ticks_per_second: f64,
    fills: u64,
    latency: Option<Vec<u64>>,
}

fn pipeline_run(data: &TickData, ticks: &[Tick], trading: bool, record: bool, pin: Option<usize>) -> anyhow::Result<PipelineFigures> {
    let mut engine = engine_with(data, trading)?;
    if record {
        engine.enable_latency(ticks.len());
    }
    let mut sink = SummarySink::new(false);
    let run = run_recorded(&mut engine, ticks, &mut sink, DEFAULT_RING_CAPACITY, pin);
    if run.core.ticks != ticks.len() as u64 {
        bail!("the core processed {} of {} ticks", run.core.ticks, ticks.len());
    }
    let wall = run.wall.as_secs_f64();
    Ok(PipelineFigures {
        ticks_per_second: if wall > 0.0 { run.core.ticks as f64 / wall } else { 0.0 },
        fills: sink.fills,
        latency: engine.latency().map(|l| l.samples().to_vec()),
    })
}
pub(super) fn run(a: LatencyArgs) -> anyhow::Result<()> {
    let path = data_path(&a.data)?;
    let data = load(&path)?;
    let ticks = looped(data.ticks(), a.laps.max(1));
    let repeat = a.repeat.max(1);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = Some(a.pin_cpu.unwrap_or(cpus - 1));
    note(format!("{} ticks per run ({} x {}), {repeat} runs of each measurement", ticks.len(), a.laps.max(1), data.len()));

    let (mut no_trade, mut trading, mut recorded_tps, mut fills) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut per_run: Vec<Pct> = Vec::new();
    let mut pooled: Vec<u64> = Vec::new();
    for _ in 0..repeat {
        no_trade.push(pipeline_run(&data, &ticks, false, false, pin)?.ticks_per_second);
        let t = pipeline_run(&data, &ticks, true, false, pin)?;
        trading.push(t.ticks_per_second);
        fills.push(t.fills);
        let r = pipeline_run(&data, &ticks, true, true, pin)?;
        recorded_tps.push(r.ticks_per_second);
        let samples = r.latency.unwrap_or_default();
        per_run.push(Pct::of(samples.clone()));
        pooled.extend(samples);
    }
    let med = |f: fn(&Pct) -> u64| median_u64(per_run.iter().map(f).collect());
    let median = Pct {
        count: med(|p| p.count as u64) as usize,
        p50: med(|p| p.p50),
        p90: med(|p| p.p90),
        p99: med(|p| p.p99),
        p999: med(|p| p.p999),
        max: med(|p| p.max),
    };
    let round = |v: f64| v.round();
    println!(
        "{}",
        json!({
            "bench": "latency",
            "what": "tick_to_order_intent_ns",
            "strategy": "ema_cross fast 10 slow 20 trade_size 100000",
            "data": path.display().to_string(),
            "ticks_per_run": ticks.len(),
            "repeat": repeat,
            "median_of_runs": median.json(1.0),
            "pooled": Pct::of(pooled).json(1.0),
            "runs_p99": per_run.iter().map(|p| p.p99).collect::<Vec<_>>(),
        })
    );
    println!(
        "{}",
        json!({
            "bench": "latency",
            "what": "pipeline_ticks_per_second",
            "ticks_per_run": ticks.len(),
            "repeat": repeat,
            "core_pin_cpu": pin,
            "no_trade": round(median_f64(no_trade.clone())),
            "ema_cross": round(median_f64(trading.clone())),
            "ema_cross_with_latency_recorder": round(median_f64(recorded_tps.clone())),
            "ema_cross_fills_per_run": median_u64(fills),
            "runs_no_trade": no_trade.into_iter().map(round).collect::<Vec<_>>(),
            "runs_ema_cross": trading.into_iter().map(round).collect::<Vec<_>>(),
        })
    );
    Ok(())
}
