//! Keeps one [`TransmissionActor`] per enabled transmission, equal to the store's current
//! revision: a settings change is applied as a diff (spawn added, update changed, stop removed),
//! and a transmission actor that dies is restarted with backoff while it is still wanted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde_json::json;
use tokio::time::Instant;

use super::actor::{
    OutputRuntime, TransmissionActor, TransmissionArgs, TransmissionHealth, TransmissionMsg,
};
use crate::bypass::{BypassSource, bypass_sources};
use crate::engine::relays::Relays;
use crate::frames::Placeholders;
use crate::model::transmission::Transmission;
use crate::store::{ActorSubscriber, Revision};
use crate::supervision::observe::{ChildEntry, Observation};
use crate::supervision::restart::{RestartPolicy, RestartTracker};
use crate::supervision::{Liveness, LivenessPolicy, ask};

pub const TRANSMISSIONS: &str = "transmissions";

const HEALTH_DEADLINE: Duration = Duration::from_millis(500);

/// How long a removed transmission gets to stop before the supervisor moves on.
const STOP_GRACE: Duration = Duration::from_secs(5);

pub enum TransmissionsMsg {
    /// Bring the children in line with this revision; answered once they are.
    Apply(Revision, RpcReplyPort<()>),
    /// A failed child's backoff has elapsed.
    Restart(String),
    /// The actor of an enabled transmission.
    Lookup(String, RpcReplyPort<Option<ActorRef<TransmissionMsg>>>),
    /// Health of every running transmission (each gets `HEALTH_DEADLINE` to answer).
    Health(RpcReplyPort<Vec<TransmissionHealth>>),
    /// Keys (`<transmission>:<output>`) of every output that should be encoding now.
    Demand(Arc<BTreeSet<String>>),
    /// Runtime state of every enabled output of every transmission.
    Outputs(RpcReplyPort<Vec<OutputRuntime>>),
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
    /// Time to check that every child still answers.
    CheckLiveness,
}

crate::supervised_messages!(TransmissionsMsg);

pub struct TransmissionsSupervisor;

struct Child {
    /// `None` while waiting out a restart backoff.
    actor: Option<ActorRef<TransmissionMsg>>,
    config: Arc<Transmission>,
    bypass: Option<BypassSource>,
    tracker: RestartTracker,
}

pub struct TransmissionsArgs {
    /// Where publishers write their FFmpeg logs.
    pub logs_dir: PathBuf,
    /// Where transmissions record the outputs the engine relays.
    pub relays: Relays,
}

pub struct TransmissionsState {
    children: BTreeMap<String, Child>,
    revision: u64,
    logs_dir: PathBuf,
    relays: Relays,
    /// Shared by every publisher: one buffer per (size, colour).
    placeholders: Placeholders,
    /// The latest demand, handed to transmissions as they (re)start.
    demand: Arc<BTreeSet<String>>,
    /// Removed transmissions still stopping their publishers.
    stopping: Vec<ActorRef<TransmissionMsg>>,
    liveness: Liveness,
}

impl TransmissionsState {
    /// The output ids of `transmission_id` that should be encoding.
    fn demanded_outputs(&self, transmission_id: &str) -> BTreeSet<String> {
        let prefix = format!("{transmission_id}:");
        self.demand
            .iter()
            .filter_map(|key| key.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    fn args(&self, config: Arc<Transmission>, bypass: Option<BypassSource>) -> TransmissionArgs {
        TransmissionArgs {
            demanded: self.demanded_outputs(&config.id),
            config,
            bypass,
            logs_dir: self.logs_dir.clone(),
            placeholders: self.placeholders.clone(),
            relays: self.relays.clone(),
        }
    }
}

impl Actor for TransmissionsSupervisor {
    type Msg = TransmissionsMsg;
    type State = TransmissionsState;
    type Arguments = TransmissionsArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<TransmissionsMsg>,
        args: TransmissionsArgs,
    ) -> Result<TransmissionsState, ActorProcessingErr> {
        let liveness = Liveness::new(LivenessPolicy::CHILD);
        myself.send_interval(liveness.every(), || TransmissionsMsg::CheckLiveness);
        Ok(TransmissionsState {
            children: BTreeMap::new(),
            revision: 0,
            logs_dir: args.logs_dir,
            relays: args.relays,
            placeholders: Placeholders::default(),
            demand: Arc::default(),
            stopping: Vec::new(),
            liveness,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<TransmissionsMsg>,
        state: &mut TransmissionsState,
    ) -> Result<(), ActorProcessingErr> {
        let running = std::mem::take(&mut state.children)
            .into_values()
            .filter_map(|child| child.actor)
            .chain(std::mem::take(&mut state.stopping));
        let stops = running.map(|actor| async move {
            let _ = actor.stop_and_wait(None, Some(STOP_GRACE)).await;
        });
        futures_util::future::join_all(stops).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<TransmissionsMsg>,
        msg: TransmissionsMsg,
        state: &mut TransmissionsState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TransmissionsMsg::Apply(revision, reply) => {
                apply(&myself, state, &revision).await;
                let _ = reply.send(());
            }
            TransmissionsMsg::Restart(id) => {
                let waiting = state.children.get(&id).filter(|c| c.actor.is_none());
                if let Some((config, bypass)) =
                    waiting.map(|c| (c.config.clone(), c.bypass.clone()))
                {
                    let spawned = spawn(&myself, state.args(config, bypass)).await;
                    if let Some(child) = state.children.get_mut(&id) {
                        match spawned {
                            Ok(actor) => {
                                child.actor = Some(actor);
                                child.tracker.restarted(Instant::now());
                            }
                            Err(err) => retry_later(&myself, &id, child, err.to_string()),
                        }
                    }
                }
            }
            TransmissionsMsg::Lookup(id, reply) => {
                let _ = reply.send(state.children.get(&id).and_then(|c| c.actor.clone()));
            }
            TransmissionsMsg::Health(reply) => {
                let answers = ask_every_transmission(state, TransmissionMsg::Health);
                tokio::spawn(async move {
                    let _ = reply.send(answers.await);
                });
            }
            TransmissionsMsg::Demand(demand) => {
                if demand != state.demand {
                    state.demand = demand;
                    for (id, child) in &state.children {
                        if let Some(actor) = &child.actor {
                            let _ = actor.send_message(TransmissionMsg::SetDemand(
                                state.demanded_outputs(id),
                            ));
                        }
                    }
                }
            }
            TransmissionsMsg::Outputs(reply) => {
                let answers = ask_every_transmission(state, TransmissionMsg::Outputs);
                tokio::spawn(async move {
                    let _ = reply.send(answers.await.into_iter().flatten().collect());
                });
            }
            TransmissionsMsg::CheckLiveness => state.liveness.check(children(state)),
            TransmissionsMsg::Fault(fault) => fault.strike().await?,
            TransmissionsMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
            }
            TransmissionsMsg::Observe(reply) => {
                let _ = reply.send(Observation {
                    pid: None,
                    state: json!({"revision": state.revision, "transmissions": state.children.len()}),
                    children: children(state),
                });
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<TransmissionsMsg>,
        event: SupervisionEvent,
        state: &mut TransmissionsState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) = crate::supervision::child_exit(event, "stopped unexpectedly")
        else {
            return Ok(());
        };
        // A child we stopped on purpose is already gone from the map and is ignored here.
        let failed = state.children.iter_mut().find(|(_, child)| {
            child
                .actor
                .as_ref()
                .is_some_and(|a| a.get_id() == cell.get_id())
        });
        if let Some((id, child)) = failed {
            let id = id.clone();
            retry_later(&myself, &id, child, reason);
        } else {
            state.stopping.retain(|a| a.get_id() != cell.get_id());
        }
        Ok(())
    }
}

/// Asks every running transmission, each within `HEALTH_DEADLINE`; the answers are gathered off
/// this supervisor's mailbox (the caller spawns the future), so one slow transmission never
/// blocks it. Transmissions that do not answer are left out.
fn ask_every_transmission<T: Send + 'static>(
    state: &TransmissionsState,
    request: fn(RpcReplyPort<T>) -> TransmissionMsg,
) -> impl std::future::Future<Output = Vec<T>> + Send + 'static {
    let actors: Vec<_> = state
        .children
        .values()
        .filter_map(|c| c.actor.clone())
        .collect();
    async move {
        let answers = futures_util::future::join_all(
            actors
                .iter()
                .map(|actor| ask(actor, request, HEALTH_DEADLINE)),
        )
        .await;
        answers.into_iter().filter_map(Result::ok).collect()
    }
}

async fn apply(
    myself: &ActorRef<TransmissionsMsg>,
    state: &mut TransmissionsState,
    revision: &Revision,
) {
    state.revision = revision.number;
    let wanted: BTreeMap<&str, &Transmission> = revision
        .settings
        .transmissions
        .iter()
        .filter(|t| t.enabled)
        .map(|t| (t.id.as_str(), t))
        .collect();
    let removed: Vec<String> = state
        .children
        .keys()
        .filter(|id| !wanted.contains_key(id.as_str()))
        .cloned()
        .collect();
    for id in removed {
        if let Some(Child {
            actor: Some(actor), ..
        }) = state.children.remove(&id)
        {
            // Not waited for here: stopping its publishers takes seconds, and this mailbox
            // carries every other transmission's lookups. Shutdown still waits (`stopping`).
            actor.stop(Some("removed from settings".into()));
            state.stopping.push(actor);
        }
    }
    let mut bypass = bypass_sources(&revision.settings);
    for (id, transmission) in wanted {
        let camera = bypass.remove(id);
        match state.children.get_mut(id) {
            Some(child) if *child.config == *transmission && child.bypass == camera => {}
            Some(child) => {
                child.config = Arc::new(transmission.clone());
                child.bypass = camera;
                if let Some(actor) = &child.actor {
                    let _ = actor.send_message(TransmissionMsg::Update(
                        child.config.clone(),
                        child.bypass.clone(),
                    ));
                }
            }
            None => {
                let config = Arc::new(transmission.clone());
                let mut child = Child {
                    actor: None,
                    config: config.clone(),
                    bypass: camera.clone(),
                    tracker: RestartTracker::new(RestartPolicy::INTERNAL, Instant::now()),
                };
                // One transmission that cannot start backs off alone; the others go on.
                match spawn(myself, state.args(config, camera)).await {
                    Ok(actor) => child.actor = Some(actor),
                    Err(err) => retry_later(myself, id, &mut child, err.to_string()),
                }
                state.children.insert(id.to_string(), child);
            }
        }
    }
}

/// Records a failed (or failed-to-start) child and schedules its restart after the backoff.
fn retry_later(myself: &ActorRef<TransmissionsMsg>, id: &str, child: &mut Child, reason: String) {
    child.actor = None;
    let delay = child.tracker.failed(Instant::now(), reason.clone());
    tracing::warn!(transmission = %id, %reason, ?delay, "transmission actor failed; restarting");
    let id = id.to_string();
    myself.send_after(delay, move || TransmissionsMsg::Restart(id));
}

async fn spawn(
    myself: &ActorRef<TransmissionsMsg>,
    args: TransmissionArgs,
) -> Result<ActorRef<TransmissionMsg>, ActorProcessingErr> {
    // Unnamed: per-entity actors are found through this supervisor, so a restart never collides.
    let (actor, _) = Actor::spawn_linked(None, TransmissionActor, args, myself.get_cell()).await?;
    Ok(actor)
}

/// Applying a revision spawns and stops actors; it is bounded so a stuck child cannot wedge the store.
const APPLY_DEADLINE: Duration = Duration::from_secs(10);

/// Delivers every committed revision to the transmissions supervisor and waits until applied.
pub fn transmissions_subscriber(
    supervisor: ActorRef<TransmissionsMsg>,
) -> ActorSubscriber<TransmissionsMsg> {
    ActorSubscriber {
        name: TRANSMISSIONS,
        actor: supervisor,
        apply: TransmissionsMsg::Apply,
        deadline: APPLY_DEADLINE,
    }
}

/// The running transmissions supervisor, found by name.
pub fn transmissions() -> Option<ActorRef<TransmissionsMsg>> {
    ractor::registry::where_is(TRANSMISSIONS).map(ActorRef::from)
}

/// The actor of an enabled transmission (`None`: not running), asked of the supervisor found now
/// (it may have restarted since the last call).
pub async fn lookup(
    transmission_id: &str,
    deadline: Duration,
) -> Result<Option<ActorRef<TransmissionMsg>>, crate::supervision::Unreachable> {
    use crate::supervision::{AskError, Unreachable};
    let unreachable = |err| Unreachable::new("transmissions supervisor", err);
    let supervisor = transmissions().ok_or_else(|| unreachable(AskError::Unavailable))?;
    let id = transmission_id.to_string();
    ask(
        &supervisor,
        |reply| TransmissionsMsg::Lookup(id, reply),
        deadline,
    )
    .await
    .map_err(unreachable)
}

/// The transmission actors as the snapshot and the liveness check see them.
fn children(state: &TransmissionsState) -> Vec<ChildEntry> {
    state
        .children
        .iter()
        .map(|(id, child)| {
            ChildEntry::supervised(
                format!("transmission:{id}"),
                "transmission",
                child.actor.clone(),
                &child.tracker,
            )
        })
        .collect()
}
