//! Integration tests: the example model, metadata sources, the registry and TorchPolicy.

use pinion_core::policy::{Policy, PolicyError};
use pinion_models::meta::{self, MetaSource, ModelKind};
use pinion_models::{
    build_example, ModelError, ModelRegistry, TorchPolicy, EXAMPLE_LOOKBACK_WINDOW, EXAMPLE_MAX_SYMBOLS, EXAMPLE_N_FEATURES, FEATURE_SET_V1,
};
use std::io::{Read, Write};
use std::path::Path;

fn build_default(dir: &Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    build_example(&p, EXAMPLE_MAX_SYMBOLS, EXAMPLE_LOOKBACK_WINDOW, EXAMPLE_N_FEATURES).unwrap();
    p
}

/// Rewrites the zip at `src` into `dst` (entries stored uncompressed, 64-byte aligned like
/// torch.jit.save does), passing each entry through `edit`, then appends `extra` entries, whose
/// names are relative to the archive's top folder.
fn rewrite_archive(src: &Path, dst: &Path, mut edit: impl FnMut(&str, Vec<u8>) -> Vec<u8>, extra: &[(&str, &[u8])]) {
    let mut zin = zip::ZipArchive::new(std::fs::File::open(src).unwrap()).unwrap();
    let mut zout = zip::ZipWriter::new(std::fs::File::create(dst).unwrap());
    let opts = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut top = String::new();
    for i in 0..zin.len() {
        let mut f = zin.by_index(i).unwrap();
        let name = f.name().to_owned();
        top = name.split('/').next().unwrap().to_owned();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        let bytes = edit(&name, bytes);
        zout.start_file_aligned(name, opts, 64).unwrap();
        zout.write_all(&bytes).unwrap();
    }
    for (name, bytes) in extra {
        zout.start_file_aligned(format!("{top}/{name}"), opts, 64).unwrap();
        zout.write_all(bytes).unwrap();
    }
    zout.finish().unwrap();
}

fn observation(seed: u32) -> Vec<f32> {
    let n = EXAMPLE_MAX_SYMBOLS * EXAMPLE_LOOKBACK_WINDOW * EXAMPLE_N_FEATURES;
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32) * 4.0 - 2.0
        })
        .collect()
}

#[test]
fn example_builds_and_introspects_from_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let p = build_default(dir.path(), "example.pt");
    assert!(meta::sidecar_path(&p).exists());
    let m = meta::introspect(&p).unwrap();
    assert_eq!(m.source, MetaSource::Sidecar);
    assert_eq!((m.max_symbols, m.lookback_window, m.n_features), (EXAMPLE_MAX_SYMBOLS, EXAMPLE_LOOKBACK_WINDOW, EXAMPLE_N_FEATURES));
    assert_eq!(m.feature_set, FEATURE_SET_V1);
    assert_eq!(m.kind, ModelKind::Torch);
    assert_eq!(meta::read_extra_meta(&p).unwrap(), None);

    // Without the sidecar (a traced module has no exported methods) the metadata is missing.
    std::fs::remove_file(meta::sidecar_path(&p)).unwrap();
    let e = meta::introspect(&p).unwrap_err();
    assert!(matches!(e, ModelError::Metadata { .. }), "{e}");
    assert!(e.to_string().contains("example.pt"), "{e}");
}

#[test]
fn extra_meta_json_wins_over_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let src = build_default(dir.path(), "example.pt");
    let dst = dir.path().join("packed.pt");
    let extra = br#"{"max_symbols": 20, "lookback_window": 32, "n_features": 6,
                     "feature_set": "from_extra", "type": "SAC"}"#;
    rewrite_archive(&src, &dst, |_, b| b, &[("extra/meta.json", extra)]);
    std::fs::write(
        meta::sidecar_path(&dst),
        r#"{"max_symbols": 3, "lookback_window": 32, "n_features": 6, "feature_set": "from_sidecar"}"#,
    )
    .unwrap();
    let m = meta::introspect(&dst).unwrap();
    assert_eq!(m.source, MetaSource::ExtraFile);
    assert_eq!(m.feature_set, "from_extra");
    assert_eq!(m.kind, ModelKind::Sac);
    assert_eq!(m.max_symbols, 20);
    // The rewritten archive is still a loadable, usable policy.
    let p = TorchPolicy::load(&dst).unwrap();
    assert_eq!(p.meta().source, MetaSource::ExtraFile);

    // A present but invalid extra/meta.json is an error, not a fall-through to the sidecar.
    let bad = dir.path().join("bad_extra.pt");
    rewrite_archive(&src, &bad, |_, b| b, &[("extra/meta.json", b"{\"max_symbols\": 20}")]);
    std::fs::copy(meta::sidecar_path(&src), meta::sidecar_path(&bad)).unwrap();
    let e = meta::introspect(&bad).unwrap_err();
    assert!(e.to_string().contains("extra/meta.json"), "{e}");
}

#[test]
fn exported_methods_are_read() {
    // Stand-in for `@torch.jit.export` methods: add them to the archive's TorchScript source.
    let dir = tempfile::tempdir().unwrap();
    let src = build_default(dir.path(), "example.pt");
    let dst = dir.path().join("methods.pt");
    let methods = "  def max_symbols(self: __torch__.PinionExamplePolicy) -> int:\n    return 20\n\
                   \x20 def lookback_window(self: __torch__.PinionExamplePolicy) -> int:\n    return 32\n\
                   \x20 def n_features(self: __torch__.PinionExamplePolicy) -> int:\n    return 6\n\
                   \x20 def feature_set(self: __torch__.PinionExamplePolicy) -> str:\n    return \"from_methods\"\n\
                   \x20 def model_type(self: __torch__.PinionExamplePolicy) -> str:\n    return \"SAC\"\n";
    rewrite_archive(
        &src,
        &dst,
        |name, b| {
            if name.ends_with("code/__torch__.py") {
                let mut s = String::from_utf8(b).unwrap();
                if !s.ends_with('\n') {
                    s.push('\n');
                }
                s.push_str(methods);
                s.into_bytes()
            } else {
                b
            }
        },
        &[],
    );
    std::fs::copy(meta::sidecar_path(&src), meta::sidecar_path(&dst)).unwrap();
    let m = meta::introspect(&dst).unwrap();
    assert_eq!(m.source, MetaSource::Methods);
    assert_eq!(m.feature_set, "from_methods");
    assert_eq!(m.kind, ModelKind::Sac);
    assert_eq!((m.max_symbols, m.lookback_window, m.n_features), (20, 32, 6));
}

#[test]
fn registry_lists_errors_filters_and_refreshes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    build_default(d, "big.pt");
    build_example(d.join("small.ts"), 5, 8, 3).unwrap();
    std::fs::write(d.join("corrupt.pt"), (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<_>>()).unwrap();
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(d.join("notts.pth")).unwrap());
        z.start_file("notts/hello.txt", zip::write::FileOptions::default()).unwrap();
        z.write_all(b"not a model").unwrap();
        z.finish().unwrap();
    }
    std::fs::write(d.join("README.txt"), "ignored").unwrap();

    let reg = ModelRegistry::new(d);
    let all = reg.list(None);
    let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["big", "corrupt", "notts", "small"]);
    for i in &all {
        assert_eq!(i.device, pinion_models::inference_device_name());
        match i.name.as_str() {
            "big" | "small" => assert!(i.error.is_none(), "{i:?}"),
            _ => {
                let e = i.error.as_deref().unwrap();
                assert!(e.contains("not a TorchScript module"), "{e}");
                assert!(e.contains(&i.path), "{e}");
                assert_eq!(i.max_symbols, None);
            }
        }
    }
    let big = &all[0];
    assert_eq!(big.max_symbols, Some(EXAMPLE_MAX_SYMBOLS));
    assert_eq!(big.kind, Some(ModelKind::Torch));

    // JSON shape of GET /models rows.
    let v = serde_json::to_value(big).unwrap();
    assert_eq!(v["type"], "Torch");
    assert_eq!(v["max_symbols"], 20);
    assert_eq!(v["feature_set"], FEATURE_SET_V1);
    assert!(v.get("error").is_none());
    assert!(serde_json::to_value(&all[1]).unwrap()["error"].is_string());

    let names = |min| reg.list(Some(min)).into_iter().map(|i| i.name).collect::<Vec<_>>();
    assert_eq!(names(1), ["big", "small"]);
    assert_eq!(names(5), ["big", "small"]);
    assert_eq!(names(6), ["big"]);
    assert_eq!(names(21), Vec::<String>::new());

    // Cached entries follow changes to the sidecar and removals.
    std::fs::write(
        d.join("small.json"),
        r#"{"max_symbols": 5, "lookback_window": 8, "n_features": 3, "feature_set": "changed", "type": "SAC"}"#,
    )
    .unwrap();
    std::fs::remove_file(d.join("corrupt.pt")).unwrap();
    let all = reg.list(None);
    assert_eq!(all.len(), 3);
    let small = all.iter().find(|i| i.name == "small").unwrap();
    assert_eq!(small.feature_set.as_deref(), Some("changed"));
    assert_eq!(small.kind, Some(ModelKind::Sac));

    let missing = reg.inspect(d.join("nope.pt"));
    assert!(missing.error.is_some());
    assert!(ModelRegistry::new(d.join("no_such_dir")).list(None).is_empty());
}

#[test]
fn torch_policy_is_bounded_deterministic_and_masked() {
    let dir = tempfile::tempdir().unwrap();
    let p = build_default(dir.path(), "example.pt");
    let mut pol = TorchPolicy::load(&p).unwrap();
    assert!(pol.takes_mask());
    let shape = pol.shape();
    assert_eq!(shape.max_symbols, EXAMPLE_MAX_SYMBOLS);
    let obs = observation(7);
    let mut mask = vec![1.0f32; shape.max_symbols];
    mask[3] = 0.0;
    mask[shape.max_symbols - 1] = 0.0;
    let mut a1 = vec![f32::NAN; shape.max_symbols];
    let mut a2 = vec![f32::NAN; shape.max_symbols];
    pol.decide(&obs, &mask, &mut a1).unwrap();
    for _ in 0..5 {
        pol.decide(&obs, &mask, &mut a2).unwrap();
        assert_eq!(a1, a2);
    }
    assert!(a1.iter().all(|a| a.is_finite() && (-1.0..=1.0).contains(a)), "{a1:?}");
    assert_eq!(a1[3], 0.0);
    assert_eq!(a1[shape.max_symbols - 1], 0.0);
    assert!(a1.iter().filter(|a| **a != 0.0).count() >= shape.max_symbols - 2, "{a1:?}");

    // Other inputs, other actions; and a second load of the same file agrees.
    let mut a3 = vec![0.0; shape.max_symbols];
    pol.decide(&observation(8), &mask, &mut a3).unwrap();
    assert_ne!(a1, a3);
    let mut pol2 = TorchPolicy::load(&p).unwrap();
    pol2.decide(&obs, &mask, &mut a3).unwrap();
    assert_eq!(a1, a3);
    // Rebuilding the example gives the same weights.
    let p2 = build_default(dir.path(), "again.pt");
    TorchPolicy::load(&p2).unwrap().decide(&obs, &mask, &mut a3).unwrap();
    assert_eq!(a1, a3);

    // decide from another thread (the policy is Send).
    let handle = std::thread::spawn(move || {
        let mut a = vec![0.0; EXAMPLE_MAX_SYMBOLS];
        pol.decide(&obs, &mask, &mut a).unwrap();
        a
    });
    assert_eq!(handle.join().unwrap(), a1);

    let mut short = vec![0.0; 3];
    let e = pol2.decide(&observation(1), &[1.0; EXAMPLE_MAX_SYMBOLS], &mut short).unwrap_err();
    assert_eq!(e, PolicyError::ShapeMismatch { expected: EXAMPLE_MAX_SYMBOLS, got: 3 });
    let e = pol2.decide(&[0.0; 5], &[1.0; EXAMPLE_MAX_SYMBOLS], &mut a3).unwrap_err();
    assert!(matches!(e, PolicyError::ShapeMismatch { got: 5, .. }));
}

#[test]
fn obs_only_forward_is_accepted() {
    use tch::{nn, nn::Module, CModule, Device, Kind, Tensor};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("obs_only.pt");
    let (s, l, f) = (4i64, 5i64, 2i64);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let lin = nn::linear(vs.root(), l * f, 1, Default::default());
    vs.freeze();
    let obs = Tensor::zeros([1, s, l, f], (Kind::Float, Device::Cpu));
    let mut fwd = |xs: &[Tensor]| vec![(lin.forward(&xs[0].reshape([-1, s, l * f])).squeeze_dim(-1) * 10.0)];
    let m = tch::no_grad(|| CModule::create_by_tracing("ObsOnly", "forward", &[obs], &mut fwd)).unwrap();
    m.save(&p).unwrap();
    std::fs::write(meta::sidecar_path(&p), r#"{"max_symbols": 4, "lookback_window": 5, "n_features": 2, "feature_set": "x"}"#).unwrap();
    let mut pol = TorchPolicy::load(&p).unwrap();
    assert!(!pol.takes_mask());
    let obs: Vec<f32> = (0..40).map(|i| (i as f32 - 20.0) / 3.0).collect();
    let mask = [1.0, 0.0, 1.0, 1.0];
    let mut a = [9.0f32; 4];
    pol.decide(&obs, &mask, &mut a).unwrap();
    assert_eq!(a[1], 0.0, "masked slot is zeroed by TorchPolicy");
    assert!(a.iter().all(|x| (-1.0..=1.0).contains(x)), "{a:?}");

    // Wrong output shape is a contract error at load.
    std::fs::write(meta::sidecar_path(&p), r#"{"max_symbols": 2, "lookback_window": 10, "n_features": 2, "feature_set": "x"}"#).unwrap();
    let e = TorchPolicy::load(&p).unwrap_err();
    assert!(matches!(e, ModelError::Contract { .. }), "{e}");
}
