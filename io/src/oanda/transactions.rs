//! The OANDA transactions stream (`GET /v3/accounts/{id}/transactions/stream`, transaction-ep): the
//! fills OANDA makes on its own, which pinion must book: a stop-loss or take-profit that triggered, a
//! trade closed from elsewhere, a margin closeout. Each `ORDER_FILL` that is not one of pinion's own
//! orders (pinion's come back in the answer to its request) becomes one [`TradeClose`] per trade it
//! closed or reduced. After every (re)connect the transactions since the last one seen are read with
//! `GET /transactions/sinceid` first, so a gap while disconnected loses nothing, and again once a
//! minute while connected; ids only grow, so nothing is handed over twice.

use super::http_stream::{self, Next};
use super::{OandaConfig, OandaError};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the transactions since the last one seen are read again while the stream is up.
pub const CATCH_UP_EVERY: Duration = Duration::from_secs(60);

/// A trade OANDA closed or reduced on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeClose {
    /// The ORDER_FILL transaction id.
    pub transaction_id: u64,
    /// The trade closed or reduced.
    pub trade_id: String,
    /// `EUR_USD`.
    pub instrument: String,
    /// Units closed (positive).
    pub units: String,
    /// The fill price (decimal string).
    pub price: String,
    /// OANDA's reason: `STOP_LOSS_ORDER`, `TAKE_PROFIT_ORDER`, `MARKET_ORDER_TRADE_CLOSE`, ...
    pub reason: String,
    /// RFC 3339.
    pub time: String,
}

/// The closes in one transaction (none unless it is an ORDER_FILL by someone other than pinion).
pub fn closes_of(tx: &Value) -> Vec<TradeClose> {
    if tx["type"] != "ORDER_FILL" || tx["clientOrderID"].as_str().is_some_and(|c| c.starts_with("pinion-")) {
        return Vec::new();
    }
    let id = tx["id"].as_str().and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut list: Vec<&Value> = tx["tradesClosed"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    if tx["tradeReduced"].is_object() {
        list.push(&tx["tradeReduced"]);
    }
    list.into_iter()
        .filter_map(|t| {
            Some(TradeClose {
                transaction_id: id,
                trade_id: t["tradeID"].as_str()?.to_string(),
                instrument: tx["instrument"].as_str()?.to_string(),
                units: t["units"].as_str()?.trim_start_matches('-').to_string(),
                price: t["price"].as_str().or_else(|| tx["price"].as_str())?.to_string(),
                reason: tx["reason"].as_str().unwrap_or_default().to_string(),
                time: tx["time"].as_str().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

/// The running watcher.
pub struct TransactionWatcher {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl TransactionWatcher {
    /// Stops the thread (within one poll) and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for TransactionWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn since(cfg: &OandaConfig, agent: &ureq::Agent, last: u64) -> Result<Vec<Value>, OandaError> {
    let what = "transactions since the last one seen";
    let url = format!("{}/v3/accounts/{}/transactions/sinceid?id={last}", cfg.rest_url, cfg.account_id);
    let mut r = agent
        .get(&url)
        .header("Authorization", &cfg.token.bearer())
        .header("Accept-Datetime-Format", "RFC3339")
        .call()
        .map_err(|e| OandaError::Transport { what: what.into(), detail: cfg.token.redact(&e.to_string()) })?;
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().map_err(|e| OandaError::Transport { what: what.into(), detail: e.to_string() })?;
    if status != 200 {
        return Err(OandaError::Http { what: what.into(), status, message: text.chars().take(200).collect() });
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| OandaError::Decode { what: what.into(), detail: e.to_string() })?;
    Ok(v["transactions"].as_array().cloned().unwrap_or_default())
}

/// Starts the watcher from transaction `last_seen` (closes after it are handed to `on_close`, in order).
pub fn start(cfg: OandaConfig, last_seen: u64, mut on_close: Box<dyn FnMut(TradeClose) + Send>) -> std::io::Result<TransactionWatcher> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = std::thread::Builder::new().name("pinion-oanda-transactions".into()).spawn(move || {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).http_status_as_error(false).build().into();
        let path = format!("/v3/accounts/{}/transactions/stream", cfg.account_id);
        let mut last = last_seen;
        let mut backoff = Duration::from_millis(250);
        let mut hand_over = |tx: &Value, last: &mut u64| {
            let id: u64 = tx["id"].as_str().and_then(|v| v.parse().ok()).unwrap_or(0);
            if id == 0 || id <= *last {
                return;
            }
            *last = id;
            for c in closes_of(tx) {
                on_close(c);
            }
        };
        while !stop2.load(Ordering::Acquire) {
            let opened = http_stream::get(&cfg.stream_url, &path, &cfg.token.bearer(), Duration::from_millis(250), Duration::from_secs(10));
            let mut stream = match opened {
                Ok(s) => s,
                Err(e) => {
                    log::warn!(target: "pinion::broker", "{}; reconnecting", e.into_oanda("transactions stream", &cfg.account_id));
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            // Whatever happened while disconnected, first.
            match since(&cfg, &agent, last) {
                Ok(txs) => txs.iter().for_each(|tx| hand_over(tx, &mut last)),
                Err(e) => log::warn!(target: "pinion::broker", "{e}"),
            }
            backoff = Duration::from_millis(250);
            let mut heard = Instant::now();
            let mut caught_up = Instant::now();
            loop {
                if stop2.load(Ordering::Acquire) {
                    return;
                }
                // Once a minute, what the stream might have missed (ids only grow: nothing twice).
                if caught_up.elapsed() >= CATCH_UP_EVERY {
                    caught_up = Instant::now();
                    match since(&cfg, &agent, last) {
                        Ok(txs) => txs.iter().for_each(|tx| hand_over(tx, &mut last)),
                        Err(e) => log::warn!(target: "pinion::broker", "{e}"),
                    }
                }
                match stream.next_line() {
                    Next::Line(mut line) => {
                        heard = Instant::now();
                        match simd_json::serde::from_slice::<Value>(&mut line) {
                            Ok(tx) if tx["type"] == "HEARTBEAT" => {}
                            Ok(tx) => hand_over(&tx, &mut last),
                            Err(e) => log::warn!(target: "pinion::broker", "transactions stream: skipped a line: {e}"),
                        }
                    }
                    Next::Idle if heard.elapsed() < Duration::from_secs(20) => {}
                    Next::Idle | Next::Closed => break,
                }
            }
        }
    })?;
    Ok(TransactionWatcher { stop, handle: Some(handle) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stop_fill_by_oanda_is_a_close_and_pinions_own_fills_are_not() {
        let stop = json!({ "type": "ORDER_FILL", "id": "42", "instrument": "EUR_USD", "price": "1.09000", "reason": "STOP_LOSS_ORDER",
            "time": "2020-01-30T15:27:51.438000000Z", "tradesClosed": [{ "tradeID": "17", "units": "-1000", "price": "1.09000" }] });
        let c = closes_of(&stop);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].trade_id.as_str(), c[0].units.as_str(), c[0].reason.as_str(), c[0].transaction_id),
            ("17", "1000", "STOP_LOSS_ORDER", 42)
        );
        let ours = json!({ "type": "ORDER_FILL", "id": "43", "clientOrderID": "pinion-1-9", "instrument": "EUR_USD", "price": "1.1",
            "tradesClosed": [{ "tradeID": "17", "units": "-1000" }] });
        assert!(closes_of(&ours).is_empty());
        assert!(closes_of(&json!({ "type": "ORDER_CANCEL", "id": "44" })).is_empty());
    }
}
