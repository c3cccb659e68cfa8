//! Sending pinion's orders to OANDA and turning the answers into venue reports, never sending one twice.
//!
//! Each order carries a client id derived from pinion's own ids, `pinion-<book>-<order id>`, in
//! `clientExtensions` and `tradeClientExtensions` (order-ep, MarketOrderRequest; trade-df), so the order,
//! the trade it opens and the book that owns it can be found at OANDA from the id alone. Orders are
//! MARKET, `timeInForce: FOK`, `positionFill: DEFAULT`, with `stopLossOnFill` / `takeProfitOnFill`
//! attached, so a position is protected at OANDA from its first instant.
//!
//! An answer with an `orderFillTransaction` is a fill at its price; an `orderCancelTransaction` or a 400
//! with an `orderRejectTransaction` is a refusal. Anything ambiguous (no answer, a timeout, a 5xx) is
//! resolved by looking the order up by its client id (`GET /orders/@<client id>`) before anything else
//! happens: found and filled, its fill transaction gives the price; found and cancelled, a refusal; not
//! found, it was not executed and is reported refused: it is never re-sent. A 429 means not executed
//! and is retried after `Retry-After`.

use super::{OandaConfig, OandaError};
use pinion_core::broker::VenueReport;
use pinion_core::fixed::{parse_decimal, Price};
use pinion_core::order::{BookId, Order, OrderId, Side};
use serde_json::{json, Value};
use std::time::Duration;

/// The client id of order `id` of `book`.
pub fn client_id(book: BookId, id: OrderId) -> String {
    format!("pinion-{}-{id}", book.0)
}

/// The book and order id in a pinion client id (None for anything else: not pinion's).
pub fn parse_client_id(s: &str) -> Option<(BookId, OrderId)> {
    let rest = s.strip_prefix("pinion-")?;
    let (book, id) = rest.split_once('-')?;
    Some((BookId(book.parse().ok()?), id.parse().ok()?))
}

/// One order to send, with what the adapter needs to word it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderToSend {
    /// The engine's order.
    pub order: Order,
    /// OANDA's instrument name.
    pub instrument: String,
    /// Decimal places of the instrument's prices.
    pub price_precision: u8,
    /// Decimal places of its units.
    pub size_precision: u8,
    /// Stop-loss to attach.
    pub stop_loss: Option<Price>,
    /// Take-profit to attach.
    pub take_profit: Option<Price>,
    /// It may have been sent before a restart: look it up before sending.
    pub maybe_sent: bool,
}

/// `v` steps of `precision` decimals as OANDA writes a decimal (`-1.23456`).
pub fn decimal(v: i64, precision: u8) -> String {
    if precision == 0 {
        return v.to_string();
    }
    let scale = 10i64.pow(u32::from(precision));
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{}.{:0width$}", (v / scale).abs(), (v % scale).abs(), width = precision as usize)
}

/// The `POST /orders` body of `o`.
pub fn order_body(o: &OrderToSend) -> Value {
    let signed = if o.order.side == Side::Buy { o.order.quantity.0 } else { -o.order.quantity.0 };
    let id = client_id(o.order.book, o.order.id);
    let mut order = json!({
        "type": "MARKET",
        "instrument": o.instrument,
        "units": decimal(signed, o.size_precision),
        "timeInForce": "FOK",
        "positionFill": "DEFAULT",
        "clientExtensions": { "id": id, "tag": "pinion" },
        "tradeClientExtensions": { "id": id, "tag": "pinion" },
    });
    if let Some(p) = o.stop_loss {
        order["stopLossOnFill"] = json!({ "price": decimal(p.0, o.price_precision), "timeInForce": "GTC" });
    }
    if let Some(p) = o.take_profit {
        order["takeProfitOnFill"] = json!({ "price": decimal(p.0, o.price_precision), "timeInForce": "GTC" });
    }
    json!({ "order": order })
}

/// What became of a sent order: the report to apply, and the OANDA trade it opened (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// The report for the engine.
    pub report: VenueReport,
    /// `tradeOpened.tradeID` of the fill.
    pub trade_opened: Option<String>,
}

impl From<VenueReport> for Executed {
    fn from(report: VenueReport) -> Executed {
        Executed { report, trade_opened: None }
    }
}

/// An answer to a sent order, before it is read.
enum Answer {
    /// Status and parsed body.
    Got(u16, Value, Option<Duration>),
    /// No usable answer: the order may or may not have executed.
    Ambiguous(String),
}

/// Sends orders for one account and reports what became of them.
pub struct OrderClient {
    cfg: OandaConfig,
    agent: ureq::Agent,
}

fn time_ns(v: &Value) -> i64 {
    v.as_str().and_then(pinion_core::time::parse_iso).unwrap_or(0)
}

impl OrderClient {
    /// A client whose calls give up after `timeout` (then the outcome is looked up).
    pub fn new(cfg: OandaConfig, timeout: Duration) -> OrderClient {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).user_agent("pinion").build().into();
        OrderClient { cfg, agent }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let url = format!("{}{path}", self.cfg.rest_url);
        let auth = self.cfg.token.bearer();
        let sent = match body {
            Some(b) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Accept-Datetime-Format", "RFC3339")
                .header("Content-Type", "application/json")
                .send(b.to_string()),
            None if method == "GET" => {
                self.agent.get(&url).header("Authorization", &auth).header("Accept-Datetime-Format", "RFC3339").call()
            }
            None => return Answer::Ambiguous(format!("unsupported method {method}")),
        };
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return Answer::Ambiguous(self.cfg.token.redact(&e.to_string())),
        };
        let status = resp.status().as_u16();
        let after = resp
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(Duration::from_secs_f64);
        match resp.body_mut().read_to_string() {
            Ok(text) => Answer::Got(status, serde_json::from_str(&text).unwrap_or(Value::Null), after),
            Err(e) => Answer::Ambiguous(format!("reading the answer: {}", self.cfg.token.redact(&e.to_string()))),
        }
    }

    /// Sends `o` (after looking it up first when it may have been sent already) and returns the report
    /// the engine should apply. Err only when even the lookup cannot tell what happened (the order
    /// stays SUBMITTED; the caller retries the lookup later, never the send).
    pub fn execute(&self, o: &OrderToSend) -> Result<Executed, OandaError> {
        let id = client_id(o.order.book, o.order.id);
        if o.maybe_sent {
            if let Some(r) = self.lookup(o)? {
                return Ok(r);
            }
        }
        let path = format!("/v3/accounts/{}/orders", self.cfg.account_id);
        let body = order_body(o);
        let mut attempts = 0;
        loop {
            match self.call("POST", &path, Some(&body)) {
                Answer::Got(201, v, _) | Answer::Got(200, v, _) => return self.read_create(o, &v),
                // Rate limited: not executed; wait as asked and send again (the same client id).
                Answer::Got(429, _, after) if attempts < 5 => {
                    attempts += 1;
                    std::thread::sleep(after.unwrap_or(Duration::from_millis(250 * attempts)).min(Duration::from_secs(10)));
                }
                Answer::Got(status @ 400..=499, v, _) if status != 429 => {
                    let reason = v["orderRejectTransaction"]["rejectReason"]
                        .as_str()
                        .or_else(|| v["errorCode"].as_str())
                        .or_else(|| v["errorMessage"].as_str())
                        .unwrap_or("refused")
                        .to_string();
                    return Ok(VenueReport::Rejected {
                        order_id: o.order.id,
                        message: format!("OANDA {status}: {reason}"),
                        ts_ns: o.order.created_ns,
                    }
                    .into());
                }
                Answer::Got(status, _, _) => {
                    log::warn!(target: "pinion::broker", "order {id}: OANDA answered {status}; looking it up before anything else");
                    return self.resolve(o);
                }
                Answer::Ambiguous(why) => {
                    log::warn!(target: "pinion::broker", "order {id}: no answer ({why}); looking it up before anything else");
                    return self.resolve(o);
                }
            }
        }
    }

    /// After an ambiguous send: waits a moment for OANDA to finish, then looks the order up; not found
    /// means not executed (reported refused, never re-sent).
    fn resolve(&self, o: &OrderToSend) -> Result<Executed, OandaError> {
        std::thread::sleep(Duration::from_millis(500));
        match self.lookup(o)? {
            Some(r) => Ok(r),
            None => Ok(VenueReport::Rejected {
                order_id: o.order.id,
                message: "not executed: OANDA holds no order with its client id after an unanswered send (not re-sent)".into(),
                ts_ns: o.order.created_ns,
            }
            .into()),
        }
    }

    /// What OANDA knows of the order by its client id: a report, or None when it has no such order.
    pub fn lookup(&self, o: &OrderToSend) -> Result<Option<Executed>, OandaError> {
        let id = client_id(o.order.book, o.order.id);
        let what = format!("looking up order {id}");
        let path = format!("/v3/accounts/{}/orders/@{id}", self.cfg.account_id);
        let order = match self.call("GET", &path, None) {
            Answer::Got(200, v, _) => v["order"].clone(),
            Answer::Got(404, _, _) => return Ok(None),
            Answer::Got(status, v, _) => {
                return Err(OandaError::Http { what, status, message: v["errorMessage"].as_str().unwrap_or_default().to_string() })
            }
            Answer::Ambiguous(detail) => return Err(OandaError::Transport { what, detail }),
        };
        match order["state"].as_str() {
            Some("FILLED") => {
                let tx = order["fillingTransactionID"].as_str().unwrap_or_default();
                let fill = match self.call("GET", &format!("/v3/accounts/{}/transactions/{tx}", self.cfg.account_id), None) {
                    Answer::Got(200, v, _) => v["transaction"].clone(),
                    Answer::Got(status, v, _) => {
                        return Err(OandaError::Http { what, status, message: v["errorMessage"].as_str().unwrap_or_default().to_string() })
                    }
                    Answer::Ambiguous(detail) => return Err(OandaError::Transport { what, detail }),
                };
                self.fill_report(o, &fill).map(Some)
            }
            Some("CANCELLED") => Ok(Some(
                VenueReport::Rejected {
                    order_id: o.order.id,
                    message: format!("OANDA cancelled it ({})", order["cancellingTransactionID"].as_str().unwrap_or("?")),
                    ts_ns: o.order.created_ns,
                }
                .into(),
            )),
            // PENDING or TRIGGERED: a FOK market order does not stay; ask again later.
            other => Err(OandaError::Decode { what, detail: format!("order state {other:?}") }),
        }
    }

    fn read_create(&self, o: &OrderToSend, v: &Value) -> Result<Executed, OandaError> {
        if v.get("orderFillTransaction").is_some_and(Value::is_object) {
            return self.fill_report(o, &v["orderFillTransaction"]);
        }
        if let Some(c) = v.get("orderCancelTransaction").filter(|c| c.is_object()) {
            return Ok(VenueReport::Rejected {
                order_id: o.order.id,
                message: format!("OANDA cancelled it: {}", c["reason"].as_str().unwrap_or("no reason given")),
                ts_ns: time_ns(&c["time"]).max(o.order.created_ns),
            }
            .into());
        }
        // Created but neither filled nor cancelled in the answer: find out.
        self.resolve(o)
    }

    fn fill_report(&self, o: &OrderToSend, fill: &Value) -> Result<Executed, OandaError> {
        let what = format!("the fill of order {}", client_id(o.order.book, o.order.id));
        let price = fill["price"].as_str().ok_or_else(|| OandaError::Decode { what: what.clone(), detail: "no price".into() })?;
        let steps = parse_decimal(price.as_bytes(), o.price_precision)
            .map_err(|e| OandaError::Decode { what: what.clone(), detail: format!("price {price:?}: {e:?}") })?;
        Ok(Executed {
            report: VenueReport::Filled {
                order_id: o.order.id,
                price: Price(steps),
                ts_ns: time_ns(&fill["time"]).max(o.order.created_ns),
                venue_txn: fill["id"].as_str().and_then(|v| v.parse().ok()).unwrap_or(0),
            },
            trade_opened: fill["tradeOpened"]["tradeID"].as_str().map(String::from),
        })
    }
}

#[cfg(test)]
mod tests;
