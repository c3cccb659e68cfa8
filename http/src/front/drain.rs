//! Draining the front before a shutdown: the listener is closed (no new connection is accepted), and
//! the connections that are not WebSocket clients (a request head being read, a client waiting for a
//! backend connection, a rejection being written, a proxied REST exchange) are let finish. The caller
//! waits until none is left or its grace period ends; WebSocket clients stay connected (they get the
//! last frames) until [`FrontHandle::stop`] closes them with 1001.
//!
//! The front only pipes bytes, so "in flight" is per connection: a proxied keep-alive connection that
//! its client leaves open counts until the grace period ends.

use super::{Conn, Front, FrontHandle, Slot};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Shared by the handle (which asks for the drain and waits) and the front thread (which reports).
#[derive(Default)]
pub(super) struct Drain {
    requested: AtomicBool,
    /// Connections still in flight, as last counted by the front thread after the request.
    left: Mutex<Option<usize>>,
    changed: Condvar,
}

impl Drain {
    pub(super) fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    fn left(&self) -> MutexGuard<'_, Option<usize>> {
        self.left.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn report(&self, n: usize) {
        let mut left = self.left();
        if *left != Some(n) {
            *left = Some(n);
            self.changed.notify_all();
        }
    }
}

impl FrontHandle {
    /// Stops accepting connections and waits up to `grace` for the REST exchanges in flight to finish;
    /// returns how many connections were still open when it gave up (0: all finished). WebSocket
    /// clients are not counted and stay connected until [`stop`](FrontHandle::stop).
    pub fn drain(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        self.drain.requested.store(true, Ordering::Release);
        if let Err(e) = self.waker.wake() {
            log::warn!("front waker failed: {e}");
        }
        let mut left = self.drain.left();
        loop {
            if *left == Some(0) {
                return 0;
            }
            let now = Instant::now();
            let gone = self.thread.as_ref().is_none_or(|t| t.is_finished());
            if now >= deadline || gone {
                return left.unwrap_or(0);
            }
            // Short waits so a front thread that ended (and will never report) is noticed.
            let wait = (deadline - now).min(Duration::from_millis(50));
            left = self.drain.changed.wait_timeout(left, wait).map_or_else(|p| p.into_inner().0, |(g, _)| g);
        }
    }
}

impl Front {
    /// One loop turn of a drain: closes the listener, counts what is in flight, and once nothing is,
    /// lets the warm backend connections go (no new client can need one).
    pub(super) fn drain_turn(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            drop(self.poll.registry().deregister(&mut listener));
        }
        if self.drained {
            return;
        }
        let left = self.slots.iter().flatten().filter(|Slot { conn, .. }| !matches!(conn, Conn::Ws(_))).count();
        if left == 0 {
            self.drained = true;
            self.pool.close_all(self.poll.registry());
        }
        self.drain.report(left);
    }
}
