//! A/B: listening to a saved version in place of the live mix, at the same
//! song position, loudness-matched; and opening a version to look at and
//! listen to, read-only.
//!
//! While the version side is on, the workspace shows the version (its
//! arrangement, mixer and devices) and nothing can be edited: an edit would
//! land in the live document, out of sight. `B` switches to the live mix
//! and back.
//!
//! The engine is not stopped or reloaded to switch: the other side's
//! description goes to it like any edit, so the transport runs on, the
//! clips that differ crossfade and every strip that exists on both sides
//! keeps its state (the hand-over of `engine::handover`). Matching: both
//! sides play at the quieter one's integrated loudness, each measured by a
//! full offline render; the gain applied sits on the master, after its
//! chain, so it scales what was measured exactly.
//!
//! Main thread only.

use std::cell::RefCell;
use std::sync::Arc;

use leptos::prelude::*;
use stemroom_engine::project::ProjectDesc;
use stemroom_model::project::Project;

/// Which side plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The live document.
    Current,
    /// The saved version.
    Version,
}

/// What the UI shows of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct AbView {
    pub version: String,
    pub name: String,
    pub side: Side,
    /// Gain applied to each side to match them (dB, ≤ 0).
    pub current_gain_db: f64,
    pub version_gain_db: f64,
    /// Whether both sides were measured and so are loudness-matched (an
    /// opened version not yet measured plays at its own level).
    pub matched: bool,
}

struct Compare {
    view: AbView,
    project: Arc<Project>,
}

thread_local! {
    static COMPARE: RefCell<Option<Compare>> = const { RefCell::new(None) };
    static VIEW: RwSignal<Option<AbView>> = RwSignal::new(None);
}

/// The comparison as the UI shows it (`None` when not comparing).
pub fn view() -> RwSignal<Option<AbView>> {
    VIEW.with(|v| *v)
}

/// The gains that bring two integrated loudnesses to the quieter one:
/// (current, version), in dB.
pub fn matching_gains(current_lufs: f64, version_lufs: f64) -> (f64, f64) {
    if !current_lufs.is_finite()
        || !version_lufs.is_finite()
        || current_lufs < -200.0
        || version_lufs < -200.0
    {
        return (0.0, 0.0);
    }
    let target = current_lufs.min(version_lufs);
    (target - current_lufs, target - version_lufs)
}

/// Starts comparing with a version (seen and heard at once), given both
/// sides' measured integrated loudness (current, version) to match them
/// on, if known.
pub fn start(version: &str, name: &str, project: Project, loudness: Option<(f64, f64)>) {
    let (current_gain_db, version_gain_db) = loudness
        .map(|(current, version)| matching_gains(current, version))
        .unwrap_or((0.0, 0.0));
    let view = AbView {
        version: version.to_string(),
        name: name.to_string(),
        side: Side::Version,
        current_gain_db,
        version_gain_db,
        matched: loudness.is_some(),
    };
    COMPARE.set(Some(Compare {
        view: view.clone(),
        project: Arc::new(project),
    }));
    self::view().set(Some(view));
}

/// The version, while its side is on: what the workspace shows instead of
/// the live document. Tracks [`view`].
pub fn shown() -> Option<Arc<Project>> {
    view().track();
    COMPARE.with_borrow(|c| {
        c.as_ref()
            .filter(|c| c.view.side == Side::Version)
            .map(|c| c.project.clone())
    })
}

/// Whether a version is on show (and so nothing may be edited). Untracked.
pub fn showing_version() -> bool {
    COMPARE.with_borrow(|c| c.as_ref().is_some_and(|c| c.view.side == Side::Version))
}

/// Switches sides; false when not comparing.
pub fn toggle() -> bool {
    let next = COMPARE.with_borrow_mut(|c| {
        let c = c.as_mut()?;
        c.view.side = match c.view.side {
            Side::Current => Side::Version,
            Side::Version => Side::Current,
        };
        Some(c.view.clone())
    });
    let switched = next.is_some();
    if switched {
        view().set(next);
    }
    switched
}

/// Ends the comparison: the live mix plays, at its own level.
pub fn stop() {
    COMPARE.set(None);
    view().set(None);
}

/// Puts the side being compared into `desc` (the live mix's description):
/// the version's description in its place, or the live one with its
/// matching gain. Returns whether `desc` now describes the version (its
/// clips are then not the live ones).
pub fn apply(desc: &mut ProjectDesc) -> bool {
    COMPARE.with_borrow(|c| {
        let Some(c) = c else { return false };
        let (gain, version) = match c.view.side {
            Side::Current => (c.view.current_gain_db, false),
            Side::Version => {
                let rate = desc.sample_rate;
                if let Some(v) = crate::project::with(|p| p.describe(&c.project, rate)) {
                    *desc = v;
                }
                (c.view.version_gain_db, true)
            }
        };
        desc.master.gain_db += gain as f32;
        version
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_louder_side_comes_down_to_the_quieter() {
        assert_eq!(matching_gains(-12.0, -14.5), (-2.5, 0.0));
        assert_eq!(matching_gains(-16.0, -14.0), (0.0, -2.0));
        assert_eq!(matching_gains(f64::NEG_INFINITY, -14.0), (0.0, 0.0));
        assert_eq!(matching_gains(-1000.0, -14.0), (0.0, 0.0));
    }
}
