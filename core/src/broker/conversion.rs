//! Converting quote-currency amounts into the USD account currency at the current mid of the matching
//! pair, exactly, rounded to cents half away from zero. USDT and USDC count as USD.

use crate::fixed::{div_round_half_away, Money, POW10};
use crate::instrument::{InstrumentId, InstrumentTable};
use crate::order::RejectReason;

/// How to turn an amount in an instrument's quote currency into USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// The quote currency is the account currency.
    Usd,
    /// Multiply by the mid of `QUOTE_USD`.
    Multiply(InstrumentId),
    /// Divide by the mid of `USD_QUOTE`.
    Divide(InstrumentId),
    /// No pair in the table links the currency to USD.
    Unknown,
}

fn is_usd(ccy: &str) -> bool {
    matches!(ccy, "USD" | "USDT" | "USDC")
}

/// Last known mid prices and the conversion route for each instrument.
#[derive(Debug, Clone)]
pub struct Rates {
    /// `bid + ask` of the last quote per instrument, 0 when none yet.
    mid_x2: Vec<i64>,
    precision: Vec<u8>,
    size_precision: Vec<u8>,
    routes: Vec<Route>,
}

impl Rates {
    /// Conversion routes for every instrument of `table`, with no mids known yet.
    pub fn new(table: &InstrumentTable) -> Rates {
        let mut routes = Vec::with_capacity(table.len());
        for (_, inst) in table.iter() {
            let route = if is_usd(&inst.quote) {
                Route::Usd
            } else if let Some(id) = table.iter().find(|(_, i)| i.base == inst.quote && is_usd(&i.quote)).map(|(id, _)| id) {
                Route::Multiply(id)
            } else if let Some(id) = table.iter().find(|(_, i)| is_usd(&i.base) && i.quote == inst.quote).map(|(id, _)| id) {
                Route::Divide(id)
            } else {
                Route::Unknown
            };
            routes.push(route);
        }
        Rates {
            mid_x2: vec![0; table.len()],
            precision: table.iter().map(|(_, i)| i.price_precision).collect(),
            size_precision: table.iter().map(|(_, i)| i.size_precision).collect(),
            routes,
        }
    }

    /// Records the latest quote of `instrument` (bid and ask in price steps).
    #[inline]
    pub fn update(&mut self, instrument: InstrumentId, bid: i64, ask: i64) {
        self.mid_x2[instrument.0 as usize] = bid + ask;
    }

    /// Last mids of every instrument (`bid + ask`, 0 when none yet), for snapshots.
    pub fn mids_x2(&self) -> &[i64] {
        &self.mid_x2
    }

    /// Restores the mids saved by [`mids_x2`](Self::mids_x2); false when the length does not match.
    pub fn set_mids_x2(&mut self, mids: &[i64]) -> bool {
        if mids.len() != self.mid_x2.len() {
            return false;
        }
        self.mid_x2.copy_from_slice(mids);
        true
    }

    /// Last `bid + ask` of `instrument` in price steps (twice the mid; 0 before its first quote).
    pub fn mid_x2(&self, instrument: InstrumentId) -> i64 {
        self.mid_x2[instrument.0 as usize]
    }

    /// USD value of one unit of the instrument's quote currency at the current mid (for sizing decisions).
    pub fn usd_per_quote_unit(&self, instrument: InstrumentId) -> Option<f64> {
        let mid = |r: InstrumentId| {
            let m = self.mid_x2[r.0 as usize];
            (m > 0).then(|| m as f64 / (2 * POW10[self.precision[r.0 as usize] as usize]) as f64)
        };
        match self.routes[instrument.0 as usize] {
            Route::Usd => Some(1.0),
            Route::Multiply(r) => mid(r),
            Route::Divide(r) => mid(r).map(|m| 1.0 / m),
            Route::Unknown => None,
        }
    }

    /// Converts `amount` (in units of `10^-(price_precision + size_precision)` of the instrument's quote
    /// currency, i.e. `qty_raw * price_raw`) to USD cents.
    pub fn to_usd(&self, instrument: InstrumentId, amount: i128) -> Result<Money, RejectReason> {
        let i = instrument.0 as usize;
        let scale = POW10[(self.precision[i] + self.size_precision[i]) as usize] as i128;
        let cents = match self.routes[i] {
            Route::Usd => div_round_half_away(amount * 100, scale),
            Route::Multiply(r) => {
                let m = self.mid_x2[r.0 as usize] as i128;
                if m <= 0 {
                    return Err(RejectReason::NoConversionRate);
                }
                let p2 = POW10[self.precision[r.0 as usize] as usize] as i128;
                div_round_half_away(amount * 100 * m, scale * 2 * p2)
            }
            Route::Divide(r) => {
                let m = self.mid_x2[r.0 as usize] as i128;
                if m <= 0 {
                    return Err(RejectReason::NoConversionRate);
                }
                let p2 = POW10[self.precision[r.0 as usize] as usize] as i128;
                div_round_half_away(amount * 100 * 2 * p2, scale * m)
            }
            Route::Unknown => return Err(RejectReason::NoConversionRate),
        };
        Ok(Money(cents as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::Instrument;

    #[test]
    fn usd_jpy_converts_at_its_own_mid() {
        let mut t = InstrumentTable::new();
        let uj = t.add(Instrument::fx("USD", "JPY")).unwrap();
        let mut r = Rates::new(&t);
        // 1,000 JPY with no rate yet: refused.
        assert_eq!(r.to_usd(uj, 1_000_000), Err(RejectReason::NoConversionRate));
        // mid 109.500 -> 1,000 JPY = 9.1324... USD = 9.13
        r.update(uj, 109_490, 109_510);
        assert_eq!(r.to_usd(uj, 1_000 * 1_000), Ok(Money(913)));
        // -500 JPY = -4.566 USD -> -4.57 (half away from zero)
        assert_eq!(r.to_usd(uj, -500 * 1_000), Ok(Money(-457)));
    }

    #[test]
    fn crosses_use_the_quote_usd_pair() {
        let mut t = InstrumentTable::new();
        let eg = t.add(Instrument::fx("EUR", "GBP")).unwrap();
        let gu = t.add(Instrument::fx("GBP", "USD")).unwrap();
        let mut r = Rates::new(&t);
        r.update(gu, 130_000, 130_000);
        // 100 GBP (in 10^-5 steps) = 130 USD
        assert_eq!(r.to_usd(eg, 100 * 100_000), Ok(Money(13_000)));
        let au = t.add(Instrument::fx("AUD", "CHF")).unwrap();
        let r = Rates::new(&t);
        assert_eq!(r.to_usd(au, 1), Err(RejectReason::NoConversionRate));
    }
}
