//! Cache warming for a core that spins between ticks. On a quiet market (a tick every millisecond or
//! so) the core's caches do not stay warm by themselves while it spins: another thread on the sibling
//! hyperthread, or a task that got the CPU for a moment, evicts the lines the next tick needs, and
//! that tick then pays a miss for each (a few µs at p99 where a warm tick takes ~200 ns). So the spin
//! loop reads the engine's working set back in every few tens of microseconds ([`Engine::warm`]):
//! one read per cache line of the engine, its books, their strategies and bar aggregators, the
//! broker's quotes, positions and rates, the risk engine and the event buffer's first lines. Reads
//! only; nothing is written, nothing allocated, no system call.
//!
//! [`Engine::warm`]: crate::engine::Engine::warm

use std::mem::MaybeUninit;

/// Bytes per cache line on the machines pinion runs on (x86-64, aarch64).
const LINE: usize = 64;

/// Reads one byte of every cache line of `len` bytes at `ptr`.
#[inline]
fn touch_bytes(ptr: *const u8, len: usize) {
    let mut off = 0;
    while off < len {
        // SAFETY: the callers pass the address and size of a live borrowed value or of a vector's
        // allocation (its capacity), and `off < len`, so the read is in bounds. It reads a
        // `MaybeUninit<u8>`, which may be padding or spare capacity without being undefined.
        let b = unsafe { ptr.add(off).cast::<MaybeUninit<u8>>().read_volatile() };
        std::hint::black_box(b);
        off += LINE;
    }
}

/// Brings every cache line of `value` (its own bytes, not what it points to) into this core's cache.
#[inline]
pub fn touch<T: ?Sized>(value: &T) {
    touch_bytes((value as *const T).cast::<u8>(), std::mem::size_of_val(value));
}

/// Brings the elements of `items` into this core's cache.
#[inline]
pub fn touch_slice<T>(items: &[T]) {
    touch_bytes(items.as_ptr().cast::<u8>(), std::mem::size_of_val(items));
}

/// Brings the first `lines` cache lines of `v`'s allocation (used or spare) into this core's cache:
/// where the next pushes go.
#[inline]
pub fn touch_capacity<T>(v: &Vec<T>, lines: usize) {
    let bytes = (v.capacity() * std::mem::size_of::<T>()).min(lines * LINE);
    touch_bytes(v.as_ptr().cast::<u8>(), bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_reads_without_changing_anything() {
        let v: Vec<u64> = Vec::with_capacity(100);
        touch_capacity(&v, 4);
        let items = [1u8, 2, 3];
        touch_slice(&items);
        touch(&items[..]);
        let boxed: Box<dyn std::fmt::Debug> = Box::new((1u64, [0u8; 300]));
        touch(&*boxed);
        touch_slice::<u32>(&[]);
        assert_eq!(items, [1, 2, 3]);
        assert!(v.is_empty());
    }
}
