//! The fake market: the recorded ticks, a replay cursor over them (looping with time shifted forward
//! so it stays monotonic), the latest quote of each instrument, and the quotes seen so far, which the
//! candles endpoint aggregates. It only holds prices; the account reacts to them in `ledger`.

use super::config::FakeConfig;
use std::collections::HashMap;

/// Most quotes kept per instrument for candles; older ones are dropped in halves.
const MAX_HISTORY: usize = 2_000_000;
/// Smallest gap between the end of one loop of the ticks and the start of the next (as in `replay`).
const MIN_LOOP_GAP_NS: i64 = 1_000_000;

/// A bid/ask pair at a time, in price steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quote {
    /// Time of the quote, UTC epoch ns.
    pub ts_ns: i64,
    /// Bid in steps.
    pub bid: i64,
    /// Ask in steps.
    pub ask: i64,
}

/// A recorded tick with its instrument as an index into the config's instruments.
#[derive(Debug, Clone, Copy)]
struct Recorded {
    inst: usize,
    quote: Quote,
}

/// Prices, replay position and price history.
#[derive(Debug)]
pub(crate) struct Market {
    ticks: Vec<Recorded>,
    cursor: usize,
    loop_ticks: bool,
    /// Added to recorded times: grows by the span plus one mean gap on every loop.
    shift_ns: i64,
    loop_step_ns: i64,
    latest: Vec<Option<Quote>>,
    history: Vec<Vec<Quote>>,
    now_ns: i64,
    index: HashMap<String, usize>,
}

impl Market {
    /// The market of a validated config, with the warm-up ticks already applied.
    pub fn new(cfg: &FakeConfig, wall_now_ns: i64) -> Market {
        let index: HashMap<String, usize> = cfg.instruments.iter().enumerate().map(|(i, x)| (x.name.clone(), i)).collect();
        let ticks: Vec<Recorded> = cfg
            .ticks
            .iter()
            .filter_map(|t| {
                index.get(&t.instrument).map(|&inst| Recorded { inst, quote: Quote { ts_ns: t.ts_ns, bid: t.bid, ask: t.ask } })
            })
            .collect();
        let loop_step_ns = match (ticks.first(), ticks.last()) {
            (Some(a), Some(b)) if ticks.len() > 1 => {
                let span = (b.quote.ts_ns - a.quote.ts_ns).max(0);
                span + (span / (ticks.len() as i64 - 1)).max(MIN_LOOP_GAP_NS)
            }
            _ => MIN_LOOP_GAP_NS,
        };
        let now_ns = ticks.first().map_or(wall_now_ns, |t| t.quote.ts_ns);
        let mut m = Market {
            ticks,
            cursor: 0,
            loop_ticks: cfg.loop_ticks,
            shift_ns: 0,
            loop_step_ns,
            latest: vec![None; cfg.instruments.len()],
            history: vec![Vec::new(); cfg.instruments.len()],
            now_ns,
            index,
        };
        for _ in 0..cfg.warmup_ticks {
            if let Some((inst, q)) = m.next_tick() {
                m.apply(inst, q);
            }
        }
        m
    }

    /// Index of an instrument by its exact OANDA name.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Time of the next recorded tick (with the loop shift), without taking it.
    pub fn peek_ts(&self) -> Option<i64> {
        match self.ticks.get(self.cursor) {
            Some(t) => Some(t.quote.ts_ns + self.shift_ns),
            None if self.loop_ticks && !self.ticks.is_empty() => Some(self.ticks[0].quote.ts_ns + self.shift_ns + self.loop_step_ns),
            None => None,
        }
    }

    /// Takes the next recorded tick (wrapping around when looping); it is not applied yet.
    pub fn next_tick(&mut self) -> Option<(usize, Quote)> {
        if self.cursor >= self.ticks.len() {
            if !self.loop_ticks || self.ticks.is_empty() {
                return None;
            }
            self.cursor = 0;
            self.shift_ns += self.loop_step_ns;
        }
        let t = self.ticks[self.cursor];
        self.cursor += 1;
        Some((t.inst, Quote { ts_ns: t.quote.ts_ns + self.shift_ns, ..t.quote }))
    }

    /// Makes `q` the current price of `inst`; the market clock never goes back.
    pub fn apply(&mut self, inst: usize, q: Quote) {
        let q = Quote { ts_ns: q.ts_ns.max(self.now_ns), ..q };
        self.now_ns = q.ts_ns;
        self.latest[inst] = Some(q);
        let h = &mut self.history[inst];
        if h.len() >= MAX_HISTORY {
            h.drain(..MAX_HISTORY / 2);
        }
        h.push(q);
    }

    /// The current price of `inst`, if it has one.
    pub fn latest(&self, inst: usize) -> Option<Quote> {
        self.latest.get(inst).copied().flatten()
    }

    /// Every quote of `inst` seen so far, oldest first.
    pub fn history(&self, inst: usize) -> &[Quote] {
        self.history.get(inst).map_or(&[], |h| h.as_slice())
    }

    /// The market clock: the time of the latest price (or of the first recorded tick before any).
    pub fn now_ns(&self) -> i64 {
        self.now_ns
    }

    /// Recorded ticks not yet replayed (0 when looping forever or done).
    pub fn remaining(&self) -> usize {
        self.ticks.len().saturating_sub(self.cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::{FakeInstrument, FakeTick};
    use super::*;

    fn cfg(loop_ticks: bool, warmup: usize) -> FakeConfig {
        let ticks =
            vec![FakeTick::new("EUR_USD", 1_000, 10, 12), FakeTick::new("AUD_USD", 2_000, 20, 22), FakeTick::new("EUR_USD", 3_000, 11, 13)];
        let mut c = FakeConfig::new("a", vec![FakeInstrument::fx("EUR_USD"), FakeInstrument::fx("AUD_USD")], ticks);
        c.loop_ticks = loop_ticks;
        c.warmup_ticks = warmup;
        c
    }

    #[test]
    fn warmup_and_replay() {
        let mut m = Market::new(&cfg(false, 1), 0);
        assert_eq!(m.latest(0).map(|q| q.bid), Some(10));
        assert_eq!(m.latest(1), None);
        assert_eq!(m.peek_ts(), Some(2_000));
        let (i, q) = m.next_tick().unwrap();
        m.apply(i, q);
        assert_eq!((i, m.now_ns()), (1, 2_000));
        assert!(m.next_tick().is_some());
        assert!(m.next_tick().is_none());
        assert_eq!(m.remaining(), 0);
    }

    #[test]
    fn loops_with_monotonic_time() {
        let mut m = Market::new(&cfg(true, 0), 0);
        let times: Vec<i64> = (0..6).map(|_| m.next_tick().unwrap().1.ts_ns).collect();
        // span 2,000 + max(mean gap 1,000, 1 ms) = 1,002,000 added per loop.
        assert_eq!(times, vec![1_000, 2_000, 3_000, 1_003_000, 1_004_000, 1_005_000]);
    }
}
