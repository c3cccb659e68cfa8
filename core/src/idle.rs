//! What the pinned core thread does when its tick ring and command queue are empty, in the manner of
//! Aeron's idle strategies. The choice trades a CPU for latency:
//!
//! - `busy_spin`: never gives the CPU up (a `pause` per round). The next tick finds the core with warm
//!   caches and branch predictors and no wake-up to wait for, at any tick rate. The right choice on a
//!   dedicated (isolated) core; it shows as 100% CPU on that core all the time.
//! - `backoff` (default): spins 64 rounds, yields until round 256, then sleeps 1 µs more each round up
//!   to `max_idle_sleep` (200 µs). Costs almost nothing when idle, so it fits a shared machine; at low
//!   tick rates most ticks find the core napping and run cold (a few µs at p99).
//! - `yielding`: spins 64 rounds, then `sched_yield`s forever: never sleeps, but lets other runnable
//!   threads have the CPU. In between the two.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The core thread's idle strategy (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum IdlePolicy {
    /// Never sleeps or yields: for a dedicated core.
    BusySpin,
    /// Spin, then yield, then sleep up to `max_idle_sleep`: for a shared machine.
    #[default]
    Backoff,
    /// Spin, then yield forever.
    Yielding,
}

/// An idle policy name that is not one of [`IdlePolicy::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown idle policy {0:?}: expected busy_spin, backoff or yielding")]
pub struct UnknownIdlePolicy(pub String);

/// Rounds spun before `backoff` and `yielding` start yielding.
const SPIN_ROUNDS: u32 = 64;
/// Rounds before `backoff` starts sleeping.
const YIELD_ROUNDS: u32 = 256;

impl IdlePolicy {
    /// Every policy.
    pub const ALL: [IdlePolicy; 3] = [IdlePolicy::BusySpin, IdlePolicy::Backoff, IdlePolicy::Yielding];

    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            IdlePolicy::BusySpin => "busy_spin",
            IdlePolicy::Backoff => "backoff",
            IdlePolicy::Yielding => "yielding",
        }
    }

    /// Idles once; `rounds` counts the idle rounds since the last work (from 1).
    #[inline]
    pub fn idle(self, rounds: u32, max_sleep: Duration) {
        match self {
            IdlePolicy::BusySpin => std::hint::spin_loop(),
            _ if rounds < SPIN_ROUNDS => std::hint::spin_loop(),
            IdlePolicy::Yielding => std::thread::yield_now(),
            IdlePolicy::Backoff if rounds < YIELD_ROUNDS => std::thread::yield_now(),
            IdlePolicy::Backoff => {
                let us = ((rounds - YIELD_ROUNDS) as u64 + 1).min(max_sleep.as_micros() as u64);
                std::thread::sleep(Duration::from_micros(us));
            }
        }
    }
}

impl std::str::FromStr for IdlePolicy {
    type Err = UnknownIdlePolicy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdlePolicy::ALL.into_iter().find(|p| p.name() == s.trim()).ok_or_else(|| UnknownIdlePolicy(s.to_string()))
    }
}

impl std::fmt::Display for IdlePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_serialize() {
        for p in IdlePolicy::ALL {
            assert_eq!(p.name().parse::<IdlePolicy>(), Ok(p));
            assert_eq!(serde_json::to_value(p).unwrap(), serde_json::json!(p.name()));
        }
        assert!("spin".parse::<IdlePolicy>().is_err());
        assert_eq!(IdlePolicy::default(), IdlePolicy::Backoff);
        // Idling never blocks for long, whatever the round.
        let t = std::time::Instant::now();
        for p in IdlePolicy::ALL {
            for r in [1, 100, 300, 100_000] {
                p.idle(r, Duration::from_micros(50));
            }
        }
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
