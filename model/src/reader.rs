//! Reading one project again and again, as a UI does after every change.
//!
//! [`ProjectDoc::read`] reads every field of every entity: at 3 200 clips
//! that is ~40 000 map look-ups, ~10 ms in wasm, on every pointer move of a
//! drag. Clips are most of any song and a change touches few of them, so a
//! [`ProjectReader`] keeps the clips as last read and reads again only those
//! that transactions touched since (a deep observer on the `clips` root
//! names them). When none was touched and the tracks are the same, the
//! repaired clip list of the last read is shared, not rebuilt: a change of
//! the mix costs no walk over the clips. Tracks, buses, devices and the
//! rest are read whole each time, so the result is exactly
//! [`ProjectDoc::read`]'s (tested on random edits, remote updates and undo).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use yrs::types::{Event, PathSegment};
use yrs::{DeepObservable, MapRef, ReadTxn};

use crate::project::{CLIPS, Clip, Project, ProjectDoc, RepairedClips, repair_clips};

/// Which clips to read again.
#[derive(Debug, Default)]
enum Touched {
    /// Every clip: nothing has been read yet, or a change could not be
    /// pinned to clips.
    #[default]
    All,
    Ids(HashSet<String>),
}

impl Touched {
    fn add(&mut self, id: &str) {
        if let Touched::Ids(ids) = self {
            ids.insert(id.to_string());
        }
    }
}

/// Keeps a project's clips between reads. Main thread (the app's UI); one
/// per open document.
pub struct ProjectReader {
    clips_root: MapRef,
    observer: String,
    /// Clips as last read, by id (the order [`ProjectDoc::clips`] has).
    clips: BTreeMap<String, Clip>,
    /// Written by the observer at every commit, taken by [`Self::read`].
    touched: Arc<Mutex<Touched>>,
    /// Counts the reads whose clips differ from the read before: a clip
    /// was touched, or the tracks changed (clips of a deleted track are
    /// left out of a read, and come back with it).
    clips_version: u64,
    /// The track ids of the last read, in its order.
    track_ids: Vec<String>,
    /// The clips of the last read, repaired: kept (not cloned) while the
    /// version holds.
    repaired: Option<RepairedClips>,
}

impl ProjectReader {
    pub fn new(doc: &ProjectDoc) -> Self {
        // Observers are keyed: each reader needs a key of its own.
        static READERS: AtomicU64 = AtomicU64::new(0);
        let observer = format!(
            "stemroom.reader.{}",
            READERS.fetch_add(1, Ordering::Relaxed)
        );
        let clips_root = doc.root(CLIPS).clone();
        let touched = Arc::new(Mutex::new(Touched::All));
        let sink = touched.clone();
        clips_root.observe_deep(observer.as_str(), move |txn, events| {
            let mut touched = sink.lock().unwrap_or_else(PoisonError::into_inner);
            for event in events.iter() {
                match (event.path().front(), event) {
                    // A field of one clip (its map sits at `clips[id]`).
                    (Some(PathSegment::Key(id)), _) => touched.add(id),
                    // Clips added, replaced or removed.
                    (None, Event::Map(map)) => {
                        for id in map.keys(txn).keys() {
                            touched.add(id);
                        }
                    }
                    _ => *touched = Touched::All,
                }
            }
        });
        ProjectReader {
            clips_root,
            observer,
            clips: BTreeMap::new(),
            touched,
            clips_version: 0,
            track_ids: Vec::new(),
            repaired: None,
        }
    }

    /// The project as [`ProjectDoc::read`] reads it from `txn`, reading
    /// only the clips touched since the last call.
    pub fn read(&mut self, doc: &ProjectDoc, txn: &impl ReadTxn) -> Project {
        let touched = std::mem::replace(
            &mut *self.touched.lock().unwrap_or_else(PoisonError::into_inner),
            Touched::Ids(HashSet::new()),
        );
        let touched_any = !matches!(&touched, Touched::Ids(ids) if ids.is_empty());
        match touched {
            Touched::All => {
                self.clips = doc
                    .clips(txn)
                    .into_iter()
                    .map(|c| (c.id.clone(), c))
                    .collect();
            }
            Touched::Ids(ids) => {
                for id in ids {
                    match doc.clip(txn, &id) {
                        Some(clip) => self.clips.insert(id, clip),
                        None => self.clips.remove(&id),
                    };
                }
            }
        }
        doc.read_repairing_clips(txn, |tracks, is_track| {
            let same_tracks = tracks.iter().map(|t| &t.id).eq(self.track_ids.iter());
            if let (false, true, Some(kept)) = (touched_any, same_tracks, &self.repaired) {
                return kept.clone();
            }
            self.clips_version += 1;
            if !same_tracks {
                self.track_ids = tracks.iter().map(|t| t.id.clone()).collect();
            }
            let repaired = repair_clips(self.clips.values().cloned(), is_track);
            self.repaired = Some(repaired.clone());
            repaired
        })
    }
}

impl ProjectReader {
    /// Changes whenever a [`read`](Self::read) found some clip added,
    /// changed or removed since the one before: equal versions, equal
    /// clips (what lets the engine keep its clip descriptions).
    pub fn clips_version(&self) -> u64 {
        self.clips_version
    }
}

impl Drop for ProjectReader {
    fn drop(&mut self) {
        self.clips_root.unobserve_deep(self.observer.as_str());
    }
}
