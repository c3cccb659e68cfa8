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
//!
//! HTTP and WebSocket clients are written over std `TcpStream` (no client library dependency).

use crate::commands::serve::Server;
use crate::config::ServeConfig;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use pinion_core::bars::BarSize;
use pinion_core::broker::PaperConfig;
use pinion_core::engine::{BookSpec, Engine};
use pinion_core::fixed::{Money, Rate};
use pinion_core::instrument::{Instrument, InstrumentId, InstrumentTable};
use pinion_core::strategy::{EmaCross, EmaCrossConfig, Strategy, StrategyContext};
use pinion_core::tick::Tick;
use pinion_http::ws::{Frame, Topic};
use pinion_io::backtest::{run_recorded, SummarySink, DEFAULT_RING_CAPACITY};
use pinion_io::replay::loop_period;
use pinion_io::{load_many, ImportInput, ImportOptions, TickData};
use serde_json::{json, Value};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
        BenchWhat::Latency(a) => latency(a),
        BenchWhat::Http(a) => http(a),
        BenchWhat::Ws(a) => ws(a),
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
// latency: the backtest pipeline with the latency recorder
// ------------------------------------------------------------------------------------------------

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

fn latency(a: LatencyArgs) -> anyhow::Result<()> {
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
    let dir = tempfile::tempdir().context("creating a temporary data directory")?;
    let cfg = ServeConfig {
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
    /// The core's tick -> order-intent samples since the last call (the recorder is cleared).
    fn take_samples(&self) -> anyhow::Result<Vec<u64>> {
        self.server
            .app
            .call(|e| {
                e.latency_mut()
                    .map(|l| {
                        let s = l.samples().to_vec();
                        l.clear();
                        s
                    })
                    .unwrap_or_default()
            })
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

// ------------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 keep-alive client
// ------------------------------------------------------------------------------------------------

struct HttpConn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl HttpConn {
    fn connect(addr: SocketAddr) -> io::Result<HttpConn> {
        let mut c = HttpConn { addr, stream: None, buf: Vec::with_capacity(64 * 1024) };
        c.reconnect()?;
        Ok(c)
    }

    fn reconnect(&mut self) -> io::Result<()> {
        let s = TcpStream::connect(self.addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        self.stream = Some(s);
        self.buf.clear();
        Ok(())
    }

    /// Sends one request and reads the whole answer: (status, body). Reconnects first if the server
    /// closed the previous connection.
    fn request(&mut self, method: &str, path: &str, body: Option<&str>) -> io::Result<(u16, Vec<u8>)> {
        if self.stream.is_none() {
            self.reconnect()?;
        }
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n", self.addr);
        if let Some(b) = body {
            req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}", b.len()));
        } else {
            req.push_str("\r\n");
        }
        let out = self.exchange(req.as_bytes());
        if out.is_err() {
            self.stream = None;
        }
        out
    }

    fn fill(&mut self) -> io::Result<()> {
        let s = self.stream.as_mut().ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let len = self.buf.len();
        self.buf.resize(len + 16 * 1024, 0);
        let n = s.read(&mut self.buf[len..]);
        self.buf.truncate(len + n.as_ref().map_or(0, |n| *n));
        match n? {
            0 => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            _ => Ok(()),
        }
    }

    fn exchange(&mut self, req: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        self.stream.as_mut().ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?.write_all(req)?;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
        let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| io::Error::other("bad status line"))?;
        let header =
            |name: &str| head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == name).map(|(_, v)| v.trim().to_string()));
        let close = header("connection").is_some_and(|v| v == "close");
        let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let mut body = Vec::new();
            let mut pos = head_end;
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf[pos..], b"\r\n") {
                        break pos + i;
                    }
                    self.fill()?;
                };
                let size_text = String::from_utf8_lossy(&self.buf[pos..line_end]).to_string();
                let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| io::Error::other("bad chunk size"))?;
                let need = line_end + 2 + size + 2;
                while self.buf.len() < need {
                    self.fill()?;
                }
                body.extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
                pos = need;
                if size == 0 {
                    break;
                }
            }
            self.buf.drain(..pos);
            body
        } else {
            let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            while self.buf.len() < head_end + len {
                self.fill()?;
            }
            let body = self.buf[head_end..head_end + len].to_vec();
            self.buf.drain(..head_end + len);
            body
        };
        if close {
            self.stream = None;
        }
        Ok((status, body))
    }
}

// ------------------------------------------------------------------------------------------------
// http: REST load
// ------------------------------------------------------------------------------------------------

#[derive(Default)]
struct ClientTally {
    /// Latency of each successful GET, per path (index into the path list).
    latencies_ns: Vec<Vec<u64>>,
    errors: u64,
}

fn http(a: HttpArgs) -> anyhow::Result<()> {
    if a.clients == 0 || a.rps == 0 {
        bail!("--clients and --rps must be positive");
    }
    let h = start_server(data_path(&a.data)?, a.replay_speed)?;
    std::thread::sleep(Duration::from_secs(1));
    note(format!("phase 1: {} s without load", a.seconds));
    let idle = Pct::of(h.core_window(a.seconds)?);

    note(format!("phase 2: {} s with {} clients at {} GET/s in total", a.seconds, a.clients, a.rps));
    let id = h.operation;
    let paths: Arc<[String]> =
        vec![format!("/api/operations/{id}"), format!("/api/operations/{id}/orders?limit=50"), "/account/summary".to_string()].into();
    h.take_samples()?;
    let interval = Duration::from_secs_f64(a.clients as f64 / a.rps as f64);
    let start = Instant::now() + Duration::from_millis(50);
    let end = start + Duration::from_secs(a.seconds);
    let mut threads = Vec::with_capacity(a.clients);
    for i in 0..a.clients {
        let paths = paths.clone();
        let addr = h.server.addr;
        let offset = interval.mul_f64(i as f64 / a.clients as f64);
        threads.push(std::thread::Builder::new().name(format!("bench-http-{i}")).spawn(move || {
            let mut tally = ClientTally { latencies_ns: vec![Vec::with_capacity(1 << 14); paths.len()], errors: 0 };
            let Ok(mut conn) = HttpConn::connect(addr) else {
                tally.errors += 1;
                return tally;
            };
            for k in 0u64.. {
                let due = start + offset + interval.mul_f64(k as f64);
                if due >= end || Instant::now() >= end {
                    break;
                }
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let which = (k as usize + i) % paths.len();
                let t0 = Instant::now();
                match conn.request("GET", &paths[which], None) {
                    Ok((200, _)) => tally.latencies_ns[which].push(t0.elapsed().as_nanos() as u64),
                    _ => tally.errors += 1,
                }
            }
            tally
        })?);
    }
    let mut by_path: Vec<Vec<u64>> = vec![Vec::new(); paths.len()];
    let mut errors = 0;
    for t in threads {
        let tally = t.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
        for (all, mine) in by_path.iter_mut().zip(tally.latencies_ns) {
            all.extend(mine);
        }
        errors += tally.errors;
    }
    let per_path: serde_json::Map<String, Value> =
        paths.iter().zip(&by_path).map(|(p, l)| (p.clone(), Pct::of(l.clone()).json(1000.0))).collect();
    let all: Vec<u64> = by_path.into_iter().flatten().collect();
    let took = start.elapsed().as_secs_f64();
    let load = Pct::of(h.take_samples()?);
    let ok = all.len();
    let get = Pct::of(all);
    println!(
        "{}",
        json!({
            "bench": "http",
            "clients": a.clients,
            "rps_target": a.rps,
            "seconds": a.seconds,
            "replay_speed": a.replay_speed,
            "requests_ok": ok,
            "errors": errors,
            "rps_achieved": (ok as f64 / took).round(),
            "get_latency_us": get.json(1000.0),
            "get_latency_us_by_path": per_path,
            "core_tick_to_intent_ns_idle": idle.json(1.0),
            "core_tick_to_intent_ns_load": load.json(1.0),
            "core_p99_change_pct": change_pct(idle.p99, load.p99),
        })
    );
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// ws: WebSocket fan-out
// ------------------------------------------------------------------------------------------------

/// Opens `/ws` and completes the handshake; returns the stream and any frame bytes read past the head.
fn ws_connect(addr: SocketAddr) -> io::Result<(TcpStream, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if !buf.starts_with(b"HTTP/1.1 101") {
        return Err(io::Error::other(format!("upgrade refused: {}", String::from_utf8_lossy(&buf[..end]).lines().next().unwrap_or(""))));
    }
    Ok((s, buf[end..].to_vec()))
}

#[derive(Default)]
struct WsTally {
    metric_frames: u64,
    bench_frames: u64,
    latencies_ns: Vec<u64>,
    closed_early: bool,
    bytes: u64,
}

/// Shared state of the ws clients.
struct WsShared {
    start: Instant,
    counting: AtomicBool,
    stop: AtomicBool,
}

/// The value of `"sent_ns":<digits>` in a bench frame.
fn sent_ns(payload: &[u8]) -> Option<u64> {
    let key = b"\"sent_ns\":";
    let i = find(payload, key)? + key.len();
    let digits = payload[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    std::str::from_utf8(&payload[i..i + digits]).ok()?.parse().ok()
}

/// Reads unmasked server frames until stopped, counting metric frames (while counting) and timing
/// bench frames. Handles frames split across reads.
fn ws_client(mut s: TcpStream, mut buf: Vec<u8>, shared: Arc<WsShared>) -> WsTally {
    let mut tally = WsTally { latencies_ns: Vec::with_capacity(256), ..Default::default() };
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    buf.reserve(32 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut pos = 0usize;
    loop {
        // Parse every complete frame in buf[pos..].
        let now_ns = shared.start.elapsed().as_nanos() as u64;
        loop {
            let b = &buf[pos..];
            if b.len() < 2 {
                break;
            }
            let opcode = b[0] & 0x0f;
            let masked = b[1] & 0x80 != 0;
            let (len, mut hdr) = match b[1] & 0x7f {
                126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().unwrap_or_default()) as usize, 10),
                126 | 127 => break,
                n => (n as usize, 2),
            };
            if masked {
                hdr += 4;
            }
            if b.len() < hdr + len {
                break;
            }
            let payload = &b[hdr..hdr + len];
            match opcode {
                1 | 0 => {
                    if payload.starts_with(b"{\"type\":\"metric\"") {
                        if shared.counting.load(Ordering::Relaxed) {
                            tally.metric_frames += 1;
                        }
                    } else if payload.starts_with(b"{\"type\":\"log\"") {
                        if let Some(sent) = sent_ns(payload) {
                            tally.bench_frames += 1;
                            tally.latencies_ns.push(now_ns.saturating_sub(sent));
                        }
                    }
                }
                8 => {
                    tally.closed_early = !shared.stop.load(Ordering::Relaxed);
                    return tally;
                }
                _ => {}
            }
            pos += hdr + len;
        }
        if pos > 0 && pos == buf.len() {
            buf.clear();
            pos = 0;
        } else if pos > 64 * 1024 {
            buf.drain(..pos);
            pos = 0;
        }
        if shared.stop.load(Ordering::Relaxed) {
            return tally;
        }
        match s.read(&mut chunk) {
            Ok(0) => {
                tally.closed_early = !shared.stop.load(Ordering::Relaxed);
                return tally;
            }
            Ok(n) => {
                tally.bytes += n as u64;
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => {}
            Err(_) => {
                tally.closed_early = !shared.stop.load(Ordering::Relaxed);
                return tally;
            }
        }
    }
}

fn ws(a: WsArgs) -> anyhow::Result<()> {
    if a.clients == 0 || a.frames_per_second == 0 {
        bail!("--clients and --frames-per-second must be positive");
    }
    let h = start_server(data_path(&a.data)?, a.replay_speed)?;
    std::thread::sleep(Duration::from_secs(1));
    note(format!("phase 1: {} s without WebSocket clients", a.seconds));
    let idle = Pct::of(h.core_window(a.seconds)?);

    note(format!("connecting {} WebSocket clients", a.clients));
    let shared = Arc::new(WsShared { start: Instant::now(), counting: AtomicBool::new(false), stop: AtomicBool::new(false) });
    let t0 = Instant::now();
    let mut threads = Vec::with_capacity(a.clients);
    let mut connect_errors = 0u64;
    let mut first_error = None;
    for i in 0..a.clients {
        match ws_connect(h.server.addr) {
            Ok((s, leftover)) => {
                let sh = shared.clone();
                let t = std::thread::Builder::new()
                    .name(format!("bench-ws-{i}"))
                    .stack_size(64 * 1024)
                    .spawn(move || ws_client(s, leftover, sh));
                match t {
                    Ok(t) => threads.push(t),
                    Err(e) => {
                        connect_errors += 1;
                        first_error.get_or_insert_with(|| format!("spawning a client thread: {e}"));
                    }
                }
            }
            Err(e) => {
                connect_errors += 1;
                first_error.get_or_insert_with(|| format!("connecting: {e}"));
            }
        }
    }
    let connect_s = t0.elapsed().as_secs_f64();
    if let Some(e) = &first_error {
        note(format!("{connect_errors} clients failed; first: {e}"));
    }
    note(format!("{} clients connected in {connect_s:.2} s; phase 2: {} s with them", threads.len(), a.seconds));
    // Let the connection snapshots drain before the window opens.
    std::thread::sleep(Duration::from_millis(1500));

    let front = h.server.front();
    let before = front.stats();
    h.take_samples()?;
    shared.counting.store(true, Ordering::SeqCst);
    let window = Instant::now();
    let total = a.frames_per_second as u64 * a.seconds;
    let every = Duration::from_secs_f64(1.0 / a.frames_per_second as f64);
    let mut sent = 0u64;
    for k in 0..total {
        let due = window + every.mul_f64(k as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let ns = shared.start.elapsed().as_nanos() as u64;
        let text = format!(r#"{{"type":"log","data":{{"level":"bench","message":"bench frame {k}","seq":{k},"sent_ns":{ns}}}}}"#);
        if front.broadcaster.send(Frame::new(Topic::Log, text)) {
            sent += 1;
        }
    }
    let wait_until = window + Duration::from_secs(a.seconds);
    if let Some(d) = wait_until.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
    shared.counting.store(false, Ordering::SeqCst);
    let window_s = window.elapsed().as_secs_f64();
    let load = Pct::of(h.take_samples()?);
    // Give the last bench frames time to arrive, then stop the clients.
    std::thread::sleep(Duration::from_millis(1000));
    let after = front.stats();
    shared.stop.store(true, Ordering::SeqCst);
    let tallies: Vec<WsTally> = threads.into_iter().filter_map(|t| t.join().ok()).collect();

    let metric_max = tallies.iter().map(|t| t.metric_frames).max().unwrap_or(0);
    let metric_min = tallies.iter().map(|t| t.metric_frames).min().unwrap_or(0);
    // A metric frame may fall on either side of the window's edges for a given client: allow one.
    let metric_short = tallies.iter().filter(|t| t.metric_frames + 1 < metric_max).count();
    let bench_complete = tallies.iter().filter(|t| t.bench_frames == sent).count();
    let closed_early = tallies.iter().filter(|t| t.closed_early).count();
    let bytes: u64 = tallies.iter().map(|t| t.bytes).sum();
    let delivery = Pct::of(tallies.into_iter().flat_map(|t| t.latencies_ns).collect());
    println!(
        "{}",
        json!({
            "bench": "ws",
            "clients": a.clients,
            "clients_connected": a.clients as u64 - connect_errors,
            "connect_seconds": (connect_s * 100.0).round() / 100.0,
            "seconds": a.seconds,
            "replay_speed": a.replay_speed,
            "metric_frames_per_client": { "max": metric_max, "min": metric_min, "clients_short_by_more_than_1": metric_short, "window_seconds": (window_s * 100.0).round() / 100.0 },
            "bench_frames_sent": sent,
            "clients_with_every_bench_frame": bench_complete,
            "clients_closed_early": closed_early,
            "delivery_latency_us": delivery.json(1000.0),
            "front": {
                "frames_sent_in_window": after.frames_sent - before.frames_sent,
                "ws_dropped_slow": after.ws_dropped_slow,
                "broadcast_dropped": after.broadcast_dropped,
            },
            "client_bytes_received": bytes,
            "core_tick_to_intent_ns_idle": idle.json(1.0),
            "core_tick_to_intent_ns_with_clients": load.json(1.0),
            "core_p99_change_pct": change_pct(idle.p99, load.p99),
        })
    );
    Ok(())
}
