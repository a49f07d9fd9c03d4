//! The engine session of this tab: the live audio graph, the engine's
//! state for the UI, and the one path from the project document to the
//! engine ([`sync_engine`]). Every document change goes through it: the
//! description the document gives now is compared with what the engine
//! plays, parameter changes go as commands, structure as a plan that keeps
//! the state of everything that goes on (`stemroom_engine::handover`).
//! Main thread only.

use std::cell::RefCell;

use leptos::prelude::*;
use stemroom_engine::meter::StripReading;
use stemroom_engine::{Command, MeterSnapshot, Update};
use web_sys::AudioContext;

use stemroom_model::project::MASTER;

use crate::audio::EngineLink;
use crate::js_error;
use crate::project::ClipsKey;

/// The live audio graph of this tab, created on the first user gesture.
struct Session {
    /// The live audio graph (it lives exactly as long as the session).
    context: AudioContext,
    link: EngineLink,
    /// Between the engine and the speakers, after every meter: this
    /// listener's own gain (the streaming preview), never measured.
    listening: web_sys::GainNode,
    /// What the clips of the description sent last were built from: while
    /// it holds, a change reuses them (see [`sync_engine`]).
    built: Option<ClipsKey>,
}

thread_local! {
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
}

/// Runs `f` on the live context and engine, if the engine runs.
pub(crate) fn with_engine<R>(f: impl FnOnce(&AudioContext, &mut EngineLink) -> R) -> Option<R> {
    SESSION.with_borrow_mut(|s| s.as_mut().map(|s| f(&s.context, &mut s.link)))
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
    pub fn as_str(self) -> &'static str {
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

    /// Starts the engine for the open project without playing (following
    /// someone: their Play must find the audio ready). A user gesture.
    pub fn arm(self) {
        if matches!(
            self.state.get_untracked(),
            EngineState::Idle | EngineState::Failed
        ) {
            self.start(Vec::new());
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

    /// This listener's own gain after the meters (dB), eased over 50 ms:
    /// what the streaming preview sets. Nothing else hears or measures it.
    pub fn set_listening_gain_db(self, db: f64) {
        SESSION.with_borrow(|s| {
            if let Some(s) = s {
                let gain = s.listening.gain();
                let now = s.context.current_time();
                let amplitude = stemroom_engine::db_to_amplitude(db as f32);
                let _ = gain.set_target_at_time(amplitude, now, 0.05);
            }
        });
    }

    fn start(self, first: Vec<Command>) {
        self.state.set(EngineState::Starting);
        self.error.set(None);
        // Created inside the gesture, so the browser lets it make sound.
        // At the open project's rate (the document's frames are the
        // engine's, and a take is recorded at it): the browser converts to
        // the device's rate.
        let options = web_sys::AudioContextOptions::new();
        if let Some(project) = crate::project::snapshot() {
            options.set_sample_rate(project.meta.sample_rate as f32);
        }
        let context = match AudioContext::new_with_context_options(&options) {
            Ok(c) => c,
            Err(e) => return self.fail(format!("cannot open audio output: {}", js_error(e))),
        };
        let _ = context.resume();
        leptos::task::spawn_local(async move {
            let on_error = move |message: String| {
                self.error.set(Some(message));
                self.state.set(EngineState::Failed);
            };
            match EngineLink::create(&context, &first, true, on_error).await {
                Ok(link) => {
                    let listening = match context.create_gain() {
                        Ok(gain) => gain,
                        Err(e) => return self.fail(js_error(e)),
                    };
                    let connected = link
                        .node()
                        .connect_with_audio_node(&listening)
                        .and_then(|_| listening.connect_with_audio_node(&context.destination()));
                    if let Err(e) = connected {
                        return self.fail(js_error(e));
                    }
                    self.sample_rate.set(context.sample_rate());
                    SESSION.set(Some(Session {
                        context,
                        link,
                        listening,
                        built: None,
                    }));
                    self.state.set(EngineState::Running);
                    poll_meters(self);
                    sync_engine(self);
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
    static SYNC_PENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Set by [`EngineUi::start_project`]: Play follows the first load.
    static PLAY_AFTER_LOAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Brings the running engine to what the open project's document says,
/// once per display frame however many edits arrive in it: a parameter
/// change as commands to the playing plan, any other change as a plan that
/// keeps the state of every strip and device that goes on (see
/// `EngineLink::update`). Called after every document change.
pub fn sync_engine(ui: EngineUi) {
    if ui.state.get_untracked() != EngineState::Running || SYNC_PENDING.replace(true) {
        return;
    }
    request_animation_frame(move || {
        SYNC_PENDING.set(false);
        let began = now_ms();
        let rate = ui.sample_rate.get_untracked() as u32;
        let Some(project) = crate::project::snapshot() else {
            return;
        };
        let key = crate::project::clips_key();
        // This user's write modes: lanes in Off or being written are left
        // out, and the rides being recorded play instead. When no clip
        // changed since the last description (a change of the mix), its
        // clips are kept: no walk over every clip of the song.
        let kept = SESSION.with_borrow(|s| {
            let s = s.as_ref()?;
            let last = s.link.last_desc()?;
            (key.is_some() && s.built == key && last.sample_rate == rate)
                .then(|| project.to_engine_keeping_clips(last, crate::ride::plays))
        });
        let Some(mut desc) = kept.or_else(|| {
            crate::project::engine_desc(rate, move || sync_engine(ui), crate::ride::plays)
        }) else {
            return;
        };
        crate::ride::apply_rides(&mut desc, &project);
        crate::recorder::apply_monitoring(&mut desc, &project);
        // A/B: the version's clips are not the live ones; the next live
        // description is then built whole.
        let key = if crate::compare::apply(&mut desc) {
            None
        } else {
            key
        };
        let started = SESSION.with_borrow_mut(|s| {
            s.as_mut().map(|s| {
                let result = s.link.update(&desc);
                s.built = if result.is_ok() { key } else { None };
                result
            })
        });
        if let Some(Ok((update, _))) = &started {
            note_update(now_ms() - began, *update);
        }
        let started = started.map(|r| r.map(|(_, answered)| answered));
        // Plans and commands reach the engine in the order they were sent
        // (both queues are ordered by one count; the port is ordered), so
        // Play right after the first plan starts the song, not the tone.
        if matches!(started, Some(Ok(_))) && PLAY_AFTER_LOAD.take() {
            ui.send(Command::Play);
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

thread_local! {
    /// The main thread's cost of the last engine updates (ms) and whether
    /// each built a plan: what the workspace benchmark reads.
    static UPDATE_TIMES: RefCell<Vec<(f64, bool)>> = const { RefCell::new(Vec::new()) };
}

/// A clock for short costs: `performance.now()` (microseconds where the
/// page is cross-origin isolated; `Date.now()` counts whole milliseconds).
fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

fn note_update(ms: f64, update: Update) {
    UPDATE_TIMES.with_borrow_mut(|t| {
        if t.len() >= 1024 {
            t.drain(..512);
        }
        t.push((ms, update == Update::Plan));
    });
}

/// The main thread's cost of each engine update so far, document read to
/// commands or plan queued, as `[ms, plan (0 or 1), …]` (benchmarks).
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn engine_update_times() -> Vec<f64> {
    UPDATE_TIMES.with_borrow(|t| {
        t.iter()
            .flat_map(|&(ms, plan)| [ms, f64::from(u8::from(plan))])
            .collect()
    })
}

/// This listener's gain after the meters now (linear; 1 before the engine
/// runs): what the streaming preview applies (tests read it).
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn listening_gain() -> f64 {
    SESSION.with_borrow(|s| {
        s.as_ref()
            .map_or(1.0, |s| f64::from(s.listening.gain().value()))
    })
}

/// The playing engine's position now (frames), read from its meters; 0
/// before it runs (tests compare it with what others see).
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn engine_position() -> f64 {
    SESSION.with_borrow_mut(|s| s.as_mut().map_or(0.0, |s| s.link.meters().position as f64))
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
    // Automation passes note the playhead's value, and end when it stops.
    let faders = || {
        crate::project::snapshot().map_or_else(Vec::new, |p| {
            p.tracks
                .iter()
                .map(|t| (t.id.clone(), t.strip.gain_db as f32))
                .chain(
                    p.buses
                        .iter()
                        .map(|b| (b.id.clone(), b.strip.gain_db as f32)),
                )
                .chain([(MASTER.to_string(), p.master.gain_db as f32)])
                .collect()
        })
    };
    if crate::ride::tick(snapshot.position, snapshot.playing, faders) {
        sync_engine(ui);
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
