//! The front's settings ([`FrontConfig`]) and their defaults.

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
    /// Capacity of the channel from [`Broadcaster`]s to the front thread.
    pub broadcast_queue_frames: usize,
    /// Time allowed to send the first request head.
    pub head_timeout: Duration,
    /// Warm REST backend connections kept ready for new proxied clients (at most 64).
    pub warm_backend_connections: usize,
    /// Time allowed to open and warm one backend connection; beyond it waiting clients get 502.
    pub backend_warm_timeout: Duration,
}

impl Default for FrontConfig {
    fn default() -> Self {
        FrontConfig {
            bearer_token: None,
            allowed_origins: Vec::new(),
            client_queue_frames: 1024,
            max_clients: 4096,
            broadcast_queue_frames: 65536,
            head_timeout: Duration::from_secs(10),
            warm_backend_connections: 4,
            backend_warm_timeout: Duration::from_secs(5),
        }
    }
}
