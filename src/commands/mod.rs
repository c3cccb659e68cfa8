//! The subcommands of the `pinion` binary.

pub mod backtest;
pub mod bench;
pub mod import;
pub mod journal;
pub mod journal_bench;
pub mod model;
pub mod serve;
pub mod sweep;
pub mod worker;
