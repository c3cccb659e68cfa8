//! The root-level account, symbols and risk API: `/health`, `/account/summary`, `/account/positions`,
//! `/account/trades`, `/symbols/training`, `/symbols/oanda`, `/risk` and `/risk/update`.

use crate::api::{ApiError, ApiResult, Reply, Request};
use crate::app::App;
use crate::readmodel::ReadState;
use pinion_core::instrument::InstrumentKind;
use pinion_core::time::format_iso;
use serde_json::{json, Value};

fn holder(s: &ReadState, book: pinion_core::order::BookId) -> Value {
    match s.operation_of_book(book) {
        Some(op) => json!({ "operation_id": op.id }),
        None if s.session_book == Some(book) => json!({ "session": true }),
        None => Value::Null,
    }
}

fn summary(app: &App) -> Value {
    let s = app.read.read();
    let a = s.account;
    let open_trades: usize = s.books.iter().map(|b| b.lots.len()).sum();
    let nav = a.nav();
    json!({
        "accountId": app.config.account_id,
        "currency": "USD",
        "environment": app.config.environment,
        "balance": a.balance.as_f64(),
        "NAV": nav.as_f64(),
        "equity": nav.as_f64(),
        "unrealizedPL": a.unrealized.as_f64(),
        "pl": (a.realized - a.commission).as_f64(),
        "commission": a.commission.as_f64(),
        "marginUsed": a.margin_used.as_f64(),
        "marginAvailable": (nav - a.margin_used).as_f64().max(0.0),
        "openPositionCount": a.open_positions,
        "openTradeCount": open_trades,
        "lastTransactionID": s.last_transaction_id.to_string(),
        "asOf": format_iso(a.ts_ns.max(s.now_ns)),
    })
}

/// One row per open net position of every book.
pub fn positions_json(s: &ReadState) -> Value {
    let mut rows = Vec::new();
    for (bi, b) in s.books.iter().enumerate() {
        for p in b.positions.values() {
            let Some(inst) = s.instruments.try_get(p.state.instrument) else { continue };
            let scale = 10f64.powi(inst.price_precision as i32);
            let units = p.state.quantity as f64 / 10f64.powi(inst.size_precision as i32);
            rows.push(json!({
                "instrument": inst.symbol,
                "units": units,
                "side": if p.state.quantity > 0 { "BUY" } else { "SELL" },
                "avgPrice": p.state.avg_price / scale,
                "currentPrice": if p.mark.0 == 0 { Value::Null } else { json!(p.mark.as_f64(inst.price_precision)) },
                "unrealizedPL": p.unrealized.as_f64(),
                "marginUsed": p.margin.as_f64(),
                "stopLoss": p.state.stop_loss.map(|x| x.as_f64(inst.price_precision)),
                "takeProfit": p.state.take_profit.map(|x| x.as_f64(inst.price_precision)),
                "holder": holder(s, pinion_core::order::BookId(bi as u32)),
            }));
        }
    }
    Value::Array(rows)
}

fn trades(app: &App, req: &Request) -> ApiResult {
    let limit = match req.query_param("limit") {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(ApiError::field("limit", format!("must be an integer between 1 and 1000, got {v:?}"))),
        },
    };
    let s = app.read.read();
    let mut rows: Vec<(u64, Value)> = Vec::new();
    for (bi, b) in s.books.iter().enumerate() {
        let who = holder(&s, pinion_core::order::BookId(bi as u32));
        for t in &b.trades {
            let tr = &t.trade;
            let Some(inst) = s.instruments.try_get(tr.instrument) else { continue };
            let units = tr.direction as f64 * tr.quantity.0 as f64 / 10f64.powi(inst.size_precision as i32);
            rows.push((
                t.id,
                json!({
                    "id": t.id.to_string(), "instrument": inst.symbol, "units": units,
                    "entry_price": tr.entry_price.as_f64(inst.price_precision), "status": "CLOSED",
                    "pnl": tr.pnl.as_f64(), "commission": tr.commission.as_f64(),
                    "open_timestamp": format_iso(tr.entry_ns), "close_timestamp": format_iso(tr.exit_ns),
                    "close_price": tr.exit_price.as_f64(inst.price_precision), "holder": who.clone(),
                }),
            ));
        }
        for lot in &b.lots {
            let Some(inst) = s.instruments.try_get(lot.instrument) else { continue };
            // An open lot's share of its position's unrealized P&L, in proportion to its size.
            let unrealized = b
                .positions
                .get(&lot.instrument)
                .filter(|p| p.state.quantity != 0)
                .map(|p| p.unrealized.as_f64() * (lot.quantity as f64 / p.state.quantity as f64).abs().min(1.0));
            rows.push((
                lot.id,
                json!({
                    "id": lot.id.to_string(), "instrument": inst.symbol,
                    "units": lot.quantity as f64 / 10f64.powi(inst.size_precision as i32),
                    "entry_price": lot.price.as_f64(inst.price_precision), "status": "OPEN",
                    "pnl": unrealized.unwrap_or(0.0), "open_timestamp": format_iso(lot.ts_ns),
                    "close_timestamp": Value::Null, "close_price": Value::Null, "holder": who.clone(),
                }),
            ));
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    rows.truncate(limit);
    Ok(Reply::ok(Value::Array(rows.into_iter().map(|(_, v)| v).collect())))
}

fn oanda_instruments(app: &App) -> Value {
    let rows: Vec<Value> = app
        .instruments
        .iter()
        .map(|(_, i)| {
            json!({
                "name": i.symbol,
                "displayName": i.display_name(),
                "type": match i.kind { InstrumentKind::Currency => "CURRENCY", InstrumentKind::Crypto => "CRYPTO" },
                "pipLocation": i.pip_location,
                "displayPrecision": i.price_precision,
                "tradeUnitsPrecision": i.size_precision,
                "minimumTradeSize": (i.min_trade_size as f64 / 10f64.powi(i.size_precision as i32)).to_string(),
                "marginRate": format!("{}", i.margin_rate.as_f64()),
                "fed": app.fed_instruments.contains(&i.symbol),
            })
        })
        .collect();
    json!({ "instruments": rows, "source": "builtin" })
}

fn risk_update(app: &App, req: &Request) -> ApiResult {
    let body = Value::Object(req.json_object()?);
    let body2 = body.clone();
    let (result, at) = app.call_applied(move |e| {
        let equity = e.broker().account_state(e.now_ns()).nav();
        match e.risk_mut() {
            Some(r) => r.apply_update(&body2, equity),
            None => {
                Err(pinion_core::risk::RiskUpdateError { field: "risk".into(), message: "risk engine is disabled on this server".into() })
            }
        }
    })?;
    let limits = result.map_err(|e| ApiError::bad_request(e.to_string()))?;
    app.persist("risk_updated", &at.stamp(json!({ "body": body })))?;
    Ok(Reply::ok(json!({ "ok": true, "risk": limits })))
}

fn risk_get(app: &App) -> ApiResult {
    let limits = app.call(|e| e.risk().map(|r| (r.limits, r.is_halted(), r.day_start_equity())))?;
    match limits {
        Some((l, halted, start)) => Ok(Reply::ok(json!({ "risk": l, "daily_loss_halted": halted, "day_start_equity": start.as_f64() }))),
        None => Ok(Reply::ok(json!({ "risk": Value::Null }))),
    }
}

/// Routes the root-level account API; None when the path is not one of its own.
pub fn route(app: &App, req: &Request) -> Option<ApiResult> {
    let m = req.method.as_str();
    Some(match (m, req.path.trim_end_matches('/')) {
        ("GET", "/health") => {
            let engine = if app.commands.is_empty() || app.read.read().applied_seq > 0 { "running" } else { "stopped" };
            Ok(Reply::ok(json!({ "status": "ok", "engine": engine, "uptime_seconds": app.started.elapsed().as_secs() })))
        }
        ("GET", "/account/summary") => Ok(Reply::ok(summary(app))),
        ("GET", "/account/positions") => Ok(Reply::ok(positions_json(&app.read.read()))),
        ("GET", "/account/trades") => trades(app, req),
        ("GET", "/symbols/training") => Ok(Reply::ok(json!({ "symbols": app.config.training_symbols }))),
        ("GET", "/symbols/oanda") => Ok(Reply::ok(oanda_instruments(app))),
        ("GET", "/risk") => risk_get(app),
        ("POST", "/risk/update") => risk_update(app, req),
        _ => return None,
    })
}
