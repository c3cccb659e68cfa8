//! State snapshots of the server: the engine, the read model and the session settings at one moment,
//! written after each start-up, periodically while serving, and at a graceful shutdown. A restart loads
//! the newest usable one and re-executes only the feed and journal after it, so restart time does not
//! grow with history; the journal segments that the older kept snapshot covers are deleted.
//!
//! Consistency while serving: the snapshot thread notes the journal's last queued seq S, then has the
//! core (between tick batches) save the engine and emit a `Checkpoint` event; the publisher exports the
//! read model when it reaches that event, so both halves describe the same moment. The snapshot holds the
//! change lock while it notes S and the core saves, so every change journaled up to S has been applied
//! (changes are journaled, then applied, under that lock) and none after S has.

use crate::session_api::SessionApi;
use anyhow::{bail, Context};
use pinion_core::broker::PaperConfig;
use pinion_core::engine::pipeline::Command;
use pinion_core::engine::state::{EngineState, SnapshotError};
use pinion_core::engine::Engine;
use pinion_core::instrument::InstrumentTable;
use pinion_core::policy::Policy;
use pinion_http::app::App;
use pinion_io::journal::{snapshot, JournalHandle};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Version of the snapshot document; another version is not used (the journal is, if it still can be).
pub const SNAPSHOT_DOC_VERSION: u32 = 2;

/// How long a snapshot waits for the core, the publisher and the journal.
const WAIT: Duration = Duration::from_secs(10);

/// One snapshot file's content.
#[derive(Serialize, Deserialize)]
pub struct SnapshotDoc {
    pub version: u32,
    /// Every journal record up to this seq is reflected in the snapshot.
    pub journal_seq: u64,
    pub engine: EngineState,
    /// The read model's export (`ReadState::export_state`).
    pub read: Value,
    /// The session API's settings (`SessionApi::export_settings`).
    pub settings: Value,
    /// The dashboard's equity curve and audit trail (`Recent::export`); absent in older snapshots.
    #[serde(default)]
    pub dashboard: Value,
}

/// Where a restored snapshot left the server.
#[derive(Debug, Clone, Copy)]
pub struct Restored {
    pub journal_seq: u64,
    /// Ticks the engine had processed: re-execution continues from this virtual tick index.
    pub tick_pos: u64,
    /// Number of the last state change the engine holds.
    pub commands: u64,
}

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("snapshots")
}

/// Loads the session policy a snapshot names.
pub fn load_policy(source: &str) -> Result<Box<dyn Policy>, String> {
    pinion_models::TorchPolicy::load(source).map(|p| Box::new(p) as Box<dyn Policy>).map_err(|e| e.to_string())
}

/// Restores the newest usable snapshot in `dir` into a new engine, the read model and the session
/// settings. A snapshot that cannot be used (damaged, another version, a model file gone) is skipped
/// with a warning and the next older one is tried; None when there is none.
pub fn restore_newest(
    dir: &Path,
    table: &InstrumentTable,
    config: PaperConfig,
    app: &App,
    session: &SessionApi,
) -> anyhow::Result<Option<(Engine, Restored)>> {
    for seq in snapshot::seqs(dir).with_context(|| format!("listing snapshots in {}", dir.display()))? {
        let bytes = match snapshot::read(dir, seq).with_context(|| format!("reading snapshots in {}", dir.display()))? {
            Ok(b) => b,
            Err(why) => {
                log::warn!("ignoring snapshot at journal seq {seq} in {}: {why}", dir.display());
                continue;
            }
        };
        let doc: SnapshotDoc = match serde_json::from_slice(&bytes) {
            Ok(d) => d,
            Err(e) => {
                log::warn!("snapshot at journal seq {seq} is not a snapshot document this build reads: {e}");
                continue;
            }
        };
        if doc.version != SNAPSHOT_DOC_VERSION {
            log::warn!("snapshot at journal seq {seq}: document version {} (this build reads {SNAPSHOT_DOC_VERSION})", doc.version);
            continue;
        }
        if doc.journal_seq != seq {
            log::warn!("snapshot at journal seq {seq} says it covers journal seq {}: not used", doc.journal_seq);
            continue;
        }
        let restored = Restored { journal_seq: seq, tick_pos: doc.engine.ticks, commands: doc.engine.commands };
        let engine = match Engine::restore(table.clone(), config, doc.engine, &mut load_policy) {
            Ok(e) => e,
            Err(e) => {
                log::warn!("snapshot at journal seq {seq} not used: {e}");
                continue;
            }
        };
        if let Err(e) = app.read.import_state(&doc.read) {
            log::warn!("snapshot at journal seq {seq} not used: its read model does not load: {e}");
            continue;
        }
        if let Err(e) = session.import_settings(&doc.settings) {
            log::warn!("snapshot at journal seq {seq}: session settings not restored: {e}");
        }
        if !doc.dashboard.is_null() {
            if let Err(e) = app.read.recent.import(&doc.dashboard) {
                log::warn!("snapshot at journal seq {seq}: the dashboard's equity curve and audit trail not restored: {e}");
            }
        }
        return Ok(Some((engine, restored)));
    }
    Ok(None)
}

/// Writes `doc` once the journal is durable up to its seq, keeps the newest two snapshots, and deletes
/// the journal segments the older of them covers (so a damaged newest snapshot can still fall back).
fn write(dir: &Path, journal: &JournalHandle, doc: &SnapshotDoc) -> anyhow::Result<(PathBuf, usize)> {
    let bytes = serde_json::to_vec(doc).context("serializing the snapshot")?;
    if !journal.wait_durable(doc.journal_seq, WAIT) {
        bail!("the journal did not become durable up to seq {}", doc.journal_seq);
    }
    let path = snapshot::write(dir, doc.journal_seq, &bytes)?;
    snapshot::prune(dir, 2)?;
    if let Some(&older) = snapshot::seqs(dir)?.get(1) {
        journal.compact(older)?;
    }
    Ok((path, bytes.len()))
}

/// When a snapshot of a quiet engine (no core thread running) is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    /// After recovery, before the core thread starts.
    StartUp,
    /// After the core thread stopped and the publisher drained its last events (a graceful shutdown).
    /// A progress marker at the engine's tick position is journaled first and covered by the snapshot,
    /// so a restart from it replays no journal record, and one without it re-executes as far.
    Shutdown,
}

/// Snapshots an engine that no thread is running, with the read model and the session settings (which
/// then describe the same moment). Returns the journal seq the snapshot covers; None when the engine
/// holds something that cannot be saved.
pub fn write_quiet(
    dir: &Path,
    journal: &JournalHandle,
    engine: &Engine,
    app: &App,
    session: &SessionApi,
    when: Quiet,
) -> anyhow::Result<Option<u64>> {
    let t0 = Instant::now();
    let out = write_quiet_timed(dir, journal, engine, app, session, when, t0);
    note(app, out.as_ref().map(Option::is_some), t0);
    out
}

/// Counts a snapshot attempt (taken, failed; nothing when there was nothing to save) for `/metrics`.
fn note<E>(app: &App, taken: Result<bool, E>, t0: Instant) {
    if let (Some(m), Ok(true) | Err(_)) = (&app.config.metrics, &taken) {
        m.snapshots.record(taken.is_ok(), t0.elapsed());
    }
}

fn write_quiet_timed(
    dir: &Path,
    journal: &JournalHandle,
    engine: &Engine,
    app: &App,
    session: &SessionApi,
    when: Quiet,
    t0: Instant,
) -> anyhow::Result<Option<u64>> {
    let engine_state = match engine.save_state() {
        Ok(s) => s,
        Err(SnapshotError::NotSaveable(why)) => {
            log::warn!("no snapshot written: {why}");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    if when == Quiet::Shutdown {
        crate::durable::mark_progress(journal, engine_state.ticks, engine_state.now_ns)?;
    }
    let doc = SnapshotDoc {
        version: SNAPSHOT_DOC_VERSION,
        journal_seq: journal.last_queued_seq(),
        engine: engine_state,
        read: app.read.read().export_state(),
        settings: session.export_settings(),
        dashboard: app.read.recent.export(),
    };
    let (path, len) = write(dir, journal, &doc)?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    log::info!(bytes = len as u64, ms = ms; "snapshot {} ({len} bytes) written in {ms:.1} ms", path.display());
    Ok(Some(doc.journal_seq))
}

/// Takes a snapshot of the running server (see the module comment). None when the engine holds
/// something that cannot be saved; else the file, its size and how long the core thread spent saving the
/// engine (the only part that runs on it).
pub fn take_running(
    dir: &Path,
    journal: &JournalHandle,
    app: &App,
    session: &SessionApi,
    id: u64,
) -> anyhow::Result<Option<(PathBuf, usize, Duration)>> {
    // No change may fall between its journaling and its application while the snapshot is captured.
    let serial = app.changes.lock().unwrap_or_else(|p| p.into_inner());
    let journal_seq = journal.last_queued_seq();
    let settings = session.export_settings();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let cmd = Command::call(move |e: &mut Engine| {
        let t0 = Instant::now();
        let saved = e.save_state();
        if saved.is_ok() {
            e.push_checkpoint(id);
        }
        let _ = tx.send((saved, t0.elapsed()));
    });
    app.commands.try_send(cmd).map_err(|_| anyhow::anyhow!("the engine command queue is full"))?;
    let (saved, core_time) = rx.recv_timeout(WAIT).context("the engine did not answer the snapshot request")?;
    drop(serial);
    let engine_state = match saved {
        Ok(s) => s,
        Err(SnapshotError::NotSaveable(why)) => {
            log::warn!("no snapshot taken: {why}");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let (ticks, read) = app.read.wait_checkpoint(id, WAIT).with_context(|| format!("the read model did not reach checkpoint {id}"))?;
    if ticks != engine_state.ticks {
        bail!("checkpoint {id} is at tick {ticks} on the read side but {} in the engine", engine_state.ticks);
    }
    // The journal's durable point must reach the snapshot's, or a restart without this snapshot would
    // recover (and apply recovery modes) at an earlier tick than a restart from it.
    crate::durable::mark_progress(journal, engine_state.ticks, engine_state.now_ns)?;
    let dashboard = app.read.recent.export();
    let doc = SnapshotDoc { version: SNAPSHOT_DOC_VERSION, journal_seq, engine: engine_state, read, settings, dashboard };
    write(dir, journal, &doc).map(|(path, len)| Some((path, len, core_time)))
}

/// Starts the thread that snapshots the running server every `every`, until `stop` is set (it checks
/// every 50 ms, so a stop never waits for a whole period).
pub fn start_periodic(
    dir: PathBuf,
    journal: JournalHandle,
    app: Arc<App>,
    session: Arc<SessionApi>,
    every: Duration,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    use std::sync::atomic::Ordering;
    std::thread::Builder::new().name("pinion-snapshot".into()).spawn(move || {
        for id in 1u64.. {
            let due = Instant::now() + every;
            while Instant::now() < due {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep((due - Instant::now()).min(Duration::from_millis(50)));
            }
            let t0 = Instant::now();
            let taken = take_running(&dir, &journal, &app, &session, id);
            note(&app, taken.as_ref().map(Option::is_some), t0);
            match taken {
                Ok(Some((path, len, core))) => {
                    let (ms, core_us) = (t0.elapsed().as_secs_f64() * 1e3, core.as_micros() as u64);
                    log::info!(
                        bytes = len as u64, ms = ms, core_us = core_us;
                        "snapshot {} ({len} bytes) taken in {ms:.1} ms (core thread: {core_us} us)",
                        path.display()
                    )
                }
                Ok(None) => {}
                Err(e) => log::error!("snapshot failed (the journal still holds everything): {e:#}"),
            }
        }
    })
}
