//! Response shapes of the model and session routes (`/models`, `/session/*`) as `Serialize +
//! JsonSchema` structs, and their OpenAPI declaration (bodies from `pinion_http::bodies`).

use pinion_core::risk::RiskLimits;
use pinion_http::bodies::{SessionConfigBody, SessionStartBody};
use pinion_http::openapi::{OkView, Schemas};
use pinion_models::ModelInfo;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// Warm-up progress: each symbol still short of the model's lookback window.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WarmupView {
    pub ready: bool,
    /// Symbols still short of bars.
    pub missing: Vec<String>,
    pub bars: Vec<WarmupBars>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WarmupBars {
    pub symbol: String,
    /// Closed bars held.
    pub have: u64,
    /// Closed bars needed (the model's lookback window).
    pub need: u64,
}

/// A configuration as `/session/status` shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SessionConfigView {
    pub selected_symbols: Vec<String>,
    /// The model's `/models` row.
    pub model: Option<ModelInfo>,
    /// USD.
    pub target_capital_usd: f64,
    /// The risk override this config applies over the limits in force at start (only the fields named).
    pub risk: Option<serde_json::Map<String, Value>>,
}

/// One model decision: the action for a symbol.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ActionView {
    pub symbol: String,
    pub action: f32,
}

/// An open position of the session book.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UnitsView {
    pub instrument: String,
    /// Signed units (negative for short).
    pub units: f64,
}

/// `GET /session/status`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SessionStatusView {
    pub running: bool,
    #[schemars(extend("enum" = ["idle", "warming_up", "running", "stopped", "failed"]))]
    pub state: String,
    /// Why the session stopped or failed (null otherwise).
    pub reason: Option<String>,
    pub selected_symbols: Vec<String>,
    pub model: Option<ModelInfo>,
    /// The limits in force now (null without a risk engine).
    pub risk: Option<RiskLimits>,
    /// USD.
    pub target_capital_usd: Option<f64>,
    /// What `selected_symbols`, `model` and `target_capital_usd` describe.
    #[schemars(extend("enum" = ["running_session", "pending_config", "last_session", null]))]
    pub config_source: Option<String>,
    /// The latest accepted `/session/config` (null when none is kept).
    pub pending_config: Option<SessionConfigView>,
    pub warmup: WarmupView,
    pub decisions: u64,
    /// ISO 8601 UTC (null before the first decision).
    pub last_decision_at: Option<String>,
    /// Microseconds the last decision took.
    pub last_decision_cost_us: f64,
    pub last_actions: Vec<ActionView>,
    pub open_positions: Vec<UnitsView>,
    /// The live broker's prices are stale: the session makes no new exposure until they flow again
    /// (always false on paper).
    pub feed_stale: bool,
}

/// `POST /session/start`: 202 at once; warm-up runs in the background.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StartedView {
    #[schemars(extend("const" = true))]
    pub started: bool,
}

/// `POST /session/stop`: what the session still holds.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StoppedView {
    #[schemars(extend("const" = true))]
    pub stopped: bool,
    pub open_positions: Vec<UnitsView>,
}

/// `POST /session/positions/close`: the positions the stopped session held, now being closed at market
/// (their fills follow as `order` frames and in `/account/trades`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ClosedView {
    pub closed: Vec<UnitsView>,
}

/// Declares the session routes' schemas and query parameters.
pub fn declare(s: &mut Schemas) {
    s.response::<Vec<ModelInfo>>("/models", "get")
        .query(
            "/models",
            "get",
            "min_symbols",
            "Only models whose max_symbols is at least this",
            serde_json::json!({ "type": "integer", "minimum": 0 }),
        )
        .response::<SessionStatusView>("/session/status", "get")
        .response::<OkView>("/session/config", "post")
        .request::<SessionConfigBody>("/session/config", "post", true)
        .response::<StartedView>("/session/start", "post")
        .request::<SessionStartBody>("/session/start", "post", false)
        .response::<StoppedView>("/session/stop", "post")
        .response::<ClosedView>("/session/positions/close", "post");
}
