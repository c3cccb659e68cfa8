//! The model and session routes (`/models`, `/session/status|config|start|stop|positions/close`), served by the HTTP
//! layer through its route-provider hook because they need libtorch (the `models` crate).

use crate::session_views::{
    ActionView, ClosedView, SessionConfigView, SessionStatusView, StartedView, StoppedView, UnitsView, WarmupBars, WarmupView,
};
use pinion_core::bounds;
use pinion_core::change::{Change, SessionConfigSpec};
use pinion_core::engine::ChangeResources;
use pinion_core::engine::HISTORY_CAPACITY;
use pinion_core::fixed::Money;
use pinion_core::risk::RiskLimits;
use pinion_core::session::{SessionState, SessionStatus};
use pinion_core::time::format_iso;
use pinion_http::api::{ApiError, ApiResult, Reply, Request};
use pinion_http::app::{App, Committed};
use pinion_http::extensions::RouteProvider;
use pinion_http::openapi::{OkView, Schemas};
use pinion_http::ws::{Broadcaster, Frame, Topic};
use pinion_models::{ModelInfo, ModelRegistry, TorchPolicy, FEATURE_SET_V1};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A validated `/session/config`: the journaled spec plus what the server derived from it.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// What is journaled (symbols, model path, target capital, risk override).
    pub spec: SessionConfigSpec,
    /// The model's metadata (read from the file).
    pub model: ModelInfo,
}

impl SessionConfig {
    /// The config as `/session/status` shows it.
    fn to_view(&self) -> SessionConfigView {
        SessionConfigView {
            selected_symbols: self.spec.symbols.clone(),
            model: Some(self.model.clone()),
            target_capital_usd: self.spec.target_capital.as_f64(),
            risk: self.spec.risk.clone(),
        }
    }
}

pub struct SessionApi {
    pub registry: ModelRegistry,
    /// The latest accepted `/session/config`: what the next `/session/start` uses.
    pending: Mutex<Option<SessionConfig>>,
    /// The config the current (or last) session was started with.
    active: Mutex<Option<SessionConfig>>,
    /// The last status seen, for `status` frames.
    pub last_status: Mutex<Value>,
    pub frames: OnceLock<Broadcaster>,
}

const CONFIG_FIELDS: &[&str] = &["symbols", "model_path", "target_capital_usd", "risk"];

impl SessionApi {
    pub fn new(models_dir: &Path) -> SessionApi {
        SessionApi {
            registry: ModelRegistry::new(models_dir),
            pending: Mutex::new(None),
            active: Mutex::new(None),
            last_status: Mutex::new(json!({ "state": "idle", "running": false })),
            frames: OnceLock::new(),
        }
    }

    fn resolve_model(&self, raw: &str) -> PathBuf {
        let p = PathBuf::from(raw);
        if p.is_absolute() || p.exists() {
            return p;
        }
        let in_dir = self.registry.dir().join(&p);
        if in_dir.exists() {
            return in_dir;
        }
        for ext in ["pt", "pth", "ts"] {
            let c = self.registry.dir().join(format!("{raw}.{ext}"));
            if c.exists() {
                return c;
            }
        }
        p
    }

    fn models(&self, req: &Request) -> ApiResult {
        let min = match req.query_param("min_symbols") {
            None => None,
            Some(v) => {
                Some(v.parse::<usize>().map_err(|_| ApiError::field("min_symbols", format!("must be a non-negative integer, got {v:?}")))?)
            }
        };
        Ok(Reply::ok(serde_json::to_value(self.registry.list(min)).unwrap_or(Value::Null)))
    }

    fn validate_config(&self, app: &App, body: &Map<String, Value>) -> Result<SessionConfigSpec, ApiError> {
        if let Some(k) = body.keys().find(|k| !CONFIG_FIELDS.contains(&k.as_str())) {
            return Err(ApiError::field(k, format!("unknown field; known fields: {}", CONFIG_FIELDS.join(", "))));
        }
        // The body's numbers first (they need no model): the capital within [0.01, balance], the risk
        // override's fields within their ranges.
        let balance = app.read.read().account.balance;
        let cap = match body.get("target_capital_usd") {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
            Some(_) => return Err(ApiError::field("target_capital_usd", "must be a number")),
            None => return Err(ApiError::field("target_capital_usd", "is required")),
        };
        bounds::check_range(cap, bounds::TARGET_CAPITAL_MIN, balance.as_f64().max(bounds::TARGET_CAPITAL_MIN))
            .map_err(|e| ApiError::field("target_capital_usd", format!("{e} (at most the account balance {balance})")))?;
        if Money::from_f64(cap) > balance {
            return Err(ApiError::field("target_capital_usd", format!("{cap} is above the account balance {balance}")));
        }
        let risk = match body.get("risk") {
            None | Some(Value::Null) => None,
            Some(r) => {
                // Each field's name, type and range (the limits have no rule across fields, so any valid
                // base will do; no engine call, so journal replay can use this too). Applied over the
                // limits current at /session/start, and checked again there.
                RiskLimits::default().apply_update(r).map_err(|e| match e.field.as_str() {
                    "body" => ApiError::field("risk", e.message),
                    _ => ApiError::bad_request(format!("risk.{e}")),
                })?;
                Some(r.as_object().cloned().unwrap_or_default())
            }
        };
        let arr = body
            .get("symbols")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::field("symbols", "is required: a non-empty array of instrument names"))?;
        if arr.is_empty() {
            return Err(ApiError::field("symbols", "must not be empty"));
        }
        let mut symbols = Vec::new();
        for (i, v) in arr.iter().enumerate() {
            let f = format!("symbols[{i}]");
            let name = v.as_str().ok_or_else(|| ApiError::field(&f, "must be a string"))?;
            let id = app.instruments.find(name).ok_or_else(|| ApiError::field(&f, format!("unknown instrument {name:?}")))?;
            let canon = app.instruments.get(id).symbol.clone();
            if !app.config.training_symbols.contains(&canon) {
                return Err(ApiError::field(
                    &f,
                    format!("{canon} is not in the training set ({})", app.config.training_symbols.join(", ")),
                ));
            }
            if !app.fed_instruments.contains(&canon) {
                return Err(ApiError::field(&f, format!("{canon} has no price feed on this server")));
            }
            if symbols.iter().any(|(x, _)| *x == id) {
                return Err(ApiError::field(&f, format!("duplicate symbol {canon}")));
            }
            symbols.push((id, canon));
        }
        let raw = body
            .get("model_path")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::field("model_path", "is required: a model file or name from GET /models"))?;
        let path = self.resolve_model(raw);
        if !path.exists() {
            return Err(ApiError::field("model_path", format!("no model at {raw:?}")));
        }
        let info = self.registry.inspect(&path);
        if let Some(e) = &info.error {
            return Err(ApiError::field("model_path", format!("model cannot be used: {e}")));
        }
        let max = info.max_symbols.unwrap_or(0);
        if max < symbols.len() {
            return Err(ApiError::field("model_path", format!("model max_symbols {max} is below the {} symbols requested", symbols.len())));
        }
        if info.feature_set.as_deref() != Some(FEATURE_SET_V1) || info.n_features != Some(6) {
            return Err(ApiError::field(
                "model_path",
                format!(
                    "model feature_set {:?} / n_features {:?} is not supported (needs {FEATURE_SET_V1} with 6 features)",
                    info.feature_set, info.n_features
                ),
            ));
        }
        if info.lookback_window.unwrap_or(0) > HISTORY_CAPACITY {
            return Err(ApiError::field("model_path", format!("lookback_window above the {HISTORY_CAPACITY} bars of history kept")));
        }
        Ok(SessionConfigSpec {
            symbols: symbols.into_iter().map(|s| s.1).collect(),
            model_path: path.to_string_lossy().into_owned(),
            target_capital: Money::from_f64(cap),
            risk,
        })
    }

    /// The config of a journaled spec (the model's metadata read again from its file).
    fn config_of(&self, spec: &SessionConfigSpec) -> SessionConfig {
        SessionConfig { spec: spec.clone(), model: self.registry.inspect(Path::new(&spec.model_path)) }
    }

    /// The status. While a session runs (warming up or running), `selected_symbols`, `model` and
    /// `target_capital_usd` describe it, as it was started; otherwise the configuration the next start
    /// will use. `config_source` says which (`running_session`, `pending_config`, or `last_session` when
    /// no configuration is kept; null when there is neither), and `pending_config` is always the latest
    /// accepted `/session/config` (its `risk` being the override it applies over the limits current at
    /// start). `risk` is the limits in force now.
    fn status_json(&self, st: &SessionStatus, app: &App) -> Value {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (shown, source) = if st.running {
            (active.as_ref(), Some("running_session"))
        } else if pending.is_some() {
            (pending.as_ref(), Some("pending_config"))
        } else {
            (active.as_ref(), active.as_ref().map(|_| "last_session"))
        };
        let selected: Vec<String> = match shown {
            Some(c) if !st.running || st.symbols.is_empty() => c.spec.symbols.clone(),
            _ => st.symbols.clone(),
        };
        let capital = shown.map(|c| c.spec.target_capital.as_f64()).or_else(|| st.running.then_some(st.target_capital_usd));
        let (risk, feed_stale) = app.call(|e| (e.risk().map(|r| r.limits), e.broker().feed_stale())).unwrap_or((None, false));
        let view = SessionStatusView {
            running: st.running,
            state: serde_json::to_value(st.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            reason: st.reason.clone(),
            selected_symbols: selected,
            model: shown.map(|c| c.model.clone()),
            risk,
            target_capital_usd: capital,
            config_source: source.map(str::to_string),
            pending_config: pending.as_ref().map(SessionConfig::to_view),
            warmup: WarmupView {
                ready: st.warmup_ready,
                missing: st.warmup_missing.iter().map(|m| m.0.clone()).collect(),
                bars: st.warmup_missing.iter().map(|m| WarmupBars { symbol: m.0.clone(), have: m.1 as u64, need: m.2 as u64 }).collect(),
            },
            decisions: st.decisions,
            last_decision_at: (st.last_decision_ns > 0).then(|| format_iso(st.last_decision_ns)),
            last_decision_cost_us: st.last_decision_cost_ns as f64 / 1e3,
            last_actions: st.last_actions.iter().map(|(s, a)| ActionView { symbol: s.clone(), action: *a }).collect(),
            open_positions: st.open_positions.iter().map(|(s, u)| UnitsView { instrument: s.clone(), units: *u }).collect(),
            feed_stale,
        };
        serde_json::to_value(view).unwrap_or(Value::Null)
    }

    fn publish_status(&self, v: &Value) {
        *self.last_status.lock().unwrap_or_else(|p| p.into_inner()) = v.clone();
        if let Some(b) = self.frames.get() {
            if let Ok(f) = Frame::json(Topic::Status, &json!({ "session": v })) {
                b.send(f);
            }
        }
    }

    fn start(self: &Arc<Self>, app: &Arc<App>, req: &Request) -> ApiResult {
        let body = req.optional_json_object()?;
        if let Some(k) = body.keys().find(|k| k.as_str() != "cold_start_timeout_sec") {
            return Err(ApiError::field(k, "unknown field; known fields: cold_start_timeout_sec"));
        }
        let timeout = match body.get("cold_start_timeout_sec") {
            None | Some(Value::Null) => 120.0,
            Some(v) => {
                let t = v.as_f64().ok_or_else(|| ApiError::field("cold_start_timeout_sec", "must be a number of seconds"))?;
                bounds::check_range(t, bounds::COLD_START_MIN_SEC, bounds::COLD_START_MAX_SEC)
                    .map_err(|e| ApiError::field("cold_start_timeout_sec", format!("{e} seconds")))?
            }
        };
        if app.live.is_some() {
            self.seed_from_broker(app)?;
        }
        let committed = app.propose_with(|app| {
            // The pending configuration, or (once a start consumed it) the last session's again.
            let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let cfg = pending
                .or_else(|| self.active.lock().unwrap_or_else(|p| p.into_inner()).clone())
                .ok_or_else(|| ApiError::conflict("no session configuration: POST /session/config first"))?;
            let policy = TorchPolicy::load(&cfg.spec.model_path).map_err(|e| ApiError::field("model_path", e))?;
            // The config's risk override over the limits in force now (so `/risk/update`s made since
            // `/session/config` to fields it does not name survive).
            let limits = match (&cfg.spec.risk, app.call(|e| e.risk().map(|r| r.limits))?) {
                (Some(o), Some(mut l)) => {
                    l.apply_update(&Value::Object(o.clone())).map_err(|err| {
                        ApiError::conflict(format!("the session config's risk.{err} over the current limits; POST /session/config again"))
                    })?;
                    Some(l)
                }
                _ => None,
            };
            let change = Change::SessionStarted { config: cfg.spec, limits, cold_start_timeout_sec: timeout };
            Ok((change, ChangeResources { policy: Some(Box::new(policy)) }))
        })?;
        if let Change::SessionStarted { config, .. } = &committed.change {
            log::info!("session warming up {} on {} (timeout {timeout} s)", config.symbols.join(", "), config.model_path);
        }
        let (me, app2) = (self.clone(), app.clone());
        let deadline = Instant::now() + Duration::from_secs_f64(timeout);
        let watcher =
            std::thread::Builder::new().name("pinion-session-warmup".into()).spawn(move || me.watch_warmup(&app2, deadline, timeout));
        if let Err(e) = watcher {
            log::error!("could not start the warm-up watcher: {e}");
        }
        Ok(Reply::accepted(serde_json::to_value(StartedView { started: true }).unwrap_or(Value::Null)))
    }

    /// With a live broker: fills each session symbol's bar history from the broker's candles (one
    /// journaled [`Change::BarsSeeded`] per symbol) so the session is ready in seconds. A symbol whose
    /// candles cannot be had warms up from live bars instead (logged).
    fn seed_from_broker(&self, app: &Arc<App>) -> Result<(), ApiError> {
        let Some(live) = app.live.as_ref() else { return Ok(()) };
        let cfg = self.pending.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(cfg) = cfg.or_else(|| self.active.lock().unwrap_or_else(|p| p.into_inner()).clone()) else { return Ok(()) };
        let Some(size) = app.call(|e| e.history_size())? else { return Ok(()) };
        for symbol in &cfg.spec.symbols {
            let bars = match live.history_bars(symbol, size, HISTORY_CAPACITY) {
                Ok(b) if !b.is_empty() => b,
                Ok(_) => continue,
                Err(e) => {
                    log::warn!("session warm-up of {symbol}: {e}; waiting for live bars instead");
                    continue;
                }
            };
            let n = bars.len();
            match app.propose(Change::BarsSeeded { symbol: symbol.clone(), bars }, ChangeResources::default()) {
                Ok(_) => log::info!("session warm-up: {n} {size} bars of {symbol} from {}", live.broker()),
                Err(e) if e.status == 400 => log::warn!("session warm-up of {symbol}: the broker's bars were refused: {}", e.detail),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reports warm-up progress and fails the session if it is not ready in time.
    fn watch_warmup(&self, app: &App, deadline: Instant, timeout: f64) {
        let mut last_missing = usize::MAX;
        loop {
            let Ok(st) = app.call(|e| e.session_status()) else { return };
            match st.state {
                SessionState::Running => {
                    log::info!("session warm-up complete: trading {}", st.symbols.join(", "));
                    self.publish_status(&self.status_json(&st, app));
                    return;
                }
                SessionState::WarmingUp => {}
                _ => return,
            }
            if st.warmup_missing.len() != last_missing {
                last_missing = st.warmup_missing.len();
                let detail: Vec<String> = st.warmup_missing.iter().map(|(s, h, n)| format!("{s} {h}/{n} bars")).collect();
                log::info!("session warming up: waiting for {}", detail.join(", "));
                self.publish_status(&self.status_json(&st, app));
            }
            if Instant::now() >= deadline {
                let detail: Vec<String> = st.warmup_missing.iter().map(|(s, h, n)| format!("{s} has {h} of {n} bars")).collect();
                let reason = format!("warm-up not ready within {timeout} s (cold_start_timeout_sec): {}", detail.join(", "));
                log::warn!("session failed: {reason}");
                if let Err(e) = app.propose(Change::SessionFailed { reason }, ChangeResources::default()) {
                    log::error!("could not record the session failure: {}", e.detail);
                }
                if let Ok(st) = app.call(|e| e.session_status()) {
                    self.publish_status(&self.status_json(&st, app));
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Serves the routes; holds the API behind an Arc so the warm-up watcher can outlive a request.
pub struct SessionRoutes {
    pub api: Arc<SessionApi>,
    pub app: OnceLock<std::sync::Weak<App>>,
}

impl RouteProvider for SessionRoutes {
    fn route(&self, app: &App, req: &Request) -> Option<ApiResult> {
        let api = &self.api;
        Some(match (req.method.as_str(), req.path.trim_end_matches('/')) {
            ("GET", "/models") => api.models(req),
            ("GET", "/session/status") => app.call(|e| e.session_status()).map(|st| Reply::ok(api.status_json(&st, app))),
            ("POST", "/session/config") => (|| {
                let body = req.json_object()?;
                let config = api.validate_config(app, &body)?;
                app.propose(Change::SessionConfigured { config }, ChangeResources::default())?;
                Ok(Reply::ok(serde_json::to_value(OkView { ok: true }).unwrap_or(Value::Null)))
            })(),
            ("POST", "/session/start") => match self.app.get().and_then(|w| w.upgrade()) {
                Some(arc) => api.start(&arc, req),
                None => Err(ApiError::unavailable("server is starting")),
            },
            ("POST", "/session/stop") => (|| {
                if let Some(k) = req.optional_json_object()?.keys().next() {
                    return Err(ApiError::field(k, "unknown field; /session/stop takes no fields"));
                }
                app.propose(Change::SessionStopped, ChangeResources::default())?;
                let st = app.call(|e| e.session_status())?;
                let v = api.status_json(&st, app);
                api.publish_status(&v);
                let open_positions = st.open_positions.iter().map(|(s, u)| UnitsView { instrument: s.clone(), units: *u }).collect();
                Ok(Reply::ok(serde_json::to_value(StoppedView { stopped: true, open_positions }).unwrap_or(Value::Null)))
            })(),
            ("POST", "/session/positions/close") => (|| {
                if let Some(k) = req.optional_json_object()?.keys().next() {
                    return Err(ApiError::field(k, "unknown field; /session/positions/close takes no fields"));
                }
                let held = app.call(|e| e.session_status())?.open_positions;
                let committed = app.propose(Change::SessionPositionsClosed { closes: Vec::new() }, ChangeResources::default())?;
                let closes = match &committed.change {
                    Change::SessionPositionsClosed { closes } => closes.clone(),
                    _ => Vec::new(),
                };
                let closed = held
                    .into_iter()
                    .filter(|(s, _)| closes.contains(s))
                    .map(|(instrument, units)| UnitsView { instrument, units })
                    .collect();
                let st = app.call(|e| e.session_status())?;
                api.publish_status(&api.status_json(&st, app));
                Ok(Reply::ok(serde_json::to_value(ClosedView { closed }).unwrap_or(Value::Null)))
            })(),
            _ => return None,
        })
    }

    fn describe(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        vec![
            ("/models", "get", "TorchScript models in the model directory (?min_symbols=N)"),
            ("/session/status", "get", "Model session state, warm-up progress, risk and open positions"),
            ("/session/config", "post", "Configure the model session (symbols, model_path, target_capital_usd, risk)"),
            ("/session/start", "post", "Start the session: 202, warm-up runs in the background (cold_start_timeout_sec)"),
            ("/session/stop", "post", "Stop new decisions; reports what is still open"),
            ("/session/positions/close", "post", "Close at market every position the stopped session holds (409 while it runs)"),
        ]
    }

    fn on_change(&self, _app: &App, c: &Committed) {
        let api = &self.api;
        match &c.change {
            Change::SessionConfigured { config } => {
                *api.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(api.config_of(config));
            }
            Change::SessionStarted { config, .. } => {
                *api.active.lock().unwrap_or_else(|p| p.into_inner()) = Some(api.config_of(config));
                // The start consumed the pending configuration.
                *api.pending.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            _ => {}
        }
    }

    fn schemas(&self, schemas: &mut Schemas) {
        crate::session_views::declare(schemas)
    }
}

/// Session settings in snapshots: the pending config and the config the current or last session was
/// started with, both as their journaled specs.
impl SessionApi {
    pub fn export_settings(&self) -> Value {
        let spec = |m: &Mutex<Option<SessionConfig>>| m.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|c| c.spec.clone());
        json!({ "pending": spec(&self.pending), "active": spec(&self.active) })
    }

    /// Restores what [`export_settings`](Self::export_settings) saved.
    pub fn import_settings(&self, v: &Value) -> Result<(), String> {
        let read = |k: &str| -> Result<Option<SessionConfig>, String> {
            let spec: Option<SessionConfigSpec> =
                serde_json::from_value(v.get(k).cloned().unwrap_or(Value::Null)).map_err(|e| format!("session settings: {k}: {e}"))?;
            Ok(spec.map(|s| self.config_of(&s)))
        };
        let (pending, active) = (read("pending")?, read("active")?);
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = pending;
        *self.active.lock().unwrap_or_else(|p| p.into_inner()) = active;
        Ok(())
    }
}
