//! The REST server: `tiny_http` worker threads that gate each request's browser `Origin`, answer
//! CORS preflights, check the bearer token, read the body (size-limited), route it, and answer JSON.
//! HEAD is GET without the body, OPTIONS and 405 answers list the path's methods in `Allow`, and a
//! 201 carries `Location`. Never runs on the core thread; state changes go through the command
//! queue and reads come from the read model.
//!
//! A panic while handling a request is caught and answered 500 `{"detail": "internal error: ..."}`
//! (logged at ERROR); a worker that panics anyway (outside that guard) restarts its loop, so the
//! pool never shrinks. `PINION_FAULT_PANIC_ROUTE=1` adds `GET /debug/panic`, which panics (fault
//! injection for the tests).

use crate::api::{bearer_matches, split_url, ApiError, Reply, Request};
use crate::app::App;
use crate::browser;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

/// A running REST server.
pub struct RestServer {
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    pub local_addr: std::net::SocketAddr,
}

impl RestServer {
    /// Serves on `addr` (use port 0 for an ephemeral one) with `threads` workers.
    pub fn start(app: Arc<App>, addr: &str, threads: usize) -> std::io::Result<RestServer> {
        let listener = nodelay_listener(addr)?;
        let server =
            Arc::new(tiny_http::Server::from_listener(listener, None).map_err(|e| std::io::Error::other(format!("serving {addr}: {e}")))?);
        let local_addr = server.server_addr().to_ip().ok_or_else(|| std::io::Error::other("REST server has no IP address"))?;
        let workers = (0..threads.max(1))
            .map(|i| {
                let server = server.clone();
                let app = app.clone();
                std::thread::Builder::new().name(format!("pinion-rest-{i}")).spawn(move || supervise(&server, &app))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(RestServer { server, workers, local_addr })
    }

    pub fn stop(self) {
        self.server.unblock();
        for _ in 1..self.workers.len() {
            self.server.unblock();
        }
        for w in self.workers {
            let _ = w.join();
        }
    }
}

/// A worker's loop: serves requests until the server stops; a panic that escapes a request's own
/// guard is logged and the loop starts again.
fn supervise(server: &tiny_http::Server, app: &App) {
    loop {
        let served = catch_unwind(AssertUnwindSafe(|| {
            while let Ok(rq) = server.recv() {
                handle(app, rq);
            }
        }));
        match served {
            Ok(()) => return,
            Err(e) => log::error!("REST worker panicked, restarting it: {}", panic_message(e.as_ref())),
        }
    }
}

/// The message of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (_, Some(s)) => s.clone(),
        _ => "panic without a message".into(),
    }
}

/// Whether `PINION_FAULT_PANIC_ROUTE=1` enables `GET /debug/panic` (read once).
fn panic_route_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("PINION_FAULT_PANIC_ROUTE").is_ok_and(|v| v == "1"))
}

/// Binds a listener with TCP_NODELAY set, which Linux copies to every accepted connection. tiny_http
/// writes a response's head and body separately; without it Nagle holds the body until the client's
/// delayed ACK (about 40 ms per response on loopback).
fn nodelay_listener(addr: &str) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    use std::net::ToSocketAddrs;
    let sa = addr
        .to_socket_addrs()
        .map_err(|e| std::io::Error::other(format!("bind address {addr}: {e}")))?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("bind address {addr} resolves to nothing")))?;
    let bind_err = |e: std::io::Error| std::io::Error::new(e.kind(), format!("binding {addr}: {e}"));
    let socket = Socket::new(Domain::for_address(sa), Type::STREAM, Some(Protocol::TCP)).map_err(bind_err)?;
    socket.set_reuse_address(true).map_err(bind_err)?;
    socket.set_tcp_nodelay(true).map_err(bind_err)?;
    socket.bind(&SockAddr::from(sa)).map_err(bind_err)?;
    socket.listen(1024).map_err(bind_err)?;
    Ok(socket.into())
}

fn header(rq: &tiny_http::Request, name: &str) -> Option<String> {
    rq.headers().iter().find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name)).map(|h| h.value.as_str().to_string())
}

fn respond(rq: tiny_http::Request, reply: Reply) {
    // A reply that sets its own Content-Type carries its body as text (`/metrics`), not as JSON.
    let own_type = reply.header("Content-Type").is_some();
    let body = match (reply.status, &reply.body) {
        (204 | 304, _) => Vec::new(),
        _ if reply.raw.is_some() => reply.raw.unwrap_or_default().to_vec(),
        (_, serde_json::Value::String(text)) if own_type => text.as_bytes().to_vec(),
        _ => serde_json::to_vec(&reply.body).unwrap_or_else(|_| b"{}".to_vec()),
    };
    // Always a Content-Length (tiny_http would chunk bodies from 32 KiB on; HEAD answers then carry no
    // length at all): every body is complete in memory anyway.
    let mut resp = tiny_http::Response::from_data(body).with_status_code(reply.status).with_chunked_threshold(usize::MAX);
    let mut add = |name: &str, value: &str| match tiny_http::Header::from_bytes(name, value) {
        Ok(h) => resp.add_header(h),
        Err(()) => log::warn!("header {name} not sent: its value is not valid"),
    };
    if !matches!(reply.status, 204 | 304) && !own_type {
        add("Content-Type", "application/json");
    }
    if reply.status == 401 {
        add("WWW-Authenticate", "Bearer");
    }
    for (name, value) in &reply.headers {
        add(name, value);
    }
    if let Err(e) = rq.respond(resp) {
        log::debug!("client went away before the response: {e}");
    }
}

/// Checks `Authorization: Bearer <token>` (scheme in any case) when a token is configured.
pub fn authorized(app: &App, auth_header: Option<&str>) -> bool {
    match &app.config.bearer_token {
        None => true,
        Some(t) => bearer_matches(auth_header, t),
    }
}

fn handle(app: &App, mut rq: tiny_http::Request) {
    let (path, query) = split_url(rq.url());
    let method = rq.method().as_str().to_ascii_uppercase();
    let timer = crate::metrics::request_timer(app, &method, &path);
    let origin = header(&rq, "Origin");
    // The dashboard's own origin (the request's Host, when it names a loopback or literal address) is
    // allowed like a configured one.
    let host = header(&rq, "Host");
    let own;
    let allowed = match origin.as_deref().filter(|o| browser::same_origin(o, host.as_deref())) {
        Some(o) => {
            own = [app.config.allowed_origins.as_slice(), &[o.trim().to_string()]].concat();
            &own
        }
        None => &app.config.allowed_origins,
    };
    let answer = |rq, reply: Reply| {
        let status = reply.status;
        respond(rq, browser::with_cors(reply, allowed, origin.as_deref()));
        if let Some(t) = &timer {
            t.finish(status);
        }
    };
    // A browser page from another origin may not change anything, nor ask to.
    if let Err(e) = browser::check_origin(allowed, &method, origin.as_deref()) {
        return answer(rq, e.into_reply());
    }
    // A CORS preflight carries no token: answer it from the route table alone.
    if method == "OPTIONS" && origin.is_some() {
        let reply = match crate::openapi::allow(app, &path) {
            Some(allow) => browser::preflight(&allow),
            None => ApiError::not_found(format!("no route for OPTIONS {path}")).into_reply(),
        };
        return answer(rq, reply);
    }
    if path != "/health" && !crate::dashboard::assets::is_public(&path) && !authorized(app, header(&rq, "Authorization").as_deref()) {
        return answer(rq, ApiError::new(401, "missing or invalid bearer token (Authorization: Bearer <token>)").into_reply());
    }
    let limit = app.config.max_body_bytes;
    let mut body = Vec::new();
    if let Err(e) = rq.as_reader().take(limit as u64 + 1).read_to_end(&mut body) {
        return answer(rq, ApiError::bad_request(format!("could not read the request body: {e}")).into_reply());
    }
    if body.len() > limit {
        return answer(rq, ApiError::new(413, format!("request body too large: limit is {limit} bytes")).into_reply());
    }
    let req = Request {
        method,
        path,
        query,
        content_type: header(&rq, "Content-Type"),
        body,
        accept_encoding: header(&rq, "Accept-Encoding"),
        if_none_match: header(&rq, "If-None-Match"),
    };
    let reply = catch_unwind(AssertUnwindSafe(|| dispatch(app, &req))).unwrap_or_else(|e| {
        let msg = panic_message(e.as_ref());
        log::error!("panic while handling {} {}: {msg}", req.method, req.path);
        ApiError::new(500, format!("internal error: {msg}")).into_reply()
    });
    answer(rq, reply);
}

/// Routes one request to its handler; unknown routes are 404 and known paths with the wrong method
/// 405 with `Allow`. HEAD is routed as GET (tiny_http leaves the body out), OPTIONS lists the
/// path's methods, a state change without a JSON `Content-Type` is 400 before its handler runs, and
/// a 201 gets `Location: <path>/<id>`.
pub fn dispatch(app: &App, req: &Request) -> Reply {
    if req.path == "/debug/panic" && req.method == "GET" && panic_route_enabled() {
        panic!("fault injection: GET /debug/panic (PINION_FAULT_PANIC_ROUTE=1)");
    }
    if req.method == "HEAD" {
        let get = Request { method: "GET".into(), ..req.clone() };
        return dispatch(app, &get);
    }
    if let Some(page) = crate::dashboard::assets::route(req) {
        return page;
    }
    let allow = crate::openapi::allow(app, &req.path);
    if req.method == "OPTIONS" {
        return match allow {
            Some(a) => Reply::no_content().with_header("Allow", a),
            None => ApiError::not_found(format!("no route for OPTIONS {}", req.path)).into_reply(),
        };
    }
    if allow.as_deref().is_some_and(|a| crate::openapi::allows(a, &req.method)) {
        if let Err(e) = browser::check_content_type(req) {
            return e.into_reply();
        }
    }
    let result = if req.path == "/api/openapi.json" && req.method == "GET" {
        Some(Ok(Reply::ok(crate::openapi::document(app))))
    } else if let Some(r) = crate::metrics::route(app, req) {
        Some(r)
    } else if let Some(r) = crate::dashboard::route(app, req) {
        Some(r)
    } else if req.path.starts_with("/api/") {
        crate::operations::route(app, req)
    } else {
        crate::account::route(app, req).or_else(|| app.extensions.providers.iter().find_map(|p| p.route(app, req)))
    };
    match result {
        Some(Ok(r)) => with_location(req, r),
        Some(Err(e)) => e.into_reply(),
        // The front upgrades `GET /ws` that carries the WebSocket headers; a plain GET that reaches
        // the REST side is on the right route with the wrong protocol, not a wrong method.
        None if req.path == "/ws" && req.method == "GET" => ApiError::new(
            426,
            "/ws is the WebSocket endpoint: send GET /ws with Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key",
        )
        .into_reply(),
        None => match allow {
            Some(a) => ApiError::new(405, format!("method {} not allowed on {}; allowed: {a}", req.method, req.path))
                .into_reply()
                .with_header("Allow", a),
            None => ApiError::not_found(format!("no route for {} {}", req.method, req.path)).into_reply(),
        },
    }
}

/// Adds `Location: <request path>/<id>` to a 201 whose body has an `id` and no Location yet.
fn with_location(req: &Request, reply: Reply) -> Reply {
    if reply.status != 201 || reply.header("Location").is_some() {
        return reply;
    }
    let id = match &reply.body["id"] {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) if s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => s.clone(),
        _ => return reply,
    };
    let location = format!("{}/{id}", req.path.trim_end_matches('/'));
    reply.with_header("Location", location)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn created_answers_say_where() {
        let req = Request { method: "POST".into(), path: "/api/operations/".into(), ..Request::default() };
        let r = with_location(&req, Reply::created(json!({ "id": 7 })));
        assert_eq!(r.header("Location"), Some("/api/operations/7"));
        assert_eq!(with_location(&req, Reply::ok(json!({ "id": 7 }))).header("Location"), None);
        assert_eq!(with_location(&req, Reply::created(json!({ "id": "a/b" }))).header("Location"), None);
        assert_eq!(with_location(&req, Reply::created(json!({}))).header("Location"), None);
    }
}
