//! pinion-models: TorchScript policies through `tch` (libtorch), behind `pinion_core::policy::Policy`.
//!
//! - [`meta`]: a model's metadata (capacity, window, features, kind), read from the archive's
//!   `extra/meta.json`, from `@torch.jit.export` methods, or from a sidecar `NAME.json`.
//! - [`registry`]: the model directory behind `GET /models` (scan, introspect once, cache).
//! - [`policy`]: [`TorchPolicy`], the inference side used on the decision path.
//! - [`example`]: builds a small deterministic example policy (tests, benches, demos).
//!
//! The model contract is described in `models/README.md`.

#![warn(missing_docs)]

pub mod error;
pub mod example;
pub mod meta;
pub mod policy;
pub mod registry;

pub use error::ModelError;
pub use example::{build_example, EXAMPLE_LOOKBACK_WINDOW, EXAMPLE_MAX_SYMBOLS, EXAMPLE_N_FEATURES, FEATURE_SET_V1};
pub use meta::{MetaSource, ModelKind, ModelMeta};
pub use policy::TorchPolicy;
pub use registry::{ModelInfo, ModelRegistry};

/// `"cuda"` when libtorch sees a CUDA device, else `"cpu"` (as reported by `GET /models`).
/// Policies themselves always run on the CPU.
pub fn inference_device_name() -> &'static str {
    static DEVICE: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    DEVICE.get_or_init(|| if tch::Cuda::is_available() { "cuda" } else { "cpu" })
}
