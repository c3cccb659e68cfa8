//! The core thread's pinning works from any starting mask: a thread already confined to one CPU can
//! still be pinned to another (the server's core thread inherits a mask that excludes its own CPU,
//! because the I/O threads spawned before it must stay off that CPU). It once asked for the CPUs of
//! its current mask first, found its CPU missing, and silently stayed with the I/O threads.

use pinion_core::engine::pipeline::pin_current_thread;

#[cfg(target_os = "linux")]
fn current_cpu_mask() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/thread-self/status").expect("/proc/thread-self/status");
    let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).expect("Cpus_allowed_list").trim().to_string();
    list.split(',')
        .flat_map(|part| match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap()).collect::<Vec<_>>(),
            None => vec![part.parse::<usize>().unwrap()],
        })
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn a_thread_confined_to_one_cpu_can_be_pinned_to_another() {
    std::thread::spawn(|| {
        let cpus = current_cpu_mask();
        let (first, last) = (cpus[0], *cpus.last().unwrap());
        assert!(pin_current_thread(first), "pinning to CPU {first}");
        assert_eq!(current_cpu_mask(), vec![first]);
        assert!(pin_current_thread(last), "pinning to CPU {last} from a mask of CPU {first} only");
        assert_eq!(current_cpu_mask(), vec![last]);
        assert!(!pin_current_thread(1000) && !pin_current_thread(100_000), "CPUs that do not exist");
    })
    .join()
    .expect("the pinning thread");
}
