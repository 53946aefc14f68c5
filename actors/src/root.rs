//! The root of the supervision tree (one-for-one). It starts the singletons in order, wires
//! subscriptions between them, restarts a failed child with backoff (re-wiring it), and on
//! shutdown stops them in reverse start order.

use std::path::PathBuf;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde_json::json;
use tokio::time::Instant;

use crate::demand::{DEMAND, DemandActor, DemandArgs, DemandMsg, demand_subscriber};
use crate::engine::relays::Relays;
use crate::engine::signals::EngineEvent;
use crate::engine::{ENGINE, EngineActor, EngineArgs, EngineMsg, engine_subscriber};
use crate::jsmpeg::{JSMPEG, JsmpegMsg, JsmpegSupervisor};
use crate::pipelines::{PIPELINES, PipelinesMsg, PipelinesSupervisor, pipelines_subscriber};
use crate::sidecar::{SIDECAR, SidecarActor, SidecarMsg, sidecar_subscriber};
use crate::store::{STORE, SettingsSubscriber, StoreActor, StoreMsg};
use crate::supervision::observe::{ChildEntry, Observable, Observation};
use crate::supervision::restart::{RestartPolicy, RestartTracker};
use crate::supervision::{AskError, Liveness, LivenessPolicy, ask};
use crate::sync::{SYNC, SyncActor, SyncConfig, SyncMsg};
use crate::transmissions::supervisor::{TransmissionsArgs, transmissions_subscriber};
use crate::transmissions::{TRANSMISSIONS, TransmissionsMsg, TransmissionsSupervisor};

pub const ROOT: &str = "root";

/// Each child gets this long to stop cleanly at shutdown before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
const WIRING_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    Store,
    Engine,
    Sidecar,
    Transmissions,
    Pipelines,
    Demand,
    Jsmpeg,
    /// A processing server's pull of its settings from the core (only in that role).
    Sync,
}

impl ChildKind {
    /// Start order; shutdown runs it backwards, so publishers stop before the engine they feed.
    /// The sync comes last, when configured: it writes through the store the others follow.
    const ALWAYS: [ChildKind; 7] = [
        ChildKind::Store,
        ChildKind::Engine,
        ChildKind::Sidecar,
        ChildKind::Transmissions,
        ChildKind::Pipelines,
        ChildKind::Demand,
        ChildKind::Jsmpeg,
    ];

    /// The registered name.
    fn name(self) -> &'static str {
        match self {
            ChildKind::Store => STORE,
            ChildKind::Engine => ENGINE,
            ChildKind::Sidecar => SIDECAR,
            ChildKind::Transmissions => TRANSMISSIONS,
            ChildKind::Pipelines => PIPELINES,
            ChildKind::Demand => DEMAND,
            ChildKind::Jsmpeg => JSMPEG,
            ChildKind::Sync => SYNC,
        }
    }

    /// What the actor snapshot calls it.
    fn observed_kind(self) -> &'static str {
        match self {
            ChildKind::Store => "store",
            ChildKind::Engine => "engine",
            ChildKind::Sidecar => "sidecar",
            ChildKind::Transmissions => "transmissions_supervisor",
            ChildKind::Pipelines => "pipelines_supervisor",
            ChildKind::Demand => "demand",
            ChildKind::Jsmpeg => "jsmpeg_supervisor",
            ChildKind::Sync => "settings_sync",
        }
    }

    /// How this child follows the settings, if it does.
    fn subscriber(self, cell: &ActorCell) -> Option<Box<dyn SettingsSubscriber>> {
        let cell = cell.clone();
        match self {
            ChildKind::Store | ChildKind::Jsmpeg | ChildKind::Sync => None,
            ChildKind::Engine => Some(Box::new(engine_subscriber(ActorRef::from(cell)))),
            ChildKind::Sidecar => Some(Box::new(sidecar_subscriber(ActorRef::from(cell)))),
            ChildKind::Transmissions => {
                Some(Box::new(transmissions_subscriber(ActorRef::from(cell))))
            }
            ChildKind::Pipelines => Some(Box::new(pipelines_subscriber(ActorRef::from(cell)))),
            ChildKind::Demand => Some(Box::new(demand_subscriber(ActorRef::from(cell)))),
        }
    }

    fn observable(self, cell: &ActorCell) -> Box<dyn Observable> {
        let cell = cell.clone();
        match self {
            ChildKind::Store => Box::new(ActorRef::<StoreMsg>::from(cell)),
            ChildKind::Engine => Box::new(ActorRef::<EngineMsg>::from(cell)),
            ChildKind::Sidecar => Box::new(ActorRef::<SidecarMsg>::from(cell)),
            ChildKind::Transmissions => Box::new(ActorRef::<TransmissionsMsg>::from(cell)),
            ChildKind::Pipelines => Box::new(ActorRef::<PipelinesMsg>::from(cell)),
            ChildKind::Demand => Box::new(ActorRef::<DemandMsg>::from(cell)),
            ChildKind::Jsmpeg => Box::new(ActorRef::<JsmpegMsg>::from(cell)),
            ChildKind::Sync => Box::new(ActorRef::<SyncMsg>::from(cell)),
        }
    }
}

pub enum RootMsg {
    Restart(ChildKind),
    /// Time to check that every singleton still answers.
    CheckLiveness,
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
}

crate::supervised_messages!(RootMsg);

pub struct RootArgs {
    pub data_dir: PathBuf,
    /// Set on a processing server (`TOPOSYNC_ROLE=processing`).
    pub sync: Option<SyncConfig>,
    /// The service binary, the engine's `runOnDemand` hook.
    pub hook_binary: Option<PathBuf>,
}

pub struct RootSupervisor;

struct Slot {
    kind: ChildKind,
    /// `None` while waiting out a restart backoff (or after shutdown took it).
    cell: Option<ActorCell>,
    tracker: RestartTracker,
}

pub struct RootState {
    data_dir: PathBuf,
    sync: Option<SyncConfig>,
    hook_binary: Option<PathBuf>,
    /// Outlives engine restarts, so listeners keep their subscription.
    engine_events: tokio::sync::broadcast::Sender<EngineEvent>,
    /// Written by transmissions, applied by the engine; outlives restarts of either.
    relays: Relays,
    /// One per child, in start order.
    slots: Vec<Slot>,
    liveness: Liveness,
}

impl RootState {
    fn store(&self) -> Option<ActorRef<StoreMsg>> {
        self.slots
            .iter()
            .find(|s| s.kind == ChildKind::Store)
            .and_then(|s| s.cell.clone())
            .map(ActorRef::from)
    }
}

impl Actor for RootSupervisor {
    type Msg = RootMsg;
    type State = RootState;
    type Arguments = RootArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<RootMsg>,
        args: RootArgs,
    ) -> Result<RootState, ActorProcessingErr> {
        let mut state = RootState {
            data_dir: args.data_dir,
            sync: args.sync,
            hook_binary: args.hook_binary,
            engine_events: tokio::sync::broadcast::channel(64).0,
            relays: Relays::default(),
            slots: Vec::new(),
            liveness: Liveness::new(LivenessPolicy::SINGLETON),
        };
        let sync = state.sync.is_some().then_some(ChildKind::Sync);
        for kind in ChildKind::ALWAYS.into_iter().chain(sync) {
            let cell = spawn(&myself, &state, kind).await?;
            state.slots.push(Slot {
                kind,
                cell: Some(cell),
                tracker: RestartTracker::new(RestartPolicy::INTERNAL, Instant::now()),
            });
        }
        let store = state.store().ok_or("the store did not start")?;
        for slot in &state.slots {
            if let Some(subscriber) = slot.cell.as_ref().and_then(|c| slot.kind.subscriber(c)) {
                subscribe(&store, subscriber).await?;
            }
        }
        myself.send_interval(state.liveness.every(), || RootMsg::CheckLiveness);
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<RootMsg>,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        for slot in state.slots.iter_mut().rev() {
            if let Some(cell) = slot.cell.take() {
                tracing::debug!(child = slot.kind.name(), "stopping");
                let _ = cell.stop_and_wait(None, Some(STOP_GRACE)).await;
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<RootMsg>,
        msg: RootMsg,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RootMsg::Restart(kind) => {
                if let Err(err) = restart(&myself, state, kind).await {
                    // It backs off alone and is tried again; its siblings go on.
                    if let Some(slot) = state.slots.iter_mut().find(|s| s.kind == kind) {
                        let delay = slot.tracker.failed(Instant::now(), err.to_string());
                        tracing::error!(child = kind.name(), %err, ?delay, "child did not start again; retrying");
                        myself.send_after(delay, move || RootMsg::Restart(kind));
                    }
                }
            }
            RootMsg::CheckLiveness => state.liveness.check(children(state)),
            RootMsg::Fault(fault) => fault.strike().await?,
            RootMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
            }
            RootMsg::Observe(reply) => {
                let children = children(state);
                let _ = reply.send(Observation {
                    pid: None,
                    // Live tokio tasks: a count that keeps growing is a leak.
                    state: json!({"data_dir": state.data_dir, "service_pid": std::process::id(),
                                  "alive_tasks": tokio::runtime::Handle::current().metrics().num_alive_tasks()}),
                    children,
                });
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<RootMsg>,
        event: SupervisionEvent,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) = crate::supervision::child_exit(event, "stopped unexpectedly")
        else {
            return Ok(());
        };
        let Some(slot) = state
            .slots
            .iter_mut()
            .find(|s| s.cell.as_ref().is_some_and(|c| c.get_id() == cell.get_id()))
        else {
            return Ok(());
        };
        slot.cell = None;
        let delay = slot.tracker.failed(Instant::now(), reason.clone());
        let kind = slot.kind;
        tracing::error!(child = kind.name(), %reason, ?delay, "child failed; restarting");
        myself.send_after(delay, move || RootMsg::Restart(kind));
        Ok(())
    }
}

/// The singletons as the snapshot and the liveness check see them.
fn children(state: &RootState) -> Vec<ChildEntry> {
    state
        .slots
        .iter()
        .map(|slot| ChildEntry {
            name: slot.kind.name().to_string(),
            kind: slot.kind.observed_kind(),
            actor: slot.cell.as_ref().map(|c| slot.kind.observable(c)),
            status_without_actor: "restarting",
            restarts: slot.tracker.restarts,
            last_error: slot.tracker.last_error.clone(),
        })
        .collect()
}

/// Starts a failed child again and re-wires it: a new store gets every other child's
/// subscription; any other child subscribes to the store.
async fn restart(
    myself: &ActorRef<RootMsg>,
    state: &mut RootState,
    kind: ChildKind,
) -> Result<(), ActorProcessingErr> {
    let waiting = state
        .slots
        .iter()
        .any(|s| s.kind == kind && s.cell.is_none());
    if !waiting {
        return Ok(());
    }
    let cell = spawn(myself, state, kind).await?;
    if let Some(slot) = state.slots.iter_mut().find(|s| s.kind == kind) {
        slot.cell = Some(cell.clone());
        slot.tracker.restarted(Instant::now());
    }
    let wired = if kind == ChildKind::Store {
        let store = ActorRef::<StoreMsg>::from(cell.clone());
        let mut wired = Ok(());
        for slot in &state.slots {
            if let Some(subscriber) = slot.cell.as_ref().and_then(|c| slot.kind.subscriber(c)) {
                wired = wired.and(subscribe(&store, subscriber).await);
            }
        }
        wired
    } else if let (Some(store), Some(subscriber)) = (state.store(), kind.subscriber(&cell)) {
        subscribe(&store, subscriber).await
    } else {
        Ok(())
    };
    if let Err(err) = wired {
        // Unwired, it would run on stale settings: its exit is supervised like any failure.
        tracing::error!(child = kind.name(), %err, "restarted child could not be wired; killing it");
        cell.kill();
    }
    Ok(())
}

/// Spawns one child, registered under its name and linked to the root.
async fn spawn(
    myself: &ActorRef<RootMsg>,
    state: &RootState,
    kind: ChildKind,
) -> Result<ActorCell, ActorProcessingErr> {
    let name = Some(kind.name().to_string());
    let link = myself.get_cell();
    let data_dir = &state.data_dir;
    let cell = match kind {
        ChildKind::Store => Actor::spawn_linked(name, StoreActor, data_dir.to_path_buf(), link)
            .await?
            .0
            .get_cell(),
        ChildKind::Engine => {
            let args = EngineArgs {
                data_dir: data_dir.to_path_buf(),
                events: state.engine_events.clone(),
                hook_binary: state.hook_binary.clone(),
                relays: state.relays.clone(),
            };
            Actor::spawn_linked(name, EngineActor, args, link)
                .await?
                .0
                .get_cell()
        }
        ChildKind::Sidecar => Actor::spawn_linked(name, SidecarActor, data_dir.to_path_buf(), link)
            .await?
            .0
            .get_cell(),
        ChildKind::Transmissions => {
            let args = TransmissionsArgs {
                logs_dir: crate::private_file::runtime_dir(data_dir).join("logs"),
                relays: state.relays.clone(),
            };
            Actor::spawn_linked(name, TransmissionsSupervisor, args, link)
                .await?
                .0
                .get_cell()
        }
        ChildKind::Pipelines => Actor::spawn_linked(name, PipelinesSupervisor, (), link)
            .await?
            .0
            .get_cell(),
        ChildKind::Demand => {
            let args = DemandArgs {
                engine_events: state.engine_events.subscribe(),
            };
            Actor::spawn_linked(name, DemandActor, args, link)
                .await?
                .0
                .get_cell()
        }
        ChildKind::Jsmpeg => Actor::spawn_linked(name, JsmpegSupervisor, (), link)
            .await?
            .0
            .get_cell(),
        ChildKind::Sync => {
            let config = state.sync.clone().ok_or("the sync is not configured")?;
            Actor::spawn_linked(name, SyncActor, config, link)
                .await?
                .0
                .get_cell()
        }
    };
    Ok(cell)
}

async fn subscribe(
    store: &ActorRef<StoreMsg>,
    subscriber: Box<dyn SettingsSubscriber>,
) -> Result<(), ActorProcessingErr> {
    ask(
        store,
        |reply| StoreMsg::Subscribe(subscriber, reply),
        WIRING_DEADLINE,
    )
    .await
    .map_err(|err: AskError| format!("store did not accept the subscription: {err:?}").into())
}
