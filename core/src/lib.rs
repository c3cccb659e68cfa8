//! pinion-core: the trading engine's domain and its single-threaded heart. It knows nothing of files,
//! sockets or libtorch: ticks arrive through rings, commands through queues, state leaves as snapshots.

#![warn(missing_docs)]

pub mod bars;
pub mod bounds;
pub mod broker;
pub mod change;
pub mod engine;
pub mod events;
pub mod fixed;
pub mod idle;
pub mod indicators;
pub mod instrument;
pub mod order;
pub mod policy;
pub mod records;
pub mod risk;
pub mod session;
pub mod strategy;
pub mod telemetry;
pub mod tick;
pub mod time;
