//! Counters kept off the core thread: HTTP requests by route template, method and status with their
//! latency (REST workers), orders by status, refusals by reason, fills and closed trades (the
//! publisher, from the event batches it applies), and snapshots with their duration.

use pinion_core::events::EngineEvent;
use pinion_core::order::OrderStatus;
use pinion_core::telemetry::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The label value of a serde unit variant, lower case (`FILLED` -> `filled`).
pub(crate) fn label_of<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s.to_ascii_lowercase(),
        _ => "unknown".into(),
    }
}

#[derive(Debug, Default)]
struct RouteEntry {
    statuses: BTreeMap<u16, u64>,
    latency: Arc<Histogram>,
}

/// HTTP requests answered by the REST workers, by (route template, method).
#[derive(Debug, Default)]
pub struct RequestStats {
    routes: Mutex<BTreeMap<(String, &'static str), RouteEntry>>,
}

/// One request being timed; [`finish`](RequestTimer::finish) records it.
#[derive(Debug)]
pub struct RequestTimer<'a> {
    stats: &'a RequestStats,
    route: String,
    method: &'static str,
    t0: Instant,
}

impl RequestTimer<'_> {
    /// The answer (with `status`) has been written.
    pub fn finish(&self, status: u16) {
        let ns = self.t0.elapsed().as_nanos() as u64;
        let latency = {
            let mut routes = lock(&self.stats.routes);
            let e = routes.entry((self.route.clone(), self.method)).or_default();
            *e.statuses.entry(status).or_default() += 1;
            e.latency.clone()
        };
        latency.record_shared(ns);
    }
}

/// The method as a label: one of the methods the API knows, else `OTHER` (a client cannot grow the
/// label set).
fn method_label(m: &str) -> &'static str {
    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].into_iter().find(|k| k.eq_ignore_ascii_case(m)).unwrap_or("OTHER")
}

impl RequestStats {
    /// Starts timing a request to `route` (a template such as `/api/operations/{id}`, or `other`).
    pub fn start(&self, route: String, method: &str) -> RequestTimer<'_> {
        RequestTimer { stats: self, route, method: method_label(method), t0: Instant::now() }
    }

    /// (route, method, status, count) of every request so far.
    pub fn counts(&self) -> Vec<(String, &'static str, u16, u64)> {
        let routes = lock(&self.routes);
        routes.iter().flat_map(|((r, m), e)| e.statuses.iter().map(move |(s, n)| (r.clone(), *m, *s, *n))).collect()
    }

    /// (route, method, latency histogram) of every route served.
    pub fn latencies(&self) -> Vec<(String, &'static str, Arc<Histogram>)> {
        lock(&self.routes).iter().map(|((r, m), e)| (r.clone(), *m, e.latency.clone())).collect()
    }
}

/// Order, refusal, fill and trade counts from the events the publisher applies.
#[derive(Debug)]
pub struct EventCounters {
    orders: Mutex<BTreeMap<String, u64>>,
    rejections: Mutex<BTreeMap<String, u64>>,
    fills: AtomicU64,
    trades: AtomicU64,
    events: AtomicU64,
}

impl Default for EventCounters {
    fn default() -> Self {
        let statuses =
            [OrderStatus::Pending, OrderStatus::Filled, OrderStatus::PartiallyFilled, OrderStatus::Cancelled, OrderStatus::Rejected];
        EventCounters {
            orders: Mutex::new(statuses.iter().map(|s| (label_of(s), 0)).collect()),
            rejections: Mutex::default(),
            fills: AtomicU64::new(0),
            trades: AtomicU64::new(0),
            events: AtomicU64::new(0),
        }
    }
}

impl EventCounters {
    /// Counts a batch of events as applied.
    pub fn observe(&self, batch: &[EngineEvent]) {
        self.events.fetch_add(batch.len() as u64, Ordering::Relaxed);
        for e in batch {
            match e {
                EngineEvent::Order { status, reason, .. } => {
                    *lock(&self.orders).entry(label_of(status)).or_default() += 1;
                    if *status == OrderStatus::Rejected {
                        let reason = reason.map_or_else(|| "unknown".to_string(), |r| label_of(&r));
                        *lock(&self.rejections).entry(reason).or_default() += 1;
                    }
                }
                EngineEvent::Fill(_) => {
                    self.fills.fetch_add(1, Ordering::Relaxed);
                }
                EngineEvent::Trade(_) => {
                    self.trades.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    }

    /// Orders by status (every status, 0 included).
    pub fn orders(&self) -> Vec<(String, u64)> {
        lock(&self.orders).iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Refused orders by reason (reasons seen so far).
    pub fn rejections(&self) -> Vec<(String, u64)> {
        lock(&self.rejections).iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Fill legs.
    pub fn fills(&self) -> u64 {
        self.fills.load(Ordering::Relaxed)
    }

    /// Closed trades.
    pub fn trades(&self) -> u64 {
        self.trades.load(Ordering::Relaxed)
    }

    /// Events applied to the read model.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }
}

/// Snapshots written (start-up, periodic, shutdown) and how long each took.
#[derive(Debug, Default)]
pub struct SnapshotStats {
    ok: AtomicU64,
    failed: AtomicU64,
    duration: Histogram,
}

impl SnapshotStats {
    /// One snapshot attempt that took `took`.
    pub fn record(&self, ok: bool, took: Duration) {
        if ok {
            self.ok.fetch_add(1, Ordering::Relaxed);
            self.duration.record_shared(took.as_nanos() as u64);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (written, failed).
    pub fn counts(&self) -> (u64, u64) {
        (self.ok.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }

    /// Duration of each snapshot written.
    pub fn duration(&self) -> &Histogram {
        &self.duration
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinion_core::fixed::Price;
    use pinion_core::instrument::InstrumentId;
    use pinion_core::order::{BookId, Order, OrderPurpose, OrderType, RejectReason, Side};

    #[test]
    fn orders_rejections_and_requests_are_counted() {
        let c = EventCounters::default();
        let order = Order {
            id: 1,
            book: BookId(0),
            instrument: InstrumentId(0),
            side: Side::Buy,
            order_type: OrderType::Market,
            purpose: OrderPurpose::Entry,
            quantity: Default::default(),
            price: Price(0),
            created_ns: 0,
        };
        let e = |status, reason| EngineEvent::Order { order, status, fill_price: Price(0), reason, ts_ns: 0 };
        c.observe(&[e(OrderStatus::Filled, None), e(OrderStatus::Rejected, Some(RejectReason::MaxTotalExposure))]);
        let orders = c.orders();
        assert!(orders.contains(&("filled".into(), 1)) && orders.contains(&("rejected".into(), 1)), "{orders:?}");
        assert!(orders.contains(&("partially_filled".into(), 0)), "every status from the start: {orders:?}");
        assert_eq!(c.rejections(), vec![("max_total_exposure".into(), 1)]);
        assert_eq!(c.events(), 2);

        let r = RequestStats::default();
        r.start("/api/operations/{id}".into(), "get").finish(200);
        r.start("/api/operations/{id}".into(), "GET").finish(404);
        r.start("other".into(), "BREW").finish(405);
        let counts = r.counts();
        assert_eq!(counts.len(), 3);
        assert!(counts.contains(&("/api/operations/{id}".into(), "GET", 404, 1)));
        assert!(counts.contains(&("other".into(), "OTHER", 405, 1)));
        let lat = r.latencies();
        assert_eq!(lat.iter().find(|l| l.1 == "GET").map(|l| l.2.snapshot().count()), Some(2));
    }
}
