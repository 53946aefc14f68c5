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

/// How a supervisor checks that its children still answer.
#[derive(Debug, Clone, Copy)]
pub struct LivenessPolicy {
    pub every: Duration,
    /// How long one check waits for each child's answer.
    pub deadline: Duration,
    /// Unanswered checks in a row that make a child frozen.
    pub misses: u32,
}

impl LivenessPolicy {
    /// Per-entity children (transmissions, publishers, decoders, sessions): their handlers are
    /// short, so a child silent for two checks is frozen.
    pub const CHILD: LivenessPolicy = LivenessPolicy {
        every: Duration::from_secs(3),
        deadline: Duration::from_secs(2),
        misses: 2,
    };
    /// The root's singletons: a store write may legitimately hold its mailbox for
    /// `store::APPLY_BUDGET` and an engine start for its API wait, so only 30 s of silence is a
    /// freeze.
    pub const SINGLETON: LivenessPolicy = LivenessPolicy {
        every: Duration::from_secs(5),
        deadline: Duration::from_secs(2),
        misses: 6,
    };
}

/// Whether a supervisor's children still answer: each check asks every running child for an
/// observation off the supervisor's mailbox (a frozen child must not freeze its supervisor) and
/// counts the checks each missed in a row. A child frozen in a handler never fails on its own;
/// this is how it is found: it is killed, so its supervisor restarts it like any failure.
pub struct Liveness {
    policy: LivenessPolicy,
    missed: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<ractor::ActorId, u32>>>,
}

impl Liveness {
    pub fn new(policy: LivenessPolicy) -> Self {
        Self {
            policy,
            missed: Default::default(),
        }
    }

    /// How often the owner should call [`Self::check`].
    pub fn every(&self) -> Duration {
        self.policy.every
    }

    /// Checks `children` (those still starting or waiting out a backoff are skipped) on a task
    /// bounded by the policy's deadline, and kills the frozen ones.
    pub fn check(&self, children: Vec<observe::ChildEntry>) {
        let policy = self.policy;
        let missed = self.missed.clone();
        let running: Vec<_> = children
            .into_iter()
            .filter_map(|child| {
                let actor = child.actor?;
                (actor.cell().get_status() == ractor::ActorStatus::Running)
                    .then_some((child.name, actor))
            })
            .collect();
        if running.is_empty() {
            // Nothing to check (an idle transmission has no publisher): no task either.
            return;
        }
        tokio::spawn(async move {
            let answers = futures_util::future::join_all(running.into_iter().map(
                |(name, actor)| async move {
                    let answered = actor.is_alive(policy.deadline).await;
                    (name, actor.cell(), answered)
                },
            ))
            .await;
            let checked: Vec<_> = answers.iter().map(|(_, cell, _)| cell.get_id()).collect();
            let unanswered: Vec<_> = answers
                .iter()
                .filter(|(_, _, answered)| !answered)
                .map(|(_, cell, _)| cell.get_id())
                .collect();
            let frozen = {
                let mut missed = missed
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                record(&mut missed, &checked, &unanswered, policy.misses)
            };
            for (name, cell, _) in answers
                .iter()
                .filter(|(_, c, _)| frozen.contains(&c.get_id()))
            {
                tracing::warn!(child = %name, "stopped answering; killing it to restart");
                cell.kill();
            }
        });
    }
}

/// Records one check of `checked`; answers the children that have now missed `limit` checks in
/// a row.
fn record(
    missed: &mut std::collections::HashMap<ractor::ActorId, u32>,
    checked: &[ractor::ActorId],
    unanswered: &[ractor::ActorId],
    limit: u32,
) -> Vec<ractor::ActorId> {
    missed.retain(|id, _| checked.contains(id));
    let mut frozen = Vec::new();
    for id in checked {
        if unanswered.contains(id) {
            let count = missed.entry(*id).or_default();
            *count += 1;
            if *count >= limit {
                missed.remove(id);
                frozen.push(*id);
            }
        } else {
            missed.remove(id);
        }
    }
    frozen
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
