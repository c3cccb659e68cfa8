//! What the dashboard needs from before the page was opened, kept in bounded memory on the I/O side:
//! the latest log records (`GET /api/logs`), the control actions with their old and new values (`GET
//! /api/audit`), and the account's equity curve at the cadence of `metric` frames (`GET /api/equity`).
//!
//! Why in memory: each is a bounded tail that the page reads once on load and then follows live over
//! `/ws`. Log records and equity points are written where their frames are (the logger, the publisher);
//! audit entries by `changes::apply_outside_engine`, which runs for every committed change, live and on
//! journal replay. The equity curve (thinned) and the audit trail also travel in each snapshot
//! ([`Recent::export`], [`Recent::import`]), so both survive a restart; a change replayed from the journal
//! that the snapshot already held is not recorded twice. Each store has its own lock, held only to push
//! or copy.

use pinion_core::change::Change;
use pinion_core::events::OperationAction;
use pinion_core::time::format_iso;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Log records kept.
pub const LOG_CAPACITY: usize = 5000;
/// Control actions kept.
pub const AUDIT_CAPACITY: usize = 2000;
/// Equity points kept: 24 hours at one a second.
pub const EQUITY_CAPACITY: usize = 86_400;
/// Equity points a snapshot keeps (the curve thinned evenly).
pub const SAVED_EQUITY_POINTS: usize = 5000;

/// One log record as the `log` frame carries it, plus its target.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LogRecordView {
    /// Increasing number of the record since start.
    pub seq: u64,
    /// ERROR, WARN or INFO.
    pub level: String,
    /// Where it was written (`pinion::control`, `pinion::orders`...).
    pub target: String,
    /// The message.
    pub message: String,
    /// Feed time (wall time before the first tick), ISO 8601 UTC.
    pub timestamp: String,
}

/// One control action (an operator's change, or one the engine made) with what it changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditEntryView {
    /// Increasing number of the entry since start.
    pub seq: u64,
    /// Feed time the change applied at, ISO 8601 UTC.
    pub timestamp: String,
    /// Who made it: `operator` (through the API), `engine` (crash recovery, a failed session).
    pub actor: String,
    /// The change's name (`operation_lifecycle`, `risk_updated`...).
    pub action: String,
    /// What it applies to (`operation 3`, `risk`, `session`).
    pub target: String,
    /// The value before (a status, the limits), null when unknown.
    pub old: Value,
    /// The value after.
    pub new: Value,
    /// The control log line of the change.
    pub detail: String,
}

/// One point of the account's equity curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EquityPointView {
    /// Feed time, epoch seconds (for charts).
    pub time: f64,
    /// NAV: balance plus unrealized P/L, USD.
    pub equity: f64,
    /// Balance (realized), USD.
    pub balance: f64,
    /// Unrealized P/L, USD.
    pub unrealized: f64,
    /// 1 - equity / peak equity.
    pub drawdown: f64,
}

#[derive(Default)]
struct AuditState {
    entries: VecDeque<AuditEntryView>,
    seq: u64,
    /// Last known status of each operation, for the `old` side of lifecycle changes.
    status: HashMap<u64, &'static str>,
    risk: Option<Value>,
    session: Option<Value>,
    session_state: Option<&'static str>,
    /// The newest entry that came from a snapshot (0: none): a change replayed from the journal that
    /// the snapshot already held is recognized among those entries only.
    restored: u64,
}

/// The three bounded stores.
#[derive(Default)]
pub struct Recent {
    logs: Mutex<(VecDeque<LogRecordView>, u64)>,
    audit: Mutex<AuditState>,
    equity: Mutex<VecDeque<EquityPointView>>,
}

fn bounded_push<T>(q: &mut VecDeque<T>, cap: usize, x: T) {
    if q.len() >= cap {
        q.pop_front();
    }
    q.push_back(x);
}

impl Recent {
    /// Empty stores; `risk` is the limits in force at start (the `old` of the first risk change).
    pub fn new(risk: Option<Value>) -> Recent {
        let r = Recent::default();
        r.audit.lock().unwrap_or_else(|p| p.into_inner()).risk = risk;
        r
    }

    /// Keeps one log record.
    pub fn log(&self, level: log::Level, target: &str, message: &str, ts_ns: i64) {
        let mut g = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        g.1 += 1;
        let rec = LogRecordView {
            seq: g.1,
            level: level.as_str().to_string(),
            target: target.to_string(),
            message: message.to_string(),
            timestamp: format_iso(ts_ns),
        };
        bounded_push(&mut g.0, LOG_CAPACITY, rec);
    }

    /// The newest `limit` records at `min_level` or more severe whose message or target contains `q`
    /// (case-insensitive), newest first.
    pub fn logs(&self, min_level: log::Level, q: Option<&str>, limit: usize) -> Vec<LogRecordView> {
        let q = q.map(str::to_lowercase).filter(|s| !s.is_empty());
        let g = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        g.0.iter()
            .rev()
            .filter(|r| r.level.parse::<log::Level>().is_ok_and(|l| l <= min_level))
            .filter(|r| q.as_deref().is_none_or(|q| r.message.to_lowercase().contains(q) || r.target.to_lowercase().contains(q)))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Keeps one equity point (a newer time replaces nothing: the curve is append-only).
    pub fn equity_point(&self, p: EquityPointView) {
        let mut g = self.equity.lock().unwrap_or_else(|p| p.into_inner());
        if g.back().is_some_and(|last| last.time >= p.time) {
            // Same feed second (the feed paused): the newest values win.
            if let Some(last) = g.back_mut() {
                if last.time == p.time {
                    *last = p;
                }
            }
            return;
        }
        bounded_push(&mut g, EQUITY_CAPACITY, p);
    }

    /// The newest `limit` points, oldest first, thinned to at most `max_points` (every k-th point, the
    /// newest always kept).
    pub fn equity(&self, limit: usize, max_points: usize) -> Vec<EquityPointView> {
        let g = self.equity.lock().unwrap_or_else(|p| p.into_inner());
        let skip = g.len().saturating_sub(limit);
        let n = g.len() - skip;
        let stride = n.div_ceil(max_points.max(1)).max(1);
        let mut out: Vec<EquityPointView> =
            g.iter().skip(skip).enumerate().filter(|(i, _)| (n - 1 - i).is_multiple_of(stride)).map(|(_, p)| *p).collect();
        out.shrink_to_fit();
        out
    }

    /// Records a committed change (nothing for broker reports and seeded bars: those are trading data,
    /// not control; a reconciliation's differences are recorded, by the engine).
    pub fn audit(&self, change: &Change, now_ns: i64, detail: &str) {
        let mut g = self.audit.lock().unwrap_or_else(|p| p.into_inner());
        let (actor, target, old, new): (&str, String, Value, Value) = match change {
            Change::OperationCreated { op_id, spec, .. } => {
                g.status.insert(*op_id, "active");
                ("operator", format!("operation {op_id}"), Value::Null, json!({ "status": "active", "spec": spec }))
            }
            Change::OperationLifecycle { op_id, action, .. } => {
                let (old_default, new) = match action {
                    OperationAction::Pause => ("active", "paused"),
                    OperationAction::Resume => ("paused", "active"),
                    OperationAction::Stop => ("active", "closed"),
                };
                let old = g.status.insert(*op_id, new).unwrap_or(old_default);
                ("operator", format!("operation {op_id}"), json!(old), json!(new))
            }
            Change::RiskUpdated { limits } => {
                let new = json!(limits);
                let old = g.risk.replace(new.clone()).unwrap_or(Value::Null);
                ("operator", "risk".into(), old, new)
            }
            Change::SessionConfigured { config } => {
                let new = json!(config);
                let old = g.session.replace(new.clone()).unwrap_or(Value::Null);
                ("operator", "session".into(), old, new)
            }
            Change::SessionStarted { .. } => {
                let old = g.session_state.replace("running").unwrap_or("stopped");
                ("operator", "session".into(), json!(old), json!("running"))
            }
            Change::SessionStopped => {
                let old = g.session_state.replace("stopped").unwrap_or("running");
                ("operator", "session".into(), json!(old), json!("stopped"))
            }
            Change::SessionPositionsClosed { closes } => ("operator", "session".into(), Value::Null, json!({ "closed": closes })),
            Change::SessionFailed { reason } => {
                let old = g.session_state.replace("failed").unwrap_or("running");
                ("engine", "session".into(), json!(old), json!({ "state": "failed", "reason": reason }))
            }
            Change::CrashRecoveryApplied { op_id, mode, closes, .. } => {
                ("engine", format!("operation {op_id}"), Value::Null, json!({ "crash_recovery_mode": mode, "closed": closes }))
            }
            Change::VenueReconciled { differences } => ("engine", "broker".into(), Value::Null, json!({ "differences": differences })),
            Change::VenueReported { .. } | Change::BarsSeeded { .. } => return,
        };
        let timestamp = format_iso(now_ns);
        // Replayed from the journal after a snapshot that already held it: not twice.
        let restored = g.restored;
        if restored > 0
            && g.entries.iter().filter(|e| e.seq <= restored).any(|e| e.timestamp == timestamp && e.detail == detail && e.target == target)
        {
            return;
        }
        g.seq += 1;
        let e = AuditEntryView {
            seq: g.seq,
            timestamp,
            actor: actor.into(),
            action: change.name().to_string(),
            target,
            old,
            new,
            detail: detail.to_string(),
        };
        bounded_push(&mut g.entries, AUDIT_CAPACITY, e);
    }

    /// What a snapshot keeps: the equity curve thinned to [`SAVED_EQUITY_POINTS`] and the audit trail.
    pub fn export(&self) -> Value {
        let equity = self.equity(EQUITY_CAPACITY, SAVED_EQUITY_POINTS);
        let audit: Vec<AuditEntryView> = self.audit.lock().unwrap_or_else(|p| p.into_inner()).entries.iter().cloned().collect();
        json!({ "equity": equity, "audit": audit })
    }

    /// Replaces the equity curve and the audit trail with a snapshot's (see [`export`](Self::export)),
    /// and derives from the trail what later entries compare against (statuses, limits, session).
    pub fn import(&self, v: &Value) -> Result<(), String> {
        let equity: Vec<EquityPointView> = serde_json::from_value(v["equity"].clone()).map_err(|e| format!("dashboard equity: {e}"))?;
        let audit: Vec<AuditEntryView> = serde_json::from_value(v["audit"].clone()).map_err(|e| format!("dashboard audit: {e}"))?;
        *self.equity.lock().unwrap_or_else(|p| p.into_inner()) = equity.into_iter().collect();
        let mut g = self.audit.lock().unwrap_or_else(|p| p.into_inner());
        g.seq = audit.iter().map(|e| e.seq).max().unwrap_or(0);
        g.restored = g.seq;
        for e in &audit {
            let op = e.target.strip_prefix("operation ").and_then(|id| id.parse::<u64>().ok());
            match (e.action.as_str(), op, &e.new) {
                ("operation_created", Some(id), _) => {
                    g.status.insert(id, "active");
                }
                (_, Some(id), Value::String(s)) => {
                    let s: &'static str = match s.as_str() {
                        "paused" => "paused",
                        "closed" => "closed",
                        _ => "active",
                    };
                    g.status.insert(id, s);
                }
                ("risk_updated", _, new) => g.risk = Some(new.clone()),
                ("session_configured", _, new) => g.session = Some(new.clone()),
                (a, _, _) if a.starts_with("session_") => {
                    g.session_state = Some(match &e.new {
                        Value::String(s) if s == "running" => "running",
                        Value::String(_) => "stopped",
                        _ => "failed",
                    })
                }
                _ => {}
            }
        }
        g.entries = audit.into_iter().collect();
        Ok(())
    }

    /// The newest `limit` control actions, newest first.
    pub fn audit_entries(&self, limit: usize) -> Vec<AuditEntryView> {
        let g = self.audit.lock().unwrap_or_else(|p| p.into_inner());
        g.entries.iter().rev().take(limit).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinion_core::order::BookId;

    #[test]
    fn logs_filter_by_level_and_text_newest_first() {
        let r = Recent::new(None);
        r.log(log::Level::Info, "pinion::control", "operation 1 paused", 1);
        r.log(log::Level::Warn, "pinion::orders", "operation 1: entry refused", 2);
        r.log(log::Level::Error, "pinion::journal", "disk full", 3);
        let all: Vec<u64> = r.logs(log::Level::Info, None, 10).iter().map(|l| l.seq).collect();
        assert_eq!(all, vec![3, 2, 1]);
        assert_eq!(r.logs(log::Level::Warn, None, 10).len(), 2);
        assert_eq!(r.logs(log::Level::Info, Some("REFUSED"), 10)[0].seq, 2);
        assert_eq!(r.logs(log::Level::Info, None, 1).len(), 1);
    }

    #[test]
    fn equity_is_bounded_thinned_and_keeps_the_newest() {
        let r = Recent::new(None);
        for t in 0..100 {
            r.equity_point(EquityPointView { time: t as f64, equity: t as f64, balance: 0.0, unrealized: 0.0, drawdown: 0.0 });
        }
        r.equity_point(EquityPointView { time: 50.0, equity: -1.0, balance: 0.0, unrealized: 0.0, drawdown: 0.0 });
        assert_eq!(r.equity(1000, 1000).len(), 100, "an older time is not appended");
        let thin = r.equity(1000, 10);
        assert_eq!(thin.len(), 10);
        assert_eq!(thin.last().map(|p| p.time), Some(99.0));
        assert_eq!(r.equity(5, 1000).first().map(|p| p.time), Some(95.0));
    }

    #[test]
    fn lifecycle_and_risk_changes_record_old_and_new() {
        let r = Recent::new(Some(json!({ "max_concurrent_positions": 10 })));
        let life = |action| Change::OperationLifecycle { op_id: 3, book: BookId(1), action };
        r.audit(&life(OperationAction::Pause), 1, "operation 3 paused");
        r.audit(&life(OperationAction::Resume), 2, "operation 3 resumed");
        r.audit(&Change::RiskUpdated { limits: Default::default() }, 3, "risk");
        let e = r.audit_entries(10);
        assert_eq!(e.len(), 3);
        assert_eq!((e[2].old.clone(), e[2].new.clone()), (json!("active"), json!("paused")));
        assert_eq!((e[1].old.clone(), e[1].new.clone()), (json!("paused"), json!("active")));
        assert_eq!(e[0].old, json!({ "max_concurrent_positions": 10 }));
        assert_eq!(e[0].actor, "operator");
    }

    #[test]
    fn a_snapshot_carries_the_curve_and_the_trail() {
        let r = Recent::new(None);
        r.equity_point(EquityPointView { time: 1.0, equity: 5.0, balance: 5.0, unrealized: 0.0, drawdown: 0.0 });
        let life = |action| Change::OperationLifecycle { op_id: 3, book: BookId(1), action };
        r.audit(&life(OperationAction::Pause), 1, "operation 3 paused");
        let back = Recent::new(None);
        back.import(&r.export()).expect("imports");
        assert_eq!(back.equity(10, 10).len(), 1);
        assert_eq!(back.audit_entries(10), r.audit_entries(10));
        // Replayed from the journal after the snapshot that held it: not twice; a new one is recorded.
        back.audit(&life(OperationAction::Pause), 1, "operation 3 paused");
        assert_eq!(back.audit_entries(10).len(), 1);
        back.audit(&life(OperationAction::Resume), 2, "operation 3 resumed");
        let e = back.audit_entries(10);
        assert_eq!((e[0].seq, e[0].old.clone()), (2, json!("paused")), "the status came back with the trail");
        assert!(back.import(&json!({ "equity": 3 })).is_err());
    }
}
