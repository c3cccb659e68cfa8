//! Group commit: a dedicated journal thread drains every queued append,
//! writes them with one write call and one fdatasync, then publishes the
//! durable seq to waiting [`Ticket`]s and to a lock-free counter.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use super::writer::{CompactReport, Journal};
use super::{JournalError, JournalStats, RECORD_HEADER_LEN};

/// Most appends taken into one commit, to bound the latency of the batch.
const MAX_BATCH: usize = 64 * 1024;
/// Most payload bytes taken into one commit.
const MAX_BATCH_BYTES: usize = 8 << 20;

enum Msg {
    Append { seq: u64, kind: u16, payload: Vec<u8> },
    Compact { upto: u64, reply: Sender<Result<CompactReport, JournalError>> },
    Close { reply: Sender<()> },
}

struct Enqueue {
    next_seq: u64,
    closed: bool,
}

#[derive(Default)]
struct WaitState {
    stopped: bool,
    failed: Option<String>,
}

struct Shared {
    enqueue: Mutex<Enqueue>,
    durable: AtomicU64,
    failed: AtomicBool,
    /// Set while writes fail and are retried (a full disk): see [`JournalHandle::fault`].
    faulted: Arc<AtomicBool>,
    fault: Mutex<Option<String>>,
    /// Set by `close`: a retry loop gives up instead of holding the shutdown.
    closing: AtomicBool,
    state: Mutex<WaitState>,
    cond: Condvar,
    max_payload: u32,
    stats: Arc<JournalStats>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn publish(&self, durable: u64) {
        self.durable.store(durable, Ordering::Release);
        let _guard = lock(&self.state);
        self.cond.notify_all();
    }

    fn stop(&self, failure: Option<String>) {
        if let Some(why) = &failure {
            self.failed.store(true, Ordering::Release);
            // A journal that failed for good is a storage fault that never clears.
            *lock(&self.fault) = Some(format!("the journal stopped: {why}; restart pinion once storage works"));
            self.faulted.store(true, Ordering::Release);
        }
        lock(&self.enqueue).closed = true;
        let mut state = lock(&self.state);
        state.stopped = true;
        if state.failed.is_none() {
            state.failed = failure;
        }
        self.cond.notify_all();
    }

    /// The error for an operation refused because the writer is gone.
    fn gone(&self) -> JournalError {
        match &lock(&self.state).failed {
            Some(why) => JournalError::Failed(why.clone()),
            None => JournalError::Closed,
        }
    }
}

/// Cloneable producer side of a started journal. Dropping every handle (or
/// calling [`close`](JournalHandle::close)) commits what is queued and stops
/// the journal thread.
#[derive(Clone)]
pub struct JournalHandle {
    tx: Sender<Msg>,
    shared: Arc<Shared>,
}

/// A queued append; [`wait`](Ticket::wait) blocks until it is durable.
#[must_use = "a ticket does nothing unless waited on; use append_nowait instead"]
pub struct Ticket {
    seq: u64,
    shared: Arc<Shared>,
}

impl Ticket {
    /// Seq assigned to the record.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether the record is already on disk.
    pub fn is_durable(&self) -> bool {
        self.shared.durable.load(Ordering::Acquire) >= self.seq
    }

    /// Blocks until the record is on disk and returns its seq; fails when the
    /// journal thread stopped (I/O error or close) before that.
    pub fn wait(self) -> Result<u64, JournalError> {
        self.wait_until(None).map(|_| self.seq)
    }

    /// Like [`wait`](Ticket::wait) but gives up after `timeout`, returning
    /// `Ok(false)` (the record may still become durable later).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, JournalError> {
        self.wait_until(Some(Instant::now() + timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<bool, JournalError> {
        if self.is_durable() {
            return Ok(true);
        }
        let mut state = lock(&self.shared.state);
        loop {
            if self.is_durable() {
                return Ok(true);
            }
            if let Some(why) = &state.failed {
                return Err(JournalError::Failed(why.clone()));
            }
            if state.stopped {
                return Err(JournalError::Closed);
            }
            state = match deadline {
                None => self.shared.cond.wait(state).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                        return Ok(false);
                    };
                    let (state, _) = self.shared.cond.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner);
                    state
                }
            };
        }
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket").field("seq", &self.seq).field("durable", &self.is_durable()).finish()
    }
}

impl fmt::Debug for JournalHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournalHandle").field("durable_seq", &self.durable_seq()).finish_non_exhaustive()
    }
}

impl Journal {
    /// Moves the journal onto its own thread and returns the producer handle
    /// and the thread, which yields the journal back after a clean close.
    pub fn start(self) -> (JournalHandle, JoinHandle<Result<Journal, JournalError>>) {
        let (tx, rx) = bounded(self.options().queue_capacity.max(1));
        let shared = Arc::new(Shared {
            enqueue: Mutex::new(Enqueue { next_seq: self.next_seq(), closed: false }),
            durable: AtomicU64::new(self.durable_seq()),
            failed: AtomicBool::new(false),
            faulted: Arc::new(AtomicBool::new(false)),
            fault: Mutex::new(None),
            closing: AtomicBool::new(false),
            state: Mutex::new(WaitState::default()),
            cond: Condvar::new(),
            max_payload: self.options().max_payload,
            stats: Arc::default(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("pinion-journal".into())
            .spawn(move || run(self, rx, thread_shared))
            .unwrap_or_else(|e| panic!("cannot spawn the journal thread: {e}"));
        (JournalHandle { tx, shared }, thread)
    }
}

impl JournalHandle {
    /// Queues a record; wait on the ticket to know it is durable. Blocks only
    /// when the queue is full.
    pub fn append(&self, kind: u16, payload: Vec<u8>) -> Result<Ticket, JournalError> {
        let seq = self.enqueue(kind, payload)?;
        Ok(Ticket { seq, shared: Arc::clone(&self.shared) })
    }

    /// Queues a record whose durability nobody waits on; returns its seq.
    pub fn append_nowait(&self, kind: u16, payload: Vec<u8>) -> Result<u64, JournalError> {
        self.enqueue(kind, payload)
    }

    /// Seq of the last record queued so far, durable or not (0 when none).
    pub fn last_queued_seq(&self) -> u64 {
        lock(&self.shared.enqueue).next_seq.saturating_sub(1)
    }

    /// Waits until every record up to `seq` is on disk; false on timeout or when the writer stopped.
    pub fn wait_durable(&self, seq: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.shared.state);
        loop {
            if self.durable_seq() >= seq {
                return true;
            }
            let now = Instant::now();
            if state.stopped || now >= deadline {
                return false;
            }
            state = match self.shared.cond.wait_timeout(state, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Why writes are failing right now (they are retried; records wait, nothing is lost), or None
    /// while the journal writes normally.
    pub fn fault(&self) -> Option<String> {
        if self.shared.faulted.load(Ordering::Acquire) {
            lock(&self.shared.fault).clone()
        } else {
            None
        }
    }

    /// What the journal thread has written so far (appends, bytes, commits and their latency).
    pub fn stats(&self) -> Arc<JournalStats> {
        Arc::clone(&self.shared.stats)
    }

    /// A flag set exactly while [`fault`](JournalHandle::fault) is Some (for a loop that must not
    /// run ahead of the journal, checked without a lock).
    pub fn fault_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.shared.faulted)
    }

    /// Highest seq known to be on disk (0 when none). Never blocks.
    pub fn durable_seq(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// Deletes segments whose records are all `<= upto_seq`, on the journal
    /// thread (see [`Journal::compact`]).
    pub fn compact(&self, upto_seq: u64) -> Result<CompactReport, JournalError> {
        let (reply, rx) = bounded(1);
        {
            // Under the enqueue lock, like `close`: a request queued after the close would sit in the
            // channel (another handle keeps it open) and never be answered.
            let q = lock(&self.shared.enqueue);
            if q.closed {
                return Err(JournalError::Closed);
            }
            self.tx.send(Msg::Compact { upto: upto_seq, reply }).map_err(|_| self.shared.gone())?;
        }
        rx.recv().map_err(|_| self.shared.gone())?
    }

    /// Commits everything queued so far, stops the journal thread and refuses
    /// later appends from every handle. Join the thread to get the journal.
    pub fn close(self) -> Result<(), JournalError> {
        let (reply, rx) = bounded(1);
        self.shared.closing.store(true, Ordering::Release);
        {
            let mut q = lock(&self.shared.enqueue);
            if !q.closed {
                q.closed = true;
                // A send error means the thread is already gone.
                let _ = self.tx.send(Msg::Close { reply });
            }
        }
        let _ = rx.recv();
        match &lock(&self.shared.state).failed {
            Some(why) => Err(JournalError::Failed(why.clone())),
            None => Ok(()),
        }
    }

    fn enqueue(&self, kind: u16, payload: Vec<u8>) -> Result<u64, JournalError> {
        if payload.len() > self.shared.max_payload as usize {
            return Err(JournalError::PayloadTooLarge { len: payload.len(), max: self.shared.max_payload });
        }
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(self.shared.gone());
        }
        // Seq assignment and send under one lock: channel order == seq order.
        let mut q = lock(&self.shared.enqueue);
        if q.closed {
            drop(q);
            return Err(self.shared.gone());
        }
        let seq = q.next_seq;
        if self.tx.send(Msg::Append { seq, kind, payload }).is_err() {
            drop(q);
            return Err(self.shared.gone());
        }
        q.next_seq += 1;
        Ok(seq)
    }
}

fn run(mut journal: Journal, rx: Receiver<Msg>, shared: Arc<Shared>) -> Result<Journal, JournalError> {
    /// Releases waiters should the journal thread panic.
    struct PanicGuard<'a>(&'a Shared);
    impl Drop for PanicGuard<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.stop(Some("the journal thread panicked".into()));
            }
        }
    }
    let _guard = PanicGuard(&shared);
    let result = serve(&mut journal, &rx, &shared);
    match &result {
        Ok(()) => shared.stop(None),
        Err(e) => {
            log::error!("journal thread stopped: {e}");
            shared.stop(Some(e.to_string()));
        }
    }
    result.map(|()| journal)
}

/// How long the journal thread waits before writing again after a failed write.
const RETRY_EVERY: Duration = Duration::from_millis(250);

/// Runs `op` until it succeeds, retrying a [`JournalError::Retryable`] failure every [`RETRY_EVERY`]
/// with the fault published (and logged once) meanwhile; clears the fault once it succeeds. Gives up
/// when the journal is being closed.
fn retrying<T>(shared: &Shared, mut op: impl FnMut() -> Result<T, JournalError>) -> Result<T, JournalError> {
    let mut since: Option<Instant> = None;
    loop {
        match op() {
            Ok(v) => {
                if let Some(t0) = since {
                    *lock(&shared.fault) = None;
                    shared.faulted.store(false, Ordering::Release);
                    log::warn!(target: "pinion::storage", "journal writable again after {:.1} s; resuming", t0.elapsed().as_secs_f64());
                }
                return Ok(v);
            }
            Err(e @ JournalError::Retryable { .. }) => {
                if since.is_none() {
                    since = Some(Instant::now());
                    *lock(&shared.fault) = Some(e.to_string());
                    shared.faulted.store(true, Ordering::Release);
                    log::error!(target: "pinion::storage", "{e}; the engine holds until the journal can write again");
                }
                if shared.closing.load(Ordering::Acquire) {
                    return Err(JournalError::Failed(format!("closed during a storage fault: {e}")));
                }
                std::thread::sleep(RETRY_EVERY);
            }
            Err(e) => return Err(e),
        }
    }
}

fn serve(journal: &mut Journal, rx: &Receiver<Msg>, shared: &Shared) -> Result<(), JournalError> {
    let mut compactions = Vec::new();
    loop {
        // All senders gone: everything received so far is already committed.
        let Ok(first) = rx.recv() else { return Ok(()) };
        let mut close = None;
        let (mut count, mut bytes) = (0usize, 0usize);
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Append { seq, kind, payload } => {
                    debug_assert_eq!(seq, journal.next_seq());
                    retrying(shared, || journal.append(kind, &payload))?;
                    count += 1;
                    bytes += payload.len();
                }
                Msg::Compact { upto, reply } => compactions.push((upto, reply)),
                Msg::Close { reply } => {
                    close = Some(reply);
                    break;
                }
            }
            if count < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        shared.stats.appended(count as u64, (bytes + count * RECORD_HEADER_LEN) as u64);
        let t0 = Instant::now();
        let durable = retrying(shared, || journal.commit())?;
        shared.stats.committed(t0.elapsed().as_nanos() as u64);
        if durable > shared.durable.load(Ordering::Relaxed) {
            shared.publish(durable);
        }
        for (upto, reply) in compactions.drain(..) {
            let _ = reply.send(journal.compact(upto));
        }
        if let Some(reply) = close {
            shared.stop(None);
            let _ = reply.send(());
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::test_util::{payload, read_all, small_opts};

    #[test]
    fn several_threads_append_and_wait() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (journal, _) = Journal::open(dir.path(), small_opts()).expect("open");
        let (handle, thread) = journal.start();
        let per_thread = 200u64;
        let writers: Vec<_> = (0..4u16)
            .map(|w| {
                let h = handle.clone();
                std::thread::spawn(move || {
                    let mut seqs = Vec::new();
                    for i in 0..per_thread {
                        let body = format!("w{w} i{i}").into_bytes();
                        if i % 3 == 0 {
                            seqs.push(h.append_nowait(w, body).expect("nowait"));
                        } else {
                            let t = h.append(w, body).expect("append");
                            let seq = t.seq();
                            assert_eq!(t.wait().expect("durable"), seq);
                            assert!(h.durable_seq() >= seq);
                            seqs.push(seq);
                        }
                    }
                    seqs
                })
            })
            .collect();
        let mut all_seqs = Vec::new();
        for w in writers {
            let seqs = w.join().expect("writer thread");
            assert!(seqs.windows(2).all(|p| p[0] < p[1]), "per-thread order");
            all_seqs.extend(seqs);
        }
        handle.close().expect("close");
        let journal = thread.join().expect("journal thread").expect("clean stop");
        assert_eq!(journal.durable_seq(), 4 * per_thread);
        all_seqs.sort_unstable();
        assert_eq!(all_seqs, (1..=4 * per_thread).collect::<Vec<_>>());
        drop(journal);
        let records = read_all(dir.path());
        assert_eq!(records.len() as u64, 4 * per_thread);
        // Each writer's records appear in the order it appended them.
        for w in 0..4u16 {
            let mine: Vec<_> = records.iter().filter(|r| r.1 == w).map(|r| r.2.clone()).collect();
            let expected: Vec<_> = (0..per_thread).map(|i| format!("w{w} i{i}").into_bytes()).collect();
            assert_eq!(mine, expected);
        }
    }

    #[test]
    fn dropping_handles_commits_and_compact_works() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (journal, _) = Journal::open(dir.path(), small_opts()).expect("open");
        let (handle, thread) = journal.start();
        for seq in 1..=100 {
            assert_eq!(handle.append_nowait(1, payload(seq)).expect("append"), seq);
        }
        let last = handle.append(1, payload(101)).expect("append");
        assert_eq!(last.wait().expect("wait"), 101);
        let report = handle.compact(60).expect("compact");
        assert!(report.segments_removed > 0 && report.first_seq <= 61, "{report:?}");
        let late = handle.append(2, payload(102)).expect("append");
        drop(handle);
        let journal = thread.join().expect("thread").expect("clean stop");
        assert_eq!(journal.durable_seq(), 102);
        assert_eq!(late.wait().expect("durable after drop"), 102);
        drop(journal);
        let (_j, rec) = Journal::open(dir.path(), small_opts()).expect("reopen");
        assert_eq!(rec.last_seq, Some(102));
    }

    #[test]
    fn appends_after_close_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (journal, _) = Journal::open(dir.path(), small_opts()).expect("open");
        let (handle, thread) = journal.start();
        let other = handle.clone();
        let t = handle.append(1, b"x".to_vec()).expect("append");
        assert_eq!(format!("{t:?}").get(..12), Some("Ticket { seq"));
        handle.close().expect("close");
        assert!(t.wait_timeout(Duration::from_millis(1)).expect("durable"));
        assert_eq!(t.wait().expect("durable"), 1);
        assert!(matches!(other.append_nowait(1, vec![]), Err(JournalError::Closed)));
        assert!(matches!(other.compact(1), Err(JournalError::Closed)));
        let err = other.append(1, vec![0; 20 << 20]).expect_err("too large");
        assert!(matches!(err, JournalError::PayloadTooLarge { .. }));
        thread.join().expect("thread").expect("clean stop");
    }
}
