//! End-to-end tests of distributed sweeps over a real `nats-server` (JetStream): three worker
//! processes, one SIGKILLed in the middle of a job, give the same table as the local sweep; a
//! coordinator SIGKILLed mid-sweep and restarted finishes with every run exactly once.

mod nats_support;

use nats_support::{Nats, Proc};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn data(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(name);
    assert!(p.exists(), "{} is not present (tests read the shared data set)", p.display());
    p.to_string_lossy().into_owned()
}

const GRID: &str = r#"{"fast":[5,10,20],"slow":[30,60]}"#;

fn sweep_args(out: &Path) -> Vec<String> {
    let mut v: Vec<String> = ["sweep", "--data"].iter().map(|s| s.to_string()).collect();
    v.push(data("eurusd_dukascopy_20190101_quotes.csv.gz"));
    v.push(data("usdjpy_dukascopy_20190101_quotes.csv.gz"));
    for s in ["--strategy", "ema_cross", "--grid", GRID, "--capital", "1000000", "--commission-rate", "0.00002", "--quiet", "--out"] {
        v.push(s.to_string());
    }
    v.push(out.to_string_lossy().into_owned());
    v
}

fn run_local(out: &Path) {
    let args = sweep_args(out);
    let mut p = Proc::spawn(&args.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert!(p.wait(Duration::from_secs(60)), "local sweep failed: {:?}", p.lines());
}

/// The CSV without its two timing columns.
fn table(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("sweep.csv")).unwrap().lines().map(|l| l.rsplitn(3, ',').nth(2).unwrap().to_string()).collect()
}

fn worker(nats: &Nats, cache: &Path, delay_ms: u32) -> Proc {
    let url = nats.url();
    let delay = delay_ms.to_string();
    Proc::spawn(
        &["worker", "--nats", &url, "--cache", cache.to_str().unwrap(), "--ack-wait", "2", "--job-delay-ms", &delay, "--idle-exit", "60"],
        None,
    )
}

fn coordinator(nats: &Nats, out: &Path) -> Proc {
    let mut args = sweep_args(out);
    for s in ["--nats", &nats.url(), "--ack-wait", "2"] {
        args.push(s.to_string());
    }
    Proc::spawn(&args.iter().map(String::as_str).collect::<Vec<_>>(), Some(&out.with_extension("stdout")))
}

fn count(lines: &[String], what: &str) -> usize {
    lines.iter().filter(|l| l.contains(what)).count()
}

#[test]
fn three_workers_one_killed_mid_job_give_the_local_table() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    run_local(&local);
    let nats = Nats::start();
    let dist = dir.path().join("dist");
    let mut coord = coordinator(&nats, &dist);
    let caches: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("cache{i}"))).collect();
    let mut victim = worker(&nats, &caches[0], 3000);
    victim.wait_line(Duration::from_secs(30), "the victim's first job", |l| count(l, "started") >= 1);
    victim.kill();
    assert_eq!(count(&victim.lines(), " done"), 0, "the victim was killed before finishing its job");
    let others: Vec<Proc> = caches[1..].iter().map(|c| worker(&nats, c, 150)).collect();
    assert!(coord.wait(Duration::from_secs(120)), "coordinator failed: {:?}", coord.lines());
    assert_eq!(table(&local), table(&dist));
    assert_eq!(table(&dist).len(), 1 + 12);
    // The killed job ran again elsewhere: the survivors ran every job.
    let done: usize = others.iter().map(|w| count(&w.lines(), " done")).sum();
    assert!(done >= 12, "survivors finished {done} jobs");
    // Each surviving worker fetched the files once at most (content-addressed cache).
    for c in &caches[1..] {
        if c.exists() {
            assert!(std::fs::read_dir(c).unwrap().count() <= 2);
        }
    }
}

#[test]
fn a_restarted_coordinator_finishes_with_every_result_once() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    run_local(&local);
    let nats = Nats::start();
    let dist = dir.path().join("dist");
    let w = worker(&nats, &dir.path().join("cache"), 200);
    let mut first = coordinator(&nats, &dist);
    w.wait_line(Duration::from_secs(60), "four finished jobs", |l| count(l, " done") >= 4);
    first.kill();
    assert!(!dist.join("sweep.csv").exists(), "the first coordinator was killed before the end");
    let mut second = coordinator(&nats, &dist);
    assert!(second.wait(Duration::from_secs(120)), "restarted coordinator failed: {:?}", second.lines());
    let t = table(&dist);
    assert_eq!(t, table(&local));
    let mut runs: Vec<&str> = t[1..].iter().map(|l| l.split(',').nth(1).unwrap()).collect();
    runs.sort();
    runs.dedup();
    assert_eq!(runs.len(), 12, "every run exactly once");
}
