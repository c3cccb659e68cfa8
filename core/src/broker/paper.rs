//! The paper broker: market orders fill in full at the touch of the triggering tick, attached stop-loss
//! and take-profit orders rest at the broker and trigger on later ticks, positions net per
//! (book, instrument) with FIFO lots, commission and P&L are booked in USD cents.

use super::conversion::Rates;
use super::position::{closed_trade, Position, Protective};
use crate::events::{AccountState, EngineEvent};
use crate::fixed::{div_round_half_away, Money, Price, Quantity, Rate};
use crate::instrument::{InstrumentId, InstrumentTable};
use crate::order::{BookId, Fill, Order, OrderId, OrderPurpose, OrderStatus, OrderType, PositionState, RejectReason, Side};
use crate::tick::Tick;
use std::collections::BTreeMap;

/// Settings of the paper venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaperConfig {
    /// Cash the account starts with, USD cents.
    pub starting_balance: Money,
    /// Commission charged on each fill as a fraction of its USD notional.
    pub commission_rate: Rate,
}

/// Last top of book per instrument.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quote {
    /// Best bid in price steps.
    pub bid: i64,
    /// Best ask in price steps.
    pub ask: i64,
    /// Time of the quote, UTC epoch ns (0 before the first one).
    pub ts_ns: i64,
}

/// The simulated venue and account: quotes, positions, resting protective orders and the cash ledger.
///
/// Owned by the [`Engine`](crate::engine::Engine) (one per engine) and driven only from the engine's
/// thread — the pinned core thread in the server, the caller's thread in backtests — so it needs no
/// locks. Each tick updates the touch and conversion rates and then checks the resting stop-loss and
/// take-profit orders of the books protected on that instrument. Market orders fill in full at the
/// touch (BUY at the ask, SELL at the bid) or are rejected; nothing is ever partly filled.
///
/// Invariants: positions are netted per (book, instrument) with FIFO lots all of one direction; a
/// flat position holds no protective orders; balance, realized P&L and commission are USD cents
/// (converted at the current mid of the quote currency); order ids increase by one per order,
/// rejected ones included, so a replay assigns the same ids.
pub struct PaperBroker {
    instruments: InstrumentTable,
    rates: Rates,
    quotes: Vec<Quote>,
    positions: BTreeMap<(BookId, InstrumentId), Position>,
    /// Books holding a protected position, per instrument (checked on each of its ticks).
    protected: Vec<Vec<BookId>>,
    config: PaperConfig,
    balance: Money,
    realized: Money,
    commission: Money,
    next_order_id: OrderId,
    /// Orders go to an external venue (a live broker) instead of filling here (see `venue`).
    external: bool,
    /// Orders sent to the external venue whose report has not been applied, oldest first.
    awaiting: Vec<venue::Awaiting>,
    /// The venue's id of the last fill it made on its own that was applied.
    last_venue_txn: u64,
    /// The venue's price feed is stale: no new entries.
    feed_stale: bool,
}

#[path = "paper_state.rs"]
mod state;
#[path = "venue.rs"]
mod venue;
pub use venue::{Awaiting, VenueReport};

/// The paper venue's state as saved in a snapshot (the instruments and settings come from configuration).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BrokerState {
    /// Last `bid + ask` per instrument id (see [`Rates::mid_x2`]).
    pub mids_x2: Vec<i64>,
    /// Last top of book per instrument id.
    pub quotes: Vec<Quote>,
    /// Open positions (flat ones may be included), in (book, instrument) order.
    pub positions: Vec<Position>,
    /// Protected books per instrument id.
    pub protected: Vec<Vec<BookId>>,
    /// Cash balance, USD cents.
    pub balance: Money,
    /// Realized P&L so far, USD cents, before commission.
    pub realized: Money,
    /// Commission paid so far, USD cents.
    pub commission: Money,
    /// The id the next order will get.
    pub next_order_id: OrderId,
    /// Orders awaiting the external venue's report (none on paper).
    #[serde(default)]
    pub awaiting: Vec<Awaiting>,
    /// The venue's id of the last fill it made on its own that was applied (0 on paper).
    #[serde(default)]
    pub last_venue_txn: u64,
    /// The venue's price feed is stale (never on paper).
    #[serde(default)]
    pub feed_stale: bool,
}

impl PaperBroker {
    /// A fresh venue: no quotes or positions, balance at `config.starting_balance`, first order id 1.
    pub fn new(instruments: InstrumentTable, config: PaperConfig) -> PaperBroker {
        let n = instruments.len();
        PaperBroker {
            rates: Rates::new(&instruments),
            quotes: vec![Quote::default(); n],
            positions: BTreeMap::new(),
            protected: (0..n).map(|_| Vec::with_capacity(16)).collect(),
            balance: config.starting_balance,
            realized: Money::ZERO,
            commission: Money::ZERO,
            next_order_id: 1,
            external: false,
            awaiting: Vec::new(),
            last_venue_txn: 0,
            feed_stale: false,
            instruments,
            config,
        }
    }

    /// The instruments it trades (ids index this table).
    pub fn instruments(&self) -> &InstrumentTable {
        &self.instruments
    }
    /// Last top of book of `id` (all zero before its first quote).
    pub fn quote(&self, id: InstrumentId) -> Quote {
        self.quotes[id.0 as usize]
    }
    /// Last mids and USD conversion routes.
    pub fn rates(&self) -> &Rates {
        &self.rates
    }
    /// The venue's settings.
    pub fn config(&self) -> PaperConfig {
        self.config
    }
    /// Cash balance in USD cents: starting balance plus realized P&L minus commission.
    pub fn balance(&self) -> Money {
        self.balance
    }
    /// The id the next order will get.
    pub fn next_order_id(&self) -> OrderId {
        self.next_order_id
    }
    /// The open position of `book` in `instrument`, or None when flat.
    pub fn position(&self, book: BookId, instrument: InstrumentId) -> Option<&Position> {
        self.positions.get(&(book, instrument)).filter(|p| !p.is_flat())
    }
    /// Signed net quantity of `book` in `instrument`, in size steps (0 when flat).
    pub fn net_quantity(&self, book: BookId, instrument: InstrumentId) -> i64 {
        self.position(book, instrument).map_or(0, |p| p.quantity)
    }
    /// Open positions in deterministic (book, instrument) order.
    pub fn positions(&self) -> impl Iterator<Item = &Position> {
        self.positions.values().filter(|p| !p.is_flat())
    }

    /// Records a quote and fires any protective order it triggers. Allocation-free unless an order fills.
    pub fn on_tick(&mut self, tick: &Tick, out: &mut Vec<EngineEvent>) {
        if !tick.is_quote() {
            return;
        }
        let id = tick.instrument_id();
        let Some(q) = self.quotes.get_mut(id.0 as usize) else { return };
        *q = Quote { bid: tick.bid, ask: tick.ask, ts_ns: tick.ts_ns };
        self.rates.update(id, tick.bid, tick.ask);
        if self.external {
            // Stops and targets rest at the external venue, which reports what they fill.
            return;
        }
        let mut i = 0;
        while i < self.protected[id.0 as usize].len() {
            let book = self.protected[id.0 as usize][i];
            if let Some(purpose) = self.triggered(book, id, tick) {
                self.fire_protective(book, id, purpose, tick.ts_ns, out);
                if self.protected[id.0 as usize].get(i) == Some(&book) {
                    i += 1;
                }
            } else {
                i += 1;
            }
        }
    }

    fn triggered(&self, book: BookId, id: InstrumentId, tick: &Tick) -> Option<OrderPurpose> {
        let p = self.positions.get(&(book, id))?;
        if p.quantity > 0 {
            if p.stop_loss.is_some_and(|s| tick.bid <= s.price.0) {
                return Some(OrderPurpose::StopLoss);
            }
            if p.take_profit.is_some_and(|t| tick.bid >= t.price.0) {
                return Some(OrderPurpose::TakeProfit);
            }
        } else if p.quantity < 0 {
            if p.stop_loss.is_some_and(|s| tick.ask >= s.price.0) {
                return Some(OrderPurpose::StopLoss);
            }
            if p.take_profit.is_some_and(|t| tick.ask <= t.price.0) {
                return Some(OrderPurpose::TakeProfit);
            }
        }
        None
    }

    fn fire_protective(&mut self, book: BookId, id: InstrumentId, purpose: OrderPurpose, ts: i64, out: &mut Vec<EngineEvent>) {
        let Some(p) = self.positions.get(&(book, id)) else { return };
        let prot = if purpose == OrderPurpose::StopLoss { p.stop_loss } else { p.take_profit };
        let Some(prot) = prot else { return };
        let side = if p.quantity > 0 { Side::Sell } else { Side::Buy };
        let order = Order {
            id: prot.order_id,
            book,
            instrument: id,
            side,
            order_type: if purpose == OrderPurpose::StopLoss { OrderType::Stop } else { OrderType::Limit },
            purpose,
            quantity: Quantity(p.quantity.abs()),
            price: prot.price,
            created_ns: p.opened_ns,
        };
        // Detach the triggered order first so the flat position does not cancel it.
        if let Some(p) = self.positions.get_mut(&(book, id)) {
            if purpose == OrderPurpose::StopLoss {
                p.stop_loss = None;
            } else {
                p.take_profit = None;
            }
        }
        // Cannot be rejected: it only reduces, and the rate existed when the position opened.
        let _ = self.execute(order, ts, out);
    }

    #[allow(clippy::too_many_arguments)]
    /// Sends a market order for `quantity` on the current touch. Returns the order id (also for rejects,
    /// which are published as REJECTED orders).
    pub fn submit_market(
        &mut self,
        book: BookId,
        instrument: InstrumentId,
        side: Side,
        quantity: Quantity,
        purpose: OrderPurpose,
        ts_ns: i64,
        out: &mut Vec<EngineEvent>,
    ) -> Result<OrderId, RejectReason> {
        let order = Order {
            id: self.alloc_order_id(),
            book,
            instrument,
            side,
            order_type: OrderType::Market,
            purpose,
            quantity,
            price: Price(0),
            created_ns: ts_ns,
        };
        self.execute(order, ts_ns, out).map(|_| order.id)
    }

    /// Publishes an order refused before it reached the venue (risk checks) and returns its id.
    pub fn reject(&mut self, mut order: Order, reason: RejectReason, out: &mut Vec<EngineEvent>) -> OrderId {
        order.id = self.alloc_order_id();
        out.push(EngineEvent::Order {
            order,
            status: OrderStatus::Rejected,
            fill_price: Price(0),
            reason: Some(reason),
            ts_ns: order.created_ns,
        });
        order.id
    }

    fn alloc_order_id(&mut self) -> OrderId {
        let id = self.next_order_id;
        self.next_order_id += 1;
        id
    }

    /// Restores the id counter (journal recovery).
    pub fn set_next_order_id(&mut self, next: OrderId) {
        self.next_order_id = self.next_order_id.max(next);
    }

    /// Fills `order` in full at the touch: BUY at the ask, SELL at the bid.
    fn execute(&mut self, order: Order, ts: i64, out: &mut Vec<EngineEvent>) -> Result<(), RejectReason> {
        let reject = |out: &mut Vec<EngineEvent>, reason| {
            out.push(EngineEvent::Order { order, status: OrderStatus::Rejected, fill_price: Price(0), reason: Some(reason), ts_ns: ts });
            Err(reason)
        };
        let q = self.quotes[order.instrument.0 as usize];
        if q.ts_ns == 0 && q.bid == 0 && q.ask == 0 {
            return reject(out, RejectReason::NoPrice);
        }
        if order.quantity.0 <= 0 {
            return reject(out, RejectReason::ZeroSize);
        }
        let price = Price(if order.side == Side::Buy { q.ask } else { q.bid });
        let key = (order.book, order.instrument);
        let held = self.positions.get(&key).map_or(0, |p| p.quantity);
        let dir = order.side.sign();
        let exit_qty = if held != 0 && held.signum() != dir { order.quantity.0.min(held.abs()) } else { 0 };
        let entry_qty = order.quantity.0 - exit_qty;
        // Every conversion this order needs must be known before anything is booked.
        let notional_entry = match self.rates.to_usd(order.instrument, entry_qty as i128 * price.0 as i128) {
            Ok(m) => m,
            Err(r) => return reject(out, r),
        };
        if exit_qty > 0 {
            if let Err(r) = self.rates.to_usd(order.instrument, exit_qty as i128 * price.0 as i128) {
                return reject(out, r);
            }
        }
        if entry_qty > 0 {
            let margin_rate = self.instruments.get(order.instrument).margin_rate;
            let account = self.account_state(ts);
            let freed = if exit_qty > 0 { self.position_margin(key).unwrap_or(Money::ZERO) } else { Money::ZERO };
            let after = account.margin_used - freed + margin_rate.apply(notional_entry);
            if after > account.nav() {
                return reject(out, RejectReason::InsufficientMargin);
            }
        }
        if self.external {
            self.send_external(order, ts, out);
            return Ok(());
        }
        self.book_fill(order, price, ts, out);
        Ok(())
    }

    /// Books `order` as filled in full at `price`: the FILLED order event, its exit and entry legs, the
    /// position and the account.
    fn book_fill(&mut self, order: Order, price: Price, ts: i64, out: &mut Vec<EngineEvent>) {
        let key = (order.book, order.instrument);
        let held = self.positions.get(&key).map_or(0, |p| p.quantity);
        let dir = order.side.sign();
        let exit_qty = if held != 0 && held.signum() != dir { order.quantity.0.min(held.abs()) } else { 0 };
        let entry_qty = order.quantity.0 - exit_qty;
        out.push(EngineEvent::Order { order, status: OrderStatus::Filled, fill_price: price, reason: None, ts_ns: ts });
        if exit_qty > 0 {
            self.book_exit(&order, exit_qty, price, ts, out);
        }
        if entry_qty > 0 {
            self.book_entry(&order, entry_qty, price, ts, out);
        }
        self.publish_position(key, ts, out);
        out.push(EngineEvent::Account(self.account_state(ts)));
    }

    fn commission_for(&self, instrument: InstrumentId, qty: i64, price: Price) -> Money {
        let notional = self.rates.to_usd(instrument, qty as i128 * price.0 as i128).unwrap_or(Money::ZERO);
        self.config.commission_rate.apply(notional)
    }

    fn book_entry(&mut self, order: &Order, qty: i64, price: Price, ts: i64, out: &mut Vec<EngineEvent>) {
        let commission = self.commission_for(order.instrument, qty, price);
        let key = (order.book, order.instrument);
        let pos = self.positions.entry(key).or_insert_with(|| Position::new(order.book, order.instrument));
        pos.add_lot(order.side.sign(), qty, price, ts, commission);
        self.balance -= commission;
        self.commission += commission;
        out.push(EngineEvent::Fill(Fill {
            order_id: order.id,
            book: order.book,
            instrument: order.instrument,
            side: order.side,
            is_entry: true,
            quantity: Quantity(qty),
            price,
            commission,
            realized_pnl: Money::ZERO,
            ts_ns: ts,
        }));
    }

    fn book_exit(&mut self, order: &Order, qty: i64, price: Price, ts: i64, out: &mut Vec<EngineEvent>) {
        let commission = self.commission_for(order.instrument, qty, price);
        let key = (order.book, order.instrument);
        let rates = &self.rates;
        let Some(pos) = self.positions.get_mut(&key) else { return };
        let dir = pos.direction();
        let mut realized = Money::ZERO;
        let mut commission_left = commission;
        let mut qty_left = qty;
        let (book, instrument) = (pos.book, pos.instrument);
        pos.reduce_fifo(qty, |m| {
            let pnl = rates
                .to_usd(order.instrument, (price.0 - m.entry_price.0) as i128 * m.quantity as i128 * dir as i128)
                .unwrap_or(Money::ZERO);
            let share = if m.quantity == qty_left {
                commission_left
            } else {
                Money(div_round_half_away(commission.0 as i128 * m.quantity as i128, qty as i128) as i64)
            };
            commission_left -= share;
            qty_left -= m.quantity;
            realized += pnl;
            out.push(EngineEvent::Trade(closed_trade(book, instrument, dir, &m, price, ts, pnl, share)));
        });
        self.balance += realized - commission;
        self.realized += realized;
        self.commission += commission;
        out.push(EngineEvent::Fill(Fill {
            order_id: order.id,
            book: order.book,
            instrument: order.instrument,
            side: order.side,
            is_entry: false,
            quantity: Quantity(qty),
            price,
            commission,
            realized_pnl: realized,
            ts_ns: ts,
        }));
        if self.positions.get(&key).is_some_and(|p| p.is_flat()) {
            self.clear_protection(key, ts, out);
        }
    }

    /// Attaches (or replaces) the stop-loss and take-profit of an open position as resting orders.
    pub fn set_protection(
        &mut self,
        book: BookId,
        instrument: InstrumentId,
        stop: Option<Price>,
        take: Option<Price>,
        ts: i64,
        out: &mut Vec<EngineEvent>,
    ) {
        let key = (book, instrument);
        if self.external && self.attach_to_awaiting(book, instrument, stop, take) {
            return;
        }
        self.clear_protection(key, ts, out);
        let Some(p) = self.positions.get(&key).filter(|p| !p.is_flat()) else { return };
        let side = if p.quantity > 0 { Side::Sell } else { Side::Buy };
        let qty = Quantity(p.quantity.abs());
        let make = |purpose, order_type, price: Price, out: &mut Vec<EngineEvent>, id: OrderId| {
            let order = Order { id, book, instrument, side, order_type, purpose, quantity: qty, price, created_ns: ts };
            out.push(EngineEvent::Order { order, status: OrderStatus::Pending, fill_price: Price(0), reason: None, ts_ns: ts });
            Protective { order_id: id, price }
        };
        let sl = stop.map(|s| {
            let id = self.next_order_id;
            self.next_order_id += 1;
            make(OrderPurpose::StopLoss, OrderType::Stop, s, out, id)
        });
        let tp = take.map(|t| {
            let id = self.next_order_id;
            self.next_order_id += 1;
            make(OrderPurpose::TakeProfit, OrderType::Limit, t, out, id)
        });
        if let Some(p) = self.positions.get_mut(&key) {
            p.stop_loss = sl;
            p.take_profit = tp;
        }
        if sl.is_some() || tp.is_some() {
            let list = &mut self.protected[instrument.0 as usize];
            if !list.contains(&book) {
                list.push(book);
            }
        }
        self.publish_position(key, ts, out);
    }

    fn clear_protection(&mut self, key: (BookId, InstrumentId), ts: i64, out: &mut Vec<EngineEvent>) {
        let Some(p) = self.positions.get_mut(&key) else { return };
        let side = if p.quantity >= 0 { Side::Sell } else { Side::Buy };
        for (prot, purpose, order_type) in [
            (p.stop_loss.take(), OrderPurpose::StopLoss, OrderType::Stop),
            (p.take_profit.take(), OrderPurpose::TakeProfit, OrderType::Limit),
        ] {
            if let Some(prot) = prot {
                let order = Order {
                    id: prot.order_id,
                    book: key.0,
                    instrument: key.1,
                    side,
                    order_type,
                    purpose,
                    quantity: Quantity(0),
                    price: prot.price,
                    created_ns: ts,
                };
                out.push(EngineEvent::Order { order, status: OrderStatus::Cancelled, fill_price: Price(0), reason: None, ts_ns: ts });
            }
        }
        self.protected[key.1 .0 as usize].retain(|b| *b != key.0);
    }

    /// Closes the whole position of a book in an instrument at market.
    pub fn close_position(
        &mut self,
        book: BookId,
        instrument: InstrumentId,
        purpose: OrderPurpose,
        ts: i64,
        out: &mut Vec<EngineEvent>,
    ) -> Option<Result<OrderId, RejectReason>> {
        let q = self.net_quantity(book, instrument);
        if q == 0 {
            return None;
        }
        let side = if q > 0 { Side::Sell } else { Side::Buy };
        Some(self.submit_market(book, instrument, side, Quantity(q.abs()), purpose, ts, out))
    }

    /// Publishes a position's state and, while it is open, its mark at this moment (exit touch,
    /// unrealized P&L and margin in USD), so that a position is priced from the fill that opens or
    /// changes it rather than from the next periodic account mark.
    fn publish_position(&self, key: (BookId, InstrumentId), ts: i64, out: &mut Vec<EngineEvent>) {
        let (q, avg, sl, tp) = match self.positions.get(&key) {
            Some(p) => (p.quantity, p.avg_price_steps(), p.stop_loss.map(|s| s.price), p.take_profit.map(|t| t.price)),
            None => (0, 0.0, None, None),
        };
        out.push(EngineEvent::Position(PositionState {
            book: key.0,
            instrument: key.1,
            quantity: q,
            avg_price: avg,
            stop_loss: sl,
            take_profit: tp,
            ts_ns: ts,
        }));
        if let Some(p) = self.positions.get(&key).filter(|p| !p.is_flat()) {
            out.push(self.position_mark(p, ts));
        }
    }

    /// The mark of one open position: its exit touch (long: bid, short: ask), unrealized P&L and margin.
    pub fn position_mark(&self, p: &Position, ts: i64) -> EngineEvent {
        let q = self.quotes[p.instrument.0 as usize];
        EngineEvent::PositionMark {
            book: p.book,
            instrument: p.instrument,
            mark: Price(if p.quantity > 0 { q.bid } else { q.ask }),
            unrealized: self.unrealized(p),
            margin: self.position_margin((p.book, p.instrument)).unwrap_or(Money::ZERO),
            ts_ns: ts,
        }
    }

    /// Unrealized P&L of one position at the exit touch (long: bid, short: ask), in USD cents.
    pub fn unrealized(&self, p: &Position) -> Money {
        let q = self.quotes[p.instrument.0 as usize];
        let mark = if p.quantity > 0 { q.bid } else { q.ask };
        let value = p.quantity as i128 * mark as i128 - p.direction() as i128 * p.cost_raw();
        self.rates.to_usd(p.instrument, value).unwrap_or(Money::ZERO)
    }

    /// Margin held by one position: notional at the mid times the instrument's margin rate.
    pub fn position_margin(&self, key: (BookId, InstrumentId)) -> Option<Money> {
        let p = self.positions.get(&key)?;
        let mid_x2 = self.rates.mid_x2(p.instrument) as i128;
        let notional = self.rates.to_usd(p.instrument, div_round_half_away(p.quantity.abs() as i128 * mid_x2, 2)).ok()?;
        Some(self.instruments.get(p.instrument).margin_rate.apply(notional))
    }

    /// Notional of a position at the current mid, USD cents (always positive).
    pub fn notional_usd(&self, p: &Position) -> Money {
        let mid_x2 = self.rates.mid_x2(p.instrument) as i128;
        self.rates.to_usd(p.instrument, div_round_half_away(p.quantity.abs() as i128 * mid_x2, 2)).unwrap_or(Money::ZERO)
    }

    /// The account at this moment, stamped `ts` (UTC epoch ns): balance, realized P&L, commission, unrealized P&L at the current mids and margin used (USD cents), and the number of open positions.
    pub fn account_state(&self, ts: i64) -> AccountState {
        let mut s =
            AccountState { balance: self.balance, realized: self.realized, commission: self.commission, ts_ns: ts, ..Default::default() };
        for (key, p) in self.positions.iter().filter(|(_, p)| !p.is_flat()) {
            s.unrealized += self.unrealized(p);
            s.margin_used += self.position_margin(*key).unwrap_or(Money::ZERO);
            s.open_positions += 1;
        }
        s
    }

    /// Unrealized P&L of one book across its instruments.
    pub fn book_unrealized(&self, book: BookId) -> Money {
        self.positions
            .range((book, InstrumentId(0))..=(book, InstrumentId(u16::MAX)))
            .filter(|(_, p)| !p.is_flat())
            .map(|(_, p)| self.unrealized(p))
            .fold(Money::ZERO, |a, b| a + b)
    }
}

#[cfg(test)]
#[path = "paper_tests.rs"]
mod tests;
