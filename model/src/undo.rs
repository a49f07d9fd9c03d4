//! Per-user undo: only this replica's edits are undone, never a
//! collaborator's.
//!
//! Local edits run in transactions with the [`LOCAL`] origin; remote updates
//! are applied under any other origin, so the undo manager never records
//! them. Undoing removes what this user wrote; a collaborator's later write
//! to the same field stays.

use std::collections::HashSet;
use std::sync::Arc;

use yrs::Origin;
use yrs::sync::Clock;
use yrs::undo::{Options, UndoManager};

use crate::project::ProjectDoc;

/// The origin of this replica's own edits.
pub const LOCAL: &str = "local";

pub struct LocalUndo {
    manager: UndoManager<()>,
}

impl LocalUndo {
    /// Tracks every root of `project`. `clock` gives milliseconds (the
    /// browser passes `Date.now`; yrs's default clock is not available in
    /// wasm). Edits within `merge_ms` of each other undo as one step.
    pub fn new(project: &ProjectDoc, clock: Arc<dyn Clock>, merge_ms: u64) -> Self {
        let options = Options {
            capture_timeout_millis: merge_ms,
            tracked_origins: HashSet::from([Origin::from(LOCAL)]),
            capture_transaction: None,
            timestamp: clock,
            init_undo_stack: Vec::new(),
            init_redo_stack: Vec::new(),
        };
        let mut manager = UndoManager::with_options(options);
        for root in crate::project::ROOTS {
            manager.expand_scope(project.doc(), project.root(root));
        }
        LocalUndo { manager }
    }

    /// Ends the current step: the next edit starts a new one however soon
    /// it follows. Discrete actions (add a track, mute, import) call this;
    /// a continuous gesture (a fader drag) does not, so its many edits
    /// within `merge_ms` of each other undo as one.
    pub fn new_step(&mut self) {
        self.manager.reset();
    }

    pub fn can_undo(&self) -> bool {
        self.manager.can_undo()
    }

    pub fn can_redo(&self) -> bool {
        self.manager.can_redo()
    }

    /// Reverts this user's last step; false when there is none.
    pub fn undo(&mut self) -> bool {
        self.manager.undo_blocking()
    }

    pub fn redo(&mut self) -> bool {
        self.manager.redo_blocking()
    }
}
