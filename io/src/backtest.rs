//! Runs recorded ticks through the same pipeline the live server uses: a feed thread replays them into
//! an `rtrb` ring as fast as the core consumes them (never dropping), and the pinned core thread drives
//! the engine. Also the event sink that totals a backtest.

use crate::replay::{replay, Pacing, ReplayStats};
use pinion_core::engine::pipeline::{run_core, Command, CoreConfig, CoreStats, EventSink};
use pinion_core::engine::Engine;
use pinion_core::events::EngineEvent;
use pinion_core::fixed::Money;
use pinion_core::order::{Fill, OrderStatus};
use pinion_core::tick::Tick;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Ring capacity used between the feed and core threads.
pub const DEFAULT_RING_CAPACITY: usize = 1 << 16;

/// What one pipeline run did.
#[derive(Debug, Clone, Copy)]
pub struct PipelineRun {
    /// Counters of the core thread.
    pub core: CoreStats,
    /// Counters of the feed thread.
    pub replay: ReplayStats,
    /// Wall time from start until both threads finished.
    pub wall: Duration,
}

/// Replays `ticks` through feed thread -> ring -> core thread (pinned to `pin_cpu`) until all are processed.
pub fn run_recorded<S: EventSink>(
    engine: &mut Engine,
    ticks: &[Tick],
    sink: &mut S,
    ring_capacity: usize,
    pin_cpu: Option<usize>,
) -> PipelineRun {
    run_recorded_counted(engine, ticks, sink, ring_capacity, pin_cpu, &AtomicU64::new(0))
}

/// Ticks the feed hands over between updates of the `fed` counter of [`run_recorded_counted`].
const COUNT_EVERY: usize = 1 << 16;

/// [`run_recorded`], adding the ticks the feed has written into the ring to `fed` as it goes (what a
/// progress bar shows). The ticks, their order and the core's work are the same.
pub fn run_recorded_counted<S: EventSink>(
    engine: &mut Engine,
    ticks: &[Tick],
    sink: &mut S,
    ring_capacity: usize,
    pin_cpu: Option<usize>,
    fed: &AtomicU64,
) -> PipelineRun {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<Tick>::new(ring_capacity.max(2));
    let (_commands_tx, commands_rx) = crossbeam_channel::bounded::<Command>(1);
    let stop = AtomicBool::new(false);
    let cfg = CoreConfig { pin_cpu, exit_when_feed_ends: true, ..CoreConfig::default() };
    let started = Instant::now();
    let (core, replay_stats) = std::thread::scope(|s| {
        let feed = std::thread::Builder::new()
            .name("pinion-feed".into())
            .spawn_scoped(s, || {
                let mut stats = ReplayStats::default();
                for chunk in ticks.chunks(COUNT_EVERY) {
                    let part = replay(chunk, &mut producer, Pacing::AsFastAsPossible, &stop);
                    stats.pushed += part.pushed;
                    stats.waits += part.waits;
                    stats.drops += part.drops;
                    fed.fetch_add(part.pushed, Ordering::Relaxed);
                    if part.pushed < chunk.len() as u64 {
                        break;
                    }
                }
                drop(producer);
                stats
            })
            .expect("spawning the feed thread");
        let core = run_core(engine, &mut consumer, &commands_rx, sink, &cfg, &stop);
        (core, feed.join().unwrap_or_default())
    });
    PipelineRun { core, replay: replay_stats, wall: started.elapsed() }
}

/// Totals of a backtest, optionally keeping every fill.
#[derive(Debug, Clone, Default)]
pub struct SummarySink {
    /// Orders counted: every PENDING or REJECTED order and every FILLED market order (a triggered stop-loss or take-profit is counted once, when attached).
    pub orders: u64,
    /// Orders rejected.
    pub rejected: u64,
    /// Fill legs.
    pub fills: u64,
    /// Round trips closed.
    pub closed_trades: u64,
    /// Commission of every fill, USD cents.
    pub commission: Money,
    /// Realized P&L of every fill, USD cents, before commission.
    pub realized_pnl: Money,
    /// Every fill, when `keep_fills` was asked for.
    pub fill_log: Option<Vec<Fill>>,
}

impl SummarySink {
    /// An empty summary; with `keep_fills` it also logs every fill (room for 65536 reserved).
    pub fn new(keep_fills: bool) -> SummarySink {
        SummarySink { fill_log: keep_fills.then(|| Vec::with_capacity(1 << 16)), ..Default::default() }
    }
}

impl EventSink for SummarySink {
    fn publish(&mut self, events: &[EngineEvent]) {
        for e in events {
            match e {
                EngineEvent::Order { status, .. } => match status {
                    OrderStatus::Filled if !is_protective_fill(e) => self.orders += 1,
                    OrderStatus::Pending => self.orders += 1,
                    OrderStatus::Rejected => {
                        self.orders += 1;
                        self.rejected += 1;
                    }
                    _ => {}
                },
                EngineEvent::Fill(f) => {
                    self.fills += 1;
                    self.commission += f.commission;
                    self.realized_pnl += f.realized_pnl;
                    if let Some(log) = &mut self.fill_log {
                        log.push(*f);
                    }
                }
                EngineEvent::Trade(_) => self.closed_trades += 1,
                _ => {}
            }
        }
    }
}

/// A resting stop-loss/take-profit that filled was already counted when it was placed (PENDING).
fn is_protective_fill(e: &EngineEvent) -> bool {
    matches!(e, EngineEvent::Order { order, .. } if order.order_type != pinion_core::order::OrderType::Market)
}
