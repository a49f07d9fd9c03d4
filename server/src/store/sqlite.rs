//! The embedded default: one SQLite database in the data directory.
//!
//! WAL mode with `synchronous=FULL`: a write that returned is on disk and
//! survives a crash or power loss. Schema changes are forward migrations
//! counted by SQLite's `user_version`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use rusqlite::{Connection, OptionalExtension, params};
use stemroom_model::DocKind;

use super::{AssetRecord, DocumentLog, LinkRecord, Storage};

/// The database file inside the data directory.
pub const DB_FILE: &str = "stemroom.db";

/// Migrations in order; entry `i` brings `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE server_info (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;",
    // The document log: every update, durable before it is acknowledged,
    // and per document one snapshot that compaction folds the log into.
    "CREATE TABLE doc_updates (
        project TEXT NOT NULL,
        doc     TEXT NOT NULL,
        seq     INTEGER NOT NULL,
        data    BLOB NOT NULL,
        PRIMARY KEY (project, doc, seq)
    ) STRICT;
    CREATE TABLE doc_snapshots (
        project TEXT NOT NULL,
        doc     TEXT NOT NULL,
        upto    INTEGER NOT NULL,
        data    BLOB NOT NULL,
        PRIMARY KEY (project, doc)
    ) STRICT;",
    // Projects, the share links that open them (only hashes of tokens are
    // kept), and the audio assets each project may fetch.
    "CREATE TABLE projects (
        id         TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE share_links (
        id         TEXT PRIMARY KEY,
        project    TEXT NOT NULL REFERENCES projects (id),
        token_hash BLOB NOT NULL UNIQUE,
        role       TEXT NOT NULL,
        label      TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER
    ) STRICT;
    CREATE INDEX share_links_by_project ON share_links (project);
    CREATE TABLE assets (
        sha256      TEXT PRIMARY KEY,
        bytes       INTEGER NOT NULL,
        sample_rate INTEGER NOT NULL,
        channels    INTEGER NOT NULL,
        frames      INTEGER NOT NULL,
        created_at  INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE project_assets (
        project    TEXT NOT NULL REFERENCES projects (id),
        sha256     TEXT NOT NULL REFERENCES assets (sha256),
        name       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (project, sha256)
    ) STRICT;",
    // Who made a link (the owner's name when sharing), shown to its holder.
    "ALTER TABLE share_links ADD COLUMN shared_by TEXT NOT NULL DEFAULT '';",
];

/// Shared handle to the database file. Calls block: run them off the
/// async executor (`tokio::task::spawn_blocking`) once they can take long.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating on first start) the database in `data_dir` and brings
    /// its schema up to date.
    pub fn open(data_dir: &Path) -> anyhow::Result<SqliteStore> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let path = data_dir.join(DB_FILE);
        let mut conn = Connection::open(&path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("{} cannot use WAL journaling (got {mode})", path.display());
        }
        conn.execute_batch(
            "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;",
        )?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn link_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LinkRecord> {
    let hash: Vec<u8> = r.get(2)?;
    Ok(LinkRecord {
        id: r.get(0)?,
        project: r.get(1)?,
        token_hash: hash.try_into().unwrap_or([0; 32]),
        role: r.get(3)?,
        label: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        revoked_at: r.get(7)?,
        shared_by: r.get(8)?,
    })
}

const LINK_COLUMNS: &str =
    "id, project, token_hash, role, label, created_at, expires_at, revoked_at, shared_by";

/// Projects, share links and asset metadata.
impl Storage for SqliteStore {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    /// A read that touches the database file: proof that storage answers.
    fn check(&self) -> anyhow::Result<()> {
        let conn = self.connection();
        let created: Option<String> = conn
            .query_row(
                "SELECT value FROM server_info WHERE key = 'created_at'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        created
            .map(drop)
            .context("the database has lost its server_info")
    }

    fn create_project(&self, id: &str, owner: &LinkRecord) -> anyhow::Result<()> {
        let mut conn = self.connection();
        let tx = write_transaction(&mut conn)?;
        tx.execute(
            "INSERT INTO projects (id, created_at) VALUES (?1, ?2)",
            params![id, owner.created_at],
        )?;
        insert_link(&tx, owner)?;
        tx.commit()?;
        Ok(())
    }

    fn project_created_at(&self, id: &str) -> anyhow::Result<Option<i64>> {
        Ok(self
            .connection()
            .query_row("SELECT created_at FROM projects WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn insert_link(&self, link: &LinkRecord) -> anyhow::Result<()> {
        insert_link(&self.connection(), link)
    }

    fn link_by_token_hash(&self, hash: &[u8; 32]) -> anyhow::Result<Option<LinkRecord>> {
        Ok(self
            .connection()
            .query_row(
                &format!("SELECT {LINK_COLUMNS} FROM share_links WHERE token_hash = ?1"),
                [hash.as_slice()],
                link_from_row,
            )
            .optional()?)
    }

    /// One link of `project` by its id.
    fn link(&self, project: &str, id: &str) -> anyhow::Result<Option<LinkRecord>> {
        Ok(self
            .connection()
            .query_row(
                &format!("SELECT {LINK_COLUMNS} FROM share_links WHERE project = ?1 AND id = ?2"),
                [project, id],
                link_from_row,
            )
            .optional()?)
    }

    /// A project's links, oldest first.
    fn links(&self, project: &str) -> anyhow::Result<Vec<LinkRecord>> {
        let conn = self.connection();
        let mut stmt = conn.prepare(&format!(
            "SELECT {LINK_COLUMNS} FROM share_links WHERE project = ?1 ORDER BY created_at, rowid"
        ))?;
        let links = stmt
            .query_map([project], link_from_row)?
            .collect::<Result<_, _>>()?;
        Ok(links)
    }

    /// Revokes a link of `project`; false when there is no such link.
    fn revoke_link(&self, project: &str, id: &str, now: i64) -> anyhow::Result<bool> {
        let changed = self.connection().execute(
            "UPDATE share_links SET revoked_at = COALESCE(revoked_at, ?3) WHERE project = ?1 AND id = ?2",
            params![project, id, now],
        )?;
        Ok(changed == 1)
    }

    /// Records a stored asset and that `project` may use it.
    fn add_asset(
        &self,
        project: &str,
        asset: &AssetRecord,
        name: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        let mut conn = self.connection();
        let tx = write_transaction(&mut conn)?;
        tx.execute(
            "INSERT OR IGNORE INTO assets (sha256, bytes, sample_rate, channels, frames, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                asset.sha256,
                asset.bytes as i64,
                asset.sample_rate,
                asset.channels,
                asset.frames as i64,
                now
            ],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO project_assets (project, sha256, name, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![project, asset.sha256, name, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The asset, if `project` may fetch it.
    fn project_asset(&self, project: &str, sha256: &str) -> anyhow::Result<Option<AssetRecord>> {
        Ok(self
            .connection()
            .query_row(
                "SELECT a.sha256, a.bytes, a.sample_rate, a.channels, a.frames
                 FROM project_assets p JOIN assets a ON a.sha256 = p.sha256
                 WHERE p.project = ?1 AND p.sha256 = ?2",
                params![project, sha256],
                |r| {
                    Ok(AssetRecord {
                        sha256: r.get(0)?,
                        bytes: r.get::<_, i64>(1)? as u64,
                        sample_rate: r.get(2)?,
                        channels: r.get(3)?,
                        frames: r.get::<_, i64>(4)? as u64,
                    })
                },
            )
            .optional()?)
    }
    fn projects(&self) -> anyhow::Result<Vec<(String, i64)>> {
        let conn = self.connection();
        let mut stmt =
            conn.prepare("SELECT id, created_at FROM projects ORDER BY created_at, id")?;
        let projects = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(projects)
    }

    fn add_project(&self, id: &str, created_at: i64) -> anyhow::Result<()> {
        self.connection().execute(
            "INSERT INTO projects (id, created_at) VALUES (?1, ?2)",
            params![id, created_at],
        )?;
        Ok(())
    }

    fn project_assets(&self, project: &str) -> anyhow::Result<Vec<(AssetRecord, String, i64)>> {
        let conn = self.connection();
        let mut stmt = conn.prepare(
            "SELECT a.sha256, a.bytes, a.sample_rate, a.channels, a.frames, p.name, p.created_at
             FROM project_assets p JOIN assets a ON a.sha256 = p.sha256
             WHERE p.project = ?1 ORDER BY p.sha256",
        )?;
        let assets = stmt
            .query_map([project], |r| {
                Ok((
                    AssetRecord {
                        sha256: r.get(0)?,
                        bytes: r.get::<_, i64>(1)? as u64,
                        sample_rate: r.get(2)?,
                        channels: r.get(3)?,
                        frames: r.get::<_, i64>(4)? as u64,
                    },
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        Ok(assets)
    }
}

/// A transaction that writes: it takes the write lock when it begins, so
/// another connection's writer makes it wait (`busy_timeout`) rather than
/// fail when a read inside it would have to become a write.
fn write_transaction(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

fn insert_link(conn: &Connection, link: &LinkRecord) -> anyhow::Result<()> {
    conn.execute(
        &format!(
            "INSERT INTO share_links ({LINK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ),
        params![
            link.id,
            link.project,
            link.token_hash.as_slice(),
            link.role,
            link.label,
            link.created_at,
            link.expires_at,
            link.revoked_at,
            link.shared_by
        ],
    )?;
    Ok(())
}

impl DocumentLog for SqliteStore {
    fn append(&self, project: &str, doc: DocKind, updates: &[&[u8]]) -> anyhow::Result<u64> {
        let mut conn = self.connection();
        let tx = write_transaction(&mut conn)?;
        let last: i64 = tx.query_row(
            "SELECT MAX(COALESCE((SELECT MAX(seq) FROM doc_updates WHERE project = ?1 AND doc = ?2), 0),
                        COALESCE((SELECT upto FROM doc_snapshots WHERE project = ?1 AND doc = ?2), 0))",
            params![project, doc.as_str()],
            |r| r.get(0),
        )?;
        let mut seq = last;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO doc_updates (project, doc, seq, data) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for update in updates {
                seq += 1;
                insert.execute(params![project, doc.as_str(), seq, update])?;
            }
        }
        // WAL with synchronous=FULL: the commit is on disk when it returns.
        tx.commit()?;
        Ok(seq as u64)
    }

    fn load_since(
        &self,
        project: &str,
        doc: DocKind,
        after: u64,
    ) -> anyhow::Result<(Vec<Vec<u8>>, u64)> {
        // One read transaction: the snapshot and the updates after it are
        // of one moment, whatever a compaction elsewhere commits meanwhile
        // (another process, such as `stemroom render`, reads this way too).
        let mut conn = self.connection();
        let tx = conn.transaction()?;
        let (parts, _, upto) = load_parts(&tx, project, doc, after as i64)?;
        tx.commit()?;
        Ok((parts, upto as u64))
    }

    fn compact(&self, project: &str, doc: DocKind) -> anyhow::Result<usize> {
        let mut conn = self.connection();
        let tx = write_transaction(&mut conn)?;
        // Read and fold under one lock and transaction: nothing appended in
        // between can be dropped unmerged.
        let (parts, folded, upto) = load_parts(&tx, project, doc, 0)?;
        if folded == 0 {
            return Ok(0);
        }
        let merged = yrs::merge_updates_v1(parts.iter().map(Vec::as_slice)).map_err(|e| {
            anyhow::anyhow!("the log of {project}/{} does not merge: {e}", doc.as_str())
        })?;
        tx.execute(
            "INSERT INTO doc_snapshots (project, doc, upto, data) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (project, doc) DO UPDATE SET upto = excluded.upto, data = excluded.data",
            params![project, doc.as_str(), upto, merged],
        )?;
        tx.execute(
            "DELETE FROM doc_updates WHERE project = ?1 AND doc = ?2 AND seq <= ?3",
            params![project, doc.as_str(), upto],
        )?;
        tx.commit()?;
        Ok(folded)
    }
}

/// What a replica holding everything up to `after` lacks (the snapshot
/// when it reaches past `after`, then the updates after both), how many
/// updates, and the last sequence number included.
fn load_parts(
    conn: &Connection,
    project: &str,
    doc: DocKind,
    after: i64,
) -> anyhow::Result<(Vec<Vec<u8>>, usize, i64)> {
    let snapshot: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT upto, data FROM doc_snapshots WHERE project = ?1 AND doc = ?2",
            params![project, doc.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let snapshot = snapshot.filter(|(upto, _)| *upto > after);
    let mut upto = snapshot.as_ref().map_or(after, |(upto, _)| *upto);
    let mut parts: Vec<Vec<u8>> = snapshot.map(|(_, data)| data).into_iter().collect();
    let mut stmt =
        conn.prepare("SELECT seq, data FROM doc_updates WHERE project = ?1 AND doc = ?2 AND seq > ?3 ORDER BY seq")?;
    let mut updates = 0;
    for row in stmt.query_map(params![project, doc.as_str(), upto], |r| {
        Ok((r.get::<_, i64>(0)?, r.get(1)?))
    })? {
        let (seq, data) = row?;
        upto = seq;
        parts.push(data);
        updates += 1;
    }
    Ok((parts, updates, upto))
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        bail!(
            "the database schema (version {version}) is newer than this stemroom ({}); upgrade stemroom",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("migration {} failed", i + 1))?;
        if i == 0 {
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            tx.execute(
                "INSERT INTO server_info (key, value) VALUES ('created_at', ?1)",
                [now.to_string()],
            )?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_open_creates_a_wal_database_and_reopening_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested/data");
        let store = SqliteStore::open(&data).unwrap();
        store.check().unwrap();
        assert!(data.join(DB_FILE).is_file());
        drop(store);
        let store = SqliteStore::open(&data).unwrap();
        store.check().unwrap();
        let conn = store.conn.lock().unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            (mode.as_str(), sync, version),
            ("wal", 2, MIGRATIONS.len() as i64)
        );
    }

    #[test]
    fn a_database_from_a_newer_stemroom_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        Connection::open(dir.path().join(DB_FILE))
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = SqliteStore::open(dir.path()).err().unwrap();
        assert!(
            format!("{err:#}").contains("newer than this stemroom"),
            "{err:#}"
        );
    }
}
