//! Supervision helpers shared by every supervisor: restart policy, the observable tree, and
//! request/reply with a deadline.

pub mod observe;
pub mod process;
pub mod restart;

use std::time::Duration;

use ractor::{ActorCell, ActorRef, Message, RpcReplyPort, SupervisionEvent, rpc::CallResult};

/// Why an actor did not answer a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskError {
    /// It did not answer within the deadline.
    Timeout,
    /// It is not running (stopped, restarting, or dropped the reply).
    Unavailable,
}

/// A task that ends with its owner. A dropped `JoinHandle` detaches its task, and ractor skips
/// `post_stop` when an actor fails, panics or is killed; an actor's state is dropped however it
/// dies, so tasks kept as `OwnedTask` in the state are aborted then.
pub struct OwnedTask<T>(Option<tokio::task::JoinHandle<T>>);

impl<T: Send + 'static> OwnedTask<T> {
    pub fn spawn(task: impl std::future::Future<Output = T> + Send + 'static) -> Self {
        Self(Some(tokio::spawn(task)))
    }

    /// Waits for the task's result (`None` if it panicked or was aborted).
    pub async fn join(mut self) -> Option<T> {
        self.0.take()?.await.ok()
    }

    pub fn abort(&self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

impl<T> Drop for OwnedTask<T> {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// A failure injected into an actor, for the supervision tests (never sent by the service): the
/// ways a child dies or hangs in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The handler returns `Err`.
    Error,
    /// The handler panics.
    Panic,
    /// The handler never returns: the actor stops answering.
    Freeze,
}

impl Fault {
    /// Acts the fault out inside a handler.
    pub async fn strike(self) -> Result<(), ractor::ActorProcessingErr> {
        match self {
            Fault::Error => Err("injected fault: error".into()),
            Fault::Panic => panic!("injected fault: panic"),
            Fault::Freeze => std::future::pending().await,
        }
    }
}

/// Whether a supervisor's children still answer: each check pings them off the supervisor's
/// mailbox (a frozen child must not freeze its supervisor) and counts the checks each missed in
/// a row. A child frozen in a handler never fails on its own; this is how it is found.
#[derive(Default)]
pub struct Liveness {
    missed: std::collections::HashMap<ractor::ActorId, u32>,
}

impl Liveness {
    /// Pings every child within `deadline`; the future answers the ones that did not answer.
    pub async fn ping<M: Message>(
        children: Vec<ActorRef<M>>,
        ping: fn(RpcReplyPort<()>) -> M,
        deadline: Duration,
    ) -> Vec<ractor::ActorId> {
        let pings = children.into_iter().map(|child| async move {
            let answered = ask(&child, ping, deadline).await.is_ok();
            (!answered).then(|| child.get_id())
        });
        futures_util::future::join_all(pings)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Records one check of `checked`; answers the children that have now missed `limit` checks
    /// in a row (to be killed, so that they are restarted like any failure).
    pub fn record(
        &mut self,
        checked: &[ractor::ActorId],
        unanswered: &[ractor::ActorId],
        limit: u32,
    ) -> Vec<ractor::ActorId> {
        self.missed.retain(|id, _| checked.contains(id));
        let mut frozen = Vec::new();
        for id in checked {
            if unanswered.contains(id) {
                let missed = self.missed.entry(*id).or_default();
                *missed += 1;
                if *missed >= limit {
                    self.missed.remove(id);
                    frozen.push(*id);
                }
            } else {
                self.missed.remove(id);
            }
        }
        frozen
    }
}

/// An actor a request needed did not answer: which one, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreachable {
    pub what: &'static str,
    pub err: AskError,
}

impl Unreachable {
    pub fn new(what: &'static str, err: AskError) -> Self {
        Self { what, err }
    }
}

/// Sends a request and waits at most `deadline` for the reply. Never an unbounded wait.
pub async fn ask<M, T>(
    actor: &ActorRef<M>,
    make: impl FnOnce(RpcReplyPort<T>) -> M,
    deadline: Duration,
) -> Result<T, AskError>
where
    M: Message,
    T: Send + 'static,
{
    match actor.call(make, Some(deadline)).await {
        Ok(CallResult::Success(reply)) => Ok(reply),
        Ok(CallResult::Timeout) => Err(AskError::Timeout),
        Ok(CallResult::SenderError) | Err(_) => Err(AskError::Unavailable),
    }
}

/// The child that stopped and why, for a supervision event that means a child is gone.
/// `stopped` names an exit without a reason (a stop nobody asked for is still a failure).
pub fn child_exit(event: SupervisionEvent, stopped: &str) -> Option<(ActorCell, String)> {
    match event {
        SupervisionEvent::ActorFailed(cell, err) => Some((cell, err.to_string())),
        SupervisionEvent::ActorTerminated(cell, _, reason) => {
            Some((cell, reason.unwrap_or_else(|| stopped.to_string())))
        }
        _ => None,
    }
}
