//! pinion-bench: shared helpers for the criterion benchmarks in benches/.
