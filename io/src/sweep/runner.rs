//! Running a sweep's runs: checking the parameter sets against the strategy, one run (the backtest's
//! own [`run_one`] over a file's ticks, shared read-only by every run), and all runs on `jobs` threads.

use super::grid::Params;
use super::metrics::{summarize, RunLabel, RunResult, SweepSink};
use crate::backtest_spec::{run_one, RunSettings, SpecError};
use crate::import::TickData;
use pinion_core::instrument::Instrument;
use pinion_core::strategy::build_strategy;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use thiserror::Error;

/// Why a sweep could not run.
#[derive(Debug, Error)]
pub enum SweepError {
    /// The run settings were refused.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A parameter of the grid is not one the strategy takes, or has the wrong type.
    #[error("--grid: strategy {strategy} refuses {params}: {msg}")]
    Param {
        /// Strategy name.
        strategy: String,
        /// The parameter set, as JSON.
        params: String,
        /// The strategy's message (it names the key).
        msg: String,
    },
    /// No parameter set is valid for the strategy.
    #[error("--grid: none of the {count} parameter sets is valid for {strategy}; the first: {params}: {msg}")]
    NoValidSet {
        /// Strategy name.
        strategy: String,
        /// Sets tried.
        count: usize,
        /// The first set, as JSON.
        params: String,
        /// Why it was refused.
        msg: String,
    },
    /// One run failed.
    #[error("run {run} ({file}, {params}): {source}")]
    Run {
        /// Run number.
        run: u32,
        /// File name.
        file: String,
        /// Parameters, as JSON.
        params: String,
        /// The error.
        source: SpecError,
    },
    /// A file holds no ticks.
    #[error("{0} holds no ticks")]
    EmptyFile(String),
}

/// A tick file of the sweep, loaded once (mapped when it is a `.pinticks` file) and shared by its runs.
#[derive(Debug)]
pub struct SweepFile {
    /// The file's name (how result rows name it).
    pub name: String,
    /// Its ticks.
    pub data: TickData,
}

/// The parameter sets a sweep runs, and those the strategy refused as a combination (e.g. fast >= slow).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Sets to run, in order.
    pub sets: Vec<Params>,
    /// Sets skipped, with the strategy's reason.
    pub skipped: Vec<(Params, String)>,
}

/// The settings of one run: the base settings with `params` laid over the strategy configuration.
pub fn settings_for(base: &RunSettings, params: &Params) -> RunSettings {
    let mut config = match &base.config {
        serde_json::Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    for (k, v) in params {
        config.insert(k.clone(), v.clone());
    }
    RunSettings { config: serde_json::Value::Object(config), ..base.clone() }
}

fn is_key_error(msg: &str) -> bool {
    msg.contains("unknown field") || msg.contains("invalid type") || msg.contains("invalid value") || msg.contains("unknown strategy")
}

/// Checks every set against the strategy on `instrument`: a key the strategy does not take or a value
/// of the wrong type is an error naming it; a set refused as a combination is skipped; no valid set
/// at all is an error.
pub fn plan(base: &RunSettings, sets: Vec<Params>, instrument: &Instrument) -> Result<Plan, SweepError> {
    base.spec()?;
    let count = sets.len();
    let mut plan = Plan::default();
    for p in sets {
        let settings = settings_for(base, &p);
        match build_strategy(&base.strategy, &settings.config, instrument) {
            Ok(_) => plan.sets.push(p),
            Err(e) => {
                let msg = e.to_string();
                let params = serde_json::Value::Object(p.clone()).to_string();
                if is_key_error(&msg) {
                    return Err(SweepError::Param { strategy: base.strategy.clone(), params, msg });
                }
                plan.skipped.push((p, msg));
            }
        }
    }
    if plan.sets.is_empty() {
        let (p, msg) = plan.skipped.first().cloned().unwrap_or_default();
        return Err(SweepError::NoValidSet {
            strategy: base.strategy.clone(),
            count,
            params: serde_json::Value::Object(p).to_string(),
            msg,
        });
    }
    Ok(plan)
}

/// What a finished run hands back: its row and its sink (fills when kept) with the traded instrument.
pub struct RunOutput {
    /// The row.
    pub result: RunResult,
    /// The run's totals (and fill log when asked for).
    pub sink: SweepSink,
    /// The instrument traded.
    pub instrument: Instrument,
}

/// Runs one parameter set on one loaded file (on the calling thread).
pub fn run_single(
    base: &RunSettings,
    run: u32,
    params: &Params,
    file_name: &str,
    data: &TickData,
    keep_fills: bool,
) -> Result<RunOutput, SweepError> {
    let wrap = |source: SpecError| SweepError::Run {
        run,
        file: file_name.to_string(),
        params: serde_json::Value::Object(params.clone()).to_string(),
        source,
    };
    let spec = settings_for(base, params).spec().map_err(wrap)?;
    let mut sink = SweepSink::new(spec.capital, keep_fills);
    let started = Instant::now();
    let (engine, instrument, stats) = run_one(&spec, data.instruments(), data.ticks(), &mut sink).map_err(wrap)?;
    let wall = started.elapsed().as_secs_f64();
    let label = RunLabel { run, file: file_name.to_string(), params: params.clone() };
    let result = summarize(label, &sink, spec.capital, engine.broker().balance(), stats.ticks, wall);
    Ok(RunOutput { result, sink, instrument })
}

/// The run number of set `set` on file `file`.
pub fn run_id(set: usize, file: usize, files: usize) -> u32 {
    (set * files + file) as u32
}

/// Runs every set on every file on `jobs` threads (each takes the next run when it finishes one);
/// `on_done` sees each run as it finishes (any thread). Returns the rows in run order; the first
/// failing run stops the sweep.
pub fn run_local(
    base: &RunSettings,
    sets: &[Params],
    files: &[SweepFile],
    jobs: usize,
    keep_fills: bool,
    on_done: &(dyn Fn(&RunOutput) + Sync),
) -> Result<Vec<RunResult>, SweepError> {
    if let Some(f) = files.iter().find(|f| f.data.is_empty()) {
        return Err(SweepError::EmptyFile(f.name.clone()));
    }
    let total = sets.len() * files.len();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let rows: Mutex<Vec<Option<RunResult>>> = Mutex::new(vec![None; total]);
    let first_error: Mutex<Option<SweepError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, total.max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || failed.load(Ordering::Relaxed) {
                    return;
                }
                let (set, fi) = (i / files.len(), i % files.len());
                let file = &files[fi];
                match run_single(base, run_id(set, fi, files.len()), &sets[set], &file.name, &file.data, keep_fills) {
                    Ok(out) => {
                        on_done(&out);
                        if let Ok(mut r) = rows.lock() {
                            r[i] = Some(out.result);
                        }
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        if let Ok(mut fe) = first_error.lock() {
                            fe.get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(rows.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().flatten().collect())
}
