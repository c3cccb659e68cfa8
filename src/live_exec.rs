//! Live order execution at OANDA, wired between the engine and the broker: the publisher hook hands over
//! each order request once the batch that submitted it is journaled; an executor thread sends it (the
//! core never waits on the network) and proposes the answer as a `VenueReported` change, journaled
//! before the core applies it like every change; a watcher proposes the fills OANDA made on its own
//! (stops, targets, closes elsewhere) the same way. Orders still awaiting a report after a restart are
//! looked up by their client id before anything is sent: nothing is ever sent twice. A reconciler
//! (`live_reconcile`) compares positions with OANDA once a minute and after each reconnect.

use crate::live::Live;
use pinion_core::broker::VenueReport;
use pinion_core::change::Change;
use pinion_core::engine::ChangeResources;
use pinion_core::events::EngineEvent;
use pinion_core::fixed::{parse_decimal, Price, Quantity};
use pinion_core::instrument::{InstrumentId, InstrumentTable};
use pinion_core::order::{BookId, OrderId, OrderPurpose};
use pinion_http::app::App;
use pinion_io::oanda::orders::{parse_client_id, Executed, OrderClient, OrderToSend};
use pinion_io::oanda::pricing::FeedChange;
use pinion_io::oanda::rest::RestClient;
use pinion_io::oanda::transactions::{self, TradeClose, TransactionWatcher};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// OANDA trade id -> the book and instrument holding it.
type TradeBooks = Arc<Mutex<HashMap<String, (BookId, InstrumentId)>>>;

/// The running execution side.
pub struct LiveExec {
    orders: crossbeam_channel::Sender<OrderToSend>,
    stop: Arc<AtomicBool>,
    executor: Option<JoinHandle<()>>,
    watcher: Option<TransactionWatcher>,
    table: InstrumentTable,
    maybe_sent: HashSet<OrderId>,
    reconciler: Option<crate::live_reconcile::Reconciler>,
}

/// Proposes a report until it is journaled and applied (retrying while storage or the engine is
/// unavailable); a refusal (a report already applied) is logged and dropped.
fn propose(app: &Weak<App>, stop: &AtomicBool, report: VenueReport) {
    loop {
        let Some(app) = app.upgrade() else { return };
        match app.propose(Change::VenueReported { report: report.clone() }, ChangeResources::default()) {
            Ok(_) => return,
            Err(e) if e.status == 503 && !stop.load(Ordering::Acquire) => {
                drop(app);
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => {
                log::warn!(target: "pinion::broker", "a broker report was not applied ({}): {report:?}", e.detail);
                return;
            }
        }
    }
}

fn close_report(c: &TradeClose, book: BookId, instrument: InstrumentId, table: &InstrumentTable) -> Option<VenueReport> {
    let inst = table.try_get(instrument)?;
    let quantity = parse_decimal(c.units.as_bytes(), inst.size_precision).ok()?;
    let price = parse_decimal(c.price.as_bytes(), inst.price_precision).ok()?;
    let purpose = match c.reason.as_str() {
        "STOP_LOSS_ORDER" | "TRAILING_STOP_LOSS_ORDER" | "GUARANTEED_STOP_LOSS_ORDER" => OrderPurpose::StopLoss,
        "TAKE_PROFIT_ORDER" => OrderPurpose::TakeProfit,
        _ => OrderPurpose::Close,
    };
    Some(VenueReport::ClosedAtVenue {
        book,
        instrument,
        purpose,
        quantity: Quantity(quantity),
        price: Price(price),
        ts_ns: pinion_core::time::parse_iso(&c.time).unwrap_or(0),
        venue_txn: c.transaction_id,
    })
}

impl LiveExec {
    /// Starts the executor and the transactions watcher. `awaiting` are the orders the recovered engine
    /// still awaits a report for (looked up before sending); `last_venue_txn` the last OANDA fill it
    /// applied (the watcher catches up from there, else from the account's latest transaction).
    pub fn start(
        live: &Live,
        app: Weak<App>,
        table: InstrumentTable,
        awaiting: Vec<OrderId>,
        last_venue_txn: u64,
        telemetry: Arc<pinion_core::telemetry::Telemetry>,
    ) -> std::io::Result<LiveExec> {
        let stop = Arc::new(AtomicBool::new(false));
        let app_for_reconciler = app.clone();
        let trades: TradeBooks = Arc::new(Mutex::new(HashMap::new()));
        for t in live.open_trades_at_start() {
            let ours = t.clientExtensions.as_ref().and_then(|c| c.id.as_deref()).and_then(parse_client_id);
            if let (Some((book, _)), Some(inst)) = (ours, table.find(&t.instrument)) {
                trades.lock().unwrap_or_else(|p| p.into_inner()).insert(t.id.clone(), (book, inst));
            }
        }
        let (tx, rx) = crossbeam_channel::unbounded::<OrderToSend>();
        let client = OrderClient::new(live.cfg.clone(), Duration::from_secs(10));
        let (stop2, app2, trades2) = (stop.clone(), app.clone(), trades.clone());
        let executor = std::thread::Builder::new().name("pinion-oanda-orders".into()).spawn(move || {
            while !stop2.load(Ordering::Acquire) {
                let Ok(mut o) = rx.recv_timeout(Duration::from_millis(200)) else { continue };
                loop {
                    let sent = Instant::now();
                    let answer = client.execute(&o);
                    // Request -> answer (lookups of an unknown outcome included), for the metrics.
                    telemetry.broker_rtt().record_shared(sent.elapsed().as_nanos() as u64);
                    match answer {
                        Ok(Executed { report, trade_opened }) => {
                            if let Some(t) = trade_opened {
                                trades2.lock().unwrap_or_else(|p| p.into_inner()).insert(t, (o.order.book, o.order.instrument));
                            }
                            propose(&app2, &stop2, report);
                            break;
                        }
                        Err(e) => {
                            // The outcome is unknown: never send again, only look it up until it is known.
                            log::warn!(target: "pinion::broker", "order {}: {e}; looking it up again in 1 s", o.order.id);
                            o.maybe_sent = true;
                            if stop2.load(Ordering::Acquire) {
                                return;
                            }
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                }
            }
        })?;
        let rest = RestClient::new(live.cfg.clone(), Duration::from_secs(10));
        let (stop3, table3) = (stop.clone(), table.clone());
        let from = if last_venue_txn > 0 { last_venue_txn } else { live.last_transaction_at_start() };
        let watcher = transactions::start(
            live.cfg.clone(),
            from,
            Box::new(move |c: TradeClose| {
                let known = trades.lock().unwrap_or_else(|p| p.into_inner()).get(&c.trade_id).copied();
                // A trade this process did not see open: its client id says whose it is.
                let owner = known.or_else(|| {
                    let t = rest.trade(&c.trade_id).ok()?;
                    let (book, _) = t.clientExtensions.as_ref().and_then(|x| x.id.as_deref()).and_then(parse_client_id)?;
                    Some((book, table3.find(&t.instrument)?))
                });
                match owner.and_then(|(book, inst)| close_report(&c, book, inst, &table3)) {
                    Some(r) => propose(&app, &stop3, r),
                    None => log::warn!(
                        target: "pinion::broker",
                        "OANDA closed trade {} ({} {} units at {}, {}): not pinion's, left alone",
                        c.trade_id,
                        c.instrument,
                        c.units,
                        c.price,
                        c.reason
                    ),
                }
            }),
        )?;
        // Outside trades were reported at start (`Live::connect`); the reconciler reports new ones.
        let reported = live
            .open_trades_at_start()
            .into_iter()
            .filter(|t| t.clientExtensions.as_ref().and_then(|c| c.id.as_deref()).and_then(parse_client_id).is_none())
            .map(|t| t.id)
            .collect();
        let reconciler = crate::live_reconcile::Reconciler::start(
            app_for_reconciler,
            RestClient::new(live.cfg.clone(), Duration::from_secs(10)),
            table.clone(),
            reported,
        )?;
        Ok(LiveExec {
            reconciler: Some(reconciler),
            orders: tx,
            stop,
            executor: Some(executor),
            watcher: Some(watcher),
            table,
            maybe_sent: awaiting.into_iter().collect(),
        })
    }

    /// The publisher's after-durable step: hands each journaled order request to the executor.
    pub fn forwarder(&self) -> crate::durable::AfterDurable {
        let (tx, table, maybe_sent) = (self.orders.clone(), self.table.clone(), self.maybe_sent.clone());
        Box::new(move |batch: &[EngineEvent]| {
            for e in batch {
                let EngineEvent::OrderRequest { order, stop_loss, take_profit } = *e else { continue };
                let Some(inst) = table.try_get(order.instrument) else { continue };
                let _ = tx.send(OrderToSend {
                    order,
                    instrument: inst.symbol.clone(),
                    price_precision: inst.price_precision,
                    size_precision: inst.size_precision,
                    stop_loss,
                    take_profit,
                    maybe_sent: maybe_sent.contains(&order.id),
                });
            }
        })
    }

    /// The pricing stream's callback: each change of the feed's state becomes a journaled report, so
    /// the engine refuses entries while prices are stale, and a replay does exactly the same.
    pub fn feed_reporter(&self, app: Weak<App>) -> Box<dyn Fn(&FeedChange) + Send> {
        let stop = self.stop.clone();
        let reconcile_now = self.reconciler.as_ref().map(|r| r.now.clone());
        Box::new(move |c: &FeedChange| {
            let stale = matches!(c, FeedChange::Stale(_));
            if let (false, Some(now)) = (stale, &reconcile_now) {
                // Back after a reconnect: compare with OANDA at once.
                now.store(true, Ordering::Release);
            }
            propose(&app, &stop, VenueReport::FeedStale { stale });
        })
    }

    /// Stops both threads (an order being sent is finished and proposed first when it can be).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(r) = self.reconciler.take() {
            r.stop();
        }
        if let Some(w) = self.watcher.take() {
            w.stop();
        }
        if let Some(h) = self.executor.take() {
            let _ = h.join();
        }
    }
}
