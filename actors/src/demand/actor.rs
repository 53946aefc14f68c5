//! The demand actor (registered `demand`): owns the [`DemandBook`], feeds it viewers polled from
//! the engine every second while anything encodes, readers the engine holds for an idle path
//! (its `runOnDemand` hook, else its log), primes and heartbeats, and tells the transmissions
//! and pipelines supervisors which outputs should be encoding whenever that changes (and every second, so a
//! restarted supervisor catches up).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::json;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::book::{DemandBook, HeartbeatClient, OutputDemandView, OutputFilter};
use super::first_frame::FirstFrames;
use crate::engine::EngineMsg;
use crate::engine::signals::{EngineEvent, PathState};
use crate::metrics::MeasuredBy;
use crate::pipelines::PipelinesMsg;
use crate::store::{ActorSubscriber, Revision};
use crate::supervision::ask;
use crate::supervision::observe::Observation;
use crate::transmissions::TransmissionsMsg;

pub const DEMAND: &str = "demand";

/// Viewers are asked from the engine this often (spec: 1 s) while anything encodes.
const POLL_VIEWERS_EVERY: Duration = Duration::from_secs(1);
const ENGINE_DEADLINE: Duration = Duration::from_millis(1500);
const APPLY_DEADLINE: Duration = Duration::from_secs(5);

pub enum DemandMsg {
    Apply(Revision, RpcReplyPort<()>),
    Prime {
        transmission_id: String,
        filter: OutputFilter,
        ttl: Duration,
        reply: RpcReplyPort<usize>,
    },
    Heartbeat {
        transmission_id: String,
        filter: OutputFilter,
        session: String,
        client: HeartbeatClient,
        ttl: Duration,
        reply: RpcReplyPort<Vec<String>>,
    },
    /// Demand of one transmission's outputs, or of all.
    Views(Option<String>, RpcReplyPort<Vec<OutputDemandView>>),
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
    // Internal.
    Evaluate,
    PollViewers,
    Paths(Result<Vec<PathState>, String>),
    Hint(String),
    EngineReady,
    EngineStopped,
}

crate::supervised_messages!(DemandMsg);

pub struct DemandArgs {
    pub engine_events: broadcast::Receiver<EngineEvent>,
}

pub struct DemandActor;

pub struct DemandState {
    book: DemandBook,
    /// Server-side time to first frame of each output demand started.
    first_frames: FirstFrames,
    /// What the transmissions supervisor was last told.
    encoding: Arc<BTreeSet<String>>,
    /// Why the last viewer poll failed (the engine is not running or not answering).
    viewers_error: Option<String>,
    told_engine_ready: bool,
    polling: bool,
    /// When the armed `Evaluate` timer fires: the book's next expiry or debounce end.
    evaluate_at: Option<Instant>,
    /// A `PollViewers` timer is on its way.
    poll_armed: bool,
    /// Held so it ends with this actor, however it dies.
    _hint_forwarder: crate::supervision::OwnedTask<()>,
}

impl Actor for DemandActor {
    type Msg = DemandMsg;
    type State = DemandState;
    type Arguments = DemandArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<DemandMsg>,
        args: DemandArgs,
    ) -> Result<DemandState, ActorProcessingErr> {
        let mut events = args.engine_events;
        let forward_to = myself.clone();
        let hint_forwarder = crate::supervision::OwnedTask::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(EngineEvent::DemandHint { path }) => {
                        let _ = forward_to.send_message(DemandMsg::Hint(path));
                    }
                    Ok(EngineEvent::Ready { .. }) => {
                        let _ = forward_to.send_message(DemandMsg::EngineReady);
                    }
                    Ok(EngineEvent::Stopped) => {
                        let _ = forward_to.send_message(DemandMsg::EngineStopped);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        // Until the engine is known to answer, it is asked every second.
        myself.send_after(POLL_VIEWERS_EVERY, || DemandMsg::PollViewers);
        Ok(DemandState {
            book: DemandBook::default(),
            first_frames: FirstFrames::default(),
            encoding: Arc::default(),
            viewers_error: Some("not polled yet".into()),
            told_engine_ready: false,
            polling: false,
            evaluate_at: None,
            poll_armed: true,
            _hint_forwarder: hint_forwarder,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<DemandMsg>,
        msg: DemandMsg,
        state: &mut DemandState,
    ) -> Result<(), ActorProcessingErr> {
        let now = Instant::now();
        match msg {
            DemandMsg::Apply(revision, reply) => {
                state
                    .book
                    .set_transmissions(revision.settings.transmissions.iter());
                publish(state, now, false);
                let _ = reply.send(());
            }
            DemandMsg::Prime {
                transmission_id,
                filter,
                ttl,
                reply,
            } => {
                let primed = state.book.prime(now, &transmission_id, &filter, ttl);
                publish(state, now, false);
                let _ = reply.send(primed);
            }
            DemandMsg::Heartbeat {
                transmission_id,
                filter,
                session,
                client,
                ttl,
                reply,
            } => {
                let renewed =
                    state
                        .book
                        .heartbeat(now, &transmission_id, &filter, &session, client, ttl);
                publish(state, now, false);
                let _ = reply.send(renewed);
            }
            DemandMsg::Views(transmission_id, reply) => {
                let _ = reply.send(state.book.views(now, transmission_id.as_deref()));
            }
            DemandMsg::Evaluate => {
                if state.evaluate_at.is_some_and(|at| at <= now) {
                    state.evaluate_at = None;
                }
                publish(state, now, false);
            }
            DemandMsg::PollViewers => {
                state.poll_armed = false;
                // Resend the decision while anything encodes: a restarted supervisor then
                // catches up (with nothing encoding, a fresh one already agrees).
                publish(state, now, true);
                poll_now(&myself, state);
            }
            DemandMsg::EngineReady => poll_now(&myself, state),
            DemandMsg::Paths(result) => {
                state.polling = false;
                let readers = match result {
                    Ok(paths) => {
                        state.viewers_error = None;
                        let now = crate::unix_now();
                        for (transport, seconds) in state.first_frames.observe(&paths, now) {
                            crate::metrics::events().first_frame(
                                transport,
                                MeasuredBy::Server,
                                seconds,
                            );
                        }
                        paths
                            .into_iter()
                            .map(|path| (path.name, path.readers))
                            .collect()
                    }
                    Err(error) => {
                        // No engine, no viewers: primes, leases and hints still count.
                        state.viewers_error = Some(error);
                        HashMap::new()
                    }
                };
                state.book.set_viewers(&readers);
                publish(state, now, false);
            }
            DemandMsg::EngineStopped => {
                state.viewers_error = Some("the engine stopped".into());
                publish(state, now, false);
            }
            DemandMsg::Hint(path) => {
                state.book.hint(now, &path);
                publish(state, now, false);
            }
            DemandMsg::Fault(fault) => fault.strike().await?,
            DemandMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
            }
            DemandMsg::Observe(reply) => {
                let _ = reply.send(Observation {
                    pid: None,
                    state: json!({
                        "encoding": *state.encoding,
                        "viewers_error": state.viewers_error,
                    }),
                    children: Vec::new(),
                });
            }
        }
        arm_timers(&myself, state);
        Ok(())
    }
}

/// Asks the engine for its readers now, unless nothing encodes and it is known to answer:
/// readers of an idle path are held by the engine and arrive as hints through its hook.
fn poll_now(myself: &ActorRef<DemandMsg>, state: &mut DemandState) {
    if engine_worth_asking(state) && !state.polling {
        state.polling = true;
        tokio::spawn(poll_viewers(myself.clone()));
    }
}

/// Something encodes (its readers keep it going), or the engine is not known to answer.
fn engine_worth_asking(state: &DemandState) -> bool {
    !state.encoding.is_empty() || state.viewers_error.is_some()
}

/// Timers run only while something is pending: an `Evaluate` at the book's next expiry or
/// debounce end, and the viewer poll every second while anything encodes or the engine's state
/// is unknown. An idle service wakes for nothing.
fn arm_timers(myself: &ActorRef<DemandMsg>, state: &mut DemandState) {
    if let Some(at) = state.book.next_change() {
        if state.evaluate_at.is_none_or(|armed| at < armed) {
            state.evaluate_at = Some(at);
            myself.send_after(at.saturating_duration_since(Instant::now()), || {
                DemandMsg::Evaluate
            });
        }
    }
    if engine_worth_asking(state) && !state.poll_armed {
        state.poll_armed = true;
        myself.send_after(POLL_VIEWERS_EVERY, || DemandMsg::PollViewers);
    }
}

/// Evaluates the book and tells the transmissions supervisor when the decision changed (or
/// always, with `resend`).
///
/// Publishers are told only while the engine answers (they have nowhere to publish otherwise;
/// they start within the next viewer poll once it does); camera readers are told regardless, as
/// JSMpeg viewers need frames without any engine.
fn publish(state: &mut DemandState, now: Instant, resend: bool) {
    let encoding = state.book.evaluate(now);
    state.first_frames.follow(
        &encoding,
        |key| state.book.engine_path(key),
        crate::unix_now(),
    );
    let engine_ready = state.viewers_error.is_none();
    if !resend && encoding == *state.encoding && engine_ready == state.told_engine_ready {
        return;
    }
    if encoding != *state.encoding {
        tracing::debug!(?encoding, "demand changed");
    }
    state.encoding = Arc::new(encoding);
    state.told_engine_ready = engine_ready;
    if let Some(transmissions) = crate::transmissions::transmissions() {
        let publishers = if engine_ready {
            state.encoding.clone()
        } else {
            Arc::default()
        };
        let _ = transmissions.send_message(TransmissionsMsg::Demand(publishers));
    }
    if let Some(pipelines) = crate::pipelines::pipelines() {
        let _ = pipelines.send_message(PipelinesMsg::Demand(state.encoding.clone()));
    }
}

/// The engine's paths (readers, readiness), off the demand actor's mailbox.
async fn poll_viewers(demand: ActorRef<DemandMsg>) {
    let result = match crate::engine::engine() {
        None => Err("the engine actor is not running".to_string()),
        Some(engine) => match ask(&engine, EngineMsg::Paths, ENGINE_DEADLINE).await {
            Ok(Ok(paths)) => Ok(paths),
            Ok(Err(error)) => Err(error),
            Err(err) => Err(format!("the engine did not answer: {err:?}")),
        },
    };
    let _ = demand.send_message(DemandMsg::Paths(result));
}

/// Delivers every committed revision to the demand actor.
pub fn demand_subscriber(actor: ActorRef<DemandMsg>) -> ActorSubscriber<DemandMsg> {
    ActorSubscriber {
        name: DEMAND,
        actor,
        apply: DemandMsg::Apply,
        deadline: APPLY_DEADLINE,
    }
}

/// The running demand actor, found by name.
pub fn demand() -> Option<ActorRef<DemandMsg>> {
    ractor::registry::where_is(DEMAND).map(ActorRef::from)
}
