//! What the fake knows to be true about its account, for test assertions: exact money (cents),
//! prices (steps), trades with their stop-loss / take-profit, positions, pending orders and every
//! transaction. Taken as a snapshot with [`FakeOanda::account`](super::FakeOanda::account).

use super::ledger::{ClientExtensions, Ledger, OrderKind, OrderState, Trade};
use super::market::Market;
use pinion_core::fixed::{format_decimal, Money, Price};
use serde_json::Value;

/// One trade as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeTruth {
    /// OANDA trade id (the id of the ORDER_FILL that opened it).
    pub id: u64,
    /// Instrument name.
    pub instrument: String,
    /// Units still open (negative: short); 0 once closed.
    pub units: i64,
    /// Units it opened with.
    pub initial_units: i64,
    /// Open price in steps of the instrument's precision.
    pub price: Price,
    /// Open price as OANDA writes it (`"1.10236"`).
    pub price_text: String,
    /// Open time, UTC epoch ns.
    pub open_time_ns: i64,
    /// Close time, once closed.
    pub close_time_ns: Option<i64>,
    /// Trade client extensions (None for trades opened without them, e.g. outside pinion).
    pub client_extensions: Option<ClientExtensions>,
    /// Pending stop-loss price, if any.
    pub stop_loss: Option<Price>,
    /// Pending take-profit price, if any.
    pub take_profit: Option<Price>,
    /// Id of the pending stop-loss order.
    pub stop_loss_order_id: Option<u64>,
    /// Id of the pending take-profit order.
    pub take_profit_order_id: Option<u64>,
    /// P&L realized on closed units.
    pub realized_pl: Money,
    /// P&L of the open units at the current price.
    pub unrealized_pl: Money,
    /// Margin the open units use at the current price.
    pub margin_used: Money,
}

/// The position in one instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionTruth {
    /// Instrument name.
    pub instrument: String,
    /// Units in open long trades.
    pub long_units: i64,
    /// Units in open short trades (negative or 0).
    pub short_units: i64,
    /// Realized P&L of the instrument over the account's life.
    pub pl: Money,
    /// Unrealized P&L of its open trades.
    pub unrealized_pl: Money,
    /// Margin its open trades use.
    pub margin_used: Money,
}

/// A pending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTruth {
    /// Order id.
    pub id: u64,
    /// `MARKET`, `TAKE_PROFIT` or `STOP_LOSS`.
    pub kind: &'static str,
    /// Client order id, if any.
    pub client_id: Option<String>,
    /// The trade a take-profit / stop-loss belongs to.
    pub trade_id: Option<u64>,
    /// Trigger price of a take-profit / stop-loss.
    pub price: Option<Price>,
}

/// A snapshot of the account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountTruth {
    /// Account id.
    pub id: String,
    /// Balance (starting balance plus realized P&L).
    pub balance: Money,
    /// Balance plus unrealized P&L.
    pub nav: Money,
    /// Unrealized P&L of all open trades.
    pub unrealized_pl: Money,
    /// Margin used by all open trades (each instrument's margin rate × position value at mid).
    pub margin_used: Money,
    /// max(0, NAV − margin used).
    pub margin_available: Money,
    /// Realized P&L over the account's life.
    pub pl: Money,
    /// Open trades.
    pub open_trade_count: usize,
    /// Id of the latest transaction.
    pub last_transaction_id: u64,
    /// Open trades, oldest first.
    pub trades: Vec<TradeTruth>,
    /// Closed trades, oldest first.
    pub closed_trades: Vec<TradeTruth>,
    /// Instruments with open trades.
    pub positions: Vec<PositionTruth>,
    /// Pending orders, oldest first.
    pub pending_orders: Vec<OrderTruth>,
    /// Every transaction, as served (id 1 first).
    pub transactions: Vec<Value>,
}

impl AccountTruth {
    /// The trade (open or closed) with id `id`.
    pub fn trade(&self, id: u64) -> Option<&TradeTruth> {
        self.trades.iter().chain(&self.closed_trades).find(|t| t.id == id)
    }

    /// Transactions whose `type` is `kind` (e.g. `ORDER_FILL`), in id order.
    pub fn transactions_of_type(&self, kind: &str) -> Vec<&Value> {
        self.transactions.iter().filter(|t| t["type"] == kind).collect()
    }
}

fn trade_truth(l: &Ledger, m: &Market, t: &Trade) -> TradeTruth {
    let live = if t.is_open() { l.live(m, t) } else { Default::default() };
    let level = |id: Option<u64>| match id.and_then(|id| l.orders.get(&id)).map(|o| &o.kind) {
        Some(OrderKind::TakeProfit { price, .. } | OrderKind::StopLoss { price, .. }) => Some(Price(*price)),
        _ => None,
    };
    TradeTruth {
        id: t.id,
        instrument: l.insts[t.inst].name.clone(),
        units: t.current_units,
        initial_units: t.initial_units,
        price: Price(t.price),
        price_text: format_decimal(t.price, l.insts[t.inst].display_precision),
        open_time_ns: t.open_time,
        close_time_ns: t.close_time,
        client_extensions: t.client_ext.clone(),
        stop_loss: level(t.stop_loss),
        take_profit: level(t.take_profit),
        stop_loss_order_id: t.stop_loss,
        take_profit_order_id: t.take_profit,
        realized_pl: Money(t.realized_pl),
        unrealized_pl: Money(live.unrealized_pl),
        margin_used: Money(live.margin_used),
    }
}

/// The snapshot of `l` at the prices of `m`.
pub(crate) fn snapshot(l: &Ledger, m: &Market) -> AccountTruth {
    let live = l.totals(m);
    let nav = l.balance + live.unrealized_pl;
    let positions = l
        .open_instruments()
        .into_iter()
        .map(|i| {
            let open: Vec<&Trade> = l.open_trades().filter(|t| t.inst == i).collect();
            let units = |long: bool| open.iter().filter(|t| (t.current_units > 0) == long).map(|t| t.current_units).sum();
            PositionTruth {
                instrument: l.insts[i].name.clone(),
                long_units: units(true),
                short_units: units(false),
                pl: Money(l.position_pl[i][0] + l.position_pl[i][1]),
                unrealized_pl: Money(open.iter().map(|t| l.live(m, t).unrealized_pl).sum()),
                margin_used: Money(open.iter().map(|t| l.live(m, t).margin_used).sum()),
            }
        })
        .collect();
    let pending_orders = l
        .orders
        .values()
        .filter(|o| o.state == OrderState::Pending)
        .map(|o| {
            let (kind, trade_id, price) = match o.kind {
                OrderKind::Market(_) => ("MARKET", None, None),
                OrderKind::TakeProfit { trade_id, price } => ("TAKE_PROFIT", Some(trade_id), Some(Price(price))),
                OrderKind::StopLoss { trade_id, price } => ("STOP_LOSS", Some(trade_id), Some(Price(price))),
            };
            OrderTruth { id: o.id, kind, client_id: o.client_id().map(str::to_string), trade_id, price }
        })
        .collect();
    AccountTruth {
        id: l.account_id.clone(),
        balance: Money(l.balance),
        nav: Money(nav),
        unrealized_pl: Money(live.unrealized_pl),
        margin_used: Money(live.margin_used),
        margin_available: Money((nav - live.margin_used).max(0)),
        pl: Money(l.pl),
        open_trade_count: l.open_trades().count(),
        last_transaction_id: l.last_id(),
        trades: l.open_trades().map(|t| trade_truth(l, m, t)).collect(),
        closed_trades: l.trades.values().filter(|t| !t.is_open()).map(|t| trade_truth(l, m, t)).collect(),
        positions,
        pending_orders,
        transactions: l.txns.clone(),
    }
}
