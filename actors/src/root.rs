//! The root of the supervision tree (one-for-one). It starts the singletons in order, wires
//! subscriptions between them, restarts a failed child with backoff (re-wiring it), and on
//! shutdown stops them in reverse start order.

use std::path::PathBuf;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde_json::json;
use tokio::time::Instant;

use crate::demand::{DEMAND, DemandActor, DemandArgs, DemandMsg, demand_subscriber};
use crate::engine::signals::EngineEvent;
use crate::engine::{ENGINE, EngineActor, EngineArgs, EngineMsg, engine_subscriber};
use crate::jsmpeg::{JSMPEG, JsmpegMsg, JsmpegSupervisor};
use crate::pipelines::{PIPELINES, PipelinesMsg, PipelinesSupervisor, pipelines_subscriber};
use crate::store::{STORE, SettingsSubscriber, StoreActor, StoreMsg};
use crate::supervision::observe::{ChildEntry, Observable, Observation};
use crate::supervision::restart::{RestartPolicy, RestartTracker};
use crate::supervision::{AskError, ask};
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
    Transmissions,
    Pipelines,
    Demand,
    Jsmpeg,
}

impl ChildKind {
    /// Start order; shutdown runs it backwards, so publishers stop before the engine they feed.
    const ALL: [ChildKind; 6] = [
        ChildKind::Store,
        ChildKind::Engine,
        ChildKind::Transmissions,
        ChildKind::Pipelines,
        ChildKind::Demand,
        ChildKind::Jsmpeg,
    ];

    fn name(self) -> &'static str {
        match self {
            ChildKind::Store => STORE,
            ChildKind::Engine => ENGINE,
            ChildKind::Transmissions => TRANSMISSIONS,
            ChildKind::Pipelines => PIPELINES,
            ChildKind::Demand => DEMAND,
            ChildKind::Jsmpeg => JSMPEG,
        }
    }
}

pub enum RootMsg {
    Restart(ChildKind),
    Observe(RpcReplyPort<Observation>),
}

crate::observe_requests!(RootMsg);

pub struct RootArgs {
    pub data_dir: PathBuf,
}

pub struct RootSupervisor;

struct Slot<M: ractor::Message> {
    actor: Option<ActorRef<M>>,
    tracker: RestartTracker,
}

impl<M: ractor::Message> Slot<M> {
    fn new(actor: ActorRef<M>) -> Self {
        Self {
            actor: Some(actor),
            tracker: RestartTracker::new(RestartPolicy::INTERNAL, Instant::now()),
        }
    }

    fn holds(&self, cell: &ActorCell) -> bool {
        self.actor
            .as_ref()
            .is_some_and(|a| a.get_id() == cell.get_id())
    }
}

pub struct RootState {
    data_dir: PathBuf,
    /// Outlives engine restarts, so listeners keep their subscription.
    engine_events: tokio::sync::broadcast::Sender<EngineEvent>,
    store: Slot<StoreMsg>,
    transmissions: Slot<TransmissionsMsg>,
    engine: Slot<EngineMsg>,
    pipelines: Slot<PipelinesMsg>,
    demand: Slot<DemandMsg>,
    jsmpeg: Slot<JsmpegMsg>,
}

impl RootState {
    fn subscribers(&self) -> Vec<Box<dyn SettingsSubscriber>> {
        let mut subscribers: Vec<Box<dyn SettingsSubscriber>> = Vec::new();
        if let Some(transmissions) = &self.transmissions.actor {
            subscribers.push(Box::new(transmissions_subscriber(transmissions.clone())));
        }
        if let Some(engine) = &self.engine.actor {
            subscribers.push(Box::new(engine_subscriber(engine.clone())));
        }
        if let Some(pipelines) = &self.pipelines.actor {
            subscribers.push(Box::new(pipelines_subscriber(pipelines.clone())));
        }
        if let Some(demand) = &self.demand.actor {
            subscribers.push(Box::new(demand_subscriber(demand.clone())));
        }
        subscribers
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
        let store = spawn_store(&myself, &args.data_dir).await?;
        let (engine_events, _) = tokio::sync::broadcast::channel(64);
        let engine = spawn_engine(&myself, &args.data_dir, &engine_events).await?;
        let transmissions = spawn_transmissions(&myself, &args.data_dir).await?;
        let pipelines = spawn_pipelines(&myself).await?;
        let demand = spawn_demand(&myself, &engine_events).await?;
        let jsmpeg = spawn_jsmpeg(&myself).await?;
        let state = RootState {
            data_dir: args.data_dir,
            engine_events,
            store: Slot::new(store.clone()),
            transmissions: Slot::new(transmissions),
            engine: Slot::new(engine),
            pipelines: Slot::new(pipelines),
            demand: Slot::new(demand),
            jsmpeg: Slot::new(jsmpeg),
        };
        for subscriber in state.subscribers() {
            subscribe(&store, subscriber).await?;
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<RootMsg>,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        for kind in ChildKind::ALL.iter().rev() {
            let cell = match kind {
                ChildKind::Store => state.store.actor.take().map(|a| a.get_cell()),
                ChildKind::Transmissions => state.transmissions.actor.take().map(|a| a.get_cell()),
                ChildKind::Engine => state.engine.actor.take().map(|a| a.get_cell()),
                ChildKind::Pipelines => state.pipelines.actor.take().map(|a| a.get_cell()),
                ChildKind::Demand => state.demand.actor.take().map(|a| a.get_cell()),
                ChildKind::Jsmpeg => state.jsmpeg.actor.take().map(|a| a.get_cell()),
            };
            if let Some(cell) = cell {
                tracing::debug!(child = kind.name(), "stopping");
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
            RootMsg::Restart(kind) => restart(&myself, state, kind).await?,
            RootMsg::Observe(reply) => {
                let children = vec![
                    entry(STORE, "store", &state.store),
                    entry(ENGINE, "engine", &state.engine),
                    entry(
                        TRANSMISSIONS,
                        "transmissions_supervisor",
                        &state.transmissions,
                    ),
                    entry(PIPELINES, "pipelines_supervisor", &state.pipelines),
                    entry(DEMAND, "demand", &state.demand),
                    entry(JSMPEG, "jsmpeg_supervisor", &state.jsmpeg),
                ];
                let _ = reply.send(Observation {
                    pid: None,
                    state: json!({"data_dir": state.data_dir, "service_pid": std::process::id()}),
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
        let now = Instant::now();
        let (kind, delay) = if state.store.holds(&cell) {
            state.store.actor = None;
            (
                ChildKind::Store,
                state.store.tracker.failed(now, reason.clone()),
            )
        } else if state.transmissions.holds(&cell) {
            state.transmissions.actor = None;
            (
                ChildKind::Transmissions,
                state.transmissions.tracker.failed(now, reason.clone()),
            )
        } else if state.engine.holds(&cell) {
            state.engine.actor = None;
            (
                ChildKind::Engine,
                state.engine.tracker.failed(now, reason.clone()),
            )
        } else if state.pipelines.holds(&cell) {
            state.pipelines.actor = None;
            (
                ChildKind::Pipelines,
                state.pipelines.tracker.failed(now, reason.clone()),
            )
        } else if state.demand.holds(&cell) {
            state.demand.actor = None;
            (
                ChildKind::Demand,
                state.demand.tracker.failed(now, reason.clone()),
            )
        } else if state.jsmpeg.holds(&cell) {
            state.jsmpeg.actor = None;
            (
                ChildKind::Jsmpeg,
                state.jsmpeg.tracker.failed(now, reason.clone()),
            )
        } else {
            return Ok(());
        };
        tracing::error!(child = kind.name(), %reason, ?delay, "child failed; restarting");
        myself.send_after(delay, move || RootMsg::Restart(kind));
        Ok(())
    }
}

async fn restart(
    myself: &ActorRef<RootMsg>,
    state: &mut RootState,
    kind: ChildKind,
) -> Result<(), ActorProcessingErr> {
    match kind {
        ChildKind::Store if state.store.actor.is_none() => {
            let store = spawn_store(myself, &state.data_dir).await?;
            for subscriber in state.subscribers() {
                subscribe(&store, subscriber).await?;
            }
            state.store.actor = Some(store);
            state.store.tracker.restarted(Instant::now());
        }
        ChildKind::Transmissions if state.transmissions.actor.is_none() => {
            let transmissions = spawn_transmissions(myself, &state.data_dir).await?;
            if let Some(store) = &state.store.actor {
                subscribe(
                    store,
                    Box::new(transmissions_subscriber(transmissions.clone())),
                )
                .await?;
            }
            state.transmissions.actor = Some(transmissions);
            state.transmissions.tracker.restarted(Instant::now());
        }
        ChildKind::Engine if state.engine.actor.is_none() => {
            let engine = spawn_engine(myself, &state.data_dir, &state.engine_events).await?;
            if let Some(store) = &state.store.actor {
                subscribe(store, Box::new(engine_subscriber(engine.clone()))).await?;
            }
            state.engine.actor = Some(engine);
            state.engine.tracker.restarted(Instant::now());
        }
        ChildKind::Pipelines if state.pipelines.actor.is_none() => {
            let pipelines = spawn_pipelines(myself).await?;
            if let Some(store) = &state.store.actor {
                subscribe(store, Box::new(pipelines_subscriber(pipelines.clone()))).await?;
            }
            state.pipelines.actor = Some(pipelines);
            state.pipelines.tracker.restarted(Instant::now());
        }
        ChildKind::Jsmpeg if state.jsmpeg.actor.is_none() => {
            state.jsmpeg.actor = Some(spawn_jsmpeg(myself).await?);
            state.jsmpeg.tracker.restarted(Instant::now());
        }
        ChildKind::Demand if state.demand.actor.is_none() => {
            let demand = spawn_demand(myself, &state.engine_events).await?;
            if let Some(store) = &state.store.actor {
                subscribe(store, Box::new(demand_subscriber(demand.clone()))).await?;
            }
            state.demand.actor = Some(demand);
            state.demand.tracker.restarted(Instant::now());
        }
        _ => {}
    }
    Ok(())
}

fn entry<M>(name: &str, kind: &'static str, slot: &Slot<M>) -> ChildEntry
where
    M: ractor::Message + From<RpcReplyPort<Observation>>,
{
    ChildEntry {
        name: name.to_string(),
        kind,
        actor: slot
            .actor
            .clone()
            .map(|a| Box::new(a) as Box<dyn Observable>),
        restarts: slot.tracker.restarts,
        last_error: slot.tracker.last_error.clone(),
    }
}

async fn spawn_store(
    myself: &ActorRef<RootMsg>,
    data_dir: &std::path::Path,
) -> Result<ActorRef<StoreMsg>, ActorProcessingErr> {
    let (store, _) = Actor::spawn_linked(
        Some(STORE.to_string()),
        StoreActor,
        data_dir.to_path_buf(),
        myself.get_cell(),
    )
    .await?;
    Ok(store)
}

async fn spawn_transmissions(
    myself: &ActorRef<RootMsg>,
    data_dir: &std::path::Path,
) -> Result<ActorRef<TransmissionsMsg>, ActorProcessingErr> {
    let args = TransmissionsArgs {
        logs_dir: data_dir.join("runtime").join("streaming").join("logs"),
    };
    let (supervisor, _) = Actor::spawn_linked(
        Some(TRANSMISSIONS.to_string()),
        TransmissionsSupervisor,
        args,
        myself.get_cell(),
    )
    .await?;
    Ok(supervisor)
}

async fn spawn_pipelines(
    myself: &ActorRef<RootMsg>,
) -> Result<ActorRef<PipelinesMsg>, ActorProcessingErr> {
    let (pipelines, _) = Actor::spawn_linked(
        Some(PIPELINES.to_string()),
        PipelinesSupervisor,
        (),
        myself.get_cell(),
    )
    .await?;
    Ok(pipelines)
}

async fn spawn_jsmpeg(
    myself: &ActorRef<RootMsg>,
) -> Result<ActorRef<JsmpegMsg>, ActorProcessingErr> {
    let (jsmpeg, _) = Actor::spawn_linked(
        Some(JSMPEG.to_string()),
        JsmpegSupervisor,
        (),
        myself.get_cell(),
    )
    .await?;
    Ok(jsmpeg)
}

async fn spawn_demand(
    myself: &ActorRef<RootMsg>,
    events: &tokio::sync::broadcast::Sender<EngineEvent>,
) -> Result<ActorRef<DemandMsg>, ActorProcessingErr> {
    let args = DemandArgs {
        engine_events: events.subscribe(),
    };
    let (demand, _) = Actor::spawn_linked(
        Some(DEMAND.to_string()),
        DemandActor,
        args,
        myself.get_cell(),
    )
    .await?;
    Ok(demand)
}

async fn spawn_engine(
    myself: &ActorRef<RootMsg>,
    data_dir: &std::path::Path,
    events: &tokio::sync::broadcast::Sender<EngineEvent>,
) -> Result<ActorRef<EngineMsg>, ActorProcessingErr> {
    let args = EngineArgs {
        data_dir: data_dir.to_path_buf(),
        events: events.clone(),
    };
    let (engine, _) = Actor::spawn_linked(
        Some(ENGINE.to_string()),
        EngineActor,
        args,
        myself.get_cell(),
    )
    .await?;
    Ok(engine)
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
