//! Stems: every track and every bus as it leaves its own chain, panned,
//! rendered in the same pass as the mix.
//!
//! A stem is what its strip adds to its output. So the stems of what
//! feeds the master add up to the master's input: with the master chain
//! off, they sum to the mix. A track routed into a bus is in that bus's
//! stem as well (a group stem); sends feed the buses as in the mix, so a
//! return bus's stem is the effect's return.
//!
//! With the master chain on, every stem goes through its own copy of the
//! master strip (inserts, fader, pan and their automation): each sounds
//! as it does in the mix, soloed.

use crate::mixer::Mixer;
use crate::project::{Output, ProjectDesc, StripDesc, TrackDesc};
use crate::{CHANNELS, QUANTUM, StereoQuantum};

/// Which stems, and through what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StemSettings {
    /// Each stem through its own copy of the master strip.
    pub master_chain: bool,
    /// Return buses (fed by sends only) as stems of their own. Without
    /// them the stems are dry: tracks, and the buses tracks are routed to.
    pub sends: bool,
}

impl Default for StemSettings {
    fn default() -> Self {
        StemSettings {
            master_chain: false,
            sends: true,
        }
    }
}

/// One stem: a track or a bus of the project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stem {
    /// Index among the strips: tracks, then buses.
    pub strip: usize,
    /// The track's or bus's stable id.
    pub id: u64,
    pub bus: bool,
}

/// The stems an export with `settings` writes, in strip order.
pub fn stems_of(project: &ProjectDesc, settings: &StemSettings) -> Vec<Stem> {
    let routed_to = |b: usize| {
        project
            .tracks
            .iter()
            .map(|t| &t.strip)
            .chain(project.buses.iter().map(|bus| &bus.strip))
            .any(|s| s.output == Output::Bus(b))
    };
    let tracks = project.tracks.iter().enumerate().map(|(i, t)| Stem {
        strip: i,
        id: t.id,
        bus: false,
    });
    let buses = project
        .buses
        .iter()
        .enumerate()
        .filter(|&(b, _)| settings.sends || routed_to(b))
        .map(|(b, bus)| Stem {
            strip: project.tracks.len() + b,
            id: bus.id,
            bus: true,
        });
    tracks.chain(buses).collect()
}

/// Taps the stems of a mixer quantum by quantum, through copies of the
/// master strip when asked, into interleaved buffers.
pub(super) struct StemTaps {
    stems: Vec<Stem>,
    /// A plan of one stereo track per stem, each carrying the master
    /// strip, and what it is fed each quantum.
    chain: Option<(Mixer, Vec<StereoQuantum>)>,
    /// Per stem, the frames tapped since the last take.
    pub(super) buffers: Vec<Vec<f32>>,
}

impl StemTaps {
    /// Allocates what tapping uses; `mixer` keeps its stems from now on.
    pub(super) fn new(
        project: &ProjectDesc,
        mixer: &mut Mixer,
        stems: Vec<Stem>,
        settings: &StemSettings,
    ) -> Self {
        mixer.keep_stems();
        let chain = settings.master_chain.then(|| {
            let strip = StripDesc {
                output: Output::Master,
                sends: Vec::new(),
                solo: false,
                ..project.master.clone()
            };
            let mut desc = ProjectDesc::new(project.sample_rate);
            desc.tempo = project.tempo.clone();
            desc.tracks = stems
                .iter()
                .map(|stem| TrackDesc {
                    id: stem.id,
                    channels: CHANNELS,
                    strip: strip.clone(),
                    clips: Vec::new(),
                })
                .collect();
            let mut chain = Mixer::new(&desc);
            chain.keep_stems();
            (chain, vec![[[0.0; QUANTUM]; CHANNELS]; stems.len()])
        });
        let count = stems.len();
        StemTaps {
            stems,
            chain,
            buffers: vec![Vec::new(); count],
        }
    }

    pub(super) fn stems(&self) -> &[Stem] {
        &self.stems
    }

    /// Takes the quantum `mixer` just mixed, its first `frames` frames.
    pub(super) fn take(&mut self, mixer: &Mixer, frames: usize) {
        let interleave = |buffer: &mut Vec<f32>, tap: &StereoQuantum| {
            let at = buffer.len();
            buffer.resize(at + CHANNELS * frames, 0.0);
            for (i, frame) in buffer[at..].chunks_exact_mut(CHANNELS).enumerate() {
                frame[0] = tap[0][i];
                frame[1] = tap[1][i];
            }
        };
        let Some((chain, fed)) = &mut self.chain else {
            for (buffer, stem) in self.buffers.iter_mut().zip(&self.stems) {
                if let Some(tap) = mixer.stem(stem.strip) {
                    interleave(buffer, tap);
                }
            }
            return;
        };
        for (k, stem) in self.stems.iter().enumerate() {
            if let Some(tap) = mixer.stem(stem.strip) {
                fed[k] = *tap;
            }
        }
        let (segments, bpm) = mixer.last_segments();
        chain.process_fed(segments, bpm, fed);
        for (k, buffer) in self.buffers.iter_mut().enumerate() {
            if let Some(tap) = chain.stem(k) {
                interleave(buffer, tap);
            }
        }
    }
}
