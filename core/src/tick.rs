//! Plain-data tick records: one fixed-size, `repr(C)` layout used in rings and in tick files alike.

use crate::fixed::{Price, Quantity};
use crate::instrument::InstrumentId;

/// Tick kinds (stored as a byte so every bit pattern of a record is valid).
pub const KIND_QUOTE: u8 = 0;
pub const KIND_TRADE: u8 = 1;

/// Aggressor side of a trade tick, in `flags`.
pub const AGGRESSOR_NONE: u8 = 0;
pub const AGGRESSOR_BUY: u8 = 1;
pub const AGGRESSOR_SELL: u8 = 2;

/// A market data event. Quote ticks use bid/ask and their sizes; trade ticks store the trade price in
/// both `bid` and `ask`, the traded size in `bid_size`, and the aggressor in `flags`.
/// 48 bytes, little-endian on disk, any bit pattern valid (safe to map from a file).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tick {
    /// UTC epoch nanoseconds.
    pub ts_ns: i64,
    pub instrument: u16,
    pub kind: u8,
    pub flags: u8,
    pub reserved: u32,
    pub bid: i64,
    pub ask: i64,
    pub bid_size: i64,
    pub ask_size: i64,
}

pub const TICK_SIZE: usize = std::mem::size_of::<Tick>();
const _: () = assert!(TICK_SIZE == 48);

impl Tick {
    pub fn quote(ts_ns: i64, instrument: InstrumentId, bid: Price, ask: Price, bid_size: Quantity, ask_size: Quantity) -> Tick {
        Tick {
            ts_ns,
            instrument: instrument.0,
            kind: KIND_QUOTE,
            flags: 0,
            reserved: 0,
            bid: bid.0,
            ask: ask.0,
            bid_size: bid_size.0,
            ask_size: ask_size.0,
        }
    }
    pub fn trade(ts_ns: i64, instrument: InstrumentId, price: Price, size: Quantity, aggressor: u8) -> Tick {
        Tick {
            ts_ns,
            instrument: instrument.0,
            kind: KIND_TRADE,
            flags: aggressor,
            reserved: 0,
            bid: price.0,
            ask: price.0,
            bid_size: size.0,
            ask_size: 0,
        }
    }
    pub fn instrument_id(&self) -> InstrumentId {
        InstrumentId(self.instrument)
    }
    pub fn is_quote(&self) -> bool {
        self.kind == KIND_QUOTE
    }
    pub fn bid(&self) -> Price {
        Price(self.bid)
    }
    pub fn ask(&self) -> Price {
        Price(self.ask)
    }
    /// Mid price in half steps: `bid + ask` (exact; divide by 2 once when converting).
    pub fn mid_x2(&self) -> i64 {
        self.bid + self.ask
    }
    /// Mid as f64 for a given price precision: exactly (bid + ask) / 2 converted once.
    pub fn mid_f64(&self, price_precision: u8) -> f64 {
        (self.bid + self.ask) as f64 / (2 * crate::fixed::POW10[price_precision as usize]) as f64
    }
}
