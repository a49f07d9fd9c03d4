//! Peak memory of a stem export (issue 14): 64 tracks × 10 minutes, every
//! stem and the mix in one pass, files discarded. Run on its own (it reads
//! this process's peak resident size): `cargo bench -p stemroom-engine
//! --bench export_memory`, by `cargo xtask bench`. Prints, never asserts.

use std::sync::Arc;

use stemroom_engine::project::AudioAsset;
use stemroom_engine::workload::{benchmark_export, shared_mixing_project};

const RATE: u32 = 48_000;
const SECONDS: f64 = 600.0;
/// Distinct recordings: tracks share them, as takes and loops do.
const ASSETS: usize = 8;

/// This process's resident set now and at its peak (bytes; Linux).
fn resident() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let project = shared_mixing_project(RATE, 64, ASSETS, SECONDS);
    let mut seen: Vec<*const AudioAsset> = Vec::new();
    let mut decoded = 0u64;
    for clip in project.tracks.iter().flat_map(|t| &t.clips) {
        if let Some(asset) = &clip.asset
            && !seen.contains(&Arc::as_ptr(asset))
        {
            seen.push(Arc::as_ptr(asset));
            decoded += (asset.frames() as usize * asset.channel_count() * 4) as u64;
        }
    }
    let (before, _) = resident();
    let frames = (SECONDS * f64::from(RATE)) as usize;
    println!();
    println!(
        "export memory, 64 tracks × {} min ({ASSETS} recordings, {:.0} MiB decoded), 24-bit WAV, files discarded:",
        SECONDS / 60.0,
        mib(decoded)
    );
    for (what, mix) in [("stems", false), ("mix and stems", true)] {
        let started = std::time::Instant::now();
        let outcome =
            benchmark_export(&project, frames, mix, true, None, true).expect("the export runs");
        let (_, peak) = resident();
        println!(
            "  {what} ({} files, {:.1} s): peak resident {:.0} MiB = {:.2}× the decoded audio (target < 2×); the export's own {:.0} MiB",
            outcome.stems.len() + usize::from(mix),
            started.elapsed().as_secs_f64(),
            mib(peak),
            peak as f64 / decoded as f64,
            mib(peak.saturating_sub(before))
        );
    }
}
