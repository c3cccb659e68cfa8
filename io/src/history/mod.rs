//! The order, fill and trade history in an embedded SQLite database (`history.sqlite3` in the data
//! directory, WAL mode), so the read model can keep only a recent window in memory.
//!
//! Rows arrive in transaction-id order from the read model (the publisher thread) and are written by one
//! writer thread, batch by batch, each batch in one SQLite transaction that also stores the highest txn
//! it holds (`meta.committed_txn`). A row at or below that position is skipped, so re-executing the
//! journal after a restart hands rows over again without writing any twice; a snapshot restore hands
//! over the rows it holds in memory when the database stopped short of it. When a write fails the rows
//! stay queued and the writer retries each second (logging once per outage): the committed position does
//! not move, so the read model keeps the rows in memory and nothing is lost.

mod schema;

pub use schema::{SCHEMA, SCHEMA_VERSION};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use pinion_core::instrument::InstrumentTable;
use pinion_core::records::{FillRecord, HistoryError, HistoryQuery, HistoryRow, HistoryStore, OperationRow, OrderRecord, TradeRecord};
use rusqlite::{params, Connection, OpenFlags, Row};
use schema::storage;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The database's file name in the data directory.
pub const FILE_NAME: &str = "history.sqlite3";

/// How long the writer waits before retrying a failed write.
const RETRY: Duration = Duration::from_secs(1);

enum Msg {
    Rows(Vec<HistoryRow>),
    Operations(Vec<OperationRow>),
    Restore { rows: Vec<HistoryRow>, txn: u64, ahead_is_foreign: bool, done: Sender<Result<(), HistoryError>> },
    Stop,
}

/// The committed position, readable without a lock and waitable.
struct Committed {
    txn: AtomicU64,
    lock: Mutex<()>,
    moved: Condvar,
}

impl Committed {
    fn set(&self, txn: u64) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.txn.store(txn, Ordering::Release);
        self.moved.notify_all();
    }
}

/// The SQLite history store: a writer thread and a read connection.
pub struct SqliteHistory {
    path: PathBuf,
    queue: Sender<Msg>,
    committed: Arc<Committed>,
    reader: Mutex<Connection>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn open_connection(path: &Path) -> Result<Connection, HistoryError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = Connection::open_with_flags(path, flags).map_err(|e| storage(&format!("opening {}", path.display()), e))?;
    c.busy_timeout(Duration::from_secs(5)).map_err(|e| storage("setting the busy timeout", e))?;
    c.pragma_update(None, "journal_mode", "WAL").map_err(|e| storage("switching to WAL", e))?;
    // The journal is the durable record; the database is caught up from it after a crash, so a commit
    // need not wait for the disk (a WAL commit is still atomic).
    c.pragma_update(None, "synchronous", "NORMAL").map_err(|e| storage("setting synchronous", e))?;
    Ok(c)
}

fn read_committed(c: &Connection) -> Result<u64, HistoryError> {
    let v: Option<i64> = c
        .query_row("SELECT value FROM meta WHERE key = 'committed_txn'", [], |r| r.get(0))
        .map(Some)
        .or_else(|e| if matches!(e, rusqlite::Error::QueryReturnedNoRows) { Ok(None) } else { Err(e) })
        .map_err(|e| storage("reading the committed position", e))?;
    Ok(v.unwrap_or(0).max(0) as u64)
}

impl SqliteHistory {
    /// Opens (creating if needed) the database at `path`, writes the instrument table and starts the
    /// writer. A file written by another schema version is refused, naming both versions.
    pub fn open(path: &Path, instruments: &InstrumentTable) -> Result<SqliteHistory, HistoryError> {
        let c = open_connection(path)?;
        c.execute_batch(SCHEMA).map_err(|e| storage(&format!("creating the schema in {}", path.display()), e))?;
        let version: Option<i64> = c
            .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
            .map(Some)
            .or_else(|e| if matches!(e, rusqlite::Error::QueryReturnedNoRows) { Ok(None) } else { Err(e) })
            .map_err(|e| storage("reading the schema version", e))?;
        match version {
            None => {
                c.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?1)", params![SCHEMA_VERSION])
                    .map_err(|e| storage("writing the schema version", e))?;
            }
            Some(v) if v == SCHEMA_VERSION => {}
            Some(v) => {
                return Err(HistoryError::Storage(format!(
                    "{} has schema version {v}; this build reads version {SCHEMA_VERSION} (move the file aside to start a new one)",
                    path.display()
                )))
            }
        }
        schema::write_instruments(&c, instruments)?;
        let committed = Arc::new(Committed { txn: AtomicU64::new(read_committed(&c)?), lock: Mutex::new(()), moved: Condvar::new() });
        let reader = open_connection(path)?;
        let (queue, rx) = unbounded();
        let shared = committed.clone();
        let writer = std::thread::Builder::new()
            .name("pinion-history".into())
            .spawn(move || Writer { conn: c, committed: shared, pending: Vec::new(), operations: Vec::new(), failing: None }.run(rx))
            .map_err(|e| storage("starting the writer thread", e))?;
        Ok(SqliteHistory { path: path.to_path_buf(), queue, committed, reader: Mutex::new(reader), writer: Mutex::new(Some(writer)) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes what is queued and stops the writer (waits for it). Later rows are dropped.
    pub fn close(&self) {
        let _ = self.queue.send(Msg::Stop);
        if let Some(h) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
    }

    fn query<T>(
        &self,
        sql: &str,
        q: HistoryQuery,
        decode: fn(&Row) -> Result<Result<T, HistoryError>, rusqlite::Error>,
    ) -> Result<Vec<T>, HistoryError> {
        let c = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let below = i64::try_from(q.below_id).unwrap_or(i64::MAX);
        let book = q.book.map_or(-1, |b| i64::from(b.0));
        let mut st = c.prepare_cached(sql).map_err(|e| storage("preparing a history query", e))?;
        let rows = st
            .query_map(params![book, below, q.limit as i64, i64::try_from(q.offset).unwrap_or(i64::MAX)], decode)
            .map_err(|e| storage("reading the history", e))?;
        let mut out = Vec::with_capacity(q.limit.min(1024));
        for r in rows {
            out.push(r.map_err(|e| storage("reading the history", e))??);
        }
        Ok(out)
    }
}

impl Drop for SqliteHistory {
    fn drop(&mut self) {
        self.close();
    }
}

fn select(table: &str, columns: &str) -> String {
    format!("SELECT {columns} FROM {table} WHERE (?1 < 0 OR book = ?1) AND id < ?2 ORDER BY id DESC LIMIT ?3 OFFSET ?4")
}

impl HistoryStore for SqliteHistory {
    fn submit(&self, rows: Vec<HistoryRow>) {
        if !rows.is_empty() {
            let _ = self.queue.send(Msg::Rows(rows));
        }
    }

    fn committed(&self) -> u64 {
        self.committed.txn.load(Ordering::Acquire)
    }

    fn wait_committed(&self, txn: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.committed.lock.lock().unwrap_or_else(|p| p.into_inner());
        while self.committed.txn.load(Ordering::Acquire) < txn {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = match self.committed.moved.wait_timeout(g, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }

    fn restore(&self, rows: Vec<HistoryRow>, txn: u64, ahead_is_foreign: bool) -> Result<(), HistoryError> {
        let (done, answer) = crossbeam_channel::bounded(1);
        self.queue
            .send(Msg::Restore { rows, txn, ahead_is_foreign, done })
            .map_err(|_| HistoryError::Storage("the history writer has stopped".into()))?;
        answer.recv().map_err(|_| HistoryError::Storage("the history writer stopped during a restore".into()))?
    }

    fn orders(&self, q: HistoryQuery) -> Result<Vec<OrderRecord>, HistoryError> {
        self.query(&select("orders", schema::ORDER_COLUMNS), q, schema::order_from_row)
    }

    fn fills(&self, q: HistoryQuery) -> Result<Vec<FillRecord>, HistoryError> {
        self.query(&select("fills", schema::FILL_COLUMNS), q, schema::fill_from_row)
    }

    fn trades(&self, q: HistoryQuery) -> Result<Vec<TradeRecord>, HistoryError> {
        self.query(&select("trades", schema::TRADE_COLUMNS), q, schema::trade_from_row)
    }

    fn note_operations(&self, ops: Vec<OperationRow>) {
        if !ops.is_empty() {
            let _ = self.queue.send(Msg::Operations(ops));
        }
    }

    fn count_trades(&self, above_id: u64, below_id: u64) -> Result<u64, HistoryError> {
        let c = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let (a, b) = (i64::try_from(above_id).unwrap_or(i64::MAX), i64::try_from(below_id).unwrap_or(i64::MAX));
        c.query_row("SELECT COUNT(*) FROM trades WHERE id > ?1 AND id < ?2", params![a, b], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(|e| storage("counting trades", e))
    }
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    committed: Arc<Committed>,
    /// Rows not yet written (kept across failed attempts).
    pending: Vec<HistoryRow>,
    /// Operations not yet written.
    operations: Vec<OperationRow>,
    /// Since when writes fail, and why (logged once per outage).
    failing: Option<(Instant, String)>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        loop {
            let wait = if self.pending.is_empty() && self.operations.is_empty() { Duration::from_secs(3600) } else { RETRY };
            match rx.recv_timeout(wait) {
                Ok(Msg::Rows(rows)) => self.pending.extend(rows),
                Ok(Msg::Operations(ops)) => self.operations.extend(ops),
                Ok(Msg::Restore { rows, txn, ahead_is_foreign, done }) => {
                    self.flush();
                    let _ = done.send(self.restore(rows, txn, ahead_is_foreign));
                    continue;
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    self.flush();
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            // Coalesce whatever else is queued into the same transaction.
            while let Ok(m) = rx.try_recv() {
                match m {
                    Msg::Rows(rows) => self.pending.extend(rows),
                    Msg::Operations(ops) => self.operations.extend(ops),
                    Msg::Restore { rows, txn, ahead_is_foreign, done } => {
                        self.flush();
                        let _ = done.send(self.restore(rows, txn, ahead_is_foreign));
                    }
                    Msg::Stop => {
                        self.flush();
                        return;
                    }
                }
            }
            self.flush();
        }
    }

    /// Writes the pending rows in one transaction; on failure keeps them for the next attempt.
    fn flush(&mut self) {
        if self.pending.is_empty() && self.operations.is_empty() {
            return;
        }
        let from = self.committed.txn.load(Ordering::Acquire);
        match self.write(from) {
            Ok(to) => {
                self.pending.clear();
                self.operations.clear();
                if let Some((since, _)) = self.failing.take() {
                    log::warn!(target: "pinion::history", "history store writable again after {:.1} s; caught up to transaction {to}", since.elapsed().as_secs_f64());
                }
                self.committed.set(to);
            }
            Err(e) => {
                if self.failing.is_none() {
                    log::error!(target: "pinion::history", "{e}; {} rows stay in memory and the write is retried each second", self.pending.len());
                    self.failing = Some((Instant::now(), e.to_string()));
                }
            }
        }
    }

    fn write(&mut self, from: u64) -> Result<u64, HistoryError> {
        let tx = self.conn.transaction().map_err(|e| storage("starting a history transaction", e))?;
        for o in &self.operations {
            schema::put_operation(&tx, o)?;
        }
        let mut to = from;
        for row in self.pending.iter().filter(|r| r.txn() > from) {
            match row {
                HistoryRow::Order(o) => schema::put_order(&tx, o)?,
                HistoryRow::Fill(f) => schema::put_fill(&tx, f)?,
                HistoryRow::Trade(t) => schema::put_trade(&tx, t)?,
            }
            to = to.max(row.txn());
        }
        set_committed(&tx, to)?;
        tx.commit().map_err(|e| storage("committing the history", e))?;
        Ok(to)
    }

    fn restore(&mut self, rows: Vec<HistoryRow>, txn: u64, ahead_is_foreign: bool) -> Result<(), HistoryError> {
        let held = self.committed.txn.load(Ordering::Acquire);
        if held == txn || held > txn && !ahead_is_foreign {
            return Ok(());
        }
        let tx = self.conn.transaction().map_err(|e| storage("starting a history restore", e))?;
        if held > txn {
            log::warn!(target: "pinion::history", "the history store holds transactions up to {held}, past this server's {txn}: it belongs to another history and is emptied");
            tx.execute_batch("DELETE FROM orders; DELETE FROM fills; DELETE FROM trades; DELETE FROM operations;")
                .map_err(|e| storage("emptying the history", e))?;
        }
        for row in &rows {
            match row {
                HistoryRow::Order(o) => schema::put_order(&tx, o)?,
                HistoryRow::Fill(f) => schema::put_fill(&tx, f)?,
                HistoryRow::Trade(t) => schema::put_trade(&tx, t)?,
            }
        }
        set_committed(&tx, txn)?;
        tx.commit().map_err(|e| storage("committing a history restore", e))?;
        self.pending.retain(|r| r.txn() > txn);
        self.committed.set(txn);
        Ok(())
    }
}

fn set_committed(c: &Connection, txn: u64) -> Result<(), HistoryError> {
    c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('committed_txn', ?1)", params![txn as i64])
        .map(|_| ())
        .map_err(|e| storage("writing the committed position", e))
}

#[cfg(test)]
mod tests;
