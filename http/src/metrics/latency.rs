//! The latest per-hop latency: p50 and p99 over the last [`WINDOW`] of each hop's histogram, for
//! `GET /api/latency` and the `metric` WebSocket frame. The reader keeps a snapshot of every hop's
//! counts about once a second (off the core: the histograms are only read) and reports the difference
//! between now and the snapshot a window ago, so a slow minute long past does not weigh on today's p99.

use pinion_core::telemetry::{HistSnapshot, Hop, Telemetry};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How far back the "latest" percentiles reach.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Least time between two kept snapshots.
const EVERY: Duration = Duration::from_secs(1);

/// One hop's latency.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct HopLatencyView {
    /// The hop (`tick_to_intent`, ...), as in the `hop` label of `pinion_hop_latency_seconds`.
    pub hop: String,
    /// What it spans and which thread records it.
    pub description: String,
    /// Samples since the server started.
    pub count: u64,
    /// Samples within the window.
    pub window_count: u64,
    /// Median over the window, ns (null without samples). Values are exact to 1/16 (6.25%).
    pub p50_ns: Option<u64>,
    /// 99th percentile over the window, ns (null without samples).
    pub p99_ns: Option<u64>,
    /// Largest sample since the server started, ns (null without samples).
    pub max_ns: Option<u64>,
}

/// `GET /api/latency`: the latest per-hop latency of the live tick path.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct LatencyView {
    /// Seconds the window actually covers (up to 10; less just after start).
    pub window_secs: f64,
    /// The core thread's idle policy (`busy_spin`, `backoff` or `yielding`).
    pub idle_policy: String,
    /// Every hop, in the order a tick lives them.
    pub hops: Vec<HopLatencyView>,
}

impl LatencyView {
    /// The compact form the `metric` frame carries: `{hop: {p50_ns, p99_ns, count}}` over the window.
    pub fn compact(&self) -> Value {
        let mut m = Map::new();
        for h in &self.hops {
            m.insert(h.hop.clone(), json!({ "p50_ns": h.p50_ns, "p99_ns": h.p99_ns, "count": h.window_count }));
        }
        Value::Object(m)
    }
}

/// Snapshots of every hop, one kept per second over the window.
#[derive(Debug)]
pub struct LatencyWindow {
    history: Mutex<VecDeque<(Instant, Vec<HistSnapshot>)>>,
}

impl Default for LatencyWindow {
    fn default() -> Self {
        LatencyWindow::new()
    }
}

impl LatencyWindow {
    /// Starts with an empty baseline now (the first window covers everything since).
    pub fn new() -> LatencyWindow {
        let zero = Hop::ALL.iter().map(|_| HistSnapshot::default()).collect();
        LatencyWindow { history: Mutex::new(VecDeque::from([(Instant::now(), zero)])) }
    }

    /// The view now.
    pub fn view(&self, telemetry: &Telemetry, idle_policy: &str) -> LatencyView {
        let now = Instant::now();
        let current: Vec<HistSnapshot> = Hop::ALL.iter().map(|h| telemetry.hop(*h).snapshot()).collect();
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        // The baseline is the newest snapshot at least a window old (or the oldest there is).
        while history.len() > 1 && history.get(1).is_some_and(|(t, _)| now.duration_since(*t) >= WINDOW) {
            history.pop_front();
        }
        let (since, base) = match history.front() {
            Some((t, b)) => (*t, b.clone()),
            None => (now, current.clone()),
        };
        if history.back().is_none_or(|(t, _)| now.duration_since(*t) >= EVERY) {
            history.push_back((now, current.clone()));
        }
        drop(history);
        let hops = Hop::ALL
            .iter()
            .zip(current.iter().zip(&base))
            .map(|(hop, (total, base))| {
                let window = total.since(base);
                HopLatencyView {
                    hop: hop.name().into(),
                    description: hop.describe().into(),
                    count: total.count(),
                    window_count: window.count(),
                    p50_ns: window.quantile(0.5),
                    p99_ns: window.quantile(0.99),
                    max_ns: (total.count() > 0).then_some(total.max_ns),
                }
            })
            .collect();
        let window_secs = (now.duration_since(since).as_secs_f64() * 1000.0).round() / 1000.0;
        LatencyView { window_secs, idle_policy: idle_policy.into(), hops }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_covers_the_window_and_compacts() {
        let t = Telemetry::new(1);
        let w = LatencyWindow::new();
        for v in [100, 200, 300, 400, 10_000] {
            t.record(Hop::TickToIntent, v);
        }
        let v = w.view(&t, "busy_spin");
        assert_eq!(v.hops.len(), 7);
        let h = &v.hops[2];
        assert_eq!((h.hop.as_str(), h.count, h.window_count), ("tick_to_intent", 5, 5));
        assert_eq!(h.p50_ns, Some(303));
        assert_eq!(h.p99_ns, Some(10_239));
        assert_eq!(h.max_ns, Some(10_000));
        assert_eq!(v.hops[0].p50_ns, None);
        let c = v.compact();
        assert_eq!(c["tick_to_intent"]["count"], 5);
        assert_eq!(c["feed_to_ring"]["p99_ns"], Value::Null);
        assert_eq!(v.idle_policy, "busy_spin");
    }
}
