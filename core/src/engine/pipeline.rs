//! The pinned core thread: pulls ticks from an `rtrb` ring in batches, runs commands from a lock-free
//! queue between batches, and hands the events of each batch to a sink. It never waits on a lock or on
//! another thread, with one deliberate exception: a state change is written ahead, so between preparing
//! a change and applying it (the proposer journals it meanwhile) the core processes no tick, which is
//! what lets a restart re-apply the change at exactly the same tick position. When the ring is empty it
//! idles by its [`IdlePolicy`]: spins, then yields, then naps briefly (`backoff`, the default), or
//! spins (`busy_spin`), or yields (`yielding`).

use super::{ChangeResources, Engine};
use crate::change::{Change, ChangeError};
use crate::events::EngineEvent;
use crate::idle::IdlePolicy;
use crate::order::BookId;
use crate::tick::Tick;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Work sent to the core thread, run between tick batches.
pub enum Command {
    /// A query (or a snapshot's save) with exclusive access to the engine. Never a state change: those
    /// are [`Command::Change`], so that each is journaled before it applies.
    Call(Box<dyn FnOnce(&mut Engine) + Send>),
    /// A state change, written ahead (see [`Proposal`]).
    Change(Box<Proposal>),
}

impl Command {
    /// A [`Command::Call`].
    pub fn call(f: impl FnOnce(&mut Engine) + Send + 'static) -> Command {
        Command::Call(Box::new(f))
    }
}

/// A state change proposed to the core. The core prepares it ([`Engine::prepare_change`]) and answers
/// on `prepared`; if prepared, it processes no tick until the proposer, having journaled the prepared
/// change, sends its decision (true: apply; false: the journal failed, drop it), then applies it and
/// answers on `applied`. A proposer that goes away without a decision counts as false.
pub struct Proposal {
    /// The change as the proposer validated it.
    pub change: Change,
    /// What applying it needs (a session's model).
    pub resources: ChangeResources,
    /// The prepared change, where it applies, or why the core refuses it.
    pub prepared: Sender<Result<Prepared, ChangeError>>,
    /// The proposer's decision once the journal has answered.
    pub decision: Receiver<bool>,
    /// The outcome of applying it.
    pub applied: Sender<Result<AppliedChange, ChangeError>>,
}

/// A change the core has prepared: what is journaled.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The completed change.
    pub change: Change,
    /// Ticks processed when it applies (a restart re-applies it after that many ticks).
    pub tick_pos: u64,
    /// Its number among the state changes (see [`Engine::note_command`]).
    pub cmd: u64,
}

/// What the core reports after applying a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedChange {
    /// The engine's event sequence after it: the read model has seen the change once it reaches this.
    pub event_seq: u64,
    /// The model session's book, if a session ever started.
    pub session_book: Option<BookId>,
    /// The feed clock when it applied.
    pub now_ns: i64,
}

/// Runs one proposal on the core: prepare, hold ticks until the decision, apply.
fn run_proposal(engine: &mut Engine, p: Proposal, stop: &AtomicBool) {
    let change = match engine.prepare_change(p.change, &p.resources) {
        Ok(c) => c,
        Err(e) => {
            let _ = p.prepared.send(Err(e));
            return;
        }
    };
    let prepared = Prepared { change, tick_pos: engine.ticks_processed(), cmd: engine.commands_applied() + 1 };
    let change = prepared.change.clone();
    if p.prepared.send(Ok(prepared)).is_err() {
        return;
    }
    loop {
        match p.decision.recv_timeout(Duration::from_millis(20)) {
            Ok(true) => {
                let out = engine.apply_change(&change, p.resources);
                if out.is_ok() {
                    engine.note_command();
                }
                let _ = p.applied.send(out.map(|()| AppliedChange {
                    event_seq: engine.event_seq(),
                    session_book: engine.session_book(),
                    now_ns: engine.now_ns(),
                }));
                return;
            }
            Ok(false) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) if stop.load(Ordering::Acquire) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Receives the events of each batch, on the core thread. Implementations must not block.
pub trait EventSink: Send {
    /// Publishes one batch's events, in order; the slice is only valid during the call.
    fn publish(&mut self, events: &[EngineEvent]);
}

/// Settings of the core thread's loop.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// CPU to pin the core thread to (None: leave unpinned).
    pub pin_cpu: Option<usize>,
    /// Most ticks taken from the ring per batch.
    pub batch: usize,
    /// Publish account and book equity every this many ns of tick time (0: never).
    pub account_every_ns: i64,
    /// Stop once the feed is gone and the ring is drained (backtests); else run until `stop`.
    pub exit_when_feed_ends: bool,
    /// What the thread does when it has nothing to do (see [`IdlePolicy`]).
    pub idle: IdlePolicy,
    /// Longest nap when idle (`backoff`).
    pub max_idle_sleep: Duration,
    /// While set, the core takes no ticks (it still runs commands): nothing happens that could not be
    /// recorded, e.g. while the journal cannot write. The feed waits on the full tick ring meanwhile.
    pub hold: Option<Arc<AtomicBool>>,
    /// Run once on the core thread after pinning, before the loop (the server raises its scheduling
    /// priority there under `busy_spin`).
    pub on_start: Option<fn()>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            pin_cpu: None,
            batch: 1024,
            account_every_ns: 0,
            exit_when_feed_ends: true,
            idle: IdlePolicy::Backoff,
            max_idle_sleep: Duration::from_micros(200),
            hold: None,
            on_start: None,
        }
    }
}

/// Counters of one core run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Ticks processed.
    pub ticks: u64,
    /// Tick batches taken from the ring.
    pub batches: u64,
    /// Commands run between batches.
    pub commands: u64,
    /// Whether the thread was pinned to its CPU.
    pub pinned: bool,
}

/// Pins the calling thread to `cpu` if it exists; returns whether it worked. It does not ask
/// `core_affinity::get_core_ids`, which lists only the CPUs of the calling thread's current mask: the
/// server's core thread inherits a mask without its own CPU (the I/O threads are kept off it), and
/// must still move there.
pub fn pin_current_thread(cpu: usize) -> bool {
    // `CPU_SETSIZE` on Linux: a larger id would index past the affinity mask (a panic that aborts).
    const MAX_CPUS: usize = 1024;
    cpu < MAX_CPUS && core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
}

/// Runs the event loop on the calling thread until the feed ends (if configured) or `stop` is set.
pub fn run_core<S: EventSink>(
    engine: &mut Engine,
    ticks: &mut rtrb::Consumer<Tick>,
    commands: &Receiver<Command>,
    sink: &mut S,
    cfg: &CoreConfig,
    stop: &AtomicBool,
) -> CoreStats {
    let mut stats = CoreStats { pinned: cfg.pin_cpu.is_some_and(pin_current_thread), ..Default::default() };
    if let Some(f) = cfg.on_start {
        f();
    }
    let mut idle_rounds: u32 = 0;
    let mut last_account = i64::MIN;
    loop {
        let mut worked = false;
        while let Ok(cmd) = commands.try_recv() {
            match cmd {
                Command::Call(f) => f(engine),
                Command::Change(p) => run_proposal(engine, *p, stop),
            }
            stats.commands += 1;
            worked = true;
        }
        let held = cfg.hold.as_ref().is_some_and(|h| h.load(Ordering::Acquire));
        let available = if held { 0 } else { ticks.slots() };
        if available > 0 {
            if let Ok(chunk) = ticks.read_chunk(available.min(cfg.batch)) {
                let (a, b) = chunk.as_slices();
                feed_batch(engine, a, cfg, &mut last_account);
                feed_batch(engine, b, cfg, &mut last_account);
                stats.ticks += chunk.len() as u64;
                chunk.commit_all();
                stats.batches += 1;
                worked = true;
            }
        }
        flush(engine, sink);
        if worked {
            idle_rounds = 0;
            continue;
        }
        if stop.load(Ordering::Acquire) {
            break;
        }
        if cfg.exit_when_feed_ends && ticks.is_abandoned() && ticks.slots() == 0 {
            break;
        }
        idle_rounds = idle_rounds.saturating_add(1);
        cfg.idle.idle(idle_rounds, cfg.max_idle_sleep);
    }
    flush(engine, sink);
    stats
}

/// Feeds one batch of ticks to the engine (the core loop's inner step, shared by [`run_core`] and [`run_slice`]).
fn feed_batch(engine: &mut Engine, ticks: &[Tick], cfg: &CoreConfig, last_account: &mut i64) {
    for t in ticks {
        engine.on_tick(t);
        if cfg.account_every_ns > 0 && t.ts_ns.saturating_sub(*last_account) >= cfg.account_every_ns {
            *last_account = t.ts_ns;
            engine.publish_account();
        }
    }
}

/// Drives the engine on the calling thread straight over `ticks` (e.g. a memory-mapped tick file),
/// in batches of `cfg.batch` with the same per-batch step and event flush as [`run_core`], without a
/// feed thread or ring: what a sweep run uses. Pinning, idling, holds and commands do not apply.
pub fn run_slice<S: EventSink>(engine: &mut Engine, ticks: &[Tick], sink: &mut S, cfg: &CoreConfig) -> CoreStats {
    let mut stats = CoreStats::default();
    let mut last_account = i64::MIN;
    for batch in ticks.chunks(cfg.batch.max(1)) {
        feed_batch(engine, batch, cfg, &mut last_account);
        stats.ticks += batch.len() as u64;
        stats.batches += 1;
        flush(engine, sink);
    }
    flush(engine, sink);
    stats
}

fn flush<S: EventSink>(engine: &mut Engine, sink: &mut S) {
    engine.emit_venue_requests();
    if !engine.events.is_empty() {
        engine.events.push(EngineEvent::Progress { ticks: engine.ticks_processed(), ts_ns: engine.now_ns() });
        sink.publish(&engine.events);
        engine.events_flushed += engine.events.len() as u64;
        engine.events.clear();
    }
}

/// A running core thread; `join` returns the engine and sink for inspection.
pub struct CoreHandle<S> {
    /// Set to ask the core thread to finish (see [`request_stop`](Self::request_stop)).
    pub stop: Arc<AtomicBool>,
    handle: JoinHandle<(Engine, S, CoreStats)>,
}

impl<S> CoreHandle<S> {
    /// Waits for the core thread to end; returns the engine, the sink and the run's counters.
    pub fn join(self) -> std::thread::Result<(Engine, S, CoreStats)> {
        self.handle.join()
    }
    /// Asks the core thread to stop after its current batch (it does not wait).
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Starts the core thread (named `pinion-core`), moving the engine, ring consumer and sink into it.
pub fn spawn_core<S: EventSink + 'static>(
    mut engine: Engine,
    mut ticks: rtrb::Consumer<Tick>,
    commands: Receiver<Command>,
    mut sink: S,
    cfg: CoreConfig,
) -> std::io::Result<CoreHandle<S>> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = std::thread::Builder::new().name("pinion-core".into()).spawn(move || {
        let stats = run_core(&mut engine, &mut ticks, &commands, &mut sink, &cfg, &stop2);
        (engine, sink, stats)
    })?;
    Ok(CoreHandle { stop, handle })
}
