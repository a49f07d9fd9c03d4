//! Rooms: one tokio task per open project, owning its two documents.
//!
//! Every change to a document passes through its room in order: checked
//! against the sender's role, applied, appended to the durable log, and only
//! then fanned out and acknowledged as durable. Commands that queued while
//! the log was syncing are handled as one batch with one sync (group
//! commit), so a busy room gets faster per update, not slower.
//!
//! Failure is contained per room: a panic ends this task only (tokio
//! catches it); its connections see their outboxes close and reconnect, and
//! the next join reloads the room from storage. An update that fails to
//! apply is never stored, and the room reloads its documents from the log,
//! so nothing half-applied survives.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use stemroom_model::DocKind;
use stemroom_model::sync::{self, Message, SyncMessage};
use tokio::sync::{mpsc, oneshot};
use yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, Transact, Update};

use crate::access::Role;
use crate::relay::Relay;
use crate::store::DocumentLog;

/// Identifies one WebSocket connection within the server.
pub type ConnId = u64;

/// The owner of awareness states that came from another instance (no
/// connection here has this id: they count from 1).
const REMOTE: ConnId = 0;

/// Limits and timings of rooms.
#[derive(Clone, Debug)]
pub struct RoomConfig {
    /// Bytes a connection may have queued for sending before it is dropped
    /// as too slow (it reconnects and resyncs).
    pub outbox_bytes: usize,
    /// How long a room without connections stays loaded.
    pub idle_unload: Duration,
    /// Updates in the log after which the room compacts it.
    pub compact_after: u64,
    /// Largest awareness state (JSON bytes) a client may publish.
    pub max_awareness_bytes: usize,
    /// An instance not heard from for this long is gone: the awareness
    /// states it relayed are removed, and their ids may be taken here.
    pub peer_timeout: Duration,
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            outbox_bytes: 8 << 20,
            idle_unload: Duration::from_secs(30),
            compact_after: 500,
            max_awareness_bytes: 16 << 10,
            peer_timeout: Duration::from_secs(30),
        }
    }
}

/// What a room sends to a connection.
#[derive(Debug)]
pub enum Outgoing {
    Frame(Bytes),
    /// Close the WebSocket with this code and reason; the room is done with it.
    Close(u16, String),
}

/// WebSocket close codes the server uses.
pub mod close {
    /// A role or link does not allow what the client sent.
    pub const POLICY: u16 = 1008;
    /// Bytes that are not a valid message or update.
    pub const INVALID: u16 = 1007;
    /// A message type the server does not accept.
    pub const UNSUPPORTED: u16 = 1003;
    pub const TOO_BIG: u16 = 1009;
    /// The server failed; reconnect.
    pub const SERVER_ERROR: u16 = 1011;
    /// Reconnect and resync (lagging connection, restarted room).
    pub const RECONNECT: u16 = 1012;
}

/// A connection's send queue, bounded in bytes.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Outgoing>,
    queued: Arc<Queued>,
    abort: Arc<Abort>,
}

/// What waits in an outbox (frames taken for sending no longer count).
#[derive(Default)]
struct Queued {
    bytes: AtomicUsize,
    frames: AtomicUsize,
}

/// Frames that must be waiting, beyond the byte limit, before a connection
/// counts as lagging.
const LAGGING_FRAMES: usize = 4;

/// Ends a connection at once, ahead of anything queued (a lagging client
/// may be stuck in a send; it resyncs anyway).
#[derive(Default)]
struct Abort {
    reason: Mutex<Option<(u16, String)>>,
    notify: tokio::sync::Notify,
}

impl Outbox {
    pub fn new() -> (Outbox, OutboxReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(Queued::default());
        let abort = Arc::new(Abort::default());
        (
            Outbox {
                tx,
                queued: queued.clone(),
                abort: abort.clone(),
            },
            OutboxReceiver { rx, queued, abort },
        )
    }

    /// Queues a frame; false when the connection is gone or is not keeping
    /// up: more than `limit` bytes wait behind the frame being sent, in
    /// several frames. A frame is never refused for its own size (a sync
    /// reply may be large, followed at once by its acknowledgement), so a
    /// connection holds at most `limit` plus a few messages.
    fn push(&self, frame: Bytes, limit: usize) -> bool {
        if self.queued.bytes.load(Ordering::Relaxed) > limit
            && self.queued.frames.load(Ordering::Relaxed) >= LAGGING_FRAMES
        {
            return false;
        }
        self.queued.bytes.fetch_add(frame.len(), Ordering::Relaxed);
        self.queued.frames.fetch_add(1, Ordering::Relaxed);
        self.tx.send(Outgoing::Frame(frame)).is_ok()
    }

    fn abort(&self, code: u16, reason: &str) {
        *self.abort.reason.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((code, reason.to_string()));
        self.abort.notify.notify_one();
    }

    fn close(&self, code: u16, reason: impl Into<String>) {
        let _ = self.tx.send(Outgoing::Close(code, reason.into()));
    }
}

/// The connection's end of its [`Outbox`].
pub struct OutboxReceiver {
    rx: mpsc::UnboundedReceiver<Outgoing>,
    queued: Arc<Queued>,
    abort: Arc<Abort>,
}

impl OutboxReceiver {
    /// The next thing to send; `None` when the room let go of this connection.
    pub async fn recv(&mut self) -> Option<Outgoing> {
        let out = self.rx.recv().await?;
        if let Outgoing::Frame(frame) = &out {
            self.queued.bytes.fetch_sub(frame.len(), Ordering::Relaxed);
            self.queued.frames.fetch_sub(1, Ordering::Relaxed);
        }
        Some(out)
    }

    /// What tells this connection that the room aborted it.
    pub fn abort_signal(&self) -> AbortSignal {
        AbortSignal(self.abort.clone())
    }
}

/// See [`OutboxReceiver::abort_signal`].
pub struct AbortSignal(Arc<Abort>);

impl AbortSignal {
    /// Completes when the room aborts the connection, with the close code
    /// and reason.
    pub async fn wait(&self) -> (u16, String) {
        loop {
            let notified = self.0.notify.notified();
            if let Some(reason) = self
                .0
                .reason
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            {
                return reason;
            }
            notified.await;
        }
    }
}

/// A request to a room.
pub enum Command {
    Join {
        conn: ConnId,
        doc: DocKind,
        role: Role,
        outbox: Outbox,
    },
    /// Messages of one frame, decoded by the connection.
    Messages {
        conn: ConnId,
        messages: Vec<Message>,
    },
    Leave {
        conn: ConnId,
    },
    Info {
        reply: oneshot::Sender<RoomInfo>,
    },
    /// Another instance committed updates of `doc` up to `upto` (in the
    /// log): read what this room has not seen.
    Remote {
        doc: DocKind,
        upto: u64,
    },
    /// Awareness states from another instance (an encoded frame), and
    /// which instance sent them.
    RemoteAwareness {
        doc: DocKind,
        update: Vec<u8>,
        from: String,
    },
    /// Drop the awareness states of instances that are gone.
    Sweep,
    /// Notifications may have been missed: read the log for anything new.
    CatchUp,
    /// Panics inside the room task (tests of containment).
    #[cfg(test)]
    Crash,
}

/// A room's answer to [`Command::Info`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct RoomInfo {
    pub name: Option<String>,
    pub connections: usize,
}

/// Every open room, by project id.
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<RoomsInner>,
}

struct RoomsInner {
    log: Arc<dyn DocumentLog>,
    config: RoomConfig,
    /// Other instances sharing the database, once the relay runs.
    relay: OnceLock<Arc<Relay>>,
    /// When each other instance was last heard from.
    peers: Mutex<HashMap<String, std::time::Instant>>,
    open: Mutex<HashMap<String, mpsc::Sender<Command>>>,
    next_conn: AtomicU64,
}

/// Commands a room queues before senders wait (backpressure on readers).
const INBOX: usize = 1024;
/// Most commands handled as one batch (one log sync).
const BATCH: usize = 256;

impl Rooms {
    pub fn new(log: Arc<dyn DocumentLog>, config: RoomConfig) -> Rooms {
        Rooms {
            inner: Arc::new(RoomsInner {
                log,
                config,
                relay: OnceLock::new(),
                peers: Mutex::new(HashMap::new()),
                open: Mutex::new(HashMap::new()),
                next_conn: AtomicU64::new(1),
            }),
        }
    }

    /// Connects the rooms to the other instances.
    pub fn set_relay(&self, relay: Arc<Relay>) {
        let _ = self.inner.relay.set(relay);
    }

    /// Sends `command` to the project's room if it is loaded here (what
    /// other instances do matters only to rooms in memory: one loading
    /// later reads the log).
    pub async fn send_if_open(&self, project: &str, command: Command) {
        let sender = {
            let open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
            open.get(project).filter(|s| !s.is_closed()).cloned()
        };
        if let Some(sender) = sender {
            let _ = sender.send(command).await;
        }
    }

    /// Tells every loaded room to read the log for what it missed.
    pub async fn catch_up_all(&self) {
        self.tell_all(|| Command::CatchUp).await;
    }

    /// Tells every loaded room to drop what instances that are gone relayed.
    pub async fn sweep_all(&self) {
        self.tell_all(|| Command::Sweep).await;
    }

    async fn tell_all(&self, command: impl Fn() -> Command) {
        let senders: Vec<_> = {
            let open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
            open.values().filter(|s| !s.is_closed()).cloned().collect()
        };
        for sender in senders {
            let _ = sender.send(command()).await;
        }
    }

    /// Another instance was heard from (any notification, or its heartbeat).
    pub fn heard(&self, instance: &str) {
        let mut peers = self.inner.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.insert(instance.to_string(), std::time::Instant::now());
    }

    pub fn new_conn_id(&self) -> ConnId {
        self.inner.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends `command` to the project's room, starting it if it is not
    /// running (or has stopped: idle, or failed).
    pub async fn send(&self, project: &str, command: Command) -> anyhow::Result<()> {
        let mut command = command;
        for _ in 0..3 {
            let sender = self.sender(project);
            match sender.send(command).await {
                Ok(()) => return Ok(()),
                // The room stopped between lookup and send; start a new one.
                Err(mpsc::error::SendError(back)) => command = back,
            }
        }
        anyhow::bail!("the room of {project} does not start")
    }

    /// Asks a room for its state (loading it if needed).
    pub async fn info(&self, project: &str) -> anyhow::Result<RoomInfo> {
        let (reply, answer) = oneshot::channel();
        self.send(project, Command::Info { reply }).await?;
        Ok(answer.await?)
    }

    /// How many rooms are loaded.
    pub fn open_rooms(&self) -> usize {
        let open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
        open.values().filter(|s| !s.is_closed()).count()
    }

    fn sender(&self, project: &str) -> mpsc::Sender<Command> {
        let mut open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = open.get(project).filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        let (tx, rx) = mpsc::channel(INBOX);
        open.insert(project.to_string(), tx.clone());
        let inner = self.inner.clone();
        let project = project.to_string();
        tokio::spawn(async move {
            let name = project.clone();
            let task = tokio::spawn(run_room(inner, project, rx));
            if let Err(e) = task.await {
                tracing::error!(project = %name, error = %e, "room failed; it reloads from storage on the next join");
            }
        });
        tx
    }
}

/// One connection in a room.
struct Member {
    doc: DocKind,
    role: Role,
    outbox: Outbox,
    /// Document-changing messages received.
    received: u64,
    /// What the last durable acknowledgement said.
    acked: u64,
    /// The awareness client id this connection speaks for, once it spoke.
    awareness_id: Option<u64>,
}

struct DocState {
    doc: Doc,
    /// Awareness states by client id: clock, JSON, owning connection.
    awareness: HashMap<u64, (u32, Arc<str>, ConnId)>,
    /// Updates applied but not yet in the log, with their senders.
    pending: Vec<(ConnId, Vec<u8>)>,
    /// Updates appended since the last compaction.
    since_compaction: u64,
    /// The log's sequence number this document holds everything up to.
    seen: u64,
    /// Which instance relayed each state owned by `REMOTE`.
    relayed: HashMap<u64, String>,
}

impl RoomsInner {
    /// Whether `instance` has not been heard from for the peer timeout.
    fn gone(&self, instance: &str) -> bool {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers
            .get(instance)
            .is_none_or(|at| at.elapsed() > self.config.peer_timeout)
    }
}

impl DocState {
    /// Takes client `id`'s state `entry` for `owner` if it is newer than
    /// the one held ("null" removes it); true when taken.
    fn set_awareness(&mut self, id: u64, entry: &AwarenessUpdateEntry, owner: ConnId) -> bool {
        let newer = self
            .awareness
            .get(&id)
            .is_none_or(|(clock, _, _)| entry.clock > *clock);
        if newer {
            if &*entry.json == "null" {
                self.awareness.remove(&id);
            } else {
                self.awareness
                    .insert(id, (entry.clock, entry.json.clone(), owner));
            }
        }
        newer
    }
}

struct Room {
    rooms: Arc<RoomsInner>,
    project: String,
    docs: [DocState; 2],
    members: HashMap<ConnId, Member>,
    /// Set when a document may hold a half-applied update.
    reload: bool,
}

async fn run_room(rooms: Arc<RoomsInner>, project: String, mut rx: mpsc::Receiver<Command>) {
    let mut room = match Room::load(rooms, project.clone()).await {
        Ok(room) => room,
        Err(e) => {
            tracing::error!(%project, error = %format!("{e:#}"), "cannot load the room");
            fail_all(&mut rx, "the project cannot be loaded from storage").await;
            return;
        }
    };
    tracing::debug!(%project, "room loaded");
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let idle = room.members.is_empty();
        let received = if idle {
            match tokio::time::timeout(
                room.rooms.config.idle_unload,
                rx.recv_many(&mut batch, BATCH),
            )
            .await
            {
                Ok(n) => n,
                Err(_) => {
                    if room.try_unload(&mut rx) {
                        break;
                    }
                    continue;
                }
            }
        } else {
            rx.recv_many(&mut batch, BATCH).await
        };
        if received == 0 {
            break;
        }
        if let Err(e) = room.handle_batch(batch.drain(..)).await {
            tracing::error!(%project, error = %format!("{e:#}"), "storage failed; closing the room");
            room.close_all(
                close::SERVER_ERROR,
                "the server could not store changes; reconnect",
            );
            break;
        }
    }
    room.compact_all(true);
    tracing::debug!(%project, "room unloaded");
}

/// Answers everyone waiting on a room that could not start.
async fn fail_all(rx: &mut mpsc::Receiver<Command>, reason: &str) {
    rx.close();
    while let Some(command) = rx.recv().await {
        if let Command::Join { outbox, .. } = command {
            outbox.close(close::SERVER_ERROR, reason);
        }
    }
}

impl Room {
    async fn load(rooms: Arc<RoomsInner>, project: String) -> anyhow::Result<Room> {
        let mut docs = Vec::new();
        for kind in DocKind::ALL {
            let (doc, seen) = load_doc(&rooms.log, &project, kind).await?;
            docs.push(DocState {
                doc,
                awareness: HashMap::new(),
                pending: Vec::new(),
                since_compaction: 0,
                seen,
                relayed: HashMap::new(),
            });
        }
        let docs: [DocState; 2] = docs.try_into().ok().expect("two documents");
        Ok(Room {
            rooms,
            project,
            docs,
            members: HashMap::new(),
            reload: false,
        })
    }

    fn doc(&mut self, kind: DocKind) -> &mut DocState {
        &mut self.docs[kind as usize]
    }

    fn limit(&self) -> usize {
        self.rooms.config.outbox_bytes
    }

    /// Unloads when nothing arrived meanwhile; the registry entry goes
    /// first, so a join either reached this room or starts a new one.
    fn try_unload(&mut self, rx: &mut mpsc::Receiver<Command>) -> bool {
        let mut open = self.rooms.open.lock().unwrap_or_else(|p| p.into_inner());
        if !rx.is_empty() {
            return false;
        }
        rx.close();
        open.remove(&self.project);
        true
    }

    async fn handle_batch(
        &mut self,
        commands: impl Iterator<Item = Command>,
    ) -> anyhow::Result<()> {
        for command in commands {
            match command {
                Command::Join {
                    conn,
                    doc,
                    role,
                    outbox,
                } => self.join(conn, doc, role, outbox),
                Command::Leave { conn } => self.leave(conn),
                Command::Info { reply } => {
                    let name = stemroom_model::project_name(&self.doc(DocKind::Project).doc);
                    let _ = reply.send(RoomInfo {
                        name,
                        connections: self.members.len(),
                    });
                }
                Command::Remote { doc, upto } => {
                    if upto > self.doc(doc).seen {
                        self.catch_up(doc).await?;
                    }
                }
                Command::RemoteAwareness { doc, update, from } => {
                    self.remote_awareness(doc, update, from)
                }
                Command::Sweep => self.sweep_relayed(),
                Command::CatchUp => {
                    for kind in DocKind::ALL {
                        self.catch_up(kind).await?;
                    }
                }
                #[cfg(test)]
                Command::Crash => panic!("injected panic inside a room"),
                Command::Messages { conn, messages } => {
                    for message in messages {
                        if !self.members.contains_key(&conn) {
                            break;
                        }
                        self.message(conn, message).await?;
                    }
                }
            }
        }
        self.flush().await?;
        self.acknowledge();
        Ok(())
    }

    fn join(&mut self, conn: ConnId, doc: DocKind, role: Role, outbox: Outbox) {
        let state = self.doc(doc);
        let step1 = Message::Sync(SyncMessage::SyncStep1(state.doc.transact().state_vector()));
        let mut frames = vec![sync::encode(&step1)];
        if !state.awareness.is_empty() {
            frames.push(sync::encode(&Message::Awareness(awareness_of(
                &state.awareness,
            ))));
        }
        let limit = self.limit();
        if frames.into_iter().all(|f| outbox.push(f.into(), limit)) {
            self.members.insert(
                conn,
                Member {
                    doc,
                    role,
                    outbox,
                    received: 0,
                    acked: 0,
                    awareness_id: None,
                },
            );
        }
    }

    fn leave(&mut self, conn: ConnId) {
        let Some(member) = self.members.remove(&conn) else {
            return;
        };
        let state = self.doc(member.doc);
        let Some(id) = member.awareness_id else {
            return;
        };
        let Some((clock, _, owner)) = state.awareness.get(&id).cloned() else {
            return;
        };
        if owner != conn {
            return;
        }
        state.awareness.remove(&id);
        // Tell the others this client left: its state becomes null.
        let removal = AwarenessUpdate {
            clients: HashMap::from([(
                yrs::block::ClientID::new(id),
                AwarenessUpdateEntry {
                    clock: clock + 1,
                    json: "null".into(),
                },
            )]),
        };
        let frame: Bytes = sync::encode(&Message::Awareness(removal)).into();
        self.broadcast(member.doc, conn, &frame);
        self.relay_awareness(member.doc, &frame);
    }

    /// Drops a connection with a reason it can show.
    fn expel(&mut self, conn: ConnId, code: u16, reason: &str) {
        if let Some(member) = self.members.get(&conn) {
            tracing::info!(project = %self.project, conn, code, reason, "closing a connection");
            member.outbox.close(code, reason);
        }
        self.leave(conn);
    }

    async fn message(&mut self, conn: ConnId, message: Message) -> anyhow::Result<()> {
        let (kind, role) = {
            let member = &self.members[&conn];
            (member.doc, member.role)
        };
        match message {
            Message::Sync(SyncMessage::SyncStep1(sv)) => {
                // Answer only with durable state.
                self.flush().await?;
                let state = self.doc(kind);
                let diff = state.doc.transact().encode_diff_v1(&sv);
                let frame = sync::encode(&Message::Sync(SyncMessage::SyncStep2(diff)));
                self.send(conn, frame.into());
            }
            Message::Sync(SyncMessage::SyncStep2(bytes) | SyncMessage::Update(bytes)) => {
                self.update(conn, kind, role, bytes);
            }
            Message::Awareness(update) => self.awareness(conn, kind, update),
            Message::AwarenessQuery => {
                let state = self.doc(kind);
                let all = awareness_of(&state.awareness);
                let frame = sync::encode(&Message::Awareness(all));
                self.send(conn, frame.into());
            }
            Message::Auth(_) => {
                self.expel(
                    conn,
                    close::UNSUPPORTED,
                    "clients do not send auth messages",
                );
            }
            Message::Custom(tag, _) => {
                self.expel(
                    conn,
                    close::UNSUPPORTED,
                    &format!("unknown message type {tag}"),
                );
            }
        }
        Ok(())
    }

    fn update(&mut self, conn: ConnId, kind: DocKind, role: Role, bytes: Vec<u8>) {
        let update = match sync::decode_update(&bytes) {
            Ok(update) => update,
            Err(e) => {
                self.expel(conn, close::INVALID, &format!("invalid update: {e}"));
                return;
            }
        };
        let state = self.doc(kind);
        let novel = adds_information(&update, &state.doc.transact());
        if novel && !role.can_write(kind) {
            let reason = format!(
                "a {} link cannot change the {} document",
                role.as_str(),
                kind.as_str()
            );
            let denied = sync::encode(&Message::Auth(Some(reason.clone())));
            self.send(conn, denied.into());
            self.expel(conn, close::POLICY, &reason);
            return;
        }
        if novel {
            let applied = std::panic::catch_unwind(AssertUnwindSafe(|| {
                state.doc.transact_mut().apply_update(update)
            }));
            match applied {
                Ok(Ok(())) => state.pending.push((conn, bytes)),
                Ok(Err(e)) => {
                    self.reload = true;
                    self.expel(conn, close::INVALID, &format!("invalid update: {e}"));
                    return;
                }
                Err(_) => {
                    self.reload = true;
                    self.expel(conn, close::INVALID, "the update could not be applied");
                    return;
                }
            }
        }
        if let Some(member) = self.members.get_mut(&conn) {
            member.received += 1;
        }
    }

    fn awareness(&mut self, conn: ConnId, kind: DocKind, update: AwarenessUpdate) {
        let max_json = self.rooms.config.max_awareness_bytes;
        let mut bound = self.members[&conn].awareness_id;
        let state = &mut self.docs[kind as usize];
        let mut accepted = HashMap::new();
        for (client, entry) in update.clients {
            let id = client.get();
            let owner = state.awareness.get(&id).map(|(_, _, owner)| *owner);
            // A state another instance relayed gives way to a connection
            // here only once that instance is gone (its client moved here
            // after it died); while it lives, the id is its client's.
            let relayed_by_gone = owner == Some(REMOTE)
                && state
                    .relayed
                    .get(&id)
                    .is_none_or(|from| self.rooms.gone(from));
            let claimable = bound.is_none() && (owner.is_none_or(|o| o == conn) || relayed_by_gone);
            if !(bound == Some(id) || claimable) || entry.json.len() > max_json {
                tracing::warn!(project = %self.project, conn, client = id, "dropped an awareness entry for a client this connection does not own");
                continue;
            }
            bound = Some(id);
            if relayed_by_gone {
                // Taken over: drop the stale state before the new one.
                state.awareness.remove(&id);
                state.relayed.remove(&id);
            }
            if state.set_awareness(id, &entry, conn) {
                accepted.insert(client, entry);
            }
        }
        if let Some(member) = self.members.get_mut(&conn) {
            member.awareness_id = bound;
        }
        if !accepted.is_empty() {
            let frame: Bytes =
                sync::encode(&Message::Awareness(AwarenessUpdate { clients: accepted })).into();
            self.broadcast(kind, conn, &frame);
            self.relay_awareness(kind, &frame);
        }
    }

    /// Sends awareness (a frame as broadcast here) to the other instances.
    fn relay_awareness(&self, kind: DocKind, frame: &[u8]) {
        if let Some(relay) = self.rooms.relay.get() {
            relay.awareness(&self.project, kind, frame);
        }
    }

    /// Awareness states another instance relayed: kept (owned by no
    /// connection here) and passed on to this instance's connections.
    fn remote_awareness(&mut self, kind: DocKind, frame: Vec<u8>, from: String) {
        let Ok(messages) = sync::decode_frame(&frame) else {
            return;
        };
        for message in messages {
            let Message::Awareness(update) = message else {
                continue;
            };
            let state = self.doc(kind);
            let mut accepted = HashMap::new();
            for (client, entry) in update.clients {
                let id = client.get();
                // Local connections own their states; only theirs win here.
                let local = state
                    .awareness
                    .get(&id)
                    .is_some_and(|(_, _, owner)| *owner != REMOTE);
                if !local && state.set_awareness(id, &entry, REMOTE) {
                    if &*entry.json == "null" {
                        state.relayed.remove(&id);
                    } else {
                        state.relayed.insert(id, from.clone());
                    }
                    accepted.insert(client, entry);
                }
            }
            if !accepted.is_empty() {
                let frame: Bytes =
                    sync::encode(&Message::Awareness(AwarenessUpdate { clients: accepted })).into();
                self.broadcast(kind, REMOTE, &frame);
            }
        }
    }

    /// Removes the states relayed by instances that are gone (killed, or
    /// cut off), telling this instance's connections they left.
    fn sweep_relayed(&mut self) {
        for kind in DocKind::ALL {
            let rooms = self.rooms.clone();
            let state = self.doc(kind);
            let gone: Vec<u64> = state
                .relayed
                .iter()
                .filter(|(_, from)| rooms.gone(from))
                .map(|(id, _)| *id)
                .collect();
            if gone.is_empty() {
                continue;
            }
            let mut removals = HashMap::new();
            for id in gone {
                state.relayed.remove(&id);
                if let Some((clock, _, REMOTE)) = state.awareness.get(&id).cloned() {
                    state.awareness.remove(&id);
                    removals.insert(
                        yrs::block::ClientID::new(id),
                        AwarenessUpdateEntry {
                            clock: clock + 1,
                            json: "null".into(),
                        },
                    );
                }
            }
            if !removals.is_empty() {
                let frame: Bytes =
                    sync::encode(&Message::Awareness(AwarenessUpdate { clients: removals })).into();
                self.broadcast(kind, REMOTE, &frame);
            }
        }
    }

    /// Reads what the log holds past what this document has seen (another
    /// instance's updates, or a compaction's snapshot of them), applies it
    /// and passes it on to this instance's connections.
    async fn catch_up(&mut self, kind: DocKind) -> anyhow::Result<()> {
        let log = self.rooms.log.clone();
        let project = self.project.clone();
        let after = self.doc(kind).seen;
        let (parts, upto) =
            tokio::task::spawn_blocking(move || log.load_since(&project, kind, after)).await??;
        for part in parts {
            let Ok(update) = Update::decode_v1(&part) else {
                self.reload = true;
                continue;
            };
            let state = self.doc(kind);
            let applied = std::panic::catch_unwind(AssertUnwindSafe(|| {
                state.doc.transact_mut().apply_update(update)
            }));
            if !matches!(applied, Ok(Ok(()))) {
                self.reload = true;
                continue;
            }
            let frame: Bytes = sync::encode(&Message::Sync(SyncMessage::Update(part))).into();
            self.broadcast(kind, REMOTE, &frame);
        }
        let state = self.doc(kind);
        state.seen = state.seen.max(upto);
        Ok(())
    }

    fn send(&mut self, conn: ConnId, frame: Bytes) {
        let limit = self.limit();
        let Some(member) = self.members.get(&conn) else {
            return;
        };
        if !member.outbox.push(frame, limit) {
            self.lagging(conn);
        }
    }

    /// Sends to every connection on `kind` except `from`.
    fn broadcast(&mut self, kind: DocKind, from: ConnId, frame: &Bytes) {
        let limit = self.limit();
        let lagging: Vec<ConnId> = self
            .members
            .iter()
            .filter(|(id, m)| **id != from && m.doc == kind)
            .filter(|(_, m)| !m.outbox.push(frame.clone(), limit))
            .map(|(id, _)| *id)
            .collect();
        for conn in lagging {
            self.lagging(conn);
        }
    }

    fn lagging(&mut self, conn: ConnId) {
        const REASON: &str = "the connection fell behind; reconnect to resync";
        if let Some(member) = self.members.get(&conn) {
            tracing::info!(project = %self.project, conn, "dropping a lagging connection");
            member.outbox.abort(close::RECONNECT, REASON);
        }
        self.leave(conn);
    }

    /// Makes pending updates durable, then fans them out.
    async fn flush(&mut self) -> anyhow::Result<()> {
        for kind in DocKind::ALL {
            let pending = std::mem::take(&mut self.doc(kind).pending);
            if pending.is_empty() {
                continue;
            }
            let log = self.rooms.log.clone();
            let project = self.project.clone();
            let (pending, last) = tokio::task::spawn_blocking(move || {
                let updates: Vec<&[u8]> = pending.iter().map(|(_, u)| u.as_slice()).collect();
                log.append(&project, kind, &updates)
                    .map(|last| (pending, last))
            })
            .await??;
            let state = self.doc(kind);
            state.since_compaction += pending.len() as u64;
            // Numbers skipped before ours are another instance's updates,
            // not yet read here (their notification may be on its way).
            let first = last + 1 - pending.len() as u64;
            let missed = first > state.seen + 1;
            if !missed {
                state.seen = last;
            }
            for (from, update) in pending {
                let frame: Bytes = sync::encode(&Message::Sync(SyncMessage::Update(update))).into();
                self.broadcast(kind, from, &frame);
            }
            if missed {
                self.catch_up(kind).await?;
            }
        }
        if std::mem::take(&mut self.reload) {
            for kind in DocKind::ALL {
                let (doc, seen) = load_doc(&self.rooms.log, &self.project, kind).await?;
                let state = self.doc(kind);
                state.doc = doc;
                state.seen = seen;
            }
            tracing::warn!(project = %self.project, "reloaded the documents after a failed update");
        }
        self.compact_all(false);
        Ok(())
    }

    /// Tells each connection how many of its changes are durable.
    fn acknowledge(&mut self) {
        let limit = self.limit();
        let mut lagging = Vec::new();
        for (conn, member) in &mut self.members {
            if member.received > member.acked {
                member.acked = member.received;
                let frame = sync::encode(&sync::durable(member.acked));
                if !member.outbox.push(frame.into(), limit) {
                    lagging.push(*conn);
                }
            }
        }
        for conn in lagging {
            self.lagging(conn);
        }
    }

    /// Folds the log into a snapshot in the background once it grew
    /// (`always`: whenever anything was appended).
    fn compact_all(&mut self, always: bool) {
        let threshold = if always {
            1
        } else {
            self.rooms.config.compact_after
        };
        for kind in DocKind::ALL {
            let state = self.doc(kind);
            if state.since_compaction < threshold {
                continue;
            }
            state.since_compaction = 0;
            let log = self.rooms.log.clone();
            let project = self.project.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = log.compact(&project, kind) {
                    tracing::warn!(%project, doc = kind.as_str(), error = %format!("{e:#}"), "compaction failed; the log is kept as it is");
                }
            });
        }
    }

    fn close_all(&mut self, code: u16, reason: &str) {
        for member in self.members.values() {
            member.outbox.close(code, reason);
        }
        self.members.clear();
    }
}

/// Rebuilds a document from its log; answers it with the sequence number
/// it holds everything up to.
async fn load_doc(
    log: &Arc<dyn DocumentLog>,
    project: &str,
    kind: DocKind,
) -> anyhow::Result<(Doc, u64)> {
    let log = log.clone();
    let project = project.to_string();
    tokio::task::spawn_blocking(move || {
        let (parts, seen) = log.load_since(&project, kind, 0)?;
        let doc = Doc::new();
        let mut txn = doc.transact_mut();
        for (i, part) in parts.iter().enumerate() {
            let update = Update::decode_v1(part).map_err(|e| {
                anyhow::anyhow!("{project}/{}: log entry {i} is corrupt: {e}", kind.as_str())
            })?;
            txn.apply_update(update)?;
        }
        drop(txn);
        Ok((doc, seen))
    })
    .await?
}

/// Every awareness state of a document, as one update.
fn awareness_of(states: &HashMap<u64, (u32, Arc<str>, ConnId)>) -> AwarenessUpdate {
    AwarenessUpdate {
        clients: states
            .iter()
            .map(|(id, (clock, json, _))| {
                (
                    yrs::block::ClientID::new(*id),
                    AwarenessUpdateEntry {
                        clock: *clock,
                        json: json.clone(),
                    },
                )
            })
            .collect(),
    }
}

/// Whether applying `update` would change a document in state `txn`: it
/// inserts something past the document's clocks or deletes something the
/// document has not deleted. Read-only links may send updates that do not
/// (a stock client answers sync step 1 with one).
pub fn adds_information(update: &Update, txn: &impl ReadTxn) -> bool {
    let sv = txn.state_vector();
    for (client, ranges) in update.insertions(true).iter() {
        let clock = sv.get(client);
        if ranges.iter().any(|r| r.end > clock) {
            return true;
        }
    }
    let deletes = update.delete_set();
    if deletes.is_empty() {
        return false;
    }
    let known = txn.snapshot().delete_set;
    deletes.client_ids().any(|client| {
        let mine = deletes.get(&client);
        match (mine, known.get(&client)) {
            (Some(mine), Some(theirs)) => !mine.subset_of(theirs),
            (Some(mine), None) => !mine.is_empty(),
            (None, _) => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Map, Transact};

    #[test]
    fn only_updates_that_change_the_document_add_information() {
        let server = Doc::new();
        let client = Doc::new();
        let map = client.get_or_insert_map("m");
        let insert = {
            let mut txn = client.transact_mut();
            map.insert(&mut txn, "a", 1.0);
            txn.encode_update_v1()
        };
        let decode = |b: &[u8]| Update::decode_v1(b).unwrap();
        assert!(adds_information(&decode(&insert), &server.transact()));
        server.transact_mut().apply_update(decode(&insert)).unwrap();
        assert!(!adds_information(&decode(&insert), &server.transact()));
        let empty = client
            .transact()
            .encode_diff_v1(&server.transact().state_vector());
        // The whole client state is known: its diff carries nothing new.
        assert!(!adds_information(&decode(&empty), &server.transact()));

        let delete = {
            let mut txn = client.transact_mut();
            map.remove(&mut txn, "a");
            txn.encode_update_v1()
        };
        assert!(adds_information(&decode(&delete), &server.transact()));
        server.transact_mut().apply_update(decode(&delete)).unwrap();
        assert!(!adds_information(&decode(&delete), &server.transact()));
    }

    /// A log whose appends wait for a permit: shows what the room does
    /// while an append is in flight.
    struct GatedLog {
        inner: crate::store::Store,
        permits: Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl DocumentLog for GatedLog {
        fn append(&self, p: &str, d: DocKind, u: &[&[u8]]) -> anyhow::Result<u64> {
            self.permits.lock().unwrap().recv()?;
            self.inner.append(p, d, u)
        }
        fn load_since(
            &self,
            p: &str,
            d: DocKind,
            after: u64,
        ) -> anyhow::Result<(Vec<Vec<u8>>, u64)> {
            self.inner.load_since(p, d, after)
        }
        fn compact(&self, p: &str, d: DocKind) -> anyhow::Result<usize> {
            self.inner.compact(p, d)
        }
    }

    /// Joins `conn` to the `project` document of `project` as an editor;
    /// returns its outbox once the room's first message (step 1) is in.
    async fn join(rooms: &Rooms, project: &str, conn: ConnId) -> OutboxReceiver {
        let (outbox, mut rx) = Outbox::new();
        let join = Command::Join {
            conn,
            doc: DocKind::Project,
            role: Role::Edit,
            outbox,
        };
        rooms.send(project, join).await.unwrap();
        let first = next_message(&mut rx, Duration::from_secs(5)).await;
        assert!(matches!(
            first,
            Some(Message::Sync(SyncMessage::SyncStep1(_)))
        ));
        rx
    }

    /// A frame's worth of messages: one update setting `key` in map `m`.
    fn set_key(key: &str) -> Vec<Message> {
        let doc = Doc::new();
        let map = doc.get_or_insert_map("m");
        let mut txn = doc.transact_mut();
        map.insert(&mut txn, key, 1.0);
        vec![Message::Sync(SyncMessage::Update(txn.encode_update_v1()))]
    }

    async fn next_message(rx: &mut OutboxReceiver, wait: Duration) -> Option<Message> {
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some(Outgoing::Frame(f))) => Some(sync::decode_frame(&f).unwrap().remove(0)),
            _ => None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nothing_is_broadcast_or_acknowledged_before_the_append_returns() {
        let dir = tempfile::tempdir().unwrap();
        let (permit, permits) = std::sync::mpsc::channel();
        let log = GatedLog {
            inner: crate::store::Store::open(dir.path()).unwrap(),
            permits: Mutex::new(permits),
        };
        let rooms = Rooms::new(Arc::new(log), RoomConfig::default());
        let (a, mut a_rx) = Outbox::new();
        let (b, mut b_rx) = Outbox::new();
        for (conn, outbox) in [(1, a), (2, b)] {
            let join = Command::Join {
                conn,
                doc: DocKind::Project,
                role: Role::Edit,
                outbox,
            };
            rooms.send("p", join).await.unwrap();
        }
        let short = Duration::from_millis(50);
        for rx in [&mut a_rx, &mut b_rx] {
            let step1 = next_message(rx, Duration::from_secs(5)).await;
            assert!(matches!(
                step1,
                Some(Message::Sync(SyncMessage::SyncStep1(_)))
            ));
        }
        let update = {
            let doc = Doc::new();
            let map = doc.get_or_insert_map("m");
            let mut txn = doc.transact_mut();
            map.insert(&mut txn, "k", 1.0);
            txn.encode_update_v1()
        };
        let messages = vec![Message::Sync(SyncMessage::Update(update.clone()))];
        rooms
            .send("p", Command::Messages { conn: 1, messages })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(next_message(&mut a_rx, short).await.is_none(), "no ack yet");
        assert!(
            next_message(&mut b_rx, short).await.is_none(),
            "no fan-out yet"
        );
        permit.send(()).unwrap();
        let wait = Duration::from_secs(5);
        assert_eq!(
            next_message(&mut b_rx, wait).await,
            Some(Message::Sync(SyncMessage::Update(update)))
        );
        let ack = next_message(&mut a_rx, wait).await.unwrap();
        assert_eq!(sync::parse_durable(&ack), Some(1));
    }

    /// Storage that fails (by panicking) for one project while `failing`.
    struct FlakyLog {
        inner: crate::store::Store,
        failing: std::sync::atomic::AtomicBool,
    }

    impl DocumentLog for FlakyLog {
        fn append(&self, p: &str, d: DocKind, u: &[&[u8]]) -> anyhow::Result<u64> {
            if p == "boom" && self.failing.load(Ordering::SeqCst) {
                panic!("injected storage panic");
            }
            self.inner.append(p, d, u)
        }
        fn load_since(
            &self,
            p: &str,
            d: DocKind,
            after: u64,
        ) -> anyhow::Result<(Vec<Vec<u8>>, u64)> {
            self.inner.load_since(p, d, after)
        }
        fn compact(&self, p: &str, d: DocKind) -> anyhow::Result<usize> {
            self.inner.compact(p, d)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_room_closes_its_connections_reloads_and_spares_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(FlakyLog {
            inner: crate::store::Store::open(dir.path()).unwrap(),
            failing: true.into(),
        });
        let rooms = Rooms::new(log.clone(), RoomConfig::default());
        let wait = Duration::from_secs(5);
        let mut receivers = Vec::new();
        for (conn, project) in [(1, "boom"), (2, "fine")] {
            receivers.push(join(&rooms, project, conn).await);
        }
        rooms
            .send(
                "boom",
                Command::Messages {
                    conn: 1,
                    messages: set_key("a"),
                },
            )
            .await
            .unwrap();
        match tokio::time::timeout(wait, receivers[0].recv())
            .await
            .unwrap()
        {
            Some(Outgoing::Close(code, reason)) => {
                assert_eq!(code, close::SERVER_ERROR);
                assert!(reason.contains("reconnect"), "{reason}");
            }
            other => panic!("expected a close, got {other:?}"),
        }
        // The other room carries on.
        rooms
            .send(
                "fine",
                Command::Messages {
                    conn: 2,
                    messages: set_key("b"),
                },
            )
            .await
            .unwrap();
        let ack = next_message(&mut receivers[1], wait).await.unwrap();
        assert_eq!(sync::parse_durable(&ack), Some(1));
        // Storage recovers: the next join reloads the room from the log.
        log.failing.store(false, Ordering::SeqCst);
        let mut rx = join(&rooms, "boom", 3).await;
        rooms
            .send(
                "boom",
                Command::Messages {
                    conn: 3,
                    messages: set_key("c"),
                },
            )
            .await
            .unwrap();
        let ack = next_message(&mut rx, wait).await.unwrap();
        assert_eq!(sync::parse_durable(&ack), Some(1));
        assert_eq!(
            log.load("boom", DocKind::Project).unwrap().len(),
            1,
            "only the stored edit"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_inside_a_room_ends_only_that_room_and_the_next_join_reloads_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let rooms = Rooms::new(Arc::new(store), RoomConfig::default());
        let wait = Duration::from_secs(5);
        let mut receivers = Vec::new();
        for (conn, project) in [(1, "crash"), (2, "calm")] {
            receivers.push(join(&rooms, project, conn).await);
        }
        rooms
            .send(
                "crash",
                Command::Messages {
                    conn: 1,
                    messages: set_key("kept"),
                },
            )
            .await
            .unwrap();
        let ack = next_message(&mut receivers[0], wait).await.unwrap();
        assert_eq!(sync::parse_durable(&ack), Some(1));
        rooms.send("crash", Command::Crash).await.unwrap();
        // The crashed room's connections see their outbox close (and reconnect).
        let ended = tokio::time::timeout(wait, receivers[0].recv())
            .await
            .unwrap();
        assert!(ended.is_none(), "{ended:?}");
        // The other room never noticed.
        rooms
            .send(
                "calm",
                Command::Messages {
                    conn: 2,
                    messages: set_key("x"),
                },
            )
            .await
            .unwrap();
        let ack = next_message(&mut receivers[1], wait).await.unwrap();
        assert_eq!(sync::parse_durable(&ack), Some(1));
        // A rejoin reloads the room from storage, with the durable edit.
        let mut rx = join(&rooms, "crash", 3).await;
        let info = rooms.info("crash").await.unwrap();
        assert_eq!(info.connections, 1);
        let messages = vec![Message::Sync(SyncMessage::SyncStep1(
            yrs::StateVector::default(),
        ))];
        rooms
            .send("crash", Command::Messages { conn: 3, messages })
            .await
            .unwrap();
        let Some(Message::Sync(SyncMessage::SyncStep2(state))) = next_message(&mut rx, wait).await
        else {
            panic!("expected the room's state");
        };
        let doc = Doc::new();
        doc.transact_mut()
            .apply_update(Update::decode_v1(&state).unwrap())
            .unwrap();
        let map = doc.get_or_insert_map("m");
        assert!(map.contains_key(&doc.transact(), "kept"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_compacted_as_it_grows_and_an_idle_room_unloads() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let config = RoomConfig {
            compact_after: 10,
            idle_unload: Duration::from_millis(200),
            ..RoomConfig::default()
        };
        let rooms = Rooms::new(Arc::new(store.clone()), config);
        let wait = Duration::from_secs(5);
        let mut rx = join(&rooms, "p", 1).await;
        let source = Doc::new();
        let map = source.get_or_insert_map("m");
        for i in 0..25 {
            let update = {
                let mut txn = source.transact_mut();
                map.insert(&mut txn, format!("k{i}"), 1.0);
                txn.encode_update_v1()
            };
            let messages = vec![Message::Sync(SyncMessage::Update(update))];
            rooms
                .send("p", Command::Messages { conn: 1, messages })
                .await
                .unwrap();
            let ack = next_message(&mut rx, wait).await.unwrap();
            assert_eq!(sync::parse_durable(&ack), Some(i + 1));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let parts = store.load("p", DocKind::Project).unwrap().len();
        assert!(
            parts < 10,
            "compacted in the background while editing: {parts} parts"
        );
        assert_eq!(rooms.open_rooms(), 1);
        rooms.send("p", Command::Leave { conn: 1 }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(rooms.open_rooms(), 0, "the idle room unloaded");
        assert_eq!(
            store.load("p", DocKind::Project).unwrap().len(),
            1,
            "folded on unload"
        );
        // It loads again, whole.
        let (outbox, mut rx) = Outbox::new();
        let join = Command::Join {
            conn: 2,
            doc: DocKind::Project,
            role: Role::Edit,
            outbox,
        };
        rooms.send("p", join).await.unwrap();
        let Some(Message::Sync(SyncMessage::SyncStep1(sv))) = next_message(&mut rx, wait).await
        else {
            panic!("expected step 1");
        };
        assert_eq!(sv, source.transact().state_vector());
    }
}
