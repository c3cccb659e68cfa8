//! Watches the journal for storage faults and a live broker's price feed for staleness, and tells
//! clients: while the journal cannot write, the core holds (see `CoreConfig::hold`), the publisher waits
//! for durability, and nothing new becomes visible; this thread is what still speaks meanwhile. On each
//! change it sends a `status` frame (engine `halted` or `feed_stale` with the reason, then `running`
//! again); the journal and stream threads write the log lines.

use crate::live::Live;
use crate::session_api::SessionApi;
use pinion_http::live_account::LiveAccount;
use pinion_http::publisher::StatusFn;
use pinion_http::readmodel::ReadModel;
use pinion_http::ws::{Broadcaster, Frame, Topic};
use pinion_io::journal::JournalHandle;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the fault state is looked at.
const POLL: Duration = Duration::from_millis(100);

/// The `status` frame's data: the read model's, with the engine's state under a storage fault.
pub fn status_fn(session: Arc<SessionApi>, journal: Option<JournalHandle>, live: Option<Arc<Live>>) -> StatusFn {
    Arc::new(move |s| {
        let count = |st: &str| s.operations.iter().filter(|o| s.book_status(o.book).as_str() == st).count();
        let fault = journal.as_ref().and_then(JournalHandle::fault);
        let feed = live.as_ref().map(|l| l.feed());
        let engine = match (&fault, &feed) {
            (Some(_), _) => "halted",
            (None, Some(f)) if f.stale => "feed_stale",
            _ => "running",
        };
        let mut v = serde_json::json!({
            "engine": engine,
            "operations": { "total": s.operations.len(), "active": count("active"), "paused": count("paused"), "closed": count("closed") },
            "session": session.last_status.lock().map(|v| v.clone()).unwrap_or_default(),
            "timestamp": pinion_core::time::format_iso(s.now_ns),
        });
        if let Some(f) = fault {
            v["storage_fault"] = serde_json::Value::String(f);
        }
        if let Some(f) = feed {
            v["feed"] = serde_json::json!({ "connected": f.connected, "stale": f.stale, "reason": f.reason });
        }
        v
    })
}

/// Starts the watcher; it ends when `stop` is set.
pub fn start(
    journal: Option<JournalHandle>,
    live: Option<Arc<Live>>,
    read: Arc<ReadModel>,
    frames: Broadcaster,
    status: StatusFn,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("pinion-storage-watch".into()).spawn(move || {
        let mut was = (false, false);
        while !stop.load(Ordering::Acquire) {
            let fault = journal.as_ref().and_then(JournalHandle::fault);
            let now = (fault.is_some(), live.as_ref().is_some_and(|l| l.feed().stale));
            if now != was {
                was = now;
                // `try_read`: the publisher may hold the write lock while it waits on the journal.
                let data = match read.try_read() {
                    Some(s) => status(&s),
                    None => serde_json::json!({ "engine": if now.0 { "halted" } else { "running" }, "storage_fault": fault }),
                };
                if let Ok(f) = Frame::json(Topic::Status, &data) {
                    frames.send(f);
                }
            }
            std::thread::sleep(POLL);
        }
    })
}
