//! The end of a running [`Server`]: its threads stopped and joined in dependency order, a final
//! snapshot from the stopped engine, the journal closed, and WebSocket clients told the server is going
//! away. A dropped server stops the same way.

use super::{Server, Stopped, REST_GRACE};
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Instant;

impl Server {
    /// Stops and joins every thread, in order: the front stops accepting and lets the REST exchanges in
    /// flight finish (at most [`REST_GRACE`]), the REST workers, the feed and the snapshot thread, the
    /// core (between tick batches; its last events the publisher then drains), the publisher; then a
    /// final snapshot of the stopped engine with the read model (when the journal is on), the journal
    /// (its queue flushed and closed), and last the front, which closes WebSocket clients with 1001.
    pub fn shutdown(mut self) -> Stopped {
        self.stop_all()
    }

    fn stop_all(&mut self) -> Stopped {
        let t0 = Instant::now();
        let mut out = Stopped::default();
        if let Some(f) = &self.front {
            out.cut_off = f.drain(REST_GRACE);
        }
        if let Some(r) = self.rest.take() {
            r.stop();
        }
        self.feed_stop.store(true, Ordering::Release);
        self.snapshots_stop.store(true, Ordering::Release);
        join("feed", self.feed.take());
        if let Some(p) = self.pricing.take() {
            p.stop();
        }
        if let Some(x) = self.live_exec.take() {
            x.stop();
        }
        if let Some(l) = &self.live {
            l.stop();
        }
        join("snapshot", self.snapshots.take());
        join("storage watch", self.storage_watch.take());
        join("recovery wait", self.recovery_wait.take());
        let engine = self.core.take().and_then(|core| {
            core.request_stop();
            core.join().map(|(engine, _sink, _stats)| engine).map_err(|_| log::error!("the core thread panicked")).ok()
        });
        if let Some(p) = self.publisher.take() {
            p.stop();
        }
        if let Some(j) = self.journal.take() {
            if let Some(engine) = &engine {
                out.ticks = Some(engine.ticks_processed());
                let quiet = crate::snapshots::Quiet::Shutdown;
                match crate::snapshots::write_quiet(&self.snapshot_dir, &j.handle, engine, &self.app, &self.session_api, quiet) {
                    Ok(seq) => out.final_snapshot = seq,
                    Err(e) => log::error!("final snapshot failed (the journal still holds everything): {e:#}"),
                }
            }
            out.journal_seq = Some(j.handle.last_queued_seq());
            if let Err(e) = j.handle.close() {
                log::error!("closing the journal: {e}");
            }
            match j.thread.join() {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => log::error!("the journal thread ended with an error: {e}"),
                Err(_) => log::error!("the journal thread panicked"),
            }
        }
        // What is journaled leaves for NATS too (for at most EXPORT_DRAIN; the rest when NATS is back).
        if let Some(x) = self.events_export.take() {
            x.stop(crate::event_export::EXPORT_DRAIN);
        }
        // Everything the publisher handed over is written before the process ends.
        self.history.close();
        if let Some(f) = self.front.take() {
            f.stop();
        }
        out.elapsed = t0.elapsed();
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // After `shutdown` everything is taken already and this does nothing.
        self.stop_all();
    }
}

fn join(what: &str, handle: Option<JoinHandle<()>>) {
    if let Some(h) = handle {
        if h.join().is_err() {
            log::error!("the {what} thread panicked");
        }
    }
}
