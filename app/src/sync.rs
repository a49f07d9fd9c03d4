//! The sync client: one WebSocket per document to `/sync/{project}/{doc}`.
//!
//! Main thread only. Local edits (any transaction whose origin is not
//! [`REMOTE`]) are sent as they commit; remote ones are applied under
//! [`REMOTE`], so per-user undo never sees them. While offline, edits stay
//! in the document; on reconnect the sync exchange sends whatever the server
//! lacks. The server's durable count (`MSG_DURABLE`) against the messages
//! sent on this connection is the "all changes saved" indicator.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use leptos::prelude::*;
use stemroom_model::sync::{self, Message, SyncMessage};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, Transact, Update as YUpdate};

/// Origin of transactions that apply what the server sent.
pub const REMOTE: &str = "remote";

/// What the save indicator shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncStatus {
    Connecting,
    /// Connected; local changes are on their way to durable storage.
    Saving,
    /// Connected; everything this tab changed is durably stored.
    Saved,
    /// Not connected; edits are kept and merged on reconnect.
    Offline {
        unsaved: bool,
    },
    /// The server refused this link (revoked, expired, or not allowed).
    Refused(String),
}

impl SyncStatus {
    pub fn label(&self) -> String {
        match self {
            SyncStatus::Connecting => "Connecting…".into(),
            SyncStatus::Saving => "Saving…".into(),
            SyncStatus::Saved => "All changes saved".into(),
            SyncStatus::Offline { unsaved: true } => "Offline — changes kept, will sync".into(),
            SyncStatus::Offline { unsaved: false } => "Offline — reconnecting".into(),
            SyncStatus::Refused(why) => why.clone(),
        }
    }

    pub fn key(&self) -> &'static str {
        match self {
            SyncStatus::Connecting => "connecting",
            SyncStatus::Saving => "saving",
            SyncStatus::Saved => "saved",
            SyncStatus::Offline { .. } => "offline",
            SyncStatus::Refused(_) => "refused",
        }
    }
}

/// One document kept in sync with the server.
#[derive(Clone)]
pub struct DocSync {
    inner: Rc<RefCell<Inner>>,
    pub status: RwSignal<SyncStatus>,
    /// Presence of the others: awareness client id → state JSON.
    pub peers: RwSignal<HashMap<u64, String>>,
    /// Bumped whenever the document changed (local or remote).
    pub revision: RwSignal<u64>,
}

struct Inner {
    doc: Doc,
    url: String,
    socket: Option<WebSocket>,
    /// Synced with the server on the current connection.
    synced: bool,
    /// Document-changing messages sent on the current connection.
    sent: u64,
    acked: u64,
    /// Local changes made while no connection could take them.
    unsent: bool,
    retry_ms: i32,
    refused: bool,
    /// This tab's presence: awareness client id, clock and state.
    presence: (u64, u32, String),
    callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl DocSync {
    /// Starts syncing `doc` with `ws(s)://host/sync/{project}/{kind}`.
    pub fn start(doc: Doc, project: &str, kind: &str, token: &str) -> DocSync {
        let location = web_sys::window().expect("a window").location();
        let scheme = if location.protocol().unwrap_or_default() == "https:" {
            "wss"
        } else {
            "ws"
        };
        let host = location.host().unwrap_or_default();
        let url = format!("{scheme}://{host}/sync/{project}/{kind}?token={token}");
        let presence_id = doc.client_id().get();
        let sync = DocSync {
            inner: Rc::new(RefCell::new(Inner {
                doc: doc.clone(),
                url,
                socket: None,
                synced: false,
                sent: 0,
                acked: 0,
                unsent: false,
                retry_ms: 500,
                refused: false,
                presence: (presence_id, 0, "null".into()),
                callbacks: Vec::new(),
            })),
            status: RwSignal::new(SyncStatus::Connecting),
            peers: RwSignal::new(HashMap::new()),
            revision: RwSignal::new(0),
        };
        let weak = Rc::downgrade(&sync.inner);
        let revision = sync.revision;
        let status = sync.status;
        let observed = doc.observe_update_v1("sync", move |txn, event| {
            revision.update(|r| *r += 1);
            let local = txn.origin().is_none_or(|o| o.as_ref() != REMOTE.as_bytes());
            if !local {
                return;
            }
            if let Some(inner) = weak.upgrade() {
                // Called inside the commit: only send, never transact.
                let mut inner = inner.borrow_mut();
                let message = Message::Sync(SyncMessage::Update(event.update.clone()));
                if !inner.send(&message) {
                    inner.unsent = true;
                }
                status.set(inner.status());
            }
        });
        if observed.is_err() {
            web_sys::console::error_1(&"cannot observe the document".into());
        }
        sync.connect();
        sync
    }

    pub fn doc(&self) -> Doc {
        self.inner.borrow().doc.clone()
    }

    /// Publishes this tab's presence (name, colour, playhead…) as JSON.
    pub fn set_presence(&self, json: String) {
        let mut inner = self.inner.borrow_mut();
        inner.presence.1 += 1;
        inner.presence.2 = json;
        let message = inner.presence_message();
        inner.send(&message);
    }

    fn connect(&self) {
        let url = self.inner.borrow().url.clone();
        let socket = match WebSocket::new(&url) {
            Ok(s) => s,
            Err(_) => return self.retry_later(),
        };
        socket.set_binary_type(BinaryType::Arraybuffer);
        let this = self.clone();
        let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_| this.opened());
        let this = self.clone();
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            if let Ok(event) = event.dyn_into::<MessageEvent>()
                && let Ok(buffer) = event.data().dyn_into::<js_sys::ArrayBuffer>()
            {
                this.received(&js_sys::Uint8Array::new(&buffer).to_vec());
            }
        });
        let this = self.clone();
        let on_close = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let (code, reason) = event
                .dyn_into::<CloseEvent>()
                .map(|e| (e.code(), e.reason()))
                .unwrap_or((1006, String::new()));
            this.closed(code, reason);
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut inner = self.inner.borrow_mut();
        inner.callbacks = vec![on_open, on_message, on_close];
        inner.socket = Some(socket);
        inner.synced = false;
        inner.sent = 0;
        inner.acked = 0;
    }

    fn opened(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.retry_ms = 500;
        let Ok(txn) = inner.doc.try_transact() else {
            return;
        };
        let step1 = Message::Sync(SyncMessage::SyncStep1(txn.state_vector()));
        drop(txn);
        inner.send(&step1);
        if inner.presence.2 != "null" {
            let presence = inner.presence_message();
            inner.send(&presence);
        }
        self.status.set(inner.status());
    }

    fn received(&self, frame: &[u8]) {
        let Ok(messages) = sync::decode_frame(frame) else {
            web_sys::console::error_1(&"the server sent a malformed frame".into());
            return;
        };
        for message in messages {
            self.handle(message);
        }
        let inner = self.inner.borrow();
        self.status.set(inner.status());
    }

    fn handle(&self, message: Message) {
        match message {
            Message::Sync(SyncMessage::SyncStep1(sv)) => {
                let mut inner = self.inner.borrow_mut();
                let diff = match inner.doc.try_transact() {
                    Ok(txn) => txn.encode_diff_v1(&sv),
                    Err(_) => return,
                };
                // Everything the server lacks, offline edits included.
                inner.send(&Message::Sync(SyncMessage::SyncStep2(diff)));
                inner.unsent = false;
            }
            Message::Sync(SyncMessage::SyncStep2(update)) => {
                self.apply(&update);
                self.inner.borrow_mut().synced = true;
            }
            Message::Sync(SyncMessage::Update(update)) => self.apply(&update),
            Message::Awareness(update) => {
                let own = self.inner.borrow().presence.0;
                self.peers.update(|peers| {
                    for (id, entry) in update.clients {
                        let id = id.get();
                        if id == own {
                            continue;
                        }
                        if &*entry.json == "null" {
                            peers.remove(&id);
                        } else {
                            peers.insert(id, entry.json.to_string());
                        }
                    }
                });
            }
            Message::Auth(Some(reason)) => {
                let mut inner = self.inner.borrow_mut();
                inner.refused = true;
                self.status.set(SyncStatus::Refused(reason));
            }
            other => {
                if let Some(n) = sync::parse_durable(&other) {
                    self.inner.borrow_mut().acked = n;
                }
            }
        }
    }

    fn apply(&self, update: &[u8]) {
        let doc = self.inner.borrow().doc.clone();
        let Ok(update) = YUpdate::decode_v1(update) else {
            return;
        };
        match doc.try_transact_mut_with(REMOTE) {
            Ok(mut txn) => {
                if let Err(e) = txn.apply_update(update) {
                    web_sys::console::error_1(&format!("cannot apply an update: {e}").into());
                }
            }
            Err(_) => web_sys::console::error_1(&"the document is busy".into()),
        }
    }

    fn closed(&self, code: u16, reason: String) {
        let refused = {
            let mut inner = self.inner.borrow_mut();
            inner.socket = None;
            inner.synced = false;
            inner.callbacks.clear();
            // A policy close (revoked, expired, not allowed) will not change
            // by retrying.
            inner.refused |= code == 1008;
            inner.refused
        };
        if refused {
            let why = if reason.is_empty() {
                "This link no longer opens the project".to_string()
            } else {
                reason
            };
            if !matches!(self.status.get_untracked(), SyncStatus::Refused(_)) {
                self.status.set(SyncStatus::Refused(why));
            }
            return;
        }
        let unsaved = {
            let inner = self.inner.borrow();
            inner.unsent || inner.acked < inner.sent
        };
        self.status.set(SyncStatus::Offline { unsaved });
        self.retry_later();
    }

    fn retry_later(&self) {
        let delay = {
            let mut inner = self.inner.borrow_mut();
            let delay = inner.retry_ms;
            inner.retry_ms = (inner.retry_ms * 2).min(10_000);
            delay
        };
        let this = self.clone();
        let retry = Closure::once_into_js(move || this.connect());
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                retry.unchecked_ref(),
                delay,
            );
        }
    }
}

impl Inner {
    /// Sends on the open socket; false when there is none.
    fn send(&mut self, message: &Message) -> bool {
        let Some(socket) = self
            .socket
            .as_ref()
            .filter(|s| s.ready_state() == WebSocket::OPEN)
        else {
            return false;
        };
        // A copy outside wasm memory: browsers refuse to send views of a
        // shared (threaded build) memory.
        let frame = js_sys::Uint8Array::from(&sync::encode(message)[..]);
        if socket.send_with_array_buffer_view(&frame).is_err() {
            return false;
        }
        if sync::changes_document(message) {
            self.sent += 1;
        }
        true
    }

    fn presence_message(&self) -> Message {
        let (id, clock, json) = &self.presence;
        Message::Awareness(yrs::sync::awareness::AwarenessUpdate {
            clients: HashMap::from([(
                yrs::block::ClientID::new(*id),
                yrs::sync::awareness::AwarenessUpdateEntry {
                    clock: *clock,
                    json: json.as_str().into(),
                },
            )]),
        })
    }

    fn status(&self) -> SyncStatus {
        let open = self
            .socket
            .as_ref()
            .is_some_and(|s| s.ready_state() == WebSocket::OPEN);
        match (open, self.synced) {
            (true, true) if self.acked >= self.sent && !self.unsent => SyncStatus::Saved,
            (true, true) => SyncStatus::Saving,
            (true, false) => SyncStatus::Connecting,
            (false, _) => SyncStatus::Offline {
                unsaved: self.unsent || self.acked < self.sent,
            },
        }
    }
}
