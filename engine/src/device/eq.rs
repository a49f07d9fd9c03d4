//! Parametric EQ: up to 8 RBJ bands per lane, run across lanes at once.

use super::{LaneSmoother, ParamSpec, SMOOTHING_CHUNK};
use crate::biquad::{Coefficients, Shape};
use crate::lanes::{LANES, Lanes, splat};

pub const BANDS: usize = 8;
/// Parameters per band: enabled, shape, frequency, Q, gain.
pub const PARAMS_PER_BAND: usize = 5;
/// Index of the output gain, after the bands.
pub const OUTPUT_GAIN: usize = BANDS * PARAMS_PER_BAND;

/// Parameter index of `field` (0..5) of `band`.
pub const fn band_param(band: usize, field: usize) -> usize {
    band * PARAMS_PER_BAND + field
}
pub const ENABLED: usize = 0;
pub const SHAPE: usize = 1;
pub const FREQUENCY: usize = 2;
pub const Q: usize = 3;
pub const GAIN: usize = 4;

const fn band_specs() -> [ParamSpec; OUTPUT_GAIN + 1] {
    let mut specs = [ParamSpec::new("output gain", -24.0, 24.0, 0.0, "dB"); OUTPUT_GAIN + 1];
    // Default layout of a fresh EQ: low shelf, four bells, high shelf, two cuts.
    let defaults: [(f32, f32); BANDS] = [
        (1.0, 80.0),
        (0.0, 200.0),
        (0.0, 500.0),
        (0.0, 1_500.0),
        (0.0, 4_000.0),
        (2.0, 10_000.0),
        (4.0, 30.0),
        (3.0, 18_000.0),
    ];
    let mut b = 0;
    while b < BANDS {
        specs[band_param(b, ENABLED)] = ParamSpec::new("enabled", 0.0, 1.0, 0.0, "");
        specs[band_param(b, SHAPE)] = ParamSpec::new("shape", 0.0, 5.0, defaults[b].0, "");
        specs[band_param(b, FREQUENCY)] =
            ParamSpec::new("frequency", 10.0, 22_000.0, defaults[b].1, "Hz");
        specs[band_param(b, Q)] = ParamSpec::new("Q", 0.1, 18.0, 0.707, "");
        specs[band_param(b, GAIN)] = ParamSpec::new("gain", -24.0, 24.0, 0.0, "dB");
        b += 1;
    }
    specs
}

pub static PARAMS: [ParamSpec; OUTPUT_GAIN + 1] = band_specs();

/// The response in dB at `frequency_hz` of an EQ as a project describes it
/// (bands settled at their values): what the EQ panel draws while the user
/// drags a band, without asking the audio thread.
pub fn curve_db(desc: &super::DeviceDesc, sample_rate: f64, frequency_hz: f64) -> f64 {
    let mut db = f64::from(desc.param(OUTPUT_GAIN));
    for band in 0..BANDS {
        if desc.param(band_param(band, ENABLED)) < 0.5 {
            continue;
        }
        let shape = desc.param(band_param(band, SHAPE)).round() as usize;
        let c = Coefficients::design(
            Shape::ALL[shape.min(Shape::ALL.len() - 1)],
            sample_rate,
            f64::from(desc.param(band_param(band, FREQUENCY))),
            f64::from(desc.param(band_param(band, Q))),
            f64::from(desc.param(band_param(band, GAIN))),
        );
        db += c.magnitude_db(sample_rate, frequency_hz);
    }
    db
}

#[derive(Clone, Copy)]
struct BandLanes {
    b0: Lanes,
    b1: Lanes,
    b2: Lanes,
    a1: Lanes,
    a2: Lanes,
    s1: Lanes,
    s2: Lanes,
}

impl BandLanes {
    const IDENTITY: BandLanes = BandLanes {
        b0: [1.0; LANES],
        b1: [0.0; LANES],
        b2: [0.0; LANES],
        a1: [0.0; LANES],
        a2: [0.0; LANES],
        s1: [0.0; LANES],
        s2: [0.0; LANES],
    };

    fn set_lane(&mut self, lane: usize, c: &Coefficients) {
        self.b0[lane] = c.b0 as f32;
        self.b1[lane] = c.b1 as f32;
        self.b2[lane] = c.b2 as f32;
        self.a1[lane] = c.a1 as f32;
        self.a2[lane] = c.a2 as f32;
    }

    /// Flushes states decaying into denormals: a silent filter must not
    /// slow the audio thread.
    fn flush_denormals(&mut self) {
        for l in 0..LANES {
            if self.s1[l].abs() < 1e-25 {
                self.s1[l] = 0.0;
            }
            if self.s2[l].abs() < 1e-25 {
                self.s2[l] = 0.0;
            }
        }
    }
}

/// The EQ of one insert slot across the lanes of a group.
pub struct EqLanes {
    sample_rate: f32,
    bands: [BandLanes; BANDS],
    enabled: [[bool; BANDS]; LANES],
    shape: [[Shape; BANDS]; LANES],
    /// Smoothed per band: log2 of frequency, Q and gain in dB.
    log_frequency: [LaneSmoother; BANDS],
    q: [LaneSmoother; BANDS],
    gain_db: [LaneSmoother; BANDS],
    output_db: LaneSmoother,
    /// Linear output gain reached at the end of the last block.
    output_gain: Lanes,
    /// Bands enabled in any lane, in order; the others are not run at all.
    active: [usize; BANDS],
    active_count: usize,
}

impl EqLanes {
    pub fn new(sample_rate: f32) -> Self {
        let smoother = |v: f32| LaneSmoother::new(sample_rate, splat(v));
        EqLanes {
            sample_rate,
            bands: [BandLanes::IDENTITY; BANDS],
            enabled: [[false; BANDS]; LANES],
            shape: [[Shape::Peaking; BANDS]; LANES],
            log_frequency: std::array::from_fn(|b| {
                smoother(f64::from(PARAMS[band_param(b, FREQUENCY)].default).log2() as f32)
            }),
            q: std::array::from_fn(|_| smoother(0.707)),
            gain_db: std::array::from_fn(|_| smoother(0.0)),
            output_db: smoother(0.0),
            output_gain: splat(1.0),
            active: [0; BANDS],
            active_count: 0,
        }
    }

    /// Takes over lane `from` of `other` as lane `to` (see [`super::LaneDevice::copy_lane`]).
    pub(super) fn copy_lane(&mut self, to: usize, other: &EqLanes, from: usize) {
        for b in 0..BANDS {
            let (dst, src) = (&mut self.bands[b], &other.bands[b]);
            dst.b0[to] = src.b0[from];
            dst.b1[to] = src.b1[from];
            dst.b2[to] = src.b2[from];
            dst.a1[to] = src.a1[from];
            dst.a2[to] = src.a2[from];
            dst.s1[to] = src.s1[from];
            dst.s2[to] = src.s2[from];
            self.log_frequency[b].copy_lane(to, &other.log_frequency[b], from);
            self.q[b].copy_lane(to, &other.q[b], from);
            self.gain_db[b].copy_lane(to, &other.gain_db[b], from);
        }
        self.enabled[to] = other.enabled[from];
        self.shape[to] = other.shape[from];
        self.output_db.copy_lane(to, &other.output_db, from);
        self.output_gain[to] = other.output_gain[from];
        self.update_active();
    }

    pub fn set_param(&mut self, lane: usize, index: usize, value: f32, ramp: Option<u32>) {
        if index == OUTPUT_GAIN {
            self.output_db.set_with(lane, value, ramp);
            return;
        }
        let (band, field) = (index / PARAMS_PER_BAND, index % PARAMS_PER_BAND);
        if band >= BANDS {
            return;
        }
        match field {
            ENABLED => {
                self.enabled[lane][band] = value >= 0.5;
                self.update_active();
            }
            SHAPE => {
                self.shape[lane][band] =
                    Shape::ALL[(value.round() as usize).min(Shape::ALL.len() - 1)]
            }
            FREQUENCY => {
                self.log_frequency[band].set_with(lane, f64::from(value).log2() as f32, ramp)
            }
            Q => self.q[band].set_with(lane, value, ramp),
            _ => self.gain_db[band].set_with(lane, value, ramp),
        }
        self.design(band, lane);
    }

    fn update_active(&mut self) {
        self.active_count = 0;
        for band in 0..BANDS {
            if (0..LANES).any(|l| self.enabled[l][band]) {
                self.active[self.active_count] = band;
                self.active_count += 1;
            }
        }
    }

    /// Recomputes one lane of one band from its current smoothed values.
    fn design(&mut self, band: usize, lane: usize) {
        let c = if self.enabled[lane][band] {
            Coefficients::design(
                self.shape[lane][band],
                f64::from(self.sample_rate),
                f64::from(self.log_frequency[band].current()[lane]).exp2(),
                f64::from(self.q[band].current()[lane]),
                f64::from(self.gain_db[band].current()[lane]),
            )
        } else {
            Coefficients::IDENTITY
        };
        self.bands[band].set_lane(lane, &c);
    }

    pub(super) fn settle(&mut self) {
        for band in 0..BANDS {
            self.log_frequency[band].settle();
            self.q[band].settle();
            self.gain_db[band].settle();
            for lane in 0..LANES {
                self.design(band, lane);
            }
        }
        self.output_db.settle();
        self.output_gain = self.output_db.current().map(crate::db_to_amplitude);
    }

    /// The response of `lane` at `frequency_hz` in dB, from its current
    /// coefficients: what the EQ panel draws.
    pub fn response_db(&self, lane: usize, frequency_hz: f64) -> f64 {
        let mut db = f64::from(self.output_db.current()[lane]);
        for band in &self.bands {
            let c = Coefficients {
                b0: f64::from(band.b0[lane]),
                b1: f64::from(band.b1[lane]),
                b2: f64::from(band.b2[lane]),
                a1: f64::from(band.a1[lane]),
                a2: f64::from(band.a2[lane]),
            };
            db += c.magnitude_db(f64::from(self.sample_rate), frequency_hz);
        }
        db
    }

    /// Runs the `N` active bands as one cascade, frame by frame. One pass
    /// instead of one per band: the recursions of consecutive bands are
    /// independent within a frame step, so the CPU overlaps them instead of
    /// waiting out each band's latency in turn.
    fn run_cascade<const N: usize>(&mut self, block: &mut [Lanes]) {
        let mut bands: [BandLanes; N] = std::array::from_fn(|i| self.bands[self.active[i]]);
        for frame in block.iter_mut() {
            let mut x = *frame;
            for band in bands.iter_mut() {
                let mut y = [0.0; LANES];
                for l in 0..LANES {
                    y[l] = band.b0[l] * x[l] + band.s1[l];
                    band.s1[l] = band.b1[l] * x[l] - band.a1[l] * y[l] + band.s2[l];
                    band.s2[l] = band.b2[l] * x[l] - band.a2[l] * y[l];
                }
                x = y;
            }
            *frame = x;
        }
        for (i, band) in bands.iter_mut().enumerate() {
            band.flush_denormals();
            self.bands[self.active[i]] = *band;
        }
    }

    pub fn process(&mut self, block: &mut [Lanes]) {
        let mut offset = 0;
        while offset < block.len() {
            // While any band moves, redesign every 32 frames; otherwise one pass.
            let moving = self.active[..self.active_count].iter().any(|&b| {
                self.log_frequency[b].is_moving()
                    || self.q[b].is_moving()
                    || self.gain_db[b].is_moving()
            });
            let n = if moving {
                SMOOTHING_CHUNK.min(block.len() - offset)
            } else {
                block.len() - offset
            };
            if moving {
                for i in 0..self.active_count {
                    let b = self.active[i];
                    self.log_frequency[b].advance(n);
                    self.q[b].advance(n);
                    self.gain_db[b].advance(n);
                    for lane in 0..LANES {
                        self.design(b, lane);
                    }
                }
            }
            let chunk = &mut block[offset..offset + n];
            match self.active_count {
                0 => {}
                1 => self.run_cascade::<1>(chunk),
                2 => self.run_cascade::<2>(chunk),
                3 => self.run_cascade::<3>(chunk),
                4 => self.run_cascade::<4>(chunk),
                5 => self.run_cascade::<5>(chunk),
                6 => self.run_cascade::<6>(chunk),
                7 => self.run_cascade::<7>(chunk),
                _ => self.run_cascade::<8>(chunk),
            }
            // Output gain, ramped sample by sample while it moves.
            let from = self.output_gain;
            let to = self.output_db.advance(n).map(crate::db_to_amplitude);
            if from != to || to != [1.0; LANES] {
                let step: Lanes = std::array::from_fn(|l| (to[l] - from[l]) / n as f32);
                for (i, frame) in chunk.iter_mut().enumerate() {
                    for l in 0..LANES {
                        frame[l] *= from[l] + step[l] * (i + 1) as f32;
                    }
                }
            }
            self.output_gain = to;
            offset += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{DeviceDesc, DeviceKind, LaneDevice};

    /// The panel's curve is the engine's own response, and a peaking band
    /// reads exactly its gain at its centre (RBJ).
    #[test]
    fn the_panel_curve_is_the_engine_response() {
        let desc = DeviceDesc::new(DeviceKind::Eq)
            .with(band_param(0, ENABLED), 1.0)
            .with(band_param(2, ENABLED), 1.0)
            .with(band_param(2, FREQUENCY), 1_000.0)
            .with(band_param(2, GAIN), 7.5)
            .with(band_param(2, Q), 2.0)
            .with(band_param(6, ENABLED), 1.0)
            .with(OUTPUT_GAIN, -1.5);
        let device = crate::device::testing::on_every_lane(&desc, 48_000.0);
        let lanes = device.as_eq().unwrap();
        for hz in [20.0, 63.0, 250.0, 1_000.0, 4_000.0, 16_000.0] {
            let panel = curve_db(&desc, 48_000.0, hz);
            let engine = lanes.response_db(0, hz);
            assert!(
                (panel - engine).abs() < 1e-4,
                "{hz} Hz: {panel} vs {engine}"
            );
        }
        let lone = DeviceDesc::new(DeviceKind::Eq)
            .with(band_param(2, ENABLED), 1.0)
            .with(band_param(2, FREQUENCY), 1_000.0)
            .with(band_param(2, GAIN), 7.5);
        assert!((curve_db(&lone, 48_000.0, 1_000.0) - 7.5).abs() < 1e-9);
    }

    /// Each lane filters a sine with its own settings; the measured gain
    /// matches the analytic response of that lane's bands.
    #[test]
    fn lanes_are_independent_filters_with_analytic_responses() {
        let fs = 48_000.0;
        let eq = |band_freq: f32, gain: f32, shape: f32| {
            DeviceDesc::new(DeviceKind::Eq)
                .with(band_param(1, ENABLED), 1.0)
                .with(band_param(1, SHAPE), shape)
                .with(band_param(1, FREQUENCY), band_freq)
                .with(band_param(1, Q), 1.2)
                .with(band_param(1, GAIN), gain)
        };
        let descs = [
            eq(1000.0, 9.0, 0.0),
            eq(3000.0, -12.0, 0.0),
            eq(500.0, 6.0, 1.0),
            eq(8000.0, 0.0, 3.0),
        ];
        let mut device = LaneDevice::new(
            DeviceKind::Eq,
            fs,
            std::array::from_fn(|l| Some(&descs[l % 4])),
            std::array::from_fn(|l| l as u8),
        );
        let probe: [f32; LANES] =
            std::array::from_fn(|l| [1000.0f32, 3000.0, 500.0, 8000.0][l % 4]);
        let mut block = [[0.0f32; LANES]; crate::QUANTUM];
        let mut peak = [0f32; LANES];
        for q in 0..400 {
            for (i, frame) in block.iter_mut().enumerate() {
                let t = (q * crate::QUANTUM + i) as f32 / fs;
                *frame = probe.map(|f| (std::f32::consts::TAU * f * t).sin());
            }
            device.process(&mut block);
            if q > 300 {
                for frame in &block {
                    for l in 0..LANES {
                        peak[l] = peak[l].max(frame[l].abs());
                    }
                }
            }
        }
        let eq_lanes = device.as_eq().unwrap();
        for l in 0..LANES {
            let expected = eq_lanes.response_db(l, f64::from(probe[l]));
            let measured = 20.0 * f64::from(peak[l]).log10();
            assert!(
                (measured - expected).abs() < 0.02,
                "lane {l}: {measured} dB vs {expected} dB"
            );
        }
        assert_eq!(
            eq_lanes.response_db(4, 1000.0),
            eq_lanes.response_db(0, 1000.0)
        );
        // The peaking bands hit their settings exactly at f0; the shelf half; the LP Q.
        assert!((eq_lanes.response_db(0, 1000.0) - 9.0).abs() < 1e-3);
        assert!((eq_lanes.response_db(1, 3000.0) + 12.0).abs() < 1e-3);
        assert!((eq_lanes.response_db(2, 500.0) - 3.0).abs() < 1e-3);
        assert!((eq_lanes.response_db(3, 8000.0) - 20.0 * 1.2f64.log10()).abs() < 1e-3);
    }

    #[test]
    fn a_gain_change_is_smoothed_without_a_step() {
        let fs = 48_000.0;
        let desc = DeviceDesc::new(DeviceKind::Eq).with(OUTPUT_GAIN, 0.0);
        let mut device = LaneDevice::new(
            DeviceKind::Eq,
            fs,
            std::array::from_fn(|l| (l == 0).then_some(&desc)),
            std::array::from_fn(|l| l as u8),
        );
        device.set_param(0, OUTPUT_GAIN, 12.0);
        let mut out = Vec::new();
        for _ in 0..20 {
            let mut block = [[0.5f32; LANES]; crate::QUANTUM];
            device.process(&mut block);
            out.extend(block.iter().map(|f| f[0]));
        }
        let biggest_step = out
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0f32, f32::max);
        assert!(biggest_step < 0.05, "step {biggest_step}");
        assert!((out.last().unwrap() - 0.5 * crate::db_to_amplitude(12.0)).abs() < 1e-4);
    }
}
