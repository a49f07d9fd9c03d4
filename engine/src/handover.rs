//! Continuity: an edit changes only what it edits.
//!
//! The document → engine step sorts every change into one of two kinds:
//! - **parameters** (fader, pan, mute, solo, polarity, send levels, device
//!   parameters, bypass) travel as [`Command`]s to the plan that is playing
//!   ([`parameter_commands`]); no plan is built;
//! - **structure** (clips, tracks, buses, devices added, removed or
//!   reordered, routing, tempo, automation) builds a new plan with
//!   [`PlanBuilder`], which knows the plan before it. Every strip and device
//!   that still exists — matched by the document's stable ids — takes over
//!   its predecessor's state when the audio thread installs the plan:
//!   filter memories, envelopes, look-ahead, reverb and delay lines, fader
//!   ramps, meters. Nothing crossfades the whole mix any more; an edited
//!   track's old clips fade out under its new ones, and strips and devices
//!   that join a playing mix fade in.
//!
//! The instructions ([`Handover`]) are computed on the control thread and
//! run on the audio thread in [`Mixer::take_over`]: whole insert slots
//! change hands by swapping (the freshly built device goes back with the
//! old plan, to be freed on the control thread), single lanes are copied,
//! and nothing is allocated or freed there.

use std::collections::HashMap;
use std::sync::Arc;

use crate::command::Command;
use crate::device::DeviceKind;
use crate::lanes::LANES;
use crate::mixer::{Mixer, StripChange, StripRef};
use crate::project::{ClipDesc, ProjectDesc, StripDesc};

pub use crate::project::MASTER_ID;

/// Strips and devices that join a playing mix fade in over this many frames.
pub const JOIN_FADE_FRAMES: u32 = 256;

/// `param` of a [`ParamChange`] that sets the bypass instead.
const BYPASS: u16 = u16::MAX;

/// Where one strip of a plan lives.
#[derive(Clone, Debug)]
pub(crate) struct StripPlace {
    pub id: u64,
    pub group: usize,
    /// Index among its group's tracks (tracks only).
    pub member: usize,
    pub first_lane: usize,
    pub channels: usize,
    /// Stable id and kind of each insert, in chain order.
    pub devices: Vec<(u64, DeviceKind)>,
}

/// Where a plan put each strip and device: what the next plan is built
/// around. Control thread only.
#[derive(Clone, Debug, Default)]
pub struct PlanLayout {
    pub(crate) serial: u64,
    /// The insert chain (device kinds) of each track group.
    pub(crate) chains: Vec<Vec<DeviceKind>>,
    /// Tracks, buses, master, as the mixer orders them.
    pub(crate) strips: Vec<StripPlace>,
    pub(crate) tracks: usize,
}

impl PlanLayout {
    fn of(mixer: &Mixer, desc: &ProjectDesc) -> PlanLayout {
        let strip_descs: Vec<&StripDesc> = desc.strips().collect();
        let mut strips: Vec<StripPlace> = mixer
            .strips
            .iter()
            .zip(mixer.strip_ids())
            .zip(&strip_descs)
            .map(|((strip, &id), desc)| StripPlace {
                id,
                group: strip.group,
                member: 0,
                first_lane: strip.first_lane,
                channels: strip.channels,
                devices: desc.inserts.iter().map(|d| (d.id, d.kind)).collect(),
            })
            .collect();
        for group in &mixer.groups[..mixer.track_groups] {
            for (m, track) in group.tracks.iter().enumerate() {
                strips[track.strip].member = m;
            }
        }
        PlanLayout {
            serial: mixer.serial,
            chains: mixer.groups[..mixer.track_groups]
                .iter()
                .map(|g| g.inserts.iter().map(|d| d.kind()).collect())
                .collect(),
            strips,
            tracks: desc.tracks.len(),
        }
    }

    /// The tracks by stable id (ids that are 0 or not unique are left out).
    pub(crate) fn track_places(&self) -> HashMap<u64, &StripPlace> {
        unique(self.strips[..self.tracks].iter().map(|s| s.id))
            .into_iter()
            .map(|(id, i)| (id, &self.strips[i]))
            .collect()
    }
}

/// Index of each id among `ids`, for ids that are non-zero and unique.
fn unique(ids: impl Iterator<Item = u64>) -> HashMap<u64, usize> {
    let mut seen: HashMap<u64, Option<usize>> = HashMap::new();
    for (i, id) in ids.enumerate().filter(|(_, id)| *id != 0) {
        seen.entry(id).and_modify(|e| *e = None).or_insert(Some(i));
    }
    seen.into_iter()
        .filter_map(|(id, i)| Some((id, i?)))
        .collect()
}

/// A setting that differs on a device that goes on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ParamChange {
    group: usize,
    slot: usize,
    lane: usize,
    param: u16,
    value: f32,
}

/// How a plan takes over the state of the plan before it. Built on the
/// control thread, run once on the audio thread by [`Mixer::take_over`].
#[derive(Debug, Default)]
pub(crate) struct Handover {
    /// The serial of the plan this one follows; against any other it does nothing.
    pub from_serial: u64,
    /// Lanes copied from the old plan's devices into freshly built ones:
    /// (new group, slot, lane, old group, slot, lane). Runs first.
    lanes: Vec<[usize; 6]>,
    /// Insert slots taken whole: (new group, slot, old group, slot).
    devices: Vec<[usize; 4]>,
    /// Lanes of slots taken whole that start afresh (a track or device
    /// that joined): their settings come from the freshly built device,
    /// which the swap left in the old plan at the same place:
    /// (new group, slot, lane, old group, slot).
    fresh_lanes: Vec<[usize; 5]>,
    /// Strips that go on (meters, pan): (new strip, old strip).
    strips: Vec<[usize; 2]>,
    /// Fader lanes that go on: (new group, lane, old group, lane).
    faders: Vec<[usize; 4]>,
    /// Tracks whose clips changed: the old clips fade out under the new
    /// ones: (new group, track, old group, track).
    clip_fades: Vec<[usize; 4]>,
    /// Settings that differ on devices that go on, applied last (smoothed,
    /// like a user's change).
    params: Vec<ParamChange>,
}

/// Whether two clip lists play the same audio (assets compared by identity:
/// comparing decoded audio would take longer than building the plan).
fn same_clips(a: &[ClipDesc], b: &[ClipDesc]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            let asset = match (&x.asset, &y.asset) {
                (Some(p), Some(q)) => Arc::ptr_eq(p, q),
                (None, None) => true,
                _ => false,
            };
            asset
                && x.start == y.start
                && x.offset == y.offset
                && x.length == y.length
                && x.gain_db == y.gain_db
                && x.fade_in == y.fade_in
                && x.fade_out == y.fade_out
                && x.looped == y.looped
        })
}

/// Computes the handover from the plan built for `old` (placed as
/// `old_layout`) to `new`, built for `new_desc`, and makes what joins the
/// mix fade in.
fn plan_handover(
    old: &ProjectDesc,
    old_layout: &PlanLayout,
    new: &mut Mixer,
    new_desc: &ProjectDesc,
) -> Handover {
    let new_layout = PlanLayout::of(new, new_desc);
    let mut h = Handover {
        from_serial: old_layout.serial,
        ..Handover::default()
    };
    let old_strips: Vec<&StripDesc> = old.strips().collect();
    let new_strips: Vec<&StripDesc> = new_desc.strips().collect();
    // Strips by id, tracks with tracks and buses with buses; the master with the master.
    let old_tracks = unique(old.tracks.iter().map(|t| t.id));
    let old_buses = unique(old.buses.iter().map(|b| b.id));
    let new_ids: Vec<u64> = new_desc.strip_ids().collect();
    let n_tracks = new_desc.tracks.len();
    let old_of = |s: usize| -> Option<usize> {
        let id = new_ids[s];
        if s == new_ids.len() - 1 {
            Some(old_strips.len() - 1)
        } else if s < n_tracks {
            old_tracks.get(&id).copied()
        } else {
            old_buses.get(&id).map(|b| old.tracks.len() + b)
        }
    };
    // Per new strip and slot: the old slot of the same device, if it goes on.
    let mut device_source: Vec<Vec<Option<usize>>> = Vec::with_capacity(new_strips.len());
    for (s, place) in new_layout.strips.iter().enumerate() {
        let Some(o) = old_of(s) else {
            device_source.push(vec![None; place.devices.len()]);
            // A strip that joins a playing mix fades in.
            let group = &mut new.groups[place.group];
            for lane in place.first_lane..place.first_lane + place.channels {
                group.gain.start_from(lane, 0.0, JOIN_FADE_FRAMES);
            }
            continue;
        };
        let was = &old_layout.strips[o];
        h.strips.push([s, o]);
        if was.channels == place.channels {
            for ch in 0..place.channels {
                h.faders.push([
                    place.group,
                    place.first_lane + ch,
                    was.group,
                    was.first_lane + ch,
                ]);
            }
        }
        if s < n_tracks && !same_clips(&old.tracks[o].clips, &new_desc.tracks[s].clips) {
            h.clip_fades
                .push([place.group, place.member, was.group, was.member]);
        }
        // Devices go on lane for lane: not across a change of channels.
        let sources: Vec<Option<usize>> = place
            .devices
            .iter()
            .map(|&(id, kind)| {
                (id != 0 && was.channels == place.channels)
                    .then(|| was.devices.iter().position(|&d| d == (id, kind)))
                    .flatten()
            })
            .collect();
        for (slot, source) in sources.iter().enumerate() {
            let lanes = place.first_lane..place.first_lane + place.channels;
            match source {
                // A device that joins a strip that goes on fades in.
                None => new.groups[place.group].inserts[slot].fade_in(lanes, JOIN_FADE_FRAMES),
                Some(from) => {
                    let (before, after) =
                        (&old_strips[o].inserts[*from], &new_strips[s].inserts[slot]);
                    let mut changes: Vec<(u16, f32)> = (0..after.kind.params().len())
                        .filter(|&i| before.param(i) != after.param(i))
                        .map(|i| (i as u16, after.param(i)))
                        .collect();
                    if before.bypass != after.bypass {
                        changes.push((BYPASS, f32::from(u8::from(after.bypass))));
                    }
                    for lane in lanes {
                        h.params
                            .extend(changes.iter().map(|&(param, value)| ParamChange {
                                group: place.group,
                                slot,
                                lane,
                                param,
                                value,
                            }));
                    }
                }
            }
        }
        device_source.push(sources);
    }
    // Per new group and slot: take the old slot whole when every lane that
    // goes on sits where it sat, otherwise copy lane by lane.
    let old_groups = old_layout
        .strips
        .iter()
        .map(|s| s.group + 1)
        .max()
        .unwrap_or(0);
    let mut claimed: Vec<Vec<usize>> = vec![Vec::new(); old_groups];
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); new.groups.len()];
    for (s, place) in new_layout.strips.iter().enumerate() {
        members[place.group].push(s);
    }
    for (g, strips) in members.iter().enumerate() {
        for slot in 0..new.groups[g].inserts.len() {
            // (new lane, old group, old slot, old lane) of every lane that goes on.
            let mut going_on: Vec<(usize, usize, usize, usize)> = Vec::new();
            let mut joining: Vec<usize> = Vec::new();
            for &s in strips {
                let place = &new_layout.strips[s];
                let source = device_source[s][slot].zip(old_of(s));
                for ch in 0..place.channels {
                    let lane = place.first_lane + ch;
                    match source {
                        Some((from, o)) => {
                            let was = &old_layout.strips[o];
                            going_on.push((lane, was.group, from, was.first_lane + ch));
                        }
                        None => joining.push(lane),
                    }
                }
            }
            let Some(&(_, og, os, _)) = going_on.first() else {
                continue;
            };
            let whole = going_on
                .iter()
                .all(|&(lane, g2, s2, l2)| (g2, s2, l2) == (og, os, lane))
                && !claimed[og].contains(&os);
            if whole {
                claimed[og].push(os);
                h.devices.push([g, slot, og, os]);
                h.fresh_lanes
                    .extend(joining.iter().map(|&lane| [g, slot, lane, og, os]));
            } else {
                h.lanes.extend(
                    going_on
                        .iter()
                        .map(|&(lane, g2, s2, l2)| [g, slot, lane, g2, s2, l2]),
                );
            }
        }
    }
    h
}

impl Mixer {
    /// Whether this plan was built to follow the plan `current`.
    pub(crate) fn follows(&self, current: &Mixer) -> bool {
        self.handover
            .as_ref()
            .is_some_and(|h| h.from_serial == current.serial && current.serial != 0)
    }

    /// Audio thread: takes over the state of `old`, the plan it follows
    /// (see [`Mixer::follows`]). `old` is left with the freshly built parts
    /// this plan did not need, and goes back to the control thread to be
    /// freed. Never allocates or frees. The indices come from
    /// [`plan_handover`] for exactly these two plans; groups, slots, tracks
    /// and strips that do not fit are skipped all the same.
    pub(crate) fn take_over(&mut self, old: &mut Mixer) {
        // Moved out and back, so the instructions are not freed here.
        let Some(h) = self.handover.take() else {
            return;
        };
        // The transport goes on through the hand-over, and so does a seek's
        // crossfade.
        self.continues_at = old.continues_at;
        self.seek_fade = old.seek_fade;
        for &[g, slot, lane, og, os, ol] in &h.lanes {
            if let (Some(to), Some(from)) = (
                self.groups.get_mut(g).and_then(|x| x.inserts.get_mut(slot)),
                old.groups.get(og).and_then(|x| x.inserts.get(os)),
            ) {
                to.copy_lane(lane, from, ol);
            }
        }
        for &[g, slot, og, os] in &h.devices {
            if let (Some(to), Some(from)) = (
                self.groups.get_mut(g).and_then(|x| x.inserts.get_mut(slot)),
                old.groups.get_mut(og).and_then(|x| x.inserts.get_mut(os)),
            ) {
                std::mem::swap(to, from);
                to.take_links(from);
            }
        }
        for &[g, slot, lane, og, os] in &h.fresh_lanes {
            if let (Some(to), Some(fresh)) = (
                self.groups.get_mut(g).and_then(|x| x.inserts.get_mut(slot)),
                old.groups.get(og).and_then(|x| x.inserts.get(os)),
            ) {
                to.copy_lane(lane, fresh, lane);
            }
        }
        for &[g, lane, og, ol] in &h.faders {
            if let (Some(to), Some(from)) = (self.groups.get_mut(g), old.groups.get(og)) {
                let target = to.gain.target(lane);
                to.gain.copy_lane(lane, &from.gain, ol);
                if !to.gain_automated[lane] {
                    to.gain.set(lane, target);
                }
            }
        }
        for &[s, o] in &h.strips {
            if let (Some(to), Some(from)) = (self.strips.get_mut(s), old.strips.get(o)) {
                to.pan_gains = from.pan_gains;
                for (a, b) in to.sends.iter_mut().zip(&from.sends) {
                    a.level_now = b.level_now;
                }
                to.peak = from.peak;
                to.mean_square = from.mean_square;
                to.gain_reduction_db = from.gain_reduction_db;
            }
        }
        for &[g, t, og, ot] in &h.clip_fades {
            if let (Some(to), Some(from)) = (
                self.groups.get_mut(g).and_then(|x| x.tracks.get_mut(t)),
                old.groups.get_mut(og).and_then(|x| x.tracks.get_mut(ot)),
            ) {
                std::mem::swap(&mut to.outgoing, &mut from.clips);
                to.fade = 0;
            }
        }
        for p in &h.params {
            if let Some(device) = self
                .groups
                .get_mut(p.group)
                .and_then(|x| x.inserts.get_mut(p.slot))
                && p.lane < LANES
            {
                if p.param == BYPASS {
                    device.set_bypass(p.lane, p.value != 0.0);
                } else {
                    device.set_param(p.lane, usize::from(p.param), p.value);
                }
            }
        }
        self.sanitised_params = self
            .sanitised_params
            .saturating_add(old.sanitised_samples());
        self.handover = Some(h);
    }
}

/// Builds plans that follow each other. Control thread only; one per engine.
#[derive(Default)]
pub struct PlanBuilder {
    serial: u64,
    /// What the playing plan renders: the description it was built from,
    /// with every parameter command sent since (see [`PlanBuilder::note`]),
    /// and where it put each strip.
    last: Option<(ProjectDesc, PlanLayout)>,
}

/// A plan built by [`PlanBuilder::build`], not yet handed to the engine.
pub struct BuiltPlan {
    mixer: Mixer,
    layout: PlanLayout,
}

impl PlanBuilder {
    pub fn new() -> Self {
        PlanBuilder::default()
    }

    /// Compiles `desc` to follow the last plan [`PlanBuilder::sent`] (if
    /// there was one at the same sample rate).
    pub fn build(&mut self, desc: &ProjectDesc) -> BuiltPlan {
        self.serial += 1;
        let previous = self
            .last
            .as_ref()
            .filter(|(d, _)| d.sample_rate == desc.sample_rate);
        let mut mixer = Mixer::build(desc, previous.map(|(_, layout)| layout));
        mixer.serial = self.serial;
        if let Some((old, layout)) = previous {
            mixer.handover = Some(Box::new(plan_handover(old, layout, &mut mixer, desc)));
        }
        let layout = PlanLayout::of(&mixer, desc);
        BuiltPlan { mixer, layout }
    }

    /// The plan built from `desc` was queued: the next one follows it.
    pub fn sent(&mut self, desc: &ProjectDesc, layout: PlanLayout) {
        self.last = Some((desc.clone(), layout));
    }

    /// A plan not built here was queued: the next one starts afresh.
    pub fn forget(&mut self) {
        self.last = None;
    }

    /// A command was queued: the playing plan's settings now include it.
    pub fn note(&mut self, command: &Command) {
        if let (Some((desc, _)), Command::Strip { strip, change }) = (&mut self.last, command) {
            desc.apply(*strip, *change);
        }
    }

    /// What the playing plan renders, as far as this builder knows.
    pub fn last(&self) -> Option<&ProjectDesc> {
        self.last.as_ref().map(|(d, _)| d)
    }
}

impl BuiltPlan {
    /// Takes the plan apart: the mixer for the engine, the layout for
    /// [`PlanBuilder::sent`].
    pub fn into_parts(self) -> (Mixer, PlanLayout) {
        (self.mixer, self.layout)
    }
}

/// The commands that take a plan built for `old` to `new`, when the two
/// differ in parameters only; `None` when the structure differs and a new
/// plan is needed. Control thread.
pub fn parameter_commands(old: &ProjectDesc, new: &ProjectDesc) -> Option<Vec<Command>> {
    if old.sample_rate != new.sample_rate
        || old.tempo != new.tempo
        || old.tracks.len() != new.tracks.len()
        || old.buses.len() != new.buses.len()
        || old.monitor != new.monitor
    {
        return None;
    }
    let mut commands = Vec::new();
    for (i, (a, b)) in old.tracks.iter().zip(&new.tracks).enumerate() {
        if a.id != b.id || a.channels != b.channels || !same_clips(&a.clips, &b.clips) {
            return None;
        }
        strip_commands(StripRef::Track(i as u32), &a.strip, &b.strip, &mut commands)?;
    }
    for (i, (a, b)) in old.buses.iter().zip(&new.buses).enumerate() {
        if a.id != b.id || a.solo_safe != b.solo_safe {
            return None;
        }
        strip_commands(StripRef::Bus(i as u32), &a.strip, &b.strip, &mut commands)?;
    }
    strip_commands(StripRef::Master, &old.master, &new.master, &mut commands)?;
    Some(commands)
}

/// Appends the commands that take strip `a` to `b`; `None` if they differ
/// in structure (devices, routing, automation).
fn strip_commands(
    strip: StripRef,
    a: &StripDesc,
    b: &StripDesc,
    out: &mut Vec<Command>,
) -> Option<()> {
    let same_routing = a.output == b.output
        && a.sends.len() == b.sends.len()
        && a.sends
            .iter()
            .zip(&b.sends)
            .all(|(x, y)| x.bus == y.bus && x.pre_fader == y.pre_fader);
    let same_devices = a.inserts.len() == b.inserts.len()
        && a.inserts
            .iter()
            .zip(&b.inserts)
            .all(|(x, y)| x.id == y.id && x.kind == y.kind);
    if !same_routing || !same_devices || a.automation != b.automation {
        return None;
    }
    let mut change = |change: StripChange| out.push(Command::Strip { strip, change });
    if a.gain_db != b.gain_db {
        change(StripChange::GainDb(b.gain_db));
    }
    if a.pan != b.pan {
        change(StripChange::Pan(b.pan));
    }
    if a.mute != b.mute {
        change(StripChange::Mute(b.mute));
    }
    if a.solo != b.solo {
        change(StripChange::Solo(b.solo));
    }
    if a.polarity_invert != b.polarity_invert {
        change(StripChange::Polarity(b.polarity_invert));
    }
    for (send, (x, y)) in a.sends.iter().zip(&b.sends).enumerate() {
        if x.level_db != y.level_db {
            change(StripChange::SendLevelDb {
                send: send as u16,
                level_db: y.level_db,
            });
        }
    }
    for (slot, (x, y)) in a.inserts.iter().zip(&b.inserts).enumerate() {
        if x.bypass != y.bypass {
            change(StripChange::DeviceBypass {
                slot: slot as u16,
                bypass: y.bypass,
            });
        }
        for param in 0..y.kind.params().len() {
            if x.param(param) != y.param(param) {
                change(StripChange::DeviceParam {
                    slot: slot as u16,
                    param: param as u16,
                    value: y.param(param),
                });
            }
        }
    }
    Some(())
}
