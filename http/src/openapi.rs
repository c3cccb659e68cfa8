//! The OpenAPI 3.1 document of every route the server answers, built from one route table that the
//! router's tests check against; the same table gives each path's methods (`Allow` of 405 answers,
//! `OPTIONS` and CORS preflights).
//! Request and response schemas are generated (schemars) from the types
//! that parse the bodies (`bodies`) and render the answers (`views`), so each shape is described once.

use crate::app::App;
use crate::bodies::{CreateOperationBody, RiskUpdateBody};
use crate::extensions::RouteProvider;
use crate::views::account::{
    AccountPositionView, AccountSummaryView, AccountTradeView, HealthView, InstrumentsView, RiskUpdatedView, RiskView, TrainingSymbolsView,
};
use crate::views::stats::OverallStatsView;
use crate::views::{OperationView, OrderView, PositionView, StatsView, TradeView, TransactionView};
use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, SchemaGenerator};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

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
    (
        "/metrics",
        "get",
        "Prometheus metrics (text format 0.0.4): ticks, orders, account, hop latency histograms, HTTP, WebSocket, journal, process",
        200,
    ),
    ("/api/latency", "get", "Latest p50/p99 of each hop of the tick path, over the last 10 s", 200),
];

/// Every (path, method) the server answers, extensions included.
pub fn all_routes(app: &App) -> Vec<(String, String, String, u16)> {
    let mut v: Vec<(String, String, String, u16)> =
        ROUTES.iter().chain(crate::dashboard::ROUTES).map(|(p, m, s, c)| (p.to_string(), m.to_string(), s.to_string(), *c)).collect();
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

/// The route template `path` matches (`/api/operations/{id}`), if any.
pub fn route_template(app: &App, path: &str) -> Option<String> {
    all_routes(app).into_iter().map(|r| r.0).find(|t| matches(t, path))
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

/// The `{"detail": ...}` body of every error answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    /// What went wrong; names the offending field for a 400 about one.
    pub detail: String,
}

/// A small `{ok: true}`-style acknowledgement.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OkView {
    #[schemars(extend("const" = true))]
    pub ok: bool,
}

/// The request and response schemas and query parameters of the routes, by (path, method).
#[derive(Default, Debug, Clone)]
pub struct RouteSchema {
    /// (schema, required).
    pub request: Option<(Value, bool)>,
    pub response: Option<Value>,
    /// OpenAPI parameter objects (`in: query`).
    pub query: Vec<Value>,
}

/// Collects route schemas: responses against shared `#/components/schemas` definitions (serialize
/// contract), request bodies inlined (deserialize contract: fields with defaults are optional).
pub struct Schemas {
    responses: SchemaGenerator,
    requests: SchemaGenerator,
    routes: BTreeMap<(String, String), RouteSchema>,
}

impl Default for Schemas {
    fn default() -> Self {
        Self::new()
    }
}

impl Schemas {
    pub fn new() -> Schemas {
        let mut resp = SchemaSettings::draft2020_12();
        resp.definitions_path = "/components/schemas".into();
        resp.meta_schema = None;
        resp.contract = Contract::Serialize;
        let mut req = SchemaSettings::draft2020_12();
        req.meta_schema = None;
        req.inline_subschemas = true;
        req.contract = Contract::Deserialize;
        Schemas { responses: resp.into_generator(), requests: req.into_generator(), routes: BTreeMap::new() }
    }

    fn entry(&mut self, path: &str, method: &str) -> &mut RouteSchema {
        self.routes.entry((path.to_string(), method.to_string())).or_default()
    }

    /// The success response of `method path` is a `T`.
    pub fn response<T: JsonSchema>(&mut self, path: &str, method: &str) -> &mut Self {
        let s = self.responses.subschema_for::<T>().to_value();
        self.entry(path, method).response = Some(s);
        self
    }

    /// The request body of `method path` is a `T` (`required`: the body may not be omitted).
    pub fn request<T: JsonSchema>(&mut self, path: &str, method: &str, required: bool) -> &mut Self {
        let s = self.requests.root_schema_for::<T>().to_value();
        self.entry(path, method).request = Some((s, required));
        self
    }

    /// A query parameter of `method path`, with its schema (type, default, range or enum).
    pub fn query(&mut self, path: &str, method: &str, name: &str, description: &str, schema: Value) -> &mut Self {
        let p = json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema });
        self.entry(path, method).query.push(p);
        self
    }

    fn get(&self, path: &str, method: &str) -> Option<&RouteSchema> {
        self.routes.get(&(path.to_string(), method.to_string()))
    }
}

/// Declares `limit` and `offset` on a list route (the ranges `api::page` enforces).
fn paged(s: &mut Schemas, path: &str) {
    let limit = json!({ "type": "integer", "default": crate::api::DEFAULT_LIMIT, "minimum": 1, "maximum": crate::api::MAX_LIMIT });
    s.query(path, "get", "limit", "Most items to return", limit);
    s.query(path, "get", "offset", "Items to skip from the newest", json!({ "type": "integer", "default": 0, "minimum": 0 }));
    if !path.ends_with("/positions") {
        let cursor = json!({ "type": "integer", "minimum": 1 });
        s.query(path, "get", "before_id", "Only rows with a lower id (a cursor that never drifts as rows arrive)", cursor);
    }
}

/// The built-in routes' schemas.
fn builtin_schemas(s: &mut Schemas) {
    s.response::<HealthView>("/health", "get")
        .response::<AccountSummaryView>("/account/summary", "get")
        .response::<Vec<AccountPositionView>>("/account/positions", "get")
        .response::<Vec<AccountTradeView>>("/account/trades", "get")
        .response::<TrainingSymbolsView>("/symbols/training", "get")
        .response::<InstrumentsView>("/symbols/oanda", "get")
        .response::<RiskView>("/risk", "get")
        .response::<RiskUpdatedView>("/risk/update", "post")
        .request::<RiskUpdateBody>("/risk/update", "post", true)
        .response::<CreateOperationBodyAnswer>("/api/operations", "post")
        .request::<CreateOperationBody>("/api/operations", "post", true)
        .response::<Vec<OperationView>>("/api/operations", "get")
        .response::<OperationView>("/api/operations/{id}", "get")
        .response::<OperationView>("/api/operations/{id}", "delete")
        .response::<OperationView>("/api/operations/{id}/pause", "post")
        .response::<OperationView>("/api/operations/{id}/resume", "post")
        .response::<Vec<PositionView>>("/api/operations/{id}/positions", "get")
        .response::<Vec<TransactionView>>("/api/operations/{id}/transactions", "get")
        .response::<Vec<TradeView>>("/api/operations/{id}/trades", "get")
        .response::<Vec<OrderView>>("/api/operations/{id}/orders", "get")
        .response::<StatsView>("/api/operations/{id}/stats", "get")
        .response::<OverallStatsView>("/api/stats/overall", "get")
        .response::<crate::metrics::LatencyView>("/api/latency", "get");
    crate::dashboard::schemas(s);
    let status = json!({ "type": "string", "enum": ["active", "paused", "closed", "error"] });
    s.query("/api/operations", "get", "status", "Only operations with this status", status);
    for p in [
        "/api/operations",
        "/api/operations/{id}/positions",
        "/api/operations/{id}/transactions",
        "/api/operations/{id}/trades",
        "/api/operations/{id}/orders",
        "/account/positions",
        "/account/trades",
    ] {
        debug_assert!(is_list(p, "get"));
        paged(s, p);
    }
}

/// The create answer is the operation itself.
type CreateOperationBodyAnswer = OperationView;

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn operation_doc(path: &str, method: &str, summary: &str, code: u16, rs: Option<&RouteSchema>) -> Value {
    let err = json!({ "$ref": "#/components/responses/Error" });
    let success = if code == 101 {
        json!({ "description": "Switching Protocols: the WebSocket session" })
    } else if path == "/metrics" {
        let text = json!({ "schema": { "type": "string", "description": "Prometheus text exposition format 0.0.4" } });
        let mut content = Map::new();
        content.insert(crate::metrics::CONTENT_TYPE.into(), text);
        json!({ "description": "The metrics", "content": content })
    } else if path == "/api/openapi.json" {
        json!({ "description": "This OpenAPI 3.1 document", "content": json_content(json!({ "type": "object", "required": ["openapi", "paths"] })) })
    } else {
        // A route without a declared schema (an extension that documents none) answers some JSON value.
        let schema = rs.and_then(|r| r.response.clone()).unwrap_or_else(|| json!({ "description": "Undocumented JSON" }));
        json!({ "description": "Success", "content": json_content(schema) })
    };
    let mut responses = Map::new();
    responses.insert(code.to_string(), success);
    responses.insert("400".into(), err.clone());
    let mut op = json!({ "summary": summary });
    if path == "/health" {
        op["security"] = json!([]);
    } else {
        responses.insert("401".into(), err.clone());
    }
    if path == "/ws" {
        responses.insert("426".into(), err.clone());
    }
    let mut params: Vec<Value> = Vec::new();
    if path.contains("{id}") {
        params.push(json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 1 } }));
        responses.insert("404".into(), err.clone());
    }
    if path.contains("{order_id}") {
        params.push(json!({ "name": "order_id", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 1 } }));
        responses.insert("400".into(), err.clone());
    }
    if matches!(method, "post" | "delete") && path.starts_with("/api/operations/") {
        responses.insert("409".into(), err.clone());
    }
    if let Some(r) = rs {
        params.extend(r.query.iter().cloned());
        if let Some((schema, required)) = &r.request {
            op["requestBody"] = json!({ "required": required, "content": json_content(schema.clone()) });
        }
    }
    if path == "/ws" && !params.iter().any(|p| p["name"] == "token") {
        params.push(json!({ "name": "token", "in": "query", "required": false,
            "description": "The bearer token, for browsers that cannot set Authorization on a WebSocket", "schema": { "type": "string" } }));
    }
    if is_list(path, method) {
        if let Some(ok) = responses.get_mut(&code.to_string()) {
            ok["headers"] = json!({
                "X-Total-Count": { "description": "Rows in the whole list after filtering", "schema": { "type": "integer" } },
                "Link": { "description": "RFC 8288 `<url>; rel=\"next\"` when rows remain past this page", "schema": { "type": "string" } },
            });
        }
    }
    if code == 201 {
        if let Some(ok) = responses.get_mut("201") {
            ok["headers"] = json!({ "Location": { "description": "URL of the created resource", "schema": { "type": "string" } } });
        }
    }
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    op["responses"] = Value::Object(responses);
    op
}

pub fn document(app: &App) -> Value {
    build(all_routes(app), &app.extensions.providers)
}

/// The document of `routes`, with the schemas of the built-in routes and those `providers` declare.
fn build(routes: Vec<(String, String, String, u16)>, providers: &[Arc<dyn RouteProvider>]) -> Value {
    let mut schemas = Schemas::new();
    builtin_schemas(&mut schemas);
    for p in providers {
        p.schemas(&mut schemas);
    }
    let error_ref = schemas.responses.subschema_for::<ErrorBody>().to_value();
    let mut paths = Map::new();
    for (path, method, summary, code) in routes {
        let op = operation_doc(&path, &method, &summary, code, schemas.get(&path, &method));
        let entry = paths.entry(path.clone()).or_insert_with(|| json!({}));
        entry[method.as_str()] = op;
    }
    let components = schemas.responses.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "pinion",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Operations API under /api; account, session and risk API at the root; WebSocket push at /ws. \
                Money is USD rounded to the cent; percentages are in percent (5.0 = 5%) rounded to 4 decimals, except \
                emergency_stop_loss_pct, a fraction (0.05 = 5%); other ratios are rounded to 4 decimals.",
        },
        "servers": [{ "url": "http://127.0.0.1:8000" }],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": { "bearer": {
                "type": "http", "scheme": "bearer",
                "description": "Authorization: Bearer <token>, checked when the server is configured with a token",
            } },
            "responses": { "Error": { "description": "Error", "content": json_content(error_ref) } },
        },
        "security": [{ "bearer": [] }],
    })
}

/// What is wrong with a document: schemas left as the old `{"type": ["object", "array"]}` placeholder
/// and `$ref`s that point nowhere (the tests require none).
pub fn document_problems(doc: &Value) -> Vec<String> {
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Object(m) => {
                out.push(v);
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut objects = Vec::new();
    walk(doc, &mut objects);
    let placeholder = json!({ "type": ["object", "array"] });
    let mut problems: Vec<String> = objects.iter().filter(|o| ***o == placeholder).map(|_| "a placeholder schema".to_string()).collect();
    for r in objects.iter().filter_map(|o| o.get("$ref").and_then(Value::as_str)) {
        if doc.pointer(r.trim_start_matches('#')).is_none() {
            problems.push(format!("dangling $ref {r}"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_route_has_real_schemas_and_refs_resolve() {
        let routes = ROUTES.iter().map(|(p, m, s, c)| (p.to_string(), m.to_string(), s.to_string(), *c)).collect();
        let doc = build(routes, &[]);
        assert_eq!(document_problems(&doc), Vec::<String>::new());
        let broken = json!({ "a": { "type": ["object", "array"] }, "b": { "$ref": "#/components/schemas/Nope" } });
        assert_eq!(document_problems(&broken).len(), 2);
        for (path, method, ..) in ROUTES {
            let op = &doc["paths"][path][method];
            assert!(op.is_object(), "{method} {path} missing");
            if *path == "/metrics" {
                assert_eq!(op["responses"]["200"]["content"][crate::metrics::CONTENT_TYPE]["schema"]["type"], "string");
            } else if *path != "/ws" && *path != "/api/openapi.json" {
                let code = op["responses"].as_object().and_then(|r| r.keys().find(|k| k.starts_with('2')).cloned());
                let schema = &op["responses"][code.unwrap_or_default()]["content"]["application/json"]["schema"];
                assert!(schema.get("$ref").is_some() || schema.get("type").is_some(), "{method} {path}: {schema}");
            }
        }
        assert_eq!(doc["paths"]["/health"]["get"]["security"], json!([]));
        assert_eq!(doc["security"], json!([{ "bearer": [] }]));
        let stats = &doc["components"]["schemas"]["StatsView"]["properties"];
        assert!(stats["win_rate"]["description"].as_str().is_some_and(|d| d.contains("percent")), "{stats}");
        let q = doc["paths"]["/api/operations"]["get"]["parameters"].as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = q.iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["status", "limit", "offset", "before_id"]);
        let body = &doc["paths"]["/api/operations"]["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["additionalProperties"], json!(false), "{body}");
        assert_eq!(body["required"], json!(["asset", "bar_sizes", "strategy_name"]), "{body}");
    }
}
