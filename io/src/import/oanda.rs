//! OANDA v20 price-stream JSON lines (`{"type":"PRICE",...}`), parsed with simd-json from a reused
//! line buffer. HEARTBEAT and other message types are skipped; one stream may mix instruments. The
//! best bid and ask are `bids[0]` and `asks[0]`; liquidity becomes the size.

use super::csv_quotes::field_err;
use super::reader::LineReader;
use super::{choose_instrument, ImportError, Imported, LineError};
use indicatif::ProgressBar;
use pinion_core::fixed::{format_decimal, parse_decimal, written_precision, Price, Quantity};
use pinion_core::instrument::{split_symbol, Instrument, InstrumentId};
use pinion_core::tick::Tick;
use pinion_core::time::parse_iso;
use simd_json::prelude::*;
use simd_json::BorrowedValue;
use std::path::Path;

/// Imports an OANDA price-stream capture (one JSON object per line, plain or gzip).
pub fn import_oanda(path: &Path) -> Result<Imported, ImportError> {
    let mut r = LineReader::open(path, &ProgressBar::hidden())?;
    let mut first = Vec::new();
    if !r.read_line(&mut first)? {
        return Err(ImportError::Empty { path: path.to_path_buf() });
    }
    parse(&mut r, first)
}

/// One instrument seen in the stream.
struct Seen {
    name: String,
    inst: Instrument,
    last_ts: i64,
}

/// The best level of one side: price text and liquidity.
fn best<'v>(v: &'v BorrowedValue<'v>, side: &'static str) -> Result<Option<(&'v str, i64)>, LineError> {
    let Some(levels) = v.get(side).and_then(|l| l.as_array()) else {
        return Err(field_err(side, "missing or not an array"));
    };
    let Some(top) = levels.first() else {
        return Ok(None);
    };
    let price = top.get_str("price").ok_or_else(|| field_err(side, "level without a \"price\" string"))?;
    let liq = match top.get("liquidity") {
        None => 0,
        Some(l) => match (l.as_i64(), l.as_f64(), l.as_str()) {
            (Some(i), _, _) => i,
            (None, Some(f), _) if f.fract() == 0.0 && f.abs() < 9e15 => f as i64,
            (None, None, Some(s)) => s.parse().map_err(|_| field_err(side, format!("liquidity {s:?}")))?,
            _ => return Err(field_err(side, "liquidity is not a whole number")),
        },
    };
    if liq < 0 {
        return Err(field_err(side, "negative liquidity"));
    }
    Ok(Some((price, liq)))
}

/// Parses the stream; `first` is the already-read first line.
pub(crate) fn parse(r: &mut LineReader, first: Vec<u8>) -> Result<Imported, ImportError> {
    let mut seen: Vec<Seen> = Vec::new();
    let mut ticks: Vec<Tick> = Vec::with_capacity(r.capacity_hint() / 4);
    let mut buffers = simd_json::Buffers::default();
    let mut buf = first;
    let mut sorted = true;
    let mut prev = i64::MIN;
    loop {
        if !buf.trim_ascii().is_empty() {
            let v = simd_json::to_borrowed_value_with_buffers(&mut buf, &mut buffers).map_err(|e| r.err(LineError::Json(e.to_string())))?;
            let typ = v.get_str("type").ok_or_else(|| r.err(field_err("type", "missing")))?;
            if typ == "PRICE" {
                if let Some(tick) = price_tick(r, &v, &mut seen)? {
                    sorted &= tick.ts_ns >= prev;
                    prev = tick.ts_ns;
                    ticks.push(tick);
                }
            }
        }
        if !r.read_line(&mut buf)? {
            break;
        }
    }
    if ticks.is_empty() {
        return Err(ImportError::Empty { path: r.path().to_path_buf() });
    }
    if !sorted {
        // Each instrument is in order (checked); interleave them by time, keeping stream order on ties.
        ticks.sort_by_key(|t| t.ts_ns);
    }
    Ok(Imported { instruments: seen.into_iter().map(|s| s.inst).collect(), ticks })
}

/// The quote tick of one PRICE message, or None when a side is empty (a non-tradeable update).
fn price_tick(r: &LineReader, v: &BorrowedValue<'_>, seen: &mut Vec<Seen>) -> Result<Option<Tick>, ImportError> {
    let name = v.get_str("instrument").ok_or_else(|| r.err(field_err("instrument", "missing")))?;
    let time = v.get_str("time").ok_or_else(|| r.err(field_err("time", "missing")))?;
    let ts = parse_iso(time).ok_or_else(|| r.err(field_err("time", format!("not an ISO-8601 time: {time:?}"))))?;
    let (Some((bid_s, bid_liq)), Some((ask_s, ask_liq))) = (best(v, "bids").map_err(|k| r.err(k))?, best(v, "asks").map_err(|k| r.err(k))?)
    else {
        return Ok(None);
    };
    let known = seen.iter().position(|s| s.name == name);
    let idx = match known {
        Some(i) => i,
        None => {
            let (base, quote) =
                split_symbol(name).ok_or_else(|| ImportError::Instrument { path: r.path().to_path_buf(), name: name.to_string() })?;
            let wp = written_precision(bid_s.as_bytes()).max(written_precision(ask_s.as_bytes()));
            let inst = choose_instrument(r.path(), &base, &quote, wp, 0)?;
            let same = seen.iter().position(|s| s.inst.symbol == inst.symbol);
            if let Some(i) = same {
                i // another spelling of a known instrument
            } else {
                if seen.len() > u16::MAX as usize {
                    return Err(ImportError::Merge("more than 65536 instruments in one stream".into()));
                }
                seen.push(Seen { name: name.to_string(), inst, last_ts: i64::MIN });
                seen.len() - 1
            }
        }
    };
    let s = &mut seen[idx];
    let pp = s.inst.price_precision;
    let bid = parse_decimal(bid_s.as_bytes(), pp).map_err(|e| r.err(field_err("bids", e)))?;
    let ask = parse_decimal(ask_s.as_bytes(), pp).map_err(|e| r.err(field_err("asks", e)))?;
    if ts < s.last_ts {
        return Err(r.err(LineError::Unsorted { ts_ns: ts, prev_ns: s.last_ts }));
    }
    if bid > ask {
        return Err(r.err(LineError::Crossed { bid: format_decimal(bid, pp), ask: format_decimal(ask, pp) }));
    }
    s.last_ts = ts;
    let id = InstrumentId(idx as u16);
    Ok(Some(Tick::quote(ts, id, Price(bid), Price(ask), Quantity(bid_liq), Quantity(ask_liq))))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::write_input;
    use super::*;

    const FIXTURE: &str = r#"{"type":"PRICE","instrument":"EUR_USD","time":"2020-01-30T15:28:09.820000000Z","bids":[{"price":"1.10250","liquidity":10000000},{"price":"1.10249","liquidity":20000000}],"asks":[{"price":"1.10262","liquidity":10000000}],"closeoutBid":"1.10250","closeoutAsk":"1.10262","status":"tradeable","tradeable":true}
{"type":"HEARTBEAT","time":"2020-01-30T15:28:10.000000000Z"}

{"type":"PRICE","instrument":"USD_JPY","time":"2020-01-30T15:28:09.500000000Z","bids":[{"price":"108.950","liquidity":1000000}],"asks":[{"price":"108.962","liquidity":1000000}],"tradeable":true}
{"type":"PRICE","instrument":"EUR_USD","time":"2020-01-30T15:28:11.000000000Z","bids":[{"price":"1.10251","liquidity":5000000}],"asks":[{"price":"1.10251","liquidity":5000000}],"tradeable":true}
{"type":"PRICE","instrument":"EUR_USD","time":"2020-01-30T15:28:12.000000000Z","bids":[],"asks":[],"tradeable":false}
"#;

    #[test]
    fn parses_the_fixture() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_input(dir.path(), "stream.jsonl", FIXTURE, false);
        let got = import_oanda(&p).unwrap();
        let syms: Vec<_> = got.instruments.iter().map(|i| i.symbol.as_str()).collect();
        assert_eq!(syms, ["EUR_USD", "USD_JPY"]);
        assert_eq!(got.instruments[1].price_precision, 3);
        let rows: Vec<_> = got.ticks.iter().map(|t| (t.ts_ns, t.instrument, t.bid, t.ask, t.bid_size)).collect();
        assert_eq!(
            rows,
            [
                (1_580_398_089_500_000_000, 1, 108_950, 108_962, 1_000_000),
                (1_580_398_089_820_000_000, 0, 110_250, 110_262, 10_000_000),
                (1_580_398_091_000_000_000, 0, 110_251, 110_251, 5_000_000),
            ]
        );
        // The same stream through the generic detector, gzipped.
        let gz = write_input(dir.path(), "stream.jsonl.gz", FIXTURE, true);
        assert_eq!(super::super::import_file(&gz, None).unwrap(), got);
    }

    #[test]
    fn json_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let ok = FIXTURE.lines().next().unwrap();
        for (bad, what) in [
            (r#"{"type":"PRICE","instrument":"EUR_USD""#, "bad JSON"),
            (r#"{"type":"PRICE","instrument":"EUR_USD","time":"yesterday","bids":[],"asks":[]}"#, "field time"),
            (ok.replace("1.10262", "1.10200").as_str(), "crossed quote"),
            (ok.replace("15:28:09", "15:00:00").as_str(), "unsorted timestamps"),
            (ok.replace("\"1.10250\"", "\"NaN\"").as_str(), "field bids"),
        ] {
            let text = format!("{ok}\n{bad}\n");
            let p = write_input(dir.path(), "s.jsonl", &text, false);
            let msg = import_oanda(&p).unwrap_err().to_string();
            assert!(msg.contains("s.jsonl, line 2:") && msg.contains(what), "{what}: {msg}");
        }
    }
}
