//! Messages from the control thread to the audio thread.

/// A change the UI asks the audio thread to make at the start of its next quantum.
///
/// `Copy` and small, so it travels through the lock-free [`crate::queue`]
/// without allocation, or through a worklet `MessagePort` as three numbers
/// (see [`Command::encode`]) when the page has no shared memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Command {
    /// Start the transport from its current position.
    Play,
    /// Stop the transport; the position stays where it is.
    Stop,
    /// Move the transport to a position in frames.
    Seek { frame: u64 },
    /// Set the built-in test tone (the signal played before any project is loaded).
    SetTestTone { frequency_hz: f32, gain_db: f32 },
}

impl Command {
    /// Encodes the command as `[tag, a, b]` for a `MessagePort`.
    pub fn encode(self) -> [f64; 3] {
        match self {
            Command::Play => [0.0, 0.0, 0.0],
            Command::Stop => [1.0, 0.0, 0.0],
            Command::Seek { frame } => [2.0, frame as f64, 0.0],
            Command::SetTestTone {
                frequency_hz,
                gain_db,
            } => [3.0, frequency_hz as f64, gain_db as f64],
        }
    }

    /// Decodes what [`Command::encode`] produced; `None` for anything else.
    pub fn decode(words: [f64; 3]) -> Option<Command> {
        let [tag, a, b] = words;
        Some(match tag as i64 {
            0 => Command::Play,
            1 => Command::Stop,
            2 if a.is_finite() && a >= 0.0 => Command::Seek { frame: a as u64 },
            3 => Command::SetTestTone {
                frequency_hz: a as f32,
                gain_db: b as f32,
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_survives_the_port_codec() {
        for command in [
            Command::Play,
            Command::Stop,
            Command::Seek {
                frame: 48_000 * 3600,
            },
            Command::SetTestTone {
                frequency_hz: 997.0,
                gain_db: -18.0,
            },
        ] {
            assert_eq!(Command::decode(command.encode()), Some(command));
        }
        assert_eq!(Command::decode([9.0, 0.0, 0.0]), None);
        assert_eq!(Command::decode([2.0, f64::NAN, 0.0]), None);
    }
}
