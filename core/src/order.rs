//! Orders, fills and the plain-data events the engine publishes about them.

use crate::fixed::{Money, Price, Quantity};
use crate::instrument::InstrumentId;
use serde::{Deserialize, Serialize};

/// Index of a book: one strategy instance (an operation or the session) with its own positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[repr(transparent)]
pub struct BookId(pub u32);

/// Engine-wide order id, assigned in order of creation (deterministic for a replay).
pub type OrderId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderType {
    Market,
    Limit,
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Filled,
    PartiallyFilled,
    Cancelled,
    Rejected,
}

/// Why an order exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderPurpose {
    /// Opens or increases a position (strategy entry).
    Entry,
    /// Reduces or closes a position on the strategy's decision.
    Exit,
    StopLoss,
    TakeProfit,
    /// Closed by the operator (DELETE, session stop) or at the end of a backtest.
    Close,
    /// Closed by crash recovery rules on restart.
    Recovery,
    /// Rebalanced towards a model target (session).
    Rebalance,
}

/// Why an order was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// No quote has been seen for the instrument yet.
    NoPrice,
    /// P&L currency has no known conversion rate to USD yet.
    NoConversionRate,
    /// Margin used would exceed NAV.
    InsufficientMargin,
    /// Size rounded to zero units.
    ZeroSize,
    /// Stop distance unknown (e.g. ATR not ready) so the order cannot be sized.
    StopNotReady,
    MaxTotalExposure,
    MaxRiskPerTrade,
    DailyLossLimit,
    MaxConcurrentPositions,
    PerSymbolLimit,
    /// The session's target capital cap.
    TargetCapital,
}

impl RejectReason {
    pub fn describe(self) -> &'static str {
        match self {
            RejectReason::NoPrice => "no price for the instrument yet",
            RejectReason::NoConversionRate => "no conversion rate to USD known yet for the quote currency",
            RejectReason::InsufficientMargin => "margin used would exceed NAV",
            RejectReason::ZeroSize => "order size rounds to zero units",
            RejectReason::StopNotReady => "stop distance not available yet (indicator warming up)",
            RejectReason::MaxTotalExposure => "max_total_exposure_usd would be exceeded",
            RejectReason::MaxRiskPerTrade => "max_risk_per_trade_percent would be exceeded",
            RejectReason::DailyLossLimit => "daily_loss_limit_pct reached: new entries halted until 00:00 UTC",
            RejectReason::MaxConcurrentPositions => "max_concurrent_positions reached",
            RejectReason::PerSymbolLimit => "per_symbol_limit would be exceeded",
            RejectReason::TargetCapital => "session target_capital_usd exposure cap would be exceeded",
        }
    }
}

/// An order as the engine sent it to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub book: BookId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub order_type: OrderType,
    pub purpose: OrderPurpose,
    pub quantity: Quantity,
    /// Trigger price of STOP/LIMIT orders; zero for MARKET.
    pub price: Price,
    pub created_ns: i64,
}

/// One execution leg: fills are split at a position's zero crossing, so each leg is ENTRY or EXIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    pub order_id: OrderId,
    pub book: BookId,
    pub instrument: InstrumentId,
    pub side: Side,
    /// True when this leg opens or increases a position, false when it reduces one.
    pub is_entry: bool,
    pub quantity: Quantity,
    pub price: Price,
    /// Commission in USD cents.
    pub commission: Money,
    /// Realized P&L of an exit leg in USD cents (zero for entries).
    pub realized_pnl: Money,
    pub ts_ns: i64,
}

/// A closed round trip matched FIFO against an entry lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedTrade {
    pub book: BookId,
    pub instrument: InstrumentId,
    /// Direction of the entry: +1 long, -1 short.
    pub direction: i8,
    pub quantity: Quantity,
    pub entry_price: Price,
    pub exit_price: Price,
    pub entry_ns: i64,
    pub exit_ns: i64,
    pub pnl: Money,
    /// Entry commission share plus exit commission share.
    pub commission: Money,
}

/// The state of a net position after a change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PositionState {
    pub book: BookId,
    pub instrument: InstrumentId,
    /// Signed net quantity (negative = short).
    pub quantity: i64,
    /// Volume-weighted entry price of the open lots, in price steps (f64 since it may fall between steps).
    pub avg_price: f64,
    pub stop_loss: Option<Price>,
    pub take_profit: Option<Price>,
    pub ts_ns: i64,
}
