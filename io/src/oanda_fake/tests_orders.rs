//! Tests of order execution over real TCP: a market order fills at the ask with OANDA's
//! transactions and exact account figures, stop-loss / take-profit orders trigger from replayed
//! prices (transaction stream and `sinceid`), duplicate client ids are rejected, FIFO netting,
//! trade closes, cancels on fill and home-currency conversion.

use super::fill::REJECT_DUPLICATE;
use super::tests::{config, market, start, ACCOUNT, T0};
use super::*;
use pinion_core::fixed::{Money, Price};
use serde_json::json;

const MS: i64 = 1_000_000;

#[test]
fn market_order_fills_at_the_ask_with_exact_transactions_and_account() {
    let (fake, c) = start(config(vec![]));
    let r = c.post(&c.acct("/orders"), &market("EUR_USD", 10_000, Some("c1"), Some("1.10000"), Some("1.10500")));
    assert_eq!(r.status, 201, "{}", r.body);
    let b = &r.body;
    assert_eq!(b["relatedTransactionIDs"], json!(["3", "4", "5", "6"]));
    assert_eq!(b["lastTransactionID"], "6");
    let create = &b["orderCreateTransaction"];
    assert_eq!(
        (create["type"].as_str(), create["id"].as_str(), create["reason"].as_str()),
        (Some("MARKET_ORDER"), Some("3"), Some("CLIENT_ORDER"))
    );
    assert_eq!((create["clientExtensions"]["id"].as_str(), create["accountID"].as_str()), (Some("c1"), Some(ACCOUNT)));
    assert_eq!(create["stopLossOnFill"]["price"], "1.10000");
    assert_eq!(create["time"], "2020-01-30T15:27:51.438000000Z");
    let fill = &b["orderFillTransaction"];
    for (k, v) in [
        ("type", "ORDER_FILL"),
        ("id", "4"),
        ("batchID", "3"),
        ("orderID", "3"),
        ("clientOrderID", "c1"),
        ("instrument", "EUR_USD"),
        ("units", "10000"),
        ("price", "1.10236"),
        ("fullVWAP", "1.10236"),
        ("reason", "MARKET_ORDER"),
        ("pl", "0.0000"),
        ("financing", "0.0000"),
        ("commission", "0.0000"),
        ("accountBalance", "100000.0000"),
        ("halfSpreadCost", "0.1000"),
        ("gainQuoteHomeConversionFactor", "1"),
    ] {
        assert_eq!(fill[k], v, "{k} in {fill}");
    }
    assert_eq!(fill["fullPrice"]["asks"][0]["price"], "1.10236");
    assert_eq!(
        fill["tradeOpened"],
        json!({"tradeID": "4", "units": "10000", "price": "1.10236", "guaranteedExecutionFee": "0.0000", "halfSpreadCost": "0.1000", "initialMarginRequired": "367.0800"})
    );
    let tx = fake.transactions();
    assert_eq!(
        (tx[4]["type"].as_str(), tx[4]["price"].as_str(), tx[4]["reason"].as_str()),
        (Some("TAKE_PROFIT_ORDER"), Some("1.10500"), Some("ON_FILL"))
    );
    assert_eq!(
        (tx[5]["type"].as_str(), tx[5]["tradeID"].as_str(), tx[5]["orderFillTransactionID"].as_str()),
        (Some("STOP_LOSS_ORDER"), Some("4"), Some("4"))
    );

    // Exact account: 10,000 × (1.10234 − 1.10236) = −0.20; margin 10,000 × 1.10235 × 0.0333 = 367.08.
    let a = fake.account();
    assert_eq!((a.balance, a.unrealized_pl, a.nav, a.margin_used), (Money(10_000_000), Money(-20), Money(9_999_980), Money(36_708)));
    assert_eq!((a.margin_available, a.open_trade_count, a.last_transaction_id), (Money(9_963_272), 1, 6));
    let t = &a.trades[0];
    assert_eq!((t.id, t.units, t.price, t.price_text.as_str()), (4, 10_000, Price(110_236), "1.10236"));
    assert_eq!(
        (t.stop_loss, t.take_profit, t.stop_loss_order_id, t.client_extensions.clone()),
        (Some(Price(110_000)), Some(Price(110_500)), Some(6), None)
    );
    assert_eq!(a.pending_orders.iter().map(|o| (o.id, o.kind)).collect::<Vec<_>>(), vec![(5, "TAKE_PROFIT"), (6, "STOP_LOSS")]);
    let s = c.get(&c.acct("/summary")).body;
    let acct = &s["account"];
    for (k, v) in [
        ("balance", "100000.0000"),
        ("unrealizedPL", "-0.2000"),
        ("NAV", "99999.8000"),
        ("marginUsed", "367.0800"),
        ("marginAvailable", "99632.7200"),
        ("positionValue", "11023.5000"),
        ("marginCallPercent", "0.00367"),
        ("lastTransactionID", "6"),
    ] {
        assert_eq!(acct[k], v, "{k}");
    }
    assert_eq!(
        (acct["openTradeCount"].as_u64(), acct["pendingOrderCount"].as_u64(), acct["openPositionCount"].as_u64()),
        (Some(1), Some(2), Some(1))
    );

    let o = c.get(&c.acct("/orders/@c1")).body["order"].clone();
    assert_eq!((o["id"].as_str(), o["type"].as_str(), o["state"].as_str()), (Some("3"), Some("MARKET"), Some("FILLED")));
    assert_eq!((o["fillingTransactionID"].as_str(), o["tradeOpenedID"].as_str()), (Some("4"), Some("4")));
    let tp = c.get(&c.acct("/orders/5")).body["order"].clone();
    assert_eq!(
        (tp["type"].as_str(), tp["state"].as_str(), tp["tradeID"].as_str(), tp["price"].as_str()),
        (Some("TAKE_PROFIT"), Some("PENDING"), Some("4"), Some("1.10500"))
    );
    let tr = c.get(&c.acct("/openTrades")).body["trades"][0].clone();
    assert_eq!((tr["id"].as_str(), tr["currentUnits"].as_str(), tr["state"].as_str()), (Some("4"), Some("10000"), Some("OPEN")));
    assert_eq!((tr["unrealizedPL"].as_str(), tr["marginUsed"].as_str()), (Some("-0.2000"), Some("367.0800")));
    assert_eq!((tr["takeProfitOrder"]["price"].as_str(), tr["stopLossOrder"]["id"].as_str()), (Some("1.10500"), Some("6")));
    let pos = c.get(&c.acct("/openPositions")).body["positions"][0].clone();
    assert_eq!(
        (pos["long"]["units"].as_str(), pos["long"]["averagePrice"].as_str(), pos["short"]["units"].as_str()),
        (Some("10000"), Some("1.10236"), Some("0"))
    );
    assert_eq!((pos["long"]["tradeIDs"].clone(), pos["unrealizedPL"].as_str()), (json!(["4"]), Some("-0.2000")));
    let pending = c.get(&c.acct("/pendingOrders")).body["orders"].clone();
    assert_eq!((pending[0]["id"].as_str(), pending[1]["id"].as_str()), (Some("6"), Some("5")));
    let ch = c.get(&c.acct("/changes?sinceTransactionID=2")).body;
    assert_eq!((ch["changes"]["tradesOpened"][0]["id"].as_str(), ch["state"]["NAV"].as_str()), (Some("4"), Some("99999.8000")));
    assert_eq!(ch["changes"]["transactions"].as_array().map(Vec::len), Some(4));
    assert_eq!(fake.orders_received("c1"), 1);
}

#[test]
fn stop_loss_triggers_from_prices_on_the_stream_and_in_sinceid() {
    let more =
        vec![FakeTick::new("EUR_USD", T0 + 1_000 * MS, 110_100, 110_102), FakeTick::new("EUR_USD", T0 + 2_000 * MS, 109_990, 109_992)];
    let (fake, c) = start(config(more));
    assert_eq!(c.post(&c.acct("/orders"), &market("EUR_USD", 10_000, Some("c1"), Some("1.10000"), Some("1.10500"))).status, 201);
    let mut stream = c.stream(&c.acct("/transactions/stream")).unwrap();
    assert_eq!(fake.advance(1), 1);
    assert_eq!(fake.account().unrealized_pl, Money(-1_360));
    assert_eq!(fake.advance(5), 1);
    let fill = stream.next_of("ORDER_FILL", 20).unwrap();
    for (k, v) in [
        ("id", "7"),
        ("batchID", "7"),
        ("orderID", "6"),
        ("reason", "STOP_LOSS_ORDER"),
        ("units", "-10000"),
        ("price", "1.09990"),
        ("pl", "-24.6000"),
        ("accountBalance", "99975.4000"),
    ] {
        assert_eq!(fill[k], v, "{k} in {fill}");
    }
    assert_eq!(fill["tradesClosed"][0]["tradeID"], "4");
    assert_eq!(
        (fill["tradesClosed"][0]["units"].as_str(), fill["tradesClosed"][0]["realizedPL"].as_str()),
        (Some("-10000"), Some("-24.6000"))
    );
    assert_eq!(fill["time"], "2020-01-30T15:27:53.438000000Z");
    let cancel = stream.next_of("ORDER_CANCEL", 20).unwrap();
    assert_eq!(
        (cancel["id"].as_str(), cancel["orderID"].as_str(), cancel["reason"].as_str()),
        (Some("8"), Some("5"), Some("LINKED_TRADE_CLOSED"))
    );
    let beat = stream.next_of("HEARTBEAT", 20).unwrap();
    assert_eq!(beat["lastTransactionID"], "8");

    let since = c.get(&c.acct("/transactions/sinceid?id=6")).body;
    let ids: Vec<&str> = since["transactions"].as_array().unwrap().iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!((ids, since["lastTransactionID"].as_str()), (vec!["7", "8"], Some("8")));
    assert_eq!(since["transactions"][0], fill);
    let a = fake.account();
    assert_eq!((a.balance, a.pl, a.open_trade_count, a.pending_orders.len()), (Money(9_997_540), Money(-2_460), 0, 0));
    assert_eq!(a.closed_trades[0].realized_pl, Money(-2_460));
    let t = c.get(&c.acct("/trades/4")).body["trade"].clone();
    assert_eq!(
        (t["state"].as_str(), t["averageClosePrice"].as_str(), t["realizedPL"].as_str()),
        (Some("CLOSED"), Some("1.09990"), Some("-24.6000"))
    );
    assert_eq!((t["closingTransactionIDs"].clone(), t["closeTime"].as_str()), (json!(["7"]), Some("2020-01-30T15:27:53.438000000Z")));
    let sl = c.get(&c.acct("/orders/6")).body["order"].clone();
    assert_eq!(
        (sl["state"].as_str(), sl["fillingTransactionID"].as_str(), sl["tradeClosedIDs"].clone()),
        (Some("FILLED"), Some("7"), json!(["4"]))
    );
    assert_eq!(c.get(&c.acct("/orders/5")).body["order"]["cancellingTransactionID"], "8");
    let pos = c.get(&c.acct("/positions/EUR_USD")).body["position"].clone();
    assert_eq!(
        (pos["pl"].as_str(), pos["long"]["pl"].as_str(), pos["long"]["units"].as_str()),
        (Some("-24.6000"), Some("-24.6000"), Some("0"))
    );
}

#[test]
fn take_profit_on_a_short_triggers_at_the_ask() {
    let (fake, c) = start(config(vec![FakeTick::new("EUR_USD", T0 + MS, 109_993, 109_995)]));
    let r = c.post(&c.acct("/orders"), &market("EUR_USD", -1_000, Some("s1"), None, Some("1.10000")));
    assert_eq!(
        (r.body["orderFillTransaction"]["price"].as_str(), r.body["orderFillTransaction"]["tradeOpened"]["units"].as_str()),
        (Some("1.10234"), Some("-1000"))
    );
    assert_eq!(fake.account().trades[0].take_profit, Some(Price(110_000)));
    fake.advance(1);
    let tx = fake.transactions();
    let fill = tx.last().unwrap();
    assert_eq!(
        (fill["reason"].as_str(), fill["units"].as_str(), fill["price"].as_str(), fill["pl"].as_str()),
        (Some("TAKE_PROFIT_ORDER"), Some("1000"), Some("1.09995"), Some("2.3900"))
    );
    assert_eq!(fake.account().balance, Money(10_000_239));
}

#[test]
fn duplicate_client_order_id_is_rejected() {
    let (fake, c) = start(config(vec![]));
    assert_eq!(c.post(&c.acct("/orders"), &market("EUR_USD", 100, Some("dup"), None, None)).status, 201);
    let r = c.post(&c.acct("/orders"), &market("EUR_USD", 100, Some("dup"), None, None));
    assert_eq!(r.status, 400);
    assert_eq!(
        (r.body["errorCode"].as_str(), r.body["errorMessage"].as_str()),
        (Some("CLIENT_ORDER_ID_ALREADY_EXISTS"), Some(REJECT_DUPLICATE))
    );
    let rej = &r.body["orderRejectTransaction"];
    assert_eq!(
        (rej["type"].as_str(), rej["rejectReason"].as_str(), rej["id"].as_str()),
        (Some("MARKET_ORDER_REJECT"), Some("CLIENT_ORDER_ID_ALREADY_EXISTS"), Some("5"))
    );
    assert_eq!((rej["clientExtensions"]["id"].as_str(), rej["units"].as_str()), (Some("dup"), Some("100")));
    assert_eq!((r.body["relatedTransactionIDs"].clone(), r.body["lastTransactionID"].as_str()), (json!(["5"]), Some("5")));
    assert_eq!((fake.account().open_trade_count, fake.orders_received("dup")), (1, 2));

    let mut cfg = config(vec![]);
    cfg.duplicate_client_ids = DuplicateScope::PendingOnly;
    let (fake, c) = start(cfg);
    for _ in 0..2 {
        assert_eq!(c.post(&c.acct("/orders"), &market("EUR_USD", 100, Some("dup"), None, None)).status, 201);
    }
    assert_eq!(fake.account().open_trade_count, 2);
}

#[test]
fn opposite_orders_reduce_and_close_trades_fifo() {
    let (fake, c) = start(config(vec![]));
    let post = |units| c.post(&c.acct("/orders"), &market("EUR_USD", units, None, None, None)).body["orderFillTransaction"].clone();
    post(1_000);
    post(2_000);
    let f = post(-2_500);
    // Each unit bought at 1.10236 and sold at 1.10234 loses 0.00002.
    assert_eq!(
        f["tradesClosed"],
        json!([{"tradeID": "4", "units": "-1000", "price": "1.10234", "realizedPL": "-0.0200", "financing": "0.0000", "guaranteedExecutionFee": "0.0000", "halfSpreadCost": "0.0100"}])
    );
    assert_eq!(
        (f["tradeReduced"]["tradeID"].as_str(), f["tradeReduced"]["units"].as_str(), f["tradeReduced"]["realizedPL"].as_str()),
        (Some("6"), Some("-1500"), Some("-0.0300"))
    );
    assert_eq!((f["pl"].as_str(), f["accountBalance"].as_str(), f.get("tradeOpened")), (Some("-0.0500"), Some("99999.9500"), None));
    let f = post(-1_000);
    assert_eq!((f["tradesClosed"][0]["tradeID"].as_str(), f["tradesClosed"][0]["units"].as_str()), (Some("6"), Some("-500")));
    assert_eq!(
        (f["tradeOpened"]["tradeID"].as_str(), f["tradeOpened"]["units"].as_str(), f["accountBalance"].as_str()),
        (Some("10"), Some("-500"), Some("99999.9400"))
    );
    let a = fake.account();
    assert_eq!((a.balance, a.trades.len(), a.trades[0].id, a.trades[0].units), (Money(9_999_994), 1, 10, -500));
    assert_eq!((a.positions[0].long_units, a.positions[0].short_units, a.closed_trades.len()), (0, -500, 2));
}

#[test]
fn trades_close_partially_then_fully() {
    let (fake, c) = start(config(vec![]));
    let mut body = market("EUR_USD", 1_000, Some("k1"), Some("1.10000"), None);
    body["order"]["tradeClientExtensions"] = json!({"id": "t1", "tag": "pinion"});
    assert_eq!(c.post(&c.acct("/orders"), &body).status, 201);
    let t = c.get(&c.acct("/trades/@t1")).body["trade"].clone();
    assert_eq!(
        (t["id"].as_str(), t["clientExtensions"]["tag"].as_str(), t["stopLossOrder"]["clientTradeID"].as_str()),
        (Some("4"), Some("pinion"), Some("t1"))
    );
    let r = c.put(&c.acct("/trades/4/close"), &json!({"units": "400"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let create = &r.body["orderCreateTransaction"];
    assert_eq!(
        (create["type"].as_str(), create["reason"].as_str(), create["units"].as_str()),
        (Some("MARKET_ORDER"), Some("TRADE_CLOSE"), Some("-400"))
    );
    assert_eq!(create["tradeClose"], json!({"tradeID": "4", "units": "400"}));
    let fill = &r.body["orderFillTransaction"];
    // 400 × −0.00002 = −0.008, rounded half away from zero to −0.01.
    assert_eq!(
        (fill["reason"].as_str(), fill["tradeReduced"]["units"].as_str(), fill["pl"].as_str()),
        (Some("MARKET_ORDER_TRADE_CLOSE"), Some("-400"), Some("-0.0100"))
    );
    let r = c.put(&c.acct("/trades/@t1/close"), &json!({"units": "ALL"}));
    assert_eq!(r.body["relatedTransactionIDs"], json!(["8", "9", "10"]));
    assert_eq!(r.body["orderFillTransaction"]["tradesClosed"][0]["units"], "-600");
    assert_eq!(fake.transactions()[9]["reason"], "LINKED_TRADE_CLOSED");
    assert_eq!((fake.account().balance, fake.account().open_trade_count), (Money(9_999_998), 0));
    assert_eq!(c.put(&c.acct("/trades/4/close"), &json!({})).body["errorCode"], "NO_SUCH_TRADE");
    c.post(&c.acct("/orders"), &market("EUR_USD", 1_000, None, None, None));
    let too_many = c.put(&c.acct("/trades/12/close"), &json!({"units": "5000"}));
    assert_eq!((too_many.status, too_many.body["errorCode"].as_str()), (400, Some("CLOSE_TRADE_UNITS_EXCEED_TRADE_SIZE")));
    assert_eq!(c.put(&c.acct("/trades/12/close"), &json!({"units": "abc"})).status, 400);
}

#[test]
fn orders_cancelled_on_fill_and_rejected_requests() {
    let (fake, c) = start(config(vec![]));
    let mut bound = market("EUR_USD", 1_000, Some("b1"), None, None);
    bound["order"]["priceBound"] = json!("1.10235");
    let cases = [
        (bound, "BOUNDS_VIOLATION"),
        (market("EUR_USD", 1_000, None, Some("1.10300"), None), "STOP_LOSS_ON_FILL_LOSS"),
        (market("EUR_USD", -1_000, None, None, Some("1.10300")), "TAKE_PROFIT_ON_FILL_LOSS"),
    ];
    for (body, why) in cases {
        let r = c.post(&c.acct("/orders"), &body);
        assert_eq!(
            (r.status, r.body["orderCancelTransaction"]["reason"].as_str(), r.body.get("orderFillTransaction")),
            (201, Some(why), None)
        );
    }
    assert_eq!(c.get(&c.acct("/orders/@b1")).body["order"]["state"], "CANCELLED");
    let r = c.post(&c.acct("/orders"), &json!({"order": {"type": "MARKET", "instrument": "EUR_USD"}}));
    assert_eq!(
        (r.status, r.body["errorCode"].as_str(), r.body["orderRejectTransaction"]["instrument"].as_str()),
        (400, Some("UNITS_MISSING"), Some("EUR_USD"))
    );
    let before = fake.account().last_transaction_id;
    let r = c.post(&c.acct("/orders"), &market("XAU_USD", 1, None, None, None));
    assert_eq!((r.status, r.body["errorMessage"].as_str()), (400, Some("Invalid value specified for 'instrument'")));
    assert!(c.post(&c.acct("/orders"), &json!({"order": {"type": "LIMIT"}})).body["errorMessage"]
        .as_str()
        .unwrap()
        .contains("MARKET only"));
    assert_eq!((fake.account().last_transaction_id, fake.account().open_trade_count), (before, 0));
}

#[test]
fn pl_and_margin_convert_to_the_home_currency() {
    let (fake, c) = start(config(vec![]));
    let f = c.post(&c.acct("/orders"), &market("USD_JPY", 10_000, None, None, None)).body["orderFillTransaction"].clone();
    assert_eq!((f["price"].as_str(), f["gainQuoteHomeConversionFactor"].as_str()), (Some("110.010"), Some("0.0090909091")));
    // −200 JPY at a mid of 110.000 is −1.82 USD; 10,000 USD at 0.0333 is 333.00.
    let a = fake.account();
    assert_eq!((a.unrealized_pl, a.margin_used), (Money(-182), Money(33_300)));
}
