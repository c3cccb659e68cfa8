//! Pages of the history lists (orders, transactions, trades) across the two places rows live: each
//! book's recent window in the read model, and the history store (SQLite) for everything older. A page
//! that lies within the window is served from memory; one that reaches past it takes the window's part
//! and the rest from the store. Rows leave the window only once the store holds them durably, so the two
//! parts never overlap and never leave a gap.

use crate::api::{take_page_by_id, ApiError, Listed, Page};
use crate::readmodel::ReadState;
use pinion_core::records::{HistoryError, HistoryQuery, HistoryStore};
use serde_json::Value;
use std::collections::VecDeque;
use std::time::Duration;

/// How long a page that needs the store waits for it to catch up with the read model.
const STORE_WAIT: Duration = Duration::from_secs(5);

fn store_error(e: HistoryError) -> ApiError {
    log::error!(target: "pinion::history", "{e}");
    ApiError::new(503, format!("{e}; older history is unavailable until the store answers again"))
}

/// Page `p` of one book's list: `window` holds its newest rows (ids increasing), `total` rows exist,
/// and `from_store` answers a query for the older ones.
pub fn book_page<T>(
    window: &VecDeque<T>,
    total: u64,
    p: Page,
    id_of: impl Fn(&T) -> u64,
    from_store: impl FnOnce(HistoryQuery) -> Result<Vec<T>, HistoryError>,
    f: impl Fn(&T) -> Value,
) -> Result<Listed, ApiError> {
    let below = p.before_id.unwrap_or(u64::MAX);
    let in_memory = window.iter().rev().filter(|t| id_of(t) < below).count();
    let evicted = total > window.len() as u64;
    if !evicted || p.offset.saturating_add(p.limit) < in_memory {
        return Ok(take_page_by_id(window.iter().rev(), total as usize, p, |t| id_of(t), &f));
    }
    // The window's part, then the store's rows below the window's oldest (and below the cursor).
    let from_window: Vec<&T> = window.iter().rev().filter(|t| id_of(t) < below).skip(p.offset).take(p.limit + 1).collect();
    let oldest_held = window.front().map_or(u64::MAX, &id_of);
    let want = p.limit + 1 - from_window.len();
    let query =
        HistoryQuery { book: None, below_id: below.min(oldest_held), offset: p.offset.saturating_sub(in_memory) as u64, limit: want };
    let older = if want > 0 { from_store(query).map_err(store_error)? } else { Vec::new() };
    let rows: Vec<&T> = from_window.into_iter().chain(older.iter()).collect();
    let more = rows.len() > p.limit;
    let shown = &rows[..rows.len().min(p.limit)];
    let cursor_next = if more { shown.last().map(|t| id_of(t)) } else { None };
    Ok(Listed { rows: Value::Array(shown.iter().map(|t| f(t)).collect()), total: total as usize, page: p, cursor_next })
}

/// The lowest id above which memory holds every closed trade of every book (0: it holds all).
pub fn memory_floor(s: &ReadState) -> u64 {
    s.books
        .iter()
        .filter(|b| b.counts.trades > b.trades.len() as u64)
        .map(|b| b.trades.front().map_or(u64::MAX, |t| t.id))
        .max()
        .unwrap_or(0)
}

/// Waits until the store holds every row the read model had folded at `txn`.
pub fn wait_store(store: &dyn HistoryStore, txn: u64) -> Result<(), ApiError> {
    if store.wait_committed(txn, STORE_WAIT) {
        Ok(())
    } else {
        Err(ApiError::new(503, "the history store is behind the engine; try again shortly"))
    }
}

/// Merges stored closed trades with open lots for page `p` (newest id first). `store_count_above(id)`
/// counts stored rows below the cursor with ids above `id`; `fetch(offset, limit)` reads stored rows
/// below the cursor; `lots` are the open lots' `(id, row)` below the cursor, descending.
pub fn merge_page<T>(
    p: Page,
    lots: Vec<(u64, T)>,
    store_count_above: impl Fn(u64) -> Result<u64, HistoryError>,
    fetch: impl FnOnce(u64, usize) -> Result<Vec<(u64, T)>, HistoryError>,
) -> Result<(Vec<(u64, T)>, bool), ApiError> {
    let n_lots = lots.len();
    // Every row at merged position [offset, offset + limit] is either a lot or a stored row at store
    // position [offset - lots, offset + limit].
    let start = p.offset.saturating_sub(n_lots) as u64;
    let stored = fetch(start, p.limit + 1 + n_lots).map_err(store_error)?;
    let mut positioned: Vec<(usize, (u64, T))> = Vec::with_capacity(stored.len() + n_lots);
    for (j, (id, row)) in stored.into_iter().enumerate() {
        let lots_above = lots.iter().filter(|(l, _)| *l > id).count();
        positioned.push((start as usize + j + lots_above, (id, row)));
    }
    for (i, (id, row)) in lots.into_iter().enumerate() {
        let above = store_count_above(id).map_err(store_error)? as usize;
        positioned.push((i + above, (id, row)));
    }
    positioned.retain(|(pos, _)| *pos >= p.offset && *pos <= p.offset + p.limit);
    positioned.sort_by_key(|(pos, _)| *pos);
    let more = positioned.len() > p.limit;
    positioned.truncate(p.limit);
    Ok((positioned.into_iter().map(|(_, r)| r).collect(), more))
}
