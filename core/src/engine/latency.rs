//! Records tick -> order-intent latencies into a preallocated buffer and reports percentiles.

use std::time::Duration;

/// Tick -> order-intent latencies in a buffer preallocated at creation; recording never allocates. Samples beyond the capacity are counted as dropped, not stored.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    samples_ns: Vec<u64>,
    dropped: u64,
}

/// Percentiles of a set of samples, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Percentiles {
    /// Number of samples.
    pub count: usize,
    /// Median, ns.
    pub p50: u64,
    /// 90th percentile, ns.
    pub p90: u64,
    /// 99th percentile, ns.
    pub p99: u64,
    /// 99.9th percentile, ns.
    pub p999: u64,
    /// Largest sample, ns.
    pub max: u64,
}

impl LatencyRecorder {
    /// A recorder with room for `capacity` samples.
    pub fn with_capacity(capacity: usize) -> LatencyRecorder {
        LatencyRecorder { samples_ns: Vec::with_capacity(capacity), dropped: 0 }
    }

    /// Stores a sample; once full, further samples are counted but not stored (never reallocates).
    #[inline]
    pub fn record(&mut self, d: Duration) {
        if self.samples_ns.len() < self.samples_ns.capacity() {
            self.samples_ns.push(d.as_nanos() as u64);
        } else {
            self.dropped += 1;
        }
    }

    /// Forgets every sample and the dropped count (keeps the buffer).
    pub fn clear(&mut self) {
        self.samples_ns.clear();
        self.dropped = 0;
    }

    /// Number of samples stored.
    pub fn len(&self) -> usize {
        self.samples_ns.len()
    }

    /// Whether no sample is stored.
    pub fn is_empty(&self) -> bool {
        self.samples_ns.is_empty()
    }

    /// The stored samples in nanoseconds, in recording order.
    pub fn samples(&self) -> &[u64] {
        &self.samples_ns
    }

    /// Nearest-rank percentiles of the stored samples (ns).
    pub fn percentiles(&self) -> Percentiles {
        percentiles(&self.samples_ns)
    }
}

/// Nearest-rank percentiles of `samples` (copied and sorted).
pub fn percentiles(samples: &[u64]) -> Percentiles {
    if samples.is_empty() {
        return Percentiles::default();
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let at = |p: f64| s[((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
    Percentiles { count: s.len(), p50: at(0.50), p90: at(0.90), p99: at(0.99), p999: at(0.999), max: s[s.len() - 1] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        let p = percentiles(&v);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50, 90, 99, 100));
    }
}
