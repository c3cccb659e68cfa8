//! Times the tick path on the core: tick -> order-intent samples into a preallocated buffer (the
//! benchmarks' exact percentiles), and, with [`Telemetry`] attached (the live server), the core's hops
//! (`ring_to_tick`, `tick_to_intent`, `intent_to_order`, `order_to_report`) and per-instrument tick
//! counts into its histograms. Timestamps come from the TSC ([`CheapClock`]); nothing here allocates,
//! locks or makes a system call once created.

use super::Engine;
use crate::telemetry::{CheapClock, Hop, Telemetry};
use crate::tick::Tick;
use std::sync::Arc;
use std::time::Duration;

/// Tick -> order-intent latencies in a buffer preallocated at creation; recording never allocates. Samples beyond the capacity are counted as dropped, not stored.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    samples_ns: Vec<u64>,
    dropped: u64,
    clock: CheapClock,
    telemetry: Option<Arc<Telemetry>>,
    /// When this tick's last order was sent, until its report is applied.
    sent_at: Option<u64>,
}

/// Percentiles of a set of samples, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Percentiles {
    /// Number of samples.
    pub count: usize,
    /// Median, ns.
    pub p50: u64,
    /// 90th percentile, ns.
    pub p90: u64,
    /// 99th percentile, ns.
    pub p99: u64,
    /// 99.9th percentile, ns.
    pub p999: u64,
    /// Largest sample, ns.
    pub max: u64,
}

impl LatencyRecorder {
    /// A recorder with room for `capacity` samples.
    pub fn with_capacity(capacity: usize) -> LatencyRecorder {
        LatencyRecorder {
            samples_ns: Vec::with_capacity(capacity),
            dropped: 0,
            clock: CheapClock::global().clone(),
            telemetry: None,
            sent_at: None,
        }
    }

    /// The same, also recording the core's hops into `telemetry`.
    pub fn with_telemetry(mut self, telemetry: Option<Arc<Telemetry>>) -> LatencyRecorder {
        self.telemetry = telemetry;
        self
    }

    /// The telemetry the core's hops go to, if attached.
    pub fn telemetry(&self) -> Option<&Arc<Telemetry>> {
        self.telemetry.as_ref()
    }

    /// `on_tick` starts: counts the tick and records `ring_to_tick` (which so includes bringing the
    /// tick's cache line over from the feed's core), then returns the clock: the bookkeeping is not
    /// part of `tick_to_intent`.
    #[inline]
    pub(super) fn tick_started(&mut self, tick: &Tick) -> u64 {
        if let Some(t) = &self.telemetry {
            t.core_tick(tick, self.clock.now_ns());
        }
        self.clock.now_ns()
    }

    /// A book's intents exist (the tick started at `t0`): records a sample and `tick_to_intent`;
    /// returns the time after that bookkeeping, for [`sent`](Self::sent).
    #[inline]
    pub(super) fn intent(&mut self, t0: u64) -> u64 {
        let d = self.clock.since(t0);
        self.record(Duration::from_nanos(d));
        if let Some(t) = &self.telemetry {
            t.record(Hop::TickToIntent, d);
        }
        self.clock.now_ns()
    }

    /// The intents of `intent_at` were executed; `sent` says whether that sent an order (events were
    /// emitted): records `intent_to_order` and starts `order_to_report`.
    #[inline]
    pub(super) fn sent(&mut self, intent_at: u64, sent: bool) {
        if let (true, Some(t)) = (sent, &self.telemetry) {
            let now = self.clock.now_ns();
            t.record(Hop::IntentToOrder, now.saturating_sub(intent_at));
            self.sent_at = Some(now);
        }
    }

    /// The tick's reports were applied to the books: records `order_to_report` for its order, if any.
    #[inline]
    pub(super) fn applied(&mut self) {
        if let (Some(at), Some(t)) = (self.sent_at.take(), &self.telemetry) {
            t.record(Hop::OrderToReport, self.clock.since(at));
        }
    }

    /// Stores a sample; once full, further samples are counted but not stored (never reallocates).
    #[inline]
    pub fn record(&mut self, d: Duration) {
        if self.samples_ns.len() < self.samples_ns.capacity() {
            self.samples_ns.push(d.as_nanos() as u64);
        } else {
            self.dropped += 1;
        }
    }

    /// Forgets every sample and the dropped count (keeps the buffer).
    pub fn clear(&mut self) {
        self.samples_ns.clear();
        self.dropped = 0;
    }

    /// Number of samples stored.
    pub fn len(&self) -> usize {
        self.samples_ns.len()
    }

    /// Whether no sample is stored.
    pub fn is_empty(&self) -> bool {
        self.samples_ns.is_empty()
    }

    /// The stored samples in nanoseconds, in recording order.
    pub fn samples(&self) -> &[u64] {
        &self.samples_ns
    }

    /// Nearest-rank percentiles of the stored samples (ns).
    pub fn percentiles(&self) -> Percentiles {
        percentiles(&self.samples_ns)
    }
}

impl Engine {
    /// Records the core's hops and tick counts into `telemetry` from now on (the live server; a
    /// latency recorder with no sample buffer is created if none is on). Call it before the core runs.
    pub fn attach_telemetry(&mut self, telemetry: Arc<Telemetry>) {
        let rec = self.latency.take().unwrap_or_else(|| LatencyRecorder::with_capacity(0));
        self.latency = Some(rec.with_telemetry(Some(telemetry)));
    }
}

/// Nearest-rank percentiles of `samples` (copied and sorted).
pub fn percentiles(samples: &[u64]) -> Percentiles {
    if samples.is_empty() {
        return Percentiles::default();
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let at = |p: f64| s[((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
    Percentiles { count: s.len(), p50: at(0.50), p90: at(0.90), p99: at(0.99), p999: at(0.999), max: s[s.len() - 1] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        let p = percentiles(&v);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50, 90, 99, 100));
    }
}
