//! Concurrent edits from several replicas, delivered in different orders,
//! converge to the same document and the same render plan.

use std::sync::Arc;

use stemroom_engine::project::AudioAsset;
use stemroom_model::project::ProjectDoc;
use yrs::updates::decoder::Decode;
use yrs::{Doc, Transact, Update};

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random edit in its own transaction; returns the update it made.
fn random_edit(replica: &ProjectDoc, rng: &mut Rng) -> Vec<u8> {
    let mut txn = replica.doc().transact_mut();
    let tracks = replica.tracks(&txn);
    let clips = replica.clips(&txn);
    let pick_track = |rng: &mut Rng| tracks.get(rng.below(tracks.len())).map(|t| t.id.clone());
    match rng.below(7) {
        0 | 1 => {
            replica.add_track(&mut txn, "track", 1 + rng.below(2) as u32);
        }
        2 => {
            if let Some(track) = pick_track(rng) {
                replica.add_clip(
                    &mut txn,
                    &track,
                    &format!("asset{}", rng.below(3)),
                    rng.below(10_000) as u64,
                    1000,
                );
            }
        }
        3 => {
            if let (Some(clip), Some(track)) = (clips.get(rng.below(clips.len())), pick_track(rng))
            {
                replica.move_clip(&mut txn, &clip.id, &track, rng.below(10_000) as u64);
            }
        }
        4 => {
            if let Some(track) = pick_track(rng) {
                replica.delete_track(&mut txn, &track);
            }
        }
        5 => {
            if let Some(track) = pick_track(rng) {
                replica.set_track_gain(&mut txn, &track, -(rng.below(40) as f64));
            }
        }
        _ => {
            if tracks.len() >= 2 {
                let (a, b) = (rng.below(tracks.len()), rng.below(tracks.len()));
                let (low, high) = (a.min(b), a.max(b));
                let id = tracks[rng.below(tracks.len())].id.clone();
                let high_key = (high > low).then(|| tracks[high].order.clone());
                replica.move_track(&mut txn, &id, Some(&tracks[low].order), high_key.as_deref());
            }
        }
    }
    txn.encode_update_v1()
}

fn asset(hash: &str) -> Option<Arc<AudioAsset>> {
    // The same decoded audio for a hash on every replica; one hash is missing.
    (hash != "asset2").then(|| AudioAsset::new(vec![vec![0.25; 100]]))
}

#[test]
fn three_replicas_converge_whatever_the_delivery_order() {
    for seed in 1..=25u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let replicas: Vec<ProjectDoc> = (0..3).map(|_| ProjectDoc::new(Doc::new())).collect();
        for _round in 0..6 {
            // Each replica edits on its own, unaware of the others' edits this round.
            let mut updates: Vec<(usize, Vec<u8>)> = Vec::new();
            for (r, replica) in replicas.iter().enumerate() {
                for _ in 0..1 + rng.below(5) {
                    updates.push((r, random_edit(replica, &mut rng)));
                }
            }
            // Each replica receives the others' updates in its own shuffled
            // order, some twice.
            for (r, replica) in replicas.iter().enumerate() {
                let mut inbox: Vec<&Vec<u8>> = updates
                    .iter()
                    .filter(|(from, _)| *from != r)
                    .map(|(_, u)| u)
                    .collect();
                for i in (1..inbox.len()).rev() {
                    inbox.swap(i, rng.below(i + 1));
                }
                if let Some(again) = inbox.first().copied() {
                    inbox.push(again);
                }
                let mut txn = replica.doc().transact_mut();
                for update in inbox {
                    txn.apply_update(Update::decode_v1(update).unwrap())
                        .unwrap();
                }
            }
        }
        let views: Vec<_> = replicas
            .iter()
            .map(|r| {
                let txn = r.doc().transact();
                (
                    r.tracks(&txn),
                    r.clips(&txn),
                    r.to_engine(&txn, 48_000, asset),
                )
            })
            .collect();
        for view in &views[1..] {
            assert_eq!(view.0, views[0].0, "seed {seed}: tracks differ");
            assert_eq!(view.1, views[0].1, "seed {seed}: clips differ");
            assert_eq!(view.2, views[0].2, "seed {seed}: render plans differ");
        }
        // The plan holds exactly the clips whose track survived.
        let (tracks, clips, plan) = &views[0];
        let live = clips
            .iter()
            .filter(|c| tracks.iter().any(|t| t.id == c.track))
            .count();
        assert_eq!(
            plan.tracks.iter().map(|t| t.clips.len()).sum::<usize>(),
            live,
            "seed {seed}"
        );
    }
}

#[test]
fn tracks_keep_their_order_and_a_moved_clip_changes_track_in_one_write() {
    let project = ProjectDoc::new(Doc::new());
    let mut txn = project.doc().transact_mut();
    let a = project.add_track(&mut txn, "Drums", 2);
    let b = project.add_track(&mut txn, "Bass", 1);
    let c = project.add_track(&mut txn, "Vox", 1);
    let names = |txn: &yrs::TransactionMut| {
        project
            .tracks(txn)
            .into_iter()
            .map(|t| t.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&txn), ["Drums", "Bass", "Vox"]);
    let tracks = project.tracks(&txn);
    // Vox between Drums and Bass.
    project.move_track(&mut txn, &c, Some(&tracks[0].order), Some(&tracks[1].order));
    assert_eq!(names(&txn), ["Drums", "Vox", "Bass"]);
    let clip = project.add_clip(&mut txn, &a, "abc", 100, 50);
    assert!(project.move_clip(&mut txn, &clip, &b, 200));
    let clips = project.clips(&txn);
    assert_eq!((clips[0].track.as_str(), clips[0].start), (b.as_str(), 200));
    assert!(!project.move_clip(&mut txn, "no-such-clip", &b, 0));
}
