//! State shared by the fake's threads: the market and the account behind one lock, the stream
//! subscribers that see every price and transaction, request statistics, and the pacer thread that
//! replays ticks at the configured speed. Every price goes through `State::apply_price`, which lets
//! take-profit / stop-loss orders trigger whether or not any client is connected.

use super::config::FakeConfig;
use super::faults::{lock, Faults};
use super::ledger::Ledger;
use super::market::{Market, Quote};
use crossbeam_channel::{unbounded, Receiver, Sender};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest single sleep of a fake thread, so shutdown and faults are seen promptly.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// A price update for stream subscribers: instrument index and quote.
pub(crate) type PriceEvent = (usize, Quote);

/// Market, account and subscribers, behind one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub market: Market,
    pub ledger: Ledger,
    price_subs: Vec<Sender<PriceEvent>>,
    txn_subs: Vec<Sender<Value>>,
}

impl State {
    /// Makes `q` the price of `inst`, fills what it triggers, and tells every subscriber.
    pub fn apply_price(&mut self, inst: usize, q: Quote) {
        let prev = self.ledger.last_id();
        self.market.apply(inst, q);
        let applied = self.market.latest(inst).unwrap_or(q);
        let now = self.market.now_ns();
        self.ledger.run_triggers(&self.market, now, inst);
        self.price_subs.retain(|s| s.send((inst, applied)).is_ok());
        self.publish_since(prev);
    }

    /// Applies the next recorded tick; false when there is none.
    pub fn step(&mut self) -> bool {
        match self.market.next_tick() {
            Some((inst, q)) => {
                self.apply_price(inst, q);
                true
            }
            None => false,
        }
    }

    /// Sends the transactions after `prev` to the transaction-stream subscribers.
    pub fn publish_since(&mut self, prev: u64) {
        let last = self.ledger.last_id();
        if last <= prev || self.txn_subs.is_empty() {
            return;
        }
        let new = self.ledger.txns_between(prev + 1, last);
        self.txn_subs.retain(|s| new.iter().all(|t| s.send(t.clone()).is_ok()));
    }

    /// A receiver of every price applied from now on.
    pub fn subscribe_prices(&mut self) -> Receiver<PriceEvent> {
        let (tx, rx) = unbounded();
        self.price_subs.push(tx);
        rx
    }

    /// A receiver of every transaction recorded from now on.
    pub fn subscribe_transactions(&mut self) -> Receiver<Value> {
        let (tx, rx) = unbounded();
        self.txn_subs.push(tx);
        rx
    }

    /// Runs `f` on the market and account at market time, then publishes the transactions it recorded.
    pub fn mutate<T>(&mut self, f: impl FnOnce(&Market, &mut Ledger, i64) -> T) -> T {
        let prev = self.ledger.last_id();
        let now = self.market.now_ns();
        let out = f(&self.market, &mut self.ledger, now);
        self.publish_since(prev);
        out
    }
}

/// Counts of what the fake received, for test assertions.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// `POST .../orders` requests per `clientExtensions.id` (duplicates and swallowed ones included).
    pub orders_by_client_id: HashMap<String, u32>,
    /// Requests per (method, path).
    pub requests: HashMap<(String, String), u32>,
}

/// Everything the server, stream and pacer threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub cfg: FakeConfig,
    pub state: Mutex<State>,
    pub faults: Faults,
    pub stats: Mutex<Stats>,
    pub shutdown: AtomicBool,
    pub addr: SocketAddr,
}

impl Shared {
    /// Builds the shared state of a validated config; the ticks move into the market.
    pub fn new(mut cfg: FakeConfig, addr: SocketAddr) -> Shared {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
        let market = Market::new(&cfg, wall);
        cfg.ticks = Vec::new();
        let ledger = Ledger::new(&cfg, market.now_ns());
        let faults = Faults::new(cfg.token.clone());
        Shared {
            cfg,
            state: Mutex::new(State { market, ledger, price_subs: Vec::new(), txn_subs: Vec::new() }),
            faults,
            stats: Mutex::new(Stats::default()),
            shutdown: AtomicBool::new(false),
            addr,
        }
    }

    /// Locks market and account.
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Whether the fake is shutting down.
    pub fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Sleeps `d` in short slices; false if shutdown began meanwhile.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        loop {
            if self.stopping() {
                return false;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            thread::sleep(left.min(POLL));
        }
    }
}

/// Replays the recorded ticks at `cfg.speed` times their recorded spacing until shutdown.
pub(crate) fn run_pacer(shared: Arc<Shared>) {
    let speed = shared.cfg.speed;
    let Some(base_ts) = shared.state().market.peek_ts() else { return };
    let start = Instant::now();
    while !shared.stopping() {
        let wait = {
            let mut st = shared.state();
            match st.market.peek_ts() {
                None => Some(POLL * 5),
                Some(ts) => {
                    let due = start + Duration::from_nanos(((ts - base_ts).max(0) as f64 / speed) as u64);
                    let left = due.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        st.step();
                        None
                    } else {
                        Some(left)
                    }
                }
            }
        };
        if let Some(w) = wait {
            if !shared.sleep(w.min(POLL)) {
                return;
            }
        }
    }
}
