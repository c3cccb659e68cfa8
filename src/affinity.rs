//! CPU affinity of the server's threads: the pinned core thread gets a CPU to itself by taking that CPU
//! out of the calling thread's mask before the I/O threads are spawned (they inherit it). With the
//! `busy_spin` idle policy the core thread also asks for the highest CFS priority (nice -20, that
//! thread only), so that other processes on its CPU do not time-slice it (each slice taken away
//! leaves its caches cold for the next tick); without the privilege (root or CAP_SYS_NICE) it says so
//! and spins at its normal priority.

/// Removes `cpu` from the calling thread's CPU mask when at least one other allowed CPU remains;
/// returns whether it did. Threads spawned afterwards inherit the narrowed mask.
#[cfg(target_os = "linux")]
pub fn keep_off_cpu(cpu: usize) -> bool {
    if cpu >= libc::CPU_SETSIZE as usize {
        return false;
    }
    // SAFETY: cpu_set_t is plain data (all-zero is the empty set); the libc calls get a pointer to a
    // set of exactly the size passed, and pid 0 means the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if libc::sched_getaffinity(0, size, &mut set) != 0 || !libc::CPU_ISSET(cpu, &set) {
            return false;
        }
        libc::CPU_CLR(cpu, &mut set);
        if libc::CPU_COUNT(&set) == 0 {
            return false;
        }
        libc::sched_setaffinity(0, size, &set) == 0
    }
}

#[cfg(not(target_os = "linux"))]
pub fn keep_off_cpu(_cpu: usize) -> bool {
    false
}

/// Nice value the `busy_spin` core thread asks for.
const CORE_NICE: i32 = -20;

/// Raises the calling thread's scheduling priority to nice -20 (run on the core thread as it starts,
/// under `busy_spin`); logs the outcome.
#[cfg(target_os = "linux")]
pub fn raise_core_priority() {
    // SAFETY: gettid and setpriority take no pointers; PRIO_PROCESS with a thread id changes only
    // that thread's nice value on Linux.
    let ok = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, CORE_NICE) == 0 };
    if ok {
        log::info!("busy_spin: the core thread runs at nice {CORE_NICE}");
    } else {
        log::warn!(
            "busy_spin: could not raise the core thread's priority ({}); it spins at normal priority, so other processes on its CPU \
             can still time-slice it",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
pub fn raise_core_priority() {}
