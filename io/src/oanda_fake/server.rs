//! The fake's HTTP server: a thread accepting on `127.0.0.1`, a thread per connection reading
//! keep-alive requests, applying injected faults, checking `Authorization: Bearer <token>`, and
//! handing each request to `routes` (REST) or `stream` (pricing / transaction streams).

use super::faults::{lock, ConnKind, FailWith};
use super::http::{read_request, write_response, ReadError, Request};
use super::routes::{route, Routed};
use super::shared::Shared;
use super::stream::{serve_pricing, serve_transactions};
use serde_json::{json, Value};
use std::io::BufReader;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// OANDA's 401 body (troubleshooting-errors, "Insufficient Authorization").
pub(crate) const UNAUTHORIZED: &str = "Insufficient authorization to perform request.";

static REQUEST_IDS: AtomicU64 = AtomicU64::new(24_000_000_000_000_000);

/// Accepts connections until shutdown, one thread each (kept in `workers` to be joined).
pub(crate) fn accept_loop(sh: Arc<Shared>, listener: TcpListener, workers: Arc<Mutex<Vec<JoinHandle<()>>>>) {
    for conn in listener.incoming() {
        if sh.stopping() {
            break;
        }
        let Ok(stream) = conn else {
            thread::sleep(std::time::Duration::from_millis(5));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let sh2 = Arc::clone(&sh);
        if let Ok(h) = thread::Builder::new().name("fake-oanda-conn".into()).spawn(move || serve_conn(&sh2, stream)) {
            let mut w = lock(&workers);
            w.retain(|h| !h.is_finished());
            w.push(h);
        }
    }
}

fn serve_conn(sh: &Shared, stream: TcpStream) {
    let (Ok(read_half), Ok(registered)) = (stream.try_clone(), stream.try_clone()) else { return };
    let key = lock(&sh.faults.conns).add(ConnKind::Rest, registered);
    let mut reader = BufReader::new(read_half);
    let mut w = stream;
    while !sh.stopping() {
        match read_request(&mut reader, &mut w) {
            Ok(req) => {
                if !handle(sh, &req, &mut w, key) {
                    break;
                }
            }
            Err(ReadError::Bad(msg)) => {
                let _ = write_response(&mut w, 400, &[], json!({ "errorMessage": msg }).to_string().as_bytes(), false);
                break;
            }
            Err(ReadError::Io(e)) => {
                log::debug!("fake OANDA: connection ended: {e}");
                break;
            }
            Err(ReadError::Closed) => break,
        }
    }
    let _ = w.shutdown(Shutdown::Both);
    lock(&sh.faults.conns).remove(key);
}

fn authorized(sh: &Shared, req: &Request) -> bool {
    match sh.faults.token() {
        None => true,
        Some(t) => req.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).map(str::trim) == Some(t.as_str()),
    }
}

fn count(sh: &Shared, req: &Request) {
    let mut stats = lock(&sh.stats);
    *stats.requests.entry((req.method.clone(), req.path.clone())).or_default() += 1;
    if req.method == "POST" && req.path.ends_with("/orders") {
        let body: Option<Value> = serde_json::from_slice(&req.body).ok();
        if let Some(id) = body.as_ref().and_then(|b| b["order"]["clientExtensions"]["id"].as_str()) {
            *stats.orders_by_client_id.entry(id.to_string()).or_default() += 1;
        }
    }
}

fn write(w: &mut TcpStream, status: u16, mut headers: Vec<(String, String)>, body: &Value, keep_alive: bool, request_id: &str) -> bool {
    headers.push(("RequestID".into(), request_id.to_string()));
    write_response(w, status, &headers, body.to_string().as_bytes(), keep_alive).is_ok() && keep_alive
}

/// Handles one request; false when the connection must close.
fn handle(sh: &Shared, req: &Request, w: &mut TcpStream, key: u64) -> bool {
    count(sh, req);
    let plan = sh.faults.plan(&req.method, &req.path);
    let request_id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed).to_string();
    if let Some(fail) = plan.fail {
        if plan.delay.is_some_and(|d| !sh.sleep(d)) {
            return false;
        }
        let (status, msg, headers) = match fail {
            FailWith::Unavailable => (503, "Service unavailable (injected by the fake OANDA server)", Vec::new()),
            FailWith::TooManyRequests { retry_after } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                (429, "Rate limit exceeded (injected by the fake OANDA server)", vec![("Retry-After".to_string(), secs.to_string())])
            }
        };
        return write(w, status, headers, &json!({ "errorMessage": msg }), req.keep_alive, &request_id);
    }
    if !authorized(sh, req) {
        return write(w, 401, Vec::new(), &json!({ "errorMessage": UNAUTHORIZED }), req.keep_alive, &request_id);
    }
    let routed = route(sh, req);
    if plan.swallow {
        let _ = w.shutdown(Shutdown::Both);
        return false;
    }
    if plan.delay.is_some_and(|d| !sh.sleep(d)) {
        return false;
    }
    match routed {
        Routed::Reply(r) => write(w, r.status, r.headers, &r.body, req.keep_alive, &request_id),
        Routed::Pricing { insts, snapshot } => {
            lock(&sh.faults.conns).set_kind(key, ConnKind::Pricing);
            if let Ok(s) = w.try_clone() {
                serve_pricing(sh, s, insts, snapshot, &request_id);
            }
            false
        }
        Routed::Transactions => {
            lock(&sh.faults.conns).set_kind(key, ConnKind::Transactions);
            if let Ok(s) = w.try_clone() {
                serve_transactions(sh, s, &request_id);
            }
            false
        }
    }
}
