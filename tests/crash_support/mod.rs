//! Helpers of the SIGKILL crash-recovery test (`tests/crash_recovery.rs`), and of no other test: the
//! `pinion serve` child with a raw HTTP/1.1 client (`server`), the journal read through
//! `pinion journal dump` and modelled run by run (`journal`), and the client-side record of
//! acknowledged state with its checks (`checker`); plus the knob parser and the kill-delay generator.

pub mod checker;
pub mod journal;
pub mod server;

pub fn env_or<T: std::str::FromStr>(k: &str, default: T) -> T {
    match std::env::var(k) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{k}={v:?} is not valid")),
        Err(_) => default,
    }
}

/// xorshift64* (no dependency needed for a reproducible schedule).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}
