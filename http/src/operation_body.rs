//! Validation of the `POST /api/operations` body ([`CreateOperationBody`], its wire shape): `validate`
//! turns it into the [`OperationSpec`] that is journaled and applied, naming the first bad field.

use crate::api::ApiError;
use crate::app::App;
pub use crate::bodies::CreateOperationBody;
use pinion_core::bars::BarSize;
use pinion_core::bounds;
use pinion_core::change::OperationSpec;
use pinion_core::engine::{CrashRecoveryMode, StopLossType, TakeProfitType};
use pinion_core::fixed::Money;
use pinion_core::strategy::{build_strategy, StrategyError};
use serde_json::Value;

/// `v` within `[min, max]` (finite, not a denormal), or a 400 naming `field`.
pub fn in_range(field: &str, v: f64, min: f64, max: f64) -> Result<f64, ApiError> {
    bounds::check_range(v, min, max).map_err(|e| ApiError::field(field, e))
}

/// A protection value's range by type, `(min, max, what the value means)` (see `pinion_core::bounds`).
pub type ValueRange = (f64, f64, &'static str);

/// The range of a stop-loss value by type.
pub fn stop_loss_range(kind: StopLossType) -> ValueRange {
    match kind {
        StopLossType::Atr => (bounds::ATR_MULTIPLE_MIN, bounds::ATR_MULTIPLE_MAX, "ATR: an ATR multiple"),
        StopLossType::Percentage => {
            (bounds::PRICE_FRACTION_MIN, bounds::PRICE_FRACTION_MAX, "PERCENTAGE: a fraction of the entry price, 0.01 = 1%")
        }
        StopLossType::Fixed => (bounds::PRICE_DISTANCE_MIN, bounds::PRICE_DISTANCE_MAX, "FIXED: a price distance"),
        StopLossType::Pips => (bounds::PIPS_MIN, bounds::PIPS_MAX, "PIPS: pips"),
    }
}

/// The range of a take-profit value by type.
pub fn take_profit_range(kind: TakeProfitType) -> ValueRange {
    match kind {
        TakeProfitType::RiskReward => (bounds::RISK_REWARD_MIN, bounds::RISK_REWARD_MAX, "RISK_REWARD: a multiple of the stop distance"),
        TakeProfitType::Atr => (bounds::ATR_MULTIPLE_MIN, bounds::ATR_MULTIPLE_MAX, "ATR: an ATR multiple"),
        TakeProfitType::Percentage => {
            (bounds::PRICE_FRACTION_MIN, bounds::PRICE_FRACTION_MAX, "PERCENTAGE: a fraction of the entry price, 0.01 = 1%")
        }
        TakeProfitType::Fixed => (bounds::PRICE_DISTANCE_MIN, bounds::PRICE_DISTANCE_MAX, "FIXED: a price distance"),
        TakeProfitType::Pips => (bounds::PIPS_MIN, bounds::PIPS_MAX, "PIPS: pips"),
    }
}

fn protection_value(field: &str, v: f64, (min, max, unit): ValueRange) -> Result<f64, ApiError> {
    bounds::check_range(v, min, max).map_err(|e| ApiError::field(field, format!("{e} ({unit})")))
}

/// The numbers of a create body, checked and with defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperationNumbers {
    /// Starting capital, USD cents.
    pub initial_capital: Money,
    /// In the unit of the stop-loss type.
    pub stop_loss_value: f64,
    /// In the unit of the take-profit type.
    pub take_profit_value: f64,
    /// Fraction of entry notional.
    pub emergency_stop_loss_pct: f64,
}

impl CreateOperationBody {
    /// The body's numbers, each checked against its range (with the defaults filled in): initial
    /// capital in cents, stop-loss and take-profit values (in the unit of their type) and the
    /// emergency stop-loss fraction. Needs no server state, so it runs before anything else.
    pub fn numbers(&self) -> Result<OperationNumbers, ApiError> {
        let capital_in = self.initial_capital.unwrap_or(10_000.0);
        in_range("initial_capital", capital_in, -bounds::CAPITAL_MAX, bounds::CAPITAL_MAX)?;
        let initial_capital = Money::from_f64(capital_in);
        if initial_capital < Money::from_f64(bounds::CAPITAL_MIN) {
            return Err(ApiError::field(
                "initial_capital",
                format!(
                    "must be between {} and {} USD after rounding to cents, got {capital_in}",
                    bounds::CAPITAL_MIN,
                    bounds::CAPITAL_MAX
                ),
            ));
        }
        let sl = stop_loss_range(self.stop_loss_type.unwrap_or(StopLossType::Atr));
        let stop_loss_value = protection_value("stop_loss_value", self.stop_loss_value.unwrap_or(1.5), sl)?;
        let tp = take_profit_range(self.take_profit_type.unwrap_or(TakeProfitType::RiskReward));
        let take_profit_value = protection_value("take_profit_value", self.take_profit_value.unwrap_or(2.0), tp)?;
        let emergency = self.emergency_stop_loss_pct.unwrap_or(0.05);
        in_range("emergency_stop_loss_pct", emergency, bounds::EMERGENCY_PCT_MIN, bounds::EMERGENCY_PCT_MAX)?;
        Ok(OperationNumbers { initial_capital, stop_loss_value, take_profit_value, emergency_stop_loss_pct: emergency })
    }

    /// Checks every field against the server (instrument fed, strategy buildable) and fills in the
    /// defaults: the result is what is journaled.
    pub fn validate(self, app: &App) -> Result<OperationSpec, ApiError> {
        let OperationNumbers { initial_capital, stop_loss_value, take_profit_value, emergency_stop_loss_pct } = self.numbers()?;
        let asset = self.asset;
        let instrument = app.instruments.find(&asset).ok_or_else(|| ApiError::field("asset", format!("unknown instrument {asset:?}")))?;
        let inst = app.instruments.get(instrument);
        if !app.fed_instruments.contains(&inst.symbol) {
            return Err(ApiError::field(
                "asset",
                format!("no price feed for {asset:?}; the feed carries {}", app.fed_instruments.join(", ")),
            ));
        }
        if self.bar_sizes.is_empty() {
            return Err(ApiError::field("bar_sizes", "must not be empty"));
        }
        let mut bar_sizes: Vec<BarSize> = Vec::with_capacity(self.bar_sizes.len());
        for (i, s) in self.bar_sizes.iter().enumerate() {
            let b = BarSize::parse(s).map_err(|e| ApiError::field(&format!("bar_sizes[{i}]"), e))?;
            if bar_sizes.contains(&b) {
                return Err(ApiError::field(&format!("bar_sizes[{i}]"), format!("duplicate bar size {b}")));
            }
            bar_sizes.push(b);
        }
        let primary_bar_size = match &self.primary_bar_size {
            None => bar_sizes[0],
            Some(p) => {
                let b = BarSize::parse(p).map_err(|e| ApiError::field("primary_bar_size", e))?;
                if !bar_sizes.contains(&b) {
                    return Err(ApiError::field("primary_bar_size", format!("{b} is not one of bar_sizes")));
                }
                b
            }
        };
        let strategy_config = Value::Object(self.strategy_config);
        // Built once to validate; the core builds its own instance when the change applies.
        build_strategy(&self.strategy_name, &strategy_config, inst).map_err(|e| match e {
            StrategyError::Unknown(_) => ApiError::field("strategy_name", e),
            StrategyError::Config(m) => ApiError::field("strategy_config", m),
        })?;
        let stop_loss_type = self.stop_loss_type.unwrap_or(StopLossType::Atr);
        let take_profit_type = self.take_profit_type.unwrap_or(TakeProfitType::RiskReward);
        let crash_recovery_mode = self.crash_recovery_mode.unwrap_or(CrashRecoveryMode::CloseAll);
        Ok(OperationSpec {
            asset,
            bar_sizes,
            primary_bar_size,
            strategy_name: self.strategy_name,
            strategy_config,
            initial_capital,
            stop_loss_type,
            stop_loss_value,
            take_profit_type,
            take_profit_value,
            crash_recovery_mode,
            emergency_stop_loss_pct,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn numbers_of(extra: Value) -> Result<OperationNumbers, ApiError> {
        let mut body = json!({ "asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross" });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        serde_json::from_value::<CreateOperationBody>(body).expect("the body's shape").numbers()
    }

    #[test]
    fn each_hostile_number_is_a_400_naming_its_field() {
        let cases = [
            (json!({ "initial_capital": 4.9e-324 }), "initial_capital"),
            (json!({ "initial_capital": 1e308 }), "initial_capital"),
            (json!({ "initial_capital": 0.004 }), "initial_capital"),
            (json!({ "initial_capital": -5 }), "initial_capital"),
            (json!({ "initial_capital": 1_000_000_001.0 }), "initial_capital"),
            (json!({ "stop_loss_value": 1e308 }), "stop_loss_value"),
            (json!({ "stop_loss_value": 4.9e-324 }), "stop_loss_value"),
            (json!({ "stop_loss_type": "PIPS", "stop_loss_value": 10_001 }), "stop_loss_value"),
            (json!({ "stop_loss_type": "PERCENTAGE", "stop_loss_value": 1.5 }), "stop_loss_value"),
            (json!({ "stop_loss_type": "ATR", "stop_loss_value": 101 }), "stop_loss_value"),
            (json!({ "stop_loss_type": "FIXED", "stop_loss_value": 0 }), "stop_loss_value"),
            (json!({ "stop_loss_type": "FIXED", "stop_loss_value": 20_000 }), "stop_loss_value"),
            (json!({ "take_profit_type": "RISK_REWARD", "take_profit_value": 101 }), "take_profit_value"),
            (json!({ "take_profit_type": "PIPS", "take_profit_value": 2.2e-310 }), "take_profit_value"),
            (json!({ "emergency_stop_loss_pct": 4.9e-324 }), "emergency_stop_loss_pct"),
            (json!({ "emergency_stop_loss_pct": 1.0000001 }), "emergency_stop_loss_pct"),
        ];
        for (extra, field) in cases {
            let e = numbers_of(extra.clone()).expect_err("refused");
            assert_eq!(e.status, 400, "{extra}");
            assert!(e.detail.starts_with(&format!("{field}: ")), "{extra}: {}", e.detail);
        }
    }

    #[test]
    fn bounds_are_inclusive_and_capital_rounds_to_cents() {
        let n = numbers_of(json!({
            "initial_capital": 0.005, "stop_loss_type": "PIPS", "stop_loss_value": 10_000,
            "take_profit_type": "PERCENTAGE", "take_profit_value": 1, "emergency_stop_loss_pct": 1
        }))
        .expect("all at their bounds");
        assert_eq!(
            n,
            OperationNumbers {
                initial_capital: Money::from_f64(0.01),
                stop_loss_value: 10_000.0,
                take_profit_value: 1.0,
                emergency_stop_loss_pct: 1.0
            }
        );
        assert_eq!(numbers_of(json!({ "initial_capital": 1e9 })).map(|n| n.initial_capital), Ok(Money::from_f64(1e9)));
        let d = numbers_of(json!({})).expect("the defaults are in range");
        assert_eq!((d.stop_loss_value, d.take_profit_value, d.emergency_stop_loss_pct), (1.5, 2.0, 0.05));
    }
}
