//! Bakes the libtorch library directory into the rpath of the benchmarks.
include!("../models/rpath.rs");
