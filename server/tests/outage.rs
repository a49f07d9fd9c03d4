//! PostgreSQL restarted under a running session (issue 16): the rooms close
//! their connections with 1011 while it is away, the clients reconnect
//! once it is back, and nothing acknowledged is lost; the pool drops its
//! broken connections and the relay between instances listens again. Runs
//! in the PostgreSQL pass of `cargo xtask test`, which names the command
//! that restarts its cluster (`STEMROOM_TEST_POSTGRES_RESTART`); alone in
//! its test binary, since the restart reaches every database of the
//! cluster.

mod common;

use std::time::Duration;

use common::{Server, SyncClient, keys, put};
use yrs::{Doc, Map, Transact};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_mid_session_loses_nothing_acknowledged() {
    let Ok(restart) = std::env::var("STEMROOM_TEST_POSTGRES_RESTART") else {
        eprintln!("no PostgreSQL to restart in this run: see the PostgreSQL pass");
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start(dir_a.path(), &[]);
    let b = Server::start_sharing(dir_b.path(), &a, &[]);
    let (project, owner) = a.create_project("Restart").await;
    let mut writer = SyncClient::connect(&a.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    writer.edit(put("before".into(), 1.0)).await;
    writer.saved().await;
    let base = writer.durable;
    // Connected to the other instance across the restart: it only hears
    // what comes after if that instance's relay listens again.
    let mut watcher = SyncClient::connect(&b.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    watcher.until(|c| keys(&c.doc) == 1).await;

    // The database goes away and comes back while the writer edits.
    let restarting = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .args(["-c", &restart])
            .status()
            .map(|s| s.success())
    });
    let mut n = 0;
    let mut closed = None;
    while !restarting.is_finished() || n < 20 {
        writer.edit(put(format!("during-{n}"), n as f64)).await;
        n += 1;
        writer.pump_for(Duration::from_millis(20)).await;
        if let Some(c) = &writer.closed {
            closed = Some(c.code);
            break;
        }
    }
    assert!(restarting.await.unwrap().unwrap(), "the cluster restarted");
    let durable = writer.durable;
    if closed.is_none() {
        writer.pump_for(Duration::from_millis(2_000)).await;
        closed = writer.closed.as_ref().map(|c| c.code);
    }
    assert_eq!(
        closed,
        Some(1011),
        "the room closed its connections while storage failed"
    );

    // Every edit acknowledged before the failure is stored: a fresh
    // client on the other instance (which never restarted) reads them.
    let acknowledged = durable - base;
    let has_acknowledged = |doc: &Doc| {
        let map = doc.get_or_insert_map("m");
        let txn = doc.transact();
        map.contains_key(&txn, "before")
            && (0..acknowledged).all(|i| map.contains_key(&txn, &format!("during-{i}")))
    };
    let mut reader = None;
    for _ in 0..50 {
        match SyncClient::connect(&b.addr, &project, "project", &owner, Doc::new()).await {
            Ok(client) => {
                reader = Some(client);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let reader = reader.expect("the other instance answers once the database is back");
    assert!(
        has_acknowledged(&reader.doc),
        "an edit of the {acknowledged} acknowledged during the restart is lost"
    );

    // The writer reconnects with its document (as a browser does): the
    // rest of its edits arrive, and the other instance hears them.
    let mut back = None;
    for _ in 0..50 {
        match SyncClient::connect(&a.addr, &project, "project", &owner, writer.doc.clone()).await {
            Ok(client) => {
                back = Some(client);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let mut back = back.expect("the server answers again once the database is back");
    back.edit(put("after".into(), 2.0)).await;
    back.saved().await;
    let total = keys(&back.doc);
    assert_eq!(total, n + 2, "before, every edit during, and after");
    let mut reader = reader;
    reader.until(|c| keys(&c.doc) == total).await;
    // The watcher on the other instance hears what comes after: its relay
    // listens again (and caught up from the log when it did).
    watcher.until(|c| keys(&c.doc) == total).await;
}
