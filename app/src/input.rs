//! The audio input recordings come from (issue 15): the device chosen
//! (asked for only when a track is armed or the input is opened, so the
//! permission prompt comes when it is needed), connected to the engine's
//! worklet; its round-trip latency as the browser reports it, and as this
//! browser's calibration corrected it, per device.
//!
//! Main thread only.

use std::cell::RefCell;

use js_sys::{Object, Reflect};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaStream, MediaStreamAudioSourceNode, MediaStreamConstraints, MediaStreamTrack};

use crate::js_error;

/// Which of the input's channels a track records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputChannels {
    /// Mono, from input 1.
    #[default]
    First,
    /// Mono, from input 2.
    Second,
    /// Stereo, inputs 1 and 2.
    Both,
}

impl InputChannels {
    pub const ALL: [InputChannels; 3] = [Self::First, Self::Second, Self::Both];

    pub fn count(self) -> u16 {
        if self == Self::Both { 2 } else { 1 }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::First => "In 1",
            Self::Second => "In 2",
            Self::Both => "In 1+2",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Self::First => "1",
            Self::Second => "2",
            Self::Both => "1+2",
        }
    }

    pub fn from_key(key: &str) -> InputChannels {
        match key {
            "2" => Self::Second,
            "1+2" => Self::Both,
            _ => Self::First,
        }
    }

    /// The captured channels (interleaved stereo) this track takes.
    pub fn picks(self) -> &'static [usize] {
        match self {
            Self::First => &[0],
            Self::Second => &[1],
            Self::Both => &[0, 1],
        }
    }
}

/// An input device this browser offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub label: String,
}

/// The open input, as the UI shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct InputInfo {
    pub device: String,
    pub label: String,
    /// Channels the device delivers (1 or 2).
    pub channels: u32,
    /// The round trip as the browser reports it (seconds): the context's
    /// output and base latency and the input's own.
    pub reported: f64,
    /// This browser's calibration of the device (seconds to add), if any.
    pub correction: Option<f64>,
}

impl InputInfo {
    /// The latency a take is moved back by (seconds).
    pub fn round_trip(&self) -> f64 {
        self.reported + self.correction.unwrap_or(0.0)
    }
}

struct OpenInput {
    stream: MediaStream,
    source: MediaStreamAudioSourceNode,
}

thread_local! {
    static OPEN: RefCell<Option<OpenInput>> = const { RefCell::new(None) };
}

fn number(object: &JsValue, key: &str) -> Option<f64> {
    Reflect::get(object, &key.into()).ok()?.as_f64()
}

/// The audio inputs (labels only once the user has allowed one).
pub async fn devices() -> Result<Vec<Device>, String> {
    let media = web_sys::window()
        .ok_or("no window")?
        .navigator()
        .media_devices()
        .map_err(|_| "this browser cannot record audio".to_string())?;
    let list = JsFuture::from(media.enumerate_devices().map_err(js_error)?)
        .await
        .map_err(js_error)?;
    let list: js_sys::Array = list.unchecked_into();
    Ok(list
        .iter()
        .filter(|d| {
            Reflect::get(d, &"kind".into())
                .ok()
                .and_then(|k| k.as_string())
                .as_deref()
                == Some("audioinput")
        })
        .enumerate()
        .map(|(i, d)| {
            let text = |k: &str| {
                Reflect::get(&d, &k.into())
                    .ok()
                    .and_then(|v| v.as_string())
                    .unwrap_or_default()
            };
            let label = text("label");
            Device {
                id: text("deviceId"),
                label: if label.is_empty() {
                    format!("Input {}", i + 1)
                } else {
                    label
                },
            }
        })
        .collect())
}

/// Opens `device` ("" for the default) into the running engine, closing
/// the input open before. The browser asks the user's permission the
/// first time. Processing meant for calls (echo cancelling, noise
/// suppression, gain control) is off: a take is the signal as it came.
pub async fn open(device: &str) -> Result<InputInfo, String> {
    close();
    let media = web_sys::window()
        .ok_or("no window")?
        .navigator()
        .media_devices()
        .map_err(|_| "this browser cannot record audio".to_string())?;
    let audio = Object::new();
    let set = |o: &Object, k: &str, v: JsValue| {
        let _ = Reflect::set(o, &k.into(), &v);
    };
    for key in ["echoCancellation", "noiseSuppression", "autoGainControl"] {
        set(&audio, key, false.into());
    }
    let channels = Object::new();
    set(&channels, "ideal", 2.into());
    set(&audio, "channelCount", channels.into());
    if !device.is_empty() {
        let exact = Object::new();
        set(&exact, "exact", device.into());
        set(&audio, "deviceId", exact.into());
    }
    let constraints = MediaStreamConstraints::new();
    constraints.set_audio(&audio);
    let stream = JsFuture::from(
        media
            .get_user_media_with_constraints(&constraints)
            .map_err(js_error)?,
    )
    .await
    .map_err(|e| format!("the input could not be opened: {}", js_error(e)))?;
    let stream: MediaStream = stream.unchecked_into();
    let track: Option<MediaStreamTrack> = stream.get_audio_tracks().get(0).dyn_into().ok();
    let settings: JsValue = track
        .as_ref()
        .map_or(JsValue::UNDEFINED, |t| t.get_settings().into());
    let wired = crate::session::with_engine(|context, link| {
        let source = context
            .create_media_stream_source(&stream)
            .map_err(js_error)?;
        source
            .connect_with_audio_node(link.node())
            .map_err(js_error)?;
        let context: &JsValue = context.as_ref();
        let output = number(context, "outputLatency").unwrap_or(0.0);
        let base = number(context, "baseLatency").unwrap_or(0.0);
        Ok::<_, String>((source, output + base))
    });
    let (source, context_latency) = match wired {
        Some(Ok(wired)) => wired,
        Some(Err(e)) => return Err(e),
        None => return Err("the audio engine is not running".into()),
    };
    let id = Reflect::get(&settings, &"deviceId".into())
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_else(|| device.to_string());
    let info = InputInfo {
        label: track.as_ref().map(|t| t.label()).unwrap_or_default(),
        channels: number(&settings, "channelCount").map_or(2, |c| c.clamp(1.0, 2.0) as u32),
        reported: context_latency + number(&settings, "latency").unwrap_or(0.0),
        correction: stored_correction(&id),
        device: id,
    };
    OPEN.set(Some(OpenInput { stream, source }));
    Ok(info)
}

/// Closes the open input (its light in the browser goes out).
pub fn close() {
    if let Some(open) = OPEN.take() {
        let _ = open.source.disconnect();
        for track in open.stream.get_tracks().iter() {
            if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                track.stop();
            }
        }
    }
}

pub fn is_open() -> bool {
    OPEN.with_borrow(Option::is_some)
}

const CALIBRATION_KEY: &str = "stemroom.inputLatency.";

/// The calibration stored for `device` in this browser (seconds to add).
pub fn stored_correction(device: &str) -> Option<f64> {
    let storage = web_sys::window()?.local_storage().ok()??;
    storage
        .get_item(&format!("{CALIBRATION_KEY}{device}"))
        .ok()??
        .parse()
        .ok()
}

/// Stores a calibration for `device` (seconds to add to what is reported).
pub fn store_correction(device: &str, seconds: f64) {
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = storage.set_item(
            &format!("{CALIBRATION_KEY}{device}"),
            &format!("{seconds:.6}"),
        );
    }
}
