//! Recording's way off the audio thread (issue 15): the input as the engine
//! received it, through a preallocated single-producer single-consumer
//! ring of samples that a worker drains into files and uploads.
//!
//! The audio thread never waits and never allocates: when the reader has
//! fallen a whole ring behind, the frames that do not fit are counted as
//! dropped (and a take that dropped anything says so) rather than block.
//! Where a take begins and ends on the timeline travels beside the samples
//! as marks: the ring frame it starts at and the transport position of
//! that frame, so the reader places every sample exactly.
//!
//! In the browser both ends live in the shared wasm memory: the writer in
//! the worklet's instance, the reader in a worker's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::queue::{self, Consumer, Producer};

/// Channels captured (an interface's stereo pair; a mono input uses the first).
pub const CAPTURE_CHANNELS: usize = 2;
/// Marks in flight (takes start and stop far more slowly than they drain).
const MARK_CAPACITY: usize = 64;

/// A take starting or stopping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The ring frame (counted from the ring's start) where it happens.
    pub frame: u64,
    /// The transport position of that frame (`None` when stopped).
    pub position: Option<u64>,
    pub starts: bool,
}

struct Ring {
    /// Interleaved samples as bits (atomics: no `unsafe`, plain loads and
    /// stores on every target).
    samples: Box<[AtomicU32]>,
    frames: u64,
    /// Frames written and read so far (never wrap in practice: 2⁶⁴).
    written: AtomicU64,
    read: AtomicU64,
    dropped: AtomicU64,
    /// The input's peak per channel since the reader last took it.
    peak: [AtomicU32; CAPTURE_CHANNELS],
}

impl Ring {
    /// `frames` frames from absolute frame `from`, as (start slot, length)
    /// runs within the ring: the first up to its end, the rest from its
    /// start (one division per call, none per sample).
    fn runs(&self, from: u64, frames: usize) -> [(usize, usize); 2] {
        let at = (from % self.frames) as usize;
        let first = frames.min(self.frames as usize - at);
        [(at, first), (0, frames - first)]
    }
}

/// The audio thread's end.
pub struct CaptureWriter {
    ring: Arc<Ring>,
    marks: Producer<Mark>,
}

/// The reader's end (a worker).
pub struct CaptureReader {
    ring: Arc<Ring>,
    marks: Consumer<Mark>,
}

/// A ring holding `seconds` of input at `sample_rate`. Control thread: the
/// only allocation either end makes.
pub fn capture_ring(seconds: f32, sample_rate: f32) -> (CaptureWriter, CaptureReader) {
    let frames = ((seconds * sample_rate).ceil() as usize).max(1);
    let ring = Arc::new(Ring {
        samples: (0..frames * CAPTURE_CHANNELS)
            .map(|_| AtomicU32::new(0))
            .collect(),
        frames: frames as u64,
        written: AtomicU64::new(0),
        read: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        peak: std::array::from_fn(|_| AtomicU32::new(0)),
    });
    let (tx, rx) = queue::channel(MARK_CAPACITY);
    (
        CaptureWriter {
            ring: ring.clone(),
            marks: tx,
        },
        CaptureReader { ring, marks: rx },
    )
}

impl CaptureWriter {
    /// Meters `input` (one slice per channel; one channel is mono) and,
    /// when `recording`, appends it. Audio thread: wait-free, no
    /// allocation. Returns false if frames were dropped (the reader is a
    /// whole ring behind).
    pub fn push(&mut self, input: &[&[f32]], recording: bool) -> bool {
        let ring = &*self.ring;
        let Some(&first) = input.first() else {
            return true;
        };
        let frames = input.iter().map(|c| c.len()).min().unwrap_or(0);
        // A mono input feeds both channels.
        let channels: [&[f32]; CAPTURE_CHANNELS] =
            std::array::from_fn(|ch| &input.get(ch).copied().unwrap_or(first)[..frames]);
        for (peak, channel) in ring.peak.iter().zip(channels) {
            let high = channel
                .iter()
                .fold(f32::from_bits(peak.load(Ordering::Relaxed)), |p, x| {
                    crate::lanes::peak_max(p, x.abs())
                });
            peak.store(high.to_bits(), Ordering::Relaxed);
        }
        if !recording || frames == 0 {
            return true;
        }
        let written = ring.written.load(Ordering::Relaxed);
        let free = ring.frames - (written - ring.read.load(Ordering::Acquire));
        let fits = (frames as u64).min(free) as usize;
        // At most two runs: to the ring's end, then from its start.
        let mut done = 0;
        for (at, len) in ring.runs(written, fits) {
            let slots = &ring.samples[at * CAPTURE_CHANNELS..(at + len) * CAPTURE_CHANNELS];
            for (i, frame) in slots.chunks_exact(CAPTURE_CHANNELS).enumerate() {
                for (slot, channel) in frame.iter().zip(channels) {
                    slot.store(channel[done + i].to_bits(), Ordering::Relaxed);
                }
            }
            done += len;
        }
        ring.written.store(written + fits as u64, Ordering::Release);
        if fits < frames {
            ring.dropped
                .fetch_add((frames - fits) as u64, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Frames that fit now (a lower bound: the reader may free more).
    pub fn free_frames(&self) -> usize {
        let ring = &*self.ring;
        (ring.frames - (ring.written.load(Ordering::Relaxed) - ring.read.load(Ordering::Acquire)))
            as usize
    }

    /// Marks a take starting (or stopping) at the next frame pushed, which
    /// plays at `position` on the timeline. Audio thread: wait-free.
    pub fn mark(&mut self, starts: bool, position: Option<u64>) {
        let frame = self.ring.written.load(Ordering::Relaxed);
        // A full mark queue means the reader is gone: the take is lost
        // anyway, and the audio thread must not wait.
        let _ = self.marks.push(Mark {
            frame,
            position,
            starts,
        });
    }
}

impl CaptureReader {
    /// Moves what has been captured into `out` (interleaved,
    /// [`CAPTURE_CHANNELS`] channels), as many whole frames as fit; returns
    /// the frames moved and the ring frame the first of them was.
    pub fn pop(&mut self, out: &mut [f32]) -> (usize, u64) {
        let ring = &*self.ring;
        let read = ring.read.load(Ordering::Relaxed);
        let available = ring.written.load(Ordering::Acquire) - read;
        let frames = (available as usize).min(out.len() / CAPTURE_CHANNELS);
        let mut done = 0;
        for (at, len) in ring.runs(read, frames) {
            let slots = &ring.samples[at * CAPTURE_CHANNELS..(at + len) * CAPTURE_CHANNELS];
            let to = &mut out[done * CAPTURE_CHANNELS..(done + len) * CAPTURE_CHANNELS];
            for (x, slot) in to.iter_mut().zip(slots) {
                *x = f32::from_bits(slot.load(Ordering::Relaxed));
            }
            done += len;
        }
        ring.read.store(read + frames as u64, Ordering::Release);
        (frames, read)
    }

    /// The next take start or stop, if any.
    pub fn next_mark(&mut self) -> Option<Mark> {
        self.marks.pop()
    }

    /// Frames the audio thread could not fit (the reader fell behind).
    pub fn dropped(&self) -> u64 {
        self.ring.dropped.load(Ordering::Relaxed)
    }

    /// The input's peak per channel since the last call (the input meter).
    pub fn take_peaks(&self) -> [f32; CAPTURE_CHANNELS] {
        std::array::from_fn(|ch| f32::from_bits(self.ring.peak[ch].swap(0, Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quantum of a signal no two frames of which are alike.
    fn quantum(start: usize) -> [Vec<f32>; 2] {
        [
            (start..start + 128).map(|i| i as f32).collect(),
            (start..start + 128).map(|i| -(i as f32)).collect(),
        ]
    }

    #[test]
    fn every_frame_arrives_once_in_order_across_threads() {
        const QUANTA: usize = 4_000;
        let (mut writer, mut reader) = capture_ring(0.05, 48_000.0);
        let producer = std::thread::spawn(move || {
            writer.mark(true, Some(1_000));
            for q in 0..QUANTA {
                let [l, r] = quantum(q * 128);
                // A real audio thread never waits; this one waits for room
                // so the test can check every frame (dropping is tested below).
                while writer.free_frames() < 128 {
                    std::hint::spin_loop();
                }
                assert!(writer.push(&[&l, &r], true));
            }
        });
        let mut got = Vec::new();
        let mut buffer = vec![0.0; 4_096];
        while got.len() < QUANTA * 128 * 2 {
            let (frames, _) = reader.pop(&mut buffer);
            got.extend_from_slice(&buffer[..frames * 2]);
        }
        producer.join().unwrap();
        for (i, frame) in got.chunks(2).enumerate() {
            assert_eq!(frame, [i as f32, -(i as f32)], "frame {i}");
        }
        assert_eq!(
            reader.next_mark(),
            Some(Mark {
                frame: 0,
                position: Some(1_000),
                starts: true
            })
        );
    }

    #[test]
    fn a_full_ring_drops_and_counts_never_waits_and_meters_always() {
        let (mut writer, mut reader) = capture_ring(256.0 / 48_000.0, 48_000.0);
        let [l, r] = quantum(0);
        assert!(writer.push(&[&l, &r], true));
        assert!(writer.push(&[&l, &r], true));
        assert!(!writer.push(&[&l, &r], true), "no room: dropped");
        assert_eq!(reader.dropped(), 128);
        assert_eq!(reader.take_peaks(), [127.0, 127.0]);
        // Not recording: metered, not captured.
        let loud = vec![0.9f32; 128];
        assert!(writer.push(&[&loud], false));
        assert_eq!(reader.take_peaks(), [0.9, 0.9]);
        assert_eq!(reader.take_peaks(), [0.0, 0.0], "a peak is taken once");
        let mut buffer = vec![0.0; 1_024];
        let (frames, first) = reader.pop(&mut buffer);
        assert_eq!((frames, first), (256, 0));
        // Mono input fills both channels.
        let mono = vec![0.25f32; 4];
        assert!(writer.push(&[&mono], true));
        let (frames, first) = reader.pop(&mut buffer);
        assert_eq!((frames, first), (4, 256));
        assert_eq!(&buffer[..8], &[0.25; 8]);
    }
}
