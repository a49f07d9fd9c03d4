//! The engine's real-time contract, checked on the real code paths.

use stemroom_engine::alloc_guard::{CountingAllocator, count_allocations};
use stemroom_engine::realtime::{STOP_FADE_SECONDS, TEST_TONE_AMPLITUDE};
use stemroom_engine::{Command, QUANTUM, engine_pair};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

#[test]
fn the_guard_sees_an_allocation() {
    let (_, allocs) = count_allocations(|| std::hint::black_box(vec![1u8; 64]));
    assert!(allocs >= 1, "the allocation guard must be able to fail");
}

#[test]
fn process_never_allocates_while_commands_flow() {
    let (mut control, mut engine) = engine_pair(48_000.0);
    for i in 0..2_000u32 {
        let command = match i % 4 {
            0 => Command::Play,
            1 => Command::SetTestTone {
                frequency_hz: 220.0 + i as f32,
                gain_db: -12.0,
            },
            2 => Command::Seek {
                frame: u64::from(i) * 7,
            },
            _ => Command::Stop,
        };
        control.send(command).unwrap();
        let (_, allocs) = count_allocations(|| {
            engine.process();
        });
        assert_eq!(allocs, 0, "quantum {i} allocated");
    }
}

#[test]
fn play_renders_the_tone_and_stop_fades_out_without_a_click() {
    let sr = 48_000.0;
    let (mut control, mut engine) = engine_pair(sr);
    assert!(
        engine.process().iter().flatten().all(|s| *s == 0.0),
        "silent before Play"
    );

    control.send(Command::Play).unwrap();
    let first = *engine.process();
    assert_eq!(first[0][0], 0.0, "the tone starts at phase zero");
    assert_eq!(first[0], first[1], "the test tone is centred");
    assert!((first[0].iter().fold(0f32, |m, s| m.max(s.abs())) - TEST_TONE_AMPLITUDE).abs() < 1e-3);
    // Longer than the RMS window, so the readout is the steady tone's.
    for _ in 0..200 {
        engine.process();
    }
    let m = control.meters();
    assert!(m.playing);
    assert!(
        m.momentary_lufs.is_finite() && m.true_peak_dbtp > -6.1,
        "{m:?}"
    );
    assert_eq!(m.position, 201 * QUANTUM as u64);
    assert!(
        (m.rms[0] - TEST_TONE_AMPLITUDE / 2f32.sqrt()).abs() < 1e-3,
        "{m:?}"
    );

    control.send(Command::Stop).unwrap();
    let fade_frames = (STOP_FADE_SECONDS * sr) as usize;
    let mut tail = Vec::new();
    for _ in 0..fade_frames.div_ceil(QUANTUM) + 1 {
        tail.extend_from_slice(&engine.process()[0]);
    }
    let steps = tail
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0f32, f32::max);
    let max_sine_step = TEST_TONE_AMPLITUDE * std::f32::consts::TAU * 440.0 / sr;
    assert!(
        steps <= max_sine_step * 1.01,
        "a step of {steps} is a click"
    );
    assert!(
        tail[fade_frames + 1..].iter().all(|s| *s == 0.0),
        "silent after the fade"
    );
    assert!(!control.meters().playing);
}

#[test]
fn loudness_meter_never_allocates_while_measuring() {
    use stemroom_engine::loudness::{LoudnessMeter, channel_weights};
    let mut meter = LoudnessMeter::new(48_000, &channel_weights(2));
    let left: Vec<f32> = (0..QUANTUM)
        .map(|i| (i as f32 * 0.05).sin() * 0.5)
        .collect();
    let right = left.clone();
    // Long enough to fill every window and both gating histograms.
    for _ in 0..2_000 {
        let (_, allocs) = count_allocations(|| meter.process(&[&left, &right]));
        assert_eq!(allocs, 0);
    }
    let (_, allocs) = count_allocations(|| (meter.integrated(), meter.loudness_range()));
    assert_eq!(allocs, 0);
}

#[test]
fn mixer_process_never_allocates_with_devices_buses_and_changes() {
    use stemroom_engine::device::{DeviceDesc, DeviceKind};
    use stemroom_engine::mixer::{Mixer, StripChange, StripRef};
    use stemroom_engine::project::{
        AudioAsset, BusDesc, ClipDesc, ProjectDesc, SendDesc, StripDesc, TrackDesc,
    };

    let mut p = ProjectDesc::new(48_000);
    p.buses.push(BusDesc::default());
    p.master.inserts.push(DeviceDesc::new(DeviceKind::Limiter));
    let asset = AudioAsset::new(vec![(0..48_000).map(|i| (i as f32 * 0.01).sin()).collect()]);
    for t in 0..9 {
        let mut strip = StripDesc::default();
        for kind in [
            DeviceKind::Eq,
            DeviceKind::Compressor,
            DeviceKind::Utility,
            DeviceKind::Reverb,
            DeviceKind::Delay,
        ] {
            strip.inserts.push(DeviceDesc::new(kind));
        }
        strip.sends.push(SendDesc {
            bus: 0,
            level_db: -6.0,
            pre_fader: t % 2 == 0,
        });
        p.tracks.push(TrackDesc {
            id: 0,
            channels: 1 + t % 2,
            strip,
            clips: vec![ClipDesc::whole(asset.clone(), t as u64 * 100)],
        });
    }
    let mut mixer = Mixer::new(&p);
    mixer.transport.playing = true;
    for q in 0..1_000u32 {
        let change = match q % 5 {
            0 => StripChange::Solo(q % 10 == 0),
            1 => StripChange::GainDb(-((q % 12) as f32)),
            2 => StripChange::DeviceParam {
                slot: 0,
                param: 2,
                value: 200.0 + q as f32,
            },
            3 => StripChange::Pan(((q % 7) as f32 - 3.0) / 3.0),
            _ => StripChange::Mute(q % 3 == 0),
        };
        let (_, allocs) = count_allocations(|| {
            mixer.apply(StripRef::Track(q % 9), change);
            mixer.process();
        });
        assert_eq!(allocs, 0, "quantum {q}");
    }
}

/// A project of one mono track playing a DC level hard left, for plan tests.
fn dc_project(level: f32) -> stemroom_engine::mixer::Mixer {
    use stemroom_engine::project::{AudioAsset, ClipDesc, ProjectDesc, StripDesc, TrackDesc};
    let mut p = ProjectDesc::new(48_000);
    p.tracks.push(TrackDesc {
        id: 0,
        channels: 1,
        strip: StripDesc {
            pan: -1.0,
            ..StripDesc::default()
        },
        clips: vec![ClipDesc::whole(
            AudioAsset::new(vec![vec![level; 480_000]]),
            0,
        )],
    });
    stemroom_engine::mixer::Mixer::new(&p)
}

#[test]
fn swapping_plans_crossfades_without_a_gap_and_returns_the_old_plan() {
    use stemroom_engine::realtime::SWAP_CROSSFADE_FRAMES;
    let (mut control, mut engine) = engine_pair(48_000.0);
    assert!(control.load(dc_project(0.25)).is_ok());
    control.send(Command::Play).unwrap();
    for _ in 0..10 {
        engine.process();
    }
    assert_eq!(engine.output()[0][0], 0.25);
    control.load(dc_project(0.75)).unwrap();
    let mut left = Vec::new();
    for _ in 0..4 {
        left.extend_from_slice(&engine.process()[0]);
    }
    // A linear crossfade: every sample between the two levels, each step tiny.
    assert!(left.iter().all(|x| (0.25..=0.75).contains(x)), "no gap");
    let step = left
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0f32, f32::max);
    assert!(
        step <= 0.5 / SWAP_CROSSFADE_FRAMES as f32 + 1e-6,
        "no click: step {step}"
    );
    assert_eq!(*left.last().unwrap(), 0.75);
    assert_eq!(
        engine.transport().position,
        14 * QUANTUM as u64,
        "the transport kept going"
    );
    control.collect();
    let peaks: Vec<f32> = control.strip_meters().map(|m| m.peak).collect();
    assert_eq!(peaks.len(), 2, "one track and the master");
    assert!((peaks[0] - 0.75).abs() < 1e-6, "{peaks:?}");
}

#[test]
fn strip_commands_reach_the_loaded_plan_and_stop_fades_out() {
    use stemroom_engine::mixer::{StripChange, StripRef};
    let (mut control, mut engine) = engine_pair(48_000.0);
    control.load(dc_project(0.5)).unwrap();
    control.send(Command::Play).unwrap();
    control
        .send(Command::Strip {
            strip: StripRef::Track(0),
            change: StripChange::GainDb(-6.0),
        })
        .unwrap();
    for _ in 0..20 {
        engine.process();
    }
    let expected = 0.5 * stemroom_engine::db_to_amplitude(-6.0);
    assert!((engine.output()[0][127] - expected).abs() < 1e-6);
    control.send(Command::Stop).unwrap();
    let mut tail = Vec::new();
    for _ in 0..3 {
        tail.extend_from_slice(&engine.process()[0]);
    }
    assert!(
        tail.windows(2).all(|w| w[1] <= w[0] + 1e-7),
        "a monotone fade, no click"
    );
    assert_eq!(*tail.last().unwrap(), 0.0);
    assert!(!engine.transport().playing);
}

#[test]
fn plan_swaps_and_commands_never_allocate_on_the_audio_thread() {
    let (mut control, mut engine) = engine_pair(48_000.0);
    control.send(Command::Play).unwrap();
    for round in 0..20 {
        // Built (and later freed) on this "control" thread, outside the guard.
        control.load(dc_project(0.1 * (round % 5) as f32)).unwrap();
        for q in 0..5 {
            control
                .send(Command::Seek {
                    frame: (round * 1000 + q) as u64,
                })
                .unwrap();
            let (_, allocs) = count_allocations(|| {
                engine.process();
            });
            assert_eq!(allocs, 0, "round {round}, quantum {q}");
        }
        control.collect();
    }
}

mod meters {
    use super::*;
    use stemroom_engine::device::{DeviceDesc, DeviceKind, compressor};
    use stemroom_engine::mixer::Mixer;
    use stemroom_engine::project::{
        AudioAsset, BusDesc, ClipDesc, Output, ProjectDesc, StripDesc, TrackDesc,
    };

    fn run(engine: &mut stemroom_engine::Engine, seconds: f32) {
        for _ in 0..(seconds * 48_000.0) as usize / QUANTUM {
            engine.process();
        }
    }

    #[test]
    fn strips_report_peak_rms_and_gain_reduction() {
        let mut p = ProjectDesc::new(48_000);
        let comp = DeviceDesc::new(DeviceKind::Compressor)
            .with(compressor::THRESHOLD, -20.0)
            .with(compressor::RATIO, 4.0)
            .with(compressor::KNEE, 0.0);
        p.tracks.push(TrackDesc {
            id: 0,
            channels: 1,
            strip: StripDesc {
                pan: -1.0,
                inserts: vec![comp],
                ..StripDesc::default()
            },
            clips: vec![ClipDesc::whole(
                AudioAsset::new(vec![vec![0.5; 48_000 * 4]]),
                0,
            )],
        });
        let (mut control, mut engine) = engine_pair(48_000.0);
        control.load(Mixer::new(&p)).unwrap();
        control.send(Command::Play).unwrap();
        // Ten time constants of the 300 ms RMS average.
        run(&mut engine, 3.0);
        let track = control.strip_meters().next().unwrap();
        let reduction = -0.75 * (20.0 * 0.5f32.log10() + 20.0);
        let level = 0.5 * stemroom_engine::db_to_amplitude(reduction);
        assert!(
            (track.gain_reduction_db - reduction).abs() < 0.05,
            "{track:?}"
        );
        assert!(
            (track.peak - level).abs() < 1e-3 && (track.rms - level).abs() < 1e-3,
            "{track:?}"
        );
    }

    #[test]
    fn master_phase_correlation_tells_mono_from_inverted() {
        for (right_sign, expected) in [(1.0f32, 1.0f32), (-1.0, -1.0)] {
            let signal: Vec<f32> = (0..96_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
            let right = signal.iter().map(|x| x * right_sign).collect();
            let mut p = ProjectDesc::new(48_000);
            p.tracks.push(TrackDesc {
                id: 0,
                channels: 2,
                strip: StripDesc::default(),
                clips: vec![ClipDesc::whole(AudioAsset::new(vec![signal, right]), 0)],
            });
            let (mut control, mut engine) = engine_pair(48_000.0);
            control.load(Mixer::new(&p)).unwrap();
            control.send(Command::Play).unwrap();
            run(&mut engine, 1.0);
            let m = control.meters();
            assert!((m.correlation - expected).abs() < 1e-3, "{}", m.correlation);
        }
        let (mut control, mut engine) = engine_pair(48_000.0);
        run(&mut engine, 0.1);
        assert_eq!(
            control.meters().correlation,
            0.0,
            "silence has no correlation"
        );
    }

    #[test]
    fn a_bus_is_measured_in_lufs_on_request() {
        let tone: Vec<f32> = (0..48_000 * 12)
            .map(|i| {
                let t = i as f32 / 48_000.0;
                stemroom_engine::db_to_amplitude(-23.0) * (std::f32::consts::TAU * 1000.0 * t).sin()
            })
            .collect();
        let mut p = ProjectDesc::new(48_000);
        p.buses.push(BusDesc::default());
        p.tracks.push(TrackDesc {
            id: 0,
            channels: 2,
            strip: StripDesc {
                output: Output::Bus(0),
                ..StripDesc::default()
            },
            clips: vec![ClipDesc::whole(
                AudioAsset::new(vec![tone.clone(), tone]),
                0,
            )],
        });
        let (mut control, mut engine) = engine_pair(48_000.0);
        control.load(Mixer::new(&p)).unwrap();
        assert!(
            control.meters().bus.momentary_lufs.is_infinite(),
            "nothing measured before the request"
        );
        control.send(Command::MeterBus { bus: Some(0) }).unwrap();
        control.send(Command::Play).unwrap();
        run(&mut engine, 10.0);
        let m = control.meters();
        let bus = m.bus;
        assert!(
            (bus.integrated_lufs + 23.0).abs() < 0.1,
            "bus integrated {bus:?}"
        );
        assert!(
            (bus.short_term_lufs + 23.0).abs() < 0.1,
            "bus short-term {bus:?}"
        );
        assert!(bus.range_lu < 0.1, "a steady tone has no range: {bus:?}");
        assert!((bus.true_peak_dbtp + 23.0).abs() < 0.2, "{bus:?}");
        assert!(
            (bus.correlation - 1.0).abs() < 1e-3,
            "identical channels: {bus:?}"
        );
        assert!(
            (m.integrated_lufs + 23.0).abs() < 0.1,
            "the master sees the same ({})",
            m.integrated_lufs
        );
        control.send(Command::MeterBus { bus: None }).unwrap();
        run(&mut engine, 0.01);
        assert_eq!(
            control.meters().bus,
            stemroom_engine::meter::BusLoudness::SILENT
        );
    }

    #[test]
    fn non_finite_parameters_are_replaced_and_counted() {
        use stemroom_engine::mixer::{StripChange, StripRef};
        let mut p = ProjectDesc::new(48_000);
        p.tracks.push(TrackDesc {
            id: 0,
            channels: 1,
            strip: StripDesc {
                inserts: vec![DeviceDesc::new(DeviceKind::Compressor)],
                ..StripDesc::default()
            },
            clips: vec![ClipDesc::whole(
                AudioAsset::new(vec![vec![0.25; 48_000]]),
                0,
            )],
        });
        let (mut control, mut engine) = engine_pair(48_000.0);
        control.load(Mixer::new(&p)).unwrap();
        control.send(Command::Play).unwrap();
        let track = StripRef::Track(0);
        for change in [
            StripChange::GainDb(f32::NAN),
            StripChange::Pan(f32::INFINITY),
            StripChange::DeviceParam {
                slot: 0,
                param: compressor::THRESHOLD as u16,
                value: f32::NAN,
            },
        ] {
            control
                .send(Command::Strip {
                    strip: track,
                    change,
                })
                .unwrap();
        }
        run(&mut engine, 0.2);
        assert_eq!(control.meters().sanitised, 3, "three bad values, counted");
        let out = engine.output();
        assert!(
            out.iter().flatten().all(|x| x.is_finite() && x.abs() > 0.0),
            "and the track still plays"
        );
    }
}

#[test]
fn every_replaced_plan_comes_back_to_the_control_thread() {
    use stemroom_engine::mixer::Mixer;
    use stemroom_engine::project::{AudioAsset, ClipDesc, ProjectDesc, StripDesc, TrackDesc};
    // Every plan holds the same asset: its reference count says how many
    // plans are alive. Bursts of loads between quanta swap plans several at
    // a time; none may leak, and none may be freed on the audio thread.
    let asset = AudioAsset::new(vec![vec![0.1; 4_800]]);
    let plan = || {
        let mut p = ProjectDesc::new(48_000);
        p.tracks.push(TrackDesc {
            id: 0,
            channels: 1,
            strip: StripDesc::default(),
            clips: vec![ClipDesc::whole(asset.clone(), 0)],
        });
        Mixer::new(&p)
    };
    let (mut control, mut engine) = engine_pair(48_000.0);
    control.send(Command::Play).unwrap();
    for burst in 0..12 {
        for _ in 0..1 + burst % 6 {
            control.load(plan()).unwrap();
        }
        for q in 0..4 {
            let (_, allocs) = count_allocations(|| {
                engine.process();
            });
            assert_eq!(allocs, 0, "burst {burst}, quantum {q}");
        }
    }
    control.collect();
    assert_eq!(
        std::sync::Arc::strong_count(&asset),
        2,
        "ours and the playing plan's"
    );
}

/// Stop and return to start: the fade-out finishes where playback was
/// (no jump, no click), and only then does the transport move.
#[test]
fn a_seek_during_the_stop_fade_lands_after_it() {
    let (mut control, mut engine) = engine_pair(48_000.0);
    control.send(Command::Play).unwrap();
    for _ in 0..100 {
        engine.process();
    }
    let before = *engine.output();
    control.send(Command::Stop).unwrap();
    control.send(Command::Seek { frame: 0 }).unwrap();
    let first = *engine.process();
    // The fade continues the tone: the first sample follows the last.
    let step = (first[0][0] - before[0][QUANTUM - 1]).abs();
    let max_sine_step = TEST_TONE_AMPLITUDE * std::f32::consts::TAU * 440.0 / 48_000.0;
    assert!(step <= max_sine_step * 1.01, "a jump of {step} at the stop");
    for _ in 0..4 {
        engine.process();
    }
    let m = control.meters();
    assert!(!m.playing);
    assert_eq!(m.position, 0, "back at the start once the fade is done");
}

/// A seek while playing — a click on the ruler, a follower re-syncing to
/// its leader — crossfades the clips from where the transport was to
/// where it goes: no click, no gap, and then exactly the new position.
#[test]
fn a_seek_while_playing_crossfades_without_a_click() {
    use stemroom_engine::mixer::CLIP_CROSSFADE_FRAMES;
    use stemroom_engine::project::{AudioAsset, ClipDesc, ProjectDesc, StripDesc, TrackDesc};
    const RATE: f32 = 48_000.0;
    const AMPLITUDE: f32 = 0.5;
    let sine =
        |frame: u64| AMPLITUDE * (std::f32::consts::TAU * 1_000.0 * frame as f32 / RATE).sin();
    let mut p = ProjectDesc::new(48_000);
    p.tracks.push(TrackDesc {
        id: 0,
        channels: 1,
        strip: StripDesc {
            pan: -1.0,
            ..StripDesc::default()
        },
        clips: vec![ClipDesc::whole(
            AudioAsset::new(vec![(0..240_000).map(sine).collect()]),
            0,
        )],
    });
    let (mut control, mut engine) = engine_pair(RATE);
    control
        .load(stemroom_engine::mixer::Mixer::new(&p))
        .unwrap();
    control.send(Command::Play).unwrap();
    let mut left = Vec::new();
    for _ in 0..10 {
        left.extend_from_slice(&engine.process()[0]);
    }
    // A quarter period on: without the crossfade, a step of √2 × amplitude.
    let target = 48_012;
    control.send(Command::Seek { frame: target }).unwrap();
    let quanta = 2 * CLIP_CROSSFADE_FRAMES / QUANTUM + 2;
    for _ in 0..quanta {
        let (_, allocs) = count_allocations(|| {
            engine.process();
        });
        assert_eq!(allocs, 0, "a seek's crossfade allocates nothing");
        left.extend_from_slice(&engine.output()[0]);
    }
    // A sine's steepest step, plus what a linear crossfade between two
    // phases can add (at most 2 × amplitude over the fade).
    let bound = AMPLITUDE * std::f32::consts::TAU * 1_000.0 / RATE
        + 2.0 * AMPLITUDE / CLIP_CROSSFADE_FRAMES as f32;
    let step = left
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0f32, f32::max);
    assert!(step <= bound * 1.01, "a step of {step} (bound {bound})");
    // After the fade, the clip exactly as it is at the new position.
    let seek_at = 10 * QUANTUM;
    for (i, x) in left[seek_at + CLIP_CROSSFADE_FRAMES..].iter().enumerate() {
        let expected = sine(target + (CLIP_CROSSFADE_FRAMES + i) as u64);
        assert!(
            (x - expected).abs() < 1e-5,
            "frame {i} after the fade: {x} vs {expected}"
        );
    }
    assert_eq!(
        engine.transport().position,
        target + (quanta * QUANTUM) as u64
    );
}

/// A seek while stopped, then Play, starts cleanly at the new position:
/// nothing of the old one fades in.
#[test]
fn play_after_a_seek_while_stopped_starts_at_the_new_position() {
    let (mut control, mut engine) = engine_pair(48_000.0);
    control.load(dc_project(0.5)).unwrap();
    control.send(Command::Play).unwrap();
    for _ in 0..4 {
        engine.process();
    }
    control.send(Command::Stop).unwrap();
    for _ in 0..200 {
        engine.process();
    }
    assert!(!engine.transport().playing);
    control.send(Command::Seek { frame: 96_000 }).unwrap();
    control.send(Command::Play).unwrap();
    engine.process();
    assert!(
        engine.output()[0].iter().all(|x| *x == 0.5),
        "no crossfade on Play"
    );
}

/// Recording: the input of each quantum reaches the capture ring exactly,
/// the take's start is marked at the transport position its first frame
/// plays at, the stop is marked where it happens, and none of it
/// allocates on the audio thread.
#[test]
fn capture_takes_the_input_where_it_played_without_allocating() {
    use stemroom_engine::capture::{Mark, capture_ring};
    let (mut control, mut engine) = engine_pair(48_000.0);
    let (writer, mut reader) = capture_ring(1.0, 48_000.0);
    engine.set_capture(writer);
    control.send(Command::Seek { frame: 4_800 }).unwrap();
    control.send(Command::Play).unwrap();
    let input = |q: usize| -> Vec<f32> {
        (0..QUANTUM)
            .map(|i| ((q * QUANTUM + i) as f32).sin())
            .collect()
    };
    for q in 0..10 {
        let samples = input(q);
        let (_, allocs) = count_allocations(|| {
            engine.capture_input(&[&samples]);
            engine.process();
        });
        assert_eq!(allocs, 0, "quantum {q} allocated");
        if q == 3 {
            control.send(Command::Record { enabled: true }).unwrap();
        }
        if q == 7 {
            control.send(Command::Record { enabled: false }).unwrap();
        }
    }
    // Record was asked after quantum 3; the engine takes it in quantum 4's
    // render, so the take starts with quantum 4's input, which plays at
    // 4 800 + 4 quanta (Seek and Play were taken in quantum 0's), and ends
    // after quantum 8's (the stop taken in its render).
    assert_eq!(
        reader.next_mark(),
        Some(Mark {
            frame: 0,
            position: Some(4_800 + 4 * QUANTUM as u64),
            starts: true
        })
    );
    let stop = reader.next_mark().unwrap();
    assert!(!stop.starts);
    assert_eq!(stop.frame, 5 * QUANTUM as u64);
    let mut out = vec![0.0; 8 * QUANTUM * 2];
    let (frames, first) = reader.pop(&mut out);
    assert_eq!((frames, first), (5 * QUANTUM, 0));
    for (i, frame) in out[..frames * 2].chunks(2).enumerate() {
        let expected = ((4 * QUANTUM + i) as f32).sin();
        assert_eq!(
            frame,
            [expected, expected],
            "frame {i}: mono fills both channels"
        );
    }
    assert_eq!(reader.dropped(), 0);
    assert!(
        reader.take_peaks()[0] > 0.9,
        "the input meter saw the input"
    );
}

/// Calibration: the clicks go out from the first frame the take captures,
/// so a loopback of the output `delay` frames late measures as exactly
/// `delay`, and the take ends by itself after the clicks.
#[test]
fn calibration_measures_a_loopback_exactly() {
    use stemroom_engine::capture::capture_ring;
    use stemroom_engine::take::{calibration_clicks, measure_latency};
    for delay in [0usize, 1, 127, 2_768, 9_001] {
        let (mut control, mut engine) = engine_pair(48_000.0);
        let (writer, mut reader) = capture_ring(4.0, 48_000.0);
        engine.set_capture(writer);
        // What came out, and comes back `delay` frames after the quantum
        // it went out in (a quantum's input is taken before its output).
        let mut line = vec![0.0f32; delay + QUANTUM];
        let mut recorded = Vec::new();
        let mut scratch = vec![0.0f32; 48_000 * 2];
        let mut stopped = false;
        for q in 0..1_200 {
            let input: Vec<f32> = line.drain(..QUANTUM).collect();
            let (_, allocs) = count_allocations(|| {
                engine.capture_input(&[&input]);
                engine.process();
            });
            assert_eq!(allocs, 0, "quantum {q} allocated");
            line.extend_from_slice(&engine.output()[0]);
            if q == 2 {
                control.send(Command::Calibrate).unwrap();
            }
            let (frames, _) = reader.pop(&mut scratch);
            recorded.extend(scratch[..frames * 2].iter().step_by(2));
            while let Some(mark) = reader.next_mark() {
                assert_eq!(mark.position, None, "the transport stays stopped");
                stopped |= !mark.starts;
            }
            if stopped {
                break;
            }
        }
        assert!(stopped, "the calibration take ended by itself");
        let clicks = calibration_clicks(48_000);
        assert!(recorded.len() >= clicks.len());
        assert_eq!(
            measure_latency(&clicks, &recorded, 24_000),
            Some((delay + QUANTUM) as u64),
            "a loopback of {delay} frames"
        );
    }
}

/// Seek, Play and Record sent together (the record button) start the take
/// at the Seek's position with that quantum's input: nothing between the
/// cursor and the take's first frame is missed.
#[test]
fn a_take_started_with_play_starts_at_the_seek() {
    use stemroom_engine::capture::capture_ring;
    let (mut control, mut engine) = engine_pair(48_000.0);
    let (writer, mut reader) = capture_ring(1.0, 48_000.0);
    engine.set_capture(writer);
    let quantum: Vec<f32> = (0..QUANTUM).map(|i| i as f32 / QUANTUM as f32).collect();
    engine.capture_input(&[&quantum]);
    engine.process();
    for command in [
        Command::Seek { frame: 96_000 },
        Command::Play,
        Command::Record { enabled: true },
    ] {
        control.send(command).unwrap();
    }
    engine.capture_input(&[&quantum]);
    engine.process();
    let mark = reader.next_mark().unwrap();
    assert_eq!(
        (mark.frame, mark.position, mark.starts),
        (0, Some(96_000), true)
    );
    let mut out = vec![0.0; 4 * QUANTUM];
    let (frames, _) = reader.pop(&mut out);
    assert_eq!(frames, QUANTUM, "the quantum the take started in is in it");
    assert_eq!(out[2 * 5], quantum[5]);
}

/// Input monitoring: a track monitoring the input plays it through its
/// strip exactly as a clip of the same samples would (a null test), for
/// In 1, In 2 and both on a stereo track; monitoring never allocates, and
/// a plan without it ignores the input.
#[test]
fn a_monitoring_track_plays_the_input_through_its_strip() {
    use stemroom_engine::capture::capture_ring;
    use stemroom_engine::project::{
        AudioAsset, ClipDesc, Monitor, MonitorInput, ProjectDesc, StripDesc, TrackDesc,
    };
    let frames = 40 * QUANTUM;
    let left: Vec<f32> = (0..frames)
        .map(|i| (i as f32 * 0.031).sin() * 0.5)
        .collect();
    let right: Vec<f32> = (0..frames)
        .map(|i| (i as f32 * 0.017).cos() * 0.25)
        .collect();
    let strip = StripDesc {
        gain_db: -6.0,
        pan: 0.3,
        ..StripDesc::default()
    };
    let track = |channels: usize, clips: Vec<ClipDesc>| TrackDesc {
        id: 7,
        channels,
        strip: strip.clone(),
        clips,
    };
    for (input, channels, heard) in [
        (MonitorInput::First, 1, vec![left.clone()]),
        (MonitorInput::Second, 1, vec![right.clone()]),
        (MonitorInput::Both, 2, vec![left.clone(), right.clone()]),
        (
            MonitorInput::Both,
            1,
            vec![
                left.iter()
                    .zip(&right)
                    .map(|(a, b)| 0.5 * (a + b))
                    .collect(),
            ],
        ),
    ] {
        // The reference: a clip of what the track hears, playing from 0.
        let mut clip_project = ProjectDesc::new(48_000);
        clip_project.tracks.push(track(
            channels,
            vec![ClipDesc::whole(AudioAsset::new(heard), 0)],
        ));
        let (mut reference_control, mut reference) = engine_pair(48_000.0);
        reference_control.load_project(&clip_project).unwrap();
        reference_control.send(Command::Play).unwrap();
        // Monitoring: no clip, the input instead (the transport stopped).
        let mut monitored = ProjectDesc::new(48_000);
        monitored.tracks.push(track(channels, Vec::new()));
        monitored.monitor.push(Monitor { track: 0, input });
        let (mut control, mut engine) = engine_pair(48_000.0);
        let (writer, _reader) = capture_ring(1.0, 48_000.0);
        engine.set_capture(writer);
        control.load_project(&monitored).unwrap();
        // Both take their plan in the first quantum, quantum by quantum
        // the same frames.
        for q in 0..frames / QUANTUM {
            let at = q * QUANTUM..(q + 1) * QUANTUM;
            let (_, allocs) = count_allocations(|| {
                engine.capture_input(&[&left[at.clone()], &right[at.clone()]]);
                engine.process();
            });
            assert_eq!(allocs, 0, "{input:?} quantum {q} allocated");
            let expected = reference.process();
            for (ch, (got, want)) in engine.output().iter().zip(expected).enumerate() {
                for (i, (&got, &want)) in got.iter().zip(want).enumerate() {
                    assert!(
                        (got - want).abs() < 1e-6,
                        "{input:?} ch {ch} frame {i} of {q}: {got} vs {want}"
                    );
                }
            }
        }
    }
    // Without monitoring the input is not heard.
    let mut silent = ProjectDesc::new(48_000);
    silent.tracks.push(track(1, Vec::new()));
    let (mut control, mut engine) = engine_pair(48_000.0);
    let (writer, _reader) = capture_ring(1.0, 48_000.0);
    engine.set_capture(writer);
    control.load_project(&silent).unwrap();
    for _ in 0..4 {
        engine.capture_input(&[&left[..QUANTUM]]);
        engine.process();
    }
    assert!(engine.output().iter().flatten().all(|x| *x == 0.0));
}
