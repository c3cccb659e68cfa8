//! Parameter sweeps: the parameter sets (grid or random), running them locally on several threads
//! with the backtest's own run function, their metrics, and the table (CSV, JSON, HTML report).
//! The distributed version (NATS JetStream) lives in `pinion-bus` and reuses all of this.

pub mod grid;
pub mod html;
pub mod metrics;
pub mod output;
pub mod runner;

pub use grid::{expand_grid, parse_grid, sample_random, GridError, Params};
pub use metrics::{RunResult, SweepSink};
pub use output::{rank, write_csv, write_json, Metric};
pub use runner::{plan, run_id, run_local, run_single, settings_for, Plan, RunOutput, SweepError, SweepFile};
