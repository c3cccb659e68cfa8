//! End-to-end contract tests against a real `pinion serve` (bundled samples replayed fast): every
//! response of every documented route validates against the schema the server's own OpenAPI document
//! declares for it (the `$ref`s resolved in `#/components`), request bodies validate against their
//! declared schemas, no schema is a placeholder; and the money adds up: per-operation and overall
//! `gross_profit - gross_loss = total_pnl` to the cent, and `balance = start + pl - commission`; and the
//! document matches the routes the server answers, both ways.

mod common;

use common::{poll, Resp, Server};
use serde_json::{json, Value};
use std::time::Duration;

const SPEED: f64 = 300.0;
const SYMBOLS: [&str; 2] = ["EUR_USD", "AUD_USD"];
const START_BALANCE_CENTS: i64 = 10_000_000;

fn ema_op(asset: &str, fast: u32, slow: u32) -> Value {
    json!({
        "asset": asset, "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
        "strategy_config": { "fast": fast, "slow": slow, "trade_size": 1000 },
        "stop_loss_type": "PIPS", "stop_loss_value": 10,
    })
}

fn cents(v: &Value, k: &str) -> i64 {
    let x = v[k].as_f64().unwrap_or_else(|| panic!("`{k}` is not a number in {v}"));
    (x * 100.0).round() as i64
}

/// Validates `instance` against `schema`, a schema inside `doc` (its `$ref`s point into the document).
fn check(doc: &Value, schema: &Value, instance: &Value, what: &str) {
    let mut root = schema.clone();
    match root.as_object_mut() {
        Some(o) => {
            o.insert("components".into(), doc["components"].clone());
        }
        None => panic!("{what}: schema is not an object: {schema}"),
    }
    let v = jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}\n{schema}"));
    let errors: Vec<String> = v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(
        errors.is_empty(),
        "{what}: the answer does not match its schema:\n{}\nanswer: {instance}\nschema: {schema}",
        errors.join("\n")
    );
}

/// The documented response schema of `method path` for `status` (an error status resolves to the
/// shared `Error` response).
fn response_schema<'a>(doc: &'a Value, path: &str, method: &str, status: u16) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not documented");
    let mut resp = &op["responses"][status.to_string()];
    assert!(resp.is_object(), "{method} {path}: status {status} is not documented: {}", op["responses"]);
    if let Some(r) = resp.get("$ref").and_then(Value::as_str) {
        resp = doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling {r}"));
    }
    &resp["content"]["application/json"]["schema"]
}

/// Sends a request and validates the answer against the document; returns it.
fn call(s: &Server, doc: &Value, method: &str, template: &str, url: &str, body: Option<&Value>) -> Resp {
    let m = method.to_ascii_lowercase();
    if let Some(b) = body {
        let req = &doc["paths"][template][m.as_str()]["requestBody"]["content"]["application/json"]["schema"];
        assert!(req.is_object(), "{method} {template}: no request body schema");
        check(doc, req, b, &format!("request body of {method} {template}"));
    }
    let r = match body {
        Some(b) => s.post_json(url, b),
        None if method == "POST" => s.request(method, url, Some("application/json"), b""),
        None => s.request(method, url, None, b""),
    };
    let schema = response_schema(doc, template, &m, r.status);
    check(doc, schema, &r.json(), &format!("{method} {url} -> {}", r.status));
    r
}

fn wait_trades(s: &Server, id: u64, n: u64) {
    poll(&format!("operation {id} to close {n} trades"), Duration::from_secs(120), || {
        (s.get_ok(&format!("/api/operations/{id}/stats"))["total_trades"].as_u64() >= Some(n)).then_some(())
    });
}

#[test]
fn every_response_matches_its_openapi_schema() {
    let models = tempfile::tempdir().expect("a model directory");
    let s = Server::start_with_models(SPEED, models.path());
    let doc = s.get_ok("/api/openapi.json");

    // No placeholder left; every $ref resolves; security declared and applied.
    assert_eq!(pinion_http::openapi::document_problems(&doc), Vec::<String>::new());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(doc["security"], json!([{ "bearer": [] }]));
    assert_eq!(doc["paths"]["/health"]["get"]["security"], json!([]));
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["detail"]), "{error}");
    // The validation is not vacuous: a wrong shape fails.
    let mut root = response_schema(&doc, "/api/operations/{id}/stats", "get", 200).clone();
    root["components"] = doc["components"].clone();
    let v = jsonschema::draft202012::new(&root).expect("the stats schema compiles");
    assert!(!v.is_valid(&json!({ "total_trades": "many" })), "a malformed stats body passes its schema");

    // Two trading operations.
    let a = call(&s, &doc, "POST", "/api/operations", "/api/operations", Some(&ema_op("EUR-USD", 3, 8)));
    assert_eq!(a.status, 201, "{}", a.text);
    let id = a.json()["id"].as_u64().expect("an id");
    let b = call(&s, &doc, "POST", "/api/operations", "/api/operations", Some(&ema_op("AUD_USD", 2, 5)));
    assert_eq!(b.status, 201, "{}", b.text);
    wait_trades(&s, id, 3);

    // Every GET route, with real ids and declared query parameters.
    let mut gets: Vec<(&str, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        // `/metrics` answers the Prometheus text format, checked below.
        // `/why` needs a real order id, checked below.
        if item.get("get").is_some() && path != "/ws" && path != "/metrics" && !path.ends_with("/why") {
            gets.push((path.as_str(), path.replace("{id}", &id.to_string())));
        }
    }
    gets.extend([
        ("/api/operations", "/api/operations?status=active&limit=5&offset=0".to_string()),
        ("/api/operations", "/api/operations?status=closed".to_string()),
        ("/account/trades", "/account/trades?limit=3".to_string()),
        ("/models", "/models?min_symbols=1".to_string()),
        ("/api/operations/{id}/orders", format!("/api/operations/{id}/orders?limit=2&offset=1")),
        ("/api/operations/{id}", "/api/operations/999999".to_string()),
        ("/api/operations", "/api/operations?status=bogus".to_string()),
        ("/api/operations/{id}/bars", format!("/api/operations/{id}/bars?bar_size=1%20min&limit=5")),
        ("/api/operations/{id}/bars", format!("/api/operations/{id}/bars?bar_size=1%20hour")),
        ("/api/operations/{id}/decisions", format!("/api/operations/{id}/decisions?limit=3")),
        ("/api/logs", "/api/logs?level=warn&q=operation&limit=5".to_string()),
        ("/api/logs", "/api/logs?level=loud".to_string()),
        ("/api/equity", "/api/equity?limit=10&max_points=3".to_string()),
        ("/api/audit", "/api/audit?limit=2".to_string()),
    ]);
    for (template, url) in &gets {
        let r = call(&s, &doc, "GET", template, url, None);
        let refused = url.contains("999999") || url.contains("bogus") || url.contains("loud") || url.contains("1%20hour");
        assert!(r.status == 200 || refused, "GET {url}: {}", r.text);
        if refused && r.status == 400 {
            let field = ["status", "level", "bar_size"].into_iter().find(|f| r.detail().starts_with(&format!("{f}: ")));
            assert!(field.is_some(), "a 400 names its field: {}", r.text);
        }
        eprintln!("GET {url} -> {} ok", r.status);
    }
    assert!(gets.len() >= 25, "only {} GETs", gets.len());
    let metrics = s.get("/metrics");
    assert_eq!(metrics.status, 200, "{}", metrics.text);
    let declared = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"].as_object().and_then(|c| c.keys().next().cloned());
    assert_eq!(metrics.header("Content-Type").map(str::to_string), declared, "/metrics answers the type it documents");

    // POST routes with valid bodies.
    // The dashboard's reads: bars with indicator values, an order's decision context, the control
    // actions (old -> new) and the equity curve.
    // A closed bar and the forming one (trades can come before the first minute has closed).
    poll(&format!("operation {id} to have a closed bar"), Duration::from_secs(60), || {
        s.get_ok(&format!("/api/operations/{id}/bars"))["bars"].as_array().is_some_and(|b| b.len() > 1).then_some(())
    });
    let bars = call(&s, &doc, "GET", "/api/operations/{id}/bars", &format!("/api/operations/{id}/bars"), None).json();
    assert!(bars["bars"].as_array().is_some_and(|b| b.len() > 1), "{bars}");
    assert!(bars["bars"].as_array().into_iter().flatten().any(|b| b["indicators"]["ema_fast"].is_number()), "{bars}");
    let orders = s.get_ok(&format!("/api/operations/{id}/orders?limit=1"));
    let oid = orders[0]["id"].as_u64().expect("an order id");
    let url = format!("/api/operations/{id}/decisions?order_id={oid}");
    let why = call(&s, &doc, "GET", "/api/operations/{id}/decisions", &url, None).json();
    assert_eq!(why[0]["order_id"], json!(oid), "{why}");
    let tpl = "/api/operations/{id}/orders/{order_id}/why";
    let one = call(&s, &doc, "GET", tpl, &format!("/api/operations/{id}/orders/{oid}/why"), None);
    assert_eq!((one.status, one.json()), (200, why[0].clone()), "the order's own route gives the same context");
    assert_eq!(call(&s, &doc, "GET", tpl, &format!("/api/operations/{id}/orders/0/why"), None).status, 400);
    assert_eq!(call(&s, &doc, "GET", tpl, &format!("/api/operations/{id}/orders/99999999/why"), None).status, 404);
    let r = call(&s, &doc, "POST", "/risk/update", "/risk/update", Some(&json!({ "max_concurrent_positions": 20 })));
    let audit = call(&s, &doc, "GET", "/api/audit", "/api/audit", None).json();
    assert_eq!(audit[0]["action"], "risk_updated", "{audit}");
    assert_eq!(audit[0]["new"]["max_concurrent_positions"], 20, "{audit}");
    assert!(audit[0]["old"]["max_concurrent_positions"].is_number(), "{audit}");
    assert_eq!(r.status, 200, "{}", r.text);
    let cfg =
        json!({ "symbols": SYMBOLS, "model_path": "example", "target_capital_usd": 50_000.0, "risk": { "max_risk_per_trade_percent": 2 } });
    let r = call(&s, &doc, "POST", "/session/config", "/session/config", Some(&cfg));
    assert_eq!(r.status, 200, "{} (server: {})", r.text, s.stderr_tail());
    call(&s, &doc, "GET", "/session/status", "/session/status", None);
    let r = call(&s, &doc, "POST", "/session/start", "/session/start", Some(&json!({ "cold_start_timeout_sec": 60 })));
    assert_eq!(r.status, 202, "{}", r.text);
    poll("the session to run", Duration::from_secs(60), || (s.get_ok("/session/status")["state"] == "running").then_some(()));
    call(&s, &doc, "GET", "/session/status", "/session/status", None);
    call(&s, &doc, "GET", "/account/positions", "/account/positions", None);
    let r = call(&s, &doc, "POST", "/session/stop", "/session/stop", None);
    assert_eq!(r.status, 200, "{}", r.text);
    // 200 with what it closes, or 409 when the session held nothing: both as documented.
    let r = call(&s, &doc, "POST", "/session/positions/close", "/session/positions/close", None);
    assert!(r.status == 200 || r.status == 409, "{}", r.text);
    call(&s, &doc, "GET", "/session/status", "/session/status", None);

    // Lifecycle: pause, resume (twice: the second is a documented 409), stop.
    let op = |p: &str| format!("/api/operations/{id}{p}");
    assert_eq!(call(&s, &doc, "POST", "/api/operations/{id}/pause", &op("/pause"), None).status, 200);
    assert_eq!(call(&s, &doc, "POST", "/api/operations/{id}/resume", &op("/resume"), None).status, 200);
    assert_eq!(call(&s, &doc, "POST", "/api/operations/{id}/resume", &op("/resume"), None).status, 409);
    assert_eq!(call(&s, &doc, "DELETE", "/api/operations/{id}", &op(""), None).status, 200);
    for (template, url) in &gets {
        call(&s, &doc, "GET", template, url, None);
    }
}

#[test]
fn money_adds_up_per_operation_overall_and_on_the_account() {
    let s = Server::start(SPEED);
    let mut ids = Vec::new();
    for body in [ema_op("EUR-USD", 3, 8), ema_op("AUD_USD", 2, 5)] {
        let r = s.post_json("/api/operations", &body);
        assert_eq!(r.status, 201, "{} (server: {})", r.text, s.stderr_tail());
        ids.push(r.json()["id"].as_u64().expect("an id"));
    }
    for id in &ids {
        wait_trades(&s, *id, 4);
    }
    // Stop both operations to freeze the books (a paused book's stops and exits still trade): their
    // positions close, and no trade or fill lands between the reads below.
    for id in &ids {
        assert_eq!(s.delete(&format!("/api/operations/{id}")).status, 200);
    }
    let mut sum_total = 0;
    for id in &ids {
        let base = format!("/api/operations/{id}");
        let stats = s.get_ok(&format!("{base}/stats"));
        let trades = s.all_pages(&format!("{base}/trades"));
        assert_eq!(cents(&stats, "gross_profit") - cents(&stats, "gross_loss"), cents(&stats, "total_pnl"), "operation {id}: {stats}");
        let nets: Vec<i64> = trades.values().map(|t| cents(t, "net_pnl")).collect();
        for t in trades.values() {
            assert_eq!(cents(t, "net_pnl"), cents(t, "pnl") - cents(t, "total_commission"), "{t}");
        }
        assert_eq!(nets.iter().sum::<i64>(), cents(&stats, "total_pnl"), "operation {id}: total_pnl is the trades' net P/L: {stats}");
        assert_eq!(nets.iter().filter(|n| **n > 0).sum::<i64>(), cents(&stats, "gross_profit"), "{stats}");
        assert_eq!(stats["winning_trades"].as_u64(), Some(nets.iter().filter(|n| **n > 0).count() as u64), "{stats}");
        assert_eq!(stats["losing_trades"].as_u64(), Some(nets.iter().filter(|n| **n < 0).count() as u64), "{stats}");
        let n = nets.len() as f64;
        let win_rate = stats["win_rate"].as_f64().unwrap_or(-1.0);
        assert!((win_rate - stats["winning_trades"].as_f64().unwrap_or(0.0) / n * 100.0).abs() < 1e-4, "win_rate in percent: {stats}");
        sum_total += cents(&stats, "total_pnl");
    }
    let overall = s.get_ok("/api/stats/overall");
    assert_eq!(cents(&overall, "gross_profit") - cents(&overall, "gross_loss"), cents(&overall, "total_pnl"), "overall: {overall}");
    assert_eq!(cents(&overall, "total_pnl"), sum_total, "overall sums the operations: {overall}");
    assert_eq!(overall["total_operations"], json!(2));

    // The account: pl before commission, commission separate, balance = start + pl - commission (it
    // shows the closing fills at its next mark).
    let fills_commission = || -> i64 {
        ids.iter()
            .flat_map(|id| s.all_pages(&format!("/api/operations/{id}/transactions")).into_values())
            .map(|t| cents(&t, "commission"))
            .sum()
    };
    let a = poll("the account to show every fill's commission", Duration::from_secs(20), || {
        let a = s.get_ok("/account/summary");
        (cents(&a, "commission") == fills_commission()).then_some(a)
    });
    assert!(cents(&a, "commission") > 0, "trades paid commission: {a}");
    assert_eq!(cents(&a, "balance"), START_BALANCE_CENTS + cents(&a, "pl") - cents(&a, "commission"), "{a}");
}

#[test]
fn openapi_document_matches_the_routes_both_ways() {
    let s = Server::start(SPEED);
    let doc = s.get_ok("/api/openapi.json");
    assert_eq!(doc["openapi"], json!("3.1.0"), "OpenAPI version");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths object");
    let created = s.post_json("/api/operations", &ema_op("EUR-USD", 3, 8));
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["id"].as_u64().expect("operation id");

    // Every documented (path, method) is routed. DELETE goes last, so that pause and resume act on a
    // live operation.
    let methods = ["get", "post", "put", "patch", "delete"];
    let mut documented: Vec<(&String, &String, &Value)> = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap_or_else(|| panic!("{path}: not an object")) {
            if methods.contains(&method.as_str()) {
                documented.push((path, method, op));
            }
        }
    }
    documented.sort_by_key(|(_, m, _)| *m == "delete");
    let mut checked = 0;
    for (path, method, op) in documented {
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}: no responses");
        // An order id that need not exist: routed is what counts here (a missing one is a JSON 404).
        let url = path.replace("{id}", &id.to_string()).replace("{order_id}", "1");
        assert!(!url.contains('{'), "{path}: a path parameter this test cannot fill");
        let m = method.to_ascii_uppercase();
        let r = if m == "POST" { s.request(&m, &url, Some("application/json"), b"{}") } else { s.request(&m, &url, None, b"") };
        let no_route = r.status == 404 && r.text.contains("no route");
        assert!(!no_route, "{m} {url} is documented but not routed: {} {}", r.status, r.text);
        assert!(r.status != 405, "{m} {url} is documented but the server refuses the method: {}", r.text);
        // Every answer is JSON ({"detail": ...} for errors), but for `/metrics`, whose document declares
        // the Prometheus text format.
        let declared = op["responses"]["200"]["content"].as_object().and_then(|c| c.keys().next().cloned());
        match declared.as_deref() {
            Some(t) if r.status == 200 && t != "application/json" => assert_eq!(r.header("Content-Type"), Some(t), "{m} {url}"),
            _ => {
                r.json();
            }
        }
        if path == "/ws" {
            // A plain GET (no upgrade headers) is the right route with the wrong protocol.
            assert_eq!(r.status, 426, "GET /ws without upgrade headers: {}", r.text);
            assert!(r.detail().contains("WebSocket"), "{}", r.text);
        }
        eprintln!("{m} {url} -> {}", r.status);
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} documented operations");

    // Every route this test knows the server answers is documented.
    let known = [
        ("/api/operations", "post"),
        ("/api/operations", "get"),
        ("/api/operations/{id}", "get"),
        ("/api/operations/{id}", "delete"),
        ("/api/operations/{id}/pause", "post"),
        ("/api/operations/{id}/resume", "post"),
        ("/api/operations/{id}/positions", "get"),
        ("/api/operations/{id}/transactions", "get"),
        ("/api/operations/{id}/trades", "get"),
        ("/api/operations/{id}/orders", "get"),
        ("/api/operations/{id}/stats", "get"),
        ("/api/stats/overall", "get"),
        ("/api/openapi.json", "get"),
        ("/health", "get"),
        ("/account/summary", "get"),
        ("/account/positions", "get"),
        ("/account/trades", "get"),
        ("/symbols/training", "get"),
        ("/symbols/oanda", "get"),
        ("/risk", "get"),
        ("/risk/update", "post"),
        ("/ws", "get"),
        ("/metrics", "get"),
        ("/api/latency", "get"),
        ("/api/operations/{id}/bars", "get"),
        ("/api/operations/{id}/decisions", "get"),
        ("/api/logs", "get"),
        ("/api/audit", "get"),
        ("/api/equity", "get"),
    ];
    for (path, method) in known {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is answered but not in the OpenAPI document");
        let url = path.replace("{id}", &id.to_string());
        let r = if method == "post" {
            s.request("POST", &url, Some("application/json"), b"{}")
        } else {
            s.request(&method.to_ascii_uppercase(), &url, None, b"")
        };
        assert!(!(r.status == 404 && r.text.contains("no route")), "{method} {path}: {}", r.text);
    }
    // {id} routes declare their path parameter.
    for (path, item) in paths.iter().filter(|(p, _)| p.contains("{id}")) {
        for (method, op) in item.as_object().unwrap() {
            let params = op["parameters"].as_array().unwrap_or_else(|| panic!("{method} {path}: no parameters"));
            assert!(params.iter().any(|p| p["name"] == "id" && p["in"] == "path"), "{method} {path}: no id parameter");
        }
    }
}
