//! The operations API under `/api`: create, list, get, stop (DELETE), pause, resume; and each
//! operation's positions, transactions, trades, orders and stats; plus overall stats.

use crate::api::{newest_first, page, take_page, ApiError, ApiResult, Reply, Request};
use crate::app::App;
use crate::history_pages::book_page;
use crate::json_body::parse_body;
use crate::operation_body::CreateOperationBody;
use crate::readmodel::{OperationMeta, ReadState};
use crate::views;
use pinion_core::change::Change;
use pinion_core::engine::ChangeResources;
use pinion_core::events::OperationAction;
use pinion_core::order::BookId;

fn create(app: &App, req: &Request) -> ApiResult {
    let body: CreateOperationBody = parse_body(req)?;
    let spec = body.validate(app)?;
    let committed = app.propose_with(move |app| {
        let op_id = app.read.read().operations.iter().map(|o| o.id).max().unwrap_or(0) + 1;
        Ok((Change::OperationCreated { op_id, book: BookId(0), spec }, ChangeResources::default()))
    })?;
    let Change::OperationCreated { op_id, .. } = committed.change else {
        return Err(ApiError::new(500, "the engine answered a create with another change"));
    };
    let s = app.read.read();
    let op = s.operation(op_id).ok_or_else(|| ApiError::new(500, "operation vanished"))?;
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

fn lifecycle(app: &App, req: &Request, id: u64, action: OperationAction) -> ApiResult {
    // No body is needed; one that is sent must be an empty JSON object.
    if let Some(k) = req.optional_json_object()?.keys().next() {
        return Err(ApiError::field(k, format!("unknown field; {action} takes no fields")));
    }
    let book = with_op(app, id, |_, op| op.book)?;
    app.propose(Change::OperationLifecycle { op_id: id, book, action }, ChangeResources::default()).map_err(|e| {
        if e.status == 409 {
            ApiError::conflict(format!("operation {id}: {}", e.detail))
        } else {
            e
        }
    })?;
    with_op(app, id, |s, op| Reply::ok(views::operation(s, op)))
}

fn list(app: &App, req: &Request) -> ApiResult {
    let filter = match req.query_param("status") {
        None => None,
        Some(s @ ("active" | "paused" | "closed" | "error")) => Some(s.to_string()),
        Some(other) => {
            return Err(ApiError::field("status", format!("unknown status {other:?}; expected active, paused, closed or error")))
        }
    };
    let p = page(req)?;
    let s = app.read.read();
    let ops: Vec<&OperationMeta> =
        s.operations.iter().filter(|o| filter.as_deref().is_none_or(|f| s.book_status(o.book).as_str() == f)).collect();
    Ok(newest_first(&ops, p, |o| o.id, |o| views::operation(&s, o)).reply(req))
}

/// An operation's lists (paginated, with `X-Total-Count` and `Link`) and its stats.
fn sub_resource(app: &App, req: &Request, id: u64, what: &str) -> ApiResult {
    let p = page(req)?;
    let store = app.read.history().clone();
    with_op(app, id, |s, op| {
        let empty = crate::readmodel::book::BookRecord::new(op.initial_capital);
        let b = s.book(op.book).unwrap_or(&empty);
        let listed = match what {
            "positions" if p.before_id.is_some() => {
                return Err(ApiError::field("before_id", "positions have no row ids; page them with offset"))
            }
            "positions" => Ok(take_page(b.positions.values(), p, |r| views::position(s, Some(op), r))),
            "transactions" => {
                book_page(&b.fills, b.counts.fills, p, |r| r.id, |q| store.fills(q.of(op.book)), |r| views::transaction(s, Some(op), r))
            }
            "trades" => {
                book_page(&b.trades, b.counts.trades, p, |r| r.id, |q| store.trades(q.of(op.book)), |r| views::trade(s, Some(op), r))
            }
            "orders" => {
                book_page(&b.orders, b.counts.orders, p, |r| r.order.id, |q| store.orders(q.of(op.book)), |r| views::order(s, Some(op), r))
            }
            _ => return Ok(Reply::ok(views::book_stats(b))),
        };
        listed.map(|l| l.reply(req))
    })?
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
                ("DELETE", []) => lifecycle(app, req, id, OperationAction::Stop),
                ("POST", ["pause"]) => lifecycle(app, req, id, OperationAction::Pause),
                ("POST", ["resume"]) => lifecycle(app, req, id, OperationAction::Resume),
                ("GET", [w @ ("positions" | "transactions" | "trades" | "orders" | "stats")]) => sub_resource(app, req, id, w),
                _ => return None,
            }
        }
        _ => return None,
    })
}
