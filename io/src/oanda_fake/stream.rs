//! The two chunked streams: pricing (pricing-ep, "Price Stream": `PRICE` lines for the requested
//! instruments and a `HEARTBEAT` every `heartbeat_every`) and transactions (transaction-ep,
//! "Transaction Stream": every new transaction and a `HEARTBEAT` with `lastTransactionID`). One JSON
//! object per line, one line per chunk. A pricing stream first sends the current price of each
//! instrument; at speed 0 an idle pricing stream pulls the next recorded tick itself.

use super::http::{write_chunk, write_stream_head};
use super::shapes;
use super::shared::{Shared, POLL};
use crossbeam_channel::{RecvTimeoutError, TryRecvError};
use serde_json::Value;
use std::io::{BufWriter, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

/// How long a stalled pricing stream sleeps between checks.
const STALL_POLL: Duration = Duration::from_millis(5);
/// Buffered stream bytes that force a flush while prices keep coming.
const FLUSH_AT: usize = 32 * 1024;

/// Writes one line; flushes when `flush` or when the buffer is full.
fn send(w: &mut BufWriter<TcpStream>, v: &Value, flush: bool) -> bool {
    write_chunk(w, v.to_string().as_bytes()).is_ok() && (!(flush || w.buffer().len() >= FLUSH_AT) || w.flush().is_ok())
}

/// Serves a pricing stream of the instruments `insts` until the client leaves, a fault cuts the
/// connection or the fake stops.
pub(crate) fn serve_pricing(sh: &Shared, w: TcpStream, insts: Vec<usize>, snapshot: bool, request_id: &str) {
    let mut w = BufWriter::with_capacity(2 * FLUSH_AT, w);
    let (rx, snapshot) = {
        let mut st = sh.state();
        let rx = st.subscribe_prices();
        let snap: Vec<Value> = insts
            .iter()
            .filter(|_| snapshot)
            .filter_map(|&i| st.market.latest(i).map(|q| shapes::client_price(&sh.cfg.instruments[i], q, sh.cfg.liquidity)))
            .collect();
        (rx, snap)
    };
    if write_stream_head(&mut w, request_id).is_err() || !snapshot.iter().all(|p| send(&mut w, p, true)) {
        return;
    }
    let every = sh.cfg.heartbeat_every;
    let pull = sh.cfg.speed == 0.0;
    let mut next_beat = Instant::now() + every;
    let price = |i: usize, q| shapes::client_price(&sh.cfg.instruments[i], q, sh.cfg.liquidity);
    while !sh.stopping() {
        if sh.faults.pricing_stalled() {
            thread::sleep(STALL_POLL);
            continue;
        }
        match rx.try_recv() {
            // Lines queue in the buffer while prices keep coming; it is flushed before waiting.
            Ok((i, q)) => {
                if insts.contains(&i) && !send(&mut w, &price(i, q), false) {
                    return;
                }
                continue;
            }
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {}
        }
        let now = Instant::now();
        if now >= next_beat {
            let beat = shapes::pricing_heartbeat(sh.state().market.now_ns());
            if !send(&mut w, &beat, true) {
                return;
            }
            next_beat = now + every;
            continue;
        }
        if pull && sh.state().step() {
            continue;
        }
        if w.flush().is_err() {
            return;
        }
        match rx.recv_timeout(next_beat.saturating_duration_since(now).min(POLL)) {
            Ok((i, q)) => {
                if insts.contains(&i) && !send(&mut w, &price(i, q), rx.is_empty()) {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Serves the transaction stream until the client leaves, a fault cuts it or the fake stops.
pub(crate) fn serve_transactions(sh: &Shared, w: TcpStream, request_id: &str) {
    let mut w = BufWriter::new(w);
    let rx = sh.state().subscribe_transactions();
    if write_stream_head(&mut w, request_id).is_err() {
        return;
    }
    let every = sh.cfg.heartbeat_every;
    let mut next_beat = Instant::now() + every;
    while !sh.stopping() {
        let now = Instant::now();
        if now >= next_beat {
            // Drain under the lock (transactions are published under it) so the heartbeat's
            // lastTransactionID never runs ahead of the lines already sent.
            let (pending, beat) = {
                let st = sh.state();
                (rx.try_iter().collect::<Vec<Value>>(), shapes::transaction_heartbeat(st.market.now_ns(), st.ledger.last_id()))
            };
            if !pending.iter().chain(std::iter::once(&beat)).all(|v| send(&mut w, v, true)) {
                return;
            }
            next_beat = now + every;
            continue;
        }
        match rx.recv_timeout(next_beat.saturating_duration_since(now).min(POLL)) {
            Ok(t) => {
                if !send(&mut w, &t, true) {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
