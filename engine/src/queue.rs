//! A bounded, lock-free, single-producer single-consumer queue.
//!
//! This is how the UI thread talks to the audio thread: the producer pushes
//! messages (small `Copy` commands, or boxed render plans), the audio thread
//! pops them at the start of each quantum. Neither side ever waits for the
//! other, and nothing allocates after [`channel`] returns. In the browser both ends live in the same shared wasm
//! memory, one in the main thread's instance and one in the worklet's.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Ring<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    /// Next slot to read; written only by the consumer.
    head: AtomicUsize,
    /// Next slot to write; written only by the producer.
    tail: AtomicUsize,
}

// SAFETY: a slot is written only by the single producer before it publishes
// `tail` (Release) and read only by the single consumer after it observes it
// (Acquire); `head` hands slots back the same way. `T: Send` because values
// cross threads.
unsafe impl<T: Send> Sync for Ring<T> {}

/// The sending end. Owned by exactly one thread at a time.
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
}

/// The receiving end. Owned by exactly one thread at a time (the audio thread).
pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
}

/// Creates a queue holding at least `capacity` items (rounded up to a power of two).
///
/// Called on the control thread: this is the only allocation the queue makes.
pub fn channel<T: Send>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let size = capacity.max(2).next_power_of_two();
    let slots = (0..size)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let ring = Arc::new(Ring {
        slots,
        mask: size - 1,
        head: AtomicUsize::new(0),
        tail: AtomicUsize::new(0),
    });
    (Producer { ring: ring.clone() }, Consumer { ring })
}

impl<T: Send> Producer<T> {
    /// Appends `value`, or gives it back when the queue is full.
    pub fn push(&mut self, value: T) -> Result<(), T> {
        let ring = &*self.ring;
        let tail = ring.tail.load(Ordering::Relaxed);
        let head = ring.head.load(Ordering::Acquire);
        if tail.wrapping_sub(head) > ring.mask {
            return Err(value);
        }
        // SAFETY: the slot at `tail` is not visible to the consumer until the
        // store below, and we are the only producer (`&mut self`).
        unsafe { (*ring.slots[tail & ring.mask].get()).write(value) };
        ring.tail.store(tail.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Free slots right now (a lower bound: the consumer may free more).
    pub fn free(&self) -> usize {
        let ring = &*self.ring;
        ring.mask + 1
            - ring
                .tail
                .load(Ordering::Relaxed)
                .wrapping_sub(ring.head.load(Ordering::Acquire))
    }
}

impl<T: Send> Consumer<T> {
    /// Takes the oldest value, if any. Wait-free: safe on the audio thread.
    pub fn pop(&mut self) -> Option<T> {
        let ring = &*self.ring;
        let head = ring.head.load(Ordering::Relaxed);
        if head == ring.tail.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: the producer published this slot (Acquire above) and will not
        // reuse it until we advance `head`; we are the only consumer.
        let value = unsafe { (*ring.slots[head & ring.mask].get()).assume_init_read() };
        ring.head.store(head.wrapping_add(1), Ordering::Release);
        Some(value)
    }
}

impl<T> Drop for Ring<T> {
    /// Drops values pushed but never popped (both ends are gone by now).
    fn drop(&mut self) {
        let (mut head, tail) = (*self.head.get_mut(), *self.tail.get_mut());
        while head != tail {
            // SAFETY: slots in head..tail hold initialised, unconsumed values.
            unsafe { self.slots[head & self.mask].get_mut().assume_init_drop() };
            head = head.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_and_capacity() {
        let (mut tx, mut rx) = channel::<u32>(3);
        assert_eq!(tx.free(), 4);
        for i in 0..4 {
            tx.push(i).unwrap();
        }
        assert_eq!(tx.push(99), Err(99), "a full queue hands the value back");
        assert_eq!(rx.pop(), Some(0));
        tx.push(4).unwrap();
        let drained: Vec<_> = std::iter::from_fn(|| rx.pop()).collect();
        assert_eq!(drained, [1, 2, 3, 4]);
        assert_eq!(rx.pop(), None);
    }

    #[test]
    fn owned_values_move_through_and_leftovers_are_dropped() {
        let marker = std::sync::Arc::new(());
        let (mut tx, mut rx) = channel::<Box<std::sync::Arc<()>>>(4);
        for _ in 0..3 {
            tx.push(Box::new(marker.clone())).unwrap();
        }
        drop(rx.pop());
        assert_eq!(std::sync::Arc::strong_count(&marker), 3);
        drop((tx, rx));
        assert_eq!(
            std::sync::Arc::strong_count(&marker),
            1,
            "unpopped values are dropped with the queue"
        );
    }

    #[test]
    fn two_threads_see_every_value_once_in_order() {
        const N: u64 = 200_000;
        let (mut tx, mut rx) = channel::<u64>(64);
        let producer = std::thread::spawn(move || {
            for i in 0..N {
                let mut v = i;
                while let Err(back) = tx.push(v) {
                    v = back;
                    std::hint::spin_loop();
                }
            }
        });
        let mut expected = 0;
        while expected < N {
            if let Some(v) = rx.pop() {
                assert_eq!(v, expected);
                expected += 1;
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.pop(), None);
    }
}
