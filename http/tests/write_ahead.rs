//! Write-ahead state changes against a real core thread: a change is journaled before it applies, a
//! journal failure answers 503 and leaves the engine untouched, a change the state does not admit is
//! refused before anything is journaled, and the journal sees every change in the order it applied.

use pinion_core::broker::PaperConfig;
use pinion_core::change::{Change, JournaledChange};
use pinion_core::engine::event_ring::RingSink;
use pinion_core::engine::pipeline::{spawn_core, Command, CoreConfig};
use pinion_core::engine::{ChangeResources, Engine};
use pinion_core::events::{BookStatus, OperationAction};
use pinion_core::fixed::{Money, Rate};
use pinion_core::instrument::InstrumentTable;
use pinion_core::order::BookId;
use pinion_core::risk::{RiskEngine, RiskLimits};
use pinion_core::tick::Tick;
use pinion_http::api::Request;
use pinion_http::app::{App, Durability, HttpConfig};
use pinion_http::extensions::Extensions;
use pinion_http::readmodel::ReadModel;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Keeps what it is given, or fails every record while `failing` is set.
#[derive(Default)]
struct TestJournal {
    records: Mutex<Vec<JournaledChange>>,
    failing: AtomicBool,
}

impl Durability for TestJournal {
    fn record(&self, record: &JournaledChange) -> Result<(), String> {
        if self.failing.load(Ordering::SeqCst) {
            return Err("fsync failed: No space left on device (injected)".into());
        }
        self.records.lock().unwrap().push(record.clone());
        Ok(())
    }
}

struct Rig {
    app: Arc<App>,
    journal: Arc<TestJournal>,
    _ticks: rtrb::Producer<Tick>,
}

fn rig() -> Rig {
    let table = InstrumentTable::builtin();
    let paper = PaperConfig { starting_balance: Money::from_units(100_000), commission_rate: Rate::from_f64(0.00002).unwrap() };
    let mut engine = Engine::new(table.clone(), paper);
    engine.set_risk(Some(RiskEngine::new(RiskLimits::default())));
    let (sink, events) = RingSink::new(1 << 12);
    let (commands_tx, commands_rx) = crossbeam_channel::bounded::<Command>(64);
    let read = Arc::new(ReadModel::new(table.clone(), paper.starting_balance));
    let journal = Arc::new(TestJournal::default());
    let app = Arc::new(App {
        commands: commands_tx,
        read: read.clone(),
        instruments: table,
        fed_instruments: vec!["EUR_USD".into()],
        config: HttpConfig::default(),
        durability: journal.clone(),
        started: Instant::now(),
        extensions: Extensions::default(),
        changes: Mutex::new(()),
        live: None,
    });
    let status: pinion_http::publisher::StatusFn = Arc::new(|_| serde_json::json!({}));
    std::mem::forget(pinion_http::publisher::start(events, read, None, status, None, Default::default()).unwrap());
    let (producer, consumer) = rtrb::RingBuffer::<Tick>::new(16);
    let cfg = CoreConfig { exit_when_feed_ends: false, ..CoreConfig::default() };
    std::mem::forget(spawn_core(engine, consumer, commands_rx, sink, cfg).unwrap());
    Rig { app, journal, _ticks: producer }
}

fn post(app: &App, path: &str, body: &str) -> pinion_http::api::Reply {
    pinion_http::server::dispatch(app, &Request::post_json(path, body))
}

const CREATE: &str = r#"{"asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
    "strategy_config": {"fast": 5, "slow": 20}, "stop_loss_type": "PIPS", "stop_loss_value": 10}"#;

fn status(app: &App, book: u32) -> Option<BookStatus> {
    app.call(move |e| e.book(BookId(book)).map(|b| b.status)).unwrap()
}

#[test]
fn a_journal_failure_answers_503_and_nothing_applies() {
    let r = rig();
    assert_eq!(post(&r.app, "/api/operations", CREATE).status, 201);
    r.journal.failing.store(true, Ordering::SeqCst);

    let reply = post(&r.app, "/api/operations/1/pause", "");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body["detail"].as_str().unwrap().contains("not applied"), "{}", reply.body);
    assert_eq!(status(&r.app, 0), Some(BookStatus::Active), "a pause that was not journaled must not apply");

    let reply = post(&r.app, "/api/operations", CREATE);
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(r.app.call(|e| e.books().len()).unwrap(), 1, "a create that was not journaled must not apply");
    assert_eq!(r.app.read.read().operations.len(), 1);

    let reply = post(&r.app, "/risk/update", r#"{"daily_loss_limit_pct": 2.5}"#);
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(r.app.call(|e| e.risk().unwrap().limits.daily_loss_limit_pct).unwrap(), 5.0);

    // The engine goes on: once the journal works again, the same changes apply.
    r.journal.failing.store(false, Ordering::SeqCst);
    assert_eq!(post(&r.app, "/api/operations/1/pause", "").status, 200);
    assert_eq!(status(&r.app, 0), Some(BookStatus::Paused));
    let kinds: Vec<&str> = r.journal.records.lock().unwrap().iter().map(|c| c.change.name()).collect();
    assert_eq!(kinds, ["operation_created", "operation_paused"]);
}

#[test]
fn a_change_the_state_refuses_is_never_journaled() {
    let r = rig();
    assert_eq!(post(&r.app, "/api/operations", CREATE).status, 201);
    let reply = post(&r.app, "/api/operations/1/resume", "");
    assert_eq!(reply.status, 409, "{}", reply.body);
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(detail.contains("operation 1") && detail.contains("resume") && detail.contains("active"), "{detail}");
    assert_eq!(r.journal.records.lock().unwrap().len(), 1, "only the create is journaled");
    // Straight to the core: the same refusal, typed.
    let refused = r
        .app
        .propose(Change::OperationLifecycle { op_id: 1, book: BookId(0), action: OperationAction::Resume }, ChangeResources::default());
    assert_eq!(refused.unwrap_err().status, 409);
    assert_eq!(r.journal.records.lock().unwrap().len(), 1);
}

#[test]
fn changes_are_journaled_with_increasing_numbers_before_they_apply() {
    let r = rig();
    assert_eq!(post(&r.app, "/api/operations", CREATE).status, 201);
    assert_eq!(post(&r.app, "/api/operations/1/pause", "").status, 200);
    assert_eq!(post(&r.app, "/risk/update", r#"{"max_concurrent_positions": 3}"#).status, 200);
    assert_eq!(post(&r.app, "/api/operations/1/resume", "").status, 200);
    let recs = r.journal.records.lock().unwrap().clone();
    assert_eq!(recs.iter().map(|c| c.cmd).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(r.app.call(|e| e.commands_applied()).unwrap(), 4);
    match &recs[0].change {
        Change::OperationCreated { op_id, book, spec } => {
            assert_eq!((*op_id, *book), (1, BookId(0)));
            assert_eq!(spec.initial_capital, Money::from_units(10_000), "defaults are filled in before journaling");
        }
        other => panic!("first record {other:?}"),
    }
    match &recs[2].change {
        Change::RiskUpdated { limits } => assert_eq!(limits.max_concurrent_positions, 3),
        other => panic!("third record {other:?}"),
    }
}

#[test]
fn create_bodies_are_strict() {
    let r = rig();
    let dup = r#"{"asset": "EUR_USD", "asset": "AUD_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross"}"#;
    let reply = post(&r.app, "/api/operations", dup);
    assert_eq!(reply.status, 400);
    assert!(reply.body["detail"].as_str().unwrap().contains("duplicate key \"asset\""), "{}", reply.body);
    let reply = post(
        &r.app,
        "/api/operations",
        r#"{"asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross", "initial_capital": 0.001}"#,
    );
    assert_eq!(reply.status, 400);
    assert!(reply.body["detail"].as_str().unwrap().starts_with("initial_capital:"), "{}", reply.body);
    let reply = post(&r.app, "/api/operations", r#"{"asset": "EUR_USD", "bar_sizes": ["1 min", 5], "strategy_name": "ema_cross"}"#);
    assert!(reply.body["detail"].as_str().unwrap().starts_with("bar_sizes[1]:"), "{}", reply.body);
    let reply = post(
        &r.app,
        "/api/operations",
        r#"{"asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross", "stop_loss_type": "NOPE"}"#,
    );
    assert!(reply.body["detail"].as_str().unwrap().starts_with("stop_loss_type:"), "{}", reply.body);
    let reply =
        post(&r.app, "/api/operations", r#"{"asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross", "colour": 1}"#);
    assert!(reply.body["detail"].as_str().unwrap().contains("colour"), "{}", reply.body);
    assert!(r.journal.records.lock().unwrap().is_empty());
}
