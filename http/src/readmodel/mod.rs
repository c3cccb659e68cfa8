//! The read model: state folded from engine events on the publisher thread, read by REST handlers and
//! the WebSocket publisher. It lives entirely on the I/O side; the core never touches its lock.
//! Its state can be exported and imported as JSON (`snapshot`), captured at `Checkpoint` events.

pub mod book;
#[cfg(test)]
mod pricing_tests;
pub mod snapshot;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod window_tests;

use book::BookRecord;
use pinion_core::events::{AccountState, BookStatus, EngineEvent};
use pinion_core::fixed::Money;
use pinion_core::instrument::InstrumentTable;
use pinion_core::order::BookId;
use pinion_core::records::{HistoryRow, HistoryStore, NoHistory, OrderRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// What a client sent to create an operation, normalised, plus its identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationMeta {
    pub id: u64,
    pub book: BookId,
    /// The asset as the client spelled it.
    pub asset: String,
    pub bar_sizes: Vec<String>,
    pub primary_bar_size: String,
    pub strategy_name: String,
    pub strategy_config: Value,
    pub initial_capital: Money,
    pub stop_loss_type: String,
    pub stop_loss_value: f64,
    pub take_profit_type: String,
    pub take_profit_value: f64,
    pub crash_recovery_mode: String,
    pub emergency_stop_loss_pct: f64,
    pub created_ns: i64,
    pub updated_ns: i64,
    pub error: Option<String>,
}

/// Everything the read side knows.
#[derive(Debug)]
pub struct ReadState {
    pub instruments: InstrumentTable,
    pub books: Vec<BookRecord>,
    pub operations: Vec<OperationMeta>,
    pub account: AccountState,
    pub starting_balance: Money,
    /// Account-level equity curve (for `metric` frames).
    pub equity: book::EquityCurve,
    /// Id of the book the model session trades through, if any.
    pub session_book: Option<BookId>,
    pub last_transaction_id: u64,
    pub applied_seq: u64,
    /// Count of order, fill and trade events: the source of transaction ids, identical on every
    /// re-execution (unlike `applied_seq`, which also counts timing-dependent marks and progress).
    pub txn_seq: u64,
    pub now_ns: i64,
    /// Set when something visible in `positions` frames changed since the last frame.
    pub positions_dirty: bool,
    /// History rows folded since the last batch was handed to the history store, in txn order.
    pub rows: Vec<HistoryRow>,
    /// Rows each book keeps in memory per list (orders, fills, trades); older ones are evicted once
    /// the history store holds them.
    pub window: usize,
}

impl ReadState {
    fn book_mut(&mut self, b: BookId) -> &mut BookRecord {
        let i = b.0 as usize;
        while self.books.len() <= i {
            self.books.push(BookRecord::new(Money::ZERO));
        }
        &mut self.books[i]
    }

    /// Folds one engine event in.
    pub fn apply(&mut self, e: &EngineEvent) {
        self.applied_seq += 1;
        if matches!(e, EngineEvent::Order { .. } | EngineEvent::Fill(_) | EngineEvent::Trade(_)) {
            self.txn_seq += 1;
        }
        let seq = self.txn_seq;
        match e {
            EngineEvent::Order { order, status, fill_price, reason, ts_ns } => {
                self.last_transaction_id = seq;
                let rec =
                    OrderRecord { order: *order, status: *status, fill_price: *fill_price, reason: *reason, updated_ns: *ts_ns, txn: seq };
                let rec = self.book_mut(order.book).apply_order(rec);
                self.rows.push(HistoryRow::Order(rec));
            }
            EngineEvent::Fill(f) => {
                self.last_transaction_id = seq;
                let rec = self.book_mut(f.book).apply_fill(seq, f);
                self.rows.push(HistoryRow::Fill(rec));
            }
            EngineEvent::Trade(t) => {
                let rec = self.book_mut(t.book).apply_trade(seq, t);
                self.rows.push(HistoryRow::Trade(rec));
            }
            EngineEvent::Position(p) => {
                self.book_mut(p.book).apply_position(p);
                self.positions_dirty = true;
            }
            EngineEvent::PositionMark { book, instrument, mark, unrealized, margin, .. } => {
                self.book_mut(*book).apply_mark(*instrument, *mark, *unrealized, *margin)
            }
            EngineEvent::Account(a) => {
                self.account = *a;
                self.now_ns = self.now_ns.max(a.ts_ns);
                self.equity.record(a.nav(), a.ts_ns);
            }
            EngineEvent::BookEquity { book, equity, ts_ns } => self.book_mut(*book).equity.record(*equity, *ts_ns),
            EngineEvent::Progress { ts_ns, .. } => self.now_ns = self.now_ns.max(*ts_ns),
            EngineEvent::BookStatus { book, status, reason, ts_ns } => {
                let error = reason.map(|r| r.to_string());
                let record = self.book_mut(*book);
                record.status = *status;
                if error.is_some() {
                    record.error.clone_from(&error);
                }
                if let Some(op) = self.operations.iter_mut().find(|o| o.book == *book) {
                    op.updated_ns = *ts_ns;
                    // The engine's reason for an `error` status stays on the operation (also once stopped).
                    if error.is_some() {
                        op.error = error;
                    }
                }
            }
            // The export is taken by `ReadModel::apply_batch` before this event is counted.
            EngineEvent::Checkpoint { .. } => {}
            // For the venue adapter; the SUBMITTED order event before it is what the read side shows.
            EngineEvent::OrderRequest { .. } => {}
        }
    }

    pub fn operation(&self, id: u64) -> Option<&OperationMeta> {
        self.operations.iter().find(|o| o.id == id)
    }

    pub fn book(&self, b: BookId) -> Option<&BookRecord> {
        self.books.get(b.0 as usize)
    }

    pub fn book_status(&self, b: BookId) -> BookStatus {
        self.book(b).map_or(BookStatus::Active, |r| r.status)
    }

    /// The operation that owns a book, if any.
    pub fn operation_of_book(&self, b: BookId) -> Option<&OperationMeta> {
        self.operations.iter().find(|o| o.book == b)
    }
}

/// A read-side export taken at a `Checkpoint` event: (checkpoint id, ticks, state before the event).
type Captured = (u64, u64, Value);

/// The shared read model with "wait until applied" support for read-your-writes.
pub struct ReadModel {
    state: RwLock<ReadState>,
    applied: Mutex<u64>,
    changed: Condvar,
    /// The export at the latest `Checkpoint` event, until `wait_checkpoint` takes it.
    checkpoint: Mutex<Option<Captured>>,
    checkpointed: Condvar,
    /// `ReadState::now_ns` after the latest applied batch, readable without the lock (log records).
    feed_now: AtomicI64,
    /// Where the history rows go, and the older pages come from.
    history: Arc<dyn HistoryStore>,
    /// The dashboard's bounded tails: log records, control actions, the equity curve.
    pub recent: crate::dashboard::recent::Recent,
}

/// Rows per book and list kept in memory by default.
pub const DEFAULT_WINDOW: usize = 1000;

impl ReadModel {
    pub fn new(instruments: InstrumentTable, starting_balance: Money) -> ReadModel {
        ReadModel::with_history(instruments, starting_balance, Arc::new(NoHistory))
    }

    /// A read model whose older history lives in `history`.
    pub fn with_history(instruments: InstrumentTable, starting_balance: Money, history: Arc<dyn HistoryStore>) -> ReadModel {
        let account = AccountState { balance: starting_balance, ..Default::default() };
        ReadModel {
            state: RwLock::new(ReadState {
                instruments,
                books: Vec::new(),
                operations: Vec::new(),
                account,
                starting_balance,
                equity: book::EquityCurve::new(starting_balance),
                session_book: None,
                last_transaction_id: 0,
                applied_seq: 0,
                txn_seq: 0,
                now_ns: 0,
                positions_dirty: false,
                rows: Vec::new(),
                window: DEFAULT_WINDOW,
            }),
            history,
            recent: crate::dashboard::recent::Recent::new(serde_json::to_value(pinion_core::risk::RiskLimits::default()).ok()),
            applied: Mutex::new(0),
            changed: Condvar::new(),
            checkpoint: Mutex::new(None),
            checkpointed: Condvar::new(),
            feed_now: AtomicI64::new(0),
        }
    }

    /// The feed's clock (ns) as of the latest applied batch, 0 before any: the time every frame carries,
    /// readable from anywhere (a logger included) without taking the state's lock.
    pub fn feed_now_ns(&self) -> i64 {
        self.feed_now.load(Ordering::Acquire)
    }

    /// The state if no writer holds it now.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, ReadState>> {
        match self.state.try_read() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, ReadState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, ReadState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a batch of events and wakes waiters. At a `Checkpoint` event the state is exported first,
    /// so the export reflects exactly the events before the marker; `wait_checkpoint` hands it over.
    pub fn apply_batch(&self, events: &[EngineEvent]) {
        if events.is_empty() {
            return;
        }
        let mut captured = None;
        let mut rest = events;
        let seq = loop {
            let cut = rest.iter().position(|e| matches!(e, EngineEvent::Checkpoint { .. })).unwrap_or(rest.len());
            let (before, from_checkpoint) = rest.split_at(cut);
            let mut s = self.write();
            for e in before {
                s.apply(e);
            }
            self.hand_over(&mut s);
            let Some((checkpoint, after)) = from_checkpoint.split_first() else {
                self.feed_now.store(s.now_ns, Ordering::Release);
                break s.applied_seq;
            };
            drop(s);
            if let EngineEvent::Checkpoint { id, ticks } = *checkpoint {
                // Under the read lock: REST reads go on meanwhile, and only this thread applies events.
                captured = Some((id, ticks, self.read().export_state()));
            }
            self.write().apply(checkpoint);
            rest = after;
        };
        *self.applied.lock().unwrap_or_else(|p| p.into_inner()) = seq;
        self.changed.notify_all();
        if captured.is_some() {
            *self.checkpoint.lock().unwrap_or_else(|p| p.into_inner()) = captured;
            self.checkpointed.notify_all();
        }
    }

    /// Hands the rows folded so far to the history store (in txn order: only this thread applies events)
    /// and evicts from each book's window what the store already holds.
    fn hand_over(&self, s: &mut ReadState) {
        if !s.rows.is_empty() {
            self.history.submit(std::mem::take(&mut s.rows));
        }
        let (window, committed) = (s.window, self.history.committed());
        for b in &mut s.books {
            b.evict(window, committed);
        }
    }

    /// The history store.
    pub fn history(&self) -> &Arc<dyn HistoryStore> {
        &self.history
    }

    /// Sets how many rows per book and list stay in memory (at least 1).
    pub fn set_window(&self, rows: usize) {
        self.write().window = rows.max(1);
    }

    /// Every history row held in memory, in txn order (handed to the store after a restore).
    pub fn window_rows(s: &ReadState) -> Vec<HistoryRow> {
        let mut rows: Vec<HistoryRow> = Vec::new();
        for b in &s.books {
            rows.extend(b.orders.iter().map(|o| HistoryRow::Order(*o)));
            rows.extend(b.fills.iter().map(|f| HistoryRow::Fill(*f)));
            rows.extend(b.trades.iter().map(|t| HistoryRow::Trade(*t)));
        }
        rows.sort_by_key(HistoryRow::txn);
        rows
    }

    /// Waits until the `Checkpoint` event `id` has been applied and takes the read side's export taken at
    /// it: `(ticks, state)`. None on timeout, or if a later checkpoint replaced it before it was taken
    /// (only the latest export is kept).
    pub fn wait_checkpoint(&self, id: u64, timeout: Duration) -> Option<(u64, Value)> {
        let deadline = Instant::now().checked_add(timeout);
        let mut slot = self.checkpoint.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if matches!(&*slot, Some((got, _, _)) if *got == id) {
                return slot.take().map(|(_, ticks, v)| (ticks, v));
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return None;
            }
            slot = match self.checkpointed.wait_timeout(slot, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Replaces the state with an export (see `ReadState::import_state`) and sets the applied counter
    /// `wait_for` uses to the imported `applied_seq`. On error nothing changes.
    pub fn import_state(&self, v: &Value) -> Result<(), String> {
        let seq = {
            let mut s = self.write();
            s.import_state(v)?;
            self.feed_now.store(s.now_ns, Ordering::Release);
            // The store may have stopped short of the snapshot (rows still in its window then).
            self.history.restore(Self::window_rows(&s), s.txn_seq, false).map_err(|e| e.to_string())?;
            let ops = s
                .operations
                .iter()
                .map(|o| pinion_core::records::OperationRow {
                    id: o.id,
                    book: o.book,
                    asset: o.asset.clone(),
                    strategy: o.strategy_name.clone(),
                    created_ns: o.created_ns,
                })
                .collect();
            self.history.note_operations(ops);
            s.applied_seq
        };
        *self.applied.lock().unwrap_or_else(|p| p.into_inner()) = seq;
        self.changed.notify_all();
        Ok(())
    }

    /// Waits until events up to `seq` are applied; false on timeout.
    pub fn wait_for(&self, seq: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        while *applied < seq {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            applied = match self.changed.wait_timeout(applied, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }
}
