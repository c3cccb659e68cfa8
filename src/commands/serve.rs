//! `pinion serve`: the engine running live on a paced, looped replay of recorded ticks into the paper
//! broker, with the REST APIs and the WebSocket push on one port, until SIGTERM or SIGINT: then a
//! graceful shutdown (`Server::shutdown`) and exit 0. A second signal during the shutdown, or a
//! shutdown still running after [`HARD_LIMIT`], exits at once with a non-zero status (the journal
//! holds every acknowledged change, so nothing acknowledged is lost either way).

use crate::config::ServeConfig;
use crate::server::Server;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// A shutdown still running after this long is abandoned (exit 1). It normally takes well under 5 s:
/// at most 2 s for the REST exchanges in flight, then the final snapshot.
const HARD_LIMIT: Duration = Duration::from_secs(10);

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
    /// The core thread's idle policy: busy_spin (a dedicated core), backoff (default) or yielding.
    #[arg(long)]
    pub idle_policy: Option<pinion_core::idle::IdlePolicy>,
    /// Log line format: text (default) or json.
    #[arg(long)]
    pub log_format: Option<crate::logging::LogFormat>,
    /// Export every journaled event to NATS JetStream at this URL (e.g. nats://HOST:4222).
    #[arg(long)]
    pub events_to: Option<String>,
    /// This node's name in exported subjects pinion.<node>.events.<kind> (default: the host name).
    #[arg(long)]
    pub node: Option<String>,
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
    if let Some(v) = a.idle_policy {
        cfg.idle_policy = v;
    }
    if let Some(v) = a.log_format {
        cfg.log_format = v;
    }
    if let Some(v) = a.events_to {
        cfg.events_to = Some(v);
    }
    if let Some(v) = a.node {
        cfg.node = Some(v);
    }
    cfg.validate()?;
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    crate::logging::init(
        crate::logging::parse_level(&cfg.log_level)?,
        cfg.log_format,
        Some(&cfg.data_dir.join("logs")),
        Some(Box::new(crate::server::log_to_ws)),
    )?;
    let server = Server::start(&cfg)?;
    let signals = stop_signals::install()?;
    // One machine-readable line on stdout so scripts and tests can find an ephemeral port.
    println!("{}", serde_json::json!({ "listening": server.addr.to_string(), "fed": server.fed }));
    log::info!(
        "pinion serving on http://{} (REST under /api and at the root, WebSocket at /ws, metrics at /metrics); feed: {} at {}x; \
         core idle policy {}",
        server.addr,
        server.fed.join(", "),
        cfg.replay_speed,
        cfg.idle_policy
    );
    let received = stop_signals::wait(signals)?;
    let s = server.shutdown();
    let snapshot = match (s.final_snapshot, s.journal_seq) {
        (Some(seq), _) => format!("final snapshot at journal seq {seq}"),
        (None, Some(_)) => "no final snapshot (see above)".to_string(),
        (None, None) => "no journal, no final snapshot".to_string(),
    };
    log::info!(
        "pinion stopped in {:.0} ms after {received}: {snapshot}, journal {}, engine at tick {}, {} REST connection(s) cut off \
         after the {:?} grace",
        s.elapsed.as_secs_f64() * 1e3,
        s.journal_seq.map_or("off".to_string(), |q| format!("flushed and closed at seq {q}")),
        s.ticks.map_or("?".to_string(), |t| t.to_string()),
        s.cut_off,
        crate::server::REST_GRACE
    );
    Ok(())
}

/// SIGTERM and SIGINT through `signal-hook` (its self-pipe iterator: no unsafe here).
#[cfg(unix)]
mod stop_signals {
    use super::HARD_LIMIT;
    use anyhow::Context;
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;
    use std::time::{Duration, Instant};

    fn name(sig: i32) -> &'static str {
        if sig == SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        }
    }

    /// Replaces the default (die at once) action of SIGTERM and SIGINT.
    pub fn install() -> anyhow::Result<Signals> {
        Signals::new([SIGTERM, SIGINT]).context("installing the SIGTERM and SIGINT handlers")
    }

    /// Blocks until the first signal, logs it, and starts the watchdog thread that ends the process at
    /// a second one or when the shutdown overruns [`HARD_LIMIT`]. Returns the signal's name.
    pub fn wait(mut signals: Signals) -> anyhow::Result<&'static str> {
        let first = signals.forever().next().map_or("SIGTERM", name);
        log::info!("{first} received: shutting down (a second signal exits at once)");
        let t0 = Instant::now();
        std::thread::Builder::new()
            .name("pinion-signals".into())
            .spawn(move || loop {
                if let Some(sig) = signals.pending().next() {
                    log::warn!(
                        "{} received during the shutdown: exiting now without finishing it (the journal holds every acknowledged \
                         change)",
                        name(sig)
                    );
                    std::process::exit(128 + sig);
                }
                if t0.elapsed() > HARD_LIMIT {
                    log::error!(
                        "the shutdown did not finish within {HARD_LIMIT:?}: exiting now (the journal holds every acknowledged change)"
                    );
                    std::process::exit(1);
                }
                std::thread::sleep(Duration::from_millis(20));
            })
            .context("starting the signal watchdog thread")?;
        Ok(first)
    }
}

/// Without Unix signals the server runs until the process is killed.
#[cfg(not(unix))]
mod stop_signals {
    pub fn install() -> anyhow::Result<()> {
        Ok(())
    }

    pub fn wait(_: ()) -> anyhow::Result<&'static str> {
        loop {
            std::thread::park();
        }
    }
}
