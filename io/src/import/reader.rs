//! Line reading for importers: plain or gzip input (told apart by the gzip magic bytes, not the file
//! name), byte counting for the progress bar, and line numbers for error messages.

use super::{ImportError, LineError};
use flate2::bufread::MultiGzDecoder;
use indicatif::ProgressBar;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BUF_SIZE: usize = 1 << 16;

/// Counts raw (compressed) bytes into the progress bar as they are read.
struct Counting<R> {
    inner: R,
    progress: ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

/// Reads an input file line by line, tracking the 1-based number of the last line read.
pub(crate) struct LineReader {
    path: PathBuf,
    inner: Box<dyn BufRead>,
    gzip: bool,
    line: u64,
}

impl LineReader {
    /// Opens `path`, sniffing the gzip magic; progress advances by raw bytes read.
    pub(crate) fn open(path: &Path, progress: &ProgressBar) -> Result<LineReader, ImportError> {
        let io = |source| ImportError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        let counting = Counting { inner: file, progress: progress.clone() };
        let mut raw = BufReader::with_capacity(BUF_SIZE, counting);
        let head = raw.fill_buf().map_err(io)?;
        let gzip = head.len() >= 2 && head[..2] == GZIP_MAGIC;
        let inner: Box<dyn BufRead> =
            if gzip { Box::new(BufReader::with_capacity(BUF_SIZE, MultiGzDecoder::new(raw))) } else { Box::new(raw) };
        Ok(LineReader { path: path.to_path_buf(), inner, gzip, line: 0 })
    }

    /// Reads the next line into `buf` without its `\n` / `\r\n`. Returns false at end of input.
    pub(crate) fn read_line(&mut self, buf: &mut Vec<u8>) -> Result<bool, ImportError> {
        buf.clear();
        match self.inner.read_until(b'\n', buf) {
            Ok(0) => Ok(false),
            Ok(_) => {
                self.line += 1;
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                Ok(true)
            }
            Err(e) => {
                self.line += 1;
                let kind = if self.gzip { LineError::Gzip(e.to_string()) } else { LineError::Read(e.to_string()) };
                Err(self.err(kind))
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// An error at the current line.
    pub(crate) fn err(&self, kind: LineError) -> ImportError {
        ImportError::Line { path: self.path.clone(), line: self.line, kind }
    }

    /// Rough tick count to reserve for, from the file size (about 45 bytes a row, 4x gzip ratio).
    pub(crate) fn capacity_hint(&self) -> usize {
        let len = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0) as usize;
        let plain = if self.gzip { len.saturating_mul(4) } else { len };
        (plain / 45).min(1 << 24)
    }
}

/// Splits a CSV line into exactly `N` trimmed fields (no quoting: tick files never need it).
pub(crate) fn split_fields<const N: usize>(line: &[u8]) -> Result<[&[u8]; N], LineError> {
    let mut out: [&[u8]; N] = [&[]; N];
    let mut n = 0;
    for field in line.split(|&c| c == b',') {
        if n < N {
            out[n] = field.trim_ascii();
        }
        n += 1;
    }
    match n.cmp(&N) {
        std::cmp::Ordering::Less => Err(LineError::ShortLine { expected: N, found: n }),
        std::cmp::Ordering::Greater => Err(LineError::LongLine { expected: N, found: n }),
        std::cmp::Ordering::Equal => Ok(out),
    }
}

/// Parses a signed decimal integer field.
pub(crate) fn parse_int(field: &'static str, s: &[u8]) -> Result<i64, LineError> {
    let bad = || LineError::BadField { field, detail: format!("not an integer: {:?}", String::from_utf8_lossy(s)) };
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(bad());
        }
        v = v.checked_mul(10).and_then(|v| v.checked_add((c - b'0') as i64)).ok_or_else(bad)?;
    }
    Ok(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_counts_fields() {
        let f: [&[u8]; 3] = split_fields(b"a, b ,c").unwrap();
        assert_eq!(f, [&b"a"[..], b"b", b"c"]);
        assert_eq!(split_fields::<3>(b"a,b"), Err(LineError::ShortLine { expected: 3, found: 2 }));
        assert_eq!(split_fields::<2>(b"a,b,c"), Err(LineError::LongLine { expected: 2, found: 3 }));
    }

    #[test]
    fn parses_integers() {
        assert_eq!(parse_int("x", b"1580398089820000000"), Ok(1_580_398_089_820_000_000));
        assert_eq!(parse_int("x", b"-5"), Ok(-5));
        assert!(parse_int("x", b"1e9").is_err());
        assert!(parse_int("x", b"99999999999999999999").is_err());
        assert!(parse_int("x", b"").is_err());
    }
}
