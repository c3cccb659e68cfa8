//! Writing `.pinticks` files: a buffered writer that enforces time order and instrument indices,
//! writes under a temporary name, and renames into place only when the header is complete.

use super::{header_len, io_err, TickFileError, FIXED_HEADER_LEN, FORMAT_VERSION, INSTRUMENT_ENTRY_LEN, MAGIC, MAX_SYMBOL_LEN};
use pinion_core::fixed::MAX_PRECISION;
use pinion_core::instrument::{Instrument, InstrumentKind};
use pinion_core::tick::{Tick, TICK_SIZE};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

fn kind_code(kind: InstrumentKind) -> u8 {
    match kind {
        InstrumentKind::Currency => 0,
        InstrumentKind::Crypto => 1,
    }
}

fn encode_entry(inst: &Instrument, path: &Path) -> Result<[u8; INSTRUMENT_ENTRY_LEN], TickFileError> {
    let bad = |msg: &str| TickFileError::BadTable { path: path.to_path_buf(), symbol: inst.symbol.clone(), msg: msg.to_string() };
    let sym = inst.symbol.as_bytes();
    if sym.is_empty() || sym.len() > MAX_SYMBOL_LEN {
        return Err(bad("symbol must be 1 to 24 bytes"));
    }
    if !sym.iter().all(|c| c.is_ascii_graphic()) {
        return Err(bad("symbol must be printable ASCII"));
    }
    if inst.price_precision > MAX_PRECISION || inst.size_precision > MAX_PRECISION {
        return Err(bad("precision above 9"));
    }
    let mut e = [0u8; INSTRUMENT_ENTRY_LEN];
    e[..sym.len()].copy_from_slice(sym);
    e[24] = inst.price_precision;
    e[25] = inst.size_precision;
    e[26] = kind_code(inst.kind);
    e[27] = inst.pip_location as u8;
    Ok(e)
}

fn encode_tick(t: &Tick) -> [u8; TICK_SIZE] {
    let mut b = [0u8; TICK_SIZE];
    b[0..8].copy_from_slice(&t.ts_ns.to_le_bytes());
    b[8..10].copy_from_slice(&t.instrument.to_le_bytes());
    b[10] = t.kind;
    b[11] = t.flags;
    b[12..16].copy_from_slice(&t.reserved.to_le_bytes());
    b[16..24].copy_from_slice(&t.bid.to_le_bytes());
    b[24..32].copy_from_slice(&t.ask.to_le_bytes());
    b[32..40].copy_from_slice(&t.bid_size.to_le_bytes());
    b[40..48].copy_from_slice(&t.ask_size.to_le_bytes());
    b
}

/// Writes a tick file under a temporary name and renames it into place on [`finish`](Self::finish);
/// dropping an unfinished writer deletes the temporary file.
pub struct TickFileWriter {
    path: PathBuf,
    tmp_path: PathBuf,
    out: Option<BufWriter<File>>,
    header: Vec<u8>,
    instrument_count: usize,
    count: u64,
    first_ts: i64,
    last_ts: i64,
}

impl TickFileWriter {
    /// Starts a tick file at `path` for the given instrument table (ticks index into it).
    pub fn create(path: &Path, instruments: &[Instrument]) -> Result<TickFileWriter, TickFileError> {
        if instruments.len() > u16::MAX as usize + 1 {
            return Err(TickFileError::BadTable {
                path: path.to_path_buf(),
                symbol: String::new(),
                msg: format!("{} instruments, at most 65536 fit", instruments.len()),
            });
        }
        let hlen = header_len(instruments.len());
        let mut header = vec![0u8; hlen];
        header[0..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        header[12..16].copy_from_slice(&(hlen as u32).to_le_bytes());
        header[16..20].copy_from_slice(&(TICK_SIZE as u32).to_le_bytes());
        header[20..24].copy_from_slice(&(instruments.len() as u32).to_le_bytes());
        for (i, inst) in instruments.iter().enumerate() {
            let at = FIXED_HEADER_LEN + i * INSTRUMENT_ENTRY_LEN;
            header[at..at + INSTRUMENT_ENTRY_LEN].copy_from_slice(&encode_entry(inst, path)?);
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp_path = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
        let file = File::create(&tmp_path).map_err(io_err(&tmp_path, "create"))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&header).map_err(io_err(&tmp_path, "write"))?;
        Ok(TickFileWriter {
            path: path.to_path_buf(),
            tmp_path,
            out: Some(out),
            header,
            instrument_count: instruments.len(),
            count: 0,
            first_ts: 0,
            last_ts: 0,
        })
    }

    /// Appends one tick; timestamps must not decrease and the instrument must be in the table.
    pub fn push(&mut self, tick: &Tick) -> Result<(), TickFileError> {
        let offset = self.header.len() as u64 + self.count * TICK_SIZE as u64;
        if tick.instrument as usize >= self.instrument_count {
            return Err(TickFileError::BadInstrument {
                path: self.path.clone(),
                index: self.count,
                offset,
                instrument: tick.instrument,
                count: self.instrument_count,
            });
        }
        if self.count > 0 && tick.ts_ns < self.last_ts {
            return Err(TickFileError::Unsorted {
                path: self.path.clone(),
                index: self.count,
                offset,
                ts_ns: tick.ts_ns,
                prev_ns: self.last_ts,
            });
        }
        let Some(out) = self.out.as_mut() else {
            return Err(TickFileError::Io {
                path: self.path.clone(),
                op: "write",
                source: std::io::Error::other("writer already finished"),
            });
        };
        out.write_all(&encode_tick(tick)).map_err(io_err(&self.tmp_path, "write"))?;
        if self.count == 0 {
            self.first_ts = tick.ts_ns;
        }
        self.last_ts = tick.ts_ns;
        self.count += 1;
        Ok(())
    }

    /// Ticks pushed so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no tick was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Completes the header, syncs, and renames the file into place. Returns the record count.
    pub fn finish(mut self) -> Result<u64, TickFileError> {
        let Some(out) = self.out.take() else {
            return Ok(self.count);
        };
        let tmp = self.tmp_path.clone();
        let mut file = out.into_inner().map_err(|e| TickFileError::Io { path: tmp.clone(), op: "flush", source: e.into_error() })?;
        self.header[24..32].copy_from_slice(&self.count.to_le_bytes());
        self.header[32..40].copy_from_slice(&self.first_ts.to_le_bytes());
        self.header[40..48].copy_from_slice(&self.last_ts.to_le_bytes());
        file.seek(SeekFrom::Start(0)).map_err(io_err(&tmp, "seek"))?;
        file.write_all(&self.header).map_err(io_err(&tmp, "write header"))?;
        file.sync_all().map_err(io_err(&tmp, "sync"))?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(io_err(&self.path, "rename into place"))?;
        Ok(self.count)
    }
}

impl Drop for TickFileWriter {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

/// Writes a whole tick file in one call.
pub fn write_tick_file(path: &Path, instruments: &[Instrument], ticks: &[Tick]) -> Result<u64, TickFileError> {
    let mut w = TickFileWriter::create(path, instruments)?;
    for t in ticks {
        w.push(t)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    #[test]
    fn writer_rejects_unsorted_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.pinticks");
        let (insts, mut ticks) = sample();
        ticks.swap(0, 3);
        let err = write_tick_file(&path, &insts, &ticks).unwrap_err();
        assert!(matches!(err, TickFileError::Unsorted { index: 1, .. }), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
