//! The pipelines supervisor (registered `pipelines`): runs the stored pipelines this service can
//! run. A pipeline here is `camera.source -> [core.fps_reducer ->] stream.publish_video`: it runs
//! as one camera reader feeding its transmission as writer `<pipeline>:<publish node>`, unless the
//! transmission's publishers pull the camera themselves (bypass), in which case nothing runs here.
//! Demand-driven pipelines (the implicit camera ones) read only while an output of their
//! transmission encodes. Other graphs are kept and reported as not runnable, naming the operator.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use super::camera_reader::{CameraReaderActor, CameraReaderArgs, CameraReaderMsg};
use crate::bypass::{bypass_sources, simple_chain, source_url};
use crate::model::camera::redact_url;
use crate::model::settings::StreamingSettings;
use crate::publishers::OutputTarget;
use crate::reconcile::event_gates;
use crate::store::{ActorSubscriber, Revision};
use crate::supervision::observe::{ChildEntry, Observation};
use crate::supervision::restart::{RestartPolicy, RestartTracker};
use crate::supervision::{Liveness, LivenessPolicy, ask};
use crate::transmissions::{TransmissionsMsg, transmissions};

pub const PIPELINES: &str = "pipelines";
const LOOKUP_DEADLINE: Duration = Duration::from_secs(2);
const READER_STOP_DEADLINE: Duration = Duration::from_secs(12);
/// A camera that sends nothing for this long is reconnected.
const STALL_AFTER: Duration = Duration::from_secs(10);

/// What a pipeline does in this service, as `GET /runtime/pipelines` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelinePlan {
    pub pipeline_name: String,
    pub enabled: bool,
    pub processing_server_id: String,
    pub transmission_id: Option<String>,
    pub writer_id: Option<String>,
    /// `reader` (a camera reader feeds the transmission), `bypass` (its publishers pull the
    /// camera), `not_runnable`, `disabled` or `remote`.
    pub mode: &'static str,
    pub reason: Option<String>,
    pub source: Option<String>,
    pub demand_driven: bool,
    /// `event_gated` when an upstream node stops frames between events, else `continuous`.
    pub stream_behavior: &'static str,
    pub event_gated: bool,
    /// The original's reason codes (`motion_gate_idle_filter`, `vision_detect_filter`, ...).
    pub event_gate_reasons: Vec<&'static str>,
    pub warnings: Vec<&'static str>,
    #[serde(skip)]
    reader: Option<ReaderPlan>,
}

#[derive(Debug, Clone, PartialEq)]
struct ReaderPlan {
    url: String,
    size: (u32, u32),
    fps: f64,
    priority: i64,
}

/// What every stored pipeline does here (pure).
pub fn plans(doc: &StreamingSettings) -> Vec<PipelinePlan> {
    let bypassed = bypass_sources(doc);
    doc.pipelines
        .iter()
        .map(|pipeline| {
            let mut plan = PipelinePlan {
                pipeline_name: pipeline.name.clone(),
                enabled: pipeline.enabled,
                processing_server_id: pipeline.processing_server_id.clone(),
                transmission_id: None,
                writer_id: None,
                mode: "not_runnable",
                reason: None,
                source: None,
                demand_driven: pipeline
                    .graph
                    .meta
                    .get("streaming")
                    .and_then(|s| s.get("demand_driven"))
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false),
                stream_behavior: "continuous",
                event_gated: false,
                event_gate_reasons: Vec::new(),
                warnings: Vec::new(),
                reader: None,
            };
            for node in pipeline
                .graph
                .nodes
                .iter()
                .filter(|n| n.operator == crate::model::pipeline::PUBLISH_VIDEO)
            {
                for (reason, warning) in event_gates(&pipeline.graph, &node.id) {
                    plan.event_gate_reasons.push(reason);
                    plan.warnings.push(warning);
                }
            }
            if !plan.event_gate_reasons.is_empty() {
                plan.event_gated = true;
                plan.stream_behavior = "event_gated";
            }
            if !pipeline.enabled {
                plan.mode = "disabled";
                return plan;
            }
            if pipeline.processing_server_id != "local" {
                plan.mode = "remote";
                return plan;
            }
            if let Some(operator) = pipeline.unsupported_operators().first() {
                plan.reason = Some(format!(
                    "operator '{operator}' does not run in this service"
                ));
                return plan;
            }
            let Some(chain) = simple_chain(pipeline) else {
                plan.reason = Some(
                    "the graph is not camera.source -> [core.fps_reducer ->] stream.publish_video"
                        .into(),
                );
                return plan;
            };
            plan.writer_id = Some(format!("{}:{}", pipeline.name, chain.publish.id));
            let Some(transmission) = chain
                .publish
                .text("transmission_id")
                .and_then(|id| doc.transmission(id))
            else {
                plan.reason = Some("stream.publish_video names no existing transmission".into());
                return plan;
            };
            plan.transmission_id = Some(transmission.id.clone());
            let Some(url) = source_url(doc, chain.source) else {
                plan.reason = Some("the camera source is not found or disabled".into());
                return plan;
            };
            plan.source = Some(redact_url(&url));
            if bypassed
                .get(&transmission.id)
                .is_some_and(|b| b.pipeline == pipeline.name)
            {
                plan.mode = "bypass";
                return plan;
            }
            let targets = OutputTarget::all(transmission);
            let size = targets
                .iter()
                .map(|t| t.size())
                .max_by_key(|(w, h)| w * h)
                .unwrap_or(crate::publishers::target::DEFAULT_SIZE);
            let output_fps = targets.iter().map(|t| t.fps).fold(0.0, f64::max);
            let fps = chain
                .reducer
                .and_then(|r| r.number("target_fps"))
                .filter(|f| *f > 0.0)
                .unwrap_or(if output_fps > 0.0 {
                    output_fps
                } else {
                    crate::publishers::target::DEFAULT_FPS
                });
            plan.mode = "reader";
            plan.reader = Some(ReaderPlan {
                url,
                size,
                fps,
                priority: chain.publish.number("writer_priority").unwrap_or(0.0) as i64,
            });
            plan
        })
        .collect()
}

pub enum PipelinesMsg {
    Apply(Revision, RpcReplyPort<()>),
    /// Keys (`<transmission>:<output>`) of the outputs encoding now.
    Demand(Arc<BTreeSet<String>>),
    Restart(String),
    Status(RpcReplyPort<Vec<PipelineRuntime>>),
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
    /// Time to check that every camera reader still answers.
    CheckLiveness,
}

crate::supervised_messages!(PipelinesMsg);

#[derive(Debug, Clone, Serialize)]
pub struct PipelineRuntime {
    #[serde(flatten)]
    pub plan: PipelinePlan,
    /// `reading`, `idle` (waiting for demand), `backoff` or `stopped`.
    pub reader_state: &'static str,
    pub restarts: u32,
    pub last_error: Option<String>,
}

struct Entry {
    plan: PipelinePlan,
    reader: Option<ActorRef<CameraReaderMsg>>,
    tracker: RestartTracker,
    in_backoff: bool,
}

pub struct PipelinesSupervisor;

pub struct PipelinesState {
    entries: BTreeMap<String, Entry>,
    demand: Arc<BTreeSet<String>>,
    liveness: Liveness,
}

impl PipelinesState {
    fn transmission_demanded(&self, transmission_id: &str) -> bool {
        let prefix = format!("{transmission_id}:");
        self.demand.iter().any(|key| key.starts_with(&prefix))
    }
}

impl Actor for PipelinesSupervisor {
    type Msg = PipelinesMsg;
    type State = PipelinesState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<PipelinesMsg>,
        _args: (),
    ) -> Result<PipelinesState, ActorProcessingErr> {
        let liveness = Liveness::new(LivenessPolicy::CHILD);
        myself.send_interval(liveness.every(), || PipelinesMsg::CheckLiveness);
        Ok(PipelinesState {
            entries: BTreeMap::new(),
            demand: Arc::default(),
            liveness,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<PipelinesMsg>,
        state: &mut PipelinesState,
    ) -> Result<(), ActorProcessingErr> {
        let stopping = std::mem::take(&mut state.entries)
            .into_values()
            .filter_map(|e| e.reader)
            .map(|reader| async move {
                let _ = reader.stop_and_wait(None, Some(READER_STOP_DEADLINE)).await;
            });
        futures_util::future::join_all(stopping).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<PipelinesMsg>,
        msg: PipelinesMsg,
        state: &mut PipelinesState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PipelinesMsg::Apply(revision, reply) => {
                let now = Instant::now();
                let mut next = BTreeMap::new();
                for plan in plans(&revision.settings) {
                    let entry = match state.entries.remove(&plan.pipeline_name) {
                        Some(mut kept) => {
                            if kept.plan != plan {
                                stop_reader(&mut kept);
                                kept.in_backoff = false;
                            }
                            kept.plan = plan;
                            kept
                        }
                        None => Entry {
                            plan,
                            reader: None,
                            tracker: RestartTracker::new(RestartPolicy::process(), now),
                            in_backoff: false,
                        },
                    };
                    next.insert(entry.plan.pipeline_name.clone(), entry);
                }
                for (_, mut gone) in std::mem::replace(&mut state.entries, next) {
                    stop_reader(&mut gone);
                }
                sync_readers(&myself, state).await;
                let _ = reply.send(());
            }
            PipelinesMsg::Demand(demand) => {
                if demand != state.demand {
                    state.demand = demand;
                    sync_readers(&myself, state).await;
                }
            }
            PipelinesMsg::Restart(name) => {
                if let Some(entry) = state.entries.get_mut(&name) {
                    if entry.in_backoff {
                        entry.in_backoff = false;
                        entry.tracker.restarted(Instant::now());
                    }
                }
                sync_readers(&myself, state).await;
            }
            PipelinesMsg::Status(reply) => {
                let _ = reply.send(
                    state
                        .entries
                        .values()
                        .map(|entry| PipelineRuntime {
                            plan: entry.plan.clone(),
                            reader_state: reader_state(entry),
                            restarts: entry.tracker.restarts,
                            last_error: entry.tracker.last_error.clone(),
                        })
                        .collect(),
                );
            }
            PipelinesMsg::Fault(fault) => fault.strike().await?,
            PipelinesMsg::CheckLiveness => state.liveness.check(readers(state)),
            PipelinesMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
            }
            PipelinesMsg::Observe(reply) => {
                let children = readers(state);
                let modes: BTreeMap<&str, &str> = state
                    .entries
                    .iter()
                    .map(|(name, e)| (name.as_str(), e.plan.mode))
                    .collect();
                let _ = reply.send(Observation {
                    pid: None,
                    state: json!({"pipelines": modes}),
                    children,
                });
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<PipelinesMsg>,
        event: SupervisionEvent,
        state: &mut PipelinesState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) = crate::supervision::child_exit(event, "camera reader stopped")
        else {
            return Ok(());
        };
        let failed = state.entries.iter_mut().find(|(_, e)| {
            e.reader
                .as_ref()
                .is_some_and(|r| r.get_id() == cell.get_id())
        });
        if let Some((name, entry)) = failed {
            entry.reader = None;
            entry.in_backoff = true;
            let delay = entry.tracker.failed(Instant::now(), reason.clone());
            tracing::warn!(pipeline = %name, %reason, ?delay, "camera reader failed; restarting");
            let name = name.clone();
            myself.send_after(delay, move || PipelinesMsg::Restart(name));
        }
        Ok(())
    }
}

fn reader_state(entry: &Entry) -> &'static str {
    if entry.reader.is_some() {
        "reading"
    } else if entry.in_backoff {
        "backoff"
    } else if entry.plan.mode == "reader" {
        "idle"
    } else {
        "stopped"
    }
}

fn stop_reader(entry: &mut Entry) {
    if let Some(reader) = entry.reader.take() {
        reader.stop(Some("pipeline changed or no longer demanded".into()));
    }
}

/// Starts the readers that should read (runnable, and demanded when demand-driven) and stops
/// the others.
async fn sync_readers(myself: &ActorRef<PipelinesMsg>, state: &mut PipelinesState) {
    let wanted: Vec<(String, bool)> = state
        .entries
        .iter()
        .map(|(name, e)| {
            let want = e.plan.reader.is_some()
                && e.plan
                    .transmission_id
                    .as_deref()
                    .is_some_and(|t| !e.plan.demand_driven || state.transmission_demanded(t));
            (name.clone(), want)
        })
        .collect();
    for (name, want) in wanted {
        let Some(entry) = state.entries.get_mut(&name) else {
            continue;
        };
        if !want {
            stop_reader(entry);
            continue;
        }
        if entry.reader.is_some() || entry.in_backoff {
            continue;
        }
        match start_reader(myself, &entry.plan).await {
            Ok(reader) => entry.reader = Some(reader),
            Err(error) => {
                entry.in_backoff = true;
                let delay = entry.tracker.failed(Instant::now(), error);
                myself.send_after(delay, move || PipelinesMsg::Restart(name));
            }
        }
    }
}

async fn start_reader(
    myself: &ActorRef<PipelinesMsg>,
    plan: &PipelinePlan,
) -> Result<ActorRef<CameraReaderMsg>, String> {
    let (Some(reader), Some(transmission_id), Some(writer_id)) =
        (&plan.reader, &plan.transmission_id, &plan.writer_id)
    else {
        return Err("the pipeline is not runnable".into());
    };
    let supervisor = transmissions().ok_or("the transmissions supervisor is not running")?;
    let transmission = ask(
        &supervisor,
        |reply| TransmissionsMsg::Lookup(transmission_id.clone(), reply),
        LOOKUP_DEADLINE,
    )
    .await
    .map_err(|err| format!("the transmissions supervisor did not answer: {err:?}"))?
    .ok_or_else(|| format!("transmission '{transmission_id}' is not running"))?;
    let args = CameraReaderArgs {
        source: reader.url.clone(),
        size: reader.size,
        fps: reader.fps,
        writer_id: writer_id.clone(),
        priority: reader.priority,
        transmission,
        stall_after: STALL_AFTER,
    };
    let (actor, _) = Actor::spawn_linked(None, CameraReaderActor, args, myself.get_cell())
        .await
        .map_err(|err| format!("cannot start the camera reader: {err}"))?;
    Ok(actor)
}

/// Delivers every committed revision to the pipelines supervisor.
pub fn pipelines_subscriber(actor: ActorRef<PipelinesMsg>) -> ActorSubscriber<PipelinesMsg> {
    ActorSubscriber {
        name: PIPELINES,
        actor,
        apply: PipelinesMsg::Apply,
        deadline: Duration::from_secs(10),
    }
}

pub fn pipelines() -> Option<ActorRef<PipelinesMsg>> {
    ractor::registry::where_is(PIPELINES).map(ActorRef::from)
}

/// The camera readers as the snapshot and the liveness check see them.
fn readers(state: &PipelinesState) -> Vec<ChildEntry> {
    state
        .entries
        .iter()
        .filter(|(_, e)| e.plan.mode == "reader")
        .map(|(name, entry)| {
            ChildEntry::supervised(
                format!("pipeline:{name}"),
                "camera_reader",
                entry.reader.clone(),
                &entry.tracker,
            )
        })
        .collect()
}
