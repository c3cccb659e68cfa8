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
}
