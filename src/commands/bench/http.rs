//! `pinion bench http`: the real server in-process with one ema_cross operation; the core's
//! tick -> order-intent p99 without load, then with `--clients` keep-alive connections issuing GETs
//! paced to `--rps` in total (REST GET latency percentiles too). Also the minimal HTTP/1.1 keep-alive
//! client over std `TcpStream` that the bench's harness uses.

use super::{change_pct, data_path, find, note, start_server, HttpArgs, Pct};
use anyhow::bail;
use serde_json::{json, Value};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 keep-alive client
// ------------------------------------------------------------------------------------------------

pub(super) struct HttpConn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl HttpConn {
    pub(super) fn connect(addr: SocketAddr) -> io::Result<HttpConn> {
        let mut c = HttpConn { addr, stream: None, buf: Vec::with_capacity(64 * 1024) };
        c.reconnect()?;
        Ok(c)
    }

    fn reconnect(&mut self) -> io::Result<()> {
        let s = TcpStream::connect(self.addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        self.stream = Some(s);
        self.buf.clear();
        Ok(())
    }

    /// Sends one request and reads the whole answer: (status, body). Reconnects first if the server
    /// closed the previous connection.
    pub(super) fn request(&mut self, method: &str, path: &str, body: Option<&str>) -> io::Result<(u16, Vec<u8>)> {
        if self.stream.is_none() {
            self.reconnect()?;
        }
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n", self.addr);
        if let Some(b) = body {
            req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}", b.len()));
        } else {
            req.push_str("\r\n");
        }
        let out = self.exchange(req.as_bytes());
        if out.is_err() {
            self.stream = None;
        }
        out
    }

    fn fill(&mut self) -> io::Result<()> {
        let s = self.stream.as_mut().ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let len = self.buf.len();
        self.buf.resize(len + 16 * 1024, 0);
        let n = s.read(&mut self.buf[len..]);
        self.buf.truncate(len + n.as_ref().map_or(0, |n| *n));
        match n? {
            0 => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            _ => Ok(()),
        }
    }

    fn exchange(&mut self, req: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        self.stream.as_mut().ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?.write_all(req)?;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
        let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| io::Error::other("bad status line"))?;
        let header =
            |name: &str| head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == name).map(|(_, v)| v.trim().to_string()));
        let close = header("connection").is_some_and(|v| v == "close");
        let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let mut body = Vec::new();
            let mut pos = head_end;
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf[pos..], b"\r\n") {
                        break pos + i;
                    }
                    self.fill()?;
                };
                let size_text = String::from_utf8_lossy(&self.buf[pos..line_end]).to_string();
                let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| io::Error::other("bad chunk size"))?;
                let need = line_end + 2 + size + 2;
                while self.buf.len() < need {
                    self.fill()?;
                }
                body.extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
                pos = need;
                if size == 0 {
                    break;
                }
            }
            self.buf.drain(..pos);
            body
        } else {
            let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            while self.buf.len() < head_end + len {
                self.fill()?;
            }
            let body = self.buf[head_end..head_end + len].to_vec();
            self.buf.drain(..head_end + len);
            body
        };
        if close {
            self.stream = None;
        }
        Ok((status, body))
    }
}

// ------------------------------------------------------------------------------------------------
// http: REST load
// ------------------------------------------------------------------------------------------------

#[derive(Default)]
struct ClientTally {
    /// Latency of each successful GET, per path (index into the path list).
    latencies_ns: Vec<Vec<u64>>,
    errors: u64,
}

pub(super) fn run(a: HttpArgs) -> anyhow::Result<()> {
    if a.clients == 0 || a.rps == 0 {
        bail!("--clients and --rps must be positive");
    }
    let h = start_server(data_path(&a.data)?, a.replay_speed)?;
    std::thread::sleep(Duration::from_secs(1));
    note(format!("phase 1: {} s without load", a.seconds));
    let idle = Pct::of(h.core_window(a.seconds)?);

    note(format!("phase 2: {} s with {} clients at {} GET/s in total", a.seconds, a.clients, a.rps));
    let id = h.operation;
    let paths: Arc<[String]> =
        vec![format!("/api/operations/{id}"), format!("/api/operations/{id}/orders?limit=50"), "/account/summary".to_string()].into();
    h.take_samples()?;
    let interval = Duration::from_secs_f64(a.clients as f64 / a.rps as f64);
    let start = Instant::now() + Duration::from_millis(50);
    let end = start + Duration::from_secs(a.seconds);
    let mut threads = Vec::with_capacity(a.clients);
    for i in 0..a.clients {
        let paths = paths.clone();
        let addr = h.server.addr;
        let offset = interval.mul_f64(i as f64 / a.clients as f64);
        threads.push(std::thread::Builder::new().name(format!("bench-http-{i}")).spawn(move || {
            let mut tally = ClientTally { latencies_ns: vec![Vec::with_capacity(1 << 14); paths.len()], errors: 0 };
            let Ok(mut conn) = HttpConn::connect(addr) else {
                tally.errors += 1;
                return tally;
            };
            for k in 0u64.. {
                let due = start + offset + interval.mul_f64(k as f64);
                if due >= end || Instant::now() >= end {
                    break;
                }
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let which = (k as usize + i) % paths.len();
                let t0 = Instant::now();
                match conn.request("GET", &paths[which], None) {
                    Ok((200, _)) => tally.latencies_ns[which].push(t0.elapsed().as_nanos() as u64),
                    _ => tally.errors += 1,
                }
            }
            tally
        })?);
    }
    let mut by_path: Vec<Vec<u64>> = vec![Vec::new(); paths.len()];
    let mut errors = 0;
    for t in threads {
        let tally = t.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
        for (all, mine) in by_path.iter_mut().zip(tally.latencies_ns) {
            all.extend(mine);
        }
        errors += tally.errors;
    }
    let per_path: serde_json::Map<String, Value> =
        paths.iter().zip(&by_path).map(|(p, l)| (p.clone(), Pct::of(l.clone()).json(1000.0))).collect();
    let all: Vec<u64> = by_path.into_iter().flatten().collect();
    let took = start.elapsed().as_secs_f64();
    let load = Pct::of(h.take_samples()?);
    let ok = all.len();
    let get = Pct::of(all);
    println!(
        "{}",
        json!({
            "bench": "http",
            "clients": a.clients,
            "rps_target": a.rps,
            "seconds": a.seconds,
            "replay_speed": a.replay_speed,
            "requests_ok": ok,
            "errors": errors,
            "rps_achieved": (ok as f64 / took).round(),
            "get_latency_us": get.json(1000.0),
            "get_latency_us_by_path": per_path,
            "core_tick_to_intent_ns_idle": idle.json(1.0),
            "core_tick_to_intent_ns_load": load.json(1.0),
            "core_p99_change_pct": change_pct(idle.p99, load.p99),
        })
    );
    Ok(())
}
