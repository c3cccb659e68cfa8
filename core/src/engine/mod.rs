//! The engine: the single-threaded state machine the pinned core thread drives. It routes each tick to
//! the paper broker and to the books on its instrument, turns strategy intents into orders, and collects
//! the resulting events in a preallocated buffer for the caller to drain.

pub mod book;
mod capital;
mod changes;
pub mod chart;
pub mod event_ring;
mod intents;
mod latency;
pub mod pipeline;
mod session_ops;
pub mod state;

pub use session_ops::{SessionError, HISTORY_CAPACITY};

pub use book::{Book, BookSpec, CrashRecoveryMode, StopLossType, TakeProfitType};
pub use changes::{ChangeResources, OPERATION_RISK_FRACTION};
pub use latency::LatencyRecorder;

use crate::broker::{PaperBroker, PaperConfig};
use crate::events::{BookStatus, EngineEvent, OperationAction};
use crate::fixed::{Money, Price, Quantity};
use crate::instrument::{InstrumentId, InstrumentTable};
use crate::order::{BookId, Order, OrderPurpose, OrderType, RejectReason, Side};
use crate::risk::{EntryCheck, RiskEngine};
use crate::strategy::{Intent, StrategyContext};
use crate::tick::Tick;
use thiserror::Error;

/// Why the engine refused an operator action on a book or a book's creation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EngineError {
    /// No book has this id.
    #[error("unknown book {0}")]
    UnknownBook(u32),
    /// The book's status does not allow the action (see [`BookStatus::transition`]).
    #[error("book {book} is {status}: {action} needs it {needs}")]
    WrongState {
        /// The book's id.
        book: u32,
        /// Its current status.
        status: BookStatus,
        /// The action refused.
        action: OperationAction,
        /// The status (or statuses) the action needs, in words.
        needs: &'static str,
    },
    /// The engine refused a change for another reason.
    #[error("{0}")]
    Refused(String),
    /// No instrument has this id in the engine's table.
    #[error("unknown instrument id {0}")]
    UnknownInstrument(u16),
    /// The primary bar size index is not an index of the book's bar sizes.
    #[error("bar size index {0} out of range")]
    BadPrimary(usize),
}

/// Initial capacity of the event buffer; it only grows if a single step emits more.
const EVENT_CAPACITY: usize = 4096;

/// The trading engine: a single-threaded, deterministic state machine over ticks.
///
/// It owns the [`PaperBroker`] (quotes, positions, account), the [`Book`]s (one strategy instance each,
/// indexed by [`BookId`]), the optional [`RiskEngine`], the model session and its bar history, and a
/// preallocated buffer of [`EngineEvent`]s. [`Engine::on_tick`] routes a tick to the broker (touch,
/// resting stops) and to the books on its instrument, turns their intents into sized, risk-checked
/// orders, and appends every resulting event to the buffer, which the caller drains.
///
/// Exactly one thread drives it: in the server the pinned core thread owns it (see
/// [`pipeline`]) and every other thread reaches it only through `Command`s run between tick batches;
/// a backtest drives it directly. It takes no locks, and the tick path allocates nothing unless orders
/// are created. Given the same ticks and commands it produces the same events and order ids, which is
/// what journal replay and snapshots rely on. All timestamps are UTC epoch ns of tick time, money is
/// USD cents.
pub struct Engine {
    broker: PaperBroker,
    books: Vec<Book>,
    /// Books per instrument id.
    by_instrument: Vec<Vec<u32>>,
    events: Vec<EngineEvent>,
    /// Events handed out of the engine so far (drained or flushed).
    events_flushed: u64,
    now_ns: i64,
    ticks: u64,
    latency: Option<LatencyRecorder>,
    /// Pre-trade limits; None = no limits (plain backtests).
    risk: Option<RiskEngine>,
    /// Start of the next UTC day: when a tick reaches it the risk engine rolls its daily state.
    next_day_ns: i64,
    /// Closed-bar history per instrument (empty unless enabled for the model session).
    history: Vec<crate::session::history::BarHistory>,
    history_size: Option<crate::bars::BarSize>,
    next_history_close: i64,
    session: Option<crate::session::Session>,
    session_book: Option<BookId>,
    /// State changes applied through [`Engine::note_command`] (journaled with each, so a restart from a
    /// snapshot knows which journaled changes the snapshot already holds).
    commands: u64,
}

impl Engine {
    /// An engine with no books, no risk limits and no session over `instruments`, with a fresh paper venue configured by `config`.
    pub fn new(instruments: InstrumentTable, config: PaperConfig) -> Engine {
        let n = instruments.len();
        Engine {
            broker: PaperBroker::new(instruments, config),
            books: Vec::new(),
            by_instrument: (0..n).map(|_| Vec::with_capacity(8)).collect(),
            events: Vec::with_capacity(EVENT_CAPACITY),
            events_flushed: 0,
            now_ns: 0,
            ticks: 0,
            latency: None,
            risk: None,
            next_day_ns: i64::MIN,
            history: Vec::new(),
            history_size: None,
            next_history_close: i64::MIN,
            session: None,
            session_book: None,
            commands: 0,
        }
    }

    /// Installs (or removes) the pre-trade risk engine.
    pub fn set_risk(&mut self, risk: Option<RiskEngine>) {
        self.risk = risk;
        self.next_day_ns = i64::MIN;
    }
    /// The pre-trade risk engine, if installed.
    pub fn risk(&self) -> Option<&RiskEngine> {
        self.risk.as_ref()
    }
    /// The pre-trade risk engine, mutably (limits, daily state), if installed.
    pub fn risk_mut(&mut self) -> Option<&mut RiskEngine> {
        self.risk.as_mut()
    }

    /// The instrument table (instrument ids index it).
    pub fn instruments(&self) -> &InstrumentTable {
        self.broker.instruments()
    }
    /// The paper venue: quotes, positions and account.
    pub fn broker(&self) -> &PaperBroker {
        &self.broker
    }

    /// Sends orders to an external venue (a live broker) instead of filling them on paper; see
    /// `broker::venue`. Set once, before the first tick.
    pub fn set_external_venue(&mut self, on: bool) {
        self.broker.set_external(on);
    }

    /// Publishes the venue requests of orders submitted since the last call (external venue only).
    pub fn emit_venue_requests(&mut self) {
        if self.broker.is_external() {
            self.broker.emit_requests(&mut self.events);
        }
    }
    /// Every book ever added, indexed by `BookId` (closed books stay).
    pub fn books(&self) -> &[Book] {
        &self.books
    }
    /// The book the model session trades through, once a session was started.
    pub fn session_book(&self) -> Option<BookId> {
        self.session_book
    }
    /// The book with this id.
    pub fn book(&self, id: BookId) -> Option<&Book> {
        self.books.get(id.0 as usize)
    }
    /// Time of the last tick (or of [`set_now`](Self::set_now)), UTC epoch ns.
    pub fn now_ns(&self) -> i64 {
        self.now_ns
    }
    /// Ticks seen since the engine was created (or restored).
    pub fn ticks_processed(&self) -> u64 {
        self.ticks
    }

    /// Turns on tick -> order-intent latency recording with room for `capacity` samples.
    pub fn enable_latency(&mut self, capacity: usize) {
        let telemetry = self.latency.take().and_then(|l| l.telemetry().cloned());
        self.latency = Some(LatencyRecorder::with_capacity(capacity).with_telemetry(telemetry));
    }
    /// The tick -> order-intent latency recorder, when enabled.
    pub fn latency(&self) -> Option<&LatencyRecorder> {
        self.latency.as_ref()
    }
    /// The latency recorder, mutably (to clear it), when enabled.
    pub fn latency_mut(&mut self) -> Option<&mut LatencyRecorder> {
        self.latency.as_mut()
    }

    /// Events emitted since the last drain, in order.
    pub fn events(&self) -> &[EngineEvent] {
        &self.events
    }
    /// Hands every pending event to `f` and clears the buffer (keeping its capacity).
    pub fn drain_events(&mut self, mut f: impl FnMut(&EngineEvent)) {
        for e in &self.events {
            f(e);
        }
        self.events_flushed += self.events.len() as u64;
        self.events.clear();
    }

    /// Marks the point of snapshot `id` in the event stream (right after a [`save_state`](Self::save_state)),
    /// so the read side exports its state at the same moment.
    pub fn push_checkpoint(&mut self, id: u64) {
        self.events.push(EngineEvent::Checkpoint { id, ticks: self.ticks });
    }

    /// Counts one acknowledged state change applied on the core and returns its number (from 1).
    pub fn note_command(&mut self) -> u64 {
        self.commands += 1;
        self.commands
    }

    /// Number of the last state change counted by [`note_command`](Self::note_command).
    pub fn commands_applied(&self) -> u64 {
        self.commands
    }

    /// Sets the count while re-applying journaled changes, so numbering continues as before a restart.
    pub fn set_commands_applied(&mut self, n: u64) {
        self.commands = n;
    }

    /// Sequence number of the latest event emitted (1-based count of all events ever emitted). A caller
    /// that applied a command can wait until its read model has seen this many events.
    pub fn event_seq(&self) -> u64 {
        self.events_flushed + self.events.len() as u64
    }

    /// Sets the clock before any tick (restores and tests).
    pub fn set_now(&mut self, ts_ns: i64) {
        self.now_ns = ts_ns;
    }

    /// Adds a book; it receives the next tick of its instrument.
    pub fn add_book(&mut self, spec: BookSpec) -> Result<BookId, EngineError> {
        if self.instruments().try_get(spec.instrument).is_none() {
            return Err(EngineError::UnknownInstrument(spec.instrument.0));
        }
        if spec.primary >= spec.bar_sizes.len().max(1) {
            return Err(EngineError::BadPrimary(spec.primary));
        }
        let id = BookId(self.books.len() as u32);
        self.by_instrument[spec.instrument.0 as usize].push(id.0);
        self.books.push(Book::new(id, spec));
        self.events.push(EngineEvent::BookStatus { book: id, status: BookStatus::Active, reason: None, ts_ns: self.now_ns });
        Ok(id)
    }

    fn set_status(&mut self, id: BookId, status: BookStatus) {
        self.books[id.0 as usize].status = status;
        self.events.push(EngineEvent::BookStatus { book: id, status, reason: None, ts_ns: self.now_ns });
    }

    /// Applies a lifecycle action to a book through the one transition table
    /// ([`BookStatus::transition`]): pause stops new entries (open positions and their protective orders
    /// stay live), resume allows them again, stop closes every open position at market and then marks
    /// the book closed.
    pub fn lifecycle(&mut self, id: BookId, action: OperationAction, purpose: OrderPurpose) -> Result<BookStatus, EngineError> {
        let b = self.books.get(id.0 as usize).ok_or(EngineError::UnknownBook(id.0))?;
        let next = b.status.transition(action).map_err(|e| match e {
            crate::change::ChangeError::WrongState { status, action, needs } => {
                EngineError::WrongState { book: id.0, status, action, needs }
            }
            other => EngineError::Refused(other.to_string()),
        })?;
        if action == OperationAction::Stop {
            let inst = b.instrument;
            self.close_positions(id, inst, purpose);
        }
        self.set_status(id, next);
        Ok(next)
    }

    /// Stops new entries; open positions and their protective orders stay live.
    pub fn pause(&mut self, id: BookId) -> Result<(), EngineError> {
        self.lifecycle(id, OperationAction::Pause, OrderPurpose::Close).map(|_| ())
    }

    /// Allows new entries again.
    pub fn resume(&mut self, id: BookId) -> Result<(), EngineError> {
        self.lifecycle(id, OperationAction::Resume, OrderPurpose::Close).map(|_| ())
    }

    /// Closes every open position of the book at market, then marks it closed.
    pub fn close_book(&mut self, id: BookId, purpose: OrderPurpose) -> Result<(), EngineError> {
        self.lifecycle(id, OperationAction::Stop, purpose).map(|_| ())
    }

    /// Closes one book's position in one instrument at market (used by close and crash recovery).
    pub fn close_positions(&mut self, id: BookId, inst: InstrumentId, purpose: OrderPurpose) {
        let start = self.events.len();
        let _ = self.broker.close_position(id, inst, purpose, self.now_ns, &mut self.events);
        self.book_fills(start);
    }

    /// Closes everything still open (end of a backtest).
    pub fn close_all(&mut self, purpose: OrderPurpose) {
        for i in 0..self.books.len() {
            let inst = self.books[i].instrument;
            self.close_positions(BookId(i as u32), inst, purpose);
        }
    }

    /// Publishes account state and each open book's equity (the caller decides the cadence).
    pub fn publish_account(&mut self) {
        let ts = self.now_ns;
        self.events.push(EngineEvent::Account(self.broker.account_state(ts)));
        for p in self.broker.positions() {
            let q = self.broker.quote(p.instrument);
            let mark = Price(if p.quantity > 0 { q.bid } else { q.ask });
            let margin = self.broker.position_margin((p.book, p.instrument)).unwrap_or(Money::ZERO);
            self.events.push(EngineEvent::PositionMark {
                book: p.book,
                instrument: p.instrument,
                mark,
                unrealized: self.broker.unrealized(p),
                margin,
                ts_ns: ts,
            });
        }
        for b in &self.books {
            if b.status != BookStatus::Closed {
                let equity = b.capital() + self.broker.book_unrealized(b.id);
                self.events.push(EngineEvent::BookEquity { book: b.id, equity, ts_ns: ts });
            }
        }
    }

    /// Processes one tick: broker first (protective orders), then every book on the instrument.
    /// Allocation-free unless orders are created.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick) {
        let started = self.latency.as_mut().map(|l| l.tick_started(tick));
        self.now_ns = tick.ts_ns;
        self.ticks += 1;
        let inst = tick.instrument as usize;
        if inst >= self.by_instrument.len() {
            return;
        }
        let start = self.events.len();
        self.broker.on_tick(tick, &mut self.events);
        // Protective fills count in the books' capital before the books look at their equity.
        let after_broker = self.events.len();
        if after_broker > start {
            self.book_fills(start);
        }
        if tick.ts_ns >= self.next_day_ns {
            self.roll_day(tick.ts_ns);
        }
        let bar_closed = !self.history.is_empty() && self.update_history(inst, tick.ts_ns, tick.mid_x2(), tick.is_quote());
        if self.books.len() > self.by_instrument[inst].len() {
            self.advance_other_books(tick);
        }
        for k in 0..self.by_instrument[inst].len() {
            let b = self.by_instrument[inst][k] as usize;
            self.book_on_tick(b, tick, started);
        }
        if bar_closed && self.session.is_some() {
            self.maybe_decide();
        }
        if self.events.len() > after_broker {
            self.book_fills(after_broker);
        }
        if let Some(l) = self.latency.as_mut() {
            l.applied();
        }
    }

    /// A new UTC day: the risk engine takes the day's starting equity.
    #[cold]
    fn roll_day(&mut self, ts: i64) {
        self.next_day_ns = crate::time::utc_day_start(ts) + crate::time::NS_PER_DAY;
        if let Some(r) = self.risk.as_mut() {
            r.on_time(ts, self.broker.account_state(ts).nav());
        }
    }

    /// Runs the risk engine's pre-trade checks for an entry of `qty` at `entry`.
    fn risk_check(
        &mut self,
        id: BookId,
        inst: InstrumentId,
        side: Side,
        qty: Quantity,
        entry_steps: i64,
        stop_d: Option<f64>,
    ) -> Result<(), RejectReason> {
        let Some(risk) = self.risk.as_mut() else { return Ok(()) };
        let b = &self.broker;
        let account = b.account_state(self.now_ns);
        let mut net = 0i64;
        let mut exposure = Money::ZERO;
        for p in b.positions() {
            if p.instrument == inst {
                net += p.quantity;
            }
            exposure += b.notional_usd(p);
        }
        let notional = b.rates().to_usd(inst, qty.0 as i128 * entry_steps as i128)?;
        let size_precision = b.instruments().get(inst).size_precision;
        let usd_per_quote = b.rates().usd_per_quote_unit(inst).ok_or(RejectReason::NoConversionRate)?;
        let units = qty.0 as f64 / 10f64.powi(size_precision as i32);
        let check = EntryCheck {
            instrument_symbol_net_units: net,
            order_units: side.sign() * qty.0,
            size_precision,
            order_notional_usd: notional,
            total_exposure_usd: exposure,
            open_positions: account.open_positions,
            opens_new_position: b.net_quantity(id, inst) == 0,
            risk_usd: stop_d.map(|d| Money::from_f64(units * d * usd_per_quote)),
            nav: account.nav(),
            equity: account.nav(),
        };
        risk.check_entry(&check)
    }

    /// Lets time close bars of books on other instruments (a bar closes when time passes its end).
    fn advance_other_books(&mut self, tick: &Tick) {
        for b in 0..self.books.len() {
            if self.books[b].instrument.0 == tick.instrument || self.books[b].status == BookStatus::Closed {
                continue;
            }
            let book = &mut self.books[b];
            let closed = &mut book.closed;
            closed.clear();
            book.bars.advance_time(tick.ts_ns, &mut |i, bar| closed.push((i, *bar)));
            if !book.closed.is_empty() {
                self.deliver_bars(b, None);
            }
        }
    }

    fn book_on_tick(&mut self, b: usize, tick: &Tick, started: Option<u64>) {
        if matches!(self.books[b].status, BookStatus::Closed | BookStatus::Error) || self.fail_if_exhausted(b) {
            return;
        }
        {
            let book = &mut self.books[b];
            let closed = &mut book.closed;
            closed.clear();
            if tick.is_quote() {
                book.bars.on_tick(tick.ts_ns, tick.mid_x2(), &mut |i, bar| closed.push((i, *bar)));
            } else {
                book.bars.advance_time(tick.ts_ns, &mut |i, bar| closed.push((i, *bar)));
            }
        }
        self.deliver_bars(b, Some(tick));
        // Intents a book repeats while its order is still at an external venue are discarded by
        // `execute_intents`; they are not timed (they are not decisions acted on).
        let acted_on = !self.books[b].intents.is_empty() && !self.broker.has_awaiting(BookId(b as u32), self.books[b].instrument);
        let intent_at = match (started, self.latency.as_mut()) {
            (Some(t0), Some(rec)) if acted_on => Some(rec.intent(t0)),
            _ => None,
        };
        let before = self.events.len();
        self.execute_intents(b);
        if let (Some(t), Some(rec)) = (intent_at, self.latency.as_mut()) {
            rec.sent(t, self.events.len() > before);
        }
    }

    /// Calls the strategy for each closed bar (and the tick, if any), collecting intents.
    fn deliver_bars(&mut self, b: usize, tick: Option<&Tick>) {
        let inst_id = self.books[b].instrument;
        let position = self.broker.net_quantity(BookId(b as u32), inst_id);
        let instrument = self.broker.instruments().get(inst_id);
        let book = &mut self.books[b];
        let entries_allowed = book.status == BookStatus::Active;
        book.intents.clear();
        let prec = instrument.price_precision;
        for k in 0..book.closed.len() {
            let (i, bar) = book.closed[k];
            if i == book.primary {
                book.entry_blocked = false;
                book.atr.update(bar.high_f64(prec), bar.low_f64(prec), bar.close_f64(prec));
            }
            let mut ctx = StrategyContext {
                instrument,
                position,
                bars: &book.bars,
                primary: book.primary,
                entries_allowed,
                intents: &mut book.intents,
            };
            book.strategy.on_bar(i, &bar, &mut ctx);
            let mut indicators = crate::strategy::IndicatorValues::default();
            if i == book.primary {
                book.strategy.indicators(&mut indicators);
            }
            if let Some(ring) = book.chart.get_mut(i) {
                ring.push(chart::ChartBar { bar, indicators });
            }
        }
        if let Some(t) = tick {
            let mut ctx = StrategyContext {
                instrument,
                position,
                bars: &book.bars,
                primary: book.primary,
                entries_allowed,
                intents: &mut book.intents,
            };
            book.strategy.on_tick(t, &mut ctx);
        }
        if tick.is_none() {
            self.execute_intents(b);
        }
    }

    /// Records the decision context of the orders `book` sent from `events[from..]` (see [`chart`]).
    pub(crate) fn record_decision(
        &mut self,
        b: usize,
        inst: InstrumentId,
        from: usize,
        intent: chart::DecisionIntent,
        on_bar_close: bool,
        position_before: i64,
    ) {
        let book = &mut self.books[b];
        let mut indicators = crate::strategy::IndicatorValues::default();
        book.strategy.indicators(&mut indicators);
        let q = self.broker.quote(inst);
        let base = chart::DecisionBase {
            ts_ns: self.now_ns,
            intent,
            on_bar_close,
            bar: if inst == book.instrument { book.bars.last_closed(book.primary).copied() } else { None },
            indicators,
            bid: q.bid,
            ask: q.ask,
            position_before,
            entries_allowed: book.status == BookStatus::Active,
        };
        chart::record(&mut book.decisions, BookId(b as u32), &self.events[from..], base);
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod venue_tests;

#[cfg(test)]
mod session_tests;

#[cfg(test)]
mod state_tests;
