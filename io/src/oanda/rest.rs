//! The OANDA v20 REST calls pinion makes outside the tick path: the account summary (the start-up
//! check and `/account/summary`), the account's instruments (`/symbols/oanda`, the instrument table)
//! and candles (a session's warm-up). A synchronous `ureq` agent (rustls) with timeouts; every answer
//! is decoded into the `wire` shapes, and a non-2xx answer becomes an [`OandaError`] carrying OANDA's
//! `errorMessage`. Endpoints: developer.oanda.com/rest-live-v20/account-ep and instrument-ep.

use super::wire::{
    AccountSummary, AccountSummaryResponse, CandlesResponse, ErrorBody, InstrumentInfo, InstrumentsResponse, OpenPositionsResponse,
    OpenTradesResponse, Position, Trade, TradeResponse,
};
use super::{OandaConfig, OandaError};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// A failure worth another attempt, and how long OANDA asked to wait.
struct Retry {
    error: OandaError,
    after: Option<Duration>,
}

/// Largest candle count one request may ask for (instrument-ep: `count` at most 5000).
pub const MAX_CANDLES: usize = 5000;

/// Retries of a GET that met a 429, a 503 or a transport failure.
pub const RETRIES: u32 = 4;

/// Requests per second the client allows itself.
const RATE: u32 = 100;

/// A token bucket: at most `RATE` requests in any second (bursts included).
struct Limiter {
    /// The earliest instant each of the last `RATE` requests may be followed.
    slots: std::collections::VecDeque<std::time::Instant>,
}

impl Limiter {
    fn wait(&mut self) {
        let now = std::time::Instant::now();
        while self.slots.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            self.slots.pop_front();
        }
        if self.slots.len() >= RATE as usize {
            if let Some(first) = self.slots.front().copied() {
                std::thread::sleep(Duration::from_secs(1).saturating_sub(now.duration_since(first)));
            }
            self.slots.pop_front();
        }
        self.slots.push_back(std::time::Instant::now());
    }
}

/// A REST client for one account.
pub struct RestClient {
    cfg: OandaConfig,
    agent: ureq::Agent,
    limiter: std::sync::Mutex<Limiter>,
}

impl RestClient {
    /// A client with `timeout` for each whole call.
    pub fn new(cfg: OandaConfig, timeout: Duration) -> RestClient {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).user_agent("pinion").build().into();
        RestClient { cfg, agent, limiter: std::sync::Mutex::new(Limiter { slots: std::collections::VecDeque::new() }) }
    }

    /// The account's settings.
    pub fn config(&self) -> &OandaConfig {
        &self.cfg
    }

    fn get<T: DeserializeOwned>(&self, what: &str, path_and_query: &str) -> Result<T, OandaError> {
        let mut attempt = 0;
        loop {
            match self.get_once(what, path_and_query) {
                Err(Retry { error, after }) if attempt < RETRIES => {
                    attempt += 1;
                    let wait = after.unwrap_or(Duration::from_millis(100 * (1 << attempt)));
                    log::warn!(target: "pinion::broker", "{error}; retrying in {:.1} s ({attempt} of {RETRIES})", wait.as_secs_f64());
                    std::thread::sleep(wait.min(Duration::from_secs(10)));
                }
                Err(Retry { error, .. }) => return Err(error),
                Ok(v) => return v,
            }
        }
    }

    /// One attempt: Ok(the answer, or an error not worth retrying), or Err(a retryable failure).
    fn get_once<T: DeserializeOwned>(&self, what: &str, path_and_query: &str) -> Result<Result<T, OandaError>, Retry> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner()).wait();
        let url = format!("{}{path_and_query}", self.cfg.rest_url);
        let redact = |s: String| self.cfg.token.redact(&s);
        let mut resp = self
            .agent
            .get(&url)
            .header("Authorization", &self.cfg.token.bearer())
            .header("Accept-Datetime-Format", "RFC3339")
            .call()
            .map_err(|e| Retry { error: OandaError::Transport { what: what.to_string(), detail: redact(e.to_string()) }, after: None })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let body = resp.body_mut().with_config().limit(64 << 20).read_to_string().map_err(|e| Retry {
            error: OandaError::Transport { what: what.to_string(), detail: redact(format!("reading the answer: {e}")) },
            after: None,
        })?;
        if !(200..300).contains(&status) {
            let message =
                redact(serde_json::from_str::<ErrorBody>(&body).map_or_else(|_| body.chars().take(300).collect(), |b| b.error_message));
            let error = if status == 401 || status == 403 {
                OandaError::Unauthorized { account: self.cfg.account_id.clone(), status, message }
            } else {
                OandaError::Http { what: what.to_string(), status, message }
            };
            if status == 429 || status == 503 {
                return Err(Retry { error, after: retry_after });
            }
            return Ok(Err(error));
        }
        Ok(serde_json::from_str(&body).map_err(|e| OandaError::Decode { what: what.to_string(), detail: e.to_string() }))
    }

    /// `GET /v3/accounts/{id}/summary`.
    pub fn account_summary(&self) -> Result<AccountSummary, OandaError> {
        let r: AccountSummaryResponse = self.get("account summary", &format!("/v3/accounts/{}/summary", self.cfg.account_id))?;
        Ok(r.account)
    }

    /// `GET /v3/accounts/{id}/instruments`.
    pub fn instruments(&self) -> Result<Vec<InstrumentInfo>, OandaError> {
        let r: InstrumentsResponse = self.get("instruments", &format!("/v3/accounts/{}/instruments", self.cfg.account_id))?;
        Ok(r.instruments)
    }

    /// `GET /v3/accounts/{id}/openTrades`.
    pub fn open_trades(&self) -> Result<Vec<Trade>, OandaError> {
        let r: OpenTradesResponse = self.get("open trades", &format!("/v3/accounts/{}/openTrades", self.cfg.account_id))?;
        Ok(r.trades)
    }

    /// `GET /v3/accounts/{id}/trades/{trade id}` (open or closed).
    pub fn trade(&self, trade_id: &str) -> Result<Trade, OandaError> {
        if trade_id.is_empty() || !trade_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(OandaError::Config(format!("bad trade id {trade_id:?}")));
        }
        let r: TradeResponse = self.get("trade", &format!("/v3/accounts/{}/trades/{trade_id}", self.cfg.account_id))?;
        Ok(r.trade)
    }

    /// `GET /v3/accounts/{id}/openPositions`.
    pub fn open_positions(&self) -> Result<Vec<Position>, OandaError> {
        let r: OpenPositionsResponse = self.get("open positions", &format!("/v3/accounts/{}/openPositions", self.cfg.account_id))?;
        Ok(r.positions)
    }

    /// The last `count` (at most [`MAX_CANDLES`]) mid candles of `instrument` at `granularity`
    /// (`S5`, `M1`, `M5`, `H1`, ...), oldest first; the last one may still be forming.
    pub fn candles(&self, instrument: &str, granularity: &str, count: usize) -> Result<CandlesResponse, OandaError> {
        let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok(instrument) || !ok(granularity) {
            return Err(OandaError::Config(format!("candles: bad instrument {instrument:?} or granularity {granularity:?}")));
        }
        let count = count.clamp(1, MAX_CANDLES);
        self.get("candles", &format!("/v3/instruments/{instrument}/candles?granularity={granularity}&count={count}&price=M"))
    }
}
