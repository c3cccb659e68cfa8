//! The broker's external-venue mode: with a live broker, orders do not fill here. An order that passes
//! the same checks as on paper is published `SUBMITTED`, kept as *awaiting*, and handed to the venue
//! adapter as an [`EngineEvent::OrderRequest`] (with the stop-loss and take-profit to attach at the
//! venue, which protect the position even while pinion is down). The venue's answers come back as
//! [`VenueReport`]s, journaled state changes applied by the core like any other: a fill books the order
//! at the venue's price, a refusal publishes it `REJECTED`, and a stop or target the venue filled on its
//! own closes the position at its price. Local stop and target triggering is off in this mode.
//!
//! Everything here runs on the engine's thread, from ticks and journaled changes only, so a replay of
//! the journal reproduces it exactly.

use super::PaperBroker;
use crate::events::EngineEvent;
use crate::fixed::{Price, Quantity};
use crate::instrument::InstrumentId;
use crate::order::{BookId, Order, OrderId, OrderPurpose, OrderStatus, OrderType, RejectReason, Side};
use serde::{Deserialize, Serialize};

/// An order sent to the external venue whose report has not been applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Awaiting {
    /// The order as sent.
    pub order: Order,
    /// Stop-loss attached at the venue.
    pub stop_loss: Option<Price>,
    /// Take-profit attached at the venue.
    pub take_profit: Option<Price>,
    /// Whether its [`EngineEvent::OrderRequest`] has been published.
    pub requested: bool,
}

/// What the external venue reported, as a journaled state change carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case", deny_unknown_fields)]
pub enum VenueReport {
    /// The order filled in full at `price`.
    Filled {
        /// The order.
        order_id: OrderId,
        /// Execution price, price steps.
        price: Price,
        /// Execution time, UTC epoch ns.
        ts_ns: i64,
        /// The venue's id for the fill (0: unknown). The first one also marks where the venue's own
        /// fills of pinion's positions can start, so a restart reads the venue's history from there.
        venue_txn: u64,
    },
    /// The venue refused or cancelled the order (or it was never executed there).
    Rejected {
        /// The order.
        order_id: OrderId,
        /// The venue's reason, for the log.
        message: String,
        /// When, UTC epoch ns.
        ts_ns: i64,
    },
    /// The venue's price feed stopped (`stale`) or resumed: while it is stale no new entry is made
    /// (exits still go; stops and targets rest at the venue). Journaled like every report, so a replay
    /// decides exactly as the live run did.
    FeedStale {
        /// Stale (true) or flowing again (false).
        stale: bool,
    },
    /// A stop-loss or take-profit resting at the venue filled: `quantity` of the book's position
    /// closed at `price`.
    ClosedAtVenue {
        /// The book.
        book: BookId,
        /// The instrument.
        instrument: InstrumentId,
        /// `STOP_LOSS` or `TAKE_PROFIT` (or `CLOSE` for a close the venue made otherwise).
        purpose: OrderPurpose,
        /// Units closed, size steps.
        quantity: Quantity,
        /// Execution price, price steps.
        price: Price,
        /// Execution time, UTC epoch ns.
        ts_ns: i64,
        /// The venue's id for the fill (its transaction id): a report at or below the last one applied
        /// is refused, so a fill handed over again after a reconnect or a restart books once.
        venue_txn: u64,
    },
}

impl PaperBroker {
    /// Switches orders to an external venue (a live broker); set once, before the first tick.
    pub fn set_external(&mut self, on: bool) {
        self.external = on;
    }

    /// Whether orders go to an external venue.
    pub fn is_external(&self) -> bool {
        self.external
    }

    /// Where the venue's own fills may start: the id of the last one applied, or just before pinion's
    /// first fill there (0: nothing traded at the venue yet).
    pub fn last_venue_txn(&self) -> u64 {
        self.last_venue_txn
    }

    /// Whether the venue's price feed is stale (no new entries meanwhile).
    pub fn feed_stale(&self) -> bool {
        self.feed_stale
    }

    /// Whether an order of `book` in `instrument` awaits the venue's report (allocation-free).
    pub fn has_awaiting(&self, book: BookId, instrument: InstrumentId) -> bool {
        self.awaiting.iter().any(|a| a.order.book == book && a.order.instrument == instrument)
    }

    /// Orders awaiting the venue's report, oldest first.
    pub fn awaiting(&self) -> &[Awaiting] {
        &self.awaiting
    }

    /// Publishes a checked order as `SUBMITTED` and keeps it until its report.
    pub(super) fn send_external(&mut self, order: Order, ts: i64, out: &mut Vec<EngineEvent>) {
        out.push(EngineEvent::Order { order, status: OrderStatus::Submitted, fill_price: Price(0), reason: None, ts_ns: ts });
        self.awaiting.push(Awaiting { order, stop_loss: None, take_profit: None, requested: false });
    }

    /// Attaches a stop and target to the latest awaiting order of (book, instrument) not yet requested;
    /// false when there is none (the position is protected locally instead).
    pub(super) fn attach_to_awaiting(&mut self, book: BookId, instrument: InstrumentId, stop: Option<Price>, take: Option<Price>) -> bool {
        match self.awaiting.iter_mut().rev().find(|a| !a.requested && a.order.book == book && a.order.instrument == instrument) {
            Some(a) => {
                a.stop_loss = stop;
                a.take_profit = take;
                true
            }
            None => false,
        }
    }

    /// Publishes an [`EngineEvent::OrderRequest`] for each awaiting order not requested yet (called
    /// once the engine has finished with a tick or a change, so attached levels are in).
    pub fn emit_requests(&mut self, out: &mut Vec<EngineEvent>) {
        for a in self.awaiting.iter_mut().filter(|a| !a.requested) {
            a.requested = true;
            out.push(EngineEvent::OrderRequest { order: a.order, stop_loss: a.stop_loss, take_profit: a.take_profit });
        }
    }

    /// Checks a report against the state without changing anything.
    pub fn check_report(&self, r: &VenueReport) -> Result<(), String> {
        match r {
            VenueReport::Filled { order_id, price, .. } => {
                self.awaiting_index(*order_id)?;
                if price.0 <= 0 {
                    return Err(format!("order {order_id}: fill price {} is not positive", price.0));
                }
                Ok(())
            }
            VenueReport::Rejected { order_id, .. } => self.awaiting_index(*order_id).map(|_| ()),
            VenueReport::FeedStale { .. } => Ok(()),
            VenueReport::ClosedAtVenue { book, instrument, quantity, price, venue_txn, .. } => {
                if *venue_txn <= self.last_venue_txn {
                    return Err(format!("venue transaction {venue_txn} is at or below the last one applied ({})", self.last_venue_txn));
                }
                let held = self.net_quantity(*book, *instrument);
                if held == 0 {
                    return Err(format!("book {} holds no position in instrument {} to close", book.0, instrument.0));
                }
                if quantity.0 <= 0 || quantity.0 > held.abs() || price.0 <= 0 {
                    return Err(format!("a close of {} at {} does not fit the position of {held}", quantity.0, price.0));
                }
                Ok(())
            }
        }
    }

    fn awaiting_index(&self, order_id: OrderId) -> Result<usize, String> {
        self.awaiting.iter().position(|a| a.order.id == order_id).ok_or_else(|| format!("order {order_id} is not awaiting a report"))
    }

    /// Applies a checked report (see [`PaperBroker::check_report`]).
    pub fn apply_report(&mut self, r: &VenueReport, out: &mut Vec<EngineEvent>) -> Result<(), String> {
        self.check_report(r)?;
        match *r {
            VenueReport::Filled { order_id, price, ts_ns, venue_txn } => {
                if self.last_venue_txn == 0 && venue_txn > 0 {
                    self.last_venue_txn = venue_txn - 1;
                }
                let a = self.awaiting.remove(self.awaiting_index(order_id)?);
                self.book_fill(a.order, price, ts_ns, out);
                if a.stop_loss.is_some() || a.take_profit.is_some() {
                    // Shown on the position; they rest at the venue, which reports their fills.
                    self.external = false;
                    self.set_protection(a.order.book, a.order.instrument, a.stop_loss, a.take_profit, ts_ns, out);
                    self.external = true;
                    let list = &mut self.protected[a.order.instrument.0 as usize];
                    list.retain(|b| *b != a.order.book);
                }
            }
            VenueReport::FeedStale { stale } => self.feed_stale = stale,
            VenueReport::Rejected { order_id, ts_ns, .. } => {
                let a = self.awaiting.remove(self.awaiting_index(order_id)?);
                out.push(EngineEvent::Order {
                    order: a.order,
                    status: OrderStatus::Rejected,
                    fill_price: Price(0),
                    reason: Some(RejectReason::VenueRejected),
                    ts_ns,
                });
            }
            VenueReport::ClosedAtVenue { book, instrument, purpose, quantity, price, ts_ns, venue_txn } => {
                self.last_venue_txn = venue_txn;
                let held = self.net_quantity(book, instrument);
                // The resting order that filled keeps its id (detached first, so the close does not
                // cancel it); any other close gets a new one.
                let resting = self.positions.get_mut(&(book, instrument)).and_then(|p| match purpose {
                    OrderPurpose::StopLoss => p.stop_loss.take(),
                    OrderPurpose::TakeProfit => p.take_profit.take(),
                    _ => None,
                });
                let id = match resting {
                    Some(r) => r.order_id,
                    None => self.alloc_order_id(),
                };
                let order = Order {
                    id,
                    book,
                    instrument,
                    side: if held > 0 { Side::Sell } else { Side::Buy },
                    order_type: match purpose {
                        OrderPurpose::StopLoss => OrderType::Stop,
                        OrderPurpose::TakeProfit => OrderType::Limit,
                        _ => OrderType::Market,
                    },
                    purpose,
                    quantity,
                    price,
                    created_ns: ts_ns,
                };
                self.book_fill(order, price, ts_ns, out);
            }
        }
        Ok(())
    }
}
