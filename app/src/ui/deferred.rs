//! Work that can wait a few display frames: a queue run a few jobs per
//! animation frame, so a change that touches many views at once (scrolling
//! into the next screen of the arrange view) spreads over frames instead
//! of dropping one. Only for work whose result is not on screen yet.
//!
//! Main thread only.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use leptos::prelude::request_animation_frame;

/// Jobs run per display frame. Each job sets signals; the effects they
/// wake run right after, in the same frame.
const JOBS_PER_FRAME: usize = 2;

thread_local! {
    static QUEUE: RefCell<VecDeque<Box<dyn FnOnce()>>> = RefCell::new(VecDeque::new());
    static SCHEDULED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `job` in a coming animation frame, after the jobs queued before it.
pub fn queue(job: impl FnOnce() + 'static) {
    QUEUE.with_borrow_mut(|q| q.push_back(Box::new(job)));
    schedule();
}

fn schedule() {
    if !SCHEDULED.replace(true) {
        request_animation_frame(run);
    }
}

fn run() {
    SCHEDULED.set(false);
    for _ in 0..JOBS_PER_FRAME {
        let Some(job) = QUEUE.with_borrow_mut(VecDeque::pop_front) else {
            return;
        };
        job();
    }
    if QUEUE.with_borrow(|q| !q.is_empty()) {
        schedule();
    }
}
