//! A net position of one book in one instrument, kept as FIFO lots so exits match entries in order.

use crate::fixed::{div_round_half_away, Money, Price};
use crate::instrument::InstrumentId;
use crate::order::{BookId, ClosedTrade, OrderId};
use std::collections::VecDeque;

/// One entry fill still (partly) open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lot {
    /// Remaining open size (positive).
    pub quantity: i64,
    /// Entry price in price steps.
    pub price: Price,
    /// Entry time, UTC epoch ns (tick time).
    pub ts_ns: i64,
    /// Entry commission not yet attributed to a closed trade.
    pub commission: Money,
}

/// A protective order attached to a position at the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Protective {
    /// Engine-wide id of the resting order (published PENDING when attached).
    pub order_id: OrderId,
    /// Trigger price in price steps.
    pub price: Price,
}

/// Net position: all lots share one direction.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// The book that holds it.
    pub book: BookId,
    /// The instrument held.
    pub instrument: InstrumentId,
    /// Signed net size: sum of lots times direction.
    pub quantity: i64,
    /// Open entry lots, oldest first; exits consume them from the front.
    pub lots: VecDeque<Lot>,
    /// Resting stop-loss (a STOP order), if attached.
    pub stop_loss: Option<Protective>,
    /// Resting take-profit (a LIMIT order), if attached.
    pub take_profit: Option<Protective>,
    /// When the position opened from flat, UTC epoch ns.
    pub opened_ns: i64,
}

/// One FIFO match of an exit against a lot, before currency conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LotMatch {
    /// Size taken from the lot, in size steps (positive).
    pub quantity: i64,
    /// The lot's entry price, in price steps.
    pub entry_price: Price,
    /// The lot's entry time, UTC epoch ns.
    pub entry_ns: i64,
    /// The share of the lot's entry commission attributed to this match, in USD cents.
    pub entry_commission: Money,
}

impl Position {
    /// An empty (flat) position of `book` in `instrument`.
    pub fn new(book: BookId, instrument: InstrumentId) -> Position {
        Position { book, instrument, ..Default::default() }
    }

    /// Whether the net quantity is zero.
    pub fn is_flat(&self) -> bool {
        self.quantity == 0
    }

    /// +1 long, -1 short, 0 flat.
    pub fn direction(&self) -> i64 {
        self.quantity.signum()
    }

    /// Sum of `lot.quantity * lot.price` over open lots (cost basis in raw units).
    pub fn cost_raw(&self) -> i128 {
        self.lots.iter().map(|l| l.quantity as i128 * l.price.0 as i128).sum()
    }

    /// Volume-weighted average entry price in price steps.
    pub fn avg_price_steps(&self) -> f64 {
        let q = self.quantity.unsigned_abs() as f64;
        if q == 0.0 {
            0.0
        } else {
            self.cost_raw() as f64 / q
        }
    }

    /// Adds an entry lot in the position's direction (`direction` +1 long / -1 short).
    pub fn add_lot(&mut self, direction: i64, quantity: i64, price: Price, ts_ns: i64, commission: Money) {
        debug_assert!(self.quantity == 0 || self.direction() == direction);
        if self.quantity == 0 {
            self.opened_ns = ts_ns;
        }
        self.quantity += direction * quantity;
        self.lots.push_back(Lot { quantity, price, ts_ns, commission });
    }

    /// Removes `quantity` (positive, at most the open size) FIFO, calling `on_match` for each lot slice.
    /// Entry commission is attributed pro rata (rounded to cents, the remainder stays with the lot).
    pub fn reduce_fifo(&mut self, mut quantity: i64, mut on_match: impl FnMut(LotMatch)) {
        let dir = self.direction();
        while quantity > 0 {
            let Some(lot) = self.lots.front_mut() else { break };
            let take = quantity.min(lot.quantity);
            let commission = if take == lot.quantity {
                lot.commission
            } else {
                Money(div_round_half_away(lot.commission.0 as i128 * take as i128, lot.quantity as i128) as i64)
            };
            on_match(LotMatch { quantity: take, entry_price: lot.price, entry_ns: lot.ts_ns, entry_commission: commission });
            lot.quantity -= take;
            lot.commission -= commission;
            quantity -= take;
            self.quantity -= dir * take;
            if lot.quantity == 0 {
                self.lots.pop_front();
            }
        }
    }
}

/// Builds the closed trade of one lot match.
#[allow(clippy::too_many_arguments)]
pub fn closed_trade(
    book: BookId,
    instrument: InstrumentId,
    direction: i64,
    m: &LotMatch,
    exit_price: Price,
    exit_ns: i64,
    pnl: Money,
    exit_commission: Money,
) -> ClosedTrade {
    ClosedTrade {
        book,
        instrument,
        direction: direction as i8,
        quantity: crate::fixed::Quantity(m.quantity),
        entry_price: m.entry_price,
        exit_price,
        entry_ns: m.entry_ns,
        exit_ns,
        pnl,
        commission: m.entry_commission + exit_commission,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_on_scale_in_and_partial_exits() {
        let mut p = Position::new(BookId(0), InstrumentId(0));
        p.add_lot(1, 100, Price(10), 1, Money(3));
        p.add_lot(1, 50, Price(20), 2, Money(2));
        assert_eq!(p.quantity, 150);
        assert_eq!(p.cost_raw(), 100 * 10 + 50 * 20);
        let mut got = Vec::new();
        p.reduce_fifo(30, |m| got.push(m));
        assert_eq!(got, vec![LotMatch { quantity: 30, entry_price: Price(10), entry_ns: 1, entry_commission: Money(1) }]);
        got.clear();
        p.reduce_fifo(100, |m| got.push(m));
        assert_eq!(
            got,
            vec![
                LotMatch { quantity: 70, entry_price: Price(10), entry_ns: 1, entry_commission: Money(2) },
                LotMatch { quantity: 30, entry_price: Price(20), entry_ns: 2, entry_commission: Money(1) },
            ]
        );
        assert_eq!(p.quantity, 20);
        assert_eq!(p.lots.len(), 1);
        assert_eq!(p.lots[0].commission, Money(1));
    }

    #[test]
    fn short_positions_reduce_towards_zero() {
        let mut p = Position::new(BookId(0), InstrumentId(0));
        p.add_lot(-1, 10, Price(5), 1, Money(0));
        assert_eq!(p.quantity, -10);
        p.reduce_fifo(10, |_| {});
        assert!(p.is_flat());
        assert!(p.lots.is_empty());
    }
}
