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
    Idle,
    WarmingUp,
    Running,
    Stopped,
    Failed,
}

/// A configured session ready to start.
pub struct SessionSpec {
    pub symbols: Vec<InstrumentId>,
    /// Exposure cap of the session (sum of target notionals), USD.
    pub target_capital: Money,
    pub policy: Box<dyn Policy>,
}

/// The running session on the core thread. Buffers are allocated once at start.
pub struct Session {
    pub book: BookId,
    pub symbols: Vec<InstrumentId>,
    pub target_capital: Money,
    pub policy: Box<dyn Policy>,
    pub shape: PolicyShape,
    pub state: SessionState,
    pub reason: Option<String>,
    pub observation: Vec<f32>,
    pub mask: Vec<f32>,
    pub actions: Vec<f32>,
    pub last_decision_end: i64,
    pub decisions: u64,
    pub last_decision_ns: i64,
    /// Wall time of the last decision (observation + inference + sizing), nanoseconds.
    pub last_decision_cost_ns: u64,
    pub last_actions: Vec<f32>,
}

impl Session {
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
    pub state: SessionState,
    pub running: bool,
    pub reason: Option<String>,
    pub symbols: Vec<String>,
    pub target_capital_usd: f64,
    pub warmup_ready: bool,
    /// Symbols whose history is still short, with bars held / bars needed.
    pub warmup_missing: Vec<(String, usize, usize)>,
    pub decisions: u64,
    pub last_decision_ns: i64,
    pub last_decision_cost_ns: u64,
    pub last_actions: Vec<(String, f32)>,
    /// Open positions of the session book: (symbol, signed units).
    pub open_positions: Vec<(String, f64)>,
}
