//! `pinion serve`: the engine running live on a paced, looped replay of recorded ticks into the paper
//! broker, with the REST APIs and the WebSocket push on one port.

use crate::config::ServeConfig;
use crate::server::Server;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Default)]
pub struct ServeArgs {
    /// TOML configuration file (see README); PINION_* environment variables override it, flags override both.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address for REST and WebSocket (default 127.0.0.1:8000).
    #[arg(long)]
    pub bind: Option<String>,
    /// Data directory (journal, snapshots, logs).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Tick files to replay as the feed (repeatable).
    #[arg(long = "ticks")]
    pub ticks: Vec<PathBuf>,
    /// Replay speed (1 = real time).
    #[arg(long)]
    pub replay_speed: Option<f64>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long)]
    pub log_level: Option<String>,
    /// Disable the journal (nothing survives a restart).
    #[arg(long)]
    pub no_journal: bool,
}

pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    let mut cfg = ServeConfig::load(a.config.as_deref())?;
    if let Some(v) = a.bind {
        cfg.bind = v;
    }
    if let Some(v) = a.data_dir {
        cfg.data_dir = v;
    }
    if !a.ticks.is_empty() {
        cfg.ticks = a.ticks;
    }
    if let Some(v) = a.replay_speed {
        cfg.replay_speed = v;
    }
    if let Some(v) = a.log_level {
        cfg.log_level = v;
    }
    if a.no_journal {
        cfg.journal = false;
    }
    cfg.validate()?;
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    crate::logging::init(
        crate::logging::parse_level(&cfg.log_level)?,
        Some(&cfg.data_dir.join("logs")),
        Some(Box::new(crate::server::log_to_ws)),
    )?;
    let server = Server::start(&cfg)?;
    // One machine-readable line on stdout so scripts and tests can find an ephemeral port.
    println!("{}", serde_json::json!({ "listening": server.addr.to_string(), "fed": server.fed }));
    log::info!(
        "pinion serving on http://{} (REST under /api and at the root, WebSocket at /ws); feed: {} at {}x",
        server.addr,
        server.fed.join(", "),
        cfg.replay_speed
    );
    loop {
        std::thread::park();
    }
}
