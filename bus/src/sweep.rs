//! The coordinator of a distributed sweep (`pinion sweep --nats`): uploads the tick files to the
//! object store, puts one job per run on the jobs work queue (`Nats-Msg-Id` = `<sweep>.<run>`, so a
//! re-publish within the duplicate window is dropped), and collects the results stream, counting each
//! run once. The sweep id is a hash of everything that defines the sweep, so a restarted coordinator
//! with the same command finds the results already published and only queues the missing runs.

use crate::common::{connect, jobs_stream, nats, results_stream, runtime, sha256_hex, workers_consumer, BusError};
use crate::objects;
use async_nats::jetstream::{self, consumer, context::PublishAckFuture};
use futures_util::{StreamExt, TryStreamExt};
use pinion_io::backtest_spec::RunSettings;
use pinion_io::sweep::{run_id, Params, RunResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// One run as a job on the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// The sweep's id.
    pub sweep: String,
    /// Run number.
    pub run: u32,
    /// Settings shared by the sweep's runs.
    pub settings: RunSettings,
    /// This run's parameters.
    pub params: Params,
    /// Content hash of the tick file (its object name).
    pub file_hash: String,
    /// The file's name (rows show it; importers read the instrument from it).
    pub file_name: String,
}

/// What a worker publishes for a job: the row, or why the run failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobResult {
    /// The sweep's id.
    pub sweep: String,
    /// Run number.
    pub run: u32,
    /// The row when the run succeeded.
    pub result: Option<RunResult>,
    /// The error when it failed.
    pub error: Option<String>,
}

/// Everything that defines a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepJobSpec {
    /// Settings shared by all runs.
    pub settings: RunSettings,
    /// Parameter sets (already checked).
    pub sets: Vec<Params>,
    /// Tick files, uploaded to the object store.
    pub files: Vec<PathBuf>,
    /// How rows name each file.
    pub names: Vec<String>,
}

/// Settings of the coordinator.
#[derive(Debug, Clone)]
pub struct CoordinatorOptions {
    /// How long a worker may hold a job without a sign of life (applies when this coordinator creates
    /// the workers' consumer).
    pub ack_wait: Duration,
}

/// Subject of a sweep's jobs.
pub fn jobs_subject(sweep: &str) -> String {
    format!("pinion.sweep.jobs.{sweep}")
}

/// Subject of a sweep's results.
pub fn results_subject(sweep: &str) -> String {
    format!("pinion.sweep.results.{sweep}")
}

/// The message id (dedup key) of a run's job and of its result.
pub fn run_msg_id(sweep: &str, run: u32) -> String {
    format!("{sweep}.{run}")
}

/// Runs the sweep over NATS at `url` and returns every row in run order; `progress` sees the number
/// of runs done so far. Blocks the calling thread (the client runs on its own small runtime).
pub fn coordinate(
    url: &str,
    spec: &SweepJobSpec,
    opts: &CoordinatorOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<RunResult>, BusError> {
    runtime()?.block_on(coordinate_async(url, spec, opts, progress))
}

async fn coordinate_async(
    url: &str,
    spec: &SweepJobSpec,
    opts: &CoordinatorOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<RunResult>, BusError> {
    let client = connect(url, Duration::from_secs(10)).await?;
    let js = jetstream::new(client);
    jobs_stream(&js).await?;
    let results = results_stream(&js).await?;
    workers_consumer(&js, opts.ack_wait).await?;
    let store = objects::bucket(&js).await?;
    let mut hashes = Vec::with_capacity(spec.files.len());
    for f in &spec.files {
        hashes.push(objects::upload(&store, f).await?);
    }
    let sweep = sweep_id(spec, &hashes);
    let total = spec.sets.len() * spec.files.len();
    log::info!("sweep {sweep}: {total} runs");

    // Results already in the stream (a restarted coordinator), then the jobs still missing.
    let subject = results_subject(&sweep);
    let existing = match results.info_with_subjects(&subject).await.map_err(nats("reading the results stream"))?.try_next().await {
        Ok(Some((_, n))) => n,
        Ok(None) => 0,
        Err(e) => return Err(nats("reading the results stream")(e)),
    };
    let reader = results
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject.clone(),
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(nats("creating the results reader"))?;
    let mut messages = reader.messages().await.map_err(nats("reading results"))?;
    let mut done: BTreeMap<u32, RunResult> = BTreeMap::new();
    let mut read = 0usize;
    while read < existing {
        let Some(msg) = tokio::time::timeout(Duration::from_secs(30), messages.next()).await.ok().flatten() else {
            break;
        };
        let msg = msg.map_err(nats("reading results"))?;
        read += 1;
        take_result(&sweep, &msg.payload, &msg.subject, &mut done)?;
    }
    progress(done.len());

    let jobs_subject = jobs_subject(&sweep);
    let mut acks: Vec<PublishAckFuture> = Vec::new();
    for (si, set) in spec.sets.iter().enumerate() {
        for (fi, hash) in hashes.iter().enumerate() {
            let run = run_id(si, fi, spec.files.len());
            if done.contains_key(&run) {
                continue;
            }
            let job = Job {
                sweep: sweep.clone(),
                run,
                settings: spec.settings.clone(),
                params: set.clone(),
                file_hash: hash.clone(),
                file_name: spec.names[fi].clone(),
            };
            let payload =
                serde_json::to_vec(&job).map_err(|e| BusError::BadMessage { subject: jobs_subject.clone(), msg: e.to_string() })?;
            let publish =
                async_nats::jetstream::message::PublishMessage::build().payload(payload.into()).message_id(run_msg_id(&sweep, run));
            acks.push(js.send_publish(jobs_subject.clone(), publish).await.map_err(nats("queueing a job"))?);
        }
    }
    for ack in acks {
        ack.await.map_err(nats("queueing a job"))?;
    }

    // The ordered reader recreates itself after a lost connection; only a long run of errors ends the sweep.
    let mut errors = 0;
    while done.len() < total {
        let Some(msg) = messages.next().await else {
            return Err(BusError::Nats { what: "reading results".into(), msg: "the results reader ended".into() });
        };
        let msg = match msg {
            Ok(m) => m,
            Err(e) if errors < 60 => {
                errors += 1;
                log::warn!("sweep {sweep}: reading results: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(e) => return Err(nats("reading results")(e)),
        };
        errors = 0;
        take_result(&sweep, &msg.payload, &msg.subject, &mut done)?;
        progress(done.len());
    }
    Ok(done.into_values().collect())
}

/// Records one result message (a run already recorded is ignored: a job that ran twice counts once).
fn take_result(sweep: &str, payload: &[u8], subject: &str, done: &mut BTreeMap<u32, RunResult>) -> Result<(), BusError> {
    let r: JobResult =
        serde_json::from_slice(payload).map_err(|e| BusError::BadMessage { subject: subject.to_string(), msg: e.to_string() })?;
    if r.sweep != sweep {
        return Ok(());
    }
    match (r.result, r.error) {
        (Some(row), _) => {
            done.entry(r.run).or_insert(row);
            Ok(())
        }
        (None, e) => Err(BusError::RunFailed { run: r.run, msg: e.unwrap_or_default() }),
    }
}

/// The sweep's id: a hash of its settings, parameter sets, file contents and file names.
fn sweep_id(spec: &SweepJobSpec, hashes: &[String]) -> String {
    let doc = serde_json::json!({"settings": spec.settings, "sets": spec.sets, "files": hashes, "names": spec.names});
    sha256_hex(doc.to_string().as_bytes())[..20].to_string()
}
