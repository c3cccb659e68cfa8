//! The model and session routes (`/models`, `/session/status|config|start|stop`), served by the HTTP
//! layer through its route-provider hook because they need libtorch (the `models` crate).

use crate::session_views::{ActionView, SessionConfigView, SessionStatusView, StartedView, StoppedView, UnitsView, WarmupBars, WarmupView};
use pinion_core::engine::HISTORY_CAPACITY;
use pinion_core::fixed::Money;
use pinion_core::instrument::InstrumentId;
use pinion_core::risk::RiskLimits;
use pinion_core::session::{SessionSpec, SessionState, SessionStatus};
use pinion_core::time::format_iso;
use pinion_http::api::{ApiError, ApiResult, Reply, Request};
use pinion_http::app::App;
use pinion_http::extensions::RouteProvider;
use pinion_http::openapi::{OkView, Schemas};
use pinion_http::ws::{Broadcaster, Frame, Topic};
use pinion_models::{ModelInfo, ModelRegistry, TorchPolicy, FEATURE_SET_V1};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A validated `/session/config`.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub symbols: Vec<(InstrumentId, String)>,
    pub model: ModelInfo,
    pub model_path: PathBuf,
    pub target_capital: Money,
    /// The config's `risk` object as given (each field checked): only the fields it names, applied
    /// over the limits current at `/session/start`, so a later `/risk/update` of the others survives.
    pub risk: Option<Value>,
}

impl SessionConfig {
    /// The config as `/session/status` shows it.
    fn to_view(&self) -> SessionConfigView {
        SessionConfigView {
            selected_symbols: self.symbols.iter().map(|s| s.1.clone()).collect(),
            model: Some(self.model.clone()),
            target_capital_usd: self.target_capital.as_f64(),
            risk: self.risk.as_ref().and_then(Value::as_object).cloned(),
        }
    }

    /// The config as a `/session/config` body (what `restore_config` reads back).
    fn to_body(&self) -> Value {
        let mut v = json!({
            "symbols": self.symbols.iter().map(|s| s.1.clone()).collect::<Vec<_>>(),
            "model_path": self.model_path,
            "target_capital_usd": self.target_capital.as_f64(),
        });
        if let Some(r) = &self.risk {
            v["risk"] = r.clone();
        }
        v
    }

    /// The config as a journaled `session_start` (what `restore_active` reads back): its `risk` object
    /// goes under `risk_override`; the caller adds the limits actually installed as `risk`.
    fn to_start_record(&self) -> Value {
        let mut v = self.to_body();
        let risk = v.as_object_mut().and_then(|o| o.remove("risk")).unwrap_or(Value::Null);
        v["risk_override"] = risk;
        v
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

    fn validate_config(&self, app: &App, body: &Map<String, Value>) -> Result<SessionConfig, ApiError> {
        if let Some(k) = body.keys().find(|k| !CONFIG_FIELDS.contains(&k.as_str())) {
            return Err(ApiError::field(k, format!("unknown field; known fields: {}", CONFIG_FIELDS.join(", "))));
        }
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
        let cap = match body.get("target_capital_usd") {
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| ApiError::field("target_capital_usd", "must be a positive number"))?,
            Some(_) => return Err(ApiError::field("target_capital_usd", "must be a number")),
            None => return Err(ApiError::field("target_capital_usd", "is required")),
        };
        let balance = app.read.read().account.balance;
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
                Some(r.clone())
            }
        };
        Ok(SessionConfig { symbols, model: info, model_path: path, target_capital: Money::from_f64(cap), risk })
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
            Some(c) if !st.running || st.symbols.is_empty() => c.symbols.iter().map(|s| s.1.clone()).collect(),
            _ => st.symbols.clone(),
        };
        let capital = shown.map(|c| c.target_capital.as_f64()).or_else(|| st.running.then_some(st.target_capital_usd));
        let risk = app.call(|e| e.risk().map(|r| r.limits)).ok().flatten();
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
            Some(v) => v
                .as_f64()
                .filter(|t| t.is_finite() && *t > 0.0 && *t <= 86_400.0)
                .ok_or_else(|| ApiError::field("cold_start_timeout_sec", "must be a number of seconds in (0, 86400]"))?,
        };
        let cfg = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| ApiError::conflict("no session configuration: POST /session/config first"))?;
        let policy = TorchPolicy::load(&cfg.model_path).map_err(|e| ApiError::field("model_path", e))?;
        let spec = SessionSpec {
            symbols: cfg.symbols.iter().map(|s| s.0).collect(),
            target_capital: cfg.target_capital,
            policy: Box::new(policy),
        };
        let overrides = cfg.risk.clone();
        // Held across the engine call so that no status sees the new session with the old config.
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        let (started, at) = app.call_applied(move |e| start_with_overrides(e, spec, overrides.as_ref()))?;
        let (book, limits) = started?;
        *active = Some(cfg.clone());
        drop(active);
        // `risk` is the full set of limits installed at start (null: left as they were), which replay
        // installs as is; `risk_override` is the config's object that produced it (informational).
        let mut record = cfg.to_start_record();
        record["risk"] = json!(limits);
        app.persist("session_start", &at.stamp(record))?;
        app.read.write().session_book = Some(book);
        log::info!(
            "session starting: warming up {} on {} (timeout {timeout} s)",
            cfg.symbols.iter().map(|s| s.1.as_str()).collect::<Vec<_>>().join(", "),
            cfg.model.name
        );
        let (me, app2) = (self.clone(), app.clone());
        let deadline = Instant::now() + Duration::from_secs_f64(timeout);
        let watcher =
            std::thread::Builder::new().name("pinion-session-warmup".into()).spawn(move || me.watch_warmup(&app2, deadline, timeout));
        if let Err(e) = watcher {
            log::error!("could not start the warm-up watcher: {e}");
        }
        Ok(Reply::accepted(serde_json::to_value(StartedView { started: true }).unwrap_or(Value::Null)))
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
                let r2 = reason.clone();
                if let Ok(((), at)) = app.call_applied(move |e| e.fail_session(r2)) {
                    if let Err(e) = app.persist("session_fail", &at.stamp(json!({ "reason": reason }))) {
                        log::error!("could not journal the session failure: {}", e.detail);
                    }
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

/// Starts a session on the engine, installing `risk` as the risk limits first (also used by journal
/// recovery, with the limits journaled at start). If the session cannot start, the limits are left as
/// they were.
pub fn apply_start(
    e: &mut pinion_core::engine::Engine,
    spec: SessionSpec,
    risk: Option<RiskLimits>,
) -> Result<pinion_core::order::BookId, pinion_core::engine::SessionError> {
    let before = e.risk().map(|r| r.limits);
    if let (Some(l), Some(r)) = (risk, e.risk_mut()) {
        r.limits = l;
    }
    let started = e.start_session(spec);
    if started.is_err() {
        if let (Some(l), Some(r)) = (before, e.risk_mut()) {
            r.limits = l;
        }
    }
    started
}

/// `/session/start` on the engine thread: applies the session config's risk override over the limits
/// current now (so `/risk/update`s made since `/session/config` to fields it does not name survive), then
/// starts the session. Returns the session book and the limits installed (None: unchanged), which is
/// what the journal keeps for replay.
pub fn start_with_overrides(
    e: &mut pinion_core::engine::Engine,
    spec: SessionSpec,
    overrides: Option<&Value>,
) -> Result<(pinion_core::order::BookId, Option<RiskLimits>), ApiError> {
    let limits = match (overrides, e.risk()) {
        (Some(o), Some(r)) => {
            let mut l = r.limits;
            l.apply_update(o).map_err(|err| {
                ApiError::conflict(format!("the session config's risk.{err} over the current limits; POST /session/config again"))
            })?;
            Some(l)
        }
        _ => None,
    };
    let book = apply_start(e, spec, limits).map_err(|err| ApiError::conflict(err.to_string()))?;
    Ok((book, limits))
}

impl SessionApi {
    /// Restores a journaled configuration (recovery).
    pub fn restore_config(&self, app: &App, body: &Value) -> Result<(), ApiError> {
        let obj = body.as_object().ok_or_else(|| ApiError::bad_request("session config is not an object"))?;
        let cfg = self.validate_config(app, obj)?;
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(cfg);
        Ok(())
    }

    /// Restores, from a journaled `session_start` (recovery), the config the session was started with,
    /// so `/session/status` describes it after a restart as it did before.
    pub fn restore_active(&self, app: &App, start: &Value) {
        let symbols = start["symbols"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|s| app.instruments.find(s))
            .map(|id| (id, app.instruments.get(id).symbol.clone()))
            .collect();
        let model_path = PathBuf::from(start["model_path"].as_str().unwrap_or_default());
        let cfg = SessionConfig {
            symbols,
            model: self.registry.inspect(&model_path),
            model_path,
            target_capital: Money::from_f64(start["target_capital_usd"].as_f64().unwrap_or(0.0)),
            risk: start.get("risk_override").filter(|r| r.is_object()).cloned(),
        };
        *self.active.lock().unwrap_or_else(|p| p.into_inner()) = Some(cfg);
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
                let cfg = api.validate_config(app, &body)?;
                app.persist("session_config", &Value::Object(body))?;
                *api.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(cfg);
                Ok(Reply::ok(serde_json::to_value(OkView { ok: true }).unwrap_or(Value::Null)))
            })(),
            ("POST", "/session/start") => match self.app.get().and_then(|w| w.upgrade()) {
                Some(arc) => api.start(&arc, req),
                None => Err(ApiError::unavailable("server is starting")),
            },
            ("POST", "/session/stop") => (|| {
                let (st, at) = app.call_applied(|e| e.stop_session())?;
                let st = st.map_err(|e| ApiError::conflict(e.to_string()))?;
                app.persist("session_stop", &at.stamp(json!({})))?;
                log::info!("session stopped; still open: {:?}", st.open_positions);
                let v = api.status_json(&st, app);
                api.publish_status(&v);
                let open_positions = st.open_positions.iter().map(|(s, u)| UnitsView { instrument: s.clone(), units: *u }).collect();
                Ok(Reply::ok(serde_json::to_value(StoppedView { stopped: true, open_positions }).unwrap_or(Value::Null)))
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
        ]
    }

    fn schemas(&self, schemas: &mut Schemas) {
        crate::session_views::declare(schemas)
    }
}

/// Session settings in snapshots: the pending config (as a `/session/config` body) and the config the
/// current or last session was started with (as a journaled `session_start`).
impl SessionApi {
    pub fn export_settings(&self) -> Value {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(SessionConfig::to_body);
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(SessionConfig::to_start_record);
        json!({ "pending": pending, "active": active })
    }

    /// Restores what [`export_settings`](Self::export_settings) saved; a pending config that no longer
    /// validates (its model file gone, say) is dropped with the error.
    pub fn import_settings(&self, app: &App, v: &Value) -> Result<(), String> {
        if let Some(active) = v.get("active").filter(|a| a.is_object()) {
            self.restore_active(app, active);
        }
        match v.get("pending").filter(|p| p.is_object()) {
            Some(pending) => self.restore_config(app, pending).map_err(|e| format!("pending session config: {}", e.detail)),
            None => Ok(()),
        }
    }
}
