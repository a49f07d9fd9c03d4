//! The engine as the AudioWorklet processor sees it.
//!
//! Everything in this module runs on the audio rendering thread, called from
//! `static/worklet/engine-processor.js`: constructors from the processor's
//! constructor, [`WorkletEngine::process`] once per render quantum.

use std::sync::atomic::{AtomicPtr, Ordering};

use stemroom_engine::meter::{StripReading, encode_meter_message};
use stemroom_engine::project::AudioAsset;
use stemroom_engine::{Command, Engine, EngineControl, MeterSnapshot, QUANTUM, engine_pair};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// Engines built on the UI thread, waiting for their worklet to adopt them.
///
/// The UI thread allocates the whole engine (so the audio thread never does)
/// and parks it here; the processor takes it by slot number. A slot can only
/// hold what [`hand_over`] put there, so a bad number from JS is an error, not
/// undefined behaviour.
static HANDOVER: [AtomicPtr<Engine>; 16] = [const { AtomicPtr::new(std::ptr::null_mut()) }; 16];

/// UI thread: parks `engine` for a worklet and returns its slot.
pub(crate) fn hand_over(engine: Engine) -> Result<u32, String> {
    let ptr = Box::into_raw(Box::new(engine));
    for (slot, cell) in HANDOVER.iter().enumerate() {
        if cell
            .compare_exchange(
                std::ptr::null_mut(),
                ptr,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            return Ok(slot as u32);
        }
    }
    // SAFETY: `ptr` came from `Box::into_raw` above and was never shared.
    drop(unsafe { Box::from_raw(ptr) });
    Err("too many audio engines are starting at once".into())
}

/// UI thread: takes back an engine no worklet adopted (the node failed to start).
pub(crate) fn reclaim(slot: u32) {
    if let Some(cell) = HANDOVER.get(slot as usize) {
        let ptr = cell.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !ptr.is_null() {
            // SAFETY: as in `WorkletEngine::adopt`: from `hand_over`, taken once.
            drop(unsafe { Box::from_raw(ptr) });
        }
    }
}

/// An engine inside the AudioWorklet.
#[wasm_bindgen]
pub struct WorkletEngine {
    engine: Box<Engine>,
    /// The quantum's input (a channel each), written by the processor
    /// before [`WorkletEngine::capture`]; the second buffer stays silent.
    input: Box<[[f32; QUANTUM]; 3]>,
    /// Fallback only: the port feeds commands through this local control.
    control: Option<EngineControl>,
    /// Fallback only: the meter message the processor posts to the UI
    /// (see `encode_meter_message`), its room reserved when a project loads.
    meter_words: Vec<f64>,
}

#[wasm_bindgen]
impl WorkletEngine {
    /// Shared memory: takes the engine the UI thread parked in `slot`.
    pub fn adopt(slot: u32) -> Result<WorkletEngine, JsError> {
        let cell = HANDOVER
            .get(slot as usize)
            .ok_or_else(|| JsError::new("no such engine slot"))?;
        let ptr = cell.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if ptr.is_null() {
            return Err(JsError::new("the engine slot is empty"));
        }
        // SAFETY: non-null pointers in HANDOVER come from `Box::into_raw` in
        // `hand_over`, and the swap gives each to exactly one caller.
        let engine = unsafe { Box::from_raw(ptr) };
        Ok(WorkletEngine {
            engine,
            input: Box::new([[0.0; QUANTUM]; 3]),
            control: None,
            meter_words: Vec::new(),
        })
    }

    /// No shared memory: an engine of the worklet's own, driven by its port.
    pub fn standalone(sample_rate: f32) -> WorkletEngine {
        let (control, engine) = engine_pair(sample_rate);
        WorkletEngine {
            engine: Box::new(engine),
            input: Box::new([[0.0; QUANTUM]; 3]),
            control: Some(control),
            meter_words: Vec::with_capacity(MeterSnapshot::WORDS),
        }
    }

    /// Fallback: applies a command that arrived through the port (see
    /// [`Command::encode`]). Returns false for a malformed or dropped command.
    pub fn command(&mut self, words: &[f64]) -> bool {
        match (self.control.as_mut(), Command::decode(words)) {
            (Some(control), Some(command)) => control.send(command).is_ok(),
            _ => false,
        }
    }

    /// Fallback: builds and loads a project that arrived through the port
    /// (see `EngineLink::load_project`). Runs between two quanta, on the
    /// audio thread: the one place the fallback allocates there.
    pub fn load_project(&mut self, json: &str, assets: js_sys::Array) -> Result<(), JsError> {
        let control = self.control.as_mut().ok_or_else(|| {
            JsError::new("a shared-memory engine takes its projects from the page")
        })?;
        let mut audio = Vec::with_capacity(assets.length() as usize);
        for channels in assets.iter() {
            let channels: js_sys::Array = channels
                .dyn_into()
                .map_err(|_| JsError::new("malformed asset list"))?;
            let planar = channels
                .iter()
                .map(|c| js_sys::Float32Array::new(&c).to_vec())
                .collect();
            audio.push(AudioAsset::new(planar));
        }
        let desc = stemroom_engine::wire::decode(json, audio).map_err(|e| JsError::new(&e))?;
        let strips = desc.tracks.len() + desc.buses.len() + 1;
        let words = MeterSnapshot::WORDS + strips * StripReading::WORDS;
        // A plan that takes over the playing one's state, as on the page.
        control
            .load_project(&desc)
            .map_err(|_| JsError::new("the engine is not taking new projects yet"))?;
        self.meter_words
            .reserve(words.saturating_sub(self.meter_words.len()));
        Ok(())
    }

    /// Byte address of the input buffer of `channel` (0 or 1; 128 f32).
    pub fn input_ptr(&self, channel: usize) -> u32 {
        self.input[channel.min(1)].as_ptr() as u32
    }

    /// Hands the engine this quantum's input: `channels` (0 to 2) of the
    /// buffers at [`WorkletEngine::input_ptr`]; none is silence (a take
    /// goes on through an unplugged input). Call before `process`.
    pub fn capture(&mut self, channels: usize) {
        let [left, right, silence] = &*self.input;
        let input: [&[f32]; 2] = match channels {
            0 => [silence, silence],
            _ => [left, right],
        };
        self.engine.capture_input(&input[..channels.clamp(1, 2)]);
    }

    /// Renders one quantum into the buffers at [`WorkletEngine::output_ptr`].
    pub fn process(&mut self) {
        self.engine.process();
    }

    /// Byte address in wasm memory of the last quantum of `channel` (128 f32).
    pub fn output_ptr(&self, channel: usize) -> u32 {
        let out = self.engine.output();
        out[channel.min(out.len() - 1)].as_ptr() as u32
    }

    /// Fallback: refreshes the meter message and returns its byte address,
    /// for the processor to post [`WorkletEngine::meter_words_len`] f64 of
    /// it to the UI.
    pub fn meter_words_ptr(&mut self) -> u32 {
        if let Some(control) = &mut self.control {
            let snapshot = control.meters();
            encode_meter_message(&snapshot, control.strip_meters(), &mut self.meter_words);
        }
        self.meter_words.as_ptr() as u32
    }

    /// Fallback: the length in f64 of the message at
    /// [`WorkletEngine::meter_words_ptr`].
    pub fn meter_words_len(&self) -> u32 {
        self.meter_words.len() as u32
    }
}
