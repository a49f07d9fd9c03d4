//! Recording takes (issue 15): the engine's capture ring drained while the
//! input is open, each armed track's take written to this browser's file
//! storage in half-second chunks (`take_store`) and uploaded as it is
//! recorded (`take_upload`), the clips placed where the performer heard
//! the music when Stop is pressed, and the takes a closed tab left behind
//! offered back when the project opens again.
//!
//! The audio thread only copies the input into the ring; the page's thread
//! drains it a few times a second into chunks, which a worker writes to the
//! files (`take_store`). Never more than a chunk of a take is in memory: a
//! take of two hours lives in files. Takes a closed tab left are offered
//! back from this browser's files or, when those are gone, from what the
//! server holds (with the placement the recorder sent it).
//!
//! Main thread only.

use std::cell::{Cell, RefCell};
use std::collections::{HashSet, VecDeque};
use std::rc::Rc;

use stemroom_engine::Command;
use stemroom_engine::capture::{CAPTURE_CHANNELS, Mark};
use stemroom_engine::take::{TakeSetup, calibration_clicks, measure_latency, place_take};
use stemroom_model::take::RecordedClip;

use crate::input::InputChannels;
use crate::take_store::{TakeDir, TakeMeta};
use crate::take_upload::{TakeUpload, UploadError};

/// Seconds of audio in a chunk: what a crash can cost at most.
pub const CHUNK_SECONDS: f64 = 0.5;
/// How often the ring is drained (ms).
const DRAIN_MS: i32 = 40;
/// The longest round trip a calibration looks for (seconds).
const MAX_ROUND_TRIP: f64 = 0.5;

/// A track to record, and from which input channels.
#[derive(Clone, Debug, PartialEq)]
pub struct Armed {
    pub track: String,
    pub name: String,
    pub channels: InputChannels,
}

/// How a recording is set up when Record is pressed.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordSetup {
    pub project: String,
    pub token: String,
    pub tracks: Vec<Armed>,
    pub sample_rate: u32,
    /// Round trip to compensate (frames).
    pub latency: u64,
    pub looping: Option<(u64, u64)>,
    pub punch: Option<(u64, u64)>,
}

/// What the recorder reports to the UI.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// Takes written here but not yet an asset on the server.
    pub uploading: usize,
    /// Frames captured by the running take.
    pub frames: u64,
    /// Frames the audio thread could not hand over (the page stalled).
    pub dropped: u64,
    /// The server cannot be reached: takes wait here until it can.
    pub offline: bool,
    /// Chunks made and acknowledged by the server, over every take of
    /// this tab (how far the upload is behind).
    pub made: u64,
    pub sent: u64,
    pub error: Option<String>,
}

/// A take being written: its chunks go to the browser's files in order,
/// then to the server.
struct Pipe {
    meta: RefCell<TakeMeta>,
    channels: InputChannels,
    /// Writes waiting for the file storage, in order.
    queue: RefCell<VecDeque<Write>>,
    /// Chunks safely in the browser's files (0..durable).
    durable: Cell<u32>,
    /// Chunks made so far (the last written when the take ends).
    made: Cell<u32>,
    /// No more chunks will come.
    ended: Cell<bool>,
    /// The writer task is running.
    writing: Cell<bool>,
}

enum Write {
    Chunk(u32, Vec<u8>),
    Meta(TakeMeta),
}

/// A take that is running (between Record and its stop mark).
struct Run {
    pipes: Vec<(Rc<Pipe>, Vec<u8>)>,
    chunk_frames: usize,
    /// The start mark has come: frames now belong to the take.
    started: bool,
    frames: u64,
}

#[derive(Default)]
struct Recorder {
    run: Option<Run>,
    /// A calibration's capture (a mono sum), while it runs.
    calibration: Option<Vec<f32>>,
    calibrating: bool,
    scratch: Vec<f32>,
    marks: VecDeque<Mark>,
    draining: bool,
    /// Takes of this tab not yet assets (never offered as recoverable).
    active: HashSet<String>,
    progress: Progress,
}

thread_local! {
    static RECORDER: RefCell<Recorder> = RefCell::new(Recorder::default());
}

/// What became of a calibration.
pub type CalibrationResult = Result<u64, String>;

/// Hooks the UI gives the recorder: told when takes end and calibrations
/// finish, and of progress.
#[derive(Clone)]
pub struct Hooks {
    pub progress: Rc<dyn Fn(Progress)>,
    pub calibrated: Rc<dyn Fn(CalibrationResult)>,
    pub stopped: Rc<dyn Fn()>,
    pub peaks: Rc<dyn Fn([f32; CAPTURE_CHANNELS])>,
}

thread_local! {
    static HOOKS: RefCell<Option<Hooks>> = const { RefCell::new(None) };
    /// Tracks monitoring the input, and from which channels.
    static MONITORED: RefCell<Vec<(String, InputChannels)>> = const { RefCell::new(Vec::new()) };
}

/// Sets the tracks that play the input through their strip (this
/// listener's own: it goes into the engine's description here, never into
/// the document). The caller brings the engine up to date.
pub fn set_monitored(tracks: Vec<(String, InputChannels)>) {
    MONITORED.set(tracks);
}

/// Adds this listener's input monitoring to the engine's description of
/// `project` (whose tracks it lists in order).
pub fn apply_monitoring(
    desc: &mut stemroom_engine::project::ProjectDesc,
    project: &stemroom_model::project::Project,
) {
    use stemroom_engine::project::{Monitor, MonitorInput};
    MONITORED.with_borrow(|monitored| {
        desc.monitor = monitored
            .iter()
            .filter_map(|(id, channels)| {
                let track = project.tracks.iter().position(|t| &t.id == id)?;
                let input = match channels {
                    InputChannels::First => MonitorInput::First,
                    InputChannels::Second => MonitorInput::Second,
                    InputChannels::Both => MonitorInput::Both,
                };
                Some(Monitor { track, input })
            })
            .collect();
    });
}

pub fn set_hooks(hooks: Hooks) {
    HOOKS.set(Some(hooks));
}

fn hooks() -> Option<Hooks> {
    HOOKS.with_borrow(Clone::clone)
}

fn report() {
    let progress = RECORDER.with_borrow(|r| r.progress.clone());
    if let Some(h) = hooks() {
        (h.progress)(progress);
    }
}

/// Starts draining the capture ring (the input meter moves from now on).
pub fn start_draining() {
    if RECORDER.with_borrow_mut(|r| std::mem::replace(&mut r.draining, true)) {
        return;
    }
    crate::take_writer::start();
    leptos::task::spawn_local(async move {
        loop {
            crate::background::sleep(DRAIN_MS).await;
            let ended = drain();
            if let Some(run) = ended {
                finish_run(run);
            }
            let keep = crate::input::is_open()
                || RECORDER.with_borrow(|r| r.run.is_some() || r.calibrating);
            if !keep {
                RECORDER.with_borrow_mut(|r| r.draining = false);
                return;
            }
        }
    });
}

pub fn is_recording() -> bool {
    RECORDER.with_borrow(|r| r.run.is_some())
}

/// Starts a take on every armed track, after `transport` (the Seek and
/// Play that start the song): the engine takes them in one quantum, so the
/// take starts where the Seek put the transport.
pub fn record(setup: RecordSetup, transport: &[Command]) -> Result<(), String> {
    if setup.tracks.is_empty() {
        return Err("arm a track to record on (R)".into());
    }
    if !crate::input::is_open() {
        return Err("open an input to record from".into());
    }
    if !can_capture() {
        return Err(NO_CAPTURE.into());
    }
    if RECORDER.with_borrow(|r| r.run.is_some() || r.calibrating) {
        return Err("already recording".into());
    }
    let chunk_frames = (f64::from(setup.sample_rate) * CHUNK_SECONDS) as usize;
    let started_ms = js_sys::Date::now();
    let pipes: Vec<(Rc<Pipe>, Vec<u8>)> = setup
        .tracks
        .iter()
        .map(|armed| {
            let meta = TakeMeta {
                id: crate::take_store::new_take_id(),
                project: setup.project.clone(),
                track: armed.track.clone(),
                name: armed.name.clone(),
                sample_rate: setup.sample_rate,
                channels: armed.channels.count(),
                position: None,
                latency: setup.latency,
                looping: setup.looping,
                punch: setup.punch,
                frames: None,
                placed: false,
                started_ms,
            };
            let bytes = chunk_frames * meta.frame_bytes();
            let pipe = Rc::new(Pipe {
                queue: RefCell::new(VecDeque::from([Write::Meta(meta.clone())])),
                meta: RefCell::new(meta),
                channels: armed.channels,
                durable: Cell::new(0),
                made: Cell::new(0),
                ended: Cell::new(false),
                writing: Cell::new(false),
            });
            (pipe, Vec::with_capacity(bytes))
        })
        .collect();
    RECORDER.with_borrow_mut(|r| {
        for (pipe, _) in &pipes {
            r.active.insert(pipe.meta.borrow().id.clone());
        }
        r.progress.frames = 0;
        r.progress.error = None;
    });
    for (pipe, _) in &pipes {
        write_files(pipe.clone());
        upload(pipe.clone(), setup.token.clone());
    }
    RECORDER.with_borrow_mut(|r| {
        r.run = Some(Run {
            pipes,
            chunk_frames,
            started: false,
            frames: 0,
        });
    });
    for command in transport {
        send(*command);
    }
    send(Command::Record { enabled: true });
    start_draining();
    Ok(())
}

/// Ends the running take where the engine is now (its clips appear when
/// the stop reaches the recorder, a few milliseconds later).
pub fn stop() {
    if is_recording() {
        send(Command::Record { enabled: false });
    }
}

/// Measures the round trip: the engine plays clicks and captures the
/// input; `Hooks::calibrated` gets the lag in frames.
pub fn calibrate() -> Result<(), String> {
    if !crate::input::is_open() {
        return Err("open the input to calibrate".into());
    }
    if !can_capture() {
        return Err(NO_CAPTURE.into());
    }
    let busy = RECORDER.with_borrow_mut(|r| {
        let busy = r.run.is_some() || r.calibrating;
        if !busy {
            r.calibrating = true;
            r.calibration = None;
        }
        busy
    });
    if busy {
        return Err("stop recording first".into());
    }
    send(Command::Calibrate);
    start_draining();
    Ok(())
}

const NO_CAPTURE: &str = "recording needs the page's shared memory (open it from the Stemroom server, which isolates it)";

/// Whether the running engine captures its input (the shared-memory build).
fn can_capture() -> bool {
    crate::session::with_engine(|_, link| link.capture().is_some()) == Some(true)
}

fn send(command: Command) {
    crate::session::with_engine(|_, link| link.send(command));
}

/// Moves what the ring holds into the takes; returns a run that ended.
fn drain() -> Option<Run> {
    let mut scratch = RECORDER.with_borrow_mut(|r| std::mem::take(&mut r.scratch));
    if scratch.is_empty() {
        scratch = vec![0.0; 48_000 * CAPTURE_CHANNELS];
    }
    let mut ended = None;
    let mut calibrated = None;
    loop {
        // Frames first, then marks: a mark is in the ring's queue before
        // the frames it marks, so every mark up to these frames is seen.
        let popped = crate::session::with_engine(|_, link| {
            let reader = link.capture()?;
            let (frames, first) = reader.pop(&mut scratch);
            let mut marks = Vec::new();
            while let Some(mark) = reader.next_mark() {
                marks.push(mark);
            }
            Some((frames, first, marks, reader.take_peaks(), reader.dropped()))
        })
        .flatten();
        let Some((frames, first, marks, peaks, dropped)) = popped else {
            break;
        };
        if let Some(h) = hooks() {
            (h.peaks)(peaks);
        }
        RECORDER.with_borrow_mut(|r| {
            r.marks.extend(marks);
            r.progress.dropped = dropped;
            let end = first + frames as u64;
            let mut at = first;
            loop {
                // The next mark within (or at the end of) these frames.
                let mark = r.marks.front().copied().filter(|m| m.frame <= end);
                let until = mark.map_or(end, |m| m.frame.max(at));
                let from = (at - first) as usize * CAPTURE_CHANNELS;
                let to = (until - first) as usize * CAPTURE_CHANNELS;
                r.take_frames(&scratch[from..to]);
                at = until;
                let Some(mark) = mark else { break };
                r.marks.pop_front();
                match r.apply(mark) {
                    Some(Ended::Run(run)) => ended = Some(run),
                    Some(Ended::Calibration(result)) => calibrated = Some(result),
                    None => {}
                }
            }
        });
        if frames < scratch.len() / CAPTURE_CHANNELS {
            break;
        }
    }
    RECORDER.with_borrow_mut(|r| r.scratch = scratch);
    if is_recording() {
        report();
    }
    if let (Some(result), Some(h)) = (calibrated, hooks()) {
        (h.calibrated)(result);
    }
    ended
}

enum Ended {
    Run(Run),
    Calibration(CalibrationResult),
}

impl Recorder {
    /// Interleaved stereo frames that arrived while nothing changed.
    fn take_frames(&mut self, frames: &[f32]) {
        if frames.is_empty() {
            return;
        }
        if let Some(captured) = &mut self.calibration {
            captured.extend(frames.chunks_exact(CAPTURE_CHANNELS).map(|f| f[0] + f[1]));
            return;
        }
        let Some(run) = &mut self.run else { return };
        if !run.started {
            return;
        }
        run.frames += (frames.len() / CAPTURE_CHANNELS) as u64;
        self.progress.frames = run.frames;
        let chunk_frames = run.chunk_frames;
        for (pipe, buffer) in &mut run.pipes {
            let picks = pipe.channels.picks();
            let chunk_bytes = chunk_frames * 3 * picks.len();
            for frame in frames.chunks_exact(CAPTURE_CHANNELS) {
                for &ch in picks {
                    let sample =
                        (f64::from(frame[ch]).clamp(-1.0, 1.0) * 8_388_607.0).round() as i32;
                    buffer.extend_from_slice(&sample.to_le_bytes()[..3]);
                }
                if buffer.len() >= chunk_bytes {
                    let bytes = std::mem::replace(buffer, Vec::with_capacity(chunk_bytes));
                    pipe.push_chunk(bytes);
                    self.progress.made += 1;
                }
            }
        }
    }

    fn apply(&mut self, mark: Mark) -> Option<Ended> {
        if self.calibrating {
            if mark.starts {
                self.calibration = Some(Vec::new());
                return None;
            }
            self.calibrating = false;
            let captured = self.calibration.take().unwrap_or_default();
            let rate = crate::session::with_engine(|c, _| c.sample_rate()).unwrap_or(48_000.0);
            let clicks = calibration_clicks(rate as u32);
            let max = (f64::from(rate) * MAX_ROUND_TRIP) as usize;
            return Some(Ended::Calibration(measure_latency(&clicks, &captured, max).ok_or_else(
                || "no clicks came back: connect the output to this input (a loopback) and try again".to_string(),
            )));
        }
        let run = self.run.as_mut()?;
        if mark.starts {
            run.started = true;
            for (pipe, _) in &run.pipes {
                let meta = {
                    let mut meta = pipe.meta.borrow_mut();
                    meta.position = mark.position;
                    meta.clone()
                };
                pipe.queue.borrow_mut().push_back(Write::Meta(meta));
            }
            None
        } else {
            self.run.take().map(Ended::Run)
        }
    }
}

impl Pipe {
    /// Queues the next chunk for the files (the caller counts it in the
    /// progress: this may run inside the recorder's borrow).
    fn push_chunk(self: &Rc<Self>, bytes: Vec<u8>) {
        let n = self.made.get();
        self.made.set(n + 1);
        self.queue.borrow_mut().push_back(Write::Chunk(n, bytes));
        write_files(self.clone());
    }
}

/// The take's stop: the last chunk, its length, and its clips in the
/// document (one undo step for every track recorded).
fn finish_run(run: Run) {
    let frames = run.frames;
    let mut metas = Vec::new();
    for (pipe, buffer) in run.pipes {
        if !buffer.is_empty() {
            pipe.push_chunk(buffer);
            RECORDER.with_borrow_mut(|r| r.progress.made += 1);
        }
        let meta = {
            let mut meta = pipe.meta.borrow_mut();
            meta.frames = Some(frames);
            meta.placed = true;
            meta.clone()
        };
        metas.push(meta.clone());
        pipe.queue.borrow_mut().push_back(Write::Meta(meta));
        pipe.ended.set(true);
        write_files(pipe);
    }
    crate::project::edit(|p, txn| {
        for meta in &metas {
            place_clips(p, txn, meta, frames);
        }
    });
    RECORDER.with_borrow_mut(|r| r.progress.frames = 0);
    if let Some(h) = hooks() {
        (h.stopped)();
    }
    report();
}

/// Writes a take's clips: one per loop pass (less what the punch range
/// leaves out); passes of a loop are a group of which the last plays.
fn place_clips(
    p: &stemroom_model::project::ProjectDoc,
    txn: &mut yrs::TransactionMut,
    meta: &TakeMeta,
    frames: u64,
) -> usize {
    let Some(position) = meta.position else {
        return 0;
    };
    let setup = TakeSetup {
        position,
        latency: meta.latency,
        looping: meta.looping,
        punch: meta.punch,
    };
    let placed = place_take(frames, &setup);
    // The take replaces what it was recorded over on its track.
    let from = placed.iter().map(|p| p.start).min();
    let to = placed.iter().map(|p| p.start + p.frames).max();
    if let (Some(from), Some(to)) = (from, to) {
        p.clear_for_take(txn, &meta.track, from, to, &meta.id);
    }
    let last_pass = placed.iter().map(|p| p.pass).max().unwrap_or(0);
    let grouped = last_pass > 0;
    for stretch in &placed {
        let name = if grouped {
            format!("{} ({})", meta.name, stretch.pass + 1)
        } else {
            meta.name.clone()
        };
        p.add_recorded_clip(
            txn,
            &RecordedClip {
                track: &meta.track,
                recording: &meta.id,
                name: &name,
                start: stretch.start,
                offset: stretch.source,
                length: stretch.frames,
                take: grouped.then_some((
                    meta.id.as_str(),
                    stretch.pass,
                    stretch.pass == last_pass,
                )),
            },
        );
    }
    placed.len()
}

/// Writes the take's queue to the browser's files, in order (one task per
/// take at a time).
fn write_files(pipe: Rc<Pipe>) {
    if pipe.writing.replace(true) {
        return;
    }
    leptos::task::spawn_local(async move {
        let id = pipe.meta.borrow().id.clone();
        let dir = match TakeDir::open(&id, true).await {
            Ok(dir) => Some(dir),
            Err(e) => {
                fail(format!("the take cannot be kept in this browser: {e}"));
                None
            }
        };
        loop {
            let next = pipe.queue.borrow_mut().pop_front();
            let Some(write) = next else { break };
            let Some(dir) = &dir else { continue };
            match write {
                Write::Chunk(n, bytes) => match dir.write_chunk(n, &bytes).await {
                    Ok(()) => pipe.durable.set(n + 1),
                    Err(e) => fail(format!("a chunk of the take could not be kept: {e}")),
                },
                Write::Meta(meta) => {
                    if let Err(e) = dir.write_meta(&meta).await {
                        fail(format!("the take's notes could not be kept: {e}"));
                    }
                }
            }
        }
        pipe.writing.set(false);
        // A write queued while this one finished.
        if !pipe.queue.borrow().is_empty() {
            write_files(pipe);
        }
    });
}

fn fail(message: String) {
    web_sys::console::error_1(&message.clone().into());
    RECORDER.with_borrow_mut(|r| r.progress.error = Some(message));
    report();
}

/// Uploads a take while it is written, and finishes it once it ended:
/// the clips waiting for it get the asset, and the browser's copy goes.
/// While the server cannot be reached it waits and tries again; the take
/// stays in the browser's files meanwhile. The recording is started once
/// the take's position is known, with its placement note, so another
/// browser could place it if this one's copy were lost.
fn upload(pipe: Rc<Pipe>, token: String) {
    RECORDER.with_borrow_mut(|r| r.progress.uploading += 1);
    report();
    leptos::task::spawn_local(async move {
        while pipe.meta.borrow().position.is_none() && !pipe.ended.get() {
            crate::background::sleep(DRAIN_MS).await;
        }
        let meta = pipe.meta.borrow().clone();
        let mut upload = TakeUpload::new(&meta.project, &token, &meta.id).patient(set_offline);
        let result = send_take(&mut upload, &meta, || {
            (
                pipe.durable.get(),
                pipe.ended.get() && !pipe.writing.get() && pipe.queue.borrow().is_empty(),
                pipe.made.get(),
            )
        })
        .await;
        finished(&meta.id, result).await;
    });
}

/// Sends chunks as they become durable (`state`: durable, ended, made)
/// and finishes the take, waiting for the server while it is away (a
/// patient upload); answers the asset (`None`: nothing was
/// recorded, and the server's recording is abandoned).
async fn send_take(
    upload: &mut TakeUpload,
    meta: &TakeMeta,
    state: impl Fn() -> (u32, bool, u32),
) -> Result<Option<String>, UploadError> {
    // Made here if the writer has not made it yet.
    let dir = TakeDir::open(&meta.id, true)
        .await
        .map_err(UploadError::Refused)?;
    // The note, with the name cut short (the server keeps 4 KiB).
    let mut note = meta.clone();
    if let Some((cut, _)) = note.name.char_indices().nth(120) {
        note.name.truncate(cut);
    }
    let placement = serde_json::to_value(&note).ok();
    let held = upload
        .start(
            &meta.name,
            meta.sample_rate,
            meta.channels,
            "s24",
            placement,
        )
        .await?;
    let mut next = 0u32;
    loop {
        let (durable, ended, made) = state();
        while next < durable {
            if !held.contains(&next) {
                let bytes = dir.read_chunk(next).await.map_err(UploadError::Refused)?;
                upload.send(next, &bytes).await?;
            }
            RECORDER.with_borrow_mut(|r| r.progress.sent += 1);
            next += 1;
        }
        if ended && next >= made {
            break;
        }
        crate::background::sleep(100).await;
    }
    if next == 0 {
        let _ = upload.abandon().await;
        return Ok(None);
    }
    Ok(Some(upload.finish(next).await?.sha256))
}

fn set_offline(offline: bool) {
    let changed = RECORDER
        .with_borrow_mut(|r| std::mem::replace(&mut r.progress.offline, offline) != offline);
    if changed {
        report();
    }
}

/// A take's upload ended: its clips get the asset and the browser's copy
/// is removed, or the error is shown (the copy stays, to recover).
async fn finished(id: &str, result: Result<Option<String>, UploadError>) {
    match result {
        Ok(sha) => {
            if let Some(sha) = sha {
                crate::project::fill_in(|p, txn| p.set_recorded_asset(txn, id, &sha));
            }
            if let Err(e) = crate::take_store::remove(id).await {
                web_sys::console::warn_1(
                    &format!("a finished take stays in this browser: {e}").into(),
                );
            }
        }
        Err(e) => fail(format!(
            "a take could not be uploaded (it is kept in this browser): {e}"
        )),
    }
    RECORDER.with_borrow_mut(|r| {
        r.active.remove(id);
        r.progress.uploading = r.progress.uploading.saturating_sub(1);
    });
    report();
}

/// A server recording idle this long was left by a closed tab or a crash
/// (a recorder sends a chunk every half second while it can).
pub const STALE_SECS: i64 = 10;

/// Where an unfinished take is kept.
#[derive(Clone, Debug, PartialEq)]
pub enum TakeSource {
    /// This browser's files (everything recorded up to the crash).
    Browser,
    /// Only the server: the chunks it holds from the first on.
    Server { chunks: u32, bytes: u64 },
}

/// A take a closed tab or a crash left unfinished.
#[derive(Clone, Debug, PartialEq)]
pub struct Recoverable {
    pub meta: TakeMeta,
    pub source: TakeSource,
}

/// Takes of `project` no tab here is recording or uploading: those in this
/// browser's files, then those only the server holds (its recordings idle
/// for [`STALE_SECS`] that carry a placement). Also answers, when the
/// server has recordings too fresh to judge, when to look again (seconds).
pub async fn recoverable(project: &str, token: &str) -> (Vec<Recoverable>, Option<i64>) {
    let mut found = Vec::new();
    for id in crate::take_store::list().await.unwrap_or_default() {
        if RECORDER.with_borrow(|r| r.active.contains(&id)) {
            continue;
        }
        let Ok(dir) = TakeDir::open(&id, false).await else {
            continue;
        };
        if let Ok(meta) = dir.read_meta().await
            && meta.project == project
            && plausible(&meta)
        {
            found.push(Recoverable {
                meta,
                source: TakeSource::Browser,
            });
        }
    }
    let mut again = None;
    let server = crate::take_upload::unfinished(project, token).await;
    for take in server.unwrap_or_default() {
        let known = found.iter().any(|f| f.meta.id == take.id)
            || RECORDER.with_borrow(|r| r.active.contains(&take.id));
        // The note is the recorder's; what the samples are is the server's.
        let meta = take
            .placement
            .and_then(|p| serde_json::from_value::<TakeMeta>(p).ok())
            .map(|mut m| {
                m.id = take.id.clone();
                m.sample_rate = take.sample_rate;
                m.channels = take.channels;
                m
            })
            .filter(|m| {
                m.project == project && m.position.is_some() && take.format == "s24" && plausible(m)
            });
        let Some(meta) = meta.filter(|_| !known && take.recoverable.chunks > 0) else {
            continue;
        };
        if take.idle_secs < STALE_SECS {
            let wait = STALE_SECS - take.idle_secs;
            again = Some(again.map_or(wait, |a: i64| a.min(wait)));
            continue;
        }
        found.push(Recoverable {
            meta,
            source: TakeSource::Server {
                chunks: take.recoverable.chunks,
                bytes: take.recoverable.bytes,
            },
        });
    }
    found.sort_by(|a, b| a.meta.started_ms.total_cmp(&b.meta.started_ms));
    (found, again)
}

/// Whether a take's note can be placed: 1 or 2 channels, and a position,
/// latency, loop and punch of sensible sizes (a note is a client's words;
/// a damaged one must not make a million clips).
fn plausible(meta: &TakeMeta) -> bool {
    let rate = u64::from(meta.sample_rate);
    let span_ok = |range: Option<(u64, u64)>, least: u64| {
        range.is_none_or(|(from, to)| to > from && to - from >= least && to < 1 << 40)
    };
    (8_000..=384_000).contains(&meta.sample_rate)
        && (1..=2).contains(&meta.channels)
        && meta.position.is_none_or(|p| p < 1 << 40)
        && meta.latency <= rate
        && span_ok(meta.looping, rate / 10)
        && span_ok(meta.punch, 1)
}

/// Whether the document already has clips waiting for recording `id`
/// (its Stop placed them before the tab closed).
fn placed_in_document(id: &str) -> bool {
    crate::project::snapshot().is_some_and(|p| p.clips.iter().any(|c| c.recording == id))
}

/// Places a recovered take's clips (unless they are in the document).
fn place_recovered(meta: &TakeMeta, frames: u64) -> Result<(), String> {
    if meta.placed || placed_in_document(&meta.id) {
        return Ok(());
    }
    crate::project::edit(|p, txn| place_clips(p, txn, meta, frames))
        .map(drop)
        .ok_or_else(|| "this project cannot be edited here".to_string())
}

/// Brings a take back: from this browser's copy, its clips where it was
/// recorded (unless Stop had placed them) and its upload finished; from
/// the server, an asset of what it holds (the recording left open, in
/// case its recorder is alive: that recorder's own Stop then replaces
/// this with the whole take), then its clips. Answers the frames
/// recovered.
pub async fn recover(take: Recoverable, token: String) -> Result<u64, String> {
    let meta = take.meta;
    if let TakeSource::Server { chunks, .. } = take.source {
        let mut upload = TakeUpload::new(&meta.project, &token, &meta.id);
        let asset = upload.recover(chunks).await.map_err(|e| e.to_string())?;
        place_recovered(&meta, asset.frames)?;
        crate::project::fill_in(|p, txn| p.set_recorded_asset(txn, &meta.id, &asset.sha256));
        return Ok(asset.frames);
    }
    let dir = TakeDir::open(&meta.id, false).await?;
    let (chunks, bytes) = dir.chunks().await?;
    let frames = meta.frames.unwrap_or(bytes / meta.frame_bytes() as u64);
    place_recovered(&meta, frames)?;
    let mut placed = meta.clone();
    placed.placed = true;
    placed.frames = Some(frames);
    dir.write_meta(&placed).await?;
    RECORDER.with_borrow_mut(|r| {
        r.active.insert(meta.id.clone());
        r.progress.uploading += 1;
    });
    report();
    leptos::task::spawn_local(async move {
        let mut upload = TakeUpload::new(&meta.project, &token, &meta.id).patient(set_offline);
        let result = send_take(&mut upload, &meta, || (chunks, true, chunks)).await;
        finished(&meta.id, result).await;
    });
    Ok(frames)
}

/// Throws a take away, here and on the server.
pub async fn discard(take: Recoverable, token: String) -> Result<(), String> {
    let meta = take.meta;
    let mut upload = TakeUpload::new(&meta.project, &token, &meta.id);
    let abandoned = upload.abandon().await;
    match take.source {
        // A take the server never saw is not an error.
        TakeSource::Browser => crate::take_store::remove(&meta.id).await,
        TakeSource::Server { .. } => abandoned.map_err(|e| e.to_string()),
    }
}
