//! The server's lifecycle, in three steps and an end. [`Server::build`] loads the feed and sets up the
//! engine, the read model, the journal and the HTTP state; [`Built::recover`] restores the newest
//! snapshot, replays the journal after it and applies the crash recovery modes; [`Recovered::start_io`]
//! starts the threads (REST workers, the front, the publisher, the pinned core, snapshots, the feed).
//! The running [`Server`] owns every thread it started, and [`Server::shutdown`] (or dropping it) stops
//! and joins them in dependency order, writing a final snapshot from the stopped engine: nothing is
//! leaked.

use crate::config::ServeConfig;
use crate::durable::JournalDurability;
use crate::session_api::{SessionApi, SessionRoutes};
use anyhow::{bail, Context};
use crossbeam_channel::{bounded, Receiver};
use pinion_core::broker::PaperConfig;
use pinion_core::engine::event_ring::RingSink;
use pinion_core::engine::pipeline::{spawn_core, Command, CoreConfig, CoreHandle};
use pinion_core::engine::Engine;
use pinion_core::events::EngineEvent;
use pinion_core::fixed::{Money, Rate};
use pinion_core::instrument::InstrumentTable;
use pinion_core::records::HistoryStore;
use pinion_core::risk::{RiskEngine, RiskLimits};
use pinion_core::telemetry::{StampedSink, Telemetry};
use pinion_core::tick::Tick;
use pinion_http::app::{App, Durability, HttpConfig, NoDurability};
use pinion_http::extensions::Extensions;
use pinion_http::front::{start_front, FrontConfig, FrontHandle};
use pinion_http::metrics::{Metrics, PublisherProbe};
use pinion_http::publisher::{Publisher, PublisherConfig};
use pinion_http::readmodel::ReadModel;
use pinion_http::server::RestServer;
use pinion_http::ws::{Broadcaster, Frame, Topic};
use pinion_io::history::{self, SqliteHistory};
use pinion_io::journal::{Journal, JournalError, JournalHandle};
use pinion_io::replay::{replay_observed, Pacing, ReplayOptions};
use pinion_io::{load_many, ImportInput, ImportOptions, TickData};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Account and book equity marks every second of feed time.
const ACCOUNT_EVERY_NS: i64 = 1_000_000_000;

/// How long a shutdown lets the REST exchanges in flight finish before it closes their connections.
pub const REST_GRACE: Duration = Duration::from_secs(2);

/// Where `log` frames go once the WebSocket front is up, and the read model whose feed clock stamps them.
static LOG_FRAMES: OnceLock<(Broadcaster, Arc<ReadModel>)> = OnceLock::new();

/// Sends each `pinion*` record at INFO or above as a `log` frame: level, bare message, feed time.
pub fn log_to_ws(record: &log::Record) {
    if let Some((b, read)) = LOG_FRAMES.get() {
        if record.target().starts_with("pinion") {
            let message = record.args().to_string();
            let now = read.feed_now_ns();
            let ts = if now > 0 {
                now
            } else {
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
            };
            read.recent.log(record.level(), record.target(), &message, ts);
            if let Ok(f) = pinion_http::logs::log_frame(record.level(), &message, now) {
                b.send(f);
            }
        }
    }
}

/// The open journal: its handle, its group-commit thread and the oldest record it holds.
struct OpenJournal {
    handle: JournalHandle,
    thread: JoinHandle<Result<Journal, JournalError>>,
    first_seq: u64,
}

/// Step 1 done: everything set up, nothing recovered, no thread but the journal's running.
pub struct Built {
    cfg: ServeConfig,
    started: Instant,
    core_cpu: usize,
    data: TickData,
    table: InstrumentTable,
    paper: PaperConfig,
    fed: Vec<String>,
    engine: Engine,
    app: Arc<App>,
    read: Arc<ReadModel>,
    session_api: Arc<SessionApi>,
    sink: RingSink,
    events: rtrb::Consumer<EngineEvent>,
    commands: Receiver<Command>,
    journal: Option<OpenJournal>,
    history: Arc<SqliteHistory>,
    live: Option<Arc<crate::live::Live>>,
    metrics: Arc<Metrics>,
}

/// Step 2 done: the engine and the read model hold everything the journal and snapshots had.
pub struct Recovered {
    built: Built,
    /// Virtual tick index the feed continues from.
    start_index: u64,
    /// Crash recovery changes waiting for answers from the live venue (made once the server runs).
    deferred_recovery: Vec<pinion_core::change::Change>,
}

/// The running server. Owns its threads; [`shutdown`](Server::shutdown) or drop stops and joins them.
pub struct Server {
    /// The address REST and the WebSocket listen on.
    pub addr: std::net::SocketAddr,
    /// The instruments the feed carries.
    pub fed: Vec<String>,
    /// The HTTP side's shared state (the bench commands drive the core through it).
    pub app: Arc<App>,
    front: Option<FrontHandle>,
    rest: Option<RestServer>,
    feed: Option<JoinHandle<()>>,
    feed_stop: Arc<AtomicBool>,
    snapshots: Option<JoinHandle<()>>,
    snapshots_stop: Arc<AtomicBool>,
    storage_watch: Option<JoinHandle<()>>,
    /// Makes crash recovery changes deferred until the live venue answered orders in flight.
    recovery_wait: Option<JoinHandle<()>>,
    core: Option<CoreHandle<StampedSink<RingSink>>>,
    publisher: Option<Publisher>,
    journal: Option<OpenJournal>,
    history: Arc<SqliteHistory>,
    live: Option<Arc<crate::live::Live>>,
    pricing: Option<pinion_io::oanda::pricing::PricingStream>,
    live_exec: Option<crate::live_exec::LiveExec>,
    session_api: Arc<SessionApi>,
    snapshot_dir: std::path::PathBuf,
    events_export: Option<pinion_bus::export::Exporter>,
}

/// What a shutdown did.
#[derive(Debug, Default)]
pub struct Stopped {
    /// How long it took.
    pub elapsed: Duration,
    /// Client connections still open when the REST grace period ended (their exchanges were cut off).
    pub cut_off: usize,
    /// Ticks the engine had processed when the core stopped (None: it was not running or panicked).
    pub ticks: Option<u64>,
    /// The journal seq the final snapshot covers (None: no journal, or no snapshot could be written).
    pub final_snapshot: Option<u64>,
    /// The journal's last record when it was closed (None: no journal).
    pub journal_seq: Option<u64>,
}

impl Server {
    /// Builds, recovers and starts a server (the three steps in order).
    pub fn start(cfg: &ServeConfig) -> anyhow::Result<Server> {
        Server::build(cfg)?.recover()?.start_io()
    }

    /// Step 1: loads the feed's tick files and sets up the engine, read model, journal and HTTP state.
    pub fn build(cfg: &ServeConfig) -> anyhow::Result<Built> {
        let started = Instant::now();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let core_cpu = cfg.pin_cpu.unwrap_or(cpus - 1);
        // Every thread started from here on (REST, front, publisher, journal, feed, snapshots) inherits
        // this mask and stays off the core's CPU; the core thread pins itself to it.
        if crate::affinity::keep_off_cpu(core_cpu) {
            log::info!("I/O threads run off CPU {core_cpu}, which the core thread has to itself");
        }
        // A live broker's streamed instruments take the feed's place (no tick file is replayed).
        let live = match cfg.broker.kind.as_str() {
            "oanda" => Some(Arc::new(crate::live::Live::connect(&cfg.broker, &cfg.training_symbols)?)),
            _ => None,
        };
        let data = match &live {
            Some(l) => TickData::Owned { instruments: l.streamed.clone(), ticks: Vec::new() },
            None => {
                let inputs: Vec<ImportInput> = cfg.ticks.iter().map(ImportInput::new).collect();
                let data = load_many(&inputs, &ImportOptions::quiet()).context("loading the feed's tick files")?;
                if data.is_empty() {
                    bail!("the feed's tick files hold no ticks");
                }
                data
            }
        };
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
        let paper = PaperConfig { starting_balance: balance, commission_rate };
        let mut engine = Engine::new(table.clone(), paper);
        // With a live broker, orders go to it and fill at its prices (`broker::venue`).
        engine.set_external_venue(live.is_some());
        engine.set_risk(Some(RiskEngine::new(RiskLimits::default())));
        let session_size =
            pinion_core::bars::BarSize::parse(&cfg.session_bar_size).map_err(|e| anyhow::anyhow!("session_bar_size: {e}"))?;
        engine.enable_history(session_size, pinion_core::engine::HISTORY_CAPACITY);
        let models_dir = cfg.models_dir();
        ensure_example_model(&models_dir);
        let session_routes = Arc::new(SessionRoutes { api: Arc::new(SessionApi::new(&models_dir)), app: OnceLock::new() });
        let session_api = session_routes.api.clone();

        let (sink, events) = RingSink::new(1 << 16);
        let (commands_tx, commands) = bounded::<Command>(1024);
        std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating the data directory {}", cfg.data_dir.display()))?;
        let history = Arc::new(SqliteHistory::open(&cfg.data_dir.join(history::FILE_NAME), &table)?);
        if !cfg.journal {
            // Nothing of an earlier run comes back without the journal, so neither does its history.
            history.restore(Vec::new(), 0, true)?;
        }
        let read = Arc::new(ReadModel::with_history(table.clone(), balance, history.clone()));
        read.set_window(cfg.history_window);
        let journal = if cfg.journal { Some(open_journal(&cfg.data_dir.join("journal"))?) } else { None };
        let metrics = Arc::new(Metrics::new(Arc::new(Telemetry::new(table.len()))));
        metrics.set_idle_policy(cfg.idle_policy.name());
        crate::observability::install(&metrics, journal.as_ref().map(|j| &j.handle));
        let durability: Arc<dyn Durability> = match &journal {
            Some(j) => Arc::new(JournalDurability::new(j.handle.clone())),
            None => Arc::new(NoDurability),
        };
        let mut http_cfg = HttpConfig {
            bearer_token: cfg.token.clone(),
            environment: cfg.environment.clone(),
            training_symbols: cfg.training_symbols.clone(),
            allowed_origins: cfg.origins()?,
            metrics: Some(metrics.clone()),
            ..HttpConfig::default()
        };
        if let Some(l) = &live {
            http_cfg.environment = l.cfg.environment.as_str().to_string();
            http_cfg.account_id = l.cfg.account_id.clone();
        }
        let app = Arc::new(App {
            commands: commands_tx,
            read: read.clone(),
            instruments: table.clone(),
            fed_instruments: fed.clone(),
            config: http_cfg,
            durability,
            started,
            extensions: Extensions { providers: vec![session_routes.clone()] },
            changes: Mutex::new(()),
            live: live.clone().map(|l| l as Arc<dyn pinion_http::live_account::LiveAccount>),
        });
        let _ = session_routes.app.set(Arc::downgrade(&app));
        Ok(Built {
            cfg: cfg.clone(),
            started,
            core_cpu,
            data,
            table,
            paper,
            fed,
            engine,
            app,
            read,
            session_api,
            sink,
            events,
            commands,
            journal,
            history,
            live,
            metrics,
        })
    }
}

impl Built {
    /// Step 2: restores the newest usable snapshot, re-executes the feed and replays the journal after
    /// it, applies the crash recovery modes, and writes a start-up snapshot.
    pub fn recover(mut self) -> anyhow::Result<Recovered> {
        let Some(journal) = &self.journal else { return Ok(Recovered { built: self, start_index: 0, deferred_recovery: Vec::new() }) };
        let journal_dir = self.cfg.data_dir.join("journal");
        let snapshot_dir = crate::snapshots::dir(&self.cfg.data_dir);
        let t0 = Instant::now();
        let from = match crate::snapshots::restore_newest(&snapshot_dir, &self.table, self.paper, &self.app, &self.session_api)? {
            Some((restored_engine, r)) => {
                self.engine = restored_engine;
                // A setting, not state: the restored engine trades where this server's does.
                self.engine.set_external_venue(self.live.is_some());
                Some(r)
            }
            None if journal.first_seq > 1 => bail!(
                "the journal in {} starts at record {} (older records were folded into snapshots), but no snapshot in {} \
                 could be restored (see the warnings above); restore a snapshot file or start with an empty data directory",
                journal_dir.display(),
                journal.first_seq,
                snapshot_dir.display()
            ),
            None => None,
        };
        let log = crate::durable::read_log(&journal_dir, from.map_or(0, |r| r.journal_seq + 1), from.map_or(0, |r| r.tick_pos))?;
        if from.is_none() && log.records == 0 {
            // An empty journal: whatever the history database holds is from another data directory.
            self.history.restore(Vec::new(), 0, true)?;
        }
        let live_ticks = match &self.live {
            Some(_) => crate::live_ticks::read(&journal_dir, from.map_or(0, |r| r.tick_pos))?,
            None => Vec::new(),
        };
        let ticks = if self.live.is_some() { &live_ticks[..] } else { self.data.ticks() };
        let feed = crate::durable::Feed { ticks, account_every_ns: ACCOUNT_EVERY_NS, from: from.as_ref(), live: self.live.is_some() };
        let r = crate::durable::recover(&mut self.engine, &self.app, &log, &feed)?;
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
        let quiet = crate::snapshots::Quiet::StartUp;
        if let Err(e) = crate::snapshots::write_quiet(&snapshot_dir, &journal.handle, &self.engine, &self.app, &self.session_api, quiet) {
            log::error!("start-up snapshot failed (the journal still holds everything): {e:#}");
        }
        Ok(Recovered { built: self, start_index: r.position, deferred_recovery: r.deferred })
    }
}

impl Recovered {
    /// Step 3: starts the REST workers, the front, the publisher, the pinned core, the snapshot thread
    /// and the feed, in that order (each consumer before its producer).
    pub fn start_io(self) -> anyhow::Result<Server> {
        let Recovered { built: b, start_index, deferred_recovery } = self;
        let cfg = &b.cfg;
        let mut server = Server {
            addr: "0.0.0.0:0".parse().context("placeholder address")?,
            fed: b.fed.clone(),
            app: b.app.clone(),
            front: None,
            rest: None,
            feed: None,
            feed_stop: Arc::new(AtomicBool::new(false)),
            snapshots: None,
            snapshots_stop: Arc::new(AtomicBool::new(false)),
            storage_watch: None,
            recovery_wait: None,
            core: None,
            publisher: None,
            journal: b.journal,
            history: b.history.clone(),
            live: b.live.clone(),
            pricing: None,
            live_exec: None,
            session_api: b.session_api.clone(),
            snapshot_dir: crate::snapshots::dir(&cfg.data_dir),
            events_export: None,
        };
        // From here on, an error drops `server`, which stops and joins whatever was started.
        let rest = RestServer::start(b.app.clone(), "127.0.0.1:0", cfg.rest_threads).context("starting the REST workers")?;
        let rest_addr = rest.local_addr;
        server.rest = Some(rest);
        let listener = std::net::TcpListener::bind(&cfg.bind).with_context(|| format!("binding {}", cfg.bind))?;
        let journal_handle = server.journal.as_ref().map(|j| j.handle.clone());
        let status = crate::storage_watch::status_fn(b.session_api.clone(), journal_handle.clone(), b.live.clone());
        let (on_connect_read, status2, metrics2) = (b.read.clone(), status.clone(), b.metrics.clone());
        let live_view = b.live.clone().map(|l| l as Arc<dyn pinion_http::live_account::LiveAccount>);
        let live_for_frames = live_view.clone();
        let on_connect: Arc<dyn Fn() -> Vec<Frame> + Send + Sync> = Arc::new(move || {
            let s = on_connect_read.read();
            let mut metric = pinion_http::publisher::metric_data(&s);
            metric["latency"] = metrics2.latency().compact();
            [
                Frame::json(Topic::Status, &status2(&s)),
                Frame::json(Topic::Account, &pinion_http::publisher::account_data_with(&s, live_for_frames.as_deref())),
                Frame::json(Topic::Positions, &pinion_http::account::positions_json(&s)),
                Frame::json(Topic::Metric, &metric),
            ]
            .into_iter()
            .flatten()
            .collect()
        });
        let idle_timeout = Duration::from_secs_f64(cfg.idle_timeout_secs);
        let max_body_bytes = b.app.config.max_body_bytes;
        let front_cfg = FrontConfig {
            bearer_token: cfg.token.clone(),
            allowed_origins: cfg.origins()?,
            idle_timeout,
            max_body_bytes,
            telemetry: Some(b.metrics.telemetry().clone()),
            ..FrontConfig::default()
        };
        let front = start_front(listener, rest_addr, front_cfg, on_connect).context("starting the front")?;
        b.metrics.set_front(front.stats_source());
        let broadcaster = front.broadcaster.clone();
        server.addr = front.local_addr;
        server.front = Some(front);
        let _ = LOG_FRAMES.set((broadcaster.clone(), b.read.clone()));
        let _ = b.session_api.frames.set(broadcaster.clone());
        if let Some(live) = &server.live {
            let awaiting = b.engine.broker().awaiting().iter().map(|a| a.order.id).collect();
            let last_txn = b.engine.broker().last_venue_txn();
            server.live_exec = Some(crate::live_exec::LiveExec::start(
                live,
                Arc::downgrade(&b.app),
                b.table.clone(),
                awaiting,
                last_txn,
                b.metrics.telemetry().clone(),
            )?);
        }
        if let (Some(url), Some(j)) = (&cfg.events_to, server.journal.as_ref()) {
            server.events_export = Some(crate::event_export::start(url, cfg, &j.handle)?);
        }
        let forward = server.live_exec.as_ref().map(|x| x.forwarder());
        let hook = server.journal.as_ref().map(|j| crate::durable::event_hook(j.handle.clone(), forward));
        let (broadcaster_for_watch, status_for_watch) = (broadcaster.clone(), status.clone());
        let telemetry = b.metrics.telemetry().clone();
        let (sink, stamps) = StampedSink::new(b.sink, telemetry.clock());
        let publisher_cfg = PublisherConfig {
            probe: Some(PublisherProbe::new(b.metrics.clone(), Some(stamps))),
            live: live_view,
            // Account marks are journaled only to be exported.
            on_mark: server.journal.as_ref().filter(|_| cfg.events_to.is_some()).map(|j| crate::durable::mark_hook(j.handle.clone())),
            ..Default::default()
        };
        server.publisher = Some(pinion_http::publisher::start(b.events, b.read.clone(), Some(broadcaster), status, hook, publisher_cfg)?);

        let core_cfg = CoreConfig {
            pin_cpu: Some(b.core_cpu),
            account_every_ns: ACCOUNT_EVERY_NS,
            exit_when_feed_ends: false,
            idle: cfg.idle_policy,
            on_start: (cfg.idle_policy == pinion_core::idle::IdlePolicy::BusySpin).then_some(crate::affinity::raise_core_priority as fn()),
            // Nothing runs ahead of the journal: while it cannot write, the core takes no ticks.
            hold: journal_handle.as_ref().map(JournalHandle::fault_flag),
            ..CoreConfig::default()
        };
        if journal_handle.is_some() || b.live.is_some() {
            let (read, stop, live) = (b.read.clone(), server.snapshots_stop.clone(), b.live.clone());
            server.storage_watch =
                Some(crate::storage_watch::start(journal_handle.clone(), live, read, broadcaster_for_watch, status_for_watch, stop)?);
        }
        let (mut producer, consumer) = rtrb::RingBuffer::<Tick>::new(1 << 16);
        let mut engine = b.engine;
        engine.attach_telemetry(telemetry.clone());
        server.core = Some(spawn_core(engine, consumer, b.commands, sink, core_cfg)?);
        if let Some(j) = server.journal.as_ref().filter(|_| cfg.snapshot_every_secs > 0.0) {
            let every = Duration::from_secs_f64(cfg.snapshot_every_secs);
            let dir = crate::snapshots::dir(&cfg.data_dir);
            let stop = server.snapshots_stop.clone();
            server.snapshots =
                Some(crate::snapshots::start_periodic(dir, j.handle.clone(), b.app.clone(), b.session_api.clone(), every, stop)?);
        }
        if let Some(live) = &server.live {
            let instruments = live.stream_instruments(&b.table)?;
            // Each price is journaled before the engine sees it: recovery re-executes them.
            let record = server.journal.as_ref().map(|j| {
                let (handle, mut index) = (j.handle.clone(), start_index);
                Box::new(move |t: &Tick| {
                    if let Err(e) = handle.append_nowait(crate::live_ticks::TICK, crate::live_ticks::encode(index, t)) {
                        log::error!("journaling a live tick: {e}");
                    }
                    index += 1;
                }) as pinion_io::oanda::pricing::TickRecorder
            });
            let on_change = match &server.live_exec {
                Some(x) => x.feed_reporter(Arc::downgrade(&b.app)),
                None => Box::new(|_: &pinion_io::oanda::pricing::FeedChange| {}),
            };
            telemetry.set_broker_configured(true);
            let opts = pinion_io::oanda::pricing::PricingOptions { telemetry: Some(telemetry.clone()), ..Default::default() };
            let stream = pinion_io::oanda::pricing::start(live.cfg.clone(), instruments, opts, producer, on_change, record)?;
            live.set_feed(stream.state());
            live.start_poller()?;
            server.pricing = Some(stream);
            if !deferred_recovery.is_empty() {
                let (app, stop) = (b.app.clone(), server.snapshots_stop.clone());
                server.recovery_wait = Some(
                    std::thread::Builder::new()
                        .name("pinion-recovery-wait".into())
                        .spawn(move || crate::durable::apply_deferred_recovery(&app, deferred_recovery, Duration::from_secs(60), &stop))?,
                );
            }
            log::info!("started in {:.0} ms", b.started.elapsed().as_secs_f64() * 1e3);
            return Ok(server);
        }
        let (speed, end_index, stop, data) = (cfg.replay_speed, cfg.stop_after_ticks, server.feed_stop.clone(), b.data);
        server.feed = Some(std::thread::Builder::new().name("pinion-feed".into()).spawn(move || {
            let opts = ReplayOptions { pacing: Pacing::Speed(speed), looped: true, start_index, end_index };
            let stats = replay_observed(data.ticks(), &mut producer, &opts, &stop, Some(&telemetry));
            if !stop.load(Ordering::Acquire) {
                log::warn!("feed ended after {} ticks (from virtual index {start_index})", stats.pushed);
            }
        })?);
        log::info!("started in {:.0} ms", b.started.elapsed().as_secs_f64() * 1e3);
        Ok(server)
    }
}

impl Server {
    /// The WebSocket front: its broadcaster and counters (`pinion bench ws` sends timestamped frames
    /// through it and reads its slow-client and dropped-frame counts).
    pub fn front(&self) -> Option<&FrontHandle> {
        self.front.as_ref()
    }
}

/// Opens (and repairs a torn tail of) the journal and starts its group-commit thread.
fn open_journal(dir: &std::path::Path) -> anyhow::Result<OpenJournal> {
    let (journal, rec) = Journal::open(dir, Default::default()).with_context(|| format!("opening the journal in {}", dir.display()))?;
    if let Some((seg, off)) = &rec.torn_at {
        log::warn!(
            "journal: dropped a torn last record, {} bytes at byte offset {off} of segment {} (a write cut short by a crash; \
             it was never acknowledged, so nothing acknowledged was lost)",
            rec.truncated_bytes,
            seg.display()
        );
    }
    let first_seq = journal.first_seq();
    let (handle, thread) = journal.start();
    Ok(OpenJournal { handle, thread, first_seq })
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

mod stop;
#[cfg(test)]
mod tests;
