//! The server child of the crash test (`pinion serve` on the bundled samples with the journal on,
//! SIGKILLed on drop, or stopped with a signal by [`Server::signal`]) and a raw HTTP/1.1 client (one
//! `Connection: close` exchange per request).

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to print its listening line (recovery included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(15);

pub fn tail(p: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub struct Server {
    child: Child,
    pub addr: String,
    log: PathBuf,
}

impl Server {
    /// Starts `pinion serve` on `data` (journal on, the bundled samples), stderr to `log`.
    pub fn start(data: &Path, log: &Path, speed: f64, env: &[(&str, String)]) -> Server {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let stderr = std::fs::File::create(log).expect("creating the stderr log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinion"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PINION_") {
                cmd.env_remove(&k);
            }
        }
        cmd.arg("serve")
            .args(["--bind", "127.0.0.1:0", "--log-level", "info", "--replay-speed", &speed.to_string()])
            .arg("--data-dir")
            .arg(data)
            .arg("--ticks")
            .arg(root.join("samples/eurusd_sample_quotes.csv.gz"))
            .arg("--ticks")
            .arg(root.join("samples/audusd_sample_quotes.csv.gz"))
            .current_dir(data.parent().expect("data dir parent"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawning pinion serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut server = Server { child, addr: String::new(), log: log.to_path_buf() };
        let line = rx.recv_timeout(START_TIMEOUT).unwrap_or_default();
        let v: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|_| panic!("pinion serve printed no listening line within {START_TIMEOUT:?} (got {line:?})"));
        server.addr = v["listening"].as_str().expect("listening address").to_string();
        server
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL on unix
        let _ = self.child.wait();
    }

    /// Sends `sig` (`TERM`, `INT`, as `kill -s` names them) to the server.
    #[allow(dead_code)] // Only the graceful-shutdown test sends signals.
    pub fn signal(&self, sig: &str) {
        let sent = Command::new("kill").args(["-s", sig, &self.child.id().to_string()]).status().expect("running kill");
        assert!(sent.success(), "kill -s {sig} {} failed", self.child.id());
    }

    /// Waits up to `within` for the server to exit; returns its status and how long the wait took.
    /// Panics (after a SIGKILL) when it does not exit in time.
    #[allow(dead_code)] // Only the graceful-shutdown test stops a server other than by SIGKILL.
    pub fn wait_exit(&mut self, within: Duration) -> (ExitStatus, Duration) {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for pinion serve") {
                return (status, t0.elapsed());
            }
            if t0.elapsed() > within {
                self.kill();
                panic!("pinion serve did not exit within {within:?}\n{}", tail(&self.log, 30));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        http(&self.addr, method, path, body)
    }

    /// One exchange whatever its status: `(status, body)`.
    #[allow(dead_code)] // Only the storage-fault test reads non-200 answers.
    pub fn raw(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        self.request(method, path, body)
    }

    pub fn get(&self, path: &str) -> Value {
        let (status, text) = self.request("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"))
    }

    pub fn post(&self, path: &str, body: &Value, want: u16) -> Value {
        let (status, text) = self.request("POST", path, Some(body));
        assert_eq!(status, want, "POST {path} {body}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {path}: not JSON ({e}): {text}"))
    }

    /// Every item of a newest-first list, fetched 1000 at a time. Items added while paging shift later
    /// pages, so an id seen twice with identical content is that shift; ids within one page must be
    /// unique, and one id with two different contents is reported unless `mutable` (orders change
    /// status), where the newest reading wins.
    pub fn all_pages(&self, path: &str, mutable: bool) -> Vec<Value> {
        let mut out: BTreeMap<u64, Value> = BTreeMap::new();
        let mut offset = 0;
        loop {
            let page = self.get(&format!("{path}?limit=1000&offset={offset}"));
            let items = page.as_array().unwrap_or_else(|| panic!("GET {path}: not an array: {page}"));
            let mut in_page = BTreeSet::new();
            for it in items {
                let id = it["id"].as_u64().unwrap_or_else(|| panic!("GET {path}: item without an id: {it}"));
                assert!(in_page.insert(id), "GET {path}: id {id} twice in one page (a duplicate): {it}");
                if let Some(prev) = out.get(&id) {
                    assert!(mutable || prev == it, "GET {path}: id {id} shown as {prev} and as {it}");
                }
                out.insert(id, it.clone());
            }
            if items.len() < 1000 {
                return out.into_values().collect();
            }
            offset += 1000;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- server stderr tail ({}) ----\n{}\n----", self.log.display(), tail(&self.log, 40));
        }
        self.kill();
    }
}

fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{method} {path}: connecting to {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n");
    if method == "POST" {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).unwrap_or_else(|e| panic!("{method} {path}: writing: {e}"));
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap_or_else(|e| panic!("{method} {path}: reading: {e}"));
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).unwrap_or_else(|| {
        panic!("{method} {path}: malformed answer {:?}", String::from_utf8_lossy(&raw));
    });
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let header = |name: &str| {
        head.lines().filter_map(|l| l.split_once(':')).find(|(k, _)| k.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string())
    };
    let mut b = raw[end..].to_vec();
    if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        b.truncate(n);
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut out = Vec::new();
        let mut rest = &b[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().split(';').next().unwrap().trim(), 16).unwrap();
            rest = &rest[nl + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        b = out;
    }
    (status, String::from_utf8_lossy(&b).into_owned())
}
