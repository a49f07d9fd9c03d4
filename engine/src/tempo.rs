//! The tempo map: musical time (bars and beats) ↔ timeline frames.
//!
//! Tempo is constant between changes; each change starts at a beat. A beat
//! is the time signature's beat unit, a bar `beats_per_bar` of them.

/// Tempo from `beat` onwards.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TempoChange {
    pub beat: f64,
    pub bpm: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TimeSignature {
    pub beats_per_bar: u32,
    pub beat_unit: u32,
}

impl TimeSignature {
    pub const FOUR_FOUR: TimeSignature = TimeSignature {
        beats_per_bar: 4,
        beat_unit: 4,
    };
}

/// A position as a musician reads it: bar and beat count from 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MusicalPosition {
    pub bar: i64,
    pub beat: u32,
    /// How far into the beat, 0..1.
    pub fraction: f64,
}

/// Grid for snapping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Grid {
    Bar,
    /// A fraction of a beat or several beats (0.25: sixteenths in 4/4).
    Beats(f64),
}

pub const MIN_BPM: f64 = 20.0;
pub const MAX_BPM: f64 = 999.0;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TempoMap {
    sample_rate: f64,
    signature: TimeSignature,
    /// Changes in order, the first at beat 0, each with its start frame.
    changes: Vec<(TempoChange, f64)>,
}

impl TempoMap {
    pub fn constant(sample_rate: u32, bpm: f64, signature: TimeSignature) -> Self {
        Self::new(sample_rate, vec![TempoChange { beat: 0.0, bpm }], signature)
    }

    /// Sorts the changes, clamps tempos to 20–999 BPM (NaN: 120) and starts
    /// the map at beat 0 with the first tempo if nothing is given there.
    pub fn new(sample_rate: u32, mut changes: Vec<TempoChange>, signature: TimeSignature) -> Self {
        for c in &mut changes {
            c.bpm = if c.bpm.is_nan() {
                120.0
            } else {
                c.bpm.clamp(MIN_BPM, MAX_BPM)
            };
            c.beat = if c.beat.is_finite() {
                c.beat.max(0.0)
            } else {
                0.0
            };
        }
        changes.sort_by(|a, b| a.beat.total_cmp(&b.beat));
        changes.dedup_by(|later, earlier| later.beat == earlier.beat);
        let first_bpm = changes.first().map_or(120.0, |c| c.bpm);
        if changes.first().is_none_or(|c| c.beat > 0.0) {
            changes.insert(
                0,
                TempoChange {
                    beat: 0.0,
                    bpm: first_bpm,
                },
            );
        }
        let sample_rate = f64::from(sample_rate.max(1));
        let mut frame = 0.0;
        let mut placed = Vec::with_capacity(changes.len());
        for (i, c) in changes.iter().enumerate() {
            if i > 0 {
                let previous = changes[i - 1];
                frame += (c.beat - previous.beat) * 60.0 / previous.bpm * sample_rate;
            }
            placed.push((*c, frame));
        }
        let signature = TimeSignature {
            beats_per_bar: signature.beats_per_bar.clamp(1, 64),
            beat_unit: signature.beat_unit.clamp(1, 64),
        };
        TempoMap {
            sample_rate,
            signature,
            changes: placed,
        }
    }

    pub fn signature(&self) -> TimeSignature {
        self.signature
    }

    fn change_at_beat(&self, beat: f64) -> &(TempoChange, f64) {
        let i = self.changes.partition_point(|(c, _)| c.beat <= beat);
        &self.changes[i.saturating_sub(1)]
    }

    fn change_at_frame(&self, frame: f64) -> &(TempoChange, f64) {
        let i = self.changes.partition_point(|(_, f)| *f <= frame);
        &self.changes[i.saturating_sub(1)]
    }

    pub fn frame_at_beat(&self, beat: f64) -> f64 {
        let (c, frame) = self.change_at_beat(beat);
        frame + (beat - c.beat) * 60.0 / c.bpm * self.sample_rate
    }

    pub fn beat_at_frame(&self, frame: f64) -> f64 {
        let (c, start) = self.change_at_frame(frame);
        c.beat + (frame - start) / self.sample_rate * c.bpm / 60.0
    }

    pub fn bpm_at_frame(&self, frame: f64) -> f64 {
        self.change_at_frame(frame).0.bpm
    }

    pub fn position_at_frame(&self, frame: f64) -> MusicalPosition {
        let beat = self.beat_at_frame(frame);
        let per_bar = f64::from(self.signature.beats_per_bar);
        let bar = (beat / per_bar).floor();
        let in_bar = beat - bar * per_bar;
        MusicalPosition {
            bar: bar as i64 + 1,
            beat: in_bar.floor() as u32 + 1,
            fraction: in_bar.fract(),
        }
    }

    /// Frame of `beat` (from 1, may be fractional) in `bar` (from 1).
    pub fn frame_at_bar(&self, bar: i64, beat: f64) -> f64 {
        let beats = (bar - 1) as f64 * f64::from(self.signature.beats_per_bar) + (beat - 1.0);
        self.frame_at_beat(beats.max(0.0))
    }

    /// The nearest grid line to `frame`.
    pub fn snap(&self, frame: u64, grid: Grid) -> u64 {
        let step = match grid {
            Grid::Bar => f64::from(self.signature.beats_per_bar),
            Grid::Beats(b) if b.is_finite() && b > 0.0 => b,
            Grid::Beats(_) => 1.0,
        };
        let beat = self.beat_at_frame(frame as f64);
        self.frame_at_beat((beat / step).round() * step)
            .round()
            .max(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_tempo_maps_bars_and_beats_to_frames() {
        let map = TempoMap::constant(48_000, 120.0, TimeSignature::FOUR_FOUR);
        assert_eq!(map.frame_at_beat(1.0), 24_000.0);
        assert_eq!(map.frame_at_bar(2, 1.0), 96_000.0);
        assert_eq!(map.frame_at_bar(3, 2.5), 2.0 * 96_000.0 + 1.5 * 24_000.0);
        assert_eq!(map.beat_at_frame(36_000.0), 1.5);
        let p = map.position_at_frame(100_000.0);
        assert_eq!((p.bar, p.beat), (2, 1));
        assert!((p.fraction - 4_000.0 / 24_000.0).abs() < 1e-12);
        let waltz = TempoMap::constant(
            48_000,
            120.0,
            TimeSignature {
                beats_per_bar: 6,
                beat_unit: 8,
            },
        );
        assert_eq!(waltz.frame_at_bar(2, 1.0), 6.0 * 24_000.0);
    }

    #[test]
    fn tempo_changes_bend_time_and_round_trip() {
        let map = TempoMap::new(
            48_000,
            vec![
                TempoChange {
                    beat: 4.0,
                    bpm: 60.0,
                },
                TempoChange {
                    beat: 0.0,
                    bpm: 120.0,
                },
            ],
            TimeSignature::FOUR_FOUR,
        );
        assert_eq!(map.frame_at_beat(6.0), 4.0 * 24_000.0 + 2.0 * 48_000.0);
        assert_eq!(map.bpm_at_frame(95_999.0), 120.0);
        assert_eq!(map.bpm_at_frame(96_000.0), 60.0);
        for frame in [0.0, 1234.5, 95_999.0, 96_000.0, 500_000.0] {
            assert!((map.frame_at_beat(map.beat_at_frame(frame)) - frame).abs() < 1e-6);
        }
    }

    #[test]
    fn snapping_finds_the_nearest_line() {
        let map = TempoMap::constant(48_000, 120.0, TimeSignature::FOUR_FOUR);
        assert_eq!(map.snap(30_000, Grid::Beats(1.0)), 24_000);
        assert_eq!(map.snap(37_000, Grid::Beats(1.0)), 48_000);
        assert_eq!(map.snap(7_000, Grid::Beats(0.25)), 6_000);
        assert_eq!(map.snap(50_000, Grid::Bar), 96_000);
        assert_eq!(map.snap(40_000, Grid::Bar), 0);
    }

    #[test]
    fn bad_tempos_are_clamped_and_a_start_is_supplied() {
        let map = TempoMap::new(
            48_000,
            vec![TempoChange {
                beat: 8.0,
                bpm: 1e9,
            }],
            TimeSignature::FOUR_FOUR,
        );
        assert_eq!(map.bpm_at_frame(0.0), MAX_BPM);
        let map = TempoMap::new(
            48_000,
            vec![TempoChange {
                beat: 0.0,
                bpm: f64::NAN,
            }],
            TimeSignature::FOUR_FOUR,
        );
        assert_eq!(map.bpm_at_frame(0.0), 120.0);
    }
}
