//! `GET /sync/{project}/{doc}?token=…`: one WebSocket per document.
//!
//! The connection task reads and decodes frames (so a room never parses
//! untrusted bytes), forwards messages to the project's room, and writes
//! what the room queues for it. It pings the client, closes dead sockets,
//! and re-checks its link periodically: a revoked or expired link ends live
//! sessions too, not only new ones.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use stemroom_model::DocKind;
use stemroom_model::sync::{self, Message};
use tokio::time::{Instant, timeout};

use crate::access::{self, Grant};
use crate::api::{ApiError, TokenQuery};
use crate::http::AppState;
use crate::room::{Command, Outbox, Outgoing, close};

/// Bytes read from a socket at a time (messages larger than this are
/// assembled across reads).
const READ_BUFFER: usize = 4096;

/// Connection limits and timings.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// Largest WebSocket message accepted.
    pub max_message_bytes: usize,
    /// Open connections allowed from one address.
    pub max_connections_per_ip: usize,
    /// How often the server pings and re-checks the link.
    pub ping_every: Duration,
    /// Silence after which a connection is considered dead.
    pub dead_after: Duration,
    /// How long one send may take before the client counts as stuck.
    pub send_timeout: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            max_message_bytes: 16 << 20,
            max_connections_per_ip: 64,
            ping_every: Duration::from_secs(15),
            dead_after: Duration::from_secs(45),
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// Open connections per address.
#[derive(Clone, Default)]
pub struct ConnectionCounts {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One counted connection; uncounted when dropped.
pub struct ConnectionSlot {
    counts: ConnectionCounts,
    ip: IpAddr,
}

impl ConnectionCounts {
    fn acquire(&self, ip: IpAddr, max: usize) -> Option<ConnectionSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(ip).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

pub async fn upgrade(
    State(state): State<AppState>,
    Path((project, doc)): Path<(String, String)>,
    Query(query): Query<TokenQuery>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(kind) = DocKind::parse(&doc) else {
        return ApiError::not_found("no such document (project or review)").into_response();
    };
    let grant = match state.authorize(&project, query.token.as_deref()).await {
        Ok(grant) => grant,
        Err(e) => return e.into_response(),
    };
    let config = state.sync_config().clone();
    let Some(slot) = state
        .connection_counts()
        .acquire(peer.ip(), config.max_connections_per_ip)
    else {
        return ApiError::too_many("too many connections from this address").into_response();
    };
    let token = query.token.unwrap_or_default();
    // Small socket buffers: most connections are idle most of the time
    // (the defaults, 128 KiB each way, cost 1000 idle clients 250 MiB).
    ws.max_message_size(config.max_message_bytes)
        .max_frame_size(config.max_message_bytes)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            connection(socket, state, grant, token, kind, config).await;
            drop(slot);
        })
}

async fn connection(
    socket: WebSocket,
    state: AppState,
    grant: Grant,
    token: String,
    kind: DocKind,
    config: SyncConfig,
) {
    let rooms = state.rooms().clone();
    let conn = rooms.new_conn_id();
    let project = grant.project.clone();
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut outgoing) = Outbox::new();
    let aborted = outgoing.abort_signal();
    let join = Command::Join {
        conn,
        doc: kind,
        role: grant.role,
        outbox,
    };
    if rooms.send(&project, join).await.is_err() {
        let _ = sink
            .send(close_frame(
                close::SERVER_ERROR,
                "the project cannot be opened",
            ))
            .await;
        return;
    }
    tracing::debug!(%project, conn, doc = kind.as_str(), role = grant.role.as_str(), "connected");
    let mut ping = tokio::time::interval_at(Instant::now() + config.ping_every, config.ping_every);
    let mut last_heard = Instant::now();
    let ending: Option<(u16, String)> = loop {
        tokio::select! {
            incoming = stream.next() => {
                let Some(Ok(incoming)) = incoming else {
                    // Closed, reset, or a protocol violation (too large).
                    if let Some(Err(e)) = incoming {
                        tracing::debug!(%project, conn, error = %e, "socket error");
                        if e.to_string().contains("too long") || e.to_string().contains("too big") {
                            break Some((close::TOO_BIG, "message too large".into()));
                        }
                    }
                    break None;
                };
                last_heard = Instant::now();
                match incoming {
                    WsMessage::Binary(bytes) => match sync::decode_frame(&bytes) {
                        Ok(messages) => {
                            let command = Command::Messages { conn, messages };
                            if rooms.send(&project, command).await.is_err() {
                                break Some((close::RECONNECT, "the project restarted; reconnect".into()));
                            }
                        }
                        Err(e) => break Some((close::INVALID, e.to_string())),
                    },
                    WsMessage::Text(_) => {
                        break Some((close::UNSUPPORTED, "binary y-sync frames only".into()));
                    }
                    WsMessage::Close(_) => break None,
                    WsMessage::Ping(_) | WsMessage::Pong(_) => {}
                }
            }
            reason = aborted.wait() => break Some(reason),
            out = outgoing.recv() => match out {
                Some(Outgoing::Frame(frame)) => {
                    tokio::select! {
                        sent = timeout(config.send_timeout, sink.send(WsMessage::Binary(frame))) => {
                            if !matches!(sent, Ok(Ok(()))) {
                                break None;
                            }
                        }
                        reason = aborted.wait() => break Some(reason),
                    }
                }
                Some(Outgoing::Close(code, reason)) => break Some((code, reason)),
                None => break Some((close::RECONNECT, "the project restarted; reconnect".into())),
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > config.dead_after {
                    tracing::debug!(%project, conn, "no answer to pings; closing");
                    break None;
                }
                if let Err(denied) = state.authorize(&project, Some(&token)).await {
                    let reason = denied.message().to_string();
                    let _ = sink.send(WsMessage::Binary(sync::encode(&Message::Auth(Some(reason.clone()))).into())).await;
                    break Some((close::POLICY, reason));
                }
                if timeout(config.send_timeout, sink.send(WsMessage::Ping(Default::default()))).await.is_err() {
                    break None;
                }
            }
        }
    };
    let _ = rooms.send(&project, Command::Leave { conn }).await;
    if let Some((code, reason)) = ending {
        let _ = timeout(config.send_timeout, sink.send(close_frame(code, &reason))).await;
    }
    tracing::debug!(%project, conn, "disconnected");
}

fn close_frame(code: u16, reason: &str) -> WsMessage {
    // A close reason is at most 123 bytes; cut at a character boundary.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    WsMessage::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}

/// Kept here so `access` stays free of HTTP types.
impl From<access::Denied> for ApiError {
    fn from(denied: access::Denied) -> ApiError {
        ApiError::denied(&denied)
    }
}
