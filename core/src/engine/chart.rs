//! What the dashboard reads from a book beyond its orders: the latest closed bars of its primary size
//! with the strategy's indicator values (the price chart), and the decision context of its latest orders
//! (the "why" panel: the bar, the indicator values or the model's action, the quote, and the risk
//! verdict that produced each order).
//!
//! Why here: both are known only on the core thread, at the moment a bar closes or an order is sent.
//! Each lives in a fixed ring allocated when the book is created, so recording never allocates on the
//! tick path, and nothing at all is written on a tick that closes no bar and sends no order. The HTTP
//! side copies them out through a core call between tick batches. Neither is part of a snapshot: after a
//! restart the chart refills as bars close and older orders answer "no longer held".

use crate::bars::Bar;
use crate::events::EngineEvent;
use crate::order::{BookId, OrderId, OrderPurpose, OrderStatus, RejectReason, Side};
use crate::strategy::IndicatorValues;

/// Closed primary bars each book keeps for the chart.
pub const CHART_BARS: usize = 600;
/// Orders per book whose decision context is kept.
pub const DECISIONS: usize = 256;

/// A ring of at most `cap` values, allocated once: pushing overwrites the oldest and never allocates.
#[derive(Debug, Clone)]
pub struct Ring<T: Copy> {
    items: Vec<T>,
    cap: usize,
    next: usize,
}

impl<T: Copy> Ring<T> {
    /// An empty ring holding up to `cap` (at least 1) values.
    pub fn new(cap: usize) -> Ring<T> {
        let cap = cap.max(1);
        Ring { items: Vec::with_capacity(cap), cap, next: 0 }
    }
    /// Adds a value, dropping the oldest when full.
    pub fn push(&mut self, x: T) {
        if self.items.len() < self.cap {
            self.items.push(x);
        } else {
            self.items[self.next] = x;
        }
        self.next = (self.next + 1) % self.cap;
    }
    /// Values held.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// The values, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        let (newer, older) = if self.items.len() < self.cap { (&self.items[..], &[][..]) } else { self.items.split_at(self.next) };
        older.iter().chain(newer.iter())
    }
}

/// One closed primary bar and the strategy's indicator values once it had seen it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartBar {
    /// The bar (mid prices in half price steps).
    pub bar: Bar,
    /// The indicator values after the strategy saw the bar.
    pub indicators: IndicatorValues,
}

/// What the book wanted when the order was sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DecisionIntent {
    /// The strategy asked to enter on this side.
    Enter(Side),
    /// The strategy asked to close its position.
    Close,
    /// The model session rebalanced towards `action` (-1..1) of the symbol's capital share.
    Model {
        /// The model's action for the symbol.
        action: f32,
    },
}

/// The context recorded when an order was sent (or refused).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// The order it produced.
    pub order_id: OrderId,
    /// Why the order exists (entry, exit, stop-loss...).
    pub purpose: OrderPurpose,
    /// Feed time of the decision, UTC epoch ns.
    pub ts_ns: i64,
    /// What the book wanted.
    pub intent: DecisionIntent,
    /// True when a primary bar close triggered it, false for a tick (tick-level strategies) or the model.
    pub on_bar_close: bool,
    /// The latest closed primary bar, if any.
    pub bar: Option<Bar>,
    /// The strategy's indicator values at the decision.
    pub indicators: IndicatorValues,
    /// The quote the order was priced on, price steps.
    pub bid: i64,
    /// Ask, price steps.
    pub ask: i64,
    /// The book's net position before the decision (signed size steps).
    pub position_before: i64,
    /// The protective stop sent with it (price steps), if any.
    pub stop: Option<i64>,
    /// The protective target sent with it (price steps), if any.
    pub target: Option<i64>,
    /// Whether the book was active (paused books send exits only).
    pub entries_allowed: bool,
    /// The risk engine's or the broker's refusal, None when every check passed.
    pub refused: Option<RejectReason>,
}

/// The parts of a decision known before the orders are scanned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecisionBase {
    pub ts_ns: i64,
    pub intent: DecisionIntent,
    pub on_bar_close: bool,
    pub bar: Option<Bar>,
    pub indicators: IndicatorValues,
    pub bid: i64,
    pub ask: i64,
    pub position_before: i64,
    pub entries_allowed: bool,
}

/// Records one decision per new order of `book` among `events` (market orders, refusals; the protective
/// stop and target sent with an entry become its `stop` and `target`, and are recorded under their own
/// ids too). Never allocates: the ring was allocated with the book.
pub(crate) fn record(ring: &mut Ring<Decision>, book: BookId, events: &[EngineEvent], base: DecisionBase) {
    let (mut stop, mut target) = (None, None);
    for e in events {
        if let EngineEvent::Order { order, status: OrderStatus::Pending, .. } = e {
            if order.book == book {
                match order.purpose {
                    OrderPurpose::StopLoss => stop = Some(order.price.0),
                    OrderPurpose::TakeProfit => target = Some(order.price.0),
                    _ => {}
                }
            }
        }
    }
    let mut last: Option<OrderId> = None;
    for e in events {
        let EngineEvent::Order { order, status, reason, .. } = e else { continue };
        if order.book != book || *status == OrderStatus::Cancelled || last == Some(order.id) {
            continue;
        }
        last = Some(order.id);
        ring.push(Decision {
            order_id: order.id,
            purpose: order.purpose,
            ts_ns: base.ts_ns,
            intent: base.intent,
            on_bar_close: base.on_bar_close,
            bar: base.bar,
            indicators: base.indicators,
            bid: base.bid,
            ask: base.ask,
            position_before: base.position_before,
            stop,
            target,
            entries_allowed: base.entries_allowed,
            refused: if *status == OrderStatus::Rejected { *reason } else { None },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_keeps_the_newest_in_order() {
        let mut r = Ring::new(3);
        assert!(r.is_empty());
        for i in 1..=2 {
            r.push(i);
        }
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![1, 2]);
        for i in 3..=7 {
            r.push(i);
        }
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![5, 6, 7]);
        assert_eq!(r.iter().next_back(), Some(&7));
        assert_eq!(r.len(), 3);
    }
}
