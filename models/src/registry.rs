//! The model directory behind `GET /models`: scans `*.pt`, `*.pth` and `*.ts` files, introspects each
//! on first request and caches the result by (path, mtime, size) of the model and of its sidecar.
//! Files that fail (corrupt, not TorchScript, no metadata) are listed with `error` set, not hidden.
//! I/O side only (it loads modules): never call it from the tick path.

use crate::meta::{introspect, sidecar_path, ModelKind};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Model file extensions the registry lists (compared case-insensitively).
pub const MODEL_EXTENSIONS: [&str; 3] = ["pt", "pth", "ts"];

/// One row of `GET /models`. Metadata fields are `null` when the model could not be introspected,
/// in which case `error` says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ModelInfo {
    /// File stem (`sac` for `sac.pt`).
    pub name: String,
    /// The model file's path.
    pub path: String,
    /// Slots per observation, when introspected.
    pub max_symbols: Option<usize>,
    /// Bars per symbol, when introspected.
    pub lookback_window: Option<usize>,
    /// Features per bar, when introspected.
    pub n_features: Option<usize>,
    /// The feature set the model expects, when introspected.
    pub feature_set: Option<String>,
    /// Model family, when introspected.
    #[serde(rename = "type")]
    pub kind: Option<ModelKind>,
    /// `"cuda"` when libtorch sees a CUDA device, else `"cpu"`.
    pub device: &'static str,
    /// Why the model could not be introspected (absent when it could).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a cached entry was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    model: (Option<SystemTime>, u64),
    sidecar: Option<(Option<SystemTime>, u64)>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    let sidecar = std::fs::metadata(sidecar_path(path)).ok().map(|s| (s.modified().ok(), s.len()));
    Some(Stamp { model: (m.modified().ok(), m.len()), sidecar })
}

/// The model directory and a cache of what each model file declares.
///
/// Shared by the HTTP I/O threads (the cache sits behind a `Mutex`); it loads modules to introspect
/// them, so it is never used on the tick path.
pub struct ModelRegistry {
    dir: PathBuf,
    cache: Mutex<HashMap<PathBuf, (Stamp, ModelInfo)>>,
}

impl ModelRegistry {
    /// A registry over `dir`; nothing is scanned until the first request.
    pub fn new(dir: impl Into<PathBuf>) -> ModelRegistry {
        ModelRegistry { dir: dir.into(), cache: Mutex::new(HashMap::new()) }
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The models in the directory, sorted by name then path. With `min_symbols`, only models whose
    /// `max_symbols` is known and at least `min_symbols` (failed models are then left out too).
    /// A missing or unreadable directory lists nothing (and logs a warning).
    pub fn list(&self, min_symbols: Option<usize>) -> Vec<ModelInfo> {
        let files = match self.scan() {
            Ok(f) => f,
            Err(e) => {
                log::warn!("models: cannot read {}: {e}", self.dir.display());
                Vec::new()
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|p, _| files.contains(p));
        let mut out: Vec<ModelInfo> = files
            .iter()
            .map(|p| Self::cached_info(&mut cache, p))
            .filter(|i| match min_symbols {
                None => true,
                Some(n) => i.max_symbols.is_some_and(|m| m >= n),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.path.cmp(&b.path)));
        out
    }

    /// The (cached) introspection of one model file, inside the directory or not (e.g. a session's
    /// `model_path`). A missing file gives an entry with `error` set.
    pub fn inspect(&self, path: impl AsRef<Path>) -> ModelInfo {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        Self::cached_info(&mut cache, path.as_ref())
    }

    fn scan(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let is_model =
                path.extension().and_then(|e| e.to_str()).is_some_and(|e| MODEL_EXTENSIONS.iter().any(|m| e.eq_ignore_ascii_case(m)));
            if is_model && path.is_file() {
                files.push(path);
            }
        }
        Ok(files)
    }

    fn cached_info(cache: &mut HashMap<PathBuf, (Stamp, ModelInfo)>, path: &Path) -> ModelInfo {
        let Some(st) = stamp(path) else {
            cache.remove(path);
            return info_for(path, Err(format!("{}: no such file", path.display())));
        };
        if let Some((cached, info)) = cache.get(path) {
            if *cached == st {
                return info.clone();
            }
        }
        let result = introspect(path).map_err(|e| e.to_string());
        if let Err(e) = &result {
            log::warn!("models: {e}");
        }
        let info = info_for(path, result);
        cache.insert(path.to_path_buf(), (st, info.clone()));
        info
    }
}

fn info_for(path: &Path, meta: Result<crate::meta::ModelMeta, String>) -> ModelInfo {
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut info = ModelInfo {
        name,
        path: path.display().to_string(),
        max_symbols: None,
        lookback_window: None,
        n_features: None,
        feature_set: None,
        kind: None,
        device: crate::inference_device_name(),
        error: None,
    };
    match meta {
        Ok(m) => {
            info.max_symbols = Some(m.max_symbols);
            info.lookback_window = Some(m.lookback_window);
            info.n_features = Some(m.n_features);
            info.feature_set = Some(m.feature_set);
            info.kind = Some(m.kind);
        }
        Err(e) => info.error = Some(e),
    }
    info
}
