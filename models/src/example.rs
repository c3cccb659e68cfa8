//! A small deterministic example policy following the model contract, for tests, benches and demos.
//!
//! Per symbol: flatten the `[lookback_window, n_features]` window -> Linear(lookback*n_features, 32)
//! -> tanh -> Linear(32, 1) -> tanh, times the mask. Weights come from a fixed seed, so two builds with
//! the same arguments give the same model (and the same actions).

use crate::error::{short_torch_error, ModelError};
use crate::meta::{sidecar_path, MetaSource, ModelKind, ModelMeta};
use std::path::Path;
use tch::nn::{self, Module};
use tch::{CModule, Device, Kind, Tensor};

pub const EXAMPLE_MAX_SYMBOLS: usize = 20;
pub const EXAMPLE_LOOKBACK_WINDOW: usize = 32;
pub const EXAMPLE_N_FEATURES: usize = 6;
/// The engine's first feature set (the features `pinion` computes per bar).
pub const FEATURE_SET_V1: &str = "pinion_v1";
/// Hidden width of the example network.
pub const EXAMPLE_HIDDEN: i64 = 32;
/// Seed of the example's weights.
pub const EXAMPLE_SEED: i64 = 20_240_617;

/// Builds the example policy, traces it as TorchScript taking `(obs, mask)`, saves it at `path`, and
/// writes the sidecar `NAME.json` (tracing cannot add extra files to the archive). Returns the
/// metadata written. Reseeds libtorch's global RNG (`tch::manual_seed`).
pub fn build_example(
    path: impl AsRef<Path>,
    max_symbols: usize,
    lookback_window: usize,
    n_features: usize,
) -> Result<ModelMeta, ModelError> {
    let path = path.as_ref();
    let meta = ModelMeta {
        max_symbols,
        lookback_window,
        n_features,
        feature_set: FEATURE_SET_V1.to_owned(),
        kind: ModelKind::Torch,
        source: MetaSource::Sidecar,
    };
    let meta = ModelMeta::from_json(meta.to_json().as_bytes(), MetaSource::Sidecar, path)?;
    let torch_err =
        |what: &str, e: tch::TchError| ModelError::Torch { path: path.into(), reason: format!("{what}: {}", short_torch_error(&e)) };

    let (s, l, f) = (max_symbols as i64, lookback_window as i64, n_features as i64);
    tch::manual_seed(EXAMPLE_SEED);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let l1 = nn::linear(&root / "l1", l * f, EXAMPLE_HIDDEN, Default::default());
    let l2 = nn::linear(&root / "l2", EXAMPLE_HIDDEN, 1, Default::default());
    vs.freeze();

    let opts = (Kind::Float, Device::Cpu);
    let obs = Tensor::zeros([1, s, l, f], opts);
    let mask = Tensor::ones([1, s], opts);
    let mut forward = |inputs: &[Tensor]| {
        let (obs, mask) = (&inputs[0], &inputs[1]);
        let x = obs.reshape([-1, s, l * f]);
        let h = l1.forward(&x).tanh();
        let a = l2.forward(&h).squeeze_dim(-1).tanh();
        vec![a * mask]
    };
    let module = tch::no_grad(|| CModule::create_by_tracing("PinionExamplePolicy", "forward", &[obs, mask], &mut forward))
        .map_err(|e| torch_err("tracing", e))?;
    module.save(path).map_err(|e| torch_err("saving", e))?;
    let side = sidecar_path(path);
    std::fs::write(&side, meta.to_json() + "\n").map_err(|e| ModelError::io(&side, e))?;
    Ok(meta)
}
