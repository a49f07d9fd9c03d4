//! Recorded takes in the document (issue 15): a clip recorded a moment ago
//! plays a server recording that is still being uploaded, and becomes an
//! ordinary clip of its asset when the recording is finished; loop
//! recording stacks one clip per pass, of which one plays.
//!
//! The clip of a take is written when Stop is pressed, so collaborators see
//! it at once; its audio follows when the asset exists. A pass's choice is
//! a flag on each clip of the group (the chosen one is active), written in
//! one transaction.

use yrs::{Any, Map, MapRef, ReadTxn, TransactionMut};

use crate::fields::{entities, flag, number, submap, text, text_or_default};
use crate::order;
use crate::project::{CLIPS, ProjectDoc, TRACKS};

/// A clip's place in a loop recording's stack of takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakePass {
    /// The group of takes (the takes of one track in one recording).
    pub group: String,
    /// Which time round the loop (0 the first).
    pub pass: u32,
    /// The chosen pass plays; the others are kept for choosing.
    pub active: bool,
}

pub(crate) fn read_pass(map: &MapRef, txn: &impl ReadTxn) -> Option<TakePass> {
    let group = text(map, txn, "take").filter(|g| !g.is_empty())?;
    Some(TakePass {
        group,
        pass: number(map, txn, "takePass").map_or(0, |p| p.clamp(0.0, 1e6) as u32),
        active: !flag(map, txn, "takeMuted"),
    })
}

/// A split keeps what the clip waits for and which pass it is.
pub(crate) fn copy_take_fields(
    doc: &ProjectDoc,
    txn: &mut TransactionMut,
    from: &crate::project::Clip,
    to: &str,
) {
    if !from.recording.is_empty() {
        doc.set(txn, CLIPS, to, "recording", from.recording.as_str());
    }
    if let Some(take) = &from.take {
        doc.set(txn, CLIPS, to, "take", take.group.as_str());
        doc.set(txn, CLIPS, to, "takePass", f64::from(take.pass));
        doc.set(txn, CLIPS, to, "takeMuted", !take.active);
    }
}

/// A recorded clip about to be written.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedClip<'a> {
    pub track: &'a str,
    /// The server recording the audio is uploaded as.
    pub recording: &'a str,
    pub name: &'a str,
    pub start: u64,
    /// Frames into the recording.
    pub offset: u64,
    pub length: u64,
    /// In a loop recording: the group, the pass, and whether it plays.
    pub take: Option<(&'a str, u32, bool)>,
}

impl ProjectDoc {
    /// Writes a recorded clip (its asset to come); returns its id.
    pub fn add_recorded_clip(&self, txn: &mut TransactionMut, clip: &RecordedClip) -> String {
        let id = self.insert(
            txn,
            CLIPS,
            [
                ("track", Any::from(clip.track)),
                ("asset", Any::from("")),
                ("recording", Any::from(clip.recording)),
                ("name", Any::from(clip.name)),
                ("start", Any::from(clip.start as f64)),
                ("offset", Any::from(clip.offset as f64)),
                ("length", Any::from(clip.length as f64)),
            ],
        );
        if let Some((group, pass, active)) = clip.take {
            self.set(txn, CLIPS, &id, "take", group);
            self.set(txn, CLIPS, &id, "takePass", f64::from(pass));
            self.set(txn, CLIPS, &id, "takeMuted", !active);
        }
        id
    }

    /// The recording `recording` became the asset `asset`: every clip
    /// that waited for it plays it from now on. Returns how many.
    pub fn set_recorded_asset(
        &self,
        txn: &mut TransactionMut,
        recording: &str,
        asset: &str,
    ) -> usize {
        let waiting: Vec<String> = entities(self.root(CLIPS), txn)
            .filter(|(_, m)| text(m, txn, "recording").as_deref() == Some(recording))
            .map(|(id, _)| id)
            .collect();
        for id in &waiting {
            self.set(txn, CLIPS, id, "asset", asset);
            self.set(txn, CLIPS, id, "recording", "");
        }
        waiting.len()
    }

    /// Clears `from..to` on `track` for a take recorded over it: what
    /// clips of other recordings play there is cut away (split off and
    /// removed), so the take replaces it and everything outside plays as
    /// before. Returns the clips removed or shortened.
    pub fn clear_for_take(
        &self,
        txn: &mut TransactionMut,
        track: &str,
        from: u64,
        to: u64,
        recording: &str,
    ) -> usize {
        let overlapping: Vec<_> = self
            .clips(txn)
            .into_iter()
            .filter(|c| c.track == track && c.recording != recording)
            .filter(|c| c.take.as_ref().is_none_or(|t| t.group != recording))
            .filter(|c| c.start < to && c.start + c.length > from)
            .collect();
        for clip in &overlapping {
            // The part from `from` on (the clip itself if it starts there).
            let middle = if clip.start < from {
                self.split_clip(txn, &clip.id, from)
            } else {
                Some(clip.id.clone())
            };
            if let Some(middle) = middle {
                // Whatever follows `to` stays.
                self.split_clip(txn, &middle, to);
                self.delete_clip(txn, &middle);
            }
        }
        overlapping.len()
    }

    /// Makes pass `pass` the one of its group that plays.
    pub fn choose_take(&self, txn: &mut TransactionMut, group: &str, pass: u32) -> bool {
        let members = self.takes_of(txn, group);
        for (id, p) in &members {
            self.set(txn, CLIPS, id, "takeMuted", *p != pass);
        }
        !members.is_empty()
    }

    /// Keeps every pass of a group as a clip of its own: the chosen one
    /// stays where it is, each other pass moves to a new track right below
    /// its own ("Vocal take 2"). The group is dissolved.
    pub fn keep_all_takes(&self, txn: &mut TransactionMut, group: &str) -> Vec<String> {
        let mut members: Vec<(String, u32, bool, String)> = entities(self.root(CLIPS), txn)
            .filter(|(_, m)| text(m, txn, "take").as_deref() == Some(group))
            .map(|(id, m)| {
                let pass = number(&m, txn, "takePass").unwrap_or(0.0) as u32;
                (
                    id,
                    pass,
                    !flag(&m, txn, "takeMuted"),
                    text_or_default(&m, txn, "track"),
                )
            })
            .collect();
        members.sort_by_key(|m| m.1);
        let mut tracks = Vec::new();
        let Some(track) = members.first().map(|m| m.3.clone()) else {
            return tracks;
        };
        let (name, channels, mut after) = self.track_name_and_order(txn, &track);
        let next = self.next_track_order(txn, &after);
        for (id, pass, active, _) in &members {
            if let Some(clip) = submap(self.root(CLIPS), txn, id) {
                for key in ["take", "takePass", "takeMuted"] {
                    clip.remove(txn, key);
                }
            }
            if *active {
                continue;
            }
            let order = order::between(Some(&after), next.as_deref());
            let new_track = self.insert(
                txn,
                TRACKS,
                [
                    ("name", Any::from(format!("{name} take {}", pass + 1))),
                    ("order", Any::from(order.clone())),
                    ("channels", Any::from(channels)),
                ],
            );
            self.set(txn, CLIPS, id, "track", new_track.as_str());
            after = order;
            tracks.push(new_track);
        }
        tracks
    }

    /// The clips of a take group and their passes.
    fn takes_of(&self, txn: &impl ReadTxn, group: &str) -> Vec<(String, u32)> {
        entities(self.root(CLIPS), txn)
            .filter(|(_, m)| text(m, txn, "take").as_deref() == Some(group))
            .map(|(id, m)| (id, number(&m, txn, "takePass").unwrap_or(0.0) as u32))
            .collect()
    }

    fn track_name_and_order(&self, txn: &impl ReadTxn, track: &str) -> (String, f64, String) {
        let map = submap(self.root(TRACKS), txn, track);
        map.map_or_else(
            || ("Take".to_string(), 2.0, String::new()),
            |m| {
                (
                    text_or_default(&m, txn, "name"),
                    number(&m, txn, "channels").unwrap_or(2.0),
                    text_or_default(&m, txn, "order"),
                )
            },
        )
    }

    /// The order key of the track after the one ordered `order`, if any.
    fn next_track_order(&self, txn: &impl ReadTxn, order: &str) -> Option<String> {
        entities(self.root(TRACKS), txn)
            .map(|(_, m)| text_or_default(&m, txn, "order"))
            .filter(|o| o.as_str() > order)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Doc, Transact};

    fn recorded<'a>(track: &'a str, pass: u32, active: bool) -> RecordedClip<'a> {
        RecordedClip {
            track,
            recording: "rec-1",
            name: "Take",
            start: 48_000,
            offset: 100 + u64::from(pass) * 96_000,
            length: 96_000,
            take: Some(("group", pass, active)),
        }
    }

    #[test]
    fn a_recorded_clip_waits_for_its_asset_then_plays_it() {
        let doc = ProjectDoc::new(Doc::new());
        let mut txn = doc.doc().transact_mut();
        let track = doc.add_track(&mut txn, "Vocal", 1);
        let mut clip = recorded(&track, 0, true);
        clip.take = None;
        let id = doc.add_recorded_clip(&mut txn, &clip);
        let read = doc.read(&txn);
        let c = read
            .clips
            .iter()
            .find(|c| c.id == id)
            .expect("kept while uploading");
        assert_eq!((c.asset.as_str(), c.recording.as_str()), ("", "rec-1"));
        assert!(
            read.repairs.is_empty(),
            "not repaired away: {:?}",
            read.repairs
        );
        assert_eq!(doc.set_recorded_asset(&mut txn, "rec-1", "abc"), 1);
        let c = doc.clip(&txn, &id).unwrap();
        assert_eq!((c.asset.as_str(), c.recording.as_str()), ("abc", ""));
        assert_eq!((c.offset, c.start, c.length), (100, 48_000, 96_000));
        // A clip with neither an asset nor a recording is still repaired.
        let empty = doc.add_clip(&mut txn, &track, "", 0, 10);
        assert!(doc.read(&txn).clips.iter().all(|c| c.id != empty));
    }

    #[test]
    fn a_take_replaces_what_it_is_recorded_over_and_nothing_else() {
        let doc = ProjectDoc::new(Doc::new());
        let mut txn = doc.doc().transact_mut();
        let track = doc.add_track(&mut txn, "Vocal", 1);
        let other = doc.add_track(&mut txn, "Bass", 1);
        // Spans the range, ends in it, starts in it, inside it, outside it.
        let spans = doc.add_clip(&mut txn, &track, "a", 0, 1_000);
        let ends_in = doc.add_clip(&mut txn, &track, "b", 1_000, 300);
        doc.add_clip(&mut txn, &track, "c", 350, 20);
        let starts_in = doc.add_clip(&mut txn, &track, "d", 380, 100);
        let elsewhere = doc.add_clip(&mut txn, &other, "e", 0, 1_000);
        // Only `spans` overlaps 200..400 with `c` and `d`: 1 000.. is after.
        assert_eq!(doc.clear_for_take(&mut txn, &track, 200, 400, "rec-1"), 3);
        let mut kept: Vec<(String, u64, u64, u64)> = doc
            .clips(&txn)
            .into_iter()
            .map(|c| (c.asset, c.start, c.offset, c.length))
            .collect();
        kept.sort();
        assert_eq!(
            kept,
            [
                ("a".into(), 0, 0, 200),
                ("a".into(), 400, 400, 600),
                ("b".into(), 1_000, 0, 300),
                ("d".into(), 400, 20, 80),
                ("e".into(), 0, 0, 1_000),
            ]
        );
        assert!(doc.clip(&txn, &spans).is_some() && doc.clip(&txn, &ends_in).is_some());
        assert!(
            doc.clip(&txn, &starts_in).is_none(),
            "its start was in the range"
        );
        assert!(doc.clip(&txn, &elsewhere).is_some());
    }

    #[test]
    fn one_pass_of_a_loop_plays_and_the_choice_moves() {
        let doc = ProjectDoc::new(Doc::new());
        let mut txn = doc.doc().transact_mut();
        let track = doc.add_track(&mut txn, "Vocal", 1);
        let ids: Vec<String> = (0..3)
            .map(|p| doc.add_recorded_clip(&mut txn, &recorded(&track, p, p == 2)))
            .collect();
        doc.set_recorded_asset(&mut txn, "rec-1", "abc");
        let playing = |txn: &TransactionMut| {
            let desc = doc.read(txn).to_engine(48_000, |_| None);
            desc.tracks[0]
                .clips
                .iter()
                .map(|c| c.offset)
                .collect::<Vec<_>>()
        };
        assert_eq!(playing(&txn), [100 + 2 * 96_000], "the last pass plays");
        assert!(doc.choose_take(&mut txn, "group", 0));
        assert_eq!(playing(&txn), [100], "the chosen pass plays");
        let read = doc.read(&txn);
        assert_eq!(read.clips.len(), 3, "all passes are kept");
        assert!(!doc.choose_take(&mut txn, "no such group", 0));

        // Keep them all: the others move to new tracks below the first.
        let other = doc.add_track(&mut txn, "Bass", 2);
        let new_tracks = doc.keep_all_takes(&mut txn, "group");
        assert_eq!(new_tracks.len(), 2);
        let read = doc.read(&txn);
        let names: Vec<&str> = read.tracks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Vocal", "Vocal take 2", "Vocal take 3", "Bass"]);
        assert_eq!(read.tracks[3].id, other);
        assert!(read.clips.iter().all(|c| c.take.is_none()));
        let on = |t: &str| {
            read.clips
                .iter()
                .filter(|c| c.track == t)
                .map(|c| c.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(on(&track), [ids[0].clone()]);
        assert_eq!(on(&new_tracks[0]), [ids[1].clone()]);
        assert_eq!(on(&new_tracks[1]), [ids[2].clone()]);
        let desc = read.to_engine(48_000, |_| None);
        assert_eq!(
            desc.tracks.iter().map(|t| t.clips.len()).sum::<usize>(),
            3,
            "all play"
        );
    }
}
