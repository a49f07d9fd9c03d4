//! The `review` document: comments anchored to a time range of the song,
//! threads of replies, resolution, and named versions.
//!
//! A separate document from `project` so the server can let a commenter
//! write here and nowhere else. Comments and replies live in one flat map
//! (a reply names its parent), so a reply and a concurrent edit of the
//! thread's text both land.

use yrs::{Any, Doc, Map, MapPrelim, MapRef, Out, ReadTxn, TransactionMut};

use crate::fields::{entities, flag, frames, number, number_or, submap, text, text_or_default};

pub const COMMENTS: &str = "comments";
pub const VERSIONS: &str = "versions";

#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub id: String,
    /// Timeline range in frames (replies carry their thread's).
    pub start: u64,
    pub end: u64,
    /// The track it is about, if any.
    pub track: Option<String>,
    pub author: String,
    pub text: String,
    /// Milliseconds since the Unix epoch, by the author's clock.
    pub created: f64,
    pub resolved: bool,
    /// The comment this one answers.
    pub parent: Option<String>,
}

/// A comment and its replies in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Thread {
    pub comment: Comment,
    pub replies: Vec<Comment>,
}

/// A named state of the `project` document, kept to compare or go back to.
#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    pub id: String,
    pub name: String,
    pub author: String,
    pub created: f64,
    /// Its mix measured by a full offline render, once someone has.
    pub loudness: Option<VersionLoudness>,
}

/// What a full offline render of a version measured: what the A/B
/// matches on, and what the versions list shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VersionLoudness {
    /// Integrated loudness, LUFS (ITU-R BS.1770); -inf for silence.
    pub integrated_lufs: f64,
    /// True peak, dBTP.
    pub true_peak_dbtp: f64,
}

/// Characters a version name keeps; longer names are cut.
pub const MAX_VERSION_NAME: usize = 120;

pub struct ReviewDoc {
    doc: Doc,
    comments: MapRef,
    versions: MapRef,
    next_id: std::sync::atomic::AtomicU64,
}

impl ReviewDoc {
    pub fn new(doc: Doc) -> Self {
        let comments = doc.get_or_insert_map(COMMENTS);
        let versions = doc.get_or_insert_map(VERSIONS);
        ReviewDoc {
            doc,
            comments,
            versions,
            next_id: Default::default(),
        }
    }

    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    fn new_id(&self) -> String {
        let n = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{:x}-{n:x}", crate::client_id(&self.doc))
    }

    /// Comments on `start..end` (frames), optionally about one track.
    #[allow(clippy::too_many_arguments)]
    pub fn add_comment(
        &self,
        txn: &mut TransactionMut,
        start: u64,
        end: u64,
        track: Option<&str>,
        author: &str,
        body: &str,
        now_ms: f64,
    ) -> String {
        let id = self.new_id();
        let (start, end) = (start.min(end), start.max(end));
        let fields = MapPrelim::from([
            ("start", Any::from(start as f64)),
            ("end", Any::from(end as f64)),
            ("track", Any::from(track.unwrap_or(""))),
            ("author", Any::from(author)),
            ("text", Any::from(body)),
            ("created", Any::from(now_ms)),
            ("resolved", Any::from(false)),
            ("parent", Any::from("")),
        ]);
        self.comments.insert(txn, id.as_str(), fields);
        id
    }

    /// Replies to the thread of `parent`; `None` when it does not exist.
    pub fn reply(
        &self,
        txn: &mut TransactionMut,
        parent: &str,
        author: &str,
        body: &str,
        now_ms: f64,
    ) -> Option<String> {
        let parent_map = submap(&self.comments, txn, parent)?;
        // Replies attach to the thread's first comment.
        let root = text(&parent_map, txn, "parent")
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| parent.to_string());
        let id = self.new_id();
        let fields = MapPrelim::from([
            ("author", Any::from(author)),
            ("text", Any::from(body)),
            ("created", Any::from(now_ms)),
            ("parent", Any::from(root)),
        ]);
        self.comments.insert(txn, id.as_str(), fields);
        Some(id)
    }

    pub fn set_resolved(&self, txn: &mut TransactionMut, id: &str, resolved: bool) -> bool {
        self.set(txn, id, "resolved", Any::from(resolved))
    }

    pub fn edit_text(&self, txn: &mut TransactionMut, id: &str, body: &str) -> bool {
        self.set(txn, id, "text", Any::from(body))
    }

    /// Deletes a comment; a deleted thread's replies are no longer shown.
    pub fn delete_comment(&self, txn: &mut TransactionMut, id: &str) -> bool {
        self.comments.remove(txn, id).is_some()
    }

    fn set(&self, txn: &mut TransactionMut, id: &str, key: &str, value: Any) -> bool {
        match submap(&self.comments, txn, id) {
            Some(map) => {
                map.insert(txn, key, value);
                true
            }
            None => false,
        }
    }

    fn comment(id: String, map: &MapRef, txn: &impl ReadTxn) -> Comment {
        let track = text_or_default(map, txn, "track");
        let parent = text_or_default(map, txn, "parent");
        Comment {
            start: frames(map, txn, "start"),
            end: frames(map, txn, "end"),
            track: (!track.is_empty()).then_some(track),
            author: text_or_default(map, txn, "author"),
            text: text_or_default(map, txn, "text"),
            created: number_or(map, txn, "created", 0.0),
            resolved: flag(map, txn, "resolved"),
            parent: (!parent.is_empty()).then_some(parent),
            id,
        }
    }

    /// Threads by position, then creation; replies by creation. Replies to
    /// a deleted comment are left out (on every replica alike).
    pub fn threads(&self, txn: &impl ReadTxn) -> Vec<Thread> {
        let all: Vec<Comment> = entities(&self.comments, txn)
            .map(|(id, map)| Self::comment(id, &map, txn))
            .collect();
        let mut threads: Vec<Thread> = all
            .iter()
            .filter(|c| c.parent.is_none())
            .map(|c| Thread {
                comment: c.clone(),
                replies: Vec::new(),
            })
            .collect();
        threads.sort_by(|a, b| {
            (a.comment.start, a.comment.created.to_bits(), &a.comment.id).cmp(&(
                b.comment.start,
                b.comment.created.to_bits(),
                &b.comment.id,
            ))
        });
        for reply in all.into_iter().filter(|c| c.parent.is_some()) {
            let parent = reply.parent.as_deref();
            if let Some(thread) = threads
                .iter_mut()
                .find(|t| Some(t.comment.id.as_str()) == parent)
            {
                let mut reply = reply;
                reply.start = thread.comment.start;
                reply.end = thread.comment.end;
                thread.replies.push(reply);
            }
        }
        for thread in &mut threads {
            thread
                .replies
                .sort_by(|a, b| (a.created.to_bits(), &a.id).cmp(&(b.created.to_bits(), &b.id)));
        }
        threads
    }

    /// Saves `project_state` (the `project` document encoded as an update)
    /// under a name.
    pub fn save_version(
        &self,
        txn: &mut TransactionMut,
        name: &str,
        author: &str,
        now_ms: f64,
        project_state: &[u8],
    ) -> String {
        let id = self.new_id();
        let name: String = name.trim().chars().take(MAX_VERSION_NAME).collect();
        let fields = MapPrelim::from([
            ("name", Any::from(name)),
            ("author", Any::from(author)),
            ("created", Any::from(now_ms)),
            ("state", Any::from(project_state.to_vec())),
        ]);
        self.versions.insert(txn, id.as_str(), fields);
        id
    }

    /// Versions, oldest first.
    pub fn versions(&self, txn: &impl ReadTxn) -> Vec<Version> {
        let mut versions: Vec<Version> = entities(&self.versions, txn)
            .map(|(id, map)| Version {
                name: text_or_default(&map, txn, "name"),
                author: text_or_default(&map, txn, "author"),
                created: number_or(&map, txn, "created", 0.0),
                loudness: match (
                    number(&map, txn, "integratedLufs"),
                    number(&map, txn, "truePeakDbtp"),
                ) {
                    (Some(integrated_lufs), Some(true_peak_dbtp)) => Some(VersionLoudness {
                        integrated_lufs,
                        true_peak_dbtp,
                    }),
                    _ => None,
                },
                id,
            })
            .collect();
        versions.sort_by(|a, b| (a.created.to_bits(), &a.id).cmp(&(b.created.to_bits(), &b.id)));
        versions
    }

    /// Records what an offline render of version `id` measured; false when
    /// there is no such version. Silence is stored as -1000 LUFS (JSON has
    /// no infinity).
    pub fn set_version_loudness(
        &self,
        txn: &mut TransactionMut,
        id: &str,
        loudness: VersionLoudness,
    ) -> bool {
        let Some(map) = submap(&self.versions, txn, id) else {
            return false;
        };
        let finite = |v: f64| if v.is_finite() { v } else { -1000.0 };
        map.insert(txn, "integratedLufs", finite(loudness.integrated_lufs));
        map.insert(txn, "truePeakDbtp", finite(loudness.true_peak_dbtp));
        true
    }

    /// The saved `project` state of a version.
    pub fn version_state(&self, txn: &impl ReadTxn, id: &str) -> Option<Vec<u8>> {
        let map = submap(&self.versions, txn, id)?;
        match map.get(txn, "state")? {
            Out::Any(Any::Buffer(bytes)) => Some(bytes.to_vec()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::Transact;

    #[test]
    fn a_version_keeps_a_capped_name_and_its_measured_loudness() {
        let review = ReviewDoc::new(Doc::new());
        let long = "x".repeat(MAX_VERSION_NAME + 50);
        let id = {
            let mut txn = review.doc().transact_mut();
            review.save_version(&mut txn, &long, "Ana", 1.0, &[1, 2, 3])
        };
        let txn = review.doc().transact();
        let saved = &review.versions(&txn)[0];
        assert_eq!(saved.name.chars().count(), MAX_VERSION_NAME);
        assert_eq!(saved.loudness, None, "not measured yet");
        assert_eq!(
            review.version_state(&txn, &id).as_deref(),
            Some(&[1u8, 2, 3][..])
        );
        drop(txn);
        let mut txn = review.doc().transact_mut();
        let measured = VersionLoudness {
            integrated_lufs: -14.2,
            true_peak_dbtp: -1.1,
        };
        assert!(review.set_version_loudness(&mut txn, &id, measured));
        assert!(!review.set_version_loudness(&mut txn, "nope", measured));
        drop(txn);
        let txn = review.doc().transact();
        assert_eq!(review.versions(&txn)[0].loudness, Some(measured));
        drop(txn);
        let mut txn = review.doc().transact_mut();
        let silent = VersionLoudness {
            integrated_lufs: f64::NEG_INFINITY,
            true_peak_dbtp: f64::NEG_INFINITY,
        };
        review.set_version_loudness(&mut txn, &id, silent);
        drop(txn);
        let txn = review.doc().transact();
        assert_eq!(
            review.versions(&txn)[0].loudness.map(|l| l.integrated_lufs),
            Some(-1000.0)
        );
    }
}
