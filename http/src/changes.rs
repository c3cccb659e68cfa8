//! What a state change does outside the engine, in one place for the live path and for replay: the
//! read model learns a new operation, the session settings follow session changes (through the
//! extensions), and every control action leaves a log record (and so a `log` frame) naming what it
//! changed. Also the write-ahead steps for changes made where the engine is at hand (start-up recovery).

use crate::api::ApiError;
use crate::app::{change_error, App, Committed};
use crate::logs::CONTROL_TARGET;
use crate::readmodel::OperationMeta;
use pinion_core::broker::VenueReport;
use pinion_core::change::{Change, JournaledChange, OperationSpec};
use pinion_core::engine::pipeline::AppliedChange;
use pinion_core::engine::{ChangeResources, Engine};
use pinion_core::order::BookId;

/// The read-model metadata of a new operation.
pub fn operation_meta(op_id: u64, book: BookId, spec: &OperationSpec, now_ns: i64) -> OperationMeta {
    let upper = |v: serde_json::Value| v.as_str().unwrap_or_default().to_string();
    OperationMeta {
        id: op_id,
        book,
        asset: spec.asset.clone(),
        bar_sizes: spec.bar_sizes.iter().map(|b| b.to_string()).collect(),
        primary_bar_size: spec.primary_bar_size.to_string(),
        strategy_name: spec.strategy_name.clone(),
        strategy_config: spec.strategy_config.clone(),
        initial_capital: spec.initial_capital,
        stop_loss_type: upper(serde_json::json!(spec.stop_loss_type)),
        stop_loss_value: spec.stop_loss_value,
        take_profit_type: upper(serde_json::json!(spec.take_profit_type)),
        take_profit_value: spec.take_profit_value,
        crash_recovery_mode: upper(serde_json::json!(spec.crash_recovery_mode)),
        emergency_stop_loss_pct: spec.emergency_stop_loss_pct,
        created_ns: now_ns,
        updated_ns: now_ns,
        error: None,
    }
}

/// What the read model must know before the core applies a journaled change: a new operation's book
/// is named at once, because the core runs on as soon as it applies and the book's first events
/// (orders, an `error` status) must name the operation in their log records and frames, however late
/// the proposing thread is scheduled. [`apply_outside_engine`] completes it afterwards.
pub fn before_apply(app: &App, change: &Change) {
    if let Change::OperationCreated { op_id, book, spec } = change {
        let mut s = app.read.write();
        if s.operation_of_book(*book).is_none() {
            let now = s.now_ns;
            s.operations.push(operation_meta(*op_id, *book, spec, now));
        }
    }
}

/// Undoes [`before_apply`] for a change the engine refused to apply after all.
pub fn refused_after_journal(app: &App, change: &Change) {
    if let Change::OperationCreated { op_id, .. } = change {
        app.read.write().operations.retain(|o| o.id != *op_id);
    }
}

/// Applies the parts of a committed change that live outside the engine, and logs it.
pub fn apply_outside_engine(app: &App, c: &Committed) {
    match &c.change {
        Change::OperationCreated { op_id, book, spec } => {
            let mut meta = operation_meta(*op_id, *book, spec, c.applied.now_ns);
            let mut s = app.read.write();
            // The core runs on once the change is applied: its events about the new book (an `error`
            // status with its reason) may already be in the read model.
            meta.error = s.books.get(book.0 as usize).and_then(|b| b.error.clone());
            if let Some(b) = s.books.get_mut(book.0 as usize) {
                b.initial_capital = spec.initial_capital;
                b.equity = crate::readmodel::book::EquityCurve::new(spec.initial_capital);
            }
            let row = pinion_core::records::OperationRow {
                id: *op_id,
                book: *book,
                asset: meta.asset.clone(),
                strategy: meta.strategy_name.clone(),
                created_ns: meta.created_ns,
            };
            match s.operations.iter_mut().find(|o| o.id == *op_id) {
                Some(existing) => *existing = meta,
                None => s.operations.push(meta),
            }
            drop(s);
            app.read.history().note_operations(vec![row]);
        }
        Change::OperationLifecycle { op_id, .. } | Change::CrashRecoveryApplied { op_id, .. } => {
            let mut s = app.read.write();
            if let Some(o) = s.operations.iter_mut().find(|o| o.id == *op_id) {
                o.updated_ns = c.applied.now_ns;
            }
        }
        Change::SessionStarted { .. } => app.read.write().session_book = c.applied.session_book,
        _ => {}
    }
    for p in &app.extensions.providers {
        p.on_change(app, c);
    }
    let line = describe(&c.change);
    app.read.recent.audit(&c.change, c.applied.now_ns, &line);
    log::info!(target: CONTROL_TARGET, "{line}");
}

/// The log message of a control action (what changed, naming the operation).
pub fn describe(change: &Change) -> String {
    match change {
        Change::OperationCreated { op_id, spec, .. } => format!(
            "operation {op_id} created: {} on {} ({}), capital {}",
            spec.strategy_name,
            spec.asset,
            spec.bar_sizes.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", "),
            spec.initial_capital
        ),
        Change::OperationLifecycle { op_id, action, .. } => {
            let done = match action {
                pinion_core::events::OperationAction::Pause => "paused",
                pinion_core::events::OperationAction::Resume => "resumed",
                pinion_core::events::OperationAction::Stop => "stopped (positions closed)",
            };
            format!("operation {op_id} {done}")
        }
        Change::RiskUpdated { limits } => format!("risk limits changed: {}", serde_json::to_string(limits).unwrap_or_default()),
        Change::SessionConfigured { config } => {
            format!(
                "session configured: {} with model {}, target capital {}",
                config.symbols.join(", "),
                config.model_path,
                config.target_capital
            )
        }
        Change::SessionStarted { config, cold_start_timeout_sec, .. } => format!(
            "session started: {} with model {} (warm-up timeout {cold_start_timeout_sec} s)",
            config.symbols.join(", "),
            config.model_path
        ),
        Change::SessionStopped => "session stopped".to_string(),
        Change::SessionPositionsClosed { closes } => format!("session positions closed at market: {}", closes.join(", ")),
        Change::SessionFailed { reason } => format!("session failed: {reason}"),
        Change::CrashRecoveryApplied { op_id, mode, closes, .. } => format!(
            "crash recovery applied to operation {op_id}: {} closed {}",
            serde_json::json!(mode).as_str().unwrap_or_default(),
            if closes.is_empty() { "nothing".to_string() } else { closes.join(", ") }
        ),
        Change::BarsSeeded { symbol, bars } => format!(
            "session history of {symbol} seeded with {} bars from the broker (up to {})",
            bars.len(),
            bars.last().map_or_else(|| "-".to_string(), |b| pinion_core::time::format_iso(b.end_ns))
        ),
        Change::VenueReconciled { differences } => {
            format!("reconciliation with the broker found {} difference(s): {}", differences.len(), differences.join("; "))
        }
        Change::VenueReported { report } => match report {
            VenueReport::Filled { order_id, price, .. } => format!("broker filled order {order_id} at {} (price steps)", price.0),
            VenueReport::Rejected { order_id, message, .. } => format!("broker refused order {order_id}: {message}"),
            VenueReport::FeedStale { stale: true } => "broker prices stale: no new entries".to_string(),
            VenueReport::FeedStale { stale: false } => "broker prices flow again: entries allowed".to_string(),
            VenueReport::ClosedAtVenue { book, purpose, quantity, price, .. } => format!(
                "broker closed {} units of book {} by its {} at {} (price steps)",
                quantity.0,
                book.0,
                serde_json::json!(purpose).as_str().unwrap_or_default(),
                price.0
            ),
        },
    }
}

fn applied_now(engine: &Engine) -> AppliedChange {
    AppliedChange { event_seq: engine.event_seq(), session_book: engine.session_book(), now_ns: engine.now_ns() }
}

/// Makes a change on an engine held directly (start-up, before the core thread runs): the same steps
/// as [`App::propose`]: prepare, journal (durably), apply, then the parts outside the engine.
pub fn commit_on(engine: &mut Engine, app: &App, change: Change, res: ChangeResources) -> Result<Committed, ApiError> {
    let change = engine.prepare_change(change, &res).map_err(change_error)?;
    let record = JournaledChange { tick_pos: engine.ticks_processed(), cmd: engine.commands_applied() + 1, change };
    app.durability.record(&record).map_err(|e| ApiError::unavailable(format!("could not persist the change ({e}); it was not applied")))?;
    engine.apply_change(&record.change, res).map_err(change_error)?;
    engine.note_command();
    let committed = Committed { change: record.change, applied: applied_now(engine) };
    Ok(committed)
}

/// Re-applies a journaled change on replay (it was prepared and journaled before it applied, so it
/// applies again); returns what the core would have reported. The caller hands the engine's events to
/// the read model, then calls [`apply_outside_engine`].
pub fn replay_on(engine: &mut Engine, record: &JournaledChange, res: ChangeResources) -> Result<Committed, ApiError> {
    engine.apply_change(&record.change, res).map_err(change_error)?;
    engine.set_commands_applied(engine.commands_applied().max(record.cmd));
    Ok(Committed { change: record.change.clone(), applied: applied_now(engine) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinion_core::change::SessionConfigSpec;
    use pinion_core::engine::CrashRecoveryMode;
    use pinion_core::events::OperationAction;
    use pinion_core::fixed::Money;

    #[test]
    fn control_messages_name_the_operation_and_what_changed() {
        let life = |action| describe(&Change::OperationLifecycle { op_id: 7, book: BookId(3), action });
        assert_eq!(life(OperationAction::Pause), "operation 7 paused");
        assert_eq!(life(OperationAction::Resume), "operation 7 resumed");
        assert_eq!(life(OperationAction::Stop), "operation 7 stopped (positions closed)");
        let rec = Change::CrashRecoveryApplied {
            op_id: 4,
            book: BookId(1),
            mode: CrashRecoveryMode::CloseAll,
            emergency_stop_loss_pct: 0.05,
            closes: vec!["EUR_USD".into()],
        };
        assert_eq!(describe(&rec), "crash recovery applied to operation 4: CLOSE_ALL closed EUR_USD");
        let config =
            SessionConfigSpec { symbols: vec!["EUR_USD".into()], model_path: "m.pt".into(), target_capital: Money(100), risk: None };
        assert!(describe(&Change::SessionConfigured { config }).starts_with("session configured: EUR_USD with model m.pt"));
        assert_eq!(describe(&Change::SessionStopped), "session stopped");
        assert!(describe(&Change::RiskUpdated { limits: Default::default() }).starts_with("risk limits changed: {"));
    }
}
