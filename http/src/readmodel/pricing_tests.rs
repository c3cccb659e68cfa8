//! Tests that a position is priced from its first moment: the events the paper broker publishes for a
//! fill, folded into the read model, give every position row a current price, unrealized P&L and
//! margin before any periodic account mark.

use super::book::BookRecord;
use super::{OperationMeta, ReadModel};
use crate::{account, views};
use pinion_core::broker::{PaperBroker, PaperConfig};
use pinion_core::events::EngineEvent;
use pinion_core::fixed::{Money, Price, Quantity, Rate};
use pinion_core::instrument::{InstrumentId, InstrumentTable};
use pinion_core::order::{BookId, OrderPurpose, Side};
use pinion_core::tick::Tick;
use serde_json::{json, Value};

const T0: i64 = 1_700_000_000_000_000_000;
const OP: BookId = BookId(1);

fn meta(instrument: &str) -> OperationMeta {
    OperationMeta {
        id: 3,
        book: OP,
        asset: instrument.into(),
        bar_sizes: vec!["1 min".into()],
        primary_bar_size: "1 min".into(),
        strategy_name: "ema_cross".into(),
        strategy_config: json!({}),
        initial_capital: Money::from_units(10_000),
        stop_loss_type: "PIPS".into(),
        stop_loss_value: 10.0,
        take_profit_type: "RISK_REWARD".into(),
        take_profit_value: 2.0,
        crash_recovery_mode: "CLOSE_ALL".into(),
        emergency_stop_loss_pct: 0.05,
        created_ns: T0,
        updated_ns: T0,
        error: None,
    }
}

fn quote(b: &mut PaperBroker, ts: i64, inst: InstrumentId, bid: i64, ask: i64, out: &mut Vec<EngineEvent>) {
    b.on_tick(&Tick::quote(ts, inst, Price(bid), Price(ask), Quantity(1), Quantity(1)), out);
}

/// Every position row of `/account/positions` (and `positions` frames) and of
/// `/api/operations/{id}/positions`.
fn rows(m: &ReadModel) -> (Vec<Value>, Vec<Value>) {
    let s = m.read();
    let account = account::positions_json(&s).as_array().cloned().unwrap_or_default();
    let op = s.operation(3);
    let ops = s.books.get(OP.0 as usize).map_or(Vec::new(), |b| b.positions.values().map(|p| views::position(&s, op, p)).collect());
    (account, ops)
}

#[test]
fn a_position_is_priced_at_the_fill_that_opens_or_changes_it() {
    let table = InstrumentTable::builtin();
    let eur = table.find("EUR_USD").expect("EUR_USD");
    let cfg = PaperConfig { starting_balance: Money::from_units(100_000), commission_rate: Rate::parse("0").expect("rate") };
    let mut broker = PaperBroker::new(table.clone(), cfg);
    let m = ReadModel::new(table, cfg.starting_balance);
    {
        let mut s = m.write();
        s.operations.push(meta("EUR_USD"));
        while s.books.len() <= OP.0 as usize {
            s.books.push(BookRecord::new(Money::from_units(10_000)));
        }
    }
    let mut out = Vec::new();
    quote(&mut broker, T0, eur, 110_000, 110_010, &mut out);
    out.clear();

    // The opening fill (and its protection) alone, without any account mark.
    broker.submit_market(OP, eur, Side::Buy, Quantity(10_000), OrderPurpose::Entry, T0 + 1, &mut out).expect("filled");
    broker.set_protection(OP, eur, Some(Price(109_900)), None, T0 + 1, &mut out);
    m.apply_batch(&out);
    let (account_rows, op_rows) = rows(&m);
    assert_eq!(account_rows.len(), 1, "{account_rows:?}");
    let r = &account_rows[0];
    assert_eq!(r["currentPrice"], json!(1.1), "the long is marked at the bid: {r}");
    assert_eq!(r["unrealizedPL"], json!(-1.0), "10,000 x (1.10000 - 1.10010): {r}");
    assert!(r["marginUsed"].as_f64().is_some_and(|x| x > 0.0), "{r}");
    assert_eq!(op_rows.len(), 1);
    assert_eq!(op_rows[0]["current_price"], json!(1.1), "{}", op_rows[0]);
    assert_eq!(op_rows[0]["unrealized_pnl"], json!(-1.0), "{}", op_rows[0]);

    // Reversing to a short re-marks it at the ask in the same batch.
    out.clear();
    quote(&mut broker, T0 + 2, eur, 110_020, 110_030, &mut out);
    out.clear();
    broker.submit_market(OP, eur, Side::Sell, Quantity(15_000), OrderPurpose::Entry, T0 + 3, &mut out).expect("filled");
    m.apply_batch(&out);
    let (account_rows, op_rows) = rows(&m);
    assert_eq!(account_rows[0]["units"], json!(-5000.0), "{:?}", account_rows);
    assert_eq!(account_rows[0]["currentPrice"], json!(1.1003), "the short is marked at the ask: {:?}", account_rows);
    assert_eq!(account_rows[0]["unrealizedPL"], json!(-0.5), "5,000 x (1.10020 - 1.10030): {:?}", account_rows);
    assert_eq!(op_rows[0]["current_price"], json!(1.1003));
    for r in account_rows.iter().chain(&op_rows) {
        for k in ["currentPrice", "current_price", "unrealizedPL", "unrealized_pnl"] {
            assert!(r.get(k).is_none_or(|v| !v.is_null()), "{k} is null in {r}");
        }
    }
}
