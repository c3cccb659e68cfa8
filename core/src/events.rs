//! Plain-data events the engine publishes: everything a read model, the journal or a WebSocket frame
//! needs to know. Every variant is `Copy` so publishing never allocates.

use crate::fixed::{Money, Price};
use crate::order::{BookId, ClosedTrade, Fill, Order, OrderStatus, PositionState, RejectReason};
use serde::{Deserialize, Serialize};

/// Account-wide money state at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccountState {
    pub balance: Money,
    pub unrealized: Money,
    pub realized: Money,
    pub commission: Money,
    pub margin_used: Money,
    pub open_positions: u32,
    pub ts_ns: i64,
}

impl AccountState {
    pub fn nav(&self) -> Money {
        self.balance + self.unrealized
    }
}

/// Lifecycle state of a book (operation or session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BookStatus {
    Active,
    Paused,
    Closed,
    Error,
}

impl BookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BookStatus::Active => "active",
            BookStatus::Paused => "paused",
            BookStatus::Closed => "closed",
            BookStatus::Error => "error",
        }
    }
}

/// Everything that happens inside the engine, in the order it happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EngineEvent {
    /// An order changed state (created pending, filled, cancelled or rejected).
    Order { order: Order, status: OrderStatus, fill_price: Price, reason: Option<RejectReason>, ts_ns: i64 },
    /// One fill leg.
    Fill(Fill),
    /// A FIFO-matched round trip closed.
    Trade(ClosedTrade),
    /// A net position changed (quantity 0 = closed).
    Position(PositionState),
    /// Periodic and post-fill account state.
    Account(AccountState),
    /// Periodic mark of an open position: current exit price and unrealized P&L in USD.
    PositionMark { book: BookId, instrument: crate::instrument::InstrumentId, mark: Price, unrealized: Money, margin: Money, ts_ns: i64 },
    /// A book's equity (its capital plus unrealized), for its equity curve.
    BookEquity { book: BookId, equity: Money, ts_ns: i64 },
    /// The engine had processed `ticks` ticks (last at `ts_ns`) when the events before it were emitted:
    /// journaled so a restart re-executes at least this far.
    Progress { ticks: u64, ts_ns: i64 },
    /// A book changed status.
    BookStatus { book: BookId, status: BookStatus, ts_ns: i64 },
    /// The engine's state was exported for snapshot `id` after `ticks` ticks: the read side exports its own
    /// state right after the events before this one, so both halves of the snapshot describe one moment.
    Checkpoint { id: u64, ticks: u64 },
}
