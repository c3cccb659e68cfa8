//! Durability of the server. Every acknowledged state change is journaled (fsync'd) with the engine's
//! tick position when it was applied; engine events and progress markers are journaled by the publisher,
//! which waits for the fsync before anything becomes visible to clients. A restart re-executes the
//! recorded feed deterministically, re-applying each change at its tick position, so orders, fills and
//! balances come back bit-identical; then each operation's crash recovery mode is applied and journaled.
//! With a snapshot (`crate::snapshots`), the re-execution starts at the snapshot's tick position and
//! reads only the journal after it.

use crate::session_api::{apply_start, SessionApi};
use anyhow::Context;
use pinion_core::engine::{CrashRecoveryMode, Engine};
use pinion_core::events::{BookStatus, EngineEvent};
use pinion_core::fixed::Money;
use pinion_core::order::{BookId, OrderPurpose};
use pinion_core::session::SessionSpec;
use pinion_core::tick::Tick;
use pinion_http::app::{App, Durability};
use pinion_http::publisher::BatchHook;
use pinion_io::journal::{JournalHandle, JournalReader};
use pinion_io::replay::{loop_period, virtual_tick};
use serde_json::{json, Value};
use std::path::Path;

/// Journal record kinds.
pub const KINDS: &[(u16, &str)] = &[
    (1, "operation_created"),
    (2, "operation_action"),
    (3, "risk_updated"),
    (4, "session_config"),
    (5, "session_start"),
    (6, "session_stop"),
    (7, "session_fail"),
    (8, "recovery"),
    (20, "progress"),
    (21, "event"),
];

pub fn kind_code(name: &str) -> Option<u16> {
    KINDS.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
}

pub fn kind_name(code: u16) -> &'static str {
    KINDS.iter().find(|(c, _)| *c == code).map_or("unknown", |(_, n)| n)
}

const PROGRESS: u16 = 20;
const EVENT: u16 = 21;

/// Journals state changes and waits for the fsync.
pub struct JournalDurability {
    pub handle: JournalHandle,
}

impl Durability for JournalDurability {
    fn record(&self, kind: &str, payload: &Value) -> Result<(), String> {
        let code = kind_code(kind).ok_or_else(|| format!("no journal record kind {kind:?}"))?;
        let bytes = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
        self.handle.append(code, bytes).and_then(|t| t.wait()).map(|_| ()).map_err(|e| e.to_string())
    }
}

/// The compact journal form of the events worth keeping (orders, fills, trades).
fn event_json(e: &EngineEvent) -> Option<Value> {
    Some(match e {
        EngineEvent::Order { order, status, fill_price, reason, ts_ns } => json!({
            "e": "order", "id": order.id, "book": order.book.0, "inst": order.instrument.0, "side": order.side.as_str(),
            "type": order.order_type, "purpose": order.purpose, "qty": order.quantity.0, "price": order.price.0,
            "status": status, "fill": fill_price.0, "reason": reason, "ts": ts_ns,
        }),
        EngineEvent::Fill(f) => json!({
            "e": "fill", "order": f.order_id, "book": f.book.0, "inst": f.instrument.0, "side": f.side.as_str(), "entry": f.is_entry,
            "qty": f.quantity.0, "price": f.price.0, "commission": f.commission.0, "pnl": f.realized_pnl.0, "ts": f.ts_ns,
        }),
        EngineEvent::Trade(t) => json!({
            "e": "trade", "book": t.book.0, "inst": t.instrument.0, "dir": t.direction, "qty": t.quantity.0,
            "entry": t.entry_price.0, "exit": t.exit_price.0, "pnl": t.pnl.0, "commission": t.commission.0, "ts": t.exit_ns,
        }),
        _ => return None,
    })
}

/// The publisher hook: journals each batch's orders, fills and trades plus its last progress marker, and
/// returns only once that marker is durable (so clients never see what a crash could lose).
pub fn event_hook(handle: JournalHandle) -> BatchHook {
    Box::new(move |batch: &[EngineEvent]| {
        let mut progress = None;
        let mut wrote = false;
        for e in batch {
            if let EngineEvent::Progress { ticks, ts_ns } = e {
                progress = Some((*ticks, *ts_ns));
            } else if let Some(v) = event_json(e) {
                wrote = true;
                if let Err(err) = handle.append_nowait(EVENT, v.to_string().into_bytes()) {
                    log::error!("journal append failed: {err}");
                }
            }
        }
        // Account marks alone are derived state: only batches with orders, fills or trades need a marker.
        if let Some((ticks, ts)) = progress.filter(|_| wrote) {
            if let Err(err) = mark_progress(&handle, ticks, ts) {
                log::error!("journal progress not durable: {err:#}");
            }
        }
    })
}

/// Journals a progress marker (the engine had processed `ticks` ticks) and waits until it is durable. A
/// snapshot taken at `ticks` records one, so a restart without that snapshot re-executes at least as far
/// and applies the crash recovery modes at the same point as a restart from it.
pub fn mark_progress(handle: &JournalHandle, ticks: u64, ts_ns: i64) -> anyhow::Result<()> {
    let payload = json!({ "ticks": ticks, "ts": ts_ns }).to_string().into_bytes();
    handle.append(PROGRESS, payload).and_then(|t| t.wait()).map(|_| ()).context("journaling a progress marker")
}

/// What the journal holds for recovery.
#[derive(Debug, Default)]
pub struct JournalLog {
    /// State changes in journal order: (kind, payload).
    pub commands: Vec<(u16, Value)>,
    /// Ticks processed at the last durable progress marker.
    pub progress_ticks: u64,
    pub journaled_fills: u64,
    pub records: u64,
}

/// Reads the journal from record `from_seq` (0: the oldest held). Fills are counted only when their
/// progress marker lies after tick `after_tick` (those before it are already in a snapshot taken there).
pub fn read_log(dir: &Path, from_seq: u64, after_tick: u64) -> anyhow::Result<JournalLog> {
    let mut log = JournalLog::default();
    let mut reader = JournalReader::open(dir, from_seq).with_context(|| format!("reading the journal in {}", dir.display()))?;
    let mut unmarked_fills = 0;
    while let Some(r) = reader.next_record().with_context(|| format!("reading the journal in {}", dir.display()))? {
        log.records += 1;
        let v: Value =
            serde_json::from_slice(r.payload).with_context(|| format!("journal record {} ({}) is not JSON", r.seq, kind_name(r.kind)))?;
        match r.kind {
            PROGRESS => {
                let ticks = v["ticks"].as_u64().unwrap_or(0);
                log.progress_ticks = log.progress_ticks.max(ticks);
                if ticks > after_tick || after_tick == 0 {
                    log.journaled_fills += unmarked_fills;
                }
                unmarked_fills = 0;
            }
            EVENT => unmarked_fills += u64::from(v["e"] == "fill"),
            k => log.commands.push((k, v)),
        }
    }
    log.journaled_fills += unmarked_fills;
    Ok(log)
}

fn tick_pos(v: &Value) -> Option<u64> {
    v.get("tick_pos").and_then(Value::as_u64)
}

fn book_of(app: &App, op_id: u64) -> Option<BookId> {
    app.read.read().operation(op_id).map(|o| o.book)
}

/// Number of the core state change a journal record holds (`cmd`), if it has one.
fn cmd_of(v: &Value) -> Option<u64> {
    v.get("cmd").and_then(Value::as_u64)
}

/// Applies what a journaled change did outside the engine, for a change the restored snapshot's engine
/// already holds (it was applied on the core before the snapshot but journaled after).
fn apply_outside_engine(app: &App, session: &SessionApi, kind: u16, v: &Value) -> anyhow::Result<()> {
    match kind_name(kind) {
        "operation_created" => {
            let id = v["op_id"].as_u64().context("operation_created without op_id")?;
            if app.read.read().operation(id).is_none() {
                let body = v["request"].as_object().context("operation_created without a request")?;
                let (req, _) = pinion_http::operations::validate_create(app, body)
                    .map_err(|e| anyhow::anyhow!("operation {}: {}", v["op_id"], e.detail))?;
                let book = BookId(v["book"].as_u64().context("operation_created without book")? as u32);
                let now = app.read.read().now_ns;
                pinion_http::operations::register(app, req.meta, book, now, Some(id));
            }
        }
        "session_start" => session.restore_active(app, v),
        _ => {}
    }
    Ok(())
}

/// Applies one journaled change to the engine (and the read model / session settings).
fn apply_command(engine: &mut Engine, app: &App, session: &SessionApi, kind: u16, v: &Value) -> anyhow::Result<()> {
    if let Some(cmd) = cmd_of(v) {
        engine.set_commands_applied(engine.commands_applied().max(cmd));
    }
    match kind_name(kind) {
        "operation_created" => {
            let body = v["request"].as_object().context("operation_created without a request")?;
            let (req, _) = pinion_http::operations::validate_create(app, body)
                .map_err(|e| anyhow::anyhow!("operation {}: {}", v["op_id"], e.detail))?;
            let spec = pinion_http::operations::book_spec(app, &req).map_err(|e| anyhow::anyhow!(e.detail))?;
            let book = engine.add_book(spec)?;
            if v["book"].as_u64() != Some(book.0 as u64) {
                log::warn!("operation {} re-created as book {} (journal says {})", v["op_id"], book.0, v["book"]);
            }
            let id = v["op_id"].as_u64().context("operation_created without op_id")?;
            pinion_http::operations::register(app, req.meta, book, engine.now_ns(), Some(id));
        }
        "operation_action" => {
            let id = v["op_id"].as_u64().unwrap_or(0);
            let book = book_of(app, id).with_context(|| format!("operation {id} unknown"))?;
            pinion_http::operations::apply_action(engine, book, v["action"].as_str().unwrap_or(""))?;
        }
        "risk_updated" => {
            let equity = engine.broker().account_state(engine.now_ns()).nav();
            if let Some(r) = engine.risk_mut() {
                r.apply_update(&v["body"], equity)?;
            }
        }
        "session_config" => session.restore_config(app, v).map_err(|e| anyhow::anyhow!(e.detail))?,
        "session_start" => {
            let symbols = v["symbols"]
                .as_array()
                .context("session_start without symbols")?
                .iter()
                .filter_map(|s| s.as_str().and_then(|s| app.instruments.find(s)))
                .collect();
            let path = v["model_path"].as_str().context("session_start without model_path")?;
            let policy = pinion_models::TorchPolicy::load(path)?;
            let risk = serde_json::from_value(v["risk"].clone()).ok();
            let spec = SessionSpec {
                symbols,
                target_capital: Money::from_f64(v["target_capital_usd"].as_f64().unwrap_or(0.0)),
                policy: Box::new(policy),
            };
            let book = apply_start(engine, spec, risk)?;
            app.read.write().session_book = Some(book);
            session.restore_active(app, v);
        }
        "session_stop" => {
            engine.stop_session()?;
        }
        "session_fail" => engine.fail_session(v["reason"].as_str().unwrap_or("").to_string()),
        "recovery" => {
            let id = v["op_id"].as_u64().unwrap_or(0);
            let book = book_of(app, id).with_context(|| format!("operation {id} unknown"))?;
            let mode: CrashRecoveryMode = serde_json::from_value(v["mode"].clone())?;
            apply_recovery(engine, book, mode, v["emergency_stop_loss_pct"].as_f64().unwrap_or(0.05));
        }
        other => log::warn!("journal record kind {other} ignored"),
    }
    Ok(())
}

/// Closes what a crash recovery mode says to close; returns how many positions it closed.
pub fn apply_recovery(engine: &mut Engine, book: BookId, mode: CrashRecoveryMode, emergency_pct: f64) -> usize {
    let positions: Vec<(pinion_core::instrument::InstrumentId, Money, f64)> = engine
        .broker()
        .positions()
        .filter(|p| p.book == book)
        .map(|p| {
            let inst = engine.instruments().get(p.instrument);
            let entry_notional = engine.broker().rates().usd_per_quote_unit(p.instrument).unwrap_or(0.0)
                * p.cost_raw().unsigned_abs() as f64
                / 10f64.powi((inst.price_precision + inst.size_precision) as i32);
            (p.instrument, engine.broker().unrealized(p), entry_notional)
        })
        .collect();
    let mut closed = 0;
    for (inst, unrealized, entry_notional) in positions {
        let close = match mode {
            CrashRecoveryMode::CloseAll => true,
            CrashRecoveryMode::Resume => false,
            CrashRecoveryMode::EmergencyExit => -unrealized.as_f64() > emergency_pct * entry_notional,
        };
        if close {
            engine.close_positions(book, inst, OrderPurpose::Recovery);
            closed += 1;
        }
    }
    closed
}

/// What recovery re-executes: the recorded feed, the account publishing cadence, and the snapshot it
/// starts from (None: from the first tick).
pub struct Feed<'a> {
    pub ticks: &'a [Tick],
    pub account_every_ns: i64,
    pub from: Option<&'a crate::snapshots::Restored>,
}

/// Where the recovered engine stands.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recovered {
    /// Virtual tick index the feed continues from.
    pub position: u64,
    pub fills: u64,
    pub commands: usize,
}

/// Re-executes the feed from the start up to the journal's last progress, applying each journaled change
/// at its tick position, feeding the events to the read model; then applies crash recovery modes.
pub fn recover(
    engine: &mut Engine,
    app: &App,
    session: &SessionApi,
    log: &JournalLog,
    feed: &Feed,
    durability: &dyn Durability,
) -> anyhow::Result<Recovered> {
    let (ticks, account_every_ns, from) = (feed.ticks, feed.account_every_ns, feed.from);
    let start = from.map_or(0, |r| r.tick_pos);
    let held_cmds = from.map_or(0, |r| r.commands);
    let end = log.commands.iter().filter_map(|(_, v)| tick_pos(v)).max().unwrap_or(0).max(log.progress_ticks).max(start);
    let period = loop_period(ticks);
    let mut pending = log.commands.iter().peekable();
    let mut batch = Vec::with_capacity(8192);
    let mut fills = 0u64;
    let mut last_account = i64::MIN;
    let drain = |engine: &mut Engine, batch: &mut Vec<EngineEvent>, fills: &mut u64| {
        engine.drain_events(|e| batch.push(*e));
        *fills += batch.iter().filter(|e| matches!(e, EngineEvent::Fill(_))).count() as u64;
        app.read.apply_batch(batch);
        batch.clear();
    };
    for i in start..=end {
        while let Some((kind, v)) = pending.peek() {
            match tick_pos(v) {
                Some(p) if p > i => break,
                _ => {
                    drain(engine, &mut batch, &mut fills);
                    let held = cmd_of(v).is_some_and(|c| c <= held_cmds);
                    let applied =
                        if held { apply_outside_engine(app, session, *kind, v) } else { apply_command(engine, app, session, *kind, v) };
                    if let Err(e) = applied {
                        log::error!("journal replay: {} could not be re-applied: {e:#}", kind_name(*kind));
                    }
                    drain(engine, &mut batch, &mut fills);
                    pending.next();
                }
            }
        }
        if i == end || ticks.is_empty() {
            break;
        }
        let t = virtual_tick(ticks, period, i);
        engine.on_tick(&t);
        if account_every_ns > 0 && t.ts_ns.saturating_sub(last_account) >= account_every_ns {
            last_account = t.ts_ns;
            engine.publish_account();
        }
        if engine.events().len() > 4096 {
            drain(engine, &mut batch, &mut fills);
        }
    }
    engine.publish_account();
    drain(engine, &mut batch, &mut fills);
    if fills < log.journaled_fills {
        log::error!(
            "journal replay reproduced {fills} fills but the journal holds {}: the feed or configuration changed since the crash",
            log.journaled_fills
        );
    }
    // Crash recovery modes, journaled so a later restart re-applies them at the same point.
    let ops: Vec<(u64, BookId, String, f64)> =
        app.read.read().operations.iter().map(|o| (o.id, o.book, o.crash_recovery_mode.clone(), o.emergency_stop_loss_pct)).collect();
    for (id, book, mode_s, pct) in ops {
        let active = engine.book(book).is_some_and(|b| b.status == BookStatus::Active);
        let open = engine.broker().positions().any(|p| p.book == book);
        if !active || !open {
            continue;
        }
        let mode: CrashRecoveryMode = serde_json::from_value(Value::String(mode_s.clone()))?;
        let closed = apply_recovery(engine, book, mode, pct);
        let cmd = engine.note_command();
        durability
            .record(
                "recovery",
                &json!({ "tick_pos": end, "cmd": cmd, "op_id": id, "mode": mode_s, "emergency_stop_loss_pct": pct, "closed": closed }),
            )
            .map_err(|e| anyhow::anyhow!("journaling recovery: {e}"))?;
        log::info!("crash recovery: operation {id} ({mode_s}) closed {closed} position(s)");
        drain(engine, &mut batch, &mut fills);
    }
    Ok(Recovered { position: end, fills, commands: log.commands.len() })
}
