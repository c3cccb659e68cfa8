//! A fake OANDA v20 server for pinion's tests and benchmarks: std-only HTTP/1.1 on `127.0.0.1`,
//! speaking the documented v20 REST and streaming shapes (developer.oanda.com/rest-live-v20/), with
//! an exact account (FIFO netting, hedging off), prices replayed from recorded ticks, take-profit /
//! stop-loss orders triggered by those prices, fault injection and inspection from Rust.
//!
//! ```no_run
//! use pinion_io::oanda_fake::{FakeConfig, FakeInstrument, FakeOanda, FakeTick};
//! let ticks = vec![FakeTick::parse("EUR_USD", 1_580_398_071_438_000_000, "1.10234", "1.10236", 5).unwrap()];
//! let mut cfg = FakeConfig::new("101-004-1234567-001", vec![FakeInstrument::fx("EUR_USD")], ticks);
//! cfg.warmup_ticks = 1;
//! let fake = FakeOanda::start(cfg).unwrap();
//! let url = fake.base_url(); // http://127.0.0.1:PORT, REST and streams alike
//! fake.faults().fail_next_503("POST /orders", 1);
//! assert_eq!(fake.account().open_trade_count, 0);
//! fake.stop();
//! ```
//!
//! Endpoints (all under `/v3`; `Authorization: Bearer <token>` required when a token is set):
//! `accounts`, `accounts/{id}`, and under `accounts/{id}`: `/summary`, `/instruments`,
//! `/instruments/{i}/candles`, `/pricing`, `/pricing/stream`, `/openTrades`, `/trades`,
//! `/trades/{spec}`, `PUT /trades/{spec}/close`, `PUT /trades/{spec}/orders`, `/openPositions`,
//! `/positions`, `/positions/{i}`, `/pendingOrders`, `GET|POST /orders`, `/orders/{spec}`,
//! `PUT /orders/{spec}/cancel`, `/transactions/sinceid`, `/transactions/idrange`,
//! `/transactions/{id}`, `/transactions/stream`, `/changes`; plus `instruments/{i}/candles`.
//! Order and trade specifiers may be `@clientID`.
//!
//! Shapes follow developer.oanda.com/rest-live-v20/: account-ep / account-df, instrument-ep,
//! order-ep / order-df, trade-ep / trade-df, position-df, transaction-ep / transaction-df,
//! pricing-ep / pricing-df, primitives-df and troubleshooting-errors (cross-checked against
//! OANDA's own OpenAPI files, github.com/oanda/v20-openapi). What the fake simplifies:
//! * Only MARKET orders (positionFill DEFAULT / REDUCE_FIRST), take-profit and stop-loss orders
//!   (trigger condition DEFAULT); no limit, stop, trailing or guaranteed orders, no hedging.
//! * Times are the market clock (the latest replayed tick), always RFC 3339 with nanoseconds
//!   (`Accept-Datetime-Format: UNIX` is ignored); there is no financing, commission or
//!   guaranteed-execution fee (all `0.0000`), closeout prices equal the top of book and a
//!   price has a single bucket.
//! * Money is kept in integer cents of the home currency and written with 4 decimals.
//!   Quote-to-home conversion uses the current mid of the instrument (home is its base) or of a
//!   `QUOTE_HOME` / `HOME_QUOTE` pair; margin is |units| × mid × marginRate.

mod candles;
mod changes;
pub mod config;
mod dependents;
pub mod faults;
mod fill;
mod http;
mod ledger;
mod market;
mod money;
mod orders;
mod routes;
mod server;
mod shapes;
mod shared;
mod stream;
pub mod truth;

#[cfg(test)]
mod test_client;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_faults;
#[cfg(test)]
mod tests_orders;

pub use config::{fake_ticks, DuplicateScope, FakeConfig, FakeInstrument, FakeTick};
pub use faults::{FailWith, Faults};
pub use ledger::ClientExtensions;
pub use truth::{AccountTruth, OrderTruth, PositionTruth, TradeTruth};

use faults::lock;
use ledger::MarketSpec;
use market::Quote;
use pinion_core::fixed::parse_decimal;
use serde_json::Value;
use shared::Shared;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// A running fake OANDA server. Stops (and joins its threads) on [`stop`](Self::stop) or drop.
#[derive(Debug)]
pub struct FakeOanda {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    pacer: Option<JoinHandle<()>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl FakeOanda {
    /// Validates `cfg`, binds `127.0.0.1:0` and starts serving (and replaying, if `speed` > 0).
    pub fn start(cfg: FakeConfig) -> io::Result<FakeOanda> {
        cfg.validate()?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(cfg, addr));
        let workers = Arc::new(Mutex::new(Vec::new()));
        let (sh, w) = (Arc::clone(&shared), Arc::clone(&workers));
        let accept = thread::Builder::new().name("fake-oanda-accept".into()).spawn(move || server::accept_loop(sh, listener, w))?;
        let pacer = if shared.cfg.speed > 0.0 {
            let sh = Arc::clone(&shared);
            Some(thread::Builder::new().name("fake-oanda-pacer".into()).spawn(move || shared::run_pacer(sh))?)
        } else {
            None
        };
        Ok(FakeOanda { shared, accept: Some(accept), pacer, workers })
    }

    /// `http://127.0.0.1:PORT`: the REST and stream base URL (they share the port).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The account id.
    pub fn account_id(&self) -> &str {
        &self.shared.cfg.account_id
    }

    /// Fault injection controls.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// A snapshot of the account's exact state at current prices.
    pub fn account(&self) -> AccountTruth {
        let st = self.shared.state();
        truth::snapshot(&st.ledger, &st.market)
    }

    /// Every transaction so far, as served.
    pub fn transactions(&self) -> Vec<Value> {
        self.shared.state().ledger.txns.clone()
    }

    /// How many `POST .../orders` requests carried `clientExtensions.id == client_id` (rejected,
    /// failed-by-fault and swallowed ones included).
    pub fn orders_received(&self, client_id: &str) -> u32 {
        lock(&self.shared.stats).orders_by_client_id.get(client_id).copied().unwrap_or(0)
    }

    /// Order requests per client order id.
    pub fn order_counts(&self) -> HashMap<String, u32> {
        lock(&self.shared.stats).orders_by_client_id.clone()
    }

    /// How many requests matched `route` (same syntax as [`Faults`]: `"POST /orders"`, `"/summary"`, `"*"`).
    pub fn requests_received(&self, route: &str) -> u32 {
        let route = route.trim();
        let (method, suffix) = match route.split_once(' ') {
            Some((m, s)) => (Some(m.to_ascii_uppercase()), s.trim()),
            None => (None, route),
        };
        let suffix = if suffix == "*" { "" } else { suffix };
        let stats = lock(&self.shared.stats);
        stats.requests.iter().filter(|((m, p), _)| method.as_ref().is_none_or(|x| x == m) && p.ends_with(suffix)).map(|(_, n)| *n).sum()
    }

    /// The market clock (time of the latest price), UTC epoch ns.
    pub fn market_time_ns(&self) -> i64 {
        self.shared.state().market.now_ns()
    }

    /// Recorded ticks not replayed yet.
    pub fn remaining_ticks(&self) -> usize {
        self.shared.state().market.remaining()
    }

    /// Replays the next `n` recorded ticks now, whether or not a client is connected (stops and
    /// take-profits trigger); returns how many there were.
    pub fn advance(&self, n: usize) -> usize {
        let mut st = self.shared.state();
        (0..n).take_while(|_| st.step()).count()
    }

    /// Sets a price now (at the market clock), e.g. to trigger a stop while no client is
    /// connected; it is streamed like any other. `bid` / `ask` are in steps of the instrument.
    pub fn push_price(&self, instrument: &str, bid: i64, ask: i64) -> io::Result<()> {
        let mut st = self.shared.state();
        let inst = st.market.find(instrument).ok_or_else(|| invalid(format!("unknown instrument {instrument:?}")))?;
        if bid <= 0 || ask < bid {
            return Err(invalid(format!("bid {bid} / ask {ask} is not a positive, uncrossed quote")));
        }
        let ts_ns = st.market.now_ns();
        st.apply_price(inst, Quote { ts_ns, bid, ask });
        Ok(())
    }

    /// [`push_price`](Self::push_price) from decimal strings (`"1.09000"`).
    pub fn push_price_text(&self, instrument: &str, bid: &str, ask: &str) -> io::Result<()> {
        let prec = self.instrument(instrument)?.display_precision;
        let p = |s: &str| parse_decimal(s.as_bytes(), prec).map_err(|e| invalid(e.to_string()));
        self.push_price(instrument, p(bid)?, p(ask)?)
    }

    /// Opens a trade "outside pinion" (as from OANDA's own platform: no client extensions) with a
    /// market order at the current price, optional stop-loss / take-profit prices in steps.
    /// Returns the new trade's id, or the reject / cancel reason as an error.
    pub fn open_trade_outside(&self, instrument: &str, units: i64, stop_loss: Option<i64>, take_profit: Option<i64>) -> io::Result<u64> {
        let inst = self
            .shared
            .cfg
            .instruments
            .iter()
            .position(|i| i.name == instrument)
            .ok_or_else(|| invalid(format!("unknown instrument {instrument:?}")))?;
        let level = |p: Option<i64>| p.map(|price| ledger::OnFill { price: Some(price), distance: None, client_ext: None });
        let spec = MarketSpec {
            inst,
            units,
            time_in_force: "FOK".into(),
            position_fill: "DEFAULT".into(),
            price_bound: None,
            client_ext: None,
            trade_ext: None,
            take_profit: level(take_profit),
            stop_loss: level(stop_loss),
            trade_close: None,
        };
        let outcome = self.shared.state().mutate(|m, l, now| {
            let o = l.submit_market(m, now, spec, "CLIENT_ORDER");
            let opened = match &o {
                fill::Outcome::Filled { fill, .. } => {
                    l.txn(*fill).and_then(|t| t["tradeOpened"]["tradeID"].as_str()).and_then(|s| s.parse().ok())
                }
                _ => None,
            };
            (o, opened)
        });
        match outcome {
            (_, Some(id)) => Ok(id),
            (fill::Outcome::Rejected { code, .. }, None) => Err(io::Error::other(format!("order rejected: {code}"))),
            (fill::Outcome::Cancelled { cancel, .. }, None) => Err(io::Error::other(format!("order cancelled (transaction {cancel})"))),
            (fill::Outcome::Filled { .. }, None) => Err(io::Error::other("the order only reduced existing trades")),
        }
    }

    /// Closes an open trade "outside pinion" at the current price; returns the ORDER_FILL id.
    pub fn close_trade_outside(&self, trade_id: u64) -> io::Result<u64> {
        let outcome = self.shared.state().mutate(|m, l, now| l.close_trade(m, now, trade_id, None, "ALL"));
        match outcome {
            fill::Outcome::Filled { fill, .. } => Ok(fill),
            fill::Outcome::Rejected { code, .. } => Err(io::Error::other(format!("close rejected: {code}"))),
            fill::Outcome::Cancelled { cancel, .. } => Err(io::Error::other(format!("close cancelled (transaction {cancel})"))),
        }
    }

    fn instrument(&self, name: &str) -> io::Result<&FakeInstrument> {
        self.shared.cfg.instruments.iter().find(|i| i.name == name).ok_or_else(|| invalid(format!("unknown instrument {name:?}")))
    }

    /// Stops serving: cuts every connection and joins every thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.shared.shutdown.swap(true, Ordering::AcqRel) {
            return;
        }
        lock(&self.shared.faults.conns).cut(None);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.shared.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        if let Some(h) = self.pacer.take() {
            let _ = h.join();
        }
        let workers: Vec<JoinHandle<()>> = lock(&self.workers).drain(..).collect();
        for h in workers {
            let _ = h.join();
        }
    }
}

impl Drop for FakeOanda {
    fn drop(&mut self) {
        self.shutdown();
    }
}
