//! Server configuration: built-in defaults, then a TOML file, then `PINION_*` environment variables,
//! then command-line flags, each overriding the one before.

use crate::logging::LogFormat;
use anyhow::{bail, Context};
use pinion_core::idle::IdlePolicy;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address of the REST + WebSocket port.
    pub bind: String,
    /// Journal, snapshots and logs live here.
    pub data_dir: PathBuf,
    /// Recorded tick files replayed as the feed (merged in time order, looped).
    pub ticks: Vec<PathBuf>,
    /// Replay speed: 1.0 = real time, 10.0 = ten times faster.
    pub replay_speed: f64,
    pub log_level: String,
    /// Bearer token required on every route but /health and on the WebSocket upgrade.
    pub token: Option<String>,
    /// Browser origins (`scheme://host[:port]`) allowed to call the API and open `/ws`; none by default.
    pub allowed_origins: Vec<String>,
    pub starting_balance: String,
    pub commission_rate: String,
    /// TorchScript models (default: DATA_DIR/models, where the example model is built on first start).
    pub models_dir: Option<PathBuf>,
    /// Symbols the configured models were trained on (`/symbols/training`).
    pub training_symbols: Vec<String>,
    /// Journal every state change and recover from it on start.
    pub journal: bool,
    pub rest_threads: usize,
    /// CPU for the core thread; default: the last CPU.
    pub pin_cpu: Option<usize>,
    /// `practice` or `live`.
    pub environment: String,
    /// Bar size of the model session's decisions and its warm-up history.
    pub session_bar_size: String,
    /// Stop the feed at this virtual tick index (tests and reproducible demos); None = loop forever.
    pub stop_after_ticks: Option<u64>,
    /// Seconds between state snapshots while serving (0: only the one written after each start-up).
    pub snapshot_every_secs: f64,
    /// Seconds a keep-alive client connection may stay idle (no request begun) before it is closed.
    pub idle_timeout_secs: f64,
    /// Orders, fill legs and closed trades each operation keeps in memory (its newest ones); older
    /// ones are read from the history database (`DATA_DIR/history.sqlite3`).
    pub history_window: usize,
    /// What the pinned core thread does when idle: `busy_spin` (a dedicated core), `backoff` or `yielding`.
    pub idle_policy: IdlePolicy,
    /// `text` (default) or `json` (one JSON object per log line).
    pub log_format: LogFormat,
    /// The venue: the embedded paper broker on the replayed feed (default), or OANDA v20.
    pub broker: BrokerConfig,
    /// Export every journaled event to this NATS server's JetStream (`nats://HOST:4222`); None: off.
    pub events_to: Option<String>,
    /// This node's name in exported subjects (`pinion.<node>.events.<kind>`); default: the host name.
    pub node: Option<String>,
}

/// `[broker]`: which venue, and how to reach it. The OANDA token is never a setting here: it comes from
/// `PINION_OANDA_TOKEN` or the file `token_file` names (see `crate::live`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// `paper` or `oanda`.
    pub kind: String,
    /// OANDA account id (`101-004-1234567-001`).
    pub account_id: Option<String>,
    /// `practice` (default) or `live`; live must be written out.
    pub environment: String,
    /// A file holding the OANDA token (read at start; `PINION_OANDA_TOKEN` wins).
    pub token_file: Option<PathBuf>,
    /// REST base URL (default: OANDA's host for the environment).
    pub rest_url: Option<String>,
    /// Streaming base URL (default: OANDA's stream host for the environment).
    pub stream_url: Option<String>,
    /// Instruments to stream prices of (default: `training_symbols`).
    pub instruments: Vec<String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            kind: "paper".into(),
            account_id: None,
            environment: "practice".into(),
            token_file: None,
            rest_url: None,
            stream_url: None,
            instruments: Vec::new(),
        }
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            bind: "127.0.0.1:8000".into(),
            data_dir: PathBuf::from("pinion-data"),
            ticks: vec![bundled("samples/eurusd_sample_quotes.csv.gz"), bundled("samples/audusd_sample_quotes.csv.gz")],
            replay_speed: 10.0,
            log_level: "info".into(),
            token: None,
            allowed_origins: Vec::new(),
            starting_balance: "100000".into(),
            commission_rate: "0.00002".into(),
            models_dir: None,
            training_symbols: vec!["EUR_USD".into(), "AUD_USD".into()],
            journal: true,
            rest_threads: 4,
            pin_cpu: None,
            environment: "practice".into(),
            session_bar_size: "1 min".into(),
            stop_after_ticks: None,
            snapshot_every_secs: 300.0,
            idle_timeout_secs: 30.0,
            history_window: pinion_http::readmodel::DEFAULT_WINDOW,
            broker: BrokerConfig::default(),
            idle_policy: IdlePolicy::default(),
            log_format: LogFormat::default(),
            events_to: None,
            node: None,
        }
    }
}

/// A file shipped in the repository: relative to the working directory when it is there (the README's
/// commands run from the repository root), else next to the sources this binary was built from.
fn bundled(rel: &str) -> PathBuf {
    let here = PathBuf::from(rel);
    if here.exists() {
        return here;
    }
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    if built.exists() {
        built
    } else {
        here
    }
}

impl ServeConfig {
    /// Defaults, overridden by the file (if any) and then by the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<ServeConfig> {
        let mut cfg = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading config file {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("config file {}", p.display()))?
            }
            None => ServeConfig::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    /// Applies `PINION_*` variables.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = get("PINION_BIND") {
            self.bind = v;
        }
        if let Some(v) = get("PINION_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("PINION_TICKS") {
            self.ticks = v.split(',').filter(|s| !s.is_empty()).map(PathBuf::from).collect();
        }
        if let Some(v) = get("PINION_REPLAY_SPEED") {
            self.replay_speed = v.parse().with_context(|| format!("PINION_REPLAY_SPEED={v:?} is not a number"))?;
        }
        if let Some(v) = get("PINION_LOG_LEVEL") {
            self.log_level = v;
        }
        if let Some(v) = get("PINION_TOKEN") {
            self.token = Some(v).filter(|t| !t.is_empty());
        }
        if let Some(v) = get("PINION_ALLOWED_ORIGINS") {
            self.allowed_origins = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        }
        if let Some(v) = get("PINION_STARTING_BALANCE") {
            self.starting_balance = v;
        }
        if let Some(v) = get("PINION_COMMISSION_RATE") {
            self.commission_rate = v;
        }
        if let Some(v) = get("PINION_MODELS_DIR") {
            self.models_dir = Some(v.into());
        }
        if let Some(v) = get("PINION_STOP_AFTER_TICKS") {
            self.stop_after_ticks = Some(v.parse().with_context(|| format!("PINION_STOP_AFTER_TICKS={v:?} is not a tick count"))?);
        }
        if let Some(v) = get("PINION_SNAPSHOT_EVERY_SECS") {
            self.snapshot_every_secs = v.parse().with_context(|| format!("PINION_SNAPSHOT_EVERY_SECS={v:?} is not a number of seconds"))?;
        }
        if let Some(v) = get("PINION_IDLE_TIMEOUT_SECS") {
            self.idle_timeout_secs = v.parse().with_context(|| format!("PINION_IDLE_TIMEOUT_SECS={v:?} is not a number of seconds"))?;
        }
        if let Some(v) = get("PINION_HISTORY_WINDOW") {
            self.history_window = v.parse().with_context(|| format!("PINION_HISTORY_WINDOW={v:?} is not a row count"))?;
        }
        if let Some(v) = get("PINION_BROKER") {
            self.broker.kind = v;
        }
        if let Some(v) = get("PINION_OANDA_ACCOUNT_ID") {
            self.broker.account_id = Some(v);
        }
        if let Some(v) = get("PINION_OANDA_ENVIRONMENT") {
            self.broker.environment = v;
        }
        if let Some(v) = get("PINION_OANDA_REST_URL") {
            self.broker.rest_url = Some(v);
        }
        if let Some(v) = get("PINION_OANDA_STREAM_URL") {
            self.broker.stream_url = Some(v);
        }
        if let Some(v) = get("PINION_OANDA_INSTRUMENTS") {
            self.broker.instruments = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        }
        if let Some(v) = get("PINION_IDLE_POLICY") {
            self.idle_policy = v.parse().with_context(|| format!("PINION_IDLE_POLICY={v:?}"))?;
        }
        if let Some(v) = get("PINION_LOG_FORMAT") {
            self.log_format = v.parse().with_context(|| format!("PINION_LOG_FORMAT={v:?}"))?;
        }
        if let Some(v) = get("PINION_EVENTS_TO") {
            self.events_to = Some(v).filter(|u| !u.is_empty());
        }
        if let Some(v) = get("PINION_NODE") {
            self.node = Some(v).filter(|n| !n.is_empty());
        }
        if let Some(v) = get("PINION_JOURNAL") {
            self.journal = !matches!(v.as_str(), "0" | "false" | "off" | "no");
        }
        Ok(())
    }

    /// The allowed origins, checked and normalized (lowercase, no trailing `/`).
    pub fn origins(&self) -> anyhow::Result<Vec<String>> {
        self.allowed_origins
            .iter()
            .map(|o| pinion_http::browser::parse_origin(o).map_err(|e| anyhow::anyhow!("allowed_origins: {e}")))
            .collect()
    }

    pub fn models_dir(&self) -> PathBuf {
        self.models_dir.clone().unwrap_or_else(|| self.data_dir.join("models"))
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if !(self.replay_speed.is_finite() && self.replay_speed > 0.0) {
            bail!("replay_speed must be a positive number, got {}", self.replay_speed);
        }
        if self.ticks.is_empty() {
            bail!("no tick files configured (ticks = [...] or PINION_TICKS)");
        }
        if !(self.snapshot_every_secs.is_finite() && self.snapshot_every_secs >= 0.0) {
            bail!(
                "snapshot_every_secs must be 0 (start-up snapshots only) or a positive number of seconds, got {}",
                self.snapshot_every_secs
            );
        }
        if !(self.idle_timeout_secs.is_finite() && self.idle_timeout_secs > 0.0 && self.idle_timeout_secs <= 86_400.0) {
            bail!("idle_timeout_secs must be a positive number of seconds (at most a day), got {}", self.idle_timeout_secs);
        }
        if self.events_to.is_some() && !self.journal {
            bail!("events_to needs the journal on (journal = true): the export publishes what is journaled");
        }
        if let Some(n) = &self.node {
            pinion_bus::export::check_node(n).map_err(|e| anyhow::anyhow!("node: {e}"))?;
        }
        match self.broker.kind.as_str() {
            "paper" => {}
            "oanda" => {
                pinion_io::oanda::Environment::parse(&self.broker.environment).map_err(|e| anyhow::anyhow!("broker.environment: {e}"))?;
                if !self.journal {
                    bail!(
                        "broker = \"oanda\" needs the journal on (journal = true): live orders and prices are journaled before they count"
                    );
                }
                if self.broker.account_id.as_deref().is_none_or(|a| a.trim().is_empty()) {
                    bail!("broker = \"oanda\" needs an account id (broker.account_id or PINION_OANDA_ACCOUNT_ID)");
                }
            }
            other => bail!("broker must be \"paper\" or \"oanda\", got {other:?}"),
        }
        if self.history_window == 0 || self.history_window > 1_000_000 {
            bail!("history_window must be between 1 and 1000000 rows, got {}", self.history_window);
        }
        self.origins()?;
        if self.rest_threads == 0 || self.rest_threads > 256 {
            bail!("rest_threads must be between 1 and 256");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_values() {
        let mut c: ServeConfig = toml::from_str("bind = \"127.0.0.1:9000\"\nreplay_speed = 2.0").unwrap();
        assert_eq!(c.bind, "127.0.0.1:9000");
        c.apply_env(|k| (k == "PINION_REPLAY_SPEED").then(|| "5".to_string())).unwrap();
        assert_eq!(c.replay_speed, 5.0);
        assert!(c.apply_env(|k| (k == "PINION_REPLAY_SPEED").then(|| "fast".to_string())).is_err());
        assert!(toml::from_str::<ServeConfig>("bogus = 1").is_err());
        c.apply_env(|k| (k == "PINION_IDLE_TIMEOUT_SECS").then(|| "1.5".to_string())).unwrap();
        assert_eq!(c.idle_timeout_secs, 1.5);
        c.idle_timeout_secs = 0.0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn allowed_origins_from_file_and_env() {
        let mut c: ServeConfig = toml::from_str("allowed_origins = [\"https://App.example/\"]").unwrap();
        assert_eq!(c.origins().unwrap(), vec!["https://app.example".to_string()]);
        c.apply_env(|k| (k == "PINION_ALLOWED_ORIGINS").then(|| " http://localhost:3000, https://b.example ,".to_string())).unwrap();
        assert_eq!(c.allowed_origins, vec!["http://localhost:3000".to_string(), "https://b.example".to_string()]);
        assert!(c.validate().is_ok());
        c.allowed_origins = vec!["localhost:3000".into()];
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("allowed_origins"), "{e}");
        assert!(ServeConfig::default().origins().unwrap().is_empty());
    }

    #[test]
    fn idle_policy_and_log_format_from_file_and_env() {
        let mut c: ServeConfig = toml::from_str("idle_policy = \"busy_spin\"\nlog_format = \"json\"").unwrap();
        assert_eq!((c.idle_policy, c.log_format), (IdlePolicy::BusySpin, LogFormat::Json));
        c.apply_env(|k| (k == "PINION_IDLE_POLICY").then(|| "yielding".to_string())).unwrap();
        assert_eq!(c.idle_policy, IdlePolicy::Yielding);
        assert!(c.apply_env(|k| (k == "PINION_IDLE_POLICY").then(|| "nap".to_string())).is_err());
        assert!(c.apply_env(|k| (k == "PINION_LOG_FORMAT").then(|| "xml".to_string())).is_err());
        assert!(toml::from_str::<ServeConfig>("idle_policy = \"spin\"").is_err());
        let d = ServeConfig::default();
        assert_eq!((d.idle_policy, d.log_format), (IdlePolicy::Backoff, LogFormat::Text));
    }
}
