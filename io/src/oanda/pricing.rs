//! The OANDA pricing stream thread: holds `GET /v3/accounts/{id}/pricing/stream` open, turns each
//! `PRICE` line into a quote [`Tick`] in the engine's tick ring, and watches for silence. OANDA sends a
//! heartbeat every 5 s (developer.oanda.com/rest-live-v20/pricing-ep); after `silence` (10 s) without
//! any line, a dropped connection or a bad status, the connection is dropped and re-opened with
//! exponential backoff and jitter. While it is not delivering, the feed is *stale*: the callback hears
//! of every change so the server can refuse new entries (stops and targets stay at the broker) and say
//! so in `/health` and a `status` frame.
//!
//! Parsing allocates (simd-json over the line) but runs here, never on the core thread. Without a
//! recorder a full ring drops the tick and counts it; with one (the journal: recovery re-executes what
//! it recorded) the tick is recorded first and the push waits for room.

use super::http_stream::{self, Next};
use super::wire::StreamLine;
use super::{OandaConfig, OandaError};
use pinion_core::fixed::{parse_decimal, Price, Quantity};
use pinion_core::instrument::InstrumentId;
use pinion_core::tick::Tick;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One instrument the stream carries: OANDA's name, the engine's id and precisions.
#[derive(Debug, Clone)]
pub struct StreamInstrument {
    /// `EUR_USD`.
    pub name: String,
    /// The engine's id.
    pub id: InstrumentId,
    /// Decimal places of a price.
    pub price_precision: u8,
    /// Decimal places of a size.
    pub size_precision: u8,
}

/// Timing of the stream.
#[derive(Debug, Clone)]
pub struct PricingOptions {
    /// No line for this long: the connection is dropped (OANDA: 10 s).
    pub silence: Duration,
    /// How often a blocked read wakes to check silence and the stop flag.
    pub poll: Duration,
    /// First reconnect delay; doubles each failed attempt up to `backoff_max` (with jitter).
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Connect and response-head timeout.
    pub connect_timeout: Duration,
    /// Where the feed's figures go (ticks and last tick per instrument, receive -> ring latency,
    /// drops, connected); None records nothing.
    pub telemetry: Option<Arc<pinion_core::telemetry::Telemetry>>,
}

impl Default for PricingOptions {
    fn default() -> Self {
        PricingOptions {
            silence: Duration::from_secs(10),
            poll: Duration::from_millis(250),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            telemetry: None,
        }
    }
}

/// The stream's state, shared with readers (`/health`, metrics, the status frame).
#[derive(Debug, Default)]
pub struct FeedState {
    connected: AtomicBool,
    stale: AtomicBool,
    ticks: AtomicU64,
    dropped: AtomicU64,
    heartbeats: AtomicU64,
    reconnects: AtomicU64,
    bad_lines: AtomicU64,
    /// Wall-clock ns of the last line of any kind.
    last_line_ns: AtomicI64,
    reason: Mutex<Option<String>>,
}

impl FeedState {
    /// Whether the feed is not delivering (not yet connected, disconnected, or silent).
    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Acquire)
    }
    /// Whether a connection is open now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }
    /// Why the feed is stale (None while it delivers).
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    /// Ticks pushed into the ring.
    pub fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }
    /// Ticks dropped because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    /// Heartbeats received.
    pub fn heartbeats(&self) -> u64 {
        self.heartbeats.load(Ordering::Relaxed)
    }
    /// Connections re-opened after the first.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
    /// Lines that did not parse (skipped).
    pub fn bad_lines(&self) -> u64 {
        self.bad_lines.load(Ordering::Relaxed)
    }
    /// Seconds since the last line (None before the first).
    pub fn last_line_age_secs(&self) -> Option<f64> {
        let t = self.last_line_ns.load(Ordering::Relaxed);
        (t > 0).then(|| (wall_ns() - t).max(0) as f64 / 1e9)
    }
}

fn wall_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// A change of the feed's state, for the server's callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedChange {
    /// Prices flow (again).
    Live,
    /// Not delivering, and why.
    Stale(String),
}

/// Records each tick before the engine sees it (the journal).
pub type TickRecorder = Box<dyn FnMut(&Tick) + Send>;

/// The running stream thread.
pub struct PricingStream {
    stop: Arc<AtomicBool>,
    state: Arc<FeedState>,
    handle: Option<JoinHandle<()>>,
}

impl PricingStream {
    /// The shared state.
    pub fn state(&self) -> Arc<FeedState> {
        self.state.clone()
    }

    /// Stops the thread (within one poll interval) and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for PricingStream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Parses one stream line into a tick (None for a heartbeat); Err names what is wrong.
pub fn parse_line(line: &mut [u8], instruments: &[StreamInstrument]) -> Result<Option<Tick>, String> {
    let l: StreamLine = simd_json::serde::from_slice(line).map_err(|e| format!("not a v20 stream line: {e}"))?;
    match l.kind.as_str() {
        "HEARTBEAT" => Ok(None),
        "PRICE" => {
            let name = l.instrument.as_deref().ok_or("PRICE without an instrument")?;
            let inst = instruments.iter().find(|i| i.name == name).ok_or_else(|| format!("PRICE for {name}, which was not asked for"))?;
            let ts = pinion_core::time::parse_iso(&l.time).ok_or_else(|| format!("bad time {:?}", l.time))?;
            let (bid, ask) = match (l.bids.first(), l.asks.first()) {
                (Some(b), Some(a)) => (b, a),
                _ => return Err(format!("PRICE for {name} without a bid and an ask")),
            };
            let px = |s: &str| parse_decimal(s.as_bytes(), inst.price_precision).map_err(|e| format!("price {s:?}: {e:?}"));
            let size = |n: &Option<serde_json::Number>| {
                let units = n.as_ref().and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))).unwrap_or(0);
                units.saturating_mul(10i64.saturating_pow(u32::from(inst.size_precision)))
            };
            let (b, a) = (px(&bid.price)?, px(&ask.price)?);
            if b <= 0 || a <= 0 || a < b {
                return Err(format!("PRICE for {name} with bid {} and ask {}", bid.price, ask.price));
            }
            Ok(Some(Tick::quote(ts, inst.id, Price(b), Price(a), Quantity(size(&bid.liquidity)), Quantity(size(&ask.liquidity)))))
        }
        other => Err(format!("unknown line type {other:?}")),
    }
}

/// Starts the stream thread: prices of `instruments` into `ring`; `on_change` hears each change of state
/// (the first is `Stale` until the first line arrives).
pub fn start(
    cfg: OandaConfig,
    instruments: Vec<StreamInstrument>,
    opts: PricingOptions,
    mut ring: rtrb::Producer<Tick>,
    on_change: Box<dyn Fn(&FeedChange) + Send>,
    mut record: Option<TickRecorder>,
) -> std::io::Result<PricingStream> {
    let stop = Arc::new(AtomicBool::new(false));
    let state = Arc::new(FeedState { stale: AtomicBool::new(true), ..FeedState::default() });
    *state.reason.lock().unwrap_or_else(|p| p.into_inner()) = Some("connecting to the pricing stream".into());
    let (stop2, state2) = (stop.clone(), state.clone());
    let handle = std::thread::Builder::new().name("pinion-oanda-prices".into()).spawn(move || {
        let tel = opts.telemetry.as_deref();
        let names: Vec<&str> = instruments.iter().map(|i| i.name.as_str()).collect();
        let path = format!("/v3/accounts/{}/pricing/stream?instruments={}", cfg.account_id, names.join("%2C"));
        let set = |change: FeedChange| {
            let (stale, reason) = match &change {
                FeedChange::Live => (false, None),
                FeedChange::Stale(r) => (true, Some(r.clone())),
            };
            let was = state2.stale.swap(stale, Ordering::AcqRel);
            *state2.reason.lock().unwrap_or_else(|p| p.into_inner()) = reason;
            if was != stale {
                match &change {
                    FeedChange::Live => log::info!(target: "pinion::feed", "OANDA prices flow"),
                    FeedChange::Stale(r) => {
                        log::warn!(target: "pinion::feed", "OANDA prices stale: {r}; no new entries until they flow again")
                    }
                }
                on_change(&change);
            }
        };
        on_change(&FeedChange::Stale("connecting to the pricing stream".into()));
        let mut attempt: u32 = 0;
        let mut seed = wall_ns() as u64 | 1;
        let mut opened_once = false;
        while !stop2.load(Ordering::Acquire) {
            if attempt > 0 {
                // Exponential backoff with full jitter in [delay/2, delay].
                let exp = opts.backoff_min.saturating_mul(1u32 << attempt.min(16)).min(opts.backoff_max);
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let wait = exp.mul_f64(0.5 + (seed % 1000) as f64 / 2000.0);
                let until = Instant::now() + wait;
                while Instant::now() < until && !stop2.load(Ordering::Acquire) {
                    std::thread::sleep(opts.poll.min(until.saturating_duration_since(Instant::now())));
                }
                if stop2.load(Ordering::Acquire) {
                    break;
                }
            }
            let mut stream = match http_stream::get(&cfg.stream_url, &path, &cfg.token.bearer(), opts.poll, opts.connect_timeout) {
                Ok(s) => s,
                Err(e) => {
                    let e: OandaError = e.into_oanda("pricing stream", &cfg.account_id);
                    set(FeedChange::Stale(cfg.token.redact(&e.to_string())));
                    attempt = attempt.saturating_add(1);
                    continue;
                }
            };
            if opened_once {
                state2.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            opened_once = true;
            state2.connected.store(true, Ordering::Release);
            if let Some(tel) = tel {
                tel.set_feed_connected(true);
            }
            let mut last_line = Instant::now();
            let why = loop {
                if stop2.load(Ordering::Acquire) {
                    break None;
                }
                match stream.next_line() {
                    Next::Line(mut line) => {
                        last_line = Instant::now();
                        let received = tel.map_or(0, |t| t.clock().now_ns());
                        state2.last_line_ns.store(wall_ns(), Ordering::Relaxed);
                        match parse_line(&mut line, &instruments) {
                            Ok(Some(mut t)) => {
                                if let Some(rec) = record.as_mut() {
                                    // Journaled before the engine sees it (recovery re-executes it), so it
                                    // must reach the engine: wait for room instead of dropping it. The
                                    // telemetry stamp goes on after: it is not part of the record.
                                    rec(&t);
                                    if let Some(tel) = tel {
                                        tel.feed_received_at(&mut t, received);
                                    }
                                    let mut pending = t;
                                    while let Err(rtrb::PushError::Full(back)) = ring.push(pending) {
                                        if stop2.load(Ordering::Acquire) {
                                            return;
                                        }
                                        pending = back;
                                        std::thread::sleep(Duration::from_millis(1));
                                    }
                                    state2.ticks.fetch_add(1, Ordering::Relaxed);
                                    if let Some(tel) = tel {
                                        tel.feed_pushed(received, 1);
                                    }
                                } else {
                                    if let Some(tel) = tel {
                                        tel.feed_received_at(&mut t, received);
                                    }
                                    if ring.push(t).is_ok() {
                                        state2.ticks.fetch_add(1, Ordering::Relaxed);
                                        if let Some(tel) = tel {
                                            tel.feed_pushed(received, 1);
                                        }
                                    } else {
                                        state2.dropped.fetch_add(1, Ordering::Relaxed);
                                        if let Some(tel) = tel {
                                            tel.count_feed_drops(1);
                                        }
                                    }
                                }
                                attempt = 0;
                                set(FeedChange::Live);
                            }
                            Ok(None) => {
                                state2.heartbeats.fetch_add(1, Ordering::Relaxed);
                                attempt = 0;
                            }
                            Err(e) => {
                                if state2.bad_lines.fetch_add(1, Ordering::Relaxed) < 10 {
                                    log::warn!(target: "pinion::feed", "OANDA pricing stream: skipped a line: {e}");
                                }
                            }
                        }
                    }
                    Next::Idle if last_line.elapsed() >= opts.silence => {
                        break Some(format!("no price or heartbeat for {:.0} s", last_line.elapsed().as_secs_f64()));
                    }
                    Next::Idle => {}
                    Next::Closed => break Some("the pricing stream connection closed".into()),
                }
            };
            state2.connected.store(false, Ordering::Release);
            if let Some(tel) = tel {
                tel.set_feed_connected(false);
            }
            if let Some(reason) = why {
                set(FeedChange::Stale(format!("{reason}; reconnecting")));
                attempt = attempt.saturating_add(1);
            }
        }
    })?;
    Ok(PricingStream { stop, state, handle: Some(handle) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Vec<StreamInstrument> {
        vec![StreamInstrument { name: "EUR_USD".into(), id: InstrumentId(3), price_precision: 5, size_precision: 0 }]
    }

    #[test]
    fn price_lines_become_quote_ticks_and_bad_lines_say_why() {
        let mut line = br#"{"type":"PRICE","time":"2020-01-30T15:27:51.438000000Z","bids":[{"price":"1.10234","liquidity":1000000}],"asks":[{"price":"1.10247","liquidity":500000}],"closeoutBid":"1.1","closeoutAsk":"1.1","status":"tradeable","tradeable":true,"instrument":"EUR_USD"}"#.to_vec();
        let t = parse_line(&mut line, &eur()).expect("parsed").expect("a tick");
        assert_eq!((t.instrument, t.bid, t.ask, t.bid_size, t.ask_size), (3, 110_234, 110_247, 1_000_000, 500_000));
        assert_eq!(pinion_core::time::format_iso(t.ts_ns), "2020-01-30T15:27:51.438000000Z");
        let mut hb = br#"{"type":"HEARTBEAT","time":"2020-01-30T15:27:51.438000000Z"}"#.to_vec();
        assert_eq!(parse_line(&mut hb, &eur()), Ok(None));
        let mut other =
            br#"{"type":"PRICE","time":"2020-01-30T15:27:51Z","bids":[{"price":"1"}],"asks":[{"price":"1"}],"instrument":"GBP_USD"}"#
                .to_vec();
        assert!(parse_line(&mut other, &eur()).unwrap_err().contains("GBP_USD"));
        let mut crossed =
            br#"{"type":"PRICE","time":"2020-01-30T15:27:51Z","bids":[{"price":"1.2"}],"asks":[{"price":"1.1"}],"instrument":"EUR_USD"}"#
                .to_vec();
        assert!(parse_line(&mut crossed, &eur()).is_err());
        let mut junk = b"{not json".to_vec();
        assert!(parse_line(&mut junk, &eur()).is_err());
    }
}
