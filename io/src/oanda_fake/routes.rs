//! The REST endpoints of the fake, as OANDA documents them (developer.oanda.com/rest-live-v20/:
//! account-ep, instrument-ep, order-ep, trade-ep, position-ep, transaction-ep, pricing-ep): path
//! dispatch, query validation, and the response bodies. Streams are only recognised here; `stream`
//! serves them. Errors are OANDA-style `{"errorMessage": ...}` bodies (troubleshooting-errors).

use super::candles::{self, CandleQuery};
use super::changes;
use super::dependents;
use super::fill::Outcome;
use super::http::Request;
use super::ledger::{Ledger, OrderState};
use super::orders::{self, Parsed, BAD_INSTRUMENT};
use super::shapes;
use super::shared::{Shared, State};
use pinion_core::time::parse_iso;
use serde_json::{json, Value};

/// A finished answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

/// What a request turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Routed {
    Reply(Reply),
    /// A pricing stream of these instrument indexes; `snapshot` sends their current prices first
    /// (the `snapshot` query parameter, default true).
    Pricing {
        insts: Vec<usize>,
        snapshot: bool,
    },
    /// The transaction stream.
    Transactions,
}

pub(crate) fn reply(status: u16, body: Value) -> Routed {
    Routed::Reply(Reply { status, body, headers: Vec::new() })
}

/// `{"errorMessage": msg}` with `status`.
pub(crate) fn error(status: u16, msg: &str) -> Routed {
    reply(status, json!({"errorMessage": msg}))
}

fn not_found(l: &Ledger, code: &str, msg: &str) -> Routed {
    reply(404, json!({"errorCode": code, "errorMessage": msg, "lastTransactionID": l.last_id().to_string()}))
}

fn method_not_allowed() -> Routed {
    error(405, "The requested method is not allowed for this resource")
}

/// Routes one authorised request.
pub(crate) fn route(sh: &Shared, req: &Request) -> Routed {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let get = req.method == "GET";
    match segs.as_slice() {
        ["v3", "accounts"] if get => reply(200, json!({"accounts": [{"id": sh.cfg.account_id, "tags": []}]})),
        ["v3", "instruments", inst, "candles"] if get => candles(sh, req, inst),
        ["v3", "accounts", id, rest @ ..] if *id == sh.cfg.account_id => account_route(sh, req, rest),
        ["v3", "accounts", _, ..] => error(403, "The provided request was forbidden."),
        ["v3", "accounts"] | ["v3", "instruments", _, "candles"] => method_not_allowed(),
        _ => error(404, "The requested resource could not be found"),
    }
}

fn account_route(sh: &Shared, req: &Request, rest: &[&str]) -> Routed {
    let m = req.method.as_str();
    let st = || sh.state();
    let last = |l: &Ledger| l.last_id().to_string();
    match (m, rest) {
        ("GET", []) => full_account(&st()),
        ("GET", ["summary"]) => {
            let s = st();
            reply(200, json!({"account": shapes::summary(&s.ledger, &s.market), "lastTransactionID": last(&s.ledger)}))
        }
        ("GET", ["instruments"]) => {
            let wanted: Option<Vec<&str>> = req.query("instruments").map(|q| q.split(',').collect());
            let list: Vec<Value> = sh
                .cfg
                .instruments
                .iter()
                .filter(|i| wanted.as_ref().is_none_or(|w| w.contains(&i.name.as_str())))
                .map(shapes::instrument)
                .collect();
            reply(200, json!({"instruments": list, "lastTransactionID": last(&st().ledger)}))
        }
        ("GET", ["instruments", inst, "candles"]) => candles(sh, req, inst),
        ("GET", ["pricing"]) => match instruments_param(sh, req) {
            Ok(list) => {
                let s = st();
                let prices: Vec<Value> = list
                    .iter()
                    .filter_map(|&i| s.market.latest(i).map(|q| shapes::client_price(&sh.cfg.instruments[i], q, sh.cfg.liquidity)))
                    .collect();
                reply(200, json!({"prices": prices, "time": shapes::time(s.market.now_ns())}))
            }
            Err(e) => e,
        },
        ("GET", ["pricing", "stream"]) => match instruments_param(sh, req) {
            Ok(insts) => Routed::Pricing { insts, snapshot: req.query("snapshot") != Some("false") },
            Err(e) => e,
        },
        ("GET", ["transactions", "stream"]) => Routed::Transactions,
        ("GET", ["openTrades"]) => trades_list(&st(), req, true),
        ("GET", ["trades"]) => trades_list(&st(), req, false),
        ("GET", ["trades", spec]) => {
            let s = st();
            match s.ledger.find_trade(spec).and_then(|id| s.ledger.trades.get(&id)) {
                Some(t) => reply(200, json!({"trade": shapes::trade(&s.ledger, &s.market, t), "lastTransactionID": last(&s.ledger)})),
                None => not_found(&s.ledger, "NO_SUCH_TRADE", "The Trade ID specified does not exist"),
            }
        }
        ("PUT", ["trades", spec, "close"]) => close_trade(sh, req, spec),
        ("PUT", ["trades", spec, "orders"]) => dependents::set_dependent_orders(sh, req, spec),
        ("GET", ["openPositions"]) => {
            let s = st();
            let list: Vec<Value> = s.ledger.open_instruments().into_iter().map(|i| shapes::position(&s.ledger, &s.market, i)).collect();
            reply(200, json!({"positions": list, "lastTransactionID": last(&s.ledger)}))
        }
        ("GET", ["positions"]) => {
            let s = st();
            let mut insts: Vec<usize> = s.ledger.trades.values().map(|t| t.inst).collect();
            insts.sort_unstable();
            insts.dedup();
            let list: Vec<Value> = insts.into_iter().map(|i| shapes::position(&s.ledger, &s.market, i)).collect();
            reply(200, json!({"positions": list, "lastTransactionID": last(&s.ledger)}))
        }
        ("GET", ["positions", inst]) => match sh.cfg.instruments.iter().position(|i| i.name == *inst) {
            Some(i) => {
                let s = st();
                reply(200, json!({"position": shapes::position(&s.ledger, &s.market, i), "lastTransactionID": last(&s.ledger)}))
            }
            None => error(400, BAD_INSTRUMENT),
        },
        ("GET", ["pendingOrders"]) => {
            let s = st();
            let list: Vec<Value> = s.ledger.pending_orders().rev().map(|o| shapes::order(&s.ledger, o)).collect();
            reply(200, json!({"orders": list, "lastTransactionID": last(&s.ledger)}))
        }
        ("GET", ["orders"]) => orders_list(&st(), req),
        ("POST", ["orders"]) => create_order(sh, req),
        ("GET", ["orders", spec]) => {
            let s = st();
            match s.ledger.find_order(spec) {
                Some(o) => reply(200, json!({"order": shapes::order(&s.ledger, o), "lastTransactionID": last(&s.ledger)})),
                None => not_found(&s.ledger, "NO_SUCH_ORDER", "The order ID specified does not exist"),
            }
        }
        ("PUT", ["orders", spec, "cancel"]) => cancel_order(sh, spec),
        ("GET", ["transactions", "sinceid"]) => {
            let s = st();
            match req.query("id").and_then(|v| v.parse::<u64>().ok()) {
                Some(id) => reply(
                    200,
                    json!({"transactions": s.ledger.txns_between(id + 1, s.ledger.last_id()), "lastTransactionID": last(&s.ledger)}),
                ),
                None => error(400, "Invalid value specified for 'id'"),
            }
        }
        ("GET", ["transactions", "idrange"]) => {
            let s = st();
            let num = |k: &str| req.query(k).and_then(|v| v.parse::<u64>().ok());
            match (num("from"), num("to")) {
                (Some(a), Some(b)) if a <= b => {
                    reply(200, json!({"transactions": s.ledger.txns_between(a, b), "lastTransactionID": last(&s.ledger)}))
                }
                _ => error(400, "Invalid value specified for 'from' or 'to'"),
            }
        }
        ("GET", ["transactions", id]) => {
            let s = st();
            match id.parse::<u64>().ok().and_then(|i| s.ledger.txn(i)) {
                Some(t) => reply(200, json!({"transaction": t, "lastTransactionID": last(&s.ledger)})),
                None => not_found(&s.ledger, "NO_SUCH_TRANSACTION", "The Transaction ID specified does not exist"),
            }
        }
        ("GET", ["changes"]) => match req.query("sinceTransactionID").and_then(|v| v.parse::<u64>().ok()) {
            Some(since) => {
                let s = st();
                reply(200, changes::changes(&s.ledger, &s.market, since))
            }
            None => error(400, "Invalid value specified for 'sinceTransactionID'"),
        },
        (_, rest) if is_known(rest) => method_not_allowed(),
        _ => error(404, "The requested resource could not be found"),
    }
}

/// Whether `rest` names an endpoint (with some other method).
fn is_known(rest: &[&str]) -> bool {
    matches!(
        rest,
        [] | ["summary"
            | "instruments"
            | "pricing"
            | "openTrades"
            | "trades"
            | "openPositions"
            | "positions"
            | "pendingOrders"
            | "orders"
            | "changes"]
            | ["pricing" | "transactions", "stream"]
            | ["trades" | "orders" | "positions" | "transactions", _]
            | ["trades", _, "close" | "orders"]
            | ["orders", _, "cancel"]
            | ["instruments", _, "candles"]
    )
}

/// The `instruments` query parameter as instrument indexes (pricing-ep).
fn instruments_param(sh: &Shared, req: &Request) -> Result<Vec<usize>, Routed> {
    let Some(q) = req.query("instruments").filter(|q| !q.trim().is_empty()) else {
        return Err(error(400, "The request was missing required data"));
    };
    let mut out = Vec::new();
    for name in q.split(',').map(str::trim) {
        match sh.cfg.instruments.iter().position(|i| i.name == name) {
            Some(i) if !out.contains(&i) => out.push(i),
            Some(_) => {}
            None => return Err(error(400, "Invalid value specified for 'instruments'")),
        }
    }
    Ok(out)
}

fn full_account(s: &State) -> Routed {
    let (l, m) = (&s.ledger, &s.market);
    let mut acct = shapes::summary(l, m);
    let trades: Vec<Value> = l.open_trades().map(|t| trade_summary(shapes::trade(l, m, t))).collect();
    acct["trades"] = json!(trades);
    acct["positions"] = json!(l.open_instruments().into_iter().map(|i| shapes::position(l, m, i)).collect::<Vec<_>>());
    acct["orders"] = json!(l.pending_orders().map(|o| shapes::order(l, o)).collect::<Vec<_>>());
    reply(200, json!({"account": acct, "lastTransactionID": l.last_id().to_string()}))
}

/// TradeSummary (trade-df): a Trade whose dependent orders are given by id.
fn trade_summary(mut t: Value) -> Value {
    if let Some(o) = t.as_object_mut() {
        for (full, id) in [("takeProfitOrder", "takeProfitOrderID"), ("stopLossOrder", "stopLossOrderID")] {
            if let Some(order) = o.remove(full) {
                o.insert(id.into(), order["id"].clone());
            }
        }
    }
    t
}

fn trades_list(s: &State, req: &Request, open_only: bool) -> Routed {
    let l = &s.ledger;
    let state = if open_only { "OPEN" } else { req.query("state").unwrap_or("OPEN") };
    let ids: Option<Vec<&str>> = req.query("ids").map(|v| v.split(',').collect());
    let count = req.query("count").and_then(|c| c.parse::<usize>().ok()).unwrap_or(if open_only { usize::MAX } else { 50 }).min(500);
    let before = req.query("beforeID").and_then(|b| b.parse::<u64>().ok()).unwrap_or(u64::MAX);
    let list: Vec<Value> = l
        .trades
        .values()
        .rev()
        .filter(|t| t.id <= before)
        .filter(|t| match state {
            "OPEN" => t.is_open(),
            "CLOSED" => !t.is_open(),
            _ => true,
        })
        .filter(|t| req.query("instrument").is_none_or(|i| l.insts[t.inst].name == i))
        .filter(|t| ids.as_ref().is_none_or(|ids| ids.contains(&t.id.to_string().as_str())))
        .take(count)
        .map(|t| shapes::trade(l, &s.market, t))
        .collect();
    reply(200, json!({"trades": list, "lastTransactionID": l.last_id().to_string()}))
}

fn orders_list(s: &State, req: &Request) -> Routed {
    let l = &s.ledger;
    let state = req.query("state").unwrap_or("PENDING");
    let count = req.query("count").and_then(|c| c.parse::<usize>().ok()).unwrap_or(50).min(500);
    let list: Vec<Value> = l
        .orders
        .values()
        .rev()
        .filter(|o| match state {
            "PENDING" => o.state == OrderState::Pending,
            "FILLED" => o.state == OrderState::Filled,
            "CANCELLED" => o.state == OrderState::Cancelled,
            "TRIGGERED" => false,
            _ => true,
        })
        .take(count)
        .map(|o| shapes::order(l, o))
        .collect();
    reply(200, json!({"orders": list, "lastTransactionID": l.last_id().to_string()}))
}

/// The body OANDA answers an order request with (order-ep, "Create Order"; trade-ep, "Close Trade").
fn outcome_reply(l: &Ledger, o: &Outcome, ok: u16) -> Routed {
    let last = l.last_id().to_string();
    let ids = |v: &[u64]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match o {
        Outcome::Filled { create, fill, related } => reply(
            ok,
            json!({"orderCreateTransaction": l.txn(*create), "orderFillTransaction": l.txn(*fill), "relatedTransactionIDs": ids(related), "lastTransactionID": last}),
        ),
        Outcome::Cancelled { create, cancel, related } => reply(
            ok,
            json!({"orderCreateTransaction": l.txn(*create), "orderCancelTransaction": l.txn(*cancel), "relatedTransactionIDs": ids(related), "lastTransactionID": last}),
        ),
        Outcome::Rejected { reject, code, message } => reply(
            400,
            json!({"orderRejectTransaction": l.txn(*reject), "relatedTransactionIDs": ids(&[*reject]), "lastTransactionID": last, "errorCode": code, "errorMessage": message}),
        ),
    }
}

fn create_order(sh: &Shared, req: &Request) -> Routed {
    match orders::parse_order(&req.body, &sh.cfg.instruments) {
        Parsed::Bad(msg) => error(400, &msg),
        Parsed::Reject { fields, reason, message } => sh.state().mutate(|_, l, now| {
            let o = l.reject(now, fields, reason, message);
            outcome_reply(l, &o, 201)
        }),
        Parsed::Market(spec) => sh.state().mutate(|m, l, now| {
            let o = l.submit_market(m, now, *spec, "CLIENT_ORDER");
            outcome_reply(l, &o, 201)
        }),
    }
}

fn close_trade(sh: &Shared, req: &Request, spec: &str) -> Routed {
    sh.state().mutate(|m, l, now| {
        let Some(t) = l.find_trade(spec).and_then(|id| l.trades.get(&id)).filter(|t| t.is_open()) else {
            return not_found(l, "NO_SUCH_TRADE", "The Trade ID specified does not exist");
        };
        let (id, uprec) = (t.id, l.insts[t.inst].trade_units_precision);
        match orders::parse_close(&req.body, uprec) {
            Ok((units, text)) => {
                let o = l.close_trade(m, now, id, units, &text);
                outcome_reply(l, &o, 200)
            }
            Err(msg) => error(400, &msg),
        }
    })
}

fn cancel_order(sh: &Shared, spec: &str) -> Routed {
    sh.state().mutate(|_, l, now| {
        let Some(id) = l.find_order(spec).filter(|o| o.state == OrderState::Pending).map(|o| o.id) else {
            return not_found(l, "NO_SUCH_ORDER", "The order ID specified does not exist");
        };
        let batch = l.next_id();
        let cancel = l.cancel_order(batch, now, id, "CLIENT_REQUEST").unwrap_or(0);
        reply(
            200,
            json!({"orderCancelTransaction": l.txn(cancel), "relatedTransactionIDs": [cancel.to_string()], "lastTransactionID": l.last_id().to_string()}),
        )
    })
}

fn candles(sh: &Shared, req: &Request, inst: &str) -> Routed {
    let Some(i) = sh.cfg.instruments.iter().position(|x| x.name == inst) else { return error(400, BAD_INSTRUMENT) };
    let granularity = req.query("granularity").unwrap_or("S5");
    let Some(secs) = candles::granularity_secs(granularity) else { return error(400, "Invalid value specified for 'granularity'") };
    let count = match req.query("count").map(|c| c.parse::<usize>()) {
        None => candles::DEFAULT_COUNT,
        Some(Ok(c)) if (1..=candles::MAX_COUNT).contains(&c) => c,
        Some(_) => return error(400, "Invalid value specified for 'count'"),
    };
    let price = req.query("price").unwrap_or("M");
    if price.is_empty() || !price.chars().all(|c| "MBA".contains(c)) {
        return error(400, "Invalid value specified for 'price'");
    }
    let time = |k: &'static str| req.query(k).map(|v| parse_iso(v).ok_or(k));
    let (from, to) = match (time("from").transpose(), time("to").transpose()) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(k), _) | (_, Err(k)) => return error(400, &format!("Invalid value specified for '{k}'")),
    };
    let s = sh.state();
    let q = CandleQuery { period_ns: secs * 1_000_000_000, count, from, to };
    let list = candles::candles(s.market.history(i), q, s.market.now_ns(), sh.cfg.instruments[i].display_precision, price);
    reply(200, json!({"instrument": inst, "granularity": granularity, "candles": list}))
}
