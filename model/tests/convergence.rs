//! Concurrent edits from several replicas, delivered in different orders,
//! converge to the same document and the same render plan.

mod common;

use common::Rng;
use std::sync::Arc;

use stemroom_engine::automation::Breakpoint;
use stemroom_engine::device::DeviceKind;
use stemroom_engine::project::AudioAsset;
use stemroom_engine::project::Output;
use stemroom_model::project::{BUSES, DEVICES, LaneTarget, MASTER, ProjectDoc};
use yrs::updates::decoder::Decode;
use yrs::{Doc, Transact, Update};

/// One random edit in its own transaction; returns the update it made.
fn random_edit(replica: &ProjectDoc, rng: &mut Rng) -> Vec<u8> {
    let mut txn = replica.doc().transact_mut();
    let project = replica.read(&txn);
    let tracks = &project.tracks;
    let clips = replica.clips(&txn);
    let pick_track = |rng: &mut Rng| tracks.get(rng.below(tracks.len())).map(|t| t.id.clone());
    let pick_bus = |rng: &mut Rng| {
        project
            .buses
            .get(rng.below(project.buses.len()))
            .map(|b| b.id.clone())
    };
    let pick_strip = |rng: &mut Rng| match rng.below(3) {
        0 => pick_track(rng),
        1 => pick_bus(rng),
        _ => Some(MASTER.to_string()),
    };
    match rng.below(16) {
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
            if let Some(strip) = pick_strip(rng) {
                replica.set_strip(&mut txn, &strip, "gainDb", -(rng.below(40) as f64));
            }
        }
        6 => {
            if tracks.len() >= 2 {
                let (a, b) = (rng.below(tracks.len()), rng.below(tracks.len()));
                let (low, high) = (a.min(b), a.max(b));
                let id = tracks[rng.below(tracks.len())].id.clone();
                let high_key = (high > low).then(|| tracks[high].order.clone());
                replica.move_track(&mut txn, &id, Some(&tracks[low].order), high_key.as_deref());
            }
        }
        7 => {
            replica.add_bus(&mut txn, "bus");
        }
        8 => {
            if let Some(bus) = pick_bus(rng) {
                replica.delete(&mut txn, BUSES, &bus);
            }
        }
        9 => {
            if let (Some(from), Some(bus)) = (pick_strip(rng), pick_bus(rng)) {
                replica.add_send(&mut txn, &from, &bus, -6.0, rng.below(2) == 0);
            }
        }
        10 => {
            if let (Some(strip), Some(bus)) = (pick_strip(rng), pick_bus(rng)) {
                replica.set_output(&mut txn, &strip, &bus);
            }
        }
        11 => {
            if let Some(strip) = pick_strip(rng) {
                let kind =
                    [DeviceKind::Eq, DeviceKind::Compressor, DeviceKind::Delay][rng.below(3)];
                replica.add_device(&mut txn, &strip, kind);
            }
        }
        12 => {
            if let Some(device) = project.devices.get(rng.below(project.devices.len())) {
                let param = rng.below(device.kind.params().len()) as u16;
                replica.set_param(&mut txn, &device.id, param, rng.below(20_000) as f64 - 50.0);
            }
        }
        13 => {
            if let Some(device) = project.devices.get(rng.below(project.devices.len())) {
                replica.delete(&mut txn, DEVICES, &device.id);
            }
        }
        14 => {
            if let Some(device) = project.devices.get(rng.below(project.devices.len())) {
                let target = LaneTarget::Param {
                    device: device.id.clone(),
                    param: 0,
                };
                let lane = replica.add_lane(&mut txn, &device.strip, &target);
                let at = rng.below(3 << 20) as u64;
                let points = [
                    Breakpoint {
                        frame: at,
                        value: 100.0,
                        curve: 0.0,
                    },
                    Breakpoint {
                        frame: at + 5_000,
                        value: 2_000.0,
                        curve: 0.5,
                    },
                ];
                replica.write_automation(&mut txn, &lane, at, at + 5_001, &points);
            }
        }
        _ => {
            if let Some(clip) = clips.get(rng.below(clips.len())) {
                replica.split_clip(&mut txn, &clip.id, clip.start + 1 + rng.below(998) as u64);
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
                    r.read(&txn),
                    r.clips(&txn),
                    r.to_engine(&txn, 48_000, asset),
                )
            })
            .collect();
        for view in &views[1..] {
            assert_eq!(
                view.0, views[0].0,
                "seed {seed}: projects (and repairs) differ"
            );
            assert_eq!(view.1, views[0].1, "seed {seed}: clips differ");
            assert_eq!(view.2, views[0].2, "seed {seed}: render plans differ");
        }
        // The plan holds exactly the clips whose track survived.
        let (project, clips, plan) = &views[0];
        let tracks = &project.tracks;
        let live = clips
            .iter()
            .filter(|c| tracks.iter().any(|t| t.id == c.track))
            .count();
        // Every reference in the plan is valid: repair left nothing dangling.
        let buses = plan.buses.len();
        let strips = plan
            .tracks
            .iter()
            .map(|t| &t.strip)
            .chain(plan.buses.iter().map(|b| &b.strip))
            .chain([&plan.master]);
        for strip in strips {
            assert!(strip.sends.iter().all(|s| s.bus < buses), "seed {seed}");
            assert!(
                matches!(strip.output, Output::Master)
                    || matches!(strip.output, Output::Bus(b) if b < buses)
            );
            for lane in &strip.automation {
                if let stemroom_engine::automation::AutomationTarget::Device { slot, .. } =
                    lane.target
                {
                    assert!((slot as usize) < strip.inserts.len(), "seed {seed}");
                }
            }
        }
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
