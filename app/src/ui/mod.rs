//! The page: transport, master meter, engine status and errors.

mod arrange;
mod device;
mod meter;
mod mixer;
mod start;
mod transport;
mod workspace;

pub use arrange::TRACK_COLOURS;

use std::cell::RefCell;

use leptos::prelude::*;
use stemroom_engine::meter::StripReading;
use stemroom_engine::{Command, MeterSnapshot};
use web_sys::AudioContext;

use crate::audio::{EngineLink, MemoryMode, js_error};

/// The live audio graph of this tab, created on the first user gesture.
struct Session {
    /// Held so the audio graph lives exactly as long as the session.
    _context: AudioContext,
    link: EngineLink,
}

thread_local! {
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
}

/// Where the audio engine is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineState {
    /// No AudioContext yet: browsers only allow one after a user gesture.
    Idle,
    Starting,
    Running,
    Failed,
}

impl EngineState {
    fn as_str(self) -> &'static str {
        match self {
            EngineState::Idle => "idle",
            EngineState::Starting => "starting",
            EngineState::Running => "running",
            EngineState::Failed => "failed",
        }
    }
}

/// Shared UI state, passed by context.
#[derive(Clone, Copy)]
pub struct EngineUi {
    pub state: RwSignal<EngineState>,
    pub meters: RwSignal<MeterSnapshot>,
    /// Per strip of the loaded project: tracks, buses, master.
    pub strips: RwSignal<Vec<StripReading>>,
    /// Fires [`READOUT_HZ`] times a second while the engine runs. Numbers
    /// and `data-*` readings refresh on it; meter bars and the playhead
    /// move every frame. Text changes lay the page out, and a readout that
    /// changes 60 times a second cannot be read anyway.
    pub readout: Trigger,
    pub sample_rate: RwSignal<f32>,
    pub error: RwSignal<Option<String>>,
}

impl EngineUi {
    /// A reading of the meters for display, refreshed on [`Self::readout`]:
    /// read any time, it changes (and redraws) only when its value does.
    /// Signals `read` uses are tracked as usual.
    pub fn readout<T>(
        self,
        read: impl Fn(&MeterSnapshot, &[StripReading]) -> T + Send + Sync + 'static,
    ) -> Memo<T>
    where
        T: PartialEq + Send + Sync + 'static,
    {
        Memo::new(move |_| {
            self.readout.track();
            self.meters
                .with_untracked(|m| self.strips.with_untracked(|s| read(m, s)))
        })
    }

    /// Play or stop; the first call creates the AudioContext and the engine.
    /// Called from a user gesture (click or key).
    pub fn toggle_play(self) {
        match self.state.get_untracked() {
            EngineState::Starting => {}
            EngineState::Running => {
                let command = if self.meters.get_untracked().playing {
                    Command::Stop
                } else {
                    Command::Play
                };
                self.send(command);
            }
            EngineState::Idle | EngineState::Failed => self.start(vec![Command::Play]),
        }
    }

    /// Starts the engine for the open project; called from a user gesture.
    /// `first` (the transport's position) applies at once, Play once the
    /// project is loaded: the first sound is the song, never the engine's
    /// test tone.
    pub fn start_project(self, first: Vec<Command>) {
        if matches!(
            self.state.get_untracked(),
            EngineState::Idle | EngineState::Failed
        ) {
            PLAY_AFTER_LOAD.set(true);
            self.start(first);
        }
    }

    pub fn send(self, command: Command) {
        let result = SESSION.with_borrow_mut(|s| match s {
            Some(session) => session.link.send(command),
            None => Err("the audio engine is not running".into()),
        });
        if let Err(e) = result {
            self.error.set(Some(e));
        }
    }

    fn start(self, first: Vec<Command>) {
        self.state.set(EngineState::Starting);
        self.error.set(None);
        // Created inside the gesture, so the browser lets it make sound.
        let context = match AudioContext::new() {
            Ok(c) => c,
            Err(e) => return self.fail(format!("cannot open audio output: {}", js_error(e))),
        };
        let _ = context.resume();
        leptos::task::spawn_local(async move {
            let on_error = move |message: String| {
                self.error.set(Some(message));
                self.state.set(EngineState::Failed);
            };
            match EngineLink::create(&context, &first, on_error).await {
                Ok(link) => {
                    if let Err(e) = link.node().connect_with_audio_node(&context.destination()) {
                        return self.fail(js_error(e));
                    }
                    self.sample_rate.set(context.sample_rate());
                    SESSION.set(Some(Session {
                        _context: context,
                        link,
                    }));
                    self.state.set(EngineState::Running);
                    poll_meters(self);
                    reload_engine(self);
                }
                Err(e) => {
                    let _ = context.close();
                    self.fail(e);
                }
            }
        });
    }

    fn fail(self, message: String) {
        web_sys::console::error_1(&message.clone().into());
        self.error.set(Some(message));
        self.state.set(EngineState::Failed);
    }
}

thread_local! {
    static RELOAD_PENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Set by [`EngineUi::start_project`]: Play follows the first load.
    static PLAY_AFTER_LOAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Shared memory: Play is sent once the engine has finished this many
    /// quanta — by then it has installed the plan queued before.
    static PLAY_AT_QUANTUM: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Loads what the open project's document says into the running engine,
/// coalescing bursts of edits into one load per display frame.
pub fn reload_engine(ui: EngineUi) {
    if ui.state.get_untracked() != EngineState::Running || RELOAD_PENDING.replace(true) {
        return;
    }
    request_animation_frame(move || {
        RELOAD_PENDING.set(false);
        let rate = ui.sample_rate.get_untracked() as u32;
        let Some(desc) = crate::project::engine_desc(rate, move || reload_engine(ui)) else {
            return;
        };
        let started = SESSION.with_borrow_mut(|s| s.as_mut().map(|s| s.link.start_load(&desc)));
        // Play after the plan is in: the port delivers messages in order;
        // with shared memory the engine takes plans and commands from two
        // queues, so wait until a quantum that began after the push (which
        // installs the plan) has finished. Any later is a frame or two.
        if matches!(started, Some(Ok(_))) && PLAY_AFTER_LOAD.take() {
            match started {
                Some(Ok(Some(_))) => ui.send(Command::Play),
                _ => PLAY_AT_QUANTUM.set(
                    SESSION.with_borrow_mut(|s| s.as_mut().map(|s| s.link.meters().quanta + 2)),
                ),
            }
        }
        match started {
            Some(Ok(Some(answered))) => leptos::task::spawn_local(async move {
                if let Err(e) = wasm_bindgen_futures::JsFuture::from(answered).await {
                    ui.error.set(Some(format!(
                        "the worklet could not load the project: {}",
                        js_error(e)
                    )));
                }
            }),
            Some(Err(e)) => ui.error.set(Some(e)),
            _ => {}
        }
    });
}

/// How often numeric readouts refresh (EBU Tech 3341 asks ≥ 10 Hz of a
/// loudness display).
pub const READOUT_HZ: f64 = 20.0;

thread_local! {
    static LAST_READOUT_MS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Copies the engine's meters into the UI once per display frame.
fn poll_meters(ui: EngineUi) {
    let Some((snapshot, strips)) =
        SESSION.with_borrow_mut(|s| s.as_mut().map(|s| (s.link.meters(), s.link.strip_meters())))
    else {
        return;
    };
    if PLAY_AT_QUANTUM.get().is_some_and(|q| snapshot.quanta >= q) {
        PLAY_AT_QUANTUM.set(None);
        ui.send(Command::Play);
    }
    ui.meters.set(snapshot);
    ui.strips.set(strips);
    // A frame's slack (4 ms) so 60 Hz displays tick every third frame.
    let now = js_sys::Date::now();
    if now - LAST_READOUT_MS.get() >= 1000.0 / READOUT_HZ - 4.0 {
        LAST_READOUT_MS.set(now);
        ui.readout.notify();
    }
    request_animation_frame(move || poll_meters(ui));
}

#[component]
pub fn App() -> impl IntoView {
    let ui = EngineUi {
        state: RwSignal::new(EngineState::Idle),
        meters: RwSignal::new(MeterSnapshot::default()),
        strips: RwSignal::new(Vec::new()),
        readout: Trigger::new(),
        sample_rate: RwSignal::new(48_000.0),
        error: RwSignal::new(None),
    };
    provide_context(ui);

    // Space is play/stop everywhere but in text fields, also while a button
    // has focus: its keyup would otherwise click the button as well.
    let space = |event: &web_sys::KeyboardEvent| {
        let typing = event
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(t).ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        event.code() == "Space" && !typing
    };
    let opened = crate::api::ProjectLink::from_location();
    // The project page plays from its cursor; elsewhere Space plays the tone.
    let on_project = opened.is_some();
    let _ = window_event_listener(leptos::ev::keydown, move |event| {
        if space(&event) {
            event.prevent_default();
            if !event.repeat() && !on_project {
                ui.toggle_play();
            }
        }
    });
    let _ = window_event_listener(leptos::ev::keyup, move |event| {
        if space(&event) {
            event.prevent_default();
        }
    });
    // Undo and redo of this user's own edits.
    let _ = window_event_listener(leptos::ev::keydown, move |event| {
        let command = event.ctrl_key() || event.meta_key();
        if command && event.code() == "KeyZ" {
            event.prevent_default();
            if event.shift_key() {
                crate::project::redo();
            } else {
                crate::project::undo();
            }
        } else if command && event.code() == "KeyY" {
            event.prevent_default();
            crate::project::redo();
        }
    });

    let mode = MemoryMode::CURRENT;
    let mode_label = match mode {
        MemoryMode::Shared => "Engine on shared memory",
        MemoryMode::Fallback => "Engine in fallback mode (page not cross-origin isolated)",
    };

    view! {
        <div class="app">
            <header class="topbar">
                <h1 class="brand">"Stemroom"</h1>
                <span class="engine-mode" data-mode=mode.as_str() title=mode_label>{mode_label}</span>
                <span class="engine-state" data-state=move || ui.state.get().as_str()>
                    {move || match ui.state.get() {
                        EngineState::Idle => "Audio off — press Play",
                        EngineState::Starting => "Starting audio…",
                        EngineState::Running => "Audio running",
                        EngineState::Failed => "Audio failed",
                    }}
                </span>
            </header>
            <Show when=move || ui.error.get().is_some()>
                <div class="error" role="alert">{move || ui.error.get()}</div>
            </Show>
            {match opened {
                Some((id, token)) => view! { <workspace::ProjectPage id=id token=token /> }.into_any(),
                None => view! { <start::StartPage /> }.into_any(),
            }}
        </div>
    }
}
