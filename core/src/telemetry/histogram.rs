//! A fixed-bucket, log-linear (HDR-style) latency histogram that one thread records into without
//! allocating, locking or making a system call, while any other thread reads it.
//!
//! Values are nanoseconds. Values below 32 have a bucket each; above, every power of two is split into
//! 16 equal buckets, so a bucket is at most 1/16 (6.25%) of its values wide, up to 2^41 ns (36 min;
//! larger values count in the last bucket). 608 buckets of one `AtomicU64` each, allocated once.
//! [`Histogram::record`] is for a single writer (a relaxed load and store per bucket, no locked
//! instruction): each histogram of the tick path has exactly one writing thread. Histograms written by
//! several threads (HTTP workers) use [`Histogram::record_shared`] (`fetch_add`). Readers take a
//! [`HistSnapshot`] and compute percentiles, windows and Prometheus buckets from it.

use std::sync::atomic::{AtomicU64, Ordering};

/// Linear buckets per power of two.
const SUB: u64 = 16;
/// Powers of two above the linear range: values up to 2^(MAX_SHIFT + 5) - 1 ns get their own bucket.
const MAX_SHIFT: u32 = 36;
/// Number of buckets.
pub const BUCKETS: usize = (SUB as usize) * (MAX_SHIFT as usize + 2);
/// Largest value with its own bucket (2^41 - 1 ns, about 36 minutes).
pub const MAX_VALUE: u64 = (1u64 << (MAX_SHIFT + 5)) - 1;

/// The bucket of `v` ns.
#[inline]
pub fn bucket_of(v: u64) -> usize {
    let v = v.min(MAX_VALUE);
    if v < 2 * SUB {
        return v as usize;
    }
    let shift = 63 - v.leading_zeros() - 4;
    (SUB as usize) * shift as usize + (v >> shift) as usize
}

/// The values of bucket `i`: `lo..hi` ns.
pub fn bucket_range(i: usize) -> (u64, u64) {
    let i = i.min(BUCKETS - 1) as u64;
    if i < 2 * SUB {
        return (i, i + 1);
    }
    let shift = i / SUB - 1;
    let m = i - SUB * shift;
    (m << shift, (m + 1) << shift)
}

/// The largest value bucket `i` holds (what a percentile that falls in it reports).
pub fn highest_equivalent(i: usize) -> u64 {
    bucket_range(i).1 - 1
}

/// 16 bucket counters on a line of their own (128 bytes: a cache line and its adjacent-line prefetch
/// partner), so that no other thread's writes share a line with a histogram's.
#[repr(align(128))]
struct Line([AtomicU64; SUB as usize]);

/// A latency histogram in nanoseconds (see the module comment).
pub struct Histogram {
    buckets: Box<[Line]>,
    sum: AtomicU64,
    max: AtomicU64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.snapshot();
        f.debug_struct("Histogram").field("count", &s.count()).field("sum_ns", &s.sum_ns).field("max_ns", &s.max_ns).finish()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram (allocates its buckets now, never later).
    pub fn new() -> Histogram {
        let buckets = (0..BUCKETS / SUB as usize).map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0)))).collect();
        Histogram { buckets, sum: AtomicU64::new(0), max: AtomicU64::new(0) }
    }

    #[inline]
    fn bucket(&self, i: usize) -> &AtomicU64 {
        &self.buckets[i / SUB as usize].0[i % SUB as usize]
    }

    /// Records `v` ns. Single writer: only one thread may call this on a given histogram (others only
    /// read); it uses plain relaxed loads and stores.
    #[inline]
    pub fn record(&self, v: u64) {
        let b = self.bucket(bucket_of(v));
        b.store(b.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.sum.store(self.sum.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
        if v > self.max.load(Ordering::Relaxed) {
            self.max.store(v, Ordering::Relaxed);
        }
    }

    /// Records `v` ns from any number of threads (atomic read-modify-writes).
    pub fn record_shared(&self, v: u64) {
        self.bucket(bucket_of(v)).fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
    }

    /// A copy of the counts (allocates; for readers).
    pub fn snapshot(&self) -> HistSnapshot {
        HistSnapshot {
            counts: self.buckets.iter().flat_map(|l| l.0.iter()).map(|b| b.load(Ordering::Relaxed)).collect(),
            sum_ns: self.sum.load(Ordering::Relaxed),
            max_ns: self.max.load(Ordering::Relaxed),
        }
    }
}

/// Counts of a [`Histogram`] at one moment (or the difference of two moments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistSnapshot {
    /// Count per bucket.
    pub counts: Vec<u64>,
    /// Sum of the recorded values, ns.
    pub sum_ns: u64,
    /// Largest value recorded (0 for a difference, where it is unknown).
    pub max_ns: u64,
}

impl Default for HistSnapshot {
    fn default() -> Self {
        HistSnapshot { counts: vec![0; BUCKETS], sum_ns: 0, max_ns: 0 }
    }
}

impl HistSnapshot {
    /// Number of values.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// What was recorded after `earlier` (a snapshot of the same histogram); `max_ns` is 0 (unknown).
    pub fn since(&self, earlier: &HistSnapshot) -> HistSnapshot {
        HistSnapshot {
            counts: self.counts.iter().zip(earlier.counts.iter().chain(std::iter::repeat(&0))).map(|(a, b)| a.saturating_sub(*b)).collect(),
            sum_ns: self.sum_ns.saturating_sub(earlier.sum_ns),
            max_ns: 0,
        }
    }

    /// The nearest-rank `q` quantile (0 < q <= 1), as the highest value of its bucket (capped at the
    /// maximum when known); None when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let v = highest_equivalent(i);
                return Some(if self.max_ns > 0 { v.min(self.max_ns) } else { v });
            }
        }
        None
    }

    /// Cumulative counts at each upper bound of `bounds_ns` (ascending): the values whose whole bucket
    /// lies at or below the bound. A bucket straddling a bound counts at the next bound (the error is
    /// within a bucket's width, at most 6.25%, and always towards slower).
    pub fn cumulative(&self, bounds_ns: &[u64]) -> Vec<u64> {
        let mut out = Vec::with_capacity(bounds_ns.len());
        let (mut i, mut acc) = (0, 0u64);
        for &bound in bounds_ns {
            while i < self.counts.len() && highest_equivalent(i) <= bound {
                acc += self.counts[i];
                i += 1;
            }
            out.push(acc);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range_with_bounded_width() {
        let mut expect_lo = 0;
        for i in 0..BUCKETS {
            let (lo, hi) = bucket_range(i);
            assert_eq!(lo, expect_lo, "bucket {i} starts where {} ends", i.saturating_sub(1));
            assert!(hi > lo);
            if lo >= 32 {
                assert!((hi - lo) * 16 <= lo, "bucket {i} ({lo}..{hi}) is wider than 1/16");
            }
            assert_eq!(bucket_of(lo), i);
            assert_eq!(bucket_of(hi - 1), i);
            expect_lo = hi;
        }
        assert_eq!(expect_lo, MAX_VALUE + 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_sums_and_prometheus_buckets() {
        let h = Histogram::new();
        for v in 1..=100u64 {
            h.record(v * 10); // 10 ns .. 1000 ns
        }
        h.record_shared(5_000);
        let s = h.snapshot();
        assert_eq!(s.count(), 101);
        assert_eq!(s.sum_ns, (1..=100u64).map(|v| v * 10).sum::<u64>() + 5_000);
        assert_eq!(s.max_ns, 5_000);
        let p50 = s.quantile(0.5).unwrap();
        assert!((500..=532).contains(&p50), "{p50}");
        let p99 = s.quantile(0.99).unwrap();
        assert!((1000..=1063).contains(&p99), "{p99}");
        assert_eq!(s.quantile(1.0), Some(5_000), "capped at the maximum");
        // 100 ns sits in the bucket 100..104 and 1000 ns in 992..1024: each counts at the next bound.
        let c = s.cumulative(&[9, 100, 1_000, 10_000, u64::MAX]);
        assert_eq!(c, vec![0, 9, 99, 101, 101]);
        assert!(c.windows(2).all(|w| w[0] <= w[1]));
        let later = {
            h.record(70);
            h.snapshot()
        };
        let d = later.since(&s);
        assert_eq!((d.count(), d.sum_ns, d.quantile(0.5)), (1, 70, Some(71)));
        assert_eq!(HistSnapshot::default().quantile(0.5), None);
    }
}
