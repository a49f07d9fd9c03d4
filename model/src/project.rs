//! The `project` document: arrangement and mix, as typed views over yrs.
//!
//! Flat root maps keyed by stable ids — `tracks`, `clips`, `buses`,
//! `devices`, `sends`, `automation`, `markers`, `tempo` — plus `meta`. A
//! clip holds its track's id, a device its strip's id, a send its source
//! and bus: moving anything is one field write, and concurrent edits to
//! different fields merge. Order (tracks, buses, devices in a chain) is a
//! fractional key, never an array position. Writers take the caller's
//! transaction, so an edit is one small transaction with the caller's
//! origin (per-user undo tracks that origin).
//!
//! Reading ([`ProjectDoc::read`]) repairs what concurrent edits can make
//! invalid together — a clip on a deleted track, a send to a deleted bus,
//! a device on a deleted strip — the same way on every replica, without
//! writing anything: the repair is a pure function of the converged state.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use stemroom_engine::automation::{AutomationDesc, AutomationTarget, Breakpoint, Curve};
use stemroom_engine::device::{DeviceDesc, DeviceKind};
use stemroom_engine::project::{
    AudioAsset, BusDesc, ClipDesc, Fade, FadeShape, Output, ProjectDesc, SendDesc, StripDesc,
    TrackDesc, stable_id,
};
use stemroom_engine::tempo::{TempoChange, TempoMap, TimeSignature};
use yrs::{Any, Doc, Map, MapPrelim, MapRef, ReadTxn, TransactionMut};

use crate::fields::{
    entities, flag, frames, number, number_or, numbers, submap, text, text_or_default,
};
use crate::{META, order};

pub const TRACKS: &str = "tracks";
pub const CLIPS: &str = "clips";
pub const BUSES: &str = "buses";
pub const DEVICES: &str = "devices";
pub const SENDS: &str = "sends";
pub const AUTOMATION: &str = "automation";
pub const MARKERS: &str = "markers";
pub const TEMPO: &str = "tempo";
/// Every root map of the document (undo tracks them all).
pub const ROOTS: [&str; 9] = [
    META, TRACKS, CLIPS, BUSES, DEVICES, SENDS, AUTOMATION, MARKERS, TEMPO,
];

/// The strip id of the master bus (tracks and buses have generated ids).
pub const MASTER: &str = "master";

/// Frames per automation chunk: a lane's points are stored as one array per
/// chunk of the timeline, so editing a passage rewrites one small value
/// instead of creating a CRDT item per point.
pub const AUTOMATION_CHUNK: u64 = 1 << 20;

/// Project-wide settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub name: String,
    pub sample_rate: u32,
    pub bpm: f64,
    pub signature: TimeSignature,
    /// The delivery loudness the team works to, (integrated LUFS, true-peak
    /// ceiling dBTP): what the master shows the gap to and export starts from.
    pub loudness_target: Option<(f64, f64)>,
}

/// A track as the document holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    pub id: String,
    pub name: String,
    pub order: String,
    /// CSS colour, e.g. `#e0a030`.
    pub color: String,
    /// 1 or 2.
    pub channels: u32,
    pub strip: Strip,
}

/// Fader, pan and routing of a track or bus.
#[derive(Clone, Debug, PartialEq)]
pub struct Strip {
    pub gain_db: f64,
    pub pan: f64,
    pub mute: bool,
    pub solo: bool,
    pub polarity_invert: bool,
    /// A bus id, or [`MASTER`].
    pub output: String,
}

/// A clip as the document holds it (positions in frames at the project rate).
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub id: String,
    pub track: String,
    /// SHA-256 of the asset's bytes, hex.
    pub asset: String,
    pub name: String,
    pub start: u64,
    pub offset: u64,
    pub length: u64,
    pub gain_db: f64,
    pub fade_in: Fade,
    pub fade_out: Fade,
    pub looped: bool,
    /// The server recording whose audio this clip plays while it is still
    /// being uploaded (its `asset` is empty until the take is finished).
    pub recording: String,
    /// The loop-recording take this clip is one pass of (see
    /// [`crate::take`]); `None` for every other clip.
    pub take: Option<crate::take::TakePass>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Bus {
    pub id: String,
    pub name: String,
    pub order: String,
    pub strip: Strip,
    /// Keeps playing when other strips are soloed (reverb returns).
    pub solo_safe: bool,
}

/// An insert device on a strip's chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    pub id: String,
    /// Track id, bus id or [`MASTER`].
    pub strip: String,
    pub order: String,
    pub kind: DeviceKind,
    pub bypass: bool,
    /// Values by parameter index; missing ones take the engine's defaults.
    pub params: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Send {
    pub id: String,
    /// Track or bus id.
    pub from: String,
    pub bus: String,
    pub level_db: f64,
    pub pre_fader: bool,
}

/// What an automation lane drives.
#[derive(Clone, Debug, PartialEq)]
pub enum LaneTarget {
    Gain,
    Pan,
    Param {
        device: String,
        param: u16,
    },
    /// The level of the send with this id (from the lane's strip).
    Send {
        send: String,
    },
}

impl LaneTarget {
    /// The lane's `target`, `device` and `param` fields in the document.
    fn fields(&self) -> (&'static str, String, f64) {
        match self {
            LaneTarget::Gain => ("gain", String::new(), 0.0),
            LaneTarget::Pan => ("pan", String::new(), 0.0),
            LaneTarget::Param { device, param } => ("param", device.clone(), f64::from(*param)),
            LaneTarget::Send { send } => ("send", send.clone(), 0.0),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AutomationLane {
    pub id: String,
    pub strip: String,
    pub target: LaneTarget,
    pub points: Vec<Breakpoint>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    pub id: String,
    pub frame: u64,
    pub name: String,
}

/// Something read from the document that was repaired (left out or
/// rerouted) because concurrent edits made it invalid.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Repair {
    /// A clip whose track was deleted.
    OrphanClip(String),
    /// A clip of zero length, or without an asset or a recording to come.
    EmptyClip(String),
    /// A device whose strip was deleted, or of a kind this build lacks.
    OrphanDevice(String),
    /// A send whose source or bus was deleted (or that sends a bus to itself).
    DanglingSend(String),
    /// A strip whose output bus was deleted: it plays to the master.
    DanglingOutput(String),
    /// An automation lane whose strip or device was deleted.
    OrphanAutomation(String),
}

/// The whole project as read (and repaired) from one state of the document.
#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    pub meta: Meta,
    /// In display order.
    pub tracks: Vec<Track>,
    /// By id. Shared: a read that finds the clips as before keeps the
    /// list of the last (see [`ProjectReader`](crate::reader::ProjectReader)).
    pub clips: Arc<Vec<Clip>>,
    /// In display order.
    pub buses: Vec<Bus>,
    pub master: Strip,
    /// By strip, then chain order.
    pub devices: Vec<Device>,
    /// By id.
    pub sends: Vec<Send>,
    pub automation: Vec<AutomationLane>,
    /// By frame.
    pub markers: Vec<Marker>,
    /// Changes after the first beat, by beat.
    pub tempo: Vec<TempoChange>,
    /// What was repaired, in a deterministic order.
    pub repairs: Vec<Repair>,
}

/// The stable name of a device kind in the document.
pub fn kind_name(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Eq => "eq",
        DeviceKind::Compressor => "compressor",
        DeviceKind::Utility => "utility",
        DeviceKind::Limiter => "limiter",
        DeviceKind::Reverb => "reverb",
        DeviceKind::Delay => "delay",
    }
}

pub fn kind_from_name(name: &str) -> Option<DeviceKind> {
    [
        DeviceKind::Eq,
        DeviceKind::Compressor,
        DeviceKind::Utility,
        DeviceKind::Limiter,
        DeviceKind::Reverb,
        DeviceKind::Delay,
    ]
    .into_iter()
    .find(|k| kind_name(*k) == name)
}

fn shape_name(shape: FadeShape) -> &'static str {
    match shape {
        FadeShape::Linear => "linear",
        FadeShape::EqualPower => "equalPower",
        FadeShape::Exponential => "exponential",
    }
}

fn shape_from_name(name: &str) -> FadeShape {
    match name {
        "equalPower" => FadeShape::EqualPower,
        "exponential" => FadeShape::Exponential,
        _ => FadeShape::Linear,
    }
}

/// The `project` doc of one replica, with an id generator of its own.
pub struct ProjectDoc {
    doc: Doc,
    roots: HashMap<&'static str, MapRef>,
    next_id: AtomicU64,
}

impl ProjectDoc {
    pub fn new(doc: Doc) -> Self {
        let roots = ROOTS
            .iter()
            .map(|name| (*name, doc.get_or_insert_map(*name)))
            .collect();
        ProjectDoc {
            doc,
            roots,
            next_id: AtomicU64::new(0),
        }
    }

    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    /// A root map by name (one of [`ROOTS`]).
    pub fn root(&self, name: &str) -> &MapRef {
        &self.roots[name]
    }

    /// A new id: this replica's client id and a counter, unique across
    /// replicas without coordination.
    fn new_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{:x}-{n:x}", crate::client_id(&self.doc))
    }

    pub(crate) fn insert<const N: usize>(
        &self,
        txn: &mut TransactionMut,
        root: &str,
        fields: [(&str, Any); N],
    ) -> String {
        let id = self.new_id();
        let prelim: MapPrelim = fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), yrs::In::Any(v)))
            .collect();
        self.root(root).insert(txn, id.as_str(), prelim);
        id
    }

    fn entity(&self, txn: &impl ReadTxn, root: &str, id: &str) -> Option<MapRef> {
        submap(self.root(root), txn, id)
    }

    /// Writes one field of an entity; false when the entity does not exist.
    pub fn set(
        &self,
        txn: &mut TransactionMut,
        root: &str,
        id: &str,
        key: &str,
        value: impl Into<Any>,
    ) -> bool {
        match self.entity(txn, root, id) {
            Some(map) => {
                map.insert(txn, key, value.into());
                true
            }
            None => false,
        }
    }

    /// Writes a field of a strip: a track, a bus, or the master (whose
    /// fader lives in `meta`).
    pub fn set_strip(
        &self,
        txn: &mut TransactionMut,
        strip: &str,
        key: &str,
        value: impl Into<Any>,
    ) -> bool {
        let value = value.into();
        if strip == MASTER {
            self.root(META).insert(txn, key, value);
            return true;
        }
        self.set(txn, TRACKS, strip, key, value.clone()) || self.set(txn, BUSES, strip, key, value)
    }

    /// Deletes an entity. Entities that refer to it stay in the document (a
    /// collaborator may be moving one away right now) and are repaired on
    /// read.
    pub fn delete(&self, txn: &mut TransactionMut, root: &str, id: &str) -> bool {
        self.root(root).remove(txn, id).is_some()
    }

    /// The order key after the last entity of `root` (optionally only
    /// those whose `field` equals `value`).
    fn last_order(&self, txn: &impl ReadTxn, root: &str, filter: Option<(&str, &str)>) -> String {
        let last = entities(self.root(root), txn)
            .filter(|(_, map)| filter.is_none_or(|(k, v)| text(map, txn, k).as_deref() == Some(v)))
            .map(|(_, map)| text_or_default(&map, txn, "order"))
            .max();
        order::between(last.as_deref(), None)
    }

    // ----- meta -----

    pub fn set_name(&self, txn: &mut TransactionMut, name: &str) {
        self.root(META).insert(txn, "name", name);
    }

    /// Sets (or clears) the project's delivery loudness target.
    pub fn set_loudness_target(&self, txn: &mut TransactionMut, target: Option<(f64, f64)>) {
        let meta = self.root(META);
        match target {
            Some((lufs, ceiling)) => {
                meta.insert(txn, "targetLufs", lufs.clamp(-40.0, -5.0));
                meta.insert(txn, "targetCeilingDbtp", ceiling.clamp(-12.0, 0.0));
            }
            None => {
                meta.remove(txn, "targetLufs");
                meta.remove(txn, "targetCeilingDbtp");
            }
        }
    }

    pub fn set_bpm(&self, txn: &mut TransactionMut, bpm: f64) {
        self.root(META).insert(txn, "bpm", bpm.clamp(20.0, 400.0));
    }

    pub fn set_signature(&self, txn: &mut TransactionMut, signature: TimeSignature) {
        let meta = self.root(META);
        meta.insert(
            txn,
            "beatsPerBar",
            f64::from(signature.beats_per_bar.clamp(1, 32)),
        );
        meta.insert(txn, "beatUnit", f64::from(signature.beat_unit.clamp(1, 32)));
    }

    // ----- tracks -----

    /// Adds a track after the last one; returns its id. Fields at their
    /// defaults (fader 0 dB, centre, unmuted, to the master) are not
    /// written: readers default them, and a big project stays small.
    pub fn add_track(&self, txn: &mut TransactionMut, name: &str, channels: u32) -> String {
        let order = self.last_order(txn, TRACKS, None);
        self.insert(
            txn,
            TRACKS,
            [
                ("name", Any::from(name)),
                ("order", Any::from(order)),
                ("channels", Any::from(f64::from(channels.clamp(1, 2)))),
            ],
        )
    }

    /// Sets a track's or bus's fader (dB); false for an unknown strip.
    pub fn set_track_gain(&self, txn: &mut TransactionMut, id: &str, gain_db: f64) -> bool {
        self.set(txn, TRACKS, id, "gainDb", gain_db.clamp(-144.0, 24.0))
    }

    pub fn set_track_mute(&self, txn: &mut TransactionMut, id: &str, mute: bool) -> bool {
        self.set(txn, TRACKS, id, "mute", mute)
    }

    /// Moves a track between two others (by their order keys).
    pub fn move_track(
        &self,
        txn: &mut TransactionMut,
        id: &str,
        after: Option<&str>,
        before: Option<&str>,
    ) -> bool {
        self.set(txn, TRACKS, id, "order", order::between(after, before))
    }

    pub fn delete_track(&self, txn: &mut TransactionMut, id: &str) -> bool {
        self.delete(txn, TRACKS, id)
    }

    // ----- clips -----

    pub fn add_clip(
        &self,
        txn: &mut TransactionMut,
        track: &str,
        asset: &str,
        start: u64,
        length: u64,
    ) -> String {
        // Offset 0, gain 0 dB, no fades: defaults, not written.
        self.insert(
            txn,
            CLIPS,
            [
                ("track", Any::from(track)),
                ("asset", Any::from(asset)),
                ("start", Any::from(start as f64)),
                ("length", Any::from(length as f64)),
            ],
        )
    }

    /// Moves a clip to `track` at `start`: two field writes, one transaction.
    pub fn move_clip(&self, txn: &mut TransactionMut, id: &str, track: &str, start: u64) -> bool {
        self.set(txn, CLIPS, id, "track", track) && self.set(txn, CLIPS, id, "start", start as f64)
    }

    /// Sets the part of the asset a clip plays (trimming either edge).
    pub fn trim_clip(
        &self,
        txn: &mut TransactionMut,
        id: &str,
        start: u64,
        offset: u64,
        length: u64,
    ) -> bool {
        self.set(txn, CLIPS, id, "start", start as f64)
            && self.set(txn, CLIPS, id, "offset", offset as f64)
            && self.set(txn, CLIPS, id, "length", length as f64)
    }

    /// Sets a clip's fade in (`fade_out`: false) or out.
    pub fn set_fade(&self, txn: &mut TransactionMut, id: &str, fade_out: bool, fade: Fade) -> bool {
        let (len, shape) = if fade_out {
            ("fadeOut", "fadeOutShape")
        } else {
            ("fadeIn", "fadeInShape")
        };
        self.set(txn, CLIPS, id, len, fade.frames as f64)
            && self.set(txn, CLIPS, id, shape, shape_name(fade.shape))
    }

    /// Splits a clip at timeline frame `at`; returns the new right-hand clip.
    pub fn split_clip(&self, txn: &mut TransactionMut, id: &str, at: u64) -> Option<String> {
        let clip = self.clip(txn, id)?;
        if at <= clip.start || at >= clip.start + clip.length {
            return None;
        }
        let left = at - clip.start;
        let right = self.add_clip(txn, &clip.track, &clip.asset, at, clip.length - left);
        self.set(txn, CLIPS, &right, "offset", (clip.offset + left) as f64);
        if clip.gain_db != 0.0 {
            self.set(txn, CLIPS, &right, "gainDb", clip.gain_db);
        }
        if !clip.name.is_empty() {
            self.set(txn, CLIPS, &right, "name", clip.name.as_str());
        }
        if clip.looped {
            self.set(txn, CLIPS, &right, "looped", true);
        }
        crate::take::copy_take_fields(self, txn, &clip, &right);
        if clip.fade_out.frames > 0 {
            self.set_fade(txn, &right, true, clip.fade_out);
        }
        self.set(txn, CLIPS, id, "length", left as f64);
        self.set_fade(txn, id, true, Fade::NONE);
        Some(right)
    }

    /// Copies a clip (audio, trim, gain, fades, name) to `start` on
    /// `track`; returns the copy's id.
    pub fn duplicate_clip(
        &self,
        txn: &mut TransactionMut,
        id: &str,
        track: &str,
        start: u64,
    ) -> Option<String> {
        let source = self.entity(txn, CLIPS, id)?;
        let mut fields: HashMap<String, yrs::In> = source
            .iter(txn)
            .filter_map(|(key, value)| match value {
                yrs::Out::Any(any) => Some((key.to_string(), yrs::In::Any(any))),
                _ => None,
            })
            .collect();
        fields.insert("track".into(), yrs::In::Any(Any::from(track)));
        fields.insert("start".into(), yrs::In::Any(Any::from(start as f64)));
        let copy = self.new_id();
        self.root(CLIPS)
            .insert(txn, copy.as_str(), MapPrelim::from_iter(fields));
        Some(copy)
    }

    pub fn delete_clip(&self, txn: &mut TransactionMut, id: &str) -> bool {
        self.delete(txn, CLIPS, id)
    }

    // ----- buses, devices, sends -----

    pub fn add_bus(&self, txn: &mut TransactionMut, name: &str) -> String {
        let order = self.last_order(txn, BUSES, None);
        self.insert(
            txn,
            BUSES,
            [("name", Any::from(name)), ("order", Any::from(order))],
        )
    }

    /// Routes a track's or bus's output to `output` (a bus id or [`MASTER`]).
    pub fn set_output(&self, txn: &mut TransactionMut, strip: &str, output: &str) -> bool {
        self.set(txn, TRACKS, strip, "output", output)
            || self.set(txn, BUSES, strip, "output", output)
    }

    /// Adds a device at the end of `strip`'s chain.
    pub fn add_device(&self, txn: &mut TransactionMut, strip: &str, kind: DeviceKind) -> String {
        let order = self.last_order(txn, DEVICES, Some(("strip", strip)));
        let params: MapPrelim = MapPrelim::default();
        let id = self.insert(
            txn,
            DEVICES,
            [
                ("strip", Any::from(strip)),
                ("order", Any::from(order)),
                ("kind", Any::from(kind_name(kind))),
                ("bypass", Any::from(false)),
            ],
        );
        // Parameters in a nested map: concurrent edits to different
        // parameters of one device both land.
        if let Some(device) = self.entity(txn, DEVICES, &id) {
            device.insert(txn, "params", params);
        }
        id
    }

    /// Moves a device within its chain, between two others (by order keys).
    pub fn move_device(
        &self,
        txn: &mut TransactionMut,
        id: &str,
        after: Option<&str>,
        before: Option<&str>,
    ) -> bool {
        self.set(txn, DEVICES, id, "order", order::between(after, before))
    }

    /// Sets parameter `index` of a device (clamped by the engine on read).
    pub fn set_param(
        &self,
        txn: &mut TransactionMut,
        device: &str,
        index: u16,
        value: f64,
    ) -> bool {
        let Some(map) = self.entity(txn, DEVICES, device) else {
            return false;
        };
        let params = match submap(&map, txn, "params") {
            Some(params) => params,
            None => map.insert(txn, "params", MapPrelim::default()),
        };
        params.insert(txn, index.to_string(), value);
        true
    }

    pub fn add_send(
        &self,
        txn: &mut TransactionMut,
        from: &str,
        bus: &str,
        level_db: f64,
        pre_fader: bool,
    ) -> String {
        self.insert(
            txn,
            SENDS,
            [
                ("from", Any::from(from)),
                ("bus", Any::from(bus)),
                ("levelDb", Any::from(level_db)),
                ("preFader", Any::from(pre_fader)),
            ],
        )
    }

    // ----- automation, markers, tempo -----

    /// Adds an empty automation lane for `target` on `strip`.
    pub fn add_lane(&self, txn: &mut TransactionMut, strip: &str, target: &LaneTarget) -> String {
        let (kind, device, param) = target.fields();
        let id = self.insert(
            txn,
            AUTOMATION,
            [
                ("strip", Any::from(strip)),
                ("target", Any::from(kind)),
                ("device", Any::from(device)),
                ("param", Any::from(param)),
            ],
        );
        if let Some(lane) = self.entity(txn, AUTOMATION, &id) {
            lane.insert(txn, "chunks", MapPrelim::default());
        }
        id
    }

    /// Points lane `lane` at another target on its strip (its points stay:
    /// the engine clamps them to the new parameter's range).
    pub fn set_lane_target(
        &self,
        txn: &mut TransactionMut,
        lane: &str,
        target: &LaneTarget,
    ) -> bool {
        let (kind, device, param) = target.fields();
        self.set(txn, AUTOMATION, lane, "target", kind)
            && self.set(txn, AUTOMATION, lane, "device", device)
            && self.set(txn, AUTOMATION, lane, "param", param)
    }

    /// Replaces a lane's points in frames `from..to` with `points` (those
    /// outside the range are ignored). Only the chunks the range touches
    /// are rewritten.
    pub fn write_automation(
        &self,
        txn: &mut TransactionMut,
        lane: &str,
        from: u64,
        to: u64,
        points: &[Breakpoint],
    ) -> bool {
        let Some(map) = self.entity(txn, AUTOMATION, lane) else {
            return false;
        };
        let chunks = match submap(&map, txn, "chunks") {
            Some(chunks) => chunks,
            None => map.insert(txn, "chunks", MapPrelim::default()),
        };
        if to <= from {
            return true;
        }
        // The chunks the range touches that hold points now or will.
        let (first, last) = (from / AUTOMATION_CHUNK, (to - 1) / AUTOMATION_CHUNK);
        let mut touched: Vec<u64> = chunks
            .keys(txn)
            .filter_map(|k| k.parse::<u64>().ok())
            .chain(points.iter().map(|p| p.frame / AUTOMATION_CHUNK))
            .filter(|c| (first..=last).contains(c))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        for chunk in touched {
            let key = chunk.to_string();
            let range = chunk.saturating_mul(AUTOMATION_CHUNK)
                ..(chunk + 1).saturating_mul(AUTOMATION_CHUNK);
            let mut kept: Vec<Breakpoint> = decode_points(&numbers(&chunks, txn, &key))
                .into_iter()
                .filter(|p| p.frame < from || p.frame >= to)
                .collect();
            kept.extend(
                points
                    .iter()
                    .filter(|p| p.frame >= from && p.frame < to && range.contains(&p.frame)),
            );
            kept.sort_by_key(|p| p.frame);
            if kept.is_empty() {
                chunks.remove(txn, &key);
            } else {
                let flat: Vec<Any> = kept
                    .iter()
                    .flat_map(|p| [p.frame as f64, f64::from(p.value), f64::from(p.curve)])
                    .map(Any::from)
                    .collect();
                chunks.insert(txn, key, Any::from(flat));
            }
        }
        true
    }

    pub fn add_marker(&self, txn: &mut TransactionMut, frame: u64, name: &str) -> String {
        self.insert(
            txn,
            MARKERS,
            [
                ("frame", Any::from(frame as f64)),
                ("name", Any::from(name)),
            ],
        )
    }

    /// A tempo change from `beat` on (the first tempo is `meta.bpm`).
    pub fn add_tempo_change(&self, txn: &mut TransactionMut, beat: f64, bpm: f64) -> String {
        self.insert(
            txn,
            TEMPO,
            [
                ("beat", Any::from(beat.max(0.0))),
                ("bpm", Any::from(bpm.clamp(20.0, 400.0))),
            ],
        )
    }

    // ----- reading -----

    /// Tracks in display order: by order key, then id (the same on every replica).
    pub fn tracks(&self, txn: &impl ReadTxn) -> Vec<Track> {
        let mut tracks: Vec<Track> = entities(self.root(TRACKS), txn)
            .map(|(id, map)| Track {
                name: text_or_default(&map, txn, "name"),
                order: text_or_default(&map, txn, "order"),
                color: text_or_default(&map, txn, "color"),
                channels: if number_or(&map, txn, "channels", 1.0) >= 2.0 {
                    2
                } else {
                    1
                },
                strip: read_strip(&map, txn),
                id,
            })
            .collect();
        tracks.sort_by(|a, b| (&a.order, &a.id).cmp(&(&b.order, &b.id)));
        tracks
    }

    /// Clips by id (the same on every replica), unrepaired.
    pub fn clips(&self, txn: &impl ReadTxn) -> Vec<Clip> {
        let mut clips: Vec<Clip> = entities(self.root(CLIPS), txn)
            .map(|(id, map)| read_clip(&map, txn, id))
            .collect();
        clips.sort_by(|a, b| a.id.cmp(&b.id));
        clips
    }

    /// One clip as stored, unrepaired.
    pub fn clip(&self, txn: &impl ReadTxn, id: &str) -> Option<Clip> {
        self.entity(txn, CLIPS, id)
            .map(|map| read_clip(&map, txn, id.to_string()))
    }

    /// The whole project, repaired (see the module doc).
    pub fn read(&self, txn: &impl ReadTxn) -> Project {
        self.read_with_clips(txn, self.clips(txn))
    }

    /// [`read`](Self::read), with the unrepaired clips (sorted by id, as
    /// [`clips`](Self::clips) returns them) already at hand: how
    /// [`ProjectReader`](crate::reader::ProjectReader) reads again only the
    /// clips that changed.
    pub fn read_with_clips(
        &self,
        txn: &impl ReadTxn,
        raw_clips: impl IntoIterator<Item = Clip>,
    ) -> Project {
        self.read_repairing_clips(txn, |_, is_track| repair_clips(raw_clips, is_track))
    }

    /// [`read`](Self::read), with the clips and their repairs given by
    /// `clips` once the tracks are read (it gets them, and which ids are
    /// tracks).
    pub(crate) fn read_repairing_clips(
        &self,
        txn: &impl ReadTxn,
        clips: impl FnOnce(&[Track], &dyn Fn(&str) -> bool) -> RepairedClips,
    ) -> Project {
        let mut repairs = Vec::new();
        let meta_map = self.root(META);
        let meta = Meta {
            name: text_or_default(meta_map, txn, "name"),
            sample_rate: number_or(meta_map, txn, "sampleRate", 48_000.0).clamp(8_000.0, 384_000.0)
                as u32,
            bpm: number_or(meta_map, txn, "bpm", 120.0).clamp(20.0, 400.0),
            signature: TimeSignature {
                beats_per_bar: number_or(meta_map, txn, "beatsPerBar", 4.0).clamp(1.0, 32.0) as u32,
                beat_unit: number_or(meta_map, txn, "beatUnit", 4.0).clamp(1.0, 32.0) as u32,
            },
            loudness_target: match (
                number(meta_map, txn, "targetLufs"),
                number(meta_map, txn, "targetCeilingDbtp"),
            ) {
                (Some(lufs), Some(ceiling)) if lufs.is_finite() && ceiling.is_finite() => {
                    Some((lufs.clamp(-40.0, -5.0), ceiling.clamp(-12.0, 0.0)))
                }
                _ => None,
            },
        };
        let tracks = self.tracks(txn);
        let mut buses: Vec<Bus> = entities(self.root(BUSES), txn)
            .map(|(id, map)| Bus {
                name: text_or_default(&map, txn, "name"),
                order: text_or_default(&map, txn, "order"),
                strip: read_strip(&map, txn),
                solo_safe: flag(&map, txn, "soloSafe"),
                id,
            })
            .collect();
        buses.sort_by(|a, b| (&a.order, &a.id).cmp(&(&b.order, &b.id)));
        let master = read_strip(meta_map, txn);

        let track_ids: HashSet<String> = tracks.iter().map(|t| t.id.clone()).collect();
        let bus_ids: HashSet<String> = buses.iter().map(|b| b.id.clone()).collect();
        let is_track = |id: &str| track_ids.contains(id);
        let is_bus = |id: &str| bus_ids.contains(id);
        let is_strip = |id: &str| id == MASTER || is_track(id) || is_bus(id);

        let (clips, clip_repairs) = clips(&tracks, &is_track);
        repairs.extend(clip_repairs.iter().cloned());
        // Outputs to deleted buses fall back to the master.
        let mut tracks = tracks;
        for (id, strip) in tracks
            .iter_mut()
            .map(|t| (&t.id, &mut t.strip))
            .chain(buses.iter_mut().map(|b| (&b.id, &mut b.strip)))
        {
            if strip.output != MASTER && (!is_bus(&strip.output) || strip.output == *id) {
                repairs.push(Repair::DanglingOutput(id.clone()));
                strip.output = MASTER.to_string();
            }
        }

        let mut devices: Vec<Device> = Vec::new();
        for (id, map) in entities(self.root(DEVICES), txn) {
            let strip = text_or_default(&map, txn, "strip");
            let kind = kind_from_name(&text_or_default(&map, txn, "kind"));
            let (Some(kind), true) = (kind, is_strip(&strip)) else {
                repairs.push(Repair::OrphanDevice(id));
                continue;
            };
            let specs = kind.params();
            let stored = submap(&map, txn, "params");
            let params = specs
                .iter()
                .enumerate()
                .map(|(i, spec)| {
                    stored
                        .as_ref()
                        .and_then(|p| number(p, txn, &i.to_string()))
                        .map_or(spec.default, |v| spec.sanitise(v as f32).0)
                })
                .collect();
            devices.push(Device {
                order: text_or_default(&map, txn, "order"),
                bypass: flag(&map, txn, "bypass"),
                strip,
                kind,
                params,
                id,
            });
        }
        devices.sort_by(|a, b| (&a.strip, &a.order, &a.id).cmp(&(&b.strip, &b.order, &b.id)));

        let mut sends = Vec::new();
        for (id, map) in entities(self.root(SENDS), txn) {
            let from = text_or_default(&map, txn, "from");
            let bus = text_or_default(&map, txn, "bus");
            if !(is_track(&from) || is_bus(&from)) || !is_bus(&bus) || from == bus {
                repairs.push(Repair::DanglingSend(id));
                continue;
            }
            sends.push(Send {
                level_db: number_or(&map, txn, "levelDb", 0.0).clamp(-144.0, 24.0),
                pre_fader: flag(&map, txn, "preFader"),
                from,
                bus,
                id,
            });
        }
        sends.sort_by(|a, b| a.id.cmp(&b.id));

        let mut automation = Vec::new();
        for (id, map) in entities(self.root(AUTOMATION), txn) {
            let strip = text_or_default(&map, txn, "strip");
            let target = match text_or_default(&map, txn, "target").as_str() {
                "gain" => Some(LaneTarget::Gain),
                "pan" => Some(LaneTarget::Pan),
                "param" => {
                    let device = text_or_default(&map, txn, "device");
                    let param = number_or(&map, txn, "param", -1.0);
                    devices
                        .iter()
                        .find(|d| d.id == device && d.strip == strip)
                        .filter(|d| param >= 0.0 && (param as usize) < d.kind.params().len())
                        .map(|_| LaneTarget::Param {
                            device,
                            param: param as u16,
                        })
                }
                "send" => {
                    let send = text_or_default(&map, txn, "device");
                    sends
                        .iter()
                        .any(|s| s.id == send && s.from == strip)
                        .then_some(LaneTarget::Send { send })
                }
                _ => None,
            };
            let (Some(target), true) = (target, is_strip(&strip)) else {
                repairs.push(Repair::OrphanAutomation(id));
                continue;
            };
            let mut points = Vec::new();
            if let Some(chunks) = submap(&map, txn, "chunks") {
                for (key, _) in chunks.iter(txn) {
                    let Ok(chunk) = key.parse::<u64>() else {
                        continue;
                    };
                    let range = chunk.saturating_mul(AUTOMATION_CHUNK)
                        ..(chunk + 1).saturating_mul(AUTOMATION_CHUNK);
                    points.extend(
                        decode_points(&numbers(&chunks, txn, key))
                            .into_iter()
                            .filter(|p| range.contains(&p.frame)),
                    );
                }
            }
            points.sort_by_key(|p| (p.frame, p.value.to_bits()));
            automation.push(AutomationLane {
                id,
                strip,
                target,
                points,
            });
        }
        automation.sort_by(|a, b| a.id.cmp(&b.id));

        let mut markers: Vec<Marker> = entities(self.root(MARKERS), txn)
            .map(|(id, map)| Marker {
                frame: frames(&map, txn, "frame"),
                name: text_or_default(&map, txn, "name"),
                id,
            })
            .collect();
        markers.sort_by(|a, b| (a.frame, &a.id).cmp(&(b.frame, &b.id)));

        let mut tempo: Vec<(String, TempoChange)> = entities(self.root(TEMPO), txn)
            .filter_map(|(id, map)| {
                let beat = number(&map, txn, "beat")?.max(0.0);
                let bpm = number(&map, txn, "bpm")?.clamp(20.0, 400.0);
                (beat > 0.0).then_some((id, TempoChange { beat, bpm }))
            })
            .collect();
        tempo.sort_by(|a, b| a.1.beat.total_cmp(&b.1.beat).then(a.0.cmp(&b.0)));
        // Two changes on one beat: the one with the larger id wins, everywhere.
        let mut changes: Vec<TempoChange> = Vec::new();
        for (_, change) in tempo {
            match changes.last_mut() {
                Some(last) if last.beat == change.beat => *last = change,
                _ => changes.push(change),
            }
        }

        repairs.sort();
        Project {
            meta,
            tracks,
            clips,
            buses,
            master,
            devices,
            sends,
            automation,
            markers,
            tempo: changes,
            repairs,
        }
    }

    /// The render plan's description of this document: a pure function of
    /// the converged state, so every replica plays the same thing.
    /// `assets` resolves hashes to decoded audio (`None`: missing, plays
    /// silence and is reported).
    pub fn to_engine(
        &self,
        txn: &impl ReadTxn,
        sample_rate: u32,
        assets: impl Fn(&str) -> Option<Arc<AudioAsset>>,
    ) -> ProjectDesc {
        self.read(txn).to_engine(sample_rate, assets)
    }
}

fn read_clip(map: &MapRef, txn: &impl ReadTxn, id: String) -> Clip {
    let fade = |len: &str, shape: &str| Fade {
        frames: frames(map, txn, len),
        shape: shape_from_name(&text_or_default(map, txn, shape)),
    };
    Clip {
        track: text_or_default(map, txn, "track"),
        asset: text_or_default(map, txn, "asset"),
        name: text_or_default(map, txn, "name"),
        start: frames(map, txn, "start"),
        offset: frames(map, txn, "offset"),
        length: frames(map, txn, "length"),
        gain_db: number_or(map, txn, "gainDb", 0.0).clamp(-144.0, 24.0),
        fade_in: fade("fadeIn", "fadeInShape"),
        fade_out: fade("fadeOut", "fadeOutShape"),
        looped: flag(map, txn, "looped"),
        recording: text_or_default(map, txn, "recording"),
        take: crate::take::read_pass(map, txn),
        id,
    }
}

fn read_strip(map: &MapRef, txn: &impl ReadTxn) -> Strip {
    Strip {
        gain_db: number_or(map, txn, "gainDb", 0.0).clamp(-144.0, 24.0),
        pan: number_or(map, txn, "pan", 0.0).clamp(-1.0, 1.0),
        mute: flag(map, txn, "mute"),
        solo: flag(map, txn, "solo"),
        polarity_invert: flag(map, txn, "polarity"),
        output: text(map, txn, "output").unwrap_or_else(|| MASTER.to_string()),
    }
}

/// Points from a chunk's flat `[frame, value, curve, …]` array.
fn decode_points(flat: &[f64]) -> Vec<Breakpoint> {
    flat.chunks_exact(3)
        .filter(|p| p.iter().all(|v| v.is_finite()) && p[0] >= 0.0)
        .map(|p| Breakpoint {
            frame: p[0] as u64,
            value: p[1] as f32,
            curve: p[2] as f32,
        })
        .collect()
}

/// Clips as a read has them, and the repairs that left the others out.
pub(crate) type RepairedClips = (Arc<Vec<Clip>>, Arc<Vec<Repair>>);

/// Leaves out clips of tracks that do not exist and clips with nothing to
/// play; says which.
pub(crate) fn repair_clips(
    raw_clips: impl IntoIterator<Item = Clip>,
    is_track: &dyn Fn(&str) -> bool,
) -> RepairedClips {
    let mut clips = Vec::new();
    let mut repairs = Vec::new();
    for clip in raw_clips {
        if !is_track(&clip.track) {
            repairs.push(Repair::OrphanClip(clip.id));
        } else if clip.length == 0 || (clip.asset.is_empty() && clip.recording.is_empty()) {
            repairs.push(Repair::EmptyClip(clip.id));
        } else {
            clips.push(clip);
        }
    }
    (Arc::new(clips), Arc::new(repairs))
}

impl Project {
    /// The engine's description of this project at `sample_rate` (the
    /// document's positions are at its own rate; playback at another rate
    /// is resampled by the caller before it gets here).
    pub fn to_engine(
        &self,
        sample_rate: u32,
        assets: impl Fn(&str) -> Option<Arc<AudioAsset>>,
    ) -> ProjectDesc {
        self.to_engine_with(sample_rate, assets, |_| true)
    }

    /// [`Project::to_engine`] playing only the automation lanes `plays`
    /// accepts (a user's write modes: a strip in Off, a lane being written).
    pub fn to_engine_with(
        &self,
        sample_rate: u32,
        assets: impl Fn(&str) -> Option<Arc<AudioAsset>>,
        plays: impl Fn(&AutomationLane) -> bool,
    ) -> ProjectDesc {
        // Clips by track in one pass: a filter per track compared every
        // clip with every track (200 000 comparisons at 64 × 3 200 clips).
        let mut clips_of: HashMap<&str, Vec<ClipDesc>> = HashMap::with_capacity(self.tracks.len());
        // A take that is not the chosen pass of its loop is kept, not played.
        for c in self
            .clips
            .iter()
            .filter(|c| c.take.as_ref().is_none_or(|t| t.active))
        {
            clips_of
                .entry(c.track.as_str())
                .or_default()
                .push(ClipDesc {
                    asset: assets(&c.asset),
                    start: c.start,
                    offset: c.offset,
                    length: c.length,
                    gain_db: c.gain_db as f32,
                    fade_in: c.fade_in,
                    fade_out: c.fade_out,
                    looped: c.looped,
                });
        }
        self.engine_desc(sample_rate, plays, |track| {
            clips_of.remove(track).unwrap_or_default()
        })
    }

    /// [`Project::to_engine_with`] with each track's clips taken from the
    /// track of the same id in `built`, a description built from a read
    /// with the same clips and audio (see
    /// [`ProjectReader::clips_version`](crate::reader::ProjectReader::clips_version)):
    /// what a change of the mix costs, without a walk over every clip.
    pub fn to_engine_keeping_clips(
        &self,
        built: &ProjectDesc,
        plays: impl Fn(&AutomationLane) -> bool,
    ) -> ProjectDesc {
        let by_id: HashMap<u64, &TrackDesc> = built.tracks.iter().map(|t| (t.id, t)).collect();
        self.engine_desc(built.sample_rate, plays, |track| {
            by_id
                .get(&stable_id(track))
                .map(|t| t.clips.clone())
                .unwrap_or_default()
        })
    }

    /// The description with the clips `clips_of` gives for each track id.
    fn engine_desc(
        &self,
        sample_rate: u32,
        plays: impl Fn(&AutomationLane) -> bool,
        mut clips_of: impl FnMut(&str) -> Vec<ClipDesc>,
    ) -> ProjectDesc {
        let mut desc = ProjectDesc::new(sample_rate);
        let bus_index: HashMap<&str, usize> = self
            .buses
            .iter()
            .enumerate()
            .map(|(i, b)| (b.id.as_str(), i))
            .collect();
        let strip_desc = |id: &str, strip: &Strip| {
            let chain: Vec<&Device> = self.devices.iter().filter(|d| d.strip == id).collect();
            let inserts = chain
                .iter()
                .map(|d| {
                    let mut device = DeviceDesc::new(d.kind);
                    device.id = stable_id(&d.id);
                    device.bypass = d.bypass;
                    device.params = d.params.clone();
                    device
                })
                .collect();
            let sends = self
                .sends
                .iter()
                .filter(|s| s.from == id)
                .map(|s| SendDesc {
                    bus: bus_index[s.bus.as_str()],
                    level_db: s.level_db as f32,
                    pre_fader: s.pre_fader,
                })
                .collect();
            let automation = self
                .automation
                .iter()
                .filter(|l| l.strip == id && !l.points.is_empty() && plays(l))
                .filter_map(|l| {
                    let target = match &l.target {
                        LaneTarget::Gain => AutomationTarget::Gain,
                        LaneTarget::Pan => AutomationTarget::Pan,
                        LaneTarget::Param { device, param } => AutomationTarget::Device {
                            slot: chain.iter().position(|d| d.id == *device)? as u16,
                            param: *param,
                        },
                        LaneTarget::Send { send } => AutomationTarget::Send {
                            send: self
                                .sends
                                .iter()
                                .filter(|s| s.from == id)
                                .position(|s| s.id == *send)?
                                as u16,
                        },
                    };
                    Some(AutomationDesc {
                        target,
                        curve: Curve::new(l.points.clone()),
                    })
                })
                .collect();
            StripDesc {
                gain_db: strip.gain_db as f32,
                pan: strip.pan as f32,
                mute: strip.mute,
                solo: strip.solo,
                polarity_invert: strip.polarity_invert,
                inserts,
                sends,
                output: match bus_index.get(strip.output.as_str()) {
                    Some(i) => Output::Bus(*i),
                    None => Output::Master,
                },
                automation,
            }
        };
        for track in &self.tracks {
            let clips = clips_of(&track.id);
            desc.tracks.push(TrackDesc {
                id: stable_id(&track.id),
                channels: track.channels as usize,
                strip: strip_desc(&track.id, &track.strip),
                clips,
            });
        }
        for bus in &self.buses {
            desc.buses.push(BusDesc {
                id: stable_id(&bus.id),
                strip: strip_desc(&bus.id, &bus.strip),
                solo_safe: bus.solo_safe,
            });
        }
        desc.master = strip_desc(MASTER, &self.master);
        desc.master.output = Output::Master;
        desc.master.sends.clear();
        desc.tempo = self.tempo_map(sample_rate);
        desc
    }

    /// The name of strip `index` in the engine's order (tracks, then
    /// buses, as [`Project::to_engine`] lays them out): a stem's name.
    pub fn strip_name(&self, index: usize) -> &str {
        match self.tracks.get(index) {
            Some(track) => &track.name,
            None => self
                .buses
                .get(index - self.tracks.len())
                .map_or("", |bus| bus.name.as_str()),
        }
    }

    /// Where the last clip ends (frames): the song's length before tails.
    pub fn end(&self) -> u64 {
        self.clips
            .iter()
            .map(|c| c.start + c.length)
            .max()
            .unwrap_or(0)
    }

    /// Bars and beats ↔ frames at `sample_rate`: the project tempo, its
    /// changes and time signature.
    pub fn tempo_map(&self, sample_rate: u32) -> TempoMap {
        let mut changes = vec![TempoChange {
            beat: 0.0,
            bpm: self.meta.bpm,
        }];
        changes.extend(self.tempo.iter().copied());
        TempoMap::new(sample_rate, changes, self.meta.signature)
    }
}
