//! The policy interface the core calls at decision points; `pinion-models` implements it with libtorch.
//! The core never links libtorch: it fills preallocated observation buffers and reads actions back.

use thiserror::Error;

/// The fixed tensor shape a policy was trained for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyShape {
    /// Most symbols (slots) one observation holds.
    pub max_symbols: usize,
    /// Bars per symbol in one observation, oldest first.
    pub lookback_window: usize,
    /// Features per bar.
    pub n_features: usize,
}

impl PolicyShape {
    /// Length of one observation buffer: `max_symbols * lookback_window * n_features` (batch of 1).
    pub fn observation_len(&self) -> usize {
        self.max_symbols * self.lookback_window * self.n_features
    }
}

/// Why a policy decision failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// A buffer of the wrong length was passed.
    #[error("observation has {got} values, the policy expects {expected}")]
    ShapeMismatch {
        /// The length the shape requires.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The inference runtime failed, or the model returned unusable output; the text says why.
    #[error("inference failed: {0}")]
    Inference(String),
}

/// A trained decision model: observation `[1, max_symbols, lookback_window, n_features]` (row-major,
/// float32) plus a `[1, max_symbols]` mask of active slots (1.0 active, 0.0 empty) in, actions
/// `[1, max_symbols]` in [-1, 1] (target exposure fraction per symbol) out.
pub trait Policy: Send {
    /// The tensor shape the policy was trained for.
    fn shape(&self) -> PolicyShape;
    /// Runs one decision. `observation.len() == shape().observation_len()`,
    /// `mask.len() == actions.len() == shape().max_symbols`. Must not allocate per call beyond what the
    /// inference runtime needs, and must be deterministic for the same inputs.
    fn decide(&mut self, observation: &[f32], mask: &[f32], actions: &mut [f32]) -> Result<(), PolicyError>;
    /// Where the policy was loaded from (a model file path), so a snapshot can load it again; None when it
    /// cannot be reloaded (a snapshot is then skipped).
    fn source(&self) -> Option<String> {
        None
    }
}
