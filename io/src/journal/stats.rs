//! Counters of the journal's group-commit thread, for `/metrics`: records appended and their bytes
//! (header included), group commits, and how long each commit took (one write of the batch plus its
//! fdatasync; retries during a storage fault included). Written by the journal thread only.

use pinion_core::telemetry::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the journal has written since it started (see the module comment).
#[derive(Debug, Default)]
pub struct JournalStats {
    appends: AtomicU64,
    bytes: AtomicU64,
    commits: AtomicU64,
    commit_latency: Histogram,
}

impl JournalStats {
    pub(super) fn appended(&self, records: u64, bytes: u64) {
        self.appends.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(super) fn committed(&self, ns: u64) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_latency.record(ns);
    }

    /// Records appended.
    pub fn appends(&self) -> u64 {
        self.appends.load(Ordering::Relaxed)
    }

    /// Bytes appended, record headers included.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Group commits (write + fdatasync) done.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Duration of each group commit, ns.
    pub fn commit_latency(&self) -> &Histogram {
        &self.commit_latency
    }
}
