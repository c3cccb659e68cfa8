//! End-to-end tests of "sane numbers only" against a real `pinion serve`: hostile numbers (denormals,
//! absurd magnitudes, numbers beyond f64, sizes beyond the bounds) in an operation's create body, a
//! risk update, a session config and a session start are each a 400 naming the field, and nothing is
//! created or changed; the OpenAPI document shows the ranges; and an operation whose capital is
//! exhausted goes to `error` with the reason (in the operation and a WARN log record), keeps its
//! position's stop and opens no more positions.

mod common;

use common::{poll, Resp, Server};
use serde_json::{json, Value};
use std::time::Duration;

const SPEED: f64 = 300.0;
const WAIT: Duration = Duration::from_secs(20);

fn op(extra: Value) -> Value {
    let mut b = json!({
        "asset": "EUR_USD",
        "bar_sizes": ["1 min"],
        "strategy_name": "ema_cross",
        "strategy_config": { "fast": 3, "slow": 8, "trade_size": 1000 },
        "stop_loss_type": "PIPS",
        "stop_loss_value": 10,
    });
    if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    b
}

fn expect_400(r: &Resp, what: &str, field: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.text);
    let detail = r.detail();
    assert!(detail.contains(field), "{what}: the detail names {field}: {detail}");
}

fn raw_post(s: &Server, path: &str, body: &str) -> Resp {
    s.request("POST", path, Some("application/json"), body.as_bytes())
}

#[test]
fn hostile_numbers_are_400s_naming_the_field() {
    let s = Server::start(SPEED);
    let creates = [
        (json!({ "initial_capital": 4.9e-324 }), "initial_capital"),
        (json!({ "initial_capital": 1e308 }), "initial_capital"),
        (json!({ "initial_capital": 0.004 }), "initial_capital"),
        (json!({ "stop_loss_value": 1e308 }), "stop_loss_value"),
        (json!({ "stop_loss_value": 4.9e-324 }), "stop_loss_value"),
        (json!({ "stop_loss_type": "PERCENTAGE", "stop_loss_value": 2 }), "stop_loss_value"),
        (json!({ "take_profit_type": "RISK_REWARD", "take_profit_value": 1000 }), "take_profit_value"),
        (json!({ "emergency_stop_loss_pct": 4.9e-324 }), "emergency_stop_loss_pct"),
        (json!({ "strategy_config": { "fast": 3, "slow": 8, "trade_size": 4_294_967_296u64 } }), "trade_size"),
        (json!({ "strategy_config": { "fast": 3, "slow": 10_001, "trade_size": 1000 } }), "slow"),
    ];
    for (extra, field) in creates {
        expect_400(&s.post_json("/api/operations", &op(extra.clone())), &format!("create with {extra}"), field);
    }
    // Beyond f64: serde_json refuses it rather than reading infinity.
    let r = raw_post(
        &s,
        "/api/operations",
        r#"{"asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross", "initial_capital": 1e309}"#,
    );
    assert_eq!(r.status, 400, "1e309: {}", r.text);
    assert_eq!(s.get_ok("/api/operations"), json!([]), "nothing was created");

    let before = s.get_ok("/risk");
    for (body, field) in [
        (json!({ "max_total_exposure_usd": 1e308 }), "max_total_exposure_usd"),
        (json!({ "max_total_exposure_usd": 4.9e-324 }), "max_total_exposure_usd"),
        (json!({ "daily_loss_limit_pct": 4.9e-324 }), "daily_loss_limit_pct"),
        (json!({ "per_symbol_limit": 9_000_000_000_000_000_000u64 }), "per_symbol_limit"),
        (json!({ "stop_loss_pips": 1e308 }), "stop_loss_pips"),
    ] {
        expect_400(&s.post_json("/risk/update", &body), &format!("risk update {body}"), field);
    }
    assert_eq!(s.get_ok("/risk"), before, "no limit changed");

    // The session's numbers are checked before its symbols and model.
    for cap in [4.9e-324, 1e308, 0.0] {
        let body = json!({ "symbols": ["EUR_USD"], "model_path": "example", "target_capital_usd": cap });
        expect_400(&s.post_json("/session/config", &body), &format!("target_capital_usd {cap}"), "target_capital_usd");
    }
    let risky =
        json!({ "symbols": ["EUR_USD"], "model_path": "example", "target_capital_usd": 1000, "risk": { "max_total_exposure_usd": 1e308 } });
    expect_400(&s.post_json("/session/config", &risky), "session risk override", "risk.max_total_exposure_usd");
    for t in [4.9e-324, 1e308, 86_400.5] {
        expect_400(
            &s.post_json("/session/start", &json!({ "cold_start_timeout_sec": t })),
            &format!("timeout {t}"),
            "cold_start_timeout_sec",
        );
    }
}

/// The request schema of `method path`, with a `$ref` into the components resolved.
fn request_schema<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let schema = &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => &doc["components"]["schemas"][name],
        None => schema,
    }
}

#[test]
fn the_openapi_document_shows_the_ranges() {
    let s = Server::start(SPEED);
    let doc = s.get_ok("/api/openapi.json");
    let create = request_schema(&doc, "/api/operations", "post");
    let capital = create["properties"]["initial_capital"].to_string();
    assert!(capital.contains("\"minimum\":0.01") && capital.contains("\"maximum\":1000000000.0"), "{capital}");
    assert!(create["properties"]["stop_loss_value"].to_string().contains("\"maximum\":10000.0"), "{create}");
    let risk = request_schema(&doc, "/risk/update", "post");
    assert_eq!(risk["properties"]["max_total_exposure_usd"]["maximum"], json!(1e12), "{risk}");
    assert_eq!(risk["properties"]["max_total_exposure_usd"]["minimum"], json!(0.01), "{risk}");
    let start = request_schema(&doc, "/session/start", "post");
    assert!(start["properties"]["cold_start_timeout_sec"].to_string().contains("\"maximum\":86400.0"), "{start}");
}

#[test]
fn an_operation_whose_capital_is_exhausted_goes_to_error_and_stops_opening_positions() {
    let s = Server::start(SPEED);
    // One dollar of capital trading 50,000 units: the spread alone exhausts it on the first entry.
    let body = op(json!({ "initial_capital": 1, "strategy_config": { "fast": 3, "slow": 8, "trade_size": 50_000 } }));
    let r = s.post_json("/api/operations", &body);
    assert_eq!(r.status, 201, "{} (server: {})", r.text, s.stderr_tail());
    let id = r.json()["id"].as_u64().expect("operation id");
    let got = poll("the operation in error", WAIT, || {
        let o = s.get_ok(&format!("/api/operations/{id}"));
        (o["status"] == "error").then_some(o)
    });
    let reason = got["error"].as_str().unwrap_or_default();
    assert!(reason.contains("capital exhausted"), "{got}");
    let entries =
        |s: &Server| s.all_pages(&format!("/api/operations/{id}/orders")).into_values().filter(|o| o["purpose"] == "ENTRY").count();
    let at_error = entries(&s);
    assert!(at_error >= 1, "it traded before");
    poll("the WARN record naming the operation", WAIT, || s.stderr_has(&format!("operation {id}: error: capital exhausted")).then_some(()));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(entries(&s), at_error, "no entry order after the error");
    assert_eq!(s.post_json(&format!("/api/operations/{id}/resume"), &json!({})).status, 409, "resume is refused");
    let r = s.delete(&format!("/api/operations/{id}"));
    assert_eq!(r.status, 200, "stop is allowed from error: {}", r.text);
    let o = s.get_ok(&format!("/api/operations/{id}"));
    assert_eq!(o["status"], "closed", "{o}");
    assert!(o["error"].as_str().is_some_and(|e| e.contains("capital exhausted")), "the reason stays: {o}");
}
