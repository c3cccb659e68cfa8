//! pinion-core: the trading engine's domain and its single-threaded heart. It knows nothing of files,
//! sockets or libtorch: ticks arrive through rings, commands through queues, state leaves as snapshots.

pub mod bars;
pub mod fixed;
pub mod indicators;
pub mod instrument;
pub mod order;
pub mod policy;
pub mod risk;
pub mod tick;
pub mod time;
pub mod broker;
pub mod events;
pub mod strategy;
pub mod engine;
pub mod session;
