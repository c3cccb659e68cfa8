//! OANDA v20 wired into the server: the start-up check (the account summary with the token: a wrong
//! token or account stops start-up with OANDA's message), the account's instruments (the streamed ones
//! become the engine's instrument table, with OANDA's precisions and margin rates; all of them are
//! `/symbols/oanda`), a poller that keeps the account summary `/account/summary` shows, and the
//! [`LiveAccount`] view the HTTP side reads. The pricing stream itself is started by the server in
//! place of the replay feed (`pinion_io::oanda::pricing`).
//!
//! The token is read from `PINION_OANDA_TOKEN` or the file `broker.token_file` names, never from a flag
//! or the TOML file, and only ever leaves in an `Authorization` header.

use crate::config::BrokerConfig;
use anyhow::{bail, Context};
use pinion_core::bars::{Bar, BarSize};
use pinion_core::fixed::{parse_decimal, Rate};
use pinion_core::instrument::{Instrument, InstrumentKind, InstrumentTable};
use pinion_core::time::parse_iso;
use pinion_http::live_account::{FeedStatus, LiveAccount};
use pinion_http::views::account::{AccountPositionView, AccountSummaryView, AccountTradeView, InstrumentView};
use pinion_io::oanda::pricing::{FeedState, StreamInstrument};
use pinion_io::oanda::rest::RestClient;
use pinion_io::oanda::wire::{AccountSummary, Candle, InstrumentInfo, Position, Trade};
use pinion_io::oanda::{Environment, OandaConfig, Token};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the account summary is refreshed.
const SUMMARY_EVERY: Duration = Duration::from_secs(2);

/// The latest account summary with when it was fetched (wall ns), and the last poll error.
#[derive(Default)]
struct Polled {
    summary: Option<(AccountSummary, i64)>,
    trades: Option<Vec<Trade>>,
    positions: Option<Vec<Position>>,
    error: Option<String>,
}

/// The connected OANDA account.
pub struct Live {
    pub cfg: OandaConfig,
    rest: Arc<RestClient>,
    /// Every tradeable instrument of the account.
    pub instruments: Vec<InstrumentInfo>,
    /// The streamed instruments as engine instruments, in stream order (ids 0..n).
    pub streamed: Vec<Instrument>,
    summary: Arc<RwLock<Polled>>,
    feed: OnceLock<Arc<FeedState>>,
    poller_stop: Arc<AtomicBool>,
    poller: Mutex<Option<JoinHandle<()>>>,
}

fn read_token(b: &BrokerConfig) -> anyhow::Result<Token> {
    let raw = match (std::env::var("PINION_OANDA_TOKEN").ok().filter(|t| !t.trim().is_empty()), &b.token_file) {
        (Some(t), _) => t,
        (None, Some(path)) => std::fs::read_to_string(path).with_context(|| format!("reading the OANDA token file {}", path.display()))?,
        (None, None) => bail!("broker kind \"oanda\" needs the token: set PINION_OANDA_TOKEN or broker.token_file"),
    };
    Ok(Token::new(&raw)?)
}

/// An engine instrument from OANDA's description (its precisions and margin rate).
fn instrument_of(i: &InstrumentInfo) -> anyhow::Result<Instrument> {
    let (base, quote) = i.name.split_once('_').with_context(|| format!("OANDA instrument {:?} is not BASE_QUOTE", i.name))?;
    let price_precision = u8::try_from(i.displayPrecision).context("displayPrecision")?;
    let size_precision = u8::try_from(i.tradeUnitsPrecision).context("tradeUnitsPrecision")?;
    let min = parse_decimal(i.minimumTradeSize.as_bytes(), size_precision)
        .map_err(|e| anyhow::anyhow!("{}: minimumTradeSize {:?}: {e:?}", i.name, i.minimumTradeSize))?;
    Ok(Instrument {
        symbol: i.name.clone(),
        base: base.to_string(),
        quote: quote.to_string(),
        kind: InstrumentKind::Currency,
        price_precision,
        size_precision,
        pip_location: i8::try_from(i.pipLocation).context("pipLocation")?,
        margin_rate: Rate::parse(&i.marginRate).map_err(|e| anyhow::anyhow!("{}: marginRate {:?}: {e:?}", i.name, i.marginRate))?,
        min_trade_size: min.max(1),
    })
}

fn dec(s: &str) -> f64 {
    s.parse::<f64>().unwrap_or(0.0)
}

impl Live {
    /// Checks the account with the token and reads its instruments; `streamed` (default: the training
    /// symbols) must all be tradeable on it.
    pub fn connect(b: &BrokerConfig, default_instruments: &[String]) -> anyhow::Result<Live> {
        let environment = Environment::parse(&b.environment)?;
        let account = b.account_id.as_deref().unwrap_or_default();
        let cfg = OandaConfig::new(account, read_token(b)?, environment, b.rest_url.as_deref(), b.stream_url.as_deref())?;
        let rest = Arc::new(RestClient::new(cfg.clone(), Duration::from_secs(10)));
        let summary = rest.account_summary().map_err(|e| anyhow::anyhow!("OANDA start-up check: {e}"))?;
        let instruments = rest.instruments().map_err(|e| anyhow::anyhow!("OANDA start-up check: {e}"))?;
        let trades = rest.open_trades().map_err(|e| anyhow::anyhow!("OANDA start-up check: {e}"))?;
        let positions = rest.open_positions().map_err(|e| anyhow::anyhow!("OANDA start-up check: {e}"))?;
        let names = if b.instruments.is_empty() { default_instruments.to_vec() } else { b.instruments.clone() };
        let mut streamed = Vec::new();
        for n in &names {
            let info = instruments
                .iter()
                .find(|i| &i.name == n)
                .with_context(|| format!("instrument {n} is not tradeable on OANDA account {} (set broker.instruments)", cfg.account_id))?;
            streamed.push(instrument_of(info)?);
        }
        if streamed.is_empty() {
            bail!("no instruments to stream (set broker.instruments or training_symbols)");
        }
        log::info!(
            "OANDA {} account {}: balance {} {}, NAV {}, {} open trades, {} instruments; streaming {}",
            environment.as_str(),
            summary.id,
            summary.balance,
            summary.currency,
            summary.NAV,
            summary.openTradeCount,
            instruments.len(),
            names.join(",")
        );
        // Trades pinion did not open are reported and left alone (never closed silently).
        for t in &trades {
            let ours = t.clientExtensions.as_ref().and_then(|c| c.id.as_deref()).is_some_and(|id| id.starts_with("pinion-"));
            if !ours {
                crate::live_reconcile::report_outside(t);
            }
        }
        if environment == Environment::Live {
            log::warn!("LIVE OANDA account {}: real money", summary.id);
        }
        let now = crate::live::wall_ns();
        Ok(Live {
            cfg,
            rest,
            instruments,
            streamed,
            summary: Arc::new(RwLock::new(Polled {
                summary: Some((summary, now)),
                trades: Some(trades),
                positions: Some(positions),
                error: None,
            })),
            feed: OnceLock::new(),
            poller_stop: Arc::new(AtomicBool::new(false)),
            poller: Mutex::new(None),
        })
    }

    /// The streamed instruments with their engine ids in `table`.
    pub fn stream_instruments(&self, table: &InstrumentTable) -> anyhow::Result<Vec<StreamInstrument>> {
        self.streamed
            .iter()
            .map(|i| {
                let id = table.find(&i.symbol).with_context(|| format!("{} is not in the instrument table", i.symbol))?;
                Ok(StreamInstrument { name: i.symbol.clone(), id, price_precision: i.price_precision, size_precision: i.size_precision })
            })
            .collect()
    }

    /// The account's open trades as read at start (or last polled).
    pub fn open_trades_at_start(&self) -> Vec<Trade> {
        self.summary.read().unwrap_or_else(|p| p.into_inner()).trades.clone().unwrap_or_default()
    }

    /// The account's last transaction id as read at start (or last polled).
    pub fn last_transaction_at_start(&self) -> u64 {
        let s = self.summary.read().unwrap_or_else(|p| p.into_inner());
        s.summary.as_ref().and_then(|(a, _)| a.lastTransactionID.parse().ok()).unwrap_or(0)
    }

    /// Hands over the feed's state once the stream runs.
    pub fn set_feed(&self, state: Arc<FeedState>) {
        let _ = self.feed.set(state);
    }

    /// Starts the summary poller.
    pub fn start_poller(&self) -> std::io::Result<()> {
        let (rest, summary, stop) = (self.rest.clone(), self.summary.clone(), self.poller_stop.clone());
        let h = std::thread::Builder::new().name("pinion-oanda-account".into()).spawn(move || {
            let mut next = Instant::now() + SUMMARY_EVERY;
            while !stop.load(Ordering::Acquire) {
                if Instant::now() < next {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                next = Instant::now() + SUMMARY_EVERY;
                let got = rest.account_summary().and_then(|a| Ok((a, rest.open_trades()?, rest.open_positions()?)));
                let mut s = summary.write().unwrap_or_else(|p| p.into_inner());
                match got {
                    Ok((a, t, p)) => *s = Polled { summary: Some((a, wall_ns())), trades: Some(t), positions: Some(p), error: None },
                    Err(e) => {
                        if s.error.is_none() {
                            log::warn!(target: "pinion::broker", "OANDA account summary: {e}; showing the last one");
                        }
                        s.error = Some(e.to_string());
                    }
                }
            }
        })?;
        *self.poller.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
        Ok(())
    }

    /// Stops the poller.
    pub fn stop(&self) {
        self.poller_stop.store(true, Ordering::Release);
        if let Some(h) = self.poller.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
    }
}

/// OANDA's candle granularity for a bar size (instrument-df, "CandlestickGranularity"); None where
/// OANDA has none. Daily candles are left out: OANDA aligns them on 17:00 New York, pinion on 00:00 UTC.
pub fn granularity(size: BarSize) -> Option<&'static str> {
    Some(match size.secs() {
        5 => "S5",
        10 => "S10",
        15 => "S15",
        30 => "S30",
        60 => "M1",
        120 => "M2",
        240 => "M4",
        300 => "M5",
        600 => "M10",
        900 => "M15",
        1800 => "M30",
        3600 => "H1",
        7200 => "H2",
        10_800 => "H3",
        14_400 => "H4",
        21_600 => "H6",
        28_800 => "H8",
        43_200 => "H12",
        _ => return None,
    })
}

/// The complete mid candles as engine bars (half price steps at `precision`), oldest first.
pub fn candles_to_bars(candles: &[Candle], size: BarSize, precision: u8) -> Result<Vec<Bar>, String> {
    let x2 = |field: &str, v: &str, t: &str| {
        parse_decimal(v.as_bytes(), precision).map(|p| 2 * p).map_err(|e| format!("candle at {t}: mid.{field} {v:?}: {e:?}"))
    };
    let mut bars = Vec::with_capacity(candles.len());
    for c in candles.iter().filter(|c| c.complete) {
        let start_ns = parse_iso(&c.time).ok_or_else(|| format!("candle time {:?} is not RFC 3339", c.time))?;
        let m = c.mid.as_ref().ok_or_else(|| format!("candle at {} has no mid prices", c.time))?;
        bars.push(Bar {
            start_ns,
            end_ns: start_ns + size.duration_ns(),
            open: x2("o", &m.o, &c.time)?,
            high: x2("h", &m.h, &c.time)?,
            low: x2("l", &m.l, &c.time)?,
            close: x2("c", &m.c, &c.time)?,
            ticks: u32::try_from(c.volume.max(1)).unwrap_or(u32::MAX),
        });
    }
    Ok(bars)
}

pub fn wall_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

impl LiveAccount for Live {
    fn broker(&self) -> &'static str {
        "oanda"
    }

    fn summary(&self) -> Result<AccountSummaryView, String> {
        let s = self.summary.read().unwrap_or_else(|p| p.into_inner());
        let Some((a, at)) = &s.summary else {
            return Err(format!("no OANDA account summary yet: {}", s.error.clone().unwrap_or_default()));
        };
        Ok(AccountSummaryView {
            accountId: a.id.clone(),
            currency: a.currency.clone(),
            environment: self.cfg.environment.as_str().into(),
            balance: dec(&a.balance),
            NAV: dec(&a.NAV),
            equity: dec(&a.NAV),
            unrealizedPL: dec(&a.unrealizedPL),
            pl: dec(&a.pl),
            commission: a.commission.as_deref().map_or(0.0, dec),
            marginUsed: dec(&a.marginUsed),
            marginAvailable: dec(&a.marginAvailable),
            openPositionCount: a.openPositionCount,
            openTradeCount: a.openTradeCount,
            lastTransactionID: a.lastTransactionID.clone(),
            asOf: pinion_core::time::format_iso(*at),
        })
    }

    fn instruments(&self) -> Vec<InstrumentView> {
        self.instruments
            .iter()
            .map(|i| InstrumentView {
                name: i.name.clone(),
                displayName: i.displayName.clone().unwrap_or_else(|| i.name.replace('_', "/")),
                kind: i.kind.clone(),
                pipLocation: i.pipLocation,
                displayPrecision: i.displayPrecision,
                tradeUnitsPrecision: i.tradeUnitsPrecision,
                minimumTradeSize: i.minimumTradeSize.clone(),
                marginRate: i.marginRate.clone(),
                fed: self.streamed.iter().any(|s| s.symbol == i.name),
            })
            .collect()
    }

    fn positions(&self) -> Result<Vec<AccountPositionView>, String> {
        let s = self.summary.read().unwrap_or_else(|p| p.into_inner());
        let list = s.positions.as_ref().ok_or_else(|| format!("no OANDA positions yet: {}", s.error.clone().unwrap_or_default()))?;
        let mut rows = Vec::new();
        for p in list {
            for side in [&p.long, &p.short] {
                let units = dec(&side.units);
                if units == 0.0 {
                    continue;
                }
                rows.push(AccountPositionView {
                    instrument: p.instrument.clone(),
                    units,
                    side: if units > 0.0 { "BUY" } else { "SELL" }.into(),
                    avgPrice: side.averagePrice.as_deref().map_or(0.0, dec),
                    currentPrice: None,
                    unrealizedPL: side.unrealizedPL.as_deref().map_or(0.0, dec),
                    marginUsed: p.marginUsed.as_deref().map_or(0.0, dec),
                    stopLoss: None,
                    takeProfit: None,
                    holder: None,
                });
            }
        }
        Ok(rows)
    }

    fn open_trades(&self) -> Result<Vec<(u64, AccountTradeView)>, String> {
        let s = self.summary.read().unwrap_or_else(|p| p.into_inner());
        let list = s.trades.as_ref().ok_or_else(|| format!("no OANDA trades yet: {}", s.error.clone().unwrap_or_default()))?;
        let mut rows: Vec<(u64, AccountTradeView)> = list
            .iter()
            .map(|t| {
                let id = t.id.parse::<u64>().unwrap_or(0);
                (
                    id,
                    AccountTradeView {
                        id: t.id.clone(),
                        instrument: t.instrument.clone(),
                        units: dec(&t.currentUnits),
                        entry_price: dec(&t.price),
                        status: "OPEN".into(),
                        pnl: t.unrealizedPL.as_deref().map_or(0.0, dec),
                        commission: None,
                        open_timestamp: t.openTime.clone(),
                        close_timestamp: None,
                        close_price: None,
                        // Opened outside pinion unless its client id is pinion's: reported, never touched.
                        holder: None,
                    },
                )
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        Ok(rows)
    }

    fn history_bars(&self, symbol: &str, size: BarSize, count: usize) -> Result<Vec<Bar>, String> {
        let g = granularity(size).ok_or_else(|| format!("OANDA has no candles of {size} (session_bar_size)"))?;
        let inst =
            self.instruments.iter().find(|i| i.name == symbol).ok_or_else(|| format!("{symbol} is not tradeable on this account"))?;
        let prec = u8::try_from(inst.displayPrecision).map_err(|_| format!("{symbol}: displayPrecision {}", inst.displayPrecision))?;
        // One more than asked: the newest candle may still be forming and is left out.
        let got = self.rest.candles(symbol, g, count + 1).map_err(|e| format!("OANDA candles of {symbol}: {e}"))?;
        candles_to_bars(&got.candles, size, prec).map_err(|e| format!("OANDA candles of {symbol}: {e}"))
    }

    fn feed(&self) -> FeedStatus {
        match self.feed.get() {
            Some(f) => FeedStatus { connected: f.is_connected(), stale: f.is_stale(), reason: f.reason() },
            None => FeedStatus { connected: false, stale: true, reason: Some("the pricing stream has not started".into()) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candle(time: &str, complete: bool, o: &str, h: &str, l: &str, c: &str) -> Candle {
        serde_json::from_value(serde_json::json!({
            "time": time, "complete": complete, "volume": 7, "mid": { "o": o, "h": h, "l": l, "c": c }
        }))
        .expect("a candle")
    }

    #[test]
    fn complete_candles_become_bars_in_half_steps_and_bad_ones_are_named() {
        let m1 = BarSize::parse("1 min").unwrap();
        let got = candles_to_bars(
            &[
                candle("2020-01-30T15:00:00.000000000Z", true, "0.67060", "0.67071", "0.67050", "0.67066"),
                candle("2020-01-30T15:01:00.000000000Z", false, "0.67066", "0.67070", "0.67060", "0.67061"),
            ],
            m1,
            5,
        )
        .expect("bars");
        assert_eq!(got.len(), 1, "the forming candle is left out");
        let b = got[0];
        assert_eq!((b.open, b.high, b.low, b.close, b.ticks), (134_120, 134_142, 134_100, 134_132, 7));
        assert_eq!(b.end_ns - b.start_ns, 60_000_000_000);
        assert_eq!(b.start_ns, parse_iso("2020-01-30T15:00:00Z").unwrap());
        let bad = candles_to_bars(&[candle("2020-01-30T15:00:00Z", true, "0.6706x", "0.67071", "0.67050", "0.67066")], m1, 5);
        assert!(bad.unwrap_err().contains("mid.o"));
        assert_eq!(granularity(m1), Some("M1"));
        assert_eq!(granularity(BarSize::parse("1 day").unwrap()), None, "OANDA's days start at 17:00 New York");
    }
}
