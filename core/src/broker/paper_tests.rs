//! Tests of the paper broker's fills, protective orders, FIFO booking, conversion and margin.

use super::*;
use crate::events::EngineEvent;
use crate::instrument::Instrument;

fn broker(insts: &[Instrument], balance: i64, rate: &str) -> PaperBroker {
    let mut t = InstrumentTable::new();
    for i in insts {
        t.add(i.clone()).unwrap();
    }
    PaperBroker::new(t, PaperConfig { starting_balance: Money::from_units(balance), commission_rate: Rate::parse(rate).unwrap() })
}

fn quote(b: &mut PaperBroker, ts: i64, id: u16, bid: i64, ask: i64, out: &mut Vec<EngineEvent>) {
    b.on_tick(&Tick::quote(ts, InstrumentId(id), Price(bid), Price(ask), Quantity(1), Quantity(1)), out);
}

fn fills(out: &[EngineEvent]) -> Vec<Fill> {
    out.iter().filter_map(|e| if let EngineEvent::Fill(f) = e { Some(*f) } else { None }).collect()
}

fn trades(out: &[EngineEvent]) -> Vec<crate::order::ClosedTrade> {
    out.iter().filter_map(|e| if let EngineEvent::Trade(t) = e { Some(*t) } else { None }).collect()
}

const B: BookId = BookId(0);
const EU: InstrumentId = InstrumentId(0);

#[test]
fn market_orders_fill_at_the_touch_with_commission() {
    let mut b = broker(&[Instrument::fx("EUR", "USD")], 100_000, "0.00002");
    let mut out = Vec::new();
    assert_eq!(b.submit_market(B, EU, Side::Buy, Quantity(1000), OrderPurpose::Entry, 1, &mut out), Err(RejectReason::NoPrice));
    quote(&mut b, 1, 0, 110_000, 110_010, &mut out);
    out.clear();
    b.submit_market(B, EU, Side::Buy, Quantity(100_000), OrderPurpose::Entry, 2, &mut out).unwrap();
    let f = fills(&out);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].price, Price(110_010));
    // notional 110,010.00 * 0.00002 = 2.2002 -> 2.20
    assert_eq!(f[0].commission, Money(220));
    quote(&mut b, 3, 0, 110_100, 110_110, &mut out);
    out.clear();
    b.close_position(B, EU, OrderPurpose::Close, 4, &mut out).unwrap().unwrap();
    let f = fills(&out);
    assert_eq!(f[0].price, Price(110_100));
    // (1.10100 - 1.10010) * 100,000 = 90.00 USD; exit commission 110,100 * 2e-5 = 2.202 -> 2.20
    assert_eq!(f[0].realized_pnl, Money(9000));
    assert_eq!(f[0].commission, Money(220));
    assert_eq!(b.balance(), Money::from_units(100_000) + Money(9000) - Money(440));
    let t = trades(&out);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].commission, Money(440));
}

#[test]
fn long_stop_and_take_profit_trigger_on_the_bid() {
    let mut b = broker(&[Instrument::fx("EUR", "USD")], 100_000, "0");
    let mut out = Vec::new();
    quote(&mut b, 1, 0, 100_000, 100_002, &mut out);
    b.submit_market(B, EU, Side::Buy, Quantity(1000), OrderPurpose::Entry, 1, &mut out).unwrap();
    b.set_protection(B, EU, Some(Price(99_900)), Some(Price(100_200)), 1, &mut out);
    out.clear();
    // ask touches the take-profit but the bid does not: nothing
    quote(&mut b, 2, 0, 100_199, 100_201, &mut out);
    assert!(fills(&out).is_empty());
    quote(&mut b, 3, 0, 100_200, 100_202, &mut out);
    let f = fills(&out);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].side, f[0].price), (Side::Sell, Price(100_200)));
    assert!(b.position(B, EU).is_none());
    // the stop-loss was cancelled with the position
    assert!(out
        .iter()
        .any(|e| matches!(e, EngineEvent::Order { status: OrderStatus::Cancelled, order, .. } if order.purpose == OrderPurpose::StopLoss)));

    out.clear();
    b.submit_market(B, EU, Side::Buy, Quantity(1000), OrderPurpose::Entry, 4, &mut out).unwrap();
    b.set_protection(B, EU, Some(Price(100_100)), None, 4, &mut out);
    out.clear();
    quote(&mut b, 5, 0, 100_050, 100_052, &mut out);
    let f = fills(&out);
    assert_eq!((f[0].side, f[0].price), (Side::Sell, Price(100_050)), "stop fills at the bid of the triggering tick");
}

#[test]
fn short_stop_and_take_profit_trigger_on_the_ask() {
    let mut b = broker(&[Instrument::fx("EUR", "USD")], 100_000, "0");
    let mut out = Vec::new();
    quote(&mut b, 1, 0, 100_000, 100_002, &mut out);
    b.submit_market(B, EU, Side::Sell, Quantity(1000), OrderPurpose::Entry, 1, &mut out).unwrap();
    b.set_protection(B, EU, Some(Price(100_100)), Some(Price(99_900)), 1, &mut out);
    out.clear();
    quote(&mut b, 2, 0, 99_899, 99_901, &mut out);
    assert!(fills(&out).is_empty(), "bid below target but ask above: no trigger");
    quote(&mut b, 3, 0, 99_898, 99_900, &mut out);
    let f = fills(&out);
    assert_eq!((f[0].side, f[0].price), (Side::Buy, Price(99_900)));
    out.clear();
    b.submit_market(B, EU, Side::Sell, Quantity(1000), OrderPurpose::Entry, 4, &mut out).unwrap();
    b.set_protection(B, EU, Some(Price(99_950)), None, 4, &mut out);
    out.clear();
    quote(&mut b, 5, 0, 99_949, 99_951, &mut out);
    let f = fills(&out);
    assert_eq!((f[0].side, f[0].price), (Side::Buy, Price(99_951)));
    // sold at the bid 0.99898, bought back at the ask 0.99951 on 1,000 units = -0.53 USD
    assert_eq!(f[0].realized_pnl, Money(-53));
}

#[test]
fn fifo_matching_on_scale_in_and_partial_exits() {
    let mut b = broker(&[Instrument::fx("EUR", "USD")], 100_000, "0");
    let mut out = Vec::new();
    quote(&mut b, 1, 0, 100_000, 100_000, &mut out);
    b.submit_market(B, EU, Side::Buy, Quantity(1000), OrderPurpose::Entry, 1, &mut out).unwrap();
    quote(&mut b, 2, 0, 101_000, 101_000, &mut out);
    b.submit_market(B, EU, Side::Buy, Quantity(1000), OrderPurpose::Entry, 2, &mut out).unwrap();
    quote(&mut b, 3, 0, 102_000, 102_000, &mut out);
    out.clear();
    b.submit_market(B, EU, Side::Sell, Quantity(1500), OrderPurpose::Exit, 3, &mut out).unwrap();
    let t = trades(&out);
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].quantity, t[0].entry_price, t[0].pnl), (Quantity(1000), Price(100_000), Money(2000)));
    assert_eq!((t[1].quantity, t[1].entry_price, t[1].pnl), (Quantity(500), Price(101_000), Money(500)));
    assert_eq!(b.net_quantity(B, EU), 500);
    // reversal: sell 1500 with 500 long = exit 500 then enter 1000 short
    out.clear();
    b.submit_market(B, EU, Side::Sell, Quantity(1500), OrderPurpose::Exit, 4, &mut out).unwrap();
    let f = fills(&out);
    assert_eq!(f.len(), 2);
    assert!(!f[0].is_entry && f[1].is_entry);
    assert_eq!(b.net_quantity(B, EU), -1000);
}

#[test]
fn usd_jpy_pnl_and_commission_convert_to_usd() {
    let mut b = broker(&[Instrument::fx("USD", "JPY")], 100_000, "0.00002");
    let mut out = Vec::new();
    quote(&mut b, 1, 0, 109_000, 109_000, &mut out);
    b.submit_market(B, EU, Side::Buy, Quantity(100_000), OrderPurpose::Entry, 1, &mut out).unwrap();
    // notional 10,900,000 JPY = 100,000 USD at mid 109 -> commission 2.00 USD
    assert_eq!(fills(&out)[0].commission, Money(200));
    quote(&mut b, 2, 0, 110_000, 110_000, &mut out);
    out.clear();
    b.close_position(B, EU, OrderPurpose::Close, 2, &mut out).unwrap().unwrap();
    // +1.000 JPY * 100,000 = 100,000 JPY at mid 110 = 909.0909 USD -> 909.09
    assert_eq!(fills(&out)[0].realized_pnl, Money(90_909));
}

#[test]
fn margin_above_nav_is_rejected() {
    let mut b = broker(&[Instrument::fx("EUR", "USD")], 1_000, "0");
    let mut out = Vec::new();
    quote(&mut b, 1, 0, 100_000, 100_000, &mut out);
    // 30,000 units at 1.0 = 30,000 USD * 3.33% = 999 USD margin: fits in 1,000 NAV
    b.submit_market(B, EU, Side::Buy, Quantity(30_000), OrderPurpose::Entry, 1, &mut out).unwrap();
    out.clear();
    let r = b.submit_market(B, EU, Side::Buy, Quantity(1_000), OrderPurpose::Entry, 2, &mut out);
    assert_eq!(r, Err(RejectReason::InsufficientMargin));
    assert!(matches!(out[0], EngineEvent::Order { status: OrderStatus::Rejected, reason: Some(RejectReason::InsufficientMargin), .. }));
}

#[test]
fn a_fill_publishes_the_position_with_its_mark() {
    let mut b = broker(&[Instrument::fx("EUR", "USD")], 100_000, "0");
    let mut out = Vec::new();
    quote(&mut b, 1, 0, 110_000, 110_010, &mut out);
    out.clear();
    b.submit_market(B, EU, Side::Buy, Quantity(10_000), OrderPurpose::Entry, 2, &mut out).unwrap();
    let at = out.iter().position(|e| matches!(e, EngineEvent::Position(p) if p.quantity == 10_000)).expect("a position event");
    // Right after the position: its mark at the exit touch (the bid), unrealized P&L and margin.
    // 10,000 * (1.10000 - 1.10010) = -1.00 USD; margin 10,000 * 1.10005 * 3.33% = 366.32 USD.
    match out.get(at + 1) {
        Some(EngineEvent::PositionMark { book, instrument, mark, unrealized, margin, ts_ns }) => {
            assert_eq!((*book, *instrument, *mark, *ts_ns), (B, EU, Price(110_000), 2));
            assert_eq!(*unrealized, Money(-100));
            assert_eq!(Some(*margin), b.position_margin((B, EU)));
            assert!(margin.cents() > 0);
        }
        other => panic!("expected a PositionMark after the position, got {other:?}"),
    }
    // Closing publishes the flat position and no mark.
    out.clear();
    b.close_position(B, EU, OrderPurpose::Close, 3, &mut out).unwrap().unwrap();
    assert!(out.iter().any(|e| matches!(e, EngineEvent::Position(p) if p.quantity == 0)));
    assert!(!out.iter().any(|e| matches!(e, EngineEvent::PositionMark { .. })));
}
