//! `pinion serve`: the engine running live on a paced, looped replay of recorded ticks into the paper
//! broker, with the REST APIs and the WebSocket push on one port.

use crate::config::ServeConfig;
use crate::durable::JournalDurability;
use crate::session_api::{SessionApi, SessionRoutes};
use anyhow::{bail, Context};
use clap::Args;
use crossbeam_channel::bounded;
use pinion_core::broker::PaperConfig;
use pinion_core::engine::event_ring::RingSink;
use pinion_core::engine::pipeline::{spawn_core, Command, CoreConfig};
use pinion_core::engine::Engine;
use pinion_core::fixed::{Money, Rate};
use pinion_core::instrument::InstrumentTable;
use pinion_core::risk::{RiskEngine, RiskLimits};
use pinion_core::tick::Tick;
use pinion_http::app::{App, Durability, HttpConfig, NoDurability};
use pinion_http::extensions::Extensions;
use pinion_http::front::{start_front, FrontConfig};
use pinion_http::readmodel::ReadModel;
use pinion_http::server::RestServer;
use pinion_http::ws::{Broadcaster, Frame, Topic};
use pinion_io::replay::{replay_with, Pacing, ReplayOptions};
use pinion_io::{load_many, ImportInput, ImportOptions};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

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

/// Where `log` frames go once the WebSocket front is up, and the read model whose feed clock stamps them.
static LOG_FRAMES: OnceLock<(Broadcaster, Arc<ReadModel>)> = OnceLock::new();

/// Sends each `pinion*` record at INFO or above as a `log` frame: level, bare message, feed time.
fn log_to_ws(record: &log::Record) {
    if let Some((b, read)) = LOG_FRAMES.get() {
        if record.target().starts_with("pinion") {
            if let Ok(f) = pinion_http::logs::log_frame(record.level(), &record.args().to_string(), read.feed_now_ns()) {
                b.send(f);
            }
        }
    }
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
    crate::logging::init(crate::logging::parse_level(&cfg.log_level)?, Some(&cfg.data_dir.join("logs")), Some(Box::new(log_to_ws)))?;
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

/// The running server's parts (kept alive for its lifetime).
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub fed: Vec<String>,
    pub app: Arc<App>,
    _rest: RestServer,
    _front: pinion_http::front::FrontHandle,
}

impl Server {
    pub fn start(cfg: &ServeConfig) -> anyhow::Result<Server> {
        let started = Instant::now();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let core_cpu = cfg.pin_cpu.unwrap_or(cpus - 1);
        // Every thread started from here on (REST, front, publisher, journal, feed, snapshots) inherits
        // this mask and stays off the core's CPU; the core thread pins itself to it.
        if crate::affinity::keep_off_cpu(core_cpu) {
            log::info!("I/O threads run off CPU {core_cpu}, which the core thread has to itself");
        }
        let inputs: Vec<ImportInput> = cfg.ticks.iter().map(ImportInput::new).collect();
        let data = load_many(&inputs, &ImportOptions::quiet()).context("loading the feed's tick files")?;
        if data.is_empty() {
            bail!("the feed's tick files hold no ticks");
        }
        // The feed's instruments first (ids match the tick records), then the rest of the built-in table.
        let mut table = InstrumentTable::new();
        for inst in data.instruments() {
            table.add(inst.clone())?;
        }
        let fed: Vec<String> = data.instruments().iter().map(|i| i.symbol.clone()).collect();
        for (_, inst) in InstrumentTable::builtin().iter() {
            table.add(inst.clone())?;
        }
        let balance = Money::parse(&cfg.starting_balance).map_err(|e| anyhow::anyhow!("starting_balance: {e}"))?;
        let commission_rate = Rate::parse(&cfg.commission_rate).map_err(|e| anyhow::anyhow!("commission_rate: {e}"))?;
        let paper_cfg = PaperConfig { starting_balance: balance, commission_rate };
        let mut engine = Engine::new(table.clone(), paper_cfg);
        engine.set_risk(Some(RiskEngine::new(RiskLimits::default())));
        let session_size =
            pinion_core::bars::BarSize::parse(&cfg.session_bar_size).map_err(|e| anyhow::anyhow!("session_bar_size: {e}"))?;
        engine.enable_history(session_size, pinion_core::engine::HISTORY_CAPACITY);
        let models_dir = cfg.models_dir();
        ensure_example_model(&models_dir);
        let session_routes = Arc::new(SessionRoutes { api: Arc::new(SessionApi::new(&models_dir)), app: OnceLock::new() });
        let session_api = session_routes.api.clone();

        let (sink, events_rx) = RingSink::new(1 << 16);
        let (commands_tx, commands_rx) = bounded::<Command>(1024);
        let read = Arc::new(ReadModel::new(table.clone(), balance));
        let journal_dir = cfg.data_dir.join("journal");
        let snapshot_dir = crate::snapshots::dir(&cfg.data_dir);
        let journal = if cfg.journal { Some(open_journal(&journal_dir)?) } else { None };
        let durability: Arc<dyn Durability> = match &journal {
            Some((handle, _)) => Arc::new(JournalDurability::new(handle.clone())),
            None => Arc::new(NoDurability),
        };
        let http_cfg = HttpConfig {
            bearer_token: cfg.token.clone(),
            environment: cfg.environment.clone(),
            training_symbols: cfg.training_symbols.clone(),
            allowed_origins: cfg.origins()?,
            ..HttpConfig::default()
        };
        let app = Arc::new(App {
            commands: commands_tx,
            read: read.clone(),
            instruments: table.clone(),
            fed_instruments: fed.clone(),
            config: http_cfg,
            durability: durability.clone(),
            started,
            extensions: Extensions { providers: vec![session_routes.clone()] },
            changes: std::sync::Mutex::new(()),
        });
        let _ = session_routes.app.set(Arc::downgrade(&app));

        let account_every_ns = 1_000_000_000;
        let mut start_index = 0;
        if let Some((handle, first_seq)) = &journal {
            let t0 = Instant::now();
            let from = match crate::snapshots::restore_newest(&snapshot_dir, &table, paper_cfg, &app, &session_api)? {
                Some((restored_engine, r)) => {
                    engine = restored_engine;
                    Some(r)
                }
                None if *first_seq > 1 => bail!(
                    "the journal in {} starts at record {first_seq} (older records were folded into snapshots), but no snapshot in {} \
                     could be restored (see the warnings above); restore a snapshot file or start with an empty data directory",
                    journal_dir.display(),
                    snapshot_dir.display()
                ),
                None => None,
            };
            let log = crate::durable::read_log(&journal_dir, from.map_or(0, |r| r.journal_seq + 1), from.map_or(0, |r| r.tick_pos))?;
            let feed = crate::durable::Feed { ticks: data.ticks(), account_every_ns, from: from.as_ref() };
            let r = crate::durable::recover(&mut engine, &app, &log, &feed)?;
            start_index = r.position;
            log::info!(
                "recovered in {:.0} ms: snapshot {}, {} state changes and {} journal records after it, re-executed ticks {}..{} ({} fills)",
                t0.elapsed().as_secs_f64() * 1e3,
                from.map_or("none".to_string(), |f| format!("at journal seq {} / tick {}", f.journal_seq, f.tick_pos)),
                r.commands,
                log.records,
                from.map_or(0, |f| f.tick_pos),
                r.position,
                r.fills
            );
            if let Err(e) = crate::snapshots::write_at_startup(&snapshot_dir, handle, &engine, &app, &session_api) {
                log::error!("start-up snapshot failed (the journal still holds everything): {e:#}");
            }
        }
        let rest = RestServer::start(app.clone(), "127.0.0.1:0", cfg.rest_threads).context("starting the REST workers")?;
        let listener = std::net::TcpListener::bind(&cfg.bind).with_context(|| format!("binding {}", cfg.bind))?;
        let on_connect_read = read.clone();
        let status = status_fn(session_api.clone());
        let status2 = status.clone();
        let on_connect: Arc<dyn Fn() -> Vec<Frame> + Send + Sync> = Arc::new(move || {
            let s = on_connect_read.read();
            [
                Frame::json(Topic::Status, &status2(&s)),
                Frame::json(Topic::Account, &pinion_http::publisher::account_data(&s)),
                Frame::json(Topic::Positions, &pinion_http::account::positions_json(&s)),
                Frame::json(Topic::Metric, &pinion_http::publisher::metric_data(&s)),
            ]
            .into_iter()
            .flatten()
            .collect()
        });
        let front_cfg = FrontConfig { bearer_token: cfg.token.clone(), allowed_origins: cfg.origins()?, ..FrontConfig::default() };
        let front = start_front(listener, rest.local_addr, front_cfg, on_connect).context("starting the front")?;
        let _ = LOG_FRAMES.set((front.broadcaster.clone(), read.clone()));
        let _ = session_api.frames.set(front.broadcaster.clone());
        let addr = front.local_addr;
        let hook = journal.as_ref().map(|(h, _)| crate::durable::event_hook(h.clone()));
        let periodic = journal.as_ref().filter(|_| cfg.snapshot_every_secs > 0.0).map(|(h, _)| h.clone());
        let publisher = pinion_http::publisher::start(events_rx, read, Some(front.broadcaster.clone()), status, hook, Default::default())?;
        std::mem::forget(publisher);

        let core_cfg = CoreConfig { pin_cpu: Some(core_cpu), account_every_ns, exit_when_feed_ends: false, ..CoreConfig::default() };
        let (mut producer, consumer) = rtrb::RingBuffer::<Tick>::new(1 << 16);
        let core = spawn_core(engine, consumer, commands_rx, sink, core_cfg)?;
        std::mem::forget(core);
        if let Some(handle) = periodic {
            let every = std::time::Duration::from_secs_f64(cfg.snapshot_every_secs);
            crate::snapshots::start_periodic(snapshot_dir, handle, app.clone(), session_api.clone(), every)?;
        }
        let speed = cfg.replay_speed;
        let end_index = cfg.stop_after_ticks;
        std::thread::Builder::new().name("pinion-feed".into()).spawn(move || {
            let stop = AtomicBool::new(false);
            let stats = replay_with(
                data.ticks(),
                &mut producer,
                &ReplayOptions { pacing: Pacing::Speed(speed), looped: true, start_index, end_index },
                &stop,
            );
            log::warn!("feed ended after {} ticks (from virtual index {start_index})", stats.pushed);
        })?;
        log::info!("started in {:.0} ms", started.elapsed().as_secs_f64() * 1e3);
        Ok(Server { addr, fed, app, _rest: rest, _front: front })
    }

    /// The WebSocket front: its broadcaster and counters (`pinion bench ws` sends timestamped frames
    /// through it and reads its slow-client and dropped-frame counts).
    pub fn front(&self) -> &pinion_http::front::FrontHandle {
        &self._front
    }
}

/// Opens (and repairs a torn tail of) the journal and starts its group-commit thread; returns the handle
/// and the seq of the oldest record held (above 1 once snapshots let older segments go).
fn open_journal(dir: &std::path::Path) -> anyhow::Result<(pinion_io::journal::JournalHandle, u64)> {
    let (journal, rec) =
        pinion_io::journal::Journal::open(dir, Default::default()).with_context(|| format!("opening the journal in {}", dir.display()))?;
    if let Some((seg, off)) = &rec.torn_at {
        log::warn!(
            "journal: torn last record at {} offset {off}: truncated {} bytes (a crash mid-write; nothing acknowledged was lost)",
            seg.display(),
            rec.truncated_bytes
        );
    }
    let first_seq = journal.first_seq();
    let (handle, _thread) = journal.start();
    Ok((handle, first_seq))
}

/// Builds the shipped example model when the model directory holds none, so a fresh machine has one.
fn ensure_example_model(dir: &std::path::Path) {
    let has_model = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().any(|e| e.path().extension().is_some_and(|x| x == "pt" || x == "pth" || x == "ts")))
        .unwrap_or(false);
    if !has_model {
        let out = dir.join("example.pt");
        match crate::commands::model::write_example(&out, pinion_models::EXAMPLE_MAX_SYMBOLS, pinion_models::EXAMPLE_LOOKBACK_WINDOW) {
            Ok(()) => log::info!("built the example model at {}", out.display()),
            Err(e) => log::warn!("could not build the example model: {e:#}"),
        }
    }
}

fn status_fn(session: Arc<SessionApi>) -> pinion_http::publisher::StatusFn {
    Arc::new(move |s| {
        let count = |st: &str| s.operations.iter().filter(|o| s.book_status(o.book).as_str() == st).count();
        serde_json::json!({
            "engine": "running",
            "operations": { "total": s.operations.len(), "active": count("active"), "paused": count("paused"), "closed": count("closed") },
            "session": session.last_status.lock().map(|v| v.clone()).unwrap_or_default(),
            "timestamp": pinion_core::time::format_iso(s.now_ns),
        })
    })
}
