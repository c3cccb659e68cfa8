//! `pinion bench`: latency and throughput figures that criterion cannot give (percentiles, and the
//! core's latency while the server is under REST or WebSocket load). Each figure is one JSON line on
//! stdout; progress notes go to stderr.
//!
//! - `latency`: ema_cross 10/20/100000 through the real backtest pipeline (`run_recorded`: feed thread
//!   -> rtrb ring -> pinned core thread -> paper broker) with the engine's tick -> order-intent latency
//!   recorder on; plus ticks/s with and without trading. Medians over `--repeat` runs.
//! - `http`: the real server in-process, one ema_cross operation with a PIPS stop, the core's
//!   tick -> order-intent p99 without load, then with `--clients` keep-alive connections issuing GETs
//!   paced to `--rps` in total (REST GET latency percentiles too).
//! - `ws`: the real server in-process, `--clients` WebSocket clients on all topics; counts `metric`
//!   frames per client, measures delivery latency of timestamped frames the bench broadcasts through
//!   the server's own `Broadcaster`, and the core's p99 without and with the clients.
//! - `idle` / `scrape` (`idle.rs`): the core's tick -> intent p50/p99 under each idle policy and tick
//!   rate; the core's p99 with and without `/metrics` scraped 10 times a second.
//!
//! HTTP and WebSocket clients are written over std `TcpStream` (no client library dependency).
//!
//! Layout: this file holds the arguments, the dispatch and what the modes share (percentiles, data
//! loading, the in-process server harness); `latency.rs`, `http.rs` (with its raw HTTP/1.1 client) and
//! `ws.rs` hold one mode each.

mod http;
mod idle;
mod latency;
mod live;
mod orders;
mod prices;
mod soak;
mod ws;

use crate::config::ServeConfig;
use crate::server::Server;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use http::HttpConn;
use pinion_core::idle::IdlePolicy;
use pinion_io::{load_many, ImportInput, ImportOptions, TickData};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const DATA_FILE: &str = "audusd_truefx_20200130-31_quotes.csv.gz";
/// Starting balance of the trading runs (USD) and their commission (fraction of notional per fill).
const CAPITAL: i64 = 1_000_000;
const COMMISSION: &str = "0.00002";

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Subcommand)]
pub enum BenchWhat {
    /// Tick -> order-intent latency percentiles and pipeline ticks/s (with and without trading).
    Latency(LatencyArgs),
    /// REST GET latency under paced load, and the core's tick -> order-intent p99 without/with it.
    Http(HttpArgs),
    /// WebSocket fan-out to many clients: metric frame completeness, delivery latency, core p99.
    Ws(WsArgs),
    /// A long run with the journal on and operations trading: RSS and snapshot size over time.
    Soak(SoakArgs),
    /// OANDA pricing stream lines -> ticks in the ring: parse + push per line.
    Prices(PricesArgs),
    /// OANDA order round trips (request -> venue report) against the fake OANDA on loopback.
    Orders(OrdersArgs),
    /// The live core's tick -> order-intent p50/p99 under each idle policy and replay speed.
    Idle(IdleArgs),
    /// The live core's tick -> order-intent p99 with and without /metrics scraped `--hz` times a second.
    Scrape(ScrapeArgs),
    /// The core's tick -> order-intent p50/p99 fed by OANDA's pricing stream (the fake on loopback,
    /// trading at the fake) against the same ticks replayed from the file.
    Live(LiveArgs),
}

#[derive(Args)]
pub struct LiveArgs {
    /// Tick file both feeds carry (default: the AUD/USD quotes).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Speed of both feeds (1000: ~940 AUD/USD ticks/s).
    #[arg(long, default_value_t = 1000.0)]
    pub speed: f64,
    /// Pairs of windows (replay, then live); medians over the rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Length of each window.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

#[derive(Args)]
pub struct OrdersArgs {
    /// Orders to send (the first 10 warm up and are not counted).
    #[arg(long, default_value_t = 1000)]
    pub orders: usize,
}

#[derive(Args)]
pub struct PricesArgs {
    /// Tick file the PRICE lines are built from (default: the AUD/USD quotes).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Lines per run.
    #[arg(long, default_value_t = 100_000)]
    pub lines: usize,
    /// Runs; the figures are medians over them.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
}

#[derive(Args)]
pub struct IdleArgs {
    /// Tick file replayed as the server's feed (default: the AUD/USD quotes).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Idle policies to measure, comma-separated.
    #[arg(long, default_value = "busy_spin,backoff,yielding")]
    pub policies: String,
    /// Replay speeds to measure, comma-separated (1000: ~940 AUD/USD ticks/s; 20000: ~19k).
    #[arg(long, default_value = "1000,20000")]
    pub replay_speeds: String,
    /// Length of each measurement window.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

#[derive(Args)]
pub struct ScrapeArgs {
    /// Tick file replayed as the server's feed (default: the AUD/USD quotes).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Scrapes of /metrics per second during the scraped windows.
    #[arg(long, default_value_t = 10)]
    pub hz: u64,
    /// Pairs of windows (without scrapes, then with them); medians over the rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Length of each window.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Feed replay speed.
    #[arg(long, default_value_t = 20000.0)]
    pub replay_speed: f64,
    /// The core's idle policy.
    #[arg(long, default_value = "busy_spin")]
    pub idle_policy: IdlePolicy,
}

#[derive(Args)]
pub struct SoakArgs {
    /// Tick file replayed as the feed (default: the bundled EUR_USD and AUD_USD samples, looped).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Length of the run.
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// Feed replay speed.
    #[arg(long, default_value_t = 2000.0)]
    pub replay_speed: f64,
    /// ema_cross operations trading (alternating over the fed instruments).
    #[arg(long, default_value_t = 4)]
    pub operations: usize,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10.0)]
    pub sample_secs: f64,
    /// Seconds between the server's snapshots.
    #[arg(long, default_value_t = 30.0)]
    pub snapshot_secs: f64,
}

#[derive(Args)]
pub struct LatencyArgs {
    /// Tick file (default: ../shared/data/audusd_truefx_20200130-31_quotes.csv.gz).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Runs of each measurement; the figures printed are medians over them.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Passes over the data per run (time-shifted copies, like a looped replay): 10 x 100k = 1M ticks.
    #[arg(long, default_value_t = 10)]
    pub laps: usize,
    /// CPU for the core thread (default: the last one).
    #[arg(long)]
    pub pin_cpu: Option<usize>,
}

#[derive(Args)]
pub struct HttpArgs {
    /// Tick file replayed as the server's feed (default: the AUD/USD quotes).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Total GET requests per second over all clients.
    #[arg(long, default_value_t = 2000)]
    pub rps: u64,
    /// Client threads, one keep-alive connection each.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Length of each phase (without load, then with load).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Feed replay speed (1000: ~940 AUD/USD ticks/s, ~40 order intents/s).
    #[arg(long, default_value_t = 1000.0)]
    pub replay_speed: f64,
}

#[derive(Args)]
pub struct WsArgs {
    /// Tick file replayed as the server's feed (default: the AUD/USD quotes).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// WebSocket clients (one thread each with a 64 KiB stack; needs ~2 file descriptors per client).
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Length of each phase (without clients, then with them).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Feed replay speed.
    #[arg(long, default_value_t = 1000.0)]
    pub replay_speed: f64,
    /// Timestamped frames the bench broadcasts per second.
    #[arg(long, default_value_t = 10)]
    pub frames_per_second: u32,
}

pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    match a.what {
        BenchWhat::Latency(a) => latency::run(a),
        BenchWhat::Http(a) => http::run(a),
        BenchWhat::Ws(a) => ws::run(a),
        BenchWhat::Soak(a) => soak::run(a),
        BenchWhat::Prices(a) => prices::run(a),
        BenchWhat::Orders(a) => orders::run(a),
        BenchWhat::Idle(a) => idle::run_idle(a),
        BenchWhat::Scrape(a) => idle::run_scrape(a),
        BenchWhat::Live(a) => live::run(a),
    }
}

// ------------------------------------------------------------------------------------------------
// Shared helpers
// ------------------------------------------------------------------------------------------------

/// The AUD/USD file next to the repository: relative to the working directory, else to the sources.
fn default_data() -> PathBuf {
    let here = PathBuf::from("../shared/data").join(DATA_FILE);
    if here.exists() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(DATA_FILE)
}

fn data_path(p: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = p.clone().unwrap_or_else(default_data);
    if !path.exists() {
        bail!("tick file {} not found (pass --data FILE)", path.display());
    }
    Ok(path)
}

fn load(path: &PathBuf) -> anyhow::Result<TickData> {
    let data = load_many(&[ImportInput::new(path)], &ImportOptions::quiet()).with_context(|| format!("loading {}", path.display()))?;
    if data.is_empty() {
        bail!("{} holds no ticks", path.display());
    }
    Ok(data)
}

/// Nearest-rank percentiles (the engine's `LatencyRecorder` uses the same rule).
#[derive(Debug, Clone, Copy, Default)]
struct Pct {
    count: usize,
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

impl Pct {
    fn of(mut s: Vec<u64>) -> Pct {
        if s.is_empty() {
            return Pct::default();
        }
        s.sort_unstable();
        let at = |p: f64| s[((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        Pct { count: s.len(), p50: at(0.50), p90: at(0.90), p99: at(0.99), p999: at(0.999), max: s[s.len() - 1] }
    }

    /// In the unit of the samples, divided by `div` (1 for ns, 1000 for µs), rounded to 0.1.
    fn json(&self, div: f64) -> Value {
        let f = |v: u64| (v as f64 / div * 10.0).round() / 10.0;
        json!({ "count": self.count, "p50": f(self.p50), "p90": f(self.p90), "p99": f(self.p99), "p99_9": f(self.p999), "max": f(self.max) })
    }
}

fn median_u64(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

fn median_f64(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn note(msg: impl std::fmt::Display) {
    eprintln!("pinion bench: {msg}");
}
// ------------------------------------------------------------------------------------------------
// Server harness
// ------------------------------------------------------------------------------------------------

struct Harness {
    server: Server,
    _dir: tempfile::TempDir,
    operation: u64,
}

/// Starts the real server in-process on an ephemeral port (no journal, a temp data directory), creates
/// one ema_cross operation with a 10-pip stop over HTTP and turns on the core's latency recorder.
fn start_server(data: PathBuf, replay_speed: f64) -> anyhow::Result<Harness> {
    start_server_with(data, replay_speed, IdlePolicy::default())
}

/// [`start_server`] with the core's idle policy.
fn start_server_with(data: PathBuf, replay_speed: f64, idle_policy: IdlePolicy) -> anyhow::Result<Harness> {
    start_server_cfg(data, replay_speed, |cfg| cfg.idle_policy = idle_policy)
}

/// [`start_server`] with the configuration changed by `adjust` before the server starts.
fn start_server_cfg(data: PathBuf, replay_speed: f64, adjust: impl FnOnce(&mut ServeConfig)) -> anyhow::Result<Harness> {
    let dir = tempfile::tempdir().context("creating a temporary data directory")?;
    let mut cfg = ServeConfig {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        ticks: vec![data],
        replay_speed,
        journal: false,
        starting_balance: CAPITAL.to_string(),
        commission_rate: COMMISSION.into(),
        log_level: "warn".into(),
        ..ServeConfig::default()
    };
    adjust(&mut cfg);
    cfg.validate()?;
    std::fs::create_dir_all(&cfg.data_dir)?;
    let t0 = Instant::now();
    let server = Server::start(&cfg)?;
    note(format!(
        "server on {} started in {:.0} ms, feed {} at {replay_speed}x",
        server.addr,
        t0.elapsed().as_secs_f64() * 1e3,
        server.fed.join(",")
    ));
    let asset = server.fed.first().cloned().context("the feed carries no instrument")?;
    let body = json!({
        "asset": asset,
        "bar_sizes": ["1 min"],
        "strategy_name": "ema_cross",
        "strategy_config": { "fast": 10, "slow": 20, "trade_size": 100000 },
        "initial_capital": CAPITAL,
        "stop_loss_type": "PIPS",
        "stop_loss_value": 10,
    });
    let mut conn = HttpConn::connect(server.addr)?;
    let (status, resp) = conn.request("POST", "/api/operations", Some(&body.to_string()))?;
    if status != 201 {
        bail!("creating the operation: HTTP {status}: {}", String::from_utf8_lossy(&resp));
    }
    let created: Value = serde_json::from_slice(&resp).context("the create answer is not JSON")?;
    let operation = created["id"].as_u64().with_context(|| format!("no id in {created}"))?;
    server.app.call(|e| e.enable_latency(1 << 20)).map_err(|e| anyhow::anyhow!("enabling the latency recorder: {}", e.detail))?;
    Ok(Harness { server, _dir: dir, operation })
}

impl Harness {
    /// The core's tick -> order-intent samples since the last call (the recorder is cleared). Straight
    /// from the core: it does not wait for the read model (at 20000x the publisher may lag).
    fn take_samples(&self) -> anyhow::Result<Vec<u64>> {
        self.server
            .app
            .run_on_core(|e| {
                e.latency_mut()
                    .map(|l| {
                        let s = l.samples().to_vec();
                        l.clear();
                        s
                    })
                    .unwrap_or_default()
            })
            .map(|(samples, _seq)| samples)
            .map_err(|e| anyhow::anyhow!("reading the latency recorder: {}", e.detail))
    }

    /// Runs `seconds` of whatever is going on, returning the core samples of that window.
    fn core_window(&self, seconds: u64) -> anyhow::Result<Vec<u64>> {
        self.take_samples()?;
        std::thread::sleep(Duration::from_secs(seconds));
        self.take_samples()
    }
}

fn change_pct(before: u64, after: u64) -> Value {
    if before == 0 {
        Value::Null
    } else {
        json!(((after as f64 / before as f64 - 1.0) * 1000.0).round() / 10.0)
    }
}

/// Where `needle` first occurs in `hay` (HTTP heads, WebSocket frames).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
