//! The audio thread's half of the engine.

use std::sync::Arc;

use crate::capture::{CAPTURE_CHANNELS, CaptureWriter};
use crate::command::Command;
use crate::loudness::LoudnessMeter;
use crate::meter::{
    BusLoudness, CorrelationMeter, EngineMeters, LevelMeter, MeterSnapshot, StripMeter,
};
use crate::metronome::Metronome;
use crate::mixer::{Mixer, Transport};
use crate::queue::{Consumer, Producer};
use crate::signal::SineOscillator;
use crate::{CHANNELS, QUANTUM, StereoQuantum, db_to_amplitude};

/// The built-in test tone: A4 at half of full scale (−6.02 dBFS peak, −9.03 dBFS RMS).
pub const TEST_TONE_HZ: f32 = 440.0;
pub const TEST_TONE_AMPLITUDE: f32 = 0.5;
/// Stopping fades the output out over this long instead of cutting it (no click).
pub const STOP_FADE_SECONDS: f32 = 0.005;
/// A new plan fades in over the old one for this many frames (no click, no gap).
pub const SWAP_CROSSFADE_FRAMES: usize = 2 * QUANTUM;
/// Plans that can wait for room in the return queue (two ever do).
const PARKED_CAPACITY: usize = 4;
/// Quanta between recomputations of integrated loudness and range (~85 ms).
const GATED_LOUDNESS_EVERY: u64 = 32;

/// A compiled project on its way to (or back from) the audio thread, with
/// the per-strip meters the UI reads while it plays.
pub struct Plan {
    pub mixer: Box<Mixer>,
    /// Meters of each strip: tracks, then buses, then the master.
    pub strip_meters: Arc<[StripMeter]>,
    /// Commands queued before this plan: it is installed after exactly
    /// these, so commands and plans take effect in the order they were sent.
    pub commands_before: u64,
}

/// Renders audio. Owned by the audio thread; built by [`crate::engine_pair`].
///
/// Every method here is called from the audio thread only, and none of them
/// allocates, locks or blocks: all state is created up front, plans arrive
/// built, and replaced plans travel back to the control thread to be freed.
pub struct Engine {
    sample_rate: f32,
    commands: Consumer<Command>,
    plans: Consumer<Plan>,
    retired: Producer<Plan>,
    meters: Arc<EngineMeters>,
    current: Option<Plan>,
    /// The next plan, taken from its queue, waiting for the commands queued
    /// before it.
    pending: Option<Plan>,
    /// Commands applied so far.
    commands_applied: u64,
    /// The plan being faded out after a swap, and how far the fade is.
    outgoing: Option<(Plan, usize)>,
    /// A plan that could not be retired yet (the return queue was full).
    /// Plans the return queue had no room for, kept until it has: freeing
    /// them here would deallocate on the audio thread. Preallocated; at most
    /// two can wait (see `process`), so pushing never allocates.
    parked: Vec<Plan>,
    transport: Transport,
    /// Where recorded input goes, whether a take is running, and a start or
    /// stop asked for (taken at the next input).
    capture: Option<CaptureWriter>,
    recording: bool,
    /// This quantum's input, kept in case a take starts in this quantum's
    /// commands (they come after the input): its first frames.
    last_input: [[f32; QUANTUM]; CAPTURE_CHANNELS],
    last_input_shape: (usize, usize),
    /// The calibration clicks (made with the capture ring) and how far
    /// they have played.
    calibration: Box<[f32]>,
    calibrating: Option<usize>,
    tone: SineOscillator,
    /// Output gain of the stop fade, 1 while playing normally.
    fade: f32,
    /// Per-sample change of `fade`: 0, or negative while stopping.
    fade_step: f32,
    quanta: u64,
    sanitised: u64,
    level: LevelMeter,
    loudness: LoudnessMeter,
    gated: (f32, f32),
    correlation: CorrelationMeter,
    /// The bus measured on request, its meter and a copy of its output.
    metered_bus: Option<u32>,
    bus_loudness: LoudnessMeter,
    bus_gated: (f32, f32),
    bus_correlation: CorrelationMeter,
    bus_out: StereoQuantum,
    metronome: Metronome,
    /// A seek that arrived during the stop fade: the fade finishes where it
    /// was, then the transport moves (Stop-and-return-to-start).
    pending_seek: Option<u64>,
    out: StereoQuantum,
}

impl Engine {
    pub(crate) fn new(
        sample_rate: f32,
        commands: Consumer<Command>,
        plans: Consumer<Plan>,
        retired: Producer<Plan>,
        meters: Arc<EngineMeters>,
    ) -> Self {
        Engine {
            sample_rate,
            commands,
            plans,
            retired,
            meters,
            current: None,
            pending: None,
            commands_applied: 0,
            outgoing: None,
            parked: Vec::with_capacity(PARKED_CAPACITY),
            transport: Transport::default(),
            capture: None,
            recording: false,
            last_input: [[0.0; QUANTUM]; CAPTURE_CHANNELS],
            last_input_shape: (0, 0),
            calibration: Box::default(),
            calibrating: None,
            tone: SineOscillator::new(sample_rate, TEST_TONE_HZ, TEST_TONE_AMPLITUDE),
            fade: 1.0,
            fade_step: 0.0,
            quanta: 0,
            sanitised: 0,
            level: LevelMeter::new(sample_rate),
            loudness: LoudnessMeter::new(sample_rate as u32, &[1.0, 1.0]),
            gated: (f32::NEG_INFINITY, 0.0),
            correlation: CorrelationMeter::new(sample_rate),
            metered_bus: None,
            bus_loudness: LoudnessMeter::new(sample_rate as u32, &[1.0, 1.0]),
            bus_gated: (f32::NEG_INFINITY, 0.0),
            bus_correlation: CorrelationMeter::new(sample_rate),
            bus_out: [[0.0; QUANTUM]; CHANNELS],
            metronome: Metronome::new(sample_rate),
            pending_seek: None,
            out: [[0.0; QUANTUM]; CHANNELS],
        }
    }

    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Gives the engine the audio thread's end of a capture ring (see
    /// [`crate::capture`]). Control thread, before the engine moves to the
    /// audio thread.
    pub fn set_capture(&mut self, writer: CaptureWriter) {
        self.capture = Some(writer);
        self.calibration = crate::take::calibration_clicks(self.sample_rate as u32).into();
    }

    /// The input of the quantum about to be rendered (one slice per
    /// channel): metered always, captured while recording. Call before
    /// [`Engine::process`] for the same quantum. Audio thread: no
    /// allocation, no waiting.
    pub fn capture_input(&mut self, input: &[&[f32]]) {
        let Some(capture) = &mut self.capture else {
            return;
        };
        let frames = input
            .iter()
            .map(|c| c.len())
            .min()
            .unwrap_or(0)
            .min(QUANTUM);
        let channels = input.len().min(CAPTURE_CHANNELS);
        for (kept, channel) in self.last_input.iter_mut().zip(input) {
            kept[..frames].copy_from_slice(&channel[..frames]);
        }
        self.last_input_shape = (channels, frames);
        capture.push(input, self.recording);
    }

    /// Starts or stops a take in this quantum: it starts with this
    /// quantum's input (placed at the position this quantum plays from, so
    /// Seek, Play and Record sent together start the take at the Seek),
    /// and stops after it.
    fn set_recording(&mut self, enabled: bool) {
        let Some(capture) = &mut self.capture else {
            return;
        };
        if enabled == self.recording {
            return;
        }
        self.recording = enabled;
        let position = self.transport.playing.then_some(self.transport.position);
        capture.mark(enabled, position);
        if enabled {
            let (channels, frames) = self.last_input_shape;
            let [left, right] = &self.last_input;
            let input: [&[f32]; CAPTURE_CHANNELS] = [&left[..frames], &right[..frames]];
            capture.push(&input[..channels], true);
        }
    }

    /// Renders the next quantum and returns it; also kept in [`Engine::output`].
    pub fn process(&mut self) -> &StereoQuantum {
        self.retire_parked();
        // Plans and commands in the order they were sent: the next plan is
        // always taken off its queue, so a command sent after it waits for
        // it. A plan is installed only when nothing is parked: an install
        // retires at most one plan and a crossfade's end one more, so at most
        // two ever wait.
        loop {
            if self.pending.is_none() {
                self.pending = self.plans.pop();
            }
            if self.parked.is_empty()
                && let Some(plan) = self
                    .pending
                    .take_if(|p| p.commands_before <= self.commands_applied)
            {
                self.install(plan);
                continue;
            }
            let limit = self
                .pending
                .as_ref()
                .map_or(u64::MAX, |p| p.commands_before);
            if self.commands_applied < limit
                && let Some(command) = self.commands.pop()
            {
                self.commands_applied += 1;
                self.apply(command);
                continue;
            }
            break;
        }
        let before = self.transport;
        match &mut self.current {
            Some(plan) => {
                plan.mixer.transport = self.transport;
                let (channels, frames) = self.last_input_shape;
                plan.mixer.set_input(
                    &self.last_input,
                    if frames == QUANTUM { channels } else { 0 },
                );
                self.out = *plan.mixer.process();
                self.transport.position = plan.mixer.transport.position;
                publish_strips(plan);
                if let Some(bus) = self.metered_bus
                    && plan.mixer.bus_output(bus as usize, &mut self.bus_out)
                {
                    let [left, right] = &self.bus_out;
                    self.bus_loudness.process(&[left, right]);
                    self.bus_correlation.measure(&self.bus_out);
                }
            }
            None if self.transport.playing => {
                let [left, right] = &mut self.out;
                self.tone.fill(left);
                right.copy_from_slice(left);
                self.transport.position += QUANTUM as u64;
            }
            None => self.out = [[0.0; QUANTUM]; CHANNELS],
        }
        self.crossfade(before);
        self.stop_fade();
        for channel in &mut self.out {
            self.sanitised += u64::from(crate::lanes::sanitize(channel));
        }
        self.measure();
        // Heard, not metered.
        if let Some(plan) = &self.current {
            let mixer = &plan.mixer;
            self.metronome
                .render(mixer.played_segments(), mixer.tempo(), &mut self.out);
        }
        self.play_calibration();
        &self.out
    }

    /// The post-fader signal of the playing plan's strip with stable id
    /// `id` in the last quantum (see [`Mixer::strip_signal`]).
    pub fn strip_signal(&self, id: u64, out: &mut StereoQuantum) -> bool {
        self.current
            .as_ref()
            .is_some_and(|p| p.mixer.strip_signal(id, out))
    }

    /// The quantum rendered by the last [`Engine::process`].
    pub fn output(&self) -> &StereoQuantum {
        &self.out
    }

    fn install(&mut self, mut plan: Plan) {
        // A plan built to follow the playing one takes over its state: no
        // crossfade, the old plan (holding what the new one did not need)
        // goes straight back.
        if let Some(current) = &mut self.current
            && plan.mixer.follows(&current.mixer)
        {
            plan.mixer.take_over(&mut current.mixer);
            if let Some(old) = self.current.replace(plan) {
                self.retire(old);
            }
            return;
        }
        // A swap during a swap: the oldest plan leaves at once.
        if let Some((old, _)) = self.outgoing.take() {
            self.retire(old);
        }
        if let Some(old) = self.current.replace(plan) {
            self.outgoing = Some((old, 0));
        }
    }

    /// Mixes the outgoing plan under the new one while its fade lasts.
    fn crossfade(&mut self, transport: Transport) {
        let Some((old, done)) = &mut self.outgoing else {
            return;
        };
        old.mixer.transport = transport;
        let previous = old.mixer.process();
        for i in 0..QUANTUM {
            let t = ((*done + i + 1) as f32 / SWAP_CROSSFADE_FRAMES as f32).min(1.0);
            for ch in 0..CHANNELS {
                self.out[ch][i] = self.out[ch][i] * t + previous[ch][i] * (1.0 - t);
            }
        }
        *done += QUANTUM;
        if *done >= SWAP_CROSSFADE_FRAMES
            && let Some((old, _)) = self.outgoing.take()
        {
            self.retire(old);
        }
    }

    fn retire(&mut self, plan: Plan) {
        if let Err(plan) = self.retired.push(plan) {
            debug_assert!(self.parked.len() < PARKED_CAPACITY);
            self.parked.push(plan);
        }
    }

    fn retire_parked(&mut self) {
        while let Some(plan) = self.parked.pop() {
            if let Err(plan) = self.retired.push(plan) {
                self.parked.push(plan);
                break;
            }
        }
    }

    /// While calibrating: the clicks instead of anything else, and the
    /// take's end once they (and a quantum more) have gone out.
    fn play_calibration(&mut self) {
        let Some(at) = self.calibrating else {
            return;
        };
        let clicks = &self.calibration[at.min(self.calibration.len())..];
        for channel in &mut self.out {
            channel.fill(0.0);
            let n = clicks.len().min(QUANTUM);
            channel[..n].copy_from_slice(&clicks[..n]);
        }
        if at >= self.calibration.len() {
            self.calibrating = None;
            self.set_recording(false);
        } else {
            self.calibrating = Some(at + QUANTUM);
        }
    }

    fn stop_fade(&mut self) {
        if self.fade_step == 0.0 {
            return;
        }
        for i in 0..QUANTUM {
            self.fade = (self.fade + self.fade_step).max(0.0);
            for ch in 0..CHANNELS {
                self.out[ch][i] *= self.fade;
            }
        }
        if self.fade == 0.0 {
            self.transport.playing = false;
            if let Some(frame) = self.pending_seek.take() {
                self.transport.position = frame;
            }
            self.fade = 1.0;
            self.fade_step = 0.0;
        }
    }

    fn measure(&mut self) {
        self.level.measure(&self.out);
        let [left, right] = &self.out;
        self.loudness.process(&[left, right]);
        self.quanta += 1;
        if self.quanta.is_multiple_of(GATED_LOUDNESS_EVERY) {
            self.gated = (
                self.loudness.integrated() as f32,
                self.loudness.loudness_range() as f32,
            );
            if self.metered_bus.is_some() {
                let bus = &self.bus_loudness;
                self.bus_gated = (bus.integrated() as f32, bus.loudness_range() as f32);
            }
        }
        self.correlation.measure(&self.out);
        let bus = if self.metered_bus.is_some() {
            BusLoudness {
                momentary_lufs: self.bus_loudness.momentary() as f32,
                short_term_lufs: self.bus_loudness.short_term() as f32,
                integrated_lufs: self.bus_gated.0,
                range_lu: self.bus_gated.1,
                true_peak_dbtp: crate::amplitude_to_db(self.bus_loudness.true_peak()),
                correlation: self.bus_correlation.value(),
            }
        } else {
            BusLoudness::SILENT
        };
        let plan_sanitised = self
            .current
            .as_ref()
            .map_or(0, |p| u64::from(p.mixer.sanitised_samples()));
        self.meters.publish(&MeterSnapshot {
            peak: self.level.peak(),
            max_peak: self.level.max_peak(),
            rms: self.level.rms(),
            position: self.transport.position,
            quanta: self.quanta,
            playing: self.transport.playing,
            momentary_lufs: self.loudness.momentary() as f32,
            short_term_lufs: self.loudness.short_term() as f32,
            integrated_lufs: self.gated.0,
            range_lu: self.gated.1,
            true_peak_dbtp: crate::amplitude_to_db(self.loudness.true_peak()),
            sanitised: self.sanitised + plan_sanitised,
            correlation: self.correlation.value(),
            bus,
        });
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Play => {
                if !self.transport.playing || self.fade_step != 0.0 {
                    self.tone.reset();
                }
                self.transport.playing = true;
                if let Some(frame) = self.pending_seek.take() {
                    self.transport.position = frame;
                }
                self.fade = 1.0;
                self.fade_step = 0.0;
            }
            Command::Stop => {
                if self.transport.playing {
                    self.fade_step = -1.0 / (STOP_FADE_SECONDS * self.sample_rate).max(1.0);
                }
            }
            Command::Seek { frame } if self.fade_step != 0.0 => self.pending_seek = Some(frame),
            Command::Seek { frame } => self.transport.position = frame,
            Command::SetLoop {
                start,
                end,
                enabled,
            } => {
                self.transport.loop_start = start.min(end);
                self.transport.loop_end = end.max(start);
                self.transport.looping = enabled;
            }
            Command::SetTestTone {
                frequency_hz,
                gain_db,
            } => {
                self.tone.set_frequency(self.sample_rate, frequency_hz);
                self.tone.set_amplitude(db_to_amplitude(gain_db));
            }
            Command::Strip { strip, change } => {
                if let Some(plan) = &mut self.current {
                    plan.mixer.apply(strip, change);
                }
            }
            Command::ResetLoudness => {
                self.loudness.reset();
                self.bus_loudness.reset();
                self.gated = (f32::NEG_INFINITY, 0.0);
                self.bus_gated = (f32::NEG_INFINITY, 0.0);
            }
            Command::SetMetronome { enabled, gain_db } => {
                self.metronome.enabled = enabled;
                self.metronome.set_gain_db(gain_db);
            }
            Command::Record { enabled } => {
                if self.calibrating.is_none() {
                    self.set_recording(enabled);
                }
            }
            Command::Calibrate => {
                if self.capture.is_some() && !self.recording {
                    // The clicks go out from the take's first frame on.
                    self.set_recording(true);
                    self.calibrating = Some(0);
                }
            }
            Command::MeterBus { bus } => {
                if bus != self.metered_bus {
                    self.metered_bus = bus;
                    self.bus_loudness.reset();
                    self.bus_correlation.reset();
                    self.bus_gated = (f32::NEG_INFINITY, 0.0);
                }
            }
        }
    }
}

/// Copies each strip's meters to the plan's shared meters.
fn publish_strips(plan: &Plan) {
    for (index, cell) in plan.strip_meters.iter().enumerate() {
        cell.publish(plan.mixer.reading_of(index));
    }
}
