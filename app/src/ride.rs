//! Automation write modes and the passes they record — this user's own
//! (a collaborator's write mode never makes your fader record):
//! - **Off**: this tab's engine plays the strip's static settings;
//! - **Read** (the default): it plays the automation, and the controls
//!   follow the curve while playing;
//! - **Touch**: moving a control while playing records it until released;
//! - **Latch**: as Touch, but the last value goes on being written after
//!   the release, until the transport stops;
//! - **Write**: the fader is written for as long as the transport plays.
//!
//! While a pass records, the lane it writes is left out of this tab's
//! engine description (the ride is heard through commands, not the old
//! curve); when it ends, the samples are thinned into breakpoints (within
//! 0.1 dB, or 0.5 % of a parameter's range) and written as one undo step,
//! which every collaborator then hears.

use std::cell::RefCell;
use std::collections::HashMap;

use leptos::prelude::*;
use stemroom_engine::automation::thin;
use stemroom_engine::project::ProjectDesc;
use stemroom_model::project::{AutomationLane, LaneTarget, MASTER, Project};

use crate::project;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WriteMode {
    Off,
    #[default]
    Read,
    Touch,
    Latch,
    Write,
}

impl WriteMode {
    pub const ALL: [WriteMode; 5] = [
        WriteMode::Off,
        WriteMode::Read,
        WriteMode::Touch,
        WriteMode::Latch,
        WriteMode::Write,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Off => "off",
            WriteMode::Read => "read",
            WriteMode::Touch => "touch",
            WriteMode::Latch => "latch",
            WriteMode::Write => "write",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            WriteMode::Off => "Off",
            WriteMode::Read => "Read",
            WriteMode::Touch => "Touch",
            WriteMode::Latch => "Latch",
            WriteMode::Write => "Write",
        }
    }

    pub fn parse(text: &str) -> Option<WriteMode> {
        WriteMode::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// Whether moving a control while playing records it.
    pub fn records(self) -> bool {
        matches!(self, WriteMode::Touch | WriteMode::Latch | WriteMode::Write)
    }
}

/// A ride being recorded on one control.
struct Pass {
    strip: String,
    target: LaneTarget,
    mode: WriteMode,
    /// (frame, value) as played, frames rising.
    samples: Vec<(u64, f32)>,
    /// The control's value now (Latch and Write go on writing it).
    value: f32,
    /// How far the written curve may stray from the ride.
    tolerance: f32,
}

thread_local! {
    static MODES: RefCell<HashMap<String, WriteMode>> = RefCell::new(HashMap::new());
    static PASSES: RefCell<Vec<Pass>> = const { RefCell::new(Vec::new()) };
    /// Bumped when a mode changes, a pass starts or ends, or a ride moves:
    /// what controls that show a ride track.
    static REVISION: ArcRwSignal<u64> = ArcRwSignal::new(0);
}

/// Changes whenever a mode changes, a pass starts or ends, or a ride
/// moves (read it to redraw with them).
pub fn revision() -> u64 {
    REVISION.with(|r| r.get())
}

fn bump() {
    REVISION.with(|r| r.update(|n| *n += 1));
}

/// The value being recorded on `target` of `strip`, if a pass records it.
pub fn riding(strip: &str, target: &LaneTarget) -> Option<f32> {
    PASSES.with_borrow(|p| {
        p.iter()
            .find(|x| x.strip == strip && x.target == *target)
            .map(|x| x.value)
    })
}

/// Puts every pass's current value into `desc` (built from `project`):
/// this tab's engine plays the ride while it is recorded.
pub fn apply_rides(desc: &mut ProjectDesc, project: &Project) {
    PASSES.with_borrow(|passes| {
        for pass in passes {
            let strip = if pass.strip == MASTER {
                Some(&mut desc.master)
            } else if let Some(i) = project.tracks.iter().position(|t| t.id == pass.strip) {
                desc.tracks.get_mut(i).map(|t| &mut t.strip)
            } else {
                let bus = project.buses.iter().position(|b| b.id == pass.strip);
                bus.and_then(|i| desc.buses.get_mut(i))
                    .map(|b| &mut b.strip)
            };
            let Some(strip) = strip else { continue };
            match &pass.target {
                LaneTarget::Gain => strip.gain_db = pass.value,
                LaneTarget::Pan => strip.pan = pass.value,
                LaneTarget::Send { send } => {
                    let index = project
                        .sends
                        .iter()
                        .filter(|s| s.from == pass.strip)
                        .position(|s| s.id == *send);
                    if let Some(s) = index.and_then(|i| strip.sends.get_mut(i)) {
                        s.level_db = pass.value;
                    }
                }
                LaneTarget::Param { device, param } => {
                    let slot = project
                        .devices
                        .iter()
                        .filter(|d| d.strip == pass.strip)
                        .position(|d| d.id == *device);
                    if let Some(d) = slot.and_then(|s| strip.inserts.get_mut(s)) {
                        *d = d.clone().with(usize::from(*param), pass.value);
                    }
                }
            }
        }
    });
}

pub fn mode(strip: &str) -> WriteMode {
    MODES.with_borrow(|m| m.get(strip).copied().unwrap_or_default())
}

/// Sets a strip's mode; the engine description changes with it (Off).
pub fn set_mode(strip: &str, mode: WriteMode) {
    MODES.with_borrow_mut(|m| m.insert(strip.to_string(), mode));
    bump();
}

/// Whether this tab's engine plays `lane`: not for a strip in Off, nor the
/// lane a pass is writing.
pub fn plays(lane: &AutomationLane) -> bool {
    mode(&lane.strip) != WriteMode::Off
        && PASSES.with_borrow(|p| {
            !p.iter()
                .any(|pass| pass.strip == lane.strip && pass.target == lane.target)
        })
}

/// Whether a pass is recording `target` on `strip`.
pub fn recording(strip: &str, target: &LaneTarget) -> bool {
    PASSES.with_borrow(|p| p.iter().any(|x| x.strip == strip && x.target == *target))
}

/// A control moved to `value` (its unit) with the transport at `frame`.
/// Returns `Some(started)` when the move is recorded — the caller sends
/// the value to the engine itself instead of editing the document, and
/// updates the engine when a pass `started` — or `None` when it is an
/// ordinary edit. `range` is the control's (min, max).
pub fn moved(
    strip: &str,
    target: &LaneTarget,
    value: f32,
    frame: u64,
    playing: bool,
    range: (f32, f32),
) -> Option<bool> {
    if !playing || !mode(strip).records() {
        return None;
    }
    PASSES
        .with_borrow_mut(|passes| {
            if let Some(pass) = passes
                .iter_mut()
                .find(|p| p.strip == strip && p.target == *target)
            {
                pass.value = value;
                pass.samples.push((frame, value));
                return Some(false);
            }
            let tolerance = match target {
                LaneTarget::Gain | LaneTarget::Send { .. } => 0.1,
                _ => 0.005 * (range.1 - range.0),
            };
            passes.push(Pass {
                strip: strip.to_string(),
                target: target.clone(),
                mode: mode(strip),
                samples: vec![(frame, value)],
                value,
                tolerance,
            });
            Some(true)
        })
        .inspect(|_| bump())
}

/// The control was let go: a Touch pass ends (and is written). Returns
/// whether one did.
pub fn released(strip: &str, target: &LaneTarget) -> bool {
    let done = PASSES.with_borrow_mut(|passes| {
        let i = passes
            .iter()
            .position(|p| p.strip == strip && p.target == *target && p.mode == WriteMode::Touch)?;
        Some(passes.remove(i))
    });
    let ended = done.map(write).is_some();
    if ended {
        bump();
    }
    ended
}

/// Once per display frame: every pass notes its value at the playhead;
/// when the transport has stopped, every pass ends and is written.
/// `write_strips` gives each strip's static fader (Write starts a pass
/// on its own).
/// Returns whether a pass started or ended (the engine needs an update).
pub fn tick(frame: u64, playing: bool, write_strips: impl Fn() -> Vec<(String, f32)>) -> bool {
    if !playing {
        let done = PASSES.with_borrow_mut(std::mem::take);
        let ended = !done.is_empty();
        for pass in done {
            write(pass);
        }
        if ended {
            bump();
        }
        return ended;
    }
    let mut started = false;
    let writing: Vec<String> = MODES.with_borrow(|m| {
        m.iter()
            .filter(|(_, mode)| **mode == WriteMode::Write)
            .map(|(s, _)| s.clone())
            .collect()
    });
    if !writing.is_empty() {
        for (strip, value) in write_strips() {
            if writing.contains(&strip) && !recording(&strip, &LaneTarget::Gain) {
                started |= moved(
                    &strip,
                    &LaneTarget::Gain,
                    value,
                    frame,
                    true,
                    (-144.0, 24.0),
                )
                .unwrap_or(false);
            }
        }
    }
    PASSES.with_borrow_mut(|passes| {
        for pass in passes.iter_mut() {
            if pass.samples.last().is_none_or(|&(f, _)| frame > f) {
                pass.samples.push((frame, pass.value));
            }
        }
    });
    started
}

/// Thins a finished pass into breakpoints and writes them over the range
/// it recorded, creating the lane if needed: one undo step.
fn write(pass: Pass) {
    let mut samples = pass.samples;
    // One value per frame (the last), frames rising.
    samples.sort_by_key(|s| s.0);
    samples.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            earlier.1 = later.1;
            true
        } else {
            false
        }
    });
    let (Some(&(from, _)), Some(&(to, _))) = (samples.first(), samples.last()) else {
        return;
    };
    let points = thin(&samples, pass.tolerance);
    let lane = project::snapshot().and_then(|p| {
        p.automation
            .iter()
            .find(|l| l.strip == pass.strip && l.target == pass.target)
            .map(|l| l.id.clone())
    });
    project::edit(|p, txn| {
        let lane = lane.unwrap_or_else(|| p.add_lane(txn, &pass.strip, &pass.target));
        p.write_automation(txn, &lane, from, to + 1, &points);
    });
}
