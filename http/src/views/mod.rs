//! Response shapes of the read-model records (operations, orders, transactions, trades, positions),
//! as `Serialize + JsonSchema` structs: each both answers and documents its route (the OpenAPI schemas
//! are generated from these types). Stats are in `stats`, the account API's shapes in `account`.
//!
//! Units and precision, the same in every view: money is USD rounded to the cent (2 decimals); prices
//! are at the instrument's precision; every percentage is in percent (`5.0` means 5%), rounded to 4
//! decimals; other derived ratios (profit factor, Sharpe) are rounded to 4 decimals.

pub mod account;
pub mod stats;

pub use stats::{book_stats, book_totals, overall_stats, sharpe, stats_json, StatsTotals, StatsView};

use crate::readmodel::book::{FillRecord, OrderRecord, PositionRecord, TradeRecord};
use crate::readmodel::{OperationMeta, ReadState};
use pinion_core::fixed::{Money, Price};
use pinion_core::instrument::{Instrument, InstrumentId};
use pinion_core::order::OrderStatus;
use pinion_core::time::{format_iso, NS_PER_SEC};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

pub(crate) fn price(p: Price, inst: &Instrument) -> f64 {
    p.as_f64(inst.price_precision)
}

pub(crate) fn units(q: i64, inst: &Instrument) -> f64 {
    q as f64 / 10f64.powi(inst.size_precision as i32)
}

pub(crate) fn money(m: Money) -> f64 {
    m.as_f64()
}

/// Rounds half away from zero to `dp` decimals; a non-finite value becomes 0 (JSON has no NaN).
pub fn round_dp(v: f64, dp: i32) -> f64 {
    if !v.is_finite() {
        return 0.0;
    }
    let k = 10f64.powi(dp);
    let r = (v * k).round() / k;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// A percentage or ratio at the documented precision (4 decimals).
pub fn round4(v: f64) -> f64 {
    round_dp(v, 4)
}

/// `part / whole` in percent, 4 decimals (0 when `whole` is 0).
pub fn percent(part: f64, whole: f64) -> f64 {
    if whole == 0.0 {
        0.0
    } else {
        round4(part / whole * 100.0)
    }
}

/// Serializes a view (these never fail: no maps with non-string keys, no non-finite floats).
pub fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub(crate) fn enum_name<T: Serialize>(v: T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The name a row shows for its instrument: the operation's own spelling, else `EUR_USD`.
fn inst_name(s: &ReadState, op: Option<&OperationMeta>, id: InstrumentId) -> String {
    match op {
        Some(o) => o.asset.clone(),
        None => s.instruments.try_get(id).map_or("?", |i| i.symbol.as_str()).to_string(),
    }
}

/// An operation: one strategy instance trading one asset with its own capital.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OperationView {
    /// Operation id (a positive integer).
    pub id: u64,
    /// The asset as the client spelled it at creation (`EUR_USD`, `EUR-USD` or `EUR/USD`).
    pub asset: String,
    /// Bar sizes the strategy sees, normalised (`1 hour`, `15 mins`, ...).
    pub bar_sizes: Vec<String>,
    /// The bar size whose close drives the strategy (one of `bar_sizes`).
    pub primary_bar_size: String,
    pub strategy_name: String,
    /// The strategy's parameters as given at creation.
    pub strategy_config: serde_json::Map<String, Value>,
    /// Starting capital, USD.
    pub initial_capital: f64,
    /// initial_capital + realized P/L - commission, USD (open positions not marked).
    pub current_capital: f64,
    #[schemars(extend("enum" = ["ATR", "PERCENTAGE", "FIXED", "PIPS"]))]
    pub stop_loss_type: String,
    /// Stop distance parameter, in the unit of `stop_loss_type` (ATR multiple, fraction of entry
    /// where 0.01 = 1%, price distance, or pips).
    pub stop_loss_value: f64,
    #[schemars(extend("enum" = ["RISK_REWARD", "ATR", "PERCENTAGE", "FIXED", "PIPS"]))]
    pub take_profit_type: String,
    /// Take-profit parameter, in the unit of `take_profit_type`.
    pub take_profit_value: f64,
    #[schemars(extend("enum" = ["CLOSE_ALL", "RESUME", "EMERGENCY_EXIT"]))]
    pub crash_recovery_mode: String,
    /// EMERGENCY_EXIT threshold as a fraction of entry notional (0.05 = 5%): the one fraction-valued
    /// `_pct` field, as semantics.md fixes its default at 0.05.
    pub emergency_stop_loss_pct: f64,
    #[schemars(extend("enum" = ["active", "paused", "closed", "error"]))]
    pub status: String,
    /// Why the operation is in `error` (null otherwise).
    pub error: Option<String>,
    /// Number of open net positions.
    pub open_positions: u64,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

pub fn operation_view(s: &ReadState, op: &OperationMeta) -> OperationView {
    let book = s.book(op.book);
    OperationView {
        id: op.id,
        asset: op.asset.clone(),
        bar_sizes: op.bar_sizes.clone(),
        primary_bar_size: op.primary_bar_size.clone(),
        strategy_name: op.strategy_name.clone(),
        strategy_config: op.strategy_config.as_object().cloned().unwrap_or_default(),
        initial_capital: money(op.initial_capital),
        current_capital: book.map_or(money(op.initial_capital), |b| money(b.capital())),
        stop_loss_type: op.stop_loss_type.clone(),
        stop_loss_value: op.stop_loss_value,
        take_profit_type: op.take_profit_type.clone(),
        take_profit_value: op.take_profit_value,
        crash_recovery_mode: op.crash_recovery_mode.clone(),
        emergency_stop_loss_pct: op.emergency_stop_loss_pct,
        status: s.book_status(op.book).as_str().to_string(),
        error: op.error.clone(),
        open_positions: book.map_or(0, |b| b.positions.len() as u64),
        created_at: format_iso(op.created_ns),
        updated_at: format_iso(op.updated_ns),
    }
}

pub fn operation(s: &ReadState, op: &OperationMeta) -> Value {
    to_json(&operation_view(s, op))
}

/// An order: every order sent, whatever became of it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OrderView {
    pub id: u64,
    /// The operation that sent it (null for the model session's orders).
    pub operation_id: Option<u64>,
    pub instrument: String,
    #[schemars(extend("enum" = ["BUY", "SELL"]))]
    pub side: String,
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["MARKET", "LIMIT", "STOP"]))]
    pub order_type: String,
    #[schemars(extend("enum" = ["ENTRY", "EXIT", "STOP_LOSS", "TAKE_PROFIT", "CLOSE", "RECOVERY", "REBALANCE"]))]
    pub purpose: String,
    /// Units ordered.
    pub quantity: f64,
    /// Fill price once FILLED, else the limit/stop price (null for an unfilled market order).
    pub price: Option<f64>,
    /// The limit/stop trigger price (null for market orders).
    pub trigger_price: Option<f64>,
    #[schemars(extend("enum" = ["PENDING", "SUBMITTED", "FILLED", "PARTIALLY_FILLED", "CANCELLED", "REJECTED"]))]
    pub status: String,
    /// Why it was rejected or cancelled (null otherwise).
    pub reason: Option<String>,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
    /// Present (true) on `order` frames of the model session's orders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<bool>,
}

pub fn order_view(s: &ReadState, op: Option<&OperationMeta>, o: &OrderRecord) -> Option<OrderView> {
    let inst = s.instruments.try_get(o.order.instrument)?;
    let px = if o.status == OrderStatus::Filled { o.fill_price } else { o.order.price };
    Some(OrderView {
        id: o.order.id,
        operation_id: op.map(|x| x.id),
        instrument: inst_name(s, op, o.order.instrument),
        side: o.order.side.as_str().to_string(),
        order_type: enum_name(o.order.order_type),
        purpose: enum_name(o.order.purpose),
        quantity: units(o.order.quantity.0, inst),
        price: (px.0 != 0).then(|| price(px, inst)),
        trigger_price: (o.order.price.0 != 0).then(|| price(o.order.price, inst)),
        status: enum_name(o.status),
        reason: o.reason.map(|r| r.describe().to_string()),
        created_at: format_iso(o.order.created_ns),
        updated_at: format_iso(o.updated_ns),
        session: None,
    })
}

pub fn order(s: &ReadState, op: Option<&OperationMeta>, o: &OrderRecord) -> Value {
    order_view(s, op, o).map_or(Value::Null, |v| to_json(&v))
}

/// A transaction: one fill leg.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TransactionView {
    pub id: u64,
    pub operation_id: Option<u64>,
    pub order_id: u64,
    pub instrument: String,
    #[schemars(extend("enum" = ["BUY", "SELL"]))]
    pub side: String,
    #[schemars(extend("enum" = ["ENTRY", "EXIT"]))]
    pub action: String,
    #[schemars(extend("enum" = ["LONG", "SHORT"]))]
    pub position_side: String,
    pub price: f64,
    pub quantity: f64,
    /// Commission of this fill, USD.
    pub commission: f64,
    /// Realized P/L of this leg before commission, USD (0 for an entry).
    pub profit: f64,
    /// `profit` over the leg's notional, in percent (4 decimals; 0 for an entry).
    pub profit_pct: f64,
    /// ISO 8601 UTC.
    pub executed_at: String,
}

pub fn transaction(s: &ReadState, op: Option<&OperationMeta>, r: &FillRecord) -> Value {
    let f = &r.fill;
    let Some(inst) = s.instruments.try_get(f.instrument) else { return Value::Null };
    let notional = units(f.quantity.0, inst) * price(f.price, inst);
    to_json(&TransactionView {
        id: r.id,
        operation_id: op.map(|x| x.id),
        order_id: f.order_id,
        instrument: inst_name(s, op, f.instrument),
        side: f.side.as_str().to_string(),
        action: if f.is_entry { "ENTRY" } else { "EXIT" }.to_string(),
        position_side: if r.position_dir >= 0 { "LONG" } else { "SHORT" }.to_string(),
        price: price(f.price, inst),
        quantity: units(f.quantity.0, inst),
        commission: money(f.commission),
        profit: money(f.realized_pnl),
        profit_pct: if f.is_entry { 0.0 } else { percent(f.realized_pnl.as_f64(), notional) },
        executed_at: format_iso(f.ts_ns),
    })
}

/// A trade: one completed round trip, matched FIFO.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TradeView {
    pub id: u64,
    pub operation_id: Option<u64>,
    pub instrument: String,
    #[schemars(extend("enum" = ["LONG", "SHORT"]))]
    pub side: String,
    pub quantity: f64,
    pub entry_price: f64,
    pub exit_price: f64,
    /// ISO 8601 UTC.
    pub entry_time: String,
    /// ISO 8601 UTC.
    pub exit_time: String,
    /// Realized P/L before commission, USD.
    pub pnl: f64,
    /// Price move in the trade's favour over the entry price, in percent (4 decimals).
    pub pnl_pct: f64,
    /// Entry and exit commission of this trade, USD.
    pub total_commission: f64,
    /// pnl - total_commission, USD: the P/L the stats count.
    pub net_pnl: f64,
    pub duration_seconds: f64,
}

pub fn trade(s: &ReadState, op: Option<&OperationMeta>, r: &TradeRecord) -> Value {
    let t = &r.trade;
    let Some(inst) = s.instruments.try_get(t.instrument) else { return Value::Null };
    let (entry, exit) = (price(t.entry_price, inst), price(t.exit_price, inst));
    to_json(&TradeView {
        id: r.id,
        operation_id: op.map(|x| x.id),
        instrument: inst_name(s, op, t.instrument),
        side: if t.direction > 0 { "LONG" } else { "SHORT" }.to_string(),
        quantity: units(t.quantity.0, inst),
        entry_price: entry,
        exit_price: exit,
        entry_time: format_iso(t.entry_ns),
        exit_time: format_iso(t.exit_ns),
        pnl: money(t.pnl),
        pnl_pct: percent((exit - entry) * t.direction as f64, entry),
        total_commission: money(t.commission),
        net_pnl: money(t.pnl - t.commission),
        duration_seconds: (t.exit_ns - t.entry_ns) as f64 / NS_PER_SEC as f64,
    })
}

/// An open net position of an operation.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PositionView {
    pub operation_id: Option<u64>,
    pub instrument: String,
    #[schemars(extend("enum" = ["LONG", "SHORT"]))]
    pub side: String,
    /// Units held (positive; `side` gives the direction).
    pub quantity: f64,
    /// Weighted average entry price.
    pub entry_price: f64,
    /// Latest mark (null before the first price after opening).
    pub current_price: Option<f64>,
    /// USD.
    pub unrealized_pnl: f64,
    pub stop_loss: Option<f64>,
    pub take_profit: Option<f64>,
    /// ISO 8601 UTC.
    pub opened_at: String,
}

pub fn position(s: &ReadState, op: Option<&OperationMeta>, p: &PositionRecord) -> Value {
    let st = &p.state;
    let Some(inst) = s.instruments.try_get(st.instrument) else { return Value::Null };
    let scale = 10f64.powi(inst.price_precision as i32);
    to_json(&PositionView {
        operation_id: op.map(|x| x.id),
        instrument: inst_name(s, op, st.instrument),
        side: if st.quantity > 0 { "LONG" } else { "SHORT" }.to_string(),
        quantity: units(st.quantity.abs(), inst),
        entry_price: st.avg_price / scale,
        current_price: (p.mark.0 != 0).then(|| price(p.mark, inst)),
        unrealized_pnl: money(p.unrealized),
        stop_loss: st.stop_loss.map(|x| price(x, inst)),
        take_profit: st.take_profit.map(|x| price(x, inst)),
        opened_at: format_iso(p.opened_ns),
    })
}

#[cfg(test)]
mod tests;
