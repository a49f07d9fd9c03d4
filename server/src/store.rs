//! Durable storage: one embedded SQLite database in the data directory.
//!
//! WAL mode with `synchronous=FULL`: a write that returned is on disk and
//! survives a crash or power loss. Schema changes are forward migrations
//! counted by SQLite's `user_version`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use rusqlite::{Connection, OptionalExtension};

/// The database file inside the data directory.
pub const DB_FILE: &str = "stemroom.db";

/// Migrations in order; entry `i` brings `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &["CREATE TABLE server_info (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;"];

/// Shared handle to the database. Calls block: run them off the async
/// executor (`tokio::task::spawn_blocking`) once they can take long.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating on first start) the database in `data_dir` and brings
    /// its schema up to date.
    pub fn open(data_dir: &Path) -> anyhow::Result<Store> {
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
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A read that touches the database file: proof that storage answers.
    pub fn check(&self) -> anyhow::Result<()> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
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
        let store = Store::open(&data).unwrap();
        store.check().unwrap();
        assert!(data.join(DB_FILE).is_file());
        drop(store);
        let store = Store::open(&data).unwrap();
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
        let err = Store::open(dir.path()).err().unwrap();
        assert!(
            format!("{err:#}").contains("newer than this stemroom"),
            "{err:#}"
        );
    }
}
