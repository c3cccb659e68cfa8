//! Append-only, crash-safe event journal with group commit and snapshots.
//!
//! Payload-agnostic: callers store `(kind: u16, payload: &[u8])` records with
//! sequence numbers starting at 1 and increasing by 1 across all segments.
//! See [`Journal`] (open/recover, synchronous appends), [`JournalHandle`]
//! (the group-commit thread), [`JournalReader`], [`verify`], [`dump`] and
//! [`snapshot`].

use std::path::{Path, PathBuf};

mod group;
mod reader;
mod record;
mod segment;
pub mod snapshot;
mod stats;
mod writer;

pub use group::{JournalHandle, Ticket};
pub use reader::{dump, verify, JournalEntry, JournalReader, VerifyReport};
pub use record::{RecordRef, MAX_PAYLOAD_LEN, RECORD_HEADER_LEN};
pub use segment::{TornTail, FORMAT_VERSION, SEGMENT_HEADER_LEN, SEGMENT_MAGIC};
pub use stats::JournalStats;
pub use writer::{CompactReport, Journal, JournalOptions, Recovery};

/// Errors of the journal and snapshots; each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file operation failed.
    #[error("journal I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A commit failed (a full disk, say) but the segment was cut back to its last durable record: the
    /// records are still buffered and a later commit can write them.
    #[error("journal write failed on {}: {source} (nothing was lost; retrying)", path.display())]
    Retryable {
        /// The segment file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A record in the middle of the journal is damaged (a torn tail is recovered instead).
    #[error("journal segment {} is corrupt at byte offset {offset}: {reason}", segment.display())]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset of the bad record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A segment written by a newer format version.
    #[error(
        "journal segment {} has format version {found}, but this build reads versions up to \
         {supported}; open it with a newer pinion",
        segment.display()
    )]
    UnsupportedVersion {
        /// The segment file.
        segment: PathBuf,
        /// Its format version.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// Another writer holds the directory's lock.
    #[error("journal directory {} is already open by another writer", dir.display())]
    Locked {
        /// The journal directory.
        dir: PathBuf,
    },
    /// A payload longer than the format allows.
    #[error("journal payload of {len} bytes exceeds the maximum of {max} bytes")]
    PayloadTooLarge {
        /// Its length in bytes.
        len: usize,
        /// The maximum ([`MAX_PAYLOAD_LEN`]).
        max: u32,
    },
    /// A read asked for a seq that compaction already removed.
    #[error(
        "journal seq {requested} is no longer available: the journal now starts at seq \
         {first_available}"
    )]
    SeqUnavailable {
        /// The seq asked for.
        requested: u64,
        /// The oldest seq still held.
        first_available: u64,
    },
    /// The journal was closed; nothing more can be appended.
    #[error("journal is closed")]
    Closed,
    /// An earlier write failed and the writer stopped; the text is that error.
    #[error("journal writer stopped after an error: {0}; reopen the journal to recover")]
    Failed(String),
    /// Writing a dump to its output failed.
    #[error("writing the journal dump failed: {0}")]
    Output(#[source] std::io::Error),
}

/// Maps an `io::Error` to [`JournalError::Io`] naming `path`.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io { path: path.to_path_buf(), source }
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::{JournalOptions, JournalReader};
    use std::path::Path;

    pub(crate) fn small_opts() -> JournalOptions {
        JournalOptions { segment_size: 1024, ..JournalOptions::default() }
    }

    pub(crate) fn payload(seq: u64) -> Vec<u8> {
        format!("event number {seq}").into_bytes()
    }

    pub(crate) fn read_all(dir: &Path) -> Vec<(u64, u16, Vec<u8>)> {
        JournalReader::open(dir, 0).expect("reader").map(|e| e.map(|e| (e.seq, e.kind, e.payload))).collect::<Result<_, _>>().expect("read")
    }
}
