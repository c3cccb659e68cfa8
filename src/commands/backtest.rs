//! `pinion backtest`: replays recorded ticks through the live pipeline (feed thread -> rtrb ring ->
//! pinned core thread -> paper broker) as fast as possible and prints one JSON summary line.

use anyhow::{bail, Context};
use clap::Args;
use pinion_core::bars::BarSize;
use pinion_core::broker::PaperConfig;
use pinion_core::engine::{BookSpec, Engine, StopLossType, TakeProfitType};
use pinion_core::fixed::{format_decimal, Money, Rate};
use pinion_core::instrument::InstrumentTable;
use pinion_core::order::OrderPurpose;
use pinion_core::strategy::build_strategy;
use pinion_io::backtest::{run_recorded, SummarySink, DEFAULT_RING_CAPACITY};
use pinion_io::{load_many, ImportInput, ImportOptions};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct BacktestArgs {
    /// Tick files: .pinticks, CSV quotes/trades or OANDA JSON lines (several are merged in time order).
    #[arg(long, required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Strategy name: ema_cross, MomentumStrategy, RSIStrategy, BollingerBandsMeanReversion, ATRBreakout, BuyAndHoldStrategy.
    #[arg(long)]
    pub strategy: String,
    /// Strategy configuration as a JSON object (or @FILE).
    #[arg(long, default_value = "{}")]
    pub config: String,
    /// Starting balance in USD.
    #[arg(long, default_value = "100000")]
    pub capital: String,
    /// Commission as a fraction of notional per fill (0.00002 = 0.2 bp).
    #[arg(long, default_value = "0")]
    pub commission_rate: String,
    /// Write every fill as CSV: ts_ns,side,qty,price,commission.
    #[arg(long)]
    pub fills_out: Option<PathBuf>,
    /// Instrument to trade (default: the first instrument of the data).
    #[arg(long)]
    pub instrument: Option<String>,
    /// Bar sizes, comma-separated (e.g. "1 min,15 mins").
    #[arg(long, default_value = "1 min")]
    pub bar_sizes: String,
    /// Primary bar size (default: the first of --bar-sizes).
    #[arg(long)]
    pub primary_bar_size: Option<String>,
    /// Attached stop-loss as TYPE:VALUE (ATR, PERCENTAGE, FIXED, PIPS), e.g. PIPS:20.
    #[arg(long)]
    pub stop_loss: Option<String>,
    /// Attached take-profit as TYPE:VALUE (RISK_REWARD, ATR, PERCENTAGE, FIXED, PIPS).
    #[arg(long)]
    pub take_profit: Option<String>,
    /// CPU for the core thread (default: the last one).
    #[arg(long)]
    pub pin_cpu: Option<usize>,
}

fn parse_protection<T: serde::de::DeserializeOwned>(flag: &str, s: &str) -> anyhow::Result<(T, f64)> {
    let (kind, value) = s.split_once(':').with_context(|| format!("--{flag} must look like TYPE:VALUE, got {s:?}"))?;
    let kind: T = serde_json::from_value(serde_json::Value::String(kind.trim().to_ascii_uppercase()))
        .map_err(|_| anyhow::anyhow!("--{flag}: unknown type {kind:?}"))?;
    let value: f64 = value.trim().parse().with_context(|| format!("--{flag}: value {value:?} is not a number"))?;
    if !(value.is_finite() && value > 0.0) {
        bail!("--{flag}: value must be positive, got {value}");
    }
    Ok((kind, value))
}

pub fn run(a: BacktestArgs) -> anyhow::Result<()> {
    let config_text = match a.config.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading --config file {path}"))?,
        None => a.config.clone(),
    };
    let config: serde_json::Value = serde_json::from_str(&config_text).context("--config is not valid JSON")?;
    let capital = Money::parse(&a.capital).map_err(|e| anyhow::anyhow!("--capital: {e}"))?;
    if capital.0 <= 0 {
        bail!("--capital must be positive");
    }
    let commission_rate = Rate::parse(&a.commission_rate).map_err(|e| anyhow::anyhow!("--commission-rate: {e}"))?;
    if commission_rate.0 < 0 {
        bail!("--commission-rate must not be negative");
    }
    let sizes: Vec<BarSize> = a.bar_sizes.split(',').map(|s| BarSize::parse(s.trim())).collect::<Result<_, _>>().context("--bar-sizes")?;
    let primary = match &a.primary_bar_size {
        Some(p) => {
            let p = BarSize::parse(p).context("--primary-bar-size")?;
            sizes.iter().position(|s| *s == p).with_context(|| format!("--primary-bar-size {p} is not one of --bar-sizes"))?
        }
        None => 0,
    };
    let stop_loss = a.stop_loss.as_deref().map(|s| parse_protection::<StopLossType>("stop-loss", s)).transpose()?;
    let take_profit = a.take_profit.as_deref().map(|s| parse_protection::<TakeProfitType>("take-profit", s)).transpose()?;

    let inputs: Vec<ImportInput> = a.data.iter().map(ImportInput::new).collect();
    let data = load_many(&inputs, &ImportOptions::quiet()).context("loading tick data")?;
    if data.is_empty() {
        bail!("the data files hold no ticks");
    }
    let mut table = InstrumentTable::new();
    for inst in data.instruments() {
        table.add(inst.clone())?;
    }
    let inst_id = match &a.instrument {
        Some(name) => table.resolve(name).with_context(|| format!("--instrument {name} is not in the data"))?,
        None => pinion_core::instrument::InstrumentId(0),
    };
    let instrument = table.get(inst_id).clone();
    let strategy = build_strategy(&a.strategy, &config, &instrument)?;

    let mut engine = Engine::new(table, PaperConfig { starting_balance: capital, commission_rate });
    engine.add_book(BookSpec {
        instrument: inst_id,
        bar_sizes: sizes,
        primary,
        strategy,
        capital,
        stop_loss,
        take_profit,
        risk_fraction: 0.01,
    })?;
    let mut sink = SummarySink::new(a.fills_out.is_some());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = a.pin_cpu.or(Some(cpus - 1));
    let run = run_recorded(&mut engine, data.ticks(), &mut sink, DEFAULT_RING_CAPACITY, pin);
    engine.close_all(OrderPurpose::Close);
    engine.drain_events(|e| pinion_core::engine::pipeline::EventSink::publish(&mut sink, std::slice::from_ref(e)));

    if let Some(path) = &a.fills_out {
        write_fills(path, &sink, &instrument)?;
    }
    let wall = run.wall.as_secs_f64();
    let summary = serde_json::json!({
        "strategy": a.strategy,
        "instrument": instrument.symbol,
        "ticks": run.core.ticks,
        "wall_seconds": (wall * 1e6).round() / 1e6,
        "ticks_per_second": if wall > 0.0 { (run.core.ticks as f64 / wall).round() } else { 0.0 },
        "orders": sink.orders,
        "rejected_orders": sink.rejected,
        "fills": sink.fills,
        "closed_trades": sink.closed_trades,
        "commission": sink.commission.as_f64(),
        "realized_pnl": sink.realized_pnl.as_f64(),
        "final_balance": engine.broker().balance().as_f64(),
        "core_pinned": run.core.pinned,
    });
    println!("{summary}");
    Ok(())
}

fn write_fills(path: &PathBuf, sink: &SummarySink, inst: &pinion_core::instrument::Instrument) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    writeln!(w, "ts_ns,side,qty,price,commission")?;
    for f in sink.fill_log.iter().flatten() {
        writeln!(
            w,
            "{},{},{},{},{}",
            f.ts_ns,
            f.side.as_str(),
            format_decimal(f.quantity.0, inst.size_precision),
            format_decimal(f.price.0, inst.price_precision),
            format_decimal(f.commission.0, 2)
        )?;
    }
    w.flush().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
