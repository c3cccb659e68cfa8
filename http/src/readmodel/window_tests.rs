//! The bounded read model: with a small window and a history store, every page of every list, the
//! totals and the stats are what a model holding everything in memory shows; rows leave memory only
//! once the store holds them; a snapshot holds only the window and restores the store's gap.

use super::ReadModel;
use crate::api::Page;
use crate::history_pages::book_page;
use crate::views;
use pinion_core::events::EngineEvent;
use pinion_core::fixed::{Money, Price, Quantity};
use pinion_core::instrument::{InstrumentId, InstrumentTable};
use pinion_core::order::{BookId, ClosedTrade, Fill, Order, OrderPurpose, OrderStatus, OrderType, Side};
use pinion_core::records::{FillRecord, HistoryError, HistoryQuery, HistoryRow, HistoryStore, OrderRecord, TradeRecord};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A history store in memory; `hold` keeps submitted rows unwritten (a store that lags or fails).
#[derive(Default)]
struct MemStore {
    orders: Mutex<BTreeMap<u64, OrderRecord>>,
    fills: Mutex<BTreeMap<u64, FillRecord>>,
    trades: Mutex<BTreeMap<u64, TradeRecord>>,
    committed: AtomicU64,
    hold: AtomicBool,
    held: Mutex<Vec<HistoryRow>>,
}

impl MemStore {
    /// Writes what was held back (a store writable again catches up by itself).
    fn release(&self) {
        self.hold.store(false, Ordering::Release);
        let held = std::mem::take(&mut *self.held.lock().unwrap());
        self.write(held);
    }

    fn write(&self, rows: Vec<HistoryRow>) {
        for r in rows.into_iter().filter(|r| r.txn() > self.committed.load(Ordering::Acquire)) {
            match r {
                HistoryRow::Order(mut o) => {
                    // Like the SQLite store: a later state keeps the order as first sent.
                    let mut orders = self.orders.lock().unwrap();
                    if let Some(first) = orders.get(&o.order.id) {
                        o.order = first.order;
                    }
                    orders.insert(o.order.id, o);
                }
                HistoryRow::Fill(f) => drop(self.fills.lock().unwrap().insert(f.id, f)),
                HistoryRow::Trade(t) => drop(self.trades.lock().unwrap().insert(t.id, t)),
            }
            self.committed.fetch_max(r.txn(), Ordering::AcqRel);
        }
    }
}

fn pick<T: Copy>(m: &BTreeMap<u64, T>, q: HistoryQuery, book: impl Fn(&T) -> BookId) -> Vec<T> {
    m.range(..q.below_id)
        .rev()
        .map(|(_, v)| *v)
        .filter(|v| q.book.is_none_or(|b| book(v) == b))
        .skip(q.offset as usize)
        .take(q.limit)
        .collect()
}

impl HistoryStore for MemStore {
    fn submit(&self, rows: Vec<HistoryRow>) {
        if self.hold.load(Ordering::Acquire) {
            self.held.lock().unwrap().extend(rows);
        } else {
            let mut all = std::mem::take(&mut *self.held.lock().unwrap());
            all.extend(rows);
            self.write(all);
        }
    }
    fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }
    fn wait_committed(&self, txn: u64, _timeout: Duration) -> bool {
        self.committed() >= txn
    }
    fn restore(&self, rows: Vec<HistoryRow>, txn: u64, _foreign: bool) -> Result<(), HistoryError> {
        if self.committed() < txn {
            self.committed.store(0, Ordering::Release);
            self.write(rows);
            self.committed.store(txn, Ordering::Release);
        }
        Ok(())
    }
    fn orders(&self, q: HistoryQuery) -> Result<Vec<OrderRecord>, HistoryError> {
        Ok(pick(&self.orders.lock().unwrap(), q, |o| o.order.book))
    }
    fn fills(&self, q: HistoryQuery) -> Result<Vec<FillRecord>, HistoryError> {
        Ok(pick(&self.fills.lock().unwrap(), q, |f| f.fill.book))
    }
    fn trades(&self, q: HistoryQuery) -> Result<Vec<TradeRecord>, HistoryError> {
        Ok(pick(&self.trades.lock().unwrap(), q, |t| t.trade.book))
    }
    fn note_operations(&self, _ops: Vec<pinion_core::records::OperationRow>) {}
    fn count_trades(&self, above: u64, below: u64) -> Result<u64, HistoryError> {
        Ok(self.trades.lock().unwrap().range(above.saturating_add(1)..below).count() as u64)
    }
}

/// `rounds` round trips in each of two books, interleaved: entry order (pending, filled), its fill, an
/// exit order and fill, the closed trade.
fn events(rounds: u64) -> Vec<EngineEvent> {
    let eur = InstrumentTable::builtin().find("EUR_USD").expect("EUR_USD");
    let mut out = Vec::new();
    let mut id = 0;
    for i in 0..rounds {
        for book in [BookId(0), BookId(1)] {
            let ts = 1_700_000_000_000_000_000 + (i as i64) * 1_000_000_000;
            let mk = |id: u64, side, purpose| Order {
                id,
                book,
                instrument: eur,
                side,
                order_type: OrderType::Market,
                purpose,
                quantity: Quantity(1000),
                price: Price(0),
                created_ns: ts,
            };
            let fill = |o: &Order, entry: bool, price: i64, pnl: i64| {
                EngineEvent::Fill(Fill {
                    order_id: o.id,
                    book,
                    instrument: eur,
                    side: o.side,
                    is_entry: entry,
                    quantity: Quantity(1000),
                    price: Price(price),
                    commission: Money(2),
                    realized_pnl: Money(pnl),
                    ts_ns: ts,
                })
            };
            id += 1;
            let entry = mk(id, Side::Buy, OrderPurpose::Entry);
            id += 1;
            let take_profit = mk(id, Side::Sell, OrderPurpose::TakeProfit);
            id += 1;
            let exit = mk(id, Side::Sell, OrderPurpose::Exit);
            let pnl = (i as i64 % 5) * 100 - 200;
            out.push(EngineEvent::Order {
                order: take_profit,
                status: OrderStatus::Pending,
                fill_price: Price(0),
                reason: None,
                ts_ns: ts,
            });
            out.push(EngineEvent::Order { order: entry, status: OrderStatus::Pending, fill_price: Price(0), reason: None, ts_ns: ts });
            out.push(EngineEvent::Order { order: entry, status: OrderStatus::Filled, fill_price: Price(110_000), reason: None, ts_ns: ts });
            out.push(fill(&entry, true, 110_000, 0));
            out.push(EngineEvent::Order { order: exit, status: OrderStatus::Filled, fill_price: Price(110_010), reason: None, ts_ns: ts });
            out.push(fill(&exit, false, 110_010, pnl));
            // The protection is withdrawn; the cancel reports no quantity.
            let cancelled = Order { quantity: Quantity(0), ..take_profit };
            out.push(EngineEvent::Order {
                order: cancelled,
                status: OrderStatus::Cancelled,
                fill_price: Price(0),
                reason: None,
                ts_ns: ts,
            });
            out.push(EngineEvent::Trade(ClosedTrade {
                book,
                instrument: InstrumentId(eur.0),
                direction: 1,
                quantity: Quantity(1000),
                entry_price: Price(110_000),
                exit_price: Price(110_010),
                entry_ns: ts,
                exit_ns: ts,
                pnl: Money(pnl),
                commission: Money(4),
            }));
        }
    }
    out
}

fn fold(m: &ReadModel, evs: &[EngineEvent]) {
    for chunk in evs.chunks(7) {
        m.apply_batch(chunk);
    }
}

fn pages() -> Vec<Page> {
    let mut out = Vec::new();
    for limit in [1, 3, 10, 1000] {
        for offset in [0, 1, 5, 9, 10, 11, 40, 59, 60, 61, 200] {
            out.push(Page { limit, offset, before_id: None });
        }
        for before in [1, 2, 30, 61, 100, 119, 120, 121, 399, 400, 401, 1000] {
            out.push(Page { limit, offset: 0, before_id: Some(before) });
            out.push(Page { limit, offset: 2, before_id: Some(before) });
        }
    }
    out
}

/// Every page of every list of both books, from a model and its store.
fn all_pages(m: &ReadModel) -> Vec<(u64, String)> {
    let store = m.history().clone();
    let s = m.read();
    let mut out = Vec::new();
    for (bi, b) in s.books.iter().enumerate() {
        let book = BookId(bi as u32);
        for p in pages() {
            let o = book_page(&b.orders, b.counts.orders, p, |r| r.order.id, |q| store.orders(q.of(book)), |r| views::order(&s, None, r));
            let f = book_page(&b.fills, b.counts.fills, p, |r| r.id, |q| store.fills(q.of(book)), |r| views::transaction(&s, None, r));
            let t = book_page(&b.trades, b.counts.trades, p, |r| r.id, |q| store.trades(q.of(book)), |r| views::trade(&s, None, r));
            for l in [o, f, t] {
                let l = l.expect("page");
                out.push((l.total as u64, format!("{p:?} {} next={:?}", l.rows, l.cursor_next)));
            }
        }
        out.push((0, views::book_stats(b).to_string()));
    }
    out
}

#[test]
fn a_small_window_shows_exactly_what_a_whole_history_shows() {
    let evs = events(30);
    let whole = ReadModel::new(InstrumentTable::builtin(), Money::from_units(100_000));
    fold(&whole, &evs);
    let store = Arc::new(MemStore::default());
    let windowed = ReadModel::with_history(InstrumentTable::builtin(), Money::from_units(100_000), store.clone());
    windowed.set_window(4);
    fold(&windowed, &evs);
    {
        let s = windowed.read();
        assert!(s.books.iter().all(|b| b.orders.len() == 4 && b.fills.len() == 4 && b.trades.len() == 4), "bounded");
        assert_eq!(s.books[1].counts.orders, 90);
    }
    assert_eq!(all_pages(&whole), all_pages(&windowed));
}

#[test]
fn rows_stay_in_memory_until_the_store_holds_them() {
    let evs = events(30);
    let store = Arc::new(MemStore::default());
    let m = ReadModel::with_history(InstrumentTable::builtin(), Money::from_units(100_000), store.clone());
    m.set_window(4);
    fold(&m, &evs[..60]);
    store.hold.store(true, Ordering::Release);
    fold(&m, &evs[60..]);
    let held = m.read().books[0].fills.len();
    assert!(held > 20, "nothing unwritten was evicted: {held}");
    store.release();
    m.apply_batch(&[EngineEvent::Progress { ticks: 1, ts_ns: 1 }]);
    assert_eq!(m.read().books[0].fills.len(), 4, "evicted once written");
    let whole = ReadModel::new(InstrumentTable::builtin(), Money::from_units(100_000));
    fold(&whole, &evs);
    whole.apply_batch(&[EngineEvent::Progress { ticks: 1, ts_ns: 1 }]);
    assert_eq!(all_pages(&whole), all_pages(&m));
}

#[test]
fn a_snapshot_holds_the_window_only_and_a_restore_fills_the_stores_gap() {
    let evs = events(100);
    let store = Arc::new(MemStore::default());
    let m = ReadModel::with_history(InstrumentTable::builtin(), Money::from_units(100_000), store.clone());
    m.set_window(4);
    let cut = evs.len() - 60;
    fold(&m, &evs[..cut]);
    // The store stops short of the snapshot: the last rows exist in the window only.
    store.hold.store(true, Ordering::Release);
    fold(&m, &evs[cut..]);
    let export = m.read().export_state();
    let whole = ReadModel::new(InstrumentTable::builtin(), Money::from_units(100_000));
    fold(&whole, &evs);
    let (bytes, all) = (export.to_string().len(), whole.read().export_state().to_string().len());
    assert!(bytes * 5 < all, "a snapshot of {bytes} bytes (whole history: {all}) holds more than the window");
    // A restart: the store lost what it held back; the restored model hands its window over.
    store.held.lock().unwrap().clear();
    store.hold.store(false, Ordering::Release);
    let restored = ReadModel::with_history(InstrumentTable::builtin(), Money::from_units(100_000), store.clone());
    restored.set_window(4);
    restored.import_state(&export).expect("import");
    assert_eq!(all_pages(&whole), all_pages(&restored));
}
