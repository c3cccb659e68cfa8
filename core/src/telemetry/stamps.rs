//! When each batch of events left the core: the [`StampedSink`] wraps the core's event sink and, after
//! each flush, pushes `(events published so far, now)` into a small SPSC ring (no allocation, no lock,
//! no system call; a full ring drops the stamp). The reader of the event ring (the publisher) follows it
//! with a [`StampReader`], which tells each event's flush time, for the `event_to_journal` and
//! `event_to_ws` hops. A dropped or late stamp only leaves some events untimed or timed by a later
//! flush (a shorter figure), never misattributes order.

use super::CheapClock;
use crate::engine::pipeline::EventSink;
use crate::events::EngineEvent;

/// Capacity of the stamp ring (the publisher drains it every millisecond or so).
pub const STAMP_CAPACITY: usize = 4096;

/// One flush of the core: the events published through it so far (cumulative count, its end) and the
/// clock ns when it was handed to the event ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushStamp {
    /// Events published through the sink up to and including this flush.
    pub end: u64,
    /// [`CheapClock::now_ns`] right after the flush.
    pub at_ns: u64,
}

/// An [`EventSink`] that stamps each flush of the sink it wraps.
pub struct StampedSink<S> {
    inner: S,
    published: u64,
    stamps: rtrb::Producer<FlushStamp>,
    clock: CheapClock,
}

impl<S> StampedSink<S> {
    /// Wraps `inner`; the reader follows the stamps in the order the events leave `inner`.
    pub fn new(inner: S, clock: &CheapClock) -> (StampedSink<S>, StampReader) {
        let (stamps, rx) = rtrb::RingBuffer::new(STAMP_CAPACITY);
        let reader = StampReader { rx, consumed: 0, batch_start: 0, batch: Vec::with_capacity(STAMP_CAPACITY), cursor: 0 };
        (StampedSink { inner, published: 0, stamps, clock: clock.clone() }, reader)
    }

    /// The wrapped sink.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The wrapped sink, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: EventSink> EventSink for StampedSink<S> {
    #[inline]
    fn publish(&mut self, events: &[EngineEvent]) {
        self.inner.publish(events);
        self.published += events.len() as u64;
        let _ = self.stamps.push(FlushStamp { end: self.published, at_ns: self.clock.now_ns() });
    }
}

/// The reader's side: which flush (and so which time) each event it takes belongs to.
pub struct StampReader {
    rx: rtrb::Consumer<FlushStamp>,
    consumed: u64,
    batch_start: u64,
    batch: Vec<FlushStamp>,
    cursor: usize,
}

impl StampReader {
    /// The reader is about to handle the next `len` events of the event ring, in order: collects the
    /// stamps of the flushes they belong to.
    pub fn begin(&mut self, len: usize) {
        self.batch.clear();
        self.cursor = 0;
        self.batch_start = self.consumed;
        self.consumed += len as u64;
        while let Ok(s) = self.rx.peek() {
            if s.end > self.consumed {
                break;
            }
            let s = *s;
            let _ = self.rx.pop();
            if s.end > self.batch_start {
                self.batch.push(s);
            }
        }
    }

    /// The stamps of the flushes that ended within the current batch.
    pub fn stamps(&self) -> &[FlushStamp] {
        &self.batch
    }

    /// When the `i`th event of the current batch left the core (call with increasing `i`); None if its
    /// stamp is missing.
    pub fn origin(&mut self, i: usize) -> Option<u64> {
        let g = self.batch_start + i as u64;
        while self.batch.get(self.cursor).is_some_and(|s| s.end <= g) {
            self.cursor += 1;
        }
        self.batch.get(self.cursor).map(|s| s.at_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::BookStatus;
    use crate::order::BookId;

    struct Count(usize);
    impl EventSink for Count {
        fn publish(&mut self, events: &[EngineEvent]) {
            self.0 += events.len();
        }
    }

    #[test]
    fn each_event_gets_the_time_of_its_flush() {
        let clock = CheapClock::global();
        let (mut sink, mut reader) = StampedSink::new(Count(0), clock);
        let ev = EngineEvent::BookStatus { book: BookId(0), status: BookStatus::Active, reason: None, ts_ns: 0 };
        sink.publish(&[ev, ev]);
        sink.publish(&[ev]);
        sink.publish(&[ev, ev, ev]);
        assert_eq!(sink.inner().0, 6);
        // The reader takes the first two flushes as one batch, then the third.
        reader.begin(3);
        let s = reader.stamps().to_vec();
        assert_eq!(s.iter().map(|s| s.end).collect::<Vec<_>>(), vec![2, 3]);
        let origins: Vec<Option<u64>> = (0..3).map(|i| reader.origin(i)).collect();
        assert_eq!(origins, vec![Some(s[0].at_ns), Some(s[0].at_ns), Some(s[1].at_ns)]);
        reader.begin(3);
        assert_eq!(reader.stamps().len(), 1);
        assert!(reader.origin(2).is_some());
        // Events whose stamp has not arrived yet are untimed; the late stamp is skipped later.
        let (mut sink2, mut r2) = StampedSink::new(Count(0), clock);
        r2.begin(1);
        assert_eq!(r2.origin(0), None);
        sink2.publish(&[ev]);
        sink2.publish(&[ev]);
        r2.begin(1);
        assert_eq!(r2.stamps().iter().map(|s| s.end).collect::<Vec<_>>(), vec![2]);
    }
}
