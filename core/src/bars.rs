//! Bar sizes (`"5 secs"` .. `"1 week"`), their UTC alignment, and per-instrument OHLC bar aggregation
//! from mid prices with bars that close by time.
//!
//! Prices in a [`Bar`] are mids in half price steps (`bid + ask`, see [`Tick::mid_x2`]) so they stay
//! exact integers; [`x2_to_f64`] converts once. Bars are half-open `[start_ns, end_ns)`: a tick stamped
//! exactly at a boundary opens the next bar.
//!
//! [`Tick::mid_x2`]: crate::tick::Tick::mid_x2

use crate::fixed::POW10;
use crate::time::{NS_PER_DAY, NS_PER_SEC};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// What a bar size string may be, for error messages.
pub const ACCEPTED_BAR_SIZES: &str = "5, 10, 15 or 30 secs; 1, 2, 3, 5, 10, 15, 20 or 30 mins; \
     1, 2, 3, 4 or 8 hours; 1 day; 1 week (written `N secs|sec|min|mins|hour|hours|day|days|week|weeks`)";

/// A bar size string that is not one of the supported sizes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unsupported bar size {input:?}: accepted are {ACCEPTED_BAR_SIZES}")]
pub struct BarSizeError {
    /// The text that was given.
    pub input: String,
}

/// Week bars start on Monday 00:00 UTC; the first Monday after the epoch (a Thursday) is 1970-01-05.
const WEEK_ORIGIN_NS: i64 = 4 * NS_PER_DAY;

/// Every supported size: (count, unit in seconds, canonical text).
const TABLE: [(u32, i64, &str); 19] = [
    (5, 1, "5 secs"),
    (10, 1, "10 secs"),
    (15, 1, "15 secs"),
    (30, 1, "30 secs"),
    (1, 60, "1 min"),
    (2, 60, "2 mins"),
    (3, 60, "3 mins"),
    (5, 60, "5 mins"),
    (10, 60, "10 mins"),
    (15, 60, "15 mins"),
    (20, 60, "20 mins"),
    (30, 60, "30 mins"),
    (1, 3600, "1 hour"),
    (2, 3600, "2 hours"),
    (3, 3600, "3 hours"),
    (4, 3600, "4 hours"),
    (8, 3600, "8 hours"),
    (1, 86_400, "1 day"),
    (1, 604_800, "1 week"),
];

/// A supported bar duration with its canonical text. Every size up to a day divides a day, so all bars
/// align to UTC midnight; week bars align to Monday 00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BarSize {
    secs: i64,
    text: &'static str,
}

impl BarSize {
    /// Parses `"N unit"` (any surrounding / inner whitespace, unit case-insensitive, singular or plural:
    /// `sec|secs|min|mins|hour|hours|day|days|week|weeks`) for the supported sizes only.
    pub fn parse(s: &str) -> Result<BarSize, BarSizeError> {
        let err = || BarSizeError { input: s.to_string() };
        let mut parts = s.split_whitespace();
        let (Some(num), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(err());
        };
        if !num.bytes().all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        let n: u32 = num.parse().map_err(|_| err())?;
        let unit_secs = match unit.to_ascii_lowercase().as_str() {
            "sec" | "secs" => 1,
            "min" | "mins" => 60,
            "hour" | "hours" => 3600,
            "day" | "days" => 86_400,
            "week" | "weeks" => 604_800,
            _ => return Err(err()),
        };
        TABLE
            .iter()
            .find(|&&(count, u, _)| count == n && u == unit_secs)
            .map(|&(count, u, text)| BarSize { secs: count as i64 * u, text })
            .ok_or_else(err)
    }

    /// Every supported size, shortest first.
    pub fn all() -> impl Iterator<Item = BarSize> {
        TABLE.iter().map(|&(count, u, text)| BarSize { secs: count as i64 * u, text })
    }

    /// Length of the bar in seconds.
    pub fn secs(self) -> i64 {
        self.secs
    }

    /// Length of the bar in nanoseconds.
    pub fn duration_ns(self) -> i64 {
        self.secs * NS_PER_SEC
    }

    /// Canonical text: `"5 secs"`, `"1 min"`, `"15 mins"`, `"1 hour"`, `"1 day"`, `"1 week"`.
    pub fn as_str(self) -> &'static str {
        self.text
    }

    /// Start of the bar containing `ts_ns`: a multiple of the duration since the epoch, or for weeks
    /// Monday 00:00 UTC (correct for times before the epoch too).
    pub fn bar_start(self, ts_ns: i64) -> i64 {
        let d = self.duration_ns() as i128;
        let origin = if self.secs == 604_800 { WEEK_ORIGIN_NS as i128 } else { 0 };
        let start = (ts_ns as i128 - origin).div_euclid(d) * d + origin;
        start.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// `[start, end)` of the bar containing `ts_ns` (end saturates at `i64::MAX`).
    pub fn bar_bounds(self, ts_ns: i64) -> (i64, i64) {
        let start = self.bar_start(ts_ns);
        (start, start.saturating_add(self.duration_ns()))
    }
}

impl fmt::Display for BarSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl FromStr for BarSize {
    type Err = BarSizeError;
    fn from_str(s: &str) -> Result<BarSize, BarSizeError> {
        BarSize::parse(s)
    }
}

impl Serialize for BarSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.text)
    }
}

impl<'de> Deserialize<'de> for BarSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<BarSize, D::Error> {
        let s = String::deserialize(d)?;
        BarSize::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Converts a mid in half price steps (`bid + ask`) to f64: `x2 / (2 * 10^precision)`.
pub fn x2_to_f64(x2: i64, price_precision: u8) -> f64 {
    x2 as f64 / (2 * POW10[price_precision as usize]) as f64
}

/// One OHLC bar of mid prices in half price steps over `[start_ns, end_ns)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct Bar {
    /// Start of the interval (inclusive), UTC epoch ns.
    pub start_ns: i64,
    /// End of the interval (exclusive), UTC epoch ns.
    pub end_ns: i64,
    /// First mid, half price steps.
    pub open: i64,
    /// Highest mid, half price steps.
    pub high: i64,
    /// Lowest mid, half price steps.
    pub low: i64,
    /// Last mid, half price steps.
    pub close: i64,
    /// Ticks folded into the bar (at least 1; saturates).
    pub ticks: u32,
}

impl Bar {
    /// A bar opened by one tick.
    pub fn open_with(start_ns: i64, end_ns: i64, mid_x2: i64) -> Bar {
        Bar { start_ns, end_ns, open: mid_x2, high: mid_x2, low: mid_x2, close: mid_x2, ticks: 1 }
    }

    /// Folds one more tick's mid into the bar.
    pub fn apply(&mut self, mid_x2: i64) {
        self.high = self.high.max(mid_x2);
        self.low = self.low.min(mid_x2);
        self.close = mid_x2;
        self.ticks = self.ticks.saturating_add(1);
    }

    /// Open as a price (f64) for the instrument's price precision.
    pub fn open_f64(&self, price_precision: u8) -> f64 {
        x2_to_f64(self.open, price_precision)
    }
    /// High as a price (f64) for the instrument's price precision.
    pub fn high_f64(&self, price_precision: u8) -> f64 {
        x2_to_f64(self.high, price_precision)
    }
    /// Low as a price (f64) for the instrument's price precision.
    pub fn low_f64(&self, price_precision: u8) -> f64 {
        x2_to_f64(self.low, price_precision)
    }
    /// Close as a price (f64) for the instrument's price precision.
    pub fn close_f64(&self, price_precision: u8) -> f64 {
        x2_to_f64(self.close, price_precision)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Slot {
    size: BarSize,
    current: Option<Bar>,
    last_closed: Option<Bar>,
}

/// Builds bars of several sizes for one instrument. Storage (one slot per size) is allocated in `new`;
/// `on_tick` and `advance_time` allocate nothing.
///
/// Time never goes backwards inside an aggregator: it keeps the latest time seen from ticks and
/// `advance_time`, and a tick stamped earlier than that (a late tick) counts as arriving at that time,
/// so no interval is ever emitted twice. Within one call, closed bars are emitted by size index
/// ascending (the order of `sizes` given to `new`), at most one bar per size.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BarAggregator {
    slots: Vec<Slot>,
    now_ns: i64,
}

impl BarAggregator {
    /// An aggregator for `sizes` (size index = position in the slice), with no bar open yet.
    pub fn new(sizes: &[BarSize]) -> BarAggregator {
        BarAggregator { slots: sizes.iter().map(|&size| Slot { size, current: None, last_closed: None }).collect(), now_ns: i64::MIN }
    }

    /// Number of sizes (valid size indices are `0..len()`).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether it aggregates no size.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The size at `index`, if any.
    pub fn size(&self, index: usize) -> Option<BarSize> {
        self.slots.get(index).map(|s| s.size)
    }

    /// Latest time seen (`i64::MIN` before any).
    pub fn now_ns(&self) -> i64 {
        self.now_ns
    }

    /// Closes (emits) every in-progress bar with `end_ns <= ts_ns`, then folds the mid into the current
    /// bar of each size, opening a new one aligned on the tick's time where none is in progress.
    pub fn on_tick(&mut self, ts_ns: i64, mid_x2: i64, emit: &mut impl FnMut(usize, &Bar)) {
        self.advance_time(ts_ns, emit);
        let t = self.now_ns;
        for slot in &mut self.slots {
            match &mut slot.current {
                Some(bar) => bar.apply(mid_x2),
                None => {
                    let (start, end) = slot.size.bar_bounds(t);
                    slot.current = Some(Bar::open_with(start, end, mid_x2));
                }
            }
        }
    }

    /// Closes (emits) every in-progress bar with `end_ns <= now_ns`, without a tick. Empty intervals
    /// produce no bars; the next tick opens the bar that contains it.
    pub fn advance_time(&mut self, now_ns: i64, emit: &mut impl FnMut(usize, &Bar)) {
        if now_ns > self.now_ns {
            self.now_ns = now_ns;
        }
        let t = self.now_ns;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let Some(bar) = slot.current {
                if bar.end_ns <= t {
                    slot.current = None;
                    slot.last_closed = Some(bar);
                    emit(i, &bar);
                }
            }
        }
    }

    /// The most recently closed bar of a size.
    pub fn last_closed(&self, index: usize) -> Option<&Bar> {
        self.slots.get(index)?.last_closed.as_ref()
    }

    /// The in-progress bar of a size.
    pub fn current(&self, index: usize) -> Option<&Bar> {
        self.slots.get(index)?.current.as_ref()
    }

    /// Drops all bars and the time seen, keeping the sizes.
    pub fn reset(&mut self) {
        for slot in &mut self.slots {
            slot.current = None;
            slot.last_closed = None;
        }
        self.now_ns = i64::MIN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_iso;

    const MIN: i64 = 60 * NS_PER_SEC;

    fn sizes(list: &[&str]) -> Vec<BarSize> {
        list.iter().map(|s| BarSize::parse(s).unwrap()).collect()
    }

    fn ts(iso: &str) -> i64 {
        parse_iso(iso).unwrap()
    }

    #[test]
    fn parses_every_supported_size() {
        let cases = [
            ("5 secs", 5, "5 secs"),
            ("5 sec", 5, "5 secs"),
            ("30 secs", 30, "30 secs"),
            ("1 min", 60, "1 min"),
            ("1 mins", 60, "1 min"),
            ("20 mins", 1200, "20 mins"),
            ("15 min", 900, "15 mins"),
            ("1 hour", 3600, "1 hour"),
            ("1 hours", 3600, "1 hour"),
            ("8 hours", 28_800, "8 hours"),
            ("1 day", 86_400, "1 day"),
            ("1 days", 86_400, "1 day"),
            ("1 week", 604_800, "1 week"),
            ("  4   HOURS ", 14_400, "4 hours"),
        ];
        for (input, secs, text) in cases {
            let b: BarSize = input.parse().unwrap();
            assert_eq!((b.secs(), b.to_string().as_str()), (secs, text), "{input}");
            assert_eq!(b.duration_ns(), secs * NS_PER_SEC);
        }
        assert_eq!(BarSize::all().count(), 19);
        for b in BarSize::all() {
            assert_eq!(BarSize::parse(b.as_str()), Ok(b));
        }
    }

    #[test]
    fn rejects_unsupported_sizes_with_a_helpful_message() {
        for bad in [
            "7 mins",
            "1 sec",
            "60 secs",
            "2 days",
            "2 weeks",
            "5 hours",
            "1",
            "min",
            "",
            "1 minute",
            "1.5 hours",
            "-5 secs",
            "+5 secs",
            "5 secs x",
            "05x secs",
            "99999999999 secs",
        ] {
            let e = BarSize::parse(bad).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(&format!("{bad:?}")), "{msg}");
            assert!(msg.contains("1 week"), "{msg}");
        }
    }

    #[test]
    fn serde_uses_the_canonical_text() {
        let b = BarSize::parse("15 min").unwrap();
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"15 mins\"");
        let back: BarSize = serde_json::from_str("\"1 hours\"").unwrap();
        assert_eq!(back.as_str(), "1 hour");
        assert!(serde_json::from_str::<BarSize>("\"7 mins\"").is_err());
    }

    #[test]
    fn alignment_to_utc_and_to_mondays() {
        let hour = BarSize::parse("1 hour").unwrap();
        let t = ts("2020-01-30T15:28:09.820Z");
        assert_eq!(hour.bar_bounds(t), (ts("2020-01-30T15:00:00Z"), ts("2020-01-30T16:00:00Z")));
        let h8 = BarSize::parse("8 hours").unwrap();
        assert_eq!(h8.bar_start(t), ts("2020-01-30T08:00:00Z"));
        let day = BarSize::parse("1 day").unwrap();
        assert_eq!(day.bar_start(t), ts("2020-01-30T00:00:00Z"));
        let week = BarSize::parse("1 week").unwrap();
        // 2020-01-30 is a Thursday; its week starts Monday 2020-01-27.
        assert_eq!(week.bar_start(t), ts("2020-01-27T00:00:00Z"));
        // A Monday at midnight starts its own week; one ns earlier belongs to the previous one.
        let monday = ts("2020-02-03T00:00:00Z");
        assert_eq!(week.bar_bounds(monday), (monday, ts("2020-02-10T00:00:00Z")));
        assert_eq!(week.bar_start(monday - 1), ts("2020-01-27T00:00:00Z"));
        // The epoch (a Thursday) lies in the week of Monday 1969-12-29; before-epoch times too.
        assert_eq!(week.bar_start(0), ts("1969-12-29T00:00:00Z"));
        assert_eq!(week.bar_start(ts("1969-12-28T23:59:59Z")), ts("1969-12-22T00:00:00Z"));
        assert_eq!(hour.bar_start(-1), -3600 * NS_PER_SEC);
        // Extremes do not panic.
        let _ = week.bar_bounds(i64::MIN);
        assert_eq!(week.bar_bounds(i64::MAX).1, i64::MAX);
    }

    #[test]
    fn ohlc_and_half_open_boundaries() {
        let mut agg = BarAggregator::new(&sizes(&["1 min"]));
        let mut out = Vec::new();
        let mut emit = |i: usize, b: &Bar| out.push((i, *b));
        let t0 = ts("2020-01-30T15:28:00Z");
        agg.on_tick(t0 + 5, 100, &mut emit);
        agg.on_tick(t0 + 10 * NS_PER_SEC, 104, &mut emit);
        agg.on_tick(t0 + 20 * NS_PER_SEC, 97, &mut emit);
        agg.on_tick(t0 + MIN - 1, 101, &mut emit); // last ns of the bar
        assert_eq!(agg.current(0), Some(&Bar { start_ns: t0, end_ns: t0 + MIN, open: 100, high: 104, low: 97, close: 101, ticks: 4 }));
        agg.on_tick(t0 + MIN, 110, &mut emit); // exactly at the boundary: closes, then opens the next
        let bar = Bar { start_ns: t0, end_ns: t0 + MIN, open: 100, high: 104, low: 97, close: 101, ticks: 4 };
        assert_eq!(out, vec![(0, bar)]);
        assert_eq!(agg.last_closed(0), Some(&bar));
        assert_eq!(agg.current(0), Some(&Bar::open_with(t0 + MIN, t0 + 2 * MIN, 110)));
        // 0.67067/0.67070 at precision 5 -> mid_x2 134137 -> 0.670685.
        assert_eq!(x2_to_f64(134_137, 5), 0.670685);
        assert_eq!(Bar::open_with(0, 1, 134_137).close_f64(5), 0.670685);
        assert_eq!(agg.current(1), None);
        assert_eq!(agg.last_closed(7), None);
    }

    #[test]
    fn advance_time_closes_without_a_tick_and_gaps_make_no_bars() {
        let mut agg = BarAggregator::new(&sizes(&["1 min"]));
        let mut out = Vec::new();
        let t0 = ts("2020-01-30T15:28:00Z");
        agg.on_tick(t0 + NS_PER_SEC, 50, &mut |i, b| out.push((i, *b)));
        agg.advance_time(t0 + MIN - 1, &mut |i, b| out.push((i, *b)));
        assert!(out.is_empty());
        agg.advance_time(t0 + MIN, &mut |i, b| out.push((i, *b)));
        assert_eq!(out, vec![(0, Bar::open_with(t0, t0 + MIN, 50))]);
        assert_eq!(agg.current(0), None);
        // Nothing more is emitted while no ticks arrive, however much time passes.
        agg.advance_time(t0 + 10 * MIN, &mut |i, b| out.push((i, *b)));
        assert_eq!(out.len(), 1);
        // A later tick opens the bar containing it; the empty minutes in between produce nothing.
        agg.on_tick(t0 + 10 * MIN + 3, 60, &mut |i, b| out.push((i, *b)));
        assert_eq!(agg.current(0).map(|b| b.start_ns), Some(t0 + 10 * MIN));
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn late_ticks_never_reopen_a_closed_interval() {
        let mut agg = BarAggregator::new(&sizes(&["1 min"]));
        let mut out = Vec::new();
        let t0 = ts("2020-01-30T15:28:00Z");
        agg.on_tick(t0, 10, &mut |i, b| out.push((i, *b)));
        agg.advance_time(t0 + MIN + 5, &mut |i, b| out.push((i, *b)));
        // Stamped inside the closed bar, it lands in the bar open at the time already reached.
        agg.on_tick(t0 + 30 * NS_PER_SEC, 12, &mut |i, b| out.push((i, *b)));
        assert_eq!(out.len(), 1);
        assert_eq!(agg.current(0), Some(&Bar::open_with(t0 + MIN, t0 + 2 * MIN, 12)));
        assert_eq!(agg.now_ns(), t0 + MIN + 5);
    }

    #[test]
    fn several_sizes_emit_by_index_and_weeks_start_on_monday() {
        let mut agg = BarAggregator::new(&sizes(&["1 week", "1 min", "5 mins", "1 hour"]));
        assert_eq!(agg.len(), 4);
        let mut out = Vec::new();
        let monday = ts("2020-02-03T00:00:00Z");
        // Friday close of the previous week, then the Monday open.
        agg.on_tick(ts("2020-01-31T21:59:00Z"), 100, &mut |i, b| out.push((i, *b)));
        agg.on_tick(ts("2020-01-31T21:59:30Z"), 90, &mut |i, b| out.push((i, *b)));
        agg.on_tick(monday, 95, &mut |i, b| out.push((i, *b)));
        let idx: Vec<usize> = out.iter().map(|(i, _)| *i).collect();
        assert_eq!(idx, vec![0, 1, 2, 3]);
        let week = out[0].1;
        assert_eq!((week.start_ns, week.end_ns), (ts("2020-01-27T00:00:00Z"), monday));
        assert_eq!((week.open, week.high, week.low, week.close, week.ticks), (100, 100, 90, 90, 2));
        assert_eq!(out[1].1.start_ns, ts("2020-01-31T21:59:00Z"));
        assert_eq!(out[2].1.start_ns, ts("2020-01-31T21:55:00Z"));
        assert_eq!(out[3].1.start_ns, ts("2020-01-31T21:00:00Z"));
        for i in 0..4 {
            assert_eq!(agg.current(i).map(|b| (b.start_ns, b.open)), Some((monday, 95)));
        }
        // Only the 1-minute bar closes one minute later; then the 5-minute one too.
        out.clear();
        agg.on_tick(monday + MIN, 96, &mut |i, b| out.push((i, *b)));
        assert_eq!(out.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![1]);
        agg.advance_time(monday + 5 * MIN, &mut |i, b| out.push((i, *b)));
        assert_eq!(out.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![1, 1, 2]);
        assert_eq!(out[2].1, Bar { start_ns: monday, end_ns: monday + 5 * MIN, open: 95, high: 96, low: 95, close: 96, ticks: 2 });
        agg.reset();
        assert_eq!(agg.current(0), None);
        assert_eq!(agg.last_closed(2), None);
    }
}
