//! The state every handler shares: the command queue into the core, the read model, configuration, and
//! the two ways to reach the core: a query (`call`), and a state change written ahead (`propose`:
//! validate -> journal, durably -> apply -> answer).

use crate::api::ApiError;
use crate::readmodel::ReadModel;
use crossbeam_channel::{bounded, Sender};
use pinion_core::change::{Change, ChangeError, JournaledChange};
use pinion_core::engine::pipeline::{AppliedChange, Command, Proposal};
use pinion_core::engine::{ChangeResources, Engine};
use pinion_core::instrument::InstrumentTable;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Makes a prepared state change durable before it applies (the journal), or does nothing.
pub trait Durability: Send + Sync {
    /// Records the change and returns once it is durable; an error means it must not be applied.
    fn record(&self, record: &JournaledChange) -> Result<(), String>;

    /// Why records cannot be made durable right now (a full disk; retried meanwhile), or None.
    fn fault(&self) -> Option<String> {
        None
    }
}

/// No persistence (tests and `--no-journal`).
pub struct NoDurability;

impl Durability for NoDurability {
    fn record(&self, _record: &JournaledChange) -> Result<(), String> {
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
    /// Where the REST workers, the publisher and the snapshots record for `/metrics` (None: nothing is
    /// recorded and `/metrics` shows the read model only).
    pub metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
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
            metrics: None,
        }
    }
}

/// A change that was journaled and applied: the value as applied and what the core reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// The change as prepared, journaled and applied.
    pub change: Change,
    /// Where it applied.
    pub applied: AppliedChange,
}

/// The HTTP side's shared state: the command queue into the core, the read model, the settings and
/// the journal. Every handler reads through it and changes state only through [`App::propose`].
///
/// Built once at server start and shared as an `Arc<App>` by every REST worker thread (and the
/// WebSocket side); it never runs on the pinned core thread and never touches the [`Engine`] directly:
/// queries go through [`App::call`] / [`App::run_on_core`] as a [`Command`] run between tick batches,
/// and reads of published state go to the [`ReadModel`], which is fed by the core's events.
///
/// Invariants: state changes are serialized by the `changes` lock, held from preparation through
/// journaling to application, so the journal order is the apply order and a snapshot never falls
/// between a journaled change and its application; a change is applied only after
/// [`Durability::record`] returned Ok; a handler that answers success has waited until the read model
/// reflects the change (or answers 503 if it did not catch up within `config.command_timeout`).
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
    /// Held from a change's preparation to its application (and by a snapshot's capture), so changes are
    /// journaled in the order they apply and a snapshot never falls between the two.
    pub changes: Mutex<()>,
    /// The live venue's account view (None: paper trading).
    pub live: Option<Arc<dyn crate::live_account::LiveAccount>>,
}

impl App {
    /// Runs `f` on the core thread between tick batches and waits for its result, then until the read
    /// model has applied every event the call produced (so the next GET sees it).
    pub fn call<T: Send + 'static>(&self, f: impl FnOnce(&mut Engine) -> T + Send + 'static) -> Result<T, ApiError> {
        let (out, seq) = self.run_on_core(f)?;
        if !self.read.wait_for(seq, self.config.command_timeout) {
            return Err(ApiError::unavailable("the read model did not catch up in time; retry"));
        }
        Ok(out)
    }

    /// Runs `f` on the core thread between tick batches and waits for its result (no read-model wait).
    pub fn run_on_core<T: Send + 'static>(&self, f: impl FnOnce(&mut Engine) -> T + Send + 'static) -> Result<(T, u64), ApiError> {
        let (tx, rx) = bounded(1);
        let cmd = Command::call(move |engine: &mut Engine| {
            let out = f(engine);
            let _ = tx.send((out, engine.event_seq()));
        });
        self.commands.try_send(cmd).map_err(|_| ApiError::unavailable("engine command queue is full or the engine has stopped; retry"))?;
        rx.recv_timeout(self.config.command_timeout).map_err(|_| ApiError::unavailable("engine did not answer in time"))
    }

    /// Makes one state change, written ahead: the core checks it and completes it (refusing it if the
    /// state does not admit it: nothing is journaled then), the journal makes it durable, then the core
    /// applies it, the parts outside the engine follow ([`crate::changes::apply_outside_engine`]), and
    /// this returns once the read model shows it. A journal failure answers 503 and nothing applies.
    pub fn propose(&self, change: Change, resources: ChangeResources) -> Result<Committed, ApiError> {
        self.propose_with(|_| Ok((change, resources)))
    }

    /// Like [`propose`](Self::propose), building the change while the change lock is held (for changes
    /// computed from the current state: the next operation id, limits updated from the current ones).
    pub fn propose_with(&self, build: impl FnOnce(&App) -> Result<(Change, ChangeResources), ApiError>) -> Result<Committed, ApiError> {
        let refuse =
            |fault: String| ApiError::unavailable(format!("storage fault: {fault}; the change was not made (retry once /health is ok)"));
        if let Some(f) = self.durability.fault() {
            return Err(refuse(f));
        }
        let _serial = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = self.durability.fault() {
            return Err(refuse(f));
        }
        let (change, resources) = build(self)?;
        let (prepared_tx, prepared_rx) = bounded(1);
        let (decision_tx, decision_rx) = bounded(1);
        let (applied_tx, applied_rx) = bounded(1);
        let proposal = Proposal { change, resources, prepared: prepared_tx, decision: decision_rx, applied: applied_tx };
        self.commands
            .try_send(Command::Change(Box::new(proposal)))
            .map_err(|_| ApiError::unavailable("engine command queue is full or the engine has stopped; retry"))?;
        let wait = self.config.command_timeout;
        let prepared = prepared_rx
            .recv_timeout(wait)
            .map_err(|_| ApiError::unavailable("engine did not answer in time; the change was not made"))?
            .map_err(change_error)?;
        let record = JournaledChange { tick_pos: prepared.tick_pos, cmd: prepared.cmd, change: prepared.change };
        if let Err(e) = self.durability.record(&record) {
            let _ = decision_tx.send(false);
            log::error!("journal: {} could not be made durable, so it was not applied: {e}", record.change.name());
            return Err(ApiError::unavailable(format!("could not persist the change ({e}); it was not applied")));
        }
        crate::changes::before_apply(self, &record.change);
        // Journaled: it must apply. The core holds its ticks until this arrives.
        let _ = decision_tx.send(true);
        let applied = match applied_rx.recv() {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                crate::changes::refused_after_journal(self, &record.change);
                log::error!("{} was journaled but the engine refused to apply it: {e}", record.change.name());
                return Err(ApiError::new(500, format!("the engine refused a prepared change: {e}")));
            }
            Err(_) => return Err(ApiError::unavailable("the engine stopped before applying the change")),
        };
        let committed = Committed { change: record.change, applied };
        let visible = self.read.wait_for(applied.event_seq, wait);
        crate::changes::apply_outside_engine(self, &committed);
        if !visible {
            return Err(ApiError::unavailable("state change applied but not yet visible; retry the read"));
        }
        Ok(committed)
    }
}

/// The HTTP answer to a change the engine refuses: 409 for a wrong state, 400 naming the field, 404.
pub fn change_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::WrongState { .. } | ChangeError::Conflict(_) => ApiError::conflict(e.to_string()),
        ChangeError::Invalid { field, message } => ApiError::field(&field, message),
        ChangeError::Unknown(m) => ApiError::not_found(m),
    }
}
