//! The audio bridge: an engine in an AudioWorklet, controlled from the UI thread.
//!
//! With shared memory the UI thread builds the engine, hands it to the worklet
//! on the same wasm memory, queues commands through the engine's lock-free
//! queue and reads its meters from atomics. Without shared memory the worklet
//! instantiates its own copy of the module, commands travel through the node's
//! `MessagePort`, and the worklet posts meter snapshots back.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Float32Array, Object, Reflect};
use stemroom_engine::capture::CaptureReader;
use stemroom_engine::meter::{StripReading, decode_meter_message};
use stemroom_engine::project::ProjectDesc;
use stemroom_engine::{CHANNELS, Command, EngineControl, MeterSnapshot, Update};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::js_error;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AudioBuffer, AudioWorkletNode, AudioWorkletNodeOptions, BaseAudioContext, MessageEvent,
    MessagePort, OfflineAudioContext, OfflineAudioContextOptions,
};

/// Seconds of input the capture ring holds: how long the page's thread may
/// stall before a take loses frames.
const CAPTURE_SECONDS: f32 = 10.0;

/// The name `engine-processor.js` registers.
pub const PROCESSOR_NAME: &str = "stemroom-engine";

/// How the page and the worklet share (or do not share) the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryMode {
    /// Cross-origin isolated page: one shared wasm memory.
    Shared,
    /// No `SharedArrayBuffer`: a separate engine in the worklet, via its port.
    Fallback,
}

impl MemoryMode {
    pub const CURRENT: MemoryMode = if cfg!(feature = "threads") {
        MemoryMode::Shared
    } else {
        MemoryMode::Fallback
    };

    pub fn as_str(self) -> &'static str {
        match self {
            MemoryMode::Shared => "shared",
            MemoryMode::Fallback => "fallback",
        }
    }

    /// The worklet entry point, which imports the matching build.
    fn worklet_file(self) -> &'static str {
        match self {
            MemoryMode::Shared => "worklet-shared.js",
            MemoryMode::Fallback => "worklet-fallback.js",
        }
    }
}

/// The UI thread's handle on an engine running in a worklet.
pub struct EngineLink {
    node: AudioWorkletNode,
    channel: Channel,
    /// The reader's end of the engine's capture ring (shared memory, live
    /// contexts only): what the recorder drains.
    capture: Option<CaptureReader>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_processor_error: Closure<dyn FnMut()>,
}

enum Channel {
    Shared(EngineControl),
    Port {
        port: MessagePort,
        meters: Rc<Cell<MeterSnapshot>>,
        strips: Rc<RefCell<Vec<StripReading>>>,
        /// Settles the pending `load_project` when the worklet answers.
        loading: Rc<RefCell<Option<(js_sys::Function, js_sys::Function)>>>,
        /// What the worklet's engine plays: the project posted last, with
        /// every command posted since.
        last: Option<ProjectDesc>,
    },
}

impl EngineLink {
    /// Loads the worklet into `context` and starts an engine in it.
    ///
    /// `initial` commands are applied before the first quantum (so an offline
    /// render starts deterministically); `on_error` receives errors the
    /// worklet reports later, with the worklet's own message.
    /// `capture`: give the engine a capture ring for recording (shared
    /// memory only; the worklet then takes an input).
    pub async fn create(
        context: &BaseAudioContext,
        initial: &[Command],
        capture: bool,
        on_error: impl Fn(String) + 'static,
    ) -> Result<EngineLink, String> {
        let mode = MemoryMode::CURRENT;
        if mode == MemoryMode::Shared {
            crate::background::workers_started().await;
        }
        let url = crate::pkg_file(mode.worklet_file());
        let worklet = context.audio_worklet().map_err(js_error)?;
        JsFuture::from(worklet.add_module(&url).map_err(js_error)?)
            .await
            .map_err(|e| format!("cannot load the audio worklet {url}: {}", js_error(e)))?;

        let processor_options = Object::new();
        set(&processor_options, "module", &wasm_bindgen::module());
        let mut control = None;
        let mut parked = None;
        let mut reader = None;
        match mode {
            MemoryMode::Shared => {
                let (mut ctl, mut engine) = stemroom_engine::engine_pair(context.sample_rate());
                if capture {
                    let (writer, read) = stemroom_engine::capture::capture_ring(
                        CAPTURE_SECONDS,
                        context.sample_rate(),
                    );
                    engine.set_capture(writer);
                    reader = Some(read);
                }
                for command in initial {
                    ctl.send(*command)
                        .map_err(|_| "the engine's command queue is full")?;
                }
                let slot = crate::worklet::hand_over(engine)?;
                set(&processor_options, "memory", &wasm_bindgen::memory());
                set(&processor_options, "slot", &slot.into());
                parked = Some(slot);
                control = Some(ctl);
            }
            MemoryMode::Fallback => {
                let commands = Array::new();
                for command in initial {
                    commands.push(&js_sys::Float64Array::from(&command.encode()[..]).into());
                }
                set(&processor_options, "commands", &commands);
            }
        }

        let options = AudioWorkletNodeOptions::new();
        options.set_number_of_inputs(u32::from(reader.is_some()));
        options.set_number_of_outputs(1);
        options.set_output_channel_count(&Array::of1(&(CHANNELS as u32).into()));
        options.set_processor_options(Some(&processor_options));
        let node = AudioWorkletNode::new_with_options(context, PROCESSOR_NAME, &options).map_err(|e| {
            if let Some(slot) = parked {
                crate::worklet::reclaim(slot);
            }
            // addModule() resolves even when the module throws; this is where it shows.
            format!(
                "the audio engine did not start in the worklet ({}); the browser console has the worklet's own error",
                js_error(e)
            )
        })?;

        let port = node.port().map_err(js_error)?;
        let meters = Rc::new(Cell::new(MeterSnapshot::default()));
        let strips: Rc<RefCell<Vec<StripReading>>> = Rc::default();
        let loading: Rc<RefCell<Option<(js_sys::Function, js_sys::Function)>>> = Rc::default();
        let on_error = Rc::new(on_error);
        let on_message = {
            let meters = meters.clone();
            let strips = strips.clone();
            let loading = loading.clone();
            let on_error = on_error.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let data = event.data();
                if let Some(words) = data.dyn_ref::<js_sys::Float64Array>() {
                    if let Some((snapshot, readings)) = decode_meter_message(&words.to_vec()) {
                        meters.set(snapshot);
                        *strips.borrow_mut() = readings;
                    }
                    return;
                }
                let field = |name: &str| {
                    Reflect::get(&data, &name.into())
                        .ok()
                        .and_then(|v| v.as_string())
                };
                let message = field("message").unwrap_or_default();
                match field("type").as_deref() {
                    Some("loaded") => {
                        if let Some((resolve, _)) = loading.borrow_mut().take() {
                            let _ = resolve.call0(&JsValue::NULL);
                        }
                    }
                    Some("error") => match loading.borrow_mut().take() {
                        Some((_, reject)) => {
                            let _ = reject.call1(&JsValue::NULL, &message.into());
                        }
                        None => {
                            on_error(format!("the audio engine failed in the worklet: {message}"))
                        }
                    },
                    _ => {}
                }
            })
        };
        port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let on_processor_error = Closure::<dyn FnMut()>::new(move || {
            on_error("the audio engine stopped with an error in the worklet".to_string());
        });
        node.set_onprocessorerror(Some(on_processor_error.as_ref().unchecked_ref()));

        let channel = match control {
            Some(control) => Channel::Shared(control),
            None => Channel::Port {
                port,
                meters,
                strips,
                loading,
                last: None,
            },
        };
        Ok(EngineLink {
            node,
            channel,
            capture: reader,
            _on_message: on_message,
            _on_processor_error: on_processor_error,
        })
    }

    pub fn node(&self) -> &AudioWorkletNode {
        &self.node
    }

    /// The recorder's end of the capture ring, if this engine records.
    pub fn capture(&mut self) -> Option<&mut CaptureReader> {
        self.capture.as_mut()
    }

    /// Queues a command for the engine's next quantum.
    pub fn send(&mut self, command: Command) -> Result<(), String> {
        match &mut self.channel {
            Channel::Shared(control) => control
                .send(command)
                .map_err(|_| "the audio engine is not keeping up (command queue full)".into()),
            Channel::Port { port, last, .. } => {
                let words = command.encode();
                port.post_message(&js_sys::Float64Array::from(&words[..]))
                    .map_err(js_error)?;
                if let (Some(desc), Command::Strip { strip, change }) = (last, command) {
                    desc.apply(strip, change);
                }
                Ok(())
            }
        }
    }

    /// What the engine plays, as far as this tab knows: the description
    /// sent last with every command since.
    pub fn last_desc(&self) -> Option<&ProjectDesc> {
        match &self.channel {
            Channel::Shared(control) => control.last_desc(),
            Channel::Port { last, .. } => last.as_ref(),
        }
    }

    /// Loads `desc` and waits until the engine has it (offline renders).
    pub async fn load_project(&mut self, desc: &ProjectDesc) -> Result<(), String> {
        match self.update(desc)?.1 {
            Some(answered) => JsFuture::from(answered)
                .await
                .map(drop)
                .map_err(|e| format!("the worklet could not load the project: {}", js_error(e))),
            None => Ok(()),
        }
    }

    /// Brings the engine to `desc`, changing only what differs (see
    /// `stemroom_engine::handover`): parameter changes as commands, anything
    /// else as a plan that keeps the state of every strip and device that
    /// goes on. In the fallback the worklet builds that plan itself; the
    /// promise settles when it has.
    pub fn update(
        &mut self,
        desc: &ProjectDesc,
    ) -> Result<(Update, Option<js_sys::Promise>), String> {
        match &mut self.channel {
            Channel::Shared(control) => control.update(desc).map(|u| (u, None)),
            Channel::Port { last, .. } => {
                if let Some(commands) = last
                    .as_ref()
                    .and_then(|last| stemroom_engine::handover::parameter_commands(last, desc))
                {
                    let count = commands.len();
                    for command in commands {
                        self.send(command)?;
                    }
                    return Ok((Update::Commands(count), None));
                }
                self.post_project(desc).map(|p| (Update::Plan, Some(p)))
            }
        }
    }

    /// Fallback: posts the whole project (JSON and transferred audio).
    fn post_project(&mut self, desc: &ProjectDesc) -> Result<js_sys::Promise, String> {
        let Channel::Port {
            port,
            loading,
            last,
            ..
        } = &mut self.channel
        else {
            return Err("a shared-memory engine takes plans, not messages".into());
        };
        let (json, assets) = stemroom_engine::wire::encode(desc);
        let transfer = Array::new();
        let audio = Array::new();
        for asset in &assets {
            let channels = Array::new();
            for c in 0..asset.channel_count() {
                let pcm = Float32Array::from(asset.channel(c));
                transfer.push(&pcm.buffer());
                channels.push(&pcm);
            }
            audio.push(&channels);
        }
        let message = Object::new();
        set(&message, "type", &"project".into());
        set(&message, "json", &json.into());
        set(&message, "assets", &audio);
        let answered = js_sys::Promise::new(&mut |resolve, reject| {
            *loading.borrow_mut() = Some((resolve, reject));
        });
        port.post_message_with_transferable(&message, &transfer)
            .map_err(js_error)?;
        *last = Some(desc.clone());
        Ok(answered)
    }

    pub fn strip_meters(&self) -> Vec<StripReading> {
        match &self.channel {
            Channel::Shared(control) => control.strip_meters().collect(),
            Channel::Port { strips, .. } => strips.borrow().clone(),
        }
    }

    /// The engine's latest meter readings.
    pub fn meters(&mut self) -> MeterSnapshot {
        match &mut self.channel {
            Channel::Shared(control) => control.meters(),
            Channel::Port { meters, .. } => meters.get(),
        }
    }
}

/// Renders `seconds` through the engine in the worklet of an
/// `OfflineAudioContext`: the same code path as playback, exact and faster
/// than real time. Returns `{ channels: [Float32Array, Float32Array],
/// renderMs }`, where `renderMs` times `startRendering()` alone.
async fn render_offline(
    seconds: f64,
    sample_rate: f32,
    project: Option<ProjectDesc>,
) -> Result<Object, JsError> {
    render_offline_with(seconds, sample_rate, project, OfflineInput::None).await
}

/// What an offline render takes as its input (benchmarks of recording).
#[derive(Clone, Copy, PartialEq)]
enum OfflineInput {
    None,
    /// A stereo input, metered.
    Metered,
    /// A stereo input, and a take of it running from the start.
    Recorded,
}

async fn render_offline_with(
    seconds: f64,
    sample_rate: f32,
    project: Option<ProjectDesc>,
    input: OfflineInput,
) -> Result<Object, JsError> {
    let frames = (seconds * f64::from(sample_rate)).round() as u32;
    let options = OfflineAudioContextOptions::new(frames, sample_rate);
    options.set_number_of_channels(CHANNELS as u32);
    let context = OfflineAudioContext::new_with_context_options(&options).map_err(js_err)?;
    let mut first = vec![Command::Play];
    if input == OfflineInput::Recorded {
        first.push(Command::Record { enabled: true });
    }
    let capture = input != OfflineInput::None;
    let mut link = EngineLink::create(&context, &first, capture, |e| {
        web_sys::console::error_1(&e.into())
    })
    .await
    .map_err(|e| JsError::new(&e))?;
    if capture {
        // Two tones, one a side, into the engine's input.
        let merger = context
            .create_channel_merger_with_number_of_inputs(2)
            .map_err(js_err)?;
        for (side, hz) in [(0, 440.0), (1, 660.0)] {
            let tone = context.create_oscillator().map_err(js_err)?;
            tone.frequency().set_value(hz);
            tone.connect_with_audio_node_and_output_and_input(&merger, 0, side)
                .map_err(js_err)?;
            tone.start().map_err(js_err)?;
        }
        merger
            .connect_with_audio_node(link.node())
            .map_err(js_err)?;
    }
    if let Some(project) = &project {
        link.load_project(project)
            .await
            .map_err(|e| JsError::new(&e))?;
    }
    link.node()
        .connect_with_audio_node(&context.destination())
        .map_err(js_err)?;
    let now = || js_sys::Date::now();
    let started = now();
    let rendered = JsFuture::from(context.start_rendering().map_err(js_err)?)
        .await
        .map_err(js_err)?;
    let render_ms = now() - started;
    let buffer: AudioBuffer = rendered.dyn_into().map_err(js_err)?;
    let channels = Array::new();
    for ch in 0..buffer.number_of_channels() {
        let data = buffer.get_channel_data(ch).map_err(js_err)?;
        channels.push(&Float32Array::from(&data[..]));
    }
    let result = Object::new();
    set(&result, "channels", &channels);
    set(&result, "renderMs", &render_ms.into());
    Ok(result)
}

/// The engine's test tone, rendered offline (see [`render_offline`]).
#[wasm_bindgen]
pub async fn render_test_tone(seconds: f64, sample_rate: f32) -> Result<Object, JsError> {
    render_offline(seconds, sample_rate, None).await
}

/// The open project as the engine plays it, rendered offline in the
/// worklet once every clip's audio is decoded: what the browser tests
/// compare with the expected audio.
#[wasm_bindgen]
pub async fn render_project(seconds: f64, sample_rate: f32) -> Result<Object, JsError> {
    let desc = crate::project::complete_desc(sample_rate as u32, 20_000.0)
        .await
        .map_err(|e| JsError::new(&e))?;
    // What is heard: the side being compared in an A/B.
    let mut desc = desc;
    crate::compare::apply(&mut desc);
    render_offline(seconds, sample_rate, Some(desc)).await
}

/// The standard benchmark project (`stemroom_engine::workload`).
fn workload(tracks: u32, seconds: f64, sample_rate: f32) -> ProjectDesc {
    stemroom_engine::workload::mixing_project(sample_rate as u32, tracks as usize, seconds)
}

/// The standard benchmark project rendered offline in the worklet with a
/// stereo input connected (`input`), and a take of it running from the
/// start (`record`): the benchmark of recording's cost in the worklet.
#[wasm_bindgen]
pub async fn render_workload_input(
    tracks: u32,
    seconds: f64,
    sample_rate: f32,
    input: bool,
    record: bool,
) -> Result<Object, JsError> {
    let input = match (input, record) {
        (false, _) => OfflineInput::None,
        (true, false) => OfflineInput::Metered,
        (true, true) => OfflineInput::Recorded,
    };
    render_offline_with(
        seconds,
        sample_rate,
        Some(workload(tracks, seconds, sample_rate)),
        input,
    )
    .await
}

/// The standard benchmark project, rendered offline in the worklet: the
/// browser half of the engine benchmark and of the native/wasm null test.
#[wasm_bindgen]
pub async fn render_workload(
    tracks: u32,
    seconds: f64,
    sample_rate: f32,
) -> Result<Object, JsError> {
    render_offline(
        seconds,
        sample_rate,
        Some(workload(tracks, seconds, sample_rate)),
    )
    .await
}

fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &key.into(), value);
}

fn js_err(e: JsValue) -> JsError {
    JsError::new(&js_error(e))
}

/// Renders the benchmark project offline on the rayon pool (Web Workers):
/// `Mixer::render_offline`, the same code as a native bounce, in parallel.
/// The page's thread must never block, so the render runs as a pool job and
/// the page polls for its result. Returns `{ channels, renderMs }`.
#[cfg(feature = "threads")]
#[wasm_bindgen]
pub async fn bounce_workload(
    tracks: u32,
    seconds: f64,
    sample_rate: f32,
) -> Result<Object, JsError> {
    use std::sync::{Arc, OnceLock};
    let project = workload(tracks, seconds, sample_rate);
    let frames = (seconds * f64::from(sample_rate)).round() as usize;
    let done: Arc<OnceLock<Vec<f32>>> = Arc::default();
    let slot = done.clone();
    let started = js_sys::Date::now();
    rayon::spawn(move || {
        let mut mixer = stemroom_engine::mixer::Mixer::new(&project);
        mixer.transport.playing = true;
        let _ = slot.set(mixer.render_offline(frames, true));
    });
    // `OnceLock::get` is one atomic load: safe to poll from the page.
    let interleaved = loop {
        if let Some(out) = done.get() {
            break out;
        }
        let tick = js_sys::Promise::new(&mut |resolve, _| {
            if let Some(window) = web_sys::window() {
                let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 5);
            }
        });
        JsFuture::from(tick).await.map_err(js_err)?;
    };
    let render_ms = js_sys::Date::now() - started;
    let channels = Array::new();
    for ch in 0..CHANNELS {
        let planar: Vec<f32> = interleaved
            .iter()
            .skip(ch)
            .step_by(CHANNELS)
            .copied()
            .collect();
        channels.push(&Float32Array::from(&planar[..]));
    }
    let result = Object::new();
    set(&result, "channels", &channels);
    set(&result, "renderMs", &render_ms.into());
    Ok(result)
}

/// The standard benchmark project exported on the worker pool as the
/// export dialog does (`workload::benchmark_export`): the browser half of
/// the export benchmark. `mix`: the mix; `stems`: every stem, in the same pass.
#[wasm_bindgen]
pub async fn export_workload(
    tracks: u32,
    seconds: f64,
    sample_rate: f32,
    mix: bool,
    stems: bool,
) -> Result<Object, JsError> {
    use stemroom_engine::workload::{benchmark_export, shared_mixing_project};
    // Eight recordings between the tracks: 64 of 3 minutes would not fit
    // in a page's memory, and the DSP work is the same.
    let project = shared_mixing_project(sample_rate as u32, tracks as usize, 8, seconds);
    let frames = (seconds * f64::from(sample_rate)).round() as usize;
    let started = js_sys::Date::now();
    let outcome = crate::background::run(move |parallel| {
        benchmark_export(&project, frames, mix, stems, None, parallel)
    })
    .await
    .map_err(|e| JsError::new(&e.to_string()))?;
    let result = Object::new();
    set(&result, "exportMs", &(js_sys::Date::now() - started).into());
    set(&result, "stems", &(outcome.stems.len() as u32).into());
    set(
        &result,
        "passes",
        &(outcome.mix.map_or(0, |m| m.passes) as u32).into(),
    );
    Ok(result)
}
