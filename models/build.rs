//! Bakes the libtorch library directory into the rpath of this package's tests (see rpath.rs).
include!("rpath.rs");
