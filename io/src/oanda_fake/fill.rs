//! Order execution on the fake account, like a v20 account with hedging off: a market order fills at
//! the current ask (buy) or bid (sell), first reducing open trades of the instrument in FIFO order,
//! then opening a trade with whatever is left (with its take-profit / stop-loss orders). Trade
//! closes and triggered take-profit / stop-loss orders close one named trade. Each step records the
//! transactions OANDA records, in OANDA's order: order, fill, cancels of linked orders, new TP, SL.

use super::ledger::{obj, ClientExtensions, Dependent, DependentReason, Ledger, MarketSpec, OnFill, Order, OrderKind, OrderState, Trade};
use super::market::Market;
use super::money::{fmt_money, vwap};
use super::shapes;
use pinion_core::fixed::format_decimal;
use serde_json::{json, Map, Value};

/// What became of an order request.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Created and filled: the MARKET_ORDER and ORDER_FILL ids, and every id of the request.
    Filled { create: u64, fill: u64, related: Vec<u64> },
    /// Created, then cancelled (e.g. BOUNDS_VIOLATION): the MARKET_ORDER and ORDER_CANCEL ids.
    Cancelled { create: u64, cancel: u64, related: Vec<u64> },
    /// Rejected: the MARKET_ORDER_REJECT id, the reject reason and its description.
    Rejected { reject: u64, code: &'static str, message: String },
}

/// One fill to execute.
struct FillReq {
    order_id: u64,
    client_order_id: Option<String>,
    inst: usize,
    units: i64,
    reason: &'static str,
    /// Close only this trade (trade close, TP, SL) instead of FIFO over the instrument.
    only_trade: Option<u64>,
    trade_ext: Option<ClientExtensions>,
    take_profit: Option<(i64, Option<ClientExtensions>)>,
    stop_loss: Option<(i64, Option<ClientExtensions>)>,
}

impl Ledger {
    /// Records a MARKET_ORDER_REJECT for `spec` (or for the raw request fields) with `reason`.
    pub fn reject(&mut self, now: i64, mut fields: Map<String, Value>, reason: &'static str, message: &str) -> Outcome {
        // MarketOrderRejectTransaction (https://developer.oanda.com/rest-live-v20/transaction-df/).
        fields.insert("type".into(), json!("MARKET_ORDER_REJECT"));
        fields.entry("reason").or_insert(json!("CLIENT_ORDER"));
        fields.insert("rejectReason".into(), json!(reason));
        let batch = self.next_id();
        let reject = self.record(batch, now, fields);
        Outcome::Rejected { reject, code: reason, message: message.to_string() }
    }

    /// Creates and executes a market order (`reason` CLIENT_ORDER or TRADE_CLOSE).
    pub fn submit_market(&mut self, market: &Market, now: i64, spec: MarketSpec, reason: &'static str) -> Outcome {
        let mut fields = shapes::market_order_fields(&spec, &self.insts[spec.inst], reason);
        if let Some(cid) = spec.client_ext.as_ref().and_then(|c| c.id.as_deref()) {
            if self.client_id_taken(cid) {
                return self.reject(now, fields, "CLIENT_ORDER_ID_ALREADY_EXISTS", REJECT_DUPLICATE);
            }
        }
        let (Some(q), Some(_)) = (market.latest(spec.inst), self.conv(market, spec.inst)) else {
            return self.reject(now, fields, "INSTRUMENT_PRICE_UNKNOWN", "The Instrument's price is unknown");
        };
        let batch = self.next_id();
        fields.insert("type".into(), json!("MARKET_ORDER"));
        let create = self.record(batch, now, fields);
        self.insert_order(Order::new(create, now, spec.client_ext.clone(), OrderKind::Market(Box::new(spec.clone()))));
        let long = spec.units > 0;
        let price = if long { q.ask } else { q.bid };
        let cancel_reason = if spec.price_bound.is_some_and(|b| if long { price > b } else { price < b }) {
            Some("BOUNDS_VIOLATION")
        } else {
            self.on_fill_problem(&spec, price, q.bid, q.ask)
        };
        if let Some(why) = cancel_reason {
            let cancel = self.cancel_order(batch, now, create, why).unwrap_or(create);
            return Outcome::Cancelled { create, cancel, related: vec![create, cancel] };
        }
        let level = |d: &Option<OnFill>, stop: bool| {
            d.as_ref().and_then(|d| {
                let away = if stop == long { -1 } else { 1 };
                d.price.or(d.distance.map(|x| price + away * x)).map(|p| (p, d.client_ext.clone()))
            })
        };
        let req = FillReq {
            order_id: create,
            client_order_id: spec.client_ext.as_ref().and_then(|c| c.id.clone()),
            inst: spec.inst,
            units: spec.units,
            reason: if spec.trade_close.is_some() { "MARKET_ORDER_TRADE_CLOSE" } else { "MARKET_ORDER" },
            only_trade: spec.trade_close.as_ref().map(|t| t.0),
            trade_ext: spec.trade_ext.clone(),
            take_profit: level(&spec.take_profit, false),
            stop_loss: level(&spec.stop_loss, true),
        };
        let (fill, mut related) = self.fill(market, now, batch, req);
        related.insert(0, create);
        Outcome::Filled { create, fill, related }
    }

    /// Why a take-profit / stop-loss on fill makes OANDA cancel the order, if the fill opens a trade:
    /// a take-profit not beyond the fill price is a loss, a stop-loss at or through the closing side
    /// of the current price would trigger at once.
    fn on_fill_problem(&self, spec: &MarketSpec, price: i64, bid: i64, ask: i64) -> Option<&'static str> {
        if spec.trade_close.is_some() || !self.opens_trade(spec.inst, spec.units) {
            return None;
        }
        let long = spec.units > 0;
        let at = |d: &OnFill, stop: bool| {
            let away = if stop == long { -1 } else { 1 };
            d.price.or(d.distance.map(|x| price + away * x))
        };
        if let Some(tp) = spec.take_profit.as_ref().and_then(|d| at(d, false)) {
            if (long && tp <= price) || (!long && tp >= price) {
                return Some("TAKE_PROFIT_ON_FILL_LOSS");
            }
        }
        if let Some(sl) = spec.stop_loss.as_ref().and_then(|d| at(d, true)) {
            if (long && sl >= bid) || (!long && sl <= ask) {
                return Some("STOP_LOSS_ON_FILL_LOSS");
            }
        }
        None
    }

    /// Whether `units` of `inst` go beyond the opposite open trades (so a new trade opens).
    fn opens_trade(&self, inst: usize, units: i64) -> bool {
        let opposite: i64 =
            self.open_trades().filter(|t| t.inst == inst && (t.current_units > 0) != (units > 0)).map(|t| t.current_units.abs()).sum();
        units.abs() > opposite
    }

    /// Closes `units` (None: all) of an open trade with a TRADE_CLOSE market order.
    pub fn close_trade(&mut self, market: &Market, now: i64, trade_id: u64, units: Option<i64>, units_text: &str) -> Outcome {
        let Some(t) = self.trades.get(&trade_id).filter(|t| t.is_open()) else {
            return self.reject(now, Map::new(), "TRADE_DOESNT_EXIST", "The Trade specified does not exist");
        };
        let (inst, current) = (t.inst, t.current_units);
        let close = units.unwrap_or(current.abs());
        let spec = MarketSpec {
            inst,
            units: -current.signum() * close,
            time_in_force: "FOK".into(),
            position_fill: "REDUCE_ONLY".into(),
            price_bound: None,
            client_ext: None,
            trade_ext: None,
            take_profit: None,
            stop_loss: None,
            trade_close: Some((trade_id, units_text.to_string())),
        };
        if close <= 0 || close > current.abs() {
            let fields = shapes::market_order_fields(&spec, &self.insts[inst], "TRADE_CLOSE");
            return self.reject(now, fields, "CLOSE_TRADE_UNITS_EXCEED_TRADE_SIZE", "The units specified exceed the size of the Trade");
        }
        self.submit_market(market, now, spec, "TRADE_CLOSE")
    }

    /// Fills every take-profit / stop-loss order of `inst` the current price triggers; returns how many.
    pub fn run_triggers(&mut self, market: &Market, now: i64, inst: usize) -> usize {
        let Some(q) = market.latest(inst) else { return 0 };
        let mut n = 0;
        for (order_id, trade_id, stop) in self.triggered(inst, q) {
            let pending = self.orders.get(&order_id).is_some_and(|o| o.state == OrderState::Pending);
            let Some(units) = self.trades.get(&trade_id).filter(|t| t.is_open() && pending).map(|t| -t.current_units) else {
                continue;
            };
            let req = FillReq {
                order_id,
                client_order_id: self.orders.get(&order_id).and_then(|o| o.client_id().map(str::to_string)),
                inst,
                units,
                reason: if stop { "STOP_LOSS_ORDER" } else { "TAKE_PROFIT_ORDER" },
                only_trade: Some(trade_id),
                trade_ext: None,
                take_profit: None,
                stop_loss: None,
            };
            let batch = self.next_id();
            self.fill(market, now, batch, req);
            n += 1;
        }
        n
    }

    /// Executes one fill and records ORDER_FILL plus the cancels and new dependent orders it causes.
    /// Returns the fill's id and the ids of every transaction it recorded (fill first).
    fn fill(&mut self, market: &Market, now: i64, batch: u64, r: FillReq) -> (u64, Vec<u64>) {
        let (Some(q), Some(conv)) = (market.latest(r.inst), self.conv(market, r.inst)) else { return (0, Vec::new()) };
        let s = self.scale(r.inst);
        let inst = self.insts[r.inst].clone();
        let (prec, uprec) = (inst.display_precision, inst.trade_units_precision);
        let price = if r.units > 0 { q.ask } else { q.bid };
        let fill_id = self.next_id();
        let targets: Vec<u64> = match r.only_trade {
            Some(id) => vec![id],
            None => self.open_trades().filter(|t| t.inst == r.inst && (t.current_units > 0) != (r.units > 0)).map(|t| t.id).collect(),
        };
        let mut remaining = r.units;
        let (mut closed, mut reduced, mut pl_total, mut closed_ids) = (Vec::new(), None, 0i64, Vec::new());
        let mut reduced_id = None;
        for id in targets {
            let Some(t) = self.trades.get_mut(&id) else { continue };
            if remaining == 0 || !t.is_open() || (t.current_units > 0) == (remaining > 0) {
                continue;
            }
            let take = remaining.abs().min(t.current_units.abs()) * remaining.signum();
            let pl = s.pl_cents(-take, price - t.price, conv);
            t.current_units += take;
            t.realized_pl += pl;
            t.closed_units += take.unsigned_abs() as i128;
            t.closed_value += take.unsigned_abs() as i128 * price as i128;
            t.closing_txns.push(fill_id);
            // TradeReduce (transaction-df): units in the fill's direction.
            let tr = json!({
                "tradeID": id.to_string(),
                "units": format_decimal(take, uprec),
                "price": format_decimal(price, prec),
                "realizedPL": fmt_money(pl),
                "financing": fmt_money(0),
                "guaranteedExecutionFee": fmt_money(0),
                "halfSpreadCost": fmt_money(s.half_spread_cents(take, q.bid, q.ask, conv)),
            });
            self.position_pl[r.inst][usize::from(take > 0)] += pl;
            if t.current_units == 0 {
                t.close_time = Some(now);
                closed.push(tr);
                closed_ids.push(id);
            } else {
                reduced = Some(tr);
                reduced_id = Some(id);
            }
            remaining -= take;
            pl_total += pl;
        }
        self.balance += pl_total;
        self.pl += pl_total;
        let mut f = obj(json!({
            "type": "ORDER_FILL",
            "orderID": r.order_id.to_string(),
            "instrument": inst.name,
            "units": format_decimal(r.units, uprec),
            "gainQuoteHomeConversionFactor": shapes::factor(conv),
            "lossQuoteHomeConversionFactor": shapes::factor(conv),
            "price": format_decimal(price, prec),
            "fullVWAP": format_decimal(price, prec),
            "fullPrice": shapes::full_price(q, prec, self.liquidity),
            "reason": r.reason,
            "pl": fmt_money(pl_total),
            "financing": fmt_money(0),
            "commission": fmt_money(0),
            "guaranteedExecutionFee": fmt_money(0),
            "accountBalance": fmt_money(self.balance),
            "halfSpreadCost": fmt_money(s.half_spread_cents(r.units, q.bid, q.ask, conv)),
        }));
        if let Some(c) = &r.client_order_id {
            f.insert("clientOrderID".into(), json!(c));
        }
        if !closed.is_empty() {
            f.insert("tradesClosed".into(), Value::Array(closed));
        }
        if let Some(tr) = reduced {
            f.insert("tradeReduced".into(), tr);
        }
        let opened = (remaining != 0 && r.only_trade.is_none()).then_some(fill_id);
        if opened.is_some() {
            let margin = s.margin_cents(remaining, q.bid, q.ask, conv, inst.margin_rate);
            // TradeOpen (transaction-df).
            let mut to = obj(json!({
                "tradeID": fill_id.to_string(),
                "units": format_decimal(remaining, uprec),
                "price": format_decimal(price, prec),
                "guaranteedExecutionFee": fmt_money(0),
                "halfSpreadCost": fmt_money(s.half_spread_cents(remaining, q.bid, q.ask, conv)),
                "initialMarginRequired": fmt_money(margin),
            }));
            if let Some(e) = &r.trade_ext {
                to.insert("clientExtensions".into(), shapes::client_ext(e));
            }
            f.insert("tradeOpened".into(), Value::Object(to));
            self.insert_trade(new_trade(fill_id, r.inst, price, now, remaining, margin, r.trade_ext.clone()));
        }
        let recorded = self.record(batch, now, f);
        debug_assert_eq!(recorded, fill_id);
        if let Some(o) = self.orders.get_mut(&r.order_id) {
            o.state = OrderState::Filled;
            o.filling_txn = Some(fill_id);
            o.filled_time = Some(now);
            o.trade_opened = opened;
            o.trade_reduced = reduced_id;
            o.trades_closed = closed_ids.clone();
        }
        self.settle(None, Some(r.order_id));
        for &tid in &closed_ids {
            self.settle(Some(tid), None);
        }
        let mut related = vec![fill_id];
        for tid in closed_ids {
            let linked: Vec<u64> =
                self.trades.get(&tid).map(|t| t.take_profit.into_iter().chain(t.stop_loss).collect()).unwrap_or_default();
            for oid in linked {
                related.extend(self.cancel_order(batch, now, oid, "LINKED_TRADE_CLOSED"));
            }
        }
        if let Some(tid) = opened {
            let levels = [(false, r.take_profit), (true, r.stop_loss)];
            for (stop, (price, ext)) in levels.into_iter().filter_map(|(s, l)| l.map(|l| (s, l))) {
                let d = Dependent { stop, price, ext, reason: DependentReason::OnFill(fill_id) };
                related.push(self.create_dependent(batch, now, tid, d));
            }
        }
        (fill_id, related)
    }
}

/// Description OANDA gives the CLIENT_ORDER_ID_ALREADY_EXISTS reject reason (transaction-df,
/// TransactionRejectReason).
pub(crate) const REJECT_DUPLICATE: &str = "The client Order ID specified is already assigned to another pending Order";

fn new_trade(id: u64, inst: usize, price: i64, now: i64, units: i64, margin: i64, ext: Option<ClientExtensions>) -> Trade {
    Trade {
        id,
        inst,
        price,
        open_time: now,
        initial_units: units,
        current_units: units,
        initial_margin: margin,
        realized_pl: 0,
        closed_units: 0,
        closed_value: 0,
        closing_txns: Vec::new(),
        close_time: None,
        client_ext: ext,
        take_profit: None,
        stop_loss: None,
    }
}

impl Trade {
    /// Average closing price in steps, once some units were closed.
    pub fn average_close(&self) -> Option<i64> {
        (self.closed_units > 0).then(|| vwap(self.closed_value, self.closed_units))
    }
}
