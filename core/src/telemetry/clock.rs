//! The cheap clock of the hop timestamps. On x86_64 with an invariant TSC (and on aarch64) `quanta`
//! reads the CPU's counter directly (`rdtsc`, a few ns, no system call, no vDSO) and scales it to
//! nanoseconds with a multiply and a shift, calibrated once against the OS monotonic clock; elsewhere it
//! falls back to the monotonic clock. One process-wide calibration is shared by every thread, so a
//! timestamp taken on the feed thread and one taken on the core thread can be subtracted (the TSC is
//! synchronized across cores where it is invariant). `bench/benches/telemetry.rs` compares it with
//! `std::time::Instant::now()`.

use std::sync::OnceLock;

/// A calibrated TSC clock giving nanoseconds since the process first asked for it.
#[derive(Debug, Clone)]
pub struct CheapClock {
    clock: quanta::Clock,
    base: u64,
}

static GLOBAL: OnceLock<CheapClock> = OnceLock::new();

impl CheapClock {
    /// The process-wide clock. The first call calibrates it (a few milliseconds): make it at start-up,
    /// never on the tick path; later calls and clones are free.
    pub fn global() -> &'static CheapClock {
        GLOBAL.get_or_init(|| {
            let clock = quanta::Clock::new();
            let base = clock.raw();
            CheapClock { clock, base }
        })
    }

    /// Nanoseconds since the clock's base. Never allocates, locks or makes a system call.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.clock.delta_as_nanos(self.base, self.clock.raw())
    }

    /// Nanoseconds from `earlier` (a [`now_ns`](Self::now_ns) value) to now; 0 if not later.
    #[inline]
    pub fn since(&self, earlier: u64) -> u64 {
        self.now_ns().saturating_sub(earlier)
    }
}

/// The 32-bit stamp a feed writes into a tick's `reserved` field: the low bits of [`CheapClock::now_ns`]
/// with the lowest bit set, so that 0 (every recorded tick file's value) means "not stamped".
#[inline]
pub fn stamp32(now_ns: u64) -> u32 {
    (now_ns as u32) | 1
}

/// Nanoseconds from a [`stamp32`] to `now_ns`, if the stamp is set and not in the future (the 32 bits
/// wrap every 4.29 s, so a longer wait reads as its remainder; a stamp ahead of `now_ns`, from clock
/// skew between cores, gives None).
#[inline]
pub fn since_stamp32(stamp: u32, now_ns: u64) -> Option<u64> {
    if stamp == 0 {
        return None;
    }
    let d = (now_ns as u32).wrapping_sub(stamp);
    (d < 1 << 31).then_some(d as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_advances_and_stamps_round_trip() {
        let c = CheapClock::global();
        let a = c.now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = c.now_ns();
        assert!(b > a + 1_000_000, "{a} -> {b}");
        assert!(c.since(a) >= b - a);
        assert_eq!(stamp32(0x1_0000_0004), 5);
        assert_eq!(since_stamp32(0, 10), None);
        assert_eq!(since_stamp32(stamp32(1000), 1500), Some(499));
        // Across a wrap of the 32 bits.
        assert_eq!(since_stamp32(stamp32(u32::MAX as u64 - 10), u32::MAX as u64 + 20), Some(30));
        // A stamp from slightly in the future (skew) is ignored.
        assert_eq!(since_stamp32(stamp32(2001), 2000), None);
    }
}
