//! `GET /v3/accounts/{id}/changes?sinceTransactionID=N` (account-ep, "Poll Account Updates"):
//! what changed after transaction N (account-df, AccountChanges) and the price-dependent state now
//! (account-df, AccountChangesState; trade-df, CalculatedTradeState; position-df,
//! CalculatedPositionState), derived from the fake's books.

use super::ledger::{Ledger, OrderState, Trade};
use super::market::Market;
use super::money::fmt_money;
use super::shapes;
use serde_json::{json, Value};

/// The response body for `since`.
pub(crate) fn changes(l: &Ledger, m: &Market, since: u64) -> Value {
    let order = |o| shapes::order(l, o);
    let created: Vec<Value> = l.orders.values().filter(|o| o.id > since).map(order).collect();
    let filled: Vec<Value> = l.orders.values().filter(|o| o.filling_txn.is_some_and(|f| f > since)).map(order).collect();
    let cancelled: Vec<Value> =
        l.orders.values().filter(|o| o.state == OrderState::Cancelled && o.cancelling_txn.is_some_and(|c| c > since)).map(order).collect();
    let trade = |t: &Trade| shapes::trade(l, m, t);
    let opened: Vec<Value> = l.trades.values().filter(|t| t.id > since).map(trade).collect();
    let touched = |t: &&Trade| t.closing_txns.iter().any(|&c| c > since);
    let reduced: Vec<Value> = l.trades.values().filter(|t| t.is_open()).filter(touched).map(trade).collect();
    let closed: Vec<Value> = l.trades.values().filter(|t| !t.is_open()).filter(touched).map(trade).collect();
    let mut insts: Vec<usize> = l.trades.values().filter(|t| t.id > since || touched(t)).map(|t| t.inst).collect();
    insts.sort_unstable();
    insts.dedup();
    let positions: Vec<Value> = insts.iter().map(|&i| shapes::position(l, m, i)).collect();
    json!({
        "changes": {
            "ordersCreated": created,
            "ordersCancelled": cancelled,
            "ordersFilled": filled,
            "ordersTriggered": [],
            "tradesOpened": opened,
            "tradesReduced": reduced,
            "tradesClosed": closed,
            "positions": positions,
            "transactions": l.txns_between(since + 1, l.last_id()),
        },
        "state": state(l, m),
        "lastTransactionID": l.last_id().to_string(),
    })
}

fn state(l: &Ledger, m: &Market) -> Value {
    let summary = shapes::summary(l, m);
    let mut s = serde_json::Map::new();
    for k in [
        "unrealizedPL",
        "NAV",
        "marginUsed",
        "marginAvailable",
        "positionValue",
        "marginCloseoutUnrealizedPL",
        "marginCloseoutNAV",
        "marginCloseoutMarginUsed",
        "marginCloseoutPercent",
        "marginCloseoutPositionValue",
        "withdrawalLimit",
        "marginCallMarginUsed",
        "marginCallPercent",
    ] {
        s.insert(k.into(), summary[k].clone());
    }
    let trades: Vec<Value> = l
        .open_trades()
        .map(|t| {
            let live = l.live(m, t);
            json!({"id": t.id.to_string(), "unrealizedPL": fmt_money(live.unrealized_pl), "marginUsed": fmt_money(live.margin_used)})
        })
        .collect();
    let positions: Vec<Value> = l
        .open_instruments()
        .into_iter()
        .map(|i| {
            let side = |long: bool| {
                l.open_trades()
                    .filter(|t| t.inst == i && (t.current_units > 0) == long)
                    .map(|t| l.live(m, t))
                    .fold((0, 0), |a, x| (a.0 + x.unrealized_pl, a.1 + x.margin_used))
            };
            let (lu, lm) = side(true);
            let (su, sm) = side(false);
            json!({
                "instrument": l.insts[i].name,
                "netUnrealizedPL": fmt_money(lu + su),
                "longUnrealizedPL": fmt_money(lu),
                "shortUnrealizedPL": fmt_money(su),
                "marginUsed": fmt_money(lm + sm),
            })
        })
        .collect();
    s.insert("orders".into(), json!([]));
    s.insert("trades".into(), json!(trades));
    s.insert("positions".into(), json!(positions));
    Value::Object(s)
}
