//! JSON renderings of read-model records: operations, orders, transactions, trades, positions, stats.

use crate::readmodel::book::{BookRecord, FillRecord, OrderRecord, PositionRecord, TradeRecord};
use crate::readmodel::{OperationMeta, ReadState};
use pinion_core::fixed::{Money, Price};
use pinion_core::instrument::{Instrument, InstrumentId};
use pinion_core::order::OrderStatus;
use pinion_core::time::{format_iso, NS_PER_SEC};
use serde::Serialize;
use serde_json::{json, Value};

fn price(p: Price, inst: &Instrument) -> f64 {
    p.as_f64(inst.price_precision)
}

fn units(q: i64, inst: &Instrument) -> f64 {
    q as f64 / 10f64.powi(inst.size_precision as i32)
}

fn money(m: Money) -> f64 {
    m.as_f64()
}

fn status_str(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Pending => "PENDING",
        OrderStatus::Filled => "FILLED",
        OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
        OrderStatus::Cancelled => "CANCELLED",
        OrderStatus::Rejected => "REJECTED",
    }
}

fn enum_str<T: Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The name a row shows for its instrument: the operation's own spelling, else `EUR_USD`.
fn inst_name<'a>(s: &'a ReadState, op: Option<&'a OperationMeta>, id: InstrumentId) -> &'a str {
    match op {
        Some(o) => &o.asset,
        None => s.instruments.try_get(id).map_or("?", |i| i.symbol.as_str()),
    }
}

pub fn operation(s: &ReadState, op: &OperationMeta) -> Value {
    let book = s.book(op.book);
    json!({
        "id": op.id,
        "asset": op.asset,
        "bar_sizes": op.bar_sizes,
        "primary_bar_size": op.primary_bar_size,
        "strategy_name": op.strategy_name,
        "strategy_config": op.strategy_config,
        "initial_capital": money(op.initial_capital),
        "current_capital": book.map_or(money(op.initial_capital), |b| money(b.capital())),
        "stop_loss_type": op.stop_loss_type,
        "stop_loss_value": op.stop_loss_value,
        "take_profit_type": op.take_profit_type,
        "take_profit_value": op.take_profit_value,
        "crash_recovery_mode": op.crash_recovery_mode,
        "emergency_stop_loss_pct": op.emergency_stop_loss_pct,
        "status": s.book_status(op.book).as_str(),
        "error": op.error,
        "open_positions": book.map_or(0, |b| b.positions.len()),
        "created_at": format_iso(op.created_ns),
        "updated_at": format_iso(op.updated_ns),
    })
}

pub fn order(s: &ReadState, op: Option<&OperationMeta>, o: &OrderRecord) -> Value {
    let Some(inst) = s.instruments.try_get(o.order.instrument) else { return Value::Null };
    let px = if o.status == OrderStatus::Filled { o.fill_price } else { o.order.price };
    json!({
        "id": o.order.id,
        "operation_id": op.map(|x| x.id),
        "instrument": inst_name(s, op, o.order.instrument),
        "side": o.order.side.as_str(),
        "type": enum_str(o.order.order_type),
        "purpose": enum_str(o.order.purpose),
        "quantity": units(o.order.quantity.0, inst),
        "price": if px.0 == 0 { Value::Null } else { json!(price(px, inst)) },
        "trigger_price": if o.order.price.0 == 0 { Value::Null } else { json!(price(o.order.price, inst)) },
        "status": status_str(o.status),
        "reason": o.reason.map(|r| r.describe()),
        "created_at": format_iso(o.order.created_ns),
        "updated_at": format_iso(o.updated_ns),
    })
}

pub fn transaction(s: &ReadState, op: Option<&OperationMeta>, r: &FillRecord) -> Value {
    let f = &r.fill;
    let Some(inst) = s.instruments.try_get(f.instrument) else { return Value::Null };
    let notional = units(f.quantity.0, inst) * price(f.price, inst);
    json!({
        "id": r.id,
        "operation_id": op.map(|x| x.id),
        "order_id": f.order_id,
        "instrument": inst_name(s, op, f.instrument),
        "side": f.side.as_str(),
        "action": if f.is_entry { "ENTRY" } else { "EXIT" },
        "position_side": if r.position_dir >= 0 { "LONG" } else { "SHORT" },
        "price": price(f.price, inst),
        "quantity": units(f.quantity.0, inst),
        "commission": money(f.commission),
        "profit": money(f.realized_pnl),
        "profit_pct": if f.is_entry || notional == 0.0 { 0.0 } else { f.realized_pnl.as_f64() / notional * 100.0 },
        "executed_at": format_iso(f.ts_ns),
    })
}

pub fn trade(s: &ReadState, op: Option<&OperationMeta>, r: &TradeRecord) -> Value {
    let t = &r.trade;
    let Some(inst) = s.instruments.try_get(t.instrument) else { return Value::Null };
    let (entry, exit) = (price(t.entry_price, inst), price(t.exit_price, inst));
    json!({
        "id": r.id,
        "operation_id": op.map(|x| x.id),
        "instrument": inst_name(s, op, t.instrument),
        "side": if t.direction > 0 { "LONG" } else { "SHORT" },
        "quantity": units(t.quantity.0, inst),
        "entry_price": entry,
        "exit_price": exit,
        "entry_time": format_iso(t.entry_ns),
        "exit_time": format_iso(t.exit_ns),
        "pnl": money(t.pnl),
        "pnl_pct": if entry == 0.0 { 0.0 } else { (exit - entry) / entry * 100.0 * t.direction as f64 },
        "total_commission": money(t.commission),
        "net_pnl": money(t.pnl - t.commission),
        "duration_seconds": (t.exit_ns - t.entry_ns) as f64 / NS_PER_SEC as f64,
    })
}

pub fn position(s: &ReadState, op: Option<&OperationMeta>, p: &PositionRecord) -> Value {
    let st = &p.state;
    let Some(inst) = s.instruments.try_get(st.instrument) else { return Value::Null };
    let scale = 10f64.powi(inst.price_precision as i32);
    json!({
        "operation_id": op.map(|x| x.id),
        "instrument": inst_name(s, op, st.instrument),
        "side": if st.quantity > 0 { "LONG" } else { "SHORT" },
        "quantity": units(st.quantity.abs(), inst),
        "entry_price": st.avg_price / scale,
        "current_price": if p.mark.0 == 0 { Value::Null } else { json!(price(p.mark, inst)) },
        "unrealized_pnl": money(p.unrealized),
        "stop_loss": st.stop_loss.map(|x| price(x, inst)),
        "take_profit": st.take_profit.map(|x| price(x, inst)),
        "opened_at": format_iso(p.opened_ns),
    })
}

/// Money fields of the stats, summed by the overall endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StatsTotals {
    pub total_trades: u64,
    pub winning: u64,
    pub losing: u64,
    pub total_pnl: Money,
    pub gross_profit: Money,
    pub gross_loss: Money,
    pub commission: Money,
    pub open_positions: u64,
    pub capital: Money,
    pub initial: Money,
    pub max_drawdown: Money,
}

pub fn book_totals(b: &BookRecord) -> StatsTotals {
    let mut t = StatsTotals {
        initial: b.initial_capital,
        capital: b.capital(),
        commission: b.commission,
        open_positions: b.positions.len() as u64,
        max_drawdown: b.equity.max_drawdown,
        ..Default::default()
    };
    for r in &b.trades {
        let net = r.trade.pnl;
        t.total_trades += 1;
        if net.0 > 0 {
            t.winning += 1;
            t.gross_profit += net;
        } else if net.0 < 0 {
            t.losing += 1;
            t.gross_loss += -net;
        }
    }
    t.total_pnl = b.realized - b.commission;
    t
}

/// Annualised Sharpe ratio from daily returns of the equity curve (None with fewer than two returns).
pub fn sharpe(daily: &[(i64, Money)], start: Money) -> Option<f64> {
    let mut prev = start.as_f64();
    let mut rets = Vec::with_capacity(daily.len());
    for (_, e) in daily {
        let v = e.as_f64();
        if prev > 0.0 {
            rets.push(v / prev - 1.0);
        }
        prev = v;
    }
    if rets.len() < 2 {
        return None;
    }
    let n = rets.len() as f64;
    let mean = rets.iter().sum::<f64>() / n;
    let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    (sd > 0.0).then(|| mean / sd * 252f64.sqrt())
}

pub fn stats_json(t: &StatsTotals, max_dd_pct: f64, sharpe: Option<f64>) -> Value {
    let ratio = |a: Money, n: u64| if n == 0 { 0.0 } else { a.as_f64() / n as f64 };
    json!({
        "total_trades": t.total_trades,
        "winning_trades": t.winning,
        "losing_trades": t.losing,
        "win_rate": if t.total_trades == 0 { 0.0 } else { t.winning as f64 / t.total_trades as f64 },
        "total_pnl": money(t.total_pnl),
        "total_pnl_pct": if t.initial.0 == 0 { 0.0 } else { t.total_pnl.0 as f64 / t.initial.0 as f64 * 100.0 },
        "gross_profit": money(t.gross_profit),
        "gross_loss": money(t.gross_loss),
        "profit_factor": if t.gross_loss.0 == 0 { Value::Null } else { json!(t.gross_profit.0 as f64 / t.gross_loss.0 as f64) },
        "average_win": ratio(t.gross_profit, t.winning),
        "average_loss": ratio(t.gross_loss, t.losing),
        "max_drawdown": money(t.max_drawdown),
        "max_drawdown_pct": max_dd_pct,
        "sharpe": sharpe,
        "total_commission": money(t.commission),
        "open_positions": t.open_positions,
        "current_capital": money(t.capital),
    })
}

pub fn book_stats(b: &BookRecord) -> Value {
    let t = book_totals(b);
    stats_json(&t, b.equity.max_drawdown_pct, sharpe(&b.equity.daily, b.initial_capital))
}
