//! The UI thread's half of the engine.

use std::sync::Arc;

use crate::command::Command;
use crate::meter::{EngineMeters, MeterSnapshot};
use crate::queue::{self, Producer};
use crate::realtime::Engine;

/// Commands a UI can queue before the audio thread drains them (one quantum).
pub const COMMAND_CAPACITY: usize = 1024;

/// Controls an [`Engine`] running on another thread. Owned by the UI thread.
pub struct EngineControl {
    commands: Producer<Command>,
    meters: Arc<EngineMeters>,
}

/// Creates an engine and its control. Called on the control (UI) thread, which
/// is where all of the engine's memory is allocated; the [`Engine`] is then
/// moved to the audio thread.
pub fn engine_pair(sample_rate: f32) -> (EngineControl, Engine) {
    let (producer, consumer) = queue::channel(COMMAND_CAPACITY);
    let meters = Arc::new(EngineMeters::default());
    let engine = Engine::new(sample_rate, consumer, meters.clone());
    let control = EngineControl {
        commands: producer,
        meters,
    };
    (control, engine)
}

impl EngineControl {
    /// Queues a command for the start of the next quantum. A full queue means
    /// the audio thread has stalled; the command is handed back.
    pub fn send(&mut self, command: Command) -> Result<(), Command> {
        self.commands.push(command)
    }

    /// The latest meter readings. Lock-free; call it every UI frame.
    pub fn meters(&self) -> MeterSnapshot {
        self.meters.snapshot()
    }
}
