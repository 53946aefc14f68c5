//! The engine actor (registered `engine`): keeps MediaMTX as the settings want it. It installs the
//! binary, resolves ports, renders the config, and supervises the [`EngineProcessActor`]: a process
//! that dies is restarted with capped exponential backoff; a settings change that only touches
//! paths or users is applied through MediaMTX's control API (`control`) before the revision is
//! acknowledged, without dropping anyone, and publishers get their URL only once their path's
//! credentials are in force; only bind host, ports or version changes restart the process.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::config::{self, TEST_PATH, WebrtcEnv};
use super::control;
use super::credentials::PublishSecret;
use super::install::{InstallError, Platform, Progress, ProgressView, Release};
use super::ports::{self, EnginePorts};
use super::process::{EngineProcessActor, EngineProcessArgs, EngineProcessMsg};
use super::relays::{PathSources, Relays};
use super::signals::{EngineApi, EngineEvent, HlsMuxer, PathState};
use crate::model::settings::{PreferredPorts, StreamingSettings};
use crate::store::{ActorSubscriber, Revision};
use crate::supervision::observe::{ChildEntry, Observation};
use crate::supervision::restart::{RestartPolicy, RestartTracker};
use crate::supervision::{Liveness, LivenessPolicy};

pub const ENGINE: &str = "engine";
const STOP_DEADLINE: Duration = Duration::from_secs(10);
const LOGS_KEPT: usize = 8;
/// How soon a path/user change the engine's API did not take is tried again.
const SYNC_RETRY: Duration = Duration::from_secs(1);
/// How often the running engine's API is asked whether it still answers.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// How long one heartbeat waits for the API.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(1500);
/// Unanswered heartbeats in a row after which the engine is frozen: killed and restarted.
const HEARTBEATS_MISSED_LIMIT: u32 = 3;
/// Immediate re-resolutions after a port clash before it counts as a failure.
const MAX_PORT_CLASHES: u32 = 3;

pub enum EngineMsg {
    /// A committed settings revision (from the store subscription).
    Apply(Revision, RpcReplyPort<()>),
    /// Answered once the engine runs and answers, or with why it does not.
    WaitReady(RpcReplyPort<Result<(), String>>),
    /// Stop and start the process again (ports are resolved anew).
    Restart(RpcReplyPort<()>),
    /// Install the binary without starting it.
    Download(RpcReplyPort<Result<PathBuf, String>>),
    Status(RpcReplyPort<EngineStatus>),
    /// The actual ports while the engine runs and answers; cheap, for URL resolution.
    ReadyPorts(RpcReplyPort<Option<EnginePorts>>),
    Paths(RpcReplyPort<Result<Vec<PathState>, String>>),
    HlsMuxers(RpcReplyPort<Result<Vec<HlsMuxer>, String>>),
    /// Where a publisher pushes `path` (with that path's publish credentials), while the engine
    /// runs and answers. Secret: never log it.
    PublishUrl(String, RpcReplyPort<Option<String>>),
    /// A transmission changed its entry in the relay book: apply the paths again.
    RelaysChanged,
    Subscribe(RpcReplyPort<broadcast::Receiver<EngineEvent>>),
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
    // Internal.
    ProcessReady {
        pid: u32,
    },
    DownloadFinished {
        generation: u64,
        result: Result<PathBuf, InstallError>,
    },
    RetryStart {
        generation: u64,
    },
    RetrySync {
        generation: u64,
    },
    /// Time to check that the running engine still answers its API.
    Heartbeat,
    /// A heartbeat's answer for the process `pid`.
    HeartbeatResult {
        pid: u32,
        answered: bool,
    },
}

crate::supervised_messages!(EngineMsg);

/// What `GET /api/streams/engine/status` reports (URLs are added by the HTTP layer).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EngineStatus {
    pub enabled: bool,
    pub running: bool,
    /// The process runs and its API answers.
    pub ready: bool,
    pub pid: Option<u32>,
    pub uptime_seconds: Option<f64>,
    pub started_at_unix: Option<f64>,
    pub bind_host: String,
    /// Shown by `view::EngineStatusResponse` (the preferred ports while stopped).
    #[serde(skip)]
    pub ports: Option<EnginePorts>,
    pub preferred_ports: PreferredPorts,
    pub last_error: Option<String>,
    pub mediamtx_version: String,
    pub platform: Option<String>,
    #[schema(value_type = Option<String>)]
    pub binary_path: Option<PathBuf>,
    #[schema(value_type = String)]
    pub config_path: PathBuf,
    #[schema(value_type = Option<String>)]
    pub log_path: Option<PathBuf>,
    pub test_path: &'static str,
    pub warnings: Vec<String>,
    pub restart_count: u32,
    pub download: ProgressView,
    /// The running engine has every path and user of the current settings in force.
    pub config_applied: bool,
    /// Why the last path/user change did not apply (it is retried every second).
    pub config_error: Option<String>,
    /// `preferred` when every preferred port was free at start, else `fallback`.
    pub port_resolution: &'static str,
}

pub struct EngineArgs {
    pub data_dir: PathBuf,
    pub events: broadcast::Sender<EngineEvent>,
    /// This service's binary, run by the engine as its `runOnDemand` hook (see `hooks`);
    /// `None` leaves early readers to the log hint.
    pub hook_binary: Option<PathBuf>,
    /// Paths the engine fills by pulling a camera, as transmissions decided.
    pub relays: Relays,
}

/// The engine's `runOnDemand` hook: the command and the socket its runs connect to.
struct Hooks {
    command: String,
    socket: PathBuf,
    /// Held so the listener and every held connection end with this actor.
    _server: crate::supervision::OwnedTask<()>,
}

pub struct EngineActor;

/// Settings that can only change by starting a new process.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RestartKey {
    bind: IpAddr,
    preferred: PreferredPorts,
    version: String,
}

impl RestartKey {
    fn of(settings: &StreamingSettings) -> RestartKey {
        RestartKey {
            bind: config::bind_host(&settings.engine),
            preferred: settings.engine.preferred_ports,
            version: settings.engine.mediamtx_version.clone(),
        }
    }
}

struct Running {
    actor: ActorRef<EngineProcessMsg>,
    key: RestartKey,
    ports: EnginePorts,
    binary: PathBuf,
    log_path: PathBuf,
    started_at: SystemTime,
    /// Set once the API answers.
    pid: Option<u32>,
}

pub struct EngineState {
    /// Checked on each heartbeat: the process actor itself still answers.
    liveness: Liveness,
    runtime_dir: PathBuf,
    config_path: PathBuf,
    settings: Arc<StreamingSettings>,
    secret: PublishSecret,
    events: broadcast::Sender<EngineEvent>,
    running: Option<Running>,
    port_warnings: Vec<String>,
    tracker: RestartTracker,
    /// A failure happened; the next successful start counts as a restart.
    recovering: bool,
    /// While set, a start waits for this instant (a `RetryStart` is scheduled for it).
    backoff_until: Option<Instant>,
    last_error: Option<String>,
    progress: Arc<Progress>,
    downloading: bool,
    /// Bumped on every stop/restart so late timers and downloads of an older intent are ignored.
    generation: u64,
    ready_waiters: Vec<RpcReplyPort<Result<(), String>>>,
    download_waiters: Vec<RpcReplyPort<Result<PathBuf, String>>>,
    /// Paths whose publish and read users the running engine has confirmed.
    paths_in_force: BTreeSet<String>,
    /// Publishers waiting for their path to come into force.
    publish_waiters: Vec<(String, RpcReplyPort<Option<String>>)>,
    config_error: Option<String>,
    sync_retry_scheduled: bool,
    /// Starts in a row that lost a port to another process between resolving and binding.
    port_clashes: u32,
    /// Heartbeats in a row the running engine did not answer.
    missed_heartbeats: u32,
    heartbeat_in_flight: bool,
    /// The running engine was killed for not answering: its exit is reported as that.
    killed_unresponsive: bool,
    hooks: Option<Hooks>,
    relays: Relays,
}

impl Actor for EngineActor {
    type Msg = EngineMsg;
    type State = EngineState;
    type Arguments = EngineArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<EngineMsg>,
        args: EngineArgs,
    ) -> Result<EngineState, ActorProcessingErr> {
        myself.send_interval(HEARTBEAT_EVERY, || EngineMsg::Heartbeat);
        let runtime_dir = crate::private_file::runtime_dir(&args.data_dir);
        std::fs::create_dir_all(runtime_dir.join("logs"))?;
        let secret = PublishSecret::load_or_create(&runtime_dir)?;
        let hooks = args.hook_binary.and_then(|binary| {
            match super::hooks::bind(&runtime_dir) {
                Ok((listener, socket)) => Some(Hooks {
                    command: super::hooks::command_line(&binary),
                    socket,
                    _server: crate::supervision::OwnedTask::spawn(super::hooks::serve(
                        listener,
                        args.events.clone(),
                    )),
                }),
                Err(err) => {
                    tracing::warn!(%err, "engine hooks unavailable; early readers wait for the log hint");
                    None
                }
            }
        });
        Ok(EngineState {
            liveness: Liveness::new(LivenessPolicy::CHILD),
            config_path: runtime_dir.join("mediamtx.yml"),
            runtime_dir,
            settings: Arc::new(StreamingSettings::default()),
            secret,
            events: args.events,
            running: None,
            port_warnings: Vec::new(),
            tracker: RestartTracker::new(RestartPolicy::process(), Instant::now()),
            recovering: false,
            backoff_until: None,
            last_error: None,
            progress: Arc::new(Progress::default()),
            downloading: false,
            generation: 0,
            ready_waiters: Vec::new(),
            download_waiters: Vec::new(),
            paths_in_force: BTreeSet::new(),
            publish_waiters: Vec::new(),
            config_error: None,
            sync_retry_scheduled: false,
            port_clashes: 0,
            missed_heartbeats: 0,
            heartbeat_in_flight: false,
            killed_unresponsive: false,
            hooks,
            relays: args.relays,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<EngineMsg>,
        state: &mut EngineState,
    ) -> Result<(), ActorProcessingErr> {
        stop_process(state).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<EngineMsg>,
        msg: EngineMsg,
        state: &mut EngineState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            EngineMsg::Apply(revision, reply) => {
                state.settings = revision.settings;
                reconcile(&myself, state).await;
                let _ = reply.send(());
            }
            EngineMsg::WaitReady(reply) => {
                if !state.settings.engine.enabled {
                    let _ = reply.send(Err("Engine is disabled in settings.".into()));
                } else if state.running.as_ref().is_some_and(|r| r.pid.is_some()) {
                    let _ = reply.send(Ok(()));
                } else {
                    state.ready_waiters.push(reply);
                }
            }
            EngineMsg::Restart(reply) => {
                stop_process(state).await;
                state.backoff_until = None;
                reconcile(&myself, state).await;
                let _ = reply.send(());
            }
            EngineMsg::Download(reply) => {
                match release(&state.settings).and_then(|r| r.installed()) {
                    Ok(Some(path)) => {
                        let _ = reply.send(Ok(path));
                    }
                    Ok(None) => {
                        state.download_waiters.push(reply);
                        start_download(&myself, state);
                    }
                    Err(err) => {
                        let _ = reply.send(Err(err.to_string()));
                    }
                }
            }
            EngineMsg::Status(reply) => {
                let _ = reply.send(status(state));
            }
            EngineMsg::ReadyPorts(reply) => {
                let ports = state
                    .running
                    .as_ref()
                    .filter(|r| r.pid.is_some())
                    .map(|r| r.ports);
                let _ = reply.send(ports);
            }
            EngineMsg::PublishUrl(path, reply) => {
                let ready = state.running.as_ref().is_some_and(|r| r.pid.is_some());
                if ready && !state.paths_in_force.contains(&path) && is_wanted(state, &path) {
                    state.publish_waiters.push((path, reply));
                } else {
                    let _ = reply.send(publish_url(state, &path));
                }
            }
            EngineMsg::RelaysChanged => sync_access(&myself, state).await,
            EngineMsg::Paths(reply) => {
                answer_from_api(state, reply, |api| async move { api.paths().await });
            }
            EngineMsg::HlsMuxers(reply) => {
                answer_from_api(state, reply, |api| async move { api.hls_muxers().await });
            }
            EngineMsg::Subscribe(reply) => {
                let _ = reply.send(state.events.subscribe());
            }
            EngineMsg::Fault(fault) => fault.strike().await?,
            EngineMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
            }
            EngineMsg::Observe(reply) => {
                let children = process_entry(state);
                let status = status(state);
                let _ = reply.send(Observation {
                    pid: None,
                    state: json!({
                        "enabled": status.enabled,
                        "ready": status.ready,
                        "ports": status.ports,
                        "download": status.download,
                        "backoff": state.backoff_until.is_some(),
                    }),
                    children,
                });
            }
            EngineMsg::ProcessReady { pid } => {
                if let Some(running) = &mut state.running {
                    running.pid = Some(pid);
                    // The process read whichever file was there when it started; make sure
                    // the current paths and users are what it enforces.
                    sync_access(&myself, state).await;
                    if std::mem::take(&mut state.recovering) {
                        state.tracker.restarted(Instant::now());
                    }
                    state.last_error = None;
                    state.port_clashes = 0;
                    state.missed_heartbeats = 0;
                    for waiter in state.ready_waiters.drain(..) {
                        let _ = waiter.send(Ok(()));
                    }
                    let _ = state.events.send(EngineEvent::Ready { pid });
                }
            }
            EngineMsg::DownloadFinished { generation, result } => {
                state.downloading = false;
                let outcome = result.clone().map_err(|err| err.to_string());
                for waiter in state.download_waiters.drain(..) {
                    let _ = waiter.send(outcome.clone());
                }
                if generation == state.generation {
                    match result {
                        Ok(_) => reconcile(&myself, state).await,
                        Err(err) => {
                            failed(&myself, state, format!("MediaMTX download failed: {err}"))
                        }
                    }
                }
            }
            EngineMsg::RetrySync { generation } => {
                state.sync_retry_scheduled = false;
                if generation == state.generation {
                    sync_access(&myself, state).await;
                }
            }
            EngineMsg::RetryStart { generation } => {
                if generation == state.generation {
                    state.backoff_until = None;
                    reconcile(&myself, state).await;
                }
            }
            EngineMsg::Heartbeat => {
                state.liveness.check(process_entry(state));
                let Some((pid, api_port)) = state
                    .running
                    .as_ref()
                    .and_then(|r| Some((r.pid?, r.ports.api)))
                else {
                    state.missed_heartbeats = 0;
                    return Ok(());
                };
                if std::mem::replace(&mut state.heartbeat_in_flight, true) {
                    return Ok(());
                }
                // Asked off the mailbox: a frozen engine must not freeze this actor.
                let reply_to = myself.clone();
                tokio::spawn(async move {
                    let api = EngineApi::new(api_port);
                    let answered = tokio::time::timeout(HEARTBEAT_TIMEOUT, api.is_ready())
                        .await
                        .unwrap_or(false);
                    let _ = reply_to.send_message(EngineMsg::HeartbeatResult { pid, answered });
                });
            }
            EngineMsg::HeartbeatResult { pid, answered } => {
                state.heartbeat_in_flight = false;
                let current = state.running.as_ref().and_then(|r| r.pid);
                if current != Some(pid) {
                    return Ok(());
                }
                if answered {
                    state.missed_heartbeats = 0;
                    return Ok(());
                }
                state.missed_heartbeats += 1;
                if state.missed_heartbeats >= HEARTBEATS_MISSED_LIMIT {
                    tracing::warn!(
                        pid,
                        "MediaMTX stopped answering its API; killing it to restart"
                    );
                    state.missed_heartbeats = 0;
                    state.killed_unresponsive = true;
                    // SIGKILL ends even a stopped process; its exit is then supervised as usual.
                    // SAFETY: kill(2) on the process group of the engine this actor started.
                    unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<EngineMsg>,
        event: SupervisionEvent,
        state: &mut EngineState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) =
            crate::supervision::child_exit(event, "MediaMTX process actor stopped")
        else {
            return Ok(());
        };
        let ours = state
            .running
            .as_ref()
            .is_some_and(|r| r.actor.get_id() == cell.get_id());
        if ours {
            state.running = None;
            let _ = state.events.send(EngineEvent::Stopped);
            let reason = if std::mem::take(&mut state.killed_unresponsive) {
                format!(
                    "MediaMTX stopped answering its API for {} s and was restarted ({reason})",
                    HEARTBEAT_EVERY.as_secs() * u64::from(HEARTBEATS_MISSED_LIMIT)
                )
            } else {
                reason
            };
            // A port free when resolved was taken before MediaMTX bound it (another process
            // starting at the same moment): resolve again at once rather than back off.
            if reason.contains("address already in use") && state.port_clashes < MAX_PORT_CLASHES {
                state.port_clashes += 1;
                tracing::info!(%reason, "a port was taken while MediaMTX started; retrying with fresh ports");
                let generation = state.generation;
                let _ = myself.send_message(EngineMsg::RetryStart { generation });
                return Ok(());
            }
            tracing::warn!(%reason, "MediaMTX failed");
            failed(&myself, state, reason);
        }
        Ok(())
    }
}

/// Brings the process in line with the settings. Never waits for a download or for readiness.
async fn reconcile(myself: &ActorRef<EngineMsg>, state: &mut EngineState) {
    let settings = state.settings.clone();
    if !settings.engine.enabled {
        stop_process(state).await;
        state.backoff_until = None;
        state.recovering = false;
        for waiter in state.ready_waiters.drain(..) {
            let _ = waiter.send(Err("Engine is disabled in settings.".into()));
        }
        return;
    }
    let key = RestartKey::of(&settings);
    if let Some(running) = &state.running {
        if running.key == key {
            // Paths and users only: applied through the API in place, viewers stay connected.
            // The file is left alone while the process runs (the next start writes it anew):
            // MediaMTX v1.16.2 deadlocks when a file-triggered reload meets an API config call,
            // and its watcher drops a change less than 1 s after the previous one.
            sync_access(myself, state).await;
            return;
        }
        tracing::info!("engine bind host, ports or version changed; restarting MediaMTX");
        stop_process(state).await;
    }
    if state.backoff_until.is_some() || state.downloading {
        return;
    }
    if let Err(reason) = start(myself, state, key).await {
        failed(myself, state, reason);
    }
}

async fn start(
    myself: &ActorRef<EngineMsg>,
    state: &mut EngineState,
    key: RestartKey,
) -> Result<(), String> {
    let release = release(&state.settings).map_err(|e| e.to_string())?;
    let Some(binary) = release.installed().map_err(|e| e.to_string())? else {
        start_download(myself, state);
        return Ok(());
    };
    let (ports, warnings) = ports::resolve(key.bind, &key.preferred)?;
    state.port_warnings = warnings;
    write_config(state, &ports)
        .map_err(|err| format!("cannot write the MediaMTX config: {err}"))?;
    let log_path =
        crate::logs::new_log_path(&state.runtime_dir.join("logs"), "mediamtx", LOGS_KEPT);
    let args = EngineProcessArgs {
        binary: binary.clone(),
        config_path: state.config_path.clone(),
        log_path: log_path.clone(),
        api_port: ports.api,
        hook_socket: state.hooks.as_ref().map(|hooks| hooks.socket.clone()),
        manager: myself.clone(),
        events: state.events.clone(),
    };
    // Unnamed: found through this actor, so a restarted process never collides with a name.
    let (actor, _) = Actor::spawn_linked(None, EngineProcessActor, args, myself.get_cell())
        .await
        .map_err(|err| format!("cannot start the MediaMTX process actor: {err}"))?;
    state.running = Some(Running {
        actor,
        key,
        ports,
        binary,
        log_path,
        started_at: SystemTime::now(),
        pid: None,
    });
    Ok(())
}

fn failed(myself: &ActorRef<EngineMsg>, state: &mut EngineState, reason: String) {
    let delay = state.tracker.failed(Instant::now(), reason.clone());
    state.last_error = Some(reason.clone());
    state.recovering = true;
    state.backoff_until = Some(Instant::now() + delay);
    for waiter in state.ready_waiters.drain(..) {
        let _ = waiter.send(Err(reason.clone()));
    }
    release_publish_waiters(state);
    let generation = state.generation;
    myself.send_after(delay, move || EngineMsg::RetryStart { generation });
}

fn start_download(myself: &ActorRef<EngineMsg>, state: &mut EngineState) {
    if state.downloading {
        return;
    }
    let release = match release(&state.settings) {
        Ok(release) => release,
        Err(err) => {
            let _ = myself.send_message(EngineMsg::DownloadFinished {
                generation: state.generation,
                result: Err(err),
            });
            return;
        }
    };
    state.downloading = true;
    let progress = state.progress.clone();
    let generation = state.generation;
    let myself = myself.clone();
    tokio::spawn(async move {
        let result = release.ensure(progress).await;
        let _ = myself.send_message(EngineMsg::DownloadFinished { generation, result });
    });
}

async fn stop_process(state: &mut EngineState) {
    state.generation += 1;
    if let Some(running) = state.running.take() {
        // The process actor's post_stop stops MediaMTX and reaps it before this returns.
        let _ = running.actor.stop_and_wait(None, Some(STOP_DEADLINE)).await;
        let _ = state.events.send(EngineEvent::Stopped);
    }
    state.port_warnings.clear();
    release_publish_waiters(state);
}

/// Answers `reply` from the running engine's API, off the mailbox (a slow API never holds it).
fn answer_from_api<T, F, Fut>(state: &EngineState, reply: RpcReplyPort<Result<T, String>>, call: F)
where
    T: Send + 'static,
    F: FnOnce(EngineApi) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>> + Send + 'static,
{
    match state.running.as_ref().filter(|r| r.pid.is_some()) {
        Some(running) => {
            let answer = call(EngineApi::new(running.ports.api));
            tokio::spawn(async move {
                let _ = reply.send(answer.await);
            });
        }
        None => {
            let _ = reply.send(Err("Engine is not running.".into()));
        }
    }
}

/// Applies the current paths and users to the running engine through its API; on failure the
/// reason is shown in the status and the change is tried again shortly.
async fn sync_access(myself: &ActorRef<EngineMsg>, state: &mut EngineState) {
    let Some(running) = state.running.as_ref().filter(|r| r.pid.is_some()) else {
        return;
    };
    let rules = config::path_rules(&state.settings, &state.secret);
    let api = EngineApi::new(running.ports.api);
    let relays = state.relays.by_path();
    match control::sync(&api, &rules, path_setup(state, &relays)).await {
        Ok(report) => {
            if report != control::SyncReport::default() {
                tracing::info!(added = ?report.added, replaced = ?report.replaced,
                               removed = ?report.removed, "engine paths applied");
            }
            state.paths_in_force = rules.into_iter().map(|r| r.path).collect();
            state.config_error = None;
            // Every wanted path is in force now; a path no longer wanted gets None.
            for (path, reply) in std::mem::take(&mut state.publish_waiters) {
                let _ = reply.send(publish_url(state, &path));
            }
        }
        Err(err) => {
            tracing::warn!(%err, "engine path/user change did not apply; retrying");
            crate::metrics::events().engine_config_failed();
            state.config_error = Some(err);
            if !std::mem::replace(&mut state.sync_retry_scheduled, true) {
                let generation = state.generation;
                myself.send_after(SYNC_RETRY, move || EngineMsg::RetrySync { generation });
            }
        }
    }
}

fn is_wanted(state: &EngineState, path: &str) -> bool {
    config::path_rules(&state.settings, &state.secret)
        .iter()
        .any(|rule| rule.path == path)
}

/// Where a publisher pushes `path`, once the running engine enforces that path's credentials.
fn publish_url(state: &EngineState, path: &str) -> Option<String> {
    let running = state.running.as_ref().filter(|r| r.pid.is_some())?;
    if !state.paths_in_force.contains(path) {
        return None;
    }
    let credentials = state.secret.credentials_for(path);
    Some(format!(
        "rtsp://{}:{}@127.0.0.1:{}/{path}",
        credentials.user, credentials.pass, running.ports.rtsp
    ))
}

/// The engine is gone: nothing is in force, and waiting publishers hear so now.
fn release_publish_waiters(state: &mut EngineState) {
    state.paths_in_force.clear();
    for (_, reply) in state.publish_waiters.drain(..) {
        let _ = reply.send(None);
    }
}

fn write_config(state: &EngineState, ports: &EnginePorts) -> std::io::Result<()> {
    let rules = config::path_rules(&state.settings, &state.secret);
    let relays = state.relays.by_path();
    let text = config::render(
        &state.settings.engine,
        ports,
        &rules,
        &WebrtcEnv::from_env(),
        path_setup(state, &relays),
    );
    // It holds the publish and read credentials of every path, and the relayed cameras' URLs.
    crate::private_file::write(&state.config_path, text.as_bytes())
}

fn path_setup<'a>(state: &'a EngineState, relays: &'a PathSources) -> config::PathSetup<'a> {
    config::PathSetup {
        on_demand: state.hooks.as_ref().map(|hooks| hooks.command.as_str()),
        relays,
    }
}

fn release(settings: &StreamingSettings) -> Result<Release, InstallError> {
    Release::mediamtx(&settings.engine.mediamtx_version)
}

fn status(state: &EngineState) -> EngineStatus {
    let settings = &state.settings;
    let enabled = settings.engine.enabled;
    let release = release(settings).ok();
    let installed = release.as_ref().and_then(|r| r.installed().ok().flatten());
    let running = state.running.as_ref();
    let mut warnings = state.port_warnings.clone();
    if let Some(err) = &state.config_error {
        warnings.push(format!(
            "A settings change is not applied to the engine yet (retrying): {err}"
        ));
    }
    if !enabled {
        warnings.push("Engine is disabled in settings.".into());
    } else if running.is_none() {
        warnings.push("Engine is enabled but not running.".into());
        if installed.is_none() {
            warnings.push(
                "MediaMTX binary is not installed yet. Starting the engine will download it (internet required), \
                 or set TOPOSYNC_STREAMING_ENGINE_PATH to a local path."
                    .into(),
            );
        }
        if let Some(until) = state.backoff_until {
            let left = until
                .saturating_duration_since(Instant::now())
                .as_secs_f64();
            warnings.push(format!(
                "MediaMTX auto-restart backoff active for {left:.1}s."
            ));
        }
    }
    let unix = |t: SystemTime| t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).ok();
    EngineStatus {
        enabled,
        running: running.is_some(),
        ready: running.is_some_and(|r| r.pid.is_some()),
        pid: running.and_then(|r| r.pid),
        uptime_seconds: running
            .and_then(|r| r.started_at.elapsed().ok())
            .map(|d| d.as_secs_f64()),
        started_at_unix: running.and_then(|r| unix(r.started_at)),
        bind_host: config::bind_host(&settings.engine).to_string(),
        ports: running.map(|r| r.ports),
        preferred_ports: settings.engine.preferred_ports,
        last_error: state.last_error.clone(),
        mediamtx_version: settings.engine.mediamtx_version.clone(),
        platform: Platform::current().ok().map(|p| p.key()),
        binary_path: running.map(|r| r.binary.clone()).or(installed),
        config_path: state.config_path.clone(),
        log_path: running.map(|r| r.log_path.clone()),
        test_path: TEST_PATH,
        warnings,
        restart_count: state.tracker.restarts,
        download: state.progress.view(),
        config_applied: running.is_some_and(|r| r.pid.is_some()) && state.config_error.is_none(),
        config_error: state.config_error.clone(),
        port_resolution: if state.port_warnings.is_empty() {
            "preferred"
        } else {
            "fallback"
        },
    }
}

/// The running engine actor, found by name.
pub fn engine() -> Option<ActorRef<EngineMsg>> {
    ractor::registry::where_is(ENGINE).map(ActorRef::from)
}

/// Delivers committed revisions to the engine actor; a restart on a port change is inside this.
pub fn engine_subscriber(engine: ActorRef<EngineMsg>) -> ActorSubscriber<EngineMsg> {
    ActorSubscriber {
        name: ENGINE,
        actor: engine,
        apply: EngineMsg::Apply,
        deadline: STOP_DEADLINE * 2,
    }
}

/// The MediaMTX process actor, while one runs, as the snapshot and the liveness check see it.
fn process_entry(state: &EngineState) -> Vec<ChildEntry> {
    state
        .running
        .as_ref()
        .map(|running| {
            ChildEntry::supervised(
                "mediamtx".into(),
                "engine_process",
                Some(running.actor.clone()),
                &state.tracker,
            )
        })
        .into_iter()
        .collect()
}
