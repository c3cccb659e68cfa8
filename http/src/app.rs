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
    /// Browser origins (`scheme://host[:port]`, normalized by `browser::parse_origin`) allowed to call
    /// the API: they get CORS headers; a state change from any other `Origin` is refused 403.
    pub allowed_origins: Vec<String>,
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
            allowed_origins: Vec::new(),
        }
    }
}

/// Where a state change was applied on the core: the engine's tick position and the change's number
/// (see `Engine::note_command`). A restart re-applies the change at `tick_pos`; a snapshot that already
/// holds changes up to number N skips journaled changes numbered N or below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub tick_pos: u64,
    pub cmd: u64,
}

impl Applied {
    /// The journal payload with `tick_pos` and `cmd` added.
    pub fn stamp(&self, mut payload: serde_json::Value) -> serde_json::Value {
        if let Some(o) = payload.as_object_mut() {
            o.insert("tick_pos".into(), self.tick_pos.into());
            o.insert("cmd".into(), self.cmd.into());
        }
        payload
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
        self.run_on_core(f, false).map(|(out, _)| out)
    }

    /// Applies a state change that will be journaled: like [`call`](Self::call), also returning where it
    /// was applied (tick position and change number), which [`Applied::stamp`] adds to its journal record.
    pub fn call_applied<T: Send + 'static>(&self, f: impl FnOnce(&mut Engine) -> T + Send + 'static) -> Result<(T, Applied), ApiError> {
        self.run_on_core(f, true)
    }

    fn run_on_core<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> T + Send + 'static,
        counts_as_change: bool,
    ) -> Result<(T, Applied), ApiError> {
        let (tx, rx) = bounded(1);
        let cmd: Command = Box::new(move |engine: &mut Engine| {
            let out = f(engine);
            let cmd = if counts_as_change { engine.note_command() } else { engine.commands_applied() };
            let at = Applied { tick_pos: engine.ticks_processed(), cmd };
            let _ = tx.send((out, engine.event_seq(), at));
        });
        self.commands.try_send(cmd).map_err(|_| ApiError::unavailable("engine command queue is full or the engine has stopped; retry"))?;
        let (out, seq, at) =
            rx.recv_timeout(self.config.command_timeout).map_err(|_| ApiError::unavailable("engine did not answer in time"))?;
        if !self.read.wait_for(seq, self.config.command_timeout) {
            return Err(ApiError::unavailable("state change applied but not yet visible; retry the read"));
        }
        Ok((out, at))
    }

    /// Makes an applied state change durable before the client is told it succeeded.
    pub fn persist(&self, kind: &str, payload: &serde_json::Value) -> Result<(), ApiError> {
        self.durability.record(kind, payload).map_err(|e| ApiError::unavailable(format!("could not persist the change: {e}")))
    }
}
