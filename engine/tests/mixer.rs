//! The render graph against exact expectations: every figure here follows
//! from the definitions (pan law, fade formulas, routing), not from a
//! previous run.

use std::sync::Arc;

use stemroom_engine::QUANTUM;
use stemroom_engine::device::{DeviceDesc, DeviceKind, eq, utility};
use stemroom_engine::mixer::{Mixer, StripChange, StripRef};
use stemroom_engine::project::{
    AudioAsset, BusDesc, ClipDesc, Fade, FadeShape, Output, ProjectDesc, SendDesc, StripDesc,
    TrackDesc,
};

const FS: u32 = 48_000;
const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;

fn dc(value: f32, frames: usize) -> Arc<AudioAsset> {
    AudioAsset::new(vec![vec![value; frames]])
}

fn ramp(frames: usize) -> Arc<AudioAsset> {
    AudioAsset::new(vec![(0..frames).map(|i| i as f32 / 1000.0).collect()])
}

fn mono_track(clips: Vec<ClipDesc>, strip: StripDesc) -> TrackDesc {
    TrackDesc {
        id: 0,
        channels: 1,
        strip,
        clips,
    }
}

fn hard_left() -> StripDesc {
    StripDesc {
        pan: -1.0,
        ..StripDesc::default()
    }
}

/// Plays `quanta` quanta from the start and returns (left, right).
fn render(mixer: &mut Mixer, quanta: usize) -> (Vec<f32>, Vec<f32>) {
    mixer.transport.playing = true;
    let (mut l, mut r) = (Vec::new(), Vec::new());
    for _ in 0..quanta {
        let out = mixer.process();
        l.extend_from_slice(&out[0]);
        r.extend_from_slice(&out[1]);
    }
    (l, r)
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn mono_tracks_pan_at_constant_power_and_stereo_tracks_balance() {
    for (pan, expected) in [
        (0.0f32, (SQRT_HALF, SQRT_HALF)),
        (-1.0, (1.0, 0.0)),
        (1.0, (0.0, 1.0)),
        (
            0.5,
            (
                (3.0 * std::f32::consts::PI / 8.0).cos(),
                (3.0 * std::f32::consts::PI / 8.0).sin(),
            ),
        ),
    ] {
        let mut p = ProjectDesc::new(FS);
        p.tracks.push(mono_track(
            vec![ClipDesc::whole(dc(1.0, 512), 0)],
            StripDesc {
                pan,
                ..StripDesc::default()
            },
        ));
        let (l, r) = render(&mut Mixer::new(&p), 2);
        assert!(
            close(l[200], expected.0) && close(r[200], expected.1),
            "pan {pan}: {} {}",
            l[200],
            r[200]
        );
        assert!(
            close(l[200] * l[200] + r[200] * r[200], 1.0),
            "constant power"
        );
    }
    let stereo = AudioAsset::new(vec![vec![0.5; 512], vec![0.25; 512]]);
    for (pan, expected) in [
        (0.0f32, (0.5, 0.25)),
        (1.0, (0.0, 0.25)),
        (-0.5, (0.5, 0.25 * SQRT_HALF)),
    ] {
        let mut p = ProjectDesc::new(FS);
        p.tracks.push(TrackDesc {
            id: 0,
            channels: 2,
            strip: StripDesc {
                pan,
                ..StripDesc::default()
            },
            clips: vec![ClipDesc::whole(stereo.clone(), 0)],
        });
        let (l, r) = render(&mut Mixer::new(&p), 2);
        assert!(
            close(l[100], expected.0) && close(r[100], expected.1),
            "balance {pan}: {} {}",
            l[100],
            r[100]
        );
    }
}

#[test]
fn clips_start_on_their_exact_frame_at_odd_offsets() {
    for start in [0u64, 1, 127, 128, 1001, 4_099] {
        let mut p = ProjectDesc::new(FS);
        p.tracks.push(mono_track(
            vec![ClipDesc::whole(ramp(300), start)],
            hard_left(),
        ));
        let mut mixer = Mixer::new(&p);
        let (l, _) = render(&mut mixer, 40);
        let s = start as usize;
        assert!(l[..s].iter().all(|x| *x == 0.0), "silent before {start}");
        for i in 0..300 {
            assert_eq!(l[s + i], i as f32 / 1000.0, "clip at {start}, frame {i}");
        }
        assert_eq!(l[s + 300], 0.0, "silent after the clip");
    }
    // Starting the transport between two quanta of the timeline.
    let mut p = ProjectDesc::new(FS);
    p.tracks.push(mono_track(
        vec![ClipDesc::whole(ramp(1000), 500)],
        hard_left(),
    ));
    let mut mixer = Mixer::new(&p);
    mixer.transport.position = 555;
    let (l, _) = render(&mut mixer, 1);
    assert_eq!(l[0], 55.0 / 1000.0);
}

#[test]
fn fades_follow_their_shapes_sample_by_sample() {
    for shape in [
        FadeShape::Linear,
        FadeShape::EqualPower,
        FadeShape::Exponential,
    ] {
        let mut clip = ClipDesc::whole(dc(1.0, 1000), 64);
        clip.fade_in = Fade { frames: 200, shape };
        clip.fade_out = Fade { frames: 100, shape };
        clip.gain_db = -6.0;
        let mut p = ProjectDesc::new(FS);
        p.tracks.push(mono_track(vec![clip], hard_left()));
        let (l, _) = render(&mut Mixer::new(&p), 10);
        let g = stemroom_engine::db_to_amplitude(-6.0);
        for i in 0..1000 {
            let mut expected = g;
            if i < 200 {
                expected *= shape.gain(i as f32 / 200.0);
            }
            if 1000 - i <= 100 {
                expected *= shape.gain((1000 - i - 1) as f32 / 100.0);
            }
            assert!(
                close(l[64 + i], expected),
                "{shape:?} frame {i}: {} vs {expected}",
                l[64 + i]
            );
        }
    }
}

#[test]
fn looped_clips_repeat_from_their_offset_and_the_transport_loops() {
    let mut clip = ClipDesc::whole(ramp(10), 0);
    clip.offset = 3;
    clip.length = 20;
    clip.looped = true;
    let mut p = ProjectDesc::new(FS);
    p.tracks.push(mono_track(vec![clip], hard_left()));
    let (l, _) = render(&mut Mixer::new(&p), 1);
    let expected: Vec<f32> = (0..20).map(|i| (3 + i % 7) as f32 / 1000.0).collect();
    assert_eq!(&l[..20], &expected[..]);

    let mut p = ProjectDesc::new(FS);
    p.tracks.push(mono_track(
        vec![ClipDesc::whole(ramp(5000), 0)],
        hard_left(),
    ));
    let mut mixer = Mixer::new(&p);
    mixer.transport.looping = true;
    mixer.transport.loop_start = 1000;
    mixer.transport.loop_end = 1100;
    mixer.transport.position = 1050;
    let (l, _) = render(&mut mixer, 2);
    let expected: Vec<f32> = (0..256)
        .map(|i| (1000 + (50 + i) % 100) as f32 / 1000.0)
        .collect();
    assert_eq!(l, expected, "wraps at the loop end, sample-accurately");
}

fn three_tracks() -> ProjectDesc {
    let mut p = ProjectDesc::new(FS);
    for value in [0.1, 0.2, 0.4] {
        p.tracks.push(mono_track(
            vec![ClipDesc::whole(dc(value, 48_000), 0)],
            hard_left(),
        ));
    }
    p
}

/// Renders past the parameter ramps and returns the last left sample.
fn settled(mixer: &mut Mixer) -> f32 {
    let (l, _) = render(mixer, 20);
    *l.last().unwrap()
}

#[test]
fn mute_and_solo_follow_daw_rules() {
    let mut mixer = Mixer::new(&three_tracks());
    assert!(close(settled(&mut mixer), 0.7));
    mixer.apply(StripRef::Track(1), StripChange::Solo(true));
    assert!(
        close(settled(&mut mixer), 0.2),
        "solo leaves only the soloed track"
    );
    mixer.apply(StripRef::Track(2), StripChange::Solo(true));
    assert!(close(settled(&mut mixer), 0.6), "solos add up");
    mixer.apply(StripRef::Track(2), StripChange::Mute(true));
    assert!(close(settled(&mut mixer), 0.2), "mute beats solo");
    mixer.apply(StripRef::Track(1), StripChange::Solo(false));
    mixer.apply(StripRef::Track(2), StripChange::Solo(false));
    assert!(
        close(settled(&mut mixer), 0.3),
        "no solo: everything not muted"
    );
    mixer.apply(StripRef::Track(0), StripChange::Polarity(true));
    assert!(close(settled(&mut mixer), 0.1), "polarity inverts a track");

    // Buses: a soloed track keeps its bus audible; a solo-safe return stays;
    // soloing a bus keeps what feeds it.
    let mut p = three_tracks();
    p.buses.push(BusDesc {
        id: 0,
        strip: hard_left(),
        solo_safe: false,
    });
    p.buses.push(BusDesc {
        id: 0,
        strip: hard_left(),
        solo_safe: true,
    });
    p.tracks[0].strip.output = Output::Bus(0);
    p.tracks[1].strip.sends.push(SendDesc {
        bus: 1,
        level_db: 0.0,
        pre_fader: false,
    });
    let mut mixer = Mixer::new(&p);
    assert!(close(settled(&mut mixer), 0.1 + 0.2 + 0.2 + 0.4));
    mixer.apply(StripRef::Track(0), StripChange::Solo(true));
    assert!(
        close(settled(&mut mixer), 0.1),
        "the soloed track is heard through its bus"
    );
    mixer.apply(StripRef::Track(0), StripChange::Solo(false));
    mixer.apply(StripRef::Track(1), StripChange::Solo(true));
    assert!(
        close(settled(&mut mixer), 0.4),
        "and through its send into the solo-safe return"
    );
    mixer.apply(StripRef::Track(1), StripChange::Solo(false));
    mixer.apply(StripRef::Bus(0), StripChange::Solo(true));
    assert!(
        close(settled(&mut mixer), 0.1),
        "a soloed bus keeps its sources; the return is silent without input"
    );
}

#[test]
fn sends_feed_buses_before_or_after_the_fader() {
    let mut p = ProjectDesc::new(FS);
    p.buses.push(BusDesc {
        id: 0,
        strip: hard_left(),
        solo_safe: false,
    });
    let mut post = hard_left();
    post.gain_db = -6.0;
    post.sends.push(SendDesc {
        bus: 0,
        level_db: -6.0,
        pre_fader: false,
    });
    let mut pre = hard_left();
    pre.gain_db = -144.0;
    pre.sends.push(SendDesc {
        bus: 0,
        level_db: 0.0,
        pre_fader: true,
    });
    p.tracks
        .push(mono_track(vec![ClipDesc::whole(dc(1.0, 48_000), 0)], post));
    p.tracks
        .push(mono_track(vec![ClipDesc::whole(dc(0.25, 48_000), 0)], pre));
    let mut mixer = Mixer::new(&p);
    let g = stemroom_engine::db_to_amplitude(-6.0);
    let expected = g + g * g + 0.25;
    assert!(
        close(settled(&mut mixer), expected),
        "direct + post-fader send + pre-fader send"
    );
}

#[test]
fn bus_inserts_process_the_bus_and_routing_loops_are_broken() {
    let mut p = ProjectDesc::new(FS);
    let mut bus = hard_left();
    bus.inserts
        .push(DeviceDesc::new(DeviceKind::Utility).with(utility::GAIN, -12.0));
    p.buses.push(BusDesc {
        id: 0,
        strip: bus,
        solo_safe: false,
    });
    p.buses.push(BusDesc {
        id: 0,
        strip: StripDesc {
            output: Output::Bus(0),
            ..hard_left()
        },
        solo_safe: false,
    });
    p.buses[0].strip.output = Output::Bus(1);
    p.tracks.push(mono_track(
        vec![ClipDesc::whole(dc(1.0, 48_000), 0)],
        StripDesc {
            output: Output::Bus(0),
            ..hard_left()
        },
    ));
    p.tracks.push(mono_track(
        vec![ClipDesc {
            asset: None,
            ..ClipDesc::whole(dc(1.0, 10), 0)
        }],
        hard_left(),
    ));
    let mut mixer = Mixer::new(&p);
    assert_eq!(
        mixer.report.dropped_routes, 1,
        "bus 0 → bus 1 → bus 0 is cut once"
    );
    assert_eq!(mixer.report.missing_assets, 1);
    let out = settled(&mut mixer);
    assert!(out.is_finite());
    // Bus 0 now goes to the master: the track arrives through its utility.
    assert!(close(out, stemroom_engine::db_to_amplitude(-12.0)), "{out}");
}

#[test]
fn parallel_render_is_bit_identical_to_the_realtime_render() {
    let mut p = ProjectDesc::new(FS);
    p.buses.push(BusDesc::default());
    let eq = DeviceDesc::new(DeviceKind::Eq)
        .with(eq::band_param(2, eq::ENABLED), 1.0)
        .with(eq::band_param(2, eq::GAIN), 6.0);
    for t in 0..13 {
        let channels = 1 + t % 2;
        let asset = AudioAsset::new(
            (0..channels)
                .map(|c| {
                    (0..20_000)
                        .map(|i| ((i * (t + 3) + c * 7) as f32 * 0.001).sin() * 0.3)
                        .collect()
                })
                .collect(),
        );
        let mut strip = StripDesc {
            pan: (t as f32 / 6.0) - 1.0,
            gain_db: -(t as f32),
            ..StripDesc::default()
        };
        if t % 3 != 0 {
            strip.inserts.push(eq.clone());
            strip.inserts.push(DeviceDesc::new(DeviceKind::Compressor));
        }
        if t % 4 == 0 {
            strip.sends.push(SendDesc {
                bus: 0,
                level_db: -3.0,
                pre_fader: t % 8 == 0,
            });
        }
        p.tracks.push(TrackDesc {
            id: 0,
            channels,
            strip,
            clips: vec![ClipDesc::whole(asset, (t * 37) as u64)],
        });
    }
    let mut a = Mixer::new(&p);
    let mut b = Mixer::new(&p);
    a.transport.playing = true;
    b.transport.playing = true;
    let mut heard = 0;
    for q in 0..200 {
        if q == 50 {
            for m in [&mut a, &mut b] {
                m.apply(
                    StripRef::Track(4),
                    StripChange::DeviceParam {
                        slot: 0,
                        param: eq::OUTPUT_GAIN as u16,
                        value: 3.0,
                    },
                );
            }
        }
        let sequential = *a.process();
        let parallel = *b.process_parallel();
        assert_eq!(sequential, parallel, "quantum {q}");
        heard += usize::from(sequential[0].iter().any(|x| *x != 0.0));
    }
    assert!(
        heard > 150,
        "the comparison covered real audio ({heard} quanta)"
    );
}

#[test]
fn a_quantum_is_exactly_quantum_frames() {
    assert_eq!(QUANTUM, 128);
}

#[test]
fn offline_render_in_parallel_is_bit_identical_to_realtime_quanta() {
    let project = stemroom_engine::workload::mixing_project(FS, 19, 1.0);
    let mut project = project;
    project.buses.push(BusDesc::default());
    project.tracks[3].strip.sends.push(SendDesc {
        bus: 0,
        level_db: -6.0,
        pre_fader: true,
    });
    project.tracks[4].strip.sends.push(SendDesc {
        bus: 0,
        level_db: -3.0,
        pre_fader: false,
    });
    let frames = 48_000 + 77;
    let mut realtime = Mixer::new(&project);
    realtime.transport.playing = true;
    let mut expected = Vec::new();
    while expected.len() < frames * 2 {
        let [left, right] = realtime.process();
        for (l, r) in left.iter().zip(right) {
            expected.push(*l);
            expected.push(*r);
        }
    }
    expected.truncate(frames * 2);
    for parallel in [false, true] {
        let mut offline = Mixer::new(&project);
        offline.transport.playing = true;
        let rendered = offline.render_offline(frames, parallel);
        assert_eq!(rendered.len(), frames * 2);
        assert!(
            rendered == expected,
            "parallel={parallel}: differs at {:?}",
            rendered.iter().zip(&expected).position(|(a, b)| a != b)
        );
    }
    assert!(expected.iter().any(|x| x.abs() > 0.01));
}

mod automation {
    use super::*;
    use stemroom_engine::automation::{AutomationDesc, AutomationTarget, Breakpoint, Curve};
    use stemroom_engine::db_to_amplitude;

    fn curve(points: &[(u64, f32, f32)]) -> Curve {
        Curve::new(
            points
                .iter()
                .map(|&(frame, value, curve)| Breakpoint {
                    frame,
                    value,
                    curve,
                })
                .collect(),
        )
    }

    /// Every output sample takes a value the curve has within 32 frames of it.
    fn assert_follows(out: &[f32], expected: impl Fn(u64) -> f32, what: &str) {
        for (i, &x) in out.iter().enumerate() {
            let i = i as u64;
            let window = (i.saturating_sub(32)..=i + 32).map(&expected);
            let (lo, hi) = window.fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let (lo, hi) = (lo - 1e-5, hi + 1e-5);
            assert!(
                x >= lo && x <= hi,
                "{what}: frame {i}: {x} not within [{lo}, {hi}]"
            );
        }
    }

    fn track_with(automation: Vec<AutomationDesc>, inserts: Vec<DeviceDesc>) -> ProjectDesc {
        let mut p = ProjectDesc::new(FS);
        p.tracks.push(mono_track(
            vec![ClipDesc::whole(dc(1.0, 48_000), 0)],
            StripDesc {
                automation,
                inserts,
                ..hard_left()
            },
        ));
        p
    }

    /// A send's level follows its curve: the bus it feeds (and nothing
    /// else) carries the track's signal at the curve's level.
    #[test]
    fn a_send_level_follows_its_curve_within_32_frames() {
        let c = curve(&[(0, -30.0, 0.0), (9_600, 0.0, 2.0), (19_200, -12.0, 0.0)]);
        let mut p = track_with(
            vec![AutomationDesc {
                target: AutomationTarget::Send { send: 0 },
                curve: c.clone(),
            }],
            vec![],
        );
        p.tracks[0].strip.sends.push(SendDesc {
            bus: 0,
            level_db: -60.0,
            pre_fader: false,
        });
        p.buses.push(BusDesc {
            id: 0,
            strip: StripDesc::default(),
            solo_safe: false,
        });
        let mut mixer = Mixer::new(&p);
        mixer.transport.playing = true;
        let mut bus = Vec::new();
        let mut quantum = [[0.0; QUANTUM]; 2];
        for _ in 0..200 {
            mixer.process();
            assert!(mixer.bus_output(0, &mut quantum));
            bus.extend_from_slice(&quantum[0]);
        }
        assert_follows(
            &bus,
            |t| db_to_amplitude(c.value_at(t).unwrap()),
            "send level",
        );
    }

    #[test]
    fn the_fader_follows_its_curve_within_32_frames() {
        let c = curve(&[(0, -40.0, 0.0), (9_600, 0.0, -3.0), (19_200, -20.0, 0.0)]);
        let p = track_with(
            vec![AutomationDesc {
                target: AutomationTarget::Gain,
                curve: c.clone(),
            }],
            vec![],
        );
        let (l, _) = render(&mut Mixer::new(&p), 200);
        assert_follows(
            &l[..24_000],
            |f| db_to_amplitude(c.value_at(f).unwrap()),
            "fader",
        );
    }

    #[test]
    fn pan_follows_its_curve_within_32_frames() {
        let c = curve(&[(0, -1.0, 0.0), (9_600, 1.0, 0.0)]);
        let p = track_with(
            vec![AutomationDesc {
                target: AutomationTarget::Pan,
                curve: c.clone(),
            }],
            vec![],
        );
        let (l, r) = render(&mut Mixer::new(&p), 100);
        let theta = |f: u64| (c.value_at(f).unwrap() + 1.0) * std::f32::consts::FRAC_PI_4;
        assert_follows(&l[..12_000], |f| theta(f).cos(), "left");
        assert_follows(&r[..12_000], |f| theta(f).sin(), "right");
    }

    #[test]
    fn master_pan_follows_its_curve_within_32_frames() {
        let c = curve(&[(0, 0.0, 0.0), (9_600, 1.0, 0.0)]);
        let mut p = ProjectDesc::new(FS);
        p.tracks.push(mono_track(
            vec![ClipDesc::whole(dc(1.0, 48_000), 0)],
            StripDesc::default(),
        ));
        p.master.automation.push(AutomationDesc {
            target: AutomationTarget::Pan,
            curve: c.clone(),
        });
        let (l, r) = render(&mut Mixer::new(&p), 100);
        // A centred mono track reaches the master at −3 dB; the master balances.
        let left =
            |f: u64| SQRT_HALF * (c.value_at(f).unwrap() * std::f32::consts::FRAC_PI_2).cos();
        assert_follows(&l[..12_000], left, "master left");
        assert!(
            r.iter().take(12_000).all(|x| (x - SQRT_HALF).abs() < 1e-5),
            "the right side stays"
        );
    }

    #[test]
    fn device_parameters_follow_their_curves_within_32_frames() {
        let c = curve(&[(0, -30.0, 0.0), (4_800, 0.0, 2.0), (9_600, -6.0, 0.0)]);
        let target = AutomationTarget::Device {
            slot: 0,
            param: utility::GAIN as u16,
        };
        let p = track_with(
            vec![AutomationDesc {
                target,
                curve: c.clone(),
            }],
            vec![DeviceDesc::new(DeviceKind::Utility)],
        );
        let (l, _) = render(&mut Mixer::new(&p), 100);
        assert_follows(
            &l[..12_000],
            |f| db_to_amplitude(c.value_at(f).unwrap()),
            "utility gain",
        );
    }

    #[test]
    fn automation_renders_offline_bit_identically() {
        let mut p = stemroom_engine::workload::mixing_project(FS, 10, 1.0);
        p.tracks[2].strip.automation.push(AutomationDesc {
            target: AutomationTarget::Gain,
            curve: curve(&[(0, -20.0, 0.0), (30_000, 0.0, 1.0)]),
        });
        p.tracks[5].strip.automation.push(AutomationDesc {
            target: AutomationTarget::Device {
                slot: 0,
                param: eq::band_param(1, eq::FREQUENCY) as u16,
            },
            curve: curve(&[(0, 200.0, 0.0), (40_000, 4_000.0, -2.0)]),
        });
        p.tracks[7].strip.automation.push(AutomationDesc {
            target: AutomationTarget::Pan,
            curve: curve(&[(0, -1.0, 0.0), (20_000, 1.0, 0.0)]),
        });
        let frames = 48_000;
        let mut realtime = Mixer::new(&p);
        realtime.transport.playing = true;
        let mut expected = Vec::new();
        while expected.len() < frames * 2 {
            let [left, right] = realtime.process();
            for (a, b) in left.iter().zip(right) {
                expected.push(*a);
                expected.push(*b);
            }
        }
        let mut offline = Mixer::new(&p);
        offline.transport.playing = true;
        assert!(offline.render_offline(frames, true) == expected);
    }
}

#[test]
fn a_tempo_synced_delay_echoes_on_the_beat() {
    use stemroom_engine::device::delay;
    use stemroom_engine::tempo::{TempoMap, TimeSignature};
    for (bpm, expected) in [(120.0, 12_000usize), (90.0, 16_000)] {
        let mut p = ProjectDesc::new(FS);
        p.tempo = TempoMap::constant(FS, bpm, TimeSignature::FOUR_FOUR);
        let mut impulse = vec![0.0; 48_000];
        impulse[0] = 1.0;
        let echo = DeviceDesc::new(DeviceKind::Delay)
            .with(delay::SYNC, 0.5)
            .with(delay::FEEDBACK, 0.0)
            .with(delay::MIX, 1.0)
            .with(delay::DAMPING, 20_000.0);
        p.tracks.push(mono_track(
            vec![ClipDesc::whole(AudioAsset::new(vec![impulse]), 0)],
            StripDesc {
                inserts: vec![echo],
                ..hard_left()
            },
        ));
        let (l, _) = render(&mut Mixer::new(&p), 200);
        let loudest =
            l.iter().enumerate().fold(
                (0, 0f32),
                |m, (i, x)| if x.abs() > m.1 { (i, x.abs()) } else { m },
            );
        assert_eq!(loudest.0, expected, "an eighth note at {bpm} BPM");
    }
}
