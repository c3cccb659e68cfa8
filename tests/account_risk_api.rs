//! End-to-end tests of the root-level account, symbols and risk API (session-api.md, semantics.md)
//! against a real `pinion serve` with a real HTTP client: `/health`, the flat OANDA-style
//! `/account/summary`, `/account/positions` and `/account/trades` while an operation trades,
//! `/symbols/*`, `POST /risk/update` validation and partial updates, risk limits that refuse an
//! operation's entries (`max_concurrent_positions: 0` freezes them; raising or lowering
//! `daily_loss_limit_pct` lifts or brings back the daily-loss halt), and the bearer token.

mod common;

use common::{iso_secs, poll, Resp, Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// Replay speed: one minute bar every 0.2 s.
const SPEED: f64 = 300.0;
const WAIT: Duration = Duration::from_secs(20);

/// A tick-level EMA cross (always in the market once its EMAs are ready) with a 10-pip stop.
fn ema_op(asset: &str, trade_size: u32) -> Value {
    json!({
        "asset": asset,
        "bar_sizes": ["1 min"],
        "strategy_name": "ema_cross",
        "strategy_config": { "fast": 3, "slow": 8, "trade_size": trade_size },
        "stop_loss_type": "PIPS",
        "stop_loss_value": 10,
    })
}

fn create(s: &Server, body: &Value) -> u64 {
    let r = s.post_json("/api/operations", body);
    assert_eq!(r.status, 201, "creating {body}: {} (server: {})", r.text, s.stderr_tail());
    r.json()["id"].as_u64().expect("operation id")
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("`{k}` is not a number in {v}"))
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("`{k}` is not a string in {v}"))
}

fn arr(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => panic!("expected an array, got {other}"),
    }
}

/// A number that OANDA writes as a decimal string (or a plain number).
fn decimal(v: &Value, k: &str) -> f64 {
    match &v[k] {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("`{k}` is not a decimal string in {v}")),
        Value::Number(n) => n.as_f64().unwrap(),
        _ => panic!("`{k}` missing in {v}"),
    }
}

/// A 400 whose detail names `field`.
fn assert_400_naming(r: &Resp, field: &str, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.text);
    let d = r.detail();
    assert!(d.contains(field), "{what}: the detail should name {field:?}: {d}");
}

fn check_summary(a: &Value) {
    for k in ["accountId", "currency", "lastTransactionID"] {
        text(a, k);
    }
    assert_eq!(a["currency"], "USD", "{a}");
    for k in ["balance", "NAV", "equity", "unrealizedPL", "pl", "marginUsed", "marginAvailable"] {
        num(a, k);
    }
    assert_eq!(a["equity"], a["NAV"], "equity is NAV: {a}");
    assert!((num(a, "NAV") - num(a, "balance") - num(a, "unrealizedPL")).abs() < 0.011, "NAV = balance + unrealizedPL: {a}");
    assert!((num(a, "marginAvailable") - (num(a, "NAV") - num(a, "marginUsed")).max(0.0)).abs() < 0.011, "marginAvailable: {a}");
    assert!(num(a, "marginUsed") >= 0.0, "{a}");
    assert!(a["openPositionCount"].as_u64().is_some() && a["openTradeCount"].as_u64().is_some(), "{a}");
    a["lastTransactionID"].as_str().unwrap().parse::<u64>().unwrap_or_else(|_| panic!("lastTransactionID is a decimal id: {a}"));
}

#[test]
fn health_account_positions_trades_and_symbols() {
    let s = Server::start(SPEED);

    let h = s.get_ok("/health");
    assert_eq!(h["status"], "ok", "{h}");
    assert!(matches!(text(&h, "engine"), "running" | "stopped"), "{h}");

    // Before anything trades: the starting balance, nothing open.
    let a = s.get_ok("/account/summary");
    check_summary(&a);
    assert_eq!(num(&a, "balance"), 100_000.0, "{a}");
    assert_eq!(num(&a, "pl"), 0.0, "{a}");
    assert_eq!(a["openPositionCount"], 0, "{a}");
    assert_eq!(a["openTradeCount"], 0, "{a}");
    assert_eq!(s.get_ok("/account/positions"), json!([]));
    assert_eq!(s.get_ok("/account/trades"), json!([]));

    // Symbols.
    let training = s.get_ok("/symbols/training");
    let symbols: Vec<&str> = training["symbols"].as_array().expect("symbols array").iter().map(|x| x.as_str().unwrap()).collect();
    assert!(symbols.contains(&"EUR_USD") && symbols.contains(&"AUD_USD"), "{training}");
    let oanda = s.get_ok("/symbols/oanda");
    let instruments = oanda["instruments"].as_array().expect("instruments array");
    for i in instruments {
        for k in ["name", "displayName", "type"] {
            text(i, k);
        }
        for k in ["pipLocation", "displayPrecision", "tradeUnitsPrecision"] {
            assert!(i[k].as_i64().is_some(), "{k} is an integer: {i}");
        }
        assert!(decimal(i, "minimumTradeSize") > 0.0, "{i}");
        let mr = decimal(i, "marginRate");
        assert!(mr > 0.0 && mr <= 1.0, "{i}");
    }
    let find = |name: &str| instruments.iter().find(|i| i["name"] == name).unwrap_or_else(|| panic!("{name} missing from {oanda}"));
    let eur = find("EUR_USD");
    assert_eq!(eur["displayName"], "EUR/USD", "{eur}");
    assert_eq!(eur["type"], "CURRENCY", "{eur}");
    assert_eq!(eur["pipLocation"], -4, "{eur}");
    assert_eq!(eur["displayPrecision"], 5, "{eur}");
    assert_eq!(eur["tradeUnitsPrecision"], 0, "{eur}");
    let eur_margin = decimal(eur, "marginRate");
    assert!((eur_margin - 0.0333).abs() < 1e-3, "30:1 by default: {eur}");
    find("AUD_USD");
    if let Some(jpy) = instruments.iter().find(|i| i["name"] == "USD_JPY") {
        assert_eq!(jpy["pipLocation"], -2, "{jpy}");
        assert_eq!(jpy["displayPrecision"], 3, "{jpy}");
    }
    let names: BTreeSet<&str> = instruments.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), instruments.len(), "instrument names are unique");

    // An operation trades: positions rows, both sides over time (units negative when short).
    let id = create(&s, &ema_op("EUR-USD", 1000));
    let mut sides = BTreeSet::new();
    poll("a long and a short EUR_USD position in /account/positions", WAIT, || {
        for p in arr(s.get_ok("/account/positions")) {
            assert_eq!(p["instrument"], "EUR_USD", "account API uses OANDA names whatever the operation used: {p}");
            assert_eq!(p["holder"]["operation_id"], json!(id), "{p}");
            let units = num(&p, "units");
            assert_eq!(units.abs(), 1000.0, "{p}");
            let side = text(&p, "side");
            assert_eq!(side, if units > 0.0 { "BUY" } else { "SELL" }, "units negative for short: {p}");
            let avg = num(&p, "avgPrice");
            assert!(avg > 1.0 && avg < 1.2, "{p}");
            num(&p, "unrealizedPL");
            let margin = num(&p, "marginUsed");
            if margin > 0.0 {
                // Margin = notional at the mark * margin rate.
                let px = p["currentPrice"].as_f64().unwrap_or(avg);
                assert!((margin - units.abs() * px * eur_margin).abs() < 0.5, "marginUsed {margin} vs 1000 * {px} * {eur_margin}: {p}");
            }
            sides.insert(side.to_string());
        }
        (sides.len() == 2).then_some(())
    });

    // The summary agrees: something open, margin used, transactions booked.
    poll("an open position and trade in the summary", WAIT, || {
        let a = s.get_ok("/account/summary");
        check_summary(&a);
        (a["openPositionCount"] == 1 && a["openTradeCount"].as_u64() >= Some(1) && num(&a, "marginUsed") > 0.0).then_some(())
    });

    // Trades: newest first, open and closed, with the fields of the spec.
    let trades = poll("3 closed trades in /account/trades", WAIT, || {
        let t = arr(s.get_ok("/account/trades?limit=1000"));
        (t.iter().filter(|x| x["status"] == "CLOSED").count() >= 3).then_some(t)
    });
    let ids: Vec<u64> = trades.iter().map(|t| text(t, "id").parse::<u64>().unwrap_or_else(|_| panic!("trade id: {t}"))).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first by id: {ids:?}");
    for t in &trades {
        assert_eq!(t["instrument"], "EUR_USD", "{t}");
        let (units, entry) = (num(t, "units"), num(t, "entry_price"));
        assert!(units != 0.0 && entry > 1.0 && entry < 1.2, "{t}");
        num(t, "pnl");
        let opened = iso_secs(text(t, "open_timestamp"));
        match text(t, "status") {
            "OPEN" => {
                assert!(t["close_timestamp"].is_null() && t["close_price"].is_null(), "{t}");
            }
            "CLOSED" => {
                let (close, closed) = (num(t, "close_price"), iso_secs(text(t, "close_timestamp")));
                assert!(closed >= opened, "{t}");
                let expect = (close - entry) * units;
                assert!((num(t, "pnl") - expect).abs() < 0.011, "pnl = (close - entry) * signed units = {expect}: {t}");
            }
            other => panic!("trade status {other}: {t}"),
        }
    }
    let two = arr(s.get_ok("/account/trades?limit=2"));
    assert_eq!(two.len(), 2);
    let default = arr(s.get_ok("/account/trades"));
    assert!(!default.is_empty() && default.len() <= 100, "default limit 100: {}", default.len());
    for bad in ["0", "5000", "1001", "-1", "abc", ""] {
        assert_400_naming(&s.get(&format!("/account/trades?limit={bad}")), "limit", &format!("limit={bad}"));
    }
    assert_eq!(s.get("/account/trades?limit=1000").status, 200);
    assert_eq!(s.get("/account/trades?limit=1").status, 200);

    // Closing the operation flattens the account.
    assert_eq!(s.delete(&format!("/api/operations/{id}")).status, 200);
    poll("no open position after closing the operation", WAIT, || {
        let a = s.get_ok("/account/summary");
        (a["openPositionCount"] == 0 && s.get_ok("/account/positions") == json!([])).then_some(())
    });
    let a = s.get_ok("/account/summary");
    check_summary(&a);
    assert_eq!(num(&a, "unrealizedPL"), 0.0, "{a}");
    assert_eq!(num(&a, "marginUsed"), 0.0, "{a}");
    assert!(trades.iter().all(|t| t["holder"]["operation_id"] == json!(id)), "every trade is held by the operation");
}

fn risk(s: &Server) -> Value {
    let r = s.get_ok("/risk");
    assert!(r["risk"].is_object(), "{r}");
    r["risk"].clone()
}

#[test]
fn risk_update_is_partial_and_validated() {
    let s = Server::start(SPEED);
    let before = risk(&s);
    for k in [
        "max_total_exposure_usd",
        "max_risk_per_trade_percent",
        "use_atr_sizing",
        "atr_period",
        "stop_loss_atr_multiplier",
        "take_profit_atr_multiplier",
        "stop_loss_pips",
        "take_profit_pips",
        "daily_loss_limit_pct",
        "max_concurrent_positions",
        "per_symbol_limit",
    ] {
        assert!(before.get(k).is_some(), "GET /risk lacks {k}: {before}");
    }

    // A partial update changes only its fields.
    let r = s.post_json("/risk/update", &json!({"max_concurrent_positions": 3}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["ok"], true);
    let mut expect = before.clone();
    expect["max_concurrent_positions"] = json!(3);
    assert_eq!(risk(&s), expect);
    let r = s.post_json("/risk/update", &json!({"per_symbol_limit": 5000, "use_atr_sizing": true, "stop_loss_pips": 12.5}));
    assert_eq!(r.status, 200, "{}", r.text);
    expect["per_symbol_limit"] = json!(5000);
    expect["use_atr_sizing"] = json!(true);
    expect["stop_loss_pips"] = json!(12.5);
    assert_eq!(risk(&s), expect);
    // An empty object changes nothing.
    assert_eq!(s.post_json("/risk/update", &json!({})).status, 200);
    assert_eq!(risk(&s), expect);

    // Refusals name the field, and change nothing (all or nothing).
    let cases: Vec<(Value, &str)> = vec![
        (json!({"max_leverage": 3}), "max_leverage"),
        (json!({"max_concurrent_positions": 4, "stop_los_pips": 10}), "stop_los_pips"),
        (json!({"max_concurrent_positions": "five"}), "max_concurrent_positions"),
        (json!({"use_atr_sizing": 1}), "use_atr_sizing"),
        (json!({"max_total_exposure_usd": "100000"}), "max_total_exposure_usd"),
        (json!({"atr_period": 14.5}), "atr_period"),
        (json!({"per_symbol_limit": null}), "per_symbol_limit"),
        (json!({"max_risk_per_trade_percent": 150}), "max_risk_per_trade_percent"),
        (json!({"max_risk_per_trade_percent": 0}), "max_risk_per_trade_percent"),
        (json!({"max_concurrent_positions": -1}), "max_concurrent_positions"),
        (json!({"max_concurrent_positions": 10001}), "max_concurrent_positions"),
        (json!({"daily_loss_limit_pct": -1}), "daily_loss_limit_pct"),
        (json!({"atr_period": 1001}), "atr_period"),
        (json!({"per_symbol_limit": 0}), "per_symbol_limit"),
        (json!({"max_total_exposure_usd": -5}), "max_total_exposure_usd"),
        (json!({"take_profit_pips": 20000}), "take_profit_pips"),
        (json!({"max_concurrent_positions": 4, "atr_period": 0}), "atr_period"),
    ];
    for (body, field) in cases {
        assert_400_naming(&s.post_json("/risk/update", &body), field, &format!("POST /risk/update {body}"));
        assert_eq!(risk(&s), expect, "a refused update {body} changed nothing");
    }
    for body in ["[1, 2]", "\"max_concurrent_positions\"", "42", "null", "{", ""] {
        let r = s.request("POST", "/risk/update", Some("application/json"), body.as_bytes());
        assert_eq!(r.status, 400, "body {body:?}: {}", r.text);
        assert!(!r.detail().is_empty());
    }
    assert_eq!(risk(&s), expect);
}

/// The orders of an operation (every page).
fn orders_of(s: &Server, id: u64) -> Vec<Value> {
    s.all_pages(&format!("/api/operations/{id}/orders")).into_values().collect()
}

fn rejected_for<'a>(orders: &'a [Value], needle: &str) -> Vec<&'a Value> {
    orders.iter().filter(|o| o["status"] == "REJECTED" && o["reason"].as_str().is_some_and(|r| r.contains(needle))).collect()
}

#[test]
fn risk_limits_refuse_entries_of_operations() {
    let s = Server::start(SPEED);

    // One position at most: the first operation trades, the second's entries are refused.
    let r = s.post_json("/risk/update", &json!({"max_concurrent_positions": 1}));
    assert_eq!(r.status, 200, "{}", r.text);
    let first = create(&s, &ema_op("EUR_USD", 1000));
    poll("a filled entry of the first operation", WAIT, || {
        orders_of(&s, first).iter().any(|o| o["status"] == "FILLED" && o["purpose"] == "ENTRY").then_some(())
    });
    let second = create(&s, &ema_op("AUD_USD", 1000));
    let refused = poll("an entry of the second operation refused by max_concurrent_positions", WAIT, || {
        let o = orders_of(&s, second);
        (!rejected_for(&o, "max_concurrent_positions").is_empty()).then_some(o)
    });
    for o in rejected_for(&refused, "max_concurrent_positions") {
        assert_eq!(o["purpose"], "ENTRY", "{o}");
        assert_eq!(o["instrument"], "AUD_USD", "{o}");
    }
    // Never more than one open position, while the first operation goes on trading.
    let filled_before = orders_of(&s, first).iter().filter(|o| o["status"] == "FILLED").count();
    for _ in 0..20 {
        let a = s.get_ok("/account/summary");
        assert!(a["openPositionCount"].as_u64() <= Some(1), "max_concurrent_positions 1: {a}");
        assert!(arr(s.get_ok("/account/positions")).len() <= 1);
        std::thread::sleep(Duration::from_millis(50));
    }
    poll("more fills of the first operation", WAIT, || {
        (orders_of(&s, first).iter().filter(|o| o["status"] == "FILLED").count() > filled_before).then_some(())
    });

    // Close both; a per-symbol limit below the trade size refuses every entry.
    for id in [first, second] {
        assert_eq!(s.delete(&format!("/api/operations/{id}")).status, 200);
    }
    poll("a flat account", WAIT, || (s.get_ok("/account/summary")["openPositionCount"] == 0).then_some(()));
    let r = s.post_json("/risk/update", &json!({"max_concurrent_positions": 10, "per_symbol_limit": 1000}));
    assert_eq!(r.status, 200, "{}", r.text);
    let big = create(&s, &ema_op("EUR_USD", 10_000));
    let orders = poll("entries refused by per_symbol_limit", WAIT, || {
        let o = orders_of(&s, big);
        (rejected_for(&o, "per_symbol_limit").len() >= 2).then_some(o)
    });
    assert!(orders.iter().all(|o| o["status"] == "REJECTED"), "10000 units never fit a 1000-unit limit: {orders:?}");
    assert!(orders.iter().all(|o| o["purpose"] == "ENTRY"), "{orders:?}");
    assert_eq!(s.get_ok(&format!("/api/operations/{big}/positions")), json!([]));
    assert_eq!(s.get_ok("/account/positions"), json!([]));
    // Within the limit it trades again.
    let small = create(&s, &ema_op("EUR_USD", 1000));
    poll("a filled entry within per_symbol_limit", WAIT, || {
        orders_of(&s, small).iter().any(|o| o["status"] == "FILLED" && o["purpose"] == "ENTRY").then_some(())
    });
}

/// `GET /risk`'s daily-loss halt flag.
fn halted(s: &Server) -> bool {
    let r = s.get_ok("/risk");
    r["daily_loss_halted"].as_bool().unwrap_or_else(|| panic!("GET /risk without daily_loss_halted: {r}"))
}

fn filled_entries(s: &Server, id: u64) -> usize {
    orders_of(s, id).iter().filter(|o| o["status"] == "FILLED" && o["purpose"] == "ENTRY").count()
}

#[test]
fn zero_concurrent_positions_freezes_entries_and_daily_loss_limit_changes_apply() {
    let s = Server::start(SPEED);

    // max_concurrent_positions 0 is valid and means no new entries.
    let r = s.post_json("/risk/update", &json!({"max_concurrent_positions": 0}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(risk(&s)["max_concurrent_positions"], json!(0));
    let id = create(&s, &ema_op("EUR_USD", 20_000));
    poll("an entry refused by max_concurrent_positions 0", WAIT, || {
        (!rejected_for(&orders_of(&s, id), "max_concurrent_positions").is_empty()).then_some(())
    });
    assert_eq!(filled_entries(&s, id), 0, "{:?}", orders_of(&s, id));
    assert_eq!(s.get_ok("/account/positions"), json!([]));
    let r = s.post_json("/risk/update", &json!({"max_concurrent_positions": 10}));
    assert_eq!(r.status, 200, "{}", r.text);
    poll("a filled entry once entries are allowed again", WAIT, || (filled_entries(&s, id) > 0).then_some(()));

    // A limit of a millionth of a percent: the first loss at an entry check halts the day.
    let r = s.post_json("/risk/update", &json!({"daily_loss_limit_pct": 1e-6}));
    assert_eq!(r.status, 200, "{}", r.text);
    poll("the daily-loss halt", WAIT, || halted(&s).then_some(()));
    poll("an entry refused by the daily-loss halt", WAIT, || {
        (!rejected_for(&orders_of(&s, id), "daily_loss_limit_pct").is_empty()).then_some(())
    });
    assert!(halted(&s), "the halt is sticky");

    // Raising the limit past today's loss lifts the halt at once, and entries fill again.
    let before = filled_entries(&s, id);
    let r = s.post_json("/risk/update", &json!({"daily_loss_limit_pct": 100}));
    assert_eq!(r.status, 200, "{}", r.text);
    let got = s.get_ok("/risk");
    assert_eq!(got["daily_loss_halted"], json!(false), "raised past today's loss: {got}");
    assert_eq!(got["risk"]["daily_loss_limit_pct"], json!(100.0), "{got}");
    poll("a filled entry after the halt was lifted", WAIT, || (filled_entries(&s, id) > before).then_some(()));

    // Lowering it below today's loss halts again at the next check.
    let r = s.post_json("/risk/update", &json!({"daily_loss_limit_pct": 1e-6}));
    assert_eq!(r.status, 200, "{}", r.text);
    poll("the daily-loss halt after lowering the limit", WAIT, || halted(&s).then_some(()));
}

const TOKEN: &str = "tok-4d1e8a95-rest";

#[test]
fn bearer_token_guards_rest_and_never_leaks() {
    let s = Server::start_with_env(SPEED, &[("PINION_TOKEN", TOKEN)]);
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let get = |path: &str, h: &[(&str, &str)]| s.request_with("GET", path, h, b"");

    // /health needs no token (and accepts one).
    let h = get("/health", &[]);
    assert_eq!(h.status, 200, "{}", h.text);
    assert_eq!(h.json()["status"], "ok");
    assert_eq!(get("/health", &auth).status, 200);

    let routes = [
        "/account/summary",
        "/account/positions",
        "/account/trades",
        "/symbols/training",
        "/symbols/oanda",
        "/risk",
        "/session/status",
        "/api/operations",
        "/api/openapi.json",
        "/api/stats/overall",
        "/nowhere",
    ];
    for path in routes {
        for h in [
            &[][..],
            &[("Authorization", "Bearer wrong")][..],
            &[("Authorization", TOKEN)][..],
            &[("Authorization", "Basic Zm9vOmJhcg==")][..],
        ] {
            let r = get(path, h);
            assert_eq!(r.status, 401, "GET {path} with {h:?}: {}", r.text);
            assert!(!r.detail().is_empty());
            assert!(r.header("WWW-Authenticate").is_some_and(|v| v.starts_with("Bearer")), "{r:?}");
            assert!(!r.text.contains(TOKEN), "401 body leaks the token: {}", r.text);
        }
    }
    // A write without the token is refused and not applied.
    let body = json!({"max_concurrent_positions": 2}).to_string();
    let r = s.request_with("POST", "/risk/update", &[("Content-Type", "application/json")], body.as_bytes());
    assert_eq!(r.status, 401, "{}", r.text);
    let r =
        s.request_with("POST", "/api/operations", &[("Content-Type", "application/json")], ema_op("EUR_USD", 1000).to_string().as_bytes());
    assert_eq!(r.status, 401, "{}", r.text);
    let risk = get("/risk", &auth);
    assert_eq!(risk.status, 200, "{}", risk.text);
    assert_ne!(risk.json()["risk"]["max_concurrent_positions"], 2, "an unauthorized update was applied");
    assert_eq!(get("/api/operations", &auth).json(), json!([]), "an unauthorized create was applied");

    // With the token everything answers, and no body holds the token.
    for path in [
        "/account/summary",
        "/account/positions",
        "/account/trades",
        "/symbols/training",
        "/symbols/oanda",
        "/risk",
        "/session/status",
        "/api/operations",
        "/api/openapi.json",
    ] {
        let r = get(path, &auth);
        assert_eq!(r.status, 200, "GET {path} with the token: {}", r.text);
        r.json();
        assert!(!r.text.contains(TOKEN), "GET {path} leaks the token: {}", r.text);
    }
    let r = s.request_with("POST", "/risk/update", &[auth[0], ("Content-Type", "application/json")], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains(TOKEN));
    assert_eq!(get("/risk", &auth).json()["risk"]["max_concurrent_positions"], 2);
    // Errors do not echo it either.
    let r = get("/account/trades?limit=0", &auth);
    assert_eq!(r.status, 400);
    assert!(!r.text.contains(TOKEN));
    assert!(!s.stderr_has(TOKEN), "the server log holds the token");
}
