//! Live event export (`pinion serve --events-to nats://...`): a thread of its own tails the journal
//! (only records already durable, in journal order) and publishes the ones the caller names (orders,
//! fills, trades, operation and session changes, account marks) to the JetStream stream `PINION_EVENTS` as
//! `pinion.<node>.events.<kind>`, the payload being the journal record as written. Each message
//! carries `Nats-Msg-Id: <node>.<seq>` (a resend is dropped) and `Pinion-Seq: <seq>`; after a NATS
//! outage (or a restart) the export asks the stream for the node's last message and goes on after its
//! `Pinion-Seq`, reading the journal files: it catches up, each record once, in order. Nothing here
//! touches the core or the journal writer: an outage only delays the export.

use crate::common::{connect, nats, BusError};
use async_nats::jetstream::{self, stream};
use async_nats::HeaderMap;
use pinion_io::journal::{JournalError, JournalReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The stream every node exports to.
pub const EVENTS_STREAM: &str = "PINION_EVENTS";
/// Its subjects.
pub const EVENTS_SUBJECTS: &str = "pinion.*.events.>";
/// Header holding the journal seq of an exported record.
pub const SEQ_HEADER: &str = "Pinion-Seq";
/// Records published before their acks are awaited.
const WINDOW: usize = 256;
/// Pause between looks at the journal when nothing is new.
const POLL: Duration = Duration::from_millis(50);

/// Names the export subject kind of a journal record (`None`: not exported).
pub type KindOf = fn(kind: u16, payload: &[u8]) -> Option<String>;

/// What the export needs.
pub struct ExportOptions {
    /// The NATS server.
    pub url: String,
    /// This node's name (one subject token).
    pub node: String,
    /// The journal directory.
    pub journal_dir: PathBuf,
    /// The highest durable journal seq (records after it are not exported yet).
    pub durable_seq: Box<dyn Fn() -> u64 + Send>,
    /// Which records are exported, and under which kind.
    pub kind_of: KindOf,
}

/// Counters of the export.
#[derive(Debug, Default)]
pub struct ExportStats {
    /// Records published and acknowledged by JetStream (this process).
    pub exported: AtomicU64,
    /// Journal seq of the last record known to be in the stream.
    pub last_seq: AtomicU64,
    /// Whether the last attempt to publish worked.
    pub connected: AtomicBool,
}

/// The running export thread.
pub struct Exporter {
    stop: Arc<Mutex<Option<Instant>>>,
    thread: Option<JoinHandle<()>>,
    /// Its counters.
    pub stats: Arc<ExportStats>,
}

/// Checks a node name: one NATS subject token (letters, digits, `-` and `_`).
pub fn check_node(node: &str) -> Result<(), String> {
    if node.is_empty() || node.len() > 64 || !node.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(format!("node name {node:?} must be 1-64 letters, digits, '-' or '_'"));
    }
    Ok(())
}

impl Exporter {
    /// Starts the export thread (it connects, and reconnects, by itself).
    pub fn start(opts: ExportOptions) -> Result<Exporter, BusError> {
        check_node(&opts.node).map_err(|msg| BusError::Nats { what: "event export".into(), msg })?;
        let stop = Arc::new(Mutex::new(None));
        let stats = Arc::new(ExportStats::default());
        let (s, st) = (stop.clone(), stats.clone());
        let thread = std::thread::Builder::new()
            .name("pinion-export".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        log::error!("event export: no runtime: {e}");
                        return;
                    }
                };
                rt.block_on(run(opts, s, st));
            })
            .map_err(crate::common::io("starting the event export thread"))?;
        Ok(Exporter { stop, thread: Some(thread), stats })
    }

    /// Stops the export: it goes on publishing what is durable for at most `drain`, then exits.
    pub fn stop(mut self, drain: Duration) {
        if let Ok(mut s) = self.stop.lock() {
            *s = Some(Instant::now() + drain);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn deadline(stop: &Mutex<Option<Instant>>) -> Option<Instant> {
    stop.lock().ok().and_then(|s| *s)
}

async fn run(opts: ExportOptions, stop: Arc<Mutex<Option<Instant>>>, stats: Arc<ExportStats>) {
    let mut warned = false;
    loop {
        if deadline(&stop).is_some_and(|d| Instant::now() >= d) {
            return;
        }
        match session(&opts, &stop, &stats).await {
            Ok(()) => return,
            Err(e) => {
                stats.connected.store(false, Ordering::Relaxed);
                if !warned {
                    log::warn!("event export to {} paused: {e}; it resumes from the journal when NATS is back", opts.url);
                    warned = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// One connection's worth of exporting; returns Ok only when stopped and drained.
async fn session(opts: &ExportOptions, stop: &Mutex<Option<Instant>>, stats: &ExportStats) -> Result<(), BusError> {
    let client = connect(&opts.url, Duration::from_secs(1)).await?;
    let js = jetstream::new(client);
    let stream = js
        .get_or_create_stream(stream::Config {
            name: EVENTS_STREAM.into(),
            subjects: vec![EVENTS_SUBJECTS.into()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(600),
            ..Default::default()
        })
        .await
        .map_err(nats(format!("creating stream {EVENTS_STREAM}")))?;
    let prefix = format!("pinion.{}.events", opts.node);
    let last = last_exported(&stream, &prefix).await?;
    stats.last_seq.store(last, Ordering::Relaxed);
    stats.connected.store(true, Ordering::Relaxed);
    let mut reader = open_reader(opts, last + 1)?;
    let mut held: Option<(u64, u16, Vec<u8>)> = None;
    loop {
        let durable = (opts.durable_seq)();
        let mut batch: Vec<(u64, String, Vec<u8>)> = Vec::new();
        let mut caught_up = false;
        while batch.len() < WINDOW {
            let rec = match held.take() {
                Some(r) => Some(r),
                None => reader.next_record().map_err(journal_err)?.map(|r| (r.seq, r.kind, r.payload.to_vec())),
            };
            let Some((seq, kind, payload)) = rec else {
                reader.refresh().map_err(journal_err)?;
                caught_up = true;
                break;
            };
            if seq <= last {
                continue;
            }
            if seq > durable {
                held = Some((seq, kind, payload));
                caught_up = true;
                break;
            }
            if let Some(k) = (opts.kind_of)(kind, &payload) {
                batch.push((seq, k, payload));
            }
        }
        let mut acks = Vec::with_capacity(batch.len());
        for (seq, kind, payload) in &batch {
            let mut headers = HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, format!("{}.{seq}", opts.node).as_str());
            headers.insert(SEQ_HEADER, seq.to_string().as_str());
            let ack = js
                .publish_with_headers(format!("{prefix}.{kind}"), headers, payload.clone().into())
                .await
                .map_err(nats("publishing an event"))?;
            acks.push((*seq, ack));
        }
        for (seq, ack) in acks {
            ack.await.map_err(nats("publishing an event"))?;
            stats.exported.fetch_add(1, Ordering::Relaxed);
            stats.last_seq.store(seq, Ordering::Relaxed);
        }
        if caught_up {
            if deadline(stop).is_some_and(|d| Instant::now() >= d || held.is_none()) {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn journal_err(e: JournalError) -> BusError {
    BusError::Nats { what: "reading the journal for the event export".into(), msg: e.to_string() }
}

/// A reader at `from` (from the oldest record held when `from` was compacted away: logged).
fn open_reader(opts: &ExportOptions, from: u64) -> Result<JournalReader, BusError> {
    match JournalReader::open(&opts.journal_dir, from) {
        Err(JournalError::SeqUnavailable { requested, first_available }) => {
            log::error!("event export: journal records {requested}..{first_available} were compacted before they could be exported");
            JournalReader::open(&opts.journal_dir, first_available).map_err(journal_err)
        }
        other => other.map_err(journal_err),
    }
}

/// The journal seq of this node's last message in the stream (0: none).
async fn last_exported(stream: &stream::Stream, prefix: &str) -> Result<u64, BusError> {
    match stream.get_last_raw_message_by_subject(&format!("{prefix}.>")).await {
        Ok(m) => Ok(m.headers.get(SEQ_HEADER).and_then(|v| v.as_str().parse().ok()).unwrap_or(0)),
        Err(e) if matches!(e.kind(), stream::LastRawMessageErrorKind::NoMessageFound) => Ok(0),
        Err(e) => Err(nats("finding the last exported event")(e)),
    }
}

/// One exported event as read back from the stream (tests, audits).
#[derive(Debug, Clone)]
pub struct ExportedEvent {
    /// The subject.
    pub subject: String,
    /// The journal seq.
    pub seq: u64,
    /// The journal record.
    pub payload: Vec<u8>,
}

/// Reads every event of `node` in the stream, in stream order (blocking; for tests and audits).
pub fn read_all(url: &str, node: &str) -> Result<Vec<ExportedEvent>, BusError> {
    crate::common::runtime()?.block_on(async {
        use futures_util::StreamExt;
        let js = jetstream::new(connect(url, Duration::from_secs(5)).await?);
        let stream = js.get_stream(EVENTS_STREAM).await.map_err(nats("opening the events stream"))?;
        let subject = format!("pinion.{node}.events.>");
        let mut subjects = stream.info_with_subjects(&subject).await.map_err(nats("reading the events stream"))?;
        let mut total = 0usize;
        while let Some((_, n)) = futures_util::TryStreamExt::try_next(&mut subjects).await.map_err(nats("reading the events stream"))? {
            total += n;
        }
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig { filter_subject: subject, ..Default::default() })
            .await
            .map_err(nats("reading the events stream"))?;
        let mut messages = consumer.messages().await.map_err(nats("reading the events stream"))?;
        let mut out = Vec::new();
        while out.len() < total {
            let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(2), messages.next()).await else { break };
            let m = m.map_err(nats("reading the events stream"))?;
            let seq = m.headers.as_ref().and_then(|h| h.get(SEQ_HEADER)).and_then(|v| v.as_str().parse().ok()).unwrap_or(0);
            out.push(ExportedEvent { subject: m.subject.to_string(), seq, payload: m.payload.to_vec() });
        }
        Ok(out)
    })
}
