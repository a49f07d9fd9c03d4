//! Export files: sample formats, TPDF dither, and WAV (hound) and FLAC
//! (flacenc) writers that take the samples a block at a time, so a long
//! song or sixty stems stream out as they are rendered.

use std::io::{Seek, SeekFrom, Write};

use super::ExportError;
use crate::CHANNELS;

/// How the samples are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    Int16,
    Int24,
    Float32,
}

impl SampleFormat {
    pub fn bits(self) -> u16 {
        match self {
            SampleFormat::Int16 => 16,
            SampleFormat::Int24 => 24,
            SampleFormat::Float32 => 32,
        }
    }

    /// Dither is on by default for 16 bits only.
    pub fn dithered_by_default(self) -> bool {
        self == SampleFormat::Int16
    }
}

/// The file's container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    Wav,
    /// FLAC (lossless; 16 or 24 bits only).
    Flac,
}

impl Container {
    pub fn extension(self) -> &'static str {
        match self {
            Container::Wav => "wav",
            Container::Flac => "flac",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Container::Wav => "audio/wav",
            Container::Flac => "audio/flac",
        }
    }
}

/// The file formats offered, by the name the dialog and `stemroom render
/// --format` use: (name, label, samples, container).
pub const FILE_FORMATS: [(&str, &str, SampleFormat, Container); 5] = [
    (
        "wav16",
        "WAV 16-bit (dithered)",
        SampleFormat::Int16,
        Container::Wav,
    ),
    ("wav24", "WAV 24-bit", SampleFormat::Int24, Container::Wav),
    (
        "wav32f",
        "WAV 32-bit float",
        SampleFormat::Float32,
        Container::Wav,
    ),
    (
        "flac16",
        "FLAC 16-bit (dithered)",
        SampleFormat::Int16,
        Container::Flac,
    ),
    (
        "flac24",
        "FLAC 24-bit",
        SampleFormat::Int24,
        Container::Flac,
    ),
];

/// "24-bit WAV", "16-bit FLAC", "32-bit float WAV".
pub fn format_name(format: SampleFormat, container: Container) -> String {
    let container = match container {
        Container::Wav => "WAV",
        Container::Flac => "FLAC",
    };
    match format {
        SampleFormat::Float32 => format!("32-bit float {container}"),
        f => format!("{}-bit {container}", f.bits()),
    }
}

/// TPDF dither: the sum of two uniform variables in [−½, ½) LSB, from a
/// seeded xorshift64* generator (the same sequence on every machine).
pub struct Dither {
    state: u64,
}

impl Dither {
    pub fn new(seed: u64) -> Self {
        Dither { state: seed | 1 }
    }

    fn uniform(&mut self) -> f64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let x = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    /// The next dither value, in LSB.
    pub fn sample(&mut self) -> f64 {
        self.uniform() + self.uniform()
    }
}

/// A file being written: where to, in what format, and the quantiser's
/// state (its dither carries on from block to block).
pub struct FileWriter<W: Write + Seek> {
    format: SampleFormat,
    dither: Option<Dither>,
    body: Body<W>,
    ints: Vec<i32>,
}

enum Body<W: Write + Seek> {
    Wav(WavStream<W>),
    Flac(Box<FlacStream<W>>),
}

impl<W: Write + Seek> FileWriter<W> {
    /// Starts a file of interleaved stereo at `sample_rate`. FLAC has no
    /// float, so float goes to FLAC as 24 bits.
    pub fn new(
        out: W,
        container: Container,
        format: SampleFormat,
        dither: bool,
        seed: u64,
        sample_rate: u32,
    ) -> Result<Self, ExportError> {
        let format = match (container, format) {
            (Container::Flac, SampleFormat::Float32) => SampleFormat::Int24,
            (_, format) => format,
        };
        let body = match container {
            Container::Wav => Body::Wav(WavStream::new(out, sample_rate, format)?),
            Container::Flac => Body::Flac(Box::new(FlacStream::new(out, format, sample_rate)?)),
        };
        Ok(FileWriter {
            format,
            dither: (dither && format != SampleFormat::Float32).then(|| Dither::new(seed)),
            body,
            ints: Vec::new(),
        })
    }

    /// Writes `samples` (interleaved stereo); `written`, if given, gets
    /// them as written, back in floats (what a report measures). Returns
    /// the highest magnitude written.
    pub fn write(
        &mut self,
        samples: &[f32],
        written: Option<&mut Vec<f32>>,
    ) -> Result<f32, ExportError> {
        if self.format == SampleFormat::Float32 {
            if let Some(written) = written {
                written.clear();
                written.extend_from_slice(samples);
            }
            if let Body::Wav(w) = &mut self.body {
                w.bytes.resize(samples.len() * 4, 0);
                for (bytes, x) in w.bytes.chunks_exact_mut(4).zip(samples) {
                    bytes.copy_from_slice(&x.to_le_bytes());
                }
                w.write()?;
            }
            return Ok(samples.iter().fold(0.0, |peak, x| peak.max(x.abs())));
        }
        let full = f64::from(1u32 << (self.format.bits() - 1));
        self.ints.resize(samples.len(), 0);
        let quantise =
            |x: f32, d: f64| to_integer((f64::from(x) * full + d).clamp(-full, full - 1.0));
        match &mut self.dither {
            Some(dither) => {
                for (q, &x) in self.ints.iter_mut().zip(samples) {
                    *q = quantise(x, dither.sample());
                }
            }
            None => {
                for (q, &x) in self.ints.iter_mut().zip(samples) {
                    *q = quantise(x, 0.0);
                }
            }
        }
        // Powers of two: the floats are exact.
        let step = (1.0 / full) as f32;
        if let Some(written) = written {
            written.clear();
            written.extend(self.ints.iter().map(|&q| q as f32 * step));
        }
        let peak = self
            .ints
            .iter()
            .fold(0, |peak, q| peak.max(q.unsigned_abs()));
        match &mut self.body {
            Body::Wav(w) => {
                // Fixed widths, so each sample is a few moves, not a call.
                fn pack<const N: usize>(ints: &[i32], bytes: &mut Vec<u8>) {
                    bytes.resize(ints.len() * N, 0);
                    for (b, q) in bytes.chunks_exact_mut(N).zip(ints) {
                        let le = q.to_le_bytes();
                        b.copy_from_slice(&le[..N]);
                    }
                }
                match self.format {
                    SampleFormat::Int16 => pack::<2>(&self.ints, &mut w.bytes),
                    _ => pack::<3>(&self.ints, &mut w.bytes),
                }
                w.write()?;
            }
            Body::Flac(f) => f.write(&self.ints)?,
        }
        Ok(peak as f32 * step)
    }

    /// Completes the file (its header's lengths and checksum).
    pub fn finish(self) -> Result<(), ExportError> {
        match self.body {
            Body::Wav(w) => w.finish(),
            Body::Flac(f) => f.finish(),
        }
    }

    /// The samples as written.
    pub fn format(&self) -> SampleFormat {
        self.format
    }
}

/// `x` (within ±2³¹) rounded to the nearest integer, ties to even: the
/// same on every machine, and fast on all. Adding 1.5 · 2⁵² leaves no
/// bits below the point, and the integer in the low bits (`f64::round`
/// is a library call on x86-64's baseline; this vectorises).
#[inline]
fn to_integer(x: f64) -> i32 {
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    (x + MAGIC).to_bits() as u32 as i32
}

fn wav_error(e: hound::Error) -> ExportError {
    ExportError::Write(e.to_string())
}

/// The header of a WAV file of `data_bytes` of interleaved samples (as
/// hound writes it: the format's fields, then the data chunk's size last),
/// so a file can be written a block at a time and its header again at the
/// end, the same length.
pub fn wav_header(
    sample_rate: u32,
    channels: u16,
    format: SampleFormat,
    data_bytes: u64,
) -> Result<Vec<u8>, ExportError> {
    let spec = hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: format.bits(),
        sample_format: match format {
            SampleFormat::Float32 => hound::SampleFormat::Float,
            _ => hound::SampleFormat::Int,
        },
    };
    let mut header = std::io::Cursor::new(Vec::new());
    hound::WavWriter::new(&mut header, spec)
        .and_then(hound::WavWriter::finalize)
        .map_err(wav_error)?;
    let mut header = header.into_inner();
    let len = header.len();
    debug_assert_eq!(&header[len - 8..len - 4], b"data");
    let total = len as u64 - 8 + data_bytes;
    let (Ok(riff), Ok(data)) = (u32::try_from(total), u32::try_from(data_bytes)) else {
        return Err(ExportError::Write(
            "a WAV file holds 4 GiB at most: export FLAC, or a shorter range".into(),
        ));
    };
    header[4..8].copy_from_slice(&riff.to_le_bytes());
    header[len - 4..].copy_from_slice(&data.to_le_bytes());
    Ok(header)
}

/// A WAV file written a block at a time: the header first, the samples in
/// blocks after it, and the header again at the end with the lengths.
struct WavStream<W: Write + Seek> {
    out: std::io::BufWriter<W>,
    sample_rate: u32,
    format: SampleFormat,
    data_bytes: u64,
    /// The block being written, as bytes.
    bytes: Vec<u8>,
}

impl<W: Write + Seek> WavStream<W> {
    fn new(out: W, sample_rate: u32, format: SampleFormat) -> Result<Self, ExportError> {
        // Blocks larger than the buffer go straight through.
        let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
        out.write_all(&wav_header(sample_rate, CHANNELS as u16, format, 0)?)
            .map_err(io_error)?;
        Ok(WavStream {
            out,
            sample_rate,
            format,
            data_bytes: 0,
            bytes: Vec::new(),
        })
    }

    /// Writes `bytes`.
    fn write(&mut self) -> Result<(), ExportError> {
        self.data_bytes += self.bytes.len() as u64;
        if self.data_bytes > u64::from(u32::MAX) - 100 {
            return Err(ExportError::Write(
                "a WAV file holds 4 GiB at most: export FLAC, or a shorter range".into(),
            ));
        }
        self.out.write_all(&self.bytes).map_err(io_error)
    }

    fn finish(mut self) -> Result<(), ExportError> {
        let header = wav_header(
            self.sample_rate,
            CHANNELS as u16,
            self.format,
            self.data_bytes,
        )?;
        let end = header.len() as u64 + self.data_bytes;
        self.out.seek(SeekFrom::Start(0)).map_err(io_error)?;
        self.out.write_all(&header).map_err(io_error)?;
        self.out.seek(SeekFrom::Start(end)).map_err(io_error)?;
        self.out.flush().map_err(io_error)
    }
}

/// A FLAC stream written frame by frame: the header is written first with
/// what is known, and again (same size) at the end with the length and
/// MD5 of the audio.
struct FlacStream<W: Write + Seek> {
    out: W,
    config: flacenc::error::Verified<flacenc::config::Encoder>,
    stream: flacenc::component::Stream,
    buffer: (flacenc::source::FrameBuf, flacenc::source::Context),
    pending: Vec<i32>,
    header_len: usize,
}

impl<W: Write + Seek> FlacStream<W> {
    fn new(mut out: W, format: SampleFormat, sample_rate: u32) -> Result<Self, ExportError> {
        use flacenc::error::Verify;
        let bits = usize::from(format.bits());
        let config = flacenc::config::Encoder::default()
            .into_verified()
            .map_err(|(_, e)| flac_error(&e))?;
        let mut stream = flacenc::component::Stream::new(sample_rate as usize, CHANNELS, bits)
            .map_err(|e| flac_error(&e))?;
        // Fixed-size blocks. The minimum excludes the last (shorter) block,
        // as the format says: a decoder reads a stream whose minimum and
        // maximum differ as variable-blocked, and symphonia then rejects
        // every frame (set again at the end, after the last frame).
        stream
            .stream_info_mut()
            .set_block_sizes(config.block_size, config.block_size)
            .map_err(|e| flac_error(&e))?;
        let buffer = (
            flacenc::source::FrameBuf::with_size(CHANNELS, config.block_size)
                .map_err(|e| flac_error(&e))?,
            flacenc::source::Context::new(bits, CHANNELS),
        );
        let header = header_bytes(&stream)?;
        out.write_all(&header).map_err(io_error)?;
        Ok(FlacStream {
            out,
            pending: Vec::with_capacity(config.block_size * CHANNELS),
            config,
            stream,
            buffer,
            header_len: header.len(),
        })
    }

    fn write(&mut self, ints: &[i32]) -> Result<(), ExportError> {
        let block = self.config.block_size * CHANNELS;
        let mut rest = ints;
        while !rest.is_empty() {
            let take = (block - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == block {
                self.encode()?;
            }
        }
        Ok(())
    }

    /// Encodes what is pending as one frame.
    fn encode(&mut self) -> Result<(), ExportError> {
        use flacenc::component::BitRepr;
        use flacenc::source::Fill;
        if self.pending.is_empty() {
            return Ok(());
        }
        self.buffer
            .fill_interleaved(&self.pending)
            .map_err(|e| flac_error(&e))?;
        self.pending.clear();
        let number = self.buffer.1.current_frame_number().unwrap_or(0);
        let frame = flacenc::encode_fixed_size_frame(
            &self.config,
            &self.buffer.0,
            number,
            self.stream.stream_info(),
        )
        .map_err(|e| flac_error(&e))?;
        self.stream.stream_info_mut().update_frame_info(&frame);
        let mut sink = flacenc::bitsink::ByteSink::new();
        frame.write(&mut sink).map_err(|e| flac_error(&e))?;
        self.out.write_all(sink.as_slice()).map_err(io_error)
    }

    fn finish(mut self) -> Result<(), ExportError> {
        self.encode()?;
        let context = &self.buffer.1;
        let block = self.config.block_size;
        let info = self.stream.stream_info_mut();
        info.set_md5_digest(&context.md5_digest());
        info.set_total_samples(context.total_samples());
        // The last frame's shorter block is not the stream's minimum.
        info.set_block_sizes(block, block)
            .map_err(|e| flac_error(&e))?;
        let header = header_bytes(&self.stream)?;
        debug_assert_eq!(header.len(), self.header_len);
        let end = self.out.stream_position().map_err(io_error)?;
        self.out.seek(SeekFrom::Start(0)).map_err(io_error)?;
        self.out.write_all(&header).map_err(io_error)?;
        self.out.seek(SeekFrom::Start(end)).map_err(io_error)?;
        self.out.flush().map_err(io_error)
    }
}

/// "fLaC" and the STREAMINFO block (a stream with no frames yet).
fn header_bytes(stream: &flacenc::component::Stream) -> Result<Vec<u8>, ExportError> {
    use flacenc::component::BitRepr;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).map_err(|e| flac_error(&e))?;
    Ok(sink.as_slice().to_vec())
}

fn flac_error(e: &dyn std::fmt::Debug) -> ExportError {
    ExportError::Write(format!("FLAC: {e:?}"))
}

fn io_error(e: std::io::Error) -> ExportError {
    ExportError::Write(e.to_string())
}

/// "Song - Mix v2 - mix.wav": the project, the version when it is one, and
/// what the file holds. Characters file systems refuse become "_".
pub fn file_name(project: &str, version: Option<&str>, what: &str, container: Container) -> String {
    let clean = |s: &str| -> String {
        let cleaned: String = s
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || " -_.()".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        cleaned.trim().trim_start_matches('.').to_string()
    };
    let project = clean(project);
    let mut parts = vec![if project.is_empty() {
        "Untitled".to_string()
    } else {
        project
    }];
    parts.extend(version.map(clean).filter(|v| !v.is_empty()));
    parts.push(clean(what));
    format!("{}.{}", parts.join(" - "), container.extension())
}

/// "03 Bass": a stem's title, numbered in mixer order (tracks, then
/// buses), so the files sort as the mixer shows them and never collide.
pub fn stem_title(number: usize, name: &str) -> String {
    let name = name.trim();
    format!(
        "{number:02} {}",
        if name.is_empty() { "Untitled" } else { name }
    )
}

/// A file that keeps nothing (it counts its length): what an export costs
/// without a disk, for benchmarks.
#[derive(Debug, Default)]
pub struct Discard {
    pos: u64,
    pub len: u64,
}

impl Write for Discard {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pos += buf.len() as u64;
        self.len = self.len.max(self.pos);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for Discard {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::End(d) => self.len.saturating_add_signed(d),
            SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}
