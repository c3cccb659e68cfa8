//! `pinion sweep`: one strategy over many parameter sets (a grid, or `--random N` samples) on many
//! tick files, every run the backtest's own run function; on `--jobs` local threads, or as jobs on a
//! NATS JetStream work queue for `pinion worker`s (`--nats`). Writes the ranked table as CSV and JSON
//! and an HTML report to `--out`, and prints one JSON summary line.

use super::backtest::{text_or_file, write_fills, RunFlags};
use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pinion_io::backtest_spec::RunSettings;
use pinion_io::sweep::{self, html, Metric, Params, RunOutput, RunResult, SweepFile};
use pinion_io::{load_input, ImportInput, ImportOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct SweepArgs {
    /// Tick files (.pinticks, CSV, OANDA JSON lines); every parameter set runs on each file separately.
    #[arg(long, required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Parameters to vary, as a JSON object (or @FILE): key -> list of values; with --random, a list or
    /// {"min":..,"max":..}.
    #[arg(long)]
    pub grid: String,
    /// Run N random parameter sets sampled from --grid instead of every combination.
    #[arg(long)]
    pub random: Option<usize>,
    /// Seed of --random.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The strategy and how each run trades (as for `pinion backtest`; --grid keys override --config).
    #[command(flatten)]
    pub run: RunFlags,
    /// Runs at a time (default: every CPU).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Directory for sweep.csv, sweep.json and report.html.
    #[arg(long, default_value = "sweep-out")]
    pub out: PathBuf,
    /// Ranking metric: pnl, sharpe, profit_factor, win_rate, max_drawdown, final_balance.
    #[arg(long, default_value = "pnl")]
    pub rank_by: String,
    /// The two parameters of the report's heatmap, as X,Y (default: the first two).
    #[arg(long)]
    pub heatmap: Option<String>,
    /// Also write every run's fills to OUT/fills/run-N.csv (the format of `backtest --fills-out`).
    #[arg(long)]
    pub keep_fills: bool,
    /// No progress bar (none is drawn when stderr is not a terminal anyway).
    #[arg(long, short)]
    pub quiet: bool,
    /// Distribute the runs over `pinion worker`s through this NATS server (JetStream enabled).
    #[arg(long)]
    pub nats: Option<String>,
    /// With --nats: seconds a worker may hold a job without a sign of life before it is redelivered.
    #[arg(long, default_value_t = 30)]
    pub ack_wait: u64,
}

/// Names rows by file name, or by the path as given when two files share a name.
fn file_names(paths: &[PathBuf]) -> Vec<String> {
    let names: Vec<String> = paths.iter().map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect();
    let unique = names.iter().enumerate().all(|(i, n)| !names[..i].contains(n));
    if unique {
        names
    } else {
        paths.iter().map(|p| p.display().to_string()).collect()
    }
}

pub(crate) fn progress(total: u64, quiet: bool, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = format!("{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {what} ({{per_sec}}) eta {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

pub fn run(a: SweepArgs) -> anyhow::Result<()> {
    let metric = Metric::parse(&a.rank_by).map_err(anyhow::Error::msg)?;
    let heat = match &a.heatmap {
        Some(s) => Some(
            s.split_once(',')
                .map(|(x, y)| (x.trim().to_string(), y.trim().to_string()))
                .context("--heatmap must be two parameters: X,Y")?,
        ),
        None => None,
    };
    let settings = a.run.settings()?;
    let spec = settings.spec()?;
    let grid = sweep::parse_grid(&text_or_file("grid", &a.grid)?)?;
    if let Some((x, y)) = &heat {
        for k in [x, y] {
            if !grid.contains_key(k) {
                bail!("--heatmap: {k:?} is not a --grid parameter");
            }
        }
    }
    let sets: Vec<Params> = match a.random {
        Some(0) => bail!("--random must be at least 1"),
        Some(n) => sweep::sample_random(&grid, n, a.seed)?,
        None => sweep::expand_grid(&grid)?,
    };

    let names = file_names(&a.data);
    let opts = if a.quiet { ImportOptions::quiet() } else { ImportOptions::default() };
    let files: Vec<SweepFile> = a
        .data
        .iter()
        .zip(&names)
        .map(|(p, name)| {
            let data = load_input(&ImportInput::new(p), &opts).with_context(|| format!("loading {}", p.display()))?;
            if data.is_empty() {
                bail!("{} holds no ticks", p.display());
            }
            Ok(SweepFile { name: name.clone(), data })
        })
        .collect::<anyhow::Result<_>>()?;
    let (_, instrument) = spec.build_engine(files[0].data.instruments()).map_err(|e| anyhow::anyhow!("{e} (in {})", files[0].name))?;
    let plan = sweep::plan(&settings, sets, &instrument)?;
    for (p, why) in &plan.skipped {
        eprintln!("skipping {}: {why}", serde_json::Value::Object(p.clone()));
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    if a.keep_fills {
        std::fs::create_dir_all(a.out.join("fills")).with_context(|| format!("creating {}", a.out.join("fills").display()))?;
    }

    let total = plan.sets.len() * files.len();
    let jobs = a.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let started = Instant::now();
    let rows: Vec<RunResult> = match &a.nats {
        None => {
            let bar = progress(total as u64, a.quiet, "runs");
            let fills_dir = a.out.join("fills");
            let fill_error = std::sync::Mutex::new(None::<anyhow::Error>);
            let on_done = |out: &RunOutput| {
                bar.inc(1);
                if a.keep_fills {
                    if let Err(e) = write_run_fills(&fills_dir, out) {
                        if let Ok(mut fe) = fill_error.lock() {
                            fe.get_or_insert(e);
                        }
                    }
                }
            };
            let rows = sweep::run_local(&settings, &plan.sets, &files, jobs, a.keep_fills, &on_done);
            bar.finish_and_clear();
            if let Some(e) = fill_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
                return Err(e);
            }
            rows?
        }
        Some(url) => {
            if a.keep_fills {
                bail!("--keep-fills is for local sweeps (workers do not send fills back)");
            }
            let job = pinion_bus::sweep::SweepJobSpec {
                settings: settings.clone(),
                sets: plan.sets.clone(),
                files: a.data.clone(),
                names: names.clone(),
            };
            let bar = progress(total as u64, a.quiet, "runs");
            let opts = pinion_bus::sweep::CoordinatorOptions { ack_wait: Duration::from_secs(a.ack_wait.max(1)) };
            let rows = pinion_bus::sweep::coordinate(url, &job, &opts, &|done| bar.set_position(done as u64));
            bar.finish_and_clear();
            rows.with_context(|| format!("distributed sweep over {url}"))?
        }
    };
    let wall = started.elapsed().as_secs_f64();
    write_outputs(&a.out, &settings, &a, metric, heat.as_ref(), &rows, &plan.skipped)?;
    let ranked = sweep::rank(&rows, metric);
    let best =
        ranked.first().map(|r| serde_json::json!({"run": r.run, "file": r.file, "params": r.params, metric.name(): metric.value(r)}));
    let line = serde_json::json!({
        "runs": rows.len(),
        "skipped": plan.skipped.len(),
        "files": files.len(),
        "jobs": if a.nats.is_some() { serde_json::Value::Null } else { jobs.into() },
        "wall_seconds": (wall * 1e6).round() / 1e6,
        "runs_per_second": if wall > 0.0 { (rows.len() as f64 / wall * 1000.0).round() / 1000.0 } else { 0.0 },
        "rank_by": metric.name(),
        "best": best,
        "out": a.out.display().to_string(),
    });
    println!("{line}");
    Ok(())
}

fn write_run_fills(dir: &Path, out: &RunOutput) -> anyhow::Result<()> {
    write_fills(&dir.join(format!("run-{}.csv", out.result.run)), &out.sink.summary, &out.instrument)
}

fn write_outputs(
    out: &Path,
    settings: &RunSettings,
    a: &SweepArgs,
    metric: Metric,
    heat: Option<&(String, String)>,
    rows: &[RunResult],
    skipped: &[(Params, String)],
) -> anyhow::Result<()> {
    let ranked = sweep::rank(rows, metric);
    let csv = out.join("sweep.csv");
    sweep::write_csv(&csv, &ranked).with_context(|| format!("writing {}", csv.display()))?;
    let json = out.join("sweep.json");
    let mut described = serde_json::to_value(settings)?;
    if let Some(m) = described.as_object_mut() {
        m.insert("grid".into(), serde_json::from_str(&text_or_file("grid", &a.grid)?).unwrap_or_default());
        m.insert("random".into(), a.random.into());
        m.insert("seed".into(), a.seed.into());
        m.insert("data".into(), a.data.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().into());
    }
    sweep::write_json(&json, &described, metric, &ranked, skipped).with_context(|| format!("writing {}", json.display()))?;
    let page = html::render(&format!("pinion sweep: {}", settings.strategy), &ranked, metric, heat.map(|(x, y)| (x.as_str(), y.as_str())));
    let report = out.join("report.html");
    std::fs::write(&report, page).with_context(|| format!("writing {}", report.display()))?;
    Ok(())
}
