//! Optional services the binary plugs into the HTTP side: the model registry and the model-driven
//! session (both need libtorch, which this crate never links).

use crate::api::{ApiResult, Request};
use crate::app::App;
use std::sync::Arc;

/// A set of extra routes served at the root (e.g. `/models`, `/session/...`).
pub trait RouteProvider: Send + Sync {
    /// Answers the request if the route is one of its own.
    fn route(&self, app: &App, req: &Request) -> Option<ApiResult>;
    /// OpenAPI path items for its routes: (path, method, summary).
    fn describe(&self) -> Vec<(&'static str, &'static str, &'static str)>;
    /// Follows a committed state change (live or replayed), for state it keeps outside the engine.
    fn on_change(&self, _app: &App, _change: &crate::app::Committed) {}
    /// Declares its routes' request and response schemas and query parameters for the OpenAPI
    /// document (routes it leaves out are documented by summary only).
    fn schemas(&self, _schemas: &mut crate::openapi::Schemas) {}
}

#[derive(Default, Clone)]
pub struct Extensions {
    pub providers: Vec<Arc<dyn RouteProvider>>,
}
