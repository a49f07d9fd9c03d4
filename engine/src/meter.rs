//! Level meters: computed on the audio thread, read by the UI without locks.
//!
//! The realtime side ([`LevelMeter`]) keeps its ballistics in preallocated
//! state and publishes readings into [`EngineMeters`] atomics once per
//! quantum; the UI reads a [`MeterSnapshot`] whenever it draws.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::{CHANNELS, QUANTUM, StereoQuantum};

/// An `f32` that can be shared between threads (stored as its bits).
#[derive(Debug, Default)]
pub struct AtomicF32(AtomicU32);

impl AtomicF32 {
    pub fn new(value: f32) -> Self {
        AtomicF32(AtomicU32::new(value.to_bits()))
    }
    pub fn load(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }
    pub fn store(&self, value: f32) {
        self.0.store(value.to_bits(), Ordering::Relaxed)
    }
}

/// One strip's meters as the audio thread publishes them for the UI.
#[derive(Debug, Default)]
pub struct StripMeter {
    peak: AtomicF32,
    rms: AtomicF32,
    gain_reduction_db: AtomicF32,
}

/// A strip's meters at one moment (linear amplitudes; reduction in dB, ≤ 0).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StripReading {
    /// Post-fader peak of the last quantum.
    pub peak: f32,
    /// Post-fader RMS over about [`RMS_WINDOW_SECONDS`].
    pub rms: f32,
    /// Gain reduction of the strip's dynamics inserts (the deepest of them).
    pub gain_reduction_db: f32,
}

impl StripMeter {
    pub fn read(&self) -> StripReading {
        StripReading {
            peak: self.peak.load(),
            rms: self.rms.load(),
            gain_reduction_db: self.gain_reduction_db.load(),
        }
    }

    pub fn publish(&self, r: StripReading) {
        self.peak.store(r.peak);
        self.rms.store(r.rms);
        self.gain_reduction_db.store(r.gain_reduction_db);
    }
}

/// Loudness of a bus measured on request (`Command::MeterBus`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BusLoudness {
    pub momentary_lufs: f32,
    pub short_term_lufs: f32,
    pub integrated_lufs: f32,
    pub range_lu: f32,
    pub true_peak_dbtp: f32,
    pub correlation: f32,
}

impl BusLoudness {
    /// What the meters read before anything is measured.
    pub const SILENT: BusLoudness = BusLoudness {
        momentary_lufs: f32::NEG_INFINITY,
        short_term_lufs: f32::NEG_INFINITY,
        integrated_lufs: f32::NEG_INFINITY,
        range_lu: 0.0,
        true_peak_dbtp: f32::NEG_INFINITY,
        correlation: 0.0,
    };
}

impl Default for BusLoudness {
    fn default() -> Self {
        BusLoudness::SILENT
    }
}

/// Phase correlation of a stereo signal: averaged L·L, R·R and L·R over
/// about [`RMS_WINDOW_SECONDS`]. +1 is mono, 0 unrelated, −1 inverted.
#[derive(Clone, Copy, Debug)]
pub struct CorrelationMeter {
    sums: (f32, f32, f32),
    smoothing: f32,
}

impl CorrelationMeter {
    pub fn new(sample_rate: f32) -> Self {
        CorrelationMeter {
            sums: (0.0, 0.0, 0.0),
            smoothing: window_smoothing(sample_rate),
        }
    }

    pub fn measure(&mut self, audio: &StereoQuantum) {
        let (mut ll, mut rr, mut lr) = (0.0f32, 0.0f32, 0.0f32);
        for (l, r) in audio[0].iter().zip(&audio[1]) {
            ll += l * l;
            rr += r * r;
            lr += l * r;
        }
        let (k, s) = (self.smoothing, &mut self.sums);
        *s = (
            s.0 + k * (ll - s.0),
            s.1 + k * (rr - s.1),
            s.2 + k * (lr - s.2),
        );
    }

    pub fn value(&self) -> f32 {
        let (ll, rr, lr) = self.sums;
        if ll * rr > 1e-20 {
            (lr / (ll * rr).sqrt()).clamp(-1.0, 1.0)
        } else {
            0.0
        }
    }

    pub fn reset(&mut self) {
        self.sums = (0.0, 0.0, 0.0);
    }
}

/// Peak fall rate of the meters: 20 dB in 1.5 s, as IEC 60268-18 digital peak meters.
pub const PEAK_FALL_DB_PER_SECOND: f32 = 20.0 / 1.5;
/// Integration window of the RMS readout.
pub const RMS_WINDOW_SECONDS: f32 = 0.3;

/// Per-quantum coefficient of a one-pole average over [`RMS_WINDOW_SECONDS`]
/// (strip RMS, master phase correlation).
pub fn window_smoothing(sample_rate: f32) -> f32 {
    let quanta = f64::from(RMS_WINDOW_SECONDS) * f64::from(sample_rate) / QUANTUM as f64;
    (1.0 - (-1.0 / quanta).exp()) as f32
}

/// What the audio thread publishes for the UI, one writer, many readers.
#[derive(Debug, Default)]
pub struct EngineMeters {
    peak: [AtomicF32; CHANNELS],
    max_peak: [AtomicF32; CHANNELS],
    rms: [AtomicF32; CHANNELS],
    position: AtomicU64,
    quanta: AtomicU64,
    playing: AtomicBool,
    loudness: [AtomicF32; 5],
    correlation: AtomicF32,
    bus: [AtomicF32; 6],
    sanitised: AtomicU64,
}

/// A consistent-enough copy of the meters for one UI frame (linear amplitudes).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MeterSnapshot {
    /// Peak with fall-back ballistics, per channel.
    pub peak: [f32; CHANNELS],
    /// Highest sample since the engine started (the clip indicator).
    pub max_peak: [f32; CHANNELS],
    /// RMS over the last [`RMS_WINDOW_SECONDS`].
    pub rms: [f32; CHANNELS],
    /// Transport position in frames.
    pub position: u64,
    /// Quanta rendered so far: proof that the audio thread is alive.
    pub quanta: u64,
    pub playing: bool,
    /// Master loudness, LUFS (−inf when silent).
    pub momentary_lufs: f32,
    pub short_term_lufs: f32,
    pub integrated_lufs: f32,
    /// Loudness range, LU.
    pub range_lu: f32,
    /// Highest true peak since the last loudness reset, dBTP.
    pub true_peak_dbtp: f32,
    /// Non-finite samples the engine has silenced.
    pub sanitised: u64,
    /// Master phase correlation over ~300 ms: +1 mono, 0 unrelated, −1 inverted.
    pub correlation: f32,
    /// The bus chosen with `Command::MeterBus` (silent when none is).
    pub bus: BusLoudness,
}

impl EngineMeters {
    /// Called by the UI thread, any time.
    pub fn snapshot(&self) -> MeterSnapshot {
        MeterSnapshot {
            peak: self.peak.each_ref().map(AtomicF32::load),
            max_peak: self.max_peak.each_ref().map(AtomicF32::load),
            rms: self.rms.each_ref().map(AtomicF32::load),
            position: self.position.load(Ordering::Relaxed),
            quanta: self.quanta.load(Ordering::Relaxed),
            playing: self.playing.load(Ordering::Relaxed),
            momentary_lufs: self.loudness[0].load(),
            short_term_lufs: self.loudness[1].load(),
            integrated_lufs: self.loudness[2].load(),
            range_lu: self.loudness[3].load(),
            true_peak_dbtp: self.loudness[4].load(),
            sanitised: self.sanitised.load(Ordering::Relaxed),
            correlation: self.correlation.load(),
            bus: {
                let [m, s, i, r, t, c] = self.bus.each_ref().map(AtomicF32::load);
                BusLoudness {
                    momentary_lufs: m,
                    short_term_lufs: s,
                    integrated_lufs: i,
                    range_lu: r,
                    true_peak_dbtp: t,
                    correlation: c,
                }
            },
        }
    }

    /// Publishes a snapshot. Called by the audio thread (or, without shared
    /// memory, by the UI thread when a snapshot arrives from the worklet).
    pub fn publish(&self, s: &MeterSnapshot) {
        for ch in 0..CHANNELS {
            self.peak[ch].store(s.peak[ch]);
            self.max_peak[ch].store(s.max_peak[ch]);
            self.rms[ch].store(s.rms[ch]);
        }
        self.position.store(s.position, Ordering::Relaxed);
        self.quanta.store(s.quanta, Ordering::Relaxed);
        self.playing.store(s.playing, Ordering::Relaxed);
        for (cell, value) in self.loudness.iter().zip([
            s.momentary_lufs,
            s.short_term_lufs,
            s.integrated_lufs,
            s.range_lu,
            s.true_peak_dbtp,
        ]) {
            cell.store(value);
        }
        self.sanitised.store(s.sanitised, Ordering::Relaxed);
        self.correlation.store(s.correlation);
        let b = s.bus;
        let bus = [
            b.momentary_lufs,
            b.short_term_lufs,
            b.integrated_lufs,
            b.range_lu,
            b.true_peak_dbtp,
            b.correlation,
        ];
        for (cell, value) in self.bus.iter().zip(bus) {
            cell.store(value);
        }
    }
}

impl MeterSnapshot {
    /// Number of words in [`MeterSnapshot::encode`].
    pub const WORDS: usize = 22;

    /// Flattens the snapshot for a `MessagePort` (the no-shared-memory fallback).
    pub fn encode(&self) -> [f64; Self::WORDS] {
        [
            self.peak[0].into(),
            self.peak[1].into(),
            self.max_peak[0].into(),
            self.max_peak[1].into(),
            self.rms[0].into(),
            self.rms[1].into(),
            self.position as f64,
            self.quanta as f64,
            if self.playing { 1.0 } else { 0.0 },
            self.momentary_lufs.into(),
            self.short_term_lufs.into(),
            self.integrated_lufs.into(),
            self.range_lu.into(),
            self.true_peak_dbtp.into(),
            self.sanitised as f64,
            self.correlation.into(),
            self.bus.momentary_lufs.into(),
            self.bus.short_term_lufs.into(),
            self.bus.integrated_lufs.into(),
            self.bus.range_lu.into(),
            self.bus.true_peak_dbtp.into(),
            self.bus.correlation.into(),
        ]
    }

    pub fn decode(w: &[f64]) -> Option<MeterSnapshot> {
        let w: &[f64; Self::WORDS] = w.try_into().ok()?;
        Some(MeterSnapshot {
            peak: [w[0] as f32, w[1] as f32],
            max_peak: [w[2] as f32, w[3] as f32],
            rms: [w[4] as f32, w[5] as f32],
            position: w[6] as u64,
            quanta: w[7] as u64,
            playing: w[8] != 0.0,
            momentary_lufs: w[9] as f32,
            short_term_lufs: w[10] as f32,
            integrated_lufs: w[11] as f32,
            range_lu: w[12] as f32,
            true_peak_dbtp: w[13] as f32,
            sanitised: w[14] as u64,
            correlation: w[15] as f32,
            bus: BusLoudness {
                momentary_lufs: w[16] as f32,
                short_term_lufs: w[17] as f32,
                integrated_lufs: w[18] as f32,
                range_lu: w[19] as f32,
                true_peak_dbtp: w[20] as f32,
                correlation: w[21] as f32,
            },
        })
    }
}

impl StripReading {
    /// Number of words in [`StripReading::encode`].
    pub const WORDS: usize = 3;

    pub fn encode(&self) -> [f64; Self::WORDS] {
        [
            self.peak.into(),
            self.rms.into(),
            self.gain_reduction_db.into(),
        ]
    }

    pub fn decode(w: &[f64]) -> Option<StripReading> {
        let w: &[f64; Self::WORDS] = w.try_into().ok()?;
        Some(StripReading {
            peak: w[0] as f32,
            rms: w[1] as f32,
            gain_reduction_db: w[2] as f32,
        })
    }
}

/// The fallback's meter message (no shared memory: the worklet posts it to
/// the page): the snapshot's words, then each strip's. Writes into `out`
/// without allocating while its capacity holds.
pub fn encode_meter_message(
    snapshot: &MeterSnapshot,
    strips: impl Iterator<Item = StripReading>,
    out: &mut Vec<f64>,
) {
    out.clear();
    out.extend_from_slice(&snapshot.encode());
    for strip in strips {
        out.extend_from_slice(&strip.encode());
    }
}

/// Reads [`encode_meter_message`]'s words; `None` if they are malformed.
pub fn decode_meter_message(w: &[f64]) -> Option<(MeterSnapshot, Vec<StripReading>)> {
    let (head, strips) = w.split_at_checked(MeterSnapshot::WORDS)?;
    if strips.len() % StripReading::WORDS != 0 {
        return None;
    }
    let strips = strips
        .chunks_exact(StripReading::WORDS)
        .filter_map(StripReading::decode)
        .collect();
    Some((MeterSnapshot::decode(head)?, strips))
}

/// Peak and RMS ballistics of a stereo signal. Lives on the audio thread.
pub struct LevelMeter {
    peak: [f32; CHANNELS],
    max_peak: [f32; CHANNELS],
    peak_fall: f32,
    /// Sum of squares of each of the last `window.len()` quanta.
    window: Box<[[f64; CHANNELS]]>,
    cursor: usize,
    total: [f64; CHANNELS],
}

impl LevelMeter {
    /// Called on the control thread: allocates the RMS window.
    pub fn new(sample_rate: f32) -> Self {
        let quanta_per_second = sample_rate / QUANTUM as f32;
        let window_len = (RMS_WINDOW_SECONDS * quanta_per_second).round().max(1.0) as usize;
        LevelMeter {
            peak: [0.0; CHANNELS],
            max_peak: [0.0; CHANNELS],
            peak_fall: crate::db_to_amplitude(-PEAK_FALL_DB_PER_SECOND / quanta_per_second),
            window: vec![[0.0; CHANNELS]; window_len].into_boxed_slice(),
            cursor: 0,
            total: [0.0; CHANNELS],
        }
    }

    /// Audio thread: measures one quantum.
    pub fn measure(&mut self, audio: &StereoQuantum) {
        let slot = &mut self.window[self.cursor];
        for ch in 0..CHANNELS {
            let mut peak = 0.0f32;
            let mut energy = 0.0f64;
            for &s in &audio[ch] {
                peak = crate::lanes::peak_max(peak, s.abs());
                energy += f64::from(s) * f64::from(s);
            }
            self.peak[ch] = peak.max(self.peak[ch] * self.peak_fall);
            self.max_peak[ch] = self.max_peak[ch].max(peak);
            self.total[ch] += energy - slot[ch];
            slot[ch] = energy;
        }
        self.cursor += 1;
        if self.cursor == self.window.len() {
            self.cursor = 0;
            // Re-sum once per window so rounding in the running total cannot drift.
            self.total = [0.0; CHANNELS];
            for quantum in self.window.iter() {
                for (total, energy) in self.total.iter_mut().zip(quantum) {
                    *total += energy;
                }
            }
        }
    }

    /// Audio thread: the current readings.
    pub fn rms(&self) -> [f32; CHANNELS] {
        let n = (self.window.len() * QUANTUM) as f64;
        self.total.map(|t| (t.max(0.0) / n).sqrt() as f32)
    }
    pub fn peak(&self) -> [f32; CHANNELS] {
        self.peak
    }
    pub fn max_peak(&self) -> [f32; CHANNELS] {
        self.max_peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::SineOscillator;

    #[test]
    fn steady_sine_reads_its_peak_and_rms() {
        let sr = 48_000.0;
        let mut meter = LevelMeter::new(sr);
        let mut osc = SineOscillator::new(sr, 1000.0, 0.5);
        let mut q = [[0.0; QUANTUM]; CHANNELS];
        for _ in 0..400 {
            osc.fill(&mut q[0]);
            q[1] = q[0];
            meter.measure(&q);
        }
        for ch in 0..CHANNELS {
            assert!((meter.peak()[ch] - 0.5).abs() < 1e-3);
            assert!(
                (meter.rms()[ch] - 0.5 / 2f32.sqrt()).abs() < 1e-3,
                "{:?}",
                meter.rms()
            );
        }
    }

    #[test]
    fn peak_falls_at_the_documented_rate_and_rms_empties_after_its_window() {
        let sr = 48_000.0;
        let mut meter = LevelMeter::new(sr);
        let mut q = [[1.0; QUANTUM]; CHANNELS];
        meter.measure(&q);
        q = [[0.0; QUANTUM]; CHANNELS];
        let one_second = (sr / QUANTUM as f32) as usize;
        for _ in 0..one_second {
            meter.measure(&q);
        }
        let fallen = crate::amplitude_to_db(meter.peak()[0]);
        assert!(
            (fallen + PEAK_FALL_DB_PER_SECOND).abs() < 0.1,
            "fell to {fallen} dB"
        );
        assert_eq!(meter.max_peak(), [1.0; CHANNELS]);
        assert_eq!(meter.rms(), [0.0; CHANNELS]);
    }

    #[test]
    fn snapshot_survives_the_port_codec() {
        let s = MeterSnapshot {
            peak: [0.5, 0.25],
            max_peak: [1.0, 0.75],
            rms: [0.125, 0.0625],
            position: 123_456_789,
            quanta: 42,
            playing: true,
            momentary_lufs: -14.5,
            short_term_lufs: -15.0,
            integrated_lufs: f32::NEG_INFINITY,
            range_lu: 6.0,
            true_peak_dbtp: -1.25,
            sanitised: 3,
            correlation: -0.5,
            bus: BusLoudness {
                momentary_lufs: -20.0,
                range_lu: 4.5,
                correlation: 0.25,
                ..BusLoudness::SILENT
            },
        };
        assert_eq!(MeterSnapshot::decode(&s.encode()), Some(s));
        assert_eq!(MeterSnapshot::decode(&[0.0; 3]), None);

        let strips = [
            StripReading {
                peak: 0.5,
                rms: 0.25,
                gain_reduction_db: -3.5,
            },
            StripReading::default(),
        ];
        let mut words = Vec::with_capacity(MeterSnapshot::WORDS + 2 * StripReading::WORDS);
        let capacity = words.capacity();
        encode_meter_message(&s, strips.into_iter(), &mut words);
        assert_eq!(words.capacity(), capacity, "fits the reserved words");
        assert_eq!(decode_meter_message(&words), Some((s, strips.to_vec())));
        // A snapshot alone (no project loaded) is a message too.
        assert_eq!(decode_meter_message(&s.encode()), Some((s, Vec::new())));
        assert_eq!(decode_meter_message(&words[..words.len() - 1]), None);
        assert_eq!(decode_meter_message(&words[..5]), None);
    }
}
