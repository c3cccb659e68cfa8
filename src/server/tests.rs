//! The server's lifecycle end to end in-process: build, recover, start, shut down, restart.

use super::*;
use pinion_http::api::Request;

fn config(dir: &std::path::Path) -> ServeConfig {
    ServeConfig { bind: "127.0.0.1:0".into(), data_dir: dir.to_path_buf(), replay_speed: 100.0, ..ServeConfig::default() }
}

fn post(app: &App, path: &str, body: &str) -> u16 {
    pinion_http::server::dispatch(app, &Request::post_json(path, body)).status
}

/// The three steps, then a shutdown that joins every thread, writes a final snapshot covering the
/// journal's last record and closes the journal cleanly: the next start (same data directory)
/// recovers what the first one acknowledged.
#[test]
fn shutdown_joins_every_thread_and_a_restart_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::build(&config(dir.path())).and_then(Built::recover).and_then(Recovered::start_io).expect("start");
    let body =
        r#"{"asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross", "stop_loss_type": "PIPS", "stop_loss_value": 10}"#;
    assert_eq!(post(&server.app, "/api/operations", body), 201);
    assert_eq!(post(&server.app, "/api/operations/1/pause", ""), 200);
    let app = Arc::downgrade(&server.app);
    let stopped = server.shutdown();
    assert!(app.upgrade().is_none(), "every thread holding the App has been joined");
    assert!(stopped.final_snapshot.is_some(), "{stopped:?}");
    assert_eq!(stopped.final_snapshot, stopped.journal_seq, "the final snapshot covers the journal's last record");
    let newest = pinion_io::journal::snapshot::seqs(crate::snapshots::dir(dir.path())).expect("snapshots").first().copied();
    assert_eq!(newest, stopped.final_snapshot, "{stopped:?}");

    let server = Server::start(&config(dir.path())).expect("restart");
    let op = server.app.read.read().operations.first().map(|o| (o.id, o.book));
    assert_eq!(op.map(|o| o.0), Some(1));
    let book = op.map(|o| o.1).expect("operation");
    let status = server.app.call(move |e| e.book(book).map(|b| b.status)).expect("core");
    assert_eq!(status, Some(pinion_core::events::BookStatus::Paused));
    server.shutdown();
}
