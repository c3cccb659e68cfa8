//! Live latency and counters of the tick path, recorded where they happen and read by an I/O thread
//! that exports them (Prometheus `/metrics`, `GET /api/latency`, the `metric` WebSocket frame).
//!
//! Everything the core thread records goes into preallocated atomics: a [`Histogram`] per hop and a
//! counter per instrument, each with exactly one writing thread, written with relaxed loads and stores
//! (no locked instruction, no allocation, no lock, no system call). Timestamps come from
//! [`CheapClock`] (the TSC). The hops of a tick's life, in order, and the thread that records each:
//!
//! | hop | from | to | recorded on |
//! |---|---|---|---|
//! | `feed_to_ring` | the feed has the tick (a live quote read, a replayed tick due) | it is in the tick ring | feed thread |
//! | `ring_to_tick` | it is in the ring (the feed's stamp in `Tick::reserved`) | `Engine::on_tick` starts | core |
//! | `tick_to_intent` | `on_tick` starts | the strategy's intents exist | core |
//! | `intent_to_order` | the intents exist | the order is sent (paper fill done, live request queued) | core |
//! | `order_to_report` | the order is sent | its report (fill or refusal) is applied to the book | core |
//! | `event_to_journal` | the core flushed the event to the event ring | the journal's fsync covers it | publisher |
//! | `event_to_ws` | the core flushed the event | its WebSocket frame is written to the clients' sockets | front |

mod clock;
mod histogram;
mod stamps;

pub use clock::{since_stamp32, stamp32, CheapClock};
pub use histogram::{bucket_of, bucket_range, highest_equivalent, HistSnapshot, Histogram, BUCKETS, MAX_VALUE};
pub use stamps::{FlushStamp, StampReader, StampedSink, STAMP_CAPACITY};

use crate::tick::Tick;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One hop of a tick's life (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hop {
    /// The feed has the tick -> it is in the tick ring (feed thread).
    FeedToRing,
    /// In the ring -> `Engine::on_tick` starts (core).
    RingToTick,
    /// `on_tick` starts -> the strategy's intents exist (core).
    TickToIntent,
    /// Intents exist -> the order is sent: paper fill done, or live request queued (core).
    IntentToOrder,
    /// Order sent -> its report applied to the book (core; a live broker records its own).
    OrderToReport,
    /// Event flushed by the core -> durable in the journal (publisher).
    EventToJournal,
    /// Event flushed by the core -> its WebSocket frame written to the clients (front).
    EventToWs,
}

/// Number of hops.
pub const HOPS: usize = 7;

impl Hop {
    /// Every hop, in the order a tick lives them.
    pub const ALL: [Hop; HOPS] =
        [Hop::FeedToRing, Hop::RingToTick, Hop::TickToIntent, Hop::IntentToOrder, Hop::OrderToReport, Hop::EventToJournal, Hop::EventToWs];

    /// The label value (`hop="tick_to_intent"`).
    pub fn name(self) -> &'static str {
        match self {
            Hop::FeedToRing => "feed_to_ring",
            Hop::RingToTick => "ring_to_tick",
            Hop::TickToIntent => "tick_to_intent",
            Hop::IntentToOrder => "intent_to_order",
            Hop::OrderToReport => "order_to_report",
            Hop::EventToJournal => "event_to_journal",
            Hop::EventToWs => "event_to_ws",
        }
    }

    /// What the hop spans, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Hop::FeedToRing => "feed receive -> tick ring (feed thread)",
            Hop::RingToTick => "tick ring -> on_tick start (core)",
            Hop::TickToIntent => "on_tick start -> strategy intent (core)",
            Hop::IntentToOrder => "intent -> order sent: paper fill or live request written (core)",
            Hop::OrderToReport => "order sent -> report applied to the book (core)",
            Hop::EventToJournal => "event flushed by the core -> journaled, fsync done (publisher)",
            Hop::EventToWs => "event flushed by the core -> WebSocket frame written (front)",
        }
    }
}

/// A ring whose fill level is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ring {
    /// Feed -> core ticks.
    Ticks,
    /// Core -> publisher events.
    Events,
    /// Core -> live broker orders (only when a live broker publishes it).
    Orders,
}

impl Ring {
    /// Every ring.
    pub const ALL: [Ring; 3] = [Ring::Ticks, Ring::Events, Ring::Orders];

    /// The label value (`ring="ticks"`).
    pub fn name(self) -> &'static str {
        match self {
            Ring::Ticks => "ticks",
            Ring::Events => "events",
            Ring::Orders => "orders",
        }
    }
}

#[derive(Debug, Default)]
struct RingGauge {
    fill: AtomicU64,
    capacity: AtomicU64,
}

/// A value on cache lines of its own (128 bytes: a line and its adjacent-line prefetch partner): what
/// one thread writes never shares a line with what another writes (no false sharing between the feed,
/// the core, the publisher and the front).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Own<T>(T);

impl<T> std::ops::Deref for Own<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The live telemetry of one server: hop histograms, per-instrument tick counters, the feed's state,
/// ring fill levels and the live broker's round trip. Shared (`Arc`) by the threads that record into it
/// and the one that exports it; each field documents its writer, and what different threads write
/// lies on different cache lines.
#[derive(Debug)]
pub struct Telemetry {
    clock: Own<CheapClock>,
    hops: [Own<Histogram>; HOPS],
    /// Ticks processed per instrument id (core).
    ticks: Box<[Own<AtomicU64>]>,
    /// Ticks received per instrument id (feed).
    feed_ticks: Own<Box<[AtomicU64]>>,
    /// Clock ns of the last tick received per instrument id, 0 = none yet (feed).
    feed_last: Box<[AtomicU64]>,
    feed_connected: AtomicBool,
    feed_dropped: AtomicU64,
    rings: [Own<RingGauge>; 3],
    /// Live broker request -> answer (the broker's threads).
    broker_rtt: Own<Histogram>,
    broker_configured: AtomicBool,
}

impl Telemetry {
    /// Telemetry for instrument ids `0..instruments` (allocates everything now; recording never does).
    pub fn new(instruments: usize) -> Telemetry {
        let zeros = || (0..instruments).map(|_| AtomicU64::new(0)).collect::<Box<[AtomicU64]>>();
        Telemetry {
            clock: Own(CheapClock::global().clone()),
            hops: std::array::from_fn(|_| Own(Histogram::new())),
            ticks: (0..instruments).map(|_| Own(AtomicU64::new(0))).collect(),
            feed_ticks: Own(zeros()),
            feed_last: zeros(),
            feed_connected: AtomicBool::new(false),
            feed_dropped: AtomicU64::new(0),
            rings: Default::default(),
            broker_rtt: Own(Histogram::new()),
            broker_configured: AtomicBool::new(false),
        }
    }

    /// The clock every timestamp of this telemetry comes from.
    pub fn clock(&self) -> &CheapClock {
        &self.clock
    }

    /// Number of instrument ids covered.
    pub fn instruments(&self) -> usize {
        self.ticks.len()
    }

    /// The histogram of `hop`.
    pub fn hop(&self, hop: Hop) -> &Histogram {
        &self.hops[hop as usize].0
    }

    /// Records `ns` for `hop`; only the hop's own thread may call it (see [`Hop`]).
    #[inline]
    pub fn record(&self, hop: Hop, ns: u64) {
        self.hops[hop as usize].record(ns);
    }

    /// The core starts a tick at `now_ns`: counts it for its instrument and records `ring_to_tick`
    /// from the feed's stamp. Core thread only.
    #[inline]
    pub fn core_tick(&self, tick: &Tick, now_ns: u64) {
        if let Some(c) = self.ticks.get(tick.instrument as usize) {
            c.0.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
        if let Some(d) = since_stamp32(tick.reserved, now_ns) {
            self.record(Hop::RingToTick, d);
        }
    }

    /// Ticks the core processed for instrument id `i`.
    pub fn ticks_processed(&self, i: usize) -> u64 {
        self.ticks.get(i).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// A feed received `tick` now: stamps it (`Tick::reserved`, for `ring_to_tick`), counts it and
    /// notes the time; returns the time, for [`feed_pushed`](Self::feed_pushed). Any feed thread.
    #[inline]
    pub fn feed_received(&self, tick: &mut Tick) -> u64 {
        let now = self.clock.now_ns();
        self.feed_received_at(tick, now);
        now
    }

    /// [`feed_received`](Self::feed_received) with the time already read (a batch received at once).
    #[inline]
    pub fn feed_received_at(&self, tick: &mut Tick, now_ns: u64) {
        tick.reserved = stamp32(now_ns);
        let i = tick.instrument as usize;
        if let (Some(n), Some(last)) = (self.feed_ticks.get(i), self.feed_last.get(i)) {
            n.fetch_add(1, Ordering::Relaxed);
            last.store(now_ns.max(1), Ordering::Relaxed);
        }
    }

    /// `n` ticks received at `received_ns` are now in the ring: records `feed_to_ring` for each.
    /// Any feed thread (atomic adds).
    pub fn feed_pushed(&self, received_ns: u64, n: u64) {
        let d = self.clock.since(received_ns);
        let h = self.hop(Hop::FeedToRing);
        for _ in 0..n {
            h.record_shared(d);
        }
    }

    /// Ticks received for instrument id `i`.
    pub fn feed_ticks(&self, i: usize) -> u64 {
        self.feed_ticks.get(i).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Nanoseconds since the last tick of instrument id `i` arrived; None before the first.
    pub fn feed_last_age_ns(&self, i: usize) -> Option<u64> {
        let last = self.feed_last.get(i)?.load(Ordering::Relaxed);
        (last > 0).then(|| self.clock.since(last))
    }

    /// Sets whether the feed is connected (a replay: while it runs).
    pub fn set_feed_connected(&self, connected: bool) {
        self.feed_connected.store(connected, Ordering::Relaxed);
    }

    /// Whether the feed is connected.
    pub fn feed_connected(&self) -> bool {
        self.feed_connected.load(Ordering::Relaxed)
    }

    /// Counts ticks a live feed dropped because the ring was full.
    pub fn count_feed_drops(&self, n: u64) {
        self.feed_dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Ticks dropped by the feed so far.
    pub fn feed_dropped(&self) -> u64 {
        self.feed_dropped.load(Ordering::Relaxed)
    }

    /// Publishes a ring's fill level (items waiting) and capacity. The ring's one producer or consumer.
    pub fn set_ring(&self, ring: Ring, fill: usize, capacity: usize) {
        let g = &self.rings[ring as usize];
        g.fill.store(fill as u64, Ordering::Relaxed);
        g.capacity.store(capacity as u64, Ordering::Relaxed);
    }

    /// A ring's last published (fill, capacity); capacity 0 = never published.
    pub fn ring(&self, ring: Ring) -> (u64, u64) {
        let g = &self.rings[ring as usize];
        (g.fill.load(Ordering::Relaxed), g.capacity.load(Ordering::Relaxed))
    }

    /// The live broker's request -> answer round trip (record with [`Histogram::record_shared`]).
    pub fn broker_rtt(&self) -> &Histogram {
        &self.broker_rtt.0
    }

    /// Marks that a live broker is configured (its round trip is exported from then on).
    pub fn set_broker_configured(&self, configured: bool) {
        self.broker_configured.store(configured, Ordering::Relaxed);
    }

    /// Whether a live broker is configured.
    pub fn broker_configured(&self) -> bool {
        self.broker_configured.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::{Price, Quantity};
    use crate::instrument::InstrumentId;

    #[test]
    fn a_tick_is_stamped_by_the_feed_and_timed_by_the_core() {
        let t = Telemetry::new(2);
        let mut tick = Tick::quote(1, InstrumentId(1), Price(10), Price(11), Quantity(1), Quantity(1));
        let at = t.feed_received(&mut tick);
        assert_ne!(tick.reserved, 0);
        t.feed_pushed(at, 1);
        t.core_tick(&tick, t.clock().now_ns());
        assert_eq!((t.feed_ticks(1), t.ticks_processed(1), t.ticks_processed(0)), (1, 1, 0));
        assert_eq!(t.hop(Hop::FeedToRing).snapshot().count(), 1);
        assert_eq!(t.hop(Hop::RingToTick).snapshot().count(), 1);
        assert!(t.feed_last_age_ns(1).is_some() && t.feed_last_age_ns(0).is_none());
        // An unstamped tick (from a recorded file) counts but is not timed; an unknown instrument neither.
        t.core_tick(&Tick::default(), t.clock().now_ns());
        t.core_tick(&Tick { instrument: 9, ..Tick::default() }, 0);
        assert_eq!(t.hop(Hop::RingToTick).snapshot().count(), 1);
        assert_eq!(t.ticks_processed(0), 1);
        t.set_ring(Ring::Ticks, 3, 8);
        assert_eq!(t.ring(Ring::Ticks), (3, 8));
        assert_eq!(t.ring(Ring::Orders), (0, 0));
        assert_eq!(Hop::ALL.iter().map(|h| *h as usize).collect::<Vec<_>>(), (0..HOPS).collect::<Vec<_>>());
    }
}
