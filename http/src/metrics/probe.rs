//! What the publisher thread records for the metrics: the event ring's fill level, each batch's
//! `event_to_journal` hop (from the core's flush stamps to the journal's fsync), which flush each
//! event came from (the origin its WebSocket frame carries, for `event_to_ws`), the order, fill and
//! refusal counts, and the latency summary the `metric` frame carries.

use super::Metrics;
use pinion_core::events::EngineEvent;
use pinion_core::telemetry::{Hop, Ring, StampReader};
use serde_json::Value;
use std::sync::Arc;

/// The publisher's side of the metrics (see the module comment).
pub struct PublisherProbe {
    metrics: Arc<Metrics>,
    stamps: Option<StampReader>,
}

impl PublisherProbe {
    /// Records into `metrics`; `stamps` follows the core's flushes (None: no event hops).
    pub fn new(metrics: Arc<Metrics>, stamps: Option<StampReader>) -> PublisherProbe {
        PublisherProbe { metrics, stamps }
    }

    /// The event ring holds `fill` of `capacity` events.
    pub fn ring(&self, fill: usize, capacity: usize) {
        self.metrics.telemetry().set_ring(Ring::Events, fill, capacity);
    }

    /// The next `len` events are about to be journaled and applied.
    pub fn begin(&mut self, len: usize) {
        if let Some(s) = self.stamps.as_mut() {
            s.begin(len);
        }
    }

    /// The batch is durable: records `event_to_journal` for each of its flushes.
    pub fn journaled(&self) {
        if let Some(s) = &self.stamps {
            let t = self.metrics.telemetry();
            let now = t.clock().now_ns();
            for st in s.stamps() {
                t.record(Hop::EventToJournal, now.saturating_sub(st.at_ns));
            }
        }
    }

    /// When the `i`th event of the batch left the core (0: unknown); call with increasing `i`.
    pub fn origin(&mut self, i: usize) -> u64 {
        self.stamps.as_mut().and_then(|s| s.origin(i)).unwrap_or(0)
    }

    /// The batch was applied: counts its orders, refusals, fills and trades.
    pub fn applied(&self, batch: &[EngineEvent]) {
        self.metrics.events.observe(batch);
    }

    /// Adds the latest per-hop p50/p99 to a `metric` frame's data.
    pub fn metric_frame(&self, data: &mut Value) {
        data["latency"] = self.metrics.latency().compact();
    }
}
