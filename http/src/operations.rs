//! The operations API under `/api`: create, list, get, stop (DELETE), pause, resume; and each
//! operation's positions, transactions, trades, orders and stats; plus overall stats.

use crate::api::{newest_first, page, ApiError, ApiResult, Reply, Request};
use crate::app::{App, Applied};
use crate::readmodel::{OperationMeta, ReadState};
use crate::views;
use pinion_core::bars::BarSize;
use pinion_core::engine::{BookSpec, CrashRecoveryMode, EngineError, StopLossType, TakeProfitType};
use pinion_core::fixed::Money;
use pinion_core::order::{BookId, OrderPurpose};
use pinion_core::strategy::{build_strategy, StrategyError};
use serde_json::{json, Map, Value};

const FIELDS: &[&str] = &[
    "asset",
    "bar_sizes",
    "primary_bar_size",
    "strategy_name",
    "strategy_config",
    "initial_capital",
    "stop_loss_type",
    "stop_loss_value",
    "take_profit_type",
    "take_profit_value",
    "crash_recovery_mode",
    "emergency_stop_loss_pct",
];

/// A validated create request.
pub struct CreateRequest {
    pub meta: OperationMeta,
    pub spec_parts: SpecParts,
}

/// The engine-side parts of a create request (the strategy is built from these on apply).
#[derive(Debug, Clone)]
pub struct SpecParts {
    pub instrument: pinion_core::instrument::InstrumentId,
    pub bar_sizes: Vec<BarSize>,
    pub primary: usize,
    pub stop: (StopLossType, f64),
    pub take: (TakeProfitType, f64),
    pub mode: CrashRecoveryMode,
}

fn get_str<'a>(m: &'a Map<String, Value>, k: &str) -> Result<Option<&'a str>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::field(k, "must be a string")),
    }
}

fn get_num(m: &Map<String, Value>, k: &str, default: f64) -> Result<f64, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n.as_f64().filter(|v| v.is_finite()).ok_or_else(|| ApiError::field(k, "must be a finite number")),
        Some(_) => Err(ApiError::field(k, "must be a number")),
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(field: &str, s: &str, allowed: &str) -> Result<T, ApiError> {
    serde_json::from_value(Value::String(s.to_ascii_uppercase()))
        .map_err(|_| ApiError::field(field, format!("unknown value {s:?}; expected one of {allowed}")))
}

/// Validates every field of a create body, naming the first bad one.
pub fn validate_create(app: &App, body: &Map<String, Value>) -> Result<(CreateRequest, Value), ApiError> {
    if let Some(k) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::field(k, format!("unknown field; known fields: {}", FIELDS.join(", "))));
    }
    let asset = get_str(body, "asset")?.ok_or_else(|| ApiError::field("asset", "is required"))?;
    let instrument = app.instruments.find(asset).ok_or_else(|| ApiError::field("asset", format!("unknown instrument {asset:?}")))?;
    let symbol = &app.instruments.get(instrument).symbol;
    if !app.fed_instruments.iter().any(|s| s == symbol) {
        return Err(ApiError::field("asset", format!("no price feed for {asset:?}; the feed carries {}", app.fed_instruments.join(", "))));
    }
    let sizes_v = body.get("bar_sizes").ok_or_else(|| ApiError::field("bar_sizes", "is required"))?;
    let arr = sizes_v.as_array().ok_or_else(|| ApiError::field("bar_sizes", "must be an array of strings such as \"1 hour\""))?;
    if arr.is_empty() {
        return Err(ApiError::field("bar_sizes", "must not be empty"));
    }
    let mut bar_sizes = Vec::with_capacity(arr.len());
    for (i, v) in arr.iter().enumerate() {
        let s = v.as_str().ok_or_else(|| ApiError::field(&format!("bar_sizes[{i}]"), "must be a string"))?;
        let b = BarSize::parse(s).map_err(|e| ApiError::field(&format!("bar_sizes[{i}]"), e))?;
        if bar_sizes.contains(&b) {
            return Err(ApiError::field(&format!("bar_sizes[{i}]"), format!("duplicate bar size {b}")));
        }
        bar_sizes.push(b);
    }
    let primary = match get_str(body, "primary_bar_size")? {
        None => 0,
        Some(p) => {
            let b = BarSize::parse(p).map_err(|e| ApiError::field("primary_bar_size", e))?;
            bar_sizes
                .iter()
                .position(|x| *x == b)
                .ok_or_else(|| ApiError::field("primary_bar_size", format!("{b} is not one of bar_sizes")))?
        }
    };
    let strategy_name = get_str(body, "strategy_name")?.ok_or_else(|| ApiError::field("strategy_name", "is required"))?;
    let strategy_config = body.get("strategy_config").cloned().unwrap_or(json!({}));
    // Build once to validate; the core builds its own instance on apply.
    build_strategy(strategy_name, &strategy_config, app.instruments.get(instrument)).map_err(|e| match e {
        StrategyError::Unknown(_) => ApiError::field("strategy_name", e),
        StrategyError::Config(m) => ApiError::field("strategy_config", m),
    })?;
    let capital = get_num(body, "initial_capital", 10_000.0)?;
    if capital <= 0.0 || capital > 1e12 {
        return Err(ApiError::field("initial_capital", format!("must be positive (and at most 1e12), got {capital}")));
    }
    let sl_type_s = get_str(body, "stop_loss_type")?.unwrap_or("ATR");
    let sl_type: StopLossType = parse_enum("stop_loss_type", sl_type_s, "ATR, PERCENTAGE, FIXED, PIPS")?;
    let sl_value = get_num(body, "stop_loss_value", 1.5)?;
    let tp_type_s = get_str(body, "take_profit_type")?.unwrap_or("RISK_REWARD");
    let tp_type: TakeProfitType = parse_enum("take_profit_type", tp_type_s, "RISK_REWARD, ATR, PERCENTAGE, FIXED, PIPS")?;
    let tp_value = get_num(body, "take_profit_value", 2.0)?;
    for (f, v) in [("stop_loss_value", sl_value), ("take_profit_value", tp_value)] {
        if v <= 0.0 {
            return Err(ApiError::field(f, format!("must be positive, got {v}")));
        }
    }
    let mode_s = get_str(body, "crash_recovery_mode")?.unwrap_or("CLOSE_ALL");
    let mode: CrashRecoveryMode = parse_enum("crash_recovery_mode", mode_s, "CLOSE_ALL, RESUME, EMERGENCY_EXIT")?;
    let emergency = get_num(body, "emergency_stop_loss_pct", 0.05)?;
    if !(emergency > 0.0 && emergency <= 1.0) {
        return Err(ApiError::field("emergency_stop_loss_pct", format!("must be in (0, 1] (0.05 = 5%), got {emergency}")));
    }
    let normalized = json!({
        "asset": asset,
        "bar_sizes": bar_sizes.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
        "primary_bar_size": bar_sizes[primary].to_string(),
        "strategy_name": strategy_name,
        "strategy_config": strategy_config,
        "initial_capital": capital,
        "stop_loss_type": sl_type_s.to_ascii_uppercase(),
        "stop_loss_value": sl_value,
        "take_profit_type": tp_type_s.to_ascii_uppercase(),
        "take_profit_value": tp_value,
        "crash_recovery_mode": mode_s.to_ascii_uppercase(),
        "emergency_stop_loss_pct": emergency,
    });
    let meta = OperationMeta {
        id: 0,
        book: BookId(0),
        asset: asset.to_string(),
        bar_sizes: bar_sizes.iter().map(|b| b.to_string()).collect(),
        primary_bar_size: bar_sizes[primary].to_string(),
        strategy_name: strategy_name.to_string(),
        strategy_config,
        initial_capital: Money::from_f64(capital),
        stop_loss_type: sl_type_s.to_ascii_uppercase(),
        stop_loss_value: sl_value,
        take_profit_type: tp_type_s.to_ascii_uppercase(),
        take_profit_value: tp_value,
        crash_recovery_mode: mode_s.to_ascii_uppercase(),
        emergency_stop_loss_pct: emergency,
        created_ns: 0,
        updated_ns: 0,
        error: None,
    };
    let spec_parts = SpecParts { instrument, bar_sizes, primary, stop: (sl_type, sl_value), take: (tp_type, tp_value), mode };
    Ok((CreateRequest { meta, spec_parts }, normalized))
}

/// The engine book of a validated create request (a fresh strategy instance).
pub fn book_spec(app: &App, req: &CreateRequest) -> Result<BookSpec, ApiError> {
    let (meta, p) = (&req.meta, &req.spec_parts);
    let inst = app.instruments.get(p.instrument).clone();
    let strategy = build_strategy(&meta.strategy_name, &meta.strategy_config, &inst).map_err(|e| ApiError::field("strategy_config", e))?;
    Ok(BookSpec {
        instrument: p.instrument,
        bar_sizes: p.bar_sizes.clone(),
        primary: p.primary,
        strategy,
        capital: meta.initial_capital,
        stop_loss: Some(p.stop),
        take_profit: Some(p.take),
        risk_fraction: 0.01,
    })
}

/// Creates the book on the core and registers the operation; returns its id and where it was applied.
pub fn apply_create(app: &App, req: CreateRequest) -> Result<(u64, Applied), ApiError> {
    let spec = book_spec(app, &req)?;
    let ((book, now), at) = app.call_applied(move |e| (e.add_book(spec), e.now_ns()))?;
    let book = book.map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((register(app, req.meta, book, now, None), at))
}

/// Adds an operation's metadata to the read model (`id` None: the next free id).
pub fn register(app: &App, mut meta: OperationMeta, book: BookId, now: i64, id: Option<u64>) -> u64 {
    let capital = meta.initial_capital;
    let mut s = app.read.write();
    meta.id = id.unwrap_or(s.operations.iter().map(|o| o.id).max().unwrap_or(0) + 1);
    meta.book = book;
    meta.created_ns = now;
    meta.updated_ns = now;
    let id = meta.id;
    if let Some(b) = s.books.get_mut(book.0 as usize) {
        b.initial_capital = capital;
        b.equity = crate::readmodel::book::EquityCurve::new(capital);
    }
    s.operations.push(meta);
    id
}

fn create(app: &App, req: &Request) -> ApiResult {
    let body = req.json_object()?;
    let (create, normalized) = validate_create(app, &body)?;
    let (id, at) = apply_create(app, create)?;
    let book = app.read.read().operation(id).map(|o| o.book.0);
    app.persist("operation_created", &at.stamp(json!({ "op_id": id, "book": book, "request": normalized })))?;
    let s = app.read.read();
    let op = s.operation(id).ok_or_else(|| ApiError::new(500, "operation vanished"))?;
    Ok(Reply::created(views::operation(&s, op)))
}

fn parse_id(raw: &str) -> Result<u64, ApiError> {
    match raw.parse::<u64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::bad_request(format!("operation id must be a positive integer, got {raw:?}"))),
    }
}

fn with_op<T>(app: &App, id: u64, f: impl FnOnce(&ReadState, &OperationMeta) -> T) -> Result<T, ApiError> {
    let s = app.read.read();
    let op = s.operation(id).ok_or_else(|| ApiError::not_found(format!("operation {id} not found")))?;
    Ok(f(&s, op))
}

fn lifecycle(app: &App, id: u64, action: &'static str) -> ApiResult {
    let book = with_op(app, id, |_, op| op.book)?;
    let (result, at) = app.call_applied(move |e| apply_action(e, book, action))?;
    match result {
        Ok(()) => {
            app.persist("operation_action", &at.stamp(json!({ "op_id": id, "action": action })))?;
            with_op(app, id, |s, op| Reply::ok(views::operation(s, op)))
        }
        Err(EngineError::WrongState { status, needs, .. }) => {
            Err(ApiError::conflict(format!("operation {id} is {status}; {action} needs it {needs}")))
        }
        Err(e) => Err(ApiError::new(500, e.to_string())),
    }
}

/// Applies a lifecycle action (`pause`, `resume`, `stop`) to a book.
pub fn apply_action(e: &mut pinion_core::engine::Engine, book: BookId, action: &str) -> Result<(), EngineError> {
    match action {
        "pause" => e.pause(book),
        "resume" => e.resume(book),
        _ => e.close_book(book, OrderPurpose::Close),
    }
}

fn list(app: &App, req: &Request) -> ApiResult {
    let filter = match req.query_param("status") {
        None => None,
        Some(s @ ("active" | "paused" | "closed" | "error")) => Some(s.to_string()),
        Some(other) => {
            return Err(ApiError::field("status", format!("unknown status {other:?}; expected active, paused, closed or error")))
        }
    };
    let (limit, offset) = page(req)?;
    let s = app.read.read();
    let ops: Vec<&OperationMeta> =
        s.operations.iter().filter(|o| filter.as_deref().is_none_or(|f| s.book_status(o.book).as_str() == f)).collect();
    Ok(Reply::ok(newest_first(&ops, limit, offset, |o| views::operation(&s, o))))
}

fn sub_resource(app: &App, req: &Request, id: u64, what: &str) -> ApiResult {
    let (limit, offset) = page(req)?;
    with_op(app, id, |s, op| {
        let empty = crate::readmodel::book::BookRecord::new(op.initial_capital);
        let b = s.book(op.book).unwrap_or(&empty);
        let body = match what {
            "positions" => Value::Array(b.positions.values().map(|p| views::position(s, Some(op), p)).collect()),
            "transactions" => newest_first(&b.fills, limit, offset, |r| views::transaction(s, Some(op), r)),
            "trades" => newest_first(&b.trades, limit, offset, |r| views::trade(s, Some(op), r)),
            "orders" => newest_first(&b.orders, limit, offset, |r| views::order(s, Some(op), r)),
            _ => views::book_stats(b),
        };
        Reply::ok(body)
    })
}

fn overall(app: &App) -> ApiResult {
    Ok(Reply::ok(views::overall_stats(&app.read.read())))
}

/// Routes `/api/...`; None when no route matches the path.
pub fn route(app: &App, req: &Request) -> Option<ApiResult> {
    let parts: Vec<&str> = req.path.trim_end_matches('/').split('/').skip(2).collect();
    let m = req.method.as_str();
    Some(match (m, parts.as_slice()) {
        ("POST", ["operations"]) => create(app, req),
        ("GET", ["operations"]) => list(app, req),
        ("GET", ["stats", "overall"]) => overall(app),
        (_, ["operations", raw, rest @ ..]) => {
            let id = match parse_id(raw) {
                Ok(id) => id,
                Err(e) => return Some(Err(e)),
            };
            match (m, rest) {
                ("GET", []) => with_op(app, id, |s, op| Reply::ok(views::operation(s, op))),
                ("DELETE", []) => lifecycle(app, id, "stop"),
                ("POST", ["pause"]) => lifecycle(app, id, "pause"),
                ("POST", ["resume"]) => lifecycle(app, id, "resume"),
                ("GET", [w @ ("positions" | "transactions" | "trades" | "orders" | "stats")]) => sub_resource(app, req, id, w),
                _ => return None,
            }
        }
        _ => return None,
    })
}
