//! Everything below HTTP: the settings model and its pure rules, and the ractor supervision tree
//! that owns state, processes and timing. See `docs/architecture.md` for the tree as built.

pub mod api;
pub mod auth;
pub mod bypass;
pub mod camera_probe;
pub mod demand;
pub mod diagnostics;
pub mod distributed;
pub mod engine;
pub mod ffmpeg;
pub mod frames;
pub mod health;
pub mod hls;
pub mod hls_probe;
pub mod home_assistant;
pub mod jsmpeg;
pub mod logs;
pub mod media_token;
pub mod metrics;
pub mod model;
pub mod net;
pub mod network_contract;
pub mod observability;
pub mod pipelines;
pub mod playback;
pub mod playback_events;
pub mod private_file;
pub mod publishers;
pub mod reconcile;
pub mod root;
pub mod sidecar;
pub mod stills;
pub mod store;
pub mod supervision;
pub mod sync;
pub mod transmissions;
pub mod urls;
pub mod wizard;

use std::path::PathBuf;
use std::time::Duration;

use ractor::{Actor, ActorRef};

use root::{ROOT, RootArgs, RootMsg, RootSupervisor};
use supervision::observe::{ActorSnapshot, ChildEntry, snapshot};

/// Wall-clock seconds since the Unix epoch, as the original's `*_unix` fields.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Long enough for every child process to get SIGINT, its grace period, and SIGKILL.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);

/// The running supervision tree.
pub struct Runtime {
    root: ActorRef<RootMsg>,
    /// Becomes true when the root supervisor has ended, for whatever reason.
    root_ended: tokio::sync::watch::Receiver<bool>,
    /// Signs and checks media URLs; loaded once (the secret never changes while running).
    pub media_tokens: media_token::MediaTokens,
    /// The previous health call's frame counters, for `publisher_frames_sent_rate`.
    pub frame_rates: health::FrameRates,
}

impl Runtime {
    /// Starts the tree: loads settings from `data_dir` and starts every singleton; a
    /// processing server (`TOPOSYNC_ROLE=processing`, see [`sync::SyncConfig::from_env`]) also
    /// its settings sync.
    pub async fn start(data_dir: PathBuf) -> Result<Self, ractor::SpawnErr> {
        Runtime::start_with(data_dir, Runtime::sync_from_env()?, None).await
    }

    /// The settings sync of a processing server, from the environment.
    pub fn sync_from_env() -> Result<Option<sync::SyncConfig>, ractor::SpawnErr> {
        sync::SyncConfig::from_env().map_err(|err| ractor::SpawnErr::StartupFailed(err.into()))
    }

    /// [`Runtime::start`] with the sync configuration given rather than read from the
    /// environment, and the binary the engine runs as its `runOnDemand` hook (the service's
    /// own, with its `engine-hook` command; without it early readers wait for the log hint).
    pub async fn start_with(
        data_dir: PathBuf,
        sync: Option<sync::SyncConfig>,
        hook_binary: Option<PathBuf>,
    ) -> Result<Self, ractor::SpawnErr> {
        let media_tokens =
            media_token::MediaTokens::load_or_create(&private_file::runtime_dir(&data_dir))
                .map_err(|err| {
                    ractor::SpawnErr::StartupFailed(format!("media token secret: {err}").into())
                })?;
        let (root, ended) = Actor::spawn(
            Some(ROOT.to_string()),
            RootSupervisor,
            RootArgs {
                data_dir,
                sync,
                hook_binary,
            },
        )
        .await?;
        let (ended_tx, root_ended) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _ = ended.await;
            let _ = ended_tx.send(true);
        });
        Ok(Self {
            root,
            root_ended,
            media_tokens,
            frame_rates: health::FrameRates::default(),
        })
    }

    /// The live tree, each actor given `deadline` to answer.
    pub async fn snapshot(&self, deadline: Duration) -> ActorSnapshot {
        snapshot(self.root_entry(), deadline).await
    }

    fn root_entry(&self) -> ChildEntry {
        ChildEntry {
            name: ROOT.to_string(),
            kind: "root_supervisor",
            actor: Some(Box::new(self.root.clone())),
            status_without_actor: "restarting",
            restarts: 0,
            last_error: None,
        }
    }

    /// Supervision tests only: makes the actor at `path` (child names below the root, as the
    /// snapshot shows them) fail the way production can. Answers whether it was found.
    pub async fn inject_fault(&self, path: &[&str], fault: supervision::Fault) -> bool {
        match supervision::observe::find(self.root_entry(), path, Duration::from_secs(2)).await {
            Some(actor) => {
                actor.inject(fault);
                true
            }
            None => false,
        }
    }

    /// Resolves when the root supervisor has ended: after [`Self::shutdown`], or on its own
    /// (it failed), in which case nothing below it runs any more and the service must exit.
    pub async fn ended(&self) {
        let mut ended = self.root_ended.clone();
        let _ = ended.wait_for(|ended| *ended).await;
    }

    /// Stops every actor, children in reverse start order, and waits for them (and for the
    /// processes they own) to be gone.
    pub async fn shutdown(&self) {
        let _ = self.root.stop_and_wait(None, Some(SHUTDOWN_DEADLINE)).await;
    }
}
