//! The audio thread's half of the engine.

use std::sync::Arc;

use crate::command::Command;
use crate::meter::{EngineMeters, LevelMeter, MeterSnapshot};
use crate::queue::Consumer;
use crate::signal::SineOscillator;
use crate::{CHANNELS, QUANTUM, StereoQuantum, db_to_amplitude};

/// The built-in test tone: A4 at half of full scale (−6.02 dBFS peak, −9.03 dBFS RMS).
pub const TEST_TONE_HZ: f32 = 440.0;
pub const TEST_TONE_AMPLITUDE: f32 = 0.5;
/// Stopping fades the output out over this long instead of cutting it (no click).
pub const STOP_FADE_SECONDS: f32 = 0.005;

/// Renders audio. Owned by the audio thread; built by [`crate::engine_pair`].
///
/// Every method here is called from the audio thread only, and none of them
/// allocates, locks or blocks: all state is created up front.
pub struct Engine {
    sample_rate: f32,
    commands: Consumer<Command>,
    meters: Arc<EngineMeters>,
    tone: SineOscillator,
    playing: bool,
    /// Output gain of the stop fade, 1 while playing normally.
    fade: f32,
    /// Per-sample change of `fade`: 0, or negative while stopping.
    fade_step: f32,
    position: u64,
    quanta: u64,
    level: LevelMeter,
    out: StereoQuantum,
}

impl Engine {
    pub(crate) fn new(
        sample_rate: f32,
        commands: Consumer<Command>,
        meters: Arc<EngineMeters>,
    ) -> Self {
        Engine {
            sample_rate,
            commands,
            meters,
            tone: SineOscillator::new(sample_rate, TEST_TONE_HZ, TEST_TONE_AMPLITUDE),
            playing: false,
            fade: 1.0,
            fade_step: 0.0,
            position: 0,
            quanta: 0,
            level: LevelMeter::new(sample_rate),
            out: [[0.0; QUANTUM]; CHANNELS],
        }
    }

    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    /// Renders the next quantum and returns it; also kept in [`Engine::output`].
    pub fn process(&mut self) -> &StereoQuantum {
        while let Some(command) = self.commands.pop() {
            self.apply(command);
        }
        if self.playing {
            let [left, right] = &mut self.out;
            self.tone.fill(left);
            if self.fade_step != 0.0 {
                for s in left.iter_mut() {
                    self.fade = (self.fade + self.fade_step).max(0.0);
                    *s *= self.fade;
                }
                if self.fade == 0.0 {
                    self.playing = false;
                    self.fade = 1.0;
                    self.fade_step = 0.0;
                }
            }
            right.copy_from_slice(left);
            self.position += QUANTUM as u64;
        } else {
            self.out = [[0.0; QUANTUM]; CHANNELS];
        }
        self.level.measure(&self.out);
        self.quanta += 1;
        self.meters.publish(&MeterSnapshot {
            peak: self.level.peak(),
            max_peak: self.level.max_peak(),
            rms: self.level.rms(),
            position: self.position,
            quanta: self.quanta,
            playing: self.playing,
        });
        &self.out
    }

    /// The quantum rendered by the last [`Engine::process`].
    pub fn output(&self) -> &StereoQuantum {
        &self.out
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Play => {
                if !self.playing || self.fade_step != 0.0 {
                    self.tone.reset();
                }
                self.playing = true;
                self.fade = 1.0;
                self.fade_step = 0.0;
            }
            Command::Stop => {
                if self.playing {
                    self.fade_step = -1.0 / (STOP_FADE_SECONDS * self.sample_rate).max(1.0);
                }
            }
            Command::Seek { frame } => self.position = frame,
            Command::SetTestTone {
                frequency_hz,
                gain_db,
            } => {
                self.tone.set_frequency(self.sample_rate, frequency_hz);
                self.tone.set_amplitude(db_to_amplitude(gain_db));
            }
        }
    }
}
