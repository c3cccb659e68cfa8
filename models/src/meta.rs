//! Model metadata: what a policy was trained for.
//!
//! Read, first found wins, from:
//! 1. the archive's `extra/meta.json` (zip entry `<archive_name>/extra/meta.json`, written by
//!    `torch.jit.save(m, path, _extra_files={"meta.json": ...})`);
//! 2. `@torch.jit.export` methods on the module: `max_symbols()`, `lookback_window()`, `n_features()`,
//!    `feature_set()` and optionally `model_type()`;
//! 3. a sidecar `NAME.json` next to `NAME.pt`.
//!
//! JSON form (sources 1 and 3): `{"max_symbols": 20, "lookback_window": 32, "n_features": 6,
//! "feature_set": "pinion_v1", "type": "Torch"}`; `type` (alias `model_type`) is `"SAC"` or `"Torch"`
//! (any case) and defaults to `"Torch"`; other keys are ignored. A source that is present but invalid is
//! an error (no fall-through to the next source), so a typo never silently picks stale metadata.

use crate::error::{short_torch_error, ModelError};
use pinion_core::policy::PolicyShape;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};
use tch::jit::IValue;
use tch::CModule;

/// Largest observation (elements) a model may declare: guards preallocation against absurd metadata.
pub const MAX_OBSERVATION_LEN: usize = 1 << 26;
/// Largest `meta.json` read from an archive or a sidecar.
const MAX_META_BYTES: u64 = 1 << 20;

/// Family of a model, reported by `GET /models` as `type` (`"SAC"` or `"Torch"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ModelKind {
    /// A Stable-Baselines3 SAC actor exported to the contract.
    #[serde(rename = "SAC")]
    Sac,
    /// Any other TorchScript policy.
    Torch,
}

impl ModelKind {
    /// `"SAC"` or `"Torch"`, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Sac => "SAC",
            ModelKind::Torch => "Torch",
        }
    }

    /// Case-insensitive `"SAC"` / `"Torch"`.
    pub fn parse(s: &str) -> Option<ModelKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sac" => Some(ModelKind::Sac),
            "torch" => Some(ModelKind::Torch),
            _ => None,
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a model's metadata was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaSource {
    /// The archive's `extra/meta.json`.
    ExtraFile,
    /// `@torch.jit.export` methods on the module.
    Methods,
    /// A sidecar `NAME.json` next to the model file.
    Sidecar,
}

/// What a policy was trained for: its tensor shape, feature set and family, and where this was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelMeta {
    /// Slots (symbols) per observation.
    pub max_symbols: usize,
    /// Bars per symbol in an observation.
    pub lookback_window: usize,
    /// Features per bar.
    pub n_features: usize,
    /// Name of the feature set the model expects (e.g. `pinion_v1`).
    pub feature_set: String,
    /// Model family.
    pub kind: ModelKind,
    /// Where the metadata was found.
    pub source: MetaSource,
}

/// The JSON form of the metadata (archive `extra/meta.json` and sidecar).
#[derive(Debug, Serialize, Deserialize)]
struct MetaJson {
    max_symbols: usize,
    lookback_window: usize,
    n_features: usize,
    feature_set: String,
    #[serde(rename = "type", alias = "model_type", default)]
    kind: Option<String>,
}

impl ModelMeta {
    /// The shape the core's session sizes its buffers from.
    pub fn shape(&self) -> PolicyShape {
        PolicyShape { max_symbols: self.max_symbols, lookback_window: self.lookback_window, n_features: self.n_features }
    }

    /// The JSON form, as written to a sidecar or an archive's `extra/meta.json`.
    pub fn to_json(&self) -> String {
        let j = MetaJson {
            max_symbols: self.max_symbols,
            lookback_window: self.lookback_window,
            n_features: self.n_features,
            feature_set: self.feature_set.clone(),
            kind: Some(self.kind.as_str().to_owned()),
        };
        serde_json::to_string_pretty(&j).expect("metadata serializes")
    }

    /// Parses and validates the JSON form. `path` only names the model in errors.
    pub fn from_json(json: &[u8], source: MetaSource, path: &Path) -> Result<ModelMeta, ModelError> {
        let what = source_name(source);
        let j: MetaJson = serde_json::from_slice(json).map_err(|e| ModelError::meta(path, format!("{what}: {e}")))?;
        let kind = match j.kind.as_deref() {
            None => ModelKind::Torch,
            Some(k) => {
                ModelKind::parse(k).ok_or_else(|| ModelError::meta(path, format!("{what}: type {k:?} is neither \"SAC\" nor \"Torch\"")))?
            }
        };
        ModelMeta {
            max_symbols: j.max_symbols,
            lookback_window: j.lookback_window,
            n_features: j.n_features,
            feature_set: j.feature_set,
            kind,
            source,
        }
        .validated(path)
    }

    fn validated(self, path: &Path) -> Result<ModelMeta, ModelError> {
        let what = source_name(self.source);
        if self.max_symbols == 0 || self.lookback_window == 0 || self.n_features == 0 {
            return Err(ModelError::meta(
                path,
                format!(
                    "{what}: max_symbols, lookback_window and n_features must be positive (got {}, {}, {})",
                    self.max_symbols, self.lookback_window, self.n_features
                ),
            ));
        }
        let len = self.max_symbols.checked_mul(self.lookback_window).and_then(|x| x.checked_mul(self.n_features));
        if len.is_none_or(|l| l > MAX_OBSERVATION_LEN) {
            return Err(ModelError::meta(path, format!("{what}: observation larger than {MAX_OBSERVATION_LEN} values")));
        }
        if self.feature_set.trim().is_empty() {
            return Err(ModelError::meta(path, format!("{what}: empty feature_set")));
        }
        Ok(self)
    }
}

fn source_name(source: MetaSource) -> &'static str {
    match source {
        MetaSource::ExtraFile => "extra/meta.json",
        MetaSource::Methods => "exported methods",
        MetaSource::Sidecar => "sidecar json",
    }
}

/// `dir/NAME.json` for `dir/NAME.pt` (any extension).
pub fn sidecar_path(model: &Path) -> PathBuf {
    model.with_extension("json")
}

/// Source 1: `<archive_name>/extra/meta.json` inside the TorchScript zip.
/// `Ok(None)` when the archive has no such entry; `NotTorchScript` when the file is not a zip at all.
pub fn read_extra_meta(path: &Path) -> Result<Option<ModelMeta>, ModelError> {
    let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| ModelError::NotTorchScript { path: path.into(), reason: format!("not a zip archive ({e})") })?;
    let Some(name) = zip.file_names().find(|n| is_extra_meta_entry(n)).map(str::to_owned) else {
        return Ok(None);
    };
    let entry = zip.by_name(&name).map_err(|e| ModelError::meta(path, format!("extra/meta.json: {e}")))?;
    let mut buf = Vec::new();
    entry.take(MAX_META_BYTES + 1).read_to_end(&mut buf).map_err(|e| ModelError::meta(path, format!("extra/meta.json: {e}")))?;
    if buf.len() as u64 > MAX_META_BYTES {
        return Err(ModelError::meta(path, "extra/meta.json: larger than 1 MiB"));
    }
    ModelMeta::from_json(&buf, MetaSource::ExtraFile, path).map(Some)
}

/// `<archive_name>/extra/meta.json`, the archive name being the single top-level folder.
fn is_extra_meta_entry(name: &str) -> bool {
    let mut parts = name.split('/');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(a), Some("extra"), Some("meta.json"), None) if !a.is_empty()
    )
}

/// Source 2: `@torch.jit.export` methods. `Ok(None)` when the module has no `max_symbols()` method;
/// an error when it has some of the methods but not all, or they return the wrong types.
pub fn read_method_meta(module: &CModule, path: &Path) -> Result<Option<ModelMeta>, ModelError> {
    let call = |name: &str| module.method_is::<IValue>(name, &[]);
    let Ok(max_symbols) = call("max_symbols") else {
        return Ok(None);
    };
    let int = |name: &str, v: Result<IValue, tch::TchError>| -> Result<usize, ModelError> {
        match v {
            Ok(IValue::Int(i)) if i >= 0 => Ok(i as usize),
            Ok(other) => Err(ModelError::meta(path, format!("exported methods: {name}() returned {other:?}, expected a non-negative int"))),
            Err(e) => Err(ModelError::meta(path, format!("exported methods: {name}(): {}", short_torch_error(&e)))),
        }
    };
    let string = |name: &str, v: Result<IValue, tch::TchError>| -> Result<String, ModelError> {
        match v {
            Ok(IValue::String(s)) => Ok(s),
            Ok(other) => Err(ModelError::meta(path, format!("exported methods: {name}() returned {other:?}, expected a str"))),
            Err(e) => Err(ModelError::meta(path, format!("exported methods: {name}(): {}", short_torch_error(&e)))),
        }
    };
    let max_symbols = int("max_symbols", Ok(max_symbols))?;
    let lookback_window = int("lookback_window", call("lookback_window"))?;
    let n_features = int("n_features", call("n_features"))?;
    let feature_set = string("feature_set", call("feature_set"))?;
    let kind = match call("model_type") {
        Err(_) => ModelKind::Torch,
        Ok(v) => {
            let k = string("model_type", Ok(v))?;
            ModelKind::parse(&k)
                .ok_or_else(|| ModelError::meta(path, format!("exported methods: model_type() {k:?} is neither \"SAC\" nor \"Torch\"")))?
        }
    };
    ModelMeta { max_symbols, lookback_window, n_features, feature_set, kind, source: MetaSource::Methods }.validated(path).map(Some)
}

/// Source 3: the sidecar `NAME.json`. `Ok(None)` when there is none.
pub fn read_sidecar_meta(path: &Path) -> Result<Option<ModelMeta>, ModelError> {
    let side = sidecar_path(path);
    let bytes = match std::fs::read(&side) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ModelError::meta(path, format!("{}: {e}", side.display()))),
    };
    if bytes.len() as u64 > MAX_META_BYTES {
        return Err(ModelError::meta(path, format!("{}: larger than 1 MiB", side.display())));
    }
    ModelMeta::from_json(&bytes, MetaSource::Sidecar, path).map(Some)
}

/// Loads a TorchScript module on the CPU (a model saved from a GPU loads too).
pub fn load_module(path: &Path) -> Result<CModule, ModelError> {
    if let Err(e) = std::fs::metadata(path) {
        return Err(ModelError::io(path, e));
    }
    CModule::load_on_device(path, tch::Device::Cpu)
        .map_err(|e| ModelError::NotTorchScript { path: path.into(), reason: short_torch_error(&e) })
}

/// Loads the module and its metadata (sources in order). The module is always loaded, even when
/// `extra/meta.json` answers, so a file that is not loadable TorchScript is always an error.
pub fn load_with_meta(path: &Path) -> Result<(CModule, ModelMeta), ModelError> {
    let extra = read_extra_meta(path)?;
    let module = load_module(path)?;
    let meta = match extra {
        Some(m) => m,
        None => match read_method_meta(&module, path)? {
            Some(m) => m,
            None => read_sidecar_meta(path)?.ok_or_else(|| {
                ModelError::meta(
                    path,
                    format!("none found (no extra/meta.json in the archive, no max_symbols() method, no {})", sidecar_path(path).display()),
                )
            })?,
        },
    };
    Ok((module, meta))
}

/// The metadata of the model at `path` (loads the module once to check it; see [`load_with_meta`]).
pub fn introspect(path: &Path) -> Result<ModelMeta, ModelError> {
    load_with_meta(path).map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_entry_names() {
        assert!(is_extra_meta_entry("sac/extra/meta.json"));
        assert!(is_extra_meta_entry("archive/extra/meta.json"));
        assert!(!is_extra_meta_entry("extra/meta.json"));
        assert!(!is_extra_meta_entry("a/b/extra/meta.json"));
        assert!(!is_extra_meta_entry("a/extra/meta.json.bak"));
    }

    #[test]
    fn json_parsing_and_validation() {
        let p = Path::new("m.pt");
        let m = ModelMeta::from_json(
            br#"{"max_symbols": 5, "lookback_window": 8, "n_features": 3, "feature_set": "f", "model_type": "sac", "extra": 1}"#,
            MetaSource::Sidecar,
            p,
        )
        .unwrap();
        assert_eq!((m.max_symbols, m.lookback_window, m.n_features), (5, 8, 3));
        assert_eq!(m.kind, ModelKind::Sac);
        let back = ModelMeta::from_json(m.to_json().as_bytes(), MetaSource::Sidecar, p).unwrap();
        assert_eq!(back, m);
        let dflt = ModelMeta::from_json(
            br#"{"max_symbols": 5, "lookback_window": 8, "n_features": 3, "feature_set": "f"}"#,
            MetaSource::Sidecar,
            p,
        )
        .unwrap();
        assert_eq!(dflt.kind, ModelKind::Torch);
        for bad in [
            &br#"{"max_symbols": 5, "lookback_window": 8, "feature_set": "f"}"#[..],
            br#"{"max_symbols": 0, "lookback_window": 8, "n_features": 3, "feature_set": "f"}"#,
            br#"{"max_symbols": -1, "lookback_window": 8, "n_features": 3, "feature_set": "f"}"#,
            br#"{"max_symbols": 5, "lookback_window": 8, "n_features": 3, "feature_set": "f", "type": "ppo"}"#,
            br#"{"max_symbols": 5, "lookback_window": 8, "n_features": 3, "feature_set": " "}"#,
            br#"{"max_symbols": 100000, "lookback_window": 100000, "n_features": 3, "feature_set": "f"}"#,
            b"not json",
        ] {
            let e = ModelMeta::from_json(bad, MetaSource::Sidecar, p).unwrap_err();
            assert!(matches!(e, ModelError::Metadata { .. }), "{e}");
            assert!(e.to_string().starts_with("m.pt: metadata: sidecar json"), "{e}");
        }
    }
}
