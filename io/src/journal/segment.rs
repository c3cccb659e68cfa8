//! Journal segment files: naming, header, listing and record validation.
//!
//! A segment `journal-<first_seq:020>.log` starts with a 24-byte header
//! `magic[8] | version u32 | reserved u32 | first_seq u64` followed by records.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::record::{decode, find_valid_after, u64_at, Decoded, RecordRef};
use super::{io_err, JournalError};

/// Magic bytes opening every segment.
pub const SEGMENT_MAGIC: &[u8; 8] = b"PINJRNL\0";
/// Newest segment format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 24;

const PREFIX: &str = "journal-";
const SUFFIX: &str = ".log";

/// A segment file found in the journal directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    pub path: PathBuf,
    pub first_seq: u64,
}

pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("{PREFIX}{first_seq:020}{SUFFIX}")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segments of `dir`, oldest first. A missing directory has none.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegmentFile>, JournalError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        if let Some(first_seq) = name.to_str().and_then(parse_segment_name) {
            segments.push(SegmentFile { path: entry.path(), first_seq });
        }
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}

/// Flushes directory entries (creations, renames, deletions) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

/// Creates a segment holding only its header, atomically (temp file + rename),
/// and returns it opened for writing, positioned at the end.
pub(crate) fn create_segment(dir: &Path, first_seq: u64) -> Result<(PathBuf, File), JournalError> {
    let path = dir.join(segment_name(first_seq));
    let tmp = dir.join(format!("{}.tmp", segment_name(first_seq)));
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    header[..8].copy_from_slice(SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&first_seq.to_le_bytes());
    let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(&header).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    sync_dir(dir)?;
    let file = open_for_append(&path)?;
    Ok((path, file))
}

pub(crate) fn open_for_append(path: &Path) -> Result<File, JournalError> {
    OpenOptions::new().append(true).open(path).map_err(io_err(path))
}

/// Removes leftovers of an interrupted `create_segment`.
pub(crate) fn remove_temp_segments(dir: &Path) -> Result<(), JournalError> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let is_tmp = name.to_str().and_then(|n| n.strip_suffix(".tmp")).and_then(parse_segment_name).is_some();
        if is_tmp {
            let path = entry.path();
            log::warn!("removing unfinished journal segment {}", path.display());
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// Reads a whole segment file into `buf` (cleared first).
pub(crate) fn read_segment(path: &Path, buf: &mut Vec<u8>) -> Result<(), JournalError> {
    buf.clear();
    let mut file = File::open(path).map_err(io_err(path))?;
    file.read_to_end(buf).map_err(io_err(path))?;
    Ok(())
}

/// Validates the header of `seg` held in `buf`. `Ok(false)` means the file is
/// shorter than a header (a torn segment creation).
pub(crate) fn check_header(seg: &SegmentFile, buf: &[u8]) -> Result<bool, JournalError> {
    let corrupt = |offset: u64, reason: String| JournalError::Corrupt { segment: seg.path.clone(), offset, reason };
    if buf.len() < SEGMENT_HEADER_LEN {
        return Ok(false);
    }
    if &buf[..8] != SEGMENT_MAGIC {
        return Err(corrupt(0, "not a journal segment (bad magic)".into()));
    }
    let mut v = [0u8; 4];
    v.copy_from_slice(&buf[8..12]);
    let version = u32::from_le_bytes(v);
    if version > FORMAT_VERSION {
        return Err(JournalError::UnsupportedVersion { segment: seg.path.clone(), found: version, supported: FORMAT_VERSION });
    }
    if version == 0 {
        return Err(corrupt(8, "format version 0 is invalid".into()));
    }
    let first_seq = u64_at(buf, 16);
    if first_seq != seg.first_seq {
        return Err(corrupt(16, format!("header says first seq {first_seq}, file name says {}", seg.first_seq)));
    }
    Ok(true)
}

/// A bad record at the end of a segment with nothing valid after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset of the first bad byte; the segment is valid up to here.
    pub offset: u64,
    /// Bytes from `offset` to the end of the segment.
    pub bytes: u64,
    /// Why the bytes at `offset` are not a valid record.
    pub reason: String,
}

/// One step of walking the records of a segment buffer.
pub(crate) enum Step<'a> {
    Record(RecordRef<'a>),
    End,
    Torn(TornTail),
}

/// Decodes the record at `*off`, which must carry seq `*expected`, and
/// advances both. Damage followed by a valid record is `Corrupt`; damage with
/// nothing valid after it is a torn tail, which the caller judges.
pub(crate) fn step<'a>(path: &Path, buf: &'a [u8], off: &mut usize, expected: &mut u64) -> Result<Step<'a>, JournalError> {
    if *off >= buf.len() {
        return Ok(Step::End);
    }
    let reason = match decode(buf, *off) {
        Decoded::Record(r, next) if r.seq == *expected => {
            *off = next;
            *expected += 1;
            return Ok(Step::Record(r));
        }
        Decoded::Record(r, _) => {
            return Err(JournalError::Corrupt {
                segment: path.to_path_buf(),
                offset: *off as u64,
                reason: format!("record has seq {} where seq {} was expected", r.seq, *expected),
            });
        }
        Decoded::Incomplete(why) => why.to_string(),
        Decoded::Invalid(why) => why,
    };
    if let Some(valid) = find_valid_after(buf, *off, *expected) {
        return Err(JournalError::Corrupt {
            segment: path.to_path_buf(),
            offset: *off as u64,
            reason: format!("{reason}, yet a valid record follows at offset {valid}"),
        });
    }
    Ok(Step::Torn(TornTail { segment: path.to_path_buf(), offset: *off as u64, bytes: (buf.len() - *off) as u64, reason }))
}

/// Result of validating one segment.
#[derive(Debug)]
pub(crate) struct SegmentScan {
    pub file: SegmentFile,
    pub file_len: u64,
    pub records: u64,
    /// Seq of the last valid record, or `first_seq - 1` when there is none.
    pub last_seq: u64,
    pub torn: Option<TornTail>,
}

/// Result of validating a whole journal directory (read-only).
#[derive(Debug, Default)]
pub(crate) struct DirScan {
    pub segments: Vec<SegmentScan>,
}

impl DirScan {
    pub fn records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }

    /// Last seq ever written, even when compaction left no record of it.
    pub fn last_seq(&self) -> Option<u64> {
        self.segments.last().map(|s| s.last_seq).filter(|&s| s > 0)
    }

    pub fn first_seq(&self) -> Option<u64> {
        self.segments.iter().find(|s| s.records > 0).map(|s| s.file.first_seq)
    }

    pub fn torn(&self) -> Option<&TornTail> {
        self.segments.last().and_then(|s| s.torn.as_ref())
    }
}

/// Validates every segment of `dir`. Only the last segment may have a torn
/// tail (including a header cut short, reported at offset 0).
pub(crate) fn scan_dir(dir: &Path) -> Result<DirScan, JournalError> {
    let files = list_segments(dir)?;
    let count = files.len();
    let mut buf = Vec::new();
    let mut scan = DirScan::default();
    let mut prev_last: Option<u64> = None;
    for (i, file) in files.into_iter().enumerate() {
        let is_last = i + 1 == count;
        read_segment(&file.path, &mut buf)?;
        if file.first_seq == 0 {
            return Err(JournalError::Corrupt {
                segment: file.path,
                offset: 16,
                reason: "first seq 0 is invalid (seqs start at 1)".into(),
            });
        }
        if let Some(prev) = prev_last {
            if file.first_seq != prev + 1 {
                return Err(JournalError::Corrupt {
                    segment: file.path,
                    offset: 16,
                    reason: format!("segment starts at seq {}, but the previous segment ends at seq {prev}", file.first_seq),
                });
            }
        }
        let mut seg = SegmentScan { file_len: buf.len() as u64, records: 0, last_seq: file.first_seq - 1, torn: None, file };
        let header_ok = check_header(&seg.file, &buf)?;
        if header_ok {
            let mut off = SEGMENT_HEADER_LEN;
            let mut expected = seg.file.first_seq;
            loop {
                match step(&seg.file.path, &buf, &mut off, &mut expected)? {
                    Step::Record(_) => seg.records += 1,
                    Step::End => break,
                    Step::Torn(t) => {
                        seg.torn = Some(t);
                        break;
                    }
                }
            }
            seg.last_seq = expected - 1;
        } else {
            seg.torn = Some(TornTail {
                segment: seg.file.path.clone(),
                offset: 0,
                bytes: buf.len() as u64,
                reason: "segment header cut short".into(),
            });
        }
        if let Some(t) = seg.torn.as_ref().filter(|_| !is_last) {
            return Err(JournalError::Corrupt {
                segment: t.segment.clone(),
                offset: t.offset,
                reason: format!("{} in a segment that is not the last", t.reason),
            });
        }
        prev_last = Some(seg.last_seq);
        scan.segments.push(seg);
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(42), "journal-00000000000000000042.log");
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("journal-42.log"), None);
        assert_eq!(parse_segment_name("journal-0000000000000000004x.log"), None);
        assert_eq!(parse_segment_name("snapshot-00000000000000000042.snap"), None);
    }

    #[test]
    fn created_segment_has_valid_header() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, _file) = create_segment(dir.path(), 5).expect("create");
        let segs = list_segments(dir.path()).expect("list");
        assert_eq!(segs, vec![SegmentFile { path: path.clone(), first_seq: 5 }]);
        let mut buf = Vec::new();
        read_segment(&path, &mut buf).expect("read");
        assert!(check_header(&segs[0], &buf).expect("header"));
        assert!(!check_header(&segs[0], &buf[..10]).expect("short header"));
    }
}
