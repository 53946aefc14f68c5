//! The go2rtc sidecar actor (registered `sidecar`): owns the go2rtc process that turns the
//! engine's internal RTSP into fMP4 for browsers (MSE). Idle until the first MSE viewer (or
//! `POST /mse/start`); it rewrites the config and restarts go2rtc when the streams change;
//! restarts a crashed go2rtc with backoff while it is wanted; stops it when the last MSE viewer
//! has been gone for a while (unless started explicitly).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use super::config::{render, streams};
use super::session::MseSessionActor;
use crate::engine::EngineMsg;
use crate::engine::install::{Platform, Progress, ProgressView, Release};
use crate::model::settings::StreamingSettings;
use crate::store::{ActorSubscriber, Revision};
use crate::supervision::observe::{ChildEntry, Observable, Observation};
use crate::supervision::process::{OwnedProcess, STOP_GRACE};
use crate::supervision::restart::{RestartPolicy, RestartTracker};
use crate::supervision::{Liveness, LivenessPolicy, ask};

pub const SIDECAR: &str = "sidecar";
/// A lazily started sidecar stops after this long without an MSE viewer.
const IDLE_STOP: Duration = Duration::from_secs(30);
const READY_TIMEOUT: Duration = Duration::from_secs(3);
const ENGINE_DEADLINE: Duration = Duration::from_secs(2);

pub const DISABLED: &str = "MSE sidecar is disabled in streaming settings.";
pub const ENGINE_DOWN: &str = "MediaMTX engine is not running; MSE needs the internal RTSP output.";

pub enum SidecarMsg {
    Apply(Revision, RpcReplyPort<()>),
    /// Start go2rtc if needed; answers its API port once it answers, or why not.
    EnsureRunning(RpcReplyPort<Result<u16, String>>),
    /// Why MSE cannot start right now, if it cannot (for URL resolution; starts nothing).
    Blocking(RpcReplyPort<Option<String>>),
    /// Explicit start: runs until stopped (no idle stop).
    Start(RpcReplyPort<Result<u16, String>>),
    Stop(RpcReplyPort<()>),
    Download(RpcReplyPort<Result<PathBuf, String>>),
    /// A browser's MSE session: a new child that relays go2rtc to it until either side ends.
    OpenSession(
        super::session::SessionRequest,
        RpcReplyPort<Result<super::session::MseSession, String>>,
    ),
    /// Time to check that every session still answers.
    CheckLiveness,
    Status(RpcReplyPort<SidecarStatus>),
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
    // Internal.
    Exited(u64, String),
    RetryStart,
    IdleCheck,
    DownloadFinished(Result<PathBuf, String>),
}

crate::supervised_messages!(SidecarMsg);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SidecarStatus {
    pub enabled: bool,
    pub running: bool,
    pub pid: Option<u32>,
    pub uptime_seconds: Option<f64>,
    pub started_at_unix: Option<f64>,
    pub bind_host: &'static str,
    /// The running sidecar's port, else the configured one.
    pub api_port: u16,
    pub last_error: Option<String>,
    pub go2rtc_version: String,
    pub platform: Option<String>,
    #[schema(value_type = Option<String>)]
    pub binary_path: Option<PathBuf>,
    #[schema(value_type = String)]
    pub config_path: PathBuf,
    #[schema(value_type = String)]
    pub log_path: PathBuf,
    pub warnings: Vec<String>,
    pub restart_count: u32,
    pub stream_count: usize,
    pub mse_sessions: usize,
    pub pinned: bool,
    pub download: ProgressView,
}

struct Running {
    process: OwnedProcess,
    generation: u64,
    api_port: u16,
    config: String,
    stream_count: usize,
    started: SystemTime,
}

pub struct SidecarActor;

pub struct SidecarState {
    dir: PathBuf,
    settings: Arc<StreamingSettings>,
    running: Option<Running>,
    generation: u64,
    last_error: Option<String>,
    warnings: Vec<String>,
    tracker: RestartTracker,
    /// The MSE sessions (children); go2rtc stops some time after the last one ends.
    sessions: Vec<ActorRef<super::session::SessionMsg>>,
    liveness: Liveness,
    idle_since: Option<Instant>,
    /// Started explicitly: no idle stop.
    pinned: bool,
    progress: Arc<Progress>,
    download_waiters: Vec<RpcReplyPort<Result<PathBuf, String>>>,
}

impl SidecarState {
    fn release(&self) -> Result<Release, String> {
        Release::go2rtc(&self.settings.engine.mse_sidecar.go2rtc_version).map_err(|e| e.to_string())
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("go2rtc.yaml")
    }

    fn wanted(&self) -> bool {
        self.settings.engine.mse_sidecar.enabled && (self.pinned || !self.sessions.is_empty())
    }

    async fn blocking(&self) -> Result<(PathBuf, u16), String> {
        if !self.settings.engine.mse_sidecar.enabled {
            return Err(DISABLED.into());
        }
        let binary = self
            .release()
            .and_then(|r| r.installed().map_err(|e| e.to_string()))
            .map_err(|err| format!("go2rtc binary is unavailable: {err}"))?
            .ok_or_else(|| {
                "go2rtc binary is unavailable: not installed (POST /api/streams/mse/download, or set \
                 TOPOSYNC_STREAMING_GO2RTC_PATH)"
                    .to_string()
            })?;
        let engine = crate::engine::engine().ok_or(ENGINE_DOWN)?;
        let ports = ask(&engine, EngineMsg::ReadyPorts, ENGINE_DEADLINE)
            .await
            .ok()
            .flatten()
            .ok_or(ENGINE_DOWN)?;
        Ok((binary, ports.rtsp))
    }
}

impl Actor for SidecarActor {
    type Msg = SidecarMsg;
    type State = SidecarState;
    type Arguments = PathBuf;

    async fn pre_start(
        &self,
        myself: ActorRef<SidecarMsg>,
        data_dir: PathBuf,
    ) -> Result<SidecarState, ActorProcessingErr> {
        myself.send_interval(Duration::from_secs(5), || SidecarMsg::IdleCheck);
        let liveness = Liveness::new(LivenessPolicy::CHILD);
        myself.send_interval(liveness.every(), || SidecarMsg::CheckLiveness);
        Ok(SidecarState {
            dir: crate::private_file::runtime_dir(&data_dir).join("go2rtc"),
            settings: Arc::default(),
            running: None,
            generation: 0,
            last_error: None,
            warnings: Vec::new(),
            tracker: RestartTracker::new(RestartPolicy::process(), Instant::now()),
            sessions: Vec::new(),
            liveness,
            idle_since: None,
            pinned: false,
            progress: Arc::default(),
            download_waiters: Vec::new(),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SidecarMsg>,
        state: &mut SidecarState,
    ) -> Result<(), ActorProcessingErr> {
        stop_process(state).await;
        Ok(())
    }

    /// Sessions are temporary: one that ends (either socket closed, a step failed, or it
    /// failed) is forgotten, never restarted; the viewer reconnects if it wants.
    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<SidecarMsg>,
        event: ractor::SupervisionEvent,
        state: &mut SidecarState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some((cell, reason)) = crate::supervision::child_exit(event, "MSE session ended") {
            state.sessions.retain(|s| s.get_id() != cell.get_id());
            if reason != "MSE session ended" {
                tracing::warn!(%reason, "MSE session failed");
            }
            if state.sessions.is_empty() {
                state.idle_since = Some(Instant::now());
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SidecarMsg>,
        msg: SidecarMsg,
        state: &mut SidecarState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SidecarMsg::Apply(revision, reply) => {
                state.settings = revision.settings.clone();
                if !state.settings.engine.mse_sidecar.enabled {
                    state.pinned = false;
                    stop_process(state).await;
                } else if state.running.is_some() {
                    // New streams: rewrite the config (restarting go2rtc only if it changed).
                    if let Err(err) = ensure_running(&myself, state).await {
                        state.last_error = Some(err);
                    }
                }
                let _ = reply.send(());
            }
            SidecarMsg::EnsureRunning(reply) => {
                let _ = reply.send(ensure_running(&myself, state).await);
            }
            SidecarMsg::Blocking(reply) => {
                let blocked = match &state.running {
                    Some(_) => None,
                    None => state.blocking().await.err(),
                };
                let _ = reply.send(blocked);
            }
            SidecarMsg::Start(reply) => {
                state.pinned = true;
                let _ = reply.send(ensure_running(&myself, state).await);
            }
            SidecarMsg::Stop(reply) => {
                state.pinned = false;
                stop_process(state).await;
                let _ = reply.send(());
            }
            SidecarMsg::Download(reply) => match state
                .release()
                .and_then(|r| r.installed().map_err(|e| e.to_string()))
            {
                Ok(Some(path)) => {
                    let _ = reply.send(Ok(path));
                }
                Ok(None) => {
                    state.download_waiters.push(reply);
                    if state.download_waiters.len() == 1 {
                        let release = state.release();
                        let progress = state.progress.clone();
                        let me = myself.clone();
                        tokio::spawn(async move {
                            let result = match release {
                                Ok(release) => {
                                    release.ensure(progress).await.map_err(|e| e.to_string())
                                }
                                Err(err) => Err(err),
                            };
                            let _ = me.send_message(SidecarMsg::DownloadFinished(result));
                        });
                    }
                }
                Err(err) => {
                    let _ = reply.send(Err(err));
                }
            },
            SidecarMsg::DownloadFinished(result) => {
                for waiter in state.download_waiters.drain(..) {
                    let _ = waiter.send(result.clone());
                }
            }
            SidecarMsg::OpenSession(request, reply) => {
                let (args, to_browser, from_browser) =
                    super::session::channels(request, myself.clone());
                let spawned =
                    Actor::spawn_linked(None, MseSessionActor, args, myself.get_cell()).await;
                let _ = reply.send(match spawned {
                    Ok((actor, _)) => {
                        state.sessions.push(actor.clone());
                        state.idle_since = None;
                        Ok(super::session::MseSession {
                            to_browser,
                            from_browser,
                            actor,
                        })
                    }
                    Err(err) => Err(format!("MSE session failed to start: {err}")),
                });
            }
            SidecarMsg::CheckLiveness => state.liveness.check(sessions(state)),
            SidecarMsg::IdleCheck => {
                let idle = state
                    .idle_since
                    .is_some_and(|since| since.elapsed() >= IDLE_STOP);
                if state.running.is_some() && !state.pinned && state.sessions.is_empty() && idle {
                    tracing::info!("no MSE viewer left; stopping the go2rtc sidecar");
                    stop_process(state).await;
                }
            }
            SidecarMsg::Exited(generation, reason) => {
                if state
                    .running
                    .as_ref()
                    .is_some_and(|r| r.generation == generation)
                {
                    state.running = None;
                    let delay = state.tracker.failed(Instant::now(), reason.clone());
                    state.last_error = Some(reason.clone());
                    tracing::warn!(%reason, ?delay, "go2rtc exited");
                    if state.wanted() {
                        myself.send_after(delay, || SidecarMsg::RetryStart);
                    }
                }
            }
            SidecarMsg::RetryStart => {
                if state.running.is_none() && state.wanted() {
                    state.tracker.restarted(Instant::now());
                    if let Err(err) = ensure_running(&myself, state).await {
                        state.last_error = Some(err);
                    }
                }
            }
            SidecarMsg::Status(reply) => {
                let _ = reply.send(status(state));
            }
            SidecarMsg::Fault(fault) => fault.strike().await?,
            SidecarMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
            }
            SidecarMsg::Observe(reply) => {
                let _ = reply.send(Observation {
                    pid: state.running.as_ref().map(|r| r.process.pid()),
                    state: json!({"enabled": state.settings.engine.mse_sidecar.enabled,
                                  "mse_sessions": state.sessions.len(), "pinned": state.pinned}),
                    children: sessions(state),
                });
            }
        }
        Ok(())
    }
}

/// The MSE sessions as the snapshot and the liveness check see them.
fn sessions(state: &SidecarState) -> Vec<ChildEntry> {
    state
        .sessions
        .iter()
        .map(|session| ChildEntry {
            name: format!("mse:{}", session.get_id()),
            kind: "mse_session",
            actor: Some(Box::new(session.clone()) as Box<dyn Observable>),
            status_without_actor: "restarting",
            restarts: 0,
            last_error: None,
        })
        .collect()
}

/// Makes go2rtc run with the current streams; answers its API port once the API answers.
async fn ensure_running(
    myself: &ActorRef<SidecarMsg>,
    state: &mut SidecarState,
) -> Result<u16, String> {
    let (binary, engine_rtsp) = state.blocking().await?;
    let streams = streams(&state.settings, engine_rtsp);
    if let Some(running) = &state.running {
        if running.config == render(running.api_port, &streams) {
            return Ok(running.api_port);
        }
        stop_process(state).await;
    }
    let preferred = state
        .settings
        .engine
        .mse_sidecar
        .api_port
        .clamp(1024, 65535) as u16;
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let api_port = crate::engine::ports::free_tcp_near(loopback, preferred)
        .ok_or_else(|| format!("no free port for the go2rtc API near {preferred}"))?;
    state.warnings.clear();
    if api_port != preferred {
        state.warnings.push(format!(
            "MSE go2rtc API port {preferred} unavailable; using {api_port}."
        ));
    }
    let config = render(api_port, &streams);
    // It holds the engine's read credentials of every stream.
    crate::private_file::write(&state.config_path(), config.as_bytes())
        .map_err(|e| format!("cannot write the go2rtc config: {e}"))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.dir.join("go2rtc.log"))
        .map_err(|e| format!("cannot open the go2rtc log: {e}"))?;
    let mut command = tokio::process::Command::new(&binary);
    command
        .arg("-c")
        .arg(state.config_path())
        .current_dir(&state.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(log));
    state.generation += 1;
    let generation = state.generation;
    let exited = myself.clone();
    let (process, _) = OwnedProcess::spawn(command, move |status| {
        let reason = match status {
            Ok(status) => match status.code() {
                Some(code) => format!("go2rtc exited with code {code}"),
                None => format!("go2rtc exited ({status})"),
            },
            Err(err) => format!("go2rtc could not be waited for: {err}"),
        };
        let _ = exited.send_message(SidecarMsg::Exited(generation, reason));
    })
    .map_err(|err| {
        format!(
            "MSE sidecar unavailable: cannot start {}: {err}",
            binary.display()
        )
    })?;
    tracing::info!(pid = process.pid(), api_port, "go2rtc started");
    state.running = Some(Running {
        process,
        generation,
        api_port,
        config,
        stream_count: streams.len(),
        started: SystemTime::now(),
    });
    state.last_error = None;
    state.idle_since = state.sessions.is_empty().then(Instant::now);
    // Readiness: its API answers (any HTTP status below 500).
    let client = crate::net::http_client();
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        let answer = client
            .get(format!("http://127.0.0.1:{api_port}/api/streams"))
            .timeout(Duration::from_millis(500))
            .send()
            .await;
        if answer.is_ok_and(|r| r.status().as_u16() < 500) {
            return Ok(api_port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("MSE sidecar API did not become reachable before timeout.".into())
}

async fn stop_process(state: &mut SidecarState) {
    if let Some(running) = state.running.take() {
        running.process.stop(STOP_GRACE).await;
        tracing::info!("go2rtc stopped");
    }
}

fn status(state: &SidecarState) -> SidecarStatus {
    let release = state.release().ok();
    let installed = release.as_ref().and_then(|r| r.installed().ok().flatten());
    let running = state.running.as_ref();
    let mut warnings = state.warnings.clone();
    let engine = &state.settings.engine;
    let mut warn = |warning: &str| {
        if !warnings.iter().any(|w| w == warning) {
            warnings.push(warning.to_string());
        }
    };
    // The status route's own wording (the URL resolution says DISABLED).
    if !engine.mse_sidecar.enabled {
        warn("MSE sidecar is disabled in settings.");
    }
    if !engine.enabled {
        warn("MSE sidecar needs the MediaMTX streaming engine to be enabled.");
    }
    if installed.is_none() {
        warn(
            "go2rtc binary is not installed yet. The next MSE start will download it automatically \
             (internet required), or set TOPOSYNC_STREAMING_GO2RTC_PATH to a local path.",
        );
    }
    SidecarStatus {
        enabled: state.settings.engine.mse_sidecar.enabled,
        running: running.is_some(),
        pid: running.map(|r| r.process.pid()),
        uptime_seconds: running
            .and_then(|r| r.started.elapsed().ok())
            .map(|d| d.as_secs_f64()),
        started_at_unix: running.and_then(|r| {
            r.started
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs_f64())
        }),
        bind_host: "127.0.0.1",
        api_port: running.map_or(engine.mse_sidecar.api_port as u16, |r| r.api_port),
        last_error: state.last_error.clone(),
        go2rtc_version: state.settings.engine.mse_sidecar.go2rtc_version.clone(),
        platform: Platform::current().ok().map(|p| p.key()),
        binary_path: installed,
        config_path: state.config_path(),
        log_path: state.dir.join("go2rtc.log"),
        warnings,
        restart_count: state.tracker.restarts,
        stream_count: running.map_or(0, |r| r.stream_count),
        mse_sessions: state.sessions.len(),
        pinned: state.pinned,
        download: state.progress.view(),
    }
}

/// Delivers every committed revision to the sidecar.
pub fn sidecar_subscriber(actor: ActorRef<SidecarMsg>) -> ActorSubscriber<SidecarMsg> {
    ActorSubscriber {
        name: SIDECAR,
        actor,
        apply: SidecarMsg::Apply,
        deadline: Duration::from_secs(10),
    }
}

pub fn sidecar() -> Option<ActorRef<SidecarMsg>> {
    ractor::registry::where_is(SIDECAR).map(ActorRef::from)
}
