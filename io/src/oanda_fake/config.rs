//! Configuration of the fake OANDA server: the account, its instruments, the recorded ticks it
//! replays as prices, and how fast. Prices are integer steps of each instrument's display precision,
//! so every number the fake serves is exact; helpers build the ticks and instruments from pinion's
//! own tick data and instrument table.

use crate::import::TickData;
use pinion_core::fixed::{parse_decimal, DecimalError, Money, Price, Rate, MAX_PRECISION};
use pinion_core::instrument::{split_symbol, Instrument, InstrumentKind, InstrumentTable};
use pinion_core::tick::KIND_QUOTE;
use std::collections::HashSet;
use std::io;
use std::time::Duration;

/// One tradeable instrument, with the fields OANDA's `Instrument` definition carries
/// (<https://developer.oanda.com/rest-live-v20/primitives-df/>, "Instrument").
#[derive(Debug, Clone, PartialEq)]
pub struct FakeInstrument {
    /// OANDA name, `BASE_QUOTE` (e.g. `EUR_USD`).
    pub name: String,
    /// OANDA instrument type: `CURRENCY`, `CFD` or `METAL`.
    pub kind: String,
    /// Decimal places of a price (`displayPrecision`): EUR_USD 5, USD_JPY 3.
    pub display_precision: u8,
    /// Exponent of one pip (`pipLocation`): EUR_USD -4, USD_JPY -2.
    pub pip_location: i8,
    /// Decimal places allowed in order units (`tradeUnitsPrecision`); FX is 0.
    pub trade_units_precision: u8,
    /// Smallest order size (`minimumTradeSize`), in unit steps.
    pub minimum_trade_size: i64,
    /// Margin requirement as a fraction of position value (`marginRate`, e.g. 0.0333 for 30:1).
    pub margin_rate: Rate,
}

impl FakeInstrument {
    /// An FX pair with OANDA's usual settings: 5 decimals (3 for JPY quotes), whole units,
    /// a minimum of 1 unit, margin rate 0.0333. `name` may be any spelling pinion accepts.
    pub fn fx(name: &str) -> FakeInstrument {
        let (base, quote) = split_symbol(name).unwrap_or_else(|| (name.to_string(), String::new()));
        let jpy = quote == "JPY";
        FakeInstrument {
            name: if quote.is_empty() { base } else { format!("{base}_{quote}") },
            kind: "CURRENCY".to_string(),
            display_precision: if jpy { 3 } else { 5 },
            pip_location: if jpy { -2 } else { -4 },
            trade_units_precision: 0,
            minimum_trade_size: 1,
            margin_rate: Rate(33_300_000_000),
        }
    }

    /// The fake's view of one of pinion's instruments (precisions, pip and margin rate carried over).
    pub fn from_instrument(inst: &Instrument) -> FakeInstrument {
        FakeInstrument {
            name: inst.symbol.clone(),
            kind: match inst.kind {
                InstrumentKind::Currency => "CURRENCY",
                InstrumentKind::Crypto => "CFD",
            }
            .to_string(),
            display_precision: inst.price_precision,
            pip_location: inst.pip_location,
            trade_units_precision: inst.size_precision,
            minimum_trade_size: inst.min_trade_size.max(1),
            margin_rate: inst.margin_rate,
        }
    }

    /// Base and quote currency codes (`EUR`, `USD`), or None for a name without `_`.
    pub fn currencies(&self) -> Option<(&str, &str)> {
        self.name.split_once('_')
    }
}

/// One recorded quote to replay: bid and ask in integer steps of the instrument's display precision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeTick {
    /// Instrument name, as in [`FakeInstrument::name`].
    pub instrument: String,
    /// Recorded time, UTC epoch nanoseconds.
    pub ts_ns: i64,
    /// Bid, in price steps (`1.10234` at precision 5 is `110234`).
    pub bid: i64,
    /// Ask, in price steps.
    pub ask: i64,
}

impl FakeTick {
    /// A tick from integer price steps.
    pub fn new(instrument: &str, ts_ns: i64, bid: i64, ask: i64) -> FakeTick {
        FakeTick { instrument: instrument.to_string(), ts_ns, bid, ask }
    }

    /// A tick from f64 prices, rounded to the nearest step of `precision` decimals.
    pub fn from_f64(instrument: &str, ts_ns: i64, bid: f64, ask: f64, precision: u8) -> FakeTick {
        let p = precision.min(MAX_PRECISION);
        FakeTick::new(instrument, ts_ns, Price::from_f64(bid, p).0, Price::from_f64(ask, p).0)
    }

    /// A tick from decimal strings (`"1.10234"`), exactly; more decimals than `precision` is an error.
    pub fn parse(instrument: &str, ts_ns: i64, bid: &str, ask: &str, precision: u8) -> Result<FakeTick, DecimalError> {
        let p = precision.min(MAX_PRECISION);
        Ok(FakeTick::new(instrument, ts_ns, parse_decimal(bid.as_bytes(), p)?, parse_decimal(ask.as_bytes(), p)?))
    }
}

/// Which earlier orders make a new order's `clientExtensions.id` a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateScope {
    /// Any order ever created in the account (filled, pending or cancelled) holds its id: a retried
    /// order is always rejected. This is what idempotent clients rely on, and the default.
    AnyOrder,
    /// Only pending orders hold their ids, word for word what OANDA's `TransactionRejectReason`
    /// says of `CLIENT_ORDER_ID_ALREADY_EXISTS` ("already assigned to another pending Order").
    PendingOnly,
}

/// Everything [`FakeOanda::start`](super::FakeOanda::start) needs.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// The account's id, e.g. `101-004-1234567-001`; other ids in a path answer 403.
    pub account_id: String,
    /// The bearer token every request must carry; None accepts any (or no) token.
    pub token: Option<String>,
    /// Home currency of the account (P&L, balance and margin are in it), e.g. `USD`.
    pub currency: String,
    /// The tradeable instruments.
    pub instruments: Vec<FakeInstrument>,
    /// Recorded quotes replayed as the market, in time order.
    pub ticks: Vec<FakeTick>,
    /// Replay speed relative to the recorded spacing (1.0 = real time, 60.0 = a minute a second).
    /// 0 replays as fast as pricing-stream clients read: each idle stream pulls the next tick, and
    /// without a stream the market stands still (move it with `advance` or `push_price`).
    pub speed: f64,
    /// Interval of `HEARTBEAT` lines on both streams (OANDA: 5 s).
    pub heartbeat_every: Duration,
    /// Balance deposited when the account is created.
    pub starting_balance: Money,
    /// Start over at the end of the ticks, shifting time forward so it stays monotonic.
    pub loop_ticks: bool,
    /// This many leading ticks count as already past at start: they set the opening prices and
    /// candle history but are never streamed.
    pub warmup_ticks: usize,
    /// `liquidity` shown on each price bucket.
    pub liquidity: i64,
    /// Which earlier orders make a client order id a duplicate.
    pub duplicate_client_ids: DuplicateScope,
}

impl FakeConfig {
    /// A config with OANDA-like defaults: token `fake-token`, USD, real-time speed, 5 s heartbeats,
    /// a 100,000.00 balance, no loop, no warm-up, liquidity 1,000,000, duplicates across all orders.
    pub fn new(account_id: &str, instruments: Vec<FakeInstrument>, ticks: Vec<FakeTick>) -> FakeConfig {
        FakeConfig {
            account_id: account_id.to_string(),
            token: Some("fake-token".to_string()),
            currency: "USD".to_string(),
            instruments,
            ticks,
            speed: 1.0,
            heartbeat_every: Duration::from_secs(5),
            starting_balance: Money::from_units(100_000),
            loop_ticks: false,
            warmup_ticks: 0,
            liquidity: 1_000_000,
            duplicate_client_ids: DuplicateScope::AnyOrder,
        }
    }

    /// A config replaying pinion tick data (quotes only). Each instrument's settings come from
    /// `table` when it knows the symbol (any spelling), else from the data's own table; prices are
    /// rescaled to that instrument's precision, which must not lose digits.
    pub fn from_tick_data(account_id: &str, data: &TickData, table: &InstrumentTable) -> io::Result<FakeConfig> {
        let instruments: Vec<FakeInstrument> = data
            .instruments()
            .iter()
            .map(|own| match table.find(&own.symbol) {
                Some(id) => FakeInstrument::from_instrument(table.get(id)),
                None => FakeInstrument::from_instrument(own),
            })
            .collect();
        let ticks = fake_ticks_rescaled(data, &instruments)?;
        Ok(FakeConfig::new(account_id, instruments, ticks))
    }

    /// Checks the config is usable: known, unique instruments with sane precisions, quotes with
    /// positive uncrossed prices, a finite speed and a home-currency conversion for every instrument.
    pub fn validate(&self) -> io::Result<()> {
        let bad = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if self.account_id.is_empty() || self.account_id.contains('/') {
            return bad(format!("account id {:?} is empty or holds a '/'", self.account_id));
        }
        if !(self.speed.is_finite() && self.speed >= 0.0) {
            return bad(format!("speed {} must be finite and >= 0", self.speed));
        }
        if self.heartbeat_every.is_zero() {
            return bad("heartbeat_every must be positive".to_string());
        }
        let mut names = HashSet::new();
        for i in &self.instruments {
            if i.currencies().is_none() || !names.insert(i.name.as_str()) {
                return bad(format!("instrument {:?} is not BASE_QUOTE or is listed twice", i.name));
            }
            if i.display_precision > MAX_PRECISION || i.trade_units_precision > MAX_PRECISION {
                return bad(format!("instrument {}: precision above {MAX_PRECISION}", i.name));
            }
            if !self.has_conversion(i) {
                return bad(format!(
                    "instrument {}: no way to convert its quote currency to {} (add a {}_{} or {}_{} instrument)",
                    i.name,
                    self.currency,
                    i.currencies().map_or("", |c| c.1),
                    self.currency,
                    self.currency,
                    i.currencies().map_or("", |c| c.1)
                ));
            }
        }
        for (n, t) in self.ticks.iter().enumerate() {
            if !names.contains(t.instrument.as_str()) {
                return bad(format!("tick {n}: unknown instrument {:?}", t.instrument));
            }
            if t.bid <= 0 || t.ask < t.bid {
                return bad(format!("tick {n}: bid {} / ask {} is not a positive, uncrossed quote", t.bid, t.ask));
            }
        }
        if self.warmup_ticks > self.ticks.len() {
            return bad(format!("warmup_ticks {} exceeds the {} ticks", self.warmup_ticks, self.ticks.len()));
        }
        Ok(())
    }

    fn has_conversion(&self, inst: &FakeInstrument) -> bool {
        let Some((base, quote)) = inst.currencies() else { return false };
        let home = self.currency.as_str();
        quote == home
            || base == home
            || self.instruments.iter().any(|o| o.name == format!("{quote}_{home}") || o.name == format!("{home}_{quote}"))
    }
}

/// The quote ticks of pinion tick data as fake ticks, at each instrument's own price precision.
pub fn fake_ticks(data: &TickData) -> Vec<FakeTick> {
    let insts = data.instruments();
    data.ticks()
        .iter()
        .filter(|t| t.kind == KIND_QUOTE)
        .filter_map(|t| insts.get(t.instrument as usize).map(|i| FakeTick::new(&i.symbol, t.ts_ns, t.bid, t.ask)))
        .collect()
}

/// Quote ticks rescaled to the precision of the matching entry in `instruments` (same order as the
/// data's table). A tick whose price would lose digits is an error naming it.
fn fake_ticks_rescaled(data: &TickData, instruments: &[FakeInstrument]) -> io::Result<Vec<FakeTick>> {
    let own = data.instruments();
    let mut out = Vec::with_capacity(data.len());
    for (n, t) in data.ticks().iter().enumerate().filter(|(_, t)| t.kind == KIND_QUOTE) {
        let (Some(from), Some(to)) = (own.get(t.instrument as usize), instruments.get(t.instrument as usize)) else {
            continue;
        };
        let scale = |v: i64| -> io::Result<i64> {
            let (fp, tp) = (from.price_precision as i32, to.display_precision as i32);
            let f = 10i64.pow((fp - tp).unsigned_abs());
            match fp.cmp(&tp) {
                std::cmp::Ordering::Equal => Ok(v),
                std::cmp::Ordering::Less => v.checked_mul(f).ok_or_else(|| io::Error::other(format!("tick {n}: price overflow"))),
                std::cmp::Ordering::Greater if v % f == 0 => Ok(v / f),
                std::cmp::Ordering::Greater => {
                    Err(io::Error::new(io::ErrorKind::InvalidData, format!("tick {n}: {} price {v} has more than {tp} decimals", to.name)))
                }
            }
        };
        out.push(FakeTick::new(&to.name, t.ts_ns, scale(t.bid)?, scale(t.ask)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fx_defaults_and_parsing() {
        let eu = FakeInstrument::fx("eurusd");
        assert_eq!((eu.name.as_str(), eu.display_precision, eu.pip_location), ("EUR_USD", 5, -4));
        assert_eq!(FakeInstrument::fx("USD_JPY").display_precision, 3);
        let t = FakeTick::parse("EUR_USD", 1, "1.10234", "1.1024", 5).unwrap();
        assert_eq!((t.bid, t.ask), (110_234, 110_240));
        assert!(FakeTick::parse("EUR_USD", 1, "1.102341", "1.1", 5).is_err());
        assert_eq!(FakeTick::from_f64("EUR_USD", 1, 1.10234, 1.10236, 5).ask, 110_236);
    }

    #[test]
    fn validation_names_the_problem() {
        let cfg = FakeConfig::new("101-004-1234567-001", vec![FakeInstrument::fx("EUR_GBP")], vec![]);
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("GBP_USD"), "{err}");
        let mut cfg = FakeConfig::new("101-004-1234567-001", vec![FakeInstrument::fx("EUR_USD")], vec![]);
        cfg.ticks.push(FakeTick::new("EUR_USD", 1, 5, 4));
        assert!(cfg.validate().unwrap_err().to_string().contains("uncrossed"));
        cfg.ticks[0] = FakeTick::new("AUD_USD", 1, 4, 5);
        assert!(cfg.validate().unwrap_err().to_string().contains("unknown instrument"));
    }

    #[test]
    fn builds_from_tick_data() {
        use pinion_core::fixed::Quantity;
        use pinion_core::instrument::InstrumentId;
        use pinion_core::tick::Tick;
        let mut eu = Instrument::fx("EUR", "USD");
        eu.price_precision = 6;
        let data = TickData::Owned {
            instruments: vec![eu],
            ticks: vec![Tick::quote(7, InstrumentId(0), Price(1_102_340), Price(1_102_360), Quantity(1), Quantity(1))],
        };
        let cfg = FakeConfig::from_tick_data("1-2-3-4", &data, &InstrumentTable::builtin()).unwrap();
        assert_eq!(cfg.instruments[0].display_precision, 5);
        assert_eq!(cfg.ticks, vec![FakeTick::new("EUR_USD", 7, 110_234, 110_236)]);
        assert_eq!(fake_ticks(&data)[0].bid, 1_102_340);
    }
}
