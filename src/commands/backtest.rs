//! `pinion backtest`: replays recorded ticks through the live pipeline (feed thread -> rtrb ring ->
//! pinned core thread -> paper broker) as fast as possible and prints one JSON summary line.

use anyhow::{bail, Context};
use clap::Args;
use indicatif::ProgressBar;
use pinion_core::fixed::format_decimal;
use pinion_io::backtest::{run_recorded_counted, SummarySink, DEFAULT_RING_CAPACITY};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Runs over at least this many ticks (about a second or more) show a progress bar.
const PROGRESS_FROM_TICKS: usize = 3_000_000;
use pinion_io::backtest_spec::{finish, RunSettings};
use pinion_io::{load_many, ImportInput, ImportOptions};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct BacktestArgs {
    /// Tick files: .pinticks, CSV quotes/trades or OANDA JSON lines (several are merged in time order).
    #[arg(long, required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// The strategy and how it trades (shared with `pinion sweep`).
    #[command(flatten)]
    pub run: RunFlags,
    /// Write every fill as CSV: ts_ns,side,qty,price,commission.
    #[arg(long)]
    pub fills_out: Option<PathBuf>,
    /// CPU for the core thread (default: the last one).
    #[arg(long)]
    pub pin_cpu: Option<usize>,
    /// No progress bars (loading, and runs of millions of ticks); none is drawn when stderr is not a terminal.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The flags of one run, the same for `pinion backtest` and `pinion sweep`.
#[derive(Args)]
pub struct RunFlags {
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
}

impl RunFlags {
    /// The settings these flags give (`--config` read and parsed).
    pub fn settings(&self) -> anyhow::Result<RunSettings> {
        Ok(RunSettings {
            strategy: self.strategy.clone(),
            config: read_config(&self.config)?,
            capital: self.capital.clone(),
            commission_rate: self.commission_rate.clone(),
            instrument: self.instrument.clone(),
            bar_sizes: self.bar_sizes.clone(),
            primary_bar_size: self.primary_bar_size.clone(),
            stop_loss: self.stop_loss.clone(),
            take_profit: self.take_profit.clone(),
        })
    }
}

/// A flag's text, or the contents of the file it names as `@FILE`.
pub(crate) fn text_or_file(flag: &str, s: &str) -> anyhow::Result<String> {
    match s.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading --{flag} file {path}")),
        None => Ok(s.to_string()),
    }
}

/// Reads `--config`: a JSON object, or `@FILE` holding one.
pub(crate) fn read_config(text: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(&text_or_file("config", text)?).context("--config is not valid JSON")
}

pub fn run(a: BacktestArgs) -> anyhow::Result<()> {
    let settings = a.run.settings()?;
    let spec = settings.spec()?;
    let inputs: Vec<ImportInput> = a.data.iter().map(ImportInput::new).collect();
    let opts = if a.quiet { ImportOptions::quiet() } else { ImportOptions::default() };
    let data = load_many(&inputs, &opts).context("loading tick data")?;
    if data.is_empty() {
        bail!("the data files hold no ticks");
    }
    let (mut engine, instrument) = spec.build_engine(data.instruments())?;
    let mut sink = SummarySink::new(a.fills_out.is_some());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = a.pin_cpu.or(Some(cpus - 1));
    // A bar over ticks for runs long enough to watch (drawn only on a terminal, never with --quiet).
    let bar = if a.quiet || data.len() < PROGRESS_FROM_TICKS {
        ProgressBar::hidden()
    } else {
        super::sweep::progress(data.len() as u64, false, "ticks")
    };
    let fed = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let run = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                bar.set_position(fed.load(Ordering::Relaxed));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        let run = run_recorded_counted(&mut engine, data.ticks(), &mut sink, DEFAULT_RING_CAPACITY, pin, &fed);
        done.store(true, Ordering::Relaxed);
        run
    });
    bar.finish_and_clear();
    finish(&mut engine, &mut sink);

    if let Some(path) = &a.fills_out {
        write_fills(path, &sink, &instrument)?;
    }
    let wall = run.wall.as_secs_f64();
    let summary = serde_json::json!({
        "strategy": a.run.strategy,
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

/// Writes every fill of `sink` as CSV (ts_ns,side,qty,price,commission); shared with `pinion sweep --keep-fills`.
pub(crate) fn write_fills(path: &std::path::Path, sink: &SummarySink, inst: &pinion_core::instrument::Instrument) -> anyhow::Result<()> {
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
