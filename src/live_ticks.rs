//! Live prices in the journal: with a live broker there is no tick file to re-execute after a crash, so
//! each price the stream hands the engine is journaled first (record kind [`TICK`]: its index in the
//! feed since the first start, then the 48-byte tick, little-endian). The stream thread appends it
//! before the tick enters the ring; the core's progress markers come after the ticks they count, so a
//! durable marker implies durable ticks. Recovery reads them back in index order and re-executes them
//! exactly like a recorded feed.

use anyhow::{bail, Context};
use pinion_core::tick::Tick;
use pinion_io::journal::JournalReader;
use std::path::Path;

/// Journal record kind of a live tick.
pub const TICK: u16 = 22;

/// The record payload of tick `index`.
pub fn encode(index: u64, t: &Tick) -> Vec<u8> {
    let mut b = Vec::with_capacity(56);
    b.extend_from_slice(&index.to_le_bytes());
    b.extend_from_slice(&t.ts_ns.to_le_bytes());
    b.extend_from_slice(&t.instrument.to_le_bytes());
    b.push(t.kind);
    b.push(t.flags);
    b.extend_from_slice(&t.reserved.to_le_bytes());
    for v in [t.bid, t.ask, t.bid_size, t.ask_size] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

/// Decodes a record payload; None when it is not 56 bytes.
pub fn decode(p: &[u8]) -> Option<(u64, Tick)> {
    if p.len() != 56 {
        return None;
    }
    let u64_at = |i: usize| p.get(i..i + 8).and_then(|s| s.try_into().ok()).map(u64::from_le_bytes);
    let i64_at = |i: usize| p.get(i..i + 8).and_then(|s| s.try_into().ok()).map(i64::from_le_bytes);
    let tick = Tick {
        ts_ns: i64_at(8)?,
        instrument: u16::from_le_bytes(p.get(16..18)?.try_into().ok()?),
        kind: p[18],
        flags: p[19],
        reserved: u32::from_le_bytes(p.get(20..24)?.try_into().ok()?),
        bid: i64_at(24)?,
        ask: i64_at(32)?,
        bid_size: i64_at(40)?,
        ask_size: i64_at(48)?,
    };
    Some((u64_at(0)?, tick))
}

/// The journaled live ticks with index `from` on, in order; an error names a gap or a bad record.
pub fn read(dir: &Path, from: u64) -> anyhow::Result<Vec<Tick>> {
    let mut reader = JournalReader::open(dir, 0).with_context(|| format!("reading the journal in {}", dir.display()))?;
    let mut out = Vec::new();
    let mut next = from;
    while let Some(r) = reader.next_record().with_context(|| format!("reading the journal in {}", dir.display()))? {
        if r.kind != TICK {
            continue;
        }
        let Some((index, tick)) = decode(r.payload) else { bail!("journal record {} (tick) is not 56 bytes", r.seq) };
        if index < next {
            continue;
        }
        if index > next {
            bail!("the journal's live ticks jump from index {next} to {index} at record {}", r.seq);
        }
        out.push(tick);
        next += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinion_core::fixed::{Price, Quantity};
    use pinion_core::instrument::InstrumentId;

    #[test]
    fn a_tick_round_trips() {
        let t = Tick::quote(1_580_398_071_438_000_000, InstrumentId(3), Price(110_234), Price(110_247), Quantity(5), Quantity(-7));
        assert_eq!(decode(&encode(42, &t)), Some((42, t)));
        assert_eq!(decode(&[0u8; 10]), None);
    }
}
