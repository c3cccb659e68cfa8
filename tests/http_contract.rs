//! End-to-end tests of the HTTP contract every route shares, against a real `pinion serve` with a
//! token and `allowed_origins` set: `limit`/`offset` with `X-Total-Count` and `Link: rel="next"` on
//! every list (pages followed to the end see every row once), 400s naming `limit`/`offset`, the
//! browser origin gate and CORS (preflights without the token, `/ws` upgrades by origin), the JSON
//! content type of state changes, HEAD, `Allow` on 405 and OPTIONS, `Location` on 201, and the
//! bearer scheme in any case.

mod common;

use common::{http, poll, Resp, Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::Duration;

const SPEED: f64 = 300.0;
const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "s3cret";
const APP: &str = "http://app.example:3000";
const EVIL: &str = "https://evil.example";
const BEARER: (&str, &str) = ("Authorization", "Bearer s3cret");
const JSON: (&str, &str) = ("Content-Type", "application/json");

fn start() -> Server {
    Server::start_with_env(SPEED, &[("PINION_TOKEN", TOKEN), ("PINION_ALLOWED_ORIGINS", "http://localhost:5173, HTTP://App.Example:3000/")])
}

/// A request with the token and `headers`.
fn call(s: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut all = vec![BEARER];
    all.extend_from_slice(headers);
    s.request_with(method, path, &all, body)
}

fn get(s: &Server, path: &str) -> Resp {
    call(s, "GET", path, &[], b"")
}

fn create(s: &Server, asset: &str) -> (u64, Resp) {
    let body = json!({
        "asset": asset, "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
        "strategy_config": { "fast": 3, "slow": 8, "trade_size": 1000 }, "stop_loss_type": "PIPS", "stop_loss_value": 10,
    });
    let r = call(s, "POST", "/api/operations", &[JSON], body.to_string().as_bytes());
    assert_eq!(r.status, 201, "create on {asset}: {} ({})", r.text, s.stderr_tail());
    (r.json()["id"].as_u64().expect("id"), r)
}

fn rows(r: &Resp) -> Vec<Value> {
    match r.json() {
        Value::Array(a) => a,
        other => panic!("expected an array, got {other}"),
    }
}

fn total(r: &Resp) -> usize {
    let v = r.header("X-Total-Count").unwrap_or_else(|| panic!("no X-Total-Count: {:?}", r.headers));
    v.parse().unwrap_or_else(|_| panic!("X-Total-Count {v:?}"))
}

/// The target of `Link: <...>; rel="next"`, if any.
fn next_link(r: &Resp) -> Option<String> {
    let v = r.header("Link")?;
    let (target, params) = v.split_once(';').unwrap_or_else(|| panic!("Link without parameters: {v:?}"));
    assert_eq!(params.trim(), "rel=\"next\"", "Link {v:?}");
    let url = target.trim().strip_prefix('<').and_then(|t| t.strip_suffix('>')).unwrap_or_else(|| panic!("Link target {v:?}"));
    Some(url.to_string())
}

/// A row's id, whether a number (operations API) or a string (account API).
fn key(v: &Value) -> String {
    match &v["id"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => panic!("row without an id ({other}): {v}"),
    }
}

/// Follows the `next` links from `first`, checking that every page reports the same total and that
/// the last page has no link; returns the rows in order and the number of pages.
fn walk(s: &Server, first: &str) -> (Vec<Value>, usize) {
    let (mut out, mut pages, mut url, mut expected) = (Vec::new(), 0, Some(first.to_string()), None);
    while let Some(u) = url {
        let r = get(s, &u);
        assert_eq!(r.status, 200, "GET {u}: {}", r.text);
        let t = total(&r);
        assert_eq!(*expected.get_or_insert(t), t, "{u}: the total changed between pages");
        out.extend(rows(&r));
        pages += 1;
        url = next_link(&r);
        assert_eq!(url.is_some(), out.len() < t, "{u}: Link iff rows remain ({} of {t} seen)", out.len());
        assert!(pages <= 1000, "{first}: too many pages");
    }
    (out, pages)
}

#[test]
fn every_list_counts_its_rows_and_links_the_next_page() {
    let s = start();
    let (a, _) = create(&s, "EUR-USD");
    let (b, _) = create(&s, "AUD-USD");
    let (c, _) = create(&s, "EUR-USD");
    assert_eq!(call(&s, "DELETE", &format!("/api/operations/{c}"), &[], b"").status, 200, "DELETE without a body needs no type");
    poll("three closed trades", WAIT, || (total(&get(&s, &format!("/api/operations/{a}/trades?limit=1"))) >= 3).then_some(()));

    // While trading, every answer is consistent with itself.
    for list in ["/account/positions?limit=1", &format!("/api/operations/{a}/positions?limit=1")] {
        let r = get(&s, list);
        let (n, t) = (rows(&r).len(), total(&r));
        assert_eq!(n, t.min(1), "{list}");
        assert_eq!(next_link(&r).is_some(), t > 1, "{list}: {:?}", r.headers);
    }

    // Stop everything: the lists stop moving.
    for id in [a, b] {
        assert_eq!(call(&s, "DELETE", &format!("/api/operations/{id}"), &[], b"").status, 200);
    }
    let lists = [
        "/api/operations".to_string(),
        "/api/operations?status=closed".to_string(),
        format!("/api/operations/{a}/orders"),
        format!("/api/operations/{a}/transactions"),
        format!("/api/operations/{a}/trades"),
        format!("/api/operations/{a}/positions"),
        format!("/api/operations/{b}/orders"),
        "/account/trades".to_string(),
        "/account/positions".to_string(),
    ];
    for list in &lists {
        let sep = if list.contains('?') { '&' } else { '?' };
        let all = get(&s, &format!("{list}{sep}limit=1000"));
        assert_eq!(all.status, 200, "{list}: {}", all.text);
        let all_rows = rows(&all);
        assert!(all_rows.len() < 1000, "{list}: more rows than this test pages");
        assert_eq!(total(&all), all_rows.len(), "{list}: X-Total-Count");
        assert_eq!(next_link(&all), None, "{list}: one page holds everything");
        let keys: Vec<String> = all_rows.iter().map(key).collect();
        assert_eq!(keys.iter().collect::<BTreeSet<_>>().len(), keys.len(), "{list}: duplicate ids");

        // Two rows a page, following `next`: every row exactly once, in the same order.
        let (walked, pages) = walk(&s, &format!("{list}{sep}limit=2"));
        assert_eq!(walked.iter().map(key).collect::<Vec<_>>(), keys, "{list}: pages followed to the end");
        assert_eq!(pages, keys.len().div_ceil(2).max(1), "{list}: pages");
        eprintln!("{list}: {} rows in {pages} pages", keys.len());

        // Offsets anywhere, past the end too.
        if keys.len() >= 3 {
            let r = get(&s, &format!("{list}{sep}offset=1&limit=2"));
            assert_eq!(rows(&r).iter().map(key).collect::<Vec<_>>(), keys[1..3], "{list}: offset=1");
        }
        let past = get(&s, &format!("{list}{sep}offset={}", keys.len()));
        assert!(rows(&past).is_empty() && total(&past) == keys.len() && next_link(&past).is_none(), "{list}: past the end");

        for (q, field) in
            [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("offset=-1", "offset"), ("offset=x", "offset")]
        {
            let r = get(&s, &format!("{list}{sep}{q}"));
            assert_eq!(r.status, 400, "{list} {q}: {}", r.text);
            assert!(r.detail().starts_with(&format!("{field}: ")), "{list} {q}: {}", r.text);
        }
    }
    // The lists that must have several pages had them, and the filter travels with the link.
    assert!(total(&get(&s, &format!("/api/operations/{a}/trades"))) >= 3);
    assert_eq!(total(&get(&s, "/api/operations")), 3);
    let r = get(&s, "/api/operations?status=closed&limit=1");
    let link = next_link(&r).expect("a next page");
    assert!(link.starts_with("/api/operations?") && link.contains("status=closed") && link.contains("limit=1"), "{link}");
    assert!(link.contains("offset=1"), "{link}");
    let account = rows(&get(&s, "/account/trades?limit=1000"));
    assert!(account.len() >= 3, "account trades: {}", account.len());
    let r = get(&s, "/account/trades?offset=2&limit=1");
    assert_eq!(rows(&r).iter().map(key).collect::<Vec<_>>(), vec![key(&account[2])], "/account/trades honours offset");

    // HEAD: the same status and headers, no body.
    let url = "/api/operations?limit=1";
    let (g, h) = (get(&s, url), call(&s, "HEAD", url, &[], b""));
    assert_eq!((h.status, h.text.as_str()), (200, ""), "HEAD {url}");
    for name in ["X-Total-Count", "Link", "Content-Type", "Content-Length"] {
        assert_eq!(h.header(name), g.header(name), "HEAD {url}: {name}");
    }
}

/// Sends a WebSocket upgrade and returns the status of the answer (reading only its head).
fn upgrade(s: &Server, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut sock = std::net::TcpStream::connect(&s.addr).expect("connecting");
    sock.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut head = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        s.addr
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    sock.write_all(head.as_bytes()).expect("sending the upgrade");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading the upgrade answer: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"));
    (status, text)
}

#[test]
fn browsers_content_types_and_the_http_details() {
    let s = start();
    let body = json!({ "asset": "EUR-USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross" }).to_string();

    // A foreign browser origin cannot change anything, token or not, nor ask to; it may read.
    for (method, path) in
        [("POST", "/api/operations"), ("DELETE", "/api/operations/1"), ("POST", "/risk/update"), ("OPTIONS", "/api/operations")]
    {
        for auth in [true, false] {
            let mut h = vec![("Origin", EVIL), JSON];
            if auth {
                h.push(BEARER);
            }
            let r = s.request_with(method, path, &h, body.as_bytes());
            assert_eq!(r.status, 403, "{method} {path} from {EVIL}: {}", r.text);
            let d = r.detail();
            assert!(d.contains("origin") && d.contains(EVIL) && d.contains("not allowed"), "{d}");
            assert_eq!(r.header("Access-Control-Allow-Origin"), None);
        }
    }
    let r = call(&s, "GET", "/api/operations", &[("Origin", EVIL)], b"");
    assert_eq!((r.status, r.header("Access-Control-Allow-Origin")), (200, None), "a foreign read gets no CORS header");
    assert_eq!(total(&r), 0, "the refused POSTs created nothing");

    // An allowed origin is served with CORS headers, errors included.
    let r = call(&s, "POST", "/api/operations", &[("Origin", APP), JSON], body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some(APP));
    assert!(r.header("Vary").is_some_and(|v| v.contains("Origin")), "{:?}", r.headers);
    assert!(
        r.header("Access-Control-Expose-Headers").is_some_and(|v| v.contains("X-Total-Count") && v.contains("Link")),
        "{:?}",
        r.headers
    );
    let id = r.json()["id"].as_u64().expect("id");
    // 201 says where.
    let location = r.header("Location").expect("Location on 201").to_string();
    assert_eq!(location, format!("/api/operations/{id}"));
    assert_eq!(get(&s, &location).json()["id"], json!(id));
    let r = s.request_with("GET", "/account/summary", &[("Origin", APP)], b"");
    assert_eq!((r.status, r.header("Access-Control-Allow-Origin")), (401, Some(APP)), "the browser may read the 401");

    // Preflight from an allowed origin: 204 without the token.
    let pre =
        [("Origin", APP), ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "authorization, content-type")];
    let r = s.request_with("OPTIONS", "/api/operations", &pre, b"");
    assert_eq!(r.status, 204, "preflight: {}", r.text);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some(APP));
    let methods = r.header("Access-Control-Allow-Methods").unwrap_or_default();
    assert!(methods.contains("POST") && methods.contains("GET"), "{methods}");
    let allowed = r.header("Access-Control-Allow-Headers").unwrap_or_default().to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
    assert!(r.header("Access-Control-Max-Age").is_some_and(|v| v.parse::<u32>().is_ok()), "{:?}", r.headers);
    assert_eq!(s.request_with("OPTIONS", "/nope", &pre, b"").status, 404);
    // OPTIONS without Origin is a plain request: token, then the path's methods.
    assert_eq!(s.request_with("OPTIONS", "/api/operations", &[], b"").status, 401);
    let r = call(&s, "OPTIONS", &format!("/api/operations/{id}"), &[], b"");
    assert_eq!((r.status, r.header("Allow")), (204, Some("GET, HEAD, DELETE, OPTIONS")));

    // /ws: a foreign origin is refused before the upgrade; ours and non-browsers upgrade.
    let (st, text) = upgrade(&s, &format!("/ws?token={TOKEN}"), &[("Origin", EVIL)]);
    assert_eq!(st, 403, "{text}");
    assert!(text.contains("not allowed"), "{text}");
    assert_eq!(upgrade(&s, &format!("/ws?token={TOKEN}"), &[("Origin", APP)]).0, 101);
    assert_eq!(upgrade(&s, "/ws", &[("Authorization", "bearer s3cret")]).0, 101);
    assert_eq!(upgrade(&s, "/ws?token=wrong", &[("Origin", APP)]).0, 401);
    // The dashboard's own origin (the literal address it was served from, the request's Host) is
    // allowed without being listed; another port on that address is not.
    let own = format!("http://{}", s.addr);
    assert_eq!(upgrade(&s, &format!("/ws?token={TOKEN}"), &[("Origin", own.as_str())]).0, 101);
    let r = s.request_with("POST", "/risk/update", &[("Origin", own.as_str()), JSON, BEARER], br#"{"max_concurrent_positions": 7}"#);
    assert_eq!(r.status, 200, "a state change from the page's own origin: {}", r.text);
    let other_port = format!("http://127.0.0.1:{}", s.addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).unwrap_or(1) ^ 1);
    let r = s.request_with("POST", "/risk/update", &[("Origin", other_port.as_str()), JSON, BEARER], b"{}");
    assert_eq!(r.status, 403, "another port is another origin: {}", r.text);

    // State changes need JSON: POST always, DELETE when it has a body.
    let pause = format!("/api/operations/{id}/pause");
    for ct in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let h: Vec<(&str, &str)> = ct.map(|c| ("Content-Type", c)).into_iter().collect();
        let r = call(&s, "POST", &pause, &h, b"");
        assert_eq!(r.status, 400, "POST pause with {ct:?}: {}", r.text);
        assert!(r.detail().contains("Content-Type"), "{}", r.text);
    }
    assert_eq!(call(&s, "POST", &pause, &[JSON], b"").status, 200, "bodyless JSON POST");
    let r = call(&s, "POST", "/session/stop", &[], b"");
    assert!(r.status == 400 && r.detail().contains("Content-Type"), "session stop without a type: {}", r.text);
    assert_eq!(call(&s, "POST", "/session/stop", &[JSON], b"").status, 409, "no session runs");
    let r = call(&s, "DELETE", &format!("/api/operations/{id}"), &[], b"{}");
    assert!(r.status == 400 && r.detail().contains("Content-Type"), "DELETE with a body and no type: {}", r.text);

    // 405 lists the path's methods.
    for (method, path, allow) in [
        ("PUT", "/api/operations".to_string(), "GET, HEAD, POST, OPTIONS"),
        ("PATCH", format!("/api/operations/{id}"), "GET, HEAD, DELETE, OPTIONS"),
        ("GET", pause.clone(), "POST, OPTIONS"),
        ("POST", "/health".to_string(), "GET, HEAD, OPTIONS"),
        ("DELETE", "/risk".to_string(), "GET, HEAD, OPTIONS"),
    ] {
        let r = call(&s, method, &path, &[JSON], b"");
        assert_eq!(r.status, 405, "{method} {path}: {}", r.text);
        assert_eq!(r.header("Allow"), Some(allow), "{method} {path}");
        assert!(r.detail().contains(method), "{}", r.text);
    }

    // HEAD on every GET route of the OpenAPI document: GET's status, no body.
    let doc = get(&s, "/api/openapi.json").json();
    let paths = doc["paths"].as_object().expect("paths");
    // The document says so too: ?token= on /ws, limit/offset and the headers on lists, Location on 201.
    let params = |path: &str| doc["paths"][path]["get"]["parameters"].as_array().cloned().unwrap_or_default();
    assert!(params("/ws").iter().any(|p| p["name"] == "token" && p["in"] == "query"), "/ws token: {}", doc["paths"]["/ws"]);
    for list in ["/api/operations", "/api/operations/{id}/orders", "/account/trades", "/account/positions"] {
        let names: Vec<Value> = params(list).iter().map(|p| p["name"].clone()).collect();
        assert!(names.contains(&json!("limit")) && names.contains(&json!("offset")), "{list}: {names:?}");
        assert!(doc["paths"][list]["get"]["responses"]["200"]["headers"]["X-Total-Count"].is_object(), "{list}");
    }
    assert!(doc["paths"]["/api/operations"]["post"]["responses"]["201"]["headers"]["Location"].is_object());
    let mut heads = 0;
    for path in paths.iter().filter(|(_, item)| item.get("get").is_some()).map(|(p, _)| p) {
        let url = path.replace("{id}", &id.to_string());
        let (g, h) = (get(&s, &url), call(&s, "HEAD", &url, &[], b""));
        assert_eq!(h.status, g.status, "HEAD {url}: {}", g.text);
        assert_eq!(h.text, "", "HEAD {url} has a body");
        assert_eq!(h.header("Content-Type"), g.header("Content-Type"), "HEAD {url}");
        heads += 1;
    }
    assert!(heads >= 15, "only {heads} GET routes");

    // The bearer scheme in any case; anything else is 401.
    for auth in ["Bearer s3cret", "bearer s3cret", "BEARER s3cret", "bEaReR  s3cret"] {
        assert_eq!(http(&s.addr, "GET", "/risk", &[("Authorization", auth)], b"").status, 200, "{auth}");
    }
    for auth in ["Basic s3cret", "Bearer s3cre", "s3cret", "Bearers3cret"] {
        assert_eq!(http(&s.addr, "GET", "/risk", &[("Authorization", auth)], b"").status, 401, "{auth}");
    }
    // Requests without Origin (curl, scripts) are unaffected by the gate.
    assert_eq!(call(&s, "DELETE", &format!("/api/operations/{id}"), &[], b"").status, 200);
}

/// `before_id` pages newest first by id while the operation keeps trading: following the `next` links
/// sees every row older than the first page's top exactly once, in order, even though rows arrive
/// between requests (offset paging would shift and repeat them).
#[test]
fn a_before_id_cursor_pages_while_orders_arrive_with_no_duplicate_or_gap() {
    let s = start();
    let (op, _) = create(&s, "EUR-USD");
    let orders = format!("/api/operations/{op}/orders");
    poll("20 orders", Duration::from_secs(60), || (total(&get(&s, &orders)) >= 20).then_some(()));
    let top = rows(&get(&s, &format!("{orders}?limit=1")))[0]["id"].as_u64().expect("id");
    let mut url = Some(format!("{orders}?limit=3&before_id={}", top + 1));
    let mut seen: Vec<u64> = Vec::new();
    while let Some(u) = url {
        let r = get(&s, &u);
        assert_eq!(r.status, 200, "GET {u}: {}", r.text);
        seen.extend(rows(&r).iter().map(|o| o["id"].as_u64().expect("id")));
        url = next_link(&r);
        if let Some(next) = &url {
            assert!(next.contains("before_id=") && !next.contains("offset="), "a cursor link: {next}");
        }
        std::thread::sleep(Duration::from_millis(20)); // orders keep arriving meanwhile
    }
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "strictly newest first, no duplicate: {seen:?}");
    // No gap: the same rows as one page over the same range, taken at the end.
    let all = rows(&get(&s, &format!("{orders}?limit=1000&before_id={}", top + 1)));
    let expected: Vec<u64> = all.iter().map(|o| o["id"].as_u64().expect("id")).collect();
    assert_eq!(seen, expected);
    assert!(total(&get(&s, &orders)) >= seen.len());
    let r = get(&s, &format!("/api/operations/{op}/positions?before_id=3"));
    assert_eq!(r.status, 400);
    assert!(r.text.contains("before_id"), "{}", r.text);
}
