//! Response shapes of the root-level account API (`/health`, `/account/*`, `/symbols/*`, `/risk`) and
//! of the WebSocket `account` frame, with OANDA's field names where the spec uses them. Money: USD to
//! the cent; `pl` is realized P/L before commission and `balance = starting balance + pl - commission`.

use super::{money, to_json};
use crate::app::App;
use crate::readmodel::ReadState;
use pinion_core::instrument::InstrumentKind;
use pinion_core::order::BookId;
use pinion_core::records::TradeRecord;
use pinion_core::risk::RiskLimits;
use pinion_core::time::format_iso;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// `GET /health`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HealthView {
    /// `ok`, or `storage_fault` (answered with 503) while the journal cannot write.
    #[schemars(extend("enum" = ["ok", "storage_fault"]))]
    pub status: String,
    /// `running` once the engine has applied an event (or runs without a command queue); `halted`
    /// while it waits for storage (it takes no ticks and sends no orders; it resumes by itself).
    /// `feed_stale` while a live broker's price stream is not delivering (no new entries meanwhile).
    #[schemars(extend("enum" = ["running", "stopped", "halted", "feed_stale"]))]
    pub engine: String,
    pub uptime_seconds: u64,
    /// `paper` or the live broker (`oanda`).
    pub broker: String,
    /// `practice` or `live`.
    pub environment: String,
    /// Why storage fails (with `storage_fault`), or why the feed is stale (with `feed_stale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `GET /account/summary`: flat, with OANDA's field names and arithmetic.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[allow(non_snake_case)]
pub struct AccountSummaryView {
    pub accountId: String,
    /// Always `USD`.
    pub currency: String,
    /// `practice` or `live` (a server setting).
    pub environment: String,
    /// starting balance + pl - commission, USD.
    pub balance: f64,
    /// balance + unrealizedPL, USD.
    pub NAV: f64,
    /// Same as NAV.
    pub equity: f64,
    /// USD.
    pub unrealizedPL: f64,
    /// Realized P/L since start, before commission (as OANDA reports it), USD.
    pub pl: f64,
    /// Commission paid since start, USD.
    pub commission: f64,
    /// USD.
    pub marginUsed: f64,
    /// max(NAV - marginUsed, 0), USD.
    pub marginAvailable: f64,
    pub openPositionCount: u64,
    /// Open entry lots (open trades in OANDA's sense).
    pub openTradeCount: u64,
    /// Id of the latest order, fill or trade, as a string.
    pub lastTransactionID: String,
    /// ISO 8601 UTC time of these figures.
    pub asOf: String,
}

pub fn summary(app: &App, s: &ReadState) -> AccountSummaryView {
    let a = s.account;
    let nav = a.nav();
    AccountSummaryView {
        accountId: app.config.account_id.clone(),
        currency: "USD".into(),
        environment: app.config.environment.clone(),
        balance: money(a.balance),
        NAV: money(nav),
        equity: money(nav),
        unrealizedPL: money(a.unrealized),
        pl: money(a.realized),
        commission: money(a.commission),
        marginUsed: money(a.margin_used),
        marginAvailable: money(nav - a.margin_used).max(0.0),
        openPositionCount: a.open_positions as u64,
        openTradeCount: s.books.iter().map(|b| b.lots.len() as u64).sum(),
        lastTransactionID: s.last_transaction_id.to_string(),
        asOf: format_iso(a.ts_ns.max(s.now_ns)),
    }
}

/// The WebSocket `account` frame's data: the summary's money fields, same meanings.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[allow(non_snake_case)]
pub struct AccountFrameView {
    pub balance: f64,
    pub NAV: f64,
    pub equity: f64,
    pub unrealizedPL: f64,
    /// Realized P/L before commission, USD.
    pub pl: f64,
    /// Commission paid, USD (balance = starting balance + pl - commission).
    pub commission: f64,
    pub marginUsed: f64,
    pub openPositionCount: u64,
    /// ISO 8601 UTC.
    pub timestamp: String,
}

pub fn account_frame(s: &ReadState) -> Value {
    let a = s.account;
    to_json(&AccountFrameView {
        balance: money(a.balance),
        NAV: money(a.nav()),
        equity: money(a.nav()),
        unrealizedPL: money(a.unrealized),
        pl: money(a.realized),
        commission: money(a.commission),
        marginUsed: money(a.margin_used),
        openPositionCount: a.open_positions as u64,
        timestamp: format_iso(a.ts_ns.max(s.now_ns)),
    })
}

/// Who holds a position or trade: an operation or the model session.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Holder {
    Operation { operation_id: u64 },
    Session { session: bool },
}

fn holder(s: &ReadState, book: BookId) -> Option<Holder> {
    match s.operation_of_book(book) {
        Some(op) => Some(Holder::Operation { operation_id: op.id }),
        None if s.session_book == Some(book) => Some(Holder::Session { session: true }),
        None => None,
    }
}

/// One open net position (`/account/positions`, `positions` frames).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[allow(non_snake_case)]
pub struct AccountPositionView {
    /// `EUR_USD` form.
    pub instrument: String,
    /// Signed units (negative for short).
    pub units: f64,
    #[schemars(extend("enum" = ["BUY", "SELL"]))]
    pub side: String,
    pub avgPrice: f64,
    /// Latest mark (null before the first price after opening).
    pub currentPrice: Option<f64>,
    /// USD.
    pub unrealizedPL: f64,
    /// USD.
    pub marginUsed: f64,
    pub stopLoss: Option<f64>,
    pub takeProfit: Option<f64>,
    /// The operation or session holding it (null if neither is known).
    pub holder: Option<Holder>,
}

pub fn positions(s: &ReadState) -> Vec<AccountPositionView> {
    let mut rows = Vec::new();
    for (bi, b) in s.books.iter().enumerate() {
        for p in b.positions.values() {
            let Some(inst) = s.instruments.try_get(p.state.instrument) else { continue };
            let scale = 10f64.powi(inst.price_precision as i32);
            rows.push(AccountPositionView {
                instrument: inst.symbol.clone(),
                units: super::units(p.state.quantity, inst),
                side: if p.state.quantity > 0 { "BUY" } else { "SELL" }.into(),
                avgPrice: p.state.avg_price / scale,
                currentPrice: (p.mark.0 != 0).then(|| p.mark.as_f64(inst.price_precision)),
                unrealizedPL: money(p.unrealized),
                marginUsed: money(p.margin),
                stopLoss: p.state.stop_loss.map(|x| x.as_f64(inst.price_precision)),
                takeProfit: p.state.take_profit.map(|x| x.as_f64(inst.price_precision)),
                holder: holder(s, BookId(bi as u32)),
            });
        }
    }
    rows
}

/// One row of `/account/trades`: a closed trade or an open entry lot.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AccountTradeView {
    pub id: String,
    /// `EUR_USD` form.
    pub instrument: String,
    /// Signed units (negative for short).
    pub units: f64,
    pub entry_price: f64,
    #[schemars(extend("enum" = ["OPEN", "CLOSED"]))]
    pub status: String,
    /// CLOSED: realized P/L before commission; OPEN: the lot's share of its position's unrealized
    /// P/L (2 decimals). USD.
    pub pnl: f64,
    /// Commission of a CLOSED trade, USD (absent on OPEN rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commission: Option<f64>,
    /// ISO 8601 UTC.
    pub open_timestamp: String,
    /// ISO 8601 UTC (null while OPEN).
    pub close_timestamp: Option<String>,
    /// Null while OPEN.
    pub close_price: Option<f64>,
    pub holder: Option<Holder>,
}

/// One closed trade as an account trade row (None for an instrument the table does not know).
pub fn closed_trade_row(s: &ReadState, t: &TradeRecord) -> Option<(u64, AccountTradeView)> {
    let tr = &t.trade;
    let inst = s.instruments.try_get(tr.instrument)?;
    Some((
        t.id,
        AccountTradeView {
            id: t.id.to_string(),
            instrument: inst.symbol.clone(),
            units: tr.direction as f64 * super::units(tr.quantity.0, inst),
            entry_price: tr.entry_price.as_f64(inst.price_precision),
            status: "CLOSED".into(),
            pnl: money(tr.pnl),
            commission: Some(money(tr.commission)),
            open_timestamp: format_iso(tr.entry_ns),
            close_timestamp: Some(format_iso(tr.exit_ns)),
            close_price: Some(tr.exit_price.as_f64(inst.price_precision)),
            holder: holder(s, tr.book),
        },
    ))
}

/// The open lots of every book as account trade rows with their ids, newest (highest id) first.
pub fn open_lots(s: &ReadState) -> Vec<(u64, AccountTradeView)> {
    let mut rows: Vec<(u64, AccountTradeView)> = Vec::new();
    for (bi, b) in s.books.iter().enumerate() {
        let who = holder(s, BookId(bi as u32));
        for lot in &b.lots {
            let Some(inst) = s.instruments.try_get(lot.instrument) else { continue };
            // An open lot's share of its position's unrealized P&L, in proportion to its size.
            let unrealized = b
                .positions
                .get(&lot.instrument)
                .filter(|p| p.state.quantity != 0)
                .map(|p| p.unrealized.as_f64() * (lot.quantity as f64 / p.state.quantity as f64).abs().min(1.0));
            rows.push((
                lot.id,
                AccountTradeView {
                    id: lot.id.to_string(),
                    instrument: inst.symbol.clone(),
                    units: super::units(lot.quantity, inst),
                    entry_price: lot.price.as_f64(inst.price_precision),
                    status: "OPEN".into(),
                    pnl: super::round_dp(unrealized.unwrap_or(0.0), 2),
                    commission: None,
                    open_timestamp: format_iso(lot.ts_ns),
                    close_timestamp: None,
                    close_price: None,
                    holder: who.clone(),
                },
            ));
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    rows
}

/// Open lots and the closed trades held in memory of every book, with their ids, newest first.
pub fn trades(s: &ReadState) -> Vec<(u64, AccountTradeView)> {
    let mut rows = open_lots(s);
    rows.extend(s.books.iter().flat_map(|b| b.trades.iter()).filter_map(|t| closed_trade_row(s, t)));
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    rows
}

/// `GET /symbols/training`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TrainingSymbolsView {
    /// `EUR_USD` form.
    pub symbols: Vec<String>,
}

/// Instrument metadata with OANDA's field names.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[allow(non_snake_case)]
pub struct InstrumentView {
    pub name: String,
    pub displayName: String,
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["CURRENCY", "CRYPTO", "CFD", "METAL"]))]
    pub kind: String,
    pub pipLocation: i32,
    pub displayPrecision: u32,
    pub tradeUnitsPrecision: u32,
    /// Decimal string, as OANDA writes it.
    pub minimumTradeSize: String,
    /// Decimal string (0.0333 = 30:1).
    pub marginRate: String,
    /// Whether this server's feed carries it.
    pub fed: bool,
}

/// `GET /symbols/oanda`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct InstrumentsView {
    pub instruments: Vec<InstrumentView>,
    /// `builtin` (the built-in table) or `broker`.
    #[schemars(extend("enum" = ["builtin", "broker"]))]
    pub source: String,
}

pub fn instruments(app: &App) -> InstrumentsView {
    if let Some(live) = &app.live {
        return InstrumentsView { instruments: live.instruments(), source: "broker".into() };
    }
    let instruments = app
        .instruments
        .iter()
        .map(|(_, i)| InstrumentView {
            name: i.symbol.clone(),
            displayName: i.display_name(),
            kind: match i.kind {
                InstrumentKind::Currency => "CURRENCY",
                InstrumentKind::Crypto => "CRYPTO",
            }
            .into(),
            pipLocation: i.pip_location as i32,
            displayPrecision: i.price_precision as u32,
            tradeUnitsPrecision: i.size_precision as u32,
            minimumTradeSize: (i.min_trade_size as f64 / 10f64.powi(i.size_precision as i32)).to_string(),
            marginRate: format!("{}", i.margin_rate.as_f64()),
            fed: app.fed_instruments.contains(&i.symbol),
        })
        .collect();
    InstrumentsView { instruments, source: "builtin".into() }
}

/// `GET /risk`: the limits in force (null when the server runs without a risk engine).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RiskView {
    pub risk: Option<RiskLimits>,
    /// Whether the daily loss limit has halted new entries until the next UTC day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_loss_halted: Option<bool>,
    /// Equity at 00:00 UTC today, USD (the daily loss limit's base).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_start_equity: Option<f64>,
}

/// `POST /risk/update`: the limits after the update.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RiskUpdatedView {
    #[schemars(extend("const" = true))]
    pub ok: bool,
    pub risk: RiskLimits,
}
