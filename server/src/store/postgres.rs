//! PostgreSQL, for a deployment that outgrows one machine: several
//! `stemroom serve` processes share one database (`--database
//! postgres://…`). The same tables as the embedded SQLite database, under
//! versioned migrations (`stemroom_schema`), and the same promise: a call
//! that returned is committed (`synchronous_commit` as the server has it,
//! `on` by default: on disk, and on a synchronous standby if one is set).
//!
//! Appends and compactions of one document are serialised across every
//! instance by a transaction-scoped advisory lock on the document, so
//! sequence numbers never collide and a compaction never drops an update
//! appended while it folds. Connections come from a small pool; a broken
//! one is dropped and the next call connects anew, so a database restart
//! costs the calls in flight, not the server.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use postgres::{Client, GenericClient, NoTls, Row};
use stemroom_model::DocKind;

use super::{AssetRecord, DocumentLog, LinkRecord, Storage};

/// Migrations in order; entry `i` brings the schema from version `i` to
/// `i + 1` (the embedded database's history, folded).
const MIGRATIONS: &[&str] = &["CREATE TABLE server_info (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE doc_updates (
        project TEXT NOT NULL,
        doc     TEXT NOT NULL,
        seq     BIGINT NOT NULL,
        data    BYTEA NOT NULL,
        PRIMARY KEY (project, doc, seq)
    );
    CREATE TABLE doc_snapshots (
        project TEXT NOT NULL,
        doc     TEXT NOT NULL,
        upto    BIGINT NOT NULL,
        data    BYTEA NOT NULL,
        PRIMARY KEY (project, doc)
    );
    CREATE TABLE projects (
        id         TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE share_links (
        id         TEXT PRIMARY KEY,
        project    TEXT NOT NULL REFERENCES projects (id),
        token_hash BYTEA NOT NULL UNIQUE,
        role       TEXT NOT NULL,
        label      TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT,
        shared_by  TEXT NOT NULL DEFAULT '',
        made       BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX share_links_by_project ON share_links (project);
    CREATE TABLE assets (
        sha256      TEXT PRIMARY KEY,
        bytes       BIGINT NOT NULL,
        sample_rate BIGINT NOT NULL,
        channels    BIGINT NOT NULL,
        frames      BIGINT NOT NULL,
        created_at  BIGINT NOT NULL
    );
    CREATE TABLE project_assets (
        project    TEXT NOT NULL REFERENCES projects (id),
        sha256     TEXT NOT NULL REFERENCES assets (sha256),
        name       TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (project, sha256)
    );"];

/// The advisory lock every instance takes to migrate (one at a time).
const MIGRATION_LOCK: i64 = 0x5354_454d_524f_4f4d; // "STEMROOM"

/// Connections kept open between calls.
const POOL: usize = 8;
/// A pooled connection idle longer than this is checked before use (a
/// database restart leaves idle connections that only fail when used).
const CHECK_AFTER: Duration = Duration::from_secs(1);

/// A PostgreSQL database. Calls block: run them off the async executor
/// (`tokio::task::spawn_blocking`), never on it.
pub struct PostgresStore {
    url: String,
    /// This instance's name in notifications (random, per process).
    instance: String,
    /// Idle connections and when each was last given back.
    idle: Mutex<Vec<(Client, Instant)>>,
}

/// A connection from the pool, given back when dropped (unless broken).
struct Pooled<'a> {
    client: Option<Client>,
    store: &'a PostgresStore,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("a pooled connection")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("a pooled connection")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && !client.is_closed()
        {
            let mut idle = self.store.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < POOL {
                idle.push((client, Instant::now()));
            }
        }
    }
}

/// The URL without its password (in the user part or as a parameter),
/// for messages.
fn redacted(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let base = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &base[scheme + 3..at];
            let user = user.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &base[..scheme + 3], &base[at + 1..])
        }
        _ => base.to_string(),
    };
    let query: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.to_ascii_lowercase().starts_with("password="))
        .collect();
    if query.is_empty() {
        base
    } else {
        format!("{base}?{}", query.join("&"))
    }
}

impl PostgresStore {
    /// Connects to `url` and brings the schema up to date (several
    /// instances starting at once migrate one after the other).
    pub fn connect(url: &str) -> anyhow::Result<PostgresStore> {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let store = PostgresStore {
            url: url.to_string(),
            instance: random.iter().map(|b| format!("{b:02x}")).collect(),
            idle: Mutex::new(Vec::new()),
        };
        let mut conn = store.connection()?;
        migrate(&mut conn)?;
        drop(conn);
        Ok(store)
    }

    fn connection(&self) -> anyhow::Result<Pooled<'_>> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let client = match idle {
                Some((mut client, since)) => {
                    let fresh = since.elapsed() < CHECK_AFTER;
                    if client.is_closed()
                        || !fresh && client.is_valid(Duration::from_secs(2)).is_err()
                    {
                        continue;
                    }
                    client
                }
                None => self.open_connection()?,
            };
            return Ok(Pooled {
                client: Some(client),
                store: self,
            });
        }
    }

    /// A new connection: bounded waits (connecting, TCP keepalive), and a
    /// transaction left open by a stalled instance ends after a minute,
    /// releasing the document locks it holds.
    fn open_connection(&self) -> anyhow::Result<Client> {
        let mut config: postgres::Config = self
            .url
            .parse()
            .with_context(|| format!("not a PostgreSQL URL: {}", redacted(&self.url)))?;
        config
            .connect_timeout(Duration::from_secs(10))
            .keepalives_idle(Duration::from_secs(30));
        let mut client = config
            .connect(NoTls)
            .with_context(|| format!("cannot connect to {}", redacted(&self.url)))?;
        client.batch_execute("SET idle_in_transaction_session_timeout = '60s'")?;
        Ok(client)
    }
}

impl Drop for PostgresStore {
    /// Each connection runs a runtime of its own, which may not be dropped
    /// on an async thread (the server drops its state on one at exit):
    /// they are closed on a thread of their own.
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

fn migrate(conn: &mut Client) -> anyhow::Result<()> {
    let mut tx = conn.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS stemroom_schema (version INTEGER NOT NULL)")?;
    let version: Option<i32> = tx
        .query_opt("SELECT version FROM stemroom_schema", &[])?
        .map(|r| r.get(0));
    let version = version.unwrap_or(0) as usize;
    if version > MIGRATIONS.len() {
        bail!(
            "the database schema (version {version}) is newer than this stemroom ({}); upgrade stemroom",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.batch_execute(sql)
            .with_context(|| format!("migration {} failed", i + 1))?;
        if i == 0 {
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            tx.execute(
                "INSERT INTO server_info (key, value) VALUES ('created_at', $1)",
                &[&now.to_string()],
            )?;
        }
    }
    tx.execute("DELETE FROM stemroom_schema", &[])?;
    tx.execute(
        "INSERT INTO stemroom_schema (version) VALUES ($1)",
        &[&(MIGRATIONS.len() as i32)],
    )?;
    tx.commit()?;
    Ok(())
}

const LINK_COLUMNS: &str =
    "id, project, token_hash, role, label, created_at, expires_at, revoked_at, shared_by";

fn link_from_row(r: &Row) -> LinkRecord {
    let hash: Vec<u8> = r.get(2);
    LinkRecord {
        id: r.get(0),
        project: r.get(1),
        token_hash: hash.try_into().unwrap_or([0; 32]),
        role: r.get(3),
        label: r.get(4),
        created_at: r.get(5),
        expires_at: r.get(6),
        revoked_at: r.get(7),
        shared_by: r.get(8),
    }
}

/// An asset from a row whose first five columns are the asset's.
fn asset_from_row(r: &Row) -> AssetRecord {
    AssetRecord {
        sha256: r.get(0),
        bytes: r.get::<_, i64>(1) as u64,
        sample_rate: r.get::<_, i64>(2) as u32,
        channels: r.get::<_, i64>(3) as u32,
        frames: r.get::<_, i64>(4) as u64,
    }
}

fn insert_link(conn: &mut impl GenericClient, link: &LinkRecord) -> anyhow::Result<()> {
    conn.execute(
        &format!(
            "INSERT INTO share_links ({LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ),
        &[
            &link.id,
            &link.project,
            &link.token_hash.as_slice(),
            &link.role,
            &link.label,
            &link.created_at,
            &link.expires_at,
            &link.revoked_at,
            &link.shared_by,
        ],
    )?;
    Ok(())
}

impl Storage for PostgresStore {
    fn describe(&self) -> String {
        redacted(&self.url)
    }

    fn shared(&self) -> Option<(String, String)> {
        Some((self.url.clone(), self.instance.clone()))
    }

    fn check(&self) -> anyhow::Result<()> {
        let row = self.connection()?.query_opt(
            "SELECT value FROM server_info WHERE key = 'created_at'",
            &[],
        )?;
        row.map(drop)
            .context("the database has lost its server_info")
    }

    fn create_project(&self, id: &str, owner: &LinkRecord) -> anyhow::Result<()> {
        let mut conn = self.connection()?;
        let mut tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO projects (id, created_at) VALUES ($1, $2)",
            &[&id, &owner.created_at],
        )?;
        insert_link(&mut tx, owner)?;
        tx.commit()?;
        Ok(())
    }

    fn project_created_at(&self, id: &str) -> anyhow::Result<Option<i64>> {
        Ok(self
            .connection()?
            .query_opt("SELECT created_at FROM projects WHERE id = $1", &[&id])?
            .map(|r| r.get(0)))
    }

    fn insert_link(&self, link: &LinkRecord) -> anyhow::Result<()> {
        insert_link(&mut *self.connection()?, link)
    }

    fn link_by_token_hash(&self, hash: &[u8; 32]) -> anyhow::Result<Option<LinkRecord>> {
        Ok(self
            .connection()?
            .query_opt(
                &format!("SELECT {LINK_COLUMNS} FROM share_links WHERE token_hash = $1"),
                &[&hash.as_slice()],
            )?
            .as_ref()
            .map(link_from_row))
    }

    fn link(&self, project: &str, id: &str) -> anyhow::Result<Option<LinkRecord>> {
        Ok(self
            .connection()?
            .query_opt(
                &format!("SELECT {LINK_COLUMNS} FROM share_links WHERE project = $1 AND id = $2"),
                &[&project, &id],
            )?
            .as_ref()
            .map(link_from_row))
    }

    fn links(&self, project: &str) -> anyhow::Result<Vec<LinkRecord>> {
        Ok(self
            .connection()?
            .query(
                &format!(
                    "SELECT {LINK_COLUMNS} FROM share_links WHERE project = $1 ORDER BY created_at, made"
                ),
                &[&project],
            )?
            .iter()
            .map(link_from_row)
            .collect())
    }

    fn revoke_link(&self, project: &str, id: &str, now: i64) -> anyhow::Result<bool> {
        let changed = self.connection()?.execute(
            "UPDATE share_links SET revoked_at = COALESCE(revoked_at, $3) WHERE project = $1 AND id = $2",
            &[&project, &id, &now],
        )?;
        Ok(changed == 1)
    }

    fn add_asset(
        &self,
        project: &str,
        asset: &AssetRecord,
        name: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        let mut conn = self.connection()?;
        let mut tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO assets (sha256, bytes, sample_rate, channels, frames, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &asset.sha256,
                &(asset.bytes as i64),
                &i64::from(asset.sample_rate),
                &i64::from(asset.channels),
                &(asset.frames as i64),
                &now,
            ],
        )?;
        tx.execute(
            "INSERT INTO project_assets (project, sha256, name, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&project, &asset.sha256, &name, &now],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn project_asset(&self, project: &str, sha256: &str) -> anyhow::Result<Option<AssetRecord>> {
        Ok(self
            .connection()?
            .query_opt(
                "SELECT a.sha256, a.bytes, a.sample_rate, a.channels, a.frames
                 FROM project_assets p JOIN assets a ON a.sha256 = p.sha256
                 WHERE p.project = $1 AND p.sha256 = $2",
                &[&project, &sha256],
            )?
            .as_ref()
            .map(asset_from_row))
    }
    fn projects(&self) -> anyhow::Result<Vec<(String, i64)>> {
        Ok(self
            .connection()?
            .query(
                "SELECT id, created_at FROM projects ORDER BY created_at, id COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn add_project(&self, id: &str, created_at: i64) -> anyhow::Result<()> {
        self.connection()?.execute(
            "INSERT INTO projects (id, created_at) VALUES ($1, $2)",
            &[&id, &created_at],
        )?;
        Ok(())
    }

    fn project_assets(&self, project: &str) -> anyhow::Result<Vec<(AssetRecord, String, i64)>> {
        Ok(self
            .connection()?
            .query(
                "SELECT a.sha256, a.bytes, a.sample_rate, a.channels, a.frames, p.name, p.created_at
                 FROM project_assets p JOIN assets a ON a.sha256 = p.sha256
                 WHERE p.project = $1 ORDER BY p.sha256 COLLATE \"C\"",
                &[&project],
            )?
            .iter()
            .map(|r| {
                (
                    asset_from_row(r),
                    r.get(5),
                    r.get(6),
                )
            })
            .collect())
    }
}

/// Takes the document's lock for the rest of the transaction: appends and
/// compactions of one document, on any instance, one at a time.
fn lock_doc(tx: &mut postgres::Transaction<'_>, project: &str, doc: DocKind) -> anyhow::Result<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2::text, 0))",
        &[&project, &doc.as_str()],
    )?;
    Ok(())
}

impl DocumentLog for PostgresStore {
    fn append(&self, project: &str, doc: DocKind, updates: &[&[u8]]) -> anyhow::Result<u64> {
        let mut conn = self.connection()?;
        let mut tx = conn.transaction()?;
        lock_doc(&mut tx, project, doc)?;
        let last: i64 = tx
            .query_one(
                "SELECT GREATEST(
                    COALESCE((SELECT MAX(seq) FROM doc_updates WHERE project = $1 AND doc = $2), 0),
                    COALESCE((SELECT upto FROM doc_snapshots WHERE project = $1 AND doc = $2), 0))",
                &[&project, &doc.as_str()],
            )?
            .get(0);
        let insert = tx
            .prepare("INSERT INTO doc_updates (project, doc, seq, data) VALUES ($1, $2, $3, $4)")?;
        let mut seq = last;
        for update in updates {
            seq += 1;
            tx.execute(&insert, &[&project, &doc.as_str(), &seq, update])?;
        }
        // The other instances hear of it (`relay`) when, and only if, it
        // commits: PostgreSQL delivers a transaction's notifications then.
        let note = format!(
            "{} {project} {} {} {seq}",
            self.instance,
            doc.as_str(),
            last + 1
        );
        tx.execute("SELECT pg_notify($1, $2)", &[&crate::relay::UPDATES, &note])?;
        // Committed (and, with synchronous_commit on, flushed) when this returns.
        tx.commit()?;
        Ok(seq as u64)
    }

    fn load_since(
        &self,
        project: &str,
        doc: DocKind,
        after: u64,
    ) -> anyhow::Result<(Vec<Vec<u8>>, u64)> {
        // One snapshot of the database for both reads: a compaction
        // committing in between cannot make an update appear twice or not
        // at all.
        let mut conn = self.connection()?;
        let mut tx = conn
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let (parts, _, upto) = load_parts(&mut tx, project, doc, after as i64)?;
        tx.commit()?;
        Ok((parts, upto as u64))
    }

    fn compact(&self, project: &str, doc: DocKind) -> anyhow::Result<usize> {
        let mut conn = self.connection()?;
        let mut tx = conn.transaction()?;
        lock_doc(&mut tx, project, doc)?;
        let (parts, folded, upto) = load_parts(&mut tx, project, doc, 0)?;
        if folded == 0 {
            return Ok(0);
        }
        let merged = yrs::merge_updates_v1(parts.iter().map(Vec::as_slice)).map_err(|e| {
            anyhow::anyhow!("the log of {project}/{} does not merge: {e}", doc.as_str())
        })?;
        tx.execute(
            "INSERT INTO doc_snapshots (project, doc, upto, data) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project, doc) DO UPDATE SET upto = excluded.upto, data = excluded.data",
            &[&project, &doc.as_str(), &upto, &merged],
        )?;
        tx.execute(
            "DELETE FROM doc_updates WHERE project = $1 AND doc = $2 AND seq <= $3",
            &[&project, &doc.as_str(), &upto],
        )?;
        tx.commit()?;
        Ok(folded)
    }
}

/// What a replica holding everything up to `after` lacks (the snapshot
/// when it reaches past `after`, then the updates after both), how many
/// updates, and the last sequence number included.
fn load_parts(
    tx: &mut postgres::Transaction<'_>,
    project: &str,
    doc: DocKind,
    after: i64,
) -> anyhow::Result<(Vec<Vec<u8>>, usize, i64)> {
    let snapshot = tx.query_opt(
        "SELECT upto, data FROM doc_snapshots WHERE project = $1 AND doc = $2",
        &[&project, &doc.as_str()],
    )?;
    let snapshot = snapshot.filter(|r| r.get::<_, i64>(0) > after);
    let mut upto: i64 = snapshot.as_ref().map_or(after, |r| r.get(0));
    let mut parts: Vec<Vec<u8>> = snapshot.map(|r| r.get(1)).into_iter().collect();
    let rows = tx.query(
        "SELECT seq, data FROM doc_updates WHERE project = $1 AND doc = $2 AND seq > $3 ORDER BY seq",
        &[&project, &doc.as_str(), &upto],
    )?;
    let updates = rows.len();
    for row in rows {
        upto = row.get(0);
        parts.push(row.get(1));
    }
    Ok((parts, updates, upto))
}

/// A new, empty database on the PostgreSQL server at `server_url` (tests:
/// each server under test gets its own); answers its URL.
pub fn fresh_database(server_url: &str) -> anyhow::Result<String> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let name: String = std::iter::once("stemroom_test_".to_string())
        .chain(random.iter().map(|b| format!("{b:02x}")))
        .collect();
    let mut client = Client::connect(server_url, NoTls)
        .with_context(|| format!("cannot connect to {}", redacted(server_url)))?;
    client.batch_execute(&format!("CREATE DATABASE {name}"))?;
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server_url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    Ok(format!("{root}/{name}{query}"))
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn messages_never_carry_a_password() {
        assert_eq!(
            redacted("postgres://ana:s3cret@db.example/stemroom"),
            "postgres://ana@db.example/stemroom"
        );
        assert_eq!(
            redacted("postgres://ana@db/stemroom?sslmode=disable&password=s3cret"),
            "postgres://ana@db/stemroom?sslmode=disable"
        );
        assert_eq!(
            redacted("postgres://db/stemroom?PASSWORD=x"),
            "postgres://db/stemroom"
        );
    }
}
