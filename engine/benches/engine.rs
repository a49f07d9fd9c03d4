//! Native engine benchmark: `cargo bench -p stemroom-engine --bench engine`
//! (run by `cargo xtask bench`). Prints figures, never asserts them.

use std::time::{Duration, Instant};

use stemroom_engine::QUANTUM;
use stemroom_engine::mixer::Mixer;
use stemroom_engine::workload::mixing_project;

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
}
