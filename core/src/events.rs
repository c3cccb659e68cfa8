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
    /// The lower-case name clients see (`active`, `paused`, `closed`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            BookStatus::Active => "active",
            BookStatus::Paused => "paused",
            BookStatus::Closed => "closed",
            BookStatus::Error => "error",
        }
    }

    /// Every lifecycle transition of an operation, in one table: the status `action` leads to from
    /// `self`, or why it is not allowed here. Pause needs an active book, resume a paused one; stop
    /// closes any book that is not closed yet (an `error` book included).
    pub fn transition(self, action: OperationAction) -> Result<BookStatus, crate::change::ChangeError> {
        use BookStatus::*;
        use OperationAction::*;
        match (self, action) {
            (Active, Pause) => Ok(Paused),
            (Paused, Resume) => Ok(Active),
            (Active | Paused | Error, Stop) => Ok(Closed),
            (status, action) => Err(crate::change::ChangeError::WrongState {
                status,
                action,
                needs: match action {
                    Pause => "active",
                    Resume => "paused",
                    Stop => "not closed",
                },
            }),
        }
    }
}

impl std::fmt::Display for BookStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lifecycle action a client asks of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationAction {
    /// No new entries; open positions and their stops stay live.
    Pause,
    /// Entries again.
    Resume,
    /// Close every position at market, then closed for good.
    Stop,
}

impl OperationAction {
    /// The lower-case name (`pause`, `resume`, `stop`).
    pub fn as_str(self) -> &'static str {
        match self {
            OperationAction::Pause => "pause",
            OperationAction::Resume => "resume",
            OperationAction::Stop => "stop",
        }
    }
}

impl std::fmt::Display for OperationAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
