//! The history database's schema and the mapping of records to rows and back. Every number is stored
//! exactly as the engine holds it (integer price and size steps, integer cents); the `*_view` views add
//! decimal prices and sizes through the `instruments` table, for `sqlite3` and pandas users. The schema
//! is documented in `docs/history-db.md`; change both together and bump [`SCHEMA_VERSION`].

use pinion_core::fixed::{Money, Price, Quantity};
use pinion_core::instrument::{InstrumentId, InstrumentTable};
use pinion_core::order::{BookId, ClosedTrade, Fill, Order, Side};
use pinion_core::records::{FillRecord, HistoryError, OrderRecord, TradeRecord};
use rusqlite::{params, Connection, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Version of the schema written in `meta`; a file with another version is refused.
pub const SCHEMA_VERSION: i64 = 1;

/// The tables, indexes and views (idempotent).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS instruments (
    id              INTEGER PRIMARY KEY,
    symbol          TEXT NOT NULL,
    price_precision INTEGER NOT NULL,
    size_precision  INTEGER NOT NULL,
    price_scale     INTEGER NOT NULL,
    size_scale      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS operations (
    id         INTEGER PRIMARY KEY,
    book       INTEGER NOT NULL,
    asset      TEXT NOT NULL,
    strategy   TEXT NOT NULL,
    created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id          INTEGER PRIMARY KEY,
    book        INTEGER NOT NULL,
    instrument  INTEGER NOT NULL,
    side        TEXT NOT NULL,
    order_type  TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    quantity    INTEGER NOT NULL,
    price       INTEGER NOT NULL,
    created_ns  INTEGER NOT NULL,
    status      TEXT NOT NULL,
    fill_price  INTEGER NOT NULL,
    reason      TEXT,
    updated_ns  INTEGER NOT NULL,
    txn         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_book ON orders (book, id);
CREATE TABLE IF NOT EXISTS fills (
    id                 INTEGER PRIMARY KEY,
    order_id           INTEGER NOT NULL,
    book               INTEGER NOT NULL,
    instrument         INTEGER NOT NULL,
    side               TEXT NOT NULL,
    is_entry           INTEGER NOT NULL,
    quantity           INTEGER NOT NULL,
    price              INTEGER NOT NULL,
    commission_cents   INTEGER NOT NULL,
    realized_pnl_cents INTEGER NOT NULL,
    ts_ns              INTEGER NOT NULL,
    position_dir       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS fills_by_book ON fills (book, id);
CREATE TABLE IF NOT EXISTS trades (
    id               INTEGER PRIMARY KEY,
    book             INTEGER NOT NULL,
    instrument       INTEGER NOT NULL,
    direction        INTEGER NOT NULL,
    quantity         INTEGER NOT NULL,
    entry_price      INTEGER NOT NULL,
    exit_price       INTEGER NOT NULL,
    entry_ns         INTEGER NOT NULL,
    exit_ns          INTEGER NOT NULL,
    pnl_cents        INTEGER NOT NULL,
    commission_cents INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS trades_by_book ON trades (book, id);
CREATE VIEW IF NOT EXISTS orders_view AS
    SELECT o.id, o.book, i.symbol, o.side, o.order_type, o.purpose,
           o.quantity * 1.0 / i.size_scale AS units, o.price * 1.0 / i.price_scale AS price,
           o.status, o.fill_price * 1.0 / i.price_scale AS fill_price, o.reason,
           o.created_ns, o.updated_ns
    FROM orders o JOIN instruments i ON i.id = o.instrument;
CREATE VIEW IF NOT EXISTS fills_view AS
    SELECT f.id, f.order_id, f.book, i.symbol, f.side, f.is_entry,
           f.quantity * 1.0 / i.size_scale AS units, f.price * 1.0 / i.price_scale AS price,
           f.commission_cents / 100.0 AS commission_usd, f.realized_pnl_cents / 100.0 AS realized_pnl_usd, f.ts_ns
    FROM fills f JOIN instruments i ON i.id = f.instrument;
CREATE VIEW IF NOT EXISTS trades_view AS
    SELECT t.id, t.book, i.symbol, t.direction, t.quantity * 1.0 / i.size_scale AS units,
           t.entry_price * 1.0 / i.price_scale AS entry_price, t.exit_price * 1.0 / i.price_scale AS exit_price,
           t.entry_ns, t.exit_ns, t.pnl_cents / 100.0 AS pnl_usd, t.commission_cents / 100.0 AS commission_usd
    FROM trades t JOIN instruments i ON i.id = t.instrument;
";

pub(crate) fn storage(what: &str, e: impl std::fmt::Display) -> HistoryError {
    HistoryError::Storage(format!("{what}: {e}"))
}

/// A unit enum's serde name (`"MARKET"`, `"STOP_LOSS"`, ...).
fn name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("unnamed: {e}"),
    }
}

fn parse<T: DeserializeOwned>(table: &str, id: i64, column: &str, s: &str) -> Result<T, HistoryError> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|e| HistoryError::Corrupt(format!("{table}.id={id}: column {column} {s:?}: {e}")))
}

fn side(table: &str, id: i64, s: &str) -> Result<Side, HistoryError> {
    match s {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        other => Err(HistoryError::Corrupt(format!("{table}.id={id}: column side {other:?} is neither BUY nor SELL"))),
    }
}

fn int<T: TryFrom<i64>>(table: &str, id: i64, column: &str, v: i64) -> Result<T, HistoryError> {
    T::try_from(v).map_err(|_| HistoryError::Corrupt(format!("{table}.id={id}: column {column} {v} is out of range")))
}

/// Writes the instrument table (replacing what was there).
pub fn write_instruments(c: &Connection, table: &InstrumentTable) -> Result<(), HistoryError> {
    let mut st = c
        .prepare_cached("INSERT OR REPLACE INTO instruments (id, symbol, price_precision, size_precision, price_scale, size_scale) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .map_err(|e| storage("preparing the instrument insert", e))?;
    for (id, inst) in table.iter() {
        let scale = |p: u8| 10i64.checked_pow(u32::from(p)).unwrap_or(i64::MAX);
        st.execute(params![
            id.0,
            inst.symbol,
            inst.price_precision,
            inst.size_precision,
            scale(inst.price_precision),
            scale(inst.size_precision)
        ])
        .map_err(|e| storage("writing the instruments", e))?;
    }
    Ok(())
}

/// Inserts one order's row, or updates the state of the row already there (the order as first sent
/// stays: a cancel reports no quantity).
pub fn put_order(c: &Connection, r: &OrderRecord) -> Result<(), HistoryError> {
    let o = &r.order;
    c.prepare_cached(
        "INSERT INTO orders (id, book, instrument, side, order_type, purpose, quantity, price, created_ns, status, fill_price, reason, updated_ns, txn)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, fill_price = excluded.fill_price, reason = excluded.reason,
             updated_ns = excluded.updated_ns, txn = excluded.txn",
    )
    .and_then(|mut st| {
        st.execute(params![
            o.id as i64,
            o.book.0,
            o.instrument.0,
            o.side.as_str(),
            name(&o.order_type),
            name(&o.purpose),
            o.quantity.0,
            o.price.0,
            o.created_ns,
            name(&r.status),
            r.fill_price.0,
            r.reason.map(|x| name(&x)),
            r.updated_ns,
            r.txn as i64
        ])
    })
    .map(|_| ())
    .map_err(|e| storage("writing an order", e))
}

/// Inserts or replaces one operation's row.
pub fn put_operation(c: &Connection, o: &pinion_core::records::OperationRow) -> Result<(), HistoryError> {
    c.prepare_cached("INSERT OR REPLACE INTO operations (id, book, asset, strategy, created_ns) VALUES (?1, ?2, ?3, ?4, ?5)")
        .and_then(|mut st| st.execute(params![o.id as i64, o.book.0, o.asset, o.strategy, o.created_ns]))
        .map(|_| ())
        .map_err(|e| storage("writing an operation", e))
}

/// Inserts or replaces one fill leg's row.
pub fn put_fill(c: &Connection, r: &FillRecord) -> Result<(), HistoryError> {
    let f = &r.fill;
    c.prepare_cached(
        "INSERT OR REPLACE INTO fills (id, order_id, book, instrument, side, is_entry, quantity, price, commission_cents, realized_pnl_cents, ts_ns, position_dir)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut st| {
        st.execute(params![
            r.id as i64,
            f.order_id as i64,
            f.book.0,
            f.instrument.0,
            f.side.as_str(),
            f.is_entry,
            f.quantity.0,
            f.price.0,
            f.commission.0,
            f.realized_pnl.0,
            f.ts_ns,
            r.position_dir
        ])
    })
    .map(|_| ())
    .map_err(|e| storage("writing a fill", e))
}

/// Inserts or replaces one closed trade's row.
pub fn put_trade(c: &Connection, r: &TradeRecord) -> Result<(), HistoryError> {
    let t = &r.trade;
    c.prepare_cached(
        "INSERT OR REPLACE INTO trades (id, book, instrument, direction, quantity, entry_price, exit_price, entry_ns, exit_ns, pnl_cents, commission_cents)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .and_then(|mut st| {
        st.execute(params![
            r.id as i64,
            t.book.0,
            t.instrument.0,
            t.direction,
            t.quantity.0,
            t.entry_price.0,
            t.exit_price.0,
            t.entry_ns,
            t.exit_ns,
            t.pnl.0,
            t.commission.0
        ])
    })
    .map(|_| ())
    .map_err(|e| storage("writing a trade", e))
}

/// The columns `order_from_row` reads, in order.
pub const ORDER_COLUMNS: &str =
    "id, book, instrument, side, order_type, purpose, quantity, price, created_ns, status, fill_price, reason, updated_ns, txn";

pub fn order_from_row(row: &Row) -> Result<Result<OrderRecord, HistoryError>, rusqlite::Error> {
    let id: i64 = row.get(0)?;
    let (side_s, type_s, purpose_s, status_s): (String, String, String, String) = (row.get(3)?, row.get(4)?, row.get(5)?, row.get(9)?);
    let reason_s: Option<String> = row.get(11)?;
    let (book, instrument, quantity, price, created_ns, fill_price, updated_ns, txn): (i64, i64, i64, i64, i64, i64, i64, i64) =
        (row.get(1)?, row.get(2)?, row.get(6)?, row.get(7)?, row.get(8)?, row.get(10)?, row.get(12)?, row.get(13)?);
    let t = "orders";
    Ok((|| {
        Ok(OrderRecord {
            order: Order {
                id: int(t, id, "id", id)?,
                book: BookId(int(t, id, "book", book)?),
                instrument: InstrumentId(int(t, id, "instrument", instrument)?),
                side: side(t, id, &side_s)?,
                order_type: parse(t, id, "order_type", &type_s)?,
                purpose: parse(t, id, "purpose", &purpose_s)?,
                quantity: Quantity(quantity),
                price: Price(price),
                created_ns,
            },
            status: parse(t, id, "status", &status_s)?,
            fill_price: Price(fill_price),
            reason: reason_s.map(|r| parse(t, id, "reason", &r)).transpose()?,
            updated_ns,
            txn: int(t, id, "txn", txn)?,
        })
    })())
}

/// The columns `fill_from_row` reads, in order.
pub const FILL_COLUMNS: &str =
    "id, order_id, book, instrument, side, is_entry, quantity, price, commission_cents, realized_pnl_cents, ts_ns, position_dir";

pub fn fill_from_row(row: &Row) -> Result<Result<FillRecord, HistoryError>, rusqlite::Error> {
    let id: i64 = row.get(0)?;
    let side_s: String = row.get(4)?;
    let is_entry: bool = row.get(5)?;
    let (order_id, book, instrument, quantity, price, commission, pnl, ts_ns, dir): (i64, i64, i64, i64, i64, i64, i64, i64, i64) =
        (row.get(1)?, row.get(2)?, row.get(3)?, row.get(6)?, row.get(7)?, row.get(8)?, row.get(9)?, row.get(10)?, row.get(11)?);
    let t = "fills";
    Ok((|| {
        Ok(FillRecord {
            id: int(t, id, "id", id)?,
            fill: Fill {
                order_id: int(t, id, "order_id", order_id)?,
                book: BookId(int(t, id, "book", book)?),
                instrument: InstrumentId(int(t, id, "instrument", instrument)?),
                side: side(t, id, &side_s)?,
                is_entry,
                quantity: Quantity(quantity),
                price: Price(price),
                commission: Money(commission),
                realized_pnl: Money(pnl),
                ts_ns,
            },
            position_dir: int(t, id, "position_dir", dir)?,
        })
    })())
}

/// The columns `trade_from_row` reads, in order.
pub const TRADE_COLUMNS: &str =
    "id, book, instrument, direction, quantity, entry_price, exit_price, entry_ns, exit_ns, pnl_cents, commission_cents";

pub fn trade_from_row(row: &Row) -> Result<Result<TradeRecord, HistoryError>, rusqlite::Error> {
    let id: i64 = row.get(0)?;
    let v: [i64; 10] =
        [row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?, row.get(8)?, row.get(9)?, row.get(10)?];
    let t = "trades";
    Ok((|| {
        Ok(TradeRecord {
            id: int(t, id, "id", id)?,
            trade: ClosedTrade {
                book: BookId(int(t, id, "book", v[0])?),
                instrument: InstrumentId(int(t, id, "instrument", v[1])?),
                direction: int(t, id, "direction", v[2])?,
                quantity: Quantity(v[3]),
                entry_price: Price(v[4]),
                exit_price: Price(v[5]),
                entry_ns: v[6],
                exit_ns: v[7],
                pnl: Money(v[8]),
                commission: Money(v[9]),
            },
        })
    })())
}
