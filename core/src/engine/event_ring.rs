//! Carries engine events off the core thread through an `rtrb` ring. When the ring is full the events
//! wait in a local overflow queue on the core side and go first on the next flush: nothing is dropped and
//! the core never waits for the reader.

use super::pipeline::EventSink;
use crate::events::EngineEvent;
use std::collections::VecDeque;

/// The core-side end: an [`EventSink`] that never blocks and never drops.
pub struct RingSink {
    producer: rtrb::Producer<EngineEvent>,
    overflow: VecDeque<EngineEvent>,
    overflowed: u64,
}

impl RingSink {
    /// A ring of `capacity` events; returns the sink (for the core) and the consumer (for the reader).
    pub fn new(capacity: usize) -> (RingSink, rtrb::Consumer<EngineEvent>) {
        let (producer, consumer) = rtrb::RingBuffer::new(capacity.max(2));
        (RingSink { producer, overflow: VecDeque::new(), overflowed: 0 }, consumer)
    }

    /// Events that had to wait in the overflow queue at least once.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    fn push_or_queue(&mut self, e: EngineEvent) {
        if !self.overflow.is_empty() || self.producer.push(e).is_err() {
            self.overflow.push_back(e);
            self.overflowed += 1;
        }
    }

    fn retry_overflow(&mut self) {
        while let Some(e) = self.overflow.front().copied() {
            if self.producer.push(e).is_err() {
                return;
            }
            self.overflow.pop_front();
        }
    }
}

impl EventSink for RingSink {
    fn publish(&mut self, events: &[EngineEvent]) {
        self.retry_overflow();
        for e in events {
            self.push_or_queue(*e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::BookStatus;
    use crate::order::BookId;

    #[test]
    fn overflow_keeps_order_and_loses_nothing() {
        let (mut sink, mut rx) = RingSink::new(4);
        let ev = |i| EngineEvent::BookStatus { book: BookId(i), status: BookStatus::Active, reason: None, ts_ns: 0 };
        let batch: Vec<EngineEvent> = (0..10).map(ev).collect();
        sink.publish(&batch);
        let mut got = Vec::new();
        while let Ok(e) = rx.pop() {
            got.push(e);
        }
        sink.publish(&[]);
        while let Ok(e) = rx.pop() {
            got.push(e);
        }
        sink.publish(&[]);
        while let Ok(e) = rx.pop() {
            got.push(e);
        }
        assert_eq!(got, batch);
    }
}
