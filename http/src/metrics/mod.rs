//! Observability of the server: the registry behind `GET /metrics` (Prometheus text format 0.0.4,
//! names prefixed `pinion_`) and `GET /api/latency`.
//!
//! Nothing here runs on the core thread. The core, the feed, the publisher and the front record into
//! [`Telemetry`] (atomics; see `pinion_core::telemetry`); REST workers, the publisher and the snapshot
//! thread record into the counters of [`Metrics`]; everything else (account, operations, WebSocket
//! clients) is read at scrape time from where it already lives. Parts only the binary knows (the
//! journal, the process) are added as collectors. Rendering takes a snapshot of each histogram and
//! the read model's read lock for a moment, on the REST worker that serves the scrape.

pub mod counters;
pub mod latency;
pub mod probe;
pub mod routes;
pub mod text;

pub use counters::{EventCounters, RequestStats, RequestTimer, SnapshotStats};
pub use latency::{HopLatencyView, LatencyView, LatencyWindow};
pub use probe::PublisherProbe;
pub use routes::{request_timer, route};
pub use text::{Exposition, Kind, CONTENT_TYPE};

use crate::app::App;
use crate::front::StatsSource;
use pinion_core::events::BookStatus;
use pinion_core::instrument::InstrumentId;
use pinion_core::telemetry::{Hop, Ring, Telemetry};
use std::sync::{Arc, Mutex, OnceLock};

/// Adds families to an exposition at each scrape (the journal, the process, a live broker...).
pub type Collector = Box<dyn Fn(&mut Exposition) + Send + Sync>;

/// The metrics registry of one server (see the module comment).
pub struct Metrics {
    telemetry: Arc<Telemetry>,
    /// HTTP requests by route template, method and status, with latency.
    pub requests: RequestStats,
    /// Orders, refusals, fills and trades the publisher applied.
    pub events: EventCounters,
    /// Snapshots written and their duration.
    pub snapshots: SnapshotStats,
    front: OnceLock<StatsSource>,
    collectors: Mutex<Vec<Collector>>,
    latency: LatencyWindow,
    idle_policy: Mutex<String>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("telemetry", &self.telemetry).finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry over `telemetry`.
    pub fn new(telemetry: Arc<Telemetry>) -> Metrics {
        Metrics {
            telemetry,
            requests: RequestStats::default(),
            events: EventCounters::default(),
            snapshots: SnapshotStats::default(),
            front: OnceLock::new(),
            collectors: Mutex::default(),
            latency: LatencyWindow::new(),
            idle_policy: Mutex::new("backoff".into()),
        }
    }

    /// The tick path's telemetry.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// Where the WebSocket front's counters are read (set once the front runs).
    pub fn set_front(&self, source: StatsSource) {
        let _ = self.front.set(source);
    }

    /// Names the core's idle policy (`pinion_build_info`, `/api/latency`).
    pub fn set_idle_policy(&self, name: &str) {
        *self.idle_policy.lock().unwrap_or_else(|p| p.into_inner()) = name.to_string();
    }

    fn idle_policy(&self) -> String {
        self.idle_policy.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Adds families written at every scrape, after the built-in ones.
    pub fn add_collector(&self, c: impl Fn(&mut Exposition) + Send + Sync + 'static) {
        self.collectors.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(c));
    }

    /// The latest per-hop latency (see [`LatencyWindow`]).
    pub fn latency(&self) -> LatencyView {
        self.latency.view(&self.telemetry, &self.idle_policy())
    }

    /// The exposition of everything.
    pub fn render(&self, app: &App) -> String {
        let mut e = Exposition::new();
        e.family("pinion_build_info", Kind::Gauge, "The running pinion: version and the core's idle policy (always 1)");
        let policy = self.idle_policy();
        e.sample("pinion_build_info", &[("version", env!("CARGO_PKG_VERSION")), ("idle_policy", &policy)], 1.0);
        self.render_core(&mut e, app);
        render_trading(&mut e, app, Some(self));
        self.render_io(&mut e);
        for c in self.collectors.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            c(&mut e);
        }
        e.finish()
    }

    /// Ticks, the feed, hops, rings and the live broker.
    fn render_core(&self, e: &mut Exposition, app: &App) {
        let t = &self.telemetry;
        let shown: Vec<(usize, &str)> = (0..t.instruments())
            .filter(|i| *i < app.fed_instruments.len() || t.ticks_processed(*i) > 0 || t.feed_ticks(*i) > 0)
            .filter_map(|i| app.instruments.try_get(InstrumentId(i as u16)).map(|inst| (i, inst.symbol.as_str())))
            .collect();
        e.family("pinion_ticks_processed_total", Kind::Counter, "Ticks the core thread processed, per instrument");
        for (i, sym) in &shown {
            e.sample("pinion_ticks_processed_total", &[("instrument", sym)], t.ticks_processed(*i) as f64);
        }
        e.single(
            "pinion_feed_connected",
            Kind::Gauge,
            "1 while the feed is connected (a replay: while it runs)",
            t.feed_connected() as u8 as f64,
        );
        e.family("pinion_feed_ticks_received_total", Kind::Counter, "Ticks the feed received, per instrument");
        for (i, sym) in &shown {
            e.sample("pinion_feed_ticks_received_total", &[("instrument", sym)], t.feed_ticks(*i) as f64);
        }
        e.family("pinion_feed_last_tick_age_seconds", Kind::Gauge, "Seconds since the feed's last tick, per instrument that has ticked");
        for (i, sym) in &shown {
            if let Some(ns) = t.feed_last_age_ns(*i) {
                e.sample("pinion_feed_last_tick_age_seconds", &[("instrument", sym)], ns as f64 / 1e9);
            }
        }
        e.single(
            "pinion_feed_ticks_dropped_total",
            Kind::Counter,
            "Ticks a live feed dropped because the tick ring was full",
            t.feed_dropped() as f64,
        );
        e.family(
            "pinion_hop_latency_seconds",
            Kind::Histogram,
            "Latency of each hop of the tick path (see GET /api/latency for what each spans)",
        );
        for hop in Hop::ALL {
            e.histogram("pinion_hop_latency_seconds", &[("hop", hop.name())], &t.hop(hop).snapshot());
        }
        let rings: Vec<(Ring, (u64, u64))> = Ring::ALL.iter().map(|r| (*r, t.ring(*r))).filter(|(_, (_, cap))| *cap > 0).collect();
        e.family(
            "pinion_ring_fill",
            Kind::Gauge,
            "Items waiting in a ring (ticks: feed -> core; events: core -> publisher; orders: core -> live broker)",
        );
        for (r, (fill, _)) in &rings {
            e.sample("pinion_ring_fill", &[("ring", r.name())], *fill as f64);
        }
        e.family("pinion_ring_capacity", Kind::Gauge, "Capacity of a ring, in items");
        for (r, (_, cap)) in &rings {
            e.sample("pinion_ring_capacity", &[("ring", r.name())], *cap as f64);
        }
        if t.broker_configured() {
            e.family("pinion_broker_round_trip_seconds", Kind::Histogram, "Live broker: request written -> answer received");
            e.histogram("pinion_broker_round_trip_seconds", &[], &t.broker_rtt().snapshot());
        }
    }

    /// Snapshots, HTTP requests and the WebSocket front.
    fn render_io(&self, e: &mut Exposition) {
        let (ok, failed) = self.snapshots.counts();
        e.family("pinion_snapshots_total", Kind::Counter, "State snapshots attempted, by result");
        e.sample("pinion_snapshots_total", &[("result", "ok")], ok as f64);
        e.sample("pinion_snapshots_total", &[("result", "failed")], failed as f64);
        e.family("pinion_snapshot_duration_seconds", Kind::Histogram, "Time to take and write one snapshot");
        e.histogram("pinion_snapshot_duration_seconds", &[], &self.snapshots.duration().snapshot());
        e.family(
            "pinion_http_requests_total",
            Kind::Counter,
            "HTTP requests answered by the REST workers, by route template, method and status",
        );
        for (route, method, status, n) in self.requests.counts() {
            let status = status.to_string();
            e.sample("pinion_http_requests_total", &[("route", &route), ("method", method), ("status", &status)], n as f64);
        }
        e.family(
            "pinion_http_request_duration_seconds",
            Kind::Histogram,
            "REST request latency, from its arrival at a worker to its answer written",
        );
        for (route, method, h) in self.requests.latencies() {
            e.histogram("pinion_http_request_duration_seconds", &[("route", &route), ("method", method)], &h.snapshot());
        }
        let Some(front) = self.front.get() else { return };
        let s = front.stats();
        e.single("pinion_ws_clients", Kind::Gauge, "WebSocket clients connected", s.ws_clients as f64);
        e.single(
            "pinion_ws_frames_sent_total",
            Kind::Counter,
            "WebSocket frames written to clients (one per client per frame)",
            s.frames_sent as f64,
        );
        e.single(
            "pinion_ws_frames_dropped_total",
            Kind::Counter,
            "Frames dropped before the fan-out (the front's queue was full)",
            s.broadcast_dropped as f64,
        );
        e.single(
            "pinion_ws_clients_dropped_total",
            Kind::Counter,
            "WebSocket clients disconnected for reading too slowly",
            s.ws_dropped_slow as f64,
        );
        e.single(
            "pinion_http_front_refused_requests_total",
            Kind::Counter,
            "Requests the front refused (malformed, too large, too slow)",
            s.refused_requests as f64,
        );
        e.single(
            "pinion_http_front_proxied_connections_total",
            Kind::Counter,
            "Client connections proxied to the REST workers",
            s.proxied_connections as f64,
        );
    }
}

/// Orders, refusals, fills (from `metrics`, when given), operations and the account (from the read model).
fn render_trading(e: &mut Exposition, app: &App, metrics: Option<&Metrics>) {
    if let Some(m) = metrics {
        e.family("pinion_orders_total", Kind::Counter, "Orders published by the engine, by status");
        for (status, n) in m.events.orders() {
            e.sample("pinion_orders_total", &[("status", &status)], n as f64);
        }
        e.family("pinion_order_rejections_total", Kind::Counter, "Orders refused, by reason");
        for (reason, n) in m.events.rejections() {
            e.sample("pinion_order_rejections_total", &[("reason", &reason)], n as f64);
        }
        e.single("pinion_fills_total", Kind::Counter, "Fill legs (a reversal is two)", m.events.fills() as f64);
        e.single("pinion_trades_closed_total", Kind::Counter, "Round trips closed", m.events.trades() as f64);
        e.single("pinion_events_applied_total", Kind::Counter, "Engine events applied to the read model", m.events.events() as f64);
    }
    let s = app.read.read();
    let statuses = [BookStatus::Active, BookStatus::Paused, BookStatus::Closed, BookStatus::Error];
    e.family("pinion_operations", Kind::Gauge, "Operations, by status");
    for st in statuses {
        let n = s.operations.iter().filter(|o| s.book(o.book).map(|b| b.status) == Some(st)).count();
        e.sample("pinion_operations", &[("status", st.as_str())], n as f64);
    }
    let a = s.account;
    e.single("pinion_account_equity_usd", Kind::Gauge, "Net asset value: balance + unrealized P/L, USD", a.nav().as_f64());
    e.single("pinion_account_balance_usd", Kind::Gauge, "Cash balance, USD", a.balance.as_f64());
    e.single("pinion_account_unrealized_pl_usd", Kind::Gauge, "Unrealized P/L of open positions, USD", a.unrealized.as_f64());
    e.single("pinion_account_realized_pl_usd", Kind::Gauge, "Realized P/L before commission, USD", a.realized.as_f64());
    e.single("pinion_account_commission_usd", Kind::Gauge, "Commission paid, USD", a.commission.as_f64());
    e.single("pinion_account_pl_usd", Kind::Gauge, "Equity minus the starting balance, USD", (a.nav() - s.starting_balance).as_f64());
    e.single("pinion_account_margin_used_usd", Kind::Gauge, "Margin held by open positions, USD", a.margin_used.as_f64());
    e.single("pinion_account_drawdown_ratio", Kind::Gauge, "1 - equity / peak equity", s.equity.drawdown());
    e.single("pinion_open_positions", Kind::Gauge, "Open (operation, instrument) positions", a.open_positions as f64);
}

/// The exposition of a server without a registry (tests that build an `App` by hand): the read model.
pub fn render_read_model(app: &App) -> String {
    let mut e = Exposition::new();
    render_trading(&mut e, app, None);
    e.finish()
}

#[cfg(test)]
mod tests;
