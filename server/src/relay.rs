//! Several instances serving one project (issue 16): what one instance's
//! rooms do reaches the rooms of the same project on every other instance,
//! through PostgreSQL's LISTEN/NOTIFY (the database the instances already
//! share: no other broker to run).
//!
//! - **Updates**: an append notifies `stemroom_updates` inside its own
//!   transaction (`store::postgres`), so a notification exists only for a
//!   committed update. It names the sequence numbers, not the bytes: a room
//!   elsewhere reads what it has not seen from the log (`load_since`), so a
//!   notification that is lost, late or duplicated costs nothing but a
//!   read, and a gap in the numbers is caught up the same way.
//! - **Awareness** (presence) is not stored: it travels in the notification
//!   itself (`stemroom_awareness`), best effort, as in one instance.
//! - When the listening connection is lost, every open room catches up from
//!   the log once it is back.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use stemroom_model::DocKind;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::room::{Command, Rooms};

/// The channel appends notify: `INSTANCE PROJECT DOC FIRST LAST`.
pub const UPDATES: &str = "stemroom_updates";
/// The channel awareness travels on: `INSTANCE PROJECT DOC BASE64`.
pub const AWARENESS: &str = "stemroom_awareness";
/// The channel each instance says it lives on, every heartbeat: `INSTANCE`.
pub const INSTANCES: &str = "stemroom_instances";
/// The listening connection's `application_name`.
pub const LISTENER_NAME: &str = "stemroom-relay";
/// Largest payload PostgreSQL carries in a notification (bytes, less a margin).
const MAX_PAYLOAD: usize = 7_900;

/// This instance's part in the relay.
pub struct Relay {
    /// Who this instance is in notifications (its own are skipped).
    pub instance: String,
    outgoing: mpsc::UnboundedSender<(String, String)>,
}

impl Relay {
    /// Starts listening (and publishing) on the database at `url`, handing
    /// what other instances do to the open `rooms`. Runs until the server
    /// stops.
    /// Every `heartbeat` it tells the others it lives, proves its own
    /// listening connection alive, and has the rooms drop what instances
    /// not heard from for a while relayed.
    pub fn start(url: String, instance: String, rooms: Rooms, heartbeat: Duration) -> Arc<Relay> {
        let (outgoing, queue) = mpsc::unbounded_channel();
        tokio::spawn(listen(url.clone(), instance.clone(), rooms, heartbeat));
        tokio::spawn(publish(url, queue));
        let beat = outgoing.clone();
        let me = instance.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(heartbeat);
            loop {
                every.tick().await;
                if beat.send((INSTANCES.to_string(), me.clone())).is_err() {
                    return;
                }
            }
        });
        Arc::new(Relay { instance, outgoing })
    }

    /// Sends awareness states of `project`'s `doc` to the other instances
    /// (a y-protocol awareness update; dropped when too large to carry).
    pub fn awareness(&self, project: &str, doc: DocKind, update: &[u8]) {
        let payload = format!(
            "{} {project} {} {}",
            self.instance,
            doc.as_str(),
            base64::engine::general_purpose::STANDARD.encode(update)
        );
        if payload.len() <= MAX_PAYLOAD {
            let _ = self.outgoing.send((AWARENESS.to_string(), payload));
        } else {
            tracing::debug!(project, "an awareness update too large to relay");
        }
    }
}

/// Publishes queued notifications on one connection, made again when lost.
async fn publish(url: String, mut queue: mpsc::UnboundedReceiver<(String, String)>) {
    let mut client: Option<tokio_postgres::Client> = None;
    while let Some((channel, payload)) = queue.recv().await {
        for _ in 0..2 {
            if client
                .as_ref()
                .is_none_or(tokio_postgres::Client::is_closed)
            {
                client = match tokio_postgres::connect(&url, NoTls).await {
                    Ok((c, connection)) => {
                        tokio::spawn(connection);
                        // Awareness is not kept: no WAL flush for it.
                        let _ = c.batch_execute("SET synchronous_commit = off").await;
                        Some(c)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the relay cannot publish");
                        None
                    }
                };
            }
            let Some(c) = &client else { break };
            match c
                .execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
                .await
            {
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "the relay lost its publishing connection");
                    client = None;
                }
            }
        }
    }
}

/// Listens for the other instances, forever; after a lost connection every
/// open room catches up from the log.
async fn listen(url: String, instance: String, rooms: Rooms, heartbeat: Duration) {
    loop {
        match listen_once(&url, &instance, &rooms, heartbeat).await {
            Ok(()) => tracing::warn!("the relay's listening connection ended"),
            Err(e) => tracing::warn!(error = %e, "the relay's listening connection failed"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How long the listening connection's proof of life may take.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);

async fn listen_once(
    url: &str,
    instance: &str,
    rooms: &Rooms,
    heartbeat: Duration,
) -> Result<(), tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    // Named, so an operator (or a test) can tell it in pg_stat_activity.
    config.application_name(LISTENER_NAME);
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, mut messages) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut stream = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = stream.next().await {
            match message {
                Ok(message) => {
                    if tx.send(message).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the relay's connection failed");
                    break;
                }
            }
        }
    });
    client
        .batch_execute(&format!(
            "LISTEN {UPDATES}; LISTEN {AWARENESS}; LISTEN {INSTANCES}"
        ))
        .await?;
    // Whatever was notified while nobody listened (before the first
    // LISTEN too: rooms may have loaded since) is in the log.
    rooms.catch_up_all().await;
    let mut heartbeat = tokio::time::interval(heartbeat);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            message = messages.recv() => {
                let Some(message) = message else { break };
                let AsyncMessage::Notification(note) = message else {
                    continue;
                };
                let from = note.payload().split(' ').next().unwrap_or_default();
                if from != instance {
                    rooms.heard(from);
                }
                if let Some((project, command)) = parse(note.channel(), note.payload(), instance) {
                    rooms.send_if_open(&project, command).await;
                }
            }
            _ = heartbeat.tick() => {
                let alive = tokio::time::timeout(HEARTBEAT_TIMEOUT, client.simple_query("")).await;
                if !matches!(alive, Ok(Ok(_))) {
                    tracing::warn!("the relay's listening connection stopped answering");
                    break;
                }
                rooms.sweep_all().await;
            }
        }
    }
    driver.abort();
    Ok(())
}

/// What a notification asks of a room (none for this instance's own, or a
/// malformed one).
fn parse(channel: &str, payload: &str, instance: &str) -> Option<(String, Command)> {
    let mut parts = payload.split(' ');
    let from = parts.next()?;
    if from == instance {
        return None;
    }
    let project = parts.next()?.to_string();
    let doc = DocKind::parse(parts.next()?)?;
    let command = match channel {
        UPDATES => {
            let _first: u64 = parts.next()?.parse().ok()?;
            let upto: u64 = parts.next()?.parse().ok()?;
            Command::Remote { doc, upto }
        }
        AWARENESS => {
            let update = base64::engine::general_purpose::STANDARD
                .decode(parts.next()?)
                .ok()?;
            Command::RemoteAwareness {
                doc,
                update,
                from: from.to_string(),
            }
        }
        _ => return None,
    };
    Some((project, command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_are_read_and_our_own_skipped() {
        let (project, command) = parse(UPDATES, "b p1 project 4 7", "a").unwrap();
        assert_eq!(project, "p1");
        assert!(matches!(
            command,
            Command::Remote {
                doc: DocKind::Project,
                upto: 7
            }
        ));
        assert!(parse(UPDATES, "a p1 project 4 7", "a").is_none(), "our own");
        assert!(parse(UPDATES, "b p1 nosuchdoc 4 7", "a").is_none());
        assert!(parse(UPDATES, "b p1 project x", "a").is_none());
        let (_, command) = parse(AWARENESS, "b p1 review AQID", "a").unwrap();
        assert!(
            matches!(command, Command::RemoteAwareness { doc: DocKind::Review, ref update, ref from } if update == &[1, 2, 3] && from == "b")
        );
    }
}
