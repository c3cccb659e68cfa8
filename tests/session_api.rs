//! End-to-end tests of the model and session API (`/models`, `/session/config|start|status|stop`)
//! against a real `pinion serve` over the bundled EUR_USD and AUD_USD samples, with model files built
//! by `pinion model example` into a temporary model directory: the model listing (broken files
//! included), every `/session/config` rejection, the session's life (warm-up, decisions, trades held by
//! the session, stop, restart) and a warm-up that times out.

mod common;

use common::{poll, Resp, Server};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One 1-minute bar every 0.1 s: the example model's 32-bar warm-up takes ~3 s.
const SPEED: f64 = 600.0;
const WAIT: Duration = Duration::from_secs(30);
const SYMBOLS: [&str; 2] = ["EUR_USD", "AUD_USD"];

/// Builds an example model (traced TorchScript + sidecar) with the binary's `model example`.
fn build_model(out: &Path, max_symbols: usize, lookback: usize) {
    let o = Command::new(env!("CARGO_BIN_EXE_pinion"))
        .args(["model", "example", "--out"])
        .arg(out)
        .args(["--max-symbols", &max_symbols.to_string(), "--lookback-window", &lookback.to_string()])
        .output()
        .expect("running pinion model example");
    assert!(o.status.success(), "pinion model example failed: {}", String::from_utf8_lossy(&o.stderr));
    assert!(out.is_file(), "pinion model example wrote no {}", out.display());
}

/// Deterministic bytes that are no archive at all.
fn junk(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut v: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    v[..4].copy_from_slice(b"JUNK");
    v
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
    }
    !c
}

/// A valid zip archive (one stored entry) that is not a TorchScript module.
fn plain_zip(name: &str, data: &[u8]) -> Vec<u8> {
    let (crc, len, nlen) = (crc32(data), data.len() as u32, name.len() as u16);
    let mut z = Vec::new();
    let common = |z: &mut Vec<u8>| {
        z.extend_from_slice(&20u16.to_le_bytes()); // version needed
        z.extend_from_slice(&0u16.to_le_bytes()); // flags
        z.extend_from_slice(&0u16.to_le_bytes()); // stored
        z.extend_from_slice(&0u16.to_le_bytes()); // time
        z.extend_from_slice(&0x21u16.to_le_bytes()); // date 1980-01-01
        z.extend_from_slice(&crc.to_le_bytes());
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&nlen.to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes()); // extra
    };
    z.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    common(&mut z);
    z.extend_from_slice(name.as_bytes());
    z.extend_from_slice(data);
    let cd = z.len() as u32;
    z.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    z.extend_from_slice(&20u16.to_le_bytes()); // version made by
    common(&mut z);
    z.extend_from_slice(&[0; 10]); // comment length, disk start, internal and external attributes
    z.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    z.extend_from_slice(name.as_bytes());
    let cd_len = z.len() as u32 - cd;
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&[0; 4]); // disk numbers
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes()); // comment
    z
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("`{k}` is not a number in {v}"))
}

/// Asserts a 400 whose detail contains every needle (case-insensitively); returns the detail.
fn expect_400(r: &Resp, what: &str, needles: &[&str]) -> String {
    assert_eq!(r.status, 400, "{what}: expected 400, got {} {}", r.status, r.text);
    let d = r.detail();
    for n in needles {
        assert!(d.to_lowercase().contains(&n.to_lowercase()), "{what}: detail {d:?} does not mention {n:?}");
    }
    d
}

fn status(s: &Server) -> Value {
    let st = s.get_ok("/session/status");
    // Invariants of every status.
    let ready = st["warmup"]["ready"].as_bool().unwrap_or_else(|| panic!("warmup.ready: {st}"));
    let missing = st["warmup"]["missing"].as_array().unwrap_or_else(|| panic!("warmup.missing: {st}"));
    if st["state"] != "idle" {
        // (With no session at all, nothing is missing and nothing is ready.)
        assert_eq!(ready, missing.is_empty(), "warmup.ready must mean nothing is missing: {st}");
    }
    assert!(st["running"].is_boolean(), "{st}");
    assert!(st["state"].is_string(), "{st}");
    st
}

fn decisions(st: &Value) -> u64 {
    st["decisions"].as_u64().unwrap_or_else(|| panic!("decisions: {st}"))
}

/// The session's rows of `/account/positions`, by instrument.
fn session_positions(s: &Server) -> BTreeMap<String, Value> {
    let rows = s.get_ok("/account/positions");
    rows.as_array()
        .unwrap_or_else(|| panic!("positions: {rows}"))
        .iter()
        .filter(|p| p["holder"] == json!({ "session": true }))
        .map(|p| (p["instrument"].as_str().unwrap_or_else(|| panic!("instrument: {p}")).to_string(), p.clone()))
        .collect()
}

fn models(s: &Server, query: &str) -> BTreeMap<String, Value> {
    let v = s.get_ok(&format!("/models{query}"));
    let rows = v.as_array().unwrap_or_else(|| panic!("/models{query} is not an array: {v}"));
    let mut out = BTreeMap::new();
    for r in rows {
        for k in ["name", "path", "max_symbols", "lookback_window", "type", "device"] {
            assert!(r.get(k).is_some(), "/models{query}: row without `{k}`: {r}");
        }
        assert!(matches!(r["device"].as_str(), Some("cpu" | "cuda")), "device: {r}");
        let name = r["name"].as_str().unwrap().to_string();
        assert!(out.insert(name.clone(), r.clone()).is_none(), "/models{query}: {name} listed twice");
    }
    out
}

fn check_models(s: &Server, dir: &Path) {
    // The server built the example into the empty directory at start; add the others now (the
    // registry scans the directory on each request).
    assert!(dir.join("example.pt").is_file(), "serve did not build example.pt in {}", dir.display());
    build_model(&dir.join("single.pt"), 1, 32);
    std::fs::write(dir.join("bad.pt"), junk(4096)).unwrap();
    std::fs::write(dir.join("notes.pt"), plain_zip("notes/readme.txt", b"not a model\n")).unwrap();
    std::fs::write(dir.join("readme.txt"), "not listed: not a model extension").unwrap();

    let all = models(s, "");
    assert_eq!(all.keys().collect::<Vec<_>>(), ["bad", "example", "notes", "single"], "GET /models: {all:?}");
    for (name, r) in &all {
        assert_eq!(r["path"].as_str().map(Path::new), Some(dir.join(format!("{name}.pt")).as_path()), "path: {r}");
    }
    let ex = &all["example"];
    assert!(ex.get("error").is_none_or(Value::is_null), "example has an error: {ex}");
    assert_eq!((ex["max_symbols"].as_u64(), ex["lookback_window"].as_u64()), (Some(20), Some(32)), "{ex}");
    assert!(matches!(ex["type"].as_str(), Some("Torch" | "SAC")), "{ex}");
    let one = &all["single"];
    assert!(one.get("error").is_none_or(Value::is_null), "single has an error: {one}");
    assert_eq!((one["max_symbols"].as_u64(), one["lookback_window"].as_u64()), (Some(1), Some(32)), "{one}");
    for bad in ["bad", "notes"] {
        let r = &all[bad];
        let e = r["error"].as_str().unwrap_or_else(|| panic!("{bad}.pt listed without an error: {r}"));
        assert!(!e.trim().is_empty(), "{r}");
        assert!(r["max_symbols"].is_null() && r["lookback_window"].is_null() && r["type"].is_null(), "{r}");
    }
    // notes.pt is a well-formed zip (so it fails as a zip without TorchScript records, not as junk).
    let notes_err = all["notes"]["error"].as_str().unwrap();
    assert!(!notes_err.contains("not a zip"), "the test's zip writer made a broken archive: {notes_err}");
    // Listing twice (cached) gives the same answer.
    assert_eq!(models(s, ""), all);

    let two = models(s, "?min_symbols=2");
    assert_eq!(two.keys().collect::<Vec<_>>(), ["example"], "?min_symbols=2: {two:?}");
    let one_up = models(s, "?min_symbols=1");
    assert_eq!(one_up.keys().collect::<Vec<_>>(), ["example", "single"], "?min_symbols=1: {one_up:?}");
    assert!(models(s, "?min_symbols=21").is_empty());
    for q in ["abc", "-1", "1.5", ""] {
        expect_400(&s.get(&format!("/models?min_symbols={q}")), &format!("?min_symbols={q}"), &["min_symbols"]);
    }
}

fn config(sym: &[&str], model: &str, cap: f64) -> Value {
    json!({ "symbols": sym, "model_path": model, "target_capital_usd": cap })
}

fn check_config_rejections(s: &Server, dir: &Path) {
    let post = |b: &Value| s.post_json("/session/config", b);
    let with = |k: &str, v: Value| {
        let mut b = config(&SYMBOLS, "example", 50_000.0);
        b[k] = v;
        b
    };
    // The server's training symbols are EUR_USD and AUD_USD; USD_JPY is a known instrument.
    assert_eq!(s.get_ok("/symbols/training")["symbols"], json!(SYMBOLS));
    expect_400(
        &post(&config(&["EUR_USD", "USD_JPY"], "example", 50_000.0)),
        "symbol outside the training set",
        &["symbols[1]", "USD_JPY", "training"],
    );
    expect_400(&post(&config(&["FOO_BAR"], "example", 50_000.0)), "unknown symbol", &["symbols[0]", "FOO_BAR"]);
    expect_400(&post(&config(&["EUR_USD", "EUR-USD"], "example", 50_000.0)), "duplicate symbol", &["symbols[1]", "duplicate"]);
    expect_400(&post(&config(&[], "example", 50_000.0)), "no symbols", &["symbols"]);
    expect_400(&post(&with("symbols", json!("EUR_USD"))), "symbols not an array", &["symbols"]);
    expect_400(&post(&config(&SYMBOLS, "single", 50_000.0)), "model too small", &["model_path", "max_symbols"]);
    expect_400(&post(&config(&SYMBOLS, "missing_model", 50_000.0)), "missing model", &["model_path", "missing_model"]);
    expect_400(&post(&config(&["EUR_USD"], "bad.pt", 50_000.0)), "corrupt model", &["model_path"]);
    expect_400(&post(&config(&["EUR_USD"], "notes", 50_000.0)), "not TorchScript", &["model_path"]);
    let abs = dir.join("bad.pt").display().to_string();
    expect_400(&post(&config(&["EUR_USD"], &abs, 50_000.0)), "corrupt model by path", &["model_path"]);
    let mut no_model = config(&SYMBOLS, "example", 50_000.0);
    no_model.as_object_mut().unwrap().remove("model_path");
    expect_400(&post(&no_model), "no model_path", &["model_path"]);

    let balance = num(&s.get_ok("/account/summary"), "balance");
    assert!(balance > 50_000.0 && balance <= 100_000.0, "balance {balance}");
    expect_400(&post(&config(&SYMBOLS, "example", 100_001.0)), "capital above the balance", &["target_capital_usd", "balance"]);
    expect_400(&post(&config(&SYMBOLS, "example", -5.0)), "negative capital", &["target_capital_usd"]);
    expect_400(&post(&config(&SYMBOLS, "example", 0.0)), "zero capital", &["target_capital_usd"]);
    expect_400(&post(&with("target_capital_usd", json!("50000"))), "capital as a string", &["target_capital_usd"]);
    let mut no_cap = config(&SYMBOLS, "example", 1.0);
    no_cap.as_object_mut().unwrap().remove("target_capital_usd");
    expect_400(&post(&no_cap), "no capital", &["target_capital_usd"]);

    expect_400(&post(&with("bogus", json!(1))), "unknown top-level field", &["bogus"]);
    expect_400(&post(&with("risk", json!({ "bogus": 1 }))), "unknown risk field", &["risk", "bogus"]);
    expect_400(
        &post(&with("risk", json!({ "max_risk_per_trade_percent": 500 }))),
        "out-of-range risk value",
        &["risk", "max_risk_per_trade_percent"],
    );
    expect_400(
        &post(&with("risk", json!({ "max_concurrent_positions": -1 }))),
        "risk value below its range",
        &["max_concurrent_positions"],
    );
    expect_400(&post(&with("risk", json!(5))), "risk not an object", &["risk"]);

    let not_json = s.request("POST", "/session/config", Some("application/json"), b"{\"symbols\": [");
    expect_400(&not_json, "non-JSON body", &["JSON"]);
    expect_400(&s.request("POST", "/session/config", Some("application/json"), b"[1, 2]"), "array body", &["object"]);
    expect_400(&s.request("POST", "/session/config", Some("application/json"), b""), "empty body", &["empty"]);
    let body = config(&SYMBOLS, "example", 50_000.0).to_string();
    expect_400(&s.request("POST", "/session/config", Some("text/plain"), body.as_bytes()), "wrong content type", &["Content-Type"]);
}

#[test]
fn models_config_and_session_lifecycle() {
    let t0 = Instant::now();
    let models_dir = tempfile::tempdir().unwrap();
    let s = Server::start_with_models(SPEED, models_dir.path());
    assert_eq!(s.fed, SYMBOLS);

    // Nothing configured yet.
    let st = status(&s);
    assert_eq!((st["state"].as_str(), st["running"].as_bool()), (Some("idle"), Some(false)), "{st}");
    let r = s.post_json("/session/start", &json!({}));
    assert_eq!(r.status, 409, "start without a config: {}", r.text);
    assert!(r.detail().contains("config"), "{}", r.text);
    let r = s.request("POST", "/session/start", Some("application/json"), b"");
    assert_eq!(r.status, 409, "start without a config (no body): {}", r.text);
    let r = s.request("POST", "/session/start", None, b"");
    assert_eq!(r.status, 400, "a POST without Content-Type: {}", r.text);
    assert!(r.detail().contains("Content-Type"), "{}", r.text);
    let r = s.post_json("/session/stop", &json!({}));
    assert_eq!(r.status, 409, "stop with no session: {}", r.text);

    check_models(&s, models_dir.path());
    check_config_rejections(&s, models_dir.path());
    // Rejections configured nothing.
    assert_eq!(s.post_json("/session/start", &json!({})).status, 409, "a rejected config must not be kept");

    // A valid config (alternative spellings of the symbols, a risk override).
    let mut cfg = config(&["EUR-USD", "AUD/USD"], "example", 50_000.0);
    cfg["risk"] = json!({ "max_risk_per_trade_percent": 2 });
    let r = s.post_json("/session/config", &cfg);
    assert_eq!(r.status, 200, "valid config: {} (server: {})", r.text, s.stderr_tail());
    assert_eq!(r.json(), json!({ "ok": true }));
    let st = status(&s);
    assert_eq!(st["selected_symbols"], json!(SYMBOLS), "{st}");
    assert_eq!(st["model"]["name"], "example", "{st}");
    assert_eq!(st["running"], false, "configuring does not start: {st}");

    // Bad start bodies are refused before anything starts.
    expect_400(&s.post_json("/session/start", &json!({ "cold_start_timeout_sec": 0 })), "zero timeout", &["cold_start_timeout_sec"]);
    expect_400(&s.post_json("/session/start", &json!({ "cold_start_timeout_sec": "10" })), "timeout string", &["cold_start_timeout_sec"]);
    expect_400(&s.post_json("/session/start", &json!({ "bogus": 1 })), "unknown start field", &["bogus"]);
    assert_eq!(status(&s)["running"], false);

    // Start: 202 at once.
    let asked = Instant::now();
    let r = s.post_json("/session/start", &json!({ "cold_start_timeout_sec": 60 }));
    assert_eq!(r.status, 202, "start: {} (server: {})", r.text, s.stderr_tail());
    assert_eq!(r.json(), json!({ "started": true }));
    // At once (the model loads, warm-up runs in the background); the bound only catches a start that
    // waits for the warm-up, with room for a loaded CI machine.
    assert!(asked.elapsed() < Duration::from_secs(10), "start took {:?}", asked.elapsed());
    let first = status(&s);
    assert_eq!(first["running"], true, "{first}");
    match first["state"].as_str() {
        Some("warming_up") => {
            assert_eq!(first["warmup"]["ready"], false, "{first}");
            let bars = first["warmup"]["bars"].as_array().unwrap();
            assert!(!bars.is_empty(), "{first}");
            for b in bars {
                assert_eq!(b["need"], 32, "{first}");
                assert!(b["have"].as_u64().unwrap() < 32, "{first}");
            }
        }
        Some("running") => assert_eq!(first["warmup"]["ready"], true, "{first}"),
        other => panic!("state {other:?} right after start: {first}"),
    }
    let r = s.post_json("/session/start", &json!({}));
    assert_eq!(r.status, 409, "start while warming up or running: {}", r.text);

    let st = poll("the session to be running", WAIT, || Some(status(&s)).filter(|st| st["state"] == "running"));
    assert_eq!((st["running"].as_bool(), st["warmup"]["ready"].as_bool()), (Some(true), Some(true)), "{st}");
    assert_eq!(st["warmup"]["missing"], json!([]), "{st}");
    assert_eq!(st["selected_symbols"], json!(SYMBOLS), "{st}");
    assert_eq!(num(&st, "target_capital_usd"), 50_000.0, "{st}");
    assert_eq!(num(&st["risk"], "max_risk_per_trade_percent"), 2.0, "the config's risk applies at start: {st}");
    let r = s.post_json("/session/start", &json!({}));
    assert_eq!(r.status, 409, "start while running: {}", r.text);
    assert!(r.detail().contains("already"), "{}", r.text);

    // Decisions keep coming, and the session trades.
    let d1 = decisions(&poll("a first decision", WAIT, || Some(status(&s)).filter(|st| decisions(st) > 0)));
    let st = poll("more decisions", WAIT, || Some(status(&s)).filter(|st| decisions(st) >= d1 + 3));
    assert!(st["last_decision_at"].is_string(), "{st}");
    let actions = st["last_actions"].as_array().unwrap();
    assert_eq!(actions.len(), 2, "{st}");
    for a in actions {
        let x = num(a, "action");
        assert!((-1.0..=1.0).contains(&x), "{st}");
    }
    let pos = poll("positions held by the session", WAIT, || Some(session_positions(&s)).filter(|p| !p.is_empty()));
    for (inst, p) in &pos {
        assert!(SYMBOLS.contains(&inst.as_str()), "{p}");
        let units = num(p, "units");
        assert!(units != 0.0, "{p}");
        assert_eq!(p["side"], if units > 0.0 { "BUY" } else { "SELL" }, "{p}");
        // Both instruments quote in USD: the notional stays within the symbol's share of the capital.
        let notional = (units * num(p, "avgPrice")).abs();
        assert!(notional <= 25_000.0 * 1.02, "{inst}: notional {notional} above its 25000 share: {p}");
    }
    let trades = s.get_ok("/account/trades?limit=1000");
    let session_trades: Vec<&Value> = trades.as_array().unwrap().iter().filter(|t| t["holder"] == json!({ "session": true })).collect();
    assert!(!session_trades.is_empty(), "no trade held by the session: {trades}");
    for t in &session_trades {
        assert!(SYMBOLS.contains(&t["instrument"].as_str().unwrap()), "{t}");
    }
    let ops = s.get_ok("/api/operations");
    assert_eq!(ops.as_array().map(Vec::len), Some(0), "the session is not an operation: {ops}");

    // Stop: 200 with what is still open; no decision afterwards.
    let r = s.post_json("/session/stop", &json!({}));
    assert_eq!(r.status, 200, "stop: {} (server: {})", r.text, s.stderr_tail());
    let stopped = r.json();
    assert_eq!(stopped["stopped"], true, "{stopped}");
    let open: BTreeMap<String, f64> = stopped["open_positions"]
        .as_array()
        .unwrap_or_else(|| panic!("open_positions: {stopped}"))
        .iter()
        .map(|p| (p["instrument"].as_str().unwrap().to_string(), num(p, "units")))
        .collect();
    let st = status(&s);
    assert_eq!((st["state"].as_str(), st["running"].as_bool()), (Some("stopped"), Some(false)), "{st}");
    let d_stop = decisions(&st);
    std::thread::sleep(Duration::from_millis(1500)); // ~15 bars at this speed
    let st = status(&s);
    assert_eq!(decisions(&st), d_stop, "decisions after stop: {st}");
    assert_eq!(st["state"], "stopped", "{st}");
    // Positions stay open (only their stop-loss/take-profit may close them): none grows or appears.
    for (inst, p) in session_positions(&s) {
        assert_eq!(open.get(&inst).copied(), Some(num(&p, "units")), "{inst} changed after stop: {p} (stop said {open:?})");
    }
    let r = s.post_json("/session/stop", &json!({}));
    assert_eq!(r.status, 409, "stop again: {}", r.text);

    // The operator closes what the stopped session holds, at market (the dashboard's emergency stop).
    let r = s.post_json("/session/positions/close", &json!({ "now": true }));
    assert_eq!(r.status, 400, "unknown field: {}", r.text);
    assert!(r.detail().contains("now"), "{}", r.text);
    let held = session_positions(&s);
    let r = s.post_json("/session/positions/close", &json!({}));
    match r.status {
        200 => {
            let closed = r.json();
            let names: Vec<&str> = closed["closed"].as_array().into_iter().flatten().filter_map(|p| p["instrument"].as_str()).collect();
            assert!(!names.is_empty() && names.iter().all(|n| held.contains_key(*n)), "closed {closed}, held {held:?}");
            eprintln!("session positions closed at market: {closed}");
        }
        // Their stop-losses or targets closed them all first.
        409 => assert!(session_positions(&s).is_empty(), "409 while positions are open: {}", r.text),
        other => panic!("close: {other} {}", r.text),
    }
    poll("the session's positions closed", WAIT, || session_positions(&s).is_empty().then_some(()));
    assert_eq!(status(&s)["open_positions"], json!([]));
    let r = s.post_json("/session/positions/close", &json!({}));
    assert_eq!(r.status, 409, "nothing to close: {}", r.text);
    assert!(r.detail().contains("no open positions"), "{}", r.text);

    // A stopped session can be started again.
    let r = s.post_json("/session/start", &json!({}));
    assert_eq!(r.status, 202, "restart: {} (server: {})", r.text, s.stderr_tail());
    poll("decisions after restart", WAIT, || Some(status(&s)).filter(|st| st["state"] == "running" && decisions(st) > 0));
    let r = s.post_json("/session/positions/close", &json!({}));
    assert_eq!(r.status, 409, "close while running: {}", r.text);
    assert!(r.detail().contains("stop it first"), "{}", r.text);
    let r = s.post_json("/session/stop", &json!({}));
    assert_eq!(r.status, 200, "second stop: {}", r.text);
    eprintln!("models_config_and_session_lifecycle: {:.1} s", t0.elapsed().as_secs_f64());
}

#[test]
fn warmup_timeout_fails_the_session() {
    let t0 = Instant::now();
    let models_dir = tempfile::tempdir().unwrap();
    // 200 one-minute bars at real time: warm-up cannot finish.
    build_model(&models_dir.path().join("long.pt"), 20, 200);
    let s = Server::start_with_models(1.0, models_dir.path());
    let listed = models(&s, "");
    assert_eq!(listed.keys().collect::<Vec<_>>(), ["long"], "serve must not add the example to a directory with a model");
    assert_eq!(listed["long"]["lookback_window"], 200);

    let r = s.post_json("/session/config", &config(&SYMBOLS, "long", 10_000.0));
    assert_eq!(r.status, 200, "config: {}", r.text);
    let asked = Instant::now();
    let r = s.post_json("/session/start", &json!({ "cold_start_timeout_sec": 2 }));
    assert_eq!(r.status, 202, "start: {} (server: {})", r.text, s.stderr_tail());
    let answered = Instant::now();
    let st = status(&s);
    assert_eq!((st["state"].as_str(), st["running"].as_bool()), (Some("warming_up"), Some(true)), "{st}");
    assert_eq!(st["warmup"]["ready"], false, "{st}");
    assert_eq!(st["warmup"]["missing"], json!(SYMBOLS), "{st}");
    for b in st["warmup"]["bars"].as_array().unwrap() {
        assert_eq!(b["need"], 200, "{st}");
    }

    let st = poll("the warm-up to time out", Duration::from_secs(30), || Some(status(&s)).filter(|st| st["state"] != "warming_up"));
    let (waited, since_answer) = (asked.elapsed(), answered.elapsed());
    assert_eq!((st["state"].as_str(), st["running"].as_bool()), (Some("failed"), Some(false)), "{st}");
    assert!(waited >= Duration::from_millis(1900), "failed after {waited:?}, before the 2 s timeout: {st}");
    // The 2 s run from the start's answer; the slack is for a loaded machine.
    assert!(since_answer <= Duration::from_secs(10), "failed only {since_answer:?} after the start answered");
    let reason = st["reason"].as_str().unwrap_or_else(|| panic!("no reason: {st}"));
    assert!(reason.contains("cold_start_timeout_sec") && reason.contains("warm-up"), "reason {reason:?}");
    assert_eq!(decisions(&st), 0, "{st}");
    assert!(session_positions(&s).is_empty(), "a failed session holds nothing");
    let r = s.post_json("/session/stop", &json!({}));
    assert_eq!(r.status, 409, "stop a failed session: {}", r.text);
    eprintln!("warmup_timeout_fails_the_session: {:.1} s", t0.elapsed().as_secs_f64());
}

/// Starts the example session on EUR_USD and AUD_USD (optionally with a risk override) and waits
/// until it runs.
fn start_example_session(s: &Server, risk: Option<Value>) {
    let mut cfg = config(&SYMBOLS, "example", 50_000.0);
    if let Some(r) = risk {
        cfg["risk"] = r;
    }
    let r = s.post_json("/session/config", &cfg);
    assert_eq!(r.status, 200, "config: {}", r.text);
    let r = s.post_json("/session/start", &json!({}));
    assert_eq!(r.status, 202, "start: {} (server: {})", r.text, s.stderr_tail());
    poll("the session to be running", WAIT, || Some(status(s)).filter(|st| st["state"] == "running"));
}

/// A `/session/config` accepted while a session runs is kept for the next start: `/session/status`
/// goes on describing the running session (the model and capital it was started with) and shows the
/// new config as `pending_config`.
#[test]
fn status_reports_the_running_sessions_model_and_capital() {
    let models_dir = tempfile::tempdir().unwrap();
    let s = Server::start_with_models(SPEED, models_dir.path());
    build_model(&models_dir.path().join("single.pt"), 1, 32);
    start_example_session(&s, None);
    let st = status(&s);
    assert!(st["pending_config"].is_null(), "the start consumed the pending config: {st}");
    let r = s.post_json("/session/config", &config(&["EUR_USD"], "single", 1_000.0));
    if r.status == 200 {
        let st = status(&s);
        assert_eq!(st["selected_symbols"], json!(SYMBOLS), "{st}");
        assert_eq!(st["model"]["name"], "example", "status must describe the running session: {st}");
        assert_eq!(num(&st, "target_capital_usd"), 50_000.0, "status must describe the running session: {st}");
        assert_eq!(st["config_source"], "running_session", "{st}");
        let pending = &st["pending_config"];
        assert_eq!(pending["selected_symbols"], json!(["EUR_USD"]), "{st}");
        assert_eq!(pending["model"]["name"], "single", "{st}");
        assert_eq!(num(pending, "target_capital_usd"), 1_000.0, "{st}");
        // Once stopped, status shows what the next start will use.
        assert_eq!(s.post_json("/session/stop", &json!({})).status, 200);
        let st = status(&s);
        assert_eq!(st["config_source"], "pending_config", "{st}");
        assert_eq!((st["model"]["name"].as_str(), st["selected_symbols"].clone()), (Some("single"), json!(["EUR_USD"])), "{st}");
        assert_eq!(num(&st, "target_capital_usd"), 1_000.0, "{st}");
    } else {
        assert_eq!(r.status, 409, "reconfiguring a running session: {}", r.text);
    }
}

/// `/session/start` applies the config's risk override over the limits current at start, so a
/// `/risk/update` made between `/session/config` and the start to other fields survives.
#[test]
fn session_start_keeps_later_risk_updates() {
    let models_dir = tempfile::tempdir().unwrap();
    let s = Server::start_with_models(SPEED, models_dir.path());
    let mut cfg = config(&SYMBOLS, "example", 50_000.0);
    cfg["risk"] = json!({ "max_risk_per_trade_percent": 2 });
    assert_eq!(s.post_json("/session/config", &cfg).status, 200);
    let r = s.post_json("/risk/update", &json!({ "max_total_exposure_usd": 20_000 }));
    assert_eq!(r.status, 200, "risk update: {}", r.text);
    let r = s.post_json("/session/start", &json!({}));
    assert_eq!(r.status, 202, "start: {}", r.text);
    let risk = s.get_ok("/risk")["risk"].clone();
    assert_eq!(num(&risk, "max_risk_per_trade_percent"), 2.0, "the session's override: {risk}");
    assert_eq!(num(&risk, "max_total_exposure_usd"), 20_000.0, "the later /risk/update was undone: {risk}");
}
