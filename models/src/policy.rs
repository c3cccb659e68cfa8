//! [`TorchPolicy`]: a TorchScript module behind `pinion_core::policy::Policy`.
//!
//! What a `decide` call costs, allocation-wise:
//! - the observation and mask are copied into tensors preallocated at load (plain `memcpy` through the
//!   tensors' data pointers: no allocation, no tensor handle created);
//! - `tch::CModule::forward_ts` builds a `Vec` of one or two raw tensor handles (one small heap
//!   allocation), and libtorch allocates the output tensor and the interpreter's intermediates (the
//!   CPU allocator has no caching: these are malloc/free per call);
//! - the actions are copied out with one `memcpy` (`at_copy_data`; the output is already contiguous
//!   float32 for conforming models; a model returning another dtype costs one conversion per call).
//!
//! Threads: libtorch runs with one intra-op thread (`tch::set_num_threads(1)`, process-wide; applied
//! again, once, on each thread that calls `decide`, since OpenMP keeps the setting per thread).
//!
//! Modules must not resize their inputs in place (the preallocated buffers are written through their
//! data pointers; in-place *value* changes are harmless since every call rewrites them).

use crate::error::{short_torch_error, ModelError};
use crate::meta::{load_with_meta, ModelMeta};
use pinion_core::policy::{Policy, PolicyError, PolicyShape};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use tch::{CModule, Device, Kind, Tensor};

/// Forward passes run at load, after the signature probe, so first real decisions are not cold.
pub const WARMUP_PASSES: usize = 3;

/// A loaded TorchScript policy: the module, its metadata and preallocated CPU input tensors.
///
/// Built by [`TorchPolicy::load`] on an I/O thread (session start, or snapshot restore), then moved as a
/// `Box<dyn Policy>` into the model session, which the engine owns on the pinned core thread; from then
/// on only that thread calls [`Policy::decide`], through `&mut self`. It is `Send` but deliberately
/// offers no shared access: the input tensors are written in place through their data pointers.
///
/// Invariants: the observation tensor is `[1, max_symbols, lookback_window, n_features]` and the mask
/// `[1, max_symbols]`, both contiguous CPU float32 of exactly the shape in [`meta`](Self::meta),
/// allocated once at load and never resized; `forward` was probed at load (with or without the mask)
/// and returns `max_symbols` values; actions come back clamped to [-1, 1], 0 for masked-out slots.
/// Inference runs on one libtorch intra-op thread.
pub struct TorchPolicy {
    module: CModule,
    meta: ModelMeta,
    shape: PolicyShape,
    path: PathBuf,
    /// `[1, max_symbols, lookback_window, n_features]` float32, contiguous, CPU.
    obs: Tensor,
    /// `[1, max_symbols]` float32, contiguous, CPU.
    mask: Tensor,
    /// Whether `forward` takes `(obs, mask)` (else `(obs)` only); found at load.
    takes_mask: bool,
}

impl std::fmt::Debug for TorchPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorchPolicy")
            .field("path", &self.path)
            .field("meta", &self.meta)
            .field("takes_mask", &self.takes_mask)
            .finish_non_exhaustive()
    }
}

thread_local! {
    static ONE_THREAD_SET: Cell<bool> = const { Cell::new(false) };
}

fn ensure_one_intra_op_thread() {
    ONE_THREAD_SET.with(|set| {
        if !set.get() {
            tch::set_num_threads(1);
            set.set(true);
        }
    });
}

impl TorchPolicy {
    /// Loads the module at `path` on the CPU with its metadata (see [`crate::meta`]), preallocates the
    /// input tensors, finds out whether `forward` takes `(obs, mask)` or `(obs)`, checks the output
    /// holds `max_symbols` values, and runs [`WARMUP_PASSES`] warm-up passes.
    pub fn load(path: impl AsRef<Path>) -> Result<TorchPolicy, ModelError> {
        let path = path.as_ref();
        let (mut module, meta) = load_with_meta(path)?;
        module.f_set_eval().map_err(|e| ModelError::Torch { path: path.into(), reason: format!("eval(): {}", short_torch_error(&e)) })?;
        tch::set_num_threads(1);
        ONE_THREAD_SET.with(|set| set.set(true));

        let shape = meta.shape();
        let opts = (Kind::Float, Device::Cpu);
        let obs = Tensor::zeros([1, shape.max_symbols as i64, shape.lookback_window as i64, shape.n_features as i64], opts);
        let mask = Tensor::ones([1, shape.max_symbols as i64], opts);

        let _no_grad = tch::no_grad_guard();
        let (takes_mask, out) = match module.forward_ts(&[&obs, &mask]) {
            Ok(out) => (true, out),
            Err(e2) => match module.forward_ts(&[&obs]) {
                Ok(out) => (false, out),
                Err(e1) => {
                    return Err(ModelError::Contract {
                        path: path.into(),
                        reason: format!(
                            "forward(obs, mask) failed: {}; forward(obs) failed: {}",
                            short_torch_error(&e2),
                            short_torch_error(&e1)
                        ),
                    })
                }
            },
        };
        let numel = out.numel();
        if numel != shape.max_symbols {
            return Err(ModelError::Contract {
                path: path.into(),
                reason: format!("forward returned shape {:?} ({numel} values), expected [1, {}]", out.size(), shape.max_symbols),
            });
        }
        if !out.is_floating_point() {
            return Err(ModelError::Contract { path: path.into(), reason: format!("forward returned {:?}, expected float32", out.kind()) });
        }
        drop(out);

        let mut policy = TorchPolicy { module, meta, shape, path: path.into(), obs, mask, takes_mask };
        let zeros_obs = vec![0.0f32; shape.observation_len()];
        let ones_mask = vec![1.0f32; shape.max_symbols];
        let mut actions = vec![0.0f32; shape.max_symbols];
        for _ in 0..WARMUP_PASSES {
            policy
                .decide(&zeros_obs, &ones_mask, &mut actions)
                .map_err(|e| ModelError::Contract { path: path.into(), reason: format!("warm-up: {e}") })?;
        }
        log::info!(
            "loaded policy {} ({} symbols x {} bars x {} features, {}, forward takes {})",
            path.display(),
            shape.max_symbols,
            shape.lookback_window,
            shape.n_features,
            policy.meta.kind,
            if takes_mask { "(obs, mask)" } else { "(obs)" }
        );
        Ok(policy)
    }

    /// The model's metadata.
    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    /// The file the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the module's `forward` takes the mask as a second input.
    pub fn takes_mask(&self) -> bool {
        self.takes_mask
    }
}

/// Copies `src` into `dst`'s storage.
///
/// Safety: `dst` is a contiguous CPU float32 tensor of exactly `src.len()` elements that nothing else
/// reads or writes during the call (it is owned by a `TorchPolicy` borrowed mutably, and libtorch
/// only touches it inside `forward`).
unsafe fn write_f32(dst: &Tensor, src: &[f32]) {
    let ptr = dst.data_ptr() as *mut f32;
    // SAFETY: per this function's contract `ptr` points at `src.len()` contiguous, writable f32s that
    // nobody else accesses during the call; `src` is a distinct Rust slice, so the ranges do not overlap.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), ptr, src.len()) };
}

impl Policy for TorchPolicy {
    fn source(&self) -> Option<String> {
        Some(self.path.to_string_lossy().into_owned())
    }

    fn shape(&self) -> PolicyShape {
        self.shape
    }

    fn decide(&mut self, observation: &[f32], mask: &[f32], actions: &mut [f32]) -> Result<(), PolicyError> {
        let expected = self.shape.observation_len();
        if observation.len() != expected {
            return Err(PolicyError::ShapeMismatch { expected, got: observation.len() });
        }
        let n = self.shape.max_symbols;
        if mask.len() != n {
            return Err(PolicyError::ShapeMismatch { expected: n, got: mask.len() });
        }
        if actions.len() != n {
            return Err(PolicyError::ShapeMismatch { expected: n, got: actions.len() });
        }
        ensure_one_intra_op_thread();
        // SAFETY: `obs` and `mask` were created at load as contiguous CPU float32 tensors of exactly
        // these lengths, are private to `self`, and `&mut self` excludes concurrent use.
        unsafe {
            write_f32(&self.obs, observation);
            write_f32(&self.mask, mask);
        }
        let _no_grad = tch::no_grad_guard();
        let out = if self.takes_mask { self.module.forward_ts(&[&self.obs, &self.mask]) } else { self.module.forward_ts(&[&self.obs]) }
            .map_err(|e| PolicyError::Inference(short_torch_error(&e)))?;
        let copied = if out.kind() == Kind::Float {
            out.f_copy_data(actions, n)
        } else {
            out.f_to_kind(Kind::Float).and_then(|o| o.f_copy_data(actions, n))
        };
        copied.map_err(|e| PolicyError::Inference(short_torch_error(&e)))?;
        let mut finite = true;
        for (a, &m) in actions.iter_mut().zip(mask) {
            // An empty slot never trades, whatever the model says about it.
            if m == 0.0 {
                *a = 0.0;
            } else if a.is_nan() {
                finite = false;
            } else {
                *a = a.clamp(-1.0, 1.0);
            }
        }
        if !finite {
            actions.fill(0.0);
            return Err(PolicyError::Inference("model returned NaN actions".into()));
        }
        Ok(())
    }
}
