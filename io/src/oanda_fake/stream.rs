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
use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

/// How long a stalled pricing stream sleeps between checks.
const STALL_POLL: Duration = Duration::from_millis(5);

fn send<W: Write>(w: &mut W, v: &Value) -> bool {
    write_chunk(w, v.to_string().as_bytes()).is_ok()
}

/// Serves a pricing stream of the instruments `insts` until the client leaves, a fault cuts the
/// connection or the fake stops.
pub(crate) fn serve_pricing(sh: &Shared, mut w: TcpStream, insts: Vec<usize>, request_id: &str) {
    let (rx, snapshot) = {
        let mut st = sh.state();
        let rx = st.subscribe_prices();
        let snap: Vec<Value> = insts
            .iter()
            .filter_map(|&i| st.market.latest(i).map(|q| shapes::client_price(&sh.cfg.instruments[i], q, sh.cfg.liquidity)))
            .collect();
        (rx, snap)
    };
    if write_stream_head(&mut w, request_id).is_err() || !snapshot.iter().all(|p| send(&mut w, p)) {
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
            Ok((i, q)) => {
                if insts.contains(&i) && !send(&mut w, &price(i, q)) {
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
            if !send(&mut w, &beat) {
                return;
            }
            next_beat = now + every;
            continue;
        }
        if pull && sh.state().step() {
            continue;
        }
        match rx.recv_timeout(next_beat.saturating_duration_since(now).min(POLL)) {
            Ok((i, q)) => {
                if insts.contains(&i) && !send(&mut w, &price(i, q)) {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Serves the transaction stream until the client leaves, a fault cuts it or the fake stops.
pub(crate) fn serve_transactions(sh: &Shared, mut w: TcpStream, request_id: &str) {
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
            if !pending.iter().chain(std::iter::once(&beat)).all(|v| send(&mut w, v)) {
                return;
            }
            next_beat = now + every;
            continue;
        }
        match rx.recv_timeout(next_beat.saturating_duration_since(now).min(POLL)) {
            Ok(t) => {
                if !send(&mut w, &t) {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
