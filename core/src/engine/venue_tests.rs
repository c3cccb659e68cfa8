//! The engine with an external venue: an entry is published SUBMITTED with a request carrying its stop
//! and target and fills only when the venue reports, at the venue's price; a refusal, a stop the venue
//! filled, a duplicate report; and a replay of the same ticks and reports gives the same events.

use super::tests::{engine, spec, tick};
use super::*;
use crate::broker::VenueReport;
use crate::change::{Change, ChangeError};
use crate::order::OrderStatus;

fn live_engine() -> Engine {
    let mut e = engine();
    e.set_external_venue(true);
    e.add_book(spec(Side::Buy, Some(1000), Some((StopLossType::Pips, 20.0)), Some((TakeProfitType::RiskReward, 2.0)))).unwrap();
    e
}

fn take_events(e: &mut Engine) -> Vec<EngineEvent> {
    e.emit_venue_requests();
    let mut out = Vec::new();
    e.drain_events(|ev| out.push(*ev));
    out
}

fn report(e: &mut Engine, r: VenueReport) -> Result<Vec<EngineEvent>, ChangeError> {
    let c = e.prepare_change(Change::VenueReported { report: r }, &ChangeResources::default())?;
    e.apply_change(&c, ChangeResources::default())?;
    Ok(take_events(e))
}

#[test]
fn an_entry_waits_for_the_venue_and_fills_at_its_price_with_the_stop_and_target_attached() {
    let mut e = live_engine();
    e.on_tick(&tick(1, 110_000, 110_010));
    let evs = take_events(&mut e);
    let submitted = evs.iter().find_map(|ev| match ev {
        EngineEvent::Order { order, status: OrderStatus::Submitted, .. } => Some(*order),
        _ => None,
    });
    let order = submitted.expect("a SUBMITTED order");
    let request = evs.iter().find_map(|ev| match ev {
        EngineEvent::OrderRequest { order, stop_loss, take_profit } => Some((*order, *stop_loss, *take_profit)),
        _ => None,
    });
    assert_eq!(request, Some((order, Some(Price(109_810)), Some(Price(110_410)))), "the request carries the levels");
    assert!(e.broker().position(BookId(0), InstrumentId(0)).is_none(), "nothing is booked before the report");
    // A later tick neither fills it nor sends it again.
    e.on_tick(&tick(2, 110_020, 110_030));
    assert!(!take_events(&mut e).iter().any(|ev| matches!(ev, EngineEvent::OrderRequest { .. })));

    let evs = report(&mut e, VenueReport::Filled { order_id: order.id, price: Price(110_015), ts_ns: 3, venue_txn: 50 })
        .expect("the fill applies");
    assert!(evs.iter().any(|ev| matches!(ev, EngineEvent::Order { status: OrderStatus::Filled, fill_price: Price(110_015), .. })));
    let p = e.broker().position(BookId(0), InstrumentId(0)).expect("an open position");
    assert_eq!(
        (p.quantity, p.stop_loss.map(|s| s.price), p.take_profit.map(|t| t.price)),
        (1000, Some(Price(109_810)), Some(Price(110_410)))
    );
    // The stop rests at the venue: a tick through it does nothing here.
    e.on_tick(&tick(4, 109_000, 109_010));
    assert_eq!(e.broker().net_quantity(BookId(0), InstrumentId(0)), 1000);
    // The same report again is refused, not applied twice.
    let again = report(&mut e, VenueReport::Filled { order_id: order.id, price: Price(110_015), ts_ns: 3, venue_txn: 50 });
    assert!(matches!(again, Err(ChangeError::Conflict(ref m)) if m.contains("not awaiting")), "{again:?}");
    // The venue fills the stop: the position closes at the venue's price under the stop's order id.
    let stop_id = e.broker().position(BookId(0), InstrumentId(0)).and_then(|p| p.stop_loss).map(|s| s.order_id).expect("stop");
    let q = Quantity(1000);
    let evs = report(
        &mut e,
        VenueReport::ClosedAtVenue {
            book: BookId(0),
            instrument: InstrumentId(0),
            purpose: OrderPurpose::StopLoss,
            quantity: q,
            price: Price(109_805),
            ts_ns: 5,
            venue_txn: 77,
        },
    )
    .expect("the close applies");
    assert!(evs.iter().any(|ev| matches!(ev, EngineEvent::Order { order, status: OrderStatus::Filled, .. } if order.id == stop_id)));
    assert!(evs.iter().any(|ev| matches!(ev, EngineEvent::Trade(t) if t.exit_price == Price(109_805))));
    assert_eq!(e.broker().net_quantity(BookId(0), InstrumentId(0)), 0);
    assert_eq!(e.broker().last_venue_txn(), 77);
}

#[test]
fn a_refused_order_is_rejected_with_the_venues_reason_and_paper_engines_refuse_reports() {
    let mut e = live_engine();
    e.on_tick(&tick(1, 110_000, 110_010));
    let id = e.broker().awaiting()[0].order.id;
    let evs = report(&mut e, VenueReport::Rejected { order_id: id, message: "INSUFFICIENT_MARGIN".into(), ts_ns: 2 }).expect("applies");
    assert!(evs
        .iter()
        .any(|ev| matches!(ev, EngineEvent::Order { status: OrderStatus::Rejected, reason: Some(RejectReason::VenueRejected), .. })));
    assert!(e.broker().awaiting().is_empty());
    let paper = engine();
    let r = paper.prepare_change(
        Change::VenueReported { report: VenueReport::Rejected { order_id: 1, message: String::new(), ts_ns: 0 } },
        &ChangeResources::default(),
    );
    assert!(matches!(r, Err(ChangeError::Conflict(_))), "{r:?}");
}

#[test]
fn the_same_ticks_and_reports_replay_to_the_same_events_and_state() {
    let run = || {
        let mut e = live_engine();
        let mut all = Vec::new();
        e.on_tick(&tick(1, 110_000, 110_010));
        all.extend(take_events(&mut e));
        let id = e.broker().awaiting()[0].order.id;
        all.extend(report(&mut e, VenueReport::Filled { order_id: id, price: Price(110_012), ts_ns: 2, venue_txn: 5 }).expect("fill"));
        e.on_tick(&tick(3, 110_100, 110_110));
        all.extend(take_events(&mut e));
        (format!("{all:?}"), e.save_state().map(|s| format!("{:?}", s.broker)).unwrap_or_default())
    };
    assert_eq!(run(), run());
}

#[test]
fn no_entry_while_the_venues_prices_are_stale() {
    let mut e = live_engine();
    report(&mut e, VenueReport::FeedStale { stale: true }).expect("stale");
    e.on_tick(&tick(1, 110_000, 110_010));
    assert!(e.broker().awaiting().is_empty(), "an entry on stale prices");
    report(&mut e, VenueReport::FeedStale { stale: false }).expect("flowing");
    // (The first book's one-shot strategy spent its entry; a second one enters once prices flow.)
    e.add_book(spec(Side::Buy, Some(1000), None, None)).unwrap();
    e.on_tick(&tick(2, 110_000, 110_010));
    assert_eq!(e.broker().awaiting().len(), 1, "the entry once prices flow");
}

/// Long below 1.10500, short above it, 1000 units: reverses with an exit and an entry.
struct Flip;

impl crate::strategy::Strategy for Flip {
    fn name(&self) -> &'static str {
        "flip"
    }
    fn on_tick(&mut self, t: &Tick, ctx: &mut crate::strategy::StrategyContext) {
        let side = if t.bid < 110_500 { Side::Buy } else { Side::Sell };
        ctx.target(side, Some(Quantity(1000)));
    }
}

#[test]
fn a_reversal_at_the_venue_sends_its_entry_only_once_the_exit_has_filled() {
    let mut e = engine();
    e.set_external_venue(true);
    let mut s = spec(Side::Buy, Some(1000), None, None);
    s.strategy = Box::new(Flip);
    e.add_book(s).unwrap();
    e.on_tick(&tick(1, 110_000, 110_010));
    let buy = e.broker().awaiting()[0].order;
    report(&mut e, VenueReport::Filled { order_id: buy.id, price: Price(110_010), ts_ns: 2, venue_txn: 3 }).expect("fill");
    // Above the line: the exit goes first, alone; the entry is not checked against the closing position.
    e.on_tick(&tick(3, 110_600, 110_610));
    let evs = take_events(&mut e);
    assert_eq!(e.broker().awaiting().len(), 1, "{:?}", e.broker().awaiting());
    let exit = e.broker().awaiting()[0].order;
    assert_eq!((exit.purpose, exit.side), (OrderPurpose::Exit, Side::Sell));
    assert!(!evs.iter().any(|ev| matches!(ev, EngineEvent::Order { status: OrderStatus::Rejected, .. })), "{evs:?}");
    e.on_tick(&tick(4, 110_600, 110_610));
    assert_eq!(e.broker().awaiting().len(), 1, "nothing more while the exit is out");
    report(&mut e, VenueReport::Filled { order_id: exit.id, price: Price(110_600), ts_ns: 5, venue_txn: 6 }).expect("exit fill");
    e.on_tick(&tick(6, 110_600, 110_610));
    let entry = e.broker().awaiting()[0].order;
    assert_eq!((entry.purpose, entry.side, entry.quantity), (OrderPurpose::Entry, Side::Sell, Quantity(1000)));
}

#[test]
fn a_fill_that_arrives_after_its_operation_stopped_is_closed_at_once() {
    let mut e = live_engine();
    e.on_tick(&tick(1, 110_000, 110_010));
    let entry = e.broker().awaiting()[0].order;
    // Stopped while the entry is still at the venue: nothing is open yet, so nothing closes.
    e.lifecycle(BookId(0), crate::events::OperationAction::Stop, OrderPurpose::Close).expect("stopped");
    assert_eq!(e.book(BookId(0)).map(|b| b.status), Some(BookStatus::Closed));
    report(&mut e, VenueReport::Filled { order_id: entry.id, price: Price(110_010), ts_ns: 2, venue_txn: 3 }).expect("fill");
    let close = e.broker().awaiting().iter().find(|a| a.order.book == BookId(0)).map(|a| a.order).expect("a close sent at once");
    assert_eq!((close.side, close.quantity, close.purpose), (Side::Sell, Quantity(1000), OrderPurpose::Close));
    report(&mut e, VenueReport::Filled { order_id: close.id, price: Price(110_000), ts_ns: 4, venue_txn: 5 }).expect("close fill");
    assert_eq!(e.broker().net_quantity(BookId(0), InstrumentId(0)), 0);
    assert!(e.broker().awaiting().is_empty());
}
