//! The project and review schemas: edits, repair of merges that are
//! invalid together, migrations, comments and versions.

use std::sync::Arc;

use stemroom_engine::automation::{AutomationTarget, Breakpoint};
use stemroom_engine::device::DeviceKind;
use stemroom_engine::project::{AudioAsset, Fade, FadeShape, Output};
use stemroom_model::migrate::{MigrateError, migrate};
use stemroom_model::project::{AUTOMATION_CHUNK, LaneTarget, MASTER, ProjectDoc, Repair, TRACKS};
use stemroom_model::review::ReviewDoc;
use stemroom_model::{SCHEMA_VERSION, new_project_doc};
use yrs::updates::decoder::Decode;
use yrs::{Any, Doc, Map, ReadTxn, StateVector, Transact, Update};

/// Copies everything `from` has that `to` lacks.
fn sync(from: &Doc, to: &Doc) {
    let missing = to.transact().state_vector();
    let update = from.transact().encode_state_as_update_v1(&missing);
    to.transact_mut()
        .apply_update(Update::decode_v1(&update).unwrap())
        .unwrap();
}

fn replica_of(doc: &Doc) -> ProjectDoc {
    let replica = Doc::new();
    sync(doc, &replica);
    ProjectDoc::new(replica)
}

fn asset(_: &str) -> Option<Arc<AudioAsset>> {
    Some(AudioAsset::new(vec![vec![0.5; 48_000]]))
}

#[test]
fn a_send_and_a_route_to_a_concurrently_deleted_bus_are_repaired_alike() {
    let a = ProjectDoc::new(new_project_doc("Repair"));
    let (track, bus) = {
        let mut txn = a.doc().transact_mut();
        let track = a.add_track(&mut txn, "Vox", 1);
        let bus = a.add_bus(&mut txn, "Reverb");
        a.add_device(&mut txn, &bus, DeviceKind::Reverb);
        (track, bus)
    };
    let b = replica_of(a.doc());
    // A deletes the bus; B, unaware, sends to it, routes into it and
    // automates its reverb.
    a.delete(&mut a.doc().transact_mut(), "buses", &bus);
    {
        let mut txn = b.doc().transact_mut();
        b.add_send(&mut txn, &track, &bus, -12.0, false);
        b.set_output(&mut txn, &track, &bus);
        let device = b.read(&txn).devices[0].id.clone();
        let lane = b.add_lane(&mut txn, &bus, &LaneTarget::Param { device, param: 0 });
        let point = Breakpoint {
            frame: 0,
            value: 0.5,
            curve: 0.0,
        };
        b.write_automation(&mut txn, &lane, 0, 1, &[point]);
    }
    sync(a.doc(), b.doc());
    sync(b.doc(), a.doc());
    let (pa, pb) = (a.read(&a.doc().transact()), b.read(&b.doc().transact()));
    assert_eq!(pa, pb, "the same repair on both replicas");
    let kinds: Vec<_> = pa.repairs.iter().map(std::mem::discriminant).collect();
    for expected in [
        Repair::DanglingSend(String::new()),
        Repair::DanglingOutput(String::new()),
        Repair::OrphanDevice(String::new()),
        Repair::OrphanAutomation(String::new()),
    ] {
        assert!(
            kinds.contains(&std::mem::discriminant(&expected)),
            "{:?}",
            pa.repairs
        );
    }
    let plan = pa.to_engine(48_000, asset);
    assert!(plan.buses.is_empty());
    assert_eq!(plan.tracks[0].strip.output, Output::Master);
    assert!(plan.tracks[0].strip.sends.is_empty());
    // Nothing was written to repair: B's edits are still in the document.
    assert_eq!(b.root("sends").len(&b.doc().transact()), 1);
}

#[test]
fn the_plan_follows_the_document() {
    let p = ProjectDoc::new(new_project_doc("Plan"));
    let mut txn = p.doc().transact_mut();
    let drums = p.add_track(&mut txn, "Drums", 2);
    let bus = p.add_bus(&mut txn, "Verb");
    let eq = p.add_device(&mut txn, &drums, DeviceKind::Eq);
    let comp = p.add_device(&mut txn, &drums, DeviceKind::Compressor);
    p.set_param(&mut txn, &comp, 0, -18.0);
    p.set_param(&mut txn, &eq, 1, 1e9); // clamped on read
    p.add_send(&mut txn, &drums, &bus, -9.0, true);
    p.add_device(&mut txn, MASTER, DeviceKind::Limiter);
    p.set_strip(&mut txn, MASTER, "gainDb", -3.0);
    p.set_bpm(&mut txn, 90.0);
    p.add_tempo_change(&mut txn, 8.0, 140.0);
    let clip = p.add_clip(&mut txn, &drums, "aa", 1_000, 40_000);
    p.set_fade(
        &mut txn,
        &clip,
        false,
        Fade {
            frames: 480,
            shape: FadeShape::EqualPower,
        },
    );
    p.set_fade(
        &mut txn,
        &clip,
        true,
        Fade {
            frames: 960,
            shape: FadeShape::Exponential,
        },
    );
    let right = p.split_clip(&mut txn, &clip, 11_000).unwrap();
    assert!(
        p.split_clip(&mut txn, &clip, 500).is_none(),
        "outside the clip"
    );
    let lane = p.add_lane(
        &mut txn,
        &drums,
        &LaneTarget::Param {
            device: comp.clone(),
            param: 0,
        },
    );
    let points: Vec<Breakpoint> = [
        0,
        AUTOMATION_CHUNK - 1,
        AUTOMATION_CHUNK,
        3 * AUTOMATION_CHUNK,
    ]
    .iter()
    .enumerate()
    .map(|(i, f)| Breakpoint {
        frame: *f,
        value: -(i as f32) * 6.0,
        curve: 0.0,
    })
    .collect();
    p.write_automation(&mut txn, &lane, 0, u64::MAX, &points);
    // Rewrite one passage: only the points inside it change.
    let replacement = Breakpoint {
        frame: AUTOMATION_CHUNK + 10,
        value: -1.0,
        curve: 0.0,
    };
    p.write_automation(
        &mut txn,
        &lane,
        AUTOMATION_CHUNK,
        2 * AUTOMATION_CHUNK,
        &[replacement],
    );

    let project = p.read(&txn);
    assert!(project.repairs.is_empty(), "{:?}", project.repairs);
    let frames: Vec<u64> = project.automation[0]
        .points
        .iter()
        .map(|p| p.frame)
        .collect();
    assert_eq!(
        frames,
        [
            0,
            AUTOMATION_CHUNK - 1,
            AUTOMATION_CHUNK + 10,
            3 * AUTOMATION_CHUNK
        ]
    );
    let plan = project.to_engine(48_000, asset);
    let strip = &plan.tracks[0].strip;
    assert_eq!(strip.inserts.len(), 2);
    assert_eq!(strip.inserts[0].kind, DeviceKind::Eq);
    let max_freq = DeviceKind::Eq.params()[1].max;
    assert_eq!(strip.inserts[0].params[1], max_freq);
    assert_eq!(strip.inserts[1].params[0], -18.0);
    assert_eq!(strip.sends[0].bus, 0);
    assert!(strip.sends[0].pre_fader);
    assert_eq!(
        strip.automation[0].target,
        AutomationTarget::Device { slot: 1, param: 0 }
    );
    assert_eq!(plan.master.inserts[0].kind, DeviceKind::Limiter);
    assert_eq!(plan.master.gain_db, -3.0);
    // 90 bpm for 8 beats, then 140.
    let eight_beats = 8.0 * 60.0 / 90.0 * 48_000.0;
    assert!((plan.tempo.frame_at_beat(8.0) - eight_beats).abs() < 1e-6);
    assert!((plan.tempo.bpm_at_frame(eight_beats + 1.0) - 140.0).abs() < 1e-9);
    let clips = &plan.tracks[0].clips;
    assert_eq!(clips.len(), 2);
    let (left, right_clip) = if project.clips[0].id == right {
        (&clips[1], &clips[0])
    } else {
        (&clips[0], &clips[1])
    };
    assert_eq!((left.start, left.length, left.offset), (1_000, 10_000, 0));
    assert_eq!(
        (right_clip.start, right_clip.length, right_clip.offset),
        (11_000, 30_000, 10_000)
    );
    assert_eq!(left.fade_in.shape, FadeShape::EqualPower);
    assert_eq!(left.fade_out, Fade::NONE, "the split point gets no fade");
    assert_eq!(right_clip.fade_out.frames, 960);
}

/// A send's level has a lane of its own; retargeting a lane keeps its
/// points; deleting the send orphans the lane (repaired, not played).
#[test]
fn a_send_level_lane_plays_and_goes_with_its_send() {
    let p = ProjectDoc::new(new_project_doc("Sends"));
    let mut txn = p.doc().transact_mut();
    let vox = p.add_track(&mut txn, "Vox", 1);
    let (verb, delay) = (p.add_bus(&mut txn, "Verb"), p.add_bus(&mut txn, "Delay"));
    p.add_send(&mut txn, &vox, &delay, -12.0, false);
    let send = p.add_send(&mut txn, &vox, &verb, -9.0, false);
    let lane = p.add_lane(&mut txn, &vox, &LaneTarget::Gain);
    let point = Breakpoint {
        frame: 4_800,
        value: -3.0,
        curve: 0.0,
    };
    p.write_automation(&mut txn, &lane, 0, u64::MAX, &[point]);
    let target = LaneTarget::Send { send: send.clone() };
    assert!(p.set_lane_target(&mut txn, &lane, &target));
    let project = p.read(&txn);
    assert_eq!(project.automation[0].target, target);
    assert_eq!(project.automation[0].points, [point]);
    let plan = project.to_engine(48_000, asset);
    let strip = &plan.tracks[0].strip;
    let index = project
        .sends
        .iter()
        .filter(|s| s.from == vox)
        .position(|s| s.id == send)
        .unwrap() as u16;
    assert_eq!(strip.automation.len(), 1);
    assert_eq!(
        strip.automation[0].target,
        AutomationTarget::Send { send: index }
    );
    assert_eq!(strip.sends[usize::from(index)].level_db, -9.0);

    p.delete(&mut txn, "sends", &send);
    let project = p.read(&txn);
    assert_eq!(project.repairs, [Repair::OrphanAutomation(lane)]);
    assert!(
        project.to_engine(48_000, asset).tracks[0]
            .strip
            .automation
            .is_empty()
    );
}

/// A document as the first schema wrote it.
fn version_1_document() -> Doc {
    let doc = Doc::new();
    let meta = doc.get_or_insert_map("meta");
    let tracks = doc.get_or_insert_map(TRACKS);
    let mut txn = doc.transact_mut();
    meta.insert(&mut txn, "schemaVersion", 1.0);
    meta.insert(&mut txn, "name", "Old song");
    let fields = yrs::MapPrelim::from([
        ("name", Any::from("Bass")),
        ("order", Any::from("V")),
        ("channels", Any::from(1.0)),
        ("gainDb", Any::from(-4.0)),
    ]);
    tracks.insert(&mut txn, "t1", fields);
    drop(txn);
    doc
}

#[test]
fn an_older_document_migrates_once_and_replicas_that_migrate_together_converge() {
    let old = version_1_document();
    let a = replica_of(&old);
    let b = replica_of(&old);
    for p in [&a, &b] {
        let mut txn = p.doc().transact_mut();
        assert_eq!(migrate(p, &mut txn), Ok(1));
        assert_eq!(migrate(p, &mut txn), Ok(SCHEMA_VERSION), "idempotent");
    }
    // Migrating again writes nothing at all.
    let before = a.doc().transact().state_vector();
    migrate(&a, &mut a.doc().transact_mut()).unwrap();
    assert_eq!(a.doc().transact().state_vector(), before);
    sync(a.doc(), b.doc());
    sync(b.doc(), a.doc());
    let (pa, pb) = (a.read(&a.doc().transact()), b.read(&b.doc().transact()));
    assert_eq!(pa, pb);
    assert_eq!(pa.meta.name, "Old song");
    assert_eq!(pa.meta.bpm, 120.0);
    assert_eq!(pa.tracks[0].strip.gain_db, -4.0, "data is kept");
    assert_eq!(pa.tracks[0].strip.output, MASTER);
    assert_eq!(stemroom_model::schema_version(a.doc()), SCHEMA_VERSION);

    // A document from a newer build is refused and left untouched.
    let newer = ProjectDoc::new(Doc::new());
    newer
        .root("meta")
        .insert(&mut newer.doc().transact_mut(), "schemaVersion", 99.0);
    let sv = newer.doc().transact().state_vector();
    let refused = migrate(&newer, &mut newer.doc().transact_mut());
    assert!(matches!(
        refused,
        Err(MigrateError::TooNew { document: 99, .. })
    ));
    assert_eq!(newer.doc().transact().state_vector(), sv);
}

#[test]
fn comments_thread_resolve_and_versions_keep_a_project_state() {
    let a = ReviewDoc::new(Doc::new());
    let b = ReviewDoc::new(Doc::new());
    let (chorus, verse) = {
        let mut txn = a.doc().transact_mut();
        let chorus = a.add_comment(
            &mut txn,
            96_000,
            48_000,
            Some("t1"),
            "Ana",
            "Vocal too loud here",
            1_000.0,
        );
        let verse = a.add_comment(&mut txn, 0, 10, None, "Ana", "Nice intro", 2_000.0);
        (chorus, verse)
    };
    sync(a.doc(), b.doc());
    {
        let mut txn = b.doc().transact_mut();
        let reply = b
            .reply(&mut txn, &chorus, "Bo", "Pulled it down 2 dB", 3_000.0)
            .unwrap();
        // A reply to a reply joins the same thread.
        b.reply(&mut txn, &reply, "Ana", "Better!", 4_000.0)
            .unwrap();
        b.set_resolved(&mut txn, &chorus, true);
        assert!(b.reply(&mut txn, "missing", "Bo", "?", 0.0).is_none());
    }
    // Concurrently, A deletes the intro comment and replies to it: the
    // orphan reply is left out on both replicas.
    {
        let mut txn = a.doc().transact_mut();
        a.reply(&mut txn, &verse, "Ana", "(self-reply)", 5_000.0);
        a.delete_comment(&mut txn, &verse);
    }
    sync(a.doc(), b.doc());
    sync(b.doc(), a.doc());
    let threads = a.threads(&a.doc().transact());
    assert_eq!(threads, b.threads(&b.doc().transact()));
    assert_eq!(threads.len(), 1);
    let thread = &threads[0];
    assert_eq!((thread.comment.start, thread.comment.end), (48_000, 96_000));
    assert!(thread.comment.resolved);
    assert_eq!(thread.comment.track.as_deref(), Some("t1"));
    let texts: Vec<&str> = thread.replies.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["Pulled it down 2 dB", "Better!"]);

    let project = new_project_doc("Versioned");
    let state = project
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let id = a.save_version(&mut a.doc().transact_mut(), "Mix 1", "Ana", 6_000.0, &state);
    sync(a.doc(), b.doc());
    let versions = b.versions(&b.doc().transact());
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].name, "Mix 1");
    let saved = b.version_state(&b.doc().transact(), &id).unwrap();
    let restored = Doc::new();
    restored
        .transact_mut()
        .apply_update(Update::decode_v1(&saved).unwrap())
        .unwrap();
    assert_eq!(
        stemroom_model::project_name(&restored).as_deref(),
        Some("Versioned")
    );
}

#[test]
fn a_duplicated_clip_keeps_everything_but_its_place_and_devices_reorder() {
    let p = ProjectDoc::new(new_project_doc("Copies"));
    let mut txn = p.doc().transact_mut();
    let (a, b) = (p.add_track(&mut txn, "A", 2), p.add_track(&mut txn, "B", 2));
    let clip = p.add_clip(&mut txn, &a, "aa", 1_000, 40_000);
    p.trim_clip(&mut txn, &clip, 2_000, 1_000, 39_000);
    let fade = Fade {
        frames: 960,
        shape: FadeShape::Exponential,
    };
    p.set_fade(&mut txn, &clip, true, fade);
    p.set(&mut txn, "clips", &clip, "name", "Take 3");
    let copy = p.duplicate_clip(&mut txn, &clip, &b, 41_000).unwrap();
    assert!(p.duplicate_clip(&mut txn, "nope", &b, 0).is_none());

    let eq = p.add_device(&mut txn, &a, DeviceKind::Eq);
    let comp = p.add_device(&mut txn, &a, DeviceKind::Compressor);
    let limiter = p.add_device(&mut txn, &a, DeviceKind::Limiter);
    let project = p.read(&txn);
    let order = |id: &str| {
        project
            .devices
            .iter()
            .find(|d| d.id == id)
            .unwrap()
            .order
            .clone()
    };
    // The limiter goes first, the compressor between the limiter and the EQ.
    assert!(p.move_device(&mut txn, &limiter, None, Some(&order(&eq))));
    let limiter_order = p
        .read(&txn)
        .devices
        .iter()
        .find(|d| d.id == limiter)
        .unwrap()
        .order
        .clone();
    p.move_device(&mut txn, &comp, Some(&limiter_order), Some(&order(&eq)));

    let project = p.read(&txn);
    let original = project.clips.iter().find(|c| c.id == clip).unwrap();
    let copied = project.clips.iter().find(|c| c.id == copy).unwrap();
    assert_eq!((copied.track.as_str(), copied.start), (b.as_str(), 41_000));
    assert_eq!(
        (
            copied.offset,
            copied.length,
            copied.fade_out,
            copied.name.as_str()
        ),
        (
            original.offset,
            original.length,
            original.fade_out,
            "Take 3"
        )
    );
    let kinds: Vec<DeviceKind> = project
        .devices
        .iter()
        .filter(|d| d.strip == a)
        .map(|d| d.kind)
        .collect();
    assert_eq!(
        kinds,
        [DeviceKind::Limiter, DeviceKind::Compressor, DeviceKind::Eq]
    );
}

#[test]
fn a_mix_change_keeps_the_clip_descriptions_and_equals_a_full_build() {
    let shared = AudioAsset::new(vec![vec![0.25; 4_800]]);
    let assets = |_: &str| Some(shared.clone());
    let p = ProjectDoc::new(new_project_doc("Keep"));
    let mut txn = p.doc().transact_mut();
    let tracks: Vec<String> = (0..3)
        .map(|i| p.add_track(&mut txn, &format!("T{i}"), 1 + i % 2))
        .collect();
    for (i, t) in tracks.iter().enumerate() {
        for c in 0..=i as u64 {
            p.add_clip(&mut txn, t, "a", c * 10_000, 4_000);
        }
    }
    let bus = p.add_bus(&mut txn, "Verb");
    p.add_send(&mut txn, &tracks[1], &bus, -12.0, false);
    let built = p.read(&txn).to_engine(48_000, assets);

    // The mix changes, the clips do not.
    p.set_strip(&mut txn, &tracks[0], "gainDb", -7.5);
    p.add_device(&mut txn, &tracks[2], DeviceKind::Compressor);
    let project = p.read(&txn);
    let kept = project.to_engine_keeping_clips(&built, |_| true);
    assert_eq!(kept, project.to_engine(48_000, assets));
    assert_eq!(kept.tracks[0].strip.gain_db, -7.5);
    assert_eq!(
        kept.tracks
            .iter()
            .map(|t| t.clips.len())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );

    // A track added and one deleted: each keeps only its own clips.
    let fourth = p.add_track(&mut txn, "T3", 1);
    p.delete_track(&mut txn, &tracks[1]);
    let project = p.read(&txn);
    let kept = project.to_engine_keeping_clips(&built, |_| true);
    let ids: Vec<u64> = kept.tracks.iter().map(|t| t.id).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[2], stemroom_engine::project::stable_id(&fourth));
    assert_eq!(
        kept.tracks
            .iter()
            .map(|t| t.clips.len())
            .collect::<Vec<_>>(),
        [1, 3, 0]
    );
}

/// The delivery loudness target is the team's: set on one replica, read on
/// the other, repaired when out of range, cleared for everyone.
#[test]
fn the_loudness_target_is_shared_repaired_and_cleared() {
    let a = Doc::new();
    let project = ProjectDoc::new(a.clone());
    let b = Doc::new();
    let replica = ProjectDoc::new(b.clone());
    let read = |p: &ProjectDoc| p.read(&p.doc().transact()).meta.loudness_target;
    assert_eq!(read(&project), None, "none until someone sets one");
    project.set_loudness_target(&mut a.transact_mut(), Some((-14.0, -1.0)));
    sync(&a, &b);
    assert_eq!(read(&replica), Some((-14.0, -1.0)));
    // A hand-made value out of range reads clamped.
    {
        let meta = b.get_or_insert_map("meta");
        let mut txn = b.transact_mut();
        meta.insert(&mut txn, "targetLufs", 3.0);
    }
    assert_eq!(read(&replica), Some((-5.0, -1.0)));
    project.set_loudness_target(&mut a.transact_mut(), None);
    sync(&a, &b);
    assert_eq!(read(&replica), None);
}
