//! The publisher thread: drains the core's event ring, folds events into the read model (waking REST
//! calls that wait for their change), hands each batch to the journal hook, and pushes WebSocket frames:
//! `order` per order event, `positions` on change, `account` and `metric` once a second, `status` on
//! change and every 5 seconds. Each refused order is logged at WARN (see `logs`), which the server's
//! logger turns into a `log` frame. With a [`PublisherProbe`] it also feeds the metrics: the event
//! ring's fill, the `event_to_journal` hop, each order frame's origin (for `event_to_ws`), order and
//! fill counts, and the latest hop latencies in the `metric` frame.

use crate::metrics::PublisherProbe;
use crate::readmodel::{ReadModel, ReadState};
use crate::views;
use crate::ws::{Broadcaster, Frame, Topic};
use pinion_core::events::EngineEvent;
use pinion_core::records::OrderRecord;
use pinion_core::time::format_iso;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Renders the `status` frame's data from the read state.
pub type StatusFn = Arc<dyn Fn(&ReadState) -> Value + Send + Sync>;
/// Receives each batch before it is applied (the journal) and answers whether it is durable; a batch
/// that is not is never applied or shown, nor is anything after it.
pub type BatchHook = Box<dyn FnMut(&[EngineEvent]) -> bool + Send>;

/// Called with each account mark (the `account` frame's data), once every `account_every`, after the
/// batches before it were journaled: `--events-to` journals marks so the export sends them in order.
pub type MarkHook = Box<dyn FnMut(&Value) + Send>;

pub struct PublisherConfig {
    pub account_every: Duration,
    pub status_every: Duration,
    /// Records into the metrics (None: nothing recorded).
    pub probe: Option<PublisherProbe>,
    /// The live broker whose account the `account` frame shows (None: the paper broker's).
    pub live: Option<Arc<dyn crate::live_account::LiveAccount>>,
    /// Receives every account mark (None: marks go only to WebSocket clients).
    pub on_mark: Option<MarkHook>,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            account_every: Duration::from_secs(1),
            status_every: Duration::from_secs(5),
            probe: None,
            live: None,
            on_mark: None,
        }
    }
}

/// The `account` frame's data: the paper broker's account.
pub fn account_data(s: &ReadState) -> Value {
    views::account::account_frame(s)
}

/// The `account` frame's data with a live broker: its account as it last reported it (the same
/// figures `/account/summary` shows), else the paper broker's.
pub fn account_data_with(s: &ReadState, live: Option<&dyn crate::live_account::LiveAccount>) -> Value {
    match live.map(|l| l.summary()) {
        Some(Ok(a)) => views::to_json(&views::account::AccountFrameView {
            balance: a.balance,
            NAV: a.NAV,
            equity: a.equity,
            unrealizedPL: a.unrealizedPL,
            pl: a.pl,
            commission: a.commission,
            marginUsed: a.marginUsed,
            openPositionCount: a.openPositionCount,
            timestamp: a.asOf,
        }),
        _ => account_data(s),
    }
}

/// The `metric` frame's data: equity, pnl, drawdown (1 - equity / peak), timestamp.
pub fn metric_data(s: &ReadState) -> Value {
    let a = s.account;
    json!({
        "equity": a.nav().as_f64(),
        "pnl": (a.nav() - s.starting_balance).as_f64(),
        "drawdown": s.equity.drawdown(),
        "timestamp": format_iso(a.ts_ns.max(s.now_ns)),
    })
}

fn order_frame(s: &ReadState, e: &EngineEvent) -> Option<Value> {
    let EngineEvent::Order { order, status, fill_price, reason, ts_ns } = *e else { return None };
    // The order as first sent with its new state (it may already have left the read model's window:
    // then the event's copy).
    let first = s.book(order.book).and_then(|b| b.order(order.id)).map_or(order, |r| r.order);
    let rec = OrderRecord { order: first, status, fill_price, reason, updated_ns: ts_ns, txn: 0 };
    let mut v = views::order(s, s.operation_of_book(order.book), &rec);
    if s.session_book == Some(order.book) {
        v["session"] = json!(true);
    }
    Some(v)
}

pub struct Publisher {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl Publisher {
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.handle.join();
    }
}

/// Starts the publisher thread.
pub fn start(
    mut events: rtrb::Consumer<EngineEvent>,
    read: Arc<ReadModel>,
    ws: Option<Broadcaster>,
    status: StatusFn,
    mut hook: Option<BatchHook>,
    mut cfg: PublisherConfig,
) -> std::io::Result<Publisher> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = std::thread::Builder::new().name("pinion-publisher".into()).spawn(move || {
        let mut last_account = Instant::now();
        let mut last_status = Instant::now();
        let mut durable_lost = false;
        let mut probe = cfg.probe.take();
        let mut on_mark = cfg.on_mark.take();
        let send_from = |topic: Topic, data: &Value, origin: u64| {
            if let Some(b) = &ws {
                if let Ok(f) = Frame::json(topic, data) {
                    b.send(f.with_origin(origin));
                }
            }
        };
        let send = |topic: Topic, data: &Value| send_from(topic, data, 0);
        // Events read after the last progress marker wait for theirs: the core ends every flush with one,
        // and the hook journals a batch's events with that marker before any of them become visible (a
        // flush the core is still pushing would otherwise show fills whose marker is not durable yet).
        let mut pending: Vec<EngineEvent> = Vec::with_capacity(8192);
        loop {
            let n = events.slots();
            if let Some(p) = &probe {
                p.ring(n, events.buffer().capacity());
            }
            if n > 0 {
                if let Ok(chunk) = events.read_chunk(n.min(8192)) {
                    let (a, b) = chunk.as_slices();
                    pending.extend_from_slice(a);
                    pending.extend_from_slice(b);
                    chunk.commit_all();
                }
            }
            let ready = pending.iter().rposition(|e| matches!(e, EngineEvent::Progress { .. })).map_or(0, |i| i + 1);
            let batch = &pending[..ready];
            if !batch.is_empty() && !durable_lost {
                if let Some(p) = probe.as_mut() {
                    p.begin(batch.len());
                }
                if let Some(h) = hook.as_mut() {
                    if !h(batch) {
                        // The journal failed for good: nothing from here on can be made durable, so
                        // nothing more becomes visible (the core holds; /health says why).
                        log::error!("events can no longer be journaled; nothing more is shown until a restart");
                        durable_lost = true;
                        pending.clear();
                        continue;
                    }
                    if let Some(p) = &probe {
                        p.journaled();
                    }
                }
                read.apply_batch(batch);
                if let Some(p) = &probe {
                    p.applied(batch);
                }
                // Each refused order is a WARN record (and so a `log` frame, after its `order` frame),
                // written here, off the core's tick path.
                let refused = crate::logs::refusals(&read.read(), batch);
                let errored = crate::logs::book_errors(&read.read(), batch);
                if ws.is_some() {
                    let mut status_changed = false;
                    let s = read.read();
                    for (i, e) in batch.iter().enumerate() {
                        if let Some(v) = order_frame(&s, e) {
                            send_from(Topic::Order, &v, probe.as_mut().map_or(0, |p| p.origin(i)));
                        }
                        status_changed |= matches!(e, EngineEvent::BookStatus { .. });
                    }
                    let dirty = s.positions_dirty;
                    if dirty {
                        send(Topic::Positions, &crate::account::positions_json(&s));
                    }
                    if status_changed {
                        send(Topic::Status, &status(&s));
                        last_status = Instant::now();
                    }
                    drop(s);
                    if dirty {
                        read.write().positions_dirty = false;
                    }
                }
                crate::logs::log_refusals(&refused);
                crate::logs::log_book_errors(&errored);
            }
            if (ws.is_some() || on_mark.is_some()) && last_account.elapsed() >= cfg.account_every {
                last_account = Instant::now();
                let s = read.read();
                read.recent.equity_point(crate::dashboard::recent::EquityPointView {
                    time: s.account.ts_ns.max(s.now_ns) as f64 / 1e9,
                    equity: s.account.nav().as_f64(),
                    balance: s.account.balance.as_f64(),
                    unrealized: s.account.unrealized.as_f64(),
                    drawdown: crate::views::round_dp(s.equity.drawdown(), 6),
                });
                let account = account_data_with(&s, cfg.live.as_deref());
                if let Some(h) = on_mark.as_mut().filter(|_| !durable_lost) {
                    h(&account);
                }
                send(Topic::Account, &account);
                let mut metric = metric_data(&s);
                if let Some(p) = &probe {
                    p.metric_frame(&mut metric);
                }
                send(Topic::Metric, &metric);
            }
            if ws.is_some() && last_status.elapsed() >= cfg.status_every {
                last_status = Instant::now();
                send(Topic::Status, &status(&read.read()));
            }
            pending.drain(..ready);
            if ready == 0 {
                if stop2.load(Ordering::Acquire) && events.slots() == 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    })?;
    Ok(Publisher { stop, handle })
}
