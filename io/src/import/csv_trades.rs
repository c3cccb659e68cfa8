//! CSV trade ticks `ts_ns,exch_ts_ms,trade_id,price,qty,aggressor` (the Binance spot files), plain or
//! gzip, into [`Tick::trade`] records. Precisions follow the same rules as the quote importer.

use super::csv_quotes::field_err;
use super::reader::{parse_int, split_fields, LineReader};
use super::{choose_instrument, expect_header, infer_symbol, ImportError, Imported, LineError};
use indicatif::ProgressBar;
use pinion_core::fixed::{parse_decimal, written_precision, Price, Quantity};
use pinion_core::instrument::{Instrument, InstrumentId};
use pinion_core::tick::{Tick, AGGRESSOR_BUY, AGGRESSOR_NONE, AGGRESSOR_SELL};
use std::path::Path;

/// The required header line.
pub const TRADE_HEADER: &str = "ts_ns,exch_ts_ms,trade_id,price,qty,aggressor";

/// Imports a trade CSV file. `instrument` names the instrument; without it the file name decides.
pub fn import_csv_trades(path: &Path, instrument: Option<&str>) -> Result<Imported, ImportError> {
    let mut r = LineReader::open(path, &ProgressBar::hidden())?;
    expect_header(&mut r, TRADE_HEADER)?;
    parse(&mut r, instrument)
}

fn aggressor(s: &[u8]) -> Result<u8, LineError> {
    match s {
        b"BUY" | b"buy" | b"B" => Ok(AGGRESSOR_BUY),
        b"SELL" | b"sell" | b"S" => Ok(AGGRESSOR_SELL),
        b"" | b"NONE" | b"none" => Ok(AGGRESSOR_NONE),
        _ => Err(field_err("aggressor", format!("expected BUY or SELL, found {:?}", String::from_utf8_lossy(s)))),
    }
}

/// Parses the data rows after the header.
pub(crate) fn parse(r: &mut LineReader, instrument: Option<&str>) -> Result<Imported, ImportError> {
    let (base, quote) = infer_symbol(r.path(), instrument)?;
    let mut ticks: Vec<Tick> = Vec::with_capacity(r.capacity_hint());
    let mut inst: Option<Instrument> = None;
    let mut prev = i64::MIN;
    let mut buf = Vec::with_capacity(128);
    while r.read_line(&mut buf)? {
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let [ts, exch_ms, trade_id, price, qty, side] = split_fields::<6>(line).map_err(|k| r.err(k))?;
        let (pp, sp) = match &inst {
            Some(i) => (i.price_precision, i.size_precision),
            None => {
                let i = choose_instrument(r.path(), &base, &quote, written_precision(price), written_precision(qty))?;
                let p = (i.price_precision, i.size_precision);
                inst = Some(i);
                p
            }
        };
        let ts = parse_int("ts_ns", ts).map_err(|k| r.err(k))?;
        parse_int("exch_ts_ms", exch_ms).map_err(|k| r.err(k))?;
        parse_int("trade_id", trade_id).map_err(|k| r.err(k))?;
        let price = parse_decimal(price, pp).map_err(|e| r.err(field_err("price", e)))?;
        let qty = parse_decimal(qty, sp).map_err(|e| r.err(field_err("qty", e)))?;
        let side = aggressor(side).map_err(|k| r.err(k))?;
        if ts < prev {
            return Err(r.err(LineError::Unsorted { ts_ns: ts, prev_ns: prev }));
        }
        if qty < 0 {
            return Err(r.err(field_err("qty", "negative quantity")));
        }
        ticks.push(Tick::trade(ts, InstrumentId(0), Price(price), Quantity(qty), side));
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

    const H: &str = "ts_ns,exch_ts_ms,trade_id,price,qty,aggressor\n";

    #[test]
    fn imports_trades() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{H}100,1,7,60000.10,0.00500,BUY\n100,1,8,60000.2,0.1,SELL\n");
        let p = write_input(dir.path(), "btcusdt_x_trades.csv.gz", &text, true);
        let got = import_csv_trades(&p, None).unwrap();
        assert_eq!(got.instruments[0].symbol, "BTC_USDT");
        assert_eq!((got.instruments[0].price_precision, got.instruments[0].size_precision), (2, 5));
        let t = got.ticks[1];
        assert_eq!((t.kind, t.bid, t.ask, t.bid_size, t.flags), (1, 6_000_020, 6_000_020, 10_000, AGGRESSOR_SELL));
        assert_eq!(got.ticks[0].flags, AGGRESSOR_BUY);
    }

    #[test]
    fn trade_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        for (body, line, what) in [
            ("5,1,1,1.00,1,BUY\n4,1,2,1.00,1,BUY\n", 3, "unsorted timestamps"),
            ("5,1,1,1.00,1,HOLD\n", 2, "aggressor"),
            ("5,1,1,NaN,1,BUY\n", 2, "field price"),
            ("5,1,1,1.00\n", 2, "short line"),
        ] {
            let p = write_input(dir.path(), "ethusdt_t.csv", &format!("{H}{body}"), false);
            let msg = import_csv_trades(&p, None).unwrap_err().to_string();
            assert!(msg.contains("ethusdt_t.csv") && msg.contains(&format!("line {line}:")), "{msg}");
            assert!(msg.contains(what), "{msg}");
        }
    }

    #[test]
    fn real_binance_trades() {
        let Some(p) = shared_data("ethusdt_binance_spot_20240808_trades.csv.gz") else {
            return;
        };
        let got = import_csv_trades(&p, None).unwrap();
        assert_eq!(got.ticks.len(), 14_515);
        assert_eq!(got.instruments[0].symbol, "ETH_USDT");
        assert!(got.ticks.iter().all(|t| t.flags == AGGRESSOR_BUY || t.flags == AGGRESSOR_SELL));
    }
}
