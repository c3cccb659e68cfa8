//! CPU affinity of the server's threads: the pinned core thread gets a CPU to itself by taking that CPU
//! out of the calling thread's mask before the I/O threads are spawned (they inherit it).

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
