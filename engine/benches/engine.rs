//! Native engine benchmark: `cargo bench -p stemroom-engine --bench engine`
//! (run by `cargo xtask bench`). Prints figures, never asserts them.

use std::time::{Duration, Instant};

use stemroom_engine::mixer::Mixer;
use stemroom_engine::workload::mixing_project;
use stemroom_engine::{Command, QUANTUM, Update, engine_pair};

const SAMPLE_RATE: u32 = 48_000;
const BUDGET_US: f64 = QUANTUM as f64 / SAMPLE_RATE as f64 * 1e6;

/// Median of several timed runs of `quanta` quanta, in µs per quantum.
fn time_per_quantum(mixer: &mut Mixer, quanta: usize, parallel: bool) -> f64 {
    let mut runs = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..quanta {
            let out = if parallel {
                mixer.process_parallel()
            } else {
                mixer.process()
            };
            std::hint::black_box(out);
        }
        runs.push(start.elapsed().as_secs_f64() * 1e6 / quanta as f64);
    }
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

/// Recording's cost on the audio thread: the 64-track project playing, a
/// stereo input handed to the engine each quantum, with and without a take
/// running (one ring push, whatever the number of armed tracks), and with
/// 8 tracks monitoring the input.
fn recording_cost() {
    use stemroom_engine::capture::capture_ring;
    use stemroom_engine::project::{Monitor, MonitorInput};
    let run = |record: bool, monitors: usize| -> (f64, f64) {
        let mut project = mixing_project(SAMPLE_RATE, 64, 4.0);
        project.monitor = (0..monitors)
            .map(|track| Monitor {
                track,
                input: MonitorInput::Both,
            })
            .collect();
        let (mut control, mut engine) = engine_pair(SAMPLE_RATE as f32);
        let (writer, mut reader) = capture_ring(10.0, SAMPLE_RATE as f32);
        engine.set_capture(writer);
        control.load_project(&project).unwrap();
        control.send(Command::Play).unwrap();
        if record {
            control.send(Command::Record { enabled: true }).unwrap();
        }
        let left: Vec<f32> = (0..QUANTUM).map(|i| (i as f32 * 0.05).sin()).collect();
        let right: Vec<f32> = (0..QUANTUM).map(|i| (i as f32 * 0.07).sin()).collect();
        let mut drained = vec![0.0; 4 * 48_000];
        // (capture_input alone, whole quantum) per run, µs per quantum.
        let mut runs = Vec::new();
        for _ in 0..7 {
            let (mut capture, mut whole) = (Duration::ZERO, Duration::ZERO);
            for _ in 0..200 {
                let start = Instant::now();
                engine.capture_input(&[&left, &right]);
                let captured = Instant::now();
                std::hint::black_box(engine.process());
                capture += captured - start;
                whole += start.elapsed();
            }
            runs.push((
                capture.as_secs_f64() * 1e6 / 200.0,
                whole.as_secs_f64() * 1e6 / 200.0,
            ));
            // The page's recorder, between runs (not timed).
            while reader.pop(&mut drained).0 > 0 {}
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        (
            median(runs.iter().map(|r| r.0).collect()),
            median(runs.iter().map(|r| r.1).collect()),
        )
    };
    let (metered, input) = run(false, 0);
    let (captured, recording) = run(true, 0);
    let (_, monitoring) = run(true, 8);
    println!(
        "recording, 64 tracks playing, stereo input: the input metered {:.2} µs/quantum, metered and captured (a take running) {:.2} µs: +{:.2} µs, {:.3}% of the budget (whole quantum {input:.1} → {recording:.1} µs); 8 tracks monitoring the input {monitoring:.1} µs",
        metered,
        captured,
        captured - metered,
        (captured - metered) / BUDGET_US * 100.0,
    );
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("engine, native: {SAMPLE_RATE} Hz, {QUANTUM}-frame quanta; workload: N mono tracks");
    println!("each 4-band EQ + compressor + pan, stereo master with true-peak limiter");
    println!();
    println!(
        "{:>7} {:>14} {:>18} {:>16}",
        "tracks", "µs/quantum", "ns/track-sample", "% of budget"
    );
    for tracks in [16usize, 64, 256] {
        let project = mixing_project(SAMPLE_RATE, tracks, 4.0);
        let mut mixer = Mixer::new(&project);
        mixer.transport.playing = true;
        for _ in 0..50 {
            mixer.process();
        }
        let us = time_per_quantum(&mut mixer, 200, false);
        println!(
            "{tracks:>7} {us:>14.1} {:>18.2} {:>15.1}%",
            us * 1000.0 / (tracks * QUANTUM) as f64,
            us / BUDGET_US * 100.0
        );
    }

    recording_cost();

    // Offline render: 64 tracks × 3 minutes through `Mixer::render_offline`.
    let seconds = 180.0;
    let project = mixing_project(SAMPLE_RATE, 64, seconds);
    let frames = (seconds * f64::from(SAMPLE_RATE)) as usize;
    for parallel in [false, true] {
        let mut mixer = Mixer::new(&project);
        mixer.transport.playing = true;
        let start = Instant::now();
        std::hint::black_box(mixer.render_offline(frames, parallel));
        let took: Duration = start.elapsed();
        println!(
            "offline render, 64 tracks × 180 s, {}: {:.2} s = {:.0}× real time",
            if parallel {
                format!("parallel on {threads} threads")
            } else {
                "one thread".to_string()
            },
            took.as_secs_f64(),
            seconds / took.as_secs_f64()
        );
    }
    exports(&project, frames, seconds, threads);

    edits_while_playing();
}

/// Median of `runs` timings of `f`, in µs.
fn median_us(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Issue 12: what an edit costs while the song plays, at 64 tracks × 50
/// clips. A parameter change is a diff and a command; a structural change
/// builds a plan (control thread) that takes over the playing one's state
/// at install (audio thread).
fn edits_while_playing() {
    let mut project = mixing_project(SAMPLE_RATE, 64, 4.0);
    for track in &mut project.tracks {
        let first = track.clips[0].clone();
        track.clips = (0..50)
            .map(|c| {
                let mut clip = first.clone();
                clip.start = c * first.length / 50;
                clip.length = first.length / 50;
                clip
            })
            .collect();
    }
    let (mut control, mut engine) = engine_pair(SAMPLE_RATE as f32);
    control.update(&project).unwrap();
    control.send(Command::Play).unwrap();
    for _ in 0..20 {
        engine.process();
    }
    let quantum = median_us(200, || {
        engine.process();
    });
    println!();
    println!("edits while playing, 64 tracks × 50 clips (medians):");
    let mut gain = 0.0;
    let parameter = median_us(200, || {
        gain -= 0.01;
        project.tracks[7].strip.gain_db = gain;
        assert_eq!(control.update(&project), Ok(Update::Commands(1)));
        engine.process();
    }) - quantum;
    println!("  parameter change (diff of the descriptions + command): {parameter:.1} µs, no plan");
    let mut structural = Vec::new();
    let mut installs = Vec::new();
    let mut fresh = Vec::new();
    for i in 0..30u64 {
        project.tracks[(i % 64) as usize].clips[3].start += 480;
        let start = Instant::now();
        assert_eq!(control.update(&project), Ok(Update::Plan));
        structural.push(start.elapsed().as_secs_f64() * 1e6);
        let start = Instant::now();
        engine.process();
        installs.push(start.elapsed().as_secs_f64() * 1e6 - quantum);
        let start = Instant::now();
        std::hint::black_box(Mixer::new(&project));
        fresh.push(start.elapsed().as_secs_f64() * 1e6);
        for _ in 0..4 {
            engine.process();
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "  structural change (a clip moved): plan build and queue {:.0} µs on the control thread \
         (a fresh Mixer::new: {:.0} µs); hand-over on the audio thread {:.1} µs",
        median(structural),
        median(fresh),
        median(installs)
    );
}

/// Issue 14: exports of 64 tracks × 3 min, as `stemroom render` runs them
/// (all cores): the mix at −14 LUFS / −1 dBTP, the mix and every stem in
/// one pass, and the mix at 44.1 kHz.
fn exports(
    project: &stemroom_engine::project::ProjectDesc,
    frames: usize,
    seconds: f64,
    threads: usize,
) {
    let run = |mix: bool, stems: bool, rate: Option<u32>| {
        let start = Instant::now();
        let outcome =
            stemroom_engine::workload::benchmark_export(project, frames, mix, stems, rate, true)
                .unwrap();
        (start.elapsed().as_secs_f64(), outcome)
    };
    println!();
    println!("export, 64 tracks × 180 s, 24-bit WAV, parallel on {threads} threads:");
    let (mix, outcome) = run(true, false, None);
    println!(
        "  mix at −14 LUFS / −1 dBTP: {mix:.2} s = {:.0}× real time ({} delivery passes; target ≥ 50×)",
        seconds / mix,
        outcome.mix.map_or(0, |m| m.passes)
    );
    let (both, outcome) = run(true, true, None);
    println!(
        "  mix and {} stems in one pass: {both:.2} s = {:.0}× real time, {:.2}× the mix's time (target ≤ 1.5×)",
        outcome.stems.len(),
        seconds / both,
        both / mix
    );
    let (stems, _) = run(false, true, None);
    println!(
        "  stems alone: {stems:.2} s = {:.0}× real time, {:.2}× the mix's time",
        seconds / stems,
        stems / mix
    );
    let (resampled, _) = run(true, false, Some(44_100));
    println!(
        "  mix at 44.1 kHz (rubato, scalar f64): {resampled:.2} s = {:.0}× real time",
        seconds / resampled
    );
}
