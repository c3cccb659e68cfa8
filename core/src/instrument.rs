//! Instruments: ids, symbols in every accepted spelling, precisions, pips, margin, and the built-in table.

use crate::fixed::{Rate, POW10};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Dense integer id of an instrument within one engine (index into its [`InstrumentTable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[repr(transparent)]
pub struct InstrumentId(pub u16);

/// Asset class, as OANDA names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstrumentKind {
    /// Foreign exchange pair.
    Currency,
    /// Cryptocurrency pair.
    Crypto,
}

/// One tradable instrument with explicit precisions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instrument {
    /// Canonical OANDA-style name, e.g. `EUR_USD`, `BTC_USDT`.
    pub symbol: String,
    /// Base currency (the one bought or sold), e.g. `EUR`.
    pub base: String,
    /// Quote currency (prices and P&L are in it before conversion to USD), e.g. `USD`.
    pub quote: String,
    /// Asset class.
    pub kind: InstrumentKind,
    /// Decimal places of a price (EUR_USD 5, USD_JPY 3).
    pub price_precision: u8,
    /// Decimal places of a quantity (FX 0: whole units).
    pub size_precision: u8,
    /// Exponent of one pip: -4 for EUR_USD, -2 for USD_JPY.
    pub pip_location: i8,
    /// Margin requirement as a fraction of notional.
    pub margin_rate: Rate,
    /// Smallest order size, in size steps.
    pub min_trade_size: i64,
}

/// Why an instrument could not be found or added.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InstrumentError {
    /// No instrument has this symbol in any accepted spelling.
    #[error("unknown instrument {0:?}")]
    Unknown(String),
    /// The table already holds 65535 instruments (ids are u16).
    #[error("instrument table is full")]
    Full,
}

impl Instrument {
    /// An FX pair with the usual OANDA conventions (JPY pairs 3 dp, others 5 dp; 30:1 margin).
    pub fn fx(base: &str, quote: &str) -> Instrument {
        let jpy = quote == "JPY";
        Instrument {
            symbol: format!("{base}_{quote}"),
            base: base.to_string(),
            quote: quote.to_string(),
            kind: InstrumentKind::Currency,
            price_precision: if jpy { 3 } else { 5 },
            size_precision: 0,
            pip_location: if jpy { -2 } else { -4 },
            margin_rate: Rate(33_300_000_000),
            min_trade_size: 1,
        }
    }

    /// A crypto pair (spot-like, 2:1 margin by default).
    pub fn crypto(base: &str, quote: &str, price_precision: u8, size_precision: u8) -> Instrument {
        Instrument {
            symbol: format!("{base}_{quote}"),
            base: base.to_string(),
            quote: quote.to_string(),
            kind: InstrumentKind::Crypto,
            price_precision,
            size_precision,
            pip_location: -(price_precision as i8),
            margin_rate: Rate(500_000_000_000),
            min_trade_size: 1,
        }
    }

    /// One pip in price steps (EUR_USD: 10 steps of 0.00001).
    pub fn pip_steps(&self) -> i64 {
        let exp = self.price_precision as i32 + self.pip_location as i32;
        if exp >= 0 {
            POW10[exp as usize]
        } else {
            1
        }
    }

    /// The pip as a decimal value (0.0001).
    pub fn pip_value(&self) -> f64 {
        10f64.powi(self.pip_location as i32)
    }

    /// `EUR/USD` style display name.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.base, self.quote)
    }
}

/// Splits any accepted spelling (`EUR_USD`, `EUR-USD`, `EUR/USD`, `eurusd`, `BTCUSDT`) into base/quote.
pub fn split_symbol(name: &str) -> Option<(String, String)> {
    let upper = name.trim().to_ascii_uppercase();
    if let Some((b, q)) = upper.split_once(['_', '-', '/']) {
        if is_code(b) && is_code(q) {
            return Some((b.to_string(), q.to_string()));
        }
        return None;
    }
    for quote in ["USDT", "USDC", "USD", "EUR", "JPY", "GBP", "CHF", "CAD", "AUD", "NZD", "BTC"] {
        if let Some(base) = upper.strip_suffix(quote) {
            if is_code(base) {
                return Some((base.to_string(), quote.to_string()));
            }
        }
    }
    None
}

fn is_code(s: &str) -> bool {
    (2..=6).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// Canonical `BASE_QUOTE` form of any accepted spelling.
pub fn canonical_symbol(name: &str) -> Option<String> {
    split_symbol(name).map(|(b, q)| format!("{b}_{q}"))
}

/// The common FX pairs and crypto pairs the engine knows without a broker.
pub fn builtin_instruments() -> Vec<Instrument> {
    let fx = [
        ("EUR", "USD"),
        ("GBP", "USD"),
        ("AUD", "USD"),
        ("NZD", "USD"),
        ("USD", "JPY"),
        ("USD", "CHF"),
        ("USD", "CAD"),
        ("EUR", "GBP"),
        ("EUR", "JPY"),
        ("GBP", "JPY"),
        ("AUD", "JPY"),
        ("EUR", "CHF"),
        ("EUR", "AUD"),
        ("GBP", "CHF"),
        ("AUD", "NZD"),
        ("CAD", "JPY"),
    ];
    let mut out: Vec<Instrument> = fx.iter().map(|(b, q)| Instrument::fx(b, q)).collect();
    out.push(Instrument::crypto("BTC", "USDT", 2, 5));
    out.push(Instrument::crypto("ETH", "USDT", 2, 4));
    out
}

/// The instruments of one engine, indexed by [`InstrumentId`].
#[derive(Debug, Clone, Default)]
pub struct InstrumentTable {
    items: Vec<Instrument>,
}

impl InstrumentTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }
    /// The built-in table of FX and crypto instruments.
    pub fn builtin() -> Self {
        InstrumentTable { items: builtin_instruments() }
    }
    /// Adds an instrument (or returns the id of the one with the same symbol).
    pub fn add(&mut self, inst: Instrument) -> Result<InstrumentId, InstrumentError> {
        if let Some(id) = self.find(&inst.symbol) {
            return Ok(id);
        }
        if self.items.len() >= u16::MAX as usize {
            return Err(InstrumentError::Full);
        }
        self.items.push(inst);
        Ok(InstrumentId((self.items.len() - 1) as u16))
    }
    /// Looks a symbol up in any accepted spelling.
    pub fn find(&self, name: &str) -> Option<InstrumentId> {
        let canon = canonical_symbol(name)?;
        self.items.iter().position(|i| i.symbol == canon).map(|p| InstrumentId(p as u16))
    }
    /// Like [`find`](Self::find), but an unknown symbol is an error.
    pub fn resolve(&self, name: &str) -> Result<InstrumentId, InstrumentError> {
        self.find(name).ok_or_else(|| InstrumentError::Unknown(name.to_string()))
    }
    /// The instrument with id `id`; panics if the id is not in the table.
    pub fn get(&self, id: InstrumentId) -> &Instrument {
        &self.items[id.0 as usize]
    }
    /// The instrument with id `id`, if any.
    pub fn try_get(&self, id: InstrumentId) -> Option<&Instrument> {
        self.items.get(id.0 as usize)
    }
    /// Number of instruments (ids are `0..len()`).
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// Every instrument with its id, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (InstrumentId, &Instrument)> {
        self.items.iter().enumerate().map(|(i, x)| (InstrumentId(i as u16), x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_spelling() {
        let t = InstrumentTable::builtin();
        let id = t.find("EUR_USD").unwrap();
        assert_eq!(t.find("EUR-USD"), Some(id));
        assert_eq!(t.find("eur/usd"), Some(id));
        assert_eq!(t.find("EURUSD"), Some(id));
        assert!(t.find("BTCUSDT").is_some());
        assert!(t.find("XXX_YYY").is_none());
        assert!(t.find("EUR_").is_none());
    }

    #[test]
    fn pips() {
        let eu = Instrument::fx("EUR", "USD");
        assert_eq!(eu.pip_steps(), 10);
        let uj = Instrument::fx("USD", "JPY");
        assert_eq!(uj.price_precision, 3);
        assert_eq!(uj.pip_steps(), 10);
    }
}
