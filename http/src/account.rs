//! The root-level account, symbols and risk API: `/health`, `/account/summary`, `/account/positions`,
//! `/account/trades`, `/symbols/training`, `/symbols/oanda`, `/risk` and `/risk/update`.

use crate::api::{ApiError, ApiResult, Reply, Request};
use crate::app::App;
use crate::readmodel::ReadState;
use crate::views::{self, account, account::HealthView, account::RiskUpdatedView, account::RiskView, account::TrainingSymbolsView};
use serde_json::{json, Value};

/// One row per open net position of every book.
pub fn positions_json(s: &ReadState) -> Value {
    views::to_json(&views::account::positions(s))
}

fn trades(app: &App, req: &Request) -> ApiResult {
    let limit = match req.query_param("limit") {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(ApiError::field("limit", format!("must be an integer between 1 and 1000, got {v:?}"))),
        },
    };
    Ok(Reply::ok(views::to_json(&views::account::trades(&app.read.read(), limit))))
}

fn risk_update(app: &App, req: &Request) -> ApiResult {
    let body = Value::Object(req.json_object()?);
    let body2 = body.clone();
    let (result, at) = app.call_applied(move |e| match e.risk_mut() {
        Some(r) => r.limits.apply_update(&body2).map(|_| r.limits),
        None => Err(pinion_core::risk::RiskUpdateError { field: "risk".into(), message: "risk engine is disabled on this server".into() }),
    })?;
    let limits = result.map_err(|e| ApiError::bad_request(e.to_string()))?;
    app.persist("risk_updated", &at.stamp(json!({ "body": body })))?;
    Ok(Reply::ok(views::to_json(&RiskUpdatedView { ok: true, risk: limits })))
}

fn risk_get(app: &App) -> ApiResult {
    let limits = app.call(|e| e.risk().map(|r| (r.limits, r.is_halted(), r.day_start_equity())))?;
    match limits {
        Some((l, halted, start)) => Ok(Reply::ok(views::to_json(&RiskView {
            risk: Some(l),
            daily_loss_halted: Some(halted),
            day_start_equity: Some(start.as_f64()),
        }))),
        None => Ok(Reply::ok(views::to_json(&RiskView { risk: None, daily_loss_halted: None, day_start_equity: None }))),
    }
}

/// Routes the root-level account API; None when the path is not one of its own.
pub fn route(app: &App, req: &Request) -> Option<ApiResult> {
    let m = req.method.as_str();
    Some(match (m, req.path.trim_end_matches('/')) {
        ("GET", "/health") => {
            let engine = if app.commands.is_empty() || app.read.read().applied_seq > 0 { "running" } else { "stopped" };
            let h = HealthView { status: "ok".into(), engine: engine.into(), uptime_seconds: app.started.elapsed().as_secs() };
            Ok(Reply::ok(views::to_json(&h)))
        }
        ("GET", "/account/summary") => Ok(Reply::ok(views::to_json(&account::summary(app, &app.read.read())))),
        ("GET", "/account/positions") => Ok(Reply::ok(positions_json(&app.read.read()))),
        ("GET", "/account/trades") => trades(app, req),
        ("GET", "/symbols/training") => {
            Ok(Reply::ok(views::to_json(&TrainingSymbolsView { symbols: app.config.training_symbols.clone() })))
        }
        ("GET", "/symbols/oanda") => Ok(Reply::ok(views::to_json(&account::instruments(app)))),
        ("GET", "/risk") => risk_get(app),
        ("POST", "/risk/update") => risk_update(app, req),
        _ => return None,
    })
}
