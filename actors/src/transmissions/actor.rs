//! One enabled transmission: its writers' latest frames, arbitration between them, and the
//! selected frame on a latest-wins channel for whoever shows it (publishers, stills, JSMpeg).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::arbitration::{Arbiter, ArbitrationConfig, Frame, Lifecycle};
use crate::bypass::BypassSource;
use crate::camera_probe::CameraStream;
use crate::engine::EngineMsg;
use crate::engine::relays::{PathSources, Relays};
use crate::frames::Placeholders;
use crate::model::transmission::{Protocol, Transmission};
use crate::publishers::actor::{DEFAULT_STALL_AFTER, PULL_STALL_AFTER};
use crate::publishers::target::PublisherInput;
use crate::publishers::{
    OutputTarget, PublisherActor, PublisherArgs, PublisherMsg, PublisherStatus,
};
use crate::supervision::observe::{ChildEntry, Observation};
use crate::supervision::restart::{RestartPolicy, RestartTracker};
use crate::supervision::{Liveness, LivenessPolicy, ask};

const STATUS_DEADLINE: Duration = Duration::from_millis(500);
/// A publisher gets this long to stop FFmpeg (SIGINT, grace, SIGKILL) when its transmission stops.
const PUBLISHER_STOP_DEADLINE: Duration = Duration::from_secs(8);
/// `publisher_state` of an output the engine serves by pulling the camera (no publisher).
pub const RELAYED: &str = "relayed";

/// The frame outputs should show now, shared (never copied).
#[derive(Debug, Clone)]
pub struct SelectedFrame {
    pub writer_id: String,
    pub frame: Frame,
}

pub enum TransmissionMsg {
    /// The stored configuration or its bypass camera changed (the supervisor only sends real
    /// changes).
    Update(Arc<Transmission>, Option<BypassSource>),
    /// A writer's open/update, with a new frame or keeping its last one.
    WriterUpdate {
        writer_id: String,
        lifecycle: Lifecycle,
        priority: i64,
        frame: Option<Frame>,
        reply: RpcReplyPort<()>,
    },
    WriterClose {
        writer_id: String,
        reply: RpcReplyPort<()>,
    },
    Health(RpcReplyPort<TransmissionHealth>),
    /// The outputs that should be encoding now (from the demand actor, via the supervisor).
    SetDemand(BTreeSet<String>),
    /// A failed publisher's backoff has elapsed.
    RestartPublisher(String),
    /// Runtime state of every enabled output.
    Outputs(RpcReplyPort<Vec<OutputRuntime>>),
    /// The selected frame, latest wins: a slow reader skips frames, it never queues them.
    SubscribeSelected(RpcReplyPort<watch::Receiver<Option<SelectedFrame>>>),
    /// What a viewer outside the publishers (JSMpeg, stills) shows: the selection, the
    /// placeholder colour, and the bypass camera when the frame path is skipped.
    Viewing(RpcReplyPort<Viewing>),
    /// What `still.jpg` shows: the last frame shown (unless older than the placeholder delay)
    /// or the placeholder at `size`, and the cache that encodes each frame once.
    Still((u32, u32), RpcReplyPort<Still>),
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
    /// Time to check that every publisher still answers.
    CheckLiveness,
    /// ffprobe's answer about the bypassed camera at `url`.
    CameraProbed {
        url: String,
        result: Result<CameraStream, String>,
    },
}

crate::supervised_messages!(TransmissionMsg);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WriterHealth {
    pub writer_id: String,
    pub lifecycle: Lifecycle,
    pub priority: i64,
    pub has_frame: bool,
    pub frame_age_seconds: Option<f64>,
    pub updated_age_seconds: f64,
}

/// What `GET /runtime/health` shows for a transmission.
#[derive(Debug, Clone, Serialize)]
pub struct TransmissionHealth {
    pub transmission_id: String,
    pub arbitration: crate::model::transmission::Arbitration,
    /// The writer arbitration selects now (live), if any.
    pub active_writer_id: Option<String>,
    /// The writer whose frame is shown: the active one, or the last one shown when none is.
    pub selected_writer_id: Option<String>,
    /// `no_active_writer` (showing the last frame), `no_frame` (nothing to show), or null.
    pub fallback_reason: Option<&'static str>,
    pub fallback_active: bool,
    pub selected_frame_age_seconds: Option<f64>,
    /// Age of the newest frame any writer sent.
    pub last_incoming_frame_age_seconds: Option<f64>,
    /// Wall-clock time of the frame shown last.
    pub last_live_frame_at_unix: Option<f64>,
    /// Frames writers delivered since this actor started.
    pub frames_ingested: u64,
    pub writers: Vec<WriterHealth>,
}

/// One enabled output at runtime, as `GET /runtime/outputs` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct OutputRuntime {
    pub output_key: String,
    pub transmission_id: String,
    pub output_id: String,
    pub protocol: Protocol,
    pub target: OutputTarget,
    /// The demand actor wants it encoding.
    pub encoding_wanted: bool,
    /// `running`, `backoff` (failed, waiting to restart) or `stopped`.
    pub publisher_state: &'static str,
    pub restarts: u32,
    pub last_error: Option<String>,
    pub publisher: Option<PublisherStatus>,
}

pub struct Viewing {
    pub selected: watch::Receiver<Option<SelectedFrame>>,
    pub placeholder: crate::model::transmission::Placeholder,
    pub bypass: Option<BypassSource>,
}

pub struct Still {
    pub frame: Frame,
    /// `live` or `placeholder`.
    pub state: &'static str,
    pub age_seconds: Option<f64>,
    pub cache: crate::stills::StillCache,
}

impl Still {
    /// The placeholder at `size`, for a transmission that shows nothing (disabled).
    pub fn placeholder(size: (u32, u32), colour: crate::model::transmission::Placeholder) -> Still {
        Still {
            frame: Placeholders::default().get(size, colour),
            state: "placeholder",
            age_seconds: None,
            cache: crate::stills::StillCache::default(),
        }
    }
}

pub struct TransmissionArgs {
    pub config: Arc<Transmission>,
    /// The camera its publishers pull directly, when a simple camera pipeline feeds it.
    pub bypass: Option<BypassSource>,
    pub logs_dir: PathBuf,
    pub placeholders: Placeholders,
    pub demanded: BTreeSet<String>,
    /// Where this transmission records the outputs the engine relays.
    pub relays: Relays,
}

impl TransmissionArgs {
    /// A transmission on its own (no demand, so no publisher): for the frame path alone.
    pub fn without_demand(config: Arc<Transmission>) -> TransmissionArgs {
        TransmissionArgs {
            config,
            bypass: None,
            logs_dir: std::env::temp_dir(),
            placeholders: Placeholders::default(),
            demanded: BTreeSet::new(),
            relays: Relays::default(),
        }
    }
}

pub struct TransmissionActor;

/// A publisher slot per enabled output; the actor exists only while the output is demanded.
struct PublisherChild {
    actor: Option<ActorRef<PublisherMsg>>,
    target: OutputTarget,
    tracker: RestartTracker,
    /// Failed and waiting out its backoff.
    in_backoff: bool,
}

/// What the bypassed camera sends, asked once per camera URL and again after a pull fails (the
/// camera may have been reconfigured). Publishers of a bypassed transmission wait for the answer
/// (at most `camera_probe::PROBE_TIMEOUT`) so they start relaying or encoding, not both in turn.
enum CameraProbe {
    NoCamera,
    /// The task dies with the actor's state, and its ffprobe with it.
    Probing {
        url: String,
        _task: tokio_util::task::AbortOnDropHandle<()>,
    },
    Known {
        url: String,
        result: Result<CameraStream, String>,
    },
}

impl CameraProbe {
    fn url(&self) -> Option<&str> {
        match self {
            CameraProbe::NoCamera => None,
            CameraProbe::Probing { url, .. } | CameraProbe::Known { url, .. } => Some(url),
        }
    }
}

pub struct TransmissionState {
    liveness: Liveness,
    /// Runs only while a publisher runs: an idle transmission wakes for nothing.
    liveness_timer: Option<tokio::task::JoinHandle<()>>,
    config: Arc<Transmission>,
    bypass: Option<BypassSource>,
    camera: CameraProbe,
    logs_dir: PathBuf,
    placeholders: Placeholders,
    demanded: BTreeSet<String>,
    relays: Relays,
    publishers: BTreeMap<String, PublisherChild>,
    stills: crate::stills::StillCache,
    /// One resize per (frame, size) for all of this transmission's publishers.
    resizes: crate::frames::SharedResizes,
    arbiter: Arbiter,
    /// Last frame shown and when it arrived, kept when its writer stops being eligible.
    last_shown: Option<(SelectedFrame, Instant)>,
    /// When any writer last sent a frame.
    last_incoming_at: Option<Instant>,
    /// Frames writers delivered since this actor started.
    frames_ingested: u64,
    /// The live selection (`None` while no writer is eligible).
    selected: watch::Sender<Option<SelectedFrame>>,
}

impl TransmissionState {
    /// Re-arbitrates and remembers what is shown, so it can still be shown when no writer is
    /// eligible any more.
    fn refresh(&mut self, now: Instant) {
        self.arbiter.select(now);
        let current = self
            .arbiter
            .selected_frame()
            .map(|(id, frame)| SelectedFrame {
                writer_id: id.to_string(),
                frame: frame.clone(),
            });
        if let Some(shown) = &current {
            let frame_at = self.arbiter.writers()[&shown.writer_id]
                .frame_at
                .unwrap_or(now);
            self.last_shown = Some((shown.clone(), frame_at));
        }
        // Wake readers only for a different writer or a new frame (same bytes = same frame).
        self.selected.send_if_modified(|published| {
            let changed = match (published.as_ref(), current.as_ref()) {
                (Some(old), Some(new)) => {
                    old.writer_id != new.writer_id
                        || old.frame.data.as_ptr() != new.frame.data.as_ptr()
                }
                (None, None) => false,
                _ => true,
            };
            if changed {
                *published = current;
            }
            changed
        });
    }

    fn health(&mut self, now: Instant) -> TransmissionHealth {
        self.arbiter.evict(now);
        self.refresh(now);
        let active = self.arbiter.selected_frame().map(|(id, _)| id.to_string());
        let age = |at: Instant| now.saturating_duration_since(at).as_secs_f64();
        let (selected, fallback, frame_age) = match (&active, &self.last_shown) {
            (Some(id), Some((_, at))) => (Some(id.clone()), None, Some(age(*at))),
            (None, Some((shown, at))) => (
                Some(shown.writer_id.clone()),
                Some("no_active_writer"),
                Some(age(*at)),
            ),
            _ => (None, Some("no_frame"), None),
        };
        TransmissionHealth {
            transmission_id: self.config.id.clone(),
            arbitration: self.arbiter.mode,
            active_writer_id: active,
            selected_writer_id: selected,
            fallback_reason: fallback,
            fallback_active: fallback.is_some(),
            selected_frame_age_seconds: frame_age,
            last_incoming_frame_age_seconds: self.last_incoming_at.map(age),
            last_live_frame_at_unix: frame_age.map(|age| crate::unix_now() - age),
            frames_ingested: self.frames_ingested,
            writers: self
                .arbiter
                .writers()
                .iter()
                .map(|(id, record)| WriterHealth {
                    writer_id: id.clone(),
                    lifecycle: record.lifecycle,
                    priority: record.priority,
                    has_frame: record.frame.is_some(),
                    frame_age_seconds: record.frame_at.map(age),
                    updated_age_seconds: age(record.updated_at),
                })
                .collect(),
        }
    }
}

impl Actor for TransmissionActor {
    type Msg = TransmissionMsg;
    type State = TransmissionState;
    type Arguments = TransmissionArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<TransmissionMsg>,
        args: TransmissionArgs,
    ) -> Result<TransmissionState, ActorProcessingErr> {
        let config = args.config;
        let liveness = Liveness::new(LivenessPolicy::CHILD);
        Ok(TransmissionState {
            liveness,
            liveness_timer: None,
            arbiter: Arbiter::new(config.arbitration, ArbitrationConfig::default()),
            config,
            bypass: args.bypass,
            camera: CameraProbe::NoCamera,
            logs_dir: args.logs_dir,
            placeholders: args.placeholders,
            demanded: args.demanded,
            relays: args.relays,
            publishers: BTreeMap::new(),
            stills: crate::stills::StillCache::default(),
            resizes: crate::frames::SharedResizes::default(),
            last_shown: None,
            last_incoming_at: None,
            frames_ingested: 0,
            selected: watch::channel(None).0,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<TransmissionMsg>,
        state: &mut TransmissionState,
    ) -> Result<(), ActorProcessingErr> {
        probe_camera(&myself, state, false);
        sync_publishers(&myself, state).await;
        arm_liveness(&myself, state);
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<TransmissionMsg>,
        state: &mut TransmissionState,
    ) -> Result<(), ActorProcessingErr> {
        let stopping = std::mem::take(&mut state.publishers)
            .into_values()
            .filter_map(|child| child.actor)
            .map(|actor| async move {
                let _ = actor
                    .stop_and_wait(None, Some(PUBLISHER_STOP_DEADLINE))
                    .await;
            });
        futures_util::future::join_all(stopping).await;
        record_relays(state, PathSources::new());
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<TransmissionMsg>,
        event: ractor::SupervisionEvent,
        state: &mut TransmissionState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) = crate::supervision::child_exit(event, "publisher stopped")
        else {
            return Ok(());
        };
        // A publisher stopped on purpose was already detached from its slot and is ignored.
        let failed = state.publishers.iter_mut().find(|(_, child)| {
            child
                .actor
                .as_ref()
                .is_some_and(|a| a.get_id() == cell.get_id())
        });
        if let Some((output_id, child)) = failed {
            let pulled = matches!(child.target.input, PublisherInput::RtspPull { .. });
            child.actor = None;
            child.in_backoff = true;
            let delay = child.tracker.failed(Instant::now(), reason.clone());
            tracing::warn!(output = %child.target.output_key, %reason, ?delay, "publisher failed; restarting");
            let output_id = output_id.clone();
            myself.send_after(delay, move || TransmissionMsg::RestartPublisher(output_id));
            if pulled {
                probe_camera(&myself, state, true);
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<TransmissionMsg>,
        msg: TransmissionMsg,
        state: &mut TransmissionState,
    ) -> Result<(), ActorProcessingErr> {
        let now = Instant::now();
        match msg {
            TransmissionMsg::Update(config, bypass) => {
                state.arbiter.mode = config.arbitration;
                state.config = config;
                state.bypass = bypass;
                probe_camera(&myself, state, false);
                state.refresh(now);
                sync_publishers(&myself, state).await;
            }
            TransmissionMsg::SetDemand(demanded) => {
                if demanded != state.demanded {
                    state.demanded = demanded;
                    sync_publishers(&myself, state).await;
                }
            }
            TransmissionMsg::RestartPublisher(output_id) => {
                if let Some(child) = state.publishers.get_mut(&output_id) {
                    if child.in_backoff {
                        child.in_backoff = false;
                        child.tracker.restarted(now);
                        sync_publishers(&myself, state).await;
                    }
                }
            }
            TransmissionMsg::Outputs(reply) => {
                let pending = outputs(state);
                // Publishers answer off this mailbox, so a busy one never delays frames.
                tokio::spawn(async move {
                    let mut outputs = Vec::with_capacity(pending.len());
                    for (mut output, actor) in pending {
                        if let Some(actor) = actor {
                            output.publisher = ask(&actor, PublisherMsg::Status, STATUS_DEADLINE)
                                .await
                                .ok();
                        }
                        outputs.push(output);
                    }
                    let _ = reply.send(outputs);
                });
            }
            TransmissionMsg::WriterUpdate {
                writer_id,
                lifecycle,
                priority,
                frame,
                reply,
            } => {
                if frame.is_some() {
                    state.last_incoming_at = Some(now);
                    state.frames_ingested += 1;
                }
                let evicted = state
                    .arbiter
                    .update(now, &writer_id, lifecycle, priority, frame);
                if !evicted.excess.is_empty() {
                    tracing::warn!(
                        transmission = %state.config.id,
                        evicted = ?evicted.excess,
                        "more writers than allowed; evicted the least recently updated"
                    );
                }
                state.refresh(now);
                let _ = reply.send(());
            }
            TransmissionMsg::WriterClose { writer_id, reply } => {
                state.arbiter.close(now, &writer_id);
                state.refresh(now);
                let _ = reply.send(());
            }
            TransmissionMsg::Health(reply) => {
                let _ = reply.send(state.health(now));
            }
            TransmissionMsg::Still(size, reply) => {
                state.refresh(now);
                let recent = state.last_shown.as_ref().filter(|(_, at)| {
                    now.saturating_duration_since(*at) < crate::publishers::actor::PLACEHOLDER_AFTER
                });
                let still = match recent {
                    Some((shown, at)) => Still {
                        frame: shown.frame.clone(),
                        state: "live",
                        age_seconds: Some(now.saturating_duration_since(*at).as_secs_f64()),
                        cache: state.stills.clone(),
                    },
                    None => Still {
                        frame: state.placeholders.get(size, state.config.placeholder),
                        state: "placeholder",
                        age_seconds: None,
                        cache: state.stills.clone(),
                    },
                };
                let _ = reply.send(still);
            }
            TransmissionMsg::Viewing(reply) => {
                let _ = reply.send(Viewing {
                    selected: state.selected.subscribe(),
                    placeholder: state.config.placeholder,
                    bypass: state.bypass.clone(),
                });
            }
            TransmissionMsg::Fault(fault) => fault.strike().await?,
            TransmissionMsg::SubscribeSelected(reply) => {
                let _ = reply.send(state.selected.subscribe());
            }
            TransmissionMsg::CheckLiveness => state.liveness.check(publishers(state)),
            TransmissionMsg::CameraProbed { url, result } => {
                // An answer about a camera this transmission no longer pulls is dropped.
                if matches!(&state.camera, CameraProbe::Probing { url: asked, .. } if *asked == url)
                {
                    match &result {
                        Ok(stream) => {
                            tracing::info!(transmission = %state.config.id, codec = %stream.codec,
                                           width = stream.width, height = stream.height,
                                           fps = ?stream.fps, "camera probed")
                        }
                        Err(why) => {
                            tracing::warn!(transmission = %state.config.id, %why, "camera probe failed; encoding")
                        }
                    }
                    state.camera = CameraProbe::Known { url, result };
                    sync_publishers(&myself, state).await;
                }
            }
            TransmissionMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
            }
            TransmissionMsg::Observe(reply) => {
                let _ = reply.send(Observation {
                    pid: None,
                    state: observed_state(state),
                    children: publishers(state),
                });
            }
        }
        arm_liveness(&myself, state);
        Ok(())
    }
}

fn arm_liveness(myself: &ActorRef<TransmissionMsg>, state: &mut TransmissionState) {
    // Every enabled output has an entry; only running publishers can be checked.
    let wanted = state.publishers.values().any(|child| child.actor.is_some());
    if wanted && state.liveness_timer.is_none() {
        state.liveness_timer =
            Some(myself.send_interval(state.liveness.every(), || TransmissionMsg::CheckLiveness));
    } else if !wanted {
        if let Some(timer) = state.liveness_timer.take() {
            timer.abort();
        }
    }
}

/// The publishers as the snapshot and the liveness check see them.
fn publishers(state: &TransmissionState) -> Vec<ChildEntry> {
    state
        .publishers
        .iter()
        .map(|(output_id, child)| {
            let mut entry = ChildEntry::supervised(
                format!("output:{output_id}"),
                "publisher",
                child.actor.clone(),
                &child.tracker,
            );
            // Without an actor a publisher is either waiting out a backoff or not demanded.
            if !child.in_backoff {
                entry.status_without_actor = "stopped";
            }
            entry
        })
        .collect()
}

/// Asks ffprobe about the bypassed camera when it is new, or again when `again` (a pull failed)
/// and no probe is under way. Only RTSP cameras are probed; the demo camera is known without.
fn probe_camera(myself: &ActorRef<TransmissionMsg>, state: &mut TransmissionState, again: bool) {
    let Some(url) = state.bypass.as_ref().map(|camera| camera.url.clone()) else {
        state.camera = CameraProbe::NoCamera;
        return;
    };
    let fresh = state.camera.url() != Some(url.as_str());
    let settled = matches!(state.camera, CameraProbe::Known { .. });
    if !(fresh || (again && settled)) {
        return;
    }
    if !url.starts_with("rtsp://") && !url.starts_with("rtsps://") {
        let result = crate::camera_probe::generated(&url)
            .ok_or_else(|| "only RTSP cameras are relayed".to_string());
        state.camera = CameraProbe::Known { url, result };
        return;
    }
    let reply_to = myself.clone();
    let asked = url.clone();
    let task = tokio::spawn(async move {
        let result = crate::camera_probe::probe(&asked).await;
        let _ = reply_to.send_message(TransmissionMsg::CameraProbed { url: asked, result });
    });
    state.camera = CameraProbe::Probing {
        url,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    };
}

/// Brings publishers in line with the enabled outputs and the demand: a demanded output gets a
/// publisher (unless it waits out a backoff), an undemanded one loses it, and a publisher whose
/// output changed is replaced.
async fn sync_publishers(myself: &ActorRef<TransmissionMsg>, state: &mut TransmissionState) {
    let probing = matches!(state.camera, CameraProbe::Probing { .. });
    let targets: Vec<OutputTarget> = state
        .config
        .enabled_outputs()
        .map(|output| {
            let target = OutputTarget::resolve(&state.config, output);
            let Some(camera) = &state.bypass else {
                return target;
            };
            let target = target.pulling(&camera.url, camera.fps_limit);
            match &state.camera {
                CameraProbe::Known { result, .. } => target.for_camera(
                    output,
                    result.as_ref().map_err(String::as_str),
                    camera.fps_limit,
                ),
                CameraProbe::Probing { .. } | CameraProbe::NoCamera => target,
            }
        })
        .collect();
    record_relays(
        state,
        targets
            .iter()
            .filter_map(|t| Some((t.engine_path.clone(), t.relayed_camera()?.to_string())))
            .collect(),
    );
    let enabled: BTreeSet<&str> = targets.iter().map(|t| t.output_id.as_str()).collect();
    state.publishers.retain(|output_id, child| {
        let keep = enabled.contains(output_id.as_str());
        if !keep {
            stop_publisher(child);
        }
        keep
    });
    let now = Instant::now();
    for target in targets {
        let child = state
            .publishers
            .entry(target.output_id.clone())
            .or_insert_with(|| PublisherChild {
                actor: None,
                target: target.clone(),
                tracker: RestartTracker::new(RestartPolicy::process(), now),
                in_backoff: false,
            });
        if child.target != target {
            stop_publisher(child);
            child.target = target;
        }
        // A relayed output's readers are served by the engine pulling the camera.
        let wanted = state.demanded.contains(&child.target.output_id)
            && child.target.relayed_camera().is_none();
        if !wanted {
            stop_publisher(child);
            child.in_backoff = false;
        } else if child.actor.is_none() && !child.in_backoff && !probing {
            let args = PublisherArgs {
                target: child.target.clone(),
                selected: state.selected.subscribe(),
                placeholders: state.placeholders.clone(),
                resizes: state.resizes.clone(),
                logs_dir: state.logs_dir.clone(),
                stall_after: match child.target.input {
                    PublisherInput::RawvideoPipe => DEFAULT_STALL_AFTER,
                    PublisherInput::RtspPull { .. } => PULL_STALL_AFTER,
                },
            };
            // Unnamed and linked: a failure reaches `handle_supervisor_evt` as a restartable event.
            // One publisher that cannot even be spawned backs off alone; its siblings go on.
            match Actor::spawn_linked(None, PublisherActor, args, myself.get_cell()).await {
                Ok((actor, _)) => child.actor = Some(actor),
                Err(err) => {
                    child.in_backoff = true;
                    let delay = child.tracker.failed(now, err.to_string());
                    tracing::warn!(output = %child.target.output_key, %err, ?delay, "publisher did not start; retrying");
                    let output_id = child.target.output_id.clone();
                    myself.send_after(delay, move || TransmissionMsg::RestartPublisher(output_id));
                }
            }
        }
    }
}

/// Records this transmission's relayed paths and, when they changed, has the engine apply them.
fn record_relays(state: &TransmissionState, relayed: PathSources) {
    if state.relays.set(&state.config.id, relayed) {
        if let Some(engine) = crate::engine::engine() {
            let _ = engine.send_message(EngineMsg::RelaysChanged);
        }
    }
}

/// Detaches the publisher and lets it stop FFmpeg on its own time, so this mailbox (which
/// carries frames) never waits for a process to exit.
fn stop_publisher(child: &mut PublisherChild) {
    if let Some(actor) = child.actor.take() {
        actor.stop(Some("no longer demanded".into()));
    }
}

type PendingOutput = (OutputRuntime, Option<ActorRef<PublisherMsg>>);

fn outputs(state: &TransmissionState) -> Vec<PendingOutput> {
    let config = &state.config;
    config
        .enabled_outputs()
        .filter_map(|output| {
            let child = state.publishers.get(&output.id)?;
            let publisher_state = if child.actor.is_some() {
                "running"
            } else if child.target.relayed_camera().is_some() {
                RELAYED
            } else if child.in_backoff {
                "backoff"
            } else {
                "stopped"
            };
            Some((
                OutputRuntime {
                    output_key: child.target.output_key.clone(),
                    transmission_id: config.id.clone(),
                    output_id: output.id.clone(),
                    protocol: output.protocol,
                    target: child.target.clone(),
                    encoding_wanted: state.demanded.contains(&output.id),
                    publisher_state,
                    restarts: child.tracker.restarts,
                    last_error: child.tracker.last_error.clone(),
                    publisher: None,
                },
                child.actor.clone(),
            ))
        })
        .collect()
}

fn observed_state(state: &TransmissionState) -> Value {
    let config = &state.config;
    let outputs: Vec<Value> = config
        .enabled_outputs()
        .map(|output| {
            json!({
                "output_id": output.id,
                "protocol": output.protocol,
                "engine_path": config.engine_path(output),
            })
        })
        .collect();
    let writers: Vec<Value> = state
        .arbiter
        .writers()
        .iter()
        .map(|(id, record)| json!({"writer_id": id, "lifecycle": record.lifecycle, "priority": record.priority}))
        .collect();
    json!({
        "transmission_id": config.id,
        "name": config.name,
        "path": config.path,
        "arbitration": config.arbitration,
        "bypass_pipeline": state.bypass.as_ref().map(|b| &b.pipeline),
        "camera_stream": match &state.camera {
            CameraProbe::NoCamera => Value::Null,
            CameraProbe::Probing { .. } => json!("probing"),
            CameraProbe::Known { result: Ok(stream), .. } => json!(stream),
            CameraProbe::Known { result: Err(why), .. } => json!({"error": why}),
        },
        "outputs": outputs,
        "writers": writers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervision::ask;
    use bytes::Bytes;
    use std::time::Duration;

    const DEADLINE: Duration = Duration::from_secs(5);

    fn frame(fill: u8) -> Frame {
        Frame::bgr24(Bytes::from(vec![fill; 320 * 240 * 3]), 320, 240).unwrap()
    }

    async fn push(actor: &ActorRef<TransmissionMsg>, writer: &str, frame: Frame) {
        ask(
            actor,
            |reply| TransmissionMsg::WriterUpdate {
                writer_id: writer.into(),
                lifecycle: Lifecycle::Update,
                priority: 0,
                frame: Some(frame),
                reply,
            },
            DEADLINE,
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_slow_reader_sees_only_the_latest_frame_and_nothing_is_queued() {
        let config: Transmission =
            serde_json::from_value(json!({"id": "t", "path": "t", "arbitration": "latest"}))
                .unwrap();
        let args = TransmissionArgs::without_demand(Arc::new(config));
        let (actor, _) = Actor::spawn(None, TransmissionActor, args).await.unwrap();
        let mut selected = ask(&actor, TransmissionMsg::SubscribeSelected, DEADLINE)
            .await
            .unwrap();
        assert!(selected.borrow().is_none());

        // 200 frames while the reader looks away: it is woken once and sees the last one.
        let frames: Vec<Frame> = (0..200).map(|n| frame(n as u8)).collect();
        for f in &frames {
            push(&actor, "w", f.clone()).await;
        }
        assert!(selected.has_changed().unwrap());
        let seen = selected.borrow_and_update().clone().expect("a selection");
        assert_eq!(seen.writer_id, "w");
        assert_eq!(
            seen.frame.data.as_ptr(),
            frames[199].data.as_ptr(),
            "the latest frame, not a copy"
        );
        assert!(!selected.has_changed().unwrap(), "one value, not a queue");

        // Closing the only writer withdraws the selection.
        ask(
            &actor,
            |reply| TransmissionMsg::WriterClose {
                writer_id: "w".into(),
                reply,
            },
            DEADLINE,
        )
        .await
        .unwrap();
        assert!(selected.has_changed().unwrap());
        assert!(selected.borrow_and_update().is_none());
        actor.stop(None);
    }
}
