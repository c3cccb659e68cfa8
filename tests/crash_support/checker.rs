//! The crash test's client-side record of acknowledged state (operations as acknowledged, every fill
//! and settled order ever shown) and the checks run against a server after each restart: nothing
//! shown is lost, changed or duplicated, acknowledged changes survive, money adds up to the cent, and
//! RECOVERY orders match the journal's recovery records.

use super::server::Server;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

const STARTING_BALANCE_CENTS: i64 = 100_000 * 100;
/// Deadline of the money check's quiescent snapshot.
const MONEY_TIMEOUT: Duration = Duration::from_secs(60);

/// Fills by (order_id, ENTRY/EXIT).
pub type Fills = BTreeMap<(u64, String), Value>;

pub struct Op {
    pub id: u64,
    pub asset: String,
    pub mode: String,
    pub emergency_pct: f64,
    /// Acknowledged status (`active` or `paused`).
    pub status: String,
}

fn is_final(order: &Value) -> bool {
    matches!(order["status"].as_str(), Some("FILLED" | "CANCELLED" | "REJECTED"))
}

fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")) * 100.0).round() as i64
}

pub struct Checker {
    pub strict_ids: bool,
    /// Every fill ever shown, by (order_id, ENTRY/EXIT).
    pub seen_tx: BTreeMap<(u64, String), Value>,
    /// Orders shown in a final state.
    pub seen_orders: BTreeMap<u64, Value>,
}

pub fn tx_key(t: &Value) -> (u64, String) {
    (t["order_id"].as_u64().expect("order_id"), t["action"].as_str().expect("action").to_string())
}

fn without_id(t: &Value) -> Value {
    let mut t = t.clone();
    t.as_object_mut().unwrap().remove("id");
    t
}

impl Checker {
    pub fn same_tx(&self, a: &Value, b: &Value) -> bool {
        if self.strict_ids {
            a == b
        } else {
            without_id(a) == without_id(b)
        }
    }

    /// All transactions of all operations, checked for duplicates; keyed by (order_id, action).
    pub fn transactions(&self, srv: &Server, ops: &[Op]) -> Fills {
        let mut by_key = Fills::new();
        let mut ids: BTreeMap<u64, u64> = BTreeMap::new();
        for op in ops {
            for t in srv.all_pages(&format!("/api/operations/{}/transactions", op.id), false) {
                assert_eq!(t["operation_id"].as_u64(), Some(op.id), "transaction of another operation: {t}");
                let id = t["id"].as_u64().unwrap();
                if let Some(other) = ids.insert(id, op.id) {
                    panic!("transaction id {id} shown by operations {other} and {}", op.id);
                }
                if let Some(prev) = by_key.insert(tx_key(&t), t.clone()) {
                    panic!("duplicated fill: order {} {} booked twice: {prev} and {t}", t["order_id"], t["action"]);
                }
            }
        }
        by_key
    }

    pub fn orders(&self, srv: &Server, ops: &[Op]) -> BTreeMap<u64, Value> {
        let mut all = BTreeMap::new();
        for op in ops {
            for o in srv.all_pages(&format!("/api/operations/{}/orders", op.id), true) {
                let id = o["id"].as_u64().unwrap();
                if let Some(prev) = all.insert(id, o.clone()) {
                    panic!("order id {id} shown twice: {prev} and {o}");
                }
            }
        }
        all
    }

    /// Nothing shown before is lost or changed; then remembers what is shown now.
    pub fn check_and_record(&mut self, srv: &Server, ops: &[Op], when: &str) -> Fills {
        let txs = self.transactions(srv, ops);
        for (k, before) in &self.seen_tx {
            match txs.get(k) {
                None => panic!("{when}: fill lost: {before} is gone ({} fills now)", txs.len()),
                Some(now) => assert!(
                    self.same_tx(before, now),
                    "{when}: fill changed (transaction ids must survive a restart):\n before {before}\n now    {now}"
                ),
            }
        }
        let orders = self.orders(srv, ops);
        for (id, before) in &self.seen_orders {
            match orders.get(id) {
                None => panic!("{when}: order lost: {before}"),
                Some(now) => assert_eq!(before, now, "{when}: an order in a final state changed"),
            }
        }
        for (k, t) in &txs {
            self.seen_tx.insert(k.clone(), t.clone());
        }
        for (id, o) in &orders {
            if is_final(o) {
                self.seen_orders.insert(*id, o.clone());
            }
        }
        txs
    }
}

/// Operations and the risk update as acknowledged.
pub fn check_acknowledged(srv: &Server, ops: &[Op], when: &str) {
    let list = srv.get("/api/operations?limit=1000");
    let list = list.as_array().expect("operations list");
    assert_eq!(list.len(), ops.len(), "{when}: operations {list:?}");
    for op in ops {
        let o = list.iter().find(|o| o["id"].as_u64() == Some(op.id)).unwrap_or_else(|| panic!("{when}: operation {} lost", op.id));
        assert_eq!(o["status"].as_str(), Some(op.status.as_str()), "{when}: operation {} status: {o}", op.id);
        assert_eq!(o["asset"].as_str(), Some(op.asset.as_str()), "{when}: {o}");
        assert_eq!(o["crash_recovery_mode"].as_str(), Some(op.mode.as_str()), "{when}: {o}");
    }
    let risk = srv.get("/risk");
    assert_eq!(risk["risk"]["max_concurrent_positions"], json!(50), "{when}: the acknowledged risk update is lost: {risk}");
}

/// Balance = start + realized - commission over every transaction, `pl` the realized P/L before commission
/// (as OANDA reports it), on a quiescent snapshot.
pub fn check_money(c: &Checker, srv: &Server, ops: &[Op], when: &str) {
    let deadline = Instant::now() + MONEY_TIMEOUT;
    let mut last = String::new();
    loop {
        let s1 = srv.get("/account/summary");
        let txs = c.transactions(srv, ops);
        let s2 = srv.get("/account/summary");
        // Marks (NAV, unrealized, asOf) move with every tick; booked money moves only with a transaction.
        let booked = |s: &Value| (s["lastTransactionID"].clone(), s["balance"].clone(), s["pl"].clone(), s["commission"].clone());
        if booked(&s1) == booked(&s2) {
            let pnl: i64 = txs.values().map(|t| cents(&t["profit"])).sum();
            let commission: i64 = txs.values().map(|t| cents(&t["commission"])).sum();
            let want = STARTING_BALANCE_CENTS + pnl - commission;
            if cents(&s1["balance"]) == want && cents(&s1["pl"]) == pnl && cents(&s1["commission"]) == commission {
                return;
            }
            last = format!(
                "balance {} pl {} commission {} but the {} transactions give balance {:.2} (profit {:.2}, commission {:.2})",
                s1["balance"],
                s1["pl"],
                s1["commission"],
                txs.len(),
                want as f64 / 100.0,
                pnl as f64 / 100.0,
                commission as f64 / 100.0
            );
        } else if last.is_empty() {
            last = "never a quiescent snapshot".into();
        }
        assert!(Instant::now() < deadline, "{when}: money does not add up: {last}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// RECOVERY orders match the journal's recovery records; EMERGENCY_EXIT closes were over the threshold.
pub fn check_recovery_orders(srv: &Server, ops: &[Op], closed: &HashMap<u64, u64>, when: &str) {
    for op in ops {
        let orders = srv.all_pages(&format!("/api/operations/{}/orders", op.id), true);
        let rec: Vec<&Value> = orders.iter().filter(|o| o["purpose"] == "RECOVERY").collect();
        let want = closed.get(&op.id).copied().unwrap_or(0);
        assert_eq!(
            rec.len() as u64,
            want,
            "{when}: operation {} ({}) has {} RECOVERY orders, the journal closed {want}",
            op.id,
            op.mode,
            rec.len()
        );
        if op.mode == "RESUME" {
            assert!(rec.is_empty(), "{when}: RESUME operation {} has RECOVERY orders", op.id);
        }
        for o in &rec {
            assert_eq!(o["status"], "FILLED", "{when}: recovery order not filled: {o}");
        }
        if op.mode != "EMERGENCY_EXIT" || rec.is_empty() {
            continue;
        }
        let txs = srv.all_pages(&format!("/api/operations/{}/transactions", op.id), false);
        let trades = srv.all_pages(&format!("/api/operations/{}/trades", op.id), false);
        for o in &rec {
            let fill = txs
                .iter()
                .find(|t| t["order_id"] == o["id"] && t["action"] == "EXIT")
                .unwrap_or_else(|| panic!("{when}: no EXIT fill of recovery order {o}"));
            let notional: f64 = trades
                .iter()
                .filter(|t| t["exit_time"] == fill["executed_at"] && t["exit_price"] == fill["price"])
                .map(|t| t["quantity"].as_f64().unwrap() * t["entry_price"].as_f64().unwrap())
                .sum();
            assert!(notional > 0.0, "{when}: no trade closed by {fill}");
            let loss = -fill["profit"].as_f64().unwrap();
            assert!(
                loss > op.emergency_pct * notional - 0.01,
                "{when}: EMERGENCY_EXIT closed a position losing {loss:.2}, within {} of its entry notional {notional:.2}: {fill}",
                op.emergency_pct
            );
        }
    }
}
