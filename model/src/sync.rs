//! Sync framing shared by the app and the server.
//!
//! One WebSocket per document (`/sync/{project}/{doc}`) carries the standard
//! y-sync messages (Sync step 1/2, Update, Awareness, Awareness query), so a
//! stock Yjs client can sync any document its link may read. Stemroom adds
//! one message, [`MSG_DURABLE`]: the server's count of this connection's
//! document-changing messages that are durably stored, which is what the
//! "all changes saved" indicator shows.

use yrs::Update;
use yrs::encoding::read::{Cursor, Error as ReadError, Read};
use yrs::encoding::write::Write;
use yrs::updates::decoder::{Decode, DecoderV1};
use yrs::updates::encoder::{Encode, Encoder, EncoderV1};

pub use yrs::sync::{Message, SyncMessage};

/// Tag of Stemroom's durability acknowledgement (outside y-protocols' range).
pub const MSG_DURABLE: u8 = 100;

/// Most messages one WebSocket frame may pack.
pub const MAX_MESSAGES_PER_FRAME: usize = 64;

/// Why a frame could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    Empty,
    /// Truncated or garbage bytes.
    Malformed(String),
    TooManyMessages,
    /// Bytes after the last message that do not form one.
    TrailingBytes(usize),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Empty => write!(f, "empty frame"),
            FrameError::Malformed(why) => write!(f, "malformed message: {why}"),
            FrameError::TooManyMessages => {
                write!(
                    f,
                    "more than {MAX_MESSAGES_PER_FRAME} messages in one frame"
                )
            }
            FrameError::TrailingBytes(n) => write!(f, "{n} stray bytes after the last message"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Reads every message of one binary frame. Never panics on any input
/// (yrs asserts some invariants of untrusted bytes in debug builds; those
/// panics become errors here).
pub fn decode_frame(bytes: &[u8]) -> Result<Vec<Message>, FrameError> {
    prescan(bytes)?;
    std::panic::catch_unwind(|| decode_frame_unchecked(bytes))
        .unwrap_or_else(|_| Err(FrameError::Malformed("invalid field values".into())))
}

/// Decodes an update from a client: an error, never a panic, on any input.
pub fn decode_update(bytes: &[u8]) -> Result<Update, String> {
    // Each client's section takes at least two bytes.
    plausible_count(bytes, 2)?;
    std::panic::catch_unwind(|| Update::decode_v1(bytes).map_err(|e| e.to_string()))
        .unwrap_or_else(|_| Err("invalid field values".into()))
}

/// A lib0 variable-length unsigned integer at `*pos`.
fn read_var(bytes: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos).ok_or("truncated number")?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err("number too long".into())
}

/// A length-prefixed buffer at `*pos`.
fn read_buf<'a>(bytes: &'a [u8], pos: &mut usize) -> Result<&'a [u8], String> {
    let len = read_var(bytes, pos)? as usize;
    let end = pos
        .checked_add(len)
        .filter(|e| *e <= bytes.len())
        .ok_or("truncated buffer")?;
    let buf = &bytes[*pos..end];
    *pos = end;
    Ok(buf)
}

/// Rejects a buffer whose leading item count could not fit in it: the
/// decoders reserve room for the count they read (a hash table's control
/// bytes are written at once), so 11 hostile bytes could otherwise make the
/// server touch 128 MiB.
fn plausible_count(buf: &[u8], min_bytes_per_item: usize) -> Result<(), String> {
    let mut pos = 0;
    let count = read_var(buf, &mut pos).map_err(|e| format!("bad count: {e}"))?;
    if count.saturating_mul(min_bytes_per_item as u64) > (buf.len() - pos) as u64 {
        return Err(format!("{count} items cannot fit in {} bytes", buf.len()));
    }
    Ok(())
}

/// Walks a frame's message boundaries and checks the counts the decoders
/// would reserve for, before any of them runs.
fn prescan(bytes: &[u8]) -> Result<(), FrameError> {
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        prescan_message(bytes, &mut pos).map_err(|why| {
            if start > 0 && why.starts_with("truncated") {
                FrameError::TrailingBytes(bytes.len() - start)
            } else {
                FrameError::Malformed(why)
            }
        })?;
    }
    Ok(())
}

/// One message of [`prescan`].
fn prescan_message(bytes: &[u8], pos: &mut usize) -> Result<(), String> {
    match read_var(bytes, pos)? {
        // Sync: step 1 carries a state vector, step 2 and Update an update;
        // both start with a count of two-byte-or-longer entries.
        0 => {
            let kind = read_var(bytes, pos)?;
            let payload = read_buf(bytes, pos)?;
            if kind <= 2 {
                plausible_count(payload, 2)?;
            }
        }
        // Awareness: (client, clock, JSON) entries, three bytes at least.
        1 => plausible_count(read_buf(bytes, pos)?, 3)?,
        // Auth: a flag and maybe a reason; the decoder checks the rest.
        2 => *pos = bytes.len(),
        // Awareness query: no payload.
        3 => {}
        _ => {
            read_buf(bytes, pos)?;
        }
    }
    Ok(())
}

fn decode_frame_unchecked(bytes: &[u8]) -> Result<Vec<Message>, FrameError> {
    if bytes.is_empty() {
        return Err(FrameError::Empty);
    }
    let mut decoder = DecoderV1::new(Cursor::new(bytes));
    let mut messages = Vec::new();
    let mut consumed = 0;
    while consumed < bytes.len() {
        if messages.len() == MAX_MESSAGES_PER_FRAME {
            return Err(FrameError::TooManyMessages);
        }
        match Message::decode(&mut decoder) {
            Ok(message) => {
                consumed += encoded_len(&message);
                messages.push(message);
            }
            Err(ReadError::EndOfBuffer(_)) if !messages.is_empty() => {
                return Err(FrameError::TrailingBytes(bytes.len() - consumed));
            }
            Err(e) => return Err(FrameError::Malformed(e.to_string())),
        }
    }
    // Non-minimal encodings make the count overshoot: not from a real client.
    if consumed != bytes.len() {
        return Err(FrameError::Malformed("non-canonical encoding".into()));
    }
    Ok(messages)
}

fn var_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn buf_len(n: usize) -> usize {
    var_len(n) + n
}

/// Bytes `message` takes in canonical encoding, without encoding it.
fn encoded_len(message: &Message) -> usize {
    match message {
        Message::Sync(SyncMessage::SyncStep1(sv)) => 2 + buf_len(sv.encode_v1().len()),
        Message::Sync(SyncMessage::SyncStep2(u) | SyncMessage::Update(u)) => 2 + buf_len(u.len()),
        Message::Auth(None) => 2,
        Message::Auth(Some(reason)) => 2 + buf_len(reason.len()),
        Message::AwarenessQuery => 1,
        Message::Awareness(update) => 1 + buf_len(update.encode_v1().len()),
        Message::Custom(_, data) => 1 + buf_len(data.len()),
    }
}

/// Encodes one message as a frame.
pub fn encode(message: &Message) -> Vec<u8> {
    let mut encoder = EncoderV1::new();
    message.encode(&mut encoder);
    encoder.to_vec()
}

/// "The first `count` document-changing messages you sent on this
/// connection are durably stored."
pub fn durable(count: u64) -> Message {
    let mut payload = EncoderV1::new();
    payload.write_var(count);
    Message::Custom(MSG_DURABLE, payload.to_vec())
}

/// The count of a [`MSG_DURABLE`] message.
pub fn parse_durable(message: &Message) -> Option<u64> {
    match message {
        Message::Custom(MSG_DURABLE, payload) => {
            let mut decoder = DecoderV1::new(Cursor::new(payload));
            decoder.read_var::<u64>().ok()
        }
        _ => None,
    }
}

/// Whether a message changes a document (and is counted by [`durable`]).
pub fn changes_document(message: &Message) -> bool {
    matches!(
        message,
        Message::Sync(SyncMessage::SyncStep2(_) | SyncMessage::Update(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::StateVector;

    #[test]
    fn frames_round_trip_and_count_durable_messages() {
        let step1 = Message::Sync(SyncMessage::SyncStep1(StateVector::default()));
        let update = Message::Sync(SyncMessage::Update(vec![0, 0]));
        let mut frame = encode(&step1);
        frame.extend(encode(&update));
        frame.extend(encode(&durable(300)));
        let messages = decode_frame(&frame).unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0], step1);
        assert!(changes_document(&messages[1]));
        assert!(!changes_document(&messages[0]));
        assert_eq!(parse_durable(&messages[2]), Some(300));
        assert_eq!(parse_durable(&update), None);
    }

    #[test]
    fn bad_frames_are_errors() {
        assert_eq!(decode_frame(&[]), Err(FrameError::Empty));
        // Sync, Update, a buffer claiming 200 bytes but holding 2.
        assert!(matches!(
            decode_frame(&[0, 2, 200, 1, 0, 0]),
            Err(FrameError::Malformed(_))
        ));
        // A good message, then one byte that starts another.
        let mut frame = encode(&Message::Sync(SyncMessage::Update(vec![0, 0])));
        frame.push(0);
        assert_eq!(decode_frame(&frame), Err(FrameError::TrailingBytes(1)));
        let many: Vec<u8> = (0..=MAX_MESSAGES_PER_FRAME)
            .flat_map(|_| encode(&Message::AwarenessQuery))
            .collect();
        assert_eq!(decode_frame(&many), Err(FrameError::TooManyMessages));
    }
}
