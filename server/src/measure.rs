//! `stemroom measure`: loudness of audio files, for engineers at a shell.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};
use stemroom_engine::analysis::{FileLoudness, measure_file};

#[derive(clap::Args, Debug)]
pub struct MeasureArgs {
    /// Print one JSON array instead of text.
    #[arg(long)]
    pub json: bool,
    /// WAV, FLAC, MP3 or Ogg Vorbis files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Measures every file, reporting each failure and carrying on.
/// Returns whether all files were measured.
pub fn run(
    args: &MeasureArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<bool> {
    let mut all_ok = true;
    let mut rows = Vec::new();
    for path in &args.files {
        let name = path.display().to_string();
        match measure_file(path) {
            Ok(m) => {
                if m.corrupt_packets > 0 {
                    writeln!(
                        err,
                        "stemroom: {name}: {} damaged frames were skipped",
                        m.corrupt_packets
                    )?;
                }
                if args.json {
                    rows.push(to_json(&name, &m));
                } else {
                    writeln!(out, "{}", to_text(&name, &m))?;
                }
            }
            Err(e) => {
                all_ok = false;
                writeln!(err, "stemroom: {name}: {e}")?;
                if args.json {
                    rows.push(json!({ "file": name, "error": e.to_string() }));
                }
            }
        }
    }
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&Value::Array(rows)).unwrap_or_default()
        )?;
    }
    Ok(all_ok)
}

/// JSON has no infinity: silence is `null`.
fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!((x * 100.0).round() / 100.0)
    } else {
        Value::Null
    }
}

fn to_json(name: &str, m: &FileLoudness) -> Value {
    json!({
        "file": name,
        "integrated_lufs": finite(m.report.integrated_lufs),
        "loudness_range_lu": finite(m.report.range_lu),
        "true_peak_dbtp": finite(m.report.true_peak_dbtp),
        "sample_peak_dbfs": finite(m.report.sample_peak_dbfs),
        "max_momentary_lufs": finite(m.report.max_momentary_lufs),
        "max_short_term_lufs": finite(m.report.max_short_term_lufs),
        "sample_rate": m.sample_rate,
        "channels": m.channels,
        "duration_seconds": (m.duration_seconds() * 1000.0).round() / 1000.0,
    })
}

fn to_text(name: &str, m: &FileLoudness) -> String {
    let db = |x: f64, unit: &str| {
        if x.is_finite() {
            format!("{x:.1} {unit}")
        } else {
            format!("-inf {unit}")
        }
    };
    let seconds = m.duration_seconds();
    format!(
        "{name}: integrated {}, range {:.1} LU, true peak {}, sample peak {} ({} Hz, {} ch, {}:{:04.1})",
        db(m.report.integrated_lufs, "LUFS"),
        m.report.range_lu,
        db(m.report.true_peak_dbtp, "dBTP"),
        db(m.report.sample_peak_dbfs, "dBFS"),
        m.sample_rate,
        m.channels,
        (seconds / 60.0).floor(),
        seconds % 60.0,
    )
}
