//! CSV quote ticks in the common schema `ts_ns,bid,ask,bid_size,ask_size` (plain or gzip).
//! Precisions come from the first data row as written (widened to the builtin instrument's when that
//! is larger); later rows may not carry more significant digits.

use super::reader::{parse_int, split_fields, LineReader};
use super::{choose_instrument, expect_header, infer_symbol, ImportError, Imported, LineError};
use indicatif::ProgressBar;
use pinion_core::fixed::{format_decimal, parse_decimal, written_precision, Price, Quantity};
use pinion_core::instrument::{Instrument, InstrumentId};
use pinion_core::tick::Tick;
use std::path::Path;

/// The required header line.
pub const QUOTE_HEADER: &str = "ts_ns,bid,ask,bid_size,ask_size";

/// Imports a quote CSV file. `instrument` names the instrument; without it the file name decides.
pub fn import_csv_quotes(path: &Path, instrument: Option<&str>) -> Result<Imported, ImportError> {
    let mut r = LineReader::open(path, &ProgressBar::hidden())?;
    expect_header(&mut r, QUOTE_HEADER)?;
    parse(&mut r, instrument)
}

pub(crate) fn field_err(field: &'static str, e: impl std::fmt::Display) -> LineError {
    LineError::BadField { field, detail: e.to_string() }
}

/// Parses the data rows after the header.
pub(crate) fn parse(r: &mut LineReader, instrument: Option<&str>) -> Result<Imported, ImportError> {
    let (base, quote) = infer_symbol(r.path(), instrument)?;
    let mut ticks: Vec<Tick> = Vec::with_capacity(r.capacity_hint());
    let mut inst: Option<Instrument> = None;
    let mut prev = i64::MIN;
    let mut buf = Vec::with_capacity(128);
    let id = InstrumentId(0);
    while r.read_line(&mut buf)? {
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let [ts, bid, ask, bid_size, ask_size] = split_fields::<5>(line).map_err(|k| r.err(k))?;
        let (pp, sp) = match &inst {
            Some(i) => (i.price_precision, i.size_precision),
            None => {
                let wp = written_precision(bid).max(written_precision(ask));
                let ws = written_precision(bid_size).max(written_precision(ask_size));
                let i = choose_instrument(r.path(), &base, &quote, wp, ws)?;
                let p = (i.price_precision, i.size_precision);
                inst = Some(i);
                p
            }
        };
        let ts = parse_int("ts_ns", ts).map_err(|k| r.err(k))?;
        let bid = parse_decimal(bid, pp).map_err(|e| r.err(field_err("bid", e)))?;
        let ask = parse_decimal(ask, pp).map_err(|e| r.err(field_err("ask", e)))?;
        let bid_size = parse_decimal(bid_size, sp).map_err(|e| r.err(field_err("bid_size", e)))?;
        let ask_size = parse_decimal(ask_size, sp).map_err(|e| r.err(field_err("ask_size", e)))?;
        if ts < prev {
            return Err(r.err(LineError::Unsorted { ts_ns: ts, prev_ns: prev }));
        }
        if bid > ask {
            let (bid, ask) = (format_decimal(bid, pp), format_decimal(ask, pp));
            return Err(r.err(LineError::Crossed { bid, ask }));
        }
        if bid_size < 0 || ask_size < 0 {
            return Err(r.err(field_err("bid_size/ask_size", "negative size")));
        }
        ticks.push(Tick::quote(ts, id, Price(bid), Price(ask), Quantity(bid_size), Quantity(ask_size)));
        prev = ts;
    }
    match inst {
        Some(i) if !ticks.is_empty() => Ok(Imported { instruments: vec![i], ticks }),
        _ => Err(ImportError::Empty { path: r.path().to_path_buf() }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{shared_data, write_input};
    use super::*;

    const H: &str = "ts_ns,bid,ask,bid_size,ask_size\n";

    fn import(text: &str, gzip: bool) -> Result<Imported, ImportError> {
        let dir = tempfile::tempdir().unwrap();
        let p = write_input(dir.path(), "audusd_test.csv", text, gzip);
        import_csv_quotes(&p, None)
    }

    /// Asserts that importing `text` fails naming the file, the line and `what`.
    fn fails(text: &str, gzip: bool, line: u64, what: &str) {
        let msg = import(text, gzip).unwrap_err().to_string();
        assert!(msg.contains("audusd_test.csv"), "no file in {msg:?}");
        assert!(msg.contains(&format!(", line {line}:")), "no line {line} in {msg:?}");
        assert!(msg.contains(what), "no {what:?} in {msg:?}");
    }

    #[test]
    fn imports_plain_and_gzip_alike() {
        let text = format!("{H}1,0.67067,0.67070,1000000,1000000\n2,0.6707,0.6707,5,6\r\n\n");
        for gz in [false, true] {
            let got = import(&text, gz).unwrap();
            assert_eq!(got.instruments[0].symbol, "AUD_USD");
            assert_eq!(got.instruments[0].price_precision, 5);
            assert_eq!(got.ticks.len(), 2);
            assert_eq!((got.ticks[0].bid, got.ticks[0].ask, got.ticks[0].bid_size), (67067, 67070, 1_000_000));
            assert_eq!((got.ticks[1].bid, got.ticks[1].ask, got.ticks[1].ask_size), (67070, 67070, 6));
        }
    }

    #[test]
    fn written_precision_rules() {
        let dir = tempfile::tempdir().unwrap();
        // Builtin AUD_USD (5 dp) wins over 4 written decimals; 6 written decimals widen it.
        let p = write_input(dir.path(), "audusd_a.csv", &format!("{H}1,0.6706,0.6707,1,1\n"), false);
        assert_eq!(import_csv_quotes(&p, None).unwrap().instruments[0].price_precision, 5);
        let p = write_input(dir.path(), "audusd_b.csv", &format!("{H}1,0.670670,0.670700,1,1\n"), false);
        assert_eq!(import_csv_quotes(&p, None).unwrap().ticks[0].bid, 670_670);
        // Unknown instrument: the written precision rules, and later rows may not exceed it.
        let p = write_input(dir.path(), "x.csv", &format!("{H}1,1.50,1.51,0.5,2\n2,1.52,1.53,0.25,1\n"), false);
        let msg = import_csv_quotes(&p, Some("SOL-USDT")).unwrap_err().to_string();
        assert!(msg.contains("line 3") && msg.contains("bid_size"), "{msg}");
        let p = write_input(dir.path(), "y.csv", &format!("{H}1,1.50,1.51,0.5,2\n2,1.520,1.53,0.5,1\n"), false);
        let got = import_csv_quotes(&p, Some("SOL-USDT")).unwrap();
        assert_eq!((got.instruments[0].price_precision, got.instruments[0].size_precision), (2, 1));
        assert_eq!(got.ticks[1].bid, 152);
    }

    #[test]
    fn errors_name_file_and_line() {
        fails(&format!("{H}2,0.67067,0.67070,1,1\n1,0.67067,0.67070,1,1\n"), false, 3, "unsorted timestamps");
        fails(&format!("{H}1,0.67071,0.67070,1,1\n"), false, 2, "crossed quote");
        fails(&format!("{H}1,0.67067,0.67070,1,1\n2,NaN,0.67070,1,1\n"), false, 3, "field bid");
        fails(&format!("{H}1,0.67067,0.67070,1,1\n2,0.67067,abc,1,1\n"), false, 3, "field ask");
        fails(&format!("{H}1,0.67067,0.67070,1,1\n2,0.67067,0.67070\n"), true, 3, "short line");
        fails(&format!("{H}x1,0.67067,0.67070,1,1\n"), false, 2, "field ts_ns");
        fails("ts,bid\n1,2\n", false, 1, "bad header");
    }

    #[test]
    fn equal_bid_ask_and_equal_timestamps_are_valid() {
        let got = import(&format!("{H}1,0.67070,0.67070,1,1\n1,0.67069,0.67070,1,1\n"), false).unwrap();
        assert_eq!(got.ticks.len(), 2);
    }

    #[test]
    fn empty_files_are_refused() {
        for text in ["", H, "\n\n"] {
            let err = import(text, false).unwrap_err();
            assert!(matches!(err, ImportError::Empty { .. }), "{err}");
            assert!(err.to_string().contains("audusd_test.csv"));
        }
    }

    #[test]
    fn corrupt_gzip_names_file_and_line_reached() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from(H);
        for i in 0..20_000 {
            text.push_str(&format!("{i},0.{:05},0.{:05},1000000,1000000\n", 60000 + i % 7919, 70000 + i % 7919));
        }
        let p = write_input(dir.path(), "audusd_gz.csv.gz", &text, true);
        let mut bytes = std::fs::read(&p).unwrap();
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 64] {
            *b ^= 0x5a;
        }
        std::fs::write(&p, &bytes).unwrap();
        let msg = import_csv_quotes(&p, None).unwrap_err().to_string();
        // Garbage may surface as a bad row before the checksum fails; either way file and line are named.
        assert!(msg.contains("audusd_gz.csv.gz") && msg.contains(", line "), "{msg}");

        let truncated = &std::fs::read(write_input(dir.path(), "audusd_t.csv.gz", &text, true)).unwrap()[..mid];
        std::fs::write(&p, truncated).unwrap();
        let msg = import_csv_quotes(&p, None).unwrap_err().to_string();
        assert!(msg.contains("corrupt gzip stream") && msg.contains(", line "), "{msg}");
    }

    #[test]
    fn real_audusd_file() {
        let Some(p) = shared_data("audusd_truefx_20200130-31_quotes.csv.gz") else {
            return;
        };
        let got = import_csv_quotes(&p, None).unwrap();
        assert_eq!(got.ticks.len(), 100_000);
        assert_eq!(got.instruments[0].symbol, "AUD_USD");
        assert_eq!(got.instruments[0].price_precision, 5);
        let (f, l) = (got.ticks[0], got.ticks[99_999]);
        assert_eq!((f.ts_ns, f.bid, f.ask), (1_580_398_089_820_000_000, 67067, 67070));
        assert_eq!((l.ts_ns, l.bid, l.ask), (1_580_504_394_501_000_000, 66934, 66938));
    }
}
