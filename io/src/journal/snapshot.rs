//! Snapshots of engine state at a journal seq, written atomically.
//!
//! File `snapshot-<seq:020>.snap`: `magic[8] | version u32 | reserved u32 |
//! seq u64 | len u64 | crc32c u32 | reserved u32 | bytes[len]`, little-endian;
//! the CRC covers `seq`, `len` and the bytes.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::segment::sync_dir;
use super::{io_err, JournalError};

/// Magic bytes opening every snapshot.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"PINSNAP\0";
/// Snapshot format version this build reads and writes.
pub const SNAPSHOT_VERSION: u32 = 1;
const HEADER_LEN: usize = 40;
const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";

fn file_name(seq: u64) -> String {
    format!("{PREFIX}{seq:020}{SUFFIX}")
}

fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn checksum(seq: u64, bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&seq.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &(bytes.len() as u64).to_le_bytes());
    crc32c::crc32c_append(crc, bytes)
}

/// Writes the snapshot of state after journal record `seq` into `dir`
/// (temp file, fsync, rename, fsync of the directory) and returns its path.
/// Once this returns, segments up to `seq` may be compacted.
pub fn write(dir: impl AsRef<Path>, seq: u64, bytes: &[u8]) -> Result<PathBuf, JournalError> {
    let dir = dir.as_ref();
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(file_name(seq));
    let tmp = dir.join(format!("{}.tmp", file_name(seq)));
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(SNAPSHOT_MAGIC);
    header[8..12].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&seq.to_le_bytes());
    header[24..32].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
    header[32..36].copy_from_slice(&checksum(seq, bytes).to_le_bytes());
    let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(&header).and_then(|()| file.write_all(bytes)).and_then(|()| file.sync_all()).map_err(io_err(&tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    sync_dir(dir)?;
    Ok(path)
}

/// Parses a snapshot file's content, naming what is wrong on failure.
fn parse(expected_seq: u64, data: &[u8]) -> Result<&[u8], String> {
    if data.len() < HEADER_LEN {
        return Err(format!("file of {} bytes is shorter than the header", data.len()));
    }
    if &data[..8] != SNAPSHOT_MAGIC {
        return Err("not a snapshot (bad magic)".into());
    }
    let u32_at = |at: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&data[at..at + 4]);
        u32::from_le_bytes(b)
    };
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&data[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let version = u32_at(8);
    if version != SNAPSHOT_VERSION {
        return Err(format!("snapshot format version {version}, this build reads version {SNAPSHOT_VERSION}"));
    }
    let seq = u64_at(16);
    if seq != expected_seq {
        return Err(format!("header seq {seq} does not match the file name"));
    }
    let len = u64_at(24);
    let body = &data[HEADER_LEN..];
    if body.len() as u64 != len {
        return Err(format!("header says {len} bytes, file holds {}", body.len()));
    }
    let (stored, actual) = (u32_at(32), checksum(seq, body));
    if stored != actual {
        return Err(format!("checksum mismatch (stored {stored:#010x}, computed {actual:#010x})"));
    }
    Ok(body)
}

/// Snapshot files in `dir` by seq, newest first.
fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_name) {
            found.push((seq, entry.path()));
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    Ok(found)
}

/// The newest valid snapshot in `dir` as `(seq, bytes)`. Damaged snapshots
/// are skipped with a logged warning; `None` when there is no valid one.
pub fn latest(dir: impl AsRef<Path>) -> Result<Option<(u64, Vec<u8>)>, JournalError> {
    for (seq, path) in list(dir.as_ref())? {
        let data = fs::read(&path).map_err(io_err(&path))?;
        match parse(seq, &data) {
            Ok(body) => return Ok(Some((seq, body.to_vec()))),
            Err(why) => log::warn!("ignoring snapshot {}: {why}", path.display()),
        }
    }
    Ok(None)
}

/// Seqs of the snapshot files in `dir` (valid or not), newest first.
pub fn seqs(dir: impl AsRef<Path>) -> Result<Vec<u64>, JournalError> {
    Ok(list(dir.as_ref())?.into_iter().map(|(seq, _)| seq).collect())
}

/// Reads and checks the snapshot of `seq` in `dir`: Ok(Err(why)) when the file is damaged.
pub fn read(dir: impl AsRef<Path>, seq: u64) -> Result<Result<Vec<u8>, String>, JournalError> {
    let path = dir.as_ref().join(file_name(seq));
    let data = fs::read(&path).map_err(io_err(&path))?;
    Ok(parse(seq, &data).map(<[u8]>::to_vec))
}

/// Deletes all but the newest `keep` snapshots (valid or not) and any temp
/// file a crash left mid-write (call it only from the one writer, after its
/// write); returns how many files were removed.
pub fn prune(dir: impl AsRef<Path>, keep: usize) -> Result<usize, JournalError> {
    let dir = dir.as_ref();
    let mut removed = 0;
    for (_, path) in list(dir)?.into_iter().skip(keep) {
        fs::remove_file(&path).map_err(io_err(&path))?;
        removed += 1;
    }
    // Temp files a crash left mid-write (the writer calls this after its own rename).
    for entry in fs::read_dir(dir).map_err(io_err(dir))?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PREFIX) && name.ends_with(".tmp") {
            fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_and_latest() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(latest(dir.path()).expect("latest"), None);
        assert_eq!(latest(dir.path().join("missing")).expect("latest"), None);
        write(dir.path(), 10, b"state at 10").expect("write");
        let p = write(dir.path(), 200, b"state at 200").expect("write");
        write(dir.path(), 30, b"").expect("write");
        assert_eq!(p, dir.path().join("snapshot-00000000000000000200.snap"));
        assert_eq!(latest(dir.path()).expect("latest"), Some((200, b"state at 200".to_vec())));
        assert_eq!(prune(dir.path(), 2).expect("prune"), 1);
        assert_eq!(list(dir.path()).expect("list").len(), 2);
    }

    #[test]
    fn corrupt_snapshots_are_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), 5, b"old but fine").expect("write");
        let newer = write(dir.path(), 9, b"newer state").expect("write");
        let good = fs::read(&newer).expect("read");
        let damages: [fn(&mut Vec<u8>); 6] =
            [|d| d[HEADER_LEN + 3] ^= 1, |d| d.truncate(d.len() - 1), |d| d.truncate(12), |d| d[0] = b'X', |d| d[8] = 2, |d| d[16] = 8];
        for damage in damages {
            let mut bad = good.clone();
            damage(&mut bad);
            fs::write(&newer, &bad).expect("damage");
            assert_eq!(latest(dir.path()).expect("latest"), Some((5, b"old but fine".to_vec())));
        }
        fs::write(dir.path().join("snapshot-00000000000000000001.snap.tmp"), b"x").expect("tmp");
        fs::write(&newer, &good).expect("restore");
        assert_eq!(latest(dir.path()).expect("latest").map(|s| s.0), Some(9));
    }
}
