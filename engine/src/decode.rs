//! Reading audio files: WAV, FLAC, MP3 and Ogg Vorbis, through symphonia.
//!
//! Decoding streams blocks to a callback, so a long file is measured or
//! converted without holding all of it. Corrupt frames inside an otherwise
//! readable file are skipped and counted; a file that is not audio at all is
//! a clear [`DecodeError`].

use std::fmt;
use std::fs::File;
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Why a file could not be decoded.
#[derive(Debug)]
pub enum DecodeError {
    Io(std::io::Error),
    /// Not a format we read, or not audio at all.
    Unsupported(String),
    /// The container was recognised but its audio could not be read.
    Corrupt(String),
    /// A valid file without a single audio frame.
    Empty,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Io(e) => write!(f, "cannot read the file: {e}"),
            DecodeError::Unsupported(why) => {
                write!(
                    f,
                    "not an audio file Stemroom can read (WAV, FLAC, MP3, Ogg Vorbis): {why}"
                )
            }
            DecodeError::Corrupt(why) => write!(f, "the audio is corrupt: {why}"),
            DecodeError::Empty => write!(f, "the file contains no audio"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// One decoded block, interleaved.
pub struct Block<'a> {
    pub sample_rate: u32,
    pub channels: usize,
    pub samples: &'a [f32],
}

/// What a whole decode saw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodeSummary {
    pub sample_rate: u32,
    pub channels: usize,
    pub frames: u64,
    /// Frames the decoder rejected and skipped.
    pub corrupt_packets: u64,
}

/// Decodes the file at `path`, handing each block to `on_block`.
pub fn decode_file(
    path: &Path,
    on_block: impl FnMut(Block<'_>),
) -> Result<DecodeSummary, DecodeError> {
    let file = File::open(path).map_err(DecodeError::Io)?;
    let extension = path.extension().and_then(|e| e.to_str());
    decode(Box::new(file), extension, on_block)
}

/// Decodes a whole file to planar audio, as the engine plays it: the one
/// decode of an asset for the browser and the server alike, so both
/// render the same samples.
pub fn decode_asset(
    source: Box<dyn MediaSource>,
    extension: Option<&str>,
) -> Result<std::sync::Arc<crate::project::AudioAsset>, DecodeError> {
    let mut channels: Vec<Vec<f32>> = Vec::new();
    decode(source, extension, |block| {
        if channels.is_empty() {
            channels = vec![Vec::new(); block.channels.max(1)];
        }
        for frame in block.samples.chunks_exact(block.channels.max(1)) {
            for (c, s) in frame.iter().enumerate() {
                if let Some(channel) = channels.get_mut(c) {
                    channel.push(*s);
                }
            }
        }
    })?;
    Ok(crate::project::AudioAsset::new(channels))
}

/// Decodes any seekable source; `extension` is a hint, never trusted.
pub fn decode(
    source: Box<dyn MediaSource>,
    extension: Option<&str>,
    mut on_block: impl FnMut(Block<'_>),
) -> Result<DecodeSummary, DecodeError> {
    let stream = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| match e {
            // symphonia's own words ("core (probe): no suitable format
            // reader found") mean nothing to the person who dropped a file.
            SymphoniaError::Unsupported(_) => {
                DecodeError::Unsupported("its contents match none of these formats".into())
            }
            SymphoniaError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                DecodeError::Unsupported("it ends before any audio".into())
            }
            e => DecodeError::Unsupported(e.to_string()),
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| DecodeError::Unsupported("no audio track".into()))?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| DecodeError::Unsupported(e.to_string()))?;

    let mut summary = DecodeSummary {
        sample_rate: track.codec_params.sample_rate.unwrap_or(0),
        channels: track.codec_params.channels.map_or(0, |c| c.count()),
        frames: 0,
        corrupt_packets: 0,
    };
    let mut buffer: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(SymphoniaError::IoError(e)) => return Err(DecodeError::Io(e)),
            Err(e) => return Err(DecodeError::Corrupt(e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            Err(SymphoniaError::DecodeError(_)) => {
                summary.corrupt_packets += 1;
                continue;
            }
            Err(e) => return Err(DecodeError::Corrupt(e.to_string())),
        };
        let spec = *decoded.spec();
        let frames = decoded.frames();
        if frames == 0 {
            continue;
        }
        let buf = match &mut buffer {
            Some(b) if b.capacity() >= frames * spec.channels.count() => b,
            _ => buffer.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        summary.sample_rate = spec.rate;
        summary.channels = spec.channels.count();
        summary.frames += frames as u64;
        on_block(Block {
            sample_rate: spec.rate,
            channels: spec.channels.count(),
            samples: buf.samples(),
        });
    }
    if summary.frames == 0 {
        return Err(if summary.corrupt_packets > 0 {
            DecodeError::Corrupt(format!(
                "all {} audio packets failed to decode",
                summary.corrupt_packets
            ))
        } else {
            DecodeError::Empty
        });
    }
    Ok(summary)
}
