//! Stemroom's DSP engine.
//!
//! Pure Rust with no web dependencies: it compiles natively (tests, benchmarks,
//! the `stemroom` CLI) and to wasm, where it runs inside an AudioWorklet.
//!
//! The engine is split the way a real-time system has to be:
//! - the **realtime half**, [`Engine`], is owned by the audio thread and only
//!   ever called from it; [`Engine::process`] renders one [`QUANTUM`] of audio
//!   and never allocates, locks or blocks;
//! - the **control half**, [`EngineControl`], is owned by the UI thread; it
//!   sends [`Command`]s through a lock-free [`queue`] and reads [`meter`]s
//!   published through atomics.
//!
//! Both halves are created together by [`engine_pair`] on the control thread,
//! which is where every allocation happens.

// Lane code indexes several `[f32; LANES]` arrays in lockstep (`for l in
// 0..LANES`); that is the form LLVM vectorises and a reader checks at a glance.
#![allow(clippy::needless_range_loop)]

pub mod alloc_guard;
pub mod analysis;
pub mod automation;
pub mod biquad;
pub mod bounce;
pub mod capture;
pub mod command;
pub mod control;
pub mod decode;
pub mod device;
pub mod handover;
pub mod lanes;
pub mod loudness;
pub mod meter;
pub mod metronome;
pub mod mixer;
pub mod project;
pub mod queue;
pub mod realtime;
pub mod resample;
pub mod signal;
pub mod take;
pub mod tempo;
pub mod wire;
pub mod workload;

pub use command::Command;
pub use control::{EngineControl, Update, engine_pair};
pub use meter::{EngineMeters, MeterSnapshot};
pub use realtime::Engine;

/// Frames per render call: the Web Audio render quantum.
pub const QUANTUM: usize = 128;

/// Output channels of the engine (stereo master).
pub const CHANNELS: usize = 2;

/// One quantum of stereo audio, channel-major (planar), as Web Audio wants it.
pub type StereoQuantum = [[f32; QUANTUM]; CHANNELS];

// Control-rate math (gains, coefficients, curves) is computed in f64 and
// rounded to f32: f64 libm results that differ by an ulp between platforms
// (glibc natively, Rust's libm in wasm) almost always round to the same f32,
// which keeps the wasm render nulling against the native one.

/// Converts a linear amplitude to dBFS; silence maps to `-inf`.
pub fn amplitude_to_db(amplitude: f32) -> f32 {
    (20.0 * f64::from(amplitude).log10()) as f32
}

/// Converts dB to a linear amplitude factor.
pub fn db_to_amplitude(db: f32) -> f32 {
    10f64.powf(f64::from(db) / 20.0) as f32
}
