//! The live actor tree for `GET /api/streams/runtime/actors`.
//!
//! Every actor answers an observe request with its own small state and handles to its children;
//! supervisors add what only they know (restarts, last error). The tree is walked with a deadline
//! per actor, children in parallel, so one stuck actor shows as `unresponsive` instead of hanging
//! the endpoint.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::future::join_all;
use ractor::{ActorCell, ActorRef, ActorStatus, Message, RpcReplyPort, rpc::CallResult};
use serde::Serialize;
use serde_json::Value;

use super::Fault;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What an actor reports about itself.
pub struct Observation {
    /// PID of the child process the actor owns, if any.
    pub pid: Option<u32>,
    /// Small kind-specific state (for a transmission: its outputs and writers).
    pub state: Value,
    pub children: Vec<ChildEntry>,
}

/// A supervised child as its supervisor sees it.
pub struct ChildEntry {
    pub name: String,
    pub kind: &'static str,
    /// `None` while the child waits out its restart backoff (or, for a publisher, while its
    /// output is not demanded).
    pub actor: Option<Box<dyn Observable>>,
    /// The status shown while `actor` is `None`.
    pub status_without_actor: &'static str,
    pub restarts: u32,
    pub last_error: Option<String>,
}

impl ChildEntry {
    /// A child its supervisor restarts: `actor` is `None` while it waits out its backoff.
    pub fn supervised<M>(
        name: String,
        kind: &'static str,
        actor: Option<ActorRef<M>>,
        tracker: &super::restart::RestartTracker,
    ) -> Self
    where
        M: Message + From<RpcReplyPort<Observation>> + From<RpcReplyPort<Alive>> + From<Fault>,
    {
        Self {
            name,
            kind,
            actor: actor.map(|a| Box::new(a) as Box<dyn Observable>),
            status_without_actor: "restarting",
            restarts: tracker.restarts,
            last_error: tracker.last_error.clone(),
        }
    }
}

/// A liveness check's answer: the actor's handler ran, and built nothing to say so.
#[derive(Debug, Clone, Copy)]
pub struct Alive;

/// An actor reference that can be asked for an [`Observation`], whatever its message type.
pub trait Observable: Send + Sync + 'static {
    fn cell(&self) -> ActorCell;
    fn observe(&self, deadline: Duration) -> BoxFuture<Option<Observation>>;
    /// Whether the actor answers a ping within `deadline` (the liveness checks).
    fn is_alive(&self, deadline: Duration) -> BoxFuture<bool>;
    /// Supervision tests only: makes the actor fail the way production can.
    fn inject(&self, fault: Fault);
}

impl<M> Observable for ActorRef<M>
where
    M: Message + From<RpcReplyPort<Observation>> + From<RpcReplyPort<Alive>> + From<Fault>,
{
    fn cell(&self) -> ActorCell {
        self.get_cell()
    }

    fn observe(&self, deadline: Duration) -> BoxFuture<Option<Observation>> {
        let actor = self.clone();
        Box::pin(async move {
            match actor.call(M::from, Some(deadline)).await {
                Ok(CallResult::Success(observation)) => Some(observation),
                _ => None,
            }
        })
    }

    fn is_alive(&self, deadline: Duration) -> BoxFuture<bool> {
        let actor = self.clone();
        Box::pin(async move {
            matches!(
                actor
                    .call(|reply: RpcReplyPort<Alive>| M::from(reply), Some(deadline))
                    .await,
                Ok(CallResult::Success(Alive))
            )
        })
    }

    fn inject(&self, fault: Fault) {
        let _ = self.send_message(M::from(fault));
    }
}

/// Makes `ActorRef<ThatMsg>` [`Observable`]: the enum needs the variants
/// `Observe(RpcReplyPort<Observation>)` (the snapshot), `Ping(RpcReplyPort<Alive>)` (the liveness
/// checks, answered at once) and `Fault(Fault)` (whose handler arm is `fault.strike().await?`).
#[macro_export]
macro_rules! supervised_messages {
    ($msg:ident) => {
        impl From<ractor::RpcReplyPort<$crate::supervision::observe::Observation>> for $msg {
            fn from(
                reply: ractor::RpcReplyPort<$crate::supervision::observe::Observation>,
            ) -> Self {
                $msg::Observe(reply)
            }
        }

        impl From<ractor::RpcReplyPort<$crate::supervision::observe::Alive>> for $msg {
            fn from(reply: ractor::RpcReplyPort<$crate::supervision::observe::Alive>) -> Self {
                $msg::Ping(reply)
            }
        }

        impl From<$crate::supervision::Fault> for $msg {
            fn from(fault: $crate::supervision::Fault) -> Self {
                $msg::Fault(fault)
            }
        }
    };
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActorSnapshot {
    pub name: String,
    pub kind: &'static str,
    /// `running`, `stopping`, `restarting` (waiting out backoff), `unresponsive`, ...
    pub status: String,
    pub restarts: u32,
    pub last_error: Option<String>,
    pub pid: Option<u32>,
    pub state: Value,
    #[schema(no_recursion)]
    pub children: Vec<ActorSnapshot>,
}

/// Walks the tree below `entry`, giving each actor `deadline` to answer.
pub fn snapshot(entry: ChildEntry, deadline: Duration) -> BoxFuture<ActorSnapshot> {
    Box::pin(async move {
        let mut node = ActorSnapshot {
            name: entry.name,
            kind: entry.kind,
            status: entry.status_without_actor.into(),
            restarts: entry.restarts,
            last_error: entry.last_error,
            pid: None,
            state: Value::Null,
            children: Vec::new(),
        };
        let Some(actor) = entry.actor else {
            return node;
        };
        let status = actor.cell().get_status();
        node.status = status_name(status).into();
        if status != ActorStatus::Running {
            return node;
        }
        match actor.observe(deadline).await {
            Some(observation) => {
                node.pid = observation.pid;
                node.state = observation.state;
                node.children = join_all(
                    observation
                        .children
                        .into_iter()
                        .map(|child| snapshot(child, deadline)),
                )
                .await;
            }
            None => node.status = "unresponsive".into(),
        }
        node
    })
}

/// The actor at `path` below `entry` (child names, as the snapshot shows them), if it runs.
pub fn find(
    entry: ChildEntry,
    path: &[&str],
    deadline: Duration,
) -> BoxFuture<Option<Box<dyn Observable>>> {
    let path: Vec<String> = path.iter().map(|p| p.to_string()).collect();
    Box::pin(async move {
        let mut actor = entry.actor?;
        for name in path {
            let observation = actor.observe(deadline).await?;
            actor = observation
                .children
                .into_iter()
                .find(|child| child.name == name)?
                .actor?;
        }
        Some(actor)
    })
}

fn status_name(status: ActorStatus) -> &'static str {
    match status {
        ActorStatus::Unstarted => "unstarted",
        ActorStatus::Starting => "starting",
        ActorStatus::Running => "running",
        ActorStatus::Upgrading => "upgrading",
        ActorStatus::Draining => "draining",
        ActorStatus::Stopping => "stopping",
        ActorStatus::Stopped => "stopped",
    }
}
