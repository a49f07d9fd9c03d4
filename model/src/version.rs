//! Versions of the `project` document: restoring one, and saying what
//! changed since.
//!
//! A version is the whole `project` document encoded as an update
//! ([`crate::review::ReviewDoc::save_version`]). Restoring does not replace
//! the document (collaborators hold it, and undo must bring the later state
//! back): it edits the live document until every root equals the version's,
//! in the caller's one transaction, so it is one undo step that everyone
//! receives as an ordinary edit. Fields already equal are left alone, so a
//! restore touches only what differs.

use std::collections::HashMap;

use yrs::updates::decoder::Decode;
use yrs::{Doc, Map, MapPrelim, MapRef, Out, ReadTxn, Transact, TransactionMut, Update};

use crate::project::{Project, ProjectDoc, ROOTS};
use crate::reader::ProjectReader;

/// A saved state that cannot be read back.
#[derive(Debug)]
pub struct CorruptVersion(String);

impl std::fmt::Display for CorruptVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the saved version cannot be read: {}", self.0)
    }
}

impl std::error::Error for CorruptVersion {}

/// The document a version's state describes, on its own.
pub fn version_doc(state: &[u8]) -> Result<ProjectDoc, CorruptVersion> {
    let update = Update::decode_v1(state).map_err(|e| CorruptVersion(e.to_string()))?;
    let doc = Doc::new();
    doc.transact_mut()
        .apply_update(update)
        .map_err(|e| CorruptVersion(e.to_string()))?;
    Ok(ProjectDoc::new(doc))
}

/// The project a version's state describes, read (and repaired) as the
/// live document would be.
pub fn read_version(state: &[u8]) -> Result<Project, CorruptVersion> {
    let doc = version_doc(state)?;
    let txn = doc.doc().transact();
    Ok(ProjectReader::new(&doc).read(&doc, &txn))
}

/// Edits `live` (in `txn`) until it equals the version's document. Returns
/// how many fields it wrote or removed (0: already equal).
pub fn restore(
    live: &ProjectDoc,
    txn: &mut TransactionMut,
    state: &[u8],
) -> Result<usize, CorruptVersion> {
    let saved = version_doc(state)?;
    let saved_txn = saved.doc().transact();
    let mut written = 0;
    for root in ROOTS {
        written += make_equal(txn, live.root(root), &saved_txn, saved.root(root));
    }
    Ok(written)
}

/// Makes map `live` hold what `saved` holds, recursing into nested maps
/// (the project document is maps of maps of plain values).
fn make_equal(
    txn: &mut TransactionMut,
    live: &MapRef,
    saved_txn: &impl ReadTxn,
    saved: &MapRef,
) -> usize {
    let mut written = 0;
    let wanted: HashMap<String, Out> = saved
        .iter(saved_txn)
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let gone: Vec<String> = live
        .keys(txn)
        .filter(|k| !wanted.contains_key(*k))
        .map(str::to_string)
        .collect();
    for key in gone {
        live.remove(txn, &key);
        written += 1;
    }
    for (key, value) in wanted {
        match (live.get(txn, &key), value) {
            (Some(Out::YMap(inner)), Out::YMap(saved_inner)) => {
                written += make_equal(txn, &inner, saved_txn, &saved_inner);
            }
            (_, Out::YMap(saved_inner)) => {
                let inner = live.insert(txn, key.as_str(), MapPrelim::default());
                written += 1 + make_equal(txn, &inner, saved_txn, &saved_inner);
            }
            (Some(Out::Any(now)), Out::Any(then)) if now == then => {}
            (_, Out::Any(then)) => {
                live.insert(txn, key.as_str(), then);
                written += 1;
            }
            // The schema holds no other kinds; a foreign one is left alone.
            _ => {}
        }
    }
    written
}

/// One difference between two states of the project, as a person reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// What it is about: a track, bus or clip name, or "Song".
    pub subject: String,
    /// What differs, from the first state to the second.
    pub change: String,
}

/// What differs between `from` and `to`: tracks, buses, clips, devices,
/// sends, automation, markers and tempo, by id (a rename is a change of
/// the same track, not a removal and an addition).
pub fn differences(from: &Project, to: &Project) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut say = |subject: &str, change: String| {
        out.push(Difference {
            subject: subject.to_string(),
            change,
        })
    };
    let strip_name = |p: &Project, id: &str| -> String {
        if id == crate::project::MASTER {
            return "Master".into();
        }
        p.tracks
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
            .or_else(|| p.buses.iter().find(|b| b.id == id).map(|b| b.name.clone()))
            .unwrap_or_else(|| id.to_string())
    };
    let rate = f64::from(to.meta.sample_rate.max(1));
    let time = |frames: u64| {
        let s = frames as f64 / rate;
        format!("{}:{:04.1}", (s / 60.0).floor() as u64, s % 60.0)
    };

    if from.meta.bpm != to.meta.bpm {
        say(
            "Song",
            format!("tempo {} → {} BPM", from.meta.bpm, to.meta.bpm),
        );
    }
    if from.tempo != to.tempo {
        say("Song", "tempo changes edited".into());
    }
    if from.markers != to.markers {
        say("Song", "markers edited".into());
    }

    // Tracks and their strips.
    for t in &to.tracks {
        match from.tracks.iter().find(|f| f.id == t.id) {
            None => say(&t.name, "track added".into()),
            Some(f) => {
                if f.name != t.name {
                    say(&t.name, format!("renamed from “{}”", f.name));
                }
                strip_changes(&t.name, &f.strip, &t.strip, &mut say);
            }
        }
    }
    for f in &from.tracks {
        if !to.tracks.iter().any(|t| t.id == f.id) {
            say(&f.name, "track removed".into());
        }
    }
    for b in &to.buses {
        match from.buses.iter().find(|f| f.id == b.id) {
            None => say(&b.name, "bus added".into()),
            Some(f) => {
                if f.name != b.name {
                    say(&b.name, format!("renamed from “{}”", f.name));
                }
                strip_changes(&b.name, &f.strip, &b.strip, &mut say);
            }
        }
    }
    for f in &from.buses {
        if !to.buses.iter().any(|b| b.id == f.id) {
            say(&f.name, "bus removed".into());
        }
    }
    strip_changes("Master", &from.master, &to.master, &mut say);

    // Clips.
    for c in to.clips.iter() {
        let track = strip_name(to, &c.track);
        let name = if c.name.is_empty() { "clip" } else { &c.name };
        match from.clips.iter().find(|f| f.id == c.id) {
            None => say(&track, format!("clip “{name}” added at {}", time(c.start))),
            Some(f) => {
                if f.track != c.track {
                    say(
                        &track,
                        format!("clip “{name}” moved from {}", strip_name(from, &f.track)),
                    );
                }
                if f.start != c.start {
                    say(
                        &track,
                        format!("clip “{name}” moved {} → {}", time(f.start), time(c.start)),
                    );
                }
                if f.offset != c.offset || f.length != c.length {
                    say(&track, format!("clip “{name}” trimmed"));
                }
                if f.gain_db != c.gain_db {
                    say(
                        &track,
                        format!(
                            "clip “{name}” gain {:+.1} → {:+.1} dB",
                            f.gain_db, c.gain_db
                        ),
                    );
                }
                if f.fade_in != c.fade_in || f.fade_out != c.fade_out {
                    say(&track, format!("clip “{name}” fades edited"));
                }
                if f.looped != c.looped {
                    say(&track, format!("clip “{name}” loop {}", on_off(c.looped)));
                }
            }
        }
    }
    for f in from.clips.iter() {
        if !to.clips.iter().any(|c| c.id == f.id) {
            let name = if f.name.is_empty() { "clip" } else { &f.name };
            say(
                &strip_name(from, &f.track),
                format!("clip “{name}” at {} removed", time(f.start)),
            );
        }
    }

    // Devices, sends, automation.
    for d in &to.devices {
        let strip = strip_name(to, &d.strip);
        let kind = crate::project::kind_name(d.kind);
        match from.devices.iter().find(|f| f.id == d.id) {
            None => say(&strip, format!("{kind} added")),
            Some(f) => {
                if f.bypass != d.bypass {
                    say(&strip, format!("{kind} bypass {}", on_off(d.bypass)));
                }
                if f.order != d.order {
                    say(&strip, format!("{kind} moved in the chain"));
                }
                let specs = d.kind.params();
                for (i, (a, b)) in f.params.iter().zip(&d.params).enumerate() {
                    if a != b {
                        let (name, unit) =
                            specs.get(i).map_or(("parameter", ""), |s| (s.name, s.unit));
                        say(
                            &strip,
                            format!("{kind} {name} {a} → {b} {unit}")
                                .trim_end()
                                .to_string(),
                        );
                    }
                }
            }
        }
    }
    for f in &from.devices {
        if !to.devices.iter().any(|d| d.id == f.id) {
            say(
                &strip_name(from, &f.strip),
                format!("{} removed", crate::project::kind_name(f.kind)),
            );
        }
    }
    for s in &to.sends {
        let strip = strip_name(to, &s.from);
        let bus = strip_name(to, &s.bus);
        match from.sends.iter().find(|f| f.id == s.id) {
            None => say(&strip, format!("send to {bus} added")),
            Some(f) => {
                if f.level_db != s.level_db {
                    say(
                        &strip,
                        format!("send to {bus} {:+.1} → {:+.1} dB", f.level_db, s.level_db),
                    );
                }
                if f.pre_fader != s.pre_fader {
                    say(
                        &strip,
                        format!("send to {bus} pre-fader {}", on_off(s.pre_fader)),
                    );
                }
            }
        }
    }
    for f in &from.sends {
        if !to.sends.iter().any(|s| s.id == f.id) {
            say(
                &strip_name(from, &f.from),
                format!("send to {} removed", strip_name(from, &f.bus)),
            );
        }
    }
    for l in &to.automation {
        let strip = strip_name(to, &l.strip);
        match from.automation.iter().find(|f| f.id == l.id) {
            None => say(&strip, format!("automation of {:?} added", l.target)),
            Some(f) if f != l => say(&strip, format!("automation of {:?} edited", l.target)),
            Some(_) => {}
        }
    }
    for f in &from.automation {
        if !to.automation.iter().any(|l| l.id == f.id) {
            say(
                &strip_name(from, &f.strip),
                format!("automation of {:?} removed", f.target),
            );
        }
    }
    out
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn strip_changes(
    name: &str,
    from: &crate::project::Strip,
    to: &crate::project::Strip,
    say: &mut impl FnMut(&str, String),
) {
    if from.gain_db != to.gain_db {
        say(
            name,
            format!("fader {:+.1} → {:+.1} dB", from.gain_db, to.gain_db),
        );
    }
    if from.pan != to.pan {
        say(name, format!("pan {:+.2} → {:+.2}", from.pan, to.pan));
    }
    if from.mute != to.mute {
        say(name, format!("mute {}", on_off(to.mute)));
    }
    if from.solo != to.solo {
        say(name, format!("solo {}", on_off(to.solo)));
    }
    if from.polarity_invert != to.polarity_invert {
        say(
            name,
            format!("polarity invert {}", on_off(to.polarity_invert)),
        );
    }
    if from.output != to.output {
        say(name, "output changed".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::undo::{LOCAL, LocalUndo};
    use std::sync::Arc;
    use yrs::StateVector;

    fn state(doc: &ProjectDoc) -> Vec<u8> {
        doc.doc()
            .transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    fn read(doc: &ProjectDoc) -> Project {
        let txn = doc.doc().transact();
        ProjectReader::new(doc).read(doc, &txn)
    }

    /// Every root as plain values (maps compare regardless of order).
    fn json(doc: &ProjectDoc) -> Vec<yrs::Any> {
        use yrs::types::ToJson;
        let txn = doc.doc().transact();
        ROOTS.iter().map(|r| doc.root(r).to_json(&txn)).collect()
    }

    /// A song of two tracks with clips, a device and a send; returns the
    /// document and the ids (track a, track b, clip on a, device on b).
    fn song() -> (ProjectDoc, [String; 4]) {
        let doc = ProjectDoc::new(crate::new_project_doc("Song"));
        let mut txn = doc.doc().transact_mut_with(LOCAL);
        let a = doc.add_track(&mut txn, "Bass", 2);
        let b = doc.add_track(&mut txn, "Keys", 2);
        let clip = doc.add_clip(&mut txn, &a, "aa", 48_000, 96_000);
        doc.add_clip(&mut txn, &b, "bb", 0, 96_000);
        let device = doc.add_device(&mut txn, &b, stemroom_engine::device::DeviceKind::Eq);
        drop(txn);
        (doc, [a, b, clip, device])
    }

    #[test]
    fn restore_makes_the_document_equal_the_version_and_undoes_as_one_step() {
        let (doc, [a, b, clip, device]) = song();
        let saved = state(&doc);
        let before = json(&doc);
        let clock: Arc<dyn yrs::sync::Clock> = Arc::new(|| 0);
        let mut undo = LocalUndo::new(&doc, clock, 0);
        // Later work: a fader, a moved clip, a removed device, a new track.
        {
            let mut txn = doc.doc().transact_mut_with(LOCAL);
            doc.set_track_gain(&mut txn, &a, -6.0);
            doc.move_clip(&mut txn, &clip, &a, 96_000);
            doc.delete(&mut txn, crate::project::DEVICES, &device);
            doc.add_track(&mut txn, "Vocal", 1);
            doc.set(&mut txn, "tracks", &b, "name", "Piano");
        }
        undo.new_step();
        let later = json(&doc);
        assert_ne!(later, before);
        let written = {
            let mut txn = doc.doc().transact_mut_with(LOCAL);
            restore(&doc, &mut txn, &saved).unwrap()
        };
        assert!(written >= 5, "{written}");
        assert_eq!(json(&doc), before, "the document equals the version");
        assert_eq!(read(&doc), read_version(&saved).unwrap());
        // Restoring again writes nothing.
        let mut txn = doc.doc().transact_mut_with(LOCAL);
        assert_eq!(restore(&doc, &mut txn, &saved).unwrap(), 0);
        drop(txn);
        // One undo brings back the later state, one redo the version.
        undo.new_step();
        assert!(undo.undo());
        assert_eq!(json(&doc), later);
        assert!(undo.redo());
        assert_eq!(json(&doc), before);
    }

    #[test]
    fn a_restore_reaches_a_collaborator_as_an_ordinary_update() {
        let (doc, [a, ..]) = song();
        let saved = state(&doc);
        doc.set_track_mute(&mut doc.doc().transact_mut_with(LOCAL), &a, true);
        let replica = version_doc(&state(&doc)).unwrap();
        let sv = replica.doc().transact().state_vector();
        restore(&doc, &mut doc.doc().transact_mut_with(LOCAL), &saved).unwrap();
        let diff = doc.doc().transact().encode_state_as_update_v1(&sv);
        replica
            .doc()
            .transact_mut()
            .apply_update(Update::decode_v1(&diff).unwrap())
            .unwrap();
        assert_eq!(json(&replica), json(&doc));
        assert!(!read(&replica).tracks[0].strip.mute);
    }

    #[test]
    fn a_corrupt_version_is_an_error_and_changes_nothing() {
        let (doc, _) = song();
        let before = json(&doc);
        let mut txn = doc.doc().transact_mut_with(LOCAL);
        assert!(restore(&doc, &mut txn, &[0xff, 0x01, 0x02]).is_err());
        drop(txn);
        assert_eq!(json(&doc), before);
    }

    #[test]
    fn differences_name_what_changed_and_nothing_else() {
        let (doc, [a, b, clip, device]) = song();
        let then = read(&doc);
        assert_eq!(differences(&then, &then), vec![]);
        {
            let mut txn = doc.doc().transact_mut_with(LOCAL);
            doc.set_track_gain(&mut txn, &a, -3.0);
            doc.move_clip(&mut txn, &clip, &a, 96_000);
            doc.set_param(&mut txn, &device, 1, 2_500.0);
            doc.set(&mut txn, "tracks", &b, "name", "Piano");
            doc.add_track(&mut txn, "Vocal", 1);
        }
        let now = read(&doc);
        let spec = stemroom_engine::device::DeviceKind::Eq.params()[1];
        assert_ne!(then.devices[0].params[1], now.devices[0].params[1]);
        let said: Vec<String> = differences(&then, &now)
            .into_iter()
            .map(|d| format!("{}: {}", d.subject, d.change))
            .collect();
        assert_eq!(
            said,
            vec![
                "Bass: fader +0.0 → -3.0 dB".to_string(),
                "Piano: renamed from “Keys”".into(),
                "Vocal: track added".into(),
                "Bass: clip “clip” moved 0:01.0 → 0:02.0".into(),
                format!(
                    "Piano: eq {} {} → {} {}",
                    spec.name, then.devices[0].params[1], now.devices[0].params[1], spec.unit
                )
                .trim_end()
                .to_string(),
            ]
        );
        // And back: the same things, the other way.
        assert_eq!(differences(&now, &then).len(), 5);
    }
}
