//! Sample-rate conversion of an export (rubato), streamed: a long song or
//! a stem goes through in chunks, never whole.
//!
//! The interpolator is pinned to rubato's scalar one. Left to choose,
//! rubato takes AVX or SSE on x86 and the scalar code on wasm; they sum in
//! different orders, so the server and the browser would write different
//! bits. Pinned, both do the same arithmetic. It runs in f64: the filter's
//! tables come from `sin` and `cos`, whose last bit can differ between
//! the platform's maths library (native) and Rust's (wasm); in f32 that
//! changed the written files, in f64 it stays far below what a float
//! sample can hold.
//!
//! Runs on a worker or natively, never on the audio thread: it allocates.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::sinc_interpolator::{AnyInterpolator, ScalarInterpolator};
use rubato::{Async, FixedAsync, Indexing, Resampler, SincInterpolationType, WindowFunction};

/// The output rates an export offers (Hz).
pub const EXPORT_RATES: [u32; 4] = [44_100, 48_000, 88_200, 96_000];

/// Input frames per chunk.
const CHUNK: usize = 4096;
/// Taps of the sinc filter: with the Blackman-Harris² window, images and
/// aliases stay below −100 dBFS (see the tests).
const SINC_LEN: usize = 128;
/// Sinc tables between two input samples; cubic interpolation between them.
const OVERSAMPLING: usize = 256;
/// The passband's edge, relative to the lower rate's Nyquist frequency:
/// 20 kHz at 44.1 kHz, and the filter is down by Nyquist.
const CUTOFF: f32 = 0.91;

/// Converts interleaved audio from one rate to another, a chunk at a time.
/// The output is aligned with the input (the filter's delay is removed)
/// and, when [`RateConverter::finish`]ed, exactly as long as the input
/// at the new rate (rounded up).
pub struct RateConverter {
    /// `None` when the rates are equal: samples pass through untouched.
    inner: Option<Async<f64>>,
    channels: usize,
    /// The rates (from, to), for exact frame counts.
    rates: (u64, u64),
    /// Input waiting for a whole chunk.
    pending: Vec<f32>,
    frames_in: u64,
    frames_out: u64,
    /// Output frames still to drop: the filter's delay.
    delay: usize,
    /// The chunk in f64, and the converter's output.
    input: Vec<f64>,
    buffer: Vec<f64>,
}

impl RateConverter {
    pub fn new(from: u32, to: u32, channels: usize) -> Self {
        let ratio = f64::from(to) / f64::from(from);
        let inner = (from != to).then(|| {
            // Downsampling: the filter is scaled to the output's Nyquist.
            let cutoff = if ratio < 1.0 {
                CUTOFF * ratio as f32
            } else {
                CUTOFF
            };
            let interpolator = AnyInterpolator::Scalar(ScalarInterpolator::new(
                SINC_LEN,
                OVERSAMPLING,
                cutoff,
                WindowFunction::BlackmanHarris2,
            ));
            Async::new_with_sinc_interpolator(
                ratio,
                1.0,
                SincInterpolationType::Cubic,
                interpolator,
                cutoff,
                CHUNK,
                channels,
                FixedAsync::Input,
            )
            .expect("export rates are valid")
        });
        let delay = inner.as_ref().map_or(0, Resampler::output_delay);
        let buffer = vec![0.0; inner.as_ref().map_or(0, |r| r.output_frames_max()) * channels];
        RateConverter {
            inner,
            channels,
            rates: (u64::from(from), u64::from(to)),
            pending: Vec::with_capacity(CHUNK * channels),
            frames_in: 0,
            frames_out: 0,
            delay,
            input: vec![0.0; CHUNK * channels],
            buffer,
        }
    }

    /// Whether the rates are equal (samples pass through untouched).
    pub fn is_identity(&self) -> bool {
        self.inner.is_none()
    }

    /// Frames the whole input makes at the new rate.
    fn frames_due(&self) -> u64 {
        (self.frames_in * self.rates.1).div_ceil(self.rates.0)
    }

    /// Converts `input` (interleaved), appending what is ready to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.frames_in += (input.len() / self.channels) as u64;
        if self.inner.is_none() {
            out.extend_from_slice(input);
            self.frames_out = self.frames_in;
            return;
        }
        let chunk = CHUNK * self.channels;
        let mut rest = input;
        while !rest.is_empty() {
            let take = (chunk - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == chunk {
                self.run(None, out);
                self.pending.clear();
            }
        }
    }

    /// Converts what is left and flushes the filter: the output is then
    /// exactly the input's length at the new rate.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        if self.inner.is_none() {
            return;
        }
        let partial = self.pending.len() / self.channels;
        self.pending.resize(CHUNK * self.channels, 0.0);
        self.run(Some(partial), out);
        self.pending.clear();
        while self.frames_out < self.frames_due() {
            self.pending.resize(CHUNK * self.channels, 0.0);
            self.run(Some(0), out);
        }
        let excess = (self.frames_out - self.frames_due()) as usize * self.channels;
        out.truncate(out.len() - excess);
        self.frames_out = self.frames_due();
    }

    /// One chunk of `pending` through the filter (`partial`: how many of
    /// its frames are real; the rest is silence).
    fn run(&mut self, partial: Option<usize>, out: &mut Vec<f32>) {
        let channels = self.channels;
        let Some(inner) = &mut self.inner else {
            return;
        };
        for (x, &y) in self.input.iter_mut().zip(&self.pending) {
            *x = f64::from(y);
        }
        let input = InterleavedSlice::new(&self.input, channels, CHUNK).expect("chunk sized");
        let frames = self.buffer.len() / channels;
        let mut output =
            InterleavedSlice::new_mut(&mut self.buffer, channels, frames).expect("buffer sized");
        let indexing = partial.map(|n| Indexing::new().partial_len(n));
        let (_, written) = inner
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .expect("buffers are sized by the resampler");
        let skip = self.delay.min(written);
        self.delay -= skip;
        out.extend(
            self.buffer[skip * channels..written * channels]
                .iter()
                .map(|&x| x as f32),
        );
        self.frames_out += (written - skip) as u64;
    }
}

/// `input` (interleaved) converted from `from` to `to` Hz, whole.
pub fn convert(input: &[f32], channels: usize, from: u32, to: u32) -> Vec<f32> {
    let mut converter = RateConverter::new(from, to, channels);
    let frames = (input.len() / channels) as u64 * u64::from(to) / u64::from(from);
    let mut out = Vec::with_capacity((frames as usize + 1) * channels);
    converter.push(input, &mut out);
    converter.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Amplitude of the `hz` component of channel 0 over `x` (a whole
    /// number of periods is not needed: a Blackman-Harris window keeps
    /// leakage from a strong tone below −100 dB at a distance).
    fn component(x: &[f32], channels: usize, rate: u32, hz: f64) -> f64 {
        let n = x.len() / channels;
        let (mut re, mut im, mut sum) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..n {
            let t = i as f64 / (n - 1) as f64;
            let w = 0.35875 - 0.48829 * (std::f64::consts::TAU * t).cos()
                + 0.14128 * (2.0 * std::f64::consts::TAU * t).cos()
                - 0.01168 * (3.0 * std::f64::consts::TAU * t).cos();
            let phase = std::f64::consts::TAU * hz * i as f64 / f64::from(rate);
            let v = f64::from(x[i * channels]) * w;
            re += v * phase.cos();
            im += v * phase.sin();
            sum += w;
        }
        2.0 * (re * re + im * im).sqrt() / sum
    }

    fn tones(rate: u32, seconds: f64, parts: &[(f64, f64)]) -> Vec<f32> {
        let n = (seconds * f64::from(rate)) as usize;
        (0..n)
            .flat_map(|i| {
                let t = i as f64 / f64::from(rate);
                let x: f64 = parts
                    .iter()
                    .map(|&(hz, a)| a * (std::f64::consts::TAU * hz * t).sin())
                    .sum();
                [x as f32, x as f32]
            })
            .collect()
    }

    fn db(x: f64) -> f64 {
        20.0 * x.log10()
    }

    /// A 1 kHz tone from 48 to 44.1 kHz keeps its frequency and level; a
    /// 23 kHz tone beside it (above the new Nyquist) is gone: its alias at
    /// 21.1 kHz below −100 dBFS, and nothing else appears.
    #[test]
    fn a_tone_keeps_its_level_and_what_would_alias_is_gone() {
        let amplitude = 0.5;
        let input = tones(48_000, 2.0, &[(1_000.0, amplitude), (23_000.0, 0.5)]);
        let out = convert(&input, 2, 48_000, 44_100);
        assert_eq!(out.len() / 2, 88_200);
        let level = db(component(&out, 2, 44_100, 1_000.0) / amplitude);
        assert!(level.abs() < 0.01, "1 kHz is {level:+.4} dB off");
        // Its frequency: a neighbour 2 Hz away is far below.
        let off = db(component(&out, 2, 44_100, 1_002.0) / amplitude);
        assert!(off < -60.0, "{off}");
        for hz in [21_100.0, 2_000.0, 3_000.0, 12_000.0] {
            let alias = db(component(&out, 2, 44_100, hz));
            assert!(alias < -100.0, "{hz} Hz at {alias:.1} dBFS");
        }
        // Up: 44.1 → 96 kHz, no image of 1 kHz at 44.1 ± 1 kHz.
        let up = convert(
            &tones(44_100, 2.0, &[(1_000.0, amplitude)]),
            2,
            44_100,
            96_000,
        );
        assert_eq!(up.len() / 2, 192_000);
        let level = db(component(&up, 2, 96_000, 1_000.0) / amplitude);
        assert!(level.abs() < 0.01, "{level:+.4} dB");
        for hz in [43_100.0, 45_100.0] {
            let image = db(component(&up, 2, 96_000, hz));
            assert!(image < -100.0, "image {hz} Hz at {image:.1} dBFS");
        }
    }

    /// Converted in chunks of any size, the output is the same, aligned
    /// with the input (a click stays where it was), and equal rates pass
    /// samples through untouched.
    #[test]
    fn streamed_conversion_is_aligned_and_independent_of_chunking() {
        let mut input = vec![0.0f32; 2 * 48_000];
        input[2 * 24_000] = 1.0;
        input[2 * 24_000 + 1] = 1.0;
        let whole = convert(&input, 2, 48_000, 88_200);
        let mut converter = RateConverter::new(48_000, 88_200, 2);
        let mut pieces = Vec::new();
        for piece in input.chunks(2 * 1_000 + 6) {
            converter.push(piece, &mut pieces);
        }
        converter.finish(&mut pieces);
        assert_eq!(whole, pieces);
        let peak = (0..whole.len() / 2)
            .max_by(|&a, &b| whole[2 * a].abs().total_cmp(&whole[2 * b].abs()))
            .unwrap();
        assert!(
            (peak as i64 - 44_100).abs() <= 1,
            "the click is at {peak}, not 44100"
        );
        assert_eq!(convert(&input, 2, 48_000, 48_000), input);
    }
}
