//! Sync through a real server on loopback with real WebSocket clients:
//! convergence, late joiners, offline merges, roles, bad input.

mod common;

use std::time::Duration;

use common::{Server, SyncClient, edit_together, http, keys, put, state};
use stemroom_model::sync::{self, Message, SyncMessage};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::{Doc, Map, Transact, WriteTxn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_editors_converge_and_a_late_joiner_gets_everything() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (project, owner) = server.create_project("Converge").await;
    let edit = server.link(&project, &owner, "edit").await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(
            SyncClient::connect(&server.addr, &project, "project", &edit, Doc::new())
                .await
                .unwrap(),
        );
    }
    // Every client writes its own keys and one shared key, interleaved:
    // 60 own keys and "shared" arrive everywhere.
    let first = edit_together(&mut clients, 20).await;
    assert!(
        first.contains("Converge"),
        "the server's initial meta: {first}"
    );

    let late = SyncClient::connect(&server.addr, &project, "project", &edit, Doc::new())
        .await
        .unwrap();
    assert_eq!(
        state(&late.doc),
        first,
        "a late joiner receives the full state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_client_merges_on_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (project, owner) = server.create_project("Offline").await;
    let mut a = SyncClient::connect(&server.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    let mut b = SyncClient::connect(&server.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    a.edit(put("before".into(), 1.0)).await;
    a.saved().await;
    b.until(|c| keys(&c.doc) == 1).await;

    // A goes offline and keeps editing; B edits meanwhile.
    let offline = a.doc.clone();
    a.close().await;
    {
        let map = offline.get_or_insert_map("m");
        let mut txn = offline.transact_mut();
        map.insert(&mut txn, "offline-1", 1.0);
        map.insert(&mut txn, "offline-2", 2.0);
        map.remove(&mut txn, "before");
    }
    b.edit(put("online".into(), 3.0)).await;
    b.saved().await;

    let mut a = SyncClient::connect(&server.addr, &project, "project", &owner, offline)
        .await
        .unwrap();
    a.saved().await;
    let expect = ["offline-1", "offline-2", "online"];
    for client in [&mut a, &mut b] {
        client
            .until(|c| {
                let map = c.doc.get_or_insert_map("m");
                let txn = c.doc.transact();
                map.len(&txn) == 3 && expect.iter().all(|k| map.contains_key(&txn, k))
            })
            .await;
    }
    assert_eq!(state(&a.doc), state(&b.doc));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_hold_against_hand_crafted_messages() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--ping-secs", "1"]);
    let (project, owner) = server.create_project("Roles").await;
    let listen = server.link(&project, &owner, "listen").await;
    let comment = server.link(&project, &owner, "comment").await;
    let mut watcher = SyncClient::connect(&server.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    let mut review_watcher =
        SyncClient::connect(&server.addr, &project, "review", &owner, Doc::new())
            .await
            .unwrap();
    let before = state(&watcher.doc);

    // A listener syncs both documents (its empty answers are accepted)...
    for doc in ["project", "review"] {
        let mut l = SyncClient::connect(&server.addr, &project, doc, &listen, Doc::new())
            .await
            .unwrap();
        l.saved().await;
        assert!(l.closed.is_none());
        // ...but any change is refused with a reason, and the socket closed.
        l.edit(put("listener".into(), 1.0)).await;
        let closed = l.closed().await;
        assert_eq!(closed.code, 1008, "{closed:?}");
        assert!(
            closed
                .denied
                .as_deref()
                .unwrap_or("")
                .contains("listen link"),
            "{closed:?}"
        );
    }
    // A commenter writes review, never project.
    let mut c = SyncClient::connect(&server.addr, &project, "review", &comment, Doc::new())
        .await
        .unwrap();
    c.edit(put("comment".into(), 1.0)).await;
    c.saved().await;
    review_watcher.until(|w| keys(&w.doc) == 1).await;
    let mut c = SyncClient::connect(&server.addr, &project, "project", &comment, Doc::new())
        .await
        .unwrap();
    // A raw, hand-made update frame rather than the client's own edit path.
    let forged = {
        let doc = Doc::new();
        let map = doc.get_or_insert_map("tracks");
        let mut txn = doc.transact_mut();
        map.insert(&mut txn, "t", 1.0);
        txn.encode_update_v1()
    };
    c.send_raw(sync::encode(&Message::Sync(SyncMessage::SyncStep2(forged))))
        .await;
    assert_eq!(c.closed().await.code, 1008);
    watcher.pump_for(Duration::from_millis(300)).await;
    assert_eq!(state(&watcher.doc), before, "the project did not change");

    // Forged, altered, foreign and missing tokens are refused before upgrade.
    let (other, other_owner) = server.create_project("Other").await;
    let mut altered = listen.clone().into_bytes();
    altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for (token, status) in [
        ("forged-token-forged-token-forged-token-abcd", 403),
        (altered.as_str(), 403),
        (other_owner.as_str(), 403),
        ("", 401),
    ] {
        let refused =
            SyncClient::connect(&server.addr, &project, "project", token, Doc::new()).await;
        assert_eq!(refused.err(), Some(status), "token {token:?}");
    }
    assert!(
        SyncClient::connect(&server.addr, &other, "project", &other_owner, Doc::new())
            .await
            .is_ok()
    );
    // Unknown documents are not found.
    assert_eq!(
        SyncClient::connect(&server.addr, &project, "secrets", &owner, Doc::new())
            .await
            .err(),
        Some(404)
    );

    // An expiring link works until it expires, then ends live sessions too.
    let r = server
        .share(
            &project,
            &owner,
            serde_json::json!({"role": "edit", "expiresIn": 2}),
        )
        .await;
    let expiring = r.json()["token"].as_str().unwrap().to_string();
    let mut e = SyncClient::connect(&server.addr, &project, "project", &expiring, Doc::new())
        .await
        .unwrap();
    e.edit(put("expiring".into(), 1.0)).await;
    e.saved().await;
    let closed = e.closed().await;
    assert_eq!(closed.code, 1008);
    assert!(closed.reason.contains("expired"), "{closed:?}");
    assert_eq!(
        SyncClient::connect(&server.addr, &project, "project", &expiring, Doc::new())
            .await
            .err(),
        Some(410)
    );

    // A revoked link: refused at once, and its live session ends.
    let r = server
        .share(&project, &owner, serde_json::json!({"role": "edit"}))
        .await;
    let revoked = r.json()["token"].as_str().unwrap().to_string();
    let link_id = r.json()["id"].as_str().unwrap().to_string();
    let mut live = SyncClient::connect(&server.addr, &project, "project", &revoked, Doc::new())
        .await
        .unwrap();
    let path = format!("/api/projects/{project}/links/{link_id}");
    // Only the owner revokes.
    let r = http(
        &server.addr,
        "DELETE",
        &path,
        &[("authorization", &format!("Bearer {revoked}"))],
        b"",
    )
    .await;
    assert_eq!(r.status, 403);
    let r = http(
        &server.addr,
        "DELETE",
        &path,
        &[("authorization", &format!("Bearer {owner}"))],
        b"",
    )
    .await;
    assert_eq!(r.status, 204);
    assert!(live.closed().await.reason.contains("revoked"));
    assert_eq!(
        SyncClient::connect(&server.addr, &project, "project", &revoked, Doc::new())
            .await
            .err(),
        Some(410)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awareness_is_bound_to_each_connections_own_client_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (project, owner) = server.create_project("Presence").await;
    let listen = server.link(&project, &owner, "listen").await;
    let connect = |token: String| {
        let addr = server.addr.clone();
        let project = project.clone();
        async move {
            SyncClient::connect(&addr, &project, "project", &token, Doc::new())
                .await
                .unwrap()
        }
    };
    let mut a = connect(owner.clone()).await;
    let mut b = connect(listen.clone()).await;
    let mut observer = connect(listen.clone()).await;
    a.set_awareness(1111, 1, r#"{"name":"Ana","playhead":0}"#)
        .await;
    observer.until(|o| o.awareness.contains_key(&1111)).await;
    // B claims A's id, then tries a second id in one message: dropped.
    b.set_awareness(1111, 9, r#"{"name":"Mallory"}"#).await;
    b.set_awareness(2222, 1, r#"{"name":"Bo"}"#).await;
    observer.until(|o| o.awareness.contains_key(&2222)).await;
    b.set_awareness(3333, 1, r#"{"name":"Eve"}"#).await;
    observer.pump_for(Duration::from_millis(300)).await;
    assert!(
        observer.awareness[&1111].contains("Ana"),
        "{:?}",
        observer.awareness
    );
    assert!(!observer.awareness.contains_key(&3333));
    // A late joiner sees both; leaving removes a client's state.
    let mut late = connect(listen.clone()).await;
    late.until(|l| l.awareness.len() == 2).await;
    b.close().await;
    late.until(|l| !l.awareness.contains_key(&2222)).await;
    assert!(late.awareness.contains_key(&1111));
    a.set_awareness(1111, 2, r#"{"name":"Ana","playhead":48000}"#)
        .await;
    late.until(|l| l.awareness[&1111].contains("48000")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_closes_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-message-mib", "1"]);
    let (project, owner) = server.create_project("Bad input").await;
    let (other, other_owner) = server.create_project("Bystander").await;
    let mut bystander = SyncClient::connect(&server.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    let mut elsewhere =
        SyncClient::connect(&server.addr, &other, "project", &other_owner, Doc::new())
            .await
            .unwrap();
    let garbage_update = sync::encode(&Message::Sync(SyncMessage::Update(vec![
        7, 200, 13, 0, 255, 255, 1,
    ])));
    let unknown = sync::encode(&Message::Custom(77, vec![1, 2, 3]));
    let truncated = {
        let mut frame = sync::encode(&Message::Sync(SyncMessage::Update(vec![0; 64])));
        frame.truncate(20);
        frame
    };
    let cases: Vec<(&str, WsMessage, u16)> = vec![
        ("garbage", WsMessage::Binary(vec![0xff; 40].into()), 1007),
        ("truncated", WsMessage::Binary(truncated.into()), 1007),
        (
            "invalid update",
            WsMessage::Binary(garbage_update.into()),
            1007,
        ),
        ("unknown type", WsMessage::Binary(unknown.into()), 1003),
        ("text", WsMessage::Text("hello".into()), 1003),
        ("empty", WsMessage::Binary(Vec::new().into()), 1007),
        (
            "oversized",
            WsMessage::Binary(vec![0; 2 << 20].into()),
            1009,
        ),
    ];
    for (i, (name, message, code)) in cases.into_iter().enumerate() {
        let mut bad = SyncClient::connect(&server.addr, &project, "project", &owner, Doc::new())
            .await
            .unwrap();
        bad.send_ws(message).await;
        let closed = bad.closed().await;
        assert_eq!(closed.code, code, "{name}: {closed:?}");
        assert!(!closed.reason.is_empty(), "{name}: a reason is given");
        // Everyone else carries on.
        bystander.edit(put(format!("after-{i}"), 1.0)).await;
        bystander.saved().await;
        elsewhere.edit(put(format!("after-{i}"), 1.0)).await;
        elsewhere.saved().await;
    }
    let fresh = SyncClient::connect(&server.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    assert_eq!(keys(&fresh.doc), 7, "every bystander edit is there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_address_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-connections-per-ip", "2"]);
    let (project, owner) = server.create_project("Cap").await;
    let a = SyncClient::connect(&server.addr, &project, "project", &owner, Doc::new()).await;
    let b = SyncClient::connect(&server.addr, &project, "review", &owner, Doc::new()).await;
    let c = SyncClient::connect(&server.addr, &project, "project", &owner, Doc::new()).await;
    assert_eq!(c.err(), Some(429));
    a.unwrap().close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        SyncClient::connect(&server.addr, &project, "project", &owner, Doc::new())
            .await
            .is_ok(),
        "a closed connection frees its slot"
    );
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_resyncs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (project, owner) = server.create_project("Slow").await;
    let mut slow = SyncClient::connect(&server.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    let mut writer = SyncClient::connect(&server.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    // 48 MiB of edits: more than the socket buffers and the 8 MiB outbox.
    let big = "x".repeat(512 << 10);
    for i in 0..96 {
        let value = big.clone();
        writer
            .edit(move |txn| {
                let map = txn.get_or_insert_map("m");
                map.insert(txn, format!("k{i}"), value);
            })
            .await;
        writer.pump_for(Duration::from_millis(1)).await;
    }
    writer.saved().await;
    // The slow client reads what was sent before it was dropped, then the
    // end of the connection.
    let closed = slow.closed().await;
    assert!(
        closed.code == 1012 || closed.code == 1006,
        "dropped for lagging: {closed:?}"
    );
    let doc = slow.doc.clone();
    let partial = keys(&doc);
    assert!(partial < 96, "it fell behind ({partial} of 96)");
    let resynced = SyncClient::connect(&server.addr, &project, "project", &owner, doc)
        .await
        .unwrap();
    assert_eq!(keys(&resynced.doc), 96, "a reconnect catches up");
    // The writer was never affected.
    writer.edit(put("after".into(), 1.0)).await;
    writer.saved().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_after_its_pings_go_unanswered() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--ping-secs", "1"]);
    let (project, owner) = server.create_project("Silent").await;
    let mut live = SyncClient::connect(&server.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    let mut silent = SyncClient::connect(&server.addr, &project, "project", &owner, Doc::new())
        .await
        .unwrap();
    // The live client keeps reading (and so answers pings); the silent one
    // neither reads nor writes for longer than three ping intervals.
    live.pump_for(Duration::from_millis(4_500)).await;
    assert!(live.closed.is_none(), "{:?}", live.closed);
    let started = std::time::Instant::now();
    let closed = silent.closed().await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "already closed by the server"
    );
    assert_eq!(closed.code, 1006, "dropped without a handshake: {closed:?}");
}
