//! `ProjectReader` reads exactly what `ProjectDoc::read` reads, after any
//! mix of local edits, remote updates and undo on two replicas.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{Rng, sync};
use stemroom_engine::project::{Fade, FadeShape};
use stemroom_model::project::{CLIPS, ProjectDoc, TRACKS};
use stemroom_model::reader::ProjectReader;
use stemroom_model::undo::{LOCAL, LocalUndo};
use yrs::{Doc, Transact};

/// One random edit of clips or tracks, as this user (undoable).
fn edit(replica: &ProjectDoc, rng: &mut Rng) {
    let mut txn = replica.doc().transact_mut_with(LOCAL);
    let tracks = replica.tracks(&txn);
    let clips = replica.clips(&txn);
    let track = tracks.get(rng.below(tracks.len())).map(|t| t.id.clone());
    let clip = clips.get(rng.below(clips.len())).cloned();
    let frame = rng.below(100_000) as u64;
    match (rng.below(12), track, clip) {
        (0 | 1, _, _) | (_, None, _) => {
            replica.add_track(&mut txn, "track", 1);
        }
        (2 | 3, Some(track), _) | (_, Some(track), None) => {
            // Several clips in one transaction, as an import or a paste.
            for _ in 0..1 + rng.below(3) {
                replica.add_clip(&mut txn, &track, "asset", frame, 1 + frame / 2);
            }
        }
        (4, Some(track), Some(clip)) => {
            replica.move_clip(&mut txn, &clip.id, &track, frame);
        }
        (5, _, Some(clip)) => {
            replica.trim_clip(&mut txn, &clip.id, clip.start + 10, clip.offset + 10, 500);
        }
        (6, _, Some(clip)) => {
            let fade = Fade {
                frames: frame / 4,
                shape: FadeShape::EqualPower,
            };
            replica.set_fade(&mut txn, &clip.id, rng.below(2) == 0, fade);
        }
        (7, _, Some(clip)) => {
            replica.set(
                &mut txn,
                CLIPS,
                &clip.id,
                "gainDb",
                -(frame as f64) / 10_000.0,
            );
        }
        (8, _, Some(clip)) => {
            replica.split_clip(
                &mut txn,
                &clip.id,
                clip.start + 1 + frame % clip.length.max(1),
            );
        }
        (9, Some(track), Some(clip)) => {
            replica.duplicate_clip(&mut txn, &clip.id, &track, frame);
        }
        (10, _, Some(clip)) => {
            replica.delete_clip(&mut txn, &clip.id);
        }
        (_, Some(track), Some(_)) => {
            if rng.below(3) == 0 {
                replica.delete_track(&mut txn, &track);
            } else {
                replica.set(&mut txn, TRACKS, &track, "name", "renamed");
            }
        }
    }
}

#[test]
fn the_incremental_read_equals_the_full_read_after_every_change() {
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let replicas = [ProjectDoc::new(Doc::new()), ProjectDoc::new(Doc::new())];
        let mut readers = replicas.each_ref().map(ProjectReader::new);
        let now = Arc::new(AtomicU64::new(0));
        let ticks = now.clone();
        let clock: Arc<dyn yrs::sync::Clock> =
            Arc::new(move || ticks.fetch_add(1_000, Ordering::Relaxed));
        let mut undo = LocalUndo::new(&replicas[0], clock, 500);
        let mut clips_read = 0;
        let mut last: [Option<(u64, Vec<_>)>; 2] = [None, None];
        let mut unchanged = 0;
        for step in 0..150 {
            let r = rng.below(2);
            match rng.below(10) {
                0..=5 => edit(&replicas[r], &mut rng),
                6 | 7 => sync(&replicas[r], &replicas[1 - r]),
                8 => {
                    undo.undo();
                }
                _ => {
                    undo.redo();
                }
            }
            for ((replica, reader), last) in replicas.iter().zip(&mut readers).zip(&mut last) {
                let txn = replica.doc().transact();
                let incremental = reader.read(replica, &txn);
                assert_eq!(
                    incremental,
                    replica.read(&txn),
                    "seed {seed}, step {step}: the reader is out of date"
                );
                // An unchanged clips version promises unchanged clips.
                if let Some((version, clips)) = last.as_ref()
                    && *version == reader.clips_version()
                {
                    assert_eq!(
                        *clips, *incremental.clips,
                        "seed {seed}, step {step}: clips changed under one version"
                    );
                    unchanged += 1;
                }
                *last = Some((reader.clips_version(), incremental.clips.to_vec()));
                clips_read += incremental.clips.len();
            }
        }
        // Something to read was there: the comparison was not of empties.
        assert!(clips_read > 1_000, "seed {seed}: {clips_read} clips read");
        assert!(unchanged > 10, "seed {seed}: the version never held");
    }
}

#[test]
fn a_reader_sees_a_whole_document_that_arrives_before_its_first_read() {
    let source = ProjectDoc::new(Doc::new());
    {
        let mut txn = source.doc().transact_mut();
        let track = source.add_track(&mut txn, "Drums", 2);
        for i in 0..10 {
            source.add_clip(&mut txn, &track, "asset", i * 1_000, 900);
        }
    }
    let replica = ProjectDoc::new(Doc::new());
    let mut reader = ProjectReader::new(&replica);
    sync(&source, &replica);
    let txn = replica.doc().transact();
    assert_eq!(reader.read(&replica, &txn).clips.len(), 10);
    assert_eq!(reader.read(&replica, &txn), replica.read(&txn));
}
