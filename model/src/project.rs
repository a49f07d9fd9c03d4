//! The `project` document: tracks and clips, as typed views over yrs.
//!
//! Flat maps keyed by stable ids (`tracks`, `clips`); a clip holds its
//! track's id, so moving it between tracks is one field write. Writers take
//! the caller's transaction, so an edit is one small transaction with the
//! caller's origin (per-user undo tracks that origin).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use stemroom_engine::project::{AudioAsset, ClipDesc, Fade, ProjectDesc, StripDesc, TrackDesc};
use yrs::{Any, Doc, Map, MapPrelim, MapRef, Out, ReadTxn, TransactionMut};

use crate::order;

pub const TRACKS: &str = "tracks";
pub const CLIPS: &str = "clips";

/// A track as the document holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    pub id: String,
    pub name: String,
    pub order: String,
    /// 1 or 2.
    pub channels: u32,
    pub gain_db: f64,
    pub pan: f64,
    pub mute: bool,
    pub solo: bool,
}

/// A clip as the document holds it (positions in frames at the project rate).
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub id: String,
    pub track: String,
    /// SHA-256 of the asset's bytes, hex.
    pub asset: String,
    pub start: u64,
    pub offset: u64,
    pub length: u64,
    pub gain_db: f64,
}

/// The `project` doc of one replica, with an id generator of its own.
pub struct ProjectDoc {
    doc: Doc,
    tracks: MapRef,
    clips: MapRef,
    next_id: AtomicU64,
}

fn number(map: &MapRef, txn: &impl ReadTxn, key: &str) -> Option<f64> {
    map.get(txn, key)?
        .cast::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

fn text(map: &MapRef, txn: &impl ReadTxn, key: &str) -> Option<String> {
    map.get(txn, key)?.cast::<String>().ok()
}

fn flag(map: &MapRef, txn: &impl ReadTxn, key: &str) -> bool {
    map.get(txn, key)
        .and_then(|v| v.cast::<bool>().ok())
        .unwrap_or(false)
}

fn frames(map: &MapRef, txn: &impl ReadTxn, key: &str) -> u64 {
    number(map, txn, key).map_or(0, |v| v.max(0.0) as u64)
}

impl ProjectDoc {
    pub fn new(doc: Doc) -> Self {
        let tracks = doc.get_or_insert_map(TRACKS);
        let clips = doc.get_or_insert_map(CLIPS);
        ProjectDoc {
            doc,
            tracks,
            clips,
            next_id: AtomicU64::new(0),
        }
    }

    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    pub(crate) fn tracks_ref(&self) -> &MapRef {
        &self.tracks
    }

    pub(crate) fn clips_ref(&self) -> &MapRef {
        &self.clips
    }

    /// A new id: this replica's client id and a counter, unique across
    /// replicas without coordination.
    fn new_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{:x}-{n:x}", crate::client_id(&self.doc))
    }

    /// Adds a track after the last one; returns its id.
    pub fn add_track(&self, txn: &mut TransactionMut, name: &str, channels: u32) -> String {
        let last = self.tracks(txn).last().map(|t| t.order.clone());
        let id = self.new_id();
        let fields: MapPrelim = MapPrelim::from([
            ("name", Any::from(name)),
            ("order", Any::from(order::between(last.as_deref(), None))),
            ("channels", Any::from(f64::from(channels.clamp(1, 2)))),
            ("gainDb", Any::from(0.0)),
            ("pan", Any::from(0.0)),
            ("mute", Any::from(false)),
            ("solo", Any::from(false)),
        ]);
        self.tracks.insert(txn, id.as_str(), fields);
        id
    }

    fn track_map(&self, txn: &impl ReadTxn, id: &str) -> Option<MapRef> {
        match self.tracks.get(txn, id)? {
            Out::YMap(map) => Some(map),
            _ => None,
        }
    }

    fn clip_map(&self, txn: &impl ReadTxn, id: &str) -> Option<MapRef> {
        match self.clips.get(txn, id)? {
            Out::YMap(map) => Some(map),
            _ => None,
        }
    }

    /// Sets a track's fader (dB); returns false for an unknown track.
    pub fn set_track_gain(&self, txn: &mut TransactionMut, id: &str, gain_db: f64) -> bool {
        self.set_track_field(txn, id, "gainDb", Any::from(gain_db.clamp(-144.0, 24.0)))
    }

    pub fn set_track_mute(&self, txn: &mut TransactionMut, id: &str, mute: bool) -> bool {
        self.set_track_field(txn, id, "mute", Any::from(mute))
    }

    /// Moves a track between two others (by their order keys).
    pub fn move_track(
        &self,
        txn: &mut TransactionMut,
        id: &str,
        after: Option<&str>,
        before: Option<&str>,
    ) -> bool {
        let key = order::between(after, before);
        self.set_track_field(txn, id, "order", Any::from(key))
    }

    fn set_track_field(&self, txn: &mut TransactionMut, id: &str, key: &str, value: Any) -> bool {
        match self.track_map(txn, id) {
            Some(map) => {
                map.insert(txn, key, value);
                true
            }
            None => false,
        }
    }

    /// Deletes a track. Its clips stay in the document (a collaborator may be
    /// moving one away right now) and are left out of the render plan.
    pub fn delete_track(&self, txn: &mut TransactionMut, id: &str) -> bool {
        self.tracks.remove(txn, id).is_some()
    }

    pub fn add_clip(
        &self,
        txn: &mut TransactionMut,
        track: &str,
        asset: &str,
        start: u64,
        length: u64,
    ) -> String {
        let id = self.new_id();
        let fields: MapPrelim = MapPrelim::from([
            ("track", Any::from(track)),
            ("asset", Any::from(asset)),
            ("start", Any::from(start as f64)),
            ("offset", Any::from(0.0)),
            ("length", Any::from(length as f64)),
            ("gainDb", Any::from(0.0)),
        ]);
        self.clips.insert(txn, id.as_str(), fields);
        id
    }

    /// Moves a clip to `track` at `start`: two field writes, one transaction.
    pub fn move_clip(&self, txn: &mut TransactionMut, id: &str, track: &str, start: u64) -> bool {
        match self.clip_map(txn, id) {
            Some(map) => {
                map.insert(txn, "track", Any::from(track));
                map.insert(txn, "start", Any::from(start as f64));
                true
            }
            None => false,
        }
    }

    pub fn delete_clip(&self, txn: &mut TransactionMut, id: &str) -> bool {
        self.clips.remove(txn, id).is_some()
    }

    /// Tracks in display order: by order key, then id (the same on every replica).
    pub fn tracks(&self, txn: &impl ReadTxn) -> Vec<Track> {
        let mut tracks: Vec<Track> = self
            .tracks
            .iter(txn)
            .filter_map(|(id, value)| {
                let Out::YMap(map) = value else { return None };
                Some(Track {
                    id: id.to_string(),
                    name: text(&map, txn, "name").unwrap_or_default(),
                    order: text(&map, txn, "order").unwrap_or_default(),
                    channels: number(&map, txn, "channels")
                        .map_or(1, |c| if c >= 2.0 { 2 } else { 1 }),
                    gain_db: number(&map, txn, "gainDb")
                        .unwrap_or(0.0)
                        .clamp(-144.0, 24.0),
                    pan: number(&map, txn, "pan").unwrap_or(0.0).clamp(-1.0, 1.0),
                    mute: flag(&map, txn, "mute"),
                    solo: flag(&map, txn, "solo"),
                })
            })
            .collect();
        tracks.sort_by(|a, b| (&a.order, &a.id).cmp(&(&b.order, &b.id)));
        tracks
    }

    /// Clips by id (the same on every replica).
    pub fn clips(&self, txn: &impl ReadTxn) -> Vec<Clip> {
        let mut clips: Vec<Clip> = self
            .clips
            .iter(txn)
            .filter_map(|(id, value)| {
                let Out::YMap(map) = value else { return None };
                Some(Clip {
                    id: id.to_string(),
                    track: text(&map, txn, "track").unwrap_or_default(),
                    asset: text(&map, txn, "asset").unwrap_or_default(),
                    start: frames(&map, txn, "start"),
                    offset: frames(&map, txn, "offset"),
                    length: frames(&map, txn, "length"),
                    gain_db: number(&map, txn, "gainDb").unwrap_or(0.0),
                })
            })
            .collect();
        clips.sort_by(|a, b| a.id.cmp(&b.id));
        clips
    }

    /// The render plan's description of this document: a pure function of
    /// the converged state, so every replica plays the same thing. Clips on
    /// tracks that no longer exist are left out (a concurrent delete and
    /// move, repaired the same way everywhere); `assets` resolves hashes to
    /// decoded audio (`None`: missing, plays silence and is reported).
    pub fn to_engine(
        &self,
        txn: &impl ReadTxn,
        sample_rate: u32,
        assets: impl Fn(&str) -> Option<Arc<AudioAsset>>,
    ) -> ProjectDesc {
        let mut desc = ProjectDesc::new(sample_rate);
        let clips = self.clips(txn);
        for track in self.tracks(txn) {
            let clips = clips
                .iter()
                .filter(|c| c.track == track.id)
                .map(|c| ClipDesc {
                    asset: assets(&c.asset),
                    start: c.start,
                    offset: c.offset,
                    length: c.length,
                    gain_db: c.gain_db as f32,
                    fade_in: Fade::NONE,
                    fade_out: Fade::NONE,
                    looped: false,
                })
                .collect();
            desc.tracks.push(TrackDesc {
                channels: track.channels as usize,
                strip: StripDesc {
                    gain_db: track.gain_db as f32,
                    pan: track.pan as f32,
                    mute: track.mute,
                    solo: track.solo,
                    ..StripDesc::default()
                },
                clips,
            });
        }
        desc
    }
}
