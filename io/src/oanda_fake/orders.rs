//! Reading order requests without trusting them: the body of `POST /v3/accounts/{id}/orders`
//! (`{"order": MarketOrderRequest}`, order-df) and of `PUT .../trades/{spec}/close` (trade-ep).
//! A field OANDA validates into a reject reason (TransactionRejectReason, transaction-df) becomes a
//! reject, recorded as a MARKET_ORDER_REJECT transaction; a body that is not usable at all becomes a
//! plain 400 `{"errorMessage": ...}`. Nothing here panics on input.

use super::config::FakeInstrument;
use super::ledger::{ClientExtensions, MarketSpec, OnFill};
use pinion_core::fixed::{parse_decimal, DecimalError};
use serde_json::{Map, Value};

/// The result of reading an order request.
#[derive(Debug, Clone)]
pub(crate) enum Parsed {
    /// A valid market order.
    Market(Box<MarketSpec>),
    /// Rejected with a reason: `fields` echo the request for the MARKET_ORDER_REJECT transaction.
    Reject { fields: Map<String, Value>, reason: &'static str, message: &'static str },
    /// Not a usable request: answered 400 with this message, no transaction.
    Bad(String),
}

/// OANDA's answer to a body that lacks what it needs (troubleshooting-errors, "Malformed Request").
pub(crate) const MISSING_DATA: &str = "The request was missing required data";
/// OANDA's answer to an unknown instrument (troubleshooting-errors, "Invalid Instrument").
pub(crate) const BAD_INSTRUMENT: &str = "Invalid value specified for 'instrument'";

/// A decimal field: JSON string or number.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Why a decimal field is unusable: not a number, or too many decimals.
enum DecErr {
    Invalid,
    Precision,
}

fn decimal(v: &Value, prec: u8) -> Result<i64, DecErr> {
    let t = text(v).ok_or(DecErr::Invalid)?;
    parse_decimal(t.as_bytes(), prec).map_err(|e| match e {
        DecimalError::TooPrecise { .. } => DecErr::Precision,
        _ => DecErr::Invalid,
    })
}

fn client_ext(v: Option<&Value>) -> Result<Option<ClientExtensions>, ()> {
    let Some(v) = v else { return Ok(None) };
    let o = v.as_object().ok_or(())?;
    let field = |k: &str| -> Result<Option<String>, ()> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 128 => Ok(Some(s.clone())),
            Some(_) => Err(()),
        }
    };
    Ok(Some(ClientExtensions { id: field("id")?, tag: field("tag")?, comment: field("comment")? }))
}

/// Reject reasons of one on-fill kind: missing, invalid, precision exceeded, bad client id.
type OnFillReasons = [&'static str; 4];
const TP: OnFillReasons = [
    "TAKE_PROFIT_ON_FILL_PRICE_MISSING",
    "TAKE_PROFIT_ON_FILL_PRICE_INVALID",
    "TAKE_PROFIT_ON_FILL_PRICE_PRECISION_EXCEEDED",
    "TAKE_PROFIT_ON_FILL_CLIENT_ORDER_ID_INVALID",
];
const SL: OnFillReasons = [
    "STOP_LOSS_ON_FILL_PRICE_MISSING",
    "STOP_LOSS_ON_FILL_PRICE_INVALID",
    "STOP_LOSS_ON_FILL_PRICE_PRECISION_EXCEEDED",
    "STOP_LOSS_ON_FILL_CLIENT_ORDER_ID_INVALID",
];

fn on_fill(v: Option<&Value>, prec: u8, r: OnFillReasons) -> Result<Option<OnFill>, &'static str> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(None) };
    let o = v.as_object().ok_or(r[1])?;
    let level = |k: &str| -> Result<Option<i64>, &'static str> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => match decimal(x, prec) {
                Ok(p) if p > 0 => Ok(Some(p)),
                Ok(_) | Err(DecErr::Invalid) => Err(r[1]),
                Err(DecErr::Precision) => Err(r[2]),
            },
        }
    };
    let (price, distance) = (level("price")?, level("distance")?);
    if price.is_none() && distance.is_none() {
        return Err(r[0]);
    }
    let ext = client_ext(o.get("clientExtensions")).map_err(|_| r[3])?;
    Ok(Some(OnFill { price, distance, client_ext: ext }))
}

/// Reads a create-order body against the account's instruments.
pub(crate) fn parse_order(body: &[u8], insts: &[FakeInstrument]) -> Parsed {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Parsed::Bad(format!("Invalid JSON in request body: {e}")),
    };
    let Some(order) = v.get("order").and_then(Value::as_object) else { return Parsed::Bad(MISSING_DATA.to_string()) };
    match order.get("type").and_then(Value::as_str) {
        Some("MARKET") => {}
        Some(t) => return Parsed::Bad(format!("Order type {t} is not supported by the fake OANDA server (MARKET only)")),
        None => return Parsed::Bad(MISSING_DATA.to_string()),
    }
    for unsupported in ["trailingStopLossOnFill", "guaranteedStopLossOnFill"] {
        if order.get(unsupported).is_some_and(|x| !x.is_null()) {
            return Parsed::Bad(format!("{unsupported} is not supported by the fake OANDA server"));
        }
    }
    let mut fields = order.clone();
    fields.remove("type");
    let reject = |reason: &'static str, message: &'static str| Parsed::Reject { fields: fields.clone(), reason, message };
    let name = match order.get("instrument") {
        None | Some(Value::Null) => return reject("INSTRUMENT_MISSING", "Order instrument has not been specified"),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Parsed::Bad(BAD_INSTRUMENT.to_string()),
    };
    let Some(inst) = insts.iter().position(|i| i.name == name) else { return Parsed::Bad(BAD_INSTRUMENT.to_string()) };
    let i = &insts[inst];
    let units = match order.get("units").filter(|u| !u.is_null()).map(|u| decimal(u, i.trade_units_precision)) {
        None => return reject("UNITS_MISSING", "Order units have not been specified"),
        Some(Err(DecErr::Invalid)) | Some(Ok(0)) => return reject("UNITS_INVALID", "Order units specified are invalid"),
        Some(Err(DecErr::Precision)) => {
            return reject(
                "UNITS_PRECISION_EXCEEDED",
                "The units specified contain more precision than is allowed for the Order's instrument",
            )
        }
        Some(Ok(u)) if u.abs() < i.minimum_trade_size => {
            return reject("UNITS_MIMIMUM_NOT_MET", "The units specified do not meet the minimum trade size for the Order's instrument")
        }
        Some(Ok(u)) => u,
    };
    let time_in_force = match order.get("timeInForce").and_then(Value::as_str).unwrap_or("FOK") {
        t @ ("FOK" | "IOC") => t.to_string(),
        _ => return reject("TIME_IN_FORCE_INVALID", "The time in force specified is invalid"),
    };
    let position_fill = match order.get("positionFill").and_then(Value::as_str).unwrap_or("DEFAULT") {
        p @ ("DEFAULT" | "REDUCE_FIRST") => p.to_string(),
        p @ ("OPEN_ONLY" | "REDUCE_ONLY") => return Parsed::Bad(format!("positionFill {p} is not supported by the fake OANDA server")),
        _ => return reject("ORDER_FILL_POSITION_ACTION_INVALID", "The Order fill position action is invalid"),
    };
    let price_bound = match order.get("priceBound").filter(|b| !b.is_null()).map(|b| decimal(b, i.display_precision)) {
        None => None,
        Some(Ok(b)) if b > 0 => Some(b),
        Some(Ok(_)) | Some(Err(DecErr::Invalid)) => return reject("PRICE_BOUND_INVALID", "The price bound specified is invalid"),
        Some(Err(DecErr::Precision)) => {
            return reject(
                "PRICE_BOUND_PRECISION_EXCEEDED",
                "The price bound specified contains more precision than is allowed for the Order's instrument",
            )
        }
    };
    let Ok(client) = client_ext(order.get("clientExtensions")) else {
        return reject("CLIENT_ORDER_ID_INVALID", "The client Order ID specified is invalid");
    };
    let Ok(trade_ext) = client_ext(order.get("tradeClientExtensions")) else {
        return reject("CLIENT_TRADE_ID_INVALID", "The client Trade ID specified is invalid");
    };
    let take_profit = match on_fill(order.get("takeProfitOnFill"), i.display_precision, TP) {
        Ok(x) => x,
        Err(reason) => return reject(reason, "The Take Profit on fill specified is invalid"),
    };
    let stop_loss = match on_fill(order.get("stopLossOnFill"), i.display_precision, SL) {
        Ok(x) => x,
        Err(reason) => return reject(reason, "The Stop Loss on fill specified is invalid"),
    };
    Parsed::Market(Box::new(MarketSpec {
        inst,
        units,
        time_in_force,
        position_fill,
        price_bound,
        client_ext: client,
        trade_ext,
        take_profit,
        stop_loss,
        trade_close: None,
    }))
}

/// Reads a trade-close body: `{"units": "ALL"}` (also an empty body) or a positive number of units.
/// Returns the units (None: all) and their text as requested.
pub(crate) fn parse_close(body: &[u8], units_prec: u8) -> Result<(Option<i64>, String), String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((None, "ALL".to_string()));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("Invalid JSON in request body: {e}"))?;
    match v.get("units") {
        None | Some(Value::Null) => Ok((None, "ALL".to_string())),
        Some(Value::String(s)) if s == "ALL" => Ok((None, "ALL".to_string())),
        Some(u) => match decimal(u, units_prec) {
            Ok(n) if n > 0 => Ok((Some(n), text(u).unwrap_or_default())),
            _ => Err("Invalid value specified for 'units'".to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insts() -> Vec<FakeInstrument> {
        vec![FakeInstrument::fx("EUR_USD")]
    }

    fn reason(body: &str) -> String {
        match parse_order(body.as_bytes(), &insts()) {
            Parsed::Reject { reason, .. } => reason.to_string(),
            Parsed::Bad(m) => format!("bad: {m}"),
            Parsed::Market(_) => "ok".to_string(),
        }
    }

    #[test]
    fn reads_a_full_market_order() {
        let body = r#"{"order":{"type":"MARKET","instrument":"EUR_USD","units":"-10000","timeInForce":"FOK","positionFill":"DEFAULT",
            "clientExtensions":{"id":"c-1","tag":"t"},"stopLossOnFill":{"price":"1.12000"},"takeProfitOnFill":{"distance":"0.00500"}}}"#;
        let Parsed::Market(m) = parse_order(body.as_bytes(), &insts()) else { panic!("not parsed") };
        assert_eq!((m.units, m.client_ext.unwrap().id.as_deref()), (-10_000, Some("c-1")));
        assert_eq!(m.stop_loss.unwrap().price, Some(112_000));
        assert_eq!(m.take_profit.unwrap().distance, Some(500));
    }

    #[test]
    fn rejects_and_bad_requests() {
        assert_eq!(reason(r#"{"order":{"type":"MARKET","instrument":"EUR_USD"}}"#), "UNITS_MISSING");
        assert_eq!(reason(r#"{"order":{"type":"MARKET","instrument":"EUR_USD","units":"1.5"}}"#), "UNITS_PRECISION_EXCEEDED");
        assert_eq!(reason(r#"{"order":{"type":"MARKET","instrument":"EUR_USD","units":"x"}}"#), "UNITS_INVALID");
        assert_eq!(reason(r#"{"order":{"type":"MARKET","instrument":"EUR_USD","units":0}}"#), "UNITS_INVALID");
        assert_eq!(reason(r#"{"order":{"type":"MARKET","units":"1"}}"#), "INSTRUMENT_MISSING");
        assert_eq!(
            reason(r#"{"order":{"type":"MARKET","instrument":"EUR_USD","units":"1","timeInForce":"GTC"}}"#),
            "TIME_IN_FORCE_INVALID"
        );
        let sl = r#"{"order":{"type":"MARKET","instrument":"EUR_USD","units":"1","stopLossOnFill":{"price":"1.123456"}}}"#;
        assert_eq!(reason(sl), "STOP_LOSS_ON_FILL_PRICE_PRECISION_EXCEEDED");
        assert_eq!(
            reason(r#"{"order":{"type":"MARKET","instrument":"EUR_USD","units":"1","stopLossOnFill":{}}}"#),
            "STOP_LOSS_ON_FILL_PRICE_MISSING"
        );
        assert_eq!(
            reason(r#"{"order":{"type":"MARKET","instrument":"EUR_USD","units":"1","clientExtensions":{"id":5}}}"#),
            "CLIENT_ORDER_ID_INVALID"
        );
        assert_eq!(reason(r#"{"order":{"type":"MARKET","instrument":"XAU_USD","units":"1"}}"#), format!("bad: {BAD_INSTRUMENT}"));
        assert!(reason(r#"{"order":{"type":"LIMIT"}}"#).starts_with("bad: Order type LIMIT"));
        assert!(reason("{not json").starts_with("bad: Invalid JSON"));
        assert_eq!(reason("[1,2]"), format!("bad: {MISSING_DATA}"));
    }

    #[test]
    fn reads_close_bodies() {
        assert_eq!(parse_close(b"", 0), Ok((None, "ALL".to_string())));
        assert_eq!(parse_close(br#"{"units":"ALL"}"#, 0), Ok((None, "ALL".to_string())));
        assert_eq!(parse_close(br#"{"units":"500"}"#, 0), Ok((Some(500), "500".to_string())));
        assert!(parse_close(br#"{"units":"-5"}"#, 0).is_err());
        assert!(parse_close(b"{", 0).is_err());
    }
}
