//! A writer of the Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE` once per
//! family, then its samples, label values escaped, histograms as cumulative `_bucket{le=...}` series
//! (ending at `+Inf`) with `_sum` and `_count`. Latencies are recorded in nanoseconds and exported in
//! seconds (the base unit). Written by hand: the format is a few lines of rules, and a client crate
//! would bring its own registry and locks.

use pinion_core::telemetry::HistSnapshot;
use std::fmt::Write;

/// The `Content-Type` of an exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the exported histogram buckets (`le`), in seconds as written and in ns: 100 ns to
/// 10 s, 1-2.5-5 per decade, so hops (sub-µs) and HTTP or fsync times (ms) share one layout.
pub const LATENCY_BOUNDS: [(&str, u64); 25] = [
    ("1e-07", 100),
    ("2.5e-07", 250),
    ("5e-07", 500),
    ("1e-06", 1_000),
    ("2.5e-06", 2_500),
    ("5e-06", 5_000),
    ("1e-05", 10_000),
    ("2.5e-05", 25_000),
    ("5e-05", 50_000),
    ("0.0001", 100_000),
    ("0.00025", 250_000),
    ("0.0005", 500_000),
    ("0.001", 1_000_000),
    ("0.0025", 2_500_000),
    ("0.005", 5_000_000),
    ("0.01", 10_000_000),
    ("0.025", 25_000_000),
    ("0.05", 50_000_000),
    ("0.1", 100_000_000),
    ("0.25", 250_000_000),
    ("0.5", 500_000_000),
    ("1", 1_000_000_000),
    ("2.5", 2_500_000_000),
    ("5", 5_000_000_000),
    ("10", 10_000_000_000),
];

/// The kind of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only ever rises (resets with the process); name ends in `_total`.
    Counter,
    /// Any value at the time of the scrape.
    Gauge,
    /// Cumulative buckets with `_sum` and `_count`.
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Label pairs of one sample.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

/// An exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Exposition {
        Exposition { out: String::with_capacity(32 * 1024) }
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines. Its samples must follow before the next one.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {}", kind.name());
    }

    /// One sample line.
    pub fn sample(&mut self, name: &str, labels: Labels, value: f64) {
        self.out.push_str(name);
        self.labels(labels, None);
        self.out.push(' ');
        self.value(value);
        self.out.push('\n');
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// The `_bucket`, `_sum` and `_count` lines of one histogram series (after its family's header),
    /// from a snapshot in nanoseconds.
    pub fn histogram(&mut self, name: &str, labels: Labels, snap: &HistSnapshot) {
        let bounds: Vec<u64> = LATENCY_BOUNDS.iter().map(|(_, ns)| *ns).collect();
        let cumulative = snap.cumulative(&bounds);
        let count = snap.count();
        let bucket = format!("{name}_bucket");
        for ((le, _), c) in LATENCY_BOUNDS.iter().zip(cumulative) {
            self.out.push_str(&bucket);
            self.labels(labels, Some(le));
            let _ = writeln!(self.out, " {c}");
        }
        self.out.push_str(&bucket);
        self.labels(labels, Some("+Inf"));
        let _ = writeln!(self.out, " {count}");
        self.sample(&format!("{name}_sum"), labels, snap.sum_ns as f64 / 1e9);
        self.sample(&format!("{name}_count"), labels, count as f64);
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }

    fn labels(&mut self, labels: Labels, le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
            if !first {
                self.out.push(',');
            }
            first = false;
            self.out.push_str(k);
            self.out.push_str("=\"");
            for ch in v.chars() {
                match ch {
                    '\\' => self.out.push_str("\\\\"),
                    '"' => self.out.push_str("\\\""),
                    '\n' => self.out.push_str("\\n"),
                    c => self.out.push(c),
                }
            }
            self.out.push('"');
        }
        self.out.push('}');
    }

    fn value(&mut self, v: f64) {
        if v.is_nan() {
            self.out.push_str("NaN");
        } else if v.is_infinite() {
            self.out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            let _ = write!(self.out, "{v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinion_core::telemetry::Histogram;

    #[test]
    fn families_samples_escapes_and_histograms() {
        let mut e = Exposition::new();
        e.single("pinion_fills_total", Kind::Counter, "Fills.\nAll of them", 3.0);
        e.family("pinion_x", Kind::Gauge, "X");
        e.sample("pinion_x", &[("a", "q\"b\\c\nd"), ("b", "2")], 0.5);
        e.sample("pinion_x", &[], f64::INFINITY);
        let h = Histogram::new();
        h.record(80);
        h.record(2_000_000);
        e.family("pinion_h_seconds", Kind::Histogram, "H");
        e.histogram("pinion_h_seconds", &[("hop", "x")], &h.snapshot());
        let text = e.finish();
        assert!(
            text.starts_with("# HELP pinion_fills_total Fills.\\nAll of them\n# TYPE pinion_fills_total counter\npinion_fills_total 3\n")
        );
        assert!(text.contains("pinion_x{a=\"q\\\"b\\\\c\\nd\",b=\"2\"} 0.5\n"), "{text}");
        assert!(text.contains("pinion_x +Inf\n"));
        assert!(text.contains("pinion_h_seconds_bucket{hop=\"x\",le=\"1e-07\"} 1\n"), "{text}");
        assert!(text.contains("pinion_h_seconds_bucket{hop=\"x\",le=\"0.001\"} 1\n"), "{text}");
        assert!(text.contains("pinion_h_seconds_bucket{hop=\"x\",le=\"0.0025\"} 2\n"), "{text}");
        assert!(text.contains("pinion_h_seconds_bucket{hop=\"x\",le=\"+Inf\"} 2\n"));
        assert!(text.contains("pinion_h_seconds_sum{hop=\"x\"} 0.0020000"), "{text}");
        assert!(text.contains("pinion_h_seconds_count{hop=\"x\"} 2\n"));
        for (le, ns) in LATENCY_BOUNDS {
            assert_eq!((le.parse::<f64>().unwrap() * 1e9).round() as u64, ns, "{le}");
        }
    }
}
