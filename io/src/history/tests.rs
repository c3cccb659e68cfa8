//! The SQLite history store: rows round-trip exactly, each is written once, pages and cursors, restore,
//! reopening, and a foreign schema version refused.

use super::*;
use pinion_core::fixed::{Money, Price, Quantity};
use pinion_core::instrument::InstrumentId;
use pinion_core::order::{BookId, ClosedTrade, Fill, Order, OrderPurpose, OrderStatus, OrderType, RejectReason, Side};

fn order(id: u64, book: u32, txn: u64, status: OrderStatus) -> HistoryRow {
    HistoryRow::Order(OrderRecord {
        order: Order {
            id,
            book: BookId(book),
            instrument: InstrumentId(0),
            side: Side::Sell,
            order_type: OrderType::Market,
            purpose: OrderPurpose::StopLoss,
            quantity: Quantity(1000),
            price: Price(110_123),
            created_ns: 1_600_000_000_000_000_000,
        },
        status,
        fill_price: Price(110_120),
        reason: (status == OrderStatus::Rejected).then_some(RejectReason::MaxTotalExposure),
        updated_ns: 1_600_000_000_000_000_001,
        txn,
    })
}

fn fill(id: u64, book: u32) -> HistoryRow {
    HistoryRow::Fill(FillRecord {
        id,
        fill: Fill {
            order_id: id,
            book: BookId(book),
            instrument: InstrumentId(0),
            side: Side::Buy,
            is_entry: true,
            quantity: Quantity(5),
            price: Price(99),
            commission: Money(-3),
            realized_pnl: Money(12_345),
            ts_ns: 7,
        },
        position_dir: -1,
    })
}

fn trade(id: u64, book: u32) -> HistoryRow {
    HistoryRow::Trade(TradeRecord {
        id,
        trade: ClosedTrade {
            book: BookId(book),
            instrument: InstrumentId(0),
            direction: -1,
            quantity: Quantity(5),
            entry_price: Price(100),
            exit_price: Price(90),
            entry_ns: 1,
            exit_ns: 2,
            pnl: Money(-77),
            commission: Money(4),
        },
    })
}

fn all(book: Option<u32>) -> HistoryQuery {
    HistoryQuery { book: book.map(BookId), below_id: u64::MAX, offset: 0, limit: 1000 }
}

fn open(dir: &Path) -> SqliteHistory {
    SqliteHistory::open(&dir.join(FILE_NAME), &InstrumentTable::builtin()).expect("open")
}

#[test]
fn rows_round_trip_exactly_and_are_written_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = open(dir.path());
    let rows = vec![order(1, 0, 1, OrderStatus::Pending), fill(2, 0), trade(3, 1), order(1, 0, 4, OrderStatus::Filled)];
    h.submit(rows.clone());
    assert!(h.wait_committed(4, Duration::from_secs(5)));
    assert_eq!(
        h.orders(all(Some(0))).expect("orders"),
        vec![match rows[3] {
            HistoryRow::Order(o) => o,
            _ => unreachable!(),
        }]
    );
    assert_eq!(h.fills(all(Some(0))).expect("fills").len(), 1);
    assert_eq!(
        h.fills(all(Some(0))).expect("fills")[0],
        match rows[1] {
            HistoryRow::Fill(f) => f,
            _ => unreachable!(),
        }
    );
    assert_eq!(
        h.trades(all(None)).expect("trades")[0],
        match rows[2] {
            HistoryRow::Trade(t) => t,
            _ => unreachable!(),
        }
    );
    assert!(h.trades(all(Some(0))).expect("trades").is_empty(), "book filter");
    // Handed over again (a re-execution): the older state is not written back over the newer one.
    h.submit(vec![order(1, 0, 1, OrderStatus::Pending), order(9, 0, 5, OrderStatus::Rejected)]);
    assert!(h.wait_committed(5, Duration::from_secs(5)));
    let got = h.orders(all(Some(0))).expect("orders");
    assert_eq!(got.iter().map(|o| (o.order.id, o.status)).collect::<Vec<_>>(), vec![(9, OrderStatus::Rejected), (1, OrderStatus::Filled)]);
    assert_eq!(got[0].reason, Some(RejectReason::MaxTotalExposure));
}

#[test]
fn pages_and_cursors_and_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = open(dir.path());
    h.submit((1..=50).map(|i| trade(i, (i % 2) as u32)).collect());
    assert!(h.wait_committed(50, Duration::from_secs(5)));
    let ids = |q| h.trades(q).expect("trades").iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(HistoryQuery { book: None, below_id: 41, offset: 2, limit: 3 }), vec![38, 37, 36]);
    assert_eq!(ids(HistoryQuery { book: Some(BookId(1)), below_id: u64::MAX, offset: 0, limit: 3 }), vec![49, 47, 45]);
    assert_eq!(h.count_trades(10, 20).expect("count"), 9);
}

#[test]
fn the_position_survives_a_reopen_and_restore_fills_a_gap_or_empties_a_foreign_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let h = open(dir.path());
        h.submit(vec![fill(1, 0), fill(2, 0)]);
        assert!(h.wait_committed(2, Duration::from_secs(5)));
        h.close();
    }
    let h = open(dir.path());
    assert_eq!(h.committed(), 2);
    // A snapshot at 5 whose window holds 2..=5: the store catches up to it.
    h.restore(vec![fill(2, 0), fill(3, 0), trade(4, 0), fill(5, 0)], 5, false).expect("restore");
    assert_eq!(h.committed(), 5);
    assert_eq!(h.fills(all(None)).expect("fills").len(), 4);
    // A store ahead of a snapshot is left alone, unless it is foreign.
    h.restore(vec![], 3, false).expect("restore");
    assert_eq!(h.committed(), 5);
    h.restore(vec![fill(1, 0)], 1, true).expect("restore");
    assert_eq!(h.committed(), 1);
    assert_eq!(h.fills(all(None)).expect("fills").len(), 1);
    assert!(h.trades(all(None)).expect("trades").is_empty());
}

#[test]
fn another_schema_version_is_refused_naming_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let h = open(dir.path());
        h.close();
    }
    let c = Connection::open(dir.path().join(FILE_NAME)).expect("open");
    c.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'", []).expect("update");
    drop(c);
    let err = SqliteHistory::open(&dir.path().join(FILE_NAME), &InstrumentTable::builtin()).err().expect("refused");
    assert!(err.to_string().contains("schema version 99") && err.to_string().contains("version 1"), "{err}");
}

#[test]
fn the_views_show_decimal_prices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = open(dir.path());
    h.submit(vec![trade(1, 0)]);
    assert!(h.wait_committed(1, Duration::from_secs(5)));
    let c = Connection::open(dir.path().join(FILE_NAME)).expect("open");
    let (symbol, pnl): (String, f64) =
        c.query_row("SELECT symbol, pnl_usd FROM trades_view WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?))).expect("view");
    assert!(!symbol.is_empty());
    assert_eq!(pnl, -0.77);
    h.note_operations(vec![pinion_core::records::OperationRow {
        id: 7,
        book: BookId(0),
        asset: "EURUSD".into(),
        strategy: "ema_cross".into(),
        created_ns: 5,
    }]);
    h.close();
    let op: i64 = c
        .query_row("SELECT o.id FROM trades t JOIN operations o ON o.book = t.book WHERE t.id = 1", [], |r| r.get(0))
        .expect("operation of the trade");
    assert_eq!(op, 7);
}
