//! The model-driven multi-symbol session: a policy that, on each closed bar of the session bar size,
//! reads an observation built from the bar history of its symbols and returns target exposures, which
//! the engine turns into rebalancing orders sized through the risk engine and the target capital.

pub mod features;
pub mod history;

use crate::fixed::Money;
use crate::instrument::InstrumentId;
use crate::order::BookId;
use crate::policy::{Policy, PolicyShape};
use serde::{Deserialize, Serialize};

/// Lifecycle of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// No session has been started.
    Idle,
    /// Started; waiting until every symbol has `lookback_window` closed bars.
    WarmingUp,
    /// Deciding on each closed bar of the session bar size.
    Running,
    /// Stopped by the operator; no more decisions, positions stay open.
    Stopped,
    /// Warm-up or inference failed; `reason` says why.
    Failed,
}

/// A configured session ready to start.
pub struct SessionSpec {
    /// The session's instruments, in policy slot order.
    pub symbols: Vec<InstrumentId>,
    /// Exposure cap of the session (sum of target notionals), USD.
    pub target_capital: Money,
    /// The policy that decides target exposures.
    pub policy: Box<dyn Policy>,
}

/// The running session on the core thread. Buffers are allocated once at start.
pub struct Session {
    /// The book the session trades through.
    pub book: BookId,
    /// The session's instruments, in policy slot order.
    pub symbols: Vec<InstrumentId>,
    /// Exposure cap (sum of target notionals), USD cents.
    pub target_capital: Money,
    /// The policy.
    pub policy: Box<dyn Policy>,
    /// The policy's input and output sizes.
    pub shape: PolicyShape,
    /// Lifecycle state.
    pub state: SessionState,
    /// Why it failed, if it did.
    pub reason: Option<String>,
    /// Observation buffer (`shape.observation_len()` floats), reused every decision.
    pub observation: Vec<f32>,
    /// Slot mask buffer (1.0 = symbol has data, 0.0 = empty), one per slot.
    pub mask: Vec<f32>,
    /// Action buffer the policy writes, one per slot.
    pub actions: Vec<f32>,
    /// End of the newest bar interval decided on, UTC epoch ns.
    pub last_decision_end: i64,
    /// Decisions made.
    pub decisions: u64,
    /// Tick time of the last decision, UTC epoch ns.
    pub last_decision_ns: i64,
    /// Wall time of the last decision (observation + inference + sizing), nanoseconds.
    pub last_decision_cost_ns: u64,
    /// Actions (target exposures in [-1, 1]) of the last successful decision.
    pub last_actions: Vec<f32>,
}

impl Session {
    /// A session warming up on `book`, with buffers sized from the policy's shape.
    pub fn new(book: BookId, spec: SessionSpec) -> Session {
        let shape = spec.policy.shape();
        Session {
            book,
            symbols: spec.symbols,
            target_capital: spec.target_capital,
            policy: spec.policy,
            observation: vec![0.0; shape.observation_len()],
            mask: vec![0.0; shape.max_symbols],
            actions: vec![0.0; shape.max_symbols],
            last_actions: vec![0.0; shape.max_symbols],
            shape,
            state: SessionState::WarmingUp,
            reason: None,
            last_decision_end: 0,
            decisions: 0,
            last_decision_ns: 0,
            last_decision_cost_ns: 0,
        }
    }
}

/// What `/session/status` reports, read on the core thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionStatus {
    /// Lifecycle state.
    pub state: SessionState,
    /// Whether the session is warming up or running.
    pub running: bool,
    /// Why it failed, if it did.
    pub reason: Option<String>,
    /// Symbols of the session's instruments, in slot order.
    pub symbols: Vec<String>,
    /// Exposure cap in USD.
    pub target_capital_usd: f64,
    /// Whether every symbol has enough history to decide.
    pub warmup_ready: bool,
    /// Symbols whose history is still short, with bars held / bars needed.
    pub warmup_missing: Vec<(String, usize, usize)>,
    /// Decisions made.
    pub decisions: u64,
    /// Tick time of the last decision, UTC epoch ns (0 before any).
    pub last_decision_ns: i64,
    /// Wall time the last decision took, ns.
    pub last_decision_cost_ns: u64,
    /// The last decision's action per symbol.
    pub last_actions: Vec<(String, f32)>,
    /// Open positions of the session book: (symbol, signed units).
    pub open_positions: Vec<(String, f64)>,
}
