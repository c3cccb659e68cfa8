//! Plain-data tick records: one fixed-size, `repr(C)` layout used in rings and in tick files alike.

use crate::fixed::{Price, Quantity};
use crate::instrument::InstrumentId;

/// Tick kinds (stored as a byte so every bit pattern of a record is valid).
pub const KIND_QUOTE: u8 = 0;
/// `kind` of a trade tick (price in `bid`/`ask`, size in `bid_size`).
pub const KIND_TRADE: u8 = 1;

/// Aggressor side of a trade tick, in `flags`.
pub const AGGRESSOR_NONE: u8 = 0;
/// The buyer was the aggressor (lifted the offer).
pub const AGGRESSOR_BUY: u8 = 1;
/// The seller was the aggressor (hit the bid).
pub const AGGRESSOR_SELL: u8 = 2;

/// A market data event. Quote ticks use bid/ask and their sizes; trade ticks store the trade price in
/// both `bid` and `ask`, the traded size in `bid_size`, and the aggressor in `flags`.
/// 48 bytes, little-endian on disk, any bit pattern valid (safe to map from a file).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tick {
    /// UTC epoch nanoseconds.
    pub ts_ns: i64,
    /// Index into the session's `InstrumentTable` (an `InstrumentId`).
    pub instrument: u16,
    /// `KIND_QUOTE` or `KIND_TRADE`.
    pub kind: u8,
    /// Trade ticks: the aggressor (`AGGRESSOR_*`); 0 for quotes.
    pub flags: u8,
    /// Padding kept explicit so the layout has no implicit bytes; always 0.
    pub reserved: u32,
    /// Best bid in price steps (a trade tick's price).
    pub bid: i64,
    /// Best ask in price steps (a trade tick's price).
    pub ask: i64,
    /// Size at the bid in size steps (a trade tick's traded size).
    pub bid_size: i64,
    /// Size at the ask in size steps (0 for trade ticks).
    pub ask_size: i64,
}

/// Size of one `Tick` record in bytes (48), in rings and on disk.
pub const TICK_SIZE: usize = std::mem::size_of::<Tick>();
const _: () = assert!(TICK_SIZE == 48);

impl Tick {
    /// A quote tick at `ts_ns` (UTC epoch ns) with best bid/ask and their sizes.
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
    /// A trade tick at `ts_ns` (UTC epoch ns): `price` goes in both `bid` and `ask`, `size` in `bid_size`, `aggressor` (`AGGRESSOR_*`) in `flags`.
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
    /// The instrument as a typed id.
    pub fn instrument_id(&self) -> InstrumentId {
        InstrumentId(self.instrument)
    }
    /// Whether this is a quote tick (`kind == KIND_QUOTE`).
    pub fn is_quote(&self) -> bool {
        self.kind == KIND_QUOTE
    }
    /// Best bid (a trade tick's price) in price steps.
    pub fn bid(&self) -> Price {
        Price(self.bid)
    }
    /// Best ask (a trade tick's price) in price steps.
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
