//! Bakes the libtorch library directory into the rpath of the `pinion` binary and its tests.
include!("models/rpath.rs");
