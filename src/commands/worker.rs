//! `pinion worker --nats URL`: runs sweep jobs from a NATS JetStream work queue (see `pinion-bus`),
//! on any machine that can reach the server; tick files come from the object store and are cached.

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct WorkerArgs {
    /// The NATS server (JetStream enabled), e.g. nats://HOST:4222.
    #[arg(long)]
    pub nats: String,
    /// Directory for cached tick files (default: ~/.cache/pinion/ticks).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Seconds a job may go without a sign of life before it is redelivered (when this worker creates
    /// the shared consumer; the coordinator's --ack-wait otherwise).
    #[arg(long, default_value_t = 30)]
    pub ack_wait: u64,
    /// Exit after this many seconds without a job (default: run until stopped).
    #[arg(long)]
    pub idle_exit: Option<u64>,
    /// Sleep this many milliseconds before each run (to make jobs slow in redelivery tests).
    #[arg(long, default_value_t = 0, hide = true)]
    pub job_delay_ms: u64,
}

pub fn run(a: WorkerArgs) -> anyhow::Result<()> {
    let cache = match a.cache {
        Some(c) => c,
        None => {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .context("no --cache given and neither XDG_CACHE_HOME nor HOME is set")?;
            base.join("pinion").join("ticks")
        }
    };
    let opts = pinion_bus::worker::WorkerOptions {
        cache,
        ack_wait: Duration::from_secs(a.ack_wait.max(1)),
        idle_exit: a.idle_exit.map(Duration::from_secs),
        job_delay: Duration::from_millis(a.job_delay_ms),
    };
    let stats = pinion_bus::worker::work(&a.nats, &opts).with_context(|| format!("worker on {}", a.nats))?;
    println!("{}", serde_json::json!({"jobs": stats.jobs, "downloads": stats.downloads}));
    Ok(())
}
