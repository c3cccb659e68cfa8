//! The root-level account, symbols and risk API: `/health`, `/account/summary`, `/account/positions`,
//! `/account/trades`, `/symbols/training`, `/symbols/oanda`, `/risk` and `/risk/update`. The two
//! account lists are paginated like every list (`limit`, `offset`, `X-Total-Count`, `Link`).

use crate::api::{page, take_page, take_page_by_id, ApiError, ApiResult, Listed, Reply, Request};
use crate::app::App;
use crate::history_pages;
use crate::readmodel::ReadState;
use crate::views::{self, account, account::HealthView, account::RiskUpdatedView, account::RiskView, account::TrainingSymbolsView};
use pinion_core::change::Change;
use pinion_core::engine::ChangeResources;
use pinion_core::records::HistoryQuery;
use serde_json::Value;

/// One row per open net position of every book.
pub fn positions_json(s: &ReadState) -> Value {
    views::to_json(&views::account::positions(s))
}

fn positions(app: &App, req: &Request) -> ApiResult {
    let p = page(req)?;
    if p.before_id.is_some() {
        return Err(ApiError::field("before_id", "positions have no row ids; page them with offset"));
    }
    let rows = match &app.live {
        // The broker's own positions (trades opened outside pinion included), as last polled.
        Some(live) => live.positions().map_err(ApiError::unavailable)?,
        None => views::account::positions(&app.read.read()),
    };
    Ok(take_page(rows, p, |v| views::to_json(&v)).reply(req))
}

/// Open lots and closed trades of every book, newest id first: from memory while the page lies above
/// every book's evicted trades, else the closed trades from the history store merged with the lots.
fn trades(app: &App, req: &Request) -> ApiResult {
    let p = page(req)?;
    if let Some(live) = &app.live {
        // The broker's open trades, newest first (its trade ids are the row ids).
        let rows = live.open_trades().map_err(ApiError::unavailable)?;
        let total = rows.len();
        return Ok(take_page_by_id(rows.into_iter(), total, p, |(id, _)| *id, |(_, v)| views::to_json(&v)).reply(req));
    }
    let below = p.before_id.unwrap_or(u64::MAX);
    let (txn, total, lots) = {
        let s = app.read.read();
        let rows = views::account::trades(&s);
        let total = s.books.iter().map(|b| b.counts.trades as usize).sum::<usize>() + rows.iter().filter(|r| r.1.status == "OPEN").count();
        let floor = history_pages::memory_floor(&s);
        let usable = rows.iter().filter(|(id, _)| *id < below && *id >= floor).count();
        if floor == 0 || p.offset.saturating_add(p.limit) < usable {
            return Ok(take_page_by_id(rows.into_iter(), total, p, |(id, _)| *id, |(_, v)| views::to_json(&v)).reply(req));
        }
        let lots: Vec<_> = views::account::open_lots(&s).into_iter().filter(|(id, _)| *id < below).collect();
        (s.txn_seq, total, lots)
    };
    let store = app.read.history().clone();
    history_pages::wait_store(store.as_ref(), txn)?;
    let (rows, more) = history_pages::merge_page(
        p,
        lots,
        |id| store.count_trades(id, below),
        |offset, limit| {
            let stored = store.trades(HistoryQuery { book: None, below_id: below, offset, limit })?;
            let s = app.read.read();
            Ok(stored.iter().filter_map(|t| views::account::closed_trade_row(&s, t)).collect())
        },
    )?;
    let cursor_next = if more { rows.last().map(|(id, _)| *id) } else { None };
    let rows = Value::Array(rows.into_iter().map(|(_, v)| views::to_json(&v)).collect());
    Ok(Listed { rows, total, page: p, cursor_next }.reply(req))
}

fn risk_update(app: &App, req: &Request) -> ApiResult {
    let body = Value::Object(req.json_object()?);
    let committed = app.propose_with(move |app| {
        let current =
            app.call(|e| e.risk().map(|r| r.limits))?.ok_or_else(|| ApiError::conflict("the risk engine is disabled on this server"))?;
        let mut limits = current;
        limits.apply_update(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok((Change::RiskUpdated { limits }, ChangeResources::default()))
    })?;
    match committed.change {
        Change::RiskUpdated { limits } => Ok(Reply::ok(views::to_json(&RiskUpdatedView { ok: true, risk: limits }))),
        _ => Err(ApiError::new(500, "the engine answered a risk update with another change")),
    }
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
            let uptime_seconds = app.started.elapsed().as_secs();
            let broker = app.live.as_ref().map_or("paper", |l| l.broker()).to_string();
            let environment = app.config.environment.clone();
            if let Some(fault) = app.durability.fault() {
                let detail = format!("storage fault: {fault}; trading is halted until the journal can write again");
                let h = HealthView {
                    status: "storage_fault".into(),
                    engine: "halted".into(),
                    uptime_seconds,
                    broker,
                    environment,
                    detail: Some(detail),
                };
                return Some(Ok(Reply::new(503, views::to_json(&h))));
            }
            let feed = app.live.as_ref().map(|l| l.feed()).filter(|f| f.stale);
            let engine = match &feed {
                Some(_) => "feed_stale",
                None if app.commands.is_empty() || app.read.read().applied_seq > 0 => "running",
                None => "stopped",
            };
            let detail = feed.map(|f| format!("price feed stale: {}", f.reason.unwrap_or_else(|| "no prices".into())));
            let h = HealthView { status: "ok".into(), engine: engine.into(), uptime_seconds, broker, environment, detail };
            Ok(Reply::ok(views::to_json(&h)))
        }
        ("GET", "/account/summary") => match &app.live {
            // The broker's own figures, as last polled.
            Some(live) => live.summary().map(|v| Reply::ok(views::to_json(&v))).map_err(ApiError::unavailable),
            None => Ok(Reply::ok(views::to_json(&account::summary(app, &app.read.read())))),
        },
        ("GET", "/account/positions") => positions(app, req),
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
