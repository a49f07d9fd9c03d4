//! The UI thread's half of the engine.

use std::sync::Arc;

use crate::command::Command;
use crate::handover::{PlanBuilder, parameter_commands};
use crate::meter::{EngineMeters, MeterSnapshot, StripMeter, StripReading};
use crate::mixer::Mixer;
use crate::project::ProjectDesc;
use crate::queue::{self, Consumer, Producer};
use crate::realtime::{Engine, Plan};

/// Commands a UI can queue before the audio thread drains them (one quantum).
pub const COMMAND_CAPACITY: usize = 1024;
/// Plans in flight each way.
const PLAN_CAPACITY: usize = 8;

/// Controls an [`Engine`] running on another thread. Owned by the UI thread.
pub struct EngineControl {
    commands: Producer<Command>,
    plans: Producer<Plan>,
    retired: Consumer<Plan>,
    meters: Arc<EngineMeters>,
    strip_meters: Option<Arc<[StripMeter]>>,
    /// Commands queued so far (plans are ordered after them).
    commands_sent: u64,
    builder: PlanBuilder,
}

/// How [`EngineControl::update`] brought the engine to a description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// Parameters only: this many commands, no plan.
    Commands(usize),
    /// A new plan that takes over the playing one's state.
    Plan,
}

/// Creates an engine and its control. Called on the control (UI) thread, which
/// is where all of the engine's memory is allocated; the [`Engine`] is then
/// moved to the audio thread.
pub fn engine_pair(sample_rate: f32) -> (EngineControl, Engine) {
    let (commands, command_rx) = queue::channel(COMMAND_CAPACITY);
    let (plans, plan_rx) = queue::channel(PLAN_CAPACITY);
    let (retired_tx, retired) = queue::channel(PLAN_CAPACITY);
    let meters = Arc::new(EngineMeters::default());
    meters.publish(&MeterSnapshot {
        momentary_lufs: f32::NEG_INFINITY,
        short_term_lufs: f32::NEG_INFINITY,
        integrated_lufs: f32::NEG_INFINITY,
        true_peak_dbtp: f32::NEG_INFINITY,
        bus: crate::meter::BusLoudness::SILENT,
        ..MeterSnapshot::default()
    });
    let engine = Engine::new(sample_rate, command_rx, plan_rx, retired_tx, meters.clone());
    let control = EngineControl {
        commands,
        plans,
        retired,
        meters,
        strip_meters: None,
        commands_sent: 0,
        builder: PlanBuilder::new(),
    };
    (control, engine)
}

impl EngineControl {
    /// Queues a command for the start of the next quantum. A full queue means
    /// the audio thread has stalled; the command is handed back.
    pub fn send(&mut self, command: Command) -> Result<(), Command> {
        self.commands.push(command)?;
        self.commands_sent += 1;
        self.builder.note(&command);
        Ok(())
    }

    /// Brings the engine to `desc`, changing only what differs: parameter
    /// changes as commands to the playing plan, anything else as a plan
    /// that takes over the state of every strip and device that goes on
    /// (see [`crate::handover`]). The one call the document → engine step
    /// needs. `Err` when the audio thread has stalled (queues full).
    pub fn update(&mut self, desc: &ProjectDesc) -> Result<Update, String> {
        if let Some(commands) = self
            .builder
            .last()
            .and_then(|last| parameter_commands(last, desc))
        {
            let count = commands.len();
            for command in commands {
                self.send(command)
                    .map_err(|_| "the audio engine is not taking commands".to_string())?;
            }
            return Ok(Update::Commands(count));
        }
        self.load_project(desc)
            .map(|()| Update::Plan)
            .map_err(|_| "the audio engine is not taking new projects yet".to_string())
    }

    /// What the playing plan renders as far as this side knows: the last
    /// description loaded with every command sent since. `None` after a
    /// plan not built from a description ([`Self::load`]).
    pub fn last_desc(&self) -> Option<&ProjectDesc> {
        self.builder.last()
    }

    /// Compiles `desc` to follow the plan loaded last (see
    /// [`crate::handover`]) and hands it to the audio thread. Gives the
    /// mixer back if plans are piling up.
    pub fn load_project(&mut self, desc: &ProjectDesc) -> Result<(), Box<Mixer>> {
        let (mixer, layout) = self.builder.build(desc).into_parts();
        self.push(mixer)?;
        self.builder.sent(desc, layout);
        Ok(())
    }

    /// Hands a compiled project to the audio thread, which crossfades to it
    /// at its next quantum; every strip and device starts afresh. Gives the
    /// mixer back if plans are piling up.
    pub fn load(&mut self, mixer: Mixer) -> Result<(), Box<Mixer>> {
        self.push(mixer)?;
        self.builder.forget();
        Ok(())
    }

    fn push(&mut self, mixer: Mixer) -> Result<(), Box<Mixer>> {
        self.collect();
        let strip_meters: Arc<[StripMeter]> = (0..mixer.strip_count())
            .map(|_| StripMeter::default())
            .collect();
        let plan = Plan {
            mixer: Box::new(mixer),
            strip_meters: strip_meters.clone(),
            commands_before: self.commands_sent,
        };
        match self.plans.push(plan) {
            Ok(()) => {
                self.strip_meters = Some(strip_meters);
                Ok(())
            }
            Err(plan) => Err(plan.mixer),
        }
    }

    /// Frees plans the audio thread has finished with. Cheap; call it often
    /// (every UI frame does, through [`EngineControl::meters`]).
    pub fn collect(&mut self) {
        while self.retired.pop().is_some() {}
    }

    /// The latest meter readings. Lock-free; call it every UI frame.
    pub fn meters(&mut self) -> MeterSnapshot {
        self.collect();
        self.meters.snapshot()
    }

    /// Meters of the loaded plan's strips (tracks, then buses, then master).
    pub fn strip_meters(&self) -> impl Iterator<Item = StripReading> + '_ {
        self.strip_meters
            .iter()
            .flat_map(|m| m.iter().map(StripMeter::read))
    }
}
