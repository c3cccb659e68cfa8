//! pinion-http: the REST APIs (operations under `/api`, account/session/risk at the root) on `tiny_http`
//! worker threads, the WebSocket push at `/ws` behind a small `mio` front on the same port, and the
//! publisher that folds engine events into the read model both serve from.

pub mod account;
pub mod api;
pub mod app;
pub mod bodies;
pub mod browser;
pub mod changes;
pub mod dashboard;
pub mod extensions;
pub mod front;
pub mod history_pages;
pub mod json_body;
pub mod live_account;
pub mod logs;
pub mod metrics;
pub mod openapi;
pub mod operation_body;
pub mod operations;
pub mod publisher;
pub mod readmodel;
pub mod server;
pub mod views;
pub mod ws;
