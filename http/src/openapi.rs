//! The OpenAPI 3.1 document of every route the server answers, built from one route table that the
//! router's tests check against; the same table gives each path's methods (`Allow` of 405 answers,
//! `OPTIONS` and CORS preflights).

use crate::app::App;
use serde_json::{json, Map, Value};

/// (path template, method, summary, success status) of the built-in routes.
pub const ROUTES: &[(&str, &str, &str, u16)] = &[
    ("/health", "get", "Liveness and engine state", 200),
    ("/account/summary", "get", "Account summary with OANDA field names", 200),
    ("/account/positions", "get", "Open net positions of every operation and the session (?limit, ?offset)", 200),
    ("/account/trades", "get", "Open and closed trades, newest first (?limit, default 100, max 1000; ?offset)", 200),
    ("/symbols/training", "get", "Symbols the configured models were trained on", 200),
    ("/symbols/oanda", "get", "Instrument metadata", 200),
    ("/risk", "get", "Current risk limits and the daily-loss halt state", 200),
    ("/risk/update", "post", "Partially update risk limits", 200),
    ("/ws", "get", "WebSocket upgrade: status, account, positions, order, metric and log frames (token as bearer header or ?token=)", 101),
    ("/api/openapi.json", "get", "This document", 200),
    ("/api/operations", "post", "Create an operation (a strategy instance)", 201),
    ("/api/operations", "get", "List operations (?status=active|paused|closed|error, ?limit, ?offset)", 200),
    ("/api/operations/{id}", "get", "Get an operation", 200),
    ("/api/operations/{id}", "delete", "Stop an operation: close its positions, then mark it closed", 200),
    ("/api/operations/{id}/pause", "post", "Pause new entries (positions and their stops stay live)", 200),
    ("/api/operations/{id}/resume", "post", "Resume a paused operation", 200),
    ("/api/operations/{id}/positions", "get", "Open positions of an operation (?limit, ?offset)", 200),
    ("/api/operations/{id}/transactions", "get", "Fill legs, newest first (?limit, ?offset)", 200),
    ("/api/operations/{id}/trades", "get", "Closed FIFO round trips, newest first (?limit, ?offset)", 200),
    ("/api/operations/{id}/orders", "get", "Every order sent, newest first (?limit, ?offset)", 200),
    ("/api/operations/{id}/stats", "get", "Statistics of an operation", 200),
    ("/api/stats/overall", "get", "Statistics over all operations", 200),
];

/// Every (path, method) the server answers, extensions included.
pub fn all_routes(app: &App) -> Vec<(String, String, String, u16)> {
    let mut v: Vec<(String, String, String, u16)> =
        ROUTES.iter().map(|(p, m, s, c)| (p.to_string(), m.to_string(), s.to_string(), *c)).collect();
    for p in &app.extensions.providers {
        for (path, method, summary) in p.describe() {
            let code = if method == "post" && path == "/session/start" { 202 } else { 200 };
            v.push((path.to_string(), method.to_string(), summary.to_string(), code));
        }
    }
    v
}

fn matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_end_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    t.len() == p.len() && t.iter().zip(&p).all(|(a, b)| a.starts_with('{') || a == b)
}

/// True when some route exists at `path` (whatever the method).
pub fn path_known(app: &App, path: &str) -> bool {
    all_routes(app).iter().any(|(t, ..)| matches(t, path))
}

/// The methods `path` answers, upper-case (HEAD with GET, and OPTIONS), as an `Allow` value; None
/// when no route exists there.
pub fn allow(app: &App, path: &str) -> Option<String> {
    let mut methods: Vec<String> = Vec::new();
    for (t, m, ..) in all_routes(app) {
        if matches(&t, path) {
            methods.push(m.to_ascii_uppercase());
            if m == "get" {
                methods.push("HEAD".into());
            }
        }
    }
    if methods.is_empty() {
        return None;
    }
    methods.push("OPTIONS".into());
    let order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    methods.sort_by_key(|m| order.iter().position(|o| o == m).unwrap_or(order.len()));
    methods.dedup();
    Some(methods.join(", "))
}

/// True when `allow` (an [`allow`] value) lists `method`.
pub fn allows(allow: &str, method: &str) -> bool {
    allow.split(", ").any(|m| m == method)
}

/// Paths whose GET answers a paginated list (`limit`, `offset`, `X-Total-Count`, `Link`).
fn is_list(path: &str, method: &str) -> bool {
    method == "get"
        && matches!(
            path,
            "/api/operations"
                | "/api/operations/{id}/positions"
                | "/api/operations/{id}/transactions"
                | "/api/operations/{id}/trades"
                | "/api/operations/{id}/orders"
                | "/account/positions"
                | "/account/trades"
        )
}

pub fn document(app: &App) -> Value {
    let mut paths = Map::new();
    for (path, method, summary, code) in all_routes(app) {
        let entry = paths.entry(path.clone()).or_insert_with(|| json!({}));
        let mut op = json!({
            "summary": summary,
            "responses": {
                code.to_string(): { "description": "Success", "content": { "application/json": { "schema": { "type": ["object", "array"] } } } },
                "400": { "$ref": "#/components/responses/Error" },
                "401": { "$ref": "#/components/responses/Error" },
            },
        });
        let mut params = Vec::new();
        if path.contains("{id}") {
            params.push(json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 1 } }));
            op["responses"]["404"] = json!({ "$ref": "#/components/responses/Error" });
        }
        if is_list(&path, &method) {
            params.push(
                json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 } }),
            );
            params.push(json!({ "name": "offset", "in": "query", "schema": { "type": "integer", "minimum": 0, "default": 0 } }));
            op["responses"][code.to_string()]["headers"] = json!({
                "X-Total-Count": { "description": "Rows in the whole list after filtering", "schema": { "type": "integer" } },
                "Link": { "description": "RFC 8288 `<url>; rel=\"next\"` when rows remain past this page", "schema": { "type": "string" } },
            });
        }
        if path == "/ws" {
            params.push(json!({ "name": "token", "in": "query", "required": false, "description": "The bearer token, for browsers that cannot set Authorization on a WebSocket", "schema": { "type": "string" } }));
        }
        if method == "post" && code == 201 {
            op["responses"]["201"]["headers"] =
                json!({ "Location": { "description": "URL of the created resource", "schema": { "type": "string" } } });
        }
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if matches!(method.as_str(), "post" | "delete") && path.starts_with("/api/operations/") {
            op["responses"]["409"] = json!({ "$ref": "#/components/responses/Error" });
        }
        if method == "post" {
            op["requestBody"] = json!({ "required": path == "/api/operations" || path.ends_with("/update") || path.ends_with("/config"), "content": { "application/json": { "schema": { "type": "object" } } } });
        }
        entry[method.as_str()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "pinion", "version": env!("CARGO_PKG_VERSION"), "description": "Operations API under /api; account, session and risk API at the root; WebSocket push at /ws." },
        "servers": [{ "url": "http://127.0.0.1:8000" }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": { "Error": { "description": "Error", "content": { "application/json": { "schema": { "type": "object", "properties": { "detail": { "type": "string" } }, "required": ["detail"] } } } } },
        },
        "security": if app.config.bearer_token.is_some() { json!([{ "bearer": [] }]) } else { json!([]) },
    })
}
