//! OANDA v20 JSON shapes, built from the fake's exact state. Each builder names the page of OANDA's
//! documentation (developer.oanda.com/rest-live-v20/...) that defines the shape. Decimals are strings
//! at the instrument's precision, account amounts at 4 decimals, times RFC 3339 with nanoseconds.

use super::config::FakeInstrument;
use super::ledger::{ClientExtensions, Ledger, MarketSpec, OnFill, Order, OrderKind, OrderState, Trade};
use super::market::{Market, Quote};
use super::money::{fmt_money, Conv};
use pinion_core::fixed::{div_round_half_away, format_decimal, Rate};
use pinion_core::time::format_iso;
use serde_json::{json, Map, Value};

/// RFC 3339 with nanoseconds: `2020-01-30T15:27:51.438000000Z` (primitives-df, DateTime).
pub(crate) fn time(ns: i64) -> String {
    format_iso(ns)
}

/// A decimal without trailing zeros (`0.033300000000` is `0.0333`).
pub(crate) fn trim(s: String) -> String {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A rate such as `marginRate` as a decimal string.
pub(crate) fn rate(r: Rate) -> String {
    trim(format_decimal(r.0, 12))
}

/// A conversion factor (`gainQuoteHomeConversionFactor`), to 10 decimals, trimmed.
pub(crate) fn factor(c: Conv) -> String {
    trim(format_decimal(div_round_half_away(c.num * 10_000_000_000, c.den) as i64, 10))
}

/// ClientExtensions (transaction-df): only the fields that are set.
pub(crate) fn client_ext(e: &ClientExtensions) -> Value {
    let mut m = Map::new();
    for (k, v) in [("id", &e.id), ("tag", &e.tag), ("comment", &e.comment)] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    Value::Object(m)
}

fn buckets(price: i64, prec: u8, liquidity: i64) -> Value {
    json!([{"price": format_decimal(price, prec), "liquidity": liquidity}])
}

/// ClientPrice as the pricing stream and `GET .../pricing` send it (pricing-df, ClientPrice; the
/// stream is described on pricing-ep, "Stream Pricing"). Closeout prices equal the top of book.
pub(crate) fn client_price(inst: &FakeInstrument, q: Quote, liquidity: i64) -> Value {
    let p = inst.display_precision;
    json!({
        "type": "PRICE",
        "instrument": inst.name,
        "time": time(q.ts_ns),
        "bids": buckets(q.bid, p, liquidity),
        "asks": buckets(q.ask, p, liquidity),
        "closeoutBid": format_decimal(q.bid, p),
        "closeoutAsk": format_decimal(q.ask, p),
        "status": "tradeable",
        "tradeable": true,
    })
}

/// The `fullPrice` of an ORDER_FILL (transaction-df, OrderFillTransaction; pricing-df, ClientPrice).
pub(crate) fn full_price(q: Quote, prec: u8, liquidity: i64) -> Value {
    json!({
        "type": "PRICE",
        "bids": buckets(q.bid, prec, liquidity),
        "asks": buckets(q.ask, prec, liquidity),
        "closeoutBid": format_decimal(q.bid, prec),
        "closeoutAsk": format_decimal(q.ask, prec),
        "timestamp": time(q.ts_ns),
    })
}

/// PricingHeartbeat (pricing-df): `{"type":"HEARTBEAT","time":...}`.
pub(crate) fn pricing_heartbeat(now: i64) -> Value {
    json!({"type": "HEARTBEAT", "time": time(now)})
}

/// TransactionHeartbeat (transaction-df): `{"type":"HEARTBEAT","lastTransactionID":...,"time":...}`.
pub(crate) fn transaction_heartbeat(now: i64, last: u64) -> Value {
    json!({"type": "HEARTBEAT", "lastTransactionID": last.to_string(), "time": time(now)})
}

fn on_fill_json(d: &OnFill, prec: u8) -> Value {
    let mut m = Map::new();
    if let Some(p) = d.price {
        m.insert("price".into(), json!(format_decimal(p, prec)));
    }
    if let Some(x) = d.distance {
        m.insert("distance".into(), json!(format_decimal(x, prec)));
    }
    m.insert("timeInForce".into(), json!("GTC"));
    if let Some(e) = &d.client_ext {
        m.insert("clientExtensions".into(), client_ext(e));
    }
    Value::Object(m)
}

/// The request fields of a market order as MarketOrderTransaction (transaction-df) and MarketOrder
/// (order-df) carry them; the caller adds `type` and the common fields.
pub(crate) fn market_order_fields(spec: &MarketSpec, inst: &FakeInstrument, reason: &str) -> Map<String, Value> {
    let p = inst.display_precision;
    let mut m = Map::new();
    m.insert("instrument".into(), json!(inst.name));
    m.insert("units".into(), json!(format_decimal(spec.units, inst.trade_units_precision)));
    m.insert("timeInForce".into(), json!(spec.time_in_force));
    m.insert("positionFill".into(), json!(spec.position_fill));
    m.insert("reason".into(), json!(reason));
    if let Some(b) = spec.price_bound {
        m.insert("priceBound".into(), json!(format_decimal(b, p)));
    }
    if let Some((tid, units)) = &spec.trade_close {
        m.insert("tradeClose".into(), json!({"tradeID": tid.to_string(), "units": units}));
    }
    if let Some(e) = &spec.client_ext {
        m.insert("clientExtensions".into(), client_ext(e));
    }
    if let Some(d) = &spec.take_profit {
        m.insert("takeProfitOnFill".into(), on_fill_json(d, p));
    }
    if let Some(d) = &spec.stop_loss {
        m.insert("stopLossOnFill".into(), on_fill_json(d, p));
    }
    if let Some(e) = &spec.trade_ext {
        m.insert("tradeClientExtensions".into(), client_ext(e));
    }
    m
}

/// An Order (order-df: MarketOrder, TakeProfitOrder, StopLossOrder) with its fill/cancel details.
pub(crate) fn order(l: &Ledger, o: &Order) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(o.id.to_string()));
    m.insert("createTime".into(), json!(time(o.create_time)));
    let state = match o.state {
        OrderState::Pending => "PENDING",
        OrderState::Filled => "FILLED",
        OrderState::Cancelled => "CANCELLED",
    };
    m.insert("state".into(), json!(state));
    if let Some(e) = &o.client_ext {
        m.insert("clientExtensions".into(), client_ext(e));
    }
    match &o.kind {
        OrderKind::Market(spec) => {
            m.insert("type".into(), json!("MARKET"));
            let mut f = market_order_fields(spec, &l.insts[spec.inst], "");
            f.remove("reason");
            m.extend(f);
        }
        OrderKind::TakeProfit { trade_id, price } | OrderKind::StopLoss { trade_id, price } => {
            let stop = matches!(o.kind, OrderKind::StopLoss { .. });
            m.insert("type".into(), json!(if stop { "STOP_LOSS" } else { "TAKE_PROFIT" }));
            m.insert("tradeID".into(), json!(trade_id.to_string()));
            let t = l.trades.get(trade_id);
            if let Some(cid) = t.and_then(|t| t.client_ext.as_ref()).and_then(|c| c.id.as_ref()) {
                m.insert("clientTradeID".into(), json!(cid));
            }
            let prec = t.map_or(5, |t| l.insts[t.inst].display_precision);
            m.insert("price".into(), json!(format_decimal(*price, prec)));
            m.insert("timeInForce".into(), json!("GTC"));
            m.insert("triggerCondition".into(), json!("DEFAULT"));
        }
    }
    let id = |v: u64| json!(v.to_string());
    if let (Some(f), Some(t)) = (o.filling_txn, o.filled_time) {
        m.insert("fillingTransactionID".into(), id(f));
        m.insert("filledTime".into(), json!(time(t)));
        if let Some(x) = o.trade_opened {
            m.insert("tradeOpenedID".into(), id(x));
        }
        if let Some(x) = o.trade_reduced {
            m.insert("tradeReducedID".into(), id(x));
        }
        if !o.trades_closed.is_empty() {
            m.insert("tradeClosedIDs".into(), json!(o.trades_closed.iter().map(|x| x.to_string()).collect::<Vec<_>>()));
        }
    }
    if let (Some(c), Some(t)) = (o.cancelling_txn, o.cancelled_time) {
        m.insert("cancellingTransactionID".into(), id(c));
        m.insert("cancelledTime".into(), json!(time(t)));
    }
    Value::Object(m)
}

/// A Trade (trade-df) with its live figures and full dependent orders.
pub(crate) fn trade(l: &Ledger, m: &Market, t: &Trade) -> Value {
    let inst = &l.insts[t.inst];
    let (p, u) = (inst.display_precision, inst.trade_units_precision);
    let live = if t.is_open() { l.live(m, t) } else { Default::default() };
    let mut v = Map::new();
    v.insert("id".into(), json!(t.id.to_string()));
    v.insert("instrument".into(), json!(inst.name));
    v.insert("price".into(), json!(format_decimal(t.price, p)));
    v.insert("openTime".into(), json!(time(t.open_time)));
    v.insert("state".into(), json!(if t.is_open() { "OPEN" } else { "CLOSED" }));
    v.insert("initialUnits".into(), json!(format_decimal(t.initial_units, u)));
    v.insert("initialMarginRequired".into(), json!(fmt_money(t.initial_margin)));
    v.insert("currentUnits".into(), json!(format_decimal(t.current_units, u)));
    v.insert("realizedPL".into(), json!(fmt_money(t.realized_pl)));
    v.insert("unrealizedPL".into(), json!(fmt_money(live.unrealized_pl)));
    v.insert("marginUsed".into(), json!(fmt_money(live.margin_used)));
    if let Some(a) = t.average_close() {
        v.insert("averageClosePrice".into(), json!(format_decimal(a, p)));
    }
    v.insert("closingTransactionIDs".into(), json!(t.closing_txns.iter().map(|x| x.to_string()).collect::<Vec<_>>()));
    v.insert("financing".into(), json!(fmt_money(0)));
    v.insert("dividendAdjustment".into(), json!(fmt_money(0)));
    if let Some(c) = t.close_time {
        v.insert("closeTime".into(), json!(time(c)));
    }
    if let Some(e) = &t.client_ext {
        v.insert("clientExtensions".into(), client_ext(e));
    }
    if let Some(o) = t.take_profit.and_then(|id| l.orders.get(&id)) {
        v.insert("takeProfitOrder".into(), order(l, o));
    }
    if let Some(o) = t.stop_loss.and_then(|id| l.orders.get(&id)) {
        v.insert("stopLossOrder".into(), order(l, o));
    }
    Value::Object(v)
}

/// A Position (position-df) of `inst`, with its long and short PositionSide.
pub(crate) fn position(l: &Ledger, m: &Market, inst: usize) -> Value {
    let i = &l.insts[inst];
    let side = |long: bool| {
        let trades: Vec<&Trade> = l.open_trades().filter(|t| t.inst == inst && (t.current_units > 0) == long).collect();
        let units: i64 = trades.iter().map(|t| t.current_units).sum();
        let upl: i64 = trades.iter().map(|t| l.live(m, t).unrealized_pl).sum();
        let margin: i64 = trades.iter().map(|t| l.live(m, t).margin_used).sum();
        let pl = l.position_pl[inst][usize::from(!long)];
        let mut s = Map::new();
        s.insert("units".into(), json!(format_decimal(units, i.trade_units_precision)));
        if units != 0 {
            let value: i128 = trades.iter().map(|t| t.current_units.unsigned_abs() as i128 * t.price as i128).sum();
            let avg = div_round_half_away(value, units.unsigned_abs() as i128) as i64;
            s.insert("averagePrice".into(), json!(format_decimal(avg, i.display_precision)));
            s.insert("tradeIDs".into(), json!(trades.iter().map(|t| t.id.to_string()).collect::<Vec<_>>()));
        }
        for (k, v) in [
            ("pl", pl),
            ("unrealizedPL", upl),
            ("resettablePL", pl),
            ("financing", 0),
            ("dividendAdjustment", 0),
            ("guaranteedExecutionFees", 0),
        ] {
            s.insert(k.into(), json!(fmt_money(v)));
        }
        (Value::Object(s), pl, upl, margin)
    };
    let (long, lpl, lupl, lm) = side(true);
    let (short, spl, supl, sm) = side(false);
    json!({
        "instrument": i.name,
        "pl": fmt_money(lpl + spl),
        "unrealizedPL": fmt_money(lupl + supl),
        "marginUsed": fmt_money(lm + sm),
        "resettablePL": fmt_money(lpl + spl),
        "financing": fmt_money(0),
        "commission": fmt_money(0),
        "dividendAdjustment": fmt_money(0),
        "guaranteedExecutionFees": fmt_money(0),
        "long": long,
        "short": short,
    })
}

/// AccountSummary (account-df). NAV = balance + unrealizedPL; marginAvailable = max(0, NAV −
/// marginUsed); margin call at marginUsed / NAV ≥ 1, closeout at marginUsed / (2 NAV) ≥ 1.
pub(crate) fn summary(l: &Ledger, m: &Market) -> Value {
    let live = l.totals(m);
    let nav = l.balance + live.unrealized_pl;
    let available = (nav - live.margin_used).max(0);
    let pct = |num: i64, den: i64| {
        if den <= 0 {
            "0".to_string()
        } else {
            trim(format_decimal(div_round_half_away(num as i128 * 100_000, den as i128) as i64, 5))
        }
    };
    json!({
        "id": l.account_id,
        "alias": "Fake OANDA",
        "currency": l.currency,
        "balance": fmt_money(l.balance),
        "createdByUserID": l.user_id,
        "createdTime": time(l.created_time),
        "guaranteedStopLossOrderMode": "DISABLED",
        "pl": fmt_money(l.pl),
        "resettablePL": fmt_money(l.pl),
        "resettablePLTime": "0",
        "financing": fmt_money(0),
        "commission": fmt_money(0),
        "dividendAdjustment": fmt_money(0),
        "guaranteedExecutionFees": fmt_money(0),
        "openTradeCount": l.open_trades().count(),
        "openPositionCount": l.open_instruments().len(),
        "pendingOrderCount": l.pending_orders().count(),
        "hedgingEnabled": false,
        "unrealizedPL": fmt_money(live.unrealized_pl),
        "NAV": fmt_money(nav),
        "marginUsed": fmt_money(live.margin_used),
        "marginAvailable": fmt_money(available),
        "positionValue": fmt_money(live.position_value),
        "marginCloseoutUnrealizedPL": fmt_money(live.unrealized_pl),
        "marginCloseoutNAV": fmt_money(nav),
        "marginCloseoutMarginUsed": fmt_money(live.margin_used),
        "marginCloseoutPositionValue": fmt_money(live.position_value),
        "marginCloseoutPercent": pct(live.margin_used, 2 * nav),
        "withdrawalLimit": fmt_money(available),
        "marginCallMarginUsed": fmt_money(live.margin_used),
        "marginCallPercent": pct(live.margin_used, nav),
        "lastTransactionID": l.last_id().to_string(),
    })
}

/// An Instrument (primitives-df).
pub(crate) fn instrument(i: &FakeInstrument) -> Value {
    let p = i.display_precision;
    json!({
        "name": i.name,
        "type": i.kind,
        "displayName": i.name.replace('_', "/"),
        "pipLocation": i.pip_location,
        "displayPrecision": p,
        "tradeUnitsPrecision": i.trade_units_precision,
        "minimumTradeSize": format_decimal(i.minimum_trade_size, i.trade_units_precision),
        "maximumTrailingStopDistance": format_decimal(pinion_core::fixed::POW10[p as usize], p),
        "minimumTrailingStopDistance": format_decimal(pinion_core::fixed::POW10[p as usize] / 2000, p),
        "maximumPositionSize": "0",
        "maximumOrderUnits": "100000000",
        "marginRate": rate(i.margin_rate),
        "guaranteedStopLossOrderMode": "DISABLED",
        "tags": [],
    })
}
