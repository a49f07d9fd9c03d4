//! Proof that real-time code allocates nothing.
//!
//! A test binary installs [`CountingAllocator`] as its global allocator and
//! wraps the code under test in [`count_allocations`]: every allocation,
//! reallocation or free made by *this thread* inside the closure is counted.
//!
//! ```text
//! #[global_allocator]
//! static ALLOC: CountingAllocator = CountingAllocator;
//! let (_, allocs) = count_allocations(|| engine.process());
//! assert_eq!(allocs, 0);
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting what guarded code does.
pub struct CountingAllocator;

fn note() {
    // `try_with`: thread-locals may already be gone while a thread exits.
    let _ = GUARDED.try_with(|g| {
        if g.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: forwards every call to `System` unchanged; the bookkeeping touches
// only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns its result with the number of heap operations it made
/// on this thread. Only meaningful where [`CountingAllocator`] is installed.
pub fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = COUNT.with(Cell::get);
    GUARDED.with(|g| g.set(true));
    let result = f();
    GUARDED.with(|g| g.set(false));
    (result, COUNT.with(Cell::get) - before)
}
