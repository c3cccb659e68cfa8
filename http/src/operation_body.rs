//! Validation of the `POST /api/operations` body ([`CreateOperationBody`], its wire shape): `validate`
//! turns it into the [`OperationSpec`] that is journaled and applied, naming the first bad field.

use crate::api::ApiError;
use crate::app::App;
pub use crate::bodies::CreateOperationBody;
use pinion_core::bars::BarSize;
use pinion_core::change::OperationSpec;
use pinion_core::engine::{CrashRecoveryMode, StopLossType, TakeProfitType};
use pinion_core::fixed::Money;
use pinion_core::strategy::{build_strategy, StrategyError};
use serde_json::Value;

/// Largest `initial_capital` accepted (USD).
pub const MAX_CAPITAL: f64 = 1e12;

fn positive(field: &str, v: f64) -> Result<f64, ApiError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(ApiError::field(field, format!("must be a positive number, got {v}")))
    }
}

impl CreateOperationBody {
    /// Checks every field against the server (instrument fed, strategy buildable) and fills in the
    /// defaults: the result is what is journaled.
    pub fn validate(self, app: &App) -> Result<OperationSpec, ApiError> {
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
        let capital_in = self.initial_capital.unwrap_or(10_000.0);
        if !capital_in.is_finite() || capital_in > MAX_CAPITAL {
            return Err(ApiError::field(
                "initial_capital",
                format!("must be a positive amount of at most {MAX_CAPITAL}, got {capital_in}"),
            ));
        }
        let initial_capital = Money::from_f64(capital_in);
        if initial_capital <= Money::ZERO {
            return Err(ApiError::field("initial_capital", format!("must be at least 0.01 after rounding to cents, got {capital_in}")));
        }
        let stop_loss_type = self.stop_loss_type.unwrap_or(StopLossType::Atr);
        let stop_loss_value = positive("stop_loss_value", self.stop_loss_value.unwrap_or(1.5))?;
        let take_profit_type = self.take_profit_type.unwrap_or(TakeProfitType::RiskReward);
        let take_profit_value = positive("take_profit_value", self.take_profit_value.unwrap_or(2.0))?;
        let crash_recovery_mode = self.crash_recovery_mode.unwrap_or(CrashRecoveryMode::CloseAll);
        let emergency_stop_loss_pct = self.emergency_stop_loss_pct.unwrap_or(0.05);
        if !(emergency_stop_loss_pct > 0.0 && emergency_stop_loss_pct <= 1.0) {
            return Err(ApiError::field(
                "emergency_stop_loss_pct",
                format!("must be in (0, 1] (0.05 = 5%), got {emergency_stop_loss_pct}"),
            ));
        }
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
