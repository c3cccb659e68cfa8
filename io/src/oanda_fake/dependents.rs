//! `PUT /v3/accounts/{id}/trades/{spec}/orders` (trade-ep, "Set Dependent Orders"): create,
//! replace or cancel a trade's take-profit and stop-loss through the trade. A field left out keeps
//! the order, `null` cancels it (reason CLIENT_REQUEST), an object replaces it (the old one is
//! cancelled with CLIENT_REQUEST_REPLACED, the new one has reason REPLACEMENT) or creates it
//! (CLIENT_ORDER). A new level the current price already crosses fills at once, as on OANDA.

use super::http::Request;
use super::ledger::{ClientExtensions, Dependent, DependentReason, Ledger, OrderState};
use super::market::Market;
use super::routes::{error, reply, Routed};
use super::shared::Shared;
use pinion_core::fixed::{parse_decimal, DecimalError};
use serde_json::{json, Map, Value};

/// What to do with one dependent order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Keep,
    Cancel,
    /// Set at this price, or at this distance from the current price (a stop only).
    Set {
        price: Option<i64>,
        distance: Option<i64>,
        ext: Option<ClientExtensions>,
    },
}

/// Reads `takeProfit` / `stopLoss` (TakeProfitDetails / StopLossDetails, transaction-df).
fn change(body: &Map<String, Value>, key: &str, prec: u8) -> Result<Change, String> {
    let bad = |what: &str| format!("Invalid value specified for '{key}.{what}'");
    let o = match body.get(key) {
        None => return Ok(Change::Keep),
        Some(Value::Null) => return Ok(Change::Cancel),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(format!("Invalid value specified for '{key}'")),
    };
    let level = |k: &str| -> Result<Option<i64>, String> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => match parse_decimal(s.trim().as_bytes(), prec) {
                Ok(v) if v > 0 => Ok(Some(v)),
                Err(DecimalError::TooPrecise { .. }) => Err(format!("{key}.{k} has more than {prec} decimals")),
                _ => Err(bad(k)),
            },
            Some(_) => Err(bad(k)),
        }
    };
    let (price, distance) = (level("price")?, level("distance")?);
    if price.is_none() && distance.is_none() {
        return Err(format!("{key} needs a price or a distance"));
    }
    let ext = match o.get("clientExtensions") {
        None | Some(Value::Null) => None,
        Some(Value::Object(e)) => {
            let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
            Some(ClientExtensions { id: s("id"), tag: s("tag"), comment: s("comment") })
        }
        Some(_) => return Err(bad("clientExtensions")),
    };
    Ok(Change::Set { price, distance, ext })
}

impl Ledger {
    /// Applies `tp` and `sl` to open trade `trade_id`; returns the response fields (without
    /// `relatedTransactionIDs` / `lastTransactionID`).
    fn set_dependents(&mut self, market: &Market, now: i64, trade_id: u64, tp: Change, sl: Change) -> Map<String, Value> {
        let mut out = Map::new();
        let batch = self.next_id();
        let Some((inst, long)) = self.trades.get(&trade_id).map(|t| (t.inst, t.current_units > 0)) else { return out };
        let quote = market.latest(inst);
        let mut created = Vec::new();
        for (stop, change, name) in [(false, tp, "takeProfit"), (true, sl, "stopLoss")] {
            let existing = self.trades.get(&trade_id).and_then(|t| if stop { t.stop_loss } else { t.take_profit });
            let (price, distance, ext) = match change {
                Change::Keep => continue,
                Change::Cancel => {
                    if let Some(id) = existing.and_then(|o| self.cancel_order(batch, now, o, "CLIENT_REQUEST")) {
                        out.insert(format!("{name}OrderCancelTransaction"), self.txn(id).cloned().unwrap_or_default());
                    }
                    continue;
                }
                Change::Set { price, distance, ext } => (price, distance, ext),
            };
            // A distance is measured from the side the order triggers against (bid for a long
            // trade, ask for a short): towards a loss for a stop, towards a gain for a take-profit.
            let away = |q: super::market::Quote, d: i64| match (long, stop) {
                (true, true) => q.bid - d,
                (true, false) => q.bid + d,
                (false, true) => q.ask + d,
                (false, false) => q.ask - d,
            };
            let Some(price) = price.or_else(|| distance.zip(quote).map(|(d, q)| away(q, d))) else { continue };
            let reason = match existing.and_then(|o| self.cancel_order(batch, now, o, "CLIENT_REQUEST_REPLACED").map(|c| (o, c))) {
                Some((order, cancel)) => {
                    out.insert(format!("{name}OrderCancelTransaction"), self.txn(cancel).cloned().unwrap_or_default());
                    DependentReason::Replacing { order, cancel }
                }
                None => DependentReason::Client,
            };
            let id = self.create_dependent(batch, now, trade_id, Dependent { stop, price, ext, reason });
            out.insert(format!("{name}OrderTransaction"), self.txn(id).cloned().unwrap_or_default());
            created.push((id, name));
        }
        self.run_triggers(market, now, inst);
        for (id, name) in created {
            if let Some(fill) = self.orders.get(&id).filter(|o| o.state == OrderState::Filled).and_then(|o| o.filling_txn) {
                out.insert(format!("{name}OrderFillTransaction"), self.txn(fill).cloned().unwrap_or_default());
            }
        }
        out
    }
}

/// Serves the endpoint for trade `spec`.
pub(crate) fn set_dependent_orders(sh: &Shared, req: &Request, spec: &str) -> Routed {
    let body: Map<String, Value> = match serde_json::from_slice(&req.body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return error(400, "The request was missing required data"),
        Err(e) => return error(400, &format!("Invalid JSON in request body: {e}")),
    };
    if body.get("trailingStopLoss").is_some_and(|v| !v.is_null()) || body.get("guaranteedStopLoss").is_some_and(|v| !v.is_null()) {
        return error(400, "Trailing and guaranteed stop losses are not supported by the fake OANDA server");
    }
    sh.state().mutate(|m, l, now| {
        let Some(t) = l.find_trade(spec).and_then(|id| l.trades.get(&id)).filter(|t| t.is_open()) else {
            return reply(404, json!({"errorCode": "NO_SUCH_TRADE", "errorMessage": "The Trade ID specified does not exist", "lastTransactionID": l.last_id().to_string()}));
        };
        let (id, prec) = (t.id, l.insts[t.inst].display_precision);
        let (tp, sl) = match (change(&body, "takeProfit", prec), change(&body, "stopLoss", prec)) {
            (Ok(tp), Ok(sl)) => (tp, sl),
            (Err(e), _) | (_, Err(e)) => return error(400, &e),
        };
        let first = l.next_id();
        let mut out = l.set_dependents(m, now, id, tp, sl);
        let related: Vec<String> = (first..=l.last_id()).map(|i| i.to_string()).collect();
        out.insert("relatedTransactionIDs".into(), json!(related));
        out.insert("lastTransactionID".into(), json!(l.last_id().to_string()));
        reply(200, Value::Object(out))
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, market, start};
    use super::*;
    use pinion_core::fixed::Price;

    #[test]
    fn replaces_creates_cancels_and_fills_dependents() {
        let (fake, c) = start(config(vec![]));
        assert_eq!(c.post(&c.acct("/orders"), &market("EUR_USD", 1_000, None, Some("1.10000"), None)).status, 201);
        // Trade 4 with stop 5. Move the stop, add a take-profit.
        let r = c.put(&c.acct("/trades/4/orders"), &json!({"stopLoss": {"price": "1.10100"}, "takeProfit": {"price": "1.10500"}}));
        assert_eq!(r.status, 200, "{}", r.body);
        let b = &r.body;
        assert_eq!(
            (b["takeProfitOrderTransaction"]["id"].as_str(), b["takeProfitOrderTransaction"]["reason"].as_str()),
            (Some("6"), Some("CLIENT_ORDER"))
        );
        assert_eq!(
            (b["stopLossOrderCancelTransaction"]["reason"].as_str(), b["stopLossOrderCancelTransaction"]["replacedByOrderID"].as_str()),
            (Some("CLIENT_REQUEST_REPLACED"), Some("8"))
        );
        assert_eq!(
            (b["stopLossOrderTransaction"]["replacesOrderID"].as_str(), b["stopLossOrderTransaction"]["price"].as_str()),
            (Some("5"), Some("1.10100"))
        );
        assert_eq!((b["relatedTransactionIDs"].clone(), b["lastTransactionID"].as_str()), (json!(["6", "7", "8"]), Some("8")));
        let t = &fake.account().trades[0];
        assert_eq!((t.stop_loss, t.take_profit, t.stop_loss_order_id), (Some(Price(110_100)), Some(Price(110_500)), Some(8)));
        // Cancel the take-profit; a stop 5 pips under the bid by distance.
        let r = c.put(&c.acct("/trades/4/orders"), &json!({"takeProfit": null, "stopLoss": {"distance": "0.00050"}}));
        assert_eq!(r.body["takeProfitOrderCancelTransaction"]["reason"], "CLIENT_REQUEST");
        assert_eq!(r.body["stopLossOrderTransaction"]["price"], "1.10184");
        assert_eq!((fake.account().trades[0].take_profit, fake.account().pending_orders.len()), (None, 1));
        // A stop above the bid fills at once.
        let r = c.put(&c.acct("/trades/4/orders"), &json!({"stopLoss": {"price": "1.10300"}}));
        assert_eq!(r.body["stopLossOrderFillTransaction"]["reason"], "STOP_LOSS_ORDER");
        assert_eq!(fake.account().open_trade_count, 0);
        assert_eq!(c.put(&c.acct("/trades/4/orders"), &json!({})).status, 404);
        c.post(&c.acct("/orders"), &market("EUR_USD", 1_000, None, None, None));
        assert_eq!(c.put(&c.acct("/trades/@x/orders"), &json!({})).status, 404);
        let last = fake.account().last_transaction_id;
        assert_eq!(c.put(&c.acct(&format!("/trades/{last}/orders")), &json!({"stopLoss": {"price": "1.1"}})).status, 200);
        assert_eq!(c.put(&c.acct(&format!("/trades/{last}/orders")), &json!({"stopLoss": {"price": "1.100001"}})).status, 400);
        assert_eq!(c.put(&c.acct(&format!("/trades/{last}/orders")), &json!({"stopLoss": 5})).status, 400);
    }
}
