//! Log records the I/O side writes about trading, and the WebSocket `log` frame they become: a refused
//! order (WARN, target `pinion::orders`, written by the publisher as it folds the REJECTED order event,
//! never on the core's tick path), a book the engine put in `error` (WARN, target `pinion::operations`,
//! likewise from the status event's reason) and a control action (INFO, target `pinion::control`, written by
//! `changes::apply_outside_engine` for every committed change). A `log` frame carries `{level, message, timestamp}`:
//! the record's bare message and the feed's clock, the time every other frame carries.

use crate::readmodel::ReadState;
use crate::ws::{Frame, Topic};
use pinion_core::events::EngineEvent;
use pinion_core::order::{BookId, Order, OrderPurpose, OrderStatus, RejectReason};
use pinion_core::time::format_iso;

/// Target of the refused-order records.
pub const ORDERS_TARGET: &str = "pinion::orders";
/// Target of the control-action records.
pub const CONTROL_TARGET: &str = "pinion::control";

fn purpose(p: OrderPurpose) -> &'static str {
    match p {
        OrderPurpose::Entry => "entry",
        OrderPurpose::Exit => "exit",
        OrderPurpose::StopLoss => "stop-loss",
        OrderPurpose::TakeProfit => "take-profit",
        OrderPurpose::Close => "close",
        OrderPurpose::Recovery => "recovery close",
        OrderPurpose::Rebalance => "rebalance",
    }
}

/// Who holds a book, in words: `operation 3`, `session` for the model session's book, `book N` for a
/// book nobody registered.
fn holder(s: &ReadState, book: BookId) -> String {
    match s.operation_of_book(book) {
        Some(op) => format!("operation {}", op.id),
        None if s.session_book == Some(book) => "session".to_string(),
        None => format!("book {}", book.0),
    }
}

/// `operation 3: entry BUY 1000 EUR_USD refused: max_concurrent_positions reached (order 17)`; the
/// holder is `session` for the model session's book and `book N` for a book nobody registered.
pub fn refusal_message(s: &ReadState, order: &Order, reason: Option<RejectReason>) -> String {
    let holder = holder(s, order.book);
    let what = match s.instruments.try_get(order.instrument) {
        Some(inst) => {
            let units = order.quantity.0 as f64 / 10f64.powi(inst.size_precision as i32);
            format!("{} {} {units} {}", purpose(order.purpose), order.side.as_str(), inst.symbol)
        }
        None => format!("{} {}", purpose(order.purpose), order.side.as_str()),
    };
    let why = reason.map_or("no reason given", RejectReason::describe);
    format!("{holder}: {what} refused: {why} (order {})", order.id)
}

/// The messages of the refused orders in `batch` (REJECTED order events), in order.
pub fn refusals(s: &ReadState, batch: &[EngineEvent]) -> Vec<String> {
    batch
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Order { order, status: OrderStatus::Rejected, reason, .. } => Some(refusal_message(s, order, *reason)),
            _ => None,
        })
        .collect()
}

/// Target of the records of books the engine put in `error` (capital exhausted).
pub const OPERATIONS_TARGET: &str = "pinion::operations";

/// `operation 3: error: capital exhausted: ...` for each book the engine put in `error` in `batch` (a
/// status event with a reason), in order; the holder as in [`refusal_message`].
pub fn book_errors(s: &ReadState, batch: &[EngineEvent]) -> Vec<String> {
    batch
        .iter()
        .filter_map(|e| match e {
            EngineEvent::BookStatus { book, reason: Some(reason), .. } => Some(format!("{}: error: {reason}", holder(s, *book))),
            _ => None,
        })
        .collect()
}

/// Writes one WARN record per book put in `error` (the caller has released the read model's lock).
pub fn log_book_errors(messages: &[String]) {
    for m in messages {
        log::warn!(target: OPERATIONS_TARGET, "{m}");
    }
}

/// Writes one WARN record per refused order (the caller has released the read model's lock).
pub fn log_refusals(messages: &[String]) {
    for m in messages {
        log::warn!(target: ORDERS_TARGET, "{m}");
    }
}

/// The `log` frame of one record: `{level, message, timestamp}` with the bare message and `feed_ns`
/// (the feed's clock) as the time; before the feed's first tick (`feed_ns` 0) the wall clock.
pub fn log_frame(level: log::Level, message: &str, feed_ns: i64) -> serde_json::Result<Frame> {
    let ts = if feed_ns > 0 {
        feed_ns
    } else {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
    };
    Frame::json(Topic::Log, &serde_json::json!({ "level": level.as_str(), "message": message, "timestamp": format_iso(ts) }))
}

#[cfg(test)]
mod tests;
