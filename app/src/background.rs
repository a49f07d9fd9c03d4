//! Work off the page's thread: decoding, waveform peaks, offline renders.
//!
//! In the threaded build a job runs on the rayon pool (Web Workers on the
//! page's shared memory) and the page polls a `OnceLock` for its result:
//! the page's thread must never block, and one atomic load per poll does
//! not. Until the pool is up (or in the fallback build, or if the workers
//! failed to start) jobs run inline after yielding to the event loop.

use std::sync::atomic::{AtomicU32, Ordering};

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Workers in the rayon pool; 0 until `index.html` reports them started.
static WORKERS: AtomicU32 = AtomicU32::new(0);

/// Called by `index.html` once `initThreadPool` has resolved.
#[wasm_bindgen]
pub fn set_worker_count(workers: u32) {
    WORKERS.store(workers, Ordering::Release);
}

/// Resolves once the rayon workers have started, or failed to (at once in
/// the fallback build). A thread joining the shared memory takes
/// wasm-bindgen's start-up lock, and waits for it (`memory.atomic.wait32`)
/// when another thread is starting at the same moment; an AudioWorklet may
/// never wait, so its processor would fail to construct and the context
/// would play silence. Worklets therefore join only after the workers.
pub async fn workers_started() {
    let pool = web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &"stemroomThreads".into()).ok())
        .and_then(|p| p.dyn_into::<js_sys::Promise>().ok());
    if let Some(pool) = pool {
        // `index.html` resolves it either way (with 0 workers on failure).
        let _ = JsFuture::from(pool).await;
    }
}

/// Whether jobs run on worker threads.
pub fn parallel() -> bool {
    cfg!(feature = "threads") && WORKERS.load(Ordering::Acquire) > 0
}

/// Resolves after `ms` milliseconds (a macrotask: the page paints meanwhile).
pub async fn sleep(ms: i32) {
    let tick = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(tick).await;
}

/// Runs `job` off the page's thread when there are workers, and hands back
/// its result. `job` must not touch the DOM or thread-locals of the page.
pub async fn run<T: Send + 'static>(job: impl FnOnce(bool) -> T + Send + 'static) -> T {
    #[cfg(feature = "threads")]
    if parallel() {
        use std::sync::{Arc, Mutex};
        let done: Arc<Mutex<Option<T>>> = Arc::default();
        let slot = done.clone();
        rayon::spawn(move || {
            let result = job(true);
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(result);
            }
        });
        loop {
            sleep(4).await;
            // `try_lock` never waits: the page's thread may not block.
            if let Ok(mut slot) = done.try_lock()
                && let Some(result) = slot.take()
            {
                return result;
            }
        }
    }
    sleep(0).await;
    job(false)
}
