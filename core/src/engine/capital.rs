//! The books' capital: fills booked into each book's ledger, and capital exhaustion: an operation's book whose equity (initial capital + realized P&L - commission +
//! unrealized P&L) is at or below zero stops trading and goes to `error` with
//! [`BookErrorReason::CapitalExhausted`]. Checked on the tick path (each tick of the book's instrument,
//! after the broker's protective fills were booked, and before every entry), without allocating. Open
//! positions of an errored book keep their stop-loss and take-profit at the broker, as under pause; the
//! only action left is stop (`DELETE`), which closes them. Derived from ticks only, so a journal replay
//! reproduces it at the same tick. The model session's book is left to the session's own risk limits.

use super::Engine;
use crate::events::{BookErrorReason, BookStatus, EngineEvent};
use crate::fixed::Money;
use crate::order::BookId;

impl Engine {
    /// Applies fills emitted since `start` to their books' capital.
    pub(super) fn book_fills(&mut self, start: usize) {
        for e in &self.events[start..] {
            if let EngineEvent::Fill(f) = e {
                if let Some(b) = self.books.get_mut(f.book.0 as usize) {
                    b.realized += f.realized_pnl;
                    b.commission += f.commission;
                }
            }
        }
    }

    /// Total money of all books' capital (for summaries).
    pub fn total_book_capital(&self) -> Money {
        self.books.iter().map(|b| b.capital()).fold(Money::ZERO, |a, c| a + c)
    }

    /// A book's equity now: its capital plus the unrealized P&L of its open position, USD cents (None
    /// for an unknown book).
    pub fn book_equity(&self, id: BookId) -> Option<Money> {
        let book = self.books.get(id.0 as usize)?;
        let open = self.broker.position(book.id, book.instrument).filter(|p| !p.is_flat());
        Some(book.capital() + open.map_or(Money::ZERO, |p| self.broker.unrealized(p)))
    }

    /// Puts an active or paused operation book whose equity is exhausted in `error` (one status event
    /// carrying the reason); true when it did, so the caller skips the book's trading.
    pub(super) fn fail_if_exhausted(&mut self, b: usize) -> bool {
        let book = &self.books[b];
        if !matches!(book.status, BookStatus::Active | BookStatus::Paused) || self.session_book == Some(book.id) {
            return false;
        }
        let equity = self.book_equity(book.id).unwrap_or(Money::ZERO);
        if equity > Money::ZERO {
            return false;
        }
        let id = book.id;
        self.books[b].status = BookStatus::Error;
        let reason = Some(BookErrorReason::CapitalExhausted { equity });
        self.events.push(EngineEvent::BookStatus { book: id, status: BookStatus::Error, reason, ts_ns: self.now_ns });
        true
    }
}
