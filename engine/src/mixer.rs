//! The render plan: a [`ProjectDesc`] compiled into preallocated lane groups,
//! buses and the master, and the code that renders it one quantum at a time.
//!
//! Tracks are packed into groups of [`LANES`] channels that share the same
//! insert chain (its device kinds, in order), so each device runs all lanes
//! at once. Rendering a quantum has two phases:
//! 1. per group, independent of every other: clips → inserts → fader;
//! 2. in a fixed order: pan and sends into bus sums, buses (in dependency
//!    order), master.
//!
//! Phase 1 may run on several threads (offline render); phase 2 never does,
//! so a parallel render is bit-identical to the real-time one.

use std::sync::Arc;

use crate::automation::{AutomationTarget, Curve};
use crate::device::{DeviceKind, LaneDevice, LaneLinks, LaneSmoother};
use crate::lanes::{LANES, LaneBlock, SILENT_BLOCK};
use crate::project::{AudioAsset, ClipDesc, Fade, MonitorInput, Output, ProjectDesc, StripDesc};
use crate::{CHANNELS, QUANTUM, StereoQuantum, db_to_amplitude};

/// Where the transport is and what it loops (stopped at 0 by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transport {
    pub playing: bool,
    /// Timeline frame of the next quantum's first frame.
    pub position: u64,
    pub looping: bool,
    pub loop_start: u64,
    pub loop_end: u64,
}

/// The transport's segments of one quantum: (block offset, timeline
/// position, frames), split where a loop wraps.
pub(crate) type Segments = [(usize, u64, usize); 8];

/// A seek made while playing: for [`CLIP_CROSSFADE_FRAMES`] the clips go
/// on from where the transport was (`from`) under the clips at the new
/// position, so a jump — a click on the ruler, a follower re-syncing to
/// its leader — never clicks, and the devices after the clips never see
/// a step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeekFade {
    /// The transport as it would have gone on without the seek.
    from: Transport,
    /// Its segments for the quantum being rendered.
    segments: Segments,
    count: usize,
    /// Frames of the crossfade done before this quantum.
    done: usize,
}

impl SeekFade {
    fn segments(&self) -> &[(usize, u64, usize)] {
        &self.segments[..self.count]
    }
}

/// Fills `out` with the segments of the next quantum from `t`, moving `t`
/// on (and around its loop); returns how many.
fn advance(t: &mut Transport, out: &mut Segments) -> usize {
    if !t.playing {
        return 0;
    }
    let loop_ok = t.looping && t.loop_end >= t.loop_start + MIN_LOOP_FRAMES;
    let mut done = 0;
    let mut count = 0;
    while done < QUANTUM && count < out.len() {
        let mut len = QUANTUM - done;
        if loop_ok && t.position < t.loop_end {
            len = len.min((t.loop_end - t.position) as usize);
        }
        out[count] = (done, t.position, len);
        count += 1;
        done += len;
        t.position += len as u64;
        if loop_ok && t.position == t.loop_end {
            t.position = t.loop_start;
        }
    }
    count
}

/// Automation is followed in steps of this many frames.
pub const AUTOMATION_FRAMES: usize = 32;
const PAN_STEPS: usize = QUANTUM / AUTOMATION_FRAMES;

/// The timeline frame at block offset `offset` of a quantum rendered from
/// `segments` (the end of a segment maps to the frame after its last).
fn timeline_at(segments: &[(usize, u64, usize)], offset: usize) -> Option<u64> {
    segments
        .iter()
        .find(|&&(start, _, len)| offset > start && offset <= start + len)
        .map(|&(start, pos, _)| pos + (offset - start) as u64)
}

/// A curve driving the fader or an insert parameter of one strip in a group.
struct GroupAutomation {
    first_lane: usize,
    channels: usize,
    target: AutomationTarget,
    curve: Curve,
}

/// Quanta each track group renders ahead in [`Mixer::render_offline`].
pub const OFFLINE_BATCH: usize = 64;

/// Shortest loop the transport accepts, in frames.
pub const MIN_LOOP_FRAMES: u64 = 32;

/// A strip, for changes made while playing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StripRef {
    Track(u32),
    Bus(u32),
    Master,
}

/// A change to one strip; applied at the start of the next quantum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StripChange {
    GainDb(f32),
    Pan(f32),
    Mute(bool),
    Solo(bool),
    Polarity(bool),
    SendLevelDb { send: u16, level_db: f32 },
    DeviceParam { slot: u16, param: u16, value: f32 },
    DeviceBypass { slot: u16, bypass: bool },
}

pub(crate) struct Clip {
    asset: Option<Arc<AudioAsset>>,
    start: u64,
    offset: u64,
    length: u64,
    gain: f32,
    fade_in: Fade,
    fade_out: Fade,
    looped: bool,
}

impl Clip {
    fn new(desc: &ClipDesc) -> Self {
        Clip {
            asset: desc.asset.clone(),
            start: desc.start,
            offset: desc.offset,
            length: desc.length,
            gain: db_to_amplitude(desc.gain_db),
            fade_in: desc.fade_in,
            fade_out: desc.fade_out,
            looped: desc.looped,
        }
    }

    /// Gain at frame `i` of the clip: clip gain × fades.
    #[inline]
    fn gain_at(&self, i: u64) -> f32 {
        let mut gain = self.gain;
        if i < self.fade_in.frames {
            gain *= self
                .fade_in
                .shape
                .gain(i as f32 / self.fade_in.frames as f32);
        }
        let remaining = self.length - i;
        if remaining <= self.fade_out.frames {
            gain *= self
                .fade_out
                .shape
                .gain((remaining - 1) as f32 / self.fade_out.frames as f32);
        }
        gain
    }

    /// Adds the clip's audio for timeline frames `pos..pos + len` into
    /// `lanes` (from `first_lane`, `channels` of them) at `block_offset`.
    fn render(
        &self,
        channels: usize,
        first_lane: usize,
        lanes: &mut LaneBlock,
        block_offset: usize,
        pos: u64,
        len: usize,
    ) {
        let Some(asset) = &self.asset else { return };
        let from = pos.max(self.start);
        let to = (pos + len as u64).min(self.start + self.length);
        let frames = asset.frames();
        let loop_len = frames.saturating_sub(self.offset);
        let mixdown = channels == 1 && asset.channel_count() > 1;
        let mut t = from;
        // Runs of contiguous source frames: split only where a loop wraps.
        while t < to {
            let i = t - self.start;
            let source = if self.looped && loop_len > 0 {
                self.offset + i % loop_len
            } else {
                self.offset + i
            };
            if source >= frames {
                break;
            }
            let run = (to - t).min(frames - source) as usize;
            let at = block_offset + (t - pos) as usize;
            let out = &mut lanes[at..at + run];
            let s = source as usize;
            let faded =
                i < self.fade_in.frames || self.length - (i + run as u64) < self.fade_out.frames;
            for ch in 0..channels {
                let lane = first_lane + ch;
                let a = &asset.channel(ch)[s..s + run];
                // The second channel, for a mixdown (a mono asset reads its one channel).
                let b = &asset.channel(1)[s..s + run];
                if faded {
                    for (k, frame) in out.iter_mut().enumerate() {
                        let x = if mixdown { 0.5 * (a[k] + b[k]) } else { a[k] };
                        frame[lane] += self.gain_at(i + k as u64) * x;
                    }
                } else if mixdown {
                    for (frame, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
                        frame[lane] += self.gain * 0.5 * (x + y);
                    }
                } else {
                    for (frame, x) in out.iter_mut().zip(a) {
                        frame[lane] += self.gain * x;
                    }
                }
            }
            t += run as u64;
        }
    }
}

/// A track inside its lane group.
pub(crate) struct GroupTrack {
    pub(crate) strip: usize,
    pub(crate) first_lane: usize,
    pub(crate) channels: usize,
    pub(crate) clips: Vec<Clip>,
    /// The clips an edit replaced, fading out under `clips` while
    /// `fade < CLIP_CROSSFADE_FRAMES` (then silent until the plan retires:
    /// freeing them here would deallocate on the audio thread).
    pub(crate) outgoing: Vec<Clip>,
    pub(crate) fade: usize,
    /// The live input this track plays through its strip, if monitoring.
    pub(crate) monitor: Option<MonitorInput>,
}

/// The live input of this quantum (a channel each) and how many channels
/// it has (0: none).
#[derive(Clone, Copy)]
pub struct LiveInput<'a> {
    pub channels: &'a [[f32; QUANTUM]; 2],
    pub count: usize,
}

impl LiveInput<'_> {
    pub const NONE: LiveInput<'static> = LiveInput {
        channels: &[[0.0; QUANTUM]; 2],
        count: 0,
    };

    /// Adds what a track monitoring `source` hears into its lanes.
    fn add_to(&self, source: MonitorInput, track: &GroupTrack, block: &mut LaneBlock) {
        if self.count == 0 {
            return;
        }
        let last = self.count - 1;
        let [first, second] = [&self.channels[0], &self.channels[last.min(1)]];
        for (i, frame) in block.iter_mut().enumerate() {
            for ch in 0..track.channels {
                frame[track.first_lane + ch] += match (source, track.channels) {
                    (MonitorInput::First, _) => first[i],
                    (MonitorInput::Second, _) => second[i],
                    (MonitorInput::Both, 2) if ch == 0 => first[i],
                    (MonitorInput::Both, 2) => second[i],
                    (MonitorInput::Both, _) => 0.5 * (first[i] + second[i]),
                };
            }
        }
    }
}

/// An edited track's old clips fade out under its new ones over this many
/// frames: a moved or trimmed clip never clicks, and the devices after it
/// never see a step.
pub const CLIP_CROSSFADE_FRAMES: usize = 2 * QUANTUM;

/// Adds `clips` (of `track`) for the transport `segments` into `block`.
fn render_clips(
    clips: &[Clip],
    track: &GroupTrack,
    block: &mut LaneBlock,
    segments: &[(usize, u64, usize)],
) {
    for clip in clips {
        for &(offset, pos, len) in segments {
            if clip.start < pos + len as u64 && pos < clip.start + clip.length {
                clip.render(track.channels, track.first_lane, block, offset, pos, len);
            }
        }
    }
}

/// Channels of several strips processed together.
pub struct LaneGroup {
    pub(crate) tracks: Vec<GroupTrack>,
    /// Strips whose channels live in this group.
    members: Vec<usize>,
    pub(crate) inserts: Vec<LaneDevice>,
    /// Fader × mute/solo × polarity, per lane (linear).
    pub(crate) gain: LaneSmoother,
    /// Mute/solo × polarity per lane: what an automated fader is scaled by.
    gain_scale: [f32; LANES],
    /// Lanes whose fader follows a curve.
    pub(crate) gain_automated: [bool; LANES],
    /// Tempo last given to the inserts.
    bpm: f64,
    automation: Vec<GroupAutomation>,
    block: Box<LaneBlock>,
    /// The signal before the fader, kept when a lane has a pre-fader send.
    pre_fader: Option<Box<LaneBlock>>,
    /// Non-finite samples produced inside the group and silenced.
    sanitised: u32,
    /// Where a fading track's outgoing clips are rendered.
    scratch: Box<LaneBlock>,
}

impl LaneGroup {
    /// Phase 1 for a track group: clips of the transport `segments`, inserts,
    /// fader, at the song's tempo `bpm`.
    /// `seek`: a seek while playing is being crossfaded (see [`SeekFade`]).
    fn render(
        &mut self,
        segments: &[(usize, u64, usize)],
        seek: Option<&SeekFade>,
        bpm: f64,
        input: LiveInput,
    ) {
        self.set_tempo(bpm);
        *self.block = SILENT_BLOCK;
        for track in &mut self.tracks {
            let lanes = track.first_lane..track.first_lane + track.channels;
            let edited = track.fade < CLIP_CROSSFADE_FRAMES;
            // What fades out: the clips before an edit, where the transport
            // would have gone on without a seek.
            let old = match seek {
                Some(s) => Some((
                    if edited {
                        &track.outgoing
                    } else {
                        &track.clips
                    },
                    s.segments(),
                    s.done,
                )),
                None if edited => Some((&track.outgoing, segments, track.fade)),
                None => None,
            };
            if let Some((clips, at, _)) = old {
                for frame in self.scratch.iter_mut() {
                    frame[lanes.clone()].fill(0.0);
                }
                render_clips(clips, track, &mut self.scratch, at);
            }
            render_clips(&track.clips, track, &mut self.block, segments);
            if let Some(source) = track.monitor {
                input.add_to(source, track, &mut self.block);
            }
            if let Some((_, _, done)) = old {
                for (i, (frame, old)) in self.block.iter_mut().zip(self.scratch.iter()).enumerate()
                {
                    let t = ((done + i + 1) as f32 / CLIP_CROSSFADE_FRAMES as f32).min(1.0);
                    for l in lanes.clone() {
                        frame[l] = frame[l] * t + old[l] * (1.0 - t);
                    }
                }
            }
            if edited {
                track.fade += QUANTUM;
            }
        }
        self.process_automated(segments);
    }

    fn set_tempo(&mut self, bpm: f64) {
        if bpm != self.bpm {
            self.bpm = bpm;
            for device in &mut self.inserts {
                device.set_tempo(bpm);
            }
        }
    }

    /// Inserts and fader over the block, in automation steps when the group
    /// has curves and the transport runs.
    fn process_automated(&mut self, segments: &[(usize, u64, usize)]) {
        if self.automation.is_empty() || segments.is_empty() {
            self.process_strip(0, QUANTUM);
            return;
        }
        for start in (0..QUANTUM).step_by(AUTOMATION_FRAMES) {
            if let Some(frame) = timeline_at(segments, start + AUTOMATION_FRAMES) {
                self.automate(frame);
            }
            self.process_strip(start, AUTOMATION_FRAMES);
        }
    }

    /// Takes the fader and insert curves of a strip whose channels start at
    /// `first_lane`.
    fn add_automation(&mut self, strip: &StripDesc, first_lane: usize, channels: usize) {
        for a in &strip.automation {
            // Pan and send levels follow their curves in phase 2.
            if a.curve.is_empty()
                || matches!(
                    a.target,
                    AutomationTarget::Pan | AutomationTarget::Send { .. }
                )
            {
                continue;
            }
            if a.target == AutomationTarget::Gain {
                self.gain_automated[first_lane..first_lane + channels].fill(true);
            }
            self.automation.push(GroupAutomation {
                first_lane,
                channels,
                target: a.target,
                curve: a.curve.clone(),
            });
        }
    }

    /// Ramps every automated parameter to its curve's value at `frame`
    /// over the next [`AUTOMATION_FRAMES`].
    fn automate(&mut self, frame: u64) {
        let frames = AUTOMATION_FRAMES as u32;
        for a in &self.automation {
            let Some(value) = a.curve.value_at(frame) else {
                continue;
            };
            for lane in a.first_lane..a.first_lane + a.channels {
                match a.target {
                    AutomationTarget::Gain => {
                        let db = value.clamp(-144.0, 24.0);
                        self.gain
                            .ramp(lane, self.gain_scale[lane] * db_to_amplitude(db), frames);
                    }
                    AutomationTarget::Device { slot, param } => {
                        if let Some(device) = self.inserts.get_mut(slot as usize)
                            && let Some(spec) = device.kind().params().get(param as usize)
                        {
                            device.automate(lane, param as usize, spec.sanitise(value).0, frames);
                        }
                    }
                    AutomationTarget::Pan | AutomationTarget::Send { .. } => {}
                }
            }
        }
    }

    /// Inserts and fader over `len` frames of the block from `start`.
    fn process_strip(&mut self, start: usize, len: usize) {
        let block = &mut self.block[start..start + len];
        for device in &mut self.inserts {
            device.process(block);
        }
        // Devices fed extreme settings must not poison the mix.
        self.sanitised += crate::lanes::sanitize_block(block);
        if let Some(pre) = &mut self.pre_fader {
            pre[start..start + len].copy_from_slice(block);
        }
        let from = self.gain.current();
        let to = self.gain.advance(len);
        let step: [f32; LANES] = std::array::from_fn(|l| (to[l] - from[l]) / len as f32);
        for (i, frame) in block.iter_mut().enumerate() {
            for l in 0..LANES {
                frame[l] *= from[l] + step[l] * (i + 1) as f32;
            }
        }
    }
}

pub(crate) struct Send {
    /// Index into the mixer's sums (1 + bus).
    sum: usize,
    level: f32,
    pre_fader: bool,
    /// The level's automation, followed at 32-frame steps.
    curve: Option<Curve>,
    /// The level reached at the end of the last quantum (linear).
    pub(crate) level_now: f32,
}

/// Per batched quantum of an offline render: a group's rendered block
/// and its pre-fader block.
type Rendered = (Box<LaneBlock>, Option<Box<LaneBlock>>);

/// A route from a strip to a bus while the plan is built: (sum, linear
/// level, pre-fader, the level's curve).
type SendRoute = (usize, f32, bool, Option<Curve>);

pub(crate) struct Strip {
    pub(crate) group: usize,
    pub(crate) first_lane: usize,
    pub(crate) channels: usize,
    gain_db: f32,
    pan: f32,
    /// Pan gains reached at the end of the last quantum (left, right).
    pub(crate) pan_gains: (f32, f32),
    /// How the pan gains moved over the last quantum routed (a stem tap
    /// applies them again to this strip's lanes alone).
    pan_motion: PanMotion,
    mute: bool,
    solo: bool,
    polarity_invert: bool,
    solo_safe: bool,
    audible: bool,
    /// Index into the mixer's sums: 0 is the master, 1 + b bus b.
    output: usize,
    pub(crate) sends: Vec<Send>,
    /// Pan automation, followed at 32-frame steps in phase 2.
    pan_curve: Option<Curve>,
    pub(crate) peak: f32,
    /// Post-fader mean square, averaged over about 300 ms.
    pub(crate) mean_square: f32,
    pub(crate) gain_reduction_db: f32,
}

impl Strip {
    /// Mono: constant power (−3 dB in the centre). Stereo: balance (0 dB centre).
    fn pan_law(&self) -> (f32, f32) {
        pan_law(self.channels, self.pan)
    }

    /// Pan gains at each 32-frame boundary of the quantum: the curve's while
    /// the transport runs through an automated pan, otherwise a linear ramp
    /// from the last quantum's gains to the current setting.
    fn pan_steps(&self, segments: &[(usize, u64, usize)]) -> [(f32, f32); PAN_STEPS + 1] {
        let from = self.pan_gains;
        let to = self.pan_law();
        std::array::from_fn(|k| {
            if k == 0 {
                return from;
            }
            let automated = self
                .pan_curve
                .as_ref()
                .zip(timeline_at(segments, k * AUTOMATION_FRAMES));
            match automated.and_then(|(curve, frame)| curve.value_at(frame)) {
                Some(pan) => pan_law(self.channels, pan),
                None => {
                    let t = k as f32 / PAN_STEPS as f32;
                    (from.0 + (to.0 - from.0) * t, from.1 + (to.1 - from.1) * t)
                }
            }
        })
    }
}

/// The pan gains (left, right) of one quantum as routing applied them.
#[derive(Clone, Copy, Debug)]
enum PanMotion {
    /// A linear ramp over the quantum, from the first to the second.
    Ramp((f32, f32), (f32, f32)),
    /// At each 32-frame boundary, linear between them.
    Steps([(f32, f32); PAN_STEPS + 1]),
}

/// Mono: constant power (−3 dB in the centre). Stereo: balance (0 dB centre).
fn pan_law(channels: usize, pan: f32) -> (f32, f32) {
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4};
    let pan = f64::from(pan.clamp(-1.0, 1.0));
    let (left, right) = if channels == 1 {
        let theta = (pan + 1.0) * FRAC_PI_4;
        (theta.cos(), theta.sin())
    } else {
        let left = if pan > 0.0 {
            (pan * FRAC_PI_2).cos()
        } else {
            1.0
        };
        let right = if pan < 0.0 {
            (-pan * FRAC_PI_2).cos()
        } else {
            1.0
        };
        (left, right)
    };
    (left as f32, right as f32)
}

/// Problems found while compiling the plan, for the UI to show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanReport {
    /// Clips whose audio is not available; they play silence.
    pub missing_assets: usize,
    /// Routes dropped because they referred to no bus or made a loop.
    pub dropped_routes: usize,
}

/// A compiled project. Built on the control thread; rendered on the audio
/// thread (or by the offline renderer) without allocating.
pub struct Mixer {
    sample_rate: f32,
    pub(crate) groups: Vec<LaneGroup>,
    /// Groups `0..track_groups` hold tracks; then one per bus, then the master.
    pub(crate) track_groups: usize,
    pub(crate) strips: Vec<Strip>,
    /// Stable id of each strip (tracks, buses, master), 0 for none.
    ids: Vec<u64>,
    tracks: usize,
    buses: usize,
    /// Buses in an order where each comes after everything feeding it.
    bus_order: Vec<usize>,
    sums: Vec<StereoQuantum>,
    /// Each track's and bus's output as it leaves its strip, panned (what
    /// it adds to its output), when stems are asked for.
    stem_taps: Option<Vec<StereoQuantum>>,
    /// Blocks an offline render keeps between calls (empty until one runs).
    offline_batches: Vec<Vec<Rendered>>,
    /// Per-quantum coefficient of the strips' 300 ms RMS average.
    meter_smoothing: f32,
    /// The transport segments of the quantum being mixed, and its tempo.
    segments_now: (Segments, usize),
    bpm_now: f64,
    /// Where the last quantum played left the transport (`None` when it
    /// was stopped): a quantum that starts elsewhere follows a seek.
    pub(crate) continues_at: Option<u64>,
    /// A seek while playing being crossfaded, and its part in this quantum.
    pub(crate) seek_fade: Option<SeekFade>,
    seek_now: Option<SeekFade>,
    /// The live input of this quantum, for tracks that monitor it (see
    /// [`Mixer::set_input`]).
    input: [[f32; QUANTUM]; 2],
    input_count: usize,
    monitoring: bool,
    tempo: crate::tempo::TempoMap,
    scratch: Vec<bool>,
    scratch_up: Vec<bool>,
    pub(crate) sanitised_params: u32,
    out: StereoQuantum,
    pub transport: Transport,
    pub report: PlanReport,
    /// Which plan this is, counted by the [`crate::handover::PlanBuilder`]
    /// that built it (0: built on its own).
    pub(crate) serial: u64,
    /// How to take over the state of the plan it follows, if it was built
    /// to follow one.
    pub(crate) handover: Option<Box<crate::handover::Handover>>,
}

fn chain_kinds(strip: &StripDesc) -> Vec<DeviceKind> {
    strip.inserts.iter().map(|d| d.kind).collect()
}

impl Mixer {
    /// The live input for the next [`Mixer::process`] (a channel each,
    /// `count` of them): what tracks monitoring the input play. Audio
    /// thread; copies only while some track monitors.
    pub fn set_input(&mut self, input: &[[f32; QUANTUM]; 2], count: usize) {
        if self.monitoring {
            self.input = *input;
            self.input_count = count.min(2);
        }
    }

    /// Compiles `desc` on its own: every strip and device starts afresh.
    /// Allocates everything rendering will use.
    pub fn new(desc: &ProjectDesc) -> Mixer {
        Mixer::build(desc, None)
    }

    /// Compiles `desc`; tracks that `previous` placed keep their lanes
    /// where they can (see [`assign_groups`]), so their devices can be
    /// handed over whole. Control thread; allocates everything rendering
    /// will use.
    pub(crate) fn build(
        desc: &ProjectDesc,
        previous: Option<&crate::handover::PlanLayout>,
    ) -> Mixer {
        let sample_rate = desc.sample_rate.max(1) as f32;
        let tracks = desc.tracks.len();
        let buses = desc.buses.len();
        let mut report = PlanReport::default();
        let strip_descs: Vec<&StripDesc> = desc.strips().collect();

        // Routing: outputs and sends to buses that exist, without loops.
        let bus_sum = |b: usize| 1 + b;
        let mut outputs: Vec<usize> = strip_descs
            .iter()
            .map(|s| match s.output {
                Output::Bus(b) if b < buses => bus_sum(b),
                Output::Bus(_) => {
                    report.dropped_routes += 1;
                    0
                }
                Output::Master => 0,
            })
            .collect();
        outputs[tracks + buses] = 0;
        let mut sends: Vec<Vec<SendRoute>> = strip_descs
            .iter()
            .map(|s| {
                s.sends
                    .iter()
                    .enumerate()
                    .filter(|(_, send)| {
                        let ok = send.bus < buses;
                        report.dropped_routes += usize::from(!ok);
                        ok
                    })
                    .map(|(i, send)| {
                        let curve = s.automation.iter().find(|a| {
                            a.target == AutomationTarget::Send { send: i as u16 }
                                && !a.curve.is_empty()
                        });
                        (
                            bus_sum(send.bus),
                            db_to_amplitude(send.level_db),
                            send.pre_fader,
                            curve.map(|a| a.curve.clone()),
                        )
                    })
                    .collect()
            })
            .collect();
        sends[tracks + buses].clear();
        let bus_order = order_buses(tracks, buses, &mut outputs, &mut sends, &mut report);

        // Lane groups: tracks by insert chain, stereo tracks on lane pairs.
        let mut groups: Vec<LaneGroup> = Vec::new();
        let mut strips: Vec<Strip> = Vec::with_capacity(tracks + buses + 1);
        let members = assign_groups(desc, previous);
        let mut place = vec![(0, 0); tracks];
        for (g, member) in members.iter().enumerate() {
            for &(t, first) in member {
                place[t] = (g, first);
            }
        }
        for (t, track) in desc.tracks.iter().enumerate() {
            let (group, first_lane) = place[t];
            report.missing_assets += track.clips.iter().filter(|c| c.asset.is_none()).count();
            strips.push(Strip::new(
                &track.strip,
                group,
                first_lane,
                track.channels.clamp(1, 2),
                false,
                outputs[t],
                &sends[t],
            ));
        }
        let track_groups = members.len();
        for (g, member) in members.iter().enumerate() {
            // Lanes of one track share a link id (their index in the group);
            // unused lanes get ids of their own.
            let mut links: LaneLinks = std::array::from_fn(|l| (LANES + l) as u8);
            let mut descs = vec![None; LANES];
            for (m, &(t, first)) in member.iter().enumerate() {
                for ch in 0..strips[t].channels {
                    links[first + ch] = m as u8;
                    descs[first + ch] = Some(t);
                }
            }
            let inserts = build_inserts(
                sample_rate,
                &desc.tracks[member[0].0].strip,
                &descs,
                &desc.tracks,
                links,
            );
            let tracks_in_group = member
                .iter()
                .map(|&(t, first)| GroupTrack {
                    strip: t,
                    first_lane: first,
                    channels: strips[t].channels,
                    clips: desc.tracks[t].clips.iter().map(Clip::new).collect(),
                    outgoing: Vec::new(),
                    fade: CLIP_CROSSFADE_FRAMES,
                    monitor: desc.monitor.iter().find(|m| m.track == t).map(|m| m.input),
                })
                .collect();
            let mut group = LaneGroup::new(
                sample_rate,
                tracks_in_group,
                inserts,
                member.iter().any(|&(t, _)| sends[t].iter().any(|s| s.2)),
            );
            for &(t, first) in member {
                group.add_automation(&desc.tracks[t].strip, first, strips[t].channels);
            }
            groups.push(group);
            debug_assert_eq!(groups.len() - 1, g);
        }
        // Buses and the master: one stereo group each.
        for (i, strip_desc) in desc
            .buses
            .iter()
            .map(|b| &b.strip)
            .chain([&desc.master])
            .enumerate()
        {
            let s = tracks + i;
            // Left and right on lanes 0 and 1, linked; the rest unused.
            let links: LaneLinks = std::array::from_fn(|l| l.saturating_sub(1) as u8);
            let inserts = strip_desc
                .inserts
                .iter()
                .map(|d| {
                    let descs = std::array::from_fn(|l| (l < 2).then_some(d));
                    LaneDevice::new(d.kind, sample_rate, descs, links)
                })
                .collect();
            let pre = sends[s].iter().any(|x| x.2);
            let mut group = LaneGroup::new(sample_rate, Vec::new(), inserts, pre);
            group.members.push(s);
            group.add_automation(strip_desc, 0, 2);
            groups.push(group);
            let solo_safe = desc.buses.get(i).is_some_and(|b| b.solo_safe);
            strips.push(Strip::new(
                strip_desc,
                groups.len() - 1,
                0,
                2,
                solo_safe,
                outputs[s],
                &sends[s],
            ));
        }

        let mut mixer = Mixer {
            sample_rate,
            groups,
            track_groups,
            strips,
            ids: desc.strip_ids().collect(),
            tracks,
            buses,
            bus_order,
            sums: vec![[[0.0; QUANTUM]; CHANNELS]; buses + 1],
            stem_taps: None,
            offline_batches: Vec::new(),
            meter_smoothing: crate::meter::window_smoothing(sample_rate),
            segments_now: ([(0, 0, 0); 8], 0),
            bpm_now: desc.tempo.bpm_at_frame(0.0),
            continues_at: None,
            seek_fade: None,
            seek_now: None,
            input: [[0.0; QUANTUM]; 2],
            input_count: 0,
            monitoring: !desc.monitor.is_empty(),
            tempo: desc.tempo.clone(),
            scratch: vec![false; tracks + buses + 1],
            scratch_up: vec![false; tracks + buses + 1],
            sanitised_params: 0,
            out: [[0.0; QUANTUM]; CHANNELS],
            transport: Transport::default(),
            report,
            serial: 0,
            handover: None,
        };
        mixer.update_gains();
        // Automated parameters start on their curves, at the transport position.
        for group in &mut mixer.groups {
            group.automate(0);
            group.gain.settle();
            for device in &mut group.inserts {
                device.settle();
            }
        }
        for strip in &mut mixer.strips {
            strip.pan_gains = strip.pan_law();
        }
        mixer
    }

    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    /// Index of a strip in `strips`, if it exists.
    fn strip_index(&self, strip: StripRef) -> Option<usize> {
        match strip {
            StripRef::Track(t) if (t as usize) < self.tracks => Some(t as usize),
            StripRef::Bus(b) if (b as usize) < self.buses => Some(self.tracks + b as usize),
            StripRef::Master => Some(self.tracks + self.buses),
            _ => None,
        }
    }

    /// Audio thread: applies a change; unknown strips, sends or slots are
    /// ignored, out-of-range values clamped, non-finite ones replaced (and
    /// counted in [`Mixer::sanitised_samples`]).
    pub fn apply(&mut self, strip: StripRef, change: StripChange) {
        let Some(s) = self.strip_index(strip) else {
            return;
        };
        let value = match change {
            StripChange::GainDb(v) | StripChange::Pan(v) => v,
            StripChange::SendLevelDb { level_db, .. } => level_db,
            StripChange::DeviceParam { value, .. } => value,
            _ => 0.0,
        };
        if !value.is_finite() {
            self.sanitised_params += 1;
        }
        match change {
            StripChange::GainDb(db) => {
                self.strips[s].gain_db = if db.is_nan() {
                    0.0
                } else {
                    db.clamp(-144.0, 24.0)
                }
            }
            StripChange::Pan(pan) => {
                self.strips[s].pan = if pan.is_nan() {
                    0.0
                } else {
                    pan.clamp(-1.0, 1.0)
                }
            }
            StripChange::Mute(m) => self.strips[s].mute = m,
            StripChange::Solo(on) => self.strips[s].solo = on,
            StripChange::Polarity(p) => self.strips[s].polarity_invert = p,
            StripChange::SendLevelDb { send, level_db } => {
                if let Some(send) = self.strips[s].sends.get_mut(send as usize) {
                    send.level = if level_db.is_nan() {
                        0.0
                    } else {
                        db_to_amplitude(level_db.clamp(-144.0, 12.0))
                    };
                }
                return;
            }
            StripChange::DeviceParam { slot, param, value } => {
                let strip = &self.strips[s];
                if let Some(device) = self.groups[strip.group].inserts.get_mut(slot as usize) {
                    let kind = device.kind();
                    if let Some(spec) = kind.params().get(param as usize) {
                        let value = spec.sanitise(value).0;
                        for ch in 0..strip.channels {
                            device.set_param(strip.first_lane + ch, param as usize, value);
                        }
                    }
                }
                return;
            }
            StripChange::DeviceBypass { slot, bypass } => {
                let strip = &self.strips[s];
                if let Some(device) = self.groups[strip.group].inserts.get_mut(slot as usize) {
                    for ch in 0..strip.channels {
                        device.set_bypass(strip.first_lane + ch, bypass);
                    }
                }
                return;
            }
        }
        self.update_gains();
    }

    /// Recomputes which strips are audible (mute, solo) and their gains.
    fn update_gains(&mut self) {
        let n = self.strips.len();
        let master = n - 1;
        let any_solo = self.strips.iter().any(|s| s.solo);
        if any_solo {
            // Downstream of a soloed strip stays audible (its buses), and so
            // does everything feeding a soloed bus; solo-safe buses always are.
            for s in 0..n {
                self.scratch[s] = self.strips[s].solo;
                self.scratch_up[s] = self.strips[s].solo && s >= self.tracks;
            }
            for _ in 0..n {
                let mut changed = false;
                for s in 0..n {
                    let out = self.sum_strip(self.strips[s].output);
                    if self.scratch[s] {
                        if !self.scratch[out] {
                            self.scratch[out] = true;
                            changed = true;
                        }
                        for i in 0..self.strips[s].sends.len() {
                            let target = self.sum_strip(self.strips[s].sends[i].sum);
                            if !self.scratch[target] {
                                self.scratch[target] = true;
                                changed = true;
                            }
                        }
                    }
                    if s != master && self.scratch_up[out] && out != master && !self.scratch_up[s] {
                        self.scratch_up[s] = true;
                        changed = true;
                    }
                }
                if !changed {
                    break;
                }
            }
        }
        for s in 0..n {
            let strip = &self.strips[s];
            let soloed_in = !any_solo
                || s == master
                || self.scratch[s]
                || self.scratch_up[s]
                || strip.solo_safe;
            let audible = !strip.mute && soloed_in;
            let sign = if strip.polarity_invert { -1.0 } else { 1.0 };
            let gain = if audible {
                sign * db_to_amplitude(strip.gain_db)
            } else {
                0.0
            };
            let scale = if audible { sign } else { 0.0 };
            let (group, first, channels) = (strip.group, strip.first_lane, strip.channels);
            self.strips[s].audible = audible;
            let group = &mut self.groups[group];
            for lane in first..first + channels {
                group.gain_scale[lane] = scale;
                // An automated fader takes the new scale at its next step.
                if !group.gain_automated[lane] {
                    group.gain.set(lane, gain);
                }
            }
        }
    }

    /// The strip that owns sum `index` (0: master).
    fn sum_strip(&self, index: usize) -> usize {
        if index == 0 {
            self.strips.len() - 1
        } else {
            self.tracks + index - 1
        }
    }

    /// The transport's segments for the next quantum (see [`Segments`]),
    /// moving the transport on. A quantum that does not start where the
    /// last one played ended starts a [`SeekFade`].
    fn segments(&mut self, out: &mut Segments) -> usize {
        self.bpm_now = self.tempo.bpm_at_frame(self.transport.position as f64);
        if !self.transport.playing {
            self.continues_at = None;
            self.seek_fade = None;
            self.seek_now = None;
            return 0;
        }
        if let Some(at) = self.continues_at
            && at != self.transport.position
        {
            self.seek_fade = Some(SeekFade {
                from: Transport {
                    position: at,
                    ..self.transport
                },
                segments: [(0, 0, 0); 8],
                count: 0,
                done: 0,
            });
        }
        self.seek_now = self.seek_fade.take().map(|mut fade| {
            fade.count = advance(&mut fade.from, &mut fade.segments);
            fade
        });
        if let Some(fade) = self.seek_now
            && fade.done + QUANTUM < CLIP_CROSSFADE_FRAMES
        {
            self.seek_fade = Some(SeekFade {
                done: fade.done + QUANTUM,
                ..fade
            });
        }
        let count = advance(&mut self.transport, out);
        self.continues_at = Some(self.transport.position);
        count
    }

    /// Renders the next quantum on this thread.
    pub fn process(&mut self) -> &StereoQuantum {
        let mut segments = [(0, 0, 0); 8];
        let n = self.segments(&mut segments);
        self.segments_now = (segments, n);
        let seek = self.seek_now;
        let input = LiveInput {
            channels: &self.input,
            count: self.input_count,
        };
        for group in &mut self.groups[..self.track_groups] {
            group.render(&segments[..n], seek.as_ref(), self.bpm_now, input);
        }
        self.mix();
        &self.out
    }

    /// Renders the next quantum with phase 1 spread over the rayon pool.
    /// Bit-identical to [`Mixer::process`]. Not for the audio thread.
    pub fn process_parallel(&mut self) -> &StereoQuantum {
        use rayon::prelude::*;
        let mut segments = [(0, 0, 0); 8];
        let n = self.segments(&mut segments);
        self.segments_now = (segments, n);
        let segments = &segments[..n];
        let bpm = self.bpm_now;
        let seek = self.seek_now;
        self.groups[..self.track_groups]
            .par_iter_mut()
            .for_each(|group| group.render(segments, seek.as_ref(), bpm, LiveInput::NONE));
        self.mix();
        &self.out
    }

    /// Renders `frames` frames from the transport position as interleaved
    /// stereo, as fast as the machine allows: each track group renders
    /// [`OFFLINE_BATCH`] quanta ahead (in parallel when asked, on the rayon
    /// pool), then phase 2 runs quantum by quantum in the usual order. The
    /// result is bit-identical to the same quanta from [`Mixer::process`].
    pub fn render_offline(&mut self, frames: usize, parallel: bool) -> Vec<f32> {
        self.render_offline_with(frames, parallel, &mut |_| {})
    }

    /// [`Mixer::render_offline`], calling `each` after every quantum is
    /// mixed (to read its stems). The last call may be for a quantum that
    /// runs past `frames`.
    pub fn render_offline_with(
        &mut self,
        frames: usize,
        parallel: bool,
        each: &mut dyn FnMut(&Mixer),
    ) -> Vec<f32> {
        use rayon::prelude::*;
        let quanta = frames.div_ceil(QUANTUM);
        let mut out = Vec::with_capacity(quanta * QUANTUM * CHANNELS);
        let track_groups = self.track_groups;
        // Per group, per batched quantum: the rendered block and pre-fader block.
        let mut batches = std::mem::take(&mut self.offline_batches);
        if batches.len() != track_groups {
            batches = self.groups[..track_groups]
                .iter()
                .map(|g| {
                    (0..OFFLINE_BATCH)
                        .map(|_| {
                            (
                                Box::new(SILENT_BLOCK),
                                g.pre_fader.as_ref().map(|_| Box::new(SILENT_BLOCK)),
                            )
                        })
                        .collect()
                })
                .collect();
        }
        let mut segments = vec![([(0, 0, 0); 8], 0, 0.0, None); OFFLINE_BATCH];
        let mut done = 0;
        while done < quanta {
            let n = (quanta - done).min(OFFLINE_BATCH);
            for segment in &mut segments[..n] {
                segment.1 = self.segments(&mut segment.0);
                segment.2 = self.bpm_now;
                segment.3 = self.seek_now;
            }
            let segments = &segments[..n];
            let work = |(group, batch): (&mut LaneGroup, &mut Vec<Rendered>)| {
                for (k, (list, count, bpm, seek)) in segments.iter().enumerate() {
                    group.render(&list[..*count], seek.as_ref(), *bpm, LiveInput::NONE);
                    // Keep the rendered buffers; the group gets spare ones.
                    std::mem::swap(&mut group.block, &mut batch[k].0);
                    if let (Some(pre), Some(kept)) = (&mut group.pre_fader, &mut batch[k].1) {
                        std::mem::swap(pre, kept);
                    }
                }
            };
            let groups = &mut self.groups[..track_groups];
            if parallel {
                groups
                    .par_iter_mut()
                    .zip(batches.par_iter_mut())
                    .for_each(work);
            } else {
                groups.iter_mut().zip(batches.iter_mut()).for_each(work);
            }
            for k in 0..n {
                for (group, batch) in self.groups[..track_groups].iter_mut().zip(&mut batches) {
                    std::mem::swap(&mut group.block, &mut batch[k].0);
                    if let (Some(pre), Some(kept)) = (&mut group.pre_fader, &mut batch[k].1) {
                        std::mem::swap(pre, kept);
                    }
                }
                self.segments_now = (segments[k].0, segments[k].1);
                self.bpm_now = segments[k].2;
                self.mix();
                for i in 0..QUANTUM {
                    out.push(self.out[0][i]);
                    out.push(self.out[1][i]);
                }
                each(self);
            }
            done += n;
        }
        self.offline_batches = batches;
        out.truncate(frames * CHANNELS);
        out
    }

    /// Phase 2: pan and sends into sums, buses, master.
    fn mix(&mut self) {
        for sum in &mut self.sums {
            *sum = [[0.0; QUANTUM]; CHANNELS];
        }
        for g in 0..self.track_groups {
            self.route_group(g);
        }
        for i in 0..self.bus_order.len() {
            let s = self.tracks + self.bus_order[i];
            self.process_stereo_strip(s, 1 + self.bus_order[i]);
            self.route_group(self.strips[s].group);
        }
        let master = self.strips.len() - 1;
        self.process_stereo_strip(master, 0);
        let (list, count) = self.segments_now;
        let strip = &mut self.strips[master];
        let points = strip.pan_steps(&list[..count]);
        strip.pan_gains = points[PAN_STEPS];
        let block = &self.groups[strip.group].block;
        let mut peak = 0f32;
        let mut energy = 0f32;
        for (i, frame) in block.iter().enumerate() {
            let (k, j) = (i / AUTOMATION_FRAMES, i % AUTOMATION_FRAMES);
            let t = (j + 1) as f32 / AUTOMATION_FRAMES as f32;
            let (from, to) = (points[k], points[k + 1]);
            self.out[0][i] = frame[0] * (from.0 + (to.0 - from.0) * t);
            self.out[1][i] = frame[1] * (from.1 + (to.1 - from.1) * t);
            peak = crate::lanes::peak_max(peak, self.out[0][i].abs());
            peak = crate::lanes::peak_max(peak, self.out[1][i].abs());
            energy += self.out[0][i] * self.out[0][i] + self.out[1][i] * self.out[1][i];
        }
        strip.peak = peak;
        strip.mean_square +=
            self.meter_smoothing * (energy / (2 * QUANTUM) as f32 - strip.mean_square);
        let group = &self.groups[strip.group];
        strip.gain_reduction_db = group
            .inserts
            .iter()
            .map(|d| d.gain_reduction_db()[0].min(d.gain_reduction_db()[1]))
            .fold(0.0, f32::min);
    }

    /// Copies a bus's (or the master's) sum into its group and runs the strip.
    fn process_stereo_strip(&mut self, s: usize, sum: usize) {
        let group = &mut self.groups[self.strips[s].group];
        for (i, frame) in group.block.iter_mut().enumerate() {
            *frame = [0.0; LANES];
            frame[0] = self.sums[sum][0][i];
            frame[1] = self.sums[sum][1][i];
        }
        let (list, count) = self.segments_now;
        group.set_tempo(self.bpm_now);
        group.process_automated(&list[..count]);
    }

    /// [`Mixer::route_group`] without pan automation: pan gains ramp
    /// linearly over the quantum.
    fn pan_ramped(&mut self, g: usize) {
        let mut outputs = [0usize; LANES];
        let mut used = 0;
        let mut from = [([0.0f32; LANES], [0.0f32; LANES]); LANES];
        let mut to = from;
        for &s in &self.groups[g].members {
            let strip = &mut self.strips[s];
            let (f, t) = (strip.pan_gains, strip.pan_law());
            strip.pan_gains = t;
            strip.pan_motion = PanMotion::Ramp(f, t);
            let o = output_slot(&mut outputs, &mut used, strip.output);
            let lane = strip.first_lane;
            if strip.channels == 1 {
                (
                    from[o].0[lane],
                    from[o].1[lane],
                    to[o].0[lane],
                    to[o].1[lane],
                ) = (f.0, f.1, t.0, t.1);
            } else {
                (from[o].0[lane], to[o].0[lane]) = (f.0, t.0);
                (from[o].1[lane + 1], to[o].1[lane + 1]) = (f.1, t.1);
            }
        }
        let block = &self.groups[g].block;
        for o in 0..used {
            let (from_l, from_r) = from[o];
            let (to_l, to_r) = to[o];
            let out = &mut self.sums[outputs[o]];
            if from_l == to_l && from_r == to_r {
                for (i, frame) in block.iter().enumerate() {
                    out[0][i] += dot(frame, &to_l);
                    out[1][i] += dot(frame, &to_r);
                }
            } else {
                let step_l: [f32; LANES] =
                    std::array::from_fn(|l| (to_l[l] - from_l[l]) / QUANTUM as f32);
                let step_r: [f32; LANES] =
                    std::array::from_fn(|l| (to_r[l] - from_r[l]) / QUANTUM as f32);
                for (i, frame) in block.iter().enumerate() {
                    let k = (i + 1) as f32;
                    let gl: [f32; LANES] = std::array::from_fn(|l| from_l[l] + step_l[l] * k);
                    let gr: [f32; LANES] = std::array::from_fn(|l| from_r[l] + step_r[l] * k);
                    out[0][i] += dot(frame, &gl);
                    out[1][i] += dot(frame, &gr);
                }
            }
        }
    }

    /// [`Mixer::route_group`] for groups with pan automation: gains at every
    /// 32-frame boundary, linear between them.
    fn pan_stepped(&mut self, g: usize) {
        const STEPS: usize = PAN_STEPS;
        let (list, count) = self.segments_now;
        let segments = &list[..count];
        let mut outputs = [0usize; LANES];
        let mut used = 0;
        // Per output, lane pan gains (left, right) at each step boundary.
        let mut gains = [[([0.0f32; LANES], [0.0f32; LANES]); STEPS + 1]; LANES];
        for &s in &self.groups[g].members {
            let strip = &mut self.strips[s];
            let points = strip.pan_steps(segments);
            strip.pan_gains = points[STEPS];
            strip.pan_motion = PanMotion::Steps(points);
            let o = output_slot(&mut outputs, &mut used, strip.output);
            let lane = strip.first_lane;
            for (k, &(left, right)) in points.iter().enumerate() {
                if strip.channels == 1 {
                    gains[o][k].0[lane] = left;
                    gains[o][k].1[lane] = right;
                } else {
                    gains[o][k].0[lane] = left;
                    gains[o][k].1[lane + 1] = right;
                }
            }
        }
        let block = &self.groups[g].block;
        for o in 0..used {
            let out = &mut self.sums[outputs[o]];
            let steady = gains[o].iter().all(|g| *g == gains[o][0]);
            if steady {
                let (gl, gr) = gains[o][0];
                for (i, frame) in block.iter().enumerate() {
                    out[0][i] += dot(frame, &gl);
                    out[1][i] += dot(frame, &gr);
                }
                continue;
            }
            for k in 0..STEPS {
                let ((from_l, from_r), (to_l, to_r)) = (gains[o][k], gains[o][k + 1]);
                let step_l: [f32; LANES] =
                    std::array::from_fn(|l| (to_l[l] - from_l[l]) / AUTOMATION_FRAMES as f32);
                let step_r: [f32; LANES] =
                    std::array::from_fn(|l| (to_r[l] - from_r[l]) / AUTOMATION_FRAMES as f32);
                for j in 0..AUTOMATION_FRAMES {
                    let i = k * AUTOMATION_FRAMES + j;
                    let t = (j + 1) as f32;
                    let gl: [f32; LANES] = std::array::from_fn(|l| from_l[l] + step_l[l] * t);
                    let gr: [f32; LANES] = std::array::from_fn(|l| from_r[l] + step_r[l] * t);
                    out[0][i] += dot(&block[i], &gl);
                    out[1][i] += dot(&block[i], &gr);
                }
            }
        }
    }

    /// Pans every lane of group `g` into its strip's output sum, meters the
    /// strips and feeds their sends. Each output gets two lane dot products
    /// per frame (pan gains as lane vectors, zero for lanes routed elsewhere),
    /// so this vectorises like the devices do.
    fn route_group(&mut self, g: usize) {
        if self.groups[g]
            .members
            .iter()
            .any(|&s| self.strips[s].pan_curve.is_some())
        {
            self.pan_stepped(g);
        } else {
            self.pan_ramped(g);
        }
        // Meters: post-fader peak and energy per lane, then per strip.
        let mut lane_peak = [0.0f32; LANES];
        let mut lane_energy = [0.0f32; LANES];
        for frame in self.groups[g].block.iter() {
            for l in 0..LANES {
                lane_peak[l] = crate::lanes::peak_max(lane_peak[l], frame[l].abs());
                lane_energy[l] += frame[l] * frame[l];
            }
        }
        let mut reduction = [0.0f32; LANES];
        for device in &self.groups[g].inserts {
            let gr = device.gain_reduction_db();
            for l in 0..LANES {
                reduction[l] = reduction[l].min(gr[l]);
            }
        }
        for m in 0..self.groups[g].members.len() {
            let s = self.groups[g].members[m];
            let strip = &mut self.strips[s];
            let lanes = strip.first_lane..strip.first_lane + strip.channels;
            strip.peak = lane_peak[lanes.clone()].iter().copied().fold(0.0, f32::max);
            let mean_square =
                lane_energy[lanes.clone()].iter().sum::<f32>() / (QUANTUM * strip.channels) as f32;
            strip.mean_square += self.meter_smoothing * (mean_square - strip.mean_square);
            strip.gain_reduction_db = reduction[lanes].iter().copied().fold(0.0, f32::min);
            if !strip.sends.is_empty() {
                self.feed_sends(s);
            }
            if self.stem_taps.is_some() {
                self.tap_stem(s);
            }
        }
    }

    /// Adds strip `s`'s sends into their buses.
    fn feed_sends(&mut self, s: usize) {
        let (list, count) = self.segments_now;
        let segments = &list[..count];
        let strip = &mut self.strips[s];
        let group = &self.groups[strip.group];
        let (first, channels) = (strip.first_lane, strip.channels);
        let audible = if strip.audible { 1.0 } else { 0.0 };
        for send in &mut strip.sends {
            let source = match (&group.pre_fader, send.pre_fader) {
                (Some(pre), true) => pre,
                _ => &group.block,
            };
            let scale = if send.pre_fader { audible } else { 1.0 };
            let target = &mut self.sums[send.sum];
            let frame_lr = |frame: &[f32; LANES]| {
                if channels == 1 {
                    (frame[first], frame[first])
                } else {
                    (frame[first], frame[first + 1])
                }
            };
            match &send.curve {
                // An automated level: its curve at every 32-frame boundary,
                // linear between them (as the fader and pan).
                Some(curve) if !segments.is_empty() => {
                    let mut levels = [send.level_now; PAN_STEPS + 1];
                    for k in 1..=PAN_STEPS {
                        levels[k] = timeline_at(segments, k * AUTOMATION_FRAMES)
                            .and_then(|f| curve.value_at(f))
                            .map_or(levels[k - 1], |db| db_to_amplitude(db.clamp(-144.0, 12.0)));
                    }
                    send.level_now = levels[PAN_STEPS];
                    for (i, frame) in source.iter().enumerate() {
                        let (k, j) = (i / AUTOMATION_FRAMES, i % AUTOMATION_FRAMES);
                        let t = (j + 1) as f32 / AUTOMATION_FRAMES as f32;
                        let level = (levels[k] + (levels[k + 1] - levels[k]) * t) * scale;
                        let (l, r) = frame_lr(frame);
                        target[0][i] += l * level;
                        target[1][i] += r * level;
                    }
                }
                _ => {
                    send.level_now = send.level;
                    let level = send.level * scale;
                    for (i, frame) in source.iter().enumerate() {
                        let (l, r) = frame_lr(frame);
                        target[0][i] += l * level;
                        target[1][i] += r * level;
                    }
                }
            }
        }
    }

    /// Strip `s`'s lanes, panned as routing just panned them, into its stem
    /// tap: the same products as in the sums, so the stems of what feeds
    /// the master add up to the master's input (up to rounding).
    fn tap_stem(&mut self, s: usize) {
        let Some(taps) = &mut self.stem_taps else {
            return;
        };
        let strip = &self.strips[s];
        let block = &self.groups[strip.group].block;
        let (first, mono) = (strip.first_lane, strip.channels == 1);
        let tap = &mut taps[s];
        let mut put = |i: usize, frame: &[f32; LANES], (gl, gr): (f32, f32)| {
            let (l, r) = if mono {
                (frame[first], frame[first])
            } else {
                (frame[first], frame[first + 1])
            };
            tap[0][i] = l * gl;
            tap[1][i] = r * gr;
        };
        match strip.pan_motion {
            PanMotion::Ramp(from, to) => {
                let step = (
                    (to.0 - from.0) / QUANTUM as f32,
                    (to.1 - from.1) / QUANTUM as f32,
                );
                for (i, frame) in block.iter().enumerate() {
                    let k = (i + 1) as f32;
                    put(i, frame, (from.0 + step.0 * k, from.1 + step.1 * k));
                }
            }
            PanMotion::Steps(points) => {
                for (i, frame) in block.iter().enumerate() {
                    let (k, j) = (i / AUTOMATION_FRAMES, i % AUTOMATION_FRAMES);
                    let (from, to) = (points[k], points[k + 1]);
                    let step = (
                        (to.0 - from.0) / AUTOMATION_FRAMES as f32,
                        (to.1 - from.1) / AUTOMATION_FRAMES as f32,
                    );
                    let t = (j + 1) as f32;
                    put(i, frame, (from.0 + step.0 * t, from.1 + step.1 * t));
                }
            }
        }
    }

    /// Keeps every track's and bus's panned output from now on (see
    /// [`Mixer::stem`]). Control thread: allocates.
    pub fn keep_stems(&mut self) {
        self.stem_taps = Some(vec![[[0.0; QUANTUM]; CHANNELS]; self.tracks + self.buses]);
    }

    /// The last quantum's output of strip `index` (tracks, then buses) as
    /// it left the strip, panned, if [`Mixer::keep_stems`] was called.
    pub fn stem(&self, index: usize) -> Option<&StereoQuantum> {
        self.stem_taps.as_ref()?.get(index)
    }

    /// Renders one quantum with each track fed `input[t]` (stereo) in
    /// place of its clips, at the transport `segments` and tempo `bpm` of
    /// another mixer: a plan of stereo tracks that each carry a copy of
    /// one strip runs that strip over many signals (the master chain over
    /// every stem).
    pub(crate) fn process_fed(
        &mut self,
        segments: (Segments, usize),
        bpm: f64,
        input: &[StereoQuantum],
    ) -> &StereoQuantum {
        self.segments_now = segments;
        self.bpm_now = bpm;
        for group in &mut self.groups[..self.track_groups] {
            *group.block = SILENT_BLOCK;
        }
        for t in 0..self.tracks {
            let strip = &self.strips[t];
            let (group, lane) = (strip.group, strip.first_lane);
            let fed = &input[t];
            for (i, frame) in self.groups[group].block.iter_mut().enumerate() {
                frame[lane] = fed[0][i];
                frame[lane + 1] = fed[1][i];
            }
        }
        let list = &segments.0[..segments.1];
        for group in &mut self.groups[..self.track_groups] {
            group.set_tempo(bpm);
            group.process_automated(list);
        }
        self.mix();
        &self.out
    }

    /// The transport segments and tempo of the last quantum rendered.
    pub(crate) fn last_segments(&self) -> ((Segments, usize), f64) {
        (self.segments_now, self.bpm_now)
    }

    /// Strips in [`Mixer::peak_of`] order: tracks, buses, master.
    pub fn strip_count(&self) -> usize {
        self.strips.len()
    }

    /// Post-fader peak of strip `index` (tracks, then buses, then master).
    pub fn peak_of(&self, index: usize) -> f32 {
        self.strips.get(index).map_or(0.0, |s| s.peak)
    }

    /// All meters of strip `index` (tracks, then buses, then master).
    pub fn reading_of(&self, index: usize) -> crate::meter::StripReading {
        self.strips
            .get(index)
            .map_or_else(Default::default, |s| crate::meter::StripReading {
                peak: s.peak,
                rms: s.mean_square.max(0.0).sqrt(),
                gain_reduction_db: s.gain_reduction_db,
            })
    }

    /// The post-fader output of bus `bus` in the last quantum (before pan).
    pub fn bus_output(&self, bus: usize, out: &mut StereoQuantum) -> bool {
        let Some(strip) = self
            .strips
            .get(self.tracks + bus)
            .filter(|_| bus < self.buses)
        else {
            return false;
        };
        for (i, frame) in self.groups[strip.group].block.iter().enumerate() {
            out[0][i] = frame[0];
            out[1][i] = frame[1];
        }
        true
    }

    /// The post-fader signal of the strip with stable id `id` in the last
    /// quantum, before pan (a mono track on both channels). For tests and
    /// analysis: an edit elsewhere must leave it bit-identical.
    pub fn strip_signal(&self, id: u64, out: &mut StereoQuantum) -> bool {
        let Some(strip) = self.ids.iter().position(|&i| i == id && id != 0) else {
            return false;
        };
        let strip = &self.strips[strip];
        let right = strip.first_lane + strip.channels - 1;
        for (i, frame) in self.groups[strip.group].block.iter().enumerate() {
            out[0][i] = frame[strip.first_lane];
            out[1][i] = frame[right];
        }
        true
    }

    /// Stable ids of the strips: tracks, buses, master.
    pub fn strip_ids(&self) -> &[u64] {
        &self.ids
    }

    /// Post-fader peak of a strip's last quantum (linear).
    pub fn peak(&self, strip: StripRef) -> f32 {
        self.strip_index(strip).map_or(0.0, |s| self.strips[s].peak)
    }

    /// Non-finite samples silenced inside devices and non-finite parameter
    /// values replaced, so far.
    pub fn sanitised_samples(&self) -> u32 {
        self.groups.iter().map(|g| g.sanitised).sum::<u32>() + self.sanitised_params
    }

    pub fn output(&self) -> &StereoQuantum {
        &self.out
    }

    /// The transport segments of the last quantum: (block offset, timeline
    /// frame, frames), split where a loop wrapped; empty when stopped.
    pub fn played_segments(&self) -> &[(usize, u64, usize)] {
        let (list, count) = &self.segments_now;
        &list[..*count]
    }

    pub fn tempo(&self) -> &crate::tempo::TempoMap {
        &self.tempo
    }
}

impl std::fmt::Debug for Mixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mixer")
            .field("sample_rate", &self.sample_rate)
            .field("tracks", &self.tracks)
            .field("buses", &self.buses)
            .field("lane_groups", &self.groups.len())
            .field("transport", &self.transport)
            .field("report", &self.report)
            .finish()
    }
}

/// Index of `output` among the first `used` entries of `outputs`, adding it
/// when it is new (a group feeds at most one output per lane).
fn output_slot(outputs: &mut [usize; LANES], used: &mut usize, output: usize) -> usize {
    if let Some(o) = outputs[..*used].iter().position(|&o| o == output) {
        return o;
    }
    outputs[*used] = output;
    *used += 1;
    *used - 1
}

/// `Σ a·b` over the lanes, summed pairwise so it vectorises.
#[inline(always)]
fn dot(a: &[f32; LANES], b: &[f32; LANES]) -> f32 {
    let mut p: [f32; LANES] = std::array::from_fn(|l| a[l] * b[l]);
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            p[l] += p[l + width];
        }
        width /= 2;
    }
    p[0]
}

/// The tracks of each lane group: (track, first lane), by lane. Tracks are
/// grouped by insert chain (device kinds in order), stereo tracks on an even
/// lane pair. A track that `previous` placed keeps its group and lanes while
/// its chain and channel count are the same, so one edit never moves the
/// others; the rest take the first free lanes of a group with their chain,
/// in track order, or open a new group. Groups left empty are dropped.
fn assign_groups(
    desc: &ProjectDesc,
    previous: Option<&crate::handover::PlanLayout>,
) -> Vec<Vec<(usize, usize)>> {
    struct Open {
        chain: Vec<DeviceKind>,
        used: [bool; LANES],
        members: Vec<(usize, usize)>,
    }
    let mut open: Vec<Open> = previous.map_or_else(Vec::new, |p| {
        p.chains
            .iter()
            .map(|chain| Open {
                chain: chain.clone(),
                used: [false; LANES],
                members: Vec::new(),
            })
            .collect()
    });
    let mut placed = vec![false; desc.tracks.len()];
    if let Some(previous) = previous {
        let before = previous.track_places();
        for (t, track) in desc.tracks.iter().enumerate() {
            let channels = track.channels.clamp(1, 2);
            let Some(old) = before.get(&track.id).filter(|_| track.id != 0) else {
                continue;
            };
            let group = &mut open[old.group];
            let lanes = old.first_lane..old.first_lane + channels;
            if old.channels == channels
                && group.chain == chain_kinds(&track.strip)
                && lanes.clone().all(|l| !group.used[l])
            {
                group.used[lanes].fill(true);
                group.members.push((t, old.first_lane));
                placed[t] = true;
            }
        }
    }
    for (t, track) in desc.tracks.iter().enumerate() {
        if placed[t] {
            continue;
        }
        let channels = track.channels.clamp(1, 2);
        let chain = chain_kinds(&track.strip);
        let free = |used: &[bool; LANES]| {
            (0..=LANES - channels)
                .step_by(channels)
                .find(|&f| used[f..f + channels].iter().all(|u| !u))
        };
        let found = open
            .iter()
            .position(|g| g.chain == chain && free(&g.used).is_some());
        let g = found.unwrap_or_else(|| {
            open.push(Open {
                chain,
                used: [false; LANES],
                members: Vec::new(),
            });
            open.len() - 1
        });
        let first = free(&open[g].used).unwrap_or(0);
        open[g].used[first..first + channels].fill(true);
        open[g].members.push((t, first));
    }
    open.into_iter()
        .filter(|g| !g.members.is_empty())
        .map(|mut g| {
            g.members.sort_by_key(|&(_, first)| first);
            g.members
        })
        .collect()
}

/// The insert slots of a track group; every lane's settings come from its own track.
fn build_inserts(
    sample_rate: f32,
    chain_of: &StripDesc,
    lane_tracks: &[Option<usize>],
    tracks: &[crate::project::TrackDesc],
    links: LaneLinks,
) -> Vec<LaneDevice> {
    chain_of
        .inserts
        .iter()
        .enumerate()
        .map(|(slot, first)| {
            let descs =
                std::array::from_fn(|l| lane_tracks[l].map(|t| &tracks[t].strip.inserts[slot]));
            LaneDevice::new(first.kind, sample_rate, descs, links)
        })
        .collect()
}

impl LaneGroup {
    fn new(
        sample_rate: f32,
        tracks: Vec<GroupTrack>,
        inserts: Vec<LaneDevice>,
        pre_fader: bool,
    ) -> Self {
        LaneGroup {
            members: tracks.iter().map(|t| t.strip).collect(),
            tracks,
            inserts,
            gain: LaneSmoother::new(sample_rate, [0.0; LANES]),
            gain_scale: [0.0; LANES],
            gain_automated: [false; LANES],
            bpm: 0.0,
            automation: Vec::new(),
            block: Box::new(SILENT_BLOCK),
            pre_fader: pre_fader.then(|| Box::new(SILENT_BLOCK)),
            sanitised: 0,
            scratch: Box::new(SILENT_BLOCK),
        }
    }
}

impl Strip {
    fn new(
        desc: &StripDesc,
        group: usize,
        first_lane: usize,
        channels: usize,
        solo_safe: bool,
        output: usize,
        sends: &[SendRoute],
    ) -> Self {
        Strip {
            group,
            first_lane,
            channels,
            gain_db: if desc.gain_db.is_nan() {
                0.0
            } else {
                desc.gain_db.clamp(-144.0, 24.0)
            },
            pan: if desc.pan.is_nan() {
                0.0
            } else {
                desc.pan.clamp(-1.0, 1.0)
            },
            pan_gains: (1.0, 1.0),
            pan_motion: PanMotion::Ramp((1.0, 1.0), (1.0, 1.0)),
            mute: desc.mute,
            solo: desc.solo,
            polarity_invert: desc.polarity_invert,
            solo_safe,
            audible: true,
            output,
            pan_curve: desc
                .automation
                .iter()
                .find(|a| a.target == AutomationTarget::Pan && !a.curve.is_empty())
                .map(|a| a.curve.clone()),
            sends: sends
                .iter()
                .map(|(sum, level, pre_fader, curve)| Send {
                    sum: *sum,
                    level: *level,
                    pre_fader: *pre_fader,
                    curve: curve.clone(),
                    // An automated send starts on its curve, as the fader does.
                    level_now: curve
                        .as_ref()
                        .and_then(|c| c.value_at(0))
                        .map_or(*level, |db| db_to_amplitude(db.clamp(-144.0, 12.0))),
                })
                .collect(),
            peak: 0.0,
            mean_square: 0.0,
            gain_reduction_db: 0.0,
        }
    }
}

/// Orders buses so each follows everything that feeds it; routes that would
/// close a loop are sent to the master (outputs) or dropped (sends).
fn order_buses(
    tracks: usize,
    buses: usize,
    outputs: &mut [usize],
    sends: &mut [Vec<SendRoute>],
    report: &mut PlanReport,
) -> Vec<usize> {
    let mut order = Vec::with_capacity(buses);
    let mut placed = vec![false; buses];
    // Repeatedly place a bus none of whose unplaced feeders are buses.
    loop {
        let next = (0..buses).find(|&b| {
            !placed[b]
                && (0..buses).all(|f| {
                    placed[f] || f == b || {
                        let s = tracks + f;
                        outputs[s] != 1 + b && sends[s].iter().all(|x| x.0 != 1 + b)
                    }
                })
        });
        match next {
            Some(b) => {
                placed[b] = true;
                order.push(b);
            }
            None if order.len() == buses => break,
            None => {
                // A loop: every unplaced bus has an unplaced feeder. Break the
                // bus routes of one that feeds another unplaced bus.
                let feeds_unplaced = |b: usize| {
                    let s = tracks + b;
                    (0..buses).any(|t| {
                        !placed[t] && (outputs[s] == 1 + t || sends[s].iter().any(|x| x.0 == 1 + t))
                    })
                };
                let b = (0..buses)
                    .find(|&b| !placed[b] && feeds_unplaced(b))
                    .unwrap_or(0);
                let s = tracks + b;
                if outputs[s] != 0 {
                    outputs[s] = 0;
                    report.dropped_routes += 1;
                }
                let before = sends[s].len();
                sends[s].clear();
                report.dropped_routes += before;
            }
        }
    }
    order
}
