//! `pinion bench ws`: the real server in-process with `--clients` WebSocket clients on all topics
//! (raw std `TcpStream`s); counts `metric` frames per client, measures delivery latency of timestamped
//! frames the bench broadcasts through the server's own `Broadcaster`, and the core's p99 without and
//! with the clients.

use super::{change_pct, data_path, find, note, start_server, Pct, WsArgs};
use anyhow::{bail, Context};
use pinion_http::ws::{Frame, Topic};
use serde_json::json;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Opens `/ws` and completes the handshake; returns the stream and any frame bytes read past the head.
fn ws_connect(addr: SocketAddr) -> io::Result<(TcpStream, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if !buf.starts_with(b"HTTP/1.1 101") {
        return Err(io::Error::other(format!("upgrade refused: {}", String::from_utf8_lossy(&buf[..end]).lines().next().unwrap_or(""))));
    }
    Ok((s, buf[end..].to_vec()))
}

#[derive(Default)]
struct WsTally {
    metric_frames: u64,
    bench_frames: u64,
    latencies_ns: Vec<u64>,
    closed_early: bool,
    bytes: u64,
}

/// Shared state of the ws clients.
struct WsShared {
    start: Instant,
    counting: AtomicBool,
    stop: AtomicBool,
}

/// The value of `"sent_ns":<digits>` in a bench frame.
fn sent_ns(payload: &[u8]) -> Option<u64> {
    let key = b"\"sent_ns\":";
    let i = find(payload, key)? + key.len();
    let digits = payload[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    std::str::from_utf8(&payload[i..i + digits]).ok()?.parse().ok()
}

/// Reads unmasked server frames until stopped, counting metric frames (while counting) and timing
/// bench frames. Handles frames split across reads.
fn ws_client(mut s: TcpStream, mut buf: Vec<u8>, shared: Arc<WsShared>) -> WsTally {
    let mut tally = WsTally { latencies_ns: Vec::with_capacity(256), ..Default::default() };
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    buf.reserve(32 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut pos = 0usize;
    loop {
        // Parse every complete frame in buf[pos..].
        let now_ns = shared.start.elapsed().as_nanos() as u64;
        loop {
            let b = &buf[pos..];
            if b.len() < 2 {
                break;
            }
            let opcode = b[0] & 0x0f;
            let masked = b[1] & 0x80 != 0;
            let (len, mut hdr) = match b[1] & 0x7f {
                126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().unwrap_or_default()) as usize, 10),
                126 | 127 => break,
                n => (n as usize, 2),
            };
            if masked {
                hdr += 4;
            }
            if b.len() < hdr + len {
                break;
            }
            let payload = &b[hdr..hdr + len];
            match opcode {
                1 | 0 => {
                    if payload.starts_with(b"{\"type\":\"metric\"") {
                        if shared.counting.load(Ordering::Relaxed) {
                            tally.metric_frames += 1;
                        }
                    } else if payload.starts_with(b"{\"type\":\"log\"") {
                        if let Some(sent) = sent_ns(payload) {
                            tally.bench_frames += 1;
                            tally.latencies_ns.push(now_ns.saturating_sub(sent));
                        }
                    }
                }
                8 => {
                    tally.closed_early = !shared.stop.load(Ordering::Relaxed);
                    return tally;
                }
                _ => {}
            }
            pos += hdr + len;
        }
        if pos > 0 && pos == buf.len() {
            buf.clear();
            pos = 0;
        } else if pos > 64 * 1024 {
            buf.drain(..pos);
            pos = 0;
        }
        if shared.stop.load(Ordering::Relaxed) {
            return tally;
        }
        match s.read(&mut chunk) {
            Ok(0) => {
                tally.closed_early = !shared.stop.load(Ordering::Relaxed);
                return tally;
            }
            Ok(n) => {
                tally.bytes += n as u64;
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => {}
            Err(_) => {
                tally.closed_early = !shared.stop.load(Ordering::Relaxed);
                return tally;
            }
        }
    }
}

pub(super) fn run(a: WsArgs) -> anyhow::Result<()> {
    if a.clients == 0 || a.frames_per_second == 0 {
        bail!("--clients and --frames-per-second must be positive");
    }
    let h = start_server(data_path(&a.data)?, a.replay_speed)?;
    std::thread::sleep(Duration::from_secs(1));
    note(format!("phase 1: {} s without WebSocket clients", a.seconds));
    let idle = Pct::of(h.core_window(a.seconds)?);

    note(format!("connecting {} WebSocket clients", a.clients));
    let shared = Arc::new(WsShared { start: Instant::now(), counting: AtomicBool::new(false), stop: AtomicBool::new(false) });
    let t0 = Instant::now();
    let mut threads = Vec::with_capacity(a.clients);
    let mut connect_errors = 0u64;
    let mut first_error = None;
    for i in 0..a.clients {
        match ws_connect(h.server.addr) {
            Ok((s, leftover)) => {
                let sh = shared.clone();
                let t = std::thread::Builder::new()
                    .name(format!("bench-ws-{i}"))
                    .stack_size(64 * 1024)
                    .spawn(move || ws_client(s, leftover, sh));
                match t {
                    Ok(t) => threads.push(t),
                    Err(e) => {
                        connect_errors += 1;
                        first_error.get_or_insert_with(|| format!("spawning a client thread: {e}"));
                    }
                }
            }
            Err(e) => {
                connect_errors += 1;
                first_error.get_or_insert_with(|| format!("connecting: {e}"));
            }
        }
    }
    let connect_s = t0.elapsed().as_secs_f64();
    if let Some(e) = &first_error {
        note(format!("{connect_errors} clients failed; first: {e}"));
    }
    note(format!("{} clients connected in {connect_s:.2} s; phase 2: {} s with them", threads.len(), a.seconds));
    // Let the connection snapshots drain before the window opens.
    std::thread::sleep(Duration::from_millis(1500));

    let front = h.server.front().context("the server has no front")?;
    let before = front.stats();
    h.take_samples()?;
    shared.counting.store(true, Ordering::SeqCst);
    let window = Instant::now();
    let total = a.frames_per_second as u64 * a.seconds;
    let every = Duration::from_secs_f64(1.0 / a.frames_per_second as f64);
    let mut sent = 0u64;
    for k in 0..total {
        let due = window + every.mul_f64(k as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let ns = shared.start.elapsed().as_nanos() as u64;
        let text = format!(r#"{{"type":"log","data":{{"level":"bench","message":"bench frame {k}","seq":{k},"sent_ns":{ns}}}}}"#);
        if front.broadcaster.send(Frame::new(Topic::Log, text)) {
            sent += 1;
        }
    }
    let wait_until = window + Duration::from_secs(a.seconds);
    if let Some(d) = wait_until.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
    shared.counting.store(false, Ordering::SeqCst);
    let window_s = window.elapsed().as_secs_f64();
    let load = Pct::of(h.take_samples()?);
    // Give the last bench frames time to arrive, then stop the clients.
    std::thread::sleep(Duration::from_millis(1000));
    let after = front.stats();
    shared.stop.store(true, Ordering::SeqCst);
    let tallies: Vec<WsTally> = threads.into_iter().filter_map(|t| t.join().ok()).collect();

    let metric_max = tallies.iter().map(|t| t.metric_frames).max().unwrap_or(0);
    let metric_min = tallies.iter().map(|t| t.metric_frames).min().unwrap_or(0);
    // A metric frame may fall on either side of the window's edges for a given client: allow one.
    let metric_short = tallies.iter().filter(|t| t.metric_frames + 1 < metric_max).count();
    let bench_complete = tallies.iter().filter(|t| t.bench_frames == sent).count();
    let closed_early = tallies.iter().filter(|t| t.closed_early).count();
    let bytes: u64 = tallies.iter().map(|t| t.bytes).sum();
    let delivery = Pct::of(tallies.into_iter().flat_map(|t| t.latencies_ns).collect());
    println!(
        "{}",
        json!({
            "bench": "ws",
            "clients": a.clients,
            "clients_connected": a.clients as u64 - connect_errors,
            "connect_seconds": (connect_s * 100.0).round() / 100.0,
            "seconds": a.seconds,
            "replay_speed": a.replay_speed,
            "metric_frames_per_client": { "max": metric_max, "min": metric_min, "clients_short_by_more_than_1": metric_short, "window_seconds": (window_s * 100.0).round() / 100.0 },
            "bench_frames_sent": sent,
            "clients_with_every_bench_frame": bench_complete,
            "clients_closed_early": closed_early,
            "delivery_latency_us": delivery.json(1000.0),
            "front": {
                "frames_sent_in_window": after.frames_sent - before.frames_sent,
                "ws_dropped_slow": after.ws_dropped_slow,
                "broadcast_dropped": after.broadcast_dropped,
            },
            "client_bytes_received": bytes,
            "core_tick_to_intent_ns_idle": idle.json(1.0),
            "core_tick_to_intent_ns_with_clients": load.json(1.0),
            "core_p99_change_pct": change_pct(idle.p99, load.p99),
        })
    );
    Ok(())
}
