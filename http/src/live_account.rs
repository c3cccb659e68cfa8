//! What a live broker tells the account routes instead of pinion's own paper numbers: the broker's
//! account summary (OANDA's balance, NAV, P/L and margin, as it reports them), its instruments
//! (`/symbols/oanda` from the account's instruments endpoint), and the state of its price feed
//! (`/health`, `status` frames). The binary implements it for OANDA (`src/live.rs`); without one the
//! server is on paper and the routes show the paper broker's figures.

use crate::views::account::{AccountPositionView, AccountSummaryView, AccountTradeView, InstrumentView};

/// The feed's state as the routes show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStatus {
    /// A connection to the price stream is open.
    pub connected: bool,
    /// Prices are not flowing; new entries are refused meanwhile.
    pub stale: bool,
    /// Why it is stale.
    pub reason: Option<String>,
}

/// A live venue's account, as the HTTP side reads it (never blocking on the network: implementations
/// answer from what a poller last fetched).
pub trait LiveAccount: Send + Sync {
    /// `oanda`.
    fn broker(&self) -> &'static str;
    /// The latest account summary the broker reported; Err says why there is none.
    fn summary(&self) -> Result<AccountSummaryView, String>;
    /// The account's tradeable instruments, fetched at start.
    fn instruments(&self) -> Vec<InstrumentView>;
    /// The price feed's state.
    fn feed(&self) -> FeedStatus;
    /// The account's open positions as the broker reports them (Err: none fetched yet, and why).
    fn positions(&self) -> Result<Vec<AccountPositionView>, String>;
    /// The account's open trades as the broker reports them, newest first, with the trade id as the
    /// row id (Err: none fetched yet, and why).
    fn open_trades(&self) -> Result<Vec<(u64, AccountTradeView)>, String>;
    /// The newest `count` closed bars of `symbol` at `size` from the broker's history (its candles),
    /// oldest first, in half price steps like the engine's bars: a model session's warm-up. This one
    /// calls the broker (from a request thread, never the core); Err says why there are none.
    fn history_bars(&self, symbol: &str, size: pinion_core::bars::BarSize, count: usize) -> Result<Vec<pinion_core::bars::Bar>, String>;
}
