//! Per-user undo with two replicas: undo takes back only your own edits.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::sync;
use stemroom_model::project::ProjectDoc;
use stemroom_model::undo::{LOCAL, LocalUndo};
use yrs::{Doc, Transact};

/// A clock the test advances, so each edit is its own undo step.
fn clock() -> (Arc<AtomicU64>, Arc<dyn yrs::sync::Clock>) {
    let now = Arc::new(AtomicU64::new(0));
    let reader = now.clone();
    (
        now,
        Arc::new(move || reader.fetch_add(1_000, Ordering::Relaxed)),
    )
}

fn gain(project: &ProjectDoc, track: &str) -> f64 {
    let txn = project.doc().transact();
    project
        .tracks(&txn)
        .into_iter()
        .find(|t| t.id == track)
        .unwrap()
        .strip
        .gain_db
}

#[test]
fn undo_reverts_my_edit_and_keeps_my_collaborators() {
    let (a, b) = (ProjectDoc::new(Doc::new()), ProjectDoc::new(Doc::new()));
    let (_, clock_a) = clock();
    let mut undo_a = LocalUndo::new(&a, clock_a, 0);
    let (drums, bass) = {
        let mut txn = a.doc().transact_mut_with(LOCAL);
        (
            a.add_track(&mut txn, "Drums", 2),
            a.add_track(&mut txn, "Bass", 1),
        )
    };
    sync(&a, &b);
    // A rides the drums fader; B, elsewhere, rides the bass fader.
    a.set_track_gain(&mut a.doc().transact_mut_with(LOCAL), &drums, -6.0);
    b.set_track_gain(&mut b.doc().transact_mut_with(LOCAL), &bass, -3.0);
    sync(&b, &a);
    sync(&a, &b);
    assert!(undo_a.undo(), "A has something to undo");
    assert_eq!(gain(&a, &drums), 0.0, "A's fader move is undone");
    assert_eq!(gain(&a, &bass), -3.0, "B's fader move stays");
    sync(&a, &b);
    assert_eq!(
        (gain(&b, &drums), gain(&b, &bass)),
        (0.0, -3.0),
        "B sees the same"
    );
    assert!(undo_a.redo());
    assert_eq!(gain(&a, &drums), -6.0);
}

#[test]
fn undo_never_takes_back_a_collaborators_later_write_to_the_same_field() {
    let (a, b) = (ProjectDoc::new(Doc::new()), ProjectDoc::new(Doc::new()));
    let track = a.add_track(&mut a.doc().transact_mut_with(LOCAL), "Vox", 1);
    sync(&a, &b);
    // A's history starts here: the only step is A's fader move.
    let (_, clock_a) = clock();
    let mut undo_a = LocalUndo::new(&a, clock_a, 0);
    a.set_track_gain(&mut a.doc().transact_mut_with(LOCAL), &track, -6.0);
    sync(&a, &b);
    b.set_track_gain(&mut b.doc().transact_mut_with(LOCAL), &track, -12.0);
    sync(&b, &a);
    undo_a.undo();
    assert_eq!(
        gain(&a, &track),
        -12.0,
        "B's later value is not reverted by A's undo"
    );
    assert!(!undo_a.can_undo(), "nothing of B's was ever on A's stack");
}

#[test]
fn quick_discrete_actions_are_separate_steps_and_a_gesture_is_one() {
    let a = ProjectDoc::new(Doc::new());
    // A clock that stands still: everything falls in one merge window.
    let frozen: Arc<dyn yrs::sync::Clock> = Arc::new(|| 1_000);
    let mut undo = LocalUndo::new(&a, frozen, 500);
    let drums = a.add_track(&mut a.doc().transact_mut_with(LOCAL), "Drums", 2);
    undo.new_step();
    a.add_track(&mut a.doc().transact_mut_with(LOCAL), "Bass", 1);
    undo.new_step();
    // A fader drag: many writes, one step.
    for db in [-1.0, -2.0, -3.0, -4.0] {
        a.set_track_gain(&mut a.doc().transact_mut_with(LOCAL), &drums, db);
    }
    let tracks = |p: &ProjectDoc| p.tracks(&p.doc().transact()).len();
    assert!(undo.undo());
    assert_eq!(gain(&a, &drums), 0.0, "the whole drag is one step");
    assert_eq!(tracks(&a), 2);
    assert!(undo.undo());
    assert_eq!(tracks(&a), 1, "then the second track");
    assert!(undo.undo());
    assert_eq!(tracks(&a), 0);
}
