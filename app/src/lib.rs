//! Stemroom's browser app: Leptos UI, and the audio bridge to the engine.
//!
//! This crate is built twice by `cargo xtask build`:
//! - with the `threads` feature: one shared-memory module that the page, the
//!   AudioWorklet and the rayon workers all instantiate on the same memory;
//! - without it: the fallback for pages that are not cross-origin isolated,
//!   where the worklet runs its own copy of the engine fed through its port.
//!
//! Natively the crate is empty, so workspace-wide native builds skip it.
#![cfg(target_arch = "wasm32")]

pub mod api;
pub mod audio;
pub mod background;
pub mod compare;
pub mod export_files;
pub mod input;
pub mod project;
pub mod recorder;
pub mod ride;
pub mod session;
pub mod sync;
pub mod take_store;
pub mod take_upload;
pub mod take_writer;
pub mod ui;
pub mod worklet;

use std::cell::RefCell;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

thread_local! {
    /// URL of the directory this module was loaded from (the hashed `pkg/…/`).
    static PKG_URL: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The URL of a file shipped next to this module.
pub(crate) fn pkg_file(name: &str) -> String {
    PKG_URL.with_borrow(|base| format!("{base}{name}"))
}

/// A readable message for a JS exception.
pub fn js_error(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Calls `object.method(args…)` and awaits the promise it returns.
pub(crate) async fn call(
    object: &JsValue,
    method: &str,
    args: &[JsValue],
) -> Result<JsValue, String> {
    let function: js_sys::Function = js_sys::Reflect::get(object, &method.into())
        .map_err(js_error)?
        .dyn_into()
        .map_err(|_| format!("the browser has no {method}"))?;
    let array: js_sys::Array = args.iter().collect();
    let result = function.apply(object, &array).map_err(js_error)?;
    match result.dyn_into::<js_sys::Promise>() {
        Ok(promise) => wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .map_err(js_error),
        Err(value) => Ok(value),
    }
}

/// Main thread, once: remembers where the module lives and mounts the UI.
///
/// Not a `#[wasm_bindgen(start)]` function: the worklet and the workers
/// instantiate this same module and must not mount a UI.
#[wasm_bindgen]
pub fn start(pkg_url: String) {
    console_error_panic_hook::set_once();
    PKG_URL.set(pkg_url);
    leptos::mount::mount_to_body(ui::App);
}

/// The yrs client id a new document gets in this tab: what presence shows
/// for this user, and what the browser tests check is random in wasm (a
/// fixed id would make every user's edits collide).
#[wasm_bindgen]
pub fn new_document_client_id() -> f64 {
    stemroom_model::client_id(&yrs::Doc::new()) as f64
}

/// `"shared"` for the threaded build, `"fallback"` otherwise.
#[wasm_bindgen]
pub fn memory_mode() -> String {
    audio::MemoryMode::CURRENT.as_str().into()
}

/// The bytes of this module's wasm memory now (tests: a recording keeps
/// it flat).
#[wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let buffer = memory.buffer();
    js_sys::Reflect::get(&buffer, &"byteLength".into())
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0)
}
