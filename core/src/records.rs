//! The history records the read side keeps of every order, fill leg and closed trade, and the store that
//! keeps them once they leave memory. They are plain data folded from engine events; the read model holds
//! a recent window of them and hands every one, in event order, to a [`HistoryStore`] (SQLite in the
//! server), which serves the older pages. Core defines the records and the store's contract only; it
//! never opens a file.
//!
//! Positions in the history are transaction ids (`txn`): the count of order, fill and trade events since
//! the first tick, the same on every re-execution of the journal. A store remembers the highest txn it
//! holds durably, so rows handed to it again (re-execution after a restart) are applied exactly once.

use crate::fixed::Price;
use crate::order::{BookId, ClosedTrade, Fill, Order, OrderStatus, RejectReason};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use thiserror::Error;

/// The latest state of one order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRecord {
    /// The order as sent.
    pub order: Order,
    /// Its latest status.
    pub status: OrderStatus,
    /// Execution price once filled (zero before).
    pub fill_price: Price,
    /// Why it was refused, for REJECTED orders.
    pub reason: Option<RejectReason>,
    /// Time of the latest status change, UTC epoch ns.
    pub updated_ns: i64,
    /// Transaction id of the latest event about this order (0 in snapshots older than the history
    /// store).
    #[serde(default)]
    pub txn: u64,
}

/// One fill leg with its transaction id.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FillRecord {
    /// Transaction id.
    pub id: u64,
    /// The leg.
    pub fill: Fill,
    /// Direction of the position the leg belongs to (+1 long, -1 short).
    pub position_dir: i8,
}

/// A closed FIFO trade with its transaction id.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradeRecord {
    /// Transaction id.
    pub id: u64,
    /// The round trip.
    pub trade: ClosedTrade,
}

/// One row handed to the history store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HistoryRow {
    /// A new order or a new state of one (upserted by order id).
    Order(OrderRecord),
    /// A fill leg.
    Fill(FillRecord),
    /// A closed trade.
    Trade(TradeRecord),
}

impl HistoryRow {
    /// The transaction id of the event this row records.
    pub fn txn(&self) -> u64 {
        match self {
            HistoryRow::Order(o) => o.txn,
            HistoryRow::Fill(f) => f.id,
            HistoryRow::Trade(t) => t.id,
        }
    }
}

/// Which rows of a history list: one book's (or every book's, for trades), with ids below `below_id`,
/// newest first, skipping `offset` of them, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryQuery {
    /// The book, or None for every book.
    pub book: Option<BookId>,
    /// Only rows whose id is below this (`u64::MAX`: all).
    pub below_id: u64,
    /// Rows skipped after the `below_id` cut.
    pub offset: u64,
    /// Most rows returned.
    pub limit: usize,
}

impl HistoryQuery {
    /// The same query for `book`.
    pub fn of(self, book: BookId) -> HistoryQuery {
        HistoryQuery { book: Some(book), ..self }
    }
}

/// Why the history store could not answer or write.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HistoryError {
    /// The underlying storage failed (the message names the operation and the cause).
    #[error("history store: {0}")]
    Storage(String),
    /// A stored row does not decode into a record (the message names the table and row).
    #[error("history store: row {0} cannot be read")]
    Corrupt(String),
}

/// Durable storage of the order, fill and trade history, written off the core thread.
pub trait HistoryStore: Send + Sync {
    /// Queues `rows` (in increasing txn order) for writing and returns at once; rows at or below
    /// [`HistoryStore::committed`] are skipped.
    fn submit(&self, rows: Vec<HistoryRow>);
    /// Every row with a txn at or below this is durable in the store.
    fn committed(&self) -> u64;
    /// Waits until [`HistoryStore::committed`] reaches `txn`; false on timeout.
    fn wait_committed(&self, txn: u64, timeout: Duration) -> bool;
    /// Brings the store to `txn` from a restored snapshot: when it holds less, `rows` (every record the
    /// snapshot holds in memory) are upserted and `txn` becomes the committed position, in one
    /// transaction; when it already holds `txn`, nothing changes. When it holds more than `txn`, and
    /// `ahead_is_foreign`, it is emptied first (its rows belong to another history).
    fn restore(&self, rows: Vec<HistoryRow>, txn: u64, ahead_is_foreign: bool) -> Result<(), HistoryError>;
    /// Orders of `q.book`, newest (highest order id) first.
    fn orders(&self, q: HistoryQuery) -> Result<Vec<OrderRecord>, HistoryError>;
    /// Fill legs of `q.book`, newest first.
    fn fills(&self, q: HistoryQuery) -> Result<Vec<FillRecord>, HistoryError>;
    /// Closed trades of `q.book` (every book with None), newest first.
    fn trades(&self, q: HistoryQuery) -> Result<Vec<TradeRecord>, HistoryError>;
    /// How many closed trades of every book have ids strictly between `above_id` and `below_id`.
    fn count_trades(&self, above_id: u64, below_id: u64) -> Result<u64, HistoryError>;
    /// Records which operation trades through which book (queued like rows), so the stored history
    /// can be read per operation.
    fn note_operations(&self, ops: Vec<OperationRow>);
}

/// An operation as the history store keeps it: its id, its book, and what it trades.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRow {
    /// The operation id the API shows.
    pub id: u64,
    /// The book its orders, fills and trades carry.
    pub book: BookId,
    /// The asset as the client spelled it.
    pub asset: String,
    /// The strategy's name.
    pub strategy: String,
    /// Creation time, UTC epoch ns.
    pub created_ns: i64,
}

/// No store: nothing is written, so the read model keeps its whole history in memory (unit tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHistory;

impl HistoryStore for NoHistory {
    fn submit(&self, _rows: Vec<HistoryRow>) {}
    fn committed(&self) -> u64 {
        0
    }
    fn wait_committed(&self, txn: u64, _timeout: Duration) -> bool {
        txn == 0
    }
    fn restore(&self, _rows: Vec<HistoryRow>, _txn: u64, _ahead_is_foreign: bool) -> Result<(), HistoryError> {
        Ok(())
    }
    fn orders(&self, _q: HistoryQuery) -> Result<Vec<OrderRecord>, HistoryError> {
        Ok(Vec::new())
    }
    fn fills(&self, _q: HistoryQuery) -> Result<Vec<FillRecord>, HistoryError> {
        Ok(Vec::new())
    }
    fn trades(&self, _q: HistoryQuery) -> Result<Vec<TradeRecord>, HistoryError> {
        Ok(Vec::new())
    }
    fn count_trades(&self, _above_id: u64, _below_id: u64) -> Result<u64, HistoryError> {
        Ok(0)
    }
    fn note_operations(&self, _ops: Vec<OperationRow>) {}
}
