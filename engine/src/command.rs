//! Messages from the control thread to the audio thread.

use crate::mixer::{StripChange, StripRef};

/// A change the UI asks the audio thread to make at the start of its next quantum.
///
/// `Copy` and small, so it travels through the lock-free [`crate::queue`]
/// without allocation, or through a worklet `MessagePort` as
/// [`Command::WORDS`] numbers (see [`Command::encode`]) when the page has no
/// shared memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Command {
    /// Start the transport from its current position.
    Play,
    /// Stop the transport (after a short fade); the position stays.
    Stop,
    /// Move the transport to a position in frames.
    Seek { frame: u64 },
    /// Loop `start..end` (frames) while `enabled`.
    SetLoop { start: u64, end: u64, enabled: bool },
    /// Set the built-in test tone (the signal played before any project is loaded).
    SetTestTone { frequency_hz: f32, gain_db: f32 },
    /// Change a strip of the loaded project.
    Strip {
        strip: StripRef,
        change: StripChange,
    },
    /// Start a new loudness measurement (integrated, range, true peak).
    ResetLoudness,
    /// Measure the loudness of a bus as well as the master (`None`: stop).
    MeterBus { bus: Option<u32> },
    /// Click on every beat while playing (heard, not metered).
    SetMetronome { enabled: bool, gain_db: f32 },
    /// Start or stop capturing the input (see [`crate::capture`]).
    Record { enabled: bool },
    /// Measure the round trip: play the calibration clicks
    /// ([`crate::take::calibration_clicks`]) out while capturing the input,
    /// from the same frame on, as a take of its own (stopped transport).
    Calibrate,
}

impl Command {
    pub const WORDS: usize = 6;

    /// Encodes the command as numbers for a `MessagePort`.
    pub fn encode(self) -> [f64; Self::WORDS] {
        match self {
            Command::Play => [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            Command::Stop => [1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            Command::Seek { frame } => [2.0, frame as f64, 0.0, 0.0, 0.0, 0.0],
            Command::SetTestTone {
                frequency_hz,
                gain_db,
            } => [3.0, frequency_hz.into(), gain_db.into(), 0.0, 0.0, 0.0],
            Command::SetLoop {
                start,
                end,
                enabled,
            } => [
                4.0,
                start as f64,
                end as f64,
                f64::from(u8::from(enabled)),
                0.0,
                0.0,
            ],
            Command::ResetLoudness => [5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            Command::MeterBus { bus } => [
                6.0,
                bus.map_or(0.0, |b| f64::from(b) + 1.0),
                0.0,
                0.0,
                0.0,
                0.0,
            ],
            Command::SetMetronome { enabled, gain_db } => [
                7.0,
                f64::from(u8::from(enabled)),
                f64::from(gain_db),
                0.0,
                0.0,
                0.0,
            ],
            Command::Record { enabled } => [8.0, f64::from(u8::from(enabled)), 0.0, 0.0, 0.0, 0.0],
            Command::Calibrate => [9.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            Command::Strip { strip, change } => {
                let (kind, index) = match strip {
                    StripRef::Track(i) => (0.0, f64::from(i)),
                    StripRef::Bus(i) => (1.0, f64::from(i)),
                    StripRef::Master => (2.0, 0.0),
                };
                let (sub, a, b) = match change {
                    StripChange::GainDb(v) => (0.0, 0.0, f64::from(v)),
                    StripChange::Pan(v) => (1.0, 0.0, f64::from(v)),
                    StripChange::Mute(v) => (2.0, 0.0, f64::from(u8::from(v))),
                    StripChange::Solo(v) => (3.0, 0.0, f64::from(u8::from(v))),
                    StripChange::Polarity(v) => (4.0, 0.0, f64::from(u8::from(v))),
                    StripChange::SendLevelDb { send, level_db } => {
                        (5.0, f64::from(send), f64::from(level_db))
                    }
                    StripChange::DeviceParam { slot, param, value } => (
                        6.0 + f64::from(param) * 16.0,
                        f64::from(slot),
                        f64::from(value),
                    ),
                    StripChange::DeviceBypass { slot, bypass } => {
                        (7.0, f64::from(slot), f64::from(u8::from(bypass)))
                    }
                };
                [10.0 + kind, index, sub, a, b, 0.0]
            }
        }
    }

    /// Decodes what [`Command::encode`] produced; `None` for anything else.
    pub fn decode(words: &[f64]) -> Option<Command> {
        let w: &[f64; Self::WORDS] = words.try_into().ok()?;
        if w.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let frame = |x: f64| (x >= 0.0).then_some(x as u64);
        let flag = |x: f64| x != 0.0;
        Some(match w[0] as i64 {
            0 => Command::Play,
            1 => Command::Stop,
            2 => Command::Seek {
                frame: frame(w[1])?,
            },
            3 => Command::SetTestTone {
                frequency_hz: w[1] as f32,
                gain_db: w[2] as f32,
            },
            4 => Command::SetLoop {
                start: frame(w[1])?,
                end: frame(w[2])?,
                enabled: flag(w[3]),
            },
            5 => Command::ResetLoudness,
            6 => Command::MeterBus {
                bus: match w[1] as i64 {
                    0 => None,
                    b => Some(u32::try_from(b - 1).ok()?),
                },
            },
            7 => Command::SetMetronome {
                enabled: flag(w[1]),
                gain_db: w[2] as f32,
            },
            8 => Command::Record {
                enabled: flag(w[1]),
            },
            9 => Command::Calibrate,
            kind @ 10..=12 => {
                let index = u32::try_from(w[1] as i64).ok()?;
                let strip = match kind {
                    10 => StripRef::Track(index),
                    11 => StripRef::Bus(index),
                    _ => StripRef::Master,
                };
                let sub = w[2] as i64;
                let small = |x: f64| u16::try_from(x as i64).ok();
                let change = match sub {
                    0 => StripChange::GainDb(w[4] as f32),
                    1 => StripChange::Pan(w[4] as f32),
                    2 => StripChange::Mute(flag(w[4])),
                    3 => StripChange::Solo(flag(w[4])),
                    4 => StripChange::Polarity(flag(w[4])),
                    5 => StripChange::SendLevelDb {
                        send: small(w[3])?,
                        level_db: w[4] as f32,
                    },
                    7 => StripChange::DeviceBypass {
                        slot: small(w[3])?,
                        bypass: flag(w[4]),
                    },
                    s if s >= 6 && (s - 6) % 16 == 0 => StripChange::DeviceParam {
                        slot: small(w[3])?,
                        param: u16::try_from((s - 6) / 16).ok()?,
                        value: w[4] as f32,
                    },
                    _ => return None,
                };
                Command::Strip { strip, change }
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_survives_the_port_codec() {
        let strips = [StripRef::Track(63), StripRef::Bus(2), StripRef::Master];
        let changes = [
            StripChange::GainDb(-6.5),
            StripChange::Pan(0.25),
            StripChange::Mute(true),
            StripChange::Solo(true),
            StripChange::Polarity(true),
            StripChange::SendLevelDb {
                send: 3,
                level_db: -12.0,
            },
            StripChange::DeviceParam {
                slot: 2,
                param: 40,
                value: 1500.0,
            },
            StripChange::DeviceParam {
                slot: 0,
                param: 0,
                value: -1.0,
            },
            StripChange::DeviceBypass {
                slot: 1,
                bypass: true,
            },
        ];
        let mut commands = vec![
            Command::Play,
            Command::Stop,
            Command::Seek {
                frame: 48_000 * 3600,
            },
            Command::SetTestTone {
                frequency_hz: 997.0,
                gain_db: -18.0,
            },
            Command::SetLoop {
                start: 1000,
                end: 96_000,
                enabled: true,
            },
            Command::ResetLoudness,
            Command::MeterBus { bus: Some(3) },
            Command::MeterBus { bus: None },
            Command::SetMetronome {
                enabled: true,
                gain_db: -12.0,
            },
            Command::Record { enabled: true },
            Command::Record { enabled: false },
            Command::Calibrate,
        ];
        for strip in strips {
            for change in changes {
                commands.push(Command::Strip { strip, change });
            }
        }
        for command in commands {
            assert_eq!(Command::decode(&command.encode()), Some(command));
        }
    }

    #[test]
    fn malformed_words_decode_to_nothing() {
        assert_eq!(Command::decode(&[99.0, 0.0, 0.0, 0.0, 0.0, 0.0]), None);
        assert_eq!(Command::decode(&[2.0, f64::NAN, 0.0, 0.0, 0.0, 0.0]), None);
        assert_eq!(Command::decode(&[2.0, -5.0, 0.0, 0.0, 0.0, 0.0]), None);
        assert_eq!(Command::decode(&[10.0, -1.0, 0.0, 0.0, 0.0, 0.0]), None);
        assert_eq!(Command::decode(&[10.0, 1.0, 99.0, 0.0, 0.0, 0.0]), None);
        assert_eq!(Command::decode(&[0.0, 0.0]), None, "wrong length");
    }
}
