//! pinion-bus: pinion on NATS JetStream, with the official `async-nats` client on its own small
//! tokio runtime (nothing async touches the engine). Distributed sweeps (a coordinator puts runs on a
//! work-queue stream, workers pull them and publish results; tick files travel through the object
//! store by content hash) and the live export of journaled events.

pub mod common;
pub mod export;
pub mod objects;
pub mod sweep;
pub mod worker;

pub use common::BusError;
