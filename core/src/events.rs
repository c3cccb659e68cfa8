//! Plain-data events the engine publishes: everything a read model, the journal or a WebSocket frame
//! needs to know. Every variant is `Copy` so publishing never allocates.

use crate::fixed::{Money, Price};
use crate::order::{BookId, ClosedTrade, Fill, Order, OrderStatus, PositionState, RejectReason};
use serde::{Deserialize, Serialize};

/// Account-wide money state at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccountState {
    /// Cash balance, USD cents (starting balance + realized P&L - commission).
    pub balance: Money,
    /// Unrealized P&L of open positions at the current mids, USD cents.
    pub unrealized: Money,
    /// Realized P&L so far, USD cents, before commission.
    pub realized: Money,
    /// Commission paid so far, USD cents.
    pub commission: Money,
    /// Margin held by open positions, USD cents.
    pub margin_used: Money,
    /// Number of open (book, instrument) positions.
    pub open_positions: u32,
    /// Time of the snapshot, UTC epoch ns (tick time).
    pub ts_ns: i64,
}

impl AccountState {
    /// Net asset value: balance + unrealized P&L, USD cents.
    pub fn nav(&self) -> Money {
        self.balance + self.unrealized
    }
}

/// Lifecycle state of a book (operation or session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BookStatus {
    /// Trading: the strategy runs and may open positions.
    Active,
    /// Paused by the operator: no new entries; open positions and their protection stay.
    Paused,
    /// Stopped: positions closed, the book trades no more (final).
    Closed,
    /// Faulted: the book does not trade; the only action left is stop.
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

/// Why the engine itself put a book in [`BookStatus::Error`] (carried by the status event, so the read
/// model can show it). Derived from ticks only, so a journal replay reproduces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BookErrorReason {
    /// The book's equity (initial capital + realized P&L - commission + unrealized P&L) fell to zero
    /// or below: it opens no more positions; open ones keep their stop-loss and take-profit.
    CapitalExhausted {
        /// The equity when it was detected, USD cents.
        equity: Money,
    },
}

impl std::fmt::Display for BookErrorReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BookErrorReason::CapitalExhausted { equity } => write!(
                f,
                "capital exhausted: equity {equity} USD is at or below zero; no new positions are opened, open \
                 positions keep their stop-loss and take-profit"
            ),
        }
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
    /// An order for an external venue (a live broker), with the stop-loss and take-profit to attach
    /// on fill: what the venue adapter sends once the batch is journaled. Emitted once per order, after
    /// its `SUBMITTED` [`EngineEvent::Order`].
    OrderRequest {
        /// The order (its id is the client id's source).
        order: Order,
        /// Stop-loss price to attach at the venue.
        stop_loss: Option<Price>,
        /// Take-profit price to attach at the venue.
        take_profit: Option<Price>,
    },
    /// An order changed state (created pending, filled, cancelled or rejected).
    Order {
        /// The order as sent (or as attached, for protective orders).
        order: Order,
        /// Its new state.
        status: OrderStatus,
        /// Execution price in price steps when FILLED, else 0.
        fill_price: Price,
        /// Why it was refused, when REJECTED.
        reason: Option<RejectReason>,
        /// When, UTC epoch ns (tick time).
        ts_ns: i64,
    },
    /// One fill leg.
    Fill(Fill),
    /// A FIFO-matched round trip closed.
    Trade(ClosedTrade),
    /// A net position changed (quantity 0 = closed).
    Position(PositionState),
    /// Periodic and post-fill account state.
    Account(AccountState),
    /// Periodic mark of an open position: current exit price and unrealized P&L in USD.
    PositionMark {
        /// The book holding the position.
        book: BookId,
        /// The instrument held.
        instrument: crate::instrument::InstrumentId,
        /// Current exit price in price steps (bid for a long, ask for a short).
        mark: Price,
        /// Unrealized P&L at the mark, USD cents.
        unrealized: Money,
        /// Margin the position holds, USD cents.
        margin: Money,
        /// Time of the mark, UTC epoch ns.
        ts_ns: i64,
    },
    /// A book's equity (its capital plus unrealized), for its equity curve.
    BookEquity {
        /// The book whose equity this is.
        book: BookId,
        /// Capital plus unrealized P&L, USD cents.
        equity: Money,
        /// Time of the mark, UTC epoch ns.
        ts_ns: i64,
    },
    /// The engine had processed `ticks` ticks (last at `ts_ns`) when the events before it were emitted:
    /// journaled so a restart re-executes at least this far.
    Progress {
        /// Ticks processed so far.
        ticks: u64,
        /// Time of the last of them, UTC epoch ns.
        ts_ns: i64,
    },
    /// A book changed status.
    BookStatus {
        /// The book whose status changed.
        book: BookId,
        /// Its new status.
        status: BookStatus,
        /// Why, when the engine itself put the book in `Error` (None for operator actions).
        reason: Option<BookErrorReason>,
        /// When, UTC epoch ns (tick time).
        ts_ns: i64,
    },
    /// The engine's state was exported for snapshot `id` after `ticks` ticks: the read side exports its own
    /// state right after the events before this one, so both halves of the snapshot describe one moment.
    Checkpoint {
        /// The snapshot's id.
        id: u64,
        /// Ticks processed when it was taken.
        ticks: u64,
    },
}
