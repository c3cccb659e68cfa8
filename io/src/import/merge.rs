//! Merging time-sorted tick sources: a stable k-way merge (equal timestamps keep input order) and the
//! remapping of each source's instrument ids (and precisions) into one shared table.

use super::ImportError;
use pinion_core::fixed::POW10;
use pinion_core::instrument::Instrument;
use pinion_core::tick::Tick;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Merges sorted sources by timestamp, calling `sink(source_index, tick)` in merged order. Ties go to
/// the lower source index, and each source's own order is kept, so the merge is stable.
pub fn kway_merge<E>(sources: &[&[Tick]], mut sink: impl FnMut(usize, &Tick) -> Result<(), E>) -> Result<(), E> {
    if let [only] = sources {
        return only.iter().try_for_each(|t| sink(0, t));
    }
    let mut pos = vec![0usize; sources.len()];
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> =
        sources.iter().enumerate().filter_map(|(i, s)| s.first().map(|t| Reverse((t.ts_ns, i)))).collect();
    while let Some(Reverse((_, src))) = heap.pop() {
        let ticks = sources[src];
        // Drain this source while it stays strictly ahead of every other head (or ties a later one).
        let limit = heap.peek().map(|Reverse(k)| *k);
        let mut p = pos[src];
        while let Some(t) = ticks.get(p) {
            if let Some((ts, other)) = limit {
                if (t.ts_ns, src) > (ts, other) {
                    break;
                }
            }
            sink(src, t)?;
            p += 1;
        }
        pos[src] = p;
        if let Some(t) = ticks.get(p) {
            heap.push(Reverse((t.ts_ns, src)));
        }
    }
    Ok(())
}

/// Where a source's local instrument lands in the merged table, and how to rescale its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Remap {
    id: u16,
    price_mul: i64,
    size_mul: i64,
}

/// The merged instrument table and each source's id mapping into it.
#[derive(Debug, Clone)]
pub struct MergePlan {
    instruments: Vec<Instrument>,
    remaps: Vec<Vec<Remap>>,
}

impl MergePlan {
    /// The merged table (instruments in order of first appearance).
    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    /// `tick` from source `src`, with its instrument id and values in the merged table's terms.
    pub fn remap(&self, src: usize, tick: &Tick) -> Result<Tick, ImportError> {
        let m = self
            .remaps
            .get(src)
            .and_then(|r| r.get(tick.instrument as usize))
            .ok_or_else(|| ImportError::Merge(format!("input {src}: instrument index {} out of range", tick.instrument)))?;
        let mut t = *tick;
        t.instrument = m.id;
        if m.price_mul != 1 || m.size_mul != 1 {
            let over = || ImportError::Merge(format!("input {src}: value overflow rescaling tick at {}", tick.ts_ns));
            t.bid = t.bid.checked_mul(m.price_mul).ok_or_else(over)?;
            t.ask = t.ask.checked_mul(m.price_mul).ok_or_else(over)?;
            t.bid_size = t.bid_size.checked_mul(m.size_mul).ok_or_else(over)?;
            t.ask_size = t.ask_size.checked_mul(m.size_mul).ok_or_else(over)?;
        }
        Ok(t)
    }
}

/// Unifies instrument tables by symbol. The same symbol in two sources must be the same kind; it gets
/// the larger of the precisions, and the source with fewer decimals is rescaled.
pub fn unify(tables: &[&[Instrument]]) -> Result<MergePlan, ImportError> {
    let mut instruments: Vec<Instrument> = Vec::new();
    for table in tables {
        for inst in table.iter() {
            match instruments.iter_mut().find(|i| i.symbol == inst.symbol) {
                Some(have) => {
                    if have.kind != inst.kind {
                        return Err(ImportError::Merge(format!("{} has different kinds in two inputs", inst.symbol)));
                    }
                    have.price_precision = have.price_precision.max(inst.price_precision);
                    have.size_precision = have.size_precision.max(inst.size_precision);
                }
                None => instruments.push(inst.clone()),
            }
        }
    }
    if instruments.len() > u16::MAX as usize + 1 {
        return Err(ImportError::Merge(format!("{} instruments, at most 65536 fit", instruments.len())));
    }
    let mut remaps = Vec::with_capacity(tables.len());
    for table in tables {
        let mut r = Vec::with_capacity(table.len());
        for inst in table.iter() {
            let id = instruments.iter().position(|i| i.symbol == inst.symbol).unwrap_or(0);
            let to = &instruments[id];
            let scale = |have: u8, want: u8| POW10[want.saturating_sub(have) as usize];
            r.push(Remap {
                id: id as u16,
                price_mul: scale(inst.price_precision, to.price_precision),
                size_mul: scale(inst.size_precision, to.size_precision),
            });
        }
        remaps.push(r);
    }
    Ok(MergePlan { instruments, remaps })
}

/// Merges sources planned by [`unify`] into `sink`, checking that the merged stream never goes back.
pub fn merge_with_plan(
    plan: &MergePlan,
    sources: &[(&[Instrument], &[Tick])],
    mut sink: impl FnMut(Tick) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let slices: Vec<&[Tick]> = sources.iter().map(|s| s.1).collect();
    let mut prev = i64::MIN;
    kway_merge(&slices, |src, t| {
        if t.ts_ns < prev {
            return Err(ImportError::Merge(format!("input {src} is not sorted: timestamp {} follows {prev}", t.ts_ns)));
        }
        prev = t.ts_ns;
        sink(plan.remap(src, t)?)
    })
}

/// Merges `(instruments, ticks)` sources into one table and time-ordered stream fed to `sink`;
/// returns the merged table.
pub fn merge_sources(
    sources: &[(&[Instrument], &[Tick])],
    sink: impl FnMut(Tick) -> Result<(), ImportError>,
) -> Result<Vec<Instrument>, ImportError> {
    let plan = unify(&sources.iter().map(|s| s.0).collect::<Vec<_>>())?;
    merge_with_plan(&plan, sources, sink)?;
    Ok(plan.instruments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinion_core::fixed::{Price, Quantity};
    use pinion_core::instrument::InstrumentId;

    fn q(ts: i64, inst: u16, bid: i64) -> Tick {
        Tick::quote(ts, InstrumentId(inst), Price(bid), Price(bid + 1), Quantity(1), Quantity(1))
    }

    #[test]
    fn equal_timestamps_keep_input_order() {
        let a = [q(1, 0, 10), q(5, 0, 11), q(5, 0, 12), q(9, 0, 13)];
        let b = [q(0, 0, 20), q(5, 0, 21), q(5, 0, 22), q(6, 0, 23)];
        let c = [q(5, 0, 30)];
        let mut got = Vec::new();
        kway_merge::<()>(&[&a, &b, &c, &[]], |_, t| {
            got.push(t.bid);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, [20, 10, 11, 12, 21, 22, 30, 23, 13]);
    }

    #[test]
    fn remaps_ids_and_rescales_precisions() {
        let eu5 = Instrument::fx("EUR", "USD");
        let mut eu6 = eu5.clone();
        eu6.price_precision = 6;
        let uj = Instrument::fx("USD", "JPY");
        let s1 = (vec![uj.clone(), eu5.clone()], vec![q(1, 1, 110_000), q(2, 0, 109_000)]);
        let s2 = (vec![eu6.clone()], vec![q(1, 0, 1_100_005)]);
        let mut out = Vec::new();
        let table = merge_sources(&[(&s1.0, &s1.1), (&s2.0, &s2.1)], |t| {
            out.push((t.ts_ns, t.instrument, t.bid));
            Ok(())
        })
        .unwrap();
        assert_eq!(table.iter().map(|i| i.symbol.as_str()).collect::<Vec<_>>(), ["USD_JPY", "EUR_USD"]);
        assert_eq!(table[1].price_precision, 6);
        assert_eq!(out, [(1, 1, 1_100_000), (1, 1, 1_100_005), (2, 0, 109_000)]);
    }

    #[test]
    fn rejects_unsorted_source() {
        let eu = [Instrument::fx("EUR", "USD")];
        let ticks = [q(5, 0, 1), q(4, 0, 1)];
        let err = merge_sources(&[(&eu, &ticks)], |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("not sorted"), "{err}");
    }
}
