//! The worker that writes takes' files (`static/take-writer.js`) off the
//! page's thread, through synchronous access handles. Each request is
//! answered by sequence number. A worker that cannot start, fails, or stops
//! answering is given up: every request waiting on it, and every later one,
//! is reported `Lost`, and `take_store` does the work on the page instead,
//! so a take is never stuck behind a dead worker.
//!
//! Main thread only.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

/// How long one request may wait for its answer before the worker is
/// given up (a chunk takes milliseconds).
const ANSWER_MS: i32 = 10_000;

/// Why a request was not done by the worker.
#[derive(Debug)]
pub enum WriterError {
    /// The worker is gone (or never started): do it another way.
    Lost,
    /// The worker tried and the file system refused (its reason).
    Failed(String),
}

struct Writer {
    worker: web_sys::Worker,
    next: Cell<u32>,
    /// Requests waiting for an answer: resolve, reject.
    waiting: RefCell<HashMap<u32, (js_sys::Function, js_sys::Function)>>,
    _answers: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _failure: Closure<dyn FnMut(web_sys::Event)>,
}

enum State {
    Unstarted,
    Running(Rc<Writer>),
    GivenUp,
}

thread_local! {
    static STATE: RefCell<State> = const { RefCell::new(State::Unstarted) };
}

/// The marker a request is rejected with when the worker is given up.
const LOST: &str = "stemroom:take-writer-lost";

/// Starts the worker now (when an input opens: its script loads while the
/// server is there, not at the moment of Record).
pub fn start() {
    let _ = writer();
}

fn writer() -> Option<Rc<Writer>> {
    let running = STATE.with_borrow(|s| match s {
        State::Running(w) => Some(Some(w.clone())),
        State::GivenUp => Some(None),
        State::Unstarted => None,
    });
    if let Some(running) = running {
        return running;
    }
    let Ok(worker) = web_sys::Worker::new("/take-writer.js") else {
        STATE.set(State::GivenUp);
        return None;
    };
    let answers = Closure::<dyn FnMut(_)>::new(|event: web_sys::MessageEvent| {
        let data = event.data();
        let get = |k: &str| Reflect::get(&data, &k.into()).unwrap_or(JsValue::UNDEFINED);
        let Some(seq) = get("seq").as_f64() else {
            return;
        };
        let settle = STATE.with_borrow(|s| match s {
            State::Running(w) => w.waiting.borrow_mut().remove(&(seq as u32)),
            _ => None,
        });
        if let Some((resolve, reject)) = settle {
            let error = get("error");
            let _ = if error.is_undefined() {
                resolve.call0(&JsValue::NULL)
            } else {
                reject.call1(&JsValue::NULL, &error)
            };
        }
    });
    // The script did not load, or the worker failed outside a request.
    let failure = Closure::<dyn FnMut(_)>::new(|_: web_sys::Event| give_up());
    worker.set_onmessage(Some(answers.as_ref().unchecked_ref()));
    worker.set_onerror(Some(failure.as_ref().unchecked_ref()));
    let writer = Rc::new(Writer {
        worker,
        next: Cell::new(0),
        waiting: RefCell::new(HashMap::new()),
        _answers: answers,
        _failure: failure,
    });
    STATE.set(State::Running(writer.clone()));
    Some(writer)
}

/// Stops using the worker: what waits on it is told `Lost`.
fn give_up() {
    let state = STATE.replace(State::GivenUp);
    if let State::Running(writer) = state {
        writer.worker.terminate();
        let waiting: Vec<_> = writer.waiting.borrow_mut().drain().collect();
        for (_, (_, reject)) in waiting {
            let _ = reject.call1(&JsValue::NULL, &LOST.into());
        }
        web_sys::console::warn_1(&"the take writer stopped: takes are written on the page".into());
    }
}

/// Sends `fields` (and `transfer`) as one request and waits for its answer.
async fn request(
    fields: &[(&str, JsValue)],
    transfer: Option<&JsValue>,
) -> Result<(), WriterError> {
    let writer = writer().ok_or(WriterError::Lost)?;
    let seq = writer.next.get();
    writer.next.set(seq.wrapping_add(1));
    let message = Object::new();
    let _ = Reflect::set(&message, &"seq".into(), &seq.into());
    for (k, v) in fields {
        let _ = Reflect::set(&message, &(*k).into(), v);
    }
    let answered = Promise::new(&mut |resolve, reject| {
        writer.waiting.borrow_mut().insert(seq, (resolve, reject));
    });
    let sent = match transfer {
        Some(buffer) => writer
            .worker
            .post_message_with_transfer(&message, &js_sys::Array::of1(buffer)),
        None => writer.worker.post_message(&message),
    };
    if sent.is_err() {
        writer.waiting.borrow_mut().remove(&seq);
        give_up();
        return Err(WriterError::Lost);
    }
    // An answer, or the worker given up after a while without one.
    let late = Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_1(
                &resolve,
                ANSWER_MS,
                &LOST.into(),
            );
        }
    });
    let first = Promise::race(&js_sys::Array::of2(&answered, &late));
    match wasm_bindgen_futures::JsFuture::from(first).await {
        Ok(v) if v.as_string().as_deref() == Some(LOST) => {
            give_up();
            Err(WriterError::Lost)
        }
        Ok(_) => Ok(()),
        Err(e) if e.as_string().as_deref() == Some(LOST) => Err(WriterError::Lost),
        Err(e) => Err(WriterError::Failed(
            e.as_string()
                .unwrap_or_else(|| "the take writer failed".into()),
        )),
    }
}

/// Writes `bytes` as file `name` of take `id`, whole or not at all.
pub async fn write(id: &str, name: &str, bytes: &[u8]) -> Result<(), WriterError> {
    // A copy out of wasm memory (a shared memory cannot be transferred),
    // handed to the worker without another.
    let data = Uint8Array::new_with_length(bytes.len() as u32);
    data.copy_from(bytes);
    let buffer: JsValue = data.buffer().into();
    request(
        &[
            ("op", "write".into()),
            ("id", id.into()),
            ("name", name.into()),
            ("bytes", buffer.clone()),
        ],
        Some(&buffer),
    )
    .await
}

/// Removes take `id`'s directory, after every write sent before.
pub async fn remove(id: &str) -> Result<(), WriterError> {
    request(&[("op", "remove".into()), ("id", id.into())], None).await
}
