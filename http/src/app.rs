//! The state every handler shares: the command queue into the core, the read model, configuration, and
//! the "apply on the core, then wait until the read side has seen it" call.

use crate::api::ApiError;
use crate::readmodel::ReadModel;
use crossbeam_channel::{bounded, Sender};
use pinion_core::engine::pipeline::Command;
use pinion_core::engine::Engine;
use pinion_core::instrument::InstrumentTable;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Persists a state change before the client is told it succeeded (the journal), or does nothing.
pub trait Durability: Send + Sync {
    /// Records `kind` with a JSON payload and returns once it is durable.
    fn record(&self, kind: &str, payload: &serde_json::Value) -> Result<(), String>;
}

/// No persistence (tests and `--no-journal`).
pub struct NoDurability;

impl Durability for NoDurability {
    fn record(&self, _kind: &str, _payload: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }
}

/// Static settings of the HTTP side.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub bearer_token: Option<String>,
    pub account_id: String,
    pub max_body_bytes: usize,
    /// How long a state-changing call waits for the core and the read model.
    pub command_timeout: Duration,
    /// `practice` or `live` (never probed; a server setting).
    pub environment: String,
    /// Symbols the configured models were trained on.
    pub training_symbols: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            bearer_token: None,
            account_id: "pinion-paper-001".into(),
            max_body_bytes: 64 * 1024,
            command_timeout: Duration::from_secs(5),
            environment: "practice".into(),
            training_symbols: Vec::new(),
        }
    }
}

pub struct App {
    pub commands: Sender<Command>,
    pub read: Arc<ReadModel>,
    pub instruments: InstrumentTable,
    /// Instruments the feed carries (operations can only trade these).
    pub fed_instruments: Vec<String>,
    pub config: HttpConfig,
    pub durability: Arc<dyn Durability>,
    pub started: Instant,
    pub extensions: crate::extensions::Extensions,
}

impl App {
    /// Runs `f` on the core thread between tick batches and waits for its result, then until the read
    /// model has applied every event the call produced (so the next GET sees it).
    pub fn call<T: Send + 'static>(&self, f: impl FnOnce(&mut Engine) -> T + Send + 'static) -> Result<T, ApiError> {
        self.call_at(f).map(|(out, _)| out)
    }

    /// Like [`call`](Self::call), also returning the engine's tick position when `f` ran (ticks
    /// processed so far): journaled with the change so a restart re-applies it at the same point.
    pub fn call_at<T: Send + 'static>(&self, f: impl FnOnce(&mut Engine) -> T + Send + 'static) -> Result<(T, u64), ApiError> {
        let (tx, rx) = bounded(1);
        let cmd: Command = Box::new(move |engine: &mut Engine| {
            let out = f(engine);
            let _ = tx.send((out, engine.event_seq(), engine.ticks_processed()));
        });
        self.commands.try_send(cmd).map_err(|_| ApiError::unavailable("engine command queue is full or the engine has stopped; retry"))?;
        let (out, seq, pos) =
            rx.recv_timeout(self.config.command_timeout).map_err(|_| ApiError::unavailable("engine did not answer in time"))?;
        if !self.read.wait_for(seq, self.config.command_timeout) {
            return Err(ApiError::unavailable("state change applied but not yet visible; retry the read"));
        }
        Ok((out, pos))
    }

    /// Makes an applied state change durable before the client is told it succeeded.
    pub fn persist(&self, kind: &str, payload: &serde_json::Value) -> Result<(), ApiError> {
        self.durability.record(kind, payload).map_err(|e| ApiError::unavailable(format!("could not persist the change: {e}")))
    }
}
