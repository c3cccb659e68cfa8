//! Errors of this crate; every variant names the model file it is about.

use std::path::PathBuf;
use thiserror::Error;

/// Why a model could not be loaded, introspected or built.
#[derive(Debug, Error)]
pub enum ModelError {
    /// Reading the model file (or its sidecar) failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a loadable TorchScript archive (corrupt, a plain `torch.save` pickle, ...).
    #[error("{}: not a TorchScript module: {reason}", path.display())]
    NotTorchScript {
        /// The model file.
        path: PathBuf,
        /// libtorch's (shortened) error.
        reason: String,
    },
    /// Metadata missing from every source, or present but invalid.
    #[error("{}: metadata: {reason}", path.display())]
    Metadata {
        /// The model file.
        path: PathBuf,
        /// Which source was read and what is missing or invalid.
        reason: String,
    },
    /// The module loads but does not follow the contract (forward signature, output shape).
    #[error("{}: model contract: {reason}", path.display())]
    Contract {
        /// The model file.
        path: PathBuf,
        /// Which part of the contract is broken.
        reason: String,
    },
    /// libtorch failed on something else (tracing, saving).
    #[error("{}: libtorch: {reason}", path.display())]
    Torch {
        /// The model file.
        path: PathBuf,
        /// libtorch's (shortened) error.
        reason: String,
    },
}

impl ModelError {
    /// The model file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            ModelError::Io { path, .. }
            | ModelError::NotTorchScript { path, .. }
            | ModelError::Metadata { path, .. }
            | ModelError::Contract { path, .. }
            | ModelError::Torch { path, .. } => path,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io { path: path.into(), source }
    }

    pub(crate) fn meta(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ModelError::Metadata { path: path.into(), reason: reason.into() }
    }
}

/// libtorch error messages carry a C++ backtrace ("Exception raised from ...", frame lists); keep the
/// message proper, on one line.
pub(crate) fn short_torch_error(e: &tch::TchError) -> String {
    let s = e.to_string();
    let s = s.split("Exception raised from").next().unwrap_or(&s);
    let mut out = String::new();
    for line in s.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(line);
        if out.len() > 400 {
            let mut cut = 400;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("...");
            break;
        }
    }
    out
}
