//! Request bodies as `Deserialize + JsonSchema` structs: the shape a client sends, documented once (the
//! OpenAPI request schemas are generated from these). Field-level checks that a schema cannot say
//! (an instrument the feed carries, a strategy that exists...) stay with each route's validation.

use pinion_core::engine::{CrashRecoveryMode, StopLossType, TakeProfitType};
use pinion_core::risk::RiskLimits;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

/// `POST /api/operations`: create an operation. Absent or null optional fields take their defaults.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOperationBody {
    /// Instrument the feed carries: `EUR_USD`, `EUR-USD` or `EUR/USD` (responses echo this spelling).
    #[schemars(length(min = 1))]
    pub asset: String,
    /// Distinct bar sizes: `N secs|min|mins|hour|hours|day|days|week|weeks` (e.g. `1 hour`, `15 mins`).
    #[schemars(length(min = 1))]
    #[schemars(extend("uniqueItems" = true))]
    pub bar_sizes: Vec<String>,
    /// One of `bar_sizes`; default the first.
    #[serde(default)]
    pub primary_bar_size: Option<String>,
    /// A built-in strategy (e.g. `ema_cross`).
    pub strategy_name: String,
    /// The strategy's parameters.
    #[serde(default)]
    pub strategy_config: Map<String, Value>,
    /// Starting capital, USD: > 0 and <= 1e12.
    #[serde(default)]
    #[schemars(extend("default" = 10000.0, "exclusiveMinimum" = 0, "maximum" = 1.0e12))]
    pub initial_capital: Option<f64>,
    #[serde(default)]
    #[schemars(extend("default" = "ATR"))]
    pub stop_loss_type: Option<StopLossType>,
    /// > 0, in the unit of stop_loss_type.
    #[serde(default)]
    #[schemars(extend("default" = 1.5, "exclusiveMinimum" = 0))]
    pub stop_loss_value: Option<f64>,
    #[serde(default)]
    #[schemars(extend("default" = "RISK_REWARD"))]
    pub take_profit_type: Option<TakeProfitType>,
    /// > 0, in the unit of take_profit_type.
    #[serde(default)]
    #[schemars(extend("default" = 2.0, "exclusiveMinimum" = 0))]
    pub take_profit_value: Option<f64>,
    #[serde(default)]
    #[schemars(extend("default" = "CLOSE_ALL"))]
    pub crash_recovery_mode: Option<CrashRecoveryMode>,
    /// EMERGENCY_EXIT threshold as a fraction of entry notional, in (0, 1] (0.05 = 5%).
    #[serde(default)]
    #[schemars(extend("default" = 0.05, "exclusiveMinimum" = 0, "maximum" = 1))]
    pub emergency_stop_loss_pct: Option<f64>,
}

/// `POST /session/config`: configure the model session.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionConfigBody {
    /// Distinct instruments from the training set that the feed carries (`EUR_USD` form accepted
    /// with `-` or `/` too); at most the model's max_symbols.
    #[schemars(length(min = 1))]
    pub symbols: Vec<String>,
    /// A model file, or a name from `GET /models`.
    pub model_path: String,
    /// The session's exposure cap, USD: > 0 and at most the account balance.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub target_capital_usd: f64,
    /// Risk limits to apply over those in force at `/session/start` (only the fields named).
    #[serde(default)]
    pub risk: Option<RiskLimits>,
}

/// `POST /session/start` (the body is optional).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionStartBody {
    /// Seconds the warm-up may take before the session gives up, in (0, 86400].
    #[serde(default)]
    #[schemars(extend("default" = 120, "exclusiveMinimum" = 0, "maximum" = 86400))]
    pub cold_start_timeout_sec: Option<f64>,
}

/// `POST /risk/update`: any subset of the risk limits; the others keep their current values.
pub type RiskUpdateBody = RiskLimits;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_body_takes_the_documented_shape_and_refuses_unknown_fields() {
        let b: CreateOperationBody = serde_json::from_value(json!({
            "asset": "USD-CAD", "bar_sizes": ["1 hour", "15 mins"], "primary_bar_size": "1 hour",
            "strategy_name": "MomentumStrategy", "strategy_config": {}, "initial_capital": 10000,
            "stop_loss_type": "ATR", "stop_loss_value": 1.5, "take_profit_type": "RISK_REWARD",
            "take_profit_value": 2.0, "crash_recovery_mode": "CLOSE_ALL"
        }))
        .expect("the spec's example body");
        assert_eq!(b.stop_loss_type, Some(StopLossType::Atr));
        assert_eq!(b.crash_recovery_mode, Some(CrashRecoveryMode::CloseAll));
        let minimal: CreateOperationBody =
            serde_json::from_value(json!({ "asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross" })).expect("minimal");
        assert!(minimal.strategy_config.is_empty() && minimal.initial_capital.is_none());
        assert!(serde_json::from_value::<CreateOperationBody>(
            json!({ "asset": "EUR_USD", "bar_sizes": [], "strategy_name": "x", "nope": 1 })
        )
        .is_err());
        assert!(serde_json::from_value::<SessionStartBody>(json!({})).is_ok());
        let r: RiskUpdateBody = serde_json::from_value(json!({ "daily_loss_limit_pct": 3 })).expect("a partial risk body");
        assert_eq!(r.daily_loss_limit_pct, 3.0);
    }
}
