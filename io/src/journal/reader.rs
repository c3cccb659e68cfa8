//! Reading a journal directory: a validating record iterator, `verify` and
//! `dump` (for `pinion journal verify|dump`).

use std::fmt;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::record::{RecordRef, RECORD_HEADER_LEN};
use super::segment::{check_header, list_segments, read_segment, scan_dir, step, SegmentFile, Step, TornTail, SEGMENT_HEADER_LEN};
use super::JournalError;

/// An owned journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Sequence number (from 1, +1 per record across segments).
    pub seq: u64,
    /// Caller-defined record kind.
    pub kind: u16,
    /// The record's bytes, as appended.
    pub payload: Vec<u8>,
}

/// Reads records in seq order, validating CRCs and seq continuity. A torn
/// tail of the last segment ends the iteration (see
/// [`torn_tail`](JournalReader::torn_tail)); other damage is an error.
///
/// Holds one segment in memory at a time. Safe to use while a writer appends:
/// it sees what was on disk when it reached each segment.
#[derive(Debug)]
pub struct JournalReader {
    dir: PathBuf,
    from_seq: u64,
    seg: Option<SegmentFile>,
    short_header: bool,
    buf: Vec<u8>,
    off: usize,
    expected: u64,
    torn: Option<TornTail>,
    done: bool,
    /// Byte offset, in the current segment, of the record `next_record` returned last.
    last_offset: usize,
}

impl JournalReader {
    /// Opens `dir` to read records with seq `>= from_seq`. `from_seq == 0`
    /// means "from the oldest record held"; a positive `from_seq` older than
    /// the oldest held record (compacted away) is [`JournalError::SeqUnavailable`].
    pub fn open(dir: impl AsRef<Path>, from_seq: u64) -> Result<JournalReader, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let segs = list_segments(&dir)?;
        let mut reader = JournalReader {
            dir,
            from_seq,
            seg: None,
            short_header: false,
            buf: Vec::new(),
            off: 0,
            expected: 0,
            torn: None,
            done: segs.is_empty(),
            last_offset: 0,
        };
        let Some(first) = segs.first() else {
            return Ok(reader);
        };
        if from_seq > 0 && first.first_seq > from_seq {
            return Err(JournalError::SeqUnavailable { requested: from_seq, first_available: first.first_seq });
        }
        let start = segs.iter().rposition(|s| s.first_seq <= from_seq).unwrap_or(0);
        reader.load(segs[start].clone())?;
        Ok(reader)
    }

    /// The next record, borrowed from the reader's segment buffer.
    pub fn next_record(&mut self) -> Result<Option<RecordRef<'_>>, JournalError> {
        match self.advance() {
            Ok(Some((seq, kind, range))) => Ok(Some(RecordRef { seq, kind, payload: &self.buf[range] })),
            Ok(None) => Ok(None),
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    /// Where the record `next_record` returned last lies: its segment file and byte offset (for errors
    /// about its content).
    pub fn position(&self) -> Option<(&Path, usize)> {
        self.seg.as_ref().map(|s| (s.path.as_path(), self.last_offset))
    }

    /// Follows a journal that is still being written: reads what was appended to the current segment
    /// since it was loaded, so that [`next_record`](Self::next_record) goes on where it stopped (and on
    /// into segments started since). A torn tail that was only a record still being written is read
    /// again. Used by the live event export, which tails the journal.
    pub fn refresh(&mut self) -> Result<(), JournalError> {
        let Some(seg) = &self.seg else {
            // No segment existed when opened: open again now.
            *self = JournalReader::open(&self.dir, self.from_seq)?;
            return Ok(());
        };
        let path = seg.path.clone();
        let mut file = std::fs::File::open(&path).map_err(|source| JournalError::Io { path: path.clone(), source })?;
        use std::io::{Read, Seek, SeekFrom};
        // Re-read from the next unread record: bytes past it may have been a record cut short (and
        // cut off again by the writer after a failed write).
        let at = self.buf.len().min(self.off);
        self.buf.truncate(at);
        file.seek(SeekFrom::Start(at as u64)).map_err(|source| JournalError::Io { path: path.clone(), source })?;
        file.read_to_end(&mut self.buf).map_err(|source| JournalError::Io { path: path.clone(), source })?;
        if self.short_header {
            self.short_header = !check_header(seg, &self.buf)?;
        }
        self.torn = None;
        self.done = false;
        Ok(())
    }

    /// The torn tail that ended the iteration, if any.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }

    fn load(&mut self, seg: SegmentFile) -> Result<(), JournalError> {
        read_segment(&seg.path, &mut self.buf)?;
        self.short_header = !check_header(&seg, &self.buf)?;
        self.off = SEGMENT_HEADER_LEN;
        self.expected = seg.first_seq;
        self.seg = Some(seg);
        Ok(())
    }

    /// The segment after the current one, if any, checked for continuity.
    fn next_segment(&self, current_first: u64) -> Result<Option<SegmentFile>, JournalError> {
        let later = list_segments(&self.dir)?.into_iter().find(|s| s.first_seq > current_first);
        match later {
            Some(s) if s.first_seq != self.expected => Err(JournalError::Corrupt {
                offset: 16,
                reason: format!("segment starts at seq {}, but the previous segment ends at seq {}", s.first_seq, self.expected - 1),
                segment: s.path,
            }),
            other => Ok(other),
        }
    }

    fn advance(&mut self) -> Result<Option<(u64, u16, Range<usize>)>, JournalError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let Some(seg) = &self.seg else {
                return Ok(None);
            };
            let current_first = seg.first_seq;
            let start = self.off;
            let stepped = if self.short_header {
                Step::Torn(TornTail {
                    segment: seg.path.clone(),
                    offset: 0,
                    bytes: self.buf.len() as u64,
                    reason: "segment header cut short".into(),
                })
            } else {
                step(&seg.path, &self.buf, &mut self.off, &mut self.expected)?
            };
            match stepped {
                Step::Record(r) if r.seq < self.from_seq => {}
                Step::Record(r) => {
                    self.last_offset = start;
                    let body = start + RECORD_HEADER_LEN..self.off;
                    return Ok(Some((r.seq, r.kind, body)));
                }
                Step::End => match self.next_segment(current_first)? {
                    Some(next) => self.load(next)?,
                    None => self.done = true,
                },
                Step::Torn(t) => {
                    if let Some(next) = self.next_segment(current_first)? {
                        return Err(JournalError::Corrupt {
                            segment: t.segment,
                            offset: t.offset,
                            reason: format!("{} although segment {} follows", t.reason, next.path.display()),
                        });
                    }
                    self.torn = Some(t);
                    self.done = true;
                }
            }
        }
    }
}

impl Iterator for JournalReader {
    type Item = Result<JournalEntry, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_record() {
            Ok(Some(r)) => Some(Ok(JournalEntry { seq: r.seq, kind: r.kind, payload: r.payload.to_vec() })),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// Summary of a read-only validation of a journal directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files found.
    pub segments: usize,
    /// Valid records read.
    pub records: u64,
    /// Seq of the first record, if any.
    pub first_seq: Option<u64>,
    /// Seq of the last valid record, if any.
    pub last_seq: Option<u64>,
    /// Total size of the segment files.
    pub bytes: u64,
    /// A torn tail, which `Journal::open` would truncate.
    pub torn_tail: Option<TornTail>,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} segments, {} bytes, {} records", self.segments, self.bytes, self.records)?;
        if let (Some(a), Some(b)) = (self.first_seq, self.last_seq) {
            write!(f, " (seq {a}..={b})")?;
        }
        match &self.torn_tail {
            Some(t) => write!(f, "; torn tail of {} bytes in {} at byte offset {}: {}", t.bytes, t.segment.display(), t.offset, t.reason),
            None => write!(f, "; no torn tail"),
        }
    }
}

/// Validates every segment and record of `dir` without modifying anything.
/// Corruption is an error; a torn tail is reported.
pub fn verify(dir: impl AsRef<Path>) -> Result<VerifyReport, JournalError> {
    let scan = scan_dir(dir.as_ref())?;
    Ok(VerifyReport {
        segments: scan.segments.len(),
        records: scan.records(),
        first_seq: scan.first_seq(),
        last_seq: scan.last_seq(),
        bytes: scan.segments.iter().map(|s| s.file_len).sum(),
        torn_tail: scan.torn().cloned(),
    })
}

/// Writes one line `seq<TAB>kind<TAB>len<TAB>render(kind, payload)` per
/// record from `from_seq` (0: oldest) to `out`; returns the record count.
pub fn dump(
    dir: impl AsRef<Path>,
    from_seq: u64,
    out: &mut impl Write,
    render: impl Fn(u16, &[u8]) -> String,
) -> Result<u64, JournalError> {
    let mut reader = JournalReader::open(dir, from_seq)?;
    let mut count = 0;
    while let Some(r) = reader.next_record()? {
        let text = render(r.kind, r.payload);
        writeln!(out, "{}\t{}\t{}\t{text}", r.seq, r.kind, r.payload.len()).map_err(JournalError::Output)?;
        count += 1;
    }
    if let Some(t) = reader.torn_tail() {
        writeln!(out, "# torn tail of {} bytes in {} at byte offset {}: {}", t.bytes, t.segment.display(), t.offset, t.reason)
            .map_err(JournalError::Output)?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::test_util::{payload, small_opts};
    use crate::journal::Journal;
    use std::fs::OpenOptions;

    fn build(dir: &Path, n: u64) {
        let (mut j, _) = Journal::open(dir, small_opts()).expect("open");
        for seq in 1..=n {
            j.append(2, &payload(seq)).expect("append");
        }
        j.commit().expect("commit");
    }

    #[test]
    fn reads_from_any_seq() {
        let dir = tempfile::tempdir().expect("tempdir");
        build(dir.path(), 120);
        for from in [0, 1, 2, 37, 60, 119, 120] {
            let seqs: Vec<u64> = JournalReader::open(dir.path(), from).expect("reader").map(|e| e.expect("entry").seq).collect();
            assert_eq!(seqs, (from.max(1)..=120).collect::<Vec<_>>(), "from {from}");
        }
        assert_eq!(JournalReader::open(dir.path(), 500).expect("reader").count(), 0);
        let missing = dir.path().join("nothing-here");
        assert_eq!(JournalReader::open(&missing, 0).expect("reader").count(), 0);
        let report = verify(&missing).expect("verify missing");
        assert_eq!(report, VerifyReport::default());
    }

    #[test]
    fn torn_tail_ends_reading_and_verify_reports_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        build(dir.path(), 50);
        let good = verify(dir.path()).expect("verify");
        assert_eq!((good.records, good.first_seq, good.last_seq), (50, Some(1), Some(50)));
        assert!(good.segments > 1 && good.torn_tail.is_none());
        assert!(good.to_string().contains("50 records (seq 1..=50); no torn tail"));

        let last = list_segments(dir.path()).expect("list").pop().expect("seg");
        let mut f = OpenOptions::new().append(true).open(&last.path).expect("open");
        f.write_all(&[7; 13]).expect("garbage");
        drop(f);
        let report = verify(dir.path()).expect("verify");
        let torn = report.torn_tail.clone().expect("torn reported");
        assert_eq!((torn.segment, torn.bytes), (last.path.clone(), 13));
        assert_eq!(report.records, 50);
        let mut reader = JournalReader::open(dir.path(), 0).expect("reader");
        let mut n = 0;
        while reader.next_record().expect("record").is_some() {
            n += 1;
        }
        assert_eq!(n, 50);
        assert_eq!(reader.torn_tail().map(|t| t.bytes), Some(13));
    }

    #[test]
    fn refresh_follows_a_journal_being_written_across_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut r = JournalReader::open(dir.path(), 0).expect("reader of nothing");
        assert!(r.next_record().expect("read").is_none());
        let (mut j, _) = Journal::open(dir.path(), small_opts()).expect("open");
        let mut seen = Vec::new();
        for round in 0..5u64 {
            for seq in round * 20 + 1..=round * 20 + 20 {
                j.append(2, &payload(seq)).expect("append");
            }
            j.commit().expect("commit");
            r.refresh().expect("refresh");
            while let Some(rec) = r.next_record().expect("read") {
                assert_eq!(rec.payload, payload(rec.seq).as_slice());
                seen.push(rec.seq);
            }
        }
        assert_eq!(seen, (1..=100).collect::<Vec<_>>());
        assert!(list_segments(dir.path()).expect("list").len() > 1, "the test crossed segments");
    }

    #[test]
    fn dump_renders_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        build(dir.path(), 5);
        let mut out = Vec::new();
        let n = dump(dir.path(), 4, &mut out, |kind, p| format!("k{kind}:{}", String::from_utf8_lossy(p))).expect("dump");
        assert_eq!(n, 2);
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(text, "4\t2\t14\tk2:event number 4\n5\t2\t14\tk2:event number 5\n");
    }
}
