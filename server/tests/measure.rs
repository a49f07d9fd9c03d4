//! `stemroom measure` on real files: the binary, as an engineer runs it.

use std::f64::consts::PI;
use std::path::Path;
use std::process::Command;

fn write_sine_wav(path: &Path, rate: u32, seconds: f64, dbfs: f64, float: bool) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: if float { 32 } else { 24 },
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let amplitude = 10f64.powf(dbfs / 20.0);
    for i in 0..(seconds * f64::from(rate)) as usize {
        let x = amplitude * (2.0 * PI * 1000.0 * i as f64 / f64::from(rate)).sin();
        for _ in 0..2 {
            if float {
                w.write_sample(x as f32).unwrap();
            } else {
                w.write_sample((x * 8_388_607.0).round() as i32).unwrap();
            }
        }
    }
    w.finalize().unwrap();
}

fn measure(args: &[&Path], json: bool) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stemroom"));
    cmd.arg("measure");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn measures_wav_files_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let int24 = dir.path().join("tone-24bit.wav");
    let float = dir.path().join("tone-float.wav");
    write_sine_wav(&int24, 48_000, 20.0, -23.0, false);
    write_sine_wav(&float, 44_100, 20.0, -33.0, true);

    let (ok, text, _) = measure(&[&int24, &float], false);
    assert!(ok);
    assert!(
        text.contains("tone-24bit.wav: integrated -23.0 LUFS"),
        "{text}"
    );
    assert!(
        text.contains("tone-float.wav: integrated -33.0 LUFS"),
        "{text}"
    );
    assert!(text.contains("48000 Hz, 2 ch, 0:20.0"), "{text}");

    let (ok, json, _) = measure(&[&int24], true);
    assert!(ok);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    let row = &rows[0];
    assert!(
        (row["integrated_lufs"].as_f64().unwrap() + 23.0).abs() <= 0.1,
        "{row}"
    );
    assert!(
        row["loudness_range_lu"].as_f64().unwrap() < 0.1,
        "a steady tone has no range"
    );
    // A −23 dBFS sine peaks at −23 dBFS, in samples and between them.
    assert!(
        (row["sample_peak_dbfs"].as_f64().unwrap() + 23.0).abs() < 0.05,
        "{row}"
    );
    assert!(
        (row["true_peak_dbtp"].as_f64().unwrap() + 23.0).abs() < 0.2,
        "{row}"
    );
}

#[test]
fn reports_each_unreadable_file_carries_on_and_fails_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.wav");
    write_sine_wav(&good, 48_000, 5.0, -20.0, true);
    let text = dir.path().join("notes.wav");
    std::fs::write(&text, "these are lyrics, not audio\n".repeat(100)).unwrap();
    let truncated = dir.path().join("truncated.wav");
    std::fs::write(&truncated, &std::fs::read(&good).unwrap()[..30]).unwrap();
    let missing = dir.path().join("missing.flac");

    let (ok, out, err) = measure(&[&text, &good, &truncated, &missing], false);
    assert!(!ok, "exit status reports the failures");
    assert!(
        out.contains("good.wav: integrated -20.0 LUFS"),
        "the good file is still measured: {out}"
    );
    assert!(
        err.contains(
            "notes.wav: not an audio file Stemroom can read (WAV, FLAC, MP3, Ogg Vorbis): \
             its contents match none of these formats"
        ),
        "{err}"
    );
    assert!(err.contains("truncated.wav:"), "{err}");
    assert!(err.contains("missing.flac: cannot read the file"), "{err}");

    let (ok, json, _) = measure(&[&good, &missing], true);
    assert!(!ok);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(rows[1]["error"].as_str().unwrap().contains("cannot read"));
}
