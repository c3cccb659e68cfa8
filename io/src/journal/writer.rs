//! The journal writer: open with crash recovery, buffered appends, commit
//! (write + fdatasync), segment rotation and compaction.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::record::{encode, MAX_PAYLOAD_LEN, RECORD_HEADER_LEN};
use super::segment::{create_segment, open_for_append, remove_temp_segments, scan_dir, sync_dir, SegmentFile, SEGMENT_HEADER_LEN};
use super::{io_err, JournalError};

const LOCK_FILE: &str = "journal.lock";

/// Tuning of a [`Journal`].
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// Start a new segment once the active one would grow past this many bytes.
    pub segment_size: u64,
    /// Largest accepted payload (at most [`MAX_PAYLOAD_LEN`]).
    pub max_payload: u32,
    /// Appends the group-commit queue holds before `append` blocks.
    pub queue_capacity: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions { segment_size: 64 << 20, max_payload: 16 << 20, queue_capacity: 64 * 1024 }
    }
}

/// What [`Journal::open`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes cut from the end of the last segment (a torn final write).
    pub truncated_bytes: u64,
    /// Segment and byte offset where the torn tail began.
    pub torn_at: Option<(PathBuf, u64)>,
    /// Seq of the last valid record (`next seq - 1`), `None` when nothing was
    /// ever written.
    pub last_seq: Option<u64>,
    /// Valid records in the journal.
    pub records: u64,
    /// Segment files after recovery.
    pub segments: usize,
}

/// What [`Journal::compact`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Whole segment files deleted.
    pub segments_removed: usize,
    /// Bytes those files held.
    pub bytes_removed: u64,
    /// First seq the journal still holds (or will hold next).
    pub first_seq: u64,
}

/// An open journal directory, exclusively locked by this process.
///
/// [`append`](Journal::append) buffers; [`commit`](Journal::commit) writes and
/// fdatasyncs. For concurrent producers use [`start`](Journal::start).
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    opts: JournalOptions,
    segments: Vec<SegmentFile>,
    active: File,
    active_len: u64,
    active_records: u64,
    pending: Vec<u8>,
    next_seq: u64,
    durable_seq: u64,
    failed: Option<String>,
    _lock: File,
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir`, validates every record
    /// and truncates a torn tail of the last segment. Corruption with valid
    /// records after it, or in an earlier segment, fails the open.
    pub fn open(dir: impl AsRef<Path>, opts: JournalOptions) -> Result<(Journal, Recovery), JournalError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(JournalError::Locked { dir }),
            Err(TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        remove_temp_segments(&dir)?;

        let mut scan = scan_dir(&dir)?;
        let mut recovery = Recovery { last_seq: scan.last_seq(), records: scan.records(), ..Recovery::default() };
        if let Some(torn) = scan.torn().cloned() {
            log::warn!(
                "journal: torn tail in {} at byte {} ({}); truncating {} bytes",
                torn.segment.display(),
                torn.offset,
                torn.reason,
                torn.bytes
            );
            recovery.truncated_bytes = torn.bytes;
            if torn.offset < SEGMENT_HEADER_LEN as u64 {
                fs::remove_file(&torn.segment).map_err(io_err(&torn.segment))?;
                sync_dir(&dir)?;
                scan.segments.pop();
            } else {
                let file = open_for_append(&torn.segment)?;
                file.set_len(torn.offset).map_err(io_err(&torn.segment))?;
                file.sync_all().map_err(io_err(&torn.segment))?;
            }
            recovery.torn_at = Some((torn.segment, torn.offset));
        }

        let next_seq = scan.segments.last().map_or(1, |s| s.last_seq + 1);
        let (active, active_len, active_records) = match scan.segments.last() {
            Some(last) => {
                let len = match &last.torn {
                    Some(t) => t.offset,
                    None => last.file_len,
                };
                (open_for_append(&last.file.path)?, len, last.records)
            }
            None => {
                let (path, file) = create_segment(&dir, next_seq)?;
                scan.segments.push(super::segment::SegmentScan {
                    file: SegmentFile { path, first_seq: next_seq },
                    file_len: SEGMENT_HEADER_LEN as u64,
                    records: 0,
                    last_seq: next_seq - 1,
                    torn: None,
                });
                (file, SEGMENT_HEADER_LEN as u64, 0)
            }
        };
        recovery.segments = scan.segments.len();
        let journal = Journal {
            dir,
            opts: JournalOptions { max_payload: opts.max_payload.min(MAX_PAYLOAD_LEN), ..opts },
            segments: scan.segments.into_iter().map(|s| s.file).collect(),
            active,
            active_len,
            active_records,
            pending: Vec::new(),
            next_seq,
            durable_seq: next_seq - 1,
            failed: None,
            _lock: lock,
        };
        Ok((journal, recovery))
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options in force (`max_payload` clamped to the format limit).
    pub fn options(&self) -> &JournalOptions {
        &self.opts
    }

    /// Seq the next appended record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Seq of the last record known to be on disk (0 when none).
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq
    }

    /// Seq of the oldest record still held (or the next seq when empty).
    pub fn first_seq(&self) -> u64 {
        self.segments.first().map_or(self.next_seq, |s| s.first_seq)
    }

    /// Buffers one record and returns its seq. Not durable until
    /// [`commit`](Journal::commit) (a rotation may commit earlier).
    pub fn append(&mut self, kind: u16, payload: &[u8]) -> Result<u64, JournalError> {
        self.check_payload(payload.len())?;
        self.check_ok()?;
        let rec_len = (RECORD_HEADER_LEN + payload.len()) as u64;
        let projected = self.active_len + self.pending.len() as u64 + rec_len;
        if self.active_records > 0 && projected > self.opts.segment_size {
            self.commit()?;
            // A new segment that cannot be created (a full disk) is not fatal: the active one grows
            // past its size and rotation is tried again at the next append.
            if let Err(e) = self.rotate() {
                log::warn!("journal: cannot start a new segment, the current one grows meanwhile: {e}");
            }
        }
        let seq = self.next_seq;
        encode(&mut self.pending, seq, kind, payload);
        self.next_seq += 1;
        self.active_records += 1;
        Ok(seq)
    }

    /// Writes buffered records with one write call and one fdatasync; returns
    /// the durable seq. When the write or the sync fails (a full disk), the
    /// segment is cut back to its last durable length and the records stay
    /// buffered: a later `commit` writes them again ([`JournalError::Retryable`]).
    /// Only when even that cut fails does the journal refuse further writes.
    pub fn commit(&mut self) -> Result<u64, JournalError> {
        self.check_ok()?;
        if self.pending.is_empty() {
            return Ok(self.durable_seq);
        }
        let path = self.segments[self.segments.len() - 1].path.clone();
        let written = self.active.write_all(&self.pending).and_then(|()| self.active.sync_data());
        if let Err(e) = written {
            // Whatever part of the batch reached the file is cut off (the file is opened for append, so
            // the next write lands at the cut); the cut itself is synced before anything is retried.
            let cut = self.active.set_len(self.active_len).and_then(|()| self.active.sync_all());
            return match cut {
                Ok(()) => Err(JournalError::Retryable { path, source: e }),
                Err(cut_err) => {
                    let r = Err(JournalError::Io {
                        path: path.clone(),
                        source: std::io::Error::new(cut_err.kind(), format!("{e}; then cutting the segment back failed: {cut_err}")),
                    });
                    self.poison_on_err(r)
                }
            };
        }
        self.active_len += self.pending.len() as u64;
        self.pending.clear();
        self.durable_seq = self.next_seq - 1;
        Ok(self.durable_seq)
    }

    /// Deletes whole segments whose records all have seq `<= upto_seq` (call
    /// it with the seq of a durable snapshot). The active segment is kept.
    pub fn compact(&mut self, upto_seq: u64) -> Result<CompactReport, JournalError> {
        let mut report = CompactReport::default();
        while self.segments.len() > 1 && self.segments[1].first_seq - 1 <= upto_seq {
            let seg = self.segments.remove(0);
            let len = fs::metadata(&seg.path).map_err(io_err(&seg.path))?.len();
            fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
            report.segments_removed += 1;
            report.bytes_removed += len;
        }
        if report.segments_removed > 0 {
            sync_dir(&self.dir)?;
            log::info!("journal: compacted {} segments ({} bytes) up to seq {upto_seq}", report.segments_removed, report.bytes_removed);
        }
        report.first_seq = self.first_seq();
        Ok(report)
    }

    fn rotate(&mut self) -> Result<(), JournalError> {
        let (path, file) = create_segment(&self.dir, self.next_seq)?;
        self.active = file;
        self.active_len = SEGMENT_HEADER_LEN as u64;
        self.active_records = 0;
        self.segments.push(SegmentFile { path, first_seq: self.next_seq });
        Ok(())
    }

    pub(crate) fn check_payload(&self, len: usize) -> Result<(), JournalError> {
        if len > self.opts.max_payload as usize {
            return Err(JournalError::PayloadTooLarge { len, max: self.opts.max_payload });
        }
        Ok(())
    }

    fn check_ok(&self) -> Result<(), JournalError> {
        match &self.failed {
            Some(why) => Err(JournalError::Failed(why.clone())),
            None => Ok(()),
        }
    }

    fn poison_on_err<T>(&mut self, r: Result<T, JournalError>) -> Result<T, JournalError> {
        if let Err(e) = &r {
            if self.failed.is_none() {
                self.failed = Some(e.to_string());
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::test_util::{payload, read_all, small_opts};
    use crate::journal::{JournalError, JournalReader};

    fn write_n(j: &mut Journal, n: u64) {
        for _ in 0..n {
            let seq = j.next_seq();
            assert_eq!(j.append((seq % 7) as u16, &payload(seq)).expect("append"), seq);
        }
        j.commit().expect("commit");
    }

    fn segment_paths(dir: &Path) -> Vec<PathBuf> {
        crate::journal::segment::list_segments(dir).expect("list").into_iter().map(|s| s.path).collect()
    }

    #[test]
    fn empty_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (j, rec) = Journal::open(dir.path(), small_opts()).expect("open");
        assert_eq!(rec, Recovery { segments: 1, ..Recovery::default() });
        assert_eq!((j.next_seq(), j.durable_seq()), (1, 0));
        drop(j);
        let (_j, rec) = Journal::open(dir.path(), small_opts()).expect("reopen");
        assert_eq!((rec.records, rec.last_seq, rec.truncated_bytes), (0, None, 0));
        assert!(read_all(dir.path()).is_empty());
    }

    #[test]
    fn round_trip_across_rotation_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path(), small_opts()).expect("open");
        write_n(&mut j, 200);
        assert_eq!(j.durable_seq(), 200);
        drop(j);
        assert!(segment_paths(dir.path()).len() > 3, "expected several segments");
        let (mut j, rec) = Journal::open(dir.path(), small_opts()).expect("reopen");
        assert_eq!((rec.records, rec.last_seq, rec.torn_at), (200, Some(200), None));
        assert_eq!(j.next_seq(), 201);
        write_n(&mut j, 50);
        drop(j);
        let all = read_all(dir.path());
        assert_eq!(all.len(), 250);
        for (i, (seq, kind, p)) in all.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1);
            assert_eq!((*kind, p), ((*seq % 7) as u16, &payload(*seq)));
        }
    }

    #[test]
    fn second_writer_is_locked_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_j, _) = Journal::open(dir.path(), small_opts()).expect("open");
        let err = Journal::open(dir.path(), small_opts()).expect_err("second open");
        assert!(matches!(err, JournalError::Locked { .. }), "{err}");
    }

    #[test]
    fn torn_tail_mid_record_is_truncated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path(), small_opts()).expect("open");
        write_n(&mut j, 30);
        drop(j);
        let last = segment_paths(dir.path()).pop().expect("segment");
        let len = fs::metadata(&last).expect("meta").len();
        let f = OpenOptions::new().write(true).open(&last).expect("open seg");
        f.set_len(len - 5).expect("truncate");
        drop(f);
        let (mut j, rec) = Journal::open(dir.path(), small_opts()).expect("reopen");
        assert_eq!(rec.last_seq, Some(29));
        assert!(rec.truncated_bytes > 0);
        let (path, offset) = rec.torn_at.expect("torn reported");
        assert_eq!(path, last);
        assert_eq!(offset + rec.truncated_bytes, len - 5);
        assert_eq!(j.append(1, b"after").expect("append"), 30);
        j.commit().expect("commit");
        drop(j);
        let all = read_all(dir.path());
        assert_eq!(all.len(), 30);
        assert_eq!(all[29], (30, 1, b"after".to_vec()));
    }

    #[test]
    fn garbage_tail_is_truncated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path(), small_opts()).expect("open");
        write_n(&mut j, 10);
        drop(j);
        let last = segment_paths(dir.path()).pop().expect("segment");
        let len = fs::metadata(&last).expect("meta").len();
        for garbage in [&[0u8; 40][..], &[0xAB; 7][..], &[3, 0, 0, 0, 1, 2, 3, 4][..]] {
            let mut f = OpenOptions::new().append(true).open(&last).expect("open seg");
            f.write_all(garbage).expect("garbage");
            drop(f);
            let (j, rec) = Journal::open(dir.path(), small_opts()).expect("reopen");
            assert_eq!(rec.truncated_bytes, garbage.len() as u64);
            assert_eq!(rec.torn_at, Some((last.clone(), len)));
            assert_eq!(j.next_seq(), 11);
            drop(j);
            assert_eq!(fs::metadata(&last).expect("meta").len(), len);
        }
        let (mut j, _) = Journal::open(dir.path(), small_opts()).expect("reopen");
        write_n(&mut j, 1);
        drop(j);
        assert_eq!(read_all(dir.path()).len(), 11);
    }

    #[test]
    fn flipped_byte_in_middle_is_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path(), JournalOptions::default()).expect("open");
        write_n(&mut j, 10);
        drop(j);
        let seg = segment_paths(dir.path()).pop().expect("segment");
        let bytes = fs::read(&seg).expect("read");
        // Fourth record starts after the header and three records.
        let offset: usize = SEGMENT_HEADER_LEN + (1..=3).map(|s| RECORD_HEADER_LEN + payload(s).len()).sum::<usize>();
        for target in [offset + RECORD_HEADER_LEN + 2, offset + 1, offset + 9] {
            let mut damaged = bytes.clone();
            damaged[target] ^= 0x10;
            fs::write(&seg, &damaged).expect("write");
            let err = Journal::open(dir.path(), JournalOptions::default()).expect_err("corrupt");
            match &err {
                JournalError::Corrupt { segment, offset: at, .. } => {
                    assert_eq!((segment, *at), (&seg, offset as u64), "{err}");
                }
                other => panic!("expected Corrupt, got {other}"),
            }
            let msg = err.to_string();
            assert!(msg.contains(&format!("byte offset {offset}")), "{msg}");
            assert!(msg.contains("journal-00000000000000000001.log"), "{msg}");
            let read_err = JournalReader::open(dir.path(), 0).expect("reader").find_map(Result::err).expect("reader reports corruption");
            assert!(matches!(read_err, JournalError::Corrupt { .. }));
        }
    }

    #[test]
    fn damage_in_non_last_segment_is_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path(), small_opts()).expect("open");
        write_n(&mut j, 100);
        drop(j);
        let first = segment_paths(dir.path()).remove(0);
        let len = fs::metadata(&first).expect("meta").len();
        let f = OpenOptions::new().write(true).open(&first).expect("open seg");
        f.set_len(len - 3).expect("truncate");
        drop(f);
        let err = Journal::open(dir.path(), small_opts()).expect_err("corrupt");
        assert!(matches!(&err, JournalError::Corrupt { segment, .. } if *segment == first), "{err}");
    }

    #[test]
    fn missing_middle_segment_is_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path(), small_opts()).expect("open");
        write_n(&mut j, 100);
        drop(j);
        let segs = segment_paths(dir.path());
        fs::remove_file(&segs[1]).expect("remove");
        let err = Journal::open(dir.path(), small_opts()).expect_err("gap");
        assert!(err.to_string().contains("previous segment ends"), "{err}");
    }

    #[test]
    fn newer_version_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path(), small_opts()).expect("open");
        write_n(&mut j, 3);
        drop(j);
        let seg = segment_paths(dir.path()).remove(0);
        let mut bytes = fs::read(&seg).expect("read");
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        fs::write(&seg, &bytes).expect("write");
        let err = Journal::open(dir.path(), small_opts()).expect_err("refused");
        assert!(matches!(&err, JournalError::UnsupportedVersion { found: 2, supported: 1, .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("format version 2") && msg.contains("newer pinion"), "{msg}");
        assert!(JournalReader::open(dir.path(), 0).is_err());
    }

    #[test]
    fn torn_segment_header_is_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path(), small_opts()).expect("open");
        write_n(&mut j, 100);
        drop(j);
        let torn = dir.path().join(crate::journal::segment::segment_name(101));
        fs::write(&torn, b"PINJRNL\0\x01").expect("write");
        let (mut j, rec) = Journal::open(dir.path(), small_opts()).expect("reopen");
        assert_eq!(rec.torn_at, Some((torn, 0)));
        assert_eq!((rec.truncated_bytes, j.next_seq()), (9, 101));
        write_n(&mut j, 1);
        drop(j);
        assert_eq!(read_all(dir.path()).len(), 101);
    }

    #[test]
    fn payload_limit_and_compaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = JournalOptions { max_payload: 64, ..small_opts() };
        let (mut j, _) = Journal::open(dir.path(), opts).expect("open");
        let err = j.append(1, &[0; 65]).expect_err("too large");
        assert!(matches!(err, JournalError::PayloadTooLarge { len: 65, max: 64 }));
        write_n(&mut j, 100);
        let before = segment_paths(dir.path());
        assert!(before.len() > 3);
        let report = j.compact(50).expect("compact");
        assert!(report.segments_removed > 0);
        assert!(report.first_seq <= 51, "seq 51 must survive: {report:?}");
        let after = segment_paths(dir.path());
        assert_eq!(after.len() + report.segments_removed, before.len());
        let report = j.compact(u64::MAX).expect("compact all");
        assert_eq!(segment_paths(dir.path()).len(), 1, "{report:?}");
        write_n(&mut j, 5);
        drop(j);
        let all = read_all(dir.path());
        assert_eq!(all.last().map(|r| r.0), Some(105));
        let err = JournalReader::open(dir.path(), 10).expect_err("compacted away");
        assert!(matches!(err, JournalError::SeqUnavailable { requested: 10, .. }));
    }
}
