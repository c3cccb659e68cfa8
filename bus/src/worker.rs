//! A sweep worker (`pinion worker --nats`): pulls one job at a time from the shared durable consumer,
//! fetches its tick file from the object store (cached on disk and in memory), runs it with the
//! sweep's own run function on a blocking thread while telling JetStream it is still working, publishes
//! the result (`Nats-Msg-Id` = `<sweep>.<run>`) and only then acknowledges the job. A worker that dies
//! before acknowledging has its job redelivered to another after the consumer's ack wait.

use crate::common::{connect, io, nats, results_stream, workers_consumer, BusError};
use crate::objects;
use crate::sweep::{results_subject, run_msg_id, Job, JobResult};
use async_nats::jetstream::{self, AckKind};
use futures_util::StreamExt;
use pinion_io::sweep::run_single;
use pinion_io::{load_ticks, TickData};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Settings of a worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Directory of cached tick files.
    pub cache: PathBuf,
    /// Ack wait of the consumer when this worker creates it.
    pub ack_wait: Duration,
    /// Exit after this long without a job (None: run until killed).
    pub idle_exit: Option<Duration>,
    /// Wait this long before each run (only to make jobs slow in tests of redelivery).
    pub job_delay: Duration,
}

/// What a worker did.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerStats {
    /// Jobs run and acknowledged.
    pub jobs: u64,
    /// Tick files downloaded.
    pub downloads: u64,
}

/// Runs the worker until `idle_exit` passes without a job (blocking; the client runs on its own
/// runtime). A lost connection or a failed download is retried after a second (an unacknowledged job
/// comes back); with `idle_exit`, an error that lasts longer than it ends the worker.
pub fn work(url: &str, opts: &WorkerOptions) -> Result<WorkerStats, BusError> {
    let rt = crate::common::runtime()?;
    let mut total = WorkerStats::default();
    let mut last_progress = std::time::Instant::now();
    loop {
        let mut stats = WorkerStats::default();
        let outcome = rt.block_on(work_async(url, opts, &mut stats));
        total.jobs += stats.jobs;
        total.downloads += stats.downloads;
        if stats.jobs > 0 {
            last_progress = std::time::Instant::now();
        }
        match outcome {
            Ok(()) => return Ok(total),
            Err(e) if opts.idle_exit.is_some_and(|d| last_progress.elapsed() >= d) => return Err(e),
            Err(e) => {
                log::warn!("worker: {e}; retrying in 1 s");
                eprintln!("worker: {e}; retrying in 1 s");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

async fn work_async(url: &str, opts: &WorkerOptions, stats: &mut WorkerStats) -> Result<(), BusError> {
    let client = connect(url, Duration::from_secs(10)).await?;
    let js = jetstream::new(client);
    results_stream(&js).await?;
    let consumer = workers_consumer(&js, opts.ack_wait).await?;
    let store = objects::bucket(&js).await?;
    let mut loaded: HashMap<String, Arc<TickData>> = HashMap::new();
    let mut idle_since = tokio::time::Instant::now();
    loop {
        let mut batch =
            consumer.fetch().max_messages(1).expires(Duration::from_secs(1)).messages().await.map_err(nats("asking for a job"))?;
        let mut got = false;
        while let Some(msg) = batch.next().await {
            let msg = msg.map_err(nats("receiving a job"))?;
            got = true;
            let job: Job = match serde_json::from_slice(&msg.payload) {
                Ok(j) => j,
                Err(e) => {
                    log::error!("dropping a bad job on {}: {e}", msg.subject);
                    msg.ack_with(AckKind::Term).await.map_err(nats("refusing a bad job"))?;
                    continue;
                }
            };
            eprintln!("job {} started", run_msg_id(&job.sweep, job.run));
            let data = match loaded.get(&job.file_hash) {
                Some(d) => d.clone(),
                None => {
                    let path = objects::fetch(&store, &job.file_hash, &job.file_name, &opts.cache).await?;
                    stats.downloads += 1;
                    let data = tokio::task::spawn_blocking(move || load_ticks(&path).map_err(|e| e.to_string()))
                        .await
                        .map_err(|e| BusError::Io { what: "loading a tick file".into(), source: std::io::Error::other(e.to_string()) })?;
                    match data {
                        Ok(d) => {
                            let d = Arc::new(d);
                            loaded.insert(job.file_hash.clone(), d.clone());
                            d
                        }
                        Err(e) => {
                            publish(&js, &job, None, Some(format!("loading {}: {e}", job.file_name))).await?;
                            msg.double_ack().await.map_err(nats("acknowledging a job"))?;
                            continue;
                        }
                    }
                }
            };
            // Run on a blocking thread; tell JetStream the job is alive at a third of the ack wait.
            let delay = opts.job_delay;
            let j = job.clone();
            let mut running = tokio::task::spawn_blocking(move || {
                std::thread::sleep(delay);
                run_single(&j.settings, j.run, &j.params, &j.file_name, &data, false).map(|o| o.result).map_err(|e| e.to_string())
            });
            let beat = (opts.ack_wait / 3).max(Duration::from_millis(100));
            let outcome = loop {
                tokio::select! {
                    r = &mut running => break r,
                    _ = tokio::time::sleep(beat) => {
                        let _ = msg.ack_with(AckKind::Progress).await;
                    }
                }
            };
            let outcome =
                outcome.map_err(|e| BusError::Io { what: "running a job".into(), source: std::io::Error::other(e.to_string()) })?;
            match outcome {
                Ok(row) => publish(&js, &job, Some(row), None).await?,
                Err(e) => publish(&js, &job, None, Some(e)).await?,
            }
            msg.double_ack().await.map_err(nats("acknowledging a job"))?;
            stats.jobs += 1;
            eprintln!("job {} done", run_msg_id(&job.sweep, job.run));
        }
        if got {
            idle_since = tokio::time::Instant::now();
        } else if opts.idle_exit.is_some_and(|d| idle_since.elapsed() >= d) {
            return Ok(());
        }
    }
}

async fn publish(
    js: &jetstream::Context,
    job: &Job,
    result: Option<pinion_io::sweep::RunResult>,
    error: Option<String>,
) -> Result<(), BusError> {
    let msg = JobResult { sweep: job.sweep.clone(), run: job.run, result, error };
    let payload = serde_json::to_vec(&msg).map_err(io("encoding a result"))?;
    let publish =
        async_nats::jetstream::message::PublishMessage::build().payload(payload.into()).message_id(run_msg_id(&job.sweep, job.run));
    js.send_publish(results_subject(&job.sweep), publish)
        .await
        .map_err(nats("publishing a result"))?
        .await
        .map_err(nats("publishing a result"))?;
    Ok(())
}
