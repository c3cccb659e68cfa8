//! Unit tests of the views: stats on net P/L add up to the cent, rounding, and the account arithmetic.

use super::stats::{book_totals, stats_view, StatsTotals};
use super::*;
use crate::readmodel::book::{BookRecord, TradeRecord};
use pinion_core::fixed::{Money, Price, Quantity};
use pinion_core::instrument::InstrumentId;
use pinion_core::order::{BookId, ClosedTrade};

fn trade(id: u64, pnl: i64, commission: i64) -> TradeRecord {
    TradeRecord {
        id,
        trade: ClosedTrade {
            book: BookId(0),
            instrument: InstrumentId(0),
            direction: 1,
            quantity: Quantity(1000),
            entry_price: Price(110_000),
            exit_price: Price(110_010),
            entry_ns: 0,
            exit_ns: 1_000_000_000,
            pnl: Money(pnl),
            commission: Money(commission),
        },
    }
}

fn book(trades: &[(i64, i64)]) -> BookRecord {
    let mut b = BookRecord::new(Money::from_units(10_000));
    for (i, (pnl, c)) in trades.iter().enumerate() {
        let t = trade(i as u64 + 1, *pnl, *c);
        b.closed.add(&t.trade);
        b.counts.trades += 1;
        b.trades.push_back(t);
        b.realized += Money(*pnl);
        b.commission += Money(*c);
    }
    b
}

fn cents(v: f64) -> i64 {
    (v * 100.0).round() as i64
}

#[test]
fn stats_count_net_pnl_and_gross_adds_up_to_the_cent() {
    // A trade that made 0.30 before 0.44 of commission is a loser; one netting exactly 0 is neither.
    let b = book(&[(1_000, 33), (30, 44), (-517, 21), (50, 50), (2_345, 17)]);
    let t = book_totals(&b);
    assert_eq!((t.total_trades, t.winning, t.losing), (5, 2, 2));
    assert_eq!(t.gross_profit, Money(967 + 2_328));
    assert_eq!(t.gross_loss, Money(14 + 538));
    assert_eq!(t.total_pnl, t.gross_profit - t.gross_loss);
    let v = stats_view(&t, 1.234_567_89, Some(0.123_456_7));
    assert_eq!(cents(v.gross_profit) - cents(v.gross_loss), cents(v.total_pnl));
    assert_eq!(v.win_rate, 40.0, "percent");
    assert_eq!(v.profit_factor, Some(5.9692), "3295 / 552 at 4 decimals");
    assert_eq!(v.average_win, 16.48, "3295 cents / 2 rounds half away from zero");
    assert_eq!(v.average_loss, 2.76);
    assert_eq!(v.max_drawdown_pct, 1.2346);
    assert_eq!(v.sharpe, Some(0.1235));
    assert_eq!(v.total_pnl_pct, 0.2743, "27.43 over 10000, in percent");
    assert_eq!(v.total_commission, 1.65);
}

#[test]
fn overall_sums_keep_gross_minus_loss_equal_to_total() {
    let mut all = StatsTotals::default();
    for b in [book(&[(1_001, 3), (-7, 1)]), book(&[(-250, 9), (999, 999)]), book(&[])] {
        all.add(&book_totals(&b));
    }
    assert_eq!(all.total_pnl, all.gross_profit - all.gross_loss);
    let v = stats_view(&all, 0.0, None);
    assert_eq!(cents(v.gross_profit) - cents(v.gross_loss), cents(v.total_pnl));
    assert_eq!(v.profit_factor, Some(round4(998.0 / 267.0)));
    let empty = stats_view(&StatsTotals::default(), 0.0, None);
    assert_eq!((empty.win_rate, empty.profit_factor, empty.average_win), (0.0, None, 0.0));
}

#[test]
fn rounding_is_half_away_from_zero_and_finite() {
    assert_eq!(round4(1.000_05), 1.0001);
    assert_eq!(round4(-1.000_05), -1.0001);
    assert_eq!(round4(f64::NAN), 0.0);
    assert_eq!(round4(-0.000_01), 0.0);
    assert!(round4(-0.000_01).is_sign_positive());
    assert_eq!(percent(1.0, 3.0), 33.3333);
    assert_eq!(percent(1.0, 0.0), 0.0);
}

#[test]
fn account_frame_reports_pl_before_commission_as_oanda_does() {
    use crate::readmodel::ReadModel;
    use pinion_core::events::AccountState;
    use pinion_core::instrument::InstrumentTable;
    let start = Money::from_units(100_000);
    let rm = ReadModel::new(InstrumentTable::builtin(), start);
    let (realized, commission) = (Money(12_345), Money(678));
    rm.write().account =
        AccountState { balance: start + realized - commission, unrealized: Money(-50), realized, commission, ..Default::default() };
    let f = account::account_frame(&rm.read());
    assert_eq!(f["pl"], serde_json::json!(123.45));
    assert_eq!(f["commission"], serde_json::json!(6.78));
    let (balance, pl, c) = (cents(f["balance"].as_f64().unwrap_or(0.0)), cents(123.45), cents(6.78));
    assert_eq!(balance, 10_000_000 + pl - c, "balance = start + pl - commission: {f}");
    assert_eq!(f["NAV"], serde_json::json!(100_116.17));
}
