//! A real `stemroom serve` on loopback and real clients for it: a minimal
//! HTTP/1.1 client and a y-sync WebSocket client over a yrs document.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use stemroom_model::sync::{self, Message, SyncMessage};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};
use yrs::types::ToJson;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, TransactionMut, Update};

/// A running server process.
pub struct Server {
    child: Child,
    pub addr: String,
    pub data_dir: PathBuf,
    /// Its PostgreSQL database, when this run tests on PostgreSQL.
    pub database: Option<String>,
    site_dir: PathBuf,
    args: Vec<String>,
}

/// Whether this run tests on PostgreSQL.
pub fn test_database_in_use() -> bool {
    std::env::var_os("STEMROOM_TEST_POSTGRES").is_some()
}

/// A request to `addr` with `token` as its bearer.
pub async fn bearer(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &[u8],
) -> HttpResponse {
    http(
        addr,
        method,
        path,
        &[("authorization", &format!("Bearer {token}"))],
        body,
    )
    .await
}

/// A fresh PostgreSQL database when this run tests on PostgreSQL.
pub fn test_database() -> Option<String> {
    let server = std::env::var("STEMROOM_TEST_POSTGRES").ok()?;
    // The PostgreSQL client runs a runtime of its own: not on a test's.
    let url = std::thread::spawn(move || stemroom_server::store::fresh_database(&server))
        .join()
        .expect("creating a test database")
        .expect("a test database");
    Some(url)
}

/// An empty site: the sync tests do not need the app.
pub fn site(dir: &Path) -> PathBuf {
    let site = dir.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "<!doctype html>").unwrap();
    site
}

impl Server {
    /// Starts a server in `dir` with `args`: on SQLite in its data
    /// directory, or on a fresh PostgreSQL database of its own when
    /// `STEMROOM_TEST_POSTGRES` names a server (`cargo xtask test` runs
    /// every server test both ways).
    pub fn start(dir: &Path, args: &[&str]) -> Server {
        Server::start_on(dir, test_database(), args)
    }

    /// Another instance in `dir` with `args` on `other`'s database
    /// (PostgreSQL runs).
    pub fn start_sharing(dir: &Path, other: &Server, args: &[&str]) -> Server {
        Server::start_on(dir, other.database.clone(), args)
    }

    /// A server in `dir` on `database`, or on SQLite in its data directory.
    pub fn start_on(dir: &Path, database: Option<String>, args: &[&str]) -> Server {
        let site_dir = site(dir);
        let data_dir = dir.join("data");
        let args: Vec<String> = database
            .iter()
            .flat_map(|url| ["--database".to_string(), url.clone()])
            .chain(args.iter().map(|s| s.to_string()))
            .collect();
        let (child, addr) = spawn(&data_dir, &site_dir, &args, "127.0.0.1:0");
        Server {
            child,
            addr,
            data_dir,
            database,
            site_dir,
            args,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts again on the same data directory and address.
    pub fn restart(&mut self) {
        let addr = self.addr.clone();
        let (child, _) = spawn(&self.data_dir, &self.site_dir, &self.args, &addr);
        self.child = child;
    }

    pub async fn create_project(&self, name: &str) -> (String, String) {
        let body = serde_json::json!({ "name": name }).to_string();
        let r = http(&self.addr, "POST", "/api/projects", &[], body.as_bytes()).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let json = r.json();
        (
            json["id"].as_str().unwrap().to_string(),
            json["token"].as_str().unwrap().to_string(),
        )
    }

    /// A share link's token.
    pub async fn share(&self, project: &str, owner: &str, body: serde_json::Value) -> HttpResponse {
        http(
            &self.addr,
            "POST",
            &format!("/api/projects/{project}/links"),
            &[("authorization", &format!("Bearer {owner}"))],
            body.to_string().as_bytes(),
        )
        .await
    }

    pub async fn link(&self, project: &str, owner: &str, role: &str) -> String {
        let r = self
            .share(project, owner, serde_json::json!({ "role": role }))
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["token"].as_str().unwrap().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(data: &Path, site: &Path, args: &[String], addr: &str) -> (Child, String) {
    // The port may still be held briefly after a kill; retry the bind.
    for _ in 0..50 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stemroom"))
            .args(["serve", "--addr", addr])
            .arg("--data-dir")
            .arg(data)
            .arg("--site-dir")
            .arg(site)
            .args(args)
            .env(
                "STEMROOM_LOG",
                std::env::var("TEST_SERVER_LOG").unwrap_or("warn".into()),
            )
            // Only what the test passes: not a developer's own settings.
            .env_remove("STEMROOM_DATABASE")
            .env_remove("STEMROOM_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        if let Some(addr) = line
            .trim()
            .strip_prefix("Stemroom is serving http://")
            .and_then(|rest| rest.strip_suffix('/'))
        {
            return (child, addr.to_string());
        }
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server does not start on {addr}");
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("content-type: application/json\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may refuse early (size limits); a broken pipe is fine.
    let _ = stream.write_all(body).await;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).await.unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut raw = Vec::new();
    let _ = reader.read_to_end(&mut raw).await;
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked { dechunk(&raw) } else { raw };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Some(end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return body;
        };
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..end]).unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 4 + size..];
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a sync connection ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
    /// A permission-denied message received before the close.
    pub denied: Option<String>,
}

/// A y-sync client over one document.
pub struct SyncClient {
    pub doc: Doc,
    socket: Socket,
    /// Document-changing messages sent on this connection.
    pub sent: u64,
    /// The server's latest durable count.
    pub durable: u64,
    pub closed: Option<Closed>,
    denied: Option<String>,
    /// Awareness states seen: client id → JSON.
    pub awareness: std::collections::HashMap<u64, String>,
    synced: bool,
}

pub fn ws_url(addr: &str, project: &str, doc: &str, token: &str) -> String {
    format!("ws://{addr}/sync/{project}/{doc}?token={token}")
}

impl SyncClient {
    /// Connects `doc` (which may hold offline edits) and completes the
    /// initial sync both ways.
    pub async fn connect(
        addr: &str,
        project: &str,
        kind: &str,
        token: &str,
        doc: Doc,
    ) -> Result<SyncClient, u16> {
        // Like a browser: no Nagle delays, any frame size.
        let url = ws_url(addr, project, kind, token);
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_frame_size(Some(256 << 20))
            .max_message_size(Some(256 << 20));
        let connected = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await;
        let socket = match connected {
            Ok((socket, _)) => socket,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                return Err(response.status().as_u16());
            }
            Err(e) => panic!("cannot connect: {e}"),
        };
        let mut client = SyncClient {
            doc,
            socket,
            sent: 0,
            durable: 0,
            closed: None,
            denied: None,
            awareness: Default::default(),
            synced: false,
        };
        let sv = client.doc.transact().state_vector();
        client
            .send(&Message::Sync(SyncMessage::SyncStep1(sv)))
            .await;
        client.until(|c| c.synced || c.closed.is_some()).await;
        match &client.closed {
            Some(closed) if !client.synced => {
                eprintln!("closed before the first sync: {closed:?}");
                Err(closed.code)
            }
            _ => Ok(client),
        }
    }

    pub async fn send(&mut self, message: &Message) {
        if sync::changes_document(message) {
            self.sent += 1;
        }
        self.send_raw(sync::encode(message)).await;
    }

    pub async fn send_raw(&mut self, frame: Vec<u8>) {
        let _ = self.socket.send(WsMessage::Binary(frame.into())).await;
    }

    pub async fn send_ws(&mut self, message: WsMessage) {
        let _ = self.socket.send(message).await;
    }

    /// Makes a local edit and sends it.
    pub async fn edit(&mut self, f: impl FnOnce(&mut TransactionMut)) {
        let update = {
            let mut txn = self.doc.transact_mut();
            f(&mut txn);
            txn.encode_update_v1()
        };
        self.send(&Message::Sync(SyncMessage::Update(update))).await;
    }

    pub async fn set_awareness(&mut self, client: u64, clock: u32, json: &str) {
        let update = AwarenessUpdate {
            clients: [(
                yrs::block::ClientID::new(client),
                AwarenessUpdateEntry {
                    clock,
                    json: json.into(),
                },
            )]
            .into(),
        };
        self.send(&Message::Awareness(update)).await;
    }

    /// Handles one incoming frame; false when the connection ended.
    pub async fn step(&mut self) -> bool {
        if self.closed.is_some() {
            return false;
        }
        let Some(next) = self.socket.next().await else {
            self.end(1006, "");
            return false;
        };
        match next {
            Ok(WsMessage::Binary(bytes)) => {
                for message in sync::decode_frame(&bytes).expect("the server sends valid frames") {
                    self.handle(message).await;
                }
            }
            Ok(WsMessage::Close(frame)) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                });
                self.end(code, &reason);
                return false;
            }
            Ok(_) => {}
            Err(e) => {
                self.end(1006, &e.to_string());
                return false;
            }
        }
        true
    }

    fn end(&mut self, code: u16, reason: &str) {
        self.closed = Some(Closed {
            code,
            reason: reason.to_string(),
            denied: self.denied.take(),
        });
    }

    async fn handle(&mut self, message: Message) {
        match message {
            Message::Sync(SyncMessage::SyncStep1(sv)) => {
                let diff = self.doc.transact().encode_diff_v1(&sv);
                self.send(&Message::Sync(SyncMessage::SyncStep2(diff)))
                    .await;
            }
            Message::Sync(SyncMessage::SyncStep2(u)) => {
                self.apply(&u);
                self.synced = true;
            }
            Message::Sync(SyncMessage::Update(u)) => self.apply(&u),
            Message::Awareness(update) => {
                for (id, entry) in update.clients {
                    if &*entry.json == "null" {
                        self.awareness.remove(&id.get());
                    } else {
                        self.awareness.insert(id.get(), entry.json.to_string());
                    }
                }
            }
            Message::Auth(Some(reason)) => self.denied = Some(reason),
            other => {
                if let Some(n) = sync::parse_durable(&other) {
                    assert!(n >= self.durable, "durable counts only grow");
                    self.durable = n;
                }
            }
        }
    }

    fn apply(&mut self, update: &[u8]) {
        let update = Update::decode_v1(update).expect("the server sends valid updates");
        self.doc.transact_mut().apply_update(update).unwrap();
    }

    /// Handles frames until `done` holds (panics after 10 s).
    pub async fn until(&mut self, mut done: impl FnMut(&SyncClient) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.step()).await {
                Ok(true) => {}
                Ok(false) => {
                    assert!(done(self), "connection ended first: {:?}", self.closed);
                    return;
                }
                Err(_) => panic!("timed out; closed: {:?}", self.closed),
            }
        }
    }

    /// Handles frames for `time` (or until the connection ends).
    pub async fn pump_for(&mut self, time: Duration) {
        let _ = tokio::time::timeout(time, async { while self.step().await {} }).await;
    }

    /// Waits until everything sent is durable.
    pub async fn saved(&mut self) {
        self.until(|c| c.durable >= c.sent).await;
    }

    /// Waits for the server to close this connection.
    pub async fn closed(&mut self) -> Closed {
        self.until(|c| c.closed.is_some()).await;
        self.closed.clone().unwrap()
    }

    pub async fn close(mut self) {
        let _ = self
            .socket
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .await;
    }
}

/// A small deterministic generator (xorshift; trial seeds are printed on
/// failure).
pub fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// An edit: `key` = `value` in the root map "m".
pub fn put(key: String, value: f64) -> impl FnOnce(&mut TransactionMut) {
    move |txn| {
        let map = yrs::WriteTxn::get_or_insert_map(txn, "m");
        yrs::Map::insert(&map, txn, key, value);
    }
}

/// Keys in the root map "m".
pub fn keys(doc: &Doc) -> usize {
    let map = doc.get_or_insert_map("m");
    yrs::Map::len(&map, &doc.transact()) as usize
}

/// Each client writes its own key and one shared key, interleaved, for
/// `rounds`; answers the state they all reach once every write is durable
/// and every broadcast is in (asserting they reach the same).
pub async fn edit_together(clients: &mut [SyncClient], rounds: usize) -> String {
    for round in 0..rounds {
        for (i, client) in clients.iter_mut().enumerate() {
            client
                .edit(put(format!("c{i}-{round}"), round as f64))
                .await;
            client
                .edit(put("shared".into(), (i * 100 + round) as f64))
                .await;
        }
    }
    for client in clients.iter_mut() {
        client.saved().await;
    }
    let all = clients.len() * rounds + 1;
    for client in clients.iter_mut() {
        client.until(|c| keys(&c.doc) == all).await;
    }
    // Quiesce so every broadcast is in, then compare whole states.
    for client in clients.iter_mut() {
        client.pump_for(Duration::from_millis(200)).await;
    }
    let first = state(&clients[0].doc);
    for client in &clients[1..] {
        assert_eq!(state(&client.doc), first, "the clients converge");
    }
    first
}

/// The whole state of a document, comparable across replicas.
/// Every root is read as a map (the schema's roots are maps).
pub fn state(doc: &Doc) -> String {
    let names: Vec<String> = doc
        .transact()
        .root_refs()
        .map(|(name, _)| name.to_string())
        .collect();
    for name in names {
        doc.get_or_insert_map(name.as_str());
    }
    let txn = doc.transact();
    let mut roots: Vec<String> = txn
        .root_refs()
        .map(|(name, value)| {
            let json = serde_json::to_value(value.to_json(&txn)).unwrap();
            format!("{name}={json}")
        })
        .collect();
    roots.sort();
    roots.join("\n")
}

/// A document's state as an update (for a fresh replica).
pub fn full_update(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}
