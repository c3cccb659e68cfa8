//! Snapshots of the read model. [`ReadState::export_state`] writes everything folded from engine events
//! (books, operations, account, equity curve, counters) as one JSON value; [`ReadState::import_state`]
//! replaces the state with such a value, so a restart resumes at a checkpoint instead of re-applying all
//! history. Export -> JSON bytes -> import gives an equal state (f64 fields round-trip bit-exactly).
//!
//! Not written: the instrument table (static: the importing side keeps its own), the order index (rebuilt
//! from the books' orders) and `positions_dirty` (set after an import so the next `positions` frame goes
//! out). An import is all or nothing: on error the state is left as it was, and the error names the field.

use super::book::{BookRecord, EquityCurve, PositionRecord};
use super::{OperationMeta, ReadState};
use pinion_core::events::AccountState;
use pinion_core::fixed::Money;
use pinion_core::order::{BookId, OrderId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};

/// Format version of the exported value; an import refuses any other.
pub const SNAPSHOT_VERSION: u64 = 1;

/// The top-level fields of an export, in order.
const FIELDS: [&str; 11] = [
    "version",
    "books",
    "operations",
    "account",
    "starting_balance",
    "equity",
    "session_book",
    "last_transaction_id",
    "applied_seq",
    "txn_seq",
    "now_ns",
];

/// What `export_state` writes (borrowing the state; `import_state` reads the same fields one by one).
#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u64,
    books: &'a [BookRecord],
    operations: &'a [OperationMeta],
    account: &'a AccountState,
    starting_balance: Money,
    equity: &'a EquityCurve,
    session_book: Option<BookId>,
    last_transaction_id: u64,
    applied_seq: u64,
    txn_seq: u64,
    now_ns: i64,
}

/// `BookRecord::positions` as a list of records: each is keyed by its `state.instrument`, and a list keeps
/// JSON keys out of it. Reading refuses two records for one instrument.
pub mod positions_as_list {
    use super::PositionRecord;
    use pinion_core::instrument::InstrumentId;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(m: &BTreeMap<InstrumentId, PositionRecord>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<InstrumentId, PositionRecord>, D::Error> {
        let mut m = BTreeMap::new();
        for p in Vec::<PositionRecord>::deserialize(d)? {
            if m.insert(p.state.instrument, p).is_some() {
                return Err(D::Error::custom(format!("two positions for instrument {}", p.state.instrument.0)));
            }
        }
        Ok(m)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn err(msg: impl std::fmt::Display) -> String {
    format!("read-model snapshot: {msg}")
}

/// Reads one top-level field.
fn field<'a, T: Deserialize<'a>>(obj: &'a Map<String, Value>, name: &str) -> Result<T, String> {
    let v = obj.get(name).ok_or_else(|| err(format_args!("missing field `{name}`")))?;
    T::deserialize(v).map_err(|e| err(format_args!("field `{name}`: {e}")))
}

/// Reads one top-level list field element by element, so an error names the element.
fn list<'a, T: Deserialize<'a>>(obj: &'a Map<String, Value>, name: &str) -> Result<Vec<T>, String> {
    let v = obj.get(name).ok_or_else(|| err(format_args!("missing field `{name}`")))?;
    let items = v.as_array().ok_or_else(|| err(format_args!("field `{name}`: expected an array, got {}", kind(v))))?;
    items.iter().enumerate().map(|(i, x)| T::deserialize(x).map_err(|e| err(format_args!("{name}[{i}]: {e}")))).collect()
}

/// Checks that every order sits in its own book (where `ReadState::apply` puts it) and that each book's
/// orders are in increasing id order (the window is searched by id), so no id appears twice.
fn check_orders(books: &[BookRecord]) -> Result<(), String> {
    let mut seen: HashMap<OrderId, (usize, usize)> = HashMap::new();
    for (bi, b) in books.iter().enumerate() {
        for (oi, o) in b.orders.iter().enumerate() {
            if o.order.book.0 as usize != bi {
                return Err(err(format_args!("books[{bi}].orders[{oi}]: order {} belongs to book {}", o.order.id, o.order.book.0)));
            }
            if let Some((pb, po)) = seen.insert(o.order.id, (bi, oi)) {
                return Err(err(format_args!("books[{bi}].orders[{oi}]: order id {} already at books[{pb}].orders[{po}]", o.order.id)));
            }
            if oi > 0 && b.orders[oi - 1].order.id > o.order.id {
                return Err(err(format_args!("books[{bi}].orders[{oi}]: order id {} is below the one before it", o.order.id)));
            }
        }
    }
    Ok(())
}

/// Transaction ids (fills, trades, lots) come from `txn_seq`: one above it would be handed out again.
fn check_ids(books: &[BookRecord], last_transaction_id: u64, txn_seq: u64, applied_seq: u64) -> Result<(), String> {
    if txn_seq > applied_seq {
        return Err(err(format_args!("txn_seq {txn_seq} exceeds applied_seq {applied_seq}")));
    }
    if last_transaction_id > txn_seq {
        return Err(err(format_args!("last_transaction_id {last_transaction_id} exceeds txn_seq {txn_seq}")));
    }
    for (bi, b) in books.iter().enumerate() {
        let ids = b.fills.iter().map(|f| ("fills", f.id)).chain(b.trades.iter().map(|t| ("trades", t.id)));
        if let Some((what, id)) = ids.chain(b.lots.iter().map(|l| ("lots", l.id))).find(|&(_, id)| id > txn_seq) {
            return Err(err(format_args!("books[{bi}].{what}: transaction id {id} exceeds txn_seq {txn_seq}")));
        }
    }
    Ok(())
}

impl ReadState {
    /// Everything folded from events, as one JSON value (see the module comment for what is left out).
    pub fn export_state(&self) -> Value {
        let snap = SnapshotRef {
            version: SNAPSHOT_VERSION,
            books: &self.books,
            operations: &self.operations,
            account: &self.account,
            starting_balance: self.starting_balance,
            equity: &self.equity,
            session_book: self.session_book,
            last_transaction_id: self.last_transaction_id,
            applied_seq: self.applied_seq,
            txn_seq: self.txn_seq,
            now_ns: self.now_ns,
        };
        // Cannot fail (no maps with non-string keys); should it, the value says why and import refuses it.
        serde_json::to_value(&snap).unwrap_or_else(|e| json!({ "version": SNAPSHOT_VERSION, "export_error": e.to_string() }))
    }

    /// Replaces the whole state (but the instrument table) with an export. On error nothing changes.
    pub fn import_state(&mut self, v: &Value) -> Result<(), String> {
        let obj = v.as_object().ok_or_else(|| err(format_args!("expected an object, got {}", kind(v))))?;
        if let Some(e) = obj.get("export_error") {
            return Err(err(format_args!("the export failed: {e}")));
        }
        let version: u64 = field(obj, "version")?;
        if version != SNAPSHOT_VERSION {
            return Err(err(format_args!("version {version}, expected {SNAPSHOT_VERSION}")));
        }
        if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(err(format_args!("unknown field `{k}`")));
        }
        let books: Vec<BookRecord> = list(obj, "books")?;
        let operations: Vec<OperationMeta> = list(obj, "operations")?;
        let account: AccountState = field(obj, "account")?;
        let starting_balance: Money = field(obj, "starting_balance")?;
        let equity: EquityCurve = field(obj, "equity")?;
        let session_book: Option<BookId> = field(obj, "session_book")?;
        let last_transaction_id: u64 = field(obj, "last_transaction_id")?;
        let applied_seq: u64 = field(obj, "applied_seq")?;
        let txn_seq: u64 = field(obj, "txn_seq")?;
        let now_ns: i64 = field(obj, "now_ns")?;
        check_orders(&books)?;
        check_ids(&books, last_transaction_id, txn_seq, applied_seq)?;
        let mut op_ids = HashSet::new();
        if let Some((i, o)) = operations.iter().enumerate().find(|(_, o)| !op_ids.insert(o.id)) {
            return Err(err(format_args!("operations[{i}]: operation id {} appears twice", o.id)));
        }

        self.books = books;
        for b in &mut self.books {
            b.upgrade_counts();
        }
        self.operations = operations;
        self.account = account;
        self.starting_balance = starting_balance;
        self.equity = equity;
        self.session_book = session_book;
        self.last_transaction_id = last_transaction_id;
        self.applied_seq = applied_seq;
        self.txn_seq = txn_seq;
        self.now_ns = now_ns;
        self.positions_dirty = true;
        Ok(())
    }
}
