//! The store actor: sole owner of the settings document. Writes are serialized through its
//! mailbox, validated whole, persisted atomically, and applied to subscribers before the writer
//! gets its answer, so a client that saw `200` can immediately observe the effect.

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use serde_json::json;

use super::persist::{self, Recovery};
use crate::model::error::{Loc, ModelError};
use crate::model::settings::StreamingSettings;
use crate::supervision::observe::{BoxFuture, Observation};
use crate::supervision::{AskError, ask};

/// Registered name: the store is a singleton found through the registry.
pub const STORE: &str = "store";

/// The longest any subscriber is waited for with one revision (they are told at once, in
/// parallel). A subscriber still busy after it applies the revision on its own time.
pub const APPLY_BUDGET: Duration = Duration::from_secs(12);

/// What a caller of [`mutate`] (or [`read`], which may queue behind a write) should allow: the
/// edit, the fsync'd save and [`APPLY_BUDGET`]. Longer than the store ever takes, so a write
/// never looks failed to its caller after it was applied.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(25);

/// One committed version of the document. Cheap to clone and share.
#[derive(Debug, Clone)]
pub struct Revision {
    pub number: u64,
    pub settings: Arc<StreamingSettings>,
}

/// An edit of the document. It either changes the document and returns its answer, or refuses.
pub type Mutation =
    Box<dyn FnOnce(&mut StreamingSettings) -> Result<Box<dyn Any + Send>, ModelError> + Send>;

/// Something that must see every committed revision before the writer is answered.
pub trait SettingsSubscriber: Send + Sync + 'static {
    /// Unique per subscriber; subscribing again under the same name replaces the old one.
    fn name(&self) -> &'static str;
    fn settings_changed(&self, revision: Revision) -> BoxFuture<()>;
}

/// A subscriber that is an actor applying revisions through one request message; it waits for the
/// actor's answer (bounded by `deadline`, so a stuck actor cannot wedge the store).
pub struct ActorSubscriber<M: ractor::Message> {
    pub name: &'static str,
    pub actor: ActorRef<M>,
    pub apply: fn(Revision, RpcReplyPort<()>) -> M,
    pub deadline: Duration,
}

impl<M: ractor::Message> SettingsSubscriber for ActorSubscriber<M> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn settings_changed(&self, revision: Revision) -> BoxFuture<()> {
        let (actor, apply, deadline, name) =
            (self.actor.clone(), self.apply, self.deadline, self.name);
        Box::pin(async move {
            let deadline = deadline.min(APPLY_BUDGET);
            if let Err(err) = ask(&actor, |reply| apply(revision, reply), deadline).await {
                tracing::warn!(?err, subscriber = name, "settings were not applied");
            }
        })
    }
}

#[derive(Debug, Clone)]
pub enum StoreError {
    Rejected(ModelError),
    /// The document was valid but could not be written; nothing changed.
    Persist(String),
    /// The edit panicked (a bug); its copy of the document was thrown away, nothing changed.
    Panicked(String),
    Unavailable(AskError),
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoreStatus {
    #[schema(value_type = String)]
    pub path: PathBuf,
    pub revision: u64,
    /// Set when the file found at start-up was unreadable and moved aside.
    pub recovery: Option<Recovery>,
}

pub enum StoreMsg {
    Get(RpcReplyPort<Revision>),
    /// An edit, taken up only if its writer still waits (`claim` is answered first; a writer
    /// that gave up dropped it, and its edit is never applied).
    Mutate {
        mutation: Mutation,
        claim: tokio::sync::oneshot::Sender<()>,
        reply: tokio::sync::oneshot::Sender<Result<Box<dyn Any + Send>, StoreError>>,
    },
    Subscribe(Box<dyn SettingsSubscriber>, RpcReplyPort<()>),
    /// The user saw the recovery report: forget it. Answers whether there was one.
    AcknowledgeRecovery(RpcReplyPort<Result<bool, String>>),
    Status(RpcReplyPort<StoreStatus>),
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
}

crate::supervised_messages!(StoreMsg);

pub struct StoreActor;

pub struct StoreState {
    path: PathBuf,
    current: Revision,
    recovery: Option<Recovery>,
    subscribers: Vec<Box<dyn SettingsSubscriber>>,
}

impl StoreState {
    /// Every subscriber at once; each is bounded by its deadline (at most [`APPLY_BUDGET`]).
    async fn notify_subscribers(&self) {
        let told = self
            .subscribers
            .iter()
            .map(|subscriber| subscriber.settings_changed(self.current.clone()));
        futures_util::future::join_all(told).await;
    }
}

impl Actor for StoreActor {
    type Msg = StoreMsg;
    type State = StoreState;
    type Arguments = PathBuf;

    async fn pre_start(
        &self,
        _myself: ActorRef<StoreMsg>,
        data_dir: PathBuf,
    ) -> Result<StoreState, ActorProcessingErr> {
        let path = persist::settings_path(&data_dir);
        let load_path = path.clone();
        let loaded = tokio::task::spawn_blocking(move || persist::load(&load_path)).await??;
        Ok(StoreState {
            path,
            current: Revision {
                number: loaded.revision,
                settings: Arc::new(loaded.settings),
            },
            recovery: loaded.recovery,
            subscribers: Vec::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<StoreMsg>,
        msg: StoreMsg,
        state: &mut StoreState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            StoreMsg::Get(reply) => {
                let _ = reply.send(state.current.clone());
            }
            StoreMsg::Mutate {
                mutation,
                claim,
                reply,
            } => {
                if claim.send(()).is_err() {
                    tracing::debug!("a writer gave up before its edit was reached; not applied");
                    return Ok(());
                }
                let result = commit(state, mutation).await;
                if result.is_ok() {
                    // A document written whole supersedes what a recovery kept aside.
                    if state.recovery.take().is_some() {
                        if let Err(err) = persist::clear_recovery(&state.path) {
                            tracing::error!(%err, "cannot remove the recovery record");
                        }
                    }
                    state.notify_subscribers().await;
                }
                let _ = reply.send(result);
            }
            StoreMsg::AcknowledgeRecovery(reply) => {
                let had = state.recovery.is_some();
                let cleared = persist::clear_recovery(&state.path).map_err(|e| e.to_string());
                if cleared.is_ok() {
                    state.recovery = None;
                }
                let _ = reply.send(cleared.map(|()| had));
            }
            StoreMsg::Subscribe(subscriber, reply) => {
                subscriber.settings_changed(state.current.clone()).await;
                state.subscribers.retain(|s| s.name() != subscriber.name());
                state.subscribers.push(subscriber);
                let _ = reply.send(());
            }
            StoreMsg::Status(reply) => {
                let _ = reply.send(StoreStatus {
                    path: state.path.clone(),
                    revision: state.current.number,
                    recovery: state.recovery.clone(),
                });
            }
            StoreMsg::Fault(fault) => fault.strike().await?,
            StoreMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
            }
            StoreMsg::Observe(reply) => {
                let _ = reply.send(Observation {
                    pid: None,
                    state: json!({
                        "revision": state.current.number,
                        "path": state.path,
                        "transmissions": state.current.settings.transmissions.len(),
                        "subscribers": state.subscribers.iter().map(|s| s.name()).collect::<Vec<_>>(),
                        "recovered_from_corrupt_file": state.recovery.is_some(),
                    }),
                    children: Vec::new(),
                });
            }
        }
        Ok(())
    }
}

/// Applies one edit to a copy, checks the whole document, persists it, then swaps it in.
async fn commit(
    state: &mut StoreState,
    mutation: Mutation,
) -> Result<Box<dyn Any + Send>, StoreError> {
    // The edit and the whole-document check run on the blocking pool (a reconciliation is CPU
    // work), on a copy: a panic there is that request's failure, not the store's.
    let mut next = (*state.current.settings).clone();
    let edited = tokio::task::spawn_blocking(move || {
        let answer = mutation(&mut next).and_then(|answer| {
            next.validate(&Loc::body())?;
            Ok(answer)
        });
        (next, answer)
    })
    .await;
    let (next, answer) = match edited {
        Ok(edited) => edited,
        Err(err) => {
            let why = panic_message(err);
            tracing::error!(panic = %why, "a settings edit panicked; nothing was changed");
            return Err(StoreError::Panicked(why));
        }
    };
    let answer = answer.map_err(StoreError::Rejected)?;
    let number = state.current.number + 1;
    let path = state.path.clone();
    let next = Arc::new(next);
    let to_save = next.clone();
    tokio::task::spawn_blocking(move || persist::save(&path, &to_save, number))
        .await
        .map_err(|err| StoreError::Persist(err.to_string()))?
        .map_err(|err| {
            tracing::error!(error = %err, "failed to save settings");
            StoreError::Persist(err.to_string())
        })?;
    state.current = Revision {
        number,
        settings: next,
    };
    Ok(answer)
}

fn panic_message(err: tokio::task::JoinError) -> String {
    match err.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into()),
        Err(err) => err.to_string(),
    }
}

/// The running store, found by name (it may have been restarted since the last call).
pub fn store() -> Result<ActorRef<StoreMsg>, StoreError> {
    ractor::registry::where_is(STORE)
        .map(ActorRef::from)
        .ok_or(StoreError::Unavailable(AskError::Unavailable))
}

/// Reads the current revision.
pub async fn read(deadline: Duration) -> Result<Revision, StoreError> {
    ask(&store()?, StoreMsg::Get, deadline)
        .await
        .map_err(StoreError::Unavailable)
}

/// Runs `edit` inside the store and returns its typed answer.
pub async fn mutate<T, F>(edit: F, deadline: Duration) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut StreamingSettings) -> Result<T, ModelError> + Send + 'static,
{
    let mutation: Mutation =
        Box::new(move |doc| edit(doc).map(|answer| Box::new(answer) as Box<dyn Any + Send>));
    let (claim, mut claimed) = tokio::sync::oneshot::channel();
    let (reply, answered) = tokio::sync::oneshot::channel();
    store()?
        .send_message(StoreMsg::Mutate {
            mutation,
            claim,
            reply,
        })
        .map_err(|_| StoreError::Unavailable(AskError::Unavailable))?;
    // `deadline` bounds the wait in the queue. Past it the edit is withdrawn (closing the
    // claim), unless the store took it up in that very moment; once taken up, it finishes
    // within the store's own budgets and its outcome is what this answers: a write never
    // reports failure after it applied.
    let taken = match tokio::time::timeout(deadline, &mut claimed).await {
        Ok(Ok(())) => true,
        // The store stopped with the edit still queued: it was never applied.
        Ok(Err(_)) => return Err(StoreError::Unavailable(AskError::Unavailable)),
        Err(_) => {
            claimed.close();
            claimed.try_recv().is_ok()
        }
    };
    if !taken {
        return Err(StoreError::Unavailable(AskError::Timeout));
    }
    let answer = answered
        .await
        .map_err(|_| StoreError::Unavailable(AskError::Unavailable))??;
    Ok(*answer
        .downcast::<T>()
        .expect("a mutation answers with the type it was built with"))
}

/// Forgets the recovery report (`POST /settings/recovery/acknowledge`); answers whether there
/// was one.
pub async fn acknowledge_recovery(deadline: Duration) -> Result<Result<bool, String>, StoreError> {
    ask(&store()?, StoreMsg::AcknowledgeRecovery, deadline)
        .await
        .map_err(StoreError::Unavailable)
}

pub async fn status(deadline: Duration) -> Result<StoreStatus, StoreError> {
    ask(&store()?, StoreMsg::Status, deadline)
        .await
        .map_err(StoreError::Unavailable)
}
