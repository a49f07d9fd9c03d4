//! Where an export's files go from the browser: streamed to files the
//! user picked (the File System Access API: a file for the mix, a folder
//! for stems) where the browser has it, otherwise collected and handed
//! over as downloads.
//!
//! The export runs on a worker, which cannot await the page's file
//! streams. It writes to [`ChannelFile`]s, which send the bytes (with
//! where they go in the file) to the page's thread; [`Destination`]
//! writes them there. The channel is bounded while a worker renders, so a
//! fast render waits for a slow disk rather than piling the song up in
//! memory.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// Bytes a file gathers before they are sent.
const CHUNK: usize = 1 << 20;
/// Chunks in flight between the worker and the page.
const IN_FLIGHT: usize = 16;

/// What the worker asks of the page's thread.
pub enum FileOp {
    Open {
        file: usize,
        name: String,
    },
    Write {
        file: usize,
        at: u64,
        bytes: Vec<u8>,
    },
    Close {
        file: usize,
    },
}

/// The worker's end of the channel.
#[derive(Clone)]
pub enum OpSender {
    /// A worker renders: it waits while the page catches up.
    Bounded(SyncSender<FileOp>),
    /// The page renders itself (no workers): nothing drains until it is done.
    Unbounded(Sender<FileOp>),
}

impl OpSender {
    fn send(&self, op: FileOp) -> std::io::Result<()> {
        let sent = match self {
            OpSender::Bounded(tx) => tx.send(op).is_ok(),
            OpSender::Unbounded(tx) => tx.send(op).is_ok(),
        };
        sent.then_some(()).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the file was closed")
        })
    }
}

/// A channel for an export's files: bounded when `worker`.
pub fn channel(worker: bool) -> (OpSender, Receiver<FileOp>) {
    if worker {
        let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
        (OpSender::Bounded(tx), rx)
    } else {
        let (tx, rx) = mpsc::channel();
        (OpSender::Unbounded(tx), rx)
    }
}

/// A file written from a worker: gathers what is written in order, and
/// sends it on with its position. Closed when dropped.
pub struct ChannelFile {
    file: usize,
    tx: OpSender,
    pos: u64,
    len: u64,
    buf: Vec<u8>,
    buf_at: u64,
}

impl ChannelFile {
    /// Opens file number `file`, named `name`.
    pub fn open(file: usize, name: String, tx: OpSender) -> std::io::Result<Self> {
        tx.send(FileOp::Open { file, name })?;
        Ok(ChannelFile {
            file,
            tx,
            pos: 0,
            len: 0,
            buf: Vec::with_capacity(CHUNK),
            buf_at: 0,
        })
    }

    fn send_buffer(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.send(FileOp::Write {
            file: self.file,
            at: self.buf_at,
            bytes,
        })
    }
}

impl Write for ChannelFile {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if !self.buf.is_empty() && self.pos != self.buf_at + self.buf.len() as u64 {
            self.send_buffer()?;
        }
        if self.buf.is_empty() {
            self.buf_at = self.pos;
        }
        self.buf.extend_from_slice(data);
        self.pos += data.len() as u64;
        self.len = self.len.max(self.pos);
        if self.buf.len() >= CHUNK {
            self.send_buffer()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buffer()
    }
}

impl Seek for ChannelFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

impl Drop for ChannelFile {
    fn drop(&mut self) {
        let _ = self.send_buffer();
        let _ = self.tx.send(FileOp::Close { file: self.file });
    }
}

/// Where the files go.
pub enum Destination {
    /// A folder the user picked: each file is made in it and streamed.
    Folder(JsValue),
    /// A file the user picked (one file only: the mix).
    File(JsValue),
    /// Nothing picked (no File System Access): downloads at the end.
    Download,
}

/// A file being written on the page's thread.
enum Open {
    /// A `FileSystemWritableFileStream`.
    Stream {
        writable: JsValue,
    },
    Memory(std::io::Cursor<Vec<u8>>),
}

/// The page's end: opens, writes and closes files as the worker asks.
pub struct Writer {
    destination: Destination,
    open: HashMap<usize, (String, Open)>,
    /// Every file made, finished or not (what a discard removes).
    made: Vec<String>,
    /// Finished files kept in memory, to download: (name, bytes).
    downloads: Vec<(String, Vec<u8>)>,
}

/// Asks for a place to save: a file (for the mix alone, named
/// `suggested`) or a folder. Must be called while the click that asked
/// for the export is being handled (the browser's pickers need it); the
/// returned promise is awaited after. `None`: this browser has no
/// pickers, so the files will be downloads.
pub fn pick(folder: bool, suggested: &str) -> Option<js_sys::Promise> {
    let window: JsValue = web_sys::window()?.into();
    let name = if folder {
        "showDirectoryPicker"
    } else {
        "showSaveFilePicker"
    };
    let picker: js_sys::Function = Reflect::get(&window, &name.into()).ok()?.dyn_into().ok()?;
    let options = Object::new();
    if folder {
        let _ = Reflect::set(&options, &"mode".into(), &"readwrite".into());
        let _ = Reflect::set(&options, &"id".into(), &"stemroom-stems".into());
    } else {
        let _ = Reflect::set(&options, &"suggestedName".into(), &suggested.into());
        let _ = Reflect::set(&options, &"id".into(), &"stemroom-export".into());
    }
    picker.call1(&window, &options).ok()?.dyn_into().ok()
}

impl Writer {
    pub fn new(destination: Destination) -> Self {
        Writer {
            destination,
            open: HashMap::new(),
            made: Vec::new(),
            downloads: Vec::new(),
        }
    }

    /// Where the files went, for the report: "the folder Stems" or
    /// "mix.wav" or "downloads".
    pub fn place(&self) -> String {
        let name = |handle: &JsValue| {
            Reflect::get(handle, &"name".into())
                .ok()
                .and_then(|n| n.as_string())
                .unwrap_or_default()
        };
        match &self.destination {
            Destination::Folder(dir) => format!("Saved in the folder “{}”", name(dir)),
            Destination::File(file) => format!("Saved as “{}”", name(file)),
            Destination::Download => "Downloaded".to_string(),
        }
    }

    /// Does what the worker asked.
    pub async fn apply(&mut self, op: FileOp) -> Result<(), String> {
        match op {
            FileOp::Open { file, name } => {
                let handle = match &self.destination {
                    Destination::Folder(dir) => {
                        let options = Object::new();
                        let _ = Reflect::set(&options, &"create".into(), &true.into());
                        Some(
                            crate::call(
                                dir,
                                "getFileHandle",
                                &[name.clone().into(), options.into()],
                            )
                            .await?,
                        )
                    }
                    Destination::File(handle) => Some(handle.clone()),
                    Destination::Download => None,
                };
                let open = match handle {
                    Some(handle) => Open::Stream {
                        writable: crate::call(&handle, "createWritable", &[]).await?,
                    },
                    None => Open::Memory(std::io::Cursor::new(Vec::new())),
                };
                self.made.push(name.clone());
                self.open.insert(file, (name, open));
            }
            FileOp::Write { file, at, bytes } => match self.open.get_mut(&file) {
                Some((_, Open::Stream { writable })) => {
                    // A copy out of wasm memory (a shared memory cannot be
                    // handed to the file stream).
                    let data = Uint8Array::new_with_length(bytes.len() as u32);
                    data.copy_from(&bytes);
                    let params = Object::new();
                    let _ = Reflect::set(&params, &"type".into(), &"write".into());
                    let _ = Reflect::set(&params, &"position".into(), &(at as f64).into());
                    let _ = Reflect::set(&params, &"data".into(), &data);
                    crate::call(writable, "write", &[params.into()]).await?;
                }
                Some((_, Open::Memory(cursor))) => {
                    cursor.set_position(at);
                    cursor.write_all(&bytes).map_err(|e| e.to_string())?;
                }
                None => return Err(format!("file {file} is not open")),
            },
            FileOp::Close { file } => match self.open.remove(&file) {
                Some((_, Open::Stream { writable })) => {
                    crate::call(&writable, "close", &[]).await?;
                }
                Some((name, Open::Memory(cursor))) => {
                    self.downloads.push((name, cursor.into_inner()));
                }
                None => {}
            },
        }
        Ok(())
    }

    /// Hands the files kept in memory to the browser as downloads.
    pub fn deliver(&mut self, mime: &str) -> Result<(), String> {
        for (name, bytes) in &self.downloads {
            download(bytes, name, mime)?;
        }
        Ok(())
    }

    /// After a cancel or a failure: nothing half-written stays. Open
    /// streams are aborted (a stream's writes reach the file only when it
    /// closes), and the files made for this export are removed.
    pub async fn discard(&mut self) {
        for (_, (_, open)) in self.open.drain() {
            if let Open::Stream { writable } = open {
                let _ = crate::call(&writable, "abort", &[]).await;
            }
        }
        self.downloads.clear();
        match &self.destination {
            Destination::Folder(dir) => {
                for name in self.made.drain(..) {
                    let _ = crate::call(dir, "removeEntry", &[name.into()]).await;
                }
            }
            // The picked file was made by the picker: remove it where the
            // browser can.
            Destination::File(handle) => {
                let _ = crate::call(handle, "remove", &[]).await;
            }
            Destination::Download => {}
        }
    }
}

/// Drains `rx` into `writer` until the worker's end is gone. On the
/// first failure `stop` is called (to cancel the export), the rest is
/// drained and dropped (so the worker never waits on a full channel), and
/// the failure returned.
pub async fn drain(
    rx: Receiver<FileOp>,
    writer: &mut Writer,
    stop: impl Fn(),
) -> Result<(), String> {
    let mut failed = None;
    loop {
        match rx.try_recv() {
            Ok(op) => {
                if failed.is_none()
                    && let Err(e) = writer.apply(op).await
                {
                    stop();
                    failed = Some(e);
                }
            }
            Err(TryRecvError::Empty) => crate::background::sleep(4).await,
            Err(TryRecvError::Disconnected) => break,
        }
    }
    failed.map_or(Ok(()), Err)
}

/// Hands `bytes` to the browser as a download named `name`.
pub fn download(bytes: &[u8], name: &str, mime: &str) -> Result<(), String> {
    // A copy out of wasm memory (a shared memory cannot back a Blob).
    let array = Uint8Array::new_with_length(bytes.len() as u32);
    array.copy_from(bytes);
    let parts = js_sys::Array::of1(&array);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(crate::js_error)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(crate::js_error)?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let anchor: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(crate::js_error)?
        .dyn_into()
        .map_err(|_| "not an anchor")?;
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    // The download has its own reference by now.
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}
