//! Shared helpers of the end-to-end tests: run `pinion serve` on an ephemeral port over the bundled
//! samples (killed when dropped), a small blocking HTTP/1.1 client over a raw `TcpStream` (every status
//! is an answer, never an error, and any header or body can be sent as is), deadline polling, and ISO
//! timestamp parsing.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Read/write timeout of one HTTP exchange.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `pinion serve` child process on `127.0.0.1:<ephemeral>`, killed on drop.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The instruments the feed carries, from the listening line.
    pub fed: Vec<String>,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server on the bundled EUR_USD and AUD_USD samples, looped at `speed` x real time,
    /// without a journal, in a fresh temporary data directory.
    pub fn start(speed: f64) -> Server {
        // Models default to the temporary data directory (the server builds the example there).
        Server::launch(speed, None)
    }

    /// Like [`start`](Self::start) with `models_dir` as the model directory (`PINION_MODELS_DIR`;
    /// the server builds the example model there when it holds none).
    pub fn start_with_models(speed: f64, models_dir: &Path) -> Server {
        Server::launch(speed, Some(models_dir))
    }

    fn launch(speed: f64, models_dir: Option<&Path>) -> Server {
        Server::launch_env(speed, models_dir, &[])
    }

    fn launch_env(speed: f64, models_dir: Option<&Path>, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("creating a temporary data directory");
        let root = repo_root();
        let samples = root.join("samples");
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("creating the stderr log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinion"));
        // The caller's PINION_* settings (a token, a journal, a stop index...) must not leak in.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PINION_") {
                cmd.env_remove(&k);
            }
        }
        cmd.arg("serve")
            .args(["--bind", "127.0.0.1:0", "--no-journal", "--log-level", "warn"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--replay-speed", &speed.to_string()])
            .arg("--ticks")
            .arg(samples.join("eurusd_sample_quotes.csv.gz"))
            .arg("--ticks")
            .arg(samples.join("audusd_sample_quotes.csv.gz"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(m) = models_dir {
            cmd.env("PINION_MODELS_DIR", m);
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("spawning pinion serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
            // stdout stays open (dropped here is fine: the server prints nothing else).
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("pinion serve printed no listening line within {START_TIMEOUT:?}: {}", tail(&dir.path().join("stderr.log")));
            }
        };
        let mut server = Server { child, addr: String::new(), fed: Vec::new(), dir };
        let v: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| {
            panic!("listening line {line:?} is not JSON ({e}); stderr: {}", tail(&server.dir.path().join("stderr.log")))
        });
        server.addr = v["listening"].as_str().expect("listening address").to_string();
        server.fed = v["fed"].as_array().expect("fed list").iter().map(|x| x.as_str().unwrap().to_string()).collect();
        server
    }

    /// The last lines the server wrote on stderr (for failure messages).
    pub fn stderr_tail(&self) -> String {
        tail(&self.dir.path().join("stderr.log"))
    }

    /// Whether the server's whole stderr log holds `needle` (a busy server writes past any tail).
    pub fn stderr_has(&self, needle: &str) -> bool {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default().contains(needle)
    }

    /// Sends one request; `content_type` None sends no Content-Type header.
    pub fn request(&self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Resp {
        let mut headers = Vec::new();
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        http(&self.addr, method, path, &headers, body)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, None, b"")
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, None, b"")
    }

    /// POST with a JSON body and `Content-Type: application/json`.
    pub fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.request("POST", path, Some("application/json"), body.to_string().as_bytes())
    }

    /// GET that must answer 200 with JSON.
    pub fn get_ok(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text);
        r.json()
    }

    /// Every item of a newest-first paginated list, fetched 1000 at a time and keyed by `id` (so
    /// items added while paging, which shift the pages, are neither lost nor counted twice).
    pub fn all_pages(&self, path: &str) -> std::collections::BTreeMap<u64, Value> {
        let mut out = std::collections::BTreeMap::new();
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut offset = 0;
        loop {
            let page = self.get_ok(&format!("{path}{sep}limit=1000&offset={offset}"));
            let items = page.as_array().unwrap_or_else(|| panic!("GET {path}: not an array: {page}"));
            for it in items {
                out.insert(it["id"].as_u64().unwrap_or_else(|| panic!("item without an id: {it}")), it.clone());
            }
            if items.len() < 1000 {
                return out;
            }
            offset += 1000;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(p: &Path) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Resp {
    /// The body as JSON (panics, showing the body, when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?} (status {})", self.text, self.status))
    }

    /// The `detail` of a `{"detail": ...}` error body.
    pub fn detail(&self) -> String {
        let v = self.json();
        v["detail"].as_str().unwrap_or_else(|| panic!("no string `detail` in the error body {v}")).to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request (`Connection: close`) and reads the whole answer. Write errors are
/// ignored so that a server that answers early and closes (a body over its limit) still gets its
/// answer read.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    let _ = s.write_all(&out);
    let _ = s.flush();
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    // Read until EOF, or until a Content-Length body is complete.
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if let Some(total) = complete_len(&raw) {
                    if raw.len() >= total {
                        break;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("{method} {path}: reading the answer: {e} (read so far: {:?})", String::from_utf8_lossy(&raw)),
        }
    }
    parse_response(&raw).unwrap_or_else(|| panic!("{method} {path}: malformed answer {:?}", String::from_utf8_lossy(&raw)))
}

fn head_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Total length of an answer with a Content-Length, once its head is complete.
fn complete_len(raw: &[u8]) -> Option<usize> {
    let end = head_end(raw)?;
    let head = String::from_utf8_lossy(&raw[..end]);
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok()).flatten().map(|n| end + n)
    })
}

fn parse_response(raw: &[u8]) -> Option<Resp> {
    let end = head_end(raw)?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let mut body = raw[end..].to_vec();
    let find = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    if let Some(n) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.truncate(n);
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body)?;
    }
    Some(Resp { status, headers, text: String::from_utf8_lossy(&body).into_owned() })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&b[..nl]).ok()?.split(';').next()?.trim(), 16).ok()?;
        b = &b[nl + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// Calls `f` every 50 ms until it returns Some, panicking after `timeout` with `what`.
pub fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Seconds since the Unix epoch of an ISO-8601 UTC time such as `2020-01-30T16:23:55.332000000Z`.
pub fn iso_secs(s: &str) -> f64 {
    fn bad<T>(s: &str) -> T {
        panic!("not an ISO-8601 UTC time: {s:?}")
    }
    let int = |x: &str| x.parse::<i64>().unwrap_or_else(|_| bad(s));
    let body = s.strip_suffix('Z').unwrap_or_else(|| bad(s));
    let (date, time) = body.split_once('T').unwrap_or_else(|| bad(s));
    let d: Vec<i64> = date.split('-').map(int).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(int).collect();
    if d.len() != 3 || t.len() != 3 {
        bad::<()>(s);
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m, day) = (if d[1] <= 2 { d[0] - 1 } else { d[0] }, d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let frac: f64 = format!("0.{frac}").parse().unwrap_or_else(|_| bad(s));
    (days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) as f64 + frac
}

// ---------------------------------------------------------------------------------------------------
// Added for tests/websocket_api.rs and tests/account_risk_api.rs: a server started with extra
// environment variables (e.g. `PINION_TOKEN`), which `Server::start` deliberately strips.
// ---------------------------------------------------------------------------------------------------

impl Server {
    /// Like [`start`](Self::start), with `env` (e.g. `[("PINION_TOKEN", "secret")]`) set on the child
    /// after the caller's own `PINION_*` variables are removed.
    pub fn start_with_env(speed: f64, env: &[(&str, &str)]) -> Server {
        Server::launch_env(speed, None, env)
    }

    /// Sends one request with extra headers (e.g. `("Authorization", "Bearer secret")`).
    pub fn request_with(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        http(&self.addr, method, path, headers, body)
    }
}

/// The rows of a JSON array (a positions list); panics otherwise.
pub fn rows(v: &Value) -> Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("expected an array, got {v}")).clone()
}

/// A position row whose current price (`price`) and unrealized P&L (`pnl`) are numbers, never null.
pub fn assert_priced(r: &Value, price: &str, pnl: &str, what: &str) {
    assert!(r[price].as_f64().is_some_and(|p| p > 0.0), "{what}: `{price}` is not a price in {r}");
    assert!(r[pnl].as_f64().is_some(), "{what}: `{pnl}` is not a number in {r}");
}
