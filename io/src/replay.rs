//! Replay feeds: push recorded ticks into an `rtrb` ring as fast as possible (chunked writes, waiting
//! when full) or paced at a multiple of real time, optionally looped with time kept monotonic; plus
//! the drop-counting push a live feed uses, since it must never wait on the engine. With
//! [`Telemetry`] ([`replay_observed`], the live server), each tick is stamped when it is due (its
//! "receive"), counted per instrument, and timed into the ring (`feed_to_ring`); the ring's fill level
//! and the feed's state are published.

use pinion_core::telemetry::{Ring, Telemetry};
use pinion_core::tick::Tick;
use rtrb::Producer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Most ticks moved per ring write.
const MAX_CHUNK: usize = 4096;
/// Busy-wait rounds before yielding the thread while the ring is full.
const SPINS: u32 = 128;
/// Longest single sleep while pacing, so a stop request is seen promptly.
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// Gaps longer than this are slept (minus this much); shorter ones are spun.
const SPIN_BELOW_NS: u64 = 1_000_000;
/// Smallest pause between the end of one loop and the start of the next.
const MIN_LOOP_GAP_NS: i64 = 1_000_000;

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// No pacing: chunked writes, waiting (never dropping) while the ring is full.
    AsFastAsPossible,
    /// Original inter-tick spacing divided by the factor (1.0 = real time); waits when the ring is
    /// full, never drops. A factor that is not finite and positive means as fast as possible.
    Speed(f64),
    /// Real-time spacing with live-feed semantics: a full ring drops the tick (counted) instead of waiting.
    Live,
}

/// Replay settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayOptions {
    /// How fast ticks are pushed into the ring.
    pub pacing: Pacing,
    /// Restart from the beginning when done, shifting timestamps forward by the span plus one mean
    /// inter-tick gap (at least 1 ms) each time, so time stays monotonic. Ends only on stop.
    pub looped: bool,
    /// Virtual index of the first tick to send (index `i` is tick `i % len` of loop `i / len`), so a
    /// restarted server continues a looped replay where it stopped.
    pub start_index: u64,
    /// Stop once this virtual index is reached (None: no limit).
    pub end_index: Option<u64>,
}

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayStats {
    /// Ticks written into the ring.
    pub pushed: u64,
    /// Times the ring was found full and the replay had to wait.
    pub waits: u64,
    /// Ticks dropped because the ring was full (live semantics only).
    pub drops: u64,
    /// Completed passes over the input after the first (looped replays).
    pub loops: u64,
}

/// Pushes one tick from a live feed: returns false and counts a drop when the ring is full.
#[inline]
pub fn push_live(producer: &mut Producer<Tick>, tick: Tick, drops: &mut u64) -> bool {
    match producer.push(tick) {
        Ok(()) => true,
        Err(_) => {
            *drops += 1;
            false
        }
    }
}

/// Replays `ticks` once into `producer` with the given pacing, until done, `stop` is set, or the
/// consumer is gone.
pub fn replay(ticks: &[Tick], producer: &mut Producer<Tick>, pacing: Pacing, stop: &AtomicBool) -> ReplayStats {
    replay_with(ticks, producer, &ReplayOptions { pacing, looped: false, start_index: 0, end_index: None }, stop)
}

/// Replays with explicit options (see [`ReplayOptions::looped`]).
pub fn replay_with(ticks: &[Tick], producer: &mut Producer<Tick>, opts: &ReplayOptions, stop: &AtomicBool) -> ReplayStats {
    replay_observed(ticks, producer, opts, stop, None)
}

/// [`replay_with`], recording into `telemetry` when given: the feed is connected while it runs.
pub fn replay_observed(
    ticks: &[Tick],
    producer: &mut Producer<Tick>,
    opts: &ReplayOptions,
    stop: &AtomicBool,
    telemetry: Option<&Telemetry>,
) -> ReplayStats {
    if let Some(t) = telemetry {
        t.set_feed_connected(true);
    }
    let stats = replay_inner(ticks, producer, opts, stop, telemetry);
    if let Some(t) = telemetry {
        t.set_feed_connected(false);
    }
    stats
}

fn replay_inner(
    ticks: &[Tick],
    producer: &mut Producer<Tick>,
    opts: &ReplayOptions,
    stop: &AtomicBool,
    tel: Option<&Telemetry>,
) -> ReplayStats {
    let mut stats = ReplayStats::default();
    if ticks.is_empty() {
        return stats;
    }
    let n = ticks.len() as u64;
    let period = loop_period(ticks);
    let mut index = opts.start_index;
    if !opts.looped && index >= n {
        return stats;
    }
    let end = opts.end_index.unwrap_or(u64::MAX);
    let first_due = virtual_tick(ticks, period, index).ts_ns;
    let mut pacer = match opts.pacing {
        Pacing::AsFastAsPossible => None,
        Pacing::Speed(f) if !(f.is_finite() && f > 0.0) => None,
        Pacing::Speed(f) => Some(Pacer { clock: Instant::now(), t0: first_due, speed: f, live: false, tel }),
        Pacing::Live => Some(Pacer { clock: Instant::now(), t0: first_due, speed: 1.0, live: true, tel }),
    };
    while index < end {
        let lap = index / n;
        let pos = (index % n) as usize;
        let shift = period.saturating_mul(lap as i64);
        let stop_at = ((end - lap * n).min(n)) as usize;
        let slice = &ticks[pos..stop_at.max(pos)];
        let completed = match pacer.as_mut() {
            None => push_blocking(slice, shift, producer, stop, &mut stats, tel),
            Some(p) => p.run(slice, shift, producer, stop, &mut stats),
        };
        index = lap * n + stop_at as u64;
        if !completed || stop.load(Ordering::Relaxed) || index >= end || !opts.looped {
            return stats;
        }
        stats.loops += 1;
    }
    stats
}

/// Time shift between two laps of a looped replay: the span plus one mean inter-tick gap (>= 1 ms).
pub fn loop_period(ticks: &[Tick]) -> i64 {
    let (Some(first), Some(last)) = (ticks.first(), ticks.last()) else { return 0 };
    let span = last.ts_ns.saturating_sub(first.ts_ns).max(0);
    let mean_gap = if ticks.len() > 1 { span / (ticks.len() as i64 - 1) } else { 0 };
    span.saturating_add(mean_gap.max(MIN_LOOP_GAP_NS))
}

/// The tick at virtual index `i` of a looped replay (`ticks` must not be empty).
pub fn virtual_tick(ticks: &[Tick], period: i64, i: u64) -> Tick {
    let n = ticks.len() as u64;
    shifted(&ticks[(i % n) as usize], period.saturating_mul((i / n) as i64))
}

#[inline]
fn shifted(t: &Tick, shift: i64) -> Tick {
    let mut t = *t;
    t.ts_ns = t.ts_ns.saturating_add(shift);
    t
}

/// Waits until the ring has a free slot: spins, then yields. False on stop or a vanished consumer.
fn wait_for_space(producer: &Producer<Tick>, stop: &AtomicBool) -> bool {
    for _ in 0..SPINS {
        if producer.slots() > 0 {
            return true;
        }
        std::hint::spin_loop();
    }
    loop {
        if producer.slots() > 0 {
            return true;
        }
        if stop.load(Ordering::Relaxed) || producer.is_abandoned() {
            return false;
        }
        thread::yield_now();
    }
}

/// Pushes every tick (timestamps shifted), many per ring write, waiting while full. False when
/// stopped or the consumer is gone before all were pushed.
fn push_blocking(
    mut ticks: &[Tick],
    shift: i64,
    producer: &mut Producer<Tick>,
    stop: &AtomicBool,
    stats: &mut ReplayStats,
    tel: Option<&Telemetry>,
) -> bool {
    while !ticks.is_empty() {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let free = producer.slots();
        if free == 0 {
            stats.waits += 1;
            if !wait_for_space(producer, stop) {
                return false;
            }
            continue;
        }
        let n = free.min(ticks.len()).min(MAX_CHUNK);
        let Ok(chunk) = producer.write_chunk_uninit(n) else {
            continue;
        };
        let written = match tel {
            None => chunk.fill_from_iter(ticks[..n].iter().map(|t| shifted(t, shift))),
            Some(tel) => {
                let at = tel.clock().now_ns();
                let written = chunk.fill_from_iter(ticks[..n].iter().map(|t| {
                    let mut t = shifted(t, shift);
                    tel.feed_received_at(&mut t, at);
                    t
                }));
                tel.feed_pushed(at, written as u64);
                publish_fill(tel, producer);
                written
            }
        };
        stats.pushed += written as u64;
        ticks = &ticks[written..];
    }
    true
}

/// Publishes the tick ring's fill level.
fn publish_fill(tel: &Telemetry, producer: &Producer<Tick>) {
    let cap = producer.buffer().capacity();
    tel.set_ring(Ring::Ticks, cap - producer.slots(), cap);
}

/// Real-time pacing against a monotonic clock started at the first tick.
struct Pacer<'a> {
    clock: Instant,
    t0: i64,
    speed: f64,
    live: bool,
    tel: Option<&'a Telemetry>,
}

impl Pacer<'_> {
    /// Nanoseconds after the clock start at which a tick stamped `ts` is due.
    fn due_ns(&self, ts: i64) -> u64 {
        let offset = ts.saturating_sub(self.t0).max(0) as f64 / self.speed;
        offset.min(u64::MAX as f64) as u64
    }

    fn elapsed_ns(&self) -> u64 {
        self.clock.elapsed().as_nanos().min(u64::MAX as u128) as u64
    }

    /// Sleeps for long gaps and spins for the last stretch. False on stop.
    fn wait_until(&self, due: u64, stop: &AtomicBool) -> bool {
        loop {
            let now = self.elapsed_ns();
            if now >= due {
                return true;
            }
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let left = due - now;
            if left > SPIN_BELOW_NS {
                thread::sleep(Duration::from_nanos(left - SPIN_BELOW_NS).min(MAX_SLEEP));
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// One pass over `ticks`: each batch of due ticks goes out together.
    fn run(&mut self, ticks: &[Tick], shift: i64, producer: &mut Producer<Tick>, stop: &AtomicBool, stats: &mut ReplayStats) -> bool {
        let mut i = 0;
        while i < ticks.len() {
            if producer.is_abandoned() || !self.wait_until(self.due_ns(ticks[i].ts_ns.saturating_add(shift)), stop) {
                return false;
            }
            let now = self.elapsed_ns();
            let mut j = i + 1;
            while j < ticks.len() && self.due_ns(ticks[j].ts_ns.saturating_add(shift)) <= now {
                j += 1;
            }
            if self.live {
                for t in &ticks[i..j] {
                    let mut t = shifted(t, shift);
                    let at = self.tel.map(|tel| tel.feed_received(&mut t));
                    let pushed = push_live(producer, t, &mut stats.drops);
                    stats.pushed += pushed as u64;
                    if let (Some(tel), Some(at)) = (self.tel, at) {
                        match pushed {
                            true => tel.feed_pushed(at, 1),
                            false => tel.count_feed_drops(1),
                        }
                        publish_fill(tel, producer);
                    }
                }
            } else if !push_blocking(&ticks[i..j], shift, producer, stop, stats, self.tel) {
                return false;
            }
            i = j;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinion_core::fixed::{Price, Quantity};
    use pinion_core::instrument::InstrumentId;
    use rtrb::RingBuffer;
    use std::sync::Arc;

    fn ticks(n: usize, step_ns: i64) -> Vec<Tick> {
        (0..n)
            .map(|i| {
                let ts = 1_000 + (i as i64 / 3) * step_ns * 3; // runs of equal timestamps
                Tick::quote(ts, InstrumentId(0), Price(i as i64), Price(i as i64 + 1), Quantity(1), Quantity(1))
            })
            .collect()
    }

    /// Pops until `want` ticks arrived (then sets `stop`) or the producer is gone.
    fn consume(mut c: rtrb::Consumer<Tick>, want: usize, stop: Arc<AtomicBool>) -> thread::JoinHandle<Vec<Tick>> {
        thread::spawn(move || {
            let mut got = Vec::new();
            while got.len() < want {
                match c.pop() {
                    Ok(t) => got.push(t),
                    // The producer may push its last ticks between a failed pop and this check.
                    Err(_) if c.is_abandoned() => {
                        while got.len() < want {
                            match c.pop() {
                                Ok(t) => got.push(t),
                                Err(_) => break,
                            }
                        }
                        break;
                    }
                    Err(_) => thread::yield_now(),
                }
            }
            stop.store(true, Ordering::Relaxed);
            got
        })
    }

    #[test]
    fn fast_replay_delivers_every_tick_in_order() {
        let input = ticks(20_000, 10);
        let (mut p, c) = RingBuffer::new(16);
        let stop = Arc::new(AtomicBool::new(false));
        let h = consume(c, usize::MAX, stop.clone());
        let stats = replay(&input, &mut p, Pacing::AsFastAsPossible, &stop);
        drop(p);
        let got = h.join().unwrap();
        assert_eq!(got, input);
        assert_eq!((stats.pushed, stats.drops), (20_000, 0));
    }

    #[test]
    fn paced_replay_keeps_spacing_and_order() {
        let input = ticks(30, 2_000_000); // 3 ticks every 6 ms: 54 ms of data
        let (mut p, c) = RingBuffer::new(4);
        let stop = Arc::new(AtomicBool::new(false));
        let h = consume(c, usize::MAX, stop.clone());
        let t = Instant::now();
        let stats = replay(&input, &mut p, Pacing::Speed(2.0), &stop);
        let took = t.elapsed();
        drop(p);
        assert_eq!(h.join().unwrap(), input);
        assert_eq!(stats.pushed, 30);
        assert!(took >= Duration::from_millis(26), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[test]
    fn a_looped_replay_resumes_at_a_virtual_index_and_stops_at_the_end_index() {
        let input = ticks(10, 1_000);
        let period = loop_period(&input);
        let (mut p, mut c) = RingBuffer::new(64);
        let stop = AtomicBool::new(false);
        let opts = ReplayOptions { pacing: Pacing::AsFastAsPossible, looped: true, start_index: 17, end_index: Some(31) };
        let stats = replay_with(&input, &mut p, &opts, &stop);
        assert_eq!(stats.pushed, 14);
        for i in 17..31u64 {
            assert_eq!(c.pop().unwrap(), virtual_tick(&input, period, i), "virtual tick {i}");
        }
        assert!(c.pop().is_err());
    }

    #[test]
    fn looped_replay_shifts_time_forward() {
        let input = ticks(10, 1_000);
        let span = input[9].ts_ns - input[0].ts_ns;
        let period = span + MIN_LOOP_GAP_NS; // mean gap (1 µs) is below the 1 ms floor
        let (mut p, c) = RingBuffer::new(8);
        let stop = Arc::new(AtomicBool::new(false));
        let h = consume(c, 35, stop.clone());
        let opts = ReplayOptions { pacing: Pacing::AsFastAsPossible, looped: true, start_index: 0, end_index: None };
        let stats = replay_with(&input, &mut p, &opts, &stop);
        let got = h.join().unwrap();
        assert_eq!(got.len(), 35);
        assert!(stats.loops >= 3);
        for (k, t) in got.iter().enumerate() {
            let mut want = input[k % 10];
            want.ts_ns += (k / 10) as i64 * period;
            assert_eq!(*t, want, "tick {k}");
        }
        assert!(got.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    }

    #[test]
    fn live_semantics_drop_instead_of_waiting() {
        let (mut p, mut c) = RingBuffer::new(2);
        let mut drops = 0;
        let t = Tick::default();
        assert!(push_live(&mut p, t, &mut drops));
        assert!(push_live(&mut p, t, &mut drops));
        assert!(!push_live(&mut p, t, &mut drops));
        assert_eq!(drops, 1);
        assert!(c.pop().is_ok());

        let (mut p, _c) = RingBuffer::new(4);
        let input = ticks(9, 0); // all due at once
        let stats = replay(&input, &mut p, Pacing::Live, &AtomicBool::new(false));
        assert_eq!((stats.pushed, stats.drops, stats.waits), (4, 5, 0));
    }

    #[test]
    fn an_observed_replay_stamps_counts_and_times_each_tick() {
        let input = ticks(30, 1_000_000);
        let (mut p, c) = RingBuffer::new(8);
        let stop = Arc::new(AtomicBool::new(false));
        let h = consume(c, usize::MAX, stop.clone());
        let tel = Telemetry::new(1);
        let opts = ReplayOptions { pacing: Pacing::Speed(10.0), looped: false, start_index: 0, end_index: None };
        let stats = replay_observed(&input, &mut p, &opts, &stop, Some(&tel));
        drop(p);
        let got = h.join().unwrap();
        assert_eq!(stats.pushed, 30);
        assert!(got.iter().all(|t| t.reserved & 1 == 1), "every tick is stamped");
        let unstamped: Vec<Tick> = got.iter().map(|t| Tick { reserved: 0, ..*t }).collect();
        assert_eq!(unstamped, input);
        assert_eq!(tel.feed_ticks(0), 30);
        assert_eq!(tel.hop(pinion_core::telemetry::Hop::FeedToRing).snapshot().count(), 30);
        assert_eq!(tel.ring(Ring::Ticks).1, 8);
        assert!(!tel.feed_connected(), "disconnected once the replay ended");
    }

    #[test]
    fn stop_and_abandoned_consumer_end_the_replay() {
        let input = ticks(100, 10);
        let (mut p, c) = RingBuffer::new(4);
        drop(c);
        let stats = replay(&input, &mut p, Pacing::AsFastAsPossible, &AtomicBool::new(false));
        assert_eq!(stats.pushed, 4);
        let (mut p, _c) = RingBuffer::new(4);
        let stats = replay(&input, &mut p, Pacing::Speed(1.0), &AtomicBool::new(true));
        assert_eq!(stats.pushed, 0);
        assert!(replay(&[], &mut p, Pacing::Live, &AtomicBool::new(false)) == ReplayStats::default());
    }
}
