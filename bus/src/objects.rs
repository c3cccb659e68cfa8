//! Tick files in the JetStream object store, addressed by the SHA-256 of their content: the
//! coordinator uploads each file once (skipped when the bucket already holds it), a worker downloads
//! it once into its cache directory (checking the hash) and reuses it for every later job.

use crate::common::{io, nats, BusError, TICKS_BUCKET};
use async_nats::jetstream::{self, object_store};
use std::io::Read;
use std::path::{Path, PathBuf};

/// SHA-256 of a file's content, as lower-case hex (read in 1 MiB pieces).
pub fn file_hash(path: &Path) -> Result<String, BusError> {
    let mut f = std::fs::File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// The tick-file bucket, created if missing.
pub async fn bucket(js: &jetstream::Context) -> Result<object_store::ObjectStore, BusError> {
    match js.get_object_store(TICKS_BUCKET).await {
        Ok(s) => Ok(s),
        Err(_) => js
            .create_object_store(object_store::Config { bucket: TICKS_BUCKET.into(), ..Default::default() })
            .await
            .map_err(nats(format!("creating object store {TICKS_BUCKET}"))),
    }
}

/// Uploads `path` under its content hash unless the bucket already holds it; returns the hash.
pub async fn upload(store: &object_store::ObjectStore, path: &Path) -> Result<String, BusError> {
    let hash = file_hash(path)?;
    if store.info(&hash).await.is_ok_and(|i| !i.deleted) {
        return Ok(hash);
    }
    let mut f = tokio::fs::File::open(path).await.map_err(io(format!("opening {}", path.display())))?;
    store.put(hash.as_str(), &mut f).await.map_err(nats(format!("uploading {}", path.display())))?;
    Ok(hash)
}

/// The cached copy of object `hash` in `cache` as `<hash>/<name>` (importers read the instrument from
/// the file name), downloaded and checked if not there yet.
pub async fn fetch(store: &object_store::ObjectStore, hash: &str, name: &str, cache: &Path) -> Result<PathBuf, BusError> {
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(BusError::BadMessage { subject: TICKS_BUCKET.into(), msg: format!("{hash:?} is not a SHA-256") });
    }
    let base = Path::new(name).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if base.is_empty() || base.starts_with('.') {
        return Err(BusError::BadMessage { subject: TICKS_BUCKET.into(), msg: format!("bad file name {name:?}") });
    }
    let dir = cache.join(hash);
    let path = dir.join(&base);
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let mut obj = store.get(hash).await.map_err(nats(format!("fetching tick file {hash}")))?;
    let tmp = dir.join(format!(".part.{}", std::process::id()));
    let mut out = tokio::fs::File::create(&tmp).await.map_err(io(format!("creating {}", tmp.display())))?;
    tokio::io::copy(&mut obj, &mut out).await.map_err(io(format!("downloading tick file {hash}")))?;
    drop(out);
    let got = file_hash(&tmp)?;
    if got != hash {
        let _ = std::fs::remove_file(&tmp);
        return Err(BusError::BadMessage { subject: TICKS_BUCKET.into(), msg: format!("object {hash} has content hash {got}") });
    }
    std::fs::rename(&tmp, &path).map_err(io(format!("moving {} into place", tmp.display())))?;
    Ok(path)
}
