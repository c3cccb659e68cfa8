//! Request bodies as `Deserialize + JsonSchema` structs: the shape a client sends, documented once (the
//! OpenAPI request schemas are generated from these). Field-level checks that a schema cannot say
//! (an instrument the feed carries, a strategy that exists...) stay with each route's validation. Numeric
//! ranges name the constants of `pinion_core::bounds`, which the validators use too.

use pinion_core::bounds;
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
    /// Starting capital, USD: in [0.01, 1e9] after rounding to cents.
    #[serde(default)]
    #[schemars(range(min = bounds::CAPITAL_MIN, max = bounds::CAPITAL_MAX), extend("default" = 10000.0))]
    pub initial_capital: Option<f64>,
    #[serde(default)]
    #[schemars(extend("default" = "ATR"))]
    pub stop_loss_type: Option<StopLossType>,
    /// In the unit of stop_loss_type, by type: ATR a multiple in [0.01, 100]; PERCENTAGE a fraction of the
    /// entry price in [0.000001, 1] (0.01 = 1%); FIXED a price distance in [0.000001, 10000]; PIPS in
    /// [0.1, 10000].
    #[serde(default)]
    #[schemars(range(min = bounds::PROTECTION_VALUE_MIN, max = bounds::PROTECTION_VALUE_MAX), extend("default" = 1.5))]
    pub stop_loss_value: Option<f64>,
    #[serde(default)]
    #[schemars(extend("default" = "RISK_REWARD"))]
    pub take_profit_type: Option<TakeProfitType>,
    /// In the unit of take_profit_type, by type: RISK_REWARD a multiple of the stop distance in [0.01, 100];
    /// ATR, PERCENTAGE, FIXED and PIPS as for stop_loss_value.
    #[serde(default)]
    #[schemars(range(min = bounds::PROTECTION_VALUE_MIN, max = bounds::PROTECTION_VALUE_MAX), extend("default" = 2.0))]
    pub take_profit_value: Option<f64>,
    #[serde(default)]
    #[schemars(extend("default" = "CLOSE_ALL"))]
    pub crash_recovery_mode: Option<CrashRecoveryMode>,
    /// EMERGENCY_EXIT threshold as a fraction of entry notional, in [0.000001, 1] (0.05 = 5%).
    #[serde(default)]
    #[schemars(range(min = bounds::EMERGENCY_PCT_MIN, max = bounds::EMERGENCY_PCT_MAX), extend("default" = 0.05))]
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
    /// The session's exposure cap, USD: at least 0.01 and at most the account balance.
    #[schemars(range(min = bounds::TARGET_CAPITAL_MIN))]
    pub target_capital_usd: f64,
    /// Risk limits to apply over those in force at `/session/start` (only the fields named).
    #[serde(default)]
    pub risk: Option<RiskLimits>,
}

/// `POST /session/start` (the body is optional).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionStartBody {
    /// Seconds the warm-up may take before the session gives up, in [0.001, 86400].
    #[serde(default)]
    #[schemars(range(min = bounds::COLD_START_MIN_SEC, max = bounds::COLD_START_MAX_SEC), extend("default" = 120))]
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

    #[test]
    fn schemas_show_the_ranges_of_the_bounds_module() {
        let create = serde_json::to_value(schemars::schema_for!(CreateOperationBody)).expect("schema");
        let text = create.to_string();
        let prop = |name: &str| create["properties"][name].to_string();
        assert!(
            prop("initial_capital").contains("\"minimum\":0.01") && prop("initial_capital").contains("\"maximum\":1000000000.0"),
            "{text}"
        );
        assert!(prop("stop_loss_value").contains("\"maximum\":10000.0"), "{text}");
        assert!(prop("emergency_stop_loss_pct").contains("\"maximum\":1.0"), "{text}");
        let risk = serde_json::to_value(schemars::schema_for!(RiskUpdateBody)).expect("schema");
        assert_eq!(risk["properties"]["max_total_exposure_usd"]["maximum"], json!(bounds::EXPOSURE_MAX), "{risk}");
        assert_eq!(risk["properties"]["per_symbol_limit"]["maximum"], json!(bounds::PER_SYMBOL_LIMIT_MAX), "{risk}");
        let start = serde_json::to_value(schemars::schema_for!(SessionStartBody)).expect("schema");
        assert!(start["properties"]["cold_start_timeout_sec"].to_string().contains("\"maximum\":86400.0"), "{start}");
    }
}
