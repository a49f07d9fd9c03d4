//! Stemroom's project document: one schema for the app and the server.
//!
//! A project is two yrs documents (see `docs/ARCHITECTURE.md`): [`DocKind::Project`]
//! holds the arrangement and the mix, [`DocKind::Review`] the comments and
//! versions. Two documents let the server enforce roles exactly: a commenter
//! may write `review` and never `project`.

pub mod fields;
pub mod migrate;
pub mod order;
pub mod project;
pub mod reader;
pub mod review;
pub mod sync;
pub mod take;
pub mod undo;
pub mod version;

use yrs::{Doc, Map, Transact};

/// Version of the document schema this build writes. Older documents are
/// migrated forward when opened.
pub const SCHEMA_VERSION: u32 = 2;

/// Name of the root map holding a document's metadata.
pub const META: &str = "meta";

/// The two documents of a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocKind {
    /// Arrangement, mixer, devices, automation, tempo.
    Project,
    /// Comments, threads and named versions.
    Review,
}

impl DocKind {
    pub const ALL: [DocKind; 2] = [DocKind::Project, DocKind::Review];

    /// The name used in URLs and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Project => "project",
            DocKind::Review => "review",
        }
    }

    pub fn parse(name: &str) -> Option<DocKind> {
        DocKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Creates the `project` document of a new project.
pub fn new_project_doc(name: &str) -> Doc {
    let doc = Doc::new();
    let meta = doc.get_or_insert_map(META);
    let mut txn = doc.transact_mut();
    meta.insert(&mut txn, "schemaVersion", SCHEMA_VERSION);
    meta.insert(&mut txn, "name", name);
    meta.insert(&mut txn, "sampleRate", 48_000.0);
    meta.insert(&mut txn, "bpm", 120.0);
    meta.insert(&mut txn, "beatsPerBar", 4.0);
    meta.insert(&mut txn, "beatUnit", 4.0);
    drop(txn);
    doc
}

/// The first update of a new project's document `kind`: what the server
/// stores when it creates the project.
pub fn initial_update(kind: DocKind, name: &str) -> Vec<u8> {
    let doc = match kind {
        DocKind::Project => new_project_doc(name),
        DocKind::Review => {
            let doc = Doc::new();
            let meta = doc.get_or_insert_map(META);
            meta.insert(&mut doc.transact_mut(), "schemaVersion", SCHEMA_VERSION);
            doc
        }
    };
    let txn = doc.transact();
    yrs::ReadTxn::encode_state_as_update_v1(&txn, &yrs::StateVector::default())
}

/// The schema version a document declares (0 when it declares none).
pub fn schema_version(doc: &Doc) -> u32 {
    let meta = doc.get_or_insert_map(META);
    let txn = doc.transact();
    meta.get(&txn, "schemaVersion")
        .and_then(|v| v.cast::<f64>().ok())
        .map_or(0, |v| v as u32)
}

/// The client id this document writes its changes under. Random per replica
/// (in wasm too: yrs seeds fastrand from the browser's crypto), so concurrent
/// edits never collide; the browser tests guard this.
pub fn client_id(doc: &Doc) -> u64 {
    doc.client_id().get()
}

/// The project's display name.
pub fn project_name(doc: &Doc) -> Option<String> {
    let meta = doc.get_or_insert_map(META);
    let txn = doc.transact();
    meta.get(&txn, "name")?.cast::<String>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::decoder::Decode;
    use yrs::{ReadTxn, StateVector, Update};

    #[test]
    fn a_new_project_survives_an_update_round_trip() {
        let doc = new_project_doc("Night Drive");
        let update = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let replica = Doc::new();
        replica
            .transact_mut()
            .apply_update(Update::decode_v1(&update).unwrap())
            .unwrap();
        assert_eq!(project_name(&replica).as_deref(), Some("Night Drive"));
        assert_eq!(schema_version(&replica), SCHEMA_VERSION);
        assert_eq!(schema_version(&Doc::new()), 0);
    }

    #[test]
    fn every_new_document_gets_its_own_client_id() {
        let ids: std::collections::HashSet<u64> =
            (0..100).map(|_| client_id(&Doc::new())).collect();
        assert_eq!(ids.len(), 100);
    }

    #[test]
    fn doc_kinds_round_trip_their_names() {
        for kind in DocKind::ALL {
            assert_eq!(DocKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(DocKind::parse("../etc"), None);
    }
}
