//! The engine's side of the model session: bar history for warm-up, start/stop, and each decision
//! (observation -> policy -> target positions -> rebalancing orders through the risk engine).

use super::{BookSpec, Engine};
use crate::bars::BarSize;
use crate::events::BookStatus;
use crate::fixed::{Price, Quantity, POW10};
use crate::instrument::InstrumentId;
use crate::order::{BookId, Order, OrderPurpose, OrderType, Side};
use crate::session::features::{write_symbol_block, ATR_PERIOD, N_FEATURES_V1};
use crate::session::history::BarHistory;
use crate::session::{Session, SessionSpec, SessionState, SessionStatus};
use crate::strategy::Strategy;

/// The session book's strategy: decisions come from the policy, not from ticks.
pub(crate) struct PolicyDriven;

/// Name of the session book's strategy.
pub(crate) const SESSION_STRATEGY: &str = "model_session";

impl Strategy for PolicyDriven {
    fn name(&self) -> &'static str {
        SESSION_STRATEGY
    }
    fn save_state(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::Null)
    }
}

/// Default bars of history kept per instrument.
pub const HISTORY_CAPACITY: usize = 1024;

/// Why a model session could not be started or stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The engine keeps no bar history, which a session needs for warm-up.
    #[error("bar history is not enabled on this engine")]
    NoHistory,
    /// A session is already warming up or running (the text says which).
    #[error("a session is already {0}")]
    AlreadyRunning(&'static str),
    /// No session is warming up or running.
    #[error("no session is running")]
    NotRunning,
    /// The session's specification was refused; the text says why.
    #[error("{0}")]
    Invalid(String),
}

impl Engine {
    /// Keeps `capacity` closed bars of `size` per instrument for session warm-up.
    pub fn enable_history(&mut self, size: BarSize, capacity: usize) {
        let n = self.instruments().len();
        self.history = (0..n).map(|_| BarHistory::new(size, capacity)).collect();
        self.history_size = Some(size);
    }

    /// The bar size of the kept history, when enabled.
    pub fn history_size(&self) -> Option<BarSize> {
        self.history_size
    }

    /// Closed-bar history of instrument `id`, when history is enabled.
    pub fn history(&self, id: InstrumentId) -> Option<&BarHistory> {
        self.history.get(id.0 as usize)
    }

    /// Folds a tick into the bar history; returns true when a bar of a session symbol closed.
    #[inline]
    pub(super) fn update_history(&mut self, inst: usize, ts: i64, mid_x2: i64, is_quote: bool) -> bool {
        let mut closed = false;
        if is_quote {
            if let Some(h) = self.history.get_mut(inst) {
                closed |= h.on_tick(ts, mid_x2).is_some();
            }
        }
        if ts >= self.next_history_close {
            for h in &mut self.history {
                closed |= h.advance_time(ts).is_some();
            }
            if let Some(size) = self.history_size {
                self.next_history_close = size.bar_start(ts).saturating_add(size.duration_ns());
            }
        }
        closed
    }

    /// Whether a session could start now with these symbols and this policy (changes nothing).
    pub fn check_session_start(&self, symbols: &[InstrumentId], policy: &dyn crate::policy::Policy) -> Result<(), SessionError> {
        if self.history.is_empty() {
            return Err(SessionError::NoHistory);
        }
        if let Some(s) = &self.session {
            if matches!(s.state, SessionState::WarmingUp | SessionState::Running) {
                return Err(SessionError::AlreadyRunning(if s.state == SessionState::Running { "running" } else { "warming up" }));
            }
        }
        let shape = policy.shape();
        if symbols.is_empty() || symbols.len() > shape.max_symbols {
            return Err(SessionError::Invalid(format!("{} symbols for a model with max_symbols {}", symbols.len(), shape.max_symbols)));
        }
        if shape.n_features != N_FEATURES_V1 || shape.lookback_window == 0 || shape.lookback_window > HISTORY_CAPACITY {
            return Err(SessionError::Invalid(format!(
                "model shape {shape:?} is not supported (n_features {N_FEATURES_V1}, lookback 1..={HISTORY_CAPACITY})"
            )));
        }
        Ok(())
    }

    /// Whether a session is warming up or running.
    pub fn session_running(&self) -> bool {
        self.session.as_ref().is_some_and(|s| matches!(s.state, SessionState::WarmingUp | SessionState::Running))
    }

    /// Whether a session is warming up.
    pub fn session_warming_up(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.state == SessionState::WarmingUp)
    }

    /// Starts the session (warm-up first). Returns the session book.
    pub fn start_session(&mut self, spec: SessionSpec) -> Result<BookId, SessionError> {
        self.check_session_start(&spec.symbols, spec.policy.as_ref())?;
        let book = match self.session_book {
            Some(b) => {
                if self.books[b.0 as usize].status != BookStatus::Active {
                    self.books[b.0 as usize].status = BookStatus::Active;
                    self.events.push(crate::events::EngineEvent::BookStatus {
                        book: b,
                        status: BookStatus::Active,
                        reason: None,
                        ts_ns: self.now_ns,
                    });
                }
                b
            }
            None => {
                let size = self.history_size.ok_or(SessionError::NoHistory)?;
                let b = self
                    .add_book(BookSpec {
                        instrument: spec.symbols[0],
                        bar_sizes: vec![size],
                        primary: 0,
                        strategy: Box::new(PolicyDriven),
                        capital: spec.target_capital,
                        stop_loss: None,
                        take_profit: None,
                        risk_fraction: 0.0,
                    })
                    .map_err(|e| SessionError::Invalid(e.to_string()))?;
                self.session_book = Some(b);
                b
            }
        };
        let mut s = Session::new(book, spec);
        s.last_decision_end = self.symbols_last_end(&s.symbols);
        self.session = Some(s);
        self.check_warmup();
        Ok(book)
    }

    fn symbols_last_end(&self, symbols: &[InstrumentId]) -> i64 {
        symbols.iter().filter_map(|i| self.history(*i)).map(|h| h.last_end_ns).max().unwrap_or(0)
    }

    /// Moves a warming-up session to running once every symbol has `lookback` bars.
    fn check_warmup(&mut self) {
        let Some(s) = &self.session else { return };
        if s.state != SessionState::WarmingUp {
            return;
        }
        let need = s.shape.lookback_window;
        if s.symbols.iter().all(|i| self.history(*i).is_some_and(|h| h.len() >= need)) {
            if let Some(s) = self.session.as_mut() {
                s.state = SessionState::Running;
            }
        }
    }

    /// Stops new decisions; positions stay open (reported by the status).
    pub fn stop_session(&mut self) -> Result<SessionStatus, SessionError> {
        let s = self.session.as_mut().ok_or(SessionError::NotRunning)?;
        if !matches!(s.state, SessionState::WarmingUp | SessionState::Running) {
            return Err(SessionError::NotRunning);
        }
        s.state = SessionState::Stopped;
        let book = s.book;
        if self.books[book.0 as usize].status == BookStatus::Active {
            self.set_status(book, BookStatus::Paused);
        }
        Ok(self.session_status())
    }

    /// Marks a warming-up session failed (e.g. warm-up timeout) with a reason.
    pub fn fail_session(&mut self, reason: String) {
        if let Some(s) = self.session.as_mut() {
            if s.state == SessionState::WarmingUp {
                s.state = SessionState::Failed;
                s.reason = Some(reason);
            }
        }
    }

    /// The session's state, symbols, warm-up progress, last decision and open positions, as `/session/status` reports it.
    pub fn session_status(&self) -> SessionStatus {
        let name = |i: InstrumentId| self.instruments().try_get(i).map_or_else(|| "?".to_string(), |x| x.symbol.clone());
        let Some(s) = &self.session else {
            return SessionStatus {
                state: SessionState::Idle,
                running: false,
                reason: None,
                symbols: vec![],
                target_capital_usd: 0.0,
                warmup_ready: false,
                warmup_missing: vec![],
                decisions: 0,
                last_decision_ns: 0,
                last_decision_cost_ns: 0,
                last_actions: vec![],
                open_positions: vec![],
            };
        };
        let need = s.shape.lookback_window;
        let missing: Vec<(String, usize, usize)> = s
            .symbols
            .iter()
            .filter_map(|i| {
                let have = self.history(*i).map_or(0, |h| h.len());
                (have < need).then(|| (name(*i), have, need))
            })
            .collect();
        let open = self
            .broker
            .positions()
            .filter(|p| p.book == s.book)
            .map(|p| {
                let prec = self.instruments().get(p.instrument).size_precision;
                (name(p.instrument), p.quantity as f64 / POW10[prec as usize] as f64)
            })
            .collect();
        SessionStatus {
            state: s.state,
            running: matches!(s.state, SessionState::WarmingUp | SessionState::Running),
            reason: s.reason.clone(),
            symbols: s.symbols.iter().map(|i| name(*i)).collect(),
            target_capital_usd: s.target_capital.as_f64(),
            warmup_ready: missing.is_empty(),
            warmup_missing: missing,
            decisions: s.decisions,
            last_decision_ns: s.last_decision_ns,
            last_decision_cost_ns: s.last_decision_cost_ns,
            last_actions: s.symbols.iter().zip(&s.last_actions).map(|(i, a)| (name(*i), *a)).collect(),
            open_positions: open,
        }
    }

    /// Runs a decision if a new bar interval closed for the session's symbols.
    pub(super) fn maybe_decide(&mut self) {
        self.check_warmup();
        let Some(s) = &self.session else { return };
        if s.state != SessionState::Running {
            return;
        }
        let end = self.symbols_last_end(&s.symbols);
        if end <= s.last_decision_end {
            return;
        }
        self.decide(end);
    }

    /// One decision: observation, inference, sizing and orders.
    pub fn decide(&mut self, bar_end: i64) {
        let started = std::time::Instant::now();
        let Some(mut s) = self.session.take() else { return };
        s.last_decision_end = bar_end;
        let lookback = s.shape.lookback_window;
        let block = lookback * N_FEATURES_V1;
        let per_symbol_cap = s.target_capital.as_f64() / s.symbols.len() as f64;
        s.observation.iter_mut().for_each(|x| *x = 0.0);
        s.mask.iter_mut().for_each(|x| *x = 0.0);
        for (slot, &inst) in s.symbols.iter().enumerate() {
            let prec = self.instruments().get(inst).price_precision;
            let scale = (2 * POW10[prec as usize]) as f64;
            let held = self.broker.net_quantity(s.book, inst);
            let frac = self.position_notional(inst, held).map_or(0.0, |n| (n / per_symbol_cap) as f32);
            let Some(h) = self.history.get(inst.0 as usize) else { continue };
            if write_symbol_block(h, lookback, scale, frac, &mut s.observation[slot * block..(slot + 1) * block]) {
                s.mask[slot] = 1.0;
            }
        }
        let ok = s.policy.decide(&s.observation, &s.mask, &mut s.actions);
        if let Err(e) = ok {
            s.state = SessionState::Failed;
            s.reason = Some(format!("model inference failed: {e}"));
        } else {
            s.decisions += 1;
            s.last_decision_ns = self.now_ns;
            s.last_actions.copy_from_slice(&s.actions);
            for slot in 0..s.symbols.len() {
                if s.mask[slot] > 0.0 {
                    let inst = s.symbols[slot];
                    let action = s.actions[slot].clamp(-1.0, 1.0);
                    let target = action as f64 * per_symbol_cap;
                    let (from, before) = (self.events.len(), self.broker.net_quantity(s.book, inst));
                    self.rebalance(s.book, inst, target);
                    if self.events.len() > from && (s.book.0 as usize) < self.books.len() {
                        self.record_decision(s.book.0 as usize, inst, from, super::chart::DecisionIntent::Model { action }, true, before);
                    }
                }
            }
        }
        s.last_decision_cost_ns = started.elapsed().as_nanos() as u64;
        self.session = Some(s);
    }

    /// Signed notional in USD of `units` size steps at the current mid.
    fn position_notional(&self, inst: InstrumentId, units: i64) -> Option<f64> {
        let usdq = self.broker.rates().usd_per_quote_unit(inst)?;
        let i = self.instruments().get(inst);
        let mid = self.broker.rates().mid_x2(inst) as f64 / (2 * POW10[i.price_precision as usize]) as f64;
        Some(units as f64 / POW10[i.size_precision as usize] as f64 * mid * usdq)
    }

    /// Moves the session book's position in `inst` towards `target_usd` (signed notional), sizing the
    /// increasing part through the risk engine; changes under 2% of the target capital share are skipped.
    fn rebalance(&mut self, book: BookId, inst: InstrumentId, target_usd: f64) {
        // With an order still at the external venue, the position is unknown until its report.
        if self.broker.has_awaiting(book, inst) {
            return;
        }
        let i = self.instruments().get(inst).clone();
        let Some(usdq) = self.broker.rates().usd_per_quote_unit(inst) else { return };
        let q = self.broker.quote(inst);
        if q.bid <= 0 || q.ask <= 0 {
            return;
        }
        let mid = (q.bid + q.ask) as f64 / (2 * POW10[i.price_precision as usize]) as f64;
        let step = POW10[i.size_precision as usize] as f64;
        let mut target_units = (target_usd / (mid * usdq)).trunc();
        // Risk sizing: cap the position so a stop-out loses at most max_risk_per_trade_percent of NAV.
        let atr = self.history(inst).and_then(|h| {
            crate::session::features::window_atr(h, h.len().min(ATR_PERIOD * 4), (2 * POW10[i.price_precision as usize]) as f64)
        });
        let stops = self.risk.as_ref().and_then(|r| r.stop_distance(atr, i.pip_value()));
        if let (Some(r), Some((stop_d, _))) = (self.risk.as_ref(), stops) {
            let nav = self.broker.account_state(self.now_ns).nav();
            let cap = r.max_units_for_risk(nav, stop_d, usdq).floor();
            target_units = target_units.clamp(-cap, cap);
        }
        let target = (target_units * step) as i64;
        let held = self.broker.net_quantity(book, inst);
        let delta = target - held;
        let threshold = (0.02 * target_usd.abs().max(1.0) / (mid * usdq) * step) as i64;
        if delta == 0 || delta.abs() < threshold.max(i.min_trade_size) {
            return;
        }
        let side = if delta > 0 { Side::Buy } else { Side::Sell };
        let increases = target.abs() > held.abs() || target.signum() != held.signum() && target != 0;
        let qty = Quantity(delta.abs());
        if increases && self.broker.feed_stale() {
            // No new exposure on stale prices (a live venue's feed stopped); decreases still go.
            return;
        }
        if increases {
            let entry_steps = if side == Side::Buy { q.ask } else { q.bid };
            if let Err(reason) = self.risk_check(book, inst, side, qty, entry_steps, stops.map(|s| s.0)) {
                let order = Order {
                    id: 0,
                    book,
                    instrument: inst,
                    side,
                    order_type: OrderType::Market,
                    purpose: OrderPurpose::Rebalance,
                    quantity: qty,
                    price: Price(0),
                    created_ns: self.now_ns,
                };
                self.broker.reject(order, reason, &mut self.events);
                return;
            }
        }
        let start = self.events.len();
        let sent = self.broker.submit_market(book, inst, side, qty, OrderPurpose::Rebalance, self.now_ns, &mut self.events).is_ok();
        if sent && target != 0 && self.broker.is_external() {
            // At a venue the order fills later: the stop and target go with it (attached on fill at the
            // venue, for the units it opens), from the price it is sent at.
            if let (Some((stop_d, take_d)), true) = (stops, increases) {
                let entry = (if side == Side::Buy { q.ask } else { q.bid }) as f64 / POW10[i.price_precision as usize] as f64;
                let dir = target.signum() as f64;
                let stop = Price::from_f64(entry - dir * stop_d, i.price_precision);
                let take = Price::from_f64(entry + dir * take_d, i.price_precision);
                self.broker.set_protection(book, inst, Some(stop), Some(take), self.now_ns, &mut self.events);
            }
        } else if sent && target != 0 {
            if let Some((stop_d, take_d)) = stops {
                let p = self.broker.position(book, inst).map(|p| p.avg_price_steps() / POW10[i.price_precision as usize] as f64);
                if let Some(entry) = p {
                    let dir = target.signum() as f64;
                    let stop = Price::from_f64(entry - dir * stop_d, i.price_precision);
                    let take = Price::from_f64(entry + dir * take_d, i.price_precision);
                    self.broker.set_protection(book, inst, Some(stop), Some(take), self.now_ns, &mut self.events);
                }
            }
        }
        self.book_fills(start);
    }
}
