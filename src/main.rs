//! The `pinion` binary: wires core, io, http and models together behind subcommands.

mod affinity;
mod commands;
mod config;
mod durable;
mod event_export;
mod live;
mod live_exec;
mod live_reconcile;
mod live_ticks;
mod logging;
mod observability;
mod server;
mod session_api;
mod session_views;
mod snapshots;
mod storage_watch;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "pinion", version, about = "Low-latency live trading engine: server, backtests and tick import")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert recorded ticks (CSV quotes/trades, OANDA price-stream JSON lines) into a .pinticks file.
    Import(commands::import::ImportArgs),
    /// Replay recorded ticks through the live pipeline into the paper broker and print a JSON summary.
    Backtest(commands::backtest::BacktestArgs),
    /// Run a strategy over many parameter sets and tick files (all cores, or workers over NATS).
    Sweep(commands::sweep::SweepArgs),
    /// Run sweep jobs from a NATS JetStream work queue.
    Worker(commands::worker::WorkerArgs),
    /// Run the server: engine on a paced replay (or live feed), REST + WebSocket on 127.0.0.1:8000.
    Serve(commands::serve::ServeArgs),
    /// Inspect a journal: verify checksums, dump records.
    Journal(commands::journal::JournalArgs),
    /// Model tools: build the shipped example policy.
    Model(commands::model::ModelArgs),
    /// Measure latency percentiles (tick -> order intent, REST under load, WebSocket fan-out).
    Bench(commands::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import(a) => commands::import::run(a),
        Command::Backtest(a) => commands::backtest::run(a),
        Command::Serve(a) => commands::serve::run(a),
        Command::Sweep(a) => commands::sweep::run(a),
        Command::Worker(a) => commands::worker::run(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::Model(a) => commands::model::run(a),
        Command::Journal(a) => commands::journal::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
