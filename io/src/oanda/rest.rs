//! The OANDA v20 REST calls pinion makes outside the tick path: the account summary (the start-up
//! check and `/account/summary`), the account's instruments (`/symbols/oanda`, the instrument table)
//! and candles (a session's warm-up). A synchronous `ureq` agent (rustls) with timeouts; every answer
//! is decoded into the `wire` shapes, and a non-2xx answer becomes an [`OandaError`] carrying OANDA's
//! `errorMessage`. Endpoints: developer.oanda.com/rest-live-v20/account-ep and instrument-ep.

use super::wire::{
    AccountSummary, AccountSummaryResponse, CandlesResponse, ErrorBody, InstrumentInfo, InstrumentsResponse, OpenPositionsResponse,
    OpenTradesResponse, Position, Trade,
};
use super::{OandaConfig, OandaError};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Largest candle count one request may ask for (instrument-ep: `count` at most 5000).
pub const MAX_CANDLES: usize = 5000;

/// A REST client for one account.
pub struct RestClient {
    cfg: OandaConfig,
    agent: ureq::Agent,
}

impl RestClient {
    /// A client with `timeout` for each whole call.
    pub fn new(cfg: OandaConfig, timeout: Duration) -> RestClient {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).user_agent("pinion").build().into();
        RestClient { cfg, agent }
    }

    /// The account's settings.
    pub fn config(&self) -> &OandaConfig {
        &self.cfg
    }

    fn get<T: DeserializeOwned>(&self, what: &str, path_and_query: &str) -> Result<T, OandaError> {
        let url = format!("{}{path_and_query}", self.cfg.rest_url);
        let redact = |s: String| self.cfg.token.redact(&s);
        let mut resp = self
            .agent
            .get(&url)
            .header("Authorization", &self.cfg.token.bearer())
            .header("Accept-Datetime-Format", "RFC3339")
            .call()
            .map_err(|e| OandaError::Transport { what: what.to_string(), detail: redact(e.to_string()) })?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| OandaError::Transport { what: what.to_string(), detail: redact(format!("reading the answer: {e}")) })?;
        if !(200..300).contains(&status) {
            let message =
                redact(serde_json::from_str::<ErrorBody>(&body).map_or_else(|_| body.chars().take(300).collect(), |b| b.error_message));
            return Err(if status == 401 || status == 403 {
                OandaError::Unauthorized { account: self.cfg.account_id.clone(), status, message }
            } else {
                OandaError::Http { what: what.to_string(), status, message }
            });
        }
        serde_json::from_str(&body).map_err(|e| OandaError::Decode { what: what.to_string(), detail: e.to_string() })
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
