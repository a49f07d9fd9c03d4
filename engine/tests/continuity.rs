//! An edit changes only what it edits: every kind of edit, made in the
//! middle of a reverb tail through `EngineControl::update` (the path the
//! app takes), leaves every strip it did not touch bit-identical to the
//! unedited render, and the audio thread allocates nothing while plans
//! change hands. Each test also loads the same edit as a fresh plan (what
//! the engine did before) and checks that *that* differs: the comparison
//! can fail.

use std::collections::HashMap;
use std::sync::Arc;

use stemroom_engine::alloc_guard::{CountingAllocator, count_allocations};
use stemroom_engine::device::{
    DeviceDesc, DeviceKind, compressor, delay, limiter, reverb, utility,
};
use stemroom_engine::mixer::Mixer;
use stemroom_engine::project::{
    AudioAsset, BusDesc, ClipDesc, Output, ProjectDesc, SendDesc, StripDesc, TrackDesc,
};
use stemroom_engine::{Command, QUANTUM, StereoQuantum, Update, engine_pair};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

const RATE: u32 = 48_000;
const A: u64 = 1;
const B: u64 = 2;
const C: u64 = 3;
const D: u64 = 4;
const REVERB_BUS: u64 = 100;
const NEW_BUS: u64 = 101;
const MASTER: u64 = stemroom_engine::handover::MASTER_ID;
/// The edit lands 1 s in, half a second into the tails; 1 s is compared.
const EDIT_AT: usize = RATE as usize / QUANTUM;
const COMPARED: usize = RATE as usize / QUANTUM;

/// Deterministic noise, `seconds` long, then nothing.
fn burst(seed: u32, seconds: f32) -> Arc<AudioAsset> {
    let mut state = seed;
    let samples = (0..(seconds * RATE as f32) as usize)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect();
    AudioAsset::new(vec![samples])
}

fn device(id: u64, kind: DeviceKind) -> DeviceDesc {
    let mut d = DeviceDesc::new(kind);
    d.id = id;
    d
}

fn track(id: u64, clip: Arc<AudioAsset>, start: u64, inserts: Vec<DeviceDesc>) -> TrackDesc {
    TrackDesc {
        id,
        channels: 1,
        strip: StripDesc {
            gain_db: -6.0,
            inserts,
            ..StripDesc::default()
        },
        clips: vec![ClipDesc::whole(clip, start)],
    }
}

/// A and C share a chain (one lane group): a 0.5 s burst through an EQ, a
/// long reverb and a delay. B is a compressed burst that also feeds a
/// reverb bus. The master has a limiter.
fn project() -> ProjectDesc {
    // C's delay follows the tempo (a dotted eighth), A's is in ms; both
    // end in a limiter driven into reduction.
    let wet_chain = |base: u64, sync: f32| {
        vec![
            device(base + 1, DeviceKind::Eq),
            device(base + 2, DeviceKind::Reverb)
                .with(reverb::DECAY, 6.0)
                .with(reverb::MIX, 0.6),
            device(base + 3, DeviceKind::Delay)
                .with(delay::TIME, 300.0)
                .with(delay::SYNC, sync)
                .with(delay::FEEDBACK, 0.6),
            device(base + 4, DeviceKind::Limiter)
                .with(limiter::INPUT_GAIN, 12.0)
                .with(limiter::CEILING, -6.0),
        ]
    };
    let mut p = ProjectDesc::new(RATE);
    p.tracks
        .push(track(A, burst(1, 0.5), 0, wet_chain(10, 0.0)));
    let mut b = track(
        B,
        burst(2, 1.5),
        RATE as u64 / 4,
        vec![
            device(21, DeviceKind::Compressor)
                .with(compressor::THRESHOLD, -30.0)
                .with(compressor::RELEASE, 400.0),
        ],
    );
    b.strip.sends.push(SendDesc {
        bus: 0,
        level_db: -3.0,
        pre_fader: false,
    });
    p.tracks.push(b);
    p.tracks.push(track(
        C,
        burst(3, 0.5),
        RATE as u64 / 8,
        wet_chain(30, 0.75),
    ));
    p.buses.push(BusDesc {
        id: REVERB_BUS,
        strip: StripDesc {
            inserts: vec![
                device(101, DeviceKind::Reverb)
                    .with(reverb::DECAY, 4.0)
                    .with(reverb::MIX, 1.0),
            ],
            ..StripDesc::default()
        },
        solo_safe: true,
    });
    p.master.inserts.push(device(900, DeviceKind::Limiter));
    p
}

fn track_mut(p: &mut ProjectDesc, id: u64) -> &mut TrackDesc {
    p.tracks.iter_mut().find(|t| t.id == id).unwrap()
}

/// An edit of the project, given how many quanta have passed since the first.
type Edit = dyn Fn(&mut ProjectDesc, usize);

/// How the edited project reaches the engine.
#[derive(Clone, Copy, PartialEq)]
enum Load {
    /// Through `update`: commands or a plan that takes over.
    Continuing,
    /// As a plan of its own (all state lost, crossfaded).
    Fresh,
}

/// Each strip's signal (left channel, then right) over the compared second,
/// and the master output; `edit` is applied at [`EDIT_AT`], `every` quanta
/// again after that when given.
fn render(edit: Option<&Edit>, load: Load, every: Option<usize>) -> HashMap<u64, Vec<f32>> {
    let (mut control, mut engine) = engine_pair(RATE as f32);
    let mut desc = project();
    control.update(&desc).unwrap();
    control.send(Command::Play).unwrap();
    for _ in 0..EDIT_AT {
        engine.process();
    }
    let ids = [A, B, C, D, REVERB_BUS, NEW_BUS, MASTER];
    let mut out: HashMap<u64, Vec<f32>> = HashMap::new();
    let mut tap: StereoQuantum = [[0.0; QUANTUM]; 2];
    for q in 0..COMPARED {
        let due = match every {
            None => q == 0,
            Some(n) => q % n == 0,
        };
        if let Some(edit) = edit.filter(|_| due) {
            edit(&mut desc, q);
            match load {
                Load::Continuing => {
                    control.update(&desc).unwrap();
                }
                Load::Fresh => control.load(Mixer::new(&desc)).unwrap(),
            }
        }
        // The audio thread never allocates, plans changing hands included.
        let (_, allocs) = count_allocations(|| {
            engine.process();
        });
        assert_eq!(allocs, 0, "quantum {q} after the edit allocated");
        for id in ids {
            if engine.strip_signal(id, &mut tap) {
                let v = out.entry(id).or_default();
                v.extend_from_slice(&tap[0]);
                v.extend_from_slice(&tap[1]);
            }
        }
        let master = out.entry(0).or_default();
        master.extend_from_slice(&engine.output()[0]);
        master.extend_from_slice(&engine.output()[1]);
    }
    out
}

fn rms_db(x: &[f32]) -> f64 {
    let energy = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64;
    10.0 * energy.max(1e-30).log10()
}

fn max_difference_db(a: &[f32], b: &[f32]) -> f64 {
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    20.0 * f64::from(worst).max(1e-15).log10()
}

/// Makes the edit both ways and checks: through `update`, every strip in
/// `untouched` (0: the master output) is bit-identical to the unedited
/// render and still sounding; as a fresh plan, the first of them differs.
fn assert_only_edited_changes(edit: &Edit, untouched: &[u64]) {
    let reference = render(None, Load::Continuing, None);
    let edited = render(Some(edit), Load::Continuing, None);
    for id in untouched {
        let (want, got) = (&reference[id], &edited[id]);
        assert!(
            rms_db(want) > -80.0,
            "strip {id} must still be sounding for the comparison to mean anything ({:.1} dB)",
            rms_db(want)
        );
        assert!(
            want == got,
            "strip {id} changed: differs by up to {:.1} dBFS",
            max_difference_db(want, got)
        );
    }
    let fresh = render(Some(edit), Load::Fresh, None);
    let first = untouched[0];
    assert!(
        reference[&first] != fresh[&first],
        "a fresh plan must lose strip {first}'s state, or this test proves nothing"
    );
}

#[test]
fn a_parameter_change_reaches_the_playing_plan_as_commands() {
    let (mut control, _engine) = engine_pair(RATE as f32);
    let mut desc = project();
    assert_eq!(control.update(&desc), Ok(Update::Plan));
    desc.tracks[1].strip.gain_db = -12.0;
    desc.tracks[0].strip.inserts[1].params[reverb::MIX] = 0.2;
    desc.master.inserts[0].bypass = true;
    assert_eq!(control.update(&desc), Ok(Update::Commands(3)));
    desc.tracks[1].clips[0].start += 1;
    assert_eq!(control.update(&desc), Ok(Update::Plan));
}

/// The measurement: B's fader moves once per display frame while
/// A's and C's reverbs and delays ring out. Through `update` they are
/// exactly the unedited ones; as plan reloads (what the app did) A's tail
/// is cut.
#[test]
fn a_fader_ridden_on_another_track_leaves_every_tail_alone() {
    let ride = |p: &mut ProjectDesc, q: usize| {
        track_mut(p, B).strip.gain_db = -6.0 - (q % 40) as f32 * 0.25;
    };
    let reference = render(None, Load::Continuing, None);
    let ridden = render(Some(&ride), Load::Continuing, Some(6));
    for id in [A, C] {
        assert!(
            reference[&id] == ridden[&id],
            "{id}: differs by up to {:.1} dBFS",
            max_difference_db(&reference[&id], &ridden[&id])
        );
    }
    let reloaded = render(Some(&ride), Load::Fresh, Some(6));
    assert!(
        rms_db(&reloaded[&A][QUANTUM * 200..]) < rms_db(&reference[&A][QUANTUM * 200..]) - 20.0,
        "reloading the plan cuts A's tail: {:.1} vs {:.1} dB",
        rms_db(&reloaded[&A][QUANTUM * 200..]),
        rms_db(&reference[&A][QUANTUM * 200..])
    );
}

#[test]
fn a_parameter_edit_changes_nothing_else() {
    assert_only_edited_changes(&|p, _| track_mut(p, B).strip.gain_db = -20.0, &[A, C]);
}

#[test]
fn a_clip_moved_on_another_track_changes_nothing_else() {
    assert_only_edited_changes(
        &|p, _| track_mut(p, B).clips[0].start += RATE as u64 / 10,
        &[A, C],
    );
}

/// C leaves A's lane group for one with the new chain; its own EQ, reverb,
/// tempo-synced delay and limiter go on (lane by lane), and a utility at
/// unity is transparent, so C too is bit-identical. (The master is not: C's signal now reaches
/// it through another group, summed in another order, −156 dB apart.)
#[test]
fn a_device_added_on_another_strip_changes_nothing_else() {
    assert_only_edited_changes(
        &|p, _| {
            let c = track_mut(p, C);
            c.strip.inserts.push(device(35, DeviceKind::Utility));
            assert_eq!(c.strip.inserts[4].param(utility::GAIN), 0.0);
        },
        &[A, C, B, REVERB_BUS],
    );
}

#[test]
fn a_device_removed_elsewhere_changes_nothing_else() {
    assert_only_edited_changes(&|p, _| track_mut(p, B).strip.inserts.clear(), &[A, C]);
}

#[test]
fn a_track_added_changes_nothing_else() {
    assert_only_edited_changes(
        &|p, _| {
            let chain = track_mut(p, A).strip.inserts.clone();
            let mut d = track(D, burst(4, 0.5), RATE as u64, chain);
            for (i, device) in d.strip.inserts.iter_mut().enumerate() {
                device.id = 40 + i as u64;
            }
            p.tracks.insert(0, d);
        },
        &[A, C, B, REVERB_BUS],
    );
}

/// A bus added in front of the others: every bus index shifts, sends are
/// renumbered, nothing sounds different.
#[test]
fn a_bus_added_changes_nothing_else() {
    assert_only_edited_changes(
        &|p, _| {
            p.buses.insert(
                0,
                BusDesc {
                    id: NEW_BUS,
                    strip: StripDesc {
                        inserts: vec![device(110, DeviceKind::Delay)],
                        ..StripDesc::default()
                    },
                    solo_safe: false,
                },
            );
            for t in &mut p.tracks {
                for send in &mut t.strip.sends {
                    send.bus += 1;
                }
            }
            assert_eq!(p.tracks[1].strip.output, Output::Master);
        },
        &[A, REVERB_BUS, C, B, 0],
    );
}

#[test]
fn reordering_tracks_changes_nothing() {
    assert_only_edited_changes(&|p, _| p.tracks.swap(0, 2), &[A, B, C, REVERB_BUS, 0]);
}

/// C's delay follows the tempo, so C may change; nothing else does.
#[test]
fn a_tempo_change_changes_nothing_that_does_not_follow_the_tempo() {
    assert_only_edited_changes(
        &|p, _| {
            p.tempo = stemroom_engine::tempo::TempoMap::constant(
                RATE,
                97.0,
                stemroom_engine::tempo::TimeSignature::FOUR_FOUR,
            )
        },
        &[A, B, REVERB_BUS],
    );
}

/// Edits of every kind, one after another while the tails ring: the audio
/// thread never allocates (checked inside `render`), and the untouched
/// strip A stays bit-identical throughout.
#[test]
fn a_stream_of_mixed_edits_never_allocates_and_never_touches_a() {
    let edits = |p: &mut ProjectDesc, q: usize| match (q / 5) % 6 {
        0 => track_mut(p, B).strip.gain_db = -(q as f32 % 7.0),
        1 => track_mut(p, B).clips[0].start += 64,
        2 => {
            let c = track_mut(p, C);
            if c.strip.inserts.len() < 5 {
                c.strip.inserts.push(device(35, DeviceKind::Utility));
            } else {
                c.strip.inserts.pop();
            }
        }
        3 => p.tracks.swap(1, 2),
        4 => track_mut(p, B).strip.mute = q.is_multiple_of(2),
        _ => p.master.inserts[0].params[0] = -1.0 - (q % 3) as f32,
    };
    let reference = render(None, Load::Continuing, None);
    let edited = render(Some(&edits), Load::Continuing, Some(5));
    assert!(reference[&A] == edited[&A], "A changed");
}
