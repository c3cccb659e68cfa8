//! Importers: CSV quote and trade ticks, OANDA v20 price-stream JSON lines, format detection, merging
//! several inputs in time order, and writing the result as a `.pinticks` file.

pub mod csv_quotes;
pub mod csv_trades;
pub mod load;
pub mod merge;
pub mod oanda;
mod reader;

pub use csv_quotes::{import_csv_quotes, QUOTE_HEADER};
pub use csv_trades::{import_csv_trades, TRADE_HEADER};
pub use load::{load_input, load_many, load_ticks, TickData};
pub use merge::{kway_merge, merge_sources};
pub use oanda::import_oanda;

use crate::tickfile::{TickFileError, TickFileWriter};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pinion_core::fixed::MAX_PRECISION;
use pinion_core::instrument::{builtin_instruments, split_symbol, Instrument};
use pinion_core::tick::Tick;
use reader::LineReader;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use thiserror::Error;

/// What went wrong on one line of an input file.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LineError {
    /// The first line is not the header this format needs.
    #[error("bad header {found:?}, expected {expected:?}")]
    BadHeader {
        /// The header line read.
        found: String,
        /// The header expected.
        expected: &'static str,
    },
    /// Fewer fields than the format has.
    #[error("short line: expected {expected} fields, found {found}")]
    ShortLine {
        /// Fields the format has.
        expected: usize,
        /// Fields on the line.
        found: usize,
    },
    /// More fields than the format has.
    #[error("too many fields: expected {expected}, found {found}")]
    LongLine {
        /// Fields the format has.
        expected: usize,
        /// Fields on the line.
        found: usize,
    },
    /// A field could not be read.
    #[error("field {field}: {detail}")]
    BadField {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A timestamp earlier than the previous line's.
    #[error("unsorted timestamps: {ts_ns} is before the previous {prev_ns}")]
    Unsorted {
        /// This line's time, UTC epoch ns.
        ts_ns: i64,
        /// The previous line's time, UTC epoch ns.
        prev_ns: i64,
    },
    /// A quote whose bid is above its ask.
    #[error("crossed quote: bid {bid} > ask {ask}")]
    Crossed {
        /// The bid as written.
        bid: String,
        /// The ask as written.
        ask: String,
    },
    /// The gzip stream is damaged; the text says how.
    #[error("corrupt gzip stream: {0}")]
    Gzip(String),
    /// Reading the file failed at this line; the text says how.
    #[error("read error: {0}")]
    Read(String),
    /// A JSON line could not be parsed; the text says why.
    #[error("bad JSON: {0}")]
    Json(String),
}

/// Why an import failed. Errors inside a file name the file and the 1-based line (header = line 1).
#[derive(Debug, Error)]
pub enum ImportError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of the file is bad.
    #[error("{path}, line {line}: {kind}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is line 1).
        line: u64,
        /// What is wrong with the line.
        kind: LineError,
    },
    /// The file has no data rows.
    #[error("{path}: empty file (no data rows)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The content matches none of the accepted formats.
    #[error(
        "{path}: unknown format: line 1 {first:?} is neither the quote CSV header {QUOTE_HEADER:?}, \
         the trade CSV header {TRADE_HEADER:?}, JSON lines, nor a .pinticks file"
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// Its first line.
        first: String,
    },
    /// The instrument could not be told from the file name.
    #[error("{path}: cannot tell the instrument from {name:?}; name it explicitly (e.g. EUR_USD)")]
    Instrument {
        /// The file.
        path: PathBuf,
        /// The name it was looked up by.
        name: String,
    },
    /// The data does not fit the instrument's price or size precision.
    #[error("{path}: instrument {symbol}: {msg}")]
    Precision {
        /// The file.
        path: PathBuf,
        /// The instrument.
        symbol: String,
        /// What does not fit.
        msg: String,
    },
    /// Merging the inputs into one time-ordered stream failed; the text says why.
    #[error("merging inputs: {0}")]
    Merge(String),
    /// No input file was given.
    #[error("no input files")]
    NoInputs,
    /// Writing the output tick file failed.
    #[error(transparent)]
    TickFile(#[from] TickFileError),
}

/// One file to import, optionally with its instrument named (any spelling: `EUR_USD`, `eurusd`...).
/// Without a name the instrument comes from the file name prefix (`audusd_truefx_...` is `AUD_USD`).
/// OANDA JSON carries its own instrument names and ignores this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportInput {
    /// The file to read (CSV, JSON lines or `.pinticks`, optionally gzip-compressed).
    pub path: PathBuf,
    /// The instrument's name, when the file name does not tell it.
    pub instrument: Option<String>,
}

impl ImportInput {
    /// An input whose instrument comes from its file name (or, for OANDA JSON, its content).
    pub fn new(path: impl Into<PathBuf>) -> ImportInput {
        ImportInput { path: path.into(), instrument: None }
    }
    /// Names the input's instrument explicitly (any accepted spelling).
    pub fn with_instrument(mut self, name: impl Into<String>) -> ImportInput {
        self.instrument = Some(name.into());
        self
    }
}

/// Import settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Draw a progress bar over bytes read on stderr (only ever drawn when stderr is a terminal).
    pub progress: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { progress: true }
    }
}

impl ImportOptions {
    /// No progress bar.
    pub fn quiet() -> Self {
        ImportOptions { progress: false }
    }
}

/// Ticks of one instrument in an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstrumentCount {
    /// Canonical symbol, e.g. `EUR_USD`.
    pub symbol: String,
    /// Ticks of that instrument written.
    pub ticks: u64,
}

/// What [`import_files`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    /// The tick file written.
    pub output: PathBuf,
    /// Ticks per instrument, in instrument id order.
    pub per_instrument: Vec<InstrumentCount>,
    /// Ticks written in all.
    pub total: u64,
    /// First and last tick timestamps (UTC ns; 0 when no ticks).
    pub first_ts: i64,
    /// Last tick timestamp, UTC epoch ns (0 when no ticks).
    pub last_ts: i64,
    /// Wall time the import took, in seconds.
    pub elapsed_s: f64,
}

/// The ticks of one input file; `Tick::instrument` indexes `instruments`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    /// The instruments of the file (ticks index this list).
    pub instruments: Vec<Instrument>,
    /// The ticks, in time order.
    pub ticks: Vec<Tick>,
}

/// Imports several files (each detected by content), merges them in time order (equal timestamps keep
/// input order) and writes `out` as a tick file; nothing is left at `out` if any step fails.
pub fn import_files(inputs: &[ImportInput], out: &Path, opts: &ImportOptions) -> Result<ImportSummary, ImportError> {
    let start = Instant::now();
    if inputs.is_empty() {
        return Err(ImportError::NoInputs);
    }
    let progress = progress_bar(inputs, opts);
    let mut loaded = Vec::with_capacity(inputs.len());
    for input in inputs {
        loaded.push(load::load_with_progress(input, &progress)?);
    }
    progress.finish_and_clear();
    let sources: Vec<(&[Instrument], &[Tick])> = loaded.iter().map(|d| (d.instruments(), d.ticks())).collect();
    let plan = merge::unify(&sources.iter().map(|s| s.0).collect::<Vec<_>>())?;
    let mut writer = TickFileWriter::create(out, plan.instruments())?;
    let mut counts = vec![0u64; plan.instruments().len()];
    merge::merge_with_plan(&plan, &sources, |t| {
        if let Some(c) = counts.get_mut(t.instrument as usize) {
            *c += 1;
        }
        writer.push(&t).map_err(ImportError::from)
    })?;
    let (first_ts, last_ts) = (writer_first_last(&loaded)).unwrap_or((0, 0));
    let total = writer.finish()?;
    let per_instrument =
        plan.instruments().iter().zip(counts).map(|(i, ticks)| InstrumentCount { symbol: i.symbol.clone(), ticks }).collect();
    Ok(ImportSummary { output: out.to_path_buf(), per_instrument, total, first_ts, last_ts, elapsed_s: start.elapsed().as_secs_f64() })
}

/// Earliest first and latest last timestamp over sorted inputs.
fn writer_first_last(loaded: &[TickData]) -> Option<(i64, i64)> {
    let first = loaded.iter().filter_map(|d| d.ticks().first()).map(|t| t.ts_ns).min()?;
    let last = loaded.iter().filter_map(|d| d.ticks().last()).map(|t| t.ts_ns).max()?;
    Some((first, last))
}

/// A byte-based progress bar over all inputs, hidden when disabled or when stderr is not a terminal.
pub(crate) fn progress_bar(inputs: &[ImportInput], opts: &ImportOptions) -> ProgressBar {
    if !opts.progress {
        return ProgressBar::hidden();
    }
    let total: u64 = inputs.iter().filter_map(|i| std::fs::metadata(&i.path).ok()).map(|m| m.len()).sum();
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg:20!} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Imports one text file (CSV quotes, CSV trades or OANDA JSON lines, plain or gzip) into memory.
pub fn import_file(path: &Path, instrument: Option<&str>) -> Result<Imported, ImportError> {
    import_text(path, instrument, &ProgressBar::hidden())
}

pub(crate) fn import_text(path: &Path, instrument: Option<&str>, progress: &ProgressBar) -> Result<Imported, ImportError> {
    let mut r = LineReader::open(path, progress)?;
    let mut first = Vec::new();
    loop {
        if !r.read_line(&mut first)? {
            return Err(ImportError::Empty { path: path.to_path_buf() });
        }
        if !first.trim_ascii().is_empty() {
            break;
        }
    }
    let head = strip_bom(first.trim_ascii());
    if head == QUOTE_HEADER.as_bytes() {
        csv_quotes::parse(&mut r, instrument)
    } else if head == TRADE_HEADER.as_bytes() {
        csv_trades::parse(&mut r, instrument)
    } else if head.first() == Some(&b'{') {
        oanda::parse(&mut r, first)
    } else {
        let shown: String = String::from_utf8_lossy(head).chars().take(80).collect();
        Err(ImportError::UnknownFormat { path: path.to_path_buf(), first: shown })
    }
}

fn strip_bom(s: &[u8]) -> &[u8] {
    s.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(s)
}

/// Checks that the first non-blank line of `r` is `header` (for the single-format importers).
pub(crate) fn expect_header(r: &mut LineReader, header: &'static str) -> Result<(), ImportError> {
    let mut buf = Vec::new();
    loop {
        if !r.read_line(&mut buf)? {
            return Err(ImportError::Empty { path: r.path().to_path_buf() });
        }
        if !buf.trim_ascii().is_empty() {
            break;
        }
    }
    if strip_bom(buf.trim_ascii()) != header.as_bytes() {
        let found = String::from_utf8_lossy(&buf).chars().take(80).collect();
        return Err(r.err(LineError::BadHeader { found, expected: header }));
    }
    Ok(())
}

/// Base and quote of the instrument: the explicit name, else the file name's first `_` field
/// (`audusd_truefx_...` is AUD/USD), else its first two (`EUR_USD_2020.csv`).
pub(crate) fn infer_symbol(path: &Path, explicit: Option<&str>) -> Result<(String, String), ImportError> {
    let fail = |name: &str| ImportError::Instrument { path: path.to_path_buf(), name: name.to_string() };
    if let Some(name) = explicit {
        return split_symbol(name).ok_or_else(|| fail(name));
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.split('.').next().unwrap_or("");
    let mut parts = stem.split('_');
    let one = parts.next().unwrap_or("");
    if let Some(bq) = split_symbol(one) {
        return Ok(bq);
    }
    if let Some(two) = parts.next() {
        if let Some(bq) = split_symbol(&format!("{one}_{two}")) {
            return Ok(bq);
        }
    }
    Err(fail(&name))
}

const FIAT: [&str; 20] = [
    "USD", "EUR", "JPY", "GBP", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "HKD", "SGD", "ZAR", "MXN", "TRY", "PLN", "CNH", "HUF",
    "CZK",
];

/// The instrument for imported data with the given written precisions: the builtin entry when there is
/// one (its precision kept when at least the written one), else FX for two fiat codes, else crypto.
pub(crate) fn choose_instrument(
    path: &Path,
    base: &str,
    quote: &str,
    price_precision: u8,
    size_precision: u8,
) -> Result<Instrument, ImportError> {
    let symbol = format!("{base}_{quote}");
    if price_precision > MAX_PRECISION || size_precision > MAX_PRECISION {
        return Err(ImportError::Precision {
            path: path.to_path_buf(),
            symbol,
            msg: format!("written precision {price_precision} (price) / {size_precision} (size) is above {MAX_PRECISION}"),
        });
    }
    let inst = match builtin_instruments().into_iter().find(|i| i.symbol == symbol) {
        Some(mut i) => {
            i.price_precision = i.price_precision.max(price_precision);
            i.size_precision = i.size_precision.max(size_precision);
            i
        }
        None if FIAT.contains(&base) && FIAT.contains(&quote) => {
            let mut i = Instrument::fx(base, quote);
            i.price_precision = price_precision;
            i.size_precision = size_precision;
            i
        }
        None => Instrument::crypto(base, quote, price_precision, size_precision),
    };
    Ok(inst)
}

#[cfg(test)]
pub(crate) mod test_util {
    use std::io::Write;
    use std::path::{Path, PathBuf};

    /// Writes `text` to `dir/name`, gzipped when `gzip`.
    pub fn write_input(dir: &Path, name: &str, text: &str, gzip: bool) -> PathBuf {
        let path = dir.join(name);
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(text.as_bytes()).unwrap();
            std::fs::write(&path, enc.finish().unwrap()).unwrap();
        } else {
            std::fs::write(&path, text).unwrap();
        }
        path
    }

    /// Path of a file in the shared data folder, or None (with a note) when the folder is absent.
    pub fn shared_data(name: &str) -> Option<PathBuf> {
        let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")).join(name);
        if p.exists() {
            Some(p)
        } else {
            eprintln!("note: {} absent; skipping the real-data check", p.display());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;
    use crate::tickfile::TickFile;

    #[test]
    fn infers_instruments_from_file_names() {
        let p = |s: &str| infer_symbol(Path::new(s), None).unwrap();
        assert_eq!(p("/x/audusd_truefx_20200130-31_quotes.csv.gz"), ("AUD".into(), "USD".into()));
        assert_eq!(p("btcusdt_binance_spot_20240808_trades.csv.gz"), ("BTC".into(), "USDT".into()));
        assert_eq!(p("EUR_USD_2020.csv"), ("EUR".into(), "USD".into()));
        assert!(infer_symbol(Path::new("ticks.csv"), None).is_err());
        assert_eq!(infer_symbol(Path::new("ticks.csv"), Some("usd/jpy")).unwrap(), ("USD".into(), "JPY".into()));
    }

    #[test]
    fn detects_formats_and_merges_into_a_tick_file() {
        let dir = tempfile::tempdir().unwrap();
        let q = write_input(
            dir.path(),
            "eurusd_q.csv.gz",
            "ts_ns,bid,ask,bid_size,ask_size\n10,1.10000,1.10002,1,1\n30,1.10001,1.10003,1,1\n",
            true,
        );
        let t = write_input(
            dir.path(),
            "btcusdt_t.csv",
            "ts_ns,exch_ts_ms,trade_id,price,qty,aggressor\n10,1,1,60000.10,0.5,BUY\n20,1,2,60000.20,0.25,SELL\n",
            false,
        );
        let out = dir.path().join("m.pinticks");
        let inputs = [ImportInput::new(&q), ImportInput::new(&t)];
        let s = import_files(&inputs, &out, &ImportOptions::quiet()).unwrap();
        assert_eq!(s.total, 4);
        assert_eq!((s.first_ts, s.last_ts), (10, 30));
        assert_eq!(s.per_instrument[0], InstrumentCount { symbol: "EUR_USD".into(), ticks: 2 });
        assert_eq!(s.per_instrument[1], InstrumentCount { symbol: "BTC_USDT".into(), ticks: 2 });
        let tf = TickFile::open(&out).unwrap();
        let order: Vec<(i64, u16)> = tf.ticks().iter().map(|t| (t.ts_ns, t.instrument)).collect();
        assert_eq!(order, [(10, 0), (10, 1), (20, 1), (30, 0)]);
        tf.verify().unwrap();

        let bad = write_input(dir.path(), "eurusd_bad.csv", "time,price\n1,2\n", false);
        let err = import_files(&[ImportInput::new(&bad)], &dir.path().join("x.pinticks"), &ImportOptions::quiet());
        assert!(matches!(err, Err(ImportError::UnknownFormat { .. })));
        assert!(!dir.path().join("x.pinticks").exists());
    }

    #[test]
    fn failed_import_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let good = write_input(dir.path(), "eurusd_a.csv", "ts_ns,bid,ask,bid_size,ask_size\n1,1.1,1.2,1,1\n", false);
        let bad = write_input(dir.path(), "eurusd_b.csv", "ts_ns,bid,ask,bid_size,ask_size\n1,1.3,1.2,1,1\n", false);
        let out = dir.path().join("o.pinticks");
        let r = import_files(&[ImportInput::new(good), ImportInput::new(bad)], &out, &ImportOptions::quiet());
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn imports_the_real_audusd_file_into_a_tick_file() {
        let Some(src) = shared_data("audusd_truefx_20200130-31_quotes.csv.gz") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("audusd.pinticks");
        let s = import_files(&[ImportInput::new(src)], &out, &ImportOptions::quiet()).unwrap();
        assert_eq!(s.total, 100_000);
        assert_eq!((s.first_ts, s.last_ts), (1_580_398_089_820_000_000, 1_580_504_394_501_000_000));
        let tf = TickFile::open(&out).unwrap();
        tf.verify().unwrap();
        assert_eq!(tf.len(), 100_000);
        assert_eq!(tf.instruments()[0].symbol, "AUD_USD");
    }
}
