//! Engine snapshots: everything the engine's future behaviour depends on (books with their strategies'
//! indicators and bars, the paper venue, risk state, bar history, the model session) as one serde
//! document, so a restart resumes from a checkpoint instead of re-executing the whole feed. Scratch
//! buffers are not saved; they are reallocated on restore, so the tick path still allocates nothing.

use super::session_ops::{PolicyDriven, SESSION_STRATEGY};
use super::{Book, BookSpec, Engine};
use super::{StopLossType, TakeProfitType};
use crate::bars::{BarAggregator, BarSize};
use crate::broker::{BrokerState, PaperConfig};
use crate::events::BookStatus;
use crate::fixed::Money;
use crate::indicators::atr::Atr;
use crate::instrument::{InstrumentId, InstrumentTable};
use crate::order::BookId;
use crate::policy::Policy;
use crate::risk::RiskEngine;
use crate::session::history::{BarHistory, HistorySave};
use crate::session::{Session, SessionSpec, SessionState};
use crate::strategy::{restore_strategy, Strategy};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version of the saved engine state; a snapshot of another version is not used (the journal is).
pub const ENGINE_STATE_VERSION: u32 = 1;

/// Why the engine could not be saved to, or restored from, a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Something in the engine cannot be saved (a strategy or policy without a saved form).
    #[error("the engine cannot be saved: {0}")]
    NotSaveable(String),
    /// A saved state that does not fit this build or configuration.
    #[error("the saved engine state cannot be restored: {0}")]
    Invalid(String),
}

/// One book as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookState {
    /// The book's id (its index in the engine).
    pub id: BookId,
    /// The instrument it trades.
    pub instrument: InstrumentId,
    /// Lifecycle state.
    pub status: BookStatus,
    /// Name of the strategy, used to rebuild it.
    pub strategy: String,
    /// The strategy's own saved state.
    pub strategy_state: Value,
    /// Bar aggregation state (open bars included).
    pub bars: BarAggregator,
    /// Index of the primary bar size.
    pub primary: usize,
    /// ATR used for protective distances.
    pub atr: Atr,
    /// Stop-loss rule (kind and value).
    pub stop_loss: Option<(StopLossType, f64)>,
    /// Take-profit rule (kind and value).
    pub take_profit: Option<(TakeProfitType, f64)>,
    /// Fraction of capital risked per entry.
    pub risk_fraction: f64,
    /// Capital allotted at creation, USD cents.
    pub initial_capital: Money,
    /// Realized P&L, USD cents, before commission.
    pub realized: Money,
    /// Commission paid, USD cents.
    pub commission: Money,
    /// Whether entries are blocked until the next primary bar close.
    pub entry_blocked: bool,
}

/// The model session as saved; its policy is loaded again from `policy_source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSave {
    /// The session's book.
    pub book: BookId,
    /// The session's instruments, in policy slot order.
    pub symbols: Vec<InstrumentId>,
    /// Exposure cap (sum of target notionals), USD cents.
    pub target_capital: Money,
    /// Where the policy was loaded from (a model path), to load it again.
    pub policy_source: String,
    /// Lifecycle state.
    pub state: SessionState,
    /// Why it failed, if it did.
    pub reason: Option<String>,
    /// End of the newest bar interval decided on, UTC epoch ns.
    pub last_decision_end: i64,
    /// Decisions made.
    pub decisions: u64,
    /// Tick time of the last decision, UTC epoch ns.
    pub last_decision_ns: i64,
    /// Wall time the last decision took, ns.
    pub last_decision_cost_ns: u64,
    /// Actions (target exposures in [-1, 1]) of the last decision, per slot.
    pub last_actions: Vec<f32>,
}

/// The whole engine as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    /// Format version ([`ENGINE_STATE_VERSION`]).
    pub version: u32,
    /// Ticks processed.
    pub ticks: u64,
    /// Engine clock, UTC epoch ns.
    pub now_ns: i64,
    /// Events emitted so far (the event sequence number).
    pub events_flushed: u64,
    /// State changes applied so far (see `Engine::commands_applied`).
    pub commands: u64,
    /// The paper venue.
    pub broker: BrokerState,
    /// Every book, in id order.
    pub books: Vec<BookState>,
    /// The risk engine with its limits and daily state, if installed.
    pub risk: Option<RiskEngine>,
    /// Start of the next UTC day, when the risk engine's daily state rolls, UTC epoch ns.
    pub next_day_ns: i64,
    /// Bar size of the kept history, if enabled.
    pub history_size: Option<BarSize>,
    /// Bars kept per instrument.
    pub history_capacity: usize,
    /// Per-instrument bar history.
    pub history: Vec<HistorySave>,
    /// When the next history bar is due to close, UTC epoch ns.
    pub next_history_close: i64,
    /// The model session, if one was started.
    pub session: Option<SessionSave>,
    /// The book the session trades through, once a session was started.
    pub session_book: Option<BookId>,
}

/// Loads a policy from the source a snapshot recorded (a model path).
pub type PolicyLoader<'a> = &'a mut dyn FnMut(&str) -> Result<Box<dyn Policy>, String>;

impl Engine {
    /// Saves the engine between tick batches (no events may be pending: drain or flush them first).
    pub fn save_state(&self) -> Result<EngineState, SnapshotError> {
        if !self.events.is_empty() {
            return Err(SnapshotError::NotSaveable(format!("{} events are not drained yet", self.events.len())));
        }
        let books = self
            .books
            .iter()
            .map(|b| {
                let strategy_state = b.strategy.save_state().ok_or_else(|| {
                    SnapshotError::NotSaveable(format!("strategy {} of book {} has no saved form", b.strategy.name(), b.id.0))
                })?;
                Ok(BookState {
                    id: b.id,
                    instrument: b.instrument,
                    status: b.status,
                    strategy: b.strategy.name().to_string(),
                    strategy_state,
                    bars: b.bars.clone(),
                    primary: b.primary,
                    atr: b.atr.clone(),
                    stop_loss: b.stop_loss,
                    take_profit: b.take_profit,
                    risk_fraction: b.risk_fraction,
                    initial_capital: b.initial_capital,
                    realized: b.realized,
                    commission: b.commission,
                    entry_blocked: b.entry_blocked,
                })
            })
            .collect::<Result<Vec<_>, SnapshotError>>()?;
        let session = match &self.session {
            None => None,
            Some(s) => Some(SessionSave {
                book: s.book,
                symbols: s.symbols.clone(),
                target_capital: s.target_capital,
                policy_source: s
                    .policy
                    .source()
                    .ok_or_else(|| SnapshotError::NotSaveable("the session's policy cannot be reloaded".into()))?,
                state: s.state,
                reason: s.reason.clone(),
                last_decision_end: s.last_decision_end,
                decisions: s.decisions,
                last_decision_ns: s.last_decision_ns,
                last_decision_cost_ns: s.last_decision_cost_ns,
                last_actions: s.last_actions.clone(),
            }),
        };
        Ok(EngineState {
            version: ENGINE_STATE_VERSION,
            ticks: self.ticks,
            now_ns: self.now_ns,
            events_flushed: self.events_flushed,
            commands: self.commands,
            broker: self.broker.save_state(),
            books,
            risk: self.risk.clone(),
            next_day_ns: self.next_day_ns,
            history_size: self.history_size,
            history_capacity: self.history.first().map_or(0, BarHistory::capacity),
            history: self.history.iter().map(BarHistory::save).collect(),
            next_history_close: self.next_history_close,
            session,
            session_book: self.session_book,
        })
    }

    /// Builds an engine from a saved state, the same instrument table and venue settings, loading the
    /// session's policy (if any) with `load_policy`.
    pub fn restore(
        instruments: InstrumentTable,
        config: PaperConfig,
        state: EngineState,
        load_policy: PolicyLoader,
    ) -> Result<Engine, SnapshotError> {
        let bad = SnapshotError::Invalid;
        if state.version != ENGINE_STATE_VERSION {
            return Err(bad(format!("engine state version {} (this build reads {ENGINE_STATE_VERSION})", state.version)));
        }
        let mut e = Engine::new(instruments, config);
        e.broker.load_state(state.broker).map_err(bad)?;
        for (i, b) in state.books.into_iter().enumerate() {
            if b.id.0 as usize != i {
                return Err(bad(format!("book {} saved at position {i}", b.id.0)));
            }
            if e.instruments().try_get(b.instrument).is_none() {
                return Err(bad(format!("book {} trades unknown instrument id {}", i, b.instrument.0)));
            }
            let strategy: Box<dyn Strategy> = if b.strategy == SESSION_STRATEGY {
                Box::new(PolicyDriven)
            } else {
                restore_strategy(&b.strategy, &b.strategy_state).map_err(|err| bad(format!("book {i}: {err}")))?
            };
            let sizes: Vec<BarSize> = (0..b.bars.len()).filter_map(|k| b.bars.size(k)).collect();
            let spec = BookSpec {
                instrument: b.instrument,
                bar_sizes: sizes,
                primary: b.primary,
                strategy,
                capital: b.initial_capital,
                stop_loss: b.stop_loss,
                take_profit: b.take_profit,
                risk_fraction: b.risk_fraction,
            };
            let mut book = Book::new(b.id, spec);
            book.status = b.status;
            book.bars = b.bars;
            book.atr = b.atr;
            book.realized = b.realized;
            book.commission = b.commission;
            book.entry_blocked = b.entry_blocked;
            e.by_instrument[b.instrument.0 as usize].push(b.id.0);
            e.books.push(book);
        }
        if let Some(size) = state.history_size {
            let n = e.instruments().len();
            if state.history.len() != n {
                return Err(bad(format!("bar history for {} instruments, this server has {n}", state.history.len())));
            }
            e.history = state.history.into_iter().map(|h| BarHistory::restore(state.history_capacity, h)).collect();
            e.history_size = Some(size);
        }
        if let Some(s) = state.session {
            let policy = load_policy(&s.policy_source).map_err(|err| bad(format!("session model {}: {err}", s.policy_source)))?;
            let spec = SessionSpec { symbols: s.symbols, target_capital: s.target_capital, policy };
            let mut session = Session::new(s.book, spec);
            session.state = s.state;
            session.reason = s.reason;
            session.last_decision_end = s.last_decision_end;
            session.decisions = s.decisions;
            session.last_decision_ns = s.last_decision_ns;
            session.last_decision_cost_ns = s.last_decision_cost_ns;
            if session.last_actions.len() == s.last_actions.len() {
                session.last_actions = s.last_actions;
            }
            e.session = Some(session);
        }
        e.session_book = state.session_book;
        e.ticks = state.ticks;
        e.now_ns = state.now_ns;
        e.events_flushed = state.events_flushed;
        e.commands = state.commands;
        e.risk = state.risk;
        e.next_day_ns = state.next_day_ns;
        e.next_history_close = state.next_history_close;
        Ok(e)
    }
}
