//! Reconciliation with OANDA while trading. Once a minute, and after every reconnect of the pricing
//! stream, pinion's position in each book and instrument is compared with the units OANDA holds in
//! the trades carrying that book's client ids (`pinion-<book>-<order>`). A pair with an order still
//! awaiting OANDA's answer is skipped (its position is known only once the report is in), and a
//! difference must still be there a few seconds later, after the transactions watcher has booked
//! what OANDA did meanwhile, before it counts. A lasting difference is logged and journaled as a
//! [`Change::VenueReconciled`] (pinion never trades to make it go away: a trader looks at it). Trades
//! opened outside pinion are reported once each and left alone.
//!
//! The fills OANDA made on its own are booked by the transactions watcher (`pinion_io::oanda::
//! transactions`), which also re-reads `sinceid` once a minute; this thread only compares.

use pinion_core::change::Change;
use pinion_core::engine::ChangeResources;
use pinion_core::fixed::parse_decimal;
use pinion_core::instrument::InstrumentTable;
use pinion_http::app::App;
use pinion_io::oanda::orders::parse_client_id;
use pinion_io::oanda::rest::RestClient;
use pinion_io::oanda::wire::Trade;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the positions are compared.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(60);
/// How long a difference must last before it counts (OANDA's own fills reach pinion within it).
const SETTLE: Duration = Duration::from_secs(3);

/// (book, instrument symbol) -> units in size steps.
type Holdings = BTreeMap<(u32, String), i64>;

/// The running reconciler.
pub struct Reconciler {
    stop: Arc<AtomicBool>,
    /// Set to ask for a check now (the pricing stream reconnected).
    pub now: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// What OANDA's open trades hold under pinion's client ids, and the trades opened outside pinion.
pub fn oanda_holdings<'a>(trades: &'a [Trade], table: &InstrumentTable) -> (Holdings, Vec<&'a Trade>) {
    let mut held = Holdings::new();
    let mut outside = Vec::new();
    for t in trades {
        let ours = t.clientExtensions.as_ref().and_then(|c| c.id.as_deref()).and_then(parse_client_id);
        let inst = table.find(&t.instrument).map(|i| table.get(i));
        match (ours, inst) {
            (Some((book, _)), Some(inst)) => {
                let units = parse_decimal(t.currentUnits.as_bytes(), inst.size_precision).unwrap_or(0);
                *held.entry((book.0, inst.symbol.clone())).or_default() += units;
            }
            _ => outside.push(t),
        }
    }
    held.retain(|_, u| *u != 0);
    (held, outside)
}

/// Reports a trade pinion did not open (it is never touched).
pub fn report_outside(t: &Trade) {
    log::warn!(
        target: "pinion::broker",
        "OANDA trade {} ({} {} units at {}) was not opened by pinion: reported, left alone",
        t.id,
        t.instrument,
        t.currentUnits,
        t.price
    );
}

/// The differences between pinion's and OANDA's holdings, skipping the pairs in `in_flight`.
pub fn differences(pinion: &Holdings, oanda: &Holdings, in_flight: &HashSet<(u32, String)>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&(u32, String)> = pinion.keys().chain(oanda.keys()).collect();
    keys.into_iter()
        .filter(|k| !in_flight.contains(*k))
        .filter_map(|k| {
            let (p, o) = (pinion.get(k).copied().unwrap_or(0), oanda.get(k).copied().unwrap_or(0));
            (p != o).then(|| format!("book {} {}: pinion holds {p} units, OANDA {o}", k.0, k.1))
        })
        .collect()
}

/// pinion's holdings per book and instrument, and the pairs with an order awaiting OANDA.
fn pinion_holdings(app: &App) -> Option<(Holdings, HashSet<(u32, String)>)> {
    app.call(|e| {
        let name = |i| e.instruments().try_get(i).map_or_else(|| "?".to_string(), |x| x.symbol.clone());
        let held: Holdings = e.broker().positions().map(|p| ((p.book.0, name(p.instrument)), p.quantity)).collect();
        let flying = e.broker().awaiting().iter().map(|a| (a.order.book.0, name(a.order.instrument))).collect();
        (held, flying)
    })
    .ok()
}

/// One comparison: the differences between pinion and OANDA now (None: OANDA or the engine could not
/// be read), reporting new outside trades once.
fn compare(app: &App, rest: &RestClient, table: &InstrumentTable, reported: &mut HashSet<String>) -> Option<Vec<String>> {
    let trades = match rest.open_trades() {
        Ok(t) => t,
        Err(e) => {
            log::warn!(target: "pinion::broker", "reconciliation: {e}; trying again at the next check");
            return None;
        }
    };
    let (theirs, outside) = oanda_holdings(&trades, table);
    for t in outside {
        if reported.insert(t.id.clone()) {
            report_outside(t);
        }
    }
    let (ours, flying) = pinion_holdings(app)?;
    Some(differences(&ours, &theirs, &flying))
}

impl Reconciler {
    /// Starts the thread; the first check runs a minute after start (start-up has reconciled).
    pub fn start(app: Weak<App>, rest: RestClient, table: InstrumentTable, reported: HashSet<String>) -> std::io::Result<Reconciler> {
        let stop = Arc::new(AtomicBool::new(false));
        let now = Arc::new(AtomicBool::new(false));
        let (stop2, now2) = (stop.clone(), now.clone());
        let handle = std::thread::Builder::new().name("pinion-oanda-reconcile".into()).spawn(move || {
            let mut reported = reported;
            let mut next = Instant::now() + RECONCILE_EVERY;
            let mut last_logged: Vec<String> = Vec::new();
            while !stop2.load(Ordering::Acquire) {
                if Instant::now() < next && !now2.swap(false, Ordering::AcqRel) {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                next = Instant::now() + RECONCILE_EVERY;
                let Some(app) = app.upgrade() else { return };
                let Some(first) = compare(&app, &rest, &table, &mut reported) else { continue };
                if first.is_empty() {
                    last_logged.clear();
                    continue;
                }
                // Give OANDA's own fills and pending answers time to reach pinion, then look again.
                std::thread::sleep(SETTLE);
                let Some(second) = compare(&app, &rest, &table, &mut reported) else { continue };
                let lasting: Vec<String> = second.into_iter().filter(|d| first.contains(d)).collect();
                if lasting.is_empty() || lasting == last_logged {
                    continue;
                }
                for d in &lasting {
                    log::error!(target: "pinion::broker", "reconciliation with OANDA: {d}; left as it is for a trader to look at");
                }
                if let Err(e) = app.propose(Change::VenueReconciled { differences: lasting.clone() }, ChangeResources::default()) {
                    log::error!(target: "pinion::broker", "reconciliation differences not journaled: {}", e.detail);
                }
                last_logged = lasting;
            }
        })?;
        Ok(Reconciler { stop, now, handle: Some(handle) })
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trade(id: &str, units: &str, client: Option<&str>) -> Trade {
        let mut v = serde_json::json!({
            "id": id, "instrument": "AUD_USD", "price": "0.67000", "openTime": "2020-01-30T15:00:00Z",
            "initialUnits": units, "currentUnits": units, "state": "OPEN"
        });
        if let Some(c) = client {
            v["clientExtensions"] = serde_json::json!({ "id": c });
        }
        serde_json::from_value(v).expect("a trade")
    }

    #[test]
    fn holdings_follow_client_ids_and_only_lasting_unexplained_differences_count() {
        let table = InstrumentTable::builtin();
        let trades = vec![
            trade("10", "1000", Some("pinion-2-5")),
            trade("11", "-300", Some("pinion-2-9")),
            trade("12", "-2000", None),
            trade("13", "500", Some("pinion-3-1")),
        ];
        let (theirs, outside) = oanda_holdings(&trades, &table);
        assert_eq!(outside.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["12"]);
        assert_eq!(theirs.get(&(2, "AUD_USD".into())), Some(&700));
        let mut ours = Holdings::new();
        ours.insert((2, "AUD_USD".into()), 700);
        ours.insert((4, "AUD_USD".into()), 100);
        let none = HashSet::new();
        let d = differences(&ours, &theirs, &none);
        assert_eq!(d, ["book 3 AUD_USD: pinion holds 0 units, OANDA 500", "book 4 AUD_USD: pinion holds 100 units, OANDA 0"]);
        let flying: HashSet<(u32, String)> = [(3, "AUD_USD".to_string())].into_iter().collect();
        assert_eq!(differences(&ours, &theirs, &flying).len(), 1, "a pair with an order in flight is not compared");
    }
}
