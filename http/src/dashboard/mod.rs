//! The browser dashboard: the page and its assets (`assets`), and the read routes it needs beyond the
//! two APIs: an operation's candles with indicator values (`/api/operations/{id}/bars`), the decision
//! context of its orders (`/api/operations/{id}/decisions`), and the recent log records, control actions
//! and account equity curve (`/api/logs`, `/api/audit`, `/api/equity`, from [`recent`]).
//!
//! Why these live together: the page reads them on load and then follows `/ws`; each answers from
//! bounded memory (the read model's stores or a copy of the engine's rings taken between tick batches),
//! so none can grow without limit or touch the core's tick path.

pub mod assets;
pub mod chart_views;
pub mod recent;

use crate::api::{ApiError, ApiResult, Reply, Request};
use crate::app::App;
use crate::openapi::Schemas;
use chart_views::{BarsCopy, BarsView, DecisionView};
use pinion_core::bars::BarSize;
use pinion_core::strategy::IndicatorValues;
use recent::{AuditEntryView, EquityPointView, LogRecordView};
use serde_json::json;

/// Most bars one answer holds (the engine keeps [`pinion_core::engine::chart::CHART_BARS`] per size).
pub const MAX_BARS: usize = 1000;

/// (path, method, summary) of the dashboard's read routes, for the route table.
pub const ROUTES: &[(&str, &str, &str, u16)] = &[
    (
        "/api/operations/{id}/bars",
        "get",
        "Candles of one bar size (?bar_size, default the primary; ?limit) with the strategy's indicator values, forming bar last",
        200,
    ),
    (
        "/api/operations/{id}/decisions",
        "get",
        "Why each order was sent: the bar, indicator values or model action, quote and risk verdict (?order_id, ?limit), newest first",
        200,
    ),
    (
        "/api/operations/{id}/orders/{order_id}/why",
        "get",
        "Why this order was sent: its decision context (404 when it is older than the kept decisions)",
        200,
    ),
    ("/api/logs", "get", "Recent log records at INFO or above, newest first (?level, ?q, ?limit)", 200),
    ("/api/audit", "get", "Control actions (who, when, old -> new), newest first (?limit)", 200),
    ("/api/equity", "get", "The account's equity curve at the metric cadence, oldest first (?limit, ?max_points)", 200),
];

/// Declares the schemas and query parameters of [`ROUTES`].
pub fn schemas(s: &mut Schemas) {
    s.response::<BarsView>("/api/operations/{id}/bars", "get")
        .response::<Vec<DecisionView>>("/api/operations/{id}/decisions", "get")
        .response::<DecisionView>("/api/operations/{id}/orders/{order_id}/why", "get")
        .response::<Vec<LogRecordView>>("/api/logs", "get")
        .response::<Vec<AuditEntryView>>("/api/audit", "get")
        .response::<Vec<EquityPointView>>("/api/equity", "get");
    let int = |min: usize, max: usize, default: usize| json!({ "type": "integer", "minimum": min, "maximum": max, "default": default });
    s.query(
        "/api/operations/{id}/bars",
        "get",
        "bar_size",
        "One of the operation's bar sizes (default: the primary)",
        json!({ "type": "string" }),
    );
    s.query("/api/operations/{id}/bars", "get", "limit", "Most bars (the newest)", int(1, MAX_BARS, 300));
    s.query("/api/operations/{id}/decisions", "get", "order_id", "Only this order's decision", json!({ "type": "integer", "minimum": 1 }));
    s.query(
        "/api/operations/{id}/decisions",
        "get",
        "limit",
        "Most decisions (the newest)",
        int(1, pinion_core::engine::chart::DECISIONS, 50),
    );
    s.query(
        "/api/logs",
        "get",
        "level",
        "Least severe level shown",
        json!({ "type": "string", "enum": ["error", "warn", "info"], "default": "info" }),
    );
    s.query("/api/logs", "get", "q", "Only records whose message or target contains this (case-insensitive)", json!({ "type": "string" }));
    s.query("/api/logs", "get", "limit", "Most records (the newest)", int(1, recent::LOG_CAPACITY, 200));
    s.query("/api/audit", "get", "limit", "Most entries (the newest)", int(1, recent::AUDIT_CAPACITY, 200));
    s.query(
        "/api/equity",
        "get",
        "limit",
        "Most points (the newest; one a second)",
        int(1, recent::EQUITY_CAPACITY, recent::EQUITY_CAPACITY),
    );
    s.query("/api/equity", "get", "max_points", "Thin the curve to at most this many points", int(2, recent::EQUITY_CAPACITY, 5000));
}

/// Reads an integer query parameter in `min..=max`, with a default; a bad one is a 400 naming it.
fn int_param(req: &Request, name: &str, min: usize, max: usize, default: usize) -> Result<usize, ApiError> {
    match req.query_param(name) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::field(name, format!("must be an integer between {min} and {max}, got {v:?}"))),
        },
    }
}

fn op_id(raw: &str) -> Result<u64, ApiError> {
    match raw.parse::<u64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::bad_request(format!("operation id must be a positive integer, got {raw:?}"))),
    }
}

fn bars(app: &App, req: &Request, id: u64) -> ApiResult {
    let limit = int_param(req, "limit", 1, MAX_BARS, 300)?;
    let (book, asset, sizes, primary, inst) = {
        let s = app.read.read();
        let op = s.operation(id).ok_or_else(|| ApiError::not_found(format!("operation {id} not found")))?;
        let inst = app.instruments.find(&op.asset).and_then(|i| app.instruments.try_get(i).cloned());
        (op.book, op.asset.clone(), op.bar_sizes.clone(), op.primary_bar_size.clone(), inst)
    };
    let wanted = req.query_param("bar_size").unwrap_or(&primary).to_string();
    let index = match BarSize::parse(&wanted) {
        Ok(b) => sizes.iter().position(|s| BarSize::parse(s).is_ok_and(|x| x == b)),
        Err(e) => return Err(ApiError::field("bar_size", e)),
    }
    .ok_or_else(|| ApiError::field("bar_size", format!("{wanted:?} is not one of the operation's bar sizes ({})", sizes.join(", "))))?;
    let inst = inst.ok_or_else(|| ApiError::new(500, format!("operation {id}: instrument {asset} unknown to the server")))?;
    let is_primary = BarSize::parse(&primary).is_ok_and(|p| Some(p) == BarSize::parse(&wanted).ok());
    let (copy, _) = app.run_on_core(move |e| {
        let Some(b) = e.book(book) else { return BarsCopy { closed: Vec::new(), forming: None } };
        let closed = b.chart.get(index).map(|r| r.iter().copied().collect()).unwrap_or_default();
        let mut ind = IndicatorValues::default();
        if index == b.primary {
            b.strategy.indicators(&mut ind);
        }
        BarsCopy { closed, forming: b.bars.current(index).map(|bar| (*bar, ind)) }
    })?;
    let view = chart_views::bars_view((id, &asset, &sizes[index], is_primary), &inst, &copy, limit);
    Ok(Reply::ok(crate::views::to_json(&view)))
}

fn decisions(app: &App, req: &Request, id: u64) -> ApiResult {
    let limit = int_param(req, "limit", 1, pinion_core::engine::chart::DECISIONS, 50)?;
    let order_id = match req.query_param("order_id") {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n >= 1 => Some(n),
            _ => return Err(ApiError::field("order_id", format!("must be an order id (an integer of at least 1), got {v:?}"))),
        },
    };
    let (book, inst) = {
        let s = app.read.read();
        let op = s.operation(id).ok_or_else(|| ApiError::not_found(format!("operation {id} not found")))?;
        (op.book, app.instruments.find(&op.asset).and_then(|i| app.instruments.try_get(i).cloned()))
    };
    let inst = inst.ok_or_else(|| ApiError::new(500, format!("operation {id}: instrument unknown to the server")))?;
    let (found, _) = app.run_on_core(move |e| {
        e.book(book)
            .map(|b| b.decisions.iter().rev().filter(|d| order_id.is_none_or(|o| d.order_id == o)).take(limit).copied().collect::<Vec<_>>())
            .unwrap_or_default()
    })?;
    let views: Vec<DecisionView> = found.iter().map(|d| chart_views::decision_view(d, &inst)).collect();
    Ok(Reply::ok(crate::views::to_json(&views)))
}

/// One order's decision context (`/api/operations/{id}/orders/{order_id}/why`).
fn why(app: &App, id: u64, raw_order: &str) -> ApiResult {
    let order_id = match raw_order.parse::<u64>() {
        Ok(n) if n >= 1 => n,
        _ => return Err(ApiError::field("order_id", format!("must be an order id (an integer of at least 1), got {raw_order:?}"))),
    };
    let (book, inst) = {
        let s = app.read.read();
        let op = s.operation(id).ok_or_else(|| ApiError::not_found(format!("operation {id} not found")))?;
        (op.book, app.instruments.find(&op.asset).and_then(|i| app.instruments.try_get(i).cloned()))
    };
    let inst = inst.ok_or_else(|| ApiError::new(500, format!("operation {id}: instrument unknown to the server")))?;
    let (found, _) =
        app.run_on_core(move |e| e.book(book).and_then(|b| b.decisions.iter().rev().find(|d| d.order_id == order_id).copied()))?;
    let d = found.ok_or_else(|| {
        ApiError::not_found(format!(
            "no decision kept for order {order_id} of operation {id} (the newest {} decisions are kept)",
            pinion_core::engine::chart::DECISIONS
        ))
    })?;
    Ok(Reply::ok(crate::views::to_json(&chart_views::decision_view(&d, &inst))))
}

fn logs(app: &App, req: &Request) -> ApiResult {
    let level = match req.query_param("level").map(str::to_ascii_lowercase).as_deref() {
        None | Some("info") => log::Level::Info,
        Some("warn" | "warning") => log::Level::Warn,
        Some("error") => log::Level::Error,
        Some(other) => return Err(ApiError::field("level", format!("unknown level {other:?}; expected error, warn or info"))),
    };
    let limit = int_param(req, "limit", 1, recent::LOG_CAPACITY, 200)?;
    let rows = app.read.recent.logs(level, req.query_param("q"), limit);
    Ok(Reply::ok(crate::views::to_json(&rows)))
}

/// Routes the dashboard's read routes; None when the path is none of them.
pub fn route(app: &App, req: &Request) -> Option<ApiResult> {
    let parts: Vec<&str> = req.path.trim_end_matches('/').split('/').skip(1).collect();
    let get = req.method == "GET";
    Some(match parts.as_slice() {
        ["api", "logs"] if get => logs(app, req),
        ["api", "audit"] if get => int_param(req, "limit", 1, recent::AUDIT_CAPACITY, 200)
            .map(|n| Reply::ok(crate::views::to_json(&app.read.recent.audit_entries(n)))),
        ["api", "equity"] if get => (|| {
            let limit = int_param(req, "limit", 1, recent::EQUITY_CAPACITY, recent::EQUITY_CAPACITY)?;
            let max = int_param(req, "max_points", 2, recent::EQUITY_CAPACITY, 5000)?;
            Ok(Reply::ok(crate::views::to_json(&app.read.recent.equity(limit, max))))
        })(),
        ["api", "operations", raw, "orders", order, "why"] if get => op_id(raw).and_then(|id| why(app, id, order)),
        ["api", "operations", raw, w @ ("bars" | "decisions")] if get => match op_id(raw) {
            Ok(id) if *w == "bars" => bars(app, req, id),
            Ok(id) => decisions(app, req, id),
            Err(e) => Err(e),
        },
        _ => return None,
    })
}
