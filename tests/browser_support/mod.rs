//! A small W3C WebDriver client for the dashboard's browser tests: starts Debian's `chromedriver` on an
//! ephemeral port, opens a headless Chromium session in a fresh profile (flags that keep a closed
//! network quiet), and offers what the tests need: navigate, find by `data-testid`, click, type, read
//! text and attributes, run a script, wait for a condition, save a screenshot under
//! `target/browser-artifacts/`, and collect the console's errors (the browser log at SEVERE, and
//! uncaught errors the page records itself). Speaks plain HTTP/1.1 JSON through `common::http`.
//!
//! Chromium missing is a failure with an install hint, unless `PINION_SKIP_BROWSER_TESTS=1` opts out.

#![allow(dead_code)]

use crate::common::{http, poll};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where the screenshots go (created on demand).
pub fn artifacts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("browser-artifacts")
}

/// A headless Chromium driven over WebDriver; the driver and the browser end on drop.
pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
    _profile: tempfile::TempDir,
    /// Prefix of the screenshot names of this test.
    pub name: String,
}

/// Starts a browser, or None when `PINION_SKIP_BROWSER_TESTS=1` and Chromium is missing. Panics with an
/// install hint when Chromium or chromedriver is missing otherwise.
pub fn launch(name: &str) -> Option<Browser> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER].into_iter().filter(|p| !std::path::Path::new(p).exists()).collect();
    if !missing.is_empty() {
        if std::env::var("PINION_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1") {
            eprintln!("browser test {name} skipped: {} missing and PINION_SKIP_BROWSER_TESTS=1", missing.join(", "));
            return None;
        }
        panic!(
            "the dashboard's browser tests need {}: install them with `apt-get install -y chromium chromium-driver` \
             (scripts/test.sh does), or set PINION_SKIP_BROWSER_TESTS=1 to skip these tests",
            missing.join(" and ")
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromedriver");
    let addr = format!("127.0.0.1:{port}");
    poll("chromedriver to listen", Duration::from_secs(20), || std::net::TcpStream::connect(&addr).ok().map(|_| ()));
    let profile = tempfile::tempdir().expect("a browser profile directory");
    let args = [
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-extensions".into(),
        "--window-size=1440,1000".into(),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    let caps = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        "goog:loggingPrefs": { "browser": "ALL" },
    } } });
    let mut b = Browser { driver, addr, session: String::new(), _profile: profile, name: name.to_string() };
    let v = b.raw("POST", "/session", &caps);
    b.session = v["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {v}")).to_string();
    b.raw("POST", &format!("/session/{}/timeouts", b.session), &json!({ "script": 30000, "pageLoad": 30000, "implicit": 0 }));
    Some(b)
}

impl Browser {
    fn raw(&self, method: &str, path: &str, body: &Value) -> Value {
        let bytes = if method == "GET" || method == "DELETE" { Vec::new() } else { serde_json::to_vec(body).unwrap_or_default() };
        let headers: &[(&str, &str)] = if bytes.is_empty() { &[] } else { &[("Content-Type", "application/json")] };
        let r = http(&self.addr, method, path, headers, &bytes);
        let v: Value = serde_json::from_str(&r.text).unwrap_or(Value::Null);
        if r.status != 200 {
            panic!("WebDriver {method} {path} -> {}: {}", r.status, v["value"]["message"].as_str().unwrap_or(&r.text));
        }
        v.get("value").cloned().map(|x| if path == "/session" { v["value"].clone() } else { x }).unwrap_or(v)
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.raw(method, &format!("/session/{}{path}", self.session), &body)
    }

    /// Opens `url` and waits for the page to finish loading.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.cmd("POST", "/execute/sync", json!({ "script": script, "args": args }))
    }

    /// The element with `data-testid="id"`, if present now.
    pub fn try_find(&self, id: &str) -> Option<String> {
        let sel = format!("[data-testid=\"{id}\"]");
        let v = self.cmd("POST", "/elements", json!({ "using": "css selector", "value": sel }));
        v.as_array().and_then(|a| a.first()).and_then(|e| e[ELEMENT].as_str()).map(String::from)
    }

    /// Waits (up to `secs`) until the element is present and shown, and returns it.
    pub fn find(&self, id: &str, secs: u64) -> String {
        poll(&format!("element [data-testid={id}] to be shown"), Duration::from_secs(secs), || {
            let e = self.try_find(id)?;
            let shown =
                self.js("return arguments[0].offsetParent !== null || arguments[0].getClientRects().length > 0", json!([{ ELEMENT: e }]));
            (shown == Value::Bool(true)).then_some(e)
        })
    }

    /// Clicks the element (a real pointer click through the driver), finding it again if the page
    /// redrew it in between.
    pub fn click(&self, id: &str) {
        for attempt in 0.. {
            let e = self.find(id, 20);
            let path = format!("/session/{}/element/{e}/click", self.session);
            let r = http(&self.addr, "POST", &path, &[("Content-Type", "application/json")], b"{}");
            if r.status == 200 {
                return;
            }
            if attempt >= 10 {
                panic!("clicking [data-testid={id}]: {} {}", r.status, r.text);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Clears the input and types `text` into it.
    pub fn type_into(&self, id: &str, text: &str) {
        let e = self.find(id, 20);
        self.cmd("POST", &format!("/element/{e}/clear"), json!({}));
        self.cmd("POST", &format!("/element/{e}/value"), json!({ "text": text }));
    }

    /// Chooses `value` in a `<select>` (and fires its change event, as a user's choice would).
    pub fn select(&self, id: &str, value: &str) {
        let e = self.find(id, 20);
        self.js(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change', { bubbles: true }));",
            json!([{ ELEMENT: e }, value]),
        );
    }

    /// The element's rendered text.
    pub fn text(&self, id: &str) -> String {
        let e = self.find(id, 20);
        self.cmd("GET", &format!("/element/{e}/text"), json!({})).as_str().unwrap_or_default().to_string()
    }

    /// An attribute of the element (`data-state`...).
    pub fn attr(&self, id: &str, name: &str) -> Option<String> {
        let e = self.try_find(id)?;
        self.cmd("GET", &format!("/element/{e}/attribute/{name}"), json!({})).as_str().map(String::from)
    }

    /// Waits until `script` (a function body) returns a truthy value, and returns it.
    pub fn wait_js(&self, what: &str, secs: u64, script: &str) -> Value {
        poll(what, Duration::from_secs(secs), || {
            let v = self.js(script, json!([]));
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            truthy.then_some(v)
        })
    }

    /// Waits until the element's text contains `needle`; returns the text.
    pub fn wait_text(&self, id: &str, needle: &str, secs: u64) -> String {
        let sel = format!("[data-testid=\"{id}\"]");
        let script =
            format!("const e = document.querySelector({sel:?}); return e && e.textContent.includes({needle:?}) ? e.textContent : null;");
        self.wait_js(&format!("[data-testid={id}] to contain {needle:?}"), secs, &script).as_str().unwrap_or_default().to_string()
    }

    /// Saves a screenshot as `target/browser-artifacts/<test>-<name>.png`; returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", json!({}));
        let png = base64_decode(b64.as_str().unwrap_or_default());
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).expect("creating target/browser-artifacts");
        let path = dir.join(format!("{}-{name}.png", self.name));
        std::fs::write(&path, png).expect("writing a screenshot");
        path
    }

    /// The console's errors since the last call: browser log entries at SEVERE and the page's own
    /// record of uncaught errors. `expected` lists substrings of entries that are part of the scenario
    /// (a 400 the test provokes on purpose).
    pub fn console_errors(&self, expected: &[&str]) -> Vec<String> {
        let log = self.cmd("POST", "/se/log", json!({ "type": "browser" }));
        let mut out: Vec<String> = log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .filter_map(|e| e["message"].as_str().map(String::from))
            .filter(|m| !expected.iter().any(|x| m.contains(x)))
            .collect();
        let own = self.js("const e = window.__pinionErrors || []; window.__pinionErrors = []; return e;", json!([]));
        out.extend(own.as_array().into_iter().flatten().filter_map(|e| e.as_str().map(String::from)));
        out
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                http(&self.addr, "DELETE", &format!("/session/{}", self.session), &[], b"")
            }));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Decodes standard base64 (padding and whitespace ignored).
pub fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
