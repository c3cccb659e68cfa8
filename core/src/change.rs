//! State changes as data. Every change a client or the engine makes to the trading state is one
//! [`Change`] value: the HTTP side builds and validates it, the core checks it against the current state
//! and completes it ([`Engine::prepare_change`](crate::engine::Engine::prepare_change)), the journal
//! writes it (durably) and only then does the core apply it
//! ([`Engine::apply_change`](crate::engine::Engine::apply_change)). A restart replays the very same
//! values through the very same apply. Nothing is described twice: there is no record format besides
//! this enum, and no field is defaulted when a record is read back (every field is required).

use crate::bars::BarSize;
use crate::engine::{CrashRecoveryMode, StopLossType, TakeProfitType};
use crate::events::{BookStatus, OperationAction};
use crate::fixed::Money;
use crate::order::BookId;
use crate::risk::RiskLimits;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One state change, as validated, journaled, applied and replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    /// A new operation (a book running one strategy instance).
    OperationCreated {
        /// The operation id clients use.
        op_id: u64,
        /// The engine book it trades in (assigned when the change is prepared).
        book: BookId,
        /// What it trades and how.
        spec: OperationSpec,
    },
    /// Pause, resume or stop (close positions, then closed) of an operation.
    OperationLifecycle {
        /// The operation id.
        op_id: u64,
        /// Its book.
        book: BookId,
        /// What was asked.
        action: OperationAction,
    },
    /// New risk limits (the full set in force after a `/risk/update`).
    RiskUpdated {
        /// The limits installed.
        limits: RiskLimits,
    },
    /// A model session configuration that the next start uses.
    SessionConfigured {
        /// The configuration.
        config: SessionConfigSpec,
    },
    /// A model session started with a configuration.
    SessionStarted {
        /// The configuration it starts with.
        config: SessionConfigSpec,
        /// The risk limits installed at start: the config's overrides over the limits in force (None:
        /// the limits are left as they are).
        limits: Option<RiskLimits>,
        /// Seconds the warm-up may take before the session fails.
        cold_start_timeout_sec: f64,
    },
    /// The model session stopped taking decisions.
    SessionStopped,
    /// The operator closed, at market, every position the stopped model session still held (the
    /// dashboard's emergency stop; `POST /session/positions/close`).
    SessionPositionsClosed {
        /// The instruments whose positions it closes (decided when the change is prepared).
        closes: Vec<String>,
    },
    /// The warming-up session failed (its warm-up did not complete in time).
    SessionFailed {
        /// Why.
        reason: String,
    },
    /// After a restart: what an active operation's crash recovery mode did to its positions.
    CrashRecoveryApplied {
        /// The operation id.
        op_id: u64,
        /// Its book.
        book: BookId,
        /// The mode applied.
        mode: CrashRecoveryMode,
        /// Loss fraction of entry notional beyond which `EMERGENCY_EXIT` closes (0.05 = 5%).
        emergency_stop_loss_pct: f64,
        /// The instruments whose positions it closes (decided when the change is prepared).
        closes: Vec<String>,
    },
    /// Closed bars from the broker's history (its candles) put before the session history of one
    /// instrument, so a model session warms up in seconds instead of waiting for live bars. Journaled
    /// like every change: a replay seeds exactly the same bars at the same tick.
    BarsSeeded {
        /// The instrument's canonical symbol.
        symbol: String,
        /// The bars, oldest first, at the session history's bar size.
        bars: Vec<crate::bars::Bar>,
    },
    /// A comparison with the external venue found positions that differ from what pinion holds (and
    /// that lasted past the orders in flight). Journaled as a record for the trader; it changes
    /// nothing (pinion never trades to make a difference go away).
    VenueReconciled {
        /// One line per difference: book, instrument, pinion's and the venue's units.
        differences: Vec<String>,
    },
    /// An external venue (a live broker) reported on an order it was sent, or on a stop or target it
    /// filled on its own; journaled before it applies like every change, so a replay books the same
    /// fills at the same tick.
    VenueReported {
        /// The report.
        report: crate::broker::VenueReport,
    },
}

impl Change {
    /// A short name for logs and errors (`operation_created`, `risk_updated`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Change::OperationCreated { .. } => "operation_created",
            Change::OperationLifecycle { action: OperationAction::Pause, .. } => "operation_paused",
            Change::OperationLifecycle { action: OperationAction::Resume, .. } => "operation_resumed",
            Change::OperationLifecycle { action: OperationAction::Stop, .. } => "operation_stopped",
            Change::RiskUpdated { .. } => "risk_updated",
            Change::SessionConfigured { .. } => "session_configured",
            Change::SessionStarted { .. } => "session_started",
            Change::SessionStopped => "session_stopped",
            Change::SessionPositionsClosed { .. } => "session_positions_closed",
            Change::SessionFailed { .. } => "session_failed",
            Change::CrashRecoveryApplied { .. } => "crash_recovery_applied",
            Change::BarsSeeded { .. } => "bars_seeded",
            Change::VenueReconciled { .. } => "venue_reconciled",
            Change::VenueReported { .. } => "venue_reported",
        }
    }
}

/// A journaled change: the change and where it applies. One journal record each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournaledChange {
    /// Ticks the engine had processed when the change applied.
    pub tick_pos: u64,
    /// The change's number among all state changes (1, 2, ...).
    pub cmd: u64,
    /// The change.
    pub change: Change,
}

/// A validated operation: every field explicit (defaults were filled in when the request was
/// validated, never when a record is read back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationSpec {
    /// The instrument's canonical symbol (`EUR_USD`).
    pub asset: String,
    /// The bar sizes the strategy receives.
    pub bar_sizes: Vec<BarSize>,
    /// The bar size that drives entries, stops and sizing; one of `bar_sizes`.
    pub primary_bar_size: BarSize,
    /// The strategy (`ema_cross`, `MomentumStrategy`, ...).
    pub strategy_name: String,
    /// Its parameters, already checked by building it once.
    pub strategy_config: serde_json::Value,
    /// Capital of the book, in cents.
    pub initial_capital: Money,
    /// How the stop distance is measured.
    pub stop_loss_type: StopLossType,
    /// The stop distance in that measure.
    pub stop_loss_value: f64,
    /// How the take-profit distance is measured.
    pub take_profit_type: TakeProfitType,
    /// The take-profit distance in that measure.
    pub take_profit_value: f64,
    /// What a restart does with the open positions.
    pub crash_recovery_mode: CrashRecoveryMode,
    /// Loss fraction of entry notional beyond which `EMERGENCY_EXIT` closes (0.05 = 5%).
    pub emergency_stop_loss_pct: f64,
}

/// A validated model session configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfigSpec {
    /// Canonical symbols, in the order the model sees them.
    pub symbols: Vec<String>,
    /// The TorchScript model file.
    pub model_path: String,
    /// Exposure cap of the session, in cents of USD.
    pub target_capital: Money,
    /// Risk fields applied over the limits in force at start (only those named).
    pub risk: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ChangeError {
    /// The operation's status does not allow the action (409).
    #[error("{action} needs {needs}, but the operation is {status}")]
    WrongState {
        /// The status it is in.
        status: BookStatus,
        /// What was asked.
        action: OperationAction,
        /// What the action needs (`active`, `paused`, `not closed`).
        needs: &'static str,
    },
    /// The change does not fit the current state otherwise (409: a session already running, ...).
    #[error("{0}")]
    Conflict(String),
    /// The change is invalid in itself (400), naming the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field.
        field: String,
        /// Why.
        message: String,
    },
    /// The change refers to something the engine does not have.
    #[error("{0}")]
    Unknown(String),
}

impl ChangeError {
    /// An [`Invalid`](ChangeError::Invalid) error.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> ChangeError {
        ChangeError::Invalid { field: field.to_string(), message: message.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> OperationSpec {
        OperationSpec {
            asset: "EUR_USD".into(),
            bar_sizes: vec![BarSize::parse("1 min").unwrap(), BarSize::parse("15 mins").unwrap()],
            primary_bar_size: BarSize::parse("1 min").unwrap(),
            strategy_name: "ema_cross".into(),
            strategy_config: serde_json::json!({"fast": 10, "slow": 30}),
            initial_capital: Money(1_000_000),
            stop_loss_type: StopLossType::Pips,
            stop_loss_value: 10.0,
            take_profit_type: TakeProfitType::RiskReward,
            take_profit_value: 2.0,
            crash_recovery_mode: CrashRecoveryMode::Resume,
            emergency_stop_loss_pct: 0.05,
        }
    }

    /// One value of every change kind.
    pub(crate) fn every_kind() -> Vec<Change> {
        let config = SessionConfigSpec {
            symbols: vec!["EUR_USD".into(), "AUD_USD".into()],
            model_path: "/models/example.pt".into(),
            target_capital: Money(2_000_000),
            risk: serde_json::json!({"daily_loss_limit_pct": 3.0}).as_object().cloned(),
        };
        vec![
            Change::OperationCreated { op_id: 1, book: BookId(0), spec: spec() },
            Change::OperationLifecycle { op_id: 1, book: BookId(0), action: OperationAction::Pause },
            Change::OperationLifecycle { op_id: 1, book: BookId(0), action: OperationAction::Resume },
            Change::OperationLifecycle { op_id: 1, book: BookId(0), action: OperationAction::Stop },
            Change::RiskUpdated { limits: RiskLimits::default() },
            Change::SessionConfigured { config: config.clone() },
            Change::SessionStarted { config, limits: Some(RiskLimits::default()), cold_start_timeout_sec: 120.0 },
            Change::SessionStopped,
            Change::SessionPositionsClosed { closes: vec!["EUR_USD".into(), "AUD_USD".into()] },
            Change::SessionFailed { reason: "warm-up not ready".into() },
            Change::CrashRecoveryApplied {
                op_id: 1,
                book: BookId(0),
                mode: CrashRecoveryMode::EmergencyExit,
                emergency_stop_loss_pct: 0.05,
                closes: vec!["EUR_USD".into()],
            },
            Change::BarsSeeded {
                symbol: "EUR_USD".into(),
                bars: vec![crate::bars::Bar { start_ns: 0, end_ns: 60_000_000_000, open: 4, high: 6, low: 2, close: 5, ticks: 9 }],
            },
            Change::VenueReconciled { differences: vec!["book 1 EUR_USD: pinion holds 1000 units, OANDA 0".into()] },
            Change::VenueReported {
                report: crate::broker::VenueReport::ClosedAtVenue {
                    book: BookId(0),
                    instrument: crate::instrument::InstrumentId(1),
                    purpose: crate::order::OrderPurpose::StopLoss,
                    quantity: crate::fixed::Quantity(1000),
                    price: crate::fixed::Price(110_000),
                    ts_ns: 5,
                    venue_txn: 42,
                },
            },
        ]
    }

    #[test]
    fn every_kind_round_trips_through_json() {
        for c in every_kind() {
            let text = serde_json::to_string(&c).unwrap();
            let back: Change = serde_json::from_str(&text).unwrap();
            assert_eq!(back, c, "{text}");
        }
    }

    #[test]
    fn journaled_changes_round_trip() {
        for (i, change) in every_kind().into_iter().enumerate() {
            let j = JournaledChange { tick_pos: 1000 + i as u64, cmd: i as u64 + 1, change };
            let back: JournaledChange = serde_json::from_slice(&serde_json::to_vec(&j).unwrap()).unwrap();
            assert_eq!(back, j);
        }
    }

    #[test]
    fn unknown_kinds_and_fields_and_missing_fields_are_refused() {
        assert!(serde_json::from_str::<Change>(r#"{"kind":"operation_closed_book","op_id":1}"#).is_err());
        assert!(serde_json::from_str::<Change>(r#"{"op_id":1}"#).is_err());
        let mut v = serde_json::to_value(&every_kind()[1]).unwrap();
        v["extra"] = 1.into();
        assert!(serde_json::from_value::<Change>(v).is_err());
        let mut v = serde_json::to_value(&every_kind()[0]).unwrap();
        v["spec"].as_object_mut().unwrap().remove("crash_recovery_mode");
        assert!(serde_json::from_value::<Change>(v).is_err(), "no default is invented for a missing field");
        let v = serde_json::json!({"kind": "operation_lifecycle", "op_id": 1, "book": 0, "action": "close_everything"});
        assert!(serde_json::from_value::<Change>(v).is_err());
    }
}
