//! Forward migrations of the `project` document's schema.
//!
//! Each step only writes values that are a pure function of the document
//! (defaults for fields an older schema lacked), so it is idempotent, and
//! two replicas migrating the same document at once write the same values
//! and converge. A document newer than this build is not touched.

use yrs::{Map, ReadTxn, TransactionMut};

use crate::fields::{entities, text};
use crate::project::{MASTER, ProjectDoc, TRACKS};
use crate::{META, SCHEMA_VERSION};

/// Why a document cannot be opened for editing.
#[derive(Debug, PartialEq, Eq)]
pub enum MigrateError {
    /// Written by a newer Stemroom: editing it here could lose its new fields.
    TooNew { document: u32, supported: u32 },
}

impl std::fmt::Display for MigrateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrateError::TooNew {
                document,
                supported,
            } => write!(
                f,
                "this project uses schema {document}, newer than this Stemroom ({supported}); reload to update"
            ),
        }
    }
}

impl std::error::Error for MigrateError {}

/// Step `i` brings a document from version `i + 1` to `i + 2` (a document
/// without a version is treated as version 1, the first schema).
const STEPS: &[fn(&ProjectDoc, &mut TransactionMut)] = &[v1_to_v2];

/// Brings `project` to [`SCHEMA_VERSION`]; returns the version it had.
pub fn migrate(project: &ProjectDoc, txn: &mut TransactionMut) -> Result<u32, MigrateError> {
    let meta = project.root(META);
    let found = version(project, txn);
    if found > SCHEMA_VERSION {
        return Err(MigrateError::TooNew {
            document: found,
            supported: SCHEMA_VERSION,
        });
    }
    for step in STEPS.iter().skip(found.max(1) as usize - 1) {
        step(project, txn);
    }
    if found < SCHEMA_VERSION {
        meta.insert(txn, "schemaVersion", SCHEMA_VERSION);
    }
    Ok(found)
}

/// The version a document declares (0 when none).
pub fn version(project: &ProjectDoc, txn: &impl ReadTxn) -> u32 {
    crate::fields::number(project.root(META), txn, "schemaVersion").map_or(0, |v| v as u32)
}

/// Version 2 made tempo, time signature, sample rate and track routing
/// explicit.
fn v1_to_v2(project: &ProjectDoc, txn: &mut TransactionMut) {
    let meta = project.root(META);
    for (key, default) in [
        ("sampleRate", 48_000.0),
        ("bpm", 120.0),
        ("beatsPerBar", 4.0),
        ("beatUnit", 4.0),
    ] {
        if !meta.contains_key(txn, key) {
            meta.insert(txn, key, default);
        }
    }
    let unrouted: Vec<_> = entities(project.root(TRACKS), txn)
        .filter(|(_, map)| text(map, txn, "output").is_none())
        .map(|(_, map)| map)
        .collect();
    for track in unrouted {
        track.insert(txn, "output", MASTER);
    }
}
