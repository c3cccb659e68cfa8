//! The binary tick file (`*.pinticks`): a little-endian header with an instrument table, then
//! fixed 48-byte records laid out exactly as [`Tick`], so an opened file is a zero-copy `&[Tick]`.
//!
//! Layout (all integers little-endian):
//! ```text
//! 0   magic            b"PINTICK\0"
//! 8   version          u32 (= 1)
//! 12  header_len       u32 (multiple of 64; records start here)
//! 16  record_size      u32 (= 48)
//! 20  instrument_count u32
//! 24  record_count     u64
//! 32  first_ts_ns      i64
//! 40  last_ts_ns       i64
//! 48  instrument table: per instrument 32 bytes =
//!     symbol [u8; 24] ASCII NUL-padded, price_precision u8, size_precision u8,
//!     kind u8 (0 currency, 1 crypto), pip_location i8, 4 reserved bytes
//! ```

use memmap2::Mmap;
use pinion_core::fixed::MAX_PRECISION;
use pinion_core::instrument::{builtin_instruments, split_symbol, Instrument, InstrumentKind};
use pinion_core::tick::{Tick, TICK_SIZE};
use std::fs::File;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The 8 bytes every tick file starts with.
pub const MAGIC: [u8; 8] = *b"PINTICK\0";
/// Format version written by this build; newer versions are refused on open.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the instrument table.
pub const FIXED_HEADER_LEN: usize = 48;
/// Bytes per instrument table entry.
pub const INSTRUMENT_ENTRY_LEN: usize = 32;
/// Longest symbol an entry can hold.
pub const MAX_SYMBOL_LEN: usize = 24;
const HEADER_ALIGN: usize = 64;

mod writer;
pub use writer::{write_tick_file, TickFileWriter};

/// Why a tick file could not be written, opened or verified. Every variant names the file.
#[derive(Debug, Error)]
pub enum TickFileError {
    /// A file operation failed.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operation (`open`, `mmap`, `write`...).
        op: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not start with [`MAGIC`].
    #[error("{path}: not a pinion tick file (bad magic at byte offset 0)")]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// Written by a newer format version than this build reads.
    #[error(
        "{path}: tick file format version {version} is newer than this build supports \
         (version {FORMAT_VERSION}); upgrade pinion or re-import the data"
    )]
    NewerVersion {
        /// The file.
        path: PathBuf,
        /// The file's format version.
        version: u32,
    },
    /// The file is shorter or longer than its header says.
    #[error(
        "{path}: file is {actual} bytes but the header promises {expected} \
         ({records} records of {TICK_SIZE} bytes after {header_len} header bytes): truncated or corrupt"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The file's size in bytes.
        actual: u64,
        /// The size the header implies, in bytes.
        expected: u64,
        /// Records the header promises.
        records: u64,
        /// Header length in bytes.
        header_len: u64,
    },
    /// The file is inconsistent (header fields, instrument table, first/last timestamps).
    #[error("{path}: byte offset {offset}: {msg}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the bad field.
        offset: u64,
        /// What is wrong.
        msg: String,
    },
    /// A record is earlier than the one before it.
    #[error("{path}: record {index} (byte offset {offset}): timestamp {ts_ns} is before the previous {prev_ns}")]
    Unsorted {
        /// The file.
        path: PathBuf,
        /// 0-based record index.
        index: u64,
        /// Byte offset of the record.
        offset: u64,
        /// Its timestamp, UTC epoch ns.
        ts_ns: i64,
        /// The previous record's timestamp, UTC epoch ns.
        prev_ns: i64,
    },
    /// A quote record's bid is above its ask.
    #[error("{path}: record {index} (byte offset {offset}): crossed quote, bid {bid} > ask {ask}")]
    Crossed {
        /// The file.
        path: PathBuf,
        /// 0-based record index.
        index: u64,
        /// Byte offset of the record.
        offset: u64,
        /// The bid, price steps.
        bid: i64,
        /// The ask, price steps.
        ask: i64,
    },
    /// A record names an instrument the table does not have.
    #[error("{path}: record {index} (byte offset {offset}): instrument index {instrument} out of range (table has {count})")]
    BadInstrument {
        /// The file.
        path: PathBuf,
        /// 0-based record index.
        index: u64,
        /// Byte offset of the record.
        offset: u64,
        /// The instrument index in the record.
        instrument: u16,
        /// Instruments in the table.
        count: usize,
    },
    /// An instrument cannot be stored in the file's instrument table (when writing).
    #[error("{path}: cannot store instrument {symbol:?}: {msg}")]
    BadTable {
        /// The file.
        path: PathBuf,
        /// The instrument's symbol.
        symbol: String,
        /// Why not.
        msg: String,
    },
    /// This machine is big-endian; tick files are little-endian and mapped as they are.
    #[error("{path}: tick files are little-endian and this machine is big-endian")]
    BigEndian {
        /// The file.
        path: PathBuf,
    },
}

pub(crate) fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> TickFileError + 'a {
    move |source| TickFileError::Io { path: path.to_path_buf(), op, source }
}

/// Header length for `n` instruments: fixed part plus table, rounded up to a multiple of 64.
pub fn header_len(instrument_count: usize) -> usize {
    let raw = FIXED_HEADER_LEN + INSTRUMENT_ENTRY_LEN * instrument_count;
    raw.div_ceil(HEADER_ALIGN) * HEADER_ALIGN
}

/// Builds an [`Instrument`] from stored parts: the builtin entry with the same symbol (for margin and
/// trade size) with the stored precisions applied, else a fresh FX or crypto instrument.
pub fn instrument_from_parts(
    symbol: &str,
    kind: InstrumentKind,
    price_precision: u8,
    size_precision: u8,
    pip_location: i8,
) -> Option<Instrument> {
    let (base, quote) = split_symbol(symbol)?;
    let canon = format!("{base}_{quote}");
    let mut inst = match builtin_instruments().into_iter().find(|i| i.symbol == canon) {
        Some(i) => i,
        None => match kind {
            InstrumentKind::Currency => Instrument::fx(&base, &quote),
            InstrumentKind::Crypto => Instrument::crypto(&base, &quote, price_precision, size_precision),
        },
    };
    inst.kind = kind;
    inst.price_precision = price_precision;
    inst.size_precision = size_precision;
    inst.pip_location = pip_location;
    Some(inst)
}

/// An opened, validated, memory-mapped tick file.
#[derive(Debug)]
pub struct TickFile {
    path: PathBuf,
    map: Mmap,
    header_len: usize,
    count: usize,
    first_ts: i64,
    last_ts: i64,
    instruments: Vec<Instrument>,
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// True when `bytes` start with the tick file magic.
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.len() >= MAGIC.len() && bytes[..MAGIC.len()] == MAGIC
}

impl TickFile {
    /// Maps and validates a tick file. The file must not be modified while it is open.
    pub fn open(path: &Path) -> Result<TickFile, TickFileError> {
        let p = || path.to_path_buf();
        if cfg!(target_endian = "big") {
            return Err(TickFileError::BigEndian { path: p() });
        }
        let file = File::open(path).map_err(io_err(path, "open"))?;
        // SAFETY: the mapping is read-only; like every mmap reader we rely on nobody truncating or
        // rewriting the file while it is open (the writer never rewrites a finished file in place).
        let map = unsafe { Mmap::map(&file) }.map_err(io_err(path, "mmap"))?;
        let b: &[u8] = &map;
        let corrupt = |offset: usize, msg: String| TickFileError::Corrupt { path: p(), offset: offset as u64, msg };
        if b.len() < MAGIC.len() || !has_magic(b) {
            return Err(TickFileError::BadMagic { path: p() });
        }
        if b.len() < FIXED_HEADER_LEN {
            return Err(corrupt(b.len(), format!("file ends inside the {FIXED_HEADER_LEN}-byte header")));
        }
        let version = le_u32(b, 8);
        if version > FORMAT_VERSION {
            return Err(TickFileError::NewerVersion { path: p(), version });
        }
        if version == 0 {
            return Err(corrupt(8, "format version 0 is invalid".into()));
        }
        let hlen = le_u32(b, 12) as usize;
        let record_size = le_u32(b, 16);
        if record_size as usize != TICK_SIZE {
            return Err(corrupt(16, format!("record size {record_size}, expected {TICK_SIZE}")));
        }
        let n_inst = le_u32(b, 20) as usize;
        if n_inst > u16::MAX as usize + 1 {
            return Err(corrupt(20, format!("{n_inst} instruments, at most 65536 allowed")));
        }
        if !hlen.is_multiple_of(HEADER_ALIGN) || hlen < FIXED_HEADER_LEN + n_inst * INSTRUMENT_ENTRY_LEN {
            return Err(corrupt(12, format!("header length {hlen} is not a multiple of 64 holding {n_inst} instrument entries")));
        }
        let count = le_u64(b, 24);
        let expected = count
            .checked_mul(TICK_SIZE as u64)
            .and_then(|r| r.checked_add(hlen as u64))
            .ok_or_else(|| corrupt(24, format!("record count {count} overflows")))?;
        if b.len() as u64 != expected {
            return Err(TickFileError::Truncated { path: p(), actual: b.len() as u64, expected, records: count, header_len: hlen as u64 });
        }
        let first_ts = le_u64(b, 32) as i64;
        let last_ts = le_u64(b, 40) as i64;
        let mut instruments = Vec::with_capacity(n_inst);
        for i in 0..n_inst {
            let at = FIXED_HEADER_LEN + i * INSTRUMENT_ENTRY_LEN;
            instruments.push(decode_entry(&b[at..at + INSTRUMENT_ENTRY_LEN]).map_err(|m| corrupt(at, m))?);
        }
        if !(map.as_ptr() as usize + hlen).is_multiple_of(std::mem::align_of::<Tick>()) {
            return Err(corrupt(hlen, "records are not 8-byte aligned in memory".into()));
        }
        let tf = TickFile { path: p(), map, header_len: hlen, count: count as usize, first_ts, last_ts, instruments };
        let ticks = tf.ticks();
        if let Some(i) = ticks.iter().position(|t| t.instrument as usize >= n_inst) {
            return Err(TickFileError::BadInstrument {
                path: p(),
                index: i as u64,
                offset: tf.record_offset(i),
                instrument: ticks[i].instrument,
                count: n_inst,
            });
        }
        if let (Some(f), Some(l)) = (ticks.first(), ticks.last()) {
            if f.ts_ns != first_ts || l.ts_ns != last_ts {
                return Err(corrupt(32, "first/last timestamps in the header do not match the records".into()));
            }
        }
        Ok(tf)
    }

    /// The records, straight from the mapping (no copy).
    pub fn ticks(&self) -> &[Tick] {
        let bytes = &self.map[self.header_len..];
        debug_assert_eq!(bytes.len(), self.count * TICK_SIZE);
        if self.count == 0 {
            return &[];
        }
        // SAFETY: `open` checked that exactly `count * 48` bytes follow the header and that they are
        // 8-aligned; `Tick` is repr(C), 48 bytes, padding-free, made only of integers (any bit pattern
        // is valid), and the host is little-endian like the file. The slice borrows `self.map`.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<Tick>(), self.count) }
    }

    /// The instrument table (tick `instrument` fields index into it).
    pub fn instruments(&self) -> Vec<Instrument> {
        self.instruments.clone()
    }

    /// The instrument table, borrowed.
    pub fn instrument_table(&self) -> &[Instrument] {
        &self.instruments
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Timestamp of the first record, UTC epoch ns (0 when empty).
    pub fn first_ts(&self) -> i64 {
        self.first_ts
    }
    /// Timestamp of the last record, UTC epoch ns (0 when empty).
    pub fn last_ts(&self) -> i64 {
        self.last_ts
    }
    /// Number of records.
    pub fn len(&self) -> usize {
        self.count
    }
    /// Whether the file holds no records.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Byte offset of record `index` in the file.
    pub fn record_offset(&self, index: usize) -> u64 {
        (self.header_len + index * TICK_SIZE) as u64
    }

    /// Checks that timestamps never decrease and that no quote is crossed (bid == ask is valid).
    pub fn verify(&self) -> Result<(), TickFileError> {
        let mut prev = i64::MIN;
        for (i, t) in self.ticks().iter().enumerate() {
            if t.ts_ns < prev {
                return Err(TickFileError::Unsorted {
                    path: self.path.clone(),
                    index: i as u64,
                    offset: self.record_offset(i),
                    ts_ns: t.ts_ns,
                    prev_ns: prev,
                });
            }
            if t.is_quote() && t.bid > t.ask {
                return Err(TickFileError::Crossed {
                    path: self.path.clone(),
                    index: i as u64,
                    offset: self.record_offset(i),
                    bid: t.bid,
                    ask: t.ask,
                });
            }
            prev = t.ts_ns;
        }
        Ok(())
    }
}

fn decode_entry(e: &[u8]) -> Result<Instrument, String> {
    let sym_bytes = &e[..MAX_SYMBOL_LEN];
    let end = sym_bytes.iter().position(|&c| c == 0).unwrap_or(MAX_SYMBOL_LEN);
    if end == 0 || !sym_bytes[..end].iter().all(|c| c.is_ascii_graphic()) || sym_bytes[end..].iter().any(|&c| c != 0) {
        return Err("instrument symbol is not NUL-padded printable ASCII".into());
    }
    let symbol = String::from_utf8_lossy(&sym_bytes[..end]).into_owned();
    let (pp, sp) = (e[24], e[25]);
    if pp > MAX_PRECISION || sp > MAX_PRECISION {
        return Err(format!("instrument {symbol}: precision above {MAX_PRECISION}"));
    }
    let kind = match e[26] {
        0 => InstrumentKind::Currency,
        1 => InstrumentKind::Crypto,
        k => return Err(format!("instrument {symbol}: unknown kind {k}")),
    };
    instrument_from_parts(&symbol, kind, pp, sp, e[27] as i8).ok_or_else(|| format!("instrument symbol {symbol:?} is not BASE_QUOTE"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pinion_core::fixed::{Price, Quantity};
    use pinion_core::instrument::InstrumentId;

    pub(crate) fn sample() -> (Vec<Instrument>, Vec<Tick>) {
        let insts = vec![Instrument::fx("AUD", "USD"), Instrument::crypto("SOL", "USDT", 3, 2)];
        let q = |ts, i, b, a| Tick::quote(ts, InstrumentId(i), Price(b), Price(a), Quantity(1), Quantity(2));
        let ticks = vec![
            q(100, 0, 67067, 67070),
            q(100, 1, 150_000, 150_010),
            Tick::trade(105, InstrumentId(1), Price(150_005), Quantity(7), 1),
            q(200, 0, 67068, 67068),
        ];
        (insts, ticks)
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pinticks");
        let (insts, ticks) = sample();
        assert_eq!(write_tick_file(&path, &insts, &ticks).unwrap(), 4);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "temp file left behind: {names:?}");
        let tf = TickFile::open(&path).unwrap();
        assert_eq!(tf.ticks(), &ticks[..]);
        assert_eq!((tf.len(), tf.first_ts(), tf.last_ts()), (4, 100, 200));
        let back = tf.instruments();
        assert_eq!(back[0], insts[0]);
        assert_eq!(back[1].symbol, "SOL_USDT");
        assert_eq!((back[1].price_precision, back[1].size_precision), (3, 2));
        assert_eq!(back[1].kind, InstrumentKind::Crypto);
        tf.verify().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 128 + 4 * 48);
    }

    #[test]
    fn empty_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.pinticks");
        write_tick_file(&path, &[Instrument::fx("EUR", "USD")], &[]).unwrap();
        let tf = TickFile::open(&path).unwrap();
        assert!(tf.is_empty());
        assert!(tf.ticks().is_empty());
    }

    #[test]
    fn refuses_newer_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.pinticks");
        let (insts, ticks) = sample();
        write_tick_file(&path, &insts, &ticks).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let msg = TickFile::open(&path).unwrap_err().to_string();
        assert!(msg.contains("version 2 is newer") && msg.contains("v.pinticks"), "{msg}");
    }

    #[test]
    fn refuses_truncated_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pinticks");
        let (insts, ticks) = sample();
        write_tick_file(&path, &insts, &ticks).unwrap();
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&path, &good[..good.len() - 10]).unwrap();
        let err = TickFile::open(&path).unwrap_err();
        assert!(matches!(err, TickFileError::Truncated { .. }), "{err}");
        assert!(err.to_string().contains("t.pinticks"));

        std::fs::write(&path, &good[..20]).unwrap();
        assert!(matches!(TickFile::open(&path).unwrap_err(), TickFileError::Corrupt { .. }));

        std::fs::write(&path, b"ts_ns,bid,ask\n").unwrap();
        assert!(matches!(TickFile::open(&path).unwrap_err(), TickFileError::BadMagic { .. }));

        let mut bad = good.clone();
        bad[128 + 48 + 8] = 9; // record 1's instrument index
        std::fs::write(&path, &bad).unwrap();
        let err = TickFile::open(&path).unwrap_err();
        assert!(matches!(err, TickFileError::BadInstrument { index: 1, offset: 176, .. }), "{err}");
    }

    #[test]
    fn verify_names_record_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.pinticks");
        let (insts, mut ticks) = sample();
        ticks[3].bid = ticks[3].ask + 1;
        write_tick_file(&path, &insts, &ticks).unwrap();
        let err = TickFile::open(&path).unwrap().verify().unwrap_err();
        assert!(matches!(err, TickFileError::Crossed { index: 3, offset: 272, .. }), "{err}");
        assert!(err.to_string().contains("byte offset 272"));
    }
}
