//! Durability of the server. Every acknowledged state change is journaled (fsync'd) with the engine's
//! tick position when it was applied; engine events and progress markers are journaled by the publisher,
//! which waits for the fsync before anything becomes visible to clients. A restart re-executes the
//! recorded feed deterministically, re-applying each change at its tick position, so orders, fills and
//! balances come back bit-identical; then each operation's crash recovery mode is applied and journaled.
//! With a snapshot (`crate::snapshots`), the re-execution starts at the snapshot's tick position and
//! reads only the journal after it.

use anyhow::{bail, Context};
use pinion_core::change::{Change, JournaledChange};
use pinion_core::engine::{ChangeResources, CrashRecoveryMode, Engine};
use pinion_core::events::{BookStatus, EngineEvent};
use pinion_core::order::BookId;
use pinion_core::tick::Tick;
use pinion_http::app::{App, Durability};
use pinion_http::changes::{apply_outside_engine, commit_on, replay_on};
use pinion_http::publisher::BatchHook;
use pinion_io::journal::{JournalHandle, JournalReader};
use pinion_io::replay::{loop_period, virtual_tick};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::Path;

/// Journal record kind of a state change (a [`JournaledChange`] as JSON).
pub const CHANGE: u16 = 1;
/// Journal record kind of a progress marker (`{"ticks": N, "ts": T}`).
pub const PROGRESS: u16 = 20;
/// Journal record kind of an engine event (orders, fills, trades; see `event_json`).
pub const EVENT: u16 = 21;
/// Journal record kind of an account mark (the `account` frame's data, once a second), journaled only
/// for the event export (`events_to`): derived state, never read back by a restart.
pub const MARK: u16 = 23;

/// The name of a record kind (for `pinion journal dump`).
pub fn kind_name(code: u16) -> &'static str {
    match code {
        CHANGE => "change",
        PROGRESS => "progress",
        EVENT => "event",
        crate::live_ticks::TICK => "tick",
        MARK => "account_mark",
        _ => "unknown",
    }
}

/// A progress marker's payload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgressMark {
    ticks: u64,
    #[allow(dead_code)]
    ts: i64,
}

/// Journals state changes and waits for the fsync.
pub struct JournalDurability {
    pub handle: JournalHandle,
    /// Fault injection for the crash tests (`PINION_FAULT_ABORT_AFTER_JOURNAL=<change name>`): the
    /// process aborts right after that change is durable and before it applies.
    pub abort_after: Option<String>,
}

impl JournalDurability {
    pub fn new(handle: JournalHandle) -> JournalDurability {
        let abort_after = std::env::var("PINION_FAULT_ABORT_AFTER_JOURNAL").ok().filter(|v| !v.is_empty());
        JournalDurability { handle, abort_after }
    }
}

impl Durability for JournalDurability {
    fn record(&self, record: &JournaledChange) -> Result<(), String> {
        let bytes = serde_json::to_vec(record).map_err(|e| e.to_string())?;
        self.handle.append(CHANGE, bytes).and_then(|t| t.wait()).map(|_| ()).map_err(|e| e.to_string())?;
        if self.abort_after.as_deref() == Some(record.change.name()) {
            eprintln!("fault injection: aborting after journaling {}", record.change.name());
            std::process::abort();
        }
        Ok(())
    }

    fn fault(&self) -> Option<String> {
        self.handle.fault()
    }
}

/// The subject kind under which `pinion serve --events-to` exports a journal record: `order`, `fill`
/// or `trade` for events, the change's name (`operation_created`, `session_started`...) for changes;
/// None for what is not exported (progress markers, live ticks).
pub fn export_kind(kind: u16, payload: &[u8]) -> Option<String> {
    match kind {
        EVENT => serde_json::from_slice::<Value>(payload).ok()?.get("e")?.as_str().map(String::from),
        CHANGE => serde_json::from_slice::<JournaledChange>(payload).ok().map(|c| c.change.name().to_string()),
        MARK => Some("account_mark".to_string()),
        _ => None,
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

/// The publisher's account-mark hook for the event export: journals each mark (the `account` frame's
/// data) as a [`MARK`] record without waiting for it to be durable (the export sends only durable
/// records, so a mark leaves with the next fsync).
pub fn mark_hook(handle: JournalHandle) -> pinion_http::publisher::MarkHook {
    Box::new(move |account: &Value| {
        if let Err(err) = handle.append_nowait(MARK, account.to_string().into_bytes()) {
            log::error!("journaling an account mark failed: {err}");
        }
    })
}

/// Runs on a batch once it is durable (hands orders to a live broker).
pub type AfterDurable = Box<dyn FnMut(&[EngineEvent]) + Send>;

/// The publisher hook: journals each batch's orders, fills and trades plus its last progress marker, and
/// returns only once that marker is durable (so clients never see what a crash could lose). While the
/// journal cannot write (a full disk) this waits: the journal retries, the core holds, and the batch
/// becomes visible once it is durable. False only when the journal failed for good.
pub fn event_hook(handle: JournalHandle, mut after_durable: Option<AfterDurable>) -> BatchHook {
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
                    return false;
                }
            }
        }
        // Account marks alone are derived state: only batches with orders, fills or trades need a marker.
        if let Some((ticks, ts)) = progress.filter(|_| wrote) {
            if let Err(err) = mark_progress(&handle, ticks, ts) {
                log::error!("journal progress not durable: {err:#}");
                return false;
            }
        }
        // Durable now: what may leave the process (orders to a live broker) leaves.
        if let Some(f) = after_durable.as_mut() {
            f(batch);
        }
        true
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
    /// State changes in journal order.
    pub changes: Vec<JournaledChange>,
    /// Ticks processed at the last durable progress marker.
    pub progress_ticks: u64,
    pub journaled_fills: u64,
    pub records: u64,
}

/// Reads the journal from record `from_seq` (0: the oldest held). Fills are counted only when their
/// progress marker lies after tick `after_tick` (those before it are already in a snapshot taken there).
/// A record this build cannot read (an unknown kind, a change that does not parse) stops start-up with
/// an error naming its seq, segment file and offset: nothing is guessed.
pub fn read_log(dir: &Path, from_seq: u64, after_tick: u64) -> anyhow::Result<JournalLog> {
    let mut log = JournalLog::default();
    let mut reader = JournalReader::open(dir, from_seq).with_context(|| format!("reading the journal in {}", dir.display()))?;
    let mut unmarked_fills = 0;
    loop {
        let Some(r) = reader.next_record().with_context(|| format!("reading the journal in {}", dir.display()))? else { break };
        let (seq, kind) = (r.seq, r.kind);
        let parsed: Result<(), String> = match kind {
            CHANGE => serde_json::from_slice::<JournaledChange>(r.payload).map(|c| log.changes.push(c)).map_err(|e| e.to_string()),
            PROGRESS => serde_json::from_slice::<ProgressMark>(r.payload)
                .map(|p| {
                    log.progress_ticks = log.progress_ticks.max(p.ticks);
                    if p.ticks > after_tick || after_tick == 0 {
                        log.journaled_fills += unmarked_fills;
                    }
                    unmarked_fills = 0;
                })
                .map_err(|e| e.to_string()),
            EVENT => {
                serde_json::from_slice::<Value>(r.payload).map(|v| unmarked_fills += u64::from(v["e"] == "fill")).map_err(|e| e.to_string())
            }
            // Live prices: read by `live_ticks::read` when the feed is a live broker's.
            crate::live_ticks::TICK => Ok(()),
            // Account marks: for the event export only (derived state).
            MARK => serde_json::from_slice::<Value>(r.payload).map(|_| ()).map_err(|e| e.to_string()),
            other => {
                Err(format!("record kind {other} is not one this build reads (1 change, 20 progress, 21 event, 22 tick, 23 account mark)"))
            }
        };
        log.records += 1;
        if let Err(why) = parsed {
            let (file, offset) = reader.position().map_or((dir.display().to_string(), 0), |(p, o)| (p.display().to_string(), o));
            bail!(
                "journal record {seq} ({}) in {file} at byte offset {offset} cannot be read: {why}; start-up stops rather than guess \
                 (move the data directory aside to start empty)",
                kind_name(kind)
            );
        }
    }
    log.journaled_fills += unmarked_fills;
    Ok(log)
}

/// What re-applying a journaled change needs: a session start's model, loaded from its file.
fn resources_for(change: &Change) -> anyhow::Result<ChangeResources> {
    Ok(match change {
        Change::SessionStarted { config, .. } => ChangeResources {
            policy: Some(
                crate::snapshots::load_policy(&config.model_path).map_err(|e| anyhow::anyhow!("model {}: {e}", config.model_path))?,
            ),
        },
        _ => ChangeResources::default(),
    })
}

/// What recovery re-executes: the recorded feed, the account publishing cadence, and the snapshot it
/// starts from (None: from the first tick).
pub struct Feed<'a> {
    pub ticks: &'a [Tick],
    pub account_every_ns: i64,
    pub from: Option<&'a crate::snapshots::Restored>,
    /// The ticks are a live broker's, journaled from the snapshot's tick position on (not looped).
    pub live: bool,
}

/// Where the recovered engine stands.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    /// Virtual tick index the feed continues from.
    pub position: u64,
    pub fills: u64,
    pub commands: usize,
    /// Crash recovery changes not made yet because the operation's book still has orders awaiting
    /// the live venue's answer (its position is known only once they are answered); the server makes
    /// them once those answers are applied ([`apply_deferred_recovery`]).
    pub deferred: Vec<Change>,
}

/// Re-executes the feed from the start up to the journal's last progress, applying each journaled change
/// at its tick position, feeding the events to the read model; then applies crash recovery modes.
pub fn recover(engine: &mut Engine, app: &App, log: &JournalLog, feed: &Feed) -> anyhow::Result<Recovered> {
    let (ticks, account_every_ns, from) = (feed.ticks, feed.account_every_ns, feed.from);
    let start = from.map_or(0, |r| r.tick_pos);
    let held_cmds = from.map_or(0, |r| r.commands);
    let mut end = log.changes.iter().map(|c| c.tick_pos).max().unwrap_or(0).max(log.progress_ticks).max(start);
    if feed.live {
        // Every journaled live tick is re-executed (one journaled but not processed before the crash
        // too: nothing it caused was sent), so the feed's index goes on from the last one.
        end = end.max(start + ticks.len() as u64);
    }
    let period = loop_period(ticks);
    let mut pending = log.changes.iter().peekable();
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
        while let Some(record) = pending.next_if(|c| c.tick_pos <= i) {
            if record.cmd <= held_cmds {
                // The snapshot already holds it (only possible for a journal written by an older build).
                continue;
            }
            drain(engine, &mut batch, &mut fills);
            let replayed =
                resources_for(&record.change).and_then(|res| replay_on(engine, record, res).map_err(|e| anyhow::anyhow!(e.detail)));
            drain(engine, &mut batch, &mut fills);
            match replayed {
                Ok(committed) => apply_outside_engine(app, &committed),
                Err(e) => log::error!("journal replay: {} (change {}) could not be re-applied: {e:#}", record.change.name(), record.cmd),
            }
        }
        if i == end || ticks.is_empty() {
            break;
        }
        let t = if feed.live {
            match ticks.get((i - start) as usize) {
                Some(t) => *t,
                None => {
                    log::error!("journal replay: live tick {i} is missing (the journal holds {} after tick {start})", ticks.len());
                    break;
                }
            }
        } else {
            virtual_tick(ticks, period, i)
        };
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
    // Crash recovery modes: changes like any other (journaled before they apply), so a later restart
    // re-applies them at the same point.
    let ops: Vec<(u64, BookId, String, f64)> =
        app.read.read().operations.iter().map(|o| (o.id, o.book, o.crash_recovery_mode.clone(), o.emergency_stop_loss_pct)).collect();
    let mut deferred = Vec::new();
    for (op_id, book, mode_s, pct) in ops {
        let active = engine.book(book).is_some_and(|b| b.status == BookStatus::Active);
        let open = engine.broker().positions().any(|p| p.book == book);
        let in_flight = engine.broker().awaiting().iter().any(|a| a.order.book == book);
        if !active || !(open || in_flight) {
            continue;
        }
        let mode: CrashRecoveryMode = serde_json::from_value(Value::String(mode_s.clone()))
            .with_context(|| format!("operation {op_id}: crash_recovery_mode {mode_s:?}"))?;
        let change = Change::CrashRecoveryApplied { op_id, book, mode, emergency_stop_loss_pct: pct, closes: Vec::new() };
        if in_flight {
            // An order sent before the crash may have filled: decide once the venue has answered.
            log::info!("operation {op_id}: crash recovery waits for the answers to its orders in flight");
            deferred.push(change);
            continue;
        }
        let committed = commit_on(engine, app, change, ChangeResources::default())
            .map_err(|e| anyhow::anyhow!("crash recovery of operation {op_id}: {}", e.detail))?;
        drain(engine, &mut batch, &mut fills);
        apply_outside_engine(app, &committed);
    }
    Ok(Recovered { position: end, fills, commands: log.changes.len(), deferred })
}

/// Makes the deferred crash recovery changes (see [`Recovered::deferred`]) on the running server, each
/// once its book has no order awaiting the venue any more (checked every 100 ms, up to `within`),
/// journaled like every change. A book still waiting after `within` gets its recovery anyway, over
/// the positions known then (logged). Returns early once `stop` is set (the server stops; the next
/// start recovers again).
pub fn apply_deferred_recovery(
    app: &std::sync::Arc<App>,
    deferred: Vec<Change>,
    within: std::time::Duration,
    stop: &std::sync::atomic::AtomicBool,
) {
    let until = std::time::Instant::now() + within;
    let mut left = deferred;
    while !left.is_empty() && !stop.load(std::sync::atomic::Ordering::Acquire) {
        let timed_out = std::time::Instant::now() >= until;
        let mut waiting = Vec::new();
        for change in left {
            let Change::CrashRecoveryApplied { op_id, book, .. } = &change else { continue };
            let (op_id, book) = (*op_id, *book);
            let flying = app.call(move |e| e.broker().awaiting().iter().any(|a| a.order.book == book)).unwrap_or(false);
            if flying && !timed_out {
                waiting.push(change);
                continue;
            }
            if flying {
                log::warn!(
                    "operation {op_id}: orders still unanswered after {within:?}; crash recovery applies to the positions known now"
                );
            }
            match app.propose(change, ChangeResources::default()) {
                Ok(_) => {}
                Err(e) => log::error!("crash recovery of operation {op_id}: {}", e.detail),
            }
        }
        left = waiting;
        if !left.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
