//! Loading ticks for a backtest from any supported file: a `.pinticks` file is mapped (zero copy),
//! a CSV or JSON-lines file is imported in memory; several files are merged into one table.

use super::{import_text, merge, progress_bar, ImportError, ImportInput, ImportOptions};
use crate::tickfile::{has_magic, TickFile, MAGIC};
use indicatif::ProgressBar;
use pinion_core::instrument::Instrument;
use pinion_core::tick::Tick;
use std::io::Read;
use std::path::Path;

/// Ticks and their instrument table, either mapped from a tick file or held in memory.
#[derive(Debug)]
pub enum TickData {
    /// A `.pinticks` file mapped read-only (zero copy).
    Mapped(TickFile),
    /// Ticks imported or merged in memory.
    Owned {
        /// The instrument table (ticks index it).
        instruments: Vec<Instrument>,
        /// The ticks, in time order.
        ticks: Vec<Tick>,
    },
}

impl TickData {
    /// Time-ordered ticks; `Tick::instrument` indexes [`instruments`](Self::instruments).
    pub fn ticks(&self) -> &[Tick] {
        match self {
            TickData::Mapped(f) => f.ticks(),
            TickData::Owned { ticks, .. } => ticks,
        }
    }

    /// The instrument table; `Tick::instrument` indexes it.
    pub fn instruments(&self) -> &[Instrument] {
        match self {
            TickData::Mapped(f) => f.instrument_table(),
            TickData::Owned { instruments, .. } => instruments,
        }
    }

    /// Number of ticks.
    pub fn len(&self) -> usize {
        self.ticks().len()
    }

    /// Whether there are no ticks.
    pub fn is_empty(&self) -> bool {
        self.ticks().is_empty()
    }

    /// First and last timestamps, or None when empty.
    pub fn span(&self) -> Option<(i64, i64)> {
        Some((self.ticks().first()?.ts_ns, self.ticks().last()?.ts_ns))
    }
}

fn is_tick_file(path: &Path) -> Result<bool, ImportError> {
    let mut head = [0u8; MAGIC.len()];
    let mut f = std::fs::File::open(path).map_err(|source| ImportError::Io { path: path.to_path_buf(), source })?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(ImportError::Io { path: path.to_path_buf(), source }),
        }
    }
    Ok(has_magic(&head[..n]))
}

/// Loads one file of any supported format (detected by content), with no progress bar.
pub fn load_ticks(path: &Path) -> Result<TickData, ImportError> {
    load_with_progress(&ImportInput::new(path), &ProgressBar::hidden())
}

/// Loads one input of any supported format (detected by content).
pub fn load_input(input: &ImportInput, opts: &ImportOptions) -> Result<TickData, ImportError> {
    let bar = progress_bar(std::slice::from_ref(input), opts);
    let data = load_with_progress(input, &bar);
    bar.finish_and_clear();
    data
}

pub(crate) fn load_with_progress(input: &ImportInput, bar: &ProgressBar) -> Result<TickData, ImportError> {
    let path = input.path.as_path();
    bar.set_message(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    if is_tick_file(path)? {
        let f = TickFile::open(path)?;
        bar.inc(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0));
        return Ok(TickData::Mapped(f));
    }
    let imported = import_text(path, input.instrument.as_deref(), bar)?;
    Ok(TickData::Owned { instruments: imported.instruments, ticks: imported.ticks })
}

/// Loads several inputs and merges them in time order into one instrument table (ids remapped; equal
/// timestamps keep input order). A single input is returned as loaded (a tick file stays mapped).
pub fn load_many(inputs: &[ImportInput], opts: &ImportOptions) -> Result<TickData, ImportError> {
    match inputs {
        [] => Err(ImportError::NoInputs),
        [one] => load_input(one, opts),
        _ => {
            let bar = progress_bar(inputs, opts);
            let loaded = inputs.iter().map(|i| load_with_progress(i, &bar)).collect::<Result<Vec<_>, _>>();
            bar.finish_and_clear();
            let loaded = loaded?;
            let sources: Vec<(&[Instrument], &[Tick])> = loaded.iter().map(|d| (d.instruments(), d.ticks())).collect();
            let mut ticks = Vec::with_capacity(loaded.iter().map(TickData::len).sum());
            let instruments = merge::merge_sources(&sources, |t| {
                ticks.push(t);
                Ok(())
            })?;
            Ok(TickData::Owned { instruments, ticks })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{shared_data, write_input};
    use super::*;
    use crate::tickfile::write_tick_file;

    #[test]
    fn loads_tick_files_and_text_alike() {
        let dir = tempfile::tempdir().unwrap();
        let csv = write_input(
            dir.path(),
            "usdjpy_a.csv",
            "ts_ns,bid,ask,bid_size,ask_size\n5,108.950,108.962,1,1\n15,108.951,108.962,1,1\n",
            false,
        );
        let owned = load_ticks(&csv).unwrap();
        assert!(matches!(owned, TickData::Owned { .. }));
        let eu = [Instrument::fx("EUR", "USD")];
        let tf_ticks: Vec<Tick> = (0..3)
            .map(|i| {
                let mut t = owned.ticks()[0];
                t.ts_ns = i * 10;
                t.instrument = 0;
                t
            })
            .collect();
        let pt = dir.path().join("eurusd.bin"); // detected by magic, not by name
        write_tick_file(&pt, &eu, &tf_ticks).unwrap();
        let mapped = load_ticks(&pt).unwrap();
        assert!(matches!(mapped, TickData::Mapped(_)));
        assert_eq!(mapped.ticks(), &tf_ticks[..]);

        let both = load_many(&[ImportInput::new(&csv), ImportInput::new(&pt)], &ImportOptions::quiet()).unwrap();
        let syms: Vec<_> = both.instruments().iter().map(|i| i.symbol.as_str()).collect();
        assert_eq!(syms, ["USD_JPY", "EUR_USD"]);
        let order: Vec<(i64, u16)> = both.ticks().iter().map(|t| (t.ts_ns, t.instrument)).collect();
        assert_eq!(order, [(0, 1), (5, 0), (10, 1), (15, 0), (20, 1)]);
        assert_eq!(both.span(), Some((0, 20)));
    }

    #[test]
    fn merges_the_real_two_instrument_window() {
        let (Some(a), Some(e)) =
            (shared_data("audusd_truefx_20200130-31_quotes.csv.gz"), shared_data("eurusd_histdata_20200130-31_quotes.csv.gz"))
        else {
            return;
        };
        let d = load_many(&[ImportInput::new(a), ImportInput::new(e)], &ImportOptions::quiet()).unwrap();
        assert_eq!(d.len(), 100_000 + 99_308);
        assert!(d.ticks().windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
        assert_eq!(d.instruments().len(), 2);
    }
}
