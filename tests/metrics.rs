//! End to end: `GET /metrics` of a trading `pinion serve` (journal on, JSON logs, snapshots every
//! second, one WebSocket client), parsed with the strict text-format parser of `prom_text`: every
//! family the issue lists is there, counters rise as ticks and orders flow, every histogram's buckets,
//! sum and count agree, every hop of the tick path has samples, `GET /api/latency` and the `metric`
//! frame carry the latest p50/p99, each log line is one JSON object; and a token-protected server
//! refuses an unauthenticated scrape.

mod common;
mod prom_text;

use common::{http, poll, Resp, Server};
use prom_text::{check_histograms, parse, value, Family};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const SPEED: f64 = 600.0;
const WAIT: Duration = Duration::from_secs(90);

/// `pinion serve` with the journal on, JSON logs at info and a snapshot every second; killed on drop.
struct Served {
    child: Child,
    addr: String,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_with_journal() -> Served {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let stderr = dir.path().join("stderr.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinion"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PINION_") {
            cmd.env_remove(&k);
        }
    }
    cmd.arg("serve")
        .args(["--bind", "127.0.0.1:0", "--log-level", "info", "--log-format", "json", "--replay-speed", &SPEED.to_string()])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--ticks")
        .arg(root.join("samples/eurusd_sample_quotes.csv.gz"))
        .arg("--ticks")
        .arg(root.join("samples/audusd_sample_quotes.csv.gz"))
        .env("PINION_SNAPSHOT_EVERY_SECS", "1")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).expect("the stderr log"));
    let mut child = cmd.spawn().expect("spawning pinion serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("no listening line: {}", std::fs::read_to_string(&stderr).unwrap_or_default())
    });
    let v: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("listening line {line:?}: {e}"));
    let addr = v["listening"].as_str().expect("an address").to_string();
    Served { child, addr, stderr, _dir: dir }
}

fn get(addr: &str, path: &str) -> Resp {
    http(addr, "GET", path, &[], b"")
}

/// Scrapes and parses `/metrics` (the answer's type is the text format's).
fn scrape(addr: &str) -> BTreeMap<String, Family> {
    let r = get(addr, "/metrics");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("Content-Type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    parse(&r.text).unwrap_or_else(|e| panic!("not the Prometheus text format: {e}\n{}", r.text))
}

fn v(f: &BTreeMap<String, Family>, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(f, name, labels).unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
}

/// Samples of one hop's histogram.
fn hop_count(f: &BTreeMap<String, Family>, hop: &str) -> f64 {
    v(f, "pinion_hop_latency_seconds_count", &[("hop", hop)])
}

/// Every family the issue asks for, with its type.
const REQUIRED: &[(&str, &str)] = &[
    ("pinion_ticks_processed_total", "counter"),
    ("pinion_orders_total", "counter"),
    ("pinion_order_rejections_total", "counter"),
    ("pinion_fills_total", "counter"),
    ("pinion_operations", "gauge"),
    ("pinion_account_equity_usd", "gauge"),
    ("pinion_account_balance_usd", "gauge"),
    ("pinion_account_unrealized_pl_usd", "gauge"),
    ("pinion_account_margin_used_usd", "gauge"),
    ("pinion_open_positions", "gauge"),
    ("pinion_ring_fill", "gauge"),
    ("pinion_journal_appends_total", "counter"),
    ("pinion_journal_fsync_duration_seconds", "histogram"),
    ("pinion_journal_bytes_total", "counter"),
    ("pinion_snapshots_total", "counter"),
    ("pinion_snapshot_duration_seconds", "histogram"),
    ("pinion_http_requests_total", "counter"),
    ("pinion_http_request_duration_seconds", "histogram"),
    ("pinion_ws_clients", "gauge"),
    ("pinion_ws_frames_sent_total", "counter"),
    ("pinion_ws_frames_dropped_total", "counter"),
    ("pinion_ws_clients_dropped_total", "counter"),
    ("pinion_feed_connected", "gauge"),
    ("pinion_feed_last_tick_age_seconds", "gauge"),
    ("pinion_hop_latency_seconds", "histogram"),
    ("process_cpu_seconds_total", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_open_fds", "gauge"),
    ("process_start_time_seconds", "gauge"),
];

/// A WebSocket client reading every frame on its own thread; remembers the last `metric` frame.
fn watch_ws(addr: &str, stop: Arc<AtomicBool>) -> (std::thread::JoinHandle<()>, Arc<Mutex<Option<Value>>>) {
    let stream = TcpStream::connect(addr).expect("connecting the WebSocket");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a read timeout");
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/ws"), stream).expect("the WebSocket handshake");
    ws.get_mut().set_read_timeout(Some(Duration::from_millis(100))).expect("a short read timeout");
    let last = Arc::new(Mutex::new(None));
    let last2 = last.clone();
    let t = std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    let f: Value = serde_json::from_str(t.as_str()).expect("a JSON frame");
                    if f["type"] == "metric" {
                        *last2.lock().unwrap() = Some(f["data"].clone());
                    }
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                // The server went away (a failing test kills it): the main thread reports why.
                Err(_) => return,
            }
        }
    });
    (t, last)
}

fn assert_json_logs(path: &Path) {
    let text = std::fs::read_to_string(path).expect("the stderr log");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "too few log lines: {text}");
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not one JSON object ({e}): {l}"));
        for k in ["time", "level", "target", "message"] {
            assert!(v[k].is_string(), "`{k}` missing in {l}");
        }
        assert!(v["fields"].is_object(), "`fields` missing in {l}");
    }
    let snapshot = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message"].as_str().is_some_and(|m| m.starts_with("snapshot ")));
    let snapshot = snapshot.unwrap_or_else(|| panic!("no snapshot line in {text}"));
    assert!(snapshot["fields"]["bytes"].as_u64().is_some_and(|b| b > 0) && snapshot["fields"]["ms"].is_number(), "{snapshot}");
}

#[test]
fn metrics_rise_as_the_server_trades_and_histograms_agree() {
    let s = serve_with_journal();
    let a = s.addr.clone();
    // The replay feed thread starts just after the HTTP front answers: wait for it to say it is
    // connected (a scrape in between rightly reports 0).
    let first = poll("the feed connected", WAIT, || {
        let f = scrape(&a);
        (value(&f, "pinion_feed_connected", &[]) == Some(1.0)).then_some(f)
    });
    for (name, kind) in REQUIRED {
        let f = first.get(*name).unwrap_or_else(|| panic!("family {name} missing"));
        assert_eq!(f.kind, *kind, "{name}");
        assert!(!f.help.is_empty(), "{name} has no HELP");
    }
    for (name, f) in &first {
        assert!(name.starts_with("pinion_") || name.starts_with("process_"), "{name} is not prefixed");
        assert_eq!(f.kind == "counter", name.ends_with("_total"), "{name}: counters and only counters end in _total");
        if f.kind == "histogram" {
            assert!(name.ends_with("_seconds"), "{name}: histograms are of seconds");
        }
    }
    check_histograms(&first).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v(&first, "pinion_feed_connected", &[]), 1.0);
    let start = v(&first, "process_start_time_seconds", &[]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(start <= now + 1.0 && start > now - 600.0, "started at {start}, now {now}");

    let stop = Arc::new(AtomicBool::new(false));
    let (reader, last_metric) = watch_ws(&a, stop.clone());
    let body = json!({
        "asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
        "strategy_config": { "fast": 2, "slow": 5, "trade_size": 1000 },
        "stop_loss_type": "PIPS", "stop_loss_value": 10,
    });
    let r = http(&a, "POST", "/api/operations", &[("Content-Type", "application/json")], body.to_string().as_bytes());
    assert_eq!(r.status, 201, "{}", r.text);

    // Orders flow: counters rise and every hop of the tick path gets samples.
    let later = poll("filled orders and every hop timed", WAIT, || {
        let f = scrape(&a);
        let hops =
            ["feed_to_ring", "ring_to_tick", "tick_to_intent", "intent_to_order", "order_to_report", "event_to_journal", "event_to_ws"];
        let timed = hops.iter().all(|h| hop_count(&f, h) > 0.0);
        let periodic_snapshot = v(&f, "pinion_snapshots_total", &[("result", "ok")]) >= 2.0;
        (v(&f, "pinion_orders_total", &[("status", "filled")]) >= 2.0 && timed && periodic_snapshot).then_some(f)
    });
    for inst in ["EUR_USD", "AUD_USD"] {
        let (before, after) = (
            v(&first, "pinion_ticks_processed_total", &[("instrument", inst)]),
            v(&later, "pinion_ticks_processed_total", &[("instrument", inst)]),
        );
        assert!(after > before, "{inst} ticks did not rise: {before} -> {after}");
        assert!(v(&later, "pinion_feed_last_tick_age_seconds", &[("instrument", inst)]) < 30.0);
    }
    for (name, labels) in [
        ("pinion_fills_total", vec![]),
        ("pinion_journal_appends_total", vec![]),
        ("pinion_journal_bytes_total", vec![]),
        ("pinion_journal_fsync_duration_seconds_count", vec![]),
        ("pinion_snapshot_duration_seconds_count", vec![]),
        ("pinion_http_requests_total", vec![("route", "/metrics"), ("method", "GET"), ("status", "200")]),
        ("pinion_ws_frames_sent_total", vec![]),
        ("process_cpu_seconds_total", vec![]),
    ] {
        let (before, after) = (value(&first, name, &labels).unwrap_or(0.0), v(&later, name, &labels));
        assert!(after > before, "{name}{labels:?} did not rise: {before} -> {after}");
    }
    assert_eq!(v(&later, "pinion_operations", &[("status", "active")]), 1.0);
    assert_eq!(v(&later, "pinion_ws_clients", &[]), 1.0);
    assert!(v(&later, "pinion_http_requests_total", &[("route", "/api/operations"), ("method", "POST"), ("status", "201")]) >= 1.0);
    assert!(
        v(&later, "pinion_ring_capacity", &[("ring", "ticks")]) > 0.0 && v(&later, "pinion_ring_capacity", &[("ring", "events")]) > 0.0
    );
    let routes: Vec<&str> =
        later["pinion_http_request_duration_seconds"].samples.iter().filter_map(|x| x.labels.get("route").map(String::as_str)).collect();
    assert!(routes.contains(&"/metrics") && routes.contains(&"/api/operations"), "{routes:?}");
    let checked = check_histograms(&later).unwrap_or_else(|e| panic!("{e}"));
    assert!(checked >= 7 + 3, "only {checked} histogram series");
    // Hop figures are plausible: the core's hops are far below a second.
    let p = |name: &str| v(&later, "pinion_hop_latency_seconds_sum", &[("hop", name)]) / hop_count(&later, name);
    assert!(p("tick_to_intent") < 0.05, "mean tick -> intent {} s", p("tick_to_intent"));

    // The latest p50/p99 per hop: GET /api/latency and the metric frame.
    let lat = get(&a, "/api/latency");
    assert_eq!(lat.status, 200, "{}", lat.text);
    let lat = lat.json();
    let hops = lat["hops"].as_array().expect("hops");
    assert_eq!(hops.len(), 7, "{lat}");
    let t2i = hops.iter().find(|h| h["hop"] == "tick_to_intent").expect("tick_to_intent");
    assert!(t2i["count"].as_u64() > Some(0) && t2i["max_ns"].as_u64() > Some(0), "{t2i}");
    assert_eq!(lat["idle_policy"], "backoff");
    let frame = poll("a metric frame with hop latencies", WAIT, || {
        last_metric.lock().unwrap().clone().filter(|m| m["latency"]["ring_to_tick"]["p99_ns"].as_u64().is_some())
    });
    assert!(frame["latency"]["tick_to_intent"].is_object() && frame["equity"].is_number(), "{frame}");
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("the WebSocket reader");

    assert_json_logs(&s.stderr);
    assert_dashboard_queries_exported_metrics(&later);
}

/// Every metric `docs/grafana-dashboard.json` queries is a family the server exports.
fn assert_dashboard_queries_exported_metrics(f: &BTreeMap<String, Family>) {
    fn exprs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, x)| match (k.as_str(), x) {
                ("expr", Value::String(e)) => out.push(e.clone()),
                _ => exprs(x, out),
            }),
            Value::Array(a) => a.iter().for_each(|x| exprs(x, out)),
            _ => {}
        }
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/grafana-dashboard.json");
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("the dashboard")).expect("the dashboard is JSON");
    let mut all = Vec::new();
    exprs(&dash, &mut all);
    assert!(all.len() >= 20, "{} queries", all.len());
    let mut names = std::collections::BTreeSet::new();
    for e in &all {
        for word in e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("pinion_") || word.starts_with("process_") {
                let base =
                    ["_bucket", "_sum", "_count"].iter().find_map(|s| word.strip_suffix(s).filter(|b| f.contains_key(*b))).unwrap_or(word);
                names.insert(base.to_string());
            }
        }
    }
    for n in &names {
        assert!(f.contains_key(n), "the dashboard queries {n}, which the server does not export");
    }
    assert!(names.contains("pinion_hop_latency_seconds") && names.contains("pinion_account_equity_usd"));
}

#[test]
fn a_token_protected_server_refuses_an_unauthenticated_scrape() {
    let s = Server::start_with_env(SPEED, &[("PINION_TOKEN", "s3cret")]);
    let r = s.get("/metrics");
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
    assert_eq!(s.request_with("GET", "/metrics", &[("Authorization", "Bearer wrong")], b"").status, 401);
    assert_eq!(s.get("/api/latency").status, 401);
    let ok = s.request_with("GET", "/metrics", &[("Authorization", "Bearer s3cret")], b"");
    assert_eq!(ok.status, 200, "{}", ok.text);
    let f = parse(&ok.text).unwrap_or_else(|e| panic!("{e}"));
    assert!(f.contains_key("pinion_ticks_processed_total"));
    let l = s.request_with("GET", "/api/latency", &[("Authorization", "Bearer s3cret")], b"");
    assert_eq!(l.status, 200, "{}", l.text);
    // HEAD and the route table: GET only.
    let post = s.request_with("POST", "/metrics", &[("Authorization", "Bearer s3cret"), ("Content-Type", "application/json")], b"");
    assert_eq!(post.status, 405, "{}", post.text);
    let start = Instant::now();
    let head = s.request_with("HEAD", "/metrics", &[("Authorization", "Bearer s3cret")], b"");
    assert_eq!(head.status, 200);
    assert!(start.elapsed() < Duration::from_secs(10));
}
