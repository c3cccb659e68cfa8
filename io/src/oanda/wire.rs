//! The OANDA v20 JSON shapes pinion reads, as serde types. Decimals stay strings here (v20 sends every
//! price and amount as a decimal string, "DecimalNumber"/"PriceValue"/"AccountUnits" in the v20
//! definitions) and are parsed into fixed-point by the caller with the instrument's precision, so nothing
//! goes through a float. Unknown fields are ignored: OANDA adds fields over time.
//!
//! Sources: developer.oanda.com/rest-live-v20/pricing-ep (stream: `PRICE` lines, `HEARTBEAT` lines),
//! pricing-df (ClientPrice, PriceBucket), account-ep and account-df (AccountSummary), account-ep
//! `/instruments` and primitives-df (Instrument), instrument-ep and instrument-df (Candlestick).

use serde::Deserialize;

/// One line of the pricing stream: a price or a heartbeat (`type` says which).
#[derive(Debug, Clone, Deserialize)]
pub struct StreamLine {
    /// `PRICE` or `HEARTBEAT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339 with nanoseconds.
    pub time: String,
    /// The instrument (prices only).
    #[serde(default)]
    pub instrument: Option<String>,
    /// Bid side, best first (prices only).
    #[serde(default)]
    pub bids: Vec<PriceBucket>,
    /// Ask side, best first (prices only).
    #[serde(default)]
    pub asks: Vec<PriceBucket>,
    /// Whether the price can be traded on (prices only).
    #[serde(default)]
    pub tradeable: Option<bool>,
}

/// One level of a price: the price and the liquidity available at it.
#[derive(Debug, Clone, Deserialize)]
pub struct PriceBucket {
    /// Decimal string.
    pub price: String,
    /// Units available (an integer in the v20 schema).
    #[serde(default)]
    pub liquidity: Option<serde_json::Number>,
}

/// `GET /v3/accounts/{id}/summary`.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountSummaryResponse {
    /// The account.
    pub account: AccountSummary,
}

/// The account fields pinion shows (AccountSummary in the v20 account definitions).
#[derive(Debug, Clone, Deserialize)]
#[allow(non_snake_case)]
pub struct AccountSummary {
    /// Account id.
    pub id: String,
    /// Home currency.
    pub currency: String,
    /// Decimal strings (AccountUnits).
    pub balance: String,
    /// Net asset value.
    pub NAV: String,
    /// Unrealized P/L of open trades.
    pub unrealizedPL: String,
    /// Realized P/L over the account's life.
    pub pl: String,
    /// Commission paid.
    #[serde(default)]
    pub commission: Option<String>,
    /// Financing paid or received.
    #[serde(default)]
    pub financing: Option<String>,
    /// Margin used by open trades.
    pub marginUsed: String,
    /// Margin available for new trades.
    pub marginAvailable: String,
    /// Open trades.
    pub openTradeCount: u64,
    /// Open positions.
    pub openPositionCount: u64,
    /// Pending orders.
    #[serde(default)]
    pub pendingOrderCount: u64,
    /// The id of the last transaction.
    pub lastTransactionID: String,
}

/// `GET /v3/accounts/{id}/instruments`.
#[derive(Debug, Clone, Deserialize)]
pub struct InstrumentsResponse {
    /// The account's tradeable instruments.
    pub instruments: Vec<InstrumentInfo>,
}

/// One tradeable instrument (Instrument in the v20 primitives definitions).
#[derive(Debug, Clone, Deserialize)]
#[allow(non_snake_case)]
pub struct InstrumentInfo {
    /// `EUR_USD`.
    pub name: String,
    /// `CURRENCY`, `CFD` or `METAL`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `EUR/USD`.
    #[serde(default)]
    pub displayName: Option<String>,
    /// Exponent of one pip (-4 for EUR_USD).
    pub pipLocation: i32,
    /// Decimal places of a price.
    pub displayPrecision: u32,
    /// Decimal places of a trade's units.
    pub tradeUnitsPrecision: u32,
    /// Smallest trade, decimal string.
    pub minimumTradeSize: String,
    /// Largest order, decimal string.
    #[serde(default)]
    pub maximumOrderUnits: Option<String>,
    /// Margin requirement as a fraction, decimal string.
    pub marginRate: String,
}

/// `GET /v3/instruments/{instrument}/candles`.
#[derive(Debug, Clone, Deserialize)]
pub struct CandlesResponse {
    /// The instrument.
    pub instrument: String,
    /// `M1`, `S5`, ...
    pub granularity: String,
    /// Oldest first.
    pub candles: Vec<Candle>,
}

/// One candle (Candlestick): mid prices unless asked otherwise.
#[derive(Debug, Clone, Deserialize)]
pub struct Candle {
    /// Start of the candle, RFC 3339.
    pub time: String,
    /// False for the candle still forming.
    pub complete: bool,
    /// Ticks in the candle.
    #[serde(default)]
    pub volume: u64,
    /// Mid OHLC (present with `price=M`, the default).
    #[serde(default)]
    pub mid: Option<Ohlc>,
}

/// Open, high, low, close as decimal strings (CandlestickData).
#[derive(Debug, Clone, Deserialize)]
pub struct Ohlc {
    /// Open.
    pub o: String,
    /// High.
    pub h: String,
    /// Low.
    pub l: String,
    /// Close.
    pub c: String,
}

/// The body of a v20 error answer.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    /// OANDA's message.
    #[serde(rename = "errorMessage")]
    pub error_message: String,
}

/// `GET /v3/accounts/{id}/openTrades` (trade-ep).
#[derive(Debug, Clone, Deserialize)]
pub struct OpenTradesResponse {
    /// Open trades.
    pub trades: Vec<Trade>,
}

/// `GET /v3/accounts/{id}/trades/{spec}` (trade-ep).
#[derive(Debug, Clone, Deserialize)]
pub struct TradeResponse {
    /// The trade.
    pub trade: Trade,
}

/// One trade (Trade in trade-df).
#[derive(Debug, Clone, Deserialize)]
#[allow(non_snake_case)]
pub struct Trade {
    /// OANDA's trade id.
    pub id: String,
    /// `EUR_USD`.
    pub instrument: String,
    /// Entry price.
    pub price: String,
    /// RFC 3339.
    pub openTime: String,
    /// Units still open, signed.
    pub currentUnits: String,
    /// Unrealized P/L.
    #[serde(default)]
    pub unrealizedPL: Option<String>,
    /// Margin the trade holds.
    #[serde(default)]
    pub marginUsed: Option<String>,
    /// The attached stop loss.
    #[serde(default)]
    pub stopLossOrder: Option<PricedOrder>,
    /// The attached take profit.
    #[serde(default)]
    pub takeProfitOrder: Option<PricedOrder>,
    /// The client's id for the trade (pinion's, when it opened it).
    #[serde(default)]
    pub clientExtensions: Option<ClientExtensions>,
}

/// An order reduced to its price (a trade's stop loss or take profit).
#[derive(Debug, Clone, Deserialize)]
pub struct PricedOrder {
    /// Trigger price.
    pub price: String,
}

/// Client extensions: the id a client gave an order or trade.
#[derive(Debug, Clone, Deserialize)]
pub struct ClientExtensions {
    /// The client's id.
    #[serde(default)]
    pub id: Option<String>,
}

/// `GET /v3/accounts/{id}/openPositions` (position-ep).
#[derive(Debug, Clone, Deserialize)]
pub struct OpenPositionsResponse {
    /// Positions with open trades.
    pub positions: Vec<Position>,
}

/// One instrument's position, long and short sides (Position in position-df).
#[derive(Debug, Clone, Deserialize)]
#[allow(non_snake_case)]
pub struct Position {
    /// `EUR_USD`.
    pub instrument: String,
    /// Unrealized P/L of both sides.
    #[serde(default)]
    pub unrealizedPL: Option<String>,
    /// Margin used.
    #[serde(default)]
    pub marginUsed: Option<String>,
    /// The long side.
    pub long: PositionSide,
    /// The short side.
    pub short: PositionSide,
}

/// One side of a position (PositionSide in position-df).
#[derive(Debug, Clone, Deserialize)]
#[allow(non_snake_case)]
pub struct PositionSide {
    /// Signed units (0 when flat on this side).
    pub units: String,
    /// Average entry price (absent when flat).
    #[serde(default)]
    pub averagePrice: Option<String>,
    /// Unrealized P/L of this side.
    #[serde(default)]
    pub unrealizedPL: Option<String>,
}
