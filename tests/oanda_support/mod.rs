//! Shared by the OANDA end-to-end tests: a fake OANDA v20 server fed from `../shared/data` AUD/USD
//! quotes, `pinion serve` against it as a child process, and small polling helpers.
#![allow(dead_code)]

use pinion_core::instrument::InstrumentTable;
use pinion_io::oanda_fake::{FakeConfig, FakeOanda};
use pinion_io::{load_many, ImportInput, ImportOptions};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCOUNT: &str = "101-004-1234567-001";
pub const TOKEN: &str = "fake-token-7f3a91";

pub fn data_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/audusd_truefx_20200130-31_quotes.csv.gz")
}

pub fn fake(speed: f64) -> FakeOanda {
    fake_with_history(speed, 100)
}

/// A fake whose first `history` ticks are past at start (they make its candle history).
pub fn fake_with_history(speed: f64, history: usize) -> FakeOanda {
    let data = load_many(&[ImportInput::new(data_file())], &ImportOptions::quiet()).expect("loading the AUD/USD quotes");
    let mut cfg = FakeConfig::from_tick_data(ACCOUNT, &data, &InstrumentTable::builtin()).expect("fake config");
    cfg.token = Some(TOKEN.to_string());
    cfg.speed = speed;
    cfg.warmup_ticks = history;
    cfg.heartbeat_every = Duration::from_millis(500);
    FakeOanda::start(cfg).expect("starting the fake OANDA")
}

/// `pinion serve` against `base` with `token`; stderr to `log`.
pub fn spawn(dir: &Path, base: &str, token: &str, log: &Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinion"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PINION_") {
            cmd.env_remove(&k);
        }
    }
    cmd.arg("serve")
        .args(["--bind", "127.0.0.1:0", "--log-level", "info"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("PINION_BROKER", "oanda")
        .env("PINION_OANDA_ACCOUNT_ID", ACCOUNT)
        .env("PINION_OANDA_TOKEN", token)
        .env("PINION_OANDA_REST_URL", base)
        .env("PINION_OANDA_STREAM_URL", base)
        .env("PINION_OANDA_INSTRUMENTS", "AUD_USD")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("stderr log"));
    cmd.spawn().expect("spawning pinion serve")
}

pub struct Pinion {
    pub child: Child,
    pub addr: String,
    pub log: PathBuf,
}

impl Pinion {
    pub fn start(dir: &Path, base: &str) -> Pinion {
        let log = dir.join("stderr.log");
        let mut child = spawn(dir, base, TOKEN, &log);
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let v: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|_| panic!("no listening line ({line:?}): {}", std::fs::read_to_string(&log).unwrap_or_default()));
        Pinion { child, addr: v["listening"].as_str().expect("address").to_string(), log }
    }

    pub fn req(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(15))).expect("timeout");
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut r = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        if method == "POST" {
            r.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        r.push_str("\r\n");
        r.push_str(&body);
        s.write_all(r.as_bytes()).expect("write");
        let mut raw = String::new();
        let _ = s.read_to_string(&mut raw);
        let status = raw.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
        let body = raw.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
        assert!(!raw.contains(TOKEN), "{method} {path}: the token is in the answer");
        (status, body)
    }

    pub fn get(&self, path: &str) -> Value {
        let (st, body) = self.req("GET", path, None);
        assert_eq!(st, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Pinion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- pinion stderr ----\n{}", self.log());
        }
    }
}

pub fn poll(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < within, "timed out after {within:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.005
}

/// Every ORDER_FILL of the fake for one of pinion's orders: client id -> fill price.
pub fn pinion_fills(fake: &FakeOanda) -> std::collections::BTreeMap<String, String> {
    fake.transactions()
        .iter()
        .filter(|t| t["type"] == "ORDER_FILL")
        .filter_map(|t| Some((t["clientOrderID"].as_str()?.to_string(), t["price"].as_str()?.to_string())))
        .filter(|(c, _)| c.starts_with("pinion-"))
        .collect()
}
