//! Several instances serving one project (issue 16): real servers sharing
//! one real PostgreSQL database, with clients spread over them. Edits
//! converge, presence crosses instances, a late joiner on either instance
//! gets everything, and a room that missed notifications catches up from
//! the log. Runs when `STEMROOM_TEST_POSTGRES` names a server (`cargo xtask
//! test` runs the server tests on PostgreSQL too); on SQLite, in its own
//! data directory, an instance has nothing to share.

mod common;

use std::time::Duration;

use common::{
    Server, SyncClient, bearer, edit_together, keys, next, put, state, test_database_in_use,
};
use yrs::{Doc, Map, Transact};

/// Two instances on one database, both started with `args`, with a
/// project made on A; `None` on SQLite, where an instance has nothing to
/// share.
async fn two_instances(
    name: &str,
    args: &[&str],
) -> Option<(Vec<tempfile::TempDir>, Server, Server, String, String)> {
    if !test_database_in_use() {
        eprintln!("on SQLite an instance shares nothing: see the PostgreSQL run");
        return None;
    }
    let dirs = vec![tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = Server::start(dirs[0].path(), args);
    let b = Server::start_sharing(dirs[1].path(), &a, args);
    let (project, owner) = a.create_project(name).await;
    Some((dirs, a, b, project, owner))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_two_instances_converge_see_each_other_and_a_late_joiner_gets_everything() {
    let Some((_dirs, a, b, project, owner)) = two_instances("Two cities", &[]).await else {
        return;
    };
    let edit = b.link(&project, &owner, "edit").await;

    // Three editors: two on A, one on B, writing at once.
    let mut clients = Vec::new();
    for server in [&a, &b, &a] {
        clients.push(
            SyncClient::connect(&server.addr, &project, "project", &edit, Doc::new())
                .await
                .unwrap(),
        );
    }
    // 45 own keys and "shared", everywhere.
    let first = edit_together(&mut clients, 15).await;

    // Presence crosses: a playhead on B is seen on A, and back.
    clients[1]
        .set_awareness(7001, 1, r#"{"name":"Bo","playhead":48000}"#)
        .await;
    clients[0].until(|c| c.awareness.contains_key(&7001)).await;
    clients[0]
        .set_awareness(7002, 1, r#"{"name":"Ana","playhead":0}"#)
        .await;
    clients[1].until(|c| c.awareness.contains_key(&7002)).await;

    // A late joiner on either instance gets the document and who is here.
    for server in [&a, &b] {
        let mut late = SyncClient::connect(&server.addr, &project, "project", &edit, Doc::new())
            .await
            .unwrap();
        late.until(|c| keys(&c.doc) == 46).await;
        late.pump_for(Duration::from_millis(200)).await;
        assert_eq!(state(&late.doc), first);
        late.until(|c| c.awareness.contains_key(&7001) && c.awareness.contains_key(&7002))
            .await;
    }

    // Bo leaves B: A's clients see the playhead go.
    let bo = clients.remove(1);
    bo.close().await;
    clients[0].until(|c| !c.awareness.contains_key(&7001)).await;
}

/// An instance restarted while the other went on: its room loads from the
/// log, and every update the other acknowledged is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_and_back_has_everything_the_other_acknowledged() {
    let Some((_dirs, mut a, b, project, owner)) = two_instances("Outage", &[]).await else {
        return;
    };
    let mut on_a = SyncClient::connect(&a.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    let mut on_b = SyncClient::connect(&b.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    on_a.edit(put("before".into(), 1.0)).await;
    on_a.saved().await;
    on_b.until(|c| keys(&c.doc) == 1).await;
    a.kill9();
    for i in 0..20 {
        on_b.edit(put(format!("while-away-{i}"), i as f64)).await;
    }
    on_b.saved().await;
    a.restart();
    let mut back = SyncClient::connect(&a.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    back.until(|c| keys(&c.doc) == 21).await;
    // And it hears the other instance again.
    on_b.edit(put("after".into(), 2.0)).await;
    on_b.saved().await;
    back.until(|c| keys(&c.doc) == 22).await;
}

/// kill -9 of the instance the writers are on, in 20 trials: the other
/// instance, where a reader was connected all along, has every update the
/// dead one acknowledged durable (heard live or caught up from the log), and
/// so does a client that joins it afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_durable_update_reaches_the_other_instance_when_one_is_killed() {
    let Some((_dirs, mut a, b, project, owner)) = two_instances("Failover", &[]).await else {
        return;
    };
    let mut reader = SyncClient::connect(&b.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    let mut seed = 0xfa11_u64;
    let mut acknowledged = 0;
    for trial in 0..20 {
        let mut writer = SyncClient::connect(&a.addr, &project, "project", &owner, Doc::new())
            .await
            .unwrap();
        let base = writer.sent;
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(20 + next(&mut seed) % 150);
        let mut n = 0;
        while tokio::time::Instant::now() < deadline {
            writer.edit(put(format!("t{trial}-{n}"), 1.0)).await;
            n += 1;
            writer.pump_for(Duration::from_micros(200)).await;
        }
        a.kill9();
        writer.pump_for(Duration::from_millis(300)).await;
        let durable = writer.durable.saturating_sub(base);
        acknowledged += durable;
        let has_all = |doc: &Doc| {
            let map = doc.get_or_insert_map("m");
            let txn = doc.transact();
            (0..durable).all(|i| map.contains_key(&txn, &format!("t{trial}-{i}")))
        };
        reader.until(|c| has_all(&c.doc)).await;
        let late = SyncClient::connect(&b.addr, &project, "project", &owner, Doc::new())
            .await
            .unwrap();
        assert!(
            has_all(&late.doc),
            "trial {trial}: an update of the {durable} acknowledged is missing on the other instance"
        );
        a.restart();
    }
    assert!(
        acknowledged > 0,
        "the trials acknowledged something to check"
    );
}

/// A link revoked on one instance ends its live session on the other
/// within a ping interval (each instance re-checks links in the shared
/// database at every ping).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_revoked_on_one_instance_ends_its_session_on_the_other() {
    let Some((_dirs, a, b, project, owner)) = two_instances("Revoked", &["--ping-secs", "1"]).await
    else {
        return;
    };
    let r = a
        .share(&project, &owner, serde_json::json!({"role": "edit"}))
        .await;
    let token = r.json()["token"].as_str().unwrap().to_string();
    let link = r.json()["id"].as_str().unwrap().to_string();
    let mut live = SyncClient::connect(&b.addr, &project, "project", &token, Doc::new())
        .await
        .unwrap();
    let path = format!("/api/projects/{project}/links/{link}");
    let revoked = bearer(&a.addr, "DELETE", &path, &owner, b"").await;
    assert_eq!(revoked.status, 204);
    let started = std::time::Instant::now();
    assert!(live.closed().await.reason.contains("revoked"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "ended {:?} after the revocation",
        started.elapsed()
    );
    assert_eq!(
        SyncClient::connect(&b.addr, &project, "project", &token, Doc::new())
            .await
            .err(),
        Some(410)
    );
}

/// Notifications lost while an instance was not listening (its listening
/// connection ended: a network drop, a database failover) are caught up
/// from the log once it listens again, with no further edit to prompt it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_that_missed_notifications_catches_up_from_the_log() {
    let Some((_dirs, a, b, project, owner)) = two_instances("Missed", &[]).await else {
        return;
    };
    let mut watcher = SyncClient::connect(&b.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    let mut writer = SyncClient::connect(&a.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    writer.edit(put("before".into(), 1.0)).await;
    writer.saved().await;
    watcher.until(|c| keys(&c.doc) == 1).await;

    // End every relay's listening connection, and write at once: nobody
    // listens for these notifications.
    let database = a.database.clone().unwrap();
    let ended = std::thread::spawn(move || {
        let mut admin = postgres::Client::connect(&database, postgres::NoTls).unwrap();
        admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = $1 AND datname = current_database()",
                &[&stemroom_server::relay::LISTENER_NAME],
            )
            .unwrap()
            .len()
    })
    .join()
    .unwrap();
    assert_eq!(ended, 2, "one listening connection per instance");
    for i in 0..10 {
        writer.edit(put(format!("unheard-{i}"), i as f64)).await;
    }
    writer.saved().await;
    // No more edits: only a catch-up from the log brings these.
    watcher.until(|c| keys(&c.doc) == 11).await;
}

/// Presence relayed from another instance belongs to it: while it lives a
/// connection here cannot take over that client id; once it is killed (no
/// heartbeat for three beats) its states go, for everyone here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_of_a_killed_instance_goes_and_is_not_taken_while_it_lives() {
    let Some((_dirs, mut a, b, project, owner)) =
        two_instances("Ghosts", &["--relay-heartbeat-secs", "1"]).await
    else {
        return;
    };
    let mut ana = SyncClient::connect(&a.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    let mut observer = SyncClient::connect(&b.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    ana.set_awareness(9001, 1, r#"{"name":"Ana"}"#).await;
    observer
        .until(|c| c.awareness.get(&9001).is_some_and(|s| s.contains("Ana")))
        .await;

    // Mallory on B tries to speak for Ana's id: refused while A lives.
    let mut mallory = SyncClient::connect(&b.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    mallory
        .set_awareness(9001, 50, r#"{"name":"Mallory"}"#)
        .await;
    observer.pump_for(Duration::from_millis(500)).await;
    assert!(
        observer
            .awareness
            .get(&9001)
            .is_some_and(|s| s.contains("Ana")),
        "{:?}",
        observer.awareness
    );

    // A dies: its states go within three heartbeats.
    a.kill9();
    observer.until(|c| !c.awareness.contains_key(&9001)).await;
}
