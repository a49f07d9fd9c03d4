//! Renders the standard benchmark project natively to a 32-bit float WAV:
//! the reference the browser null test compares the worklet's render with.
//!
//! `cargo run --release -p stemroom-engine --example render_workload -- TRACKS SECONDS OUT.wav`

use stemroom_engine::mixer::Mixer;
use stemroom_engine::workload::mixing_project;

const SAMPLE_RATE: u32 = 48_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tracks, seconds, out] = &args[..] else {
        return Err("usage: render_workload TRACKS SECONDS OUT.wav".into());
    };
    let (tracks, seconds): (usize, f64) = (tracks.parse()?, seconds.parse()?);
    let mut mixer = Mixer::new(&mixing_project(SAMPLE_RATE, tracks, seconds));
    mixer.transport.playing = true;
    let frames = (seconds * f64::from(SAMPLE_RATE)).round() as usize;
    let interleaved = mixer.render_offline(frames, true);
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut wav = hound::WavWriter::create(out, spec)?;
    for sample in interleaved {
        wav.write_sample(sample)?;
    }
    wav.finalize()?;
    Ok(())
}
