//! The fake account's books: balance, trades, orders and the transaction log, kept exactly (money in
//! integer cents, prices in integer steps). Every change is a transaction with the next id; this file
//! holds the records, lookups, price-dependent figures and the dependent (take-profit / stop-loss)
//! orders, while `fill` executes orders and `shapes` renders everything as OANDA JSON.

use super::config::{DuplicateScope, FakeConfig, FakeInstrument};
use super::market::{Market, Quote};
use super::money::{fmt_money, Conv, Scale};
use super::shapes;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Client-supplied identifiers on an order or trade (OANDA `ClientExtensions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientExtensions {
    /// Client id (`id`), e.g. pinion's client order id.
    pub id: Option<String>,
    /// Client tag.
    pub tag: Option<String>,
    /// Client comment.
    pub comment: Option<String>,
}

/// Where an order is in its life (OANDA `OrderState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrderState {
    Pending,
    Filled,
    Cancelled,
}

/// A take-profit or stop-loss request attached to an order (`TakeProfitDetails` / `StopLossDetails`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OnFill {
    /// Trigger price in steps, when given as a price.
    pub price: Option<i64>,
    /// Distance from the fill price in steps, when given as a distance.
    pub distance: Option<i64>,
    /// Client extensions for the dependent order.
    pub client_ext: Option<ClientExtensions>,
}

/// A validated market order request.
#[derive(Debug, Clone)]
pub(crate) struct MarketSpec {
    pub inst: usize,
    pub units: i64,
    pub time_in_force: String,
    pub position_fill: String,
    pub price_bound: Option<i64>,
    pub client_ext: Option<ClientExtensions>,
    pub trade_ext: Option<ClientExtensions>,
    pub take_profit: Option<OnFill>,
    pub stop_loss: Option<OnFill>,
    /// For a trade close: the trade and the units text as requested (`ALL` or a number).
    pub trade_close: Option<(u64, String)>,
}

/// Why a take-profit / stop-loss order is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DependentReason {
    /// With the fill (this ORDER_FILL id) of an order that carried it.
    OnFill(u64),
    /// Through the trade, where it had none.
    Client,
    /// Through the trade, replacing `order` (cancelled by transaction `cancel`).
    Replacing { order: u64, cancel: u64 },
}

/// A take-profit (`stop` false) or stop-loss order to create on a trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dependent {
    pub stop: bool,
    pub price: i64,
    pub ext: Option<ClientExtensions>,
    pub reason: DependentReason,
}

/// What an order is.
#[derive(Debug, Clone)]
pub(crate) enum OrderKind {
    Market(Box<MarketSpec>),
    TakeProfit { trade_id: u64, price: i64 },
    StopLoss { trade_id: u64, price: i64 },
}

/// One order of the account.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub id: u64,
    pub create_time: i64,
    pub state: OrderState,
    pub client_ext: Option<ClientExtensions>,
    pub kind: OrderKind,
    pub filling_txn: Option<u64>,
    pub filled_time: Option<i64>,
    pub trade_opened: Option<u64>,
    pub trade_reduced: Option<u64>,
    pub trades_closed: Vec<u64>,
    pub cancelling_txn: Option<u64>,
    pub cancelled_time: Option<i64>,
}

impl Order {
    pub fn new(id: u64, now: i64, client_ext: Option<ClientExtensions>, kind: OrderKind) -> Order {
        Order {
            id,
            create_time: now,
            state: OrderState::Pending,
            client_ext,
            kind,
            filling_txn: None,
            filled_time: None,
            trade_opened: None,
            trade_reduced: None,
            trades_closed: Vec::new(),
            cancelling_txn: None,
            cancelled_time: None,
        }
    }

    /// The client order id, if the client gave one.
    pub fn client_id(&self) -> Option<&str> {
        self.client_ext.as_ref().and_then(|c| c.id.as_deref())
    }
}

/// One trade of the account (open or closed).
#[derive(Debug, Clone)]
pub(crate) struct Trade {
    pub id: u64,
    pub inst: usize,
    pub price: i64,
    pub open_time: i64,
    pub initial_units: i64,
    pub current_units: i64,
    pub initial_margin: i64,
    pub realized_pl: i64,
    /// Sum of |units| closed and of |units| × close price, for `averageClosePrice`.
    pub closed_units: i128,
    pub closed_value: i128,
    pub closing_txns: Vec<u64>,
    pub close_time: Option<i64>,
    pub client_ext: Option<ClientExtensions>,
    pub take_profit: Option<u64>,
    pub stop_loss: Option<u64>,
}

impl Trade {
    pub fn is_open(&self) -> bool {
        self.current_units != 0
    }
}

/// How an instrument's quote currency becomes home currency.
#[derive(Debug, Clone, Copy)]
enum ConvSource {
    Identity,
    /// Home is the base: divide by the instrument's own mid.
    OverSelf,
    /// Multiply by the mid of `QUOTE_HOME` at this index.
    Times(usize),
    /// Divide by the mid of `HOME_QUOTE` at this index.
    Over(usize),
}

/// Price-dependent figures of one open trade.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Live {
    pub unrealized_pl: i64,
    pub margin_used: i64,
    pub position_value: i64,
}

/// The account.
#[derive(Debug)]
pub(crate) struct Ledger {
    pub account_id: String,
    pub currency: String,
    pub insts: Vec<FakeInstrument>,
    conv: Vec<ConvSource>,
    pub user_id: i64,
    pub created_time: i64,
    pub balance: i64,
    pub pl: i64,
    pub txns: Vec<Value>,
    pub orders: BTreeMap<u64, Order>,
    pub trades: BTreeMap<u64, Trade>,
    /// Ids of open trades and of pending orders, so per-tick work does not scan the history.
    open_ids: BTreeSet<u64>,
    pending_ids: BTreeSet<u64>,
    pub client_order_ids: HashMap<String, u64>,
    /// Realized P&L per instrument: [long side, short side].
    pub position_pl: Vec<[i64; 2]>,
    pub dup_scope: DuplicateScope,
    /// `liquidity` shown on price buckets.
    pub liquidity: i64,
}

impl Ledger {
    /// A new account: a CREATE transaction, then TRANSFER_FUNDS of the starting balance.
    pub fn new(cfg: &FakeConfig, now: i64) -> Ledger {
        let parts: Vec<&str> = cfg.account_id.split('-').collect();
        let user_id = parts.get(2).and_then(|p| p.parse().ok()).unwrap_or(0);
        let conv = cfg.instruments.iter().map(|i| conv_source(cfg, i)).collect();
        let mut l = Ledger {
            account_id: cfg.account_id.clone(),
            currency: cfg.currency.clone(),
            insts: cfg.instruments.clone(),
            conv,
            user_id,
            created_time: now,
            balance: 0,
            pl: 0,
            txns: Vec::new(),
            orders: BTreeMap::new(),
            trades: BTreeMap::new(),
            open_ids: BTreeSet::new(),
            pending_ids: BTreeSet::new(),
            client_order_ids: HashMap::new(),
            position_pl: vec![[0, 0]; cfg.instruments.len()],
            dup_scope: cfg.duplicate_client_ids,
            liquidity: cfg.liquidity,
        };
        // CreateTransaction (https://developer.oanda.com/rest-live-v20/transaction-df/).
        let mut create = Map::new();
        create.insert("type".into(), json!("CREATE"));
        let num = |i: usize| parts.get(i).and_then(|p| p.parse::<i64>().ok());
        if let (Some(site), Some(div), Some(acct)) = (num(0), num(1), num(3)) {
            create.insert("siteID".into(), json!(site));
            create.insert("divisionID".into(), json!(div));
            create.insert("accountNumber".into(), json!(acct));
        }
        create.insert("accountUserID".into(), json!(user_id));
        create.insert("homeCurrency".into(), json!(cfg.currency));
        let batch = l.next_id();
        l.record(batch, now, create);
        // TransferFundsTransaction (same page).
        l.balance = cfg.starting_balance.cents();
        let transfer = obj(json!({
            "type": "TRANSFER_FUNDS",
            "amount": fmt_money(cfg.starting_balance.cents()),
            "fundingReason": "CLIENT_FUNDING",
            "accountBalance": fmt_money(l.balance),
        }));
        let batch = l.next_id();
        l.record(batch, now, transfer);
        l
    }

    /// Id of the latest transaction.
    pub fn last_id(&self) -> u64 {
        self.txns.len() as u64
    }

    /// Id the next recorded transaction will get.
    pub fn next_id(&self) -> u64 {
        self.last_id() + 1
    }

    /// Appends a transaction: adds the fields every Transaction has (id, time, userID, accountID,
    /// batchID, requestID) to `fields` and returns its id.
    pub fn record(&mut self, batch: u64, now: i64, mut fields: Map<String, Value>) -> u64 {
        let id = self.next_id();
        fields.insert("id".into(), json!(id.to_string()));
        fields.insert("time".into(), json!(shapes::time(now)));
        fields.insert("userID".into(), json!(self.user_id));
        fields.insert("accountID".into(), json!(self.account_id));
        fields.insert("batchID".into(), json!(batch.to_string()));
        fields.insert("requestID".into(), json!(format!("{}", 60_000_000_000_000_000u64 + id)));
        self.txns.push(Value::Object(fields));
        id
    }

    /// The transaction with id `id`.
    pub fn txn(&self, id: u64) -> Option<&Value> {
        id.checked_sub(1).and_then(|i| self.txns.get(i as usize))
    }

    /// The transactions with ids in `from..=to`.
    pub fn txns_between(&self, from: u64, to: u64) -> Vec<Value> {
        (from.max(1)..=to.min(self.last_id())).filter_map(|i| self.txn(i).cloned()).collect()
    }

    /// Scale of units and prices of `inst`.
    pub fn scale(&self, inst: usize) -> Scale {
        let i = &self.insts[inst];
        Scale { price_prec: i.display_precision, units_prec: i.trade_units_precision }
    }

    /// Quote-to-home conversion for `inst` at current prices; None while a needed price is unknown.
    pub fn conv(&self, market: &Market, inst: usize) -> Option<Conv> {
        let mid = |i: usize| market.latest(i).map(|q| (q.bid, q.ask, self.insts[i].display_precision));
        match self.conv[inst] {
            ConvSource::Identity => Some(Conv::ONE),
            ConvSource::OverSelf => mid(inst).map(|(b, a, p)| Conv::over_mid(b, a, p)),
            ConvSource::Times(i) => mid(i).map(|(b, a, p)| Conv::times_mid(b, a, p)),
            ConvSource::Over(i) => mid(i).map(|(b, a, p)| Conv::over_mid(b, a, p)),
        }
    }

    /// Unrealized P&L (at the closing side of the current price), margin and value of a trade.
    pub fn live(&self, market: &Market, t: &Trade) -> Live {
        let (Some(q), Some(conv)) = (market.latest(t.inst), self.conv(market, t.inst)) else {
            return Live::default();
        };
        let s = self.scale(t.inst);
        let close = if t.current_units > 0 { q.bid } else { q.ask };
        Live {
            unrealized_pl: s.pl_cents(t.current_units, close - t.price, conv),
            margin_used: s.margin_cents(t.current_units, q.bid, q.ask, conv, self.insts[t.inst].margin_rate),
            position_value: s.value_cents(t.current_units, q.bid, q.ask, conv),
        }
    }

    /// Open trades, oldest first.
    pub fn open_trades(&self) -> impl DoubleEndedIterator<Item = &Trade> {
        self.open_ids.iter().filter_map(|id| self.trades.get(id))
    }

    /// Stores a newly opened trade.
    pub fn insert_trade(&mut self, t: Trade) {
        self.open_ids.insert(t.id);
        self.trades.insert(t.id, t);
    }

    /// Marks a trade closed (its units are 0) and an order no longer pending.
    pub fn settle(&mut self, closed_trade: Option<u64>, done_order: Option<u64>) {
        if let Some(t) = closed_trade {
            self.open_ids.remove(&t);
        }
        if let Some(o) = done_order {
            self.pending_ids.remove(&o);
        }
    }

    /// Sum of the live figures over all open trades.
    pub fn totals(&self, market: &Market) -> Live {
        self.open_trades().fold(Live::default(), |acc, t| {
            let l = self.live(market, t);
            Live {
                unrealized_pl: acc.unrealized_pl + l.unrealized_pl,
                margin_used: acc.margin_used + l.margin_used,
                position_value: acc.position_value + l.position_value,
            }
        })
    }

    /// Pending orders, oldest first.
    pub fn pending_orders(&self) -> impl DoubleEndedIterator<Item = &Order> {
        self.pending_ids.iter().filter_map(|id| self.orders.get(id))
    }

    /// Instruments with at least one open trade.
    pub fn open_instruments(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.open_trades().map(|t| t.inst).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// An order by OANDA id or by `@clientOrderID`.
    pub fn find_order(&self, spec: &str) -> Option<&Order> {
        match spec.strip_prefix('@') {
            Some(cid) => self.client_order_ids.get(cid).and_then(|id| self.orders.get(id)),
            None => spec.parse().ok().and_then(|id: u64| self.orders.get(&id)),
        }
    }

    /// A trade id by OANDA id or by `@clientTradeID`.
    pub fn find_trade(&self, spec: &str) -> Option<u64> {
        match spec.strip_prefix('@') {
            Some(cid) => self.trades.values().find(|t| t.client_ext.as_ref().and_then(|c| c.id.as_deref()) == Some(cid)).map(|t| t.id),
            None => spec.parse().ok().filter(|id| self.trades.contains_key(id)),
        }
    }

    /// Whether a new order with client id `cid` would be a duplicate.
    pub fn client_id_taken(&self, cid: &str) -> bool {
        match (self.client_order_ids.get(cid).and_then(|id| self.orders.get(id)), self.dup_scope) {
            (None, _) => false,
            (Some(_), DuplicateScope::AnyOrder) => true,
            (Some(o), DuplicateScope::PendingOnly) => o.state == OrderState::Pending,
        }
    }

    /// Stores a new order and indexes its client id.
    pub fn insert_order(&mut self, order: Order) {
        if let Some(cid) = order.client_id() {
            self.client_order_ids.insert(cid.to_string(), order.id);
        }
        if order.state == OrderState::Pending {
            self.pending_ids.insert(order.id);
        }
        self.orders.insert(order.id, order);
    }

    /// Creates a take-profit or stop-loss order on a trade, recording a TAKE_PROFIT_ORDER /
    /// STOP_LOSS_ORDER transaction; returns the order id.
    pub fn create_dependent(&mut self, batch: u64, now: i64, trade_id: u64, d: Dependent) -> u64 {
        let Dependent { stop, price, ext, reason } = d;
        let Some(trade) = self.trades.get(&trade_id) else { return 0 };
        let prec = self.insts[trade.inst].display_precision;
        let client_trade_id = trade.client_ext.as_ref().and_then(|c| c.id.clone());
        // TakeProfitOrderTransaction / StopLossOrderTransaction (transaction-df).
        let mut f = obj(json!({
            "type": if stop { "STOP_LOSS_ORDER" } else { "TAKE_PROFIT_ORDER" },
            "tradeID": trade_id.to_string(),
            "price": pinion_core::fixed::format_decimal(price, prec),
            "timeInForce": "GTC",
            "triggerCondition": "DEFAULT",
        }));
        match reason {
            DependentReason::OnFill(fill) => {
                f.insert("reason".into(), json!("ON_FILL"));
                f.insert("orderFillTransactionID".into(), json!(fill.to_string()));
            }
            DependentReason::Client => {
                f.insert("reason".into(), json!("CLIENT_ORDER"));
            }
            DependentReason::Replacing { order, cancel } => {
                f.insert("reason".into(), json!("REPLACEMENT"));
                f.insert("replacesOrderID".into(), json!(order.to_string()));
                f.insert("cancellingTransactionID".into(), json!(cancel.to_string()));
            }
        }
        if let Some(c) = client_trade_id {
            f.insert("clientTradeID".into(), json!(c));
        }
        if let Some(e) = &ext {
            f.insert("clientExtensions".into(), shapes::client_ext(e));
        }
        let id = self.record(batch, now, f);
        let kind = if stop { OrderKind::StopLoss { trade_id, price } } else { OrderKind::TakeProfit { trade_id, price } };
        self.insert_order(Order::new(id, now, ext, kind));
        if let Some(t) = self.trades.get_mut(&trade_id) {
            if stop {
                t.stop_loss = Some(id);
            } else {
                t.take_profit = Some(id);
            }
        }
        id
    }

    /// Cancels a pending order with an ORDER_CANCEL transaction and unlinks it from its trade.
    /// A cancel for replacement (`CLIENT_REQUEST_REPLACED`) names the order that will replace it:
    /// the next one recorded.
    pub fn cancel_order(&mut self, batch: u64, now: i64, order_id: u64, reason: &str) -> Option<u64> {
        let o = self.orders.get(&order_id).filter(|o| o.state == OrderState::Pending)?;
        let mut f = obj(json!({"type": "ORDER_CANCEL", "orderID": order_id.to_string(), "reason": reason}));
        if reason == "CLIENT_REQUEST_REPLACED" {
            f.insert("replacedByOrderID".into(), json!((self.next_id() + 1).to_string()));
        }
        if let Some(c) = o.client_id() {
            f.insert("clientOrderID".into(), json!(c));
        }
        let trade = match o.kind {
            OrderKind::TakeProfit { trade_id, .. } | OrderKind::StopLoss { trade_id, .. } => Some(trade_id),
            OrderKind::Market(_) => None,
        };
        let id = self.record(batch, now, f);
        if let Some(o) = self.orders.get_mut(&order_id) {
            o.state = OrderState::Cancelled;
            o.cancelling_txn = Some(id);
            o.cancelled_time = Some(now);
        }
        self.settle(None, Some(order_id));
        if let Some(t) = trade.and_then(|tid| self.trades.get_mut(&tid)) {
            if t.take_profit == Some(order_id) {
                t.take_profit = None;
            }
            if t.stop_loss == Some(order_id) {
                t.stop_loss = None;
            }
        }
        Some(id)
    }

    /// Pending take-profit / stop-loss orders on open trades of `inst` that the quote `q` triggers,
    /// in id order. DEFAULT trigger: a long trade's orders sell, so they compare with the bid; a short
    /// trade's compare with the ask. A stop triggers at or through its price, a take-profit at or past it.
    pub fn triggered(&self, inst: usize, q: Quote) -> Vec<(u64, u64, bool)> {
        let mut out = Vec::new();
        for t in self.open_trades().filter(|t| t.inst == inst) {
            for (order, stop) in [(t.take_profit, false), (t.stop_loss, true)] {
                let Some(o) = order.and_then(|id| self.orders.get(&id)).filter(|o| o.state == OrderState::Pending) else { continue };
                let (OrderKind::TakeProfit { price, .. } | OrderKind::StopLoss { price, .. }) = o.kind else { continue };
                if would_trigger(t.current_units > 0, stop, price, q) {
                    out.push((o.id, t.id, stop));
                }
            }
        }
        out.sort_unstable();
        out
    }
}

/// Whether a dependent order at `price` on a long (`long`) or short trade triggers at quote `q`.
pub(crate) fn would_trigger(long: bool, stop: bool, price: i64, q: Quote) -> bool {
    match (long, stop) {
        (true, true) => q.bid <= price,
        (true, false) => q.bid >= price,
        (false, true) => q.ask >= price,
        (false, false) => q.ask <= price,
    }
}

fn conv_source(cfg: &FakeConfig, inst: &FakeInstrument) -> ConvSource {
    let home = cfg.currency.as_str();
    let Some((base, quote)) = inst.currencies() else { return ConvSource::Identity };
    let find = |name: String| cfg.instruments.iter().position(|i| i.name == name);
    if quote == home {
        ConvSource::Identity
    } else if base == home {
        ConvSource::OverSelf
    } else if let Some(i) = find(format!("{quote}_{home}")) {
        ConvSource::Times(i)
    } else if let Some(i) = find(format!("{home}_{quote}")) {
        ConvSource::Over(i)
    } else {
        ConvSource::Identity
    }
}

/// The object inside a `json!` literal (an empty map for anything else).
pub(crate) fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
