//! [`Change`]s on the engine, in two steps. [`Engine::prepare_change`] checks a change against the
//! current state without touching it and completes what only the engine knows (the new book's id); the
//! caller journals the prepared value, and only once it is durable calls [`Engine::apply_change`], with
//! no tick processed in between (the core holds its ticks while a prepared change waits). Replay calls
//! the same `apply_change` with the journaled value at the same tick position, so a change a client was
//! told succeeded comes back exactly as it was applied, and one that was refused was never journaled.

use super::{BookSpec, Engine, EngineError};
use crate::change::{Change, ChangeError, OperationSpec};
use crate::engine::CrashRecoveryMode;
use crate::events::BookStatus;
use crate::fixed::Money;
use crate::instrument::InstrumentId;
use crate::order::{BookId, OrderPurpose};
use crate::policy::Policy;
use crate::session::SessionSpec;
use crate::strategy::build_strategy;

/// Fraction of a book's capital risked per entry under default sizing (1%).
pub const OPERATION_RISK_FRACTION: f64 = 0.01;

/// What applying a change needs besides its data: the model a session start runs (loaded from
/// `model_path` by the caller, because the core knows nothing of libtorch).
#[derive(Default)]
pub struct ChangeResources {
    /// The policy of a [`Change::SessionStarted`].
    pub policy: Option<Box<dyn Policy>>,
}

impl std::fmt::Debug for ChangeResources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeResources").field("policy", &self.policy.is_some()).finish()
    }
}

fn engine_refusal(e: EngineError) -> ChangeError {
    match e {
        EngineError::WrongState { status, action, needs, .. } => ChangeError::WrongState { status, action, needs },
        EngineError::UnknownBook(b) => ChangeError::Unknown(format!("unknown book {b}")),
        other => ChangeError::Conflict(other.to_string()),
    }
}

impl Engine {
    /// Checks `change` against the current state and returns it completed (a new operation's book id),
    /// changing nothing. A change this refuses is never journaled.
    pub fn prepare_change(&self, change: Change, res: &ChangeResources) -> Result<Change, ChangeError> {
        match change {
            Change::OperationCreated { op_id, spec, .. } => {
                self.operation_book_spec(&spec)?;
                Ok(Change::OperationCreated { op_id, book: BookId(self.books.len() as u32), spec })
            }
            Change::OperationLifecycle { book, action, .. } => {
                let b = self.book(book).ok_or_else(|| ChangeError::Unknown(format!("unknown book {}", book.0)))?;
                b.status.transition(action)?;
                Ok(change)
            }
            Change::RiskUpdated { limits } => {
                limits.validate().map_err(|e| ChangeError::invalid(&e.field, e.message))?;
                if self.risk().is_none() {
                    return Err(ChangeError::Conflict("this engine has no risk engine".into()));
                }
                Ok(change)
            }
            Change::SessionConfigured { .. } => Ok(change),
            Change::SessionStarted { ref config, limits, .. } => {
                if let Some(l) = limits {
                    l.validate().map_err(|e| ChangeError::invalid(&format!("risk.{}", e.field), e.message))?;
                }
                let policy = res.policy.as_deref().ok_or_else(|| ChangeError::invalid("model_path", "no model loaded for the session"))?;
                self.check_session_start(&self.session_symbols(&config.symbols)?, policy)
                    .map_err(|e| ChangeError::Conflict(e.to_string()))?;
                Ok(change)
            }
            Change::SessionStopped => match self.session_running() {
                true => Ok(change),
                false => Err(ChangeError::Conflict("no session is running".into())),
            },
            Change::SessionPositionsClosed { .. } => {
                if self.session_running() {
                    return Err(ChangeError::Conflict(
                        "the session is running and would open positions again: stop it first (POST /session/stop)".into(),
                    ));
                }
                let book = self.session_book().ok_or_else(|| ChangeError::Conflict("no session has run: it holds no positions".into()))?;
                let mut closes: Vec<String> = self
                    .broker
                    .positions()
                    .filter(|p| p.book == book && p.quantity != 0)
                    .map(|p| self.instruments().get(p.instrument).symbol.clone())
                    .collect();
                closes.sort();
                closes.dedup();
                if closes.is_empty() {
                    return Err(ChangeError::Conflict("the session holds no open positions".into()));
                }
                Ok(Change::SessionPositionsClosed { closes })
            }
            Change::SessionFailed { .. } => match self.session_warming_up() {
                true => Ok(change),
                false => Err(ChangeError::Conflict("no session is warming up".into())),
            },
            Change::CrashRecoveryApplied { op_id, book, mode, emergency_stop_loss_pct, .. } => {
                if self.book(book).is_none() {
                    return Err(ChangeError::Unknown(format!("unknown book {}", book.0)));
                }
                let closes = self
                    .recovery_closes(book, mode, emergency_stop_loss_pct)
                    .iter()
                    .map(|i| self.instruments().get(*i).symbol.clone())
                    .collect();
                Ok(Change::CrashRecoveryApplied { op_id, book, mode, emergency_stop_loss_pct, closes })
            }
            Change::VenueReconciled { .. } => match self.broker.is_external() {
                true => Ok(change),
                false => Err(ChangeError::Conflict("reconciliation needs an external venue; this engine trades on paper".into())),
            },
            Change::BarsSeeded { ref symbol, ref bars } => {
                let (_, h) = self.seed_target(symbol)?;
                h.check_seed(bars, self.now_ns()).map_err(|e| ChangeError::invalid("bars", e))?;
                Ok(change)
            }
            Change::VenueReported { ref report } => {
                if !self.broker.is_external() {
                    return Err(ChangeError::Conflict("venue reports need an external venue; this engine trades on paper".into()));
                }
                // A report for an order already reported (a retry, a reconnect) is refused, not applied twice.
                self.broker.check_report(report).map_err(ChangeError::Conflict)?;
                Ok(change)
            }
        }
    }

    /// Closes at market a book's positions in the instruments a prepared change names (crash recovery,
    /// the session's close).
    fn close_named(&mut self, book: BookId, symbols: &[String], purpose: OrderPurpose) -> Result<(), ChangeError> {
        for symbol in symbols {
            let inst =
                self.instruments().find(symbol).ok_or_else(|| ChangeError::invalid("closes", format!("unknown instrument {symbol:?}")))?;
            self.close_positions(book, inst, purpose);
        }
        Ok(())
    }

    /// Applies a prepared (and journaled) change. `Err` only when the state no longer admits it, which
    /// `prepare_change` rules out for a change applied right after it.
    pub fn apply_change(&mut self, change: &Change, res: ChangeResources) -> Result<(), ChangeError> {
        match change {
            Change::OperationCreated { book, spec, .. } => {
                let built = self.operation_book_spec(spec)?;
                let id = self.add_book(built).map_err(engine_refusal)?;
                if id != *book {
                    return Err(ChangeError::Conflict(format!("operation created as book {} but prepared as book {}", id.0, book.0)));
                }
            }
            Change::OperationLifecycle { book, action, .. } => {
                self.lifecycle(*book, *action, OrderPurpose::Close).map_err(engine_refusal)?;
            }
            Change::RiskUpdated { limits } => {
                let equity = self.broker().account_state(self.now_ns()).nav();
                match self.risk_mut() {
                    Some(r) => r.set_limits(*limits, equity),
                    None => return Err(ChangeError::Conflict("this engine has no risk engine".into())),
                }
            }
            Change::SessionConfigured { .. } => {}
            Change::SessionStarted { config, limits, .. } => {
                let policy = res.policy.ok_or_else(|| ChangeError::invalid("model_path", "no model loaded for the session"))?;
                let symbols = self.session_symbols(&config.symbols)?;
                let before = self.risk().map(|r| r.limits);
                if let (Some(l), Some(r)) = (limits, self.risk_mut()) {
                    r.limits = *l;
                }
                let spec = SessionSpec { symbols, target_capital: config.target_capital, policy };
                if let Err(e) = self.start_session(spec) {
                    if let (Some(l), Some(r)) = (before, self.risk_mut()) {
                        r.limits = l;
                    }
                    return Err(ChangeError::Conflict(e.to_string()));
                }
            }
            Change::SessionStopped => {
                self.stop_session().map_err(|e| ChangeError::Conflict(e.to_string()))?;
            }
            Change::SessionPositionsClosed { closes } => {
                let book = self.session_book().ok_or_else(|| ChangeError::Conflict("no session has run".into()))?;
                self.close_named(book, closes, OrderPurpose::Close)?;
            }
            Change::SessionFailed { reason } => self.fail_session(reason.clone()),
            Change::CrashRecoveryApplied { book, closes, .. } => self.close_named(*book, closes, OrderPurpose::Recovery)?,
            Change::VenueReconciled { .. } => {}
            Change::BarsSeeded { symbol, bars } => {
                let (inst, _) = self.seed_target(symbol)?;
                let now = self.now_ns();
                if let Some(h) = self.history.get_mut(inst.0 as usize) {
                    h.seed(bars, now).map_err(|e| ChangeError::invalid("bars", e))?;
                }
            }
            Change::VenueReported { report } => {
                let filled = match report {
                    crate::broker::VenueReport::Filled { order_id, .. } => {
                        self.broker.awaiting().iter().find(|a| a.order.id == *order_id).map(|a| (a.order.book, a.order.instrument))
                    }
                    _ => None,
                };
                self.broker.apply_report(report, &mut self.events).map_err(ChangeError::Conflict)?;
                // An order that was still at the venue when its operation stopped: what its fill
                // opened is closed at once (a closed book holds nothing).
                if let Some((book, inst)) = filled {
                    let closed = self.book(book).is_some_and(|b| b.status == BookStatus::Closed);
                    if closed && self.broker.net_quantity(book, inst) != 0 && !self.broker.has_awaiting(book, inst) {
                        self.close_positions(book, inst, OrderPurpose::Close);
                    }
                }
            }
        }
        Ok(())
    }

    /// The engine book of an operation (a fresh strategy instance), or why it cannot be built.
    fn operation_book_spec(&self, spec: &OperationSpec) -> Result<BookSpec, ChangeError> {
        let instrument = self
            .instruments()
            .find(&spec.asset)
            .ok_or_else(|| ChangeError::invalid("asset", format!("unknown instrument {:?}", spec.asset)))?;
        let primary = spec
            .bar_sizes
            .iter()
            .position(|b| *b == spec.primary_bar_size)
            .ok_or_else(|| ChangeError::invalid("primary_bar_size", format!("{} is not one of bar_sizes", spec.primary_bar_size)))?;
        let strategy = build_strategy(&spec.strategy_name, &spec.strategy_config, self.instruments().get(instrument))
            .map_err(|e| ChangeError::invalid("strategy_config", e))?;
        Ok(BookSpec {
            instrument,
            bar_sizes: spec.bar_sizes.clone(),
            primary,
            strategy,
            capital: spec.initial_capital,
            stop_loss: Some((spec.stop_loss_type, spec.stop_loss_value)),
            take_profit: Some((spec.take_profit_type, spec.take_profit_value)),
            risk_fraction: OPERATION_RISK_FRACTION,
        })
    }

    /// The instrument a [`Change::BarsSeeded`] names and its session history.
    fn seed_target(&self, symbol: &str) -> Result<(InstrumentId, &crate::session::history::BarHistory), ChangeError> {
        let inst =
            self.instruments().find(symbol).ok_or_else(|| ChangeError::invalid("symbol", format!("unknown instrument {symbol:?}")))?;
        let h = self.history(inst).ok_or_else(|| ChangeError::Conflict("bar history is not enabled on this engine".into()))?;
        Ok((inst, h))
    }

    fn session_symbols(&self, symbols: &[String]) -> Result<Vec<InstrumentId>, ChangeError> {
        symbols
            .iter()
            .enumerate()
            .map(|(i, s)| {
                self.instruments()
                    .find(s)
                    .ok_or_else(|| ChangeError::invalid(&format!("symbols[{i}]"), format!("unknown instrument {s:?}")))
            })
            .collect()
    }

    /// The instruments whose positions in `book` a crash recovery mode closes: all of them for
    /// `CLOSE_ALL`, none for `RESUME`, and for `EMERGENCY_EXIT` those whose unrealized loss exceeds
    /// `emergency_pct` of the entry notional (in USD).
    pub fn recovery_closes(&self, book: BookId, mode: CrashRecoveryMode, emergency_pct: f64) -> Vec<InstrumentId> {
        if self.book(book).is_none_or(|b| b.status == BookStatus::Closed) {
            return Vec::new();
        }
        self.broker()
            .positions()
            .filter(|p| p.book == book)
            .filter(|p| match mode {
                CrashRecoveryMode::CloseAll => true,
                CrashRecoveryMode::Resume => false,
                CrashRecoveryMode::EmergencyExit => {
                    let inst = self.instruments().get(p.instrument);
                    let entry_notional = self.broker().rates().usd_per_quote_unit(p.instrument).unwrap_or(0.0)
                        * p.cost_raw().unsigned_abs() as f64
                        / 10f64.powi((inst.price_precision + inst.size_precision) as i32);
                    let unrealized: Money = self.broker().unrealized(p);
                    -unrealized.as_f64() > emergency_pct * entry_notional
                }
            })
            .map(|p| p.instrument)
            .collect()
    }
}
