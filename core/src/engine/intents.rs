//! Carrying out a book's intents: closes and entries, entries sized by default sizing, checked by the
//! risk engine, sent with their stop and target, and their decision context recorded for the
//! dashboard. At an external venue a book decides nothing more while an order of it is in flight.

use super::*;

impl Engine {
    /// Carries out the intents book `b` collected on this tick or bar.
    pub(super) fn execute_intents(&mut self, b: usize) {
        // With an order of this book still at the external venue, the position it acts on is unknown
        // until the report: nothing more is decided meanwhile.
        if self.broker.has_awaiting(BookId(b as u32), self.books[b].instrument) {
            self.books[b].intents.clear();
            return;
        }
        let n = self.books[b].intents.len();
        // Bar strategies decide when a primary bar closes; tick strategies on any tick.
        let on_bar_close = self.books[b].closed.iter().any(|(i, _)| *i == self.books[b].primary);
        for k in 0..n {
            let Some(intent) = self.books[b].intents.get(k) else { continue };
            let id = BookId(b as u32);
            let inst = self.books[b].instrument;
            let from = self.events.len();
            let position_before = self.broker.net_quantity(id, inst);
            match intent {
                Intent::Close => {
                    let _ = self.broker.close_position(id, inst, OrderPurpose::Exit, self.now_ns, &mut self.events);
                }
                Intent::Enter { side, quantity } => {
                    // No new entry on stale prices (a live venue's feed stopped).
                    if self.books[b].status == BookStatus::Active && !self.broker.feed_stale() {
                        self.enter(id, inst, side, quantity);
                    }
                }
            }
            if self.events.len() > from {
                let what = match intent {
                    Intent::Close => chart::DecisionIntent::Close,
                    Intent::Enter { side, .. } => chart::DecisionIntent::Enter(side),
                };
                self.record_decision(b, inst, from, what, on_bar_close, position_before);
            }
            // An order now at the external venue changes the position only when it reports: the
            // rest (a reversal's entry after its close) waits for that, else it would be checked
            // against the position about to close. The strategy asks again on the next ticks.
            if self.broker.has_awaiting(id, inst) {
                break;
            }
        }
        self.books[b].intents.clear();
    }

    /// Sizes, protects and sends an entry. Rejections are published as REJECTED orders.
    pub(super) fn enter(&mut self, id: BookId, inst: InstrumentId, side: Side, quantity: Option<Quantity>) {
        if self.books[id.0 as usize].entry_blocked || self.fail_if_exhausted(id.0 as usize) {
            return;
        }
        let rejected_before = self.events.len();
        self.enter_unblocked(id, inst, side, quantity);
        let refused = self.events[rejected_before..]
            .iter()
            .any(|e| matches!(e, EngineEvent::Order { status: crate::order::OrderStatus::Rejected, .. }));
        if refused {
            self.books[id.0 as usize].entry_blocked = true;
        }
    }

    fn enter_unblocked(&mut self, id: BookId, inst: InstrumentId, side: Side, quantity: Option<Quantity>) {
        let q = self.broker.quote(inst);
        let instrument = self.broker.instruments().get(inst);
        let prec = instrument.price_precision;
        let entry_steps = if side == Side::Buy { q.ask } else { q.bid };
        let entry = Price(entry_steps).as_f64(prec);
        let book = &self.books[id.0 as usize];
        let stop_d = book.stop_distance(instrument, entry);
        let take_d = book.take_distance(instrument, entry, stop_d);
        let now = self.now_ns;
        let rejected = move |_: RejectReason| Order {
            id: 0,
            book: id,
            instrument: inst,
            side,
            order_type: OrderType::Market,
            purpose: OrderPurpose::Entry,
            quantity: quantity.unwrap_or_default(),
            price: Price(0),
            created_ns: now,
        };
        if book.stop_loss.is_some() && stop_d.is_none() {
            let o = rejected(RejectReason::StopNotReady);
            self.broker.reject(o, RejectReason::StopNotReady, &mut self.events);
            return;
        }
        let qty = match quantity {
            Some(q) => q,
            None => match self.default_size(id, inst, entry, stop_d) {
                Some(q) => q,
                None => {
                    let reason = if self.broker.rates().usd_per_quote_unit(inst).is_none() {
                        RejectReason::NoConversionRate
                    } else {
                        RejectReason::ZeroSize
                    };
                    self.broker.reject(rejected(reason), reason, &mut self.events);
                    return;
                }
            },
        };
        if let Err(reason) = self.risk_check(id, inst, side, qty, entry_steps, stop_d) {
            let mut o = rejected(reason);
            o.quantity = qty;
            self.broker.reject(o, reason, &mut self.events);
            return;
        }
        if self.broker.submit_market(id, inst, side, qty, OrderPurpose::Entry, self.now_ns, &mut self.events).is_ok() {
            let dir = side.sign() as f64;
            let to_price = |d: Option<f64>, sign: f64| d.map(|d| Price::from_f64(entry + sign * d, prec));
            let stop = to_price(stop_d, -dir);
            let take = to_price(take_d, dir);
            if stop.is_some() || take.is_some() {
                self.broker.set_protection(id, inst, stop, take, self.now_ns, &mut self.events);
            }
        }
    }

    /// Default size: risk `risk_fraction` of the book's capital over the stop distance, in whole units;
    /// without a stop, the book's capital as notional (1:1).
    fn default_size(&self, id: BookId, inst: InstrumentId, entry: f64, stop_d: Option<f64>) -> Option<Quantity> {
        let book = &self.books[id.0 as usize];
        let usd_per_quote = self.broker.rates().usd_per_quote_unit(inst)?;
        let capital = book.capital().as_f64().max(0.0);
        let units = match stop_d {
            Some(d) => capital * book.risk_fraction / (d * usd_per_quote),
            None => capital / (entry * usd_per_quote),
        };
        let size_prec = self.broker.instruments().get(inst).size_precision;
        let steps = if size_prec == 0 { units.floor() } else { (units * 10f64.powi(size_prec as i32)).floor() };
        (steps.is_finite() && steps >= 1.0).then_some(Quantity(steps as i64))
    }
}
