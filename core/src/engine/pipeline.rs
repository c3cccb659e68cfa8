//! The pinned core thread: pulls ticks from an `rtrb` ring in batches, applies commands from a lock-free
//! queue between batches, and hands the events of each batch to a sink. It never waits on a lock or on
//! another thread; when the ring is empty it spins, then yields, then naps briefly.

use super::Engine;
use crate::events::EngineEvent;
use crate::tick::Tick;
use crossbeam_channel::Receiver;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Work sent to the core thread: runs on it, between tick batches, with exclusive access to the engine.
pub type Command = Box<dyn FnOnce(&mut Engine) + Send>;

/// Receives the events of each batch, on the core thread. Implementations must not block.
pub trait EventSink: Send {
    fn publish(&mut self, events: &[EngineEvent]);
}

#[derive(Debug, Clone, Copy)]
pub struct CoreConfig {
    /// CPU to pin the core thread to (None: leave unpinned).
    pub pin_cpu: Option<usize>,
    /// Most ticks taken from the ring per batch.
    pub batch: usize,
    /// Publish account and book equity every this many ns of tick time (0: never).
    pub account_every_ns: i64,
    /// Stop once the feed is gone and the ring is drained (backtests); else run until `stop`.
    pub exit_when_feed_ends: bool,
    /// Longest nap when idle.
    pub max_idle_sleep: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            pin_cpu: None,
            batch: 1024,
            account_every_ns: 0,
            exit_when_feed_ends: true,
            max_idle_sleep: Duration::from_micros(200),
        }
    }
}

/// Counters of one core run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    pub ticks: u64,
    pub batches: u64,
    pub commands: u64,
    pub pinned: bool,
}

/// Pins the calling thread to `cpu` if it exists; returns whether it worked.
pub fn pin_current_thread(cpu: usize) -> bool {
    core_affinity::get_core_ids().and_then(|ids| ids.into_iter().find(|c| c.id == cpu)).is_some_and(core_affinity::set_for_current)
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
    let mut idle_rounds: u32 = 0;
    let mut last_account = i64::MIN;
    loop {
        let mut worked = false;
        while let Ok(cmd) = commands.try_recv() {
            cmd(engine);
            stats.commands += 1;
            worked = true;
        }
        let available = ticks.slots();
        if available > 0 {
            if let Ok(chunk) = ticks.read_chunk(available.min(cfg.batch)) {
                let (a, b) = chunk.as_slices();
                for t in a.iter().chain(b.iter()) {
                    engine.on_tick(t);
                    if cfg.account_every_ns > 0 && t.ts_ns.saturating_sub(last_account) >= cfg.account_every_ns {
                        last_account = t.ts_ns;
                        engine.publish_account();
                    }
                }
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
        if idle_rounds < 64 {
            std::hint::spin_loop();
        } else if idle_rounds < 256 {
            std::thread::yield_now();
        } else {
            let us = ((idle_rounds - 256) as u64 + 1).min(cfg.max_idle_sleep.as_micros() as u64);
            std::thread::sleep(Duration::from_micros(us));
        }
    }
    flush(engine, sink);
    stats
}

fn flush<S: EventSink>(engine: &mut Engine, sink: &mut S) {
    if !engine.events.is_empty() {
        engine.events.push(EngineEvent::Progress { ticks: engine.ticks_processed(), ts_ns: engine.now_ns() });
        sink.publish(&engine.events);
        engine.events_flushed += engine.events.len() as u64;
        engine.events.clear();
    }
}

/// A running core thread; `join` returns the engine and sink for inspection.
pub struct CoreHandle<S> {
    pub stop: Arc<AtomicBool>,
    handle: JoinHandle<(Engine, S, CoreStats)>,
}

impl<S> CoreHandle<S> {
    pub fn join(self) -> std::thread::Result<(Engine, S, CoreStats)> {
        self.handle.join()
    }
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
