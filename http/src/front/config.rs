//! Settings and counters of the front.

use crate::ws::Broadcaster;
use pinion_core::telemetry::Telemetry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Front settings.
#[derive(Clone, Debug)]
pub struct FrontConfig {
    /// When set, a WebSocket upgrade needs `Authorization: Bearer <t>` or `?token=<t>`.
    pub bearer_token: Option<String>,
    /// Browser origins allowed to open `/ws` (normalized by `browser::parse_origin`); an upgrade with
    /// any other `Origin` header is refused 403. Upgrades without `Origin` are not gated.
    pub allowed_origins: Vec<String>,
    /// Per-client bound on queued, unsent frames; a client beyond it is disconnected.
    pub client_queue_frames: usize,
    /// Most WebSocket clients at once; further upgrades get 503.
    pub max_clients: usize,
    /// Most client connections at once (WebSocket clients included); further ones get 503.
    pub max_connections: usize,
    /// Capacity of the channel from [`crate::ws::Broadcaster`]s to the front thread.
    pub broadcast_queue_frames: usize,
    /// Time allowed to deliver a whole request, head and body (408 beyond it).
    pub request_timeout: Duration,
    /// Least average rate, in bytes per second, of a request after its first 2 s (408 below it).
    pub min_request_rate: u64,
    /// A keep-alive connection with no request begun is closed after this long.
    pub idle_timeout: Duration,
    /// Largest request body accepted (a larger `Content-Length` gets 413).
    pub max_body_bytes: usize,
    /// Warm REST backend connections kept ready for new proxied clients (at most 64).
    pub warm_backend_connections: usize,
    /// Time allowed to open and warm one backend connection; beyond it waiting clients get 502.
    pub backend_warm_timeout: Duration,
    /// Where the `event_to_ws` hop is recorded (frames that carry an origin, once written).
    pub telemetry: Option<Arc<Telemetry>>,
}

impl Default for FrontConfig {
    fn default() -> Self {
        FrontConfig {
            bearer_token: None,
            allowed_origins: Vec::new(),
            client_queue_frames: 1024,
            max_clients: 4096,
            max_connections: 8192,
            broadcast_queue_frames: 65536,
            request_timeout: Duration::from_secs(10),
            min_request_rate: 1024,
            idle_timeout: Duration::from_secs(30),
            max_body_bytes: 64 * 1024,
            warm_backend_connections: 4,
            backend_warm_timeout: Duration::from_secs(5),
            telemetry: None,
        }
    }
}

/// Counters of the front, read with [`super::FrontHandle::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrontStats {
    /// WebSocket clients connected now.
    pub ws_clients: u64,
    /// Clients disconnected because their frame queue overflowed.
    pub ws_dropped_slow: u64,
    /// Frames handed to client sockets (one per client per frame).
    pub frames_sent: u64,
    /// Connections proxied to the REST backend since start.
    pub proxied_connections: u64,
    /// Frames dropped by [`crate::ws::Broadcaster::send`] because the front's channel was full.
    pub broadcast_dropped: u64,
    /// Requests refused by the front (malformed, too large, too slow) since start.
    pub refused_requests: u64,
}

/// Reads the front's counters from any thread (for `/metrics`), after the front handle moved on.
#[derive(Clone)]
pub struct StatsSource {
    counters: Arc<Counters>,
    broadcaster: Broadcaster,
}

impl StatsSource {
    pub(super) fn new(counters: Arc<Counters>, broadcaster: Broadcaster) -> StatsSource {
        StatsSource { counters, broadcaster }
    }

    /// The counters now.
    pub fn stats(&self) -> FrontStats {
        let c = &self.counters;
        FrontStats {
            ws_clients: c.ws_clients.load(Ordering::Relaxed),
            ws_dropped_slow: c.ws_dropped_slow.load(Ordering::Relaxed),
            frames_sent: c.frames_sent.load(Ordering::Relaxed),
            proxied_connections: c.proxied_connections.load(Ordering::Relaxed),
            broadcast_dropped: self.broadcaster.dropped(),
            refused_requests: c.refused_requests.load(Ordering::Relaxed),
        }
    }
}

/// The `event_to_ws` hop of each frame of `batch` that shows an engine event, now that the fan-out
/// wrote it to every client's socket (or queued it behind a full one). The front thread only.
pub(super) fn record_written(t: &Telemetry, batch: &[(crate::ws::Topic, tungstenite::Utf8Bytes, u64)]) {
    let now = t.clock().now_ns();
    for (_, _, origin) in batch.iter().filter(|f| f.2 != 0) {
        t.record(pinion_core::telemetry::Hop::EventToWs, now.saturating_sub(*origin));
    }
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) ws_clients: AtomicU64,
    pub(super) ws_dropped_slow: AtomicU64,
    pub(super) frames_sent: AtomicU64,
    pub(super) proxied_connections: AtomicU64,
    pub(super) refused_requests: AtomicU64,
}
