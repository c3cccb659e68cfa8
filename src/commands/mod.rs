//! The subcommands of the `pinion` binary.

pub mod backtest;
pub mod import;
pub mod serve;
