//! Candlesticks from the quotes the fake market has replayed so far, for
//! `GET /v3/instruments/{instrument}/candles` (instrument-ep, "Get Candlesticks"; instrument-df,
//! Candlestick / CandlestickData). Buckets are aligned to multiples of the granularity since the
//! epoch (daily candles at 00:00 UTC, not OANDA's 17:00 New York); mid prices are (bid + ask) / 2
//! rounded half away from zero to the instrument's precision. The last candle is `complete: false`
//! while its period has not ended on the market clock.

use super::market::Quote;
use super::shapes::time;
use pinion_core::fixed::format_decimal;
use serde_json::{json, Value};

/// Default and largest `count` (instrument-ep).
pub(crate) const DEFAULT_COUNT: usize = 500;
/// Largest `count` OANDA accepts.
pub(crate) const MAX_COUNT: usize = 5000;

/// Length of a granularity in seconds; None for unknown names and for `W` / `M`, which the fake
/// does not build.
pub(crate) fn granularity_secs(g: &str) -> Option<i64> {
    let secs = match g {
        "S5" => 5,
        "S10" => 10,
        "S15" => 15,
        "S30" => 30,
        "M1" => 60,
        "M2" => 120,
        "M4" => 240,
        "M5" => 300,
        "M10" => 600,
        "M15" => 900,
        "M30" => 1800,
        "H1" => 3600,
        "H2" => 7200,
        "H3" => 10_800,
        "H4" => 14_400,
        "H6" => 21_600,
        "H8" => 28_800,
        "H12" => 43_200,
        "D" => 86_400,
        _ => return None,
    };
    Some(secs)
}

/// Open, high, low, close in price steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ohlc {
    o: i64,
    h: i64,
    l: i64,
    c: i64,
}

impl Ohlc {
    fn new(p: i64) -> Ohlc {
        Ohlc { o: p, h: p, l: p, c: p }
    }
    fn add(&mut self, p: i64) {
        self.h = self.h.max(p);
        self.l = self.l.min(p);
        self.c = p;
    }
    fn json(self, prec: u8) -> Value {
        let f = |v| format_decimal(v, prec);
        json!({"o": f(self.o), "h": f(self.h), "l": f(self.l), "c": f(self.c)})
    }
}

/// One candle: start time, bid / ask / mid prices and number of quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Candle {
    start: i64,
    bid: Ohlc,
    ask: Ohlc,
    mid: Ohlc,
    volume: u64,
}

fn mid(q: &Quote) -> i64 {
    let s = q.bid + q.ask;
    s / 2 + (s % 2)
}

/// Which candles to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CandleQuery {
    /// Bucket length in ns.
    pub period_ns: i64,
    /// Most candles returned (the latest ones), unless `from` and `to` are both given.
    pub count: usize,
    /// Only candles starting at or after this time.
    pub from: Option<i64>,
    /// Only candles starting at or before this time.
    pub to: Option<i64>,
}

/// The `candles` array for `quotes` (oldest first) at market time `now`; `components` holds any of
/// `M`, `B`, `A` (the `price` query parameter).
pub(crate) fn candles(quotes: &[Quote], q: CandleQuery, now: i64, prec: u8, components: &str) -> Vec<Value> {
    let mut out: Vec<Candle> = Vec::new();
    for x in quotes {
        let start = x.ts_ns.div_euclid(q.period_ns) * q.period_ns;
        if q.from.is_some_and(|f| start < f) || q.to.is_some_and(|t| start > t) {
            continue;
        }
        match out.last_mut() {
            Some(c) if c.start == start => {
                c.bid.add(x.bid);
                c.ask.add(x.ask);
                c.mid.add(mid(x));
                c.volume += 1;
            }
            _ => out.push(Candle { start, bid: Ohlc::new(x.bid), ask: Ohlc::new(x.ask), mid: Ohlc::new(mid(x)), volume: 1 }),
        }
    }
    let keep = if q.from.is_some() && q.to.is_some() { out.len() } else { q.count.min(out.len()) };
    let skip = if q.from.is_some() && q.to.is_none() { 0 } else { out.len() - keep };
    out.iter()
        .skip(skip)
        .take(keep)
        .map(|c| {
            let mut v = json!({
                "time": time(c.start),
                "volume": c.volume,
                "complete": c.start + q.period_ns <= now,
            });
            for (letter, key, ohlc) in [('M', "mid", c.mid), ('B', "bid", c.bid), ('A', "ask", c.ask)] {
                if components.contains(letter) {
                    v[key] = ohlc.json(prec);
                }
            }
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000_000;

    fn q(ts_ns: i64, bid: i64, ask: i64) -> Quote {
        Quote { ts_ns, bid, ask }
    }

    #[test]
    fn buckets_by_minute_with_mid_and_completeness() {
        let quotes = [q(10, 100, 102), q(MIN - 1, 104, 107), q(MIN + 5, 99, 101), q(2 * MIN + 1, 98, 100)];
        let query = CandleQuery { period_ns: MIN, count: 2, from: None, to: None };
        let c = candles(&quotes, query, 2 * MIN + 1, 5, "MBA");
        assert_eq!(c.len(), 2);
        assert_eq!(c[0]["time"], "1970-01-01T00:01:00.000000000Z");
        assert_eq!(c[0]["complete"], true);
        assert_eq!(c[1]["complete"], false);
        let all = candles(&quotes, CandleQuery { count: 10, ..query }, 3 * MIN, 5, "M");
        assert_eq!(all[0]["mid"], json!({"o": "0.00101", "h": "0.00106", "l": "0.00101", "c": "0.00106"}));
        assert_eq!(all[0]["volume"], 2);
        assert!(all[0].get("bid").is_none());
        assert_eq!(granularity_secs("H4"), Some(14_400));
        assert_eq!(granularity_secs("W"), None);
    }
}
