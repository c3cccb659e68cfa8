//! The crash test's view of the journal: records read with `pinion journal dump` while no server runs
//! on it, the per-run model of net positions and recovery records ([`JournalModel`]), and the check of
//! a restart's recovery records against what the journal before it required.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

pub struct Rec {
    seq: u64,
    kind: String,
    v: Value,
}

/// Records with seq >= `from` (a torn tail, which the next start truncates, is left out).
pub fn dump_journal(data: &Path, from: u64) -> Vec<Rec> {
    let out = Command::new(env!("CARGO_BIN_EXE_pinion"))
        .args(["journal", "dump"])
        .arg(data.join("journal"))
        .args(["--from", &from.to_string()])
        .output()
        .expect("running pinion journal dump");
    assert!(out.status.success(), "pinion journal dump failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("dump is UTF-8");
    let mut recs = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let mut parts = line.splitn(4, '\t');
        let seq: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("dump line {line:?}"));
        let (_code, _len) = (parts.next(), parts.next());
        let (kind, json) = parts.next().and_then(|r| r.split_once(' ')).unwrap_or_else(|| panic!("dump line {line:?}"));
        let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("dump line {line:?}: {e}"));
        // A state change: `{tick_pos, cmd, change: {kind, ...}}`, seen here as its kind with the change's
        // fields and its tick position.
        let (kind, v) = match kind {
            "change" => {
                let mut c = v["change"].clone();
                c["tick_pos"] = v["tick_pos"].clone();
                (c["kind"].as_str().unwrap_or_else(|| panic!("change without kind: {line:?}")).to_string(), c)
            }
            k => (k.to_string(), v),
        };
        recs.push(Rec { seq, kind, v });
    }
    recs
}

/// What the journal says, run by run (a run = the records one server process wrote).
///
/// Net positions: a batch's fill events are journaled before its progress marker, and clients see a
/// batch only once its marker is durable; a restart re-executes exactly up to the last durable marker
/// (or a later journaled change, which is only acknowledged after the events before it are durable).
/// So the fills of a run that count are those followed by a progress marker in the same run; trailing
/// ones (written, marker lost in the crash) are re-created, and journaled again, by the next run.
/// Recovery closes are not journaled as events but as `crash_recovery_applied` changes naming what they
/// close (a close: flat).
#[derive(Default)]
pub struct JournalModel {
    pub last_seq: u64,
    op_book: HashMap<u64, u64>,
    op_mode: HashMap<u64, String>,
    op_active: HashMap<u64, bool>,
    net: HashMap<u64, i64>,
    pending: Vec<(u64, i64)>,
    /// Positions closed by recovery, per operation.
    pub recovery_closed: HashMap<u64, u64>,
    /// The furthest tick position any durable record names (the next restart's recovery point).
    pub max_pos: u64,
    /// Fill events left without a progress marker at the end of a run (re-journaled by the next run).
    pub orphan_fills: u64,
    /// EMERGENCY_EXIT recoveries that closed / kept the position (both paths should show up).
    pub emergency: (u64, u64),
}

impl JournalModel {
    /// Folds in the records of one finished run; returns that run's recovery records (op, mode, closed).
    pub fn ingest_run(&mut self, recs: &[Rec]) -> Vec<(u64, String, u64)> {
        for r in recs {
            assert!(r.seq > self.last_seq, "journal seq {} after {}", r.seq, self.last_seq);
            self.last_seq = r.seq;
            if let Some(p) = r.v.get("tick_pos").and_then(Value::as_u64) {
                self.max_pos = self.max_pos.max(p);
            }
            let op = r.v["op_id"].as_u64().unwrap_or(0);
            match r.kind.as_str() {
                "event" if r.v["e"] == "fill" => {
                    let qty = r.v["qty"].as_i64().expect("fill qty");
                    let signed = if r.v["side"] == "BUY" { qty } else { -qty };
                    self.pending.push((r.v["book"].as_u64().expect("fill book"), signed));
                }
                "progress" => {
                    self.max_pos = self.max_pos.max(r.v["ticks"].as_u64().expect("progress ticks"));
                    for (book, q) in self.pending.drain(..) {
                        *self.net.entry(book).or_default() += q;
                    }
                }
                "operation_created" => {
                    self.op_book.insert(op, r.v["book"].as_u64().expect("book"));
                    self.op_mode.insert(op, r.v["spec"]["crash_recovery_mode"].as_str().expect("mode").to_string());
                    self.op_active.insert(op, true);
                }
                "operation_lifecycle" => {
                    self.op_active.insert(op, r.v["action"] == "resume");
                }
                "crash_recovery_applied" => {
                    let closed = r.v["closes"].as_array().expect("closes").len() as u64;
                    if r.v["mode"] == "EMERGENCY_EXIT" {
                        if closed > 0 {
                            self.emergency.0 += 1;
                        } else {
                            self.emergency.1 += 1;
                        }
                    }
                    *self.recovery_closed.entry(op).or_default() += closed;
                    if closed > 0 {
                        self.net.insert(self.op_book[&op], 0);
                    }
                }
                _ => {}
            }
        }
        self.orphan_fills += self.pending.len() as u64;
        self.pending.clear();
        recovery_records(recs)
    }

    /// The operations a restart must apply its recovery mode to: active, with an open position.
    pub fn expected_recoveries(&self) -> BTreeMap<u64, String> {
        self.op_book
            .iter()
            .filter(|(op, book)| self.op_active[op] && self.net.get(book).copied().unwrap_or(0) != 0)
            .map(|(op, _)| (*op, self.op_mode[op].clone()))
            .collect()
    }
}

/// The `recovery` records among `recs`: (operation, mode, positions closed).
pub fn recovery_records(recs: &[Rec]) -> Vec<(u64, String, u64)> {
    recs.iter()
        .filter(|r| r.kind == "crash_recovery_applied")
        .map(|r| {
            let closed = r.v["closes"].as_array().map_or(0, |c| c.len() as u64);
            (r.v["op_id"].as_u64().unwrap(), r.v["mode"].as_str().unwrap_or("").to_string(), closed)
        })
        .collect()
}

/// The recovery records a restart wrote vs what the journal before it requires.
pub fn check_recoveries(expected: &BTreeMap<u64, String>, got: &[(u64, String, u64)], when: &str) {
    let got_ops: BTreeMap<u64, (String, u64)> = got.iter().map(|(op, m, c)| (*op, (m.clone(), *c))).collect();
    assert_eq!(got_ops.len(), got.len(), "{when}: two recovery records for one operation: {got:?}");
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        got_ops.keys().collect::<Vec<_>>(),
        "{when}: recovery applied to the wrong operations (expected the active ones holding a position: {expected:?}; got {got:?})"
    );
    for (op, (mode, closed)) in &got_ops {
        assert_eq!(mode, &expected[op], "{when}: operation {op} recovered with the wrong mode");
        let ok = match mode.as_str() {
            "CLOSE_ALL" => *closed == 1,
            "RESUME" => *closed == 0,
            "EMERGENCY_EXIT" => *closed <= 1,
            other => panic!("{when}: unknown mode {other}"),
        };
        assert!(ok, "{when}: operation {op} ({mode}) closed {closed} position(s)");
    }
}
