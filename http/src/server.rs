//! The REST server: `tiny_http` worker threads that read each request (size-limited), check the bearer
//! token, route it, and answer JSON. Never runs on the core thread; state changes go through the
//! command queue and reads come from the read model.

use crate::api::{split_url, ApiError, Reply, Request};
use crate::app::App;
use std::io::Read;
use std::sync::Arc;
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
                std::thread::Builder::new().name(format!("pinion-rest-{i}")).spawn(move || {
                    while let Ok(rq) = server.recv() {
                        handle(&app, rq);
                    }
                })
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
    let body = serde_json::to_vec(&reply.body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = tiny_http::Response::from_data(body).with_status_code(reply.status);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", "application/json") {
        resp.add_header(h);
    }
    if reply.status == 401 {
        if let Ok(h) = tiny_http::Header::from_bytes("WWW-Authenticate", "Bearer") {
            resp.add_header(h);
        }
    }
    if let Err(e) = rq.respond(resp) {
        log::debug!("client went away before the response: {e}");
    }
}

/// Checks `Authorization: Bearer <token>` when a token is configured.
pub fn authorized(app: &App, auth_header: Option<&str>) -> bool {
    match &app.config.bearer_token {
        None => true,
        Some(t) => {
            auth_header.and_then(|h| h.strip_prefix("Bearer ")).is_some_and(|given| constant_time_eq(given.trim().as_bytes(), t.as_bytes()))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn handle(app: &App, mut rq: tiny_http::Request) {
    let (path, query) = split_url(rq.url());
    let method = rq.method().as_str().to_ascii_uppercase();
    if path != "/health" && !authorized(app, header(&rq, "Authorization").as_deref()) {
        return respond(rq, ApiError::new(401, "missing or invalid bearer token (Authorization: Bearer <token>)").into_reply());
    }
    let limit = app.config.max_body_bytes;
    let mut body = Vec::new();
    if let Err(e) = rq.as_reader().take(limit as u64 + 1).read_to_end(&mut body) {
        return respond(rq, ApiError::bad_request(format!("could not read the request body: {e}")).into_reply());
    }
    if body.len() > limit {
        return respond(rq, ApiError::bad_request(format!("request body too large: limit is {limit} bytes")).into_reply());
    }
    let req = Request { method, path, query, content_type: header(&rq, "Content-Type"), body };
    let reply = dispatch(app, &req);
    respond(rq, reply);
}

/// Routes one request to its handler; unknown routes are 404 and known paths with the wrong method 405.
pub fn dispatch(app: &App, req: &Request) -> Reply {
    let result = if req.path == "/api/openapi.json" && req.method == "GET" {
        Some(Ok(Reply::ok(crate::openapi::document(app))))
    } else if req.path.starts_with("/api/") {
        crate::operations::route(app, req)
    } else {
        crate::account::route(app, req).or_else(|| app.extensions.providers.iter().find_map(|p| p.route(app, req)))
    };
    match result {
        Some(Ok(r)) => r,
        Some(Err(e)) => e.into_reply(),
        // The front upgrades `GET /ws` that carries the WebSocket headers; a plain GET that reaches
        // the REST side is on the right route with the wrong protocol, not a wrong method.
        None if req.path == "/ws" && req.method == "GET" => ApiError::new(
            426,
            "/ws is the WebSocket endpoint: send GET /ws with Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key",
        )
        .into_reply(),
        None if crate::openapi::path_known(app, &req.path) => {
            ApiError::new(405, format!("method {} not allowed on {}", req.method, req.path)).into_reply()
        }
        None => ApiError::not_found(format!("no route for {} {}", req.method, req.path)).into_reply(),
    }
}
