//! pinion-io: tick files, importers, replay feeds and the journal.

#![warn(missing_docs)]

pub mod backtest;
pub mod backtest_spec;
pub mod history;
pub mod import;
pub mod journal;
pub mod oanda;
pub mod oanda_fake;
pub mod replay;
pub mod sweep;
pub mod tickfile;

pub use import::{import_files, load_input, load_many, load_ticks, ImportError, ImportInput, ImportOptions, ImportSummary, TickData};
pub use replay::{push_live, replay, replay_observed, replay_with, Pacing, ReplayOptions, ReplayStats};
pub use tickfile::{TickFile, TickFileError, TickFileWriter};
