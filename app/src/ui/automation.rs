//! Automation lanes: under a track (or a bus, or the master), one lane per
//! automated parameter — the fader, pan, or any device parameter — drawn on
//! a canvas and edited with the mouse:
//! - click empty space: a breakpoint there (snapped to beats when Snap is on);
//! - drag a point: it moves (every selected point with it);
//! - drag across empty space: a marquee selects the points inside;
//! - Alt + drag a segment up or down: it bends (the segment's curve);
//!   double-click a segment: straight again;
//! - Delete / Backspace: the selected points go.
//!
//! Every edit is one undo step (a drag is one gesture). Lanes live in the
//! document, so collaborators see them and their points as they change;
//! hiding a lane is this user's own view.

use std::collections::HashSet;
use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;
use stemroom_engine::automation::{Breakpoint, Curve};
use stemroom_engine::device::ParamSpec;
use stemroom_model::project::{AUTOMATION, AutomationLane, LaneTarget, MASTER, Project};
use web_sys::CanvasRenderingContext2d;

use super::canvas::prepare;
use super::workspace::Workspace;
use crate::project;

/// Height of one automation lane.
pub const LANE_H: f64 = 56.0;
/// Points are hit within this many pixels.
const HIT_PX: f64 = 6.0;
/// Space kept above and below the curve's range inside the lane.
const PAD_PX: f64 = 6.0;

/// How a lane's values map to its height, and how they read.
#[derive(Clone, Debug, PartialEq)]
pub struct Scale {
    pub label: String,
    pub unit: &'static str,
    pub min: f32,
    pub max: f32,
    /// Logarithmic (a parameter spanning decades: frequencies, times).
    pub log: bool,
    /// The value a new lane starts from (the control's current setting).
    pub current: f32,
}

impl Scale {
    fn of_spec(label: String, spec: &ParamSpec, current: f32) -> Scale {
        Scale {
            label,
            unit: spec.unit,
            min: spec.min,
            max: spec.max,
            log: spec.min > 0.0 && spec.max / spec.min >= 100.0,
            current,
        }
    }

    /// 0 (bottom) ..= 1 (top) for a value.
    pub fn normal(&self, v: f32) -> f64 {
        let (min, max, v) = (
            f64::from(self.min),
            f64::from(self.max),
            f64::from(v.clamp(self.min, self.max)),
        );
        if self.log {
            (v / min).ln() / (max / min).ln()
        } else {
            (v - min) / (max - min)
        }
    }

    pub fn value(&self, normal: f64) -> f32 {
        let (min, max, t) = (
            f64::from(self.min),
            f64::from(self.max),
            normal.clamp(0.0, 1.0),
        );
        (if self.log {
            min * (max / min).powf(t)
        } else {
            min + (max - min) * t
        }) as f32
    }

    /// A value as a person reads it, in the parameter's unit.
    pub fn format(&self, v: f32) -> String {
        let number = if self.unit == "dB" {
            format!("{v:+.1}")
        } else if v.abs() >= 1000.0 {
            format!("{:.2}k", v / 1000.0)
        } else if v.abs() >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        };
        if self.unit.is_empty() {
            number
        } else {
            format!("{number} {}", self.unit)
        }
    }
}

/// Fader range of a lane, as on the mixer strip.
pub const FADER_MIN_DB: f32 = -60.0;
pub const FADER_MAX_DB: f32 = 6.0;

/// What `target` on `strip` is and how its lane is scaled; `None` when it
/// no longer exists.
pub fn scale_of(project: &Project, strip: &str, target: &LaneTarget) -> Option<Scale> {
    let settings = if strip == MASTER {
        Some(&project.master)
    } else {
        project
            .tracks
            .iter()
            .find(|t| t.id == strip)
            .map(|t| &t.strip)
            .or_else(|| {
                project
                    .buses
                    .iter()
                    .find(|b| b.id == strip)
                    .map(|b| &b.strip)
            })
    }?;
    Some(match target {
        LaneTarget::Gain => Scale {
            label: "Fader".into(),
            unit: "dB",
            min: FADER_MIN_DB,
            max: FADER_MAX_DB,
            log: false,
            current: settings.gain_db as f32,
        },
        LaneTarget::Pan => Scale {
            label: "Pan".into(),
            unit: "",
            min: -1.0,
            max: 1.0,
            log: false,
            current: settings.pan as f32,
        },
        LaneTarget::Send { send } => {
            let s = project
                .sends
                .iter()
                .find(|s| s.id == *send && s.from == strip)?;
            let bus = project.buses.iter().find(|b| b.id == s.bus)?;
            Scale {
                label: format!("Send → {}", bus.name),
                unit: "dB",
                min: FADER_MIN_DB,
                max: FADER_MAX_DB,
                log: false,
                current: s.level_db as f32,
            }
        }
        LaneTarget::Param { device, param } => {
            let (position, d) = project
                .devices
                .iter()
                .filter(|d| d.strip == strip)
                .enumerate()
                .find(|(_, d)| d.id == *device)?;
            let spec = d.kind.params().get(usize::from(*param))?;
            let current = d
                .params
                .get(usize::from(*param))
                .copied()
                .unwrap_or(spec.default);
            Scale::of_spec(
                format!(
                    "{} {}: {}",
                    position + 1,
                    super::mixer::device_label(d.kind),
                    spec.name
                ),
                spec,
                current,
            )
        }
    })
}

/// Everything on `strip` a lane can automate, in menu order.
pub fn targets_of(project: &Project, strip: &str) -> Vec<(LaneTarget, Scale)> {
    let mut targets = vec![LaneTarget::Gain, LaneTarget::Pan];
    targets.extend(
        project
            .sends
            .iter()
            .filter(|s| s.from == strip)
            .map(|s| LaneTarget::Send { send: s.id.clone() }),
    );
    for d in project.devices.iter().filter(|d| d.strip == strip) {
        for param in 0..d.kind.params().len() {
            targets.push(LaneTarget::Param {
                device: d.id.clone(),
                param: param as u16,
            });
        }
    }
    targets
        .into_iter()
        .filter_map(|t| scale_of(project, strip, &t).map(|s| (t, s)))
        .collect()
}

/// A stable text key for a target (menus, `data-` attributes).
pub fn target_key(target: &LaneTarget) -> String {
    match target {
        LaneTarget::Gain => "gain".into(),
        LaneTarget::Pan => "pan".into(),
        LaneTarget::Param { device, param } => format!("param:{device}:{param}"),
        LaneTarget::Send { send } => format!("send:{send}"),
    }
}

fn target_from_key(key: &str) -> Option<LaneTarget> {
    match key {
        "gain" => Some(LaneTarget::Gain),
        "pan" => Some(LaneTarget::Pan),
        _ if key.starts_with("send:") => Some(LaneTarget::Send {
            send: key["send:".len()..].to_string(),
        }),
        _ => {
            let rest = key.strip_prefix("param:")?;
            let (device, param) = rest.rsplit_once(':')?;
            Some(LaneTarget::Param {
                device: device.to_string(),
                param: param.parse().ok()?,
            })
        }
    }
}

/// This user's view of the lanes, and the points selected in one of them.
#[derive(Clone, Copy)]
pub struct Lanes {
    /// Lanes this user has hidden (the document still has them).
    pub hidden: RwSignal<HashSet<String>>,
    /// The lane whose points are selected, and their frames.
    pub selection: RwSignal<Option<(String, Vec<u64>)>>,
}

impl Lanes {
    pub fn new() -> Lanes {
        Lanes {
            hidden: RwSignal::new(HashSet::new()),
            selection: RwSignal::new(None),
        }
    }

    /// The lanes of `strip` this user sees, in the document's order.
    pub fn visible(self, project: &Project, strip: &str) -> Vec<AutomationLane> {
        self.hidden.with(|hidden| {
            project
                .automation
                .iter()
                .filter(|l| l.strip == strip && !hidden.contains(&l.id))
                .cloned()
                .collect()
        })
    }

    /// Shows the lane of `target` on `strip`, creating it (empty, one undo
    /// step) if the document has none. Returns its id.
    pub fn show(self, project: &Project, strip: &str, target: &LaneTarget) -> Option<String> {
        let existing = project
            .automation
            .iter()
            .find(|l| l.strip == strip && l.target == *target)
            .map(|l| l.id.clone());
        let id = match existing {
            Some(id) => id,
            None => project::edit(|p, txn| p.add_lane(txn, strip, target))?,
        };
        self.hidden.update(|h| {
            h.remove(&id);
        });
        Some(id)
    }

    /// Deletes the selected points (Delete / Backspace); false when none are.
    pub fn delete_selected(self) -> bool {
        let Some((lane, frames)) = self.selection.get_untracked() else {
            return false;
        };
        if frames.is_empty() {
            return false;
        }
        let (from, to) = (
            frames.iter().copied().min().unwrap_or(0),
            frames.iter().copied().max().unwrap_or(0) + 1,
        );
        let kept: Option<Vec<Breakpoint>> = project::snapshot().and_then(|p| {
            p.automation.iter().find(|l| l.id == lane).map(|l| {
                l.points
                    .iter()
                    .filter(|x| x.frame >= from && x.frame < to && !frames.contains(&x.frame))
                    .copied()
                    .collect()
            })
        });
        if let Some(kept) = kept {
            project::edit(|p, txn| p.write_automation(txn, &lane, from, to, &kept));
        }
        self.selection.set(None);
        true
    }
}

impl Default for Lanes {
    fn default() -> Self {
        Lanes::new()
    }
}

/// Shows `target`'s lane on `strip` in the arrange view ("Show
/// automation" on a control), creating it if needed.
pub fn show_lane(ws: Workspace, strip: &str, target: LaneTarget) {
    if let Some(p) = project::snapshot() {
        ws.lanes.show(&p, strip, &target);
    }
}

/// What a control of `strip` shows for `target`: the ride being recorded;
/// while playing, its lane's curve at the playhead (unless the strip is in
/// Off); otherwise `setting`, the document's value. Reactive.
pub fn shown(ws: Workspace, strip: &str, target: &LaneTarget, setting: f64) -> f64 {
    crate::ride::revision();
    if let Some(v) = crate::ride::riding(strip, target) {
        return f64::from(v);
    }
    // At the readout rate, not every frame: a playing mixer's controls must
    // not recompute on every meter update.
    let running = ws.ui.state.get() == crate::session::EngineState::Running;
    if running {
        ws.ui.readout.track();
    }
    let playing = running && ws.ui.meters.with_untracked(|m| m.playing);
    if crate::ride::mode(strip) != crate::ride::WriteMode::Off && playing {
        let at = ws.ui.meters.with_untracked(|m| m.position);
        let curve = ws.project.with(|p| {
            let lane = p
                .as_ref()?
                .automation
                .iter()
                .find(|l| l.strip == strip && l.target == *target && !l.points.is_empty())?;
            Curve::new(lane.points.clone()).value_at(at)
        });
        if let Some(v) = curve {
            return f64::from(v);
        }
    }
    setting
}

/// A control of `strip` moved to `value` (of `range`): while a write mode
/// records, the move joins the pass (heard here at once, written when the
/// pass ends); otherwise `edit` changes the document.
pub fn control_moved(
    ws: Workspace,
    strip: &str,
    target: &LaneTarget,
    value: f64,
    range: (f32, f32),
    edit: impl FnOnce(),
) {
    let frame = ws.ui.meters.get_untracked().position;
    let playing = ws.playing_untracked();
    if crate::ride::moved(strip, target, value as f32, frame, playing, range).is_some() {
        crate::session::sync_engine(ws.ui);
    } else {
        edit();
    }
}

/// The control was let go: a Touch pass ends and is written.
pub fn control_released(ws: Workspace, strip: &str, target: &LaneTarget) {
    if crate::ride::released(strip, target) {
        crate::session::sync_engine(ws.ui);
    }
}

/// What a pointer does on a lane between down and up.
#[derive(Clone, Debug)]
enum LaneDrag {
    /// Down on empty space: a click adds a point, a drag draws a marquee.
    Pending {
        x0: f64,
        y0: f64,
    },
    Marquee {
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
    },
    /// Moving the selected points from where they were.
    Points {
        x0: f64,
        y0: f64,
        /// The grabbed point's frame (it snaps; the others keep their distance).
        anchor: u64,
        before: Vec<Breakpoint>,
        moved: Vec<u64>,
    },
    /// Bending the segment that starts at point `index`.
    Bend {
        y0: f64,
        index: usize,
        curve: f32,
    },
}

/// The automation lanes of one strip, under its row in the arrange view.
#[component]
pub fn StripLanes(strip: String, span: Memo<(f64, f64)>, timeline_px: Memo<f64>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let lanes = ws.lanes;
    let strip_id = strip.clone();
    let shown = Memo::new(move |_| {
        ws.project.with(|p| {
            p.as_ref()
                .map(|p| lanes.visible(p, &strip_id))
                .unwrap_or_default()
        })
    });
    view! {
        <div class="automation-lanes">
            <For
                each=move || shown.get()
                key=|l| (l.id.clone(), super::automation::target_key(&l.target))
                children={
                    let strip = strip.clone();
                    move |lane: AutomationLane| {
                        view! { <LaneRow strip=strip.clone() lane_id=lane.id span=span timeline_px=timeline_px /> }
                    }
                }
            />
        </div>
    }
}

#[component]
fn LaneRow(
    strip: String,
    lane_id: String,
    span: Memo<(f64, f64)>,
    timeline_px: Memo<f64>,
) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let lanes = ws.lanes;
    // The lane as the document has it now, and its scale.
    let lane = {
        let (id, strip) = (lane_id.clone(), strip.clone());
        Memo::new(move |_| {
            ws.project.with(|p| {
                let p = p.as_ref()?;
                let lane = p.automation.iter().find(|l| l.id == id)?.clone();
                let scale = scale_of(p, &strip, &lane.target)?;
                Some(Arc::new((lane, scale)))
            })
        })
    };
    let drag = RwSignal::new(None::<LaneDrag>);
    let hover = RwSignal::new(None::<(f64, String)>);
    let canvas: NodeRef<html::Canvas> = NodeRef::new();
    let selected = {
        let id = lane_id.clone();
        Memo::new(move |_| {
            lanes.selection.with(|s| match s {
                Some((lane, frames)) if *lane == id => frames.clone(),
                _ => Vec::new(),
            })
        })
    };

    Effect::new(move |_| {
        let Some(canvas) = canvas.get() else { return };
        let (x0, width) = span.get();
        let ppf = ws.px_per_frame();
        let Some(current) = lane.get() else { return };
        let (lane, scale) = &*current;
        let marquee = match drag.get() {
            Some(LaneDrag::Marquee { x0, y0, x1, y1 }) => Some((x0, y0, x1, y1)),
            _ => None,
        };
        if let Some(ctx) = prepare(&canvas, width, LANE_H - 1.0) {
            let drawing = Drawing { ppf, x0, width };
            selected.with(|sel| draw(&ctx, &drawing, &lane.points, scale, sel, marquee));
            // The points as the document has them: what tests read back.
            let _ = canvas.set_attribute("data-points", &lane.points.len().to_string());
            let listed: Vec<String> = lane
                .points
                .iter()
                .map(|p| format!("[{},{},{}]", p.frame, p.value, p.curve))
                .collect();
            let _ = canvas.set_attribute("data-curve", &format!("[{}]", listed.join(",")));
        }
    });

    // Pointer position → (frame, normal) on this lane.
    let at = move |e: &web_sys::PointerEvent| -> Option<(f64, f64, f64, f64)> {
        let el = canvas.get_untracked()?;
        let rect = el.get_bounding_client_rect();
        let (x, y) = (
            f64::from(e.client_x()) - rect.left(),
            f64::from(e.client_y()) - rect.top(),
        );
        let frame = (x + span.get_untracked().0) / ws.px_per_frame_untracked();
        Some((x, y, frame.max(0.0), normal_at(y)))
    };
    let points_now = move || {
        lane.get_untracked()
            .map(|l| l.0.points.clone())
            .unwrap_or_default()
    };

    let id_down = lane_id.clone();
    let on_down = move |e: web_sys::PointerEvent| {
        if !ws.can_edit() || e.button() != 0 {
            return;
        }
        let Some((x, y, _, _)) = at(&e) else { return };
        let Some(current) = lane.get_untracked() else {
            return;
        };
        let (lane_doc, scale) = &*current;
        e.prevent_default();
        if let Some(el) = canvas.get_untracked() {
            let _ = el.set_pointer_capture(e.pointer_id());
        }
        ws.selected.set(None);
        let ppf = ws.px_per_frame_untracked();
        let x0 = span.get_untracked().0;
        let hit = lane_doc.points.iter().position(|p| {
            let (px, py) = point_xy(p, scale, ppf, x0);
            (px - x).abs() <= HIT_PX && (py - y).abs() <= HIT_PX
        });
        if let Some(i) = hit {
            let frame = lane_doc.points[i].frame;
            let mut frames = selected.get_untracked();
            if e.shift_key() {
                if !frames.contains(&frame) {
                    frames.push(frame);
                }
            } else if !frames.contains(&frame) {
                frames = vec![frame];
            }
            lanes.selection.set(Some((id_down.clone(), frames.clone())));
            project::begin_step();
            drag.set(Some(LaneDrag::Points {
                x0: x,
                y0: y,
                anchor: frame,
                before: lane_doc.points.clone(),
                moved: frames,
            }));
            return;
        }
        if e.alt_key() {
            // The segment under the pointer: from the last point before it.
            let frame = ((x + x0) / ppf) as u64;
            if let Some(index) = lane_doc
                .points
                .iter()
                .rposition(|p| p.frame <= frame)
                .filter(|&i| i + 1 < lane_doc.points.len())
            {
                project::begin_step();
                drag.set(Some(LaneDrag::Bend {
                    y0: y,
                    index,
                    curve: lane_doc.points[index].curve,
                }));
            }
            return;
        }
        drag.set(Some(LaneDrag::Pending { x0: x, y0: y }));
    };

    let id_move = lane_id.clone();
    let on_move = move |e: web_sys::PointerEvent| {
        let Some((x, y, frame, normal)) = at(&e) else {
            return;
        };
        if let Some(current) = lane.get_untracked() {
            let scale = &current.1;
            let value = scale.value(normal);
            let at_frame = frame as u64;
            let on_curve = Curve::new(current.0.points.clone()).value_at(at_frame);
            let text = match (&drag.get_untracked(), on_curve) {
                (Some(LaneDrag::Points { .. }), _) | (None, None) => scale.format(value),
                (_, Some(v)) => scale.format(v),
                _ => scale.format(value),
            };
            hover.set(Some((x, text)));
        }
        let Some(d) = drag.get_untracked() else {
            return;
        };
        match d {
            LaneDrag::Pending { x0, y0 } | LaneDrag::Marquee { x0, y0, .. } => {
                if (x - x0).abs() > 3.0 || (y - y0).abs() > 3.0 {
                    drag.set(Some(LaneDrag::Marquee {
                        x0,
                        y0,
                        x1: x,
                        y1: y,
                    }));
                }
            }
            LaneDrag::Points {
                x0,
                y0,
                anchor,
                ref before,
                ref moved,
            } => {
                let Some(current) = lane.get_untracked() else {
                    return;
                };
                let scale = &current.1;
                let ppf = ws.px_per_frame_untracked();
                let target = (anchor as f64 + (x - x0) / ppf).max(0.0) as u64;
                let delta = ws.snapped(target) as i64 - anchor as i64;
                let lift = -(y - y0) / (LANE_H - 2.0 * PAD_PX);
                let (points, frames) = moved_points(before, moved, delta, lift, scale);
                let from = before
                    .iter()
                    .map(|p| p.frame)
                    .chain(points.iter().map(|p| p.frame))
                    .min()
                    .unwrap_or(0);
                let to = before
                    .iter()
                    .map(|p| p.frame)
                    .chain(points.iter().map(|p| p.frame))
                    .max()
                    .unwrap_or(0)
                    + 1;
                // The whole span the drag has touched is rewritten at once.
                let id = id_move.clone();
                project::gesture(|p, txn| {
                    p.write_automation(txn, &id, from, to, &points_in(&points, from, to))
                });
                lanes.selection.set(Some((id_move.clone(), frames)));
            }
            LaneDrag::Bend { y0, index, curve } => {
                let points = points_now();
                if index + 1 >= points.len() {
                    return;
                }
                let rising = points[index + 1].value >= points[index].value;
                let pull = ((y0 - y) / 12.0) as f32;
                let bent = (curve + if rising { -pull } else { pull }).clamp(-8.0, 8.0);
                let mut p = points[index];
                p.curve = bent;
                let id = id_move.clone();
                project::gesture(|d, txn| d.write_automation(txn, &id, p.frame, p.frame + 1, &[p]));
            }
        }
    };

    let id_up = lane_id.clone();
    let on_up = move |e: web_sys::PointerEvent| {
        let Some(d) = drag.get_untracked() else {
            return;
        };
        drag.set(None);
        let Some(current) = lane.get_untracked() else {
            return;
        };
        let (lane_doc, scale) = &*current;
        match d {
            LaneDrag::Pending { .. } => {
                let Some((_, _, frame, normal)) = at(&e) else {
                    return;
                };
                let point = Breakpoint {
                    frame: ws.snapped(frame as u64),
                    value: scale.value(normal),
                    curve: 0.0,
                };
                let id = id_up.clone();
                project::edit(|p, txn| {
                    p.write_automation(txn, &id, point.frame, point.frame + 1, &[point])
                });
                lanes
                    .selection
                    .set(Some((id_up.clone(), vec![point.frame])));
            }
            LaneDrag::Marquee { x0, y0, x1, y1 } => {
                let ppf = ws.px_per_frame_untracked();
                let left = span.get_untracked().0;
                let (xa, xb) = (x0.min(x1), x0.max(x1));
                let (ya, yb) = (y0.min(y1), y0.max(y1));
                let frames = lane_doc
                    .points
                    .iter()
                    .filter(|p| {
                        let (px, py) = point_xy(p, scale, ppf, left);
                        (xa..=xb).contains(&px) && (ya..=yb).contains(&py)
                    })
                    .map(|p| p.frame)
                    .collect();
                lanes.selection.set(Some((id_up.clone(), frames)));
            }
            LaneDrag::Points { .. } | LaneDrag::Bend { .. } => {}
        }
    };

    let id_dbl = lane_id.clone();
    let on_dblclick = move |e: web_sys::MouseEvent| {
        if !ws.can_edit() {
            return;
        }
        let Some(el) = canvas.get_untracked() else {
            return;
        };
        let x = f64::from(e.client_x()) - el.get_bounding_client_rect().left();
        let frame = ((x + span.get_untracked().0) / ws.px_per_frame_untracked()) as u64;
        let points = points_now();
        if let Some(mut p) = points.iter().rev().find(|p| p.frame <= frame).copied()
            && p.curve != 0.0
        {
            p.curve = 0.0;
            let id = id_dbl.clone();
            project::edit(|d, txn| d.write_automation(txn, &id, p.frame, p.frame + 1, &[p]));
        }
    };

    let label = move || lane.get().map(|l| l.1.label.clone()).unwrap_or_default();
    let key = move || {
        lane.get()
            .map(|l| target_key(&l.0.target))
            .unwrap_or_default()
    };
    let options = target_options(ws, strip.clone());
    let (id_target, id_hide, id_delete) = (lane_id.clone(), lane_id.clone(), lane_id.clone());
    view! {
        <div class="automation-lane" data-lane-id=lane_id.clone() data-target=key>
            <div class="lane-header">
                <select
                    class="lane-target"
                    aria-label="What this lane automates"
                    title=label
                    prop:value=key
                    disabled=move || !ws.can_edit()
                    on:change=move |e| {
                        if let Some(target) = target_from_key(&event_target_value(&e)) {
                            let id = id_target.clone();
                            project::edit(|p, txn| p.set_lane_target(txn, &id, &target));
                        }
                    }
                >
                    {options}
                </select>
                <output class="lane-value">{move || hover.get().map(|h| h.1).unwrap_or_default()}</output>
                <button
                    class="lane-hide"
                    title="Hide this lane (its automation still plays)"
                    on:click=move |_| lanes.hidden.update(|h| {
                        h.insert(id_hide.clone());
                    })
                >
                    "–"
                </button>
                <button
                    class="lane-delete"
                    title="Delete this lane and its automation"
                    disabled=move || !ws.can_edit()
                    on:click=move |_| {
                        let id = id_delete.clone();
                        project::edit(|p, txn| p.delete(txn, AUTOMATION, &id));
                    }
                >
                    "✕"
                </button>
            </div>
            <div class="lane-area" style=move || format!("width:{:.0}px", timeline_px.get())>
                <canvas
                    class="automation-canvas"
                    node_ref=canvas
                    style:left=move || format!("{:.0}px", span.get().0)
                    on:pointerdown=on_down
                    on:pointermove=on_move
                    on:pointerup=on_up
                    on:pointerleave=move |_| hover.set(None)
                    on:dblclick=on_dblclick
                ></canvas>
            </div>
        </div>
    }
}

/// The selected points (`moved`, by frame) of `before` shifted by `delta`
/// frames and `lift` of the lane's height; the result and the new frames
/// of the moved points. Points the moved ones land on are replaced.
fn moved_points(
    before: &[Breakpoint],
    moved: &[u64],
    delta: i64,
    lift: f64,
    scale: &Scale,
) -> (Vec<Breakpoint>, Vec<u64>) {
    let shifted: Vec<Breakpoint> = before
        .iter()
        .filter(|p| moved.contains(&p.frame))
        .map(|p| Breakpoint {
            frame: (p.frame as i64 + delta).max(0) as u64,
            value: scale.value(scale.normal(p.value) + lift),
            curve: p.curve,
        })
        .collect();
    let frames: Vec<u64> = shifted.iter().map(|p| p.frame).collect();
    let mut points: Vec<Breakpoint> = before
        .iter()
        .filter(|p| !moved.contains(&p.frame) && !frames.contains(&p.frame))
        .copied()
        .chain(shifted)
        .collect();
    points.sort_by_key(|p| p.frame);
    (points, frames)
}

fn points_in(points: &[Breakpoint], from: u64, to: u64) -> Vec<Breakpoint> {
    points
        .iter()
        .filter(|p| p.frame >= from && p.frame < to)
        .copied()
        .collect()
}

/// The lane height's fraction (0 bottom ..= 1 top) at canvas y.
fn normal_at(y: f64) -> f64 {
    ((LANE_H - 1.0 - PAD_PX - y) / (LANE_H - 1.0 - 2.0 * PAD_PX)).clamp(0.0, 1.0)
}

fn y_of(normal: f64) -> f64 {
    LANE_H - 1.0 - PAD_PX - normal * (LANE_H - 1.0 - 2.0 * PAD_PX)
}

/// A point's position on the canvas.
fn point_xy(p: &Breakpoint, scale: &Scale, ppf: f64, x0: f64) -> (f64, f64) {
    (p.frame as f64 * ppf - x0, y_of(scale.normal(p.value)))
}

struct Drawing {
    ppf: f64,
    x0: f64,
    width: f64,
}

/// The curve as the engine plays it (sampled every few pixels, so bends
/// show), its points, the selection and the marquee.
fn draw(
    ctx: &CanvasRenderingContext2d,
    d: &Drawing,
    points: &[Breakpoint],
    scale: &Scale,
    selected: &[u64],
    marquee: Option<(f64, f64, f64, f64)>,
) {
    ctx.set_fill_style_str("#1a1d22");
    ctx.fill_rect(0.0, 0.0, d.width, LANE_H - 1.0);
    // The control's own setting when there is no curve yet.
    ctx.set_stroke_style_str(if points.is_empty() {
        "#566070"
    } else {
        "#e0a030"
    });
    ctx.set_line_width(1.5);
    ctx.begin_path();
    let curve = Curve::new(points.to_vec());
    let mut x = 0.0;
    while x <= d.width {
        let frame = ((x + d.x0) / d.ppf).max(0.0) as u64;
        let v = curve.value_at(frame).unwrap_or(scale.current);
        let y = y_of(scale.normal(v));
        if x == 0.0 {
            ctx.move_to(x, y);
        } else {
            ctx.line_to(x, y);
        }
        x += 2.0;
    }
    ctx.stroke();
    for p in points {
        let (px, py) = point_xy(p, scale, d.ppf, d.x0);
        if px < -HIT_PX || px > d.width + HIT_PX {
            continue;
        }
        let on = selected.contains(&p.frame);
        ctx.set_fill_style_str(if on { "#ffffff" } else { "#e0a030" });
        ctx.fill_rect(px - 3.5, py - 3.5, 7.0, 7.0);
    }
    if let Some((x0, y0, x1, y1)) = marquee {
        ctx.set_fill_style_str("rgba(79,163,224,0.2)");
        ctx.fill_rect(x0.min(x1), y0.min(y1), (x1 - x0).abs(), (y1 - y0).abs());
        ctx.set_stroke_style_str("rgba(79,163,224,0.8)");
        ctx.set_line_width(1.0);
        ctx.stroke_rect(x0.min(x1), y0.min(y1), (x1 - x0).abs(), (y1 - y0).abs());
    }
}

/// An `<option>` for everything on `strip` a lane can automate.
/// The options are rebuilt only when the targets change (a device or send
/// added, say), not on every change of the document.
fn target_options(ws: Workspace, strip: String) -> impl Fn() -> AnyView + Send + Sync + 'static {
    let options = Memo::new(move |_| {
        ws.project.with(|p| {
            p.as_ref()
                .map(|p| targets_of(p, &strip))
                .unwrap_or_default()
                .into_iter()
                .map(|(t, s)| (target_key(&t), s.label))
                .collect::<Vec<_>>()
        })
    });
    move || {
        options.with(|o| {
            o.iter()
                .map(|(key, label)| view! { <option value=key.clone()>{label.clone()}</option> })
                .collect_view()
                .into_any()
        })
    }
}

/// The menu in a strip's header that opens a lane: "Show automation" for
/// any of its parameters.
#[component]
pub fn ShowAutomation(strip: String) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let lanes = ws.lanes;
    let options = target_options(ws, strip.clone());
    view! {
        <select
            class="show-automation"
            title="Show automation"
            aria-label="Show automation"
            prop:value=""
            on:change=move |e| {
                let select: web_sys::HtmlSelectElement = event_target(&e);
                if let (Some(target), Some(p)) = (target_from_key(&select.value()), project::snapshot()) {
                    lanes.show(&p, &strip, &target);
                }
                select.set_value("");
            }
        >
            <option value="" disabled=true>"A"</option>
            {options}
        </select>
    }
}
