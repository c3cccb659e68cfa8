//! The parts of `/metrics` only the binary can see, added to the registry as collectors: the journal
//! (appends, bytes, group commits and their fsync latency, the storage fault flag) and the standard
//! `process_*` metrics of the Prometheus client libraries (CPU, resident and virtual memory, open and
//! maximum file descriptors, start time), read from `/proc` on Linux.

use pinion_http::metrics::{Exposition, Kind, Metrics};
use pinion_io::journal::JournalHandle;
use std::sync::atomic::Ordering;

/// Adds the process collector, and the journal's when there is a journal.
pub fn install(metrics: &Metrics, journal: Option<&JournalHandle>) {
    if let Some(j) = journal {
        let (stats, fault) = (j.stats(), j.fault_flag());
        metrics.add_collector(move |e: &mut Exposition| {
            e.single("pinion_journal_appends_total", Kind::Counter, "Records appended to the journal", stats.appends() as f64);
            e.single(
                "pinion_journal_bytes_total",
                Kind::Counter,
                "Bytes appended to the journal, record headers included",
                stats.bytes() as f64,
            );
            e.single(
                "pinion_journal_commits_total",
                Kind::Counter,
                "Journal group commits (one write + fdatasync each)",
                stats.commits() as f64,
            );
            e.family(
                "pinion_journal_fsync_duration_seconds",
                Kind::Histogram,
                "One journal group commit: write of the batch + fdatasync (retries during a storage fault included)",
            );
            e.histogram("pinion_journal_fsync_duration_seconds", &[], &stats.commit_latency().snapshot());
            let faulted = fault.load(Ordering::Acquire) as u8 as f64;
            e.single("pinion_storage_fault", Kind::Gauge, "1 while the journal cannot write (the engine holds; see /health)", faulted);
        });
    }
    metrics.add_collector(process);
}

/// `process_*` from `/proc/self` (nothing on other systems).
fn process(e: &mut Exposition) {
    let Some(p) = proc_stats() else { return };
    e.single("process_cpu_seconds_total", Kind::Counter, "Total user and system CPU time spent in seconds.", p.cpu_seconds);
    e.single("process_resident_memory_bytes", Kind::Gauge, "Resident memory size in bytes.", p.rss_bytes);
    e.single("process_virtual_memory_bytes", Kind::Gauge, "Virtual memory size in bytes.", p.vsize_bytes);
    e.single("process_open_fds", Kind::Gauge, "Number of open file descriptors.", p.open_fds);
    if let Some(max) = p.max_fds {
        e.single("process_max_fds", Kind::Gauge, "Maximum number of open file descriptors.", max);
    }
    if let Some(start) = p.start_time {
        e.single("process_start_time_seconds", Kind::Gauge, "Start time of the process since unix epoch in seconds.", start);
    }
    e.single("process_threads", Kind::Gauge, "Number of OS threads in the process.", p.threads);
}

struct ProcStats {
    cpu_seconds: f64,
    rss_bytes: f64,
    vsize_bytes: f64,
    open_fds: f64,
    max_fds: Option<f64>,
    start_time: Option<f64>,
    threads: f64,
}

#[cfg(target_os = "linux")]
fn proc_stats() -> Option<ProcStats> {
    // SAFETY: sysconf only reads a configuration value; it has no memory arguments.
    let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
    let (ticks, page) = (if ticks > 0 { ticks as f64 } else { 100.0 }, if page > 0 { page as f64 } else { 4096.0 });
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces): field 3 is first.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<f64>().ok())));
    let max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("Max open files")).and_then(|l| l.split_whitespace().nth(3)).and_then(|v| v.parse::<f64>().ok())
    });
    Some(ProcStats {
        cpu_seconds: (num(14)? + num(15)?) / ticks,
        threads: num(20)?,
        start_time: boot.zip(num(22)).map(|(b, s)| b + s / ticks),
        vsize_bytes: num(23)?,
        rss_bytes: num(24)? * page,
        open_fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count()) as f64,
        max_fds,
    })
}

#[cfg(not(target_os = "linux"))]
fn proc_stats() -> Option<ProcStats> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn process_metrics_describe_this_process() {
        let p = proc_stats().expect("/proc/self is readable");
        assert!(p.rss_bytes > 1e6 && p.vsize_bytes >= p.rss_bytes, "{} {}", p.rss_bytes, p.vsize_bytes);
        assert!(p.open_fds >= 3.0 && p.threads >= 1.0);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let start = p.start_time.expect("a start time");
        assert!(start <= now + 1.0 && start > now - 86_400.0 * 365.0, "{start} vs {now}");
        assert!(p.max_fds.is_some_and(|m| m >= p.open_fds));
        let mut e = Exposition::new();
        process(&mut e);
        let text = e.finish();
        for name in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"] {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} in {text}");
        }
    }
}
