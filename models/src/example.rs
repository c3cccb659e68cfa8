//! A small deterministic example policy following the model contract, for tests, benches and demos.
//!
//! Per symbol: flatten the `[lookback_window, n_features]` window -> Linear(lookback*n_features, 32)
//! -> tanh -> Linear(32, 1) -> tanh, times the mask. Weights are a fixed function of their position
//! (not libtorch's global RNG, which other threads may be using), so two builds with the same
//! arguments give the same model (and the same actions).

use crate::error::{short_torch_error, ModelError};
use crate::meta::{sidecar_path, MetaSource, ModelKind, ModelMeta};
use std::path::Path;
use tch::nn::{self, Module};
use tch::{CModule, Device, Kind, Tensor};

/// Slots of the example policy.
pub const EXAMPLE_MAX_SYMBOLS: usize = 20;
/// Bars per slot of the example policy's observation.
pub const EXAMPLE_LOOKBACK_WINDOW: usize = 32;
/// Features per bar of the example policy (the `pinion_v1` count).
pub const EXAMPLE_N_FEATURES: usize = 6;
/// The engine's first feature set (the features `pinion` computes per bar).
pub const FEATURE_SET_V1: &str = "pinion_v1";
/// Hidden width of the example network.
pub const EXAMPLE_HIDDEN: i64 = 32;
/// Seed of the example's weights (the phase of the function that sets them).
pub const EXAMPLE_SEED: i64 = 20_240_617;

/// Sets `t` to `sin(seed + salt + 0.7312 * i) / sqrt(fan_in)` over its flat index `i`: spread like a
/// uniform init, the same on every build, whatever else uses libtorch's RNG meanwhile.
fn fill_fixed(t: &mut Tensor, salt: f64, fan_in: i64) {
    let n = t.numel() as i64;
    let values = (Tensor::arange(n, (Kind::Double, Device::Cpu)) * 0.7312 + (EXAMPLE_SEED as f64 + salt)).sin() / (fan_in as f64).sqrt();
    let shaped = values.to_kind(Kind::Float).reshape(t.size());
    tch::no_grad(|| t.copy_(&shaped));
}

/// Builds the example policy, traces it as TorchScript taking `(obs, mask)`, saves it at `path`, and
/// writes the sidecar `NAME.json` (tracing cannot add extra files to the archive). Returns the
/// metadata written.
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
    let mut vs = nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let mut l1 = nn::linear(&root / "l1", l * f, EXAMPLE_HIDDEN, Default::default());
    let mut l2 = nn::linear(&root / "l2", EXAMPLE_HIDDEN, 1, Default::default());
    fill_fixed(&mut l1.ws, 0.0, l * f);
    fill_fixed(&mut l2.ws, 1.0, EXAMPLE_HIDDEN);
    for (b, salt) in [(&mut l1.bs, 2.0), (&mut l2.bs, 3.0)] {
        if let Some(b) = b.as_mut() {
            fill_fixed(b, salt, EXAMPLE_HIDDEN);
        }
    }
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
