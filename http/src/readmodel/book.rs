//! The read-side record of one book (operation or session): its orders, fill legs, FIFO trades, open
//! lots, positions and equity curve, folded from engine events.

use pinion_core::events::BookStatus;
use pinion_core::fixed::{Money, Price};
use pinion_core::instrument::InstrumentId;
use pinion_core::order::{ClosedTrade, Fill, Order, OrderStatus, PositionState, RejectReason};
use pinion_core::time::NS_PER_DAY;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// The latest state of one order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRecord {
    pub order: Order,
    pub status: OrderStatus,
    pub fill_price: Price,
    pub reason: Option<RejectReason>,
    pub updated_ns: i64,
}

/// One fill leg with its sequence id.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FillRecord {
    pub id: u64,
    pub fill: Fill,
    /// Direction of the position the leg belongs to (+1 long, -1 short).
    pub position_dir: i8,
}

/// A closed FIFO trade with its id.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradeRecord {
    pub id: u64,
    pub trade: ClosedTrade,
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
    pub orders: Vec<OrderRecord>,
    pub fills: Vec<FillRecord>,
    pub trades: Vec<TradeRecord>,
    pub lots: VecDeque<OpenLot>,
    #[serde(with = "super::snapshot::positions_as_list")]
    pub positions: BTreeMap<InstrumentId, PositionRecord>,
    pub equity: EquityCurve,
}

impl BookRecord {
    pub fn new(initial_capital: Money) -> BookRecord {
        BookRecord {
            status: BookStatus::Active,
            initial_capital,
            realized: Money::ZERO,
            commission: Money::ZERO,
            orders: Vec::new(),
            fills: Vec::new(),
            trades: Vec::new(),
            lots: VecDeque::new(),
            positions: BTreeMap::new(),
            equity: EquityCurve::new(initial_capital),
        }
    }

    pub fn capital(&self) -> Money {
        self.initial_capital + self.realized - self.commission
    }

    pub fn unrealized(&self) -> Money {
        self.positions.values().map(|p| p.unrealized).fold(Money::ZERO, |a, b| a + b)
    }

    pub fn apply_fill(&mut self, id: u64, f: &Fill) {
        self.realized += f.realized_pnl;
        self.commission += f.commission;
        let held = self.positions.get(&f.instrument).map_or(0, |p| p.state.quantity);
        let position_dir = if f.is_entry { f.side.sign() as i8 } else { held.signum() as i8 };
        self.fills.push(FillRecord { id, fill: *f, position_dir: if position_dir == 0 { -(f.side.sign() as i8) } else { position_dir } });
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
    }

    /// Reduces the open lots of the trade's instrument FIFO, mirroring the broker.
    pub fn apply_trade(&mut self, id: u64, t: &ClosedTrade) {
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
        self.trades.push(TradeRecord { id, trade: *t });
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
