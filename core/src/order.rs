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

/// Direction of an order or fill.
///
/// Serialized as `"BUY"` / `"SELL"` (also the journal and REST spelling). A BUY fills at the ask and
/// lengthens a long or covers a short; a SELL fills at the bid. [`Side::sign`] maps it to +1 / -1 for
/// signed net quantities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    /// Buy: fills at the ask; +1 in signed quantities.
    Buy,
    /// Sell: fills at the bid; -1 in signed quantities.
    Sell,
}

impl Side {
    /// +1 for BUY, -1 for SELL: the sign a fill of this side adds to a net quantity.
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
    /// The other side (the side that reduces a position opened with this one).
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
    /// `"BUY"` or `"SELL"`, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

/// How an order executes at the paper venue.
///
/// Serialized in upper case. Strategy, operator and session orders are all MARKET and fill in full at
/// the touch of the current tick; STOP and LIMIT only appear as the resting stop-loss and take-profit
/// orders the broker attaches to a protected position, triggered by later ticks (see
/// [`OrderPurpose`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderType {
    /// Fills immediately and in full at the touch (BUY at the ask, SELL at the bid); `Order::price` is 0.
    Market,
    /// A take-profit resting at `Order::price`; fires once the touch reaches it (bid for a long, ask for a short).
    Limit,
    /// A stop-loss resting at `Order::price`; fires once the touch crosses it against the position.
    Stop,
}

/// Lifecycle state of an order as published in `EngineEvent::Order`.
///
/// Serialized in SCREAMING_SNAKE_CASE. A MARKET order is published once, as FILLED or REJECTED; a
/// protective (STOP/LIMIT) order is published PENDING when attached, then FILLED when it triggers or
/// CANCELLED when the position closes or its protection is replaced. The paper venue always fills in
/// full, so PARTIALLY_FILLED is never emitted; it exists for the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Resting at the broker (an attached stop-loss or take-profit), not yet triggered.
    Pending,
    /// Executed in full; the event's `fill_price` holds the execution price.
    Filled,
    /// Executed in part (part of the wire format; the paper venue never produces it).
    PartiallyFilled,
    /// A resting protective order withdrawn (position closed, or protection replaced).
    Cancelled,
    /// Refused before execution; the event's `reason` says why (see [`RejectReason`]).
    Rejected,
    /// Sent to an external venue (a live broker); its report has not arrived yet.
    Submitted,
}

/// Why an order exists: who decided it and what it does to the position.
///
/// Serialized in SCREAMING_SNAKE_CASE and carried by every [`Order`], so the read side and the backtest
/// statistics can tell strategy trades from protective exits and operator closes. EXIT, STOP_LOSS,
/// TAKE_PROFIT, CLOSE and RECOVERY orders only reduce or close a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderPurpose {
    /// Opens or increases a position (strategy entry).
    Entry,
    /// Reduces or closes a position on the strategy's decision.
    Exit,
    /// The resting stop-loss of a position fired (a STOP order).
    StopLoss,
    /// The resting take-profit of a position fired (a LIMIT order).
    TakeProfit,
    /// Closed by the operator (DELETE, session stop) or at the end of a backtest.
    Close,
    /// Closed by crash recovery rules on restart.
    Recovery,
    /// Rebalanced towards a model target (session).
    Rebalance,
}

/// Why an order was refused, carried by a REJECTED `EngineEvent::Order`.
///
/// Serialized in snake_case. The first group comes from sizing an entry (`StopNotReady`, `ZeroSize`)
/// or from the paper venue as it executes (`NoPrice`, `NoConversionRate`, `InsufficientMargin`); the
/// `Max*`, `DailyLossLimit` and `PerSymbolLimit` reasons are the pre-trade risk limits, and
/// `TargetCapital` is the model session's exposure cap. [`RejectReason::describe`] gives the text shown
/// to operators.
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
    /// `max_total_exposure_usd` would be exceeded.
    MaxTotalExposure,
    /// `max_risk_per_trade_percent` would be exceeded.
    MaxRiskPerTrade,
    /// `daily_loss_limit_pct` reached: new entries halted until 00:00 UTC.
    DailyLossLimit,
    /// `max_concurrent_positions` reached.
    MaxConcurrentPositions,
    /// `per_symbol_limit` would be exceeded.
    PerSymbolLimit,
    /// The session's target capital cap.
    TargetCapital,
    /// The external venue (a live broker) refused or cancelled the order.
    VenueRejected,
}

impl RejectReason {
    /// One-line human description of the reason, as shown in logs and REST refusals.
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
            RejectReason::VenueRejected => "refused by the broker",
        }
    }
}

/// An order as the engine sent it to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Engine-wide id (see [`OrderId`]).
    pub id: OrderId,
    /// The book that sent it.
    pub book: BookId,
    /// The instrument traded.
    pub instrument: InstrumentId,
    /// BUY or SELL.
    pub side: Side,
    /// MARKET, or STOP/LIMIT for a resting protective order.
    pub order_type: OrderType,
    /// Why the order exists.
    pub purpose: OrderPurpose,
    /// Unsigned size in the instrument's size steps (FX: units).
    pub quantity: Quantity,
    /// Trigger price of STOP/LIMIT orders; zero for MARKET.
    pub price: Price,
    /// Creation time, UTC epoch ns (tick time, not wall time).
    pub created_ns: i64,
}

/// One execution leg: fills are split at a position's zero crossing, so each leg is ENTRY or EXIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The order this leg executes.
    pub order_id: OrderId,
    /// The book whose position changes.
    pub book: BookId,
    /// The instrument traded.
    pub instrument: InstrumentId,
    /// BUY or SELL.
    pub side: Side,
    /// True when this leg opens or increases a position, false when it reduces one.
    pub is_entry: bool,
    /// Unsigned size of this leg in size steps.
    pub quantity: Quantity,
    /// Execution price in price steps (the touch: ask for BUY, bid for SELL).
    pub price: Price,
    /// Commission in USD cents.
    pub commission: Money,
    /// Realized P&L of an exit leg in USD cents (zero for entries).
    pub realized_pnl: Money,
    /// Execution time, UTC epoch ns (tick time).
    pub ts_ns: i64,
}

/// A closed round trip matched FIFO against an entry lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedTrade {
    /// The book that held the position.
    pub book: BookId,
    /// The instrument traded.
    pub instrument: InstrumentId,
    /// Direction of the entry: +1 long, -1 short.
    pub direction: i8,
    /// Unsigned size closed, in size steps.
    pub quantity: Quantity,
    /// Entry price of the matched lot, in price steps.
    pub entry_price: Price,
    /// Exit price, in price steps.
    pub exit_price: Price,
    /// Entry time of the lot, UTC epoch ns.
    pub entry_ns: i64,
    /// Exit time, UTC epoch ns.
    pub exit_ns: i64,
    /// Realized P&L of the round trip in USD cents, before commission.
    pub pnl: Money,
    /// Entry commission share plus exit commission share.
    pub commission: Money,
}

/// The state of a net position after a change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PositionState {
    /// The book that holds the position.
    pub book: BookId,
    /// The instrument held.
    pub instrument: InstrumentId,
    /// Signed net quantity (negative = short).
    pub quantity: i64,
    /// Volume-weighted entry price of the open lots, in price steps (f64 since it may fall between steps).
    pub avg_price: f64,
    /// Price of the resting stop-loss, in price steps (None: no stop).
    pub stop_loss: Option<Price>,
    /// Price of the resting take-profit, in price steps (None: none).
    pub take_profit: Option<Price>,
    /// Time of the change, UTC epoch ns (tick time).
    pub ts_ns: i64,
}
