//! The read-side record of one book (operation or session): its orders, fill legs, FIFO trades, open
//! lots, positions and equity curve, folded from engine events.

use pinion_core::events::BookStatus;
use pinion_core::fixed::{Money, Price};
use pinion_core::instrument::InstrumentId;
use pinion_core::order::{ClosedTrade, Fill, PositionState};
use pinion_core::time::NS_PER_DAY;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

pub use pinion_core::records::{FillRecord, OrderRecord, TradeRecord};

/// How many orders, fill legs and closed trades a book ever had.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryCounts {
    pub orders: u64,
    pub fills: u64,
    pub trades: u64,
}

/// Totals over a book's closed trades, each at its P/L net of commission.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosedTotals {
    pub trades: u64,
    pub winning: u64,
    pub losing: u64,
    /// Sum of net P/L = gross_profit - gross_loss.
    pub net_pnl: Money,
    pub gross_profit: Money,
    /// Positive.
    pub gross_loss: Money,
}

impl ClosedTotals {
    pub fn add(&mut self, t: &ClosedTrade) {
        let net = t.pnl - t.commission;
        self.trades += 1;
        self.net_pnl += net;
        if net.0 > 0 {
            self.winning += 1;
            self.gross_profit += net;
        } else if net.0 < 0 {
            self.losing += 1;
            self.gross_loss += -net;
        }
    }
}

/// An entry lot still open (an open trade in OANDA's sense).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenLot {
    pub id: u64,
    pub instrument: InstrumentId,
    /// Signed remaining units in size steps.
    pub quantity: i64,
    pub price: Price,
    pub ts_ns: i64,
}

/// A position with its latest mark.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionRecord {
    pub state: PositionState,
    pub mark: Price,
    pub unrealized: Money,
    pub margin: Money,
    pub opened_ns: i64,
}

/// Equity curve summary: peak, drawdown and one closing value per UTC day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EquityCurve {
    pub current: Money,
    pub peak: Money,
    pub max_drawdown: Money,
    pub max_drawdown_pct: f64,
    /// (UTC day number, last equity of that day).
    pub daily: Vec<(i64, Money)>,
}

impl EquityCurve {
    pub fn new(start: Money) -> EquityCurve {
        EquityCurve { current: start, peak: start, daily: Vec::new(), ..Default::default() }
    }

    pub fn record(&mut self, equity: Money, ts_ns: i64) {
        self.current = equity;
        if equity > self.peak {
            self.peak = equity;
        }
        let dd = self.peak - equity;
        if dd > self.max_drawdown {
            self.max_drawdown = dd;
        }
        if self.peak.0 > 0 {
            let pct = dd.0 as f64 / self.peak.0 as f64 * 100.0;
            if pct > self.max_drawdown_pct {
                self.max_drawdown_pct = pct;
            }
        }
        let day = ts_ns.div_euclid(NS_PER_DAY);
        match self.daily.last_mut() {
            Some((d, v)) if *d == day => *v = equity,
            _ => self.daily.push((day, equity)),
        }
    }

    /// 1 - equity / peak.
    pub fn drawdown(&self) -> f64 {
        if self.peak.0 > 0 {
            1.0 - self.current.0 as f64 / self.peak.0 as f64
        } else {
            0.0
        }
    }
}

/// Everything the read side keeps about one book. Serialized as is into snapshots (see `super::snapshot`),
/// except `positions`, which is written as a list (its keys are each record's `state.instrument`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookRecord {
    pub status: BookStatus,
    pub initial_capital: Money,
    pub realized: Money,
    pub commission: Money,
    /// The newest orders (by id; see `super::window`); older ones are in the history store.
    pub orders: VecDeque<OrderRecord>,
    /// The newest fill legs.
    pub fills: VecDeque<FillRecord>,
    /// The newest closed trades.
    pub trades: VecDeque<TradeRecord>,
    /// How many of each the book ever had (the lists' totals).
    #[serde(default)]
    pub counts: HistoryCounts,
    /// Totals over every closed trade (the stats), kept as trades close.
    #[serde(default)]
    pub closed: ClosedTotals,
    pub lots: VecDeque<OpenLot>,
    #[serde(with = "super::snapshot::positions_as_list")]
    pub positions: BTreeMap<InstrumentId, PositionRecord>,
    pub equity: EquityCurve,
    /// The engine's reason for putting the book in `error` (kept once stopped). Held here as well as on
    /// the operation because the engine's event can reach the read model before the operation does.
    #[serde(default)]
    pub error: Option<String>,
}

impl BookRecord {
    pub fn new(initial_capital: Money) -> BookRecord {
        BookRecord {
            status: BookStatus::Active,
            initial_capital,
            realized: Money::ZERO,
            commission: Money::ZERO,
            orders: VecDeque::new(),
            fills: VecDeque::new(),
            trades: VecDeque::new(),
            counts: HistoryCounts::default(),
            closed: ClosedTotals::default(),
            lots: VecDeque::new(),
            positions: BTreeMap::new(),
            equity: EquityCurve::new(initial_capital),
            error: None,
        }
    }

    pub fn capital(&self) -> Money {
        self.initial_capital + self.realized - self.commission
    }

    pub fn unrealized(&self) -> Money {
        self.positions.values().map(|p| p.unrealized).fold(Money::ZERO, |a, b| a + b)
    }

    /// Folds a fill leg in; returns its record (also pushed onto the window).
    pub fn apply_fill(&mut self, id: u64, f: &Fill) -> FillRecord {
        self.realized += f.realized_pnl;
        self.commission += f.commission;
        let held = self.positions.get(&f.instrument).map_or(0, |p| p.state.quantity);
        let position_dir = if f.is_entry { f.side.sign() as i8 } else { held.signum() as i8 };
        let rec = FillRecord { id, fill: *f, position_dir: if position_dir == 0 { -(f.side.sign() as i8) } else { position_dir } };
        self.fills.push_back(rec);
        self.counts.fills += 1;
        if f.is_entry {
            self.lots.push_back(OpenLot {
                id,
                instrument: f.instrument,
                quantity: f.side.sign() * f.quantity.0,
                price: f.price,
                ts_ns: f.ts_ns,
            });
        }
        self.equity.record(self.capital() + self.unrealized(), f.ts_ns);
        rec
    }

    /// Reduces the open lots of the trade's instrument FIFO, mirroring the broker.
    /// Returns the trade's record (also pushed onto the window).
    pub fn apply_trade(&mut self, id: u64, t: &ClosedTrade) -> TradeRecord {
        let mut left = t.quantity.0;
        for lot in self.lots.iter_mut().filter(|l| l.instrument == t.instrument && l.quantity != 0) {
            if left == 0 {
                break;
            }
            let take = left.min(lot.quantity.abs());
            lot.quantity -= lot.quantity.signum() * take;
            left -= take;
        }
        self.lots.retain(|l| l.quantity != 0);
        let rec = TradeRecord { id, trade: *t };
        self.trades.push_back(rec);
        self.counts.trades += 1;
        self.closed.add(t);
        rec
    }

    /// Folds an order event in: a new order joins the window; a newer state replaces the one held
    /// (an order already evicted lives on in the history store only).
    /// A later event keeps the order as first sent (a cancel reports no quantity); returns the record
    /// as it now stands.
    pub fn apply_order(&mut self, rec: OrderRecord) -> OrderRecord {
        let id = rec.order.id;
        match self.orders.binary_search_by_key(&id, |o| o.order.id) {
            Ok(i) => {
                let o = &mut self.orders[i];
                o.status = rec.status;
                o.fill_price = rec.fill_price;
                o.reason = rec.reason;
                o.updated_ns = rec.updated_ns;
                o.txn = rec.txn;
                return *o;
            }
            // Rows are evicted oldest id first, so an unknown id below the whole window was evicted
            // (its new state goes to the history store only); any other unknown id is a new order.
            Err(0) if self.counts.orders > self.orders.len() as u64 => {}
            Err(i) => {
                self.orders.insert(i, rec);
                self.counts.orders += 1;
            }
        }
        rec
    }

    /// The order `id` if the window holds it.
    pub fn order(&self, id: u64) -> Option<&OrderRecord> {
        self.orders.binary_search_by_key(&id, |o| o.order.id).ok().map(|i| &self.orders[i])
    }

    /// Drops the oldest rows beyond `window` of each list, but only rows the history store holds
    /// (txn at or below `committed`), so nothing leaves memory before it is durable elsewhere.
    pub fn evict(&mut self, window: usize, committed: u64) {
        while self.orders.len() > window && self.orders.front().is_some_and(|o| o.txn <= committed) {
            self.orders.pop_front();
        }
        while self.fills.len() > window && self.fills.front().is_some_and(|f| f.id <= committed) {
            self.fills.pop_front();
        }
        while self.trades.len() > window && self.trades.front().is_some_and(|t| t.id <= committed) {
            self.trades.pop_front();
        }
    }

    /// Brings counts and totals kept since the history store up to the lists of a snapshot written
    /// before it (which held every row in memory).
    pub fn upgrade_counts(&mut self) {
        self.counts.orders = self.counts.orders.max(self.orders.len() as u64);
        self.counts.fills = self.counts.fills.max(self.fills.len() as u64);
        if self.counts.trades < self.trades.len() as u64 {
            self.counts.trades = self.trades.len() as u64;
            self.closed = ClosedTotals::default();
            for t in &self.trades {
                self.closed.add(&t.trade);
            }
        }
    }

    pub fn apply_position(&mut self, p: &PositionState) {
        if p.quantity == 0 {
            self.positions.remove(&p.instrument);
            return;
        }
        let prev = self.positions.get(&p.instrument).copied();
        let opened_ns = match prev {
            Some(r) if r.state.quantity.signum() == p.quantity.signum() => r.opened_ns,
            _ => p.ts_ns,
        };
        let (mark, unrealized, margin) = prev.map_or((Price(0), Money::ZERO, Money::ZERO), |r| (r.mark, r.unrealized, r.margin));
        self.positions.insert(p.instrument, PositionRecord { state: *p, mark, unrealized, margin, opened_ns });
    }

    pub fn apply_mark(&mut self, inst: InstrumentId, mark: Price, unrealized: Money, margin: Money) {
        if let Some(p) = self.positions.get_mut(&inst) {
            p.mark = mark;
            p.unrealized = unrealized;
            p.margin = margin;
        }
    }
}
