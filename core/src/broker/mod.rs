//! The execution venue inside the core: the paper broker with its money rules, positions and FIFO lots.

pub mod conversion;
pub mod paper;
pub mod position;

pub use paper::{Awaiting, BrokerState, PaperBroker, PaperConfig, VenueReport};
