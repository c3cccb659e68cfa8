//! `GET /metrics` (the Prometheus exposition, `text/plain; version=0.0.4`) and `GET /api/latency`
//! (the latest per-hop p50/p99 as JSON), and the timer each REST request gets. Both routes are behind
//! the bearer token like every route but `/health` (the REST server checks it before routing).

use super::{render_read_model, LatencyView, RequestTimer, CONTENT_TYPE};
use crate::api::{ApiResult, Reply, Request};
use crate::app::App;
use serde_json::Value;

/// Answers `GET /metrics` and `GET /api/latency`; None for anything else.
pub fn route(app: &App, req: &Request) -> Option<ApiResult> {
    if req.method != "GET" {
        return None;
    }
    match req.path.as_str() {
        "/metrics" => {
            let text = match &app.config.metrics {
                Some(m) => m.render(app),
                None => render_read_model(app),
            };
            Some(Ok(Reply::new(200, Value::String(text)).with_header("Content-Type", CONTENT_TYPE)))
        }
        "/api/latency" => {
            let view = match &app.config.metrics {
                Some(m) => m.latency(),
                None => LatencyView { window_secs: 0.0, idle_policy: "unknown".into(), hops: Vec::new() },
            };
            Some(serde_json::to_value(view).map(Reply::ok).map_err(|e| crate::api::ApiError::new(500, format!("latency view: {e}"))))
        }
        _ => None,
    }
}

/// Starts timing a REST request (None when the server keeps no metrics). Its route label is the
/// template the path matches (`/api/operations/{id}`), or `other`.
pub fn request_timer<'a>(app: &'a App, method: &str, path: &str) -> Option<RequestTimer<'a>> {
    let m = app.config.metrics.as_ref()?;
    let route = crate::openapi::route_template(app, path).unwrap_or_else(|| "other".into());
    Some(m.requests.start(route, method))
}
