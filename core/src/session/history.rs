//! Closed-bar history per instrument at the session's bar size: a fixed ring per instrument, fed from
//! every quote tick, from which the model session warms up without waiting for new bars.

use crate::bars::{Bar, BarAggregator, BarSize};

/// The last `capacity` closed bars of one instrument (oldest first when iterated).
#[derive(Debug, Clone)]
pub struct BarHistory {
    agg: BarAggregator,
    ring: Vec<Bar>,
    next: usize,
    len: usize,
    /// End of the newest closed bar (0 before any).
    pub last_end_ns: i64,
}

impl BarHistory {
    /// A history of `size` bars holding the newest `capacity` (at least 1).
    pub fn new(size: BarSize, capacity: usize) -> BarHistory {
        BarHistory { agg: BarAggregator::new(&[size]), ring: vec![Bar::default(); capacity.max(1)], next: 0, len: 0, last_end_ns: 0 }
    }

    fn push(&mut self, bar: Bar) {
        self.ring[self.next] = bar;
        self.next = (self.next + 1) % self.ring.len();
        self.len = (self.len + 1).min(self.ring.len());
        self.last_end_ns = bar.end_ns;
    }

    /// Folds a quote's mid in; returns the end time of a bar it closed, if any.
    #[inline]
    pub fn on_tick(&mut self, ts_ns: i64, mid_x2: i64) -> Option<i64> {
        let mut closed = None;
        let mut emitted = Bar::default();
        self.agg.on_tick(ts_ns, mid_x2, &mut |_, b| {
            emitted = *b;
            closed = Some(b.end_ns);
        });
        if closed.is_some() {
            self.push(emitted);
        }
        closed
    }

    /// Closes the current bar if time passed its end; returns its end time.
    #[inline]
    pub fn advance_time(&mut self, now_ns: i64) -> Option<i64> {
        match self.agg.current(0) {
            Some(b) if b.end_ns <= now_ns => {}
            _ => return None,
        }
        let mut emitted = None;
        self.agg.advance_time(now_ns, &mut |_, b| emitted = Some(*b));
        let b = emitted?;
        self.push(b);
        Some(b.end_ns)
    }

    /// Closed bars held (at most the capacity).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bar has closed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most bars it holds.
    pub fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// The saved form: the aggregator and the held bars oldest first (not the whole ring).
    pub fn save(&self) -> HistorySave {
        let bars = (0..self.len).rev().filter_map(|k| self.newest(k).copied()).collect();
        HistorySave { agg: self.agg.clone(), bars, last_end_ns: self.last_end_ns }
    }

    /// Rebuilds a history of `capacity` bars from its saved form.
    pub fn restore(capacity: usize, saved: HistorySave) -> BarHistory {
        let mut h = BarHistory { agg: saved.agg, ring: vec![Bar::default(); capacity.max(1)], next: 0, len: 0, last_end_ns: 0 };
        for b in saved.bars {
            h.push(b);
        }
        h.last_end_ns = saved.last_end_ns;
        h
    }

    /// The bars of `seed` that may go in before the held ones: closed bars of this history's size,
    /// ending at or before the oldest held bar's start (or the open bar's start, or `now_ns`, when
    /// none is held), oldest first and not overlapping. An error names the first bar that is not
    /// such a bar.
    pub fn check_seed(&self, seed: &[Bar], now_ns: i64) -> Result<usize, String> {
        let size = self.agg.size(0);
        let limit = self.oldest_start(now_ns);
        let mut prev_end = i64::MIN;
        let mut usable = 0;
        for (k, b) in seed.iter().enumerate() {
            if let Some(size) = size {
                if b.end_ns - b.start_ns != size.duration_ns() || size.bar_start(b.start_ns) != b.start_ns {
                    return Err(format!("bars[{k}] ({}..{}) is not a {size} bar", b.start_ns, b.end_ns));
                }
            }
            if b.start_ns < prev_end {
                return Err(format!("bars[{k}] starts before the previous bar ends (bars must be oldest first)"));
            }
            if b.low <= 0 || b.low > b.high || !(b.low..=b.high).contains(&b.open) || !(b.low..=b.high).contains(&b.close) {
                return Err(format!(
                    "bars[{k}] has prices that are not a bar (open {}, high {}, low {}, close {})",
                    b.open, b.high, b.low, b.close
                ));
            }
            prev_end = b.end_ns;
            if b.end_ns <= limit {
                usable += 1;
            }
        }
        Ok(usable)
    }

    fn oldest_start(&self, now_ns: i64) -> i64 {
        match self.len.checked_sub(1).and_then(|k| self.newest(k)) {
            Some(oldest) => oldest.start_ns,
            None => self.agg.current(0).map_or(now_ns, |b| b.start_ns.min(now_ns)),
        }
    }

    /// Puts the usable bars of `seed` (see [`BarHistory::check_seed`]) before the held ones, keeping the
    /// newest `capacity`; returns how many went in. Warm-up then needs no live bars.
    pub fn seed(&mut self, seed: &[Bar], now_ns: i64) -> Result<usize, String> {
        self.check_seed(seed, now_ns)?;
        let limit = self.oldest_start(now_ns);
        let held: Vec<Bar> = (0..self.len).rev().filter_map(|k| self.newest(k).copied()).collect();
        let older: Vec<Bar> = seed.iter().copied().filter(|b| b.end_ns <= limit).collect();
        let n = older.len();
        let last_end = self.last_end_ns;
        self.next = 0;
        self.len = 0;
        for b in older.into_iter().chain(held) {
            self.push(b);
        }
        self.last_end_ns = self.last_end_ns.max(last_end);
        Ok(n)
    }

    /// The `k`-th newest closed bar (0 = newest).
    pub fn newest(&self, k: usize) -> Option<&Bar> {
        if k >= self.len {
            return None;
        }
        let cap = self.ring.len();
        Some(&self.ring[(self.next + cap - 1 - k) % cap])
    }
}

/// A [`BarHistory`] as saved in a snapshot.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistorySave {
    /// The aggregator's state (the open bar included).
    pub agg: BarAggregator,
    /// Held bars, oldest first.
    pub bars: Vec<Bar>,
    /// End of the newest closed bar, UTC epoch ns (0 before any).
    pub last_end_ns: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_bars_in_a_ring() {
        let mut h = BarHistory::new(BarSize::parse("1 min").unwrap(), 3);
        let min = 60_000_000_000i64;
        for k in 0..6 {
            h.on_tick(k * min, 100 + k);
        }
        assert_eq!(h.advance_time(6 * min), Some(6 * min));
        assert_eq!(h.len(), 3);
        assert_eq!(h.newest(0).unwrap().close, 105);
        assert_eq!(h.newest(2).unwrap().close, 103);
        assert!(h.newest(3).is_none());
    }

    fn bar(start_min: i64, mid: i64) -> Bar {
        let min = 60_000_000_000i64;
        Bar { start_ns: start_min * min, end_ns: (start_min + 1) * min, open: mid, high: mid + 2, low: mid - 2, close: mid + 1, ticks: 1 }
    }

    #[test]
    fn seeded_bars_go_before_the_held_ones() {
        let min = 60_000_000_000i64;
        let mut h = BarHistory::new(BarSize::parse("1 min").unwrap(), 4);
        h.on_tick(10 * min, 500);
        h.on_tick(11 * min, 502);
        assert_eq!(h.len(), 1, "the 10th minute closed");
        // Bars 7..=10: the one ending after the held bar's start is not used.
        let seed: Vec<Bar> = (7..=10).map(|m| bar(m, 400 + m)).collect();
        assert_eq!(h.seed(&seed, 11 * min), Ok(3));
        assert_eq!(h.len(), 4);
        assert_eq!(h.newest(0).unwrap().start_ns, 10 * min, "the live bar stays newest");
        assert_eq!(h.newest(3).unwrap().start_ns, 7 * min);
        assert_eq!(h.last_end_ns, 11 * min);
    }

    #[test]
    fn an_empty_history_takes_bars_ending_before_now() {
        let min = 60_000_000_000i64;
        let mut h = BarHistory::new(BarSize::parse("1 min").unwrap(), 10);
        let seed: Vec<Bar> = (1..=5).map(|m| bar(m, 400)).collect();
        assert_eq!(h.seed(&seed, 5 * min + 5), Ok(4), "the bar ending at 6 min is still open at 5 min");
        assert_eq!(h.last_end_ns, 5 * min);
    }

    #[test]
    fn malformed_seeds_are_refused_naming_the_bar() {
        let h = BarHistory::new(BarSize::parse("1 min").unwrap(), 10);
        let mut bad = vec![bar(1, 400), bar(2, 400)];
        bad[1].end_ns += 1;
        assert!(h.check_seed(&bad, i64::MAX).unwrap_err().contains("bars[1]"));
        let unordered = vec![bar(2, 400), bar(1, 400)];
        assert!(h.check_seed(&unordered, i64::MAX).unwrap_err().contains("oldest first"));
        let mut crossed = vec![bar(1, 400)];
        crossed[0].low = crossed[0].high + 1;
        assert!(h.check_seed(&crossed, i64::MAX).unwrap_err().contains("bars[0]"));
    }
}
