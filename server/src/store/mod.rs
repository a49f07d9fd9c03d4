//! Durable storage of projects, share links, asset records and the
//! document logs: one embedded SQLite database in the data directory (the
//! default, `sqlite`), or a PostgreSQL database that several server
//! instances share (`--database postgres://…`, `postgres`). Both keep the
//! same tables under versioned migrations, and the same promise: a call
//! that returned is durable.

mod postgres;
mod sqlite;

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use anyhow::bail;
use stemroom_model::DocKind;

pub use self::postgres::{PostgresStore, fresh_database};
pub use self::sqlite::{DB_FILE, SqliteStore};

/// The durable history of a project's documents: what the rooms append
/// to, load from and compact.
pub trait DocumentLog: Send + Sync {
    /// Appends updates in order, all or none; when this returns, they
    /// survive a crash or power loss (one sync for the batch: group commit).
    /// Returns the sequence number of the last one.
    fn append(&self, project: &str, doc: DocKind, updates: &[&[u8]]) -> anyhow::Result<u64>;
    /// Everything needed to rebuild the document: the snapshot (if any),
    /// then the updates after it, in order.
    fn load(&self, project: &str, doc: DocKind) -> anyhow::Result<Vec<Vec<u8>>> {
        Ok(self.load_since(project, doc, 0)?.0)
    }
    /// What a replica holding everything up to sequence number `after`
    /// lacks: the updates after it, or (when a compaction folded some of
    /// them) the snapshot and the updates after that; with the sequence
    /// number it all reaches. `after` 0: everything.
    fn load_since(
        &self,
        project: &str,
        doc: DocKind,
        after: u64,
    ) -> anyhow::Result<(Vec<Vec<u8>>, u64)>;
    /// Folds the snapshot and the updates after it into a new snapshot and
    /// drops those updates, atomically. Returns how many updates it folded.
    fn compact(&self, project: &str, doc: DocKind) -> anyhow::Result<usize>;
}

/// Everything the server keeps in its database, whichever one it is.
/// Calls block: run them off the async executor
/// (`tokio::task::spawn_blocking`).
pub trait Storage: DocumentLog {
    /// Which database this is, for messages (never a password).
    fn describe(&self) -> String;
    /// When several instances share this database: its URL and this
    /// instance's name in it (the relay between them uses both).
    fn shared(&self) -> Option<(String, String)> {
        None
    }
    /// A read that touches the database: proof that storage answers.
    fn check(&self) -> anyhow::Result<()>;
    /// Creates a project together with its first (owner) link.
    fn create_project(&self, id: &str, owner: &LinkRecord) -> anyhow::Result<()>;
    fn project_created_at(&self, id: &str) -> anyhow::Result<Option<i64>>;
    fn insert_link(&self, link: &LinkRecord) -> anyhow::Result<()>;
    fn link_by_token_hash(&self, hash: &[u8; 32]) -> anyhow::Result<Option<LinkRecord>>;
    /// One link of `project` by its id.
    fn link(&self, project: &str, id: &str) -> anyhow::Result<Option<LinkRecord>>;
    /// A project's links, oldest first.
    fn links(&self, project: &str) -> anyhow::Result<Vec<LinkRecord>>;
    /// Revokes a link of `project`; false when there is no such link.
    fn revoke_link(&self, project: &str, id: &str, now: i64) -> anyhow::Result<bool>;
    /// Records a stored asset and that `project` may use it.
    fn add_asset(
        &self,
        project: &str,
        asset: &AssetRecord,
        name: &str,
        now: i64,
    ) -> anyhow::Result<()>;
    /// The asset, if `project` may fetch it.
    fn project_asset(&self, project: &str, sha256: &str) -> anyhow::Result<Option<AssetRecord>>;

    // What moving an installation to another database reads and writes
    // (`stemroom migrate-storage`).

    /// Every project: id and when it was made, oldest first.
    fn projects(&self) -> anyhow::Result<Vec<(String, i64)>>;
    /// A project as it was made, without links (they are added one by one).
    fn add_project(&self, id: &str, created_at: i64) -> anyhow::Result<()>;
    /// A project's assets with the name and time it added each, by hash.
    fn project_assets(&self, project: &str) -> anyhow::Result<Vec<(AssetRecord, String, i64)>>;
}

/// The server's storage, shared by every handler and room.
#[derive(Clone)]
pub struct Store(Arc<dyn Storage>);

impl Store {
    /// The embedded database in `data_dir` (created on first start).
    pub fn open(data_dir: &Path) -> anyhow::Result<Store> {
        Ok(Store(Arc::new(SqliteStore::open(data_dir)?)))
    }

    /// `database` (a `postgres://` URL), or the embedded database in
    /// `data_dir` without one. Connecting blocks: not on an async thread.
    pub fn connect(database: Option<&str>, data_dir: &Path) -> anyhow::Result<Store> {
        match database {
            None => Store::open(data_dir),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Store(Arc::new(PostgresStore::connect(url)?)))
            }
            Some(_) => bail!("--database takes a postgres:// URL"),
        }
    }
}

impl Deref for Store {
    type Target = dyn Storage;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl DocumentLog for Store {
    fn append(&self, project: &str, doc: DocKind, updates: &[&[u8]]) -> anyhow::Result<u64> {
        self.0.append(project, doc, updates)
    }
    fn load_since(
        &self,
        project: &str,
        doc: DocKind,
        after: u64,
    ) -> anyhow::Result<(Vec<Vec<u8>>, u64)> {
        self.0.load_since(project, doc, after)
    }
    fn compact(&self, project: &str, doc: DocKind) -> anyhow::Result<usize> {
        self.0.compact(project, doc)
    }
}

/// A share link as stored: never the token itself, only its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkRecord {
    pub id: String,
    pub project: String,
    pub token_hash: [u8; 32],
    pub role: String,
    pub label: String,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The name of whoever shared it, as they gave it ("" for none).
    pub shared_by: String,
}

/// What the asset store knows about a decoded, stored audio file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetRecord {
    pub sha256: String,
    pub bytes: u64,
    pub sample_rate: u32,
    pub channels: u32,
    pub frames: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` on each backend of this run, given a way to open one
    /// fresh store again and again: SQLite always, PostgreSQL when
    /// `STEMROOM_TEST_POSTGRES` names a server (`cargo xtask test` starts
    /// one).
    fn each_backend(test: impl Fn(&dyn Fn() -> Store)) {
        let dir = tempfile::tempdir().unwrap();
        test(&|| Store::open(dir.path()).unwrap());
        if let Ok(server) = std::env::var("STEMROOM_TEST_POSTGRES") {
            let url = fresh_database(&server).unwrap();
            test(&|| Store::connect(Some(&url), dir.path()).unwrap());
        }
    }

    /// Applies stored parts to a fresh document.
    fn rebuild(parts: &[Vec<u8>]) -> yrs::Doc {
        use yrs::updates::decoder::Decode;
        use yrs::{Transact, Update};
        let doc = yrs::Doc::new();
        let mut txn = doc.transact_mut();
        for part in parts {
            txn.apply_update(Update::decode_v1(part).unwrap()).unwrap();
        }
        drop(txn);
        doc
    }

    fn name_of(doc: &yrs::Doc) -> Option<String> {
        stemroom_model::project_name(doc)
    }

    #[test]
    fn the_log_keeps_every_update_across_reopening_and_compaction() {
        each_backend(|open| the_log_keeps_every_update(open));
    }

    fn the_log_keeps_every_update(open: &dyn Fn() -> Store) {
        use yrs::{Map, Transact};
        let source = yrs::Doc::new();
        let meta = source.get_or_insert_map(stemroom_model::META);
        let mut updates = Vec::new();
        for name in ["one", "two", "three"] {
            let mut txn = source.transact_mut();
            meta.insert(&mut txn, "name", name);
            updates.push(txn.encode_update_v1());
        }
        let store = open();
        for (i, u) in updates.iter().enumerate() {
            assert_eq!(
                store.append("p1", DocKind::Project, &[u]).unwrap(),
                i as u64 + 1
            );
        }
        store.append("p1", DocKind::Review, &[&updates[0]]).unwrap();
        drop(store);

        let store = open();
        let parts = store.load("p1", DocKind::Project).unwrap();
        assert_eq!(parts.len(), 3, "reopened with every update");
        assert_eq!(name_of(&rebuild(&parts)).as_deref(), Some("three"));
        assert_eq!(store.compact("p1", DocKind::Project).unwrap(), 3);
        let parts = store.load("p1", DocKind::Project).unwrap();
        assert_eq!(parts.len(), 1, "one snapshot");
        assert_eq!(name_of(&rebuild(&parts)).as_deref(), Some("three"));
        // Appends continue after the snapshot; a second compaction folds them.
        let mut txn = source.transact_mut();
        meta.insert(&mut txn, "name", "four");
        let four = txn.encode_update_v1();
        drop(txn);
        assert_eq!(store.append("p1", DocKind::Project, &[&four]).unwrap(), 4);
        assert_eq!(
            name_of(&rebuild(&store.load("p1", DocKind::Project).unwrap())).as_deref(),
            Some("four")
        );
        assert_eq!(store.compact("p1", DocKind::Project).unwrap(), 1);
        assert_eq!(
            store.compact("p1", DocKind::Project).unwrap(),
            0,
            "nothing left to fold"
        );
        assert_eq!(
            name_of(&rebuild(&store.load("p1", DocKind::Project).unwrap())).as_deref(),
            Some("four")
        );
        assert_eq!(
            store.load("p1", DocKind::Review).unwrap().len(),
            1,
            "documents are kept apart"
        );
        assert!(store.load("other", DocKind::Project).unwrap().is_empty());
    }

    /// Two handles on one database (two instances): one appends while both
    /// compact, over and over; every update is still there at the end.
    #[test]
    fn compaction_racing_appends_on_two_instances_loses_nothing() {
        use yrs::{Map, Transact};
        each_backend(|open| {
            let (writer, other) = (open(), open());
            let source = yrs::Doc::new();
            let map = source.get_or_insert_map("m");
            let updates: Vec<Vec<u8>> = (0..300)
                .map(|i| {
                    let mut txn = source.transact_mut();
                    map.insert(&mut txn, format!("k{i}"), i as f64);
                    txn.encode_update_v1()
                })
                .collect();
            std::thread::scope(|scope| {
                let appending = scope.spawn(|| {
                    for update in &updates {
                        writer.append("race", DocKind::Project, &[update]).unwrap();
                    }
                });
                for store in [&other, &writer].into_iter().cycle().take(400) {
                    store.compact("race", DocKind::Project).unwrap();
                    if appending.is_finished() {
                        break;
                    }
                }
                appending.join().unwrap();
            });
            let doc = rebuild(&other.load("race", DocKind::Project).unwrap());
            let map = doc.get_or_insert_map("m");
            assert_eq!(map.len(&doc.transact()), 300, "every update survives");
            // And the sequence goes on from where both left it.
            assert_eq!(
                other
                    .append("race", DocKind::Project, &[&updates[0]])
                    .unwrap(),
                301
            );
        });
    }

    #[test]
    fn a_corrupt_log_entry_fails_compaction_and_loses_nothing() {
        each_backend(|open| {
            let store = open();
            store
                .append("p", DocKind::Project, &[b"not a yrs update"])
                .unwrap();
            assert!(store.compact("p", DocKind::Project).is_err());
            assert_eq!(
                store.load("p", DocKind::Project).unwrap().len(),
                1,
                "the entry is still there"
            );
        });
    }
}
