//! What the bus modules share: the error type, the runtime, connecting, and the names and settings
//! of the JetStream streams, consumer and object-store bucket.

use async_nats::jetstream::{self, consumer, stream};
use std::time::Duration;
use thiserror::Error;

/// Stream of sweep jobs (work queue: a job is removed once a worker acknowledges it).
pub const JOBS_STREAM: &str = "PINION_SWEEP_JOBS";
/// Subjects of sweep jobs: `pinion.sweep.jobs.<sweep id>`.
pub const JOBS_SUBJECTS: &str = "pinion.sweep.jobs.>";
/// Stream of sweep results (kept, so a restarted coordinator finds them).
pub const RESULTS_STREAM: &str = "PINION_SWEEP_RESULTS";
/// Subjects of sweep results: `pinion.sweep.results.<sweep id>`.
pub const RESULTS_SUBJECTS: &str = "pinion.sweep.results.>";
/// The durable pull consumer every worker shares.
pub const WORKERS_CONSUMER: &str = "pinion-workers";
/// Object-store bucket of tick files, named by the SHA-256 of their content.
pub const TICKS_BUCKET: &str = "pinion-ticks";

/// Why a bus operation failed.
#[derive(Debug, Error)]
pub enum BusError {
    /// Could not connect.
    #[error("connecting to NATS at {url}: {msg}")]
    Connect {
        /// The server URL.
        url: String,
        /// The client's message.
        msg: String,
    },
    /// A NATS or JetStream call failed.
    #[error("NATS: {what}: {msg}")]
    Nats {
        /// What was being done.
        what: String,
        /// The client's message.
        msg: String,
    },
    /// A local file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A message could not be decoded.
    #[error("bad message on {subject}: {msg}")]
    BadMessage {
        /// The subject.
        subject: String,
        /// Why.
        msg: String,
    },
    /// A sweep run failed (on a worker or here).
    #[error(transparent)]
    Sweep(#[from] pinion_io::sweep::SweepError),
    /// A worker reported a failed run.
    #[error("run {run} failed on a worker: {msg}")]
    RunFailed {
        /// Run number.
        run: u32,
        /// The worker's message.
        msg: String,
    },
}

/// Maps a client error to [`BusError::Nats`] with what was being done.
pub fn nats<E: std::fmt::Display>(what: impl Into<String>) -> impl FnOnce(E) -> BusError {
    let what = what.into();
    move |e| BusError::Nats { what, msg: e.to_string() }
}

/// Maps an I/O error to [`BusError::Io`] with what was being done.
pub fn io<E: Into<std::io::Error>>(what: impl Into<String>) -> impl FnOnce(E) -> BusError {
    let what = what.into();
    move |e| BusError::Io { what, source: e.into() }
}

/// The small runtime the NATS client runs on (two I/O threads named `pinion-nats`).
pub fn runtime() -> Result<tokio::runtime::Runtime, BusError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("pinion-nats")
        .enable_all()
        .build()
        .map_err(io("starting the NATS runtime"))
}

/// Connects to `url` (retrying the first connection for up to `patience`).
pub async fn connect(url: &str, patience: Duration) -> Result<async_nats::Client, BusError> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(5)).connect(url).await {
            Ok(c) => return Ok(c),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(BusError::Connect { url: url.to_string(), msg: e.to_string() })
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// The jobs stream, created if missing.
pub async fn jobs_stream(js: &jetstream::Context) -> Result<stream::Stream, BusError> {
    js.get_or_create_stream(stream::Config {
        name: JOBS_STREAM.into(),
        subjects: vec![JOBS_SUBJECTS.into()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(nats(format!("creating stream {JOBS_STREAM}")))
}

/// The results stream, created if missing.
pub async fn results_stream(js: &jetstream::Context) -> Result<stream::Stream, BusError> {
    js.get_or_create_stream(stream::Config {
        name: RESULTS_STREAM.into(),
        subjects: vec![RESULTS_SUBJECTS.into()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(7 * 24 * 3600),
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(nats(format!("creating stream {RESULTS_STREAM}")))
}

/// The workers' durable pull consumer on the jobs stream (created with `ack_wait` if missing).
pub async fn workers_consumer(js: &jetstream::Context, ack_wait: Duration) -> Result<consumer::Consumer<consumer::pull::Config>, BusError> {
    jobs_stream(js)
        .await?
        .get_or_create_consumer(
            WORKERS_CONSUMER,
            consumer::pull::Config {
                durable_name: Some(WORKERS_CONSUMER.into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait,
                max_deliver: -1,
                ..Default::default()
            },
        )
        .await
        .map_err(nats(format!("creating consumer {WORKERS_CONSUMER}")))
}

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
