//! JSMpeg fallback sessions: one actor per viewer WebSocket, owning one FFmpeg that encodes the
//! transmission's selected frame (or the placeholder; or the camera itself when the transmission
//! is bypassed) to MPEG-1 video in MPEG-TS, which the HTTP layer relays to the socket. The
//! `jsmpeg` supervisor enforces the global and per-transmission session limits. No engine needed.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::bypass::BypassSource;
use crate::frames::{ContainResizer, Placeholders};
use crate::model::settings::Jsmpeg;
use crate::model::transmission::Resolution;
use crate::publishers::actor::PLACEHOLDER_AFTER;
use crate::supervision::observe::{ChildEntry, Observable, Observation};
use crate::supervision::process::{OwnedProcess, ProcessWithTasks};
use crate::supervision::{Liveness, LivenessPolicy, ask};
use crate::transmissions::actor::Viewing;

pub const JSMPEG: &str = "jsmpeg";
/// MPEG-1 runs at a fixed 25 fps (the original's constant); frames are repeated in between.
const ENCODER_FPS: u32 = 25;
/// MPEG-TS chunks waiting for a slow socket; beyond this FFmpeg's stdout blocks (bounded memory).
const CHUNKS_QUEUED: usize = 32;
const CHUNK_BYTES: usize = 64 * 1024;
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Session size: the output's resolution (or the maximum) scaled down to fit the maximum, even
/// dimensions, never upscaled (spec: 1920x1080 -> 852x480, none -> 854x480).
pub fn dimensions(resolution: Option<Resolution>, max_width: i64, max_height: i64) -> (u32, u32) {
    let even = |v: i64| if v % 2 == 1 { (v - 1).max(2) } else { v.max(2) };
    let (max_w, max_h) = (even(max_width), even(max_height));
    let (src_w, src_h) = resolution
        .map(|r| (r.width.max(2), r.height.max(2)))
        .unwrap_or((max_w, max_h));
    let ratio = (max_w as f64 / src_w as f64)
        .min(max_h as f64 / src_h as f64)
        .min(1.0);
    let scale = |v: i64| even(((v as f64 * ratio).round_ties_even() as i64).max(2)) as u32;
    (scale(src_w), scale(src_h))
}

/// FFmpeg for a session: raw BGR24 frames on stdin (or the bypass camera) to MPEG-1 in MPEG-TS.
pub fn ffmpeg_args(size: (u32, u32), bitrate_kbps: i64, camera: Option<&str>) -> Vec<String> {
    let (width, height) = size;
    let mut args: Vec<String> = ["-hide_banner", "-loglevel", "warning", "-nostats"]
        .map(String::from)
        .to_vec();
    match camera {
        None => args.extend(
            [
                "-f",
                "rawvideo",
                "-pix_fmt",
                "bgr24",
                "-s",
                &format!("{width}x{height}"),
                "-r",
                &ENCODER_FPS.to_string(),
                "-i",
                "pipe:0",
            ]
            .map(String::from),
        ),
        Some(url) => {
            args.extend(crate::ffmpeg::input_args(url));
            args.extend([
                "-vf".into(),
                crate::ffmpeg::contain_filter(&ENCODER_FPS.to_string(), size),
            ]);
        }
    }
    args.extend(
        [
            "-an",
            "-c:v",
            "mpeg1video",
            "-b:v",
            &format!("{}k", bitrate_kbps.max(64)),
            "-bf",
            "0",
            "-g",
            &ENCODER_FPS.to_string(),
            "-muxdelay",
            "0.001",
            "-f",
            "mpegts",
            "pipe:1",
        ]
        .map(String::from),
    );
    args
}

/// Why a session was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Disabled,
    GlobalLimit,
    TransmissionLimit,
    Failed(String),
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::Disabled => "JSMpeg fallback is disabled in streaming settings.".into(),
            Refusal::GlobalLimit => "JSMpeg global session limit is reached.".into(),
            Refusal::TransmissionLimit => {
                "JSMpeg session limit for this transmission is reached.".into()
            }
            Refusal::Failed(error) => error.clone(),
        }
    }

    /// WebSocket close code: 1013 (try again later) for limits, 1008 when disabled, else 1011.
    pub fn close_code(&self) -> u16 {
        match self {
            Refusal::GlobalLimit | Refusal::TransmissionLimit => 1013,
            Refusal::Disabled => 1008,
            Refusal::Failed(_) => 1011,
        }
    }
}

/// `GET /jsmpeg/status`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct JsmpegStatus {
    pub enabled: bool,
    pub ffmpeg_path: Option<String>,
    pub ffmpeg_source: &'static str,
    pub ffmpeg_error: Option<&'static str>,
    pub running_session_count: usize,
    pub max_total_sessions: i64,
    pub max_sessions_per_transmission: i64,
    pub sessions_by_transmission: BTreeMap<String, usize>,
    pub frames_encoded: u64,
    pub frames_written: u64,
    pub bytes_sent: u64,
    pub last_error: Option<String>,
    pub warnings: Vec<&'static str>,
}

pub struct SessionRequest {
    pub transmission_id: String,
    pub output_id: String,
    pub resolution: Option<Resolution>,
    pub settings: Jsmpeg,
    pub viewing: Viewing,
}

/// A running session as the HTTP layer holds it: MPEG-TS chunks to relay, and the actor to stop
/// when the socket closes.
pub struct Session {
    pub chunks: mpsc::Receiver<Bytes>,
    pub actor: ActorRef<SessionMsg>,
}

pub enum JsmpegMsg {
    Open(Box<SessionRequest>, RpcReplyPort<Result<Session, Refusal>>),
    /// The status for these settings; `engine_enabled` adds the original's warning.
    Status {
        settings: Jsmpeg,
        engine_enabled: bool,
        reply: RpcReplyPort<JsmpegStatus>,
    },
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
    /// Time to check that every session still answers.
    CheckLiveness,
}

crate::supervised_messages!(JsmpegMsg);

struct Running {
    actor: ActorRef<SessionMsg>,
    transmission_id: String,
}

pub struct JsmpegState {
    sessions: BTreeMap<u64, Running>,
    next_id: u64,
    counters: Arc<Counters>,
    last_error: Option<String>,
    /// A frozen session is killed (and so forgotten, its FFmpeg reaped), never restarted.
    liveness: Liveness,
}

#[derive(Default)]
struct Counters {
    bytes_sent: AtomicU64,
    frames_written: AtomicU64,
}

pub struct JsmpegSupervisor;

impl Actor for JsmpegSupervisor {
    type Msg = JsmpegMsg;
    type State = JsmpegState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<JsmpegMsg>,
        _args: (),
    ) -> Result<JsmpegState, ActorProcessingErr> {
        let liveness = Liveness::new(LivenessPolicy::CHILD);
        myself.send_interval(liveness.every(), || JsmpegMsg::CheckLiveness);
        Ok(JsmpegState {
            sessions: BTreeMap::new(),
            next_id: 0,
            counters: Arc::default(),
            last_error: None,
            liveness,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<JsmpegMsg>,
        state: &mut JsmpegState,
    ) -> Result<(), ActorProcessingErr> {
        let stopping = std::mem::take(&mut state.sessions)
            .into_values()
            .map(|s| async move {
                let _ = s.actor.stop_and_wait(None, Some(STOP_GRACE * 3)).await;
            });
        futures_util::future::join_all(stopping).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<JsmpegMsg>,
        msg: JsmpegMsg,
        state: &mut JsmpegState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            JsmpegMsg::Open(request, reply) => {
                let settings = &request.settings;
                let for_transmission = state
                    .sessions
                    .values()
                    .filter(|s| s.transmission_id == request.transmission_id)
                    .count();
                let refusal = if !settings.enabled {
                    Some(Refusal::Disabled)
                } else if state.sessions.len() as i64 >= settings.max_total_sessions {
                    Some(Refusal::GlobalLimit)
                } else if for_transmission as i64 >= settings.max_sessions_per_transmission {
                    Some(Refusal::TransmissionLimit)
                } else {
                    None
                };
                if let Some(refusal) = refusal {
                    let _ = reply.send(Err(refusal));
                    return Ok(());
                }
                let (sender, chunks) = mpsc::channel(CHUNKS_QUEUED);
                let transmission_id = request.transmission_id.clone();
                let args = SessionArgs {
                    request: *request,
                    chunks: sender,
                    counters: state.counters.clone(),
                };
                match Actor::spawn_linked(None, SessionActor, args, myself.get_cell()).await {
                    Ok((actor, _)) => {
                        state.next_id += 1;
                        state.sessions.insert(
                            state.next_id,
                            Running {
                                actor: actor.clone(),
                                transmission_id,
                            },
                        );
                        let _ = reply.send(Ok(Session { chunks, actor }));
                    }
                    Err(err) => {
                        let error = format!("JSMpeg session failed to start: {err}");
                        state.last_error = Some(error.clone());
                        let _ = reply.send(Err(Refusal::Failed(error)));
                    }
                }
            }
            JsmpegMsg::Status {
                settings,
                engine_enabled,
                reply,
            } => {
                let mut by_transmission: BTreeMap<&str, usize> = BTreeMap::new();
                for session in state.sessions.values() {
                    *by_transmission.entry(&session.transmission_id).or_default() += 1;
                }
                let mut warnings = Vec::new();
                if !settings.enabled {
                    warnings.push("JSMpeg is disabled in settings.");
                }
                if state.sessions.len() as i64 >= settings.max_total_sessions {
                    warnings.push("JSMpeg global session limit is reached.");
                }
                let (ffmpeg_path, ffmpeg_source) = crate::ffmpeg::ffmpeg_resolved();
                let ffmpeg_error = ffmpeg_path
                    .is_none()
                    .then_some(crate::ffmpeg::FFMPEG_NOT_FOUND);
                warnings.extend(ffmpeg_error);
                if settings.enabled && !engine_enabled {
                    warnings
                        .push("JSMpeg needs the streaming engine/demand runtime to be enabled.");
                }
                let frames = state.counters.frames_written.load(Ordering::Relaxed);
                let _ = reply.send(JsmpegStatus {
                    enabled: settings.enabled,
                    ffmpeg_path,
                    ffmpeg_source,
                    ffmpeg_error,
                    running_session_count: state.sessions.len(),
                    max_total_sessions: settings.max_total_sessions,
                    max_sessions_per_transmission: settings.max_sessions_per_transmission,
                    sessions_by_transmission: by_transmission
                        .into_iter()
                        .map(|(id, n)| (id.to_string(), n))
                        .collect(),
                    frames_encoded: frames,
                    frames_written: frames,
                    bytes_sent: state.counters.bytes_sent.load(Ordering::Relaxed),
                    last_error: state.last_error.clone(),
                    warnings,
                });
            }
            JsmpegMsg::Fault(fault) => fault.strike().await?,
            JsmpegMsg::CheckLiveness => state.liveness.check(sessions(state)),
            JsmpegMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
            }
            JsmpegMsg::Observe(reply) => {
                let _ = reply.send(Observation {
                    pid: None,
                    state: json!({"sessions": state.sessions.len()}),
                    children: sessions(state),
                });
            }
        }
        Ok(())
    }

    /// Sessions are temporary: one that ends (socket closed, FFmpeg gone) is forgotten, never
    /// restarted; the viewer reconnects if it wants.
    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<JsmpegMsg>,
        event: SupervisionEvent,
        state: &mut JsmpegState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failure) = match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell, None),
            SupervisionEvent::ActorFailed(cell, err) => (cell, Some(err.to_string())),
            _ => return Ok(()),
        };
        state
            .sessions
            .retain(|_, s| s.actor.get_id() != cell.get_id());
        if let Some(error) = failure {
            tracing::warn!(%error, "JSMpeg session failed");
            state.last_error = Some(error);
        }
        Ok(())
    }
}

/// The sessions as the snapshot and the liveness check see them.
fn sessions(state: &JsmpegState) -> Vec<ChildEntry> {
    state
        .sessions
        .iter()
        .map(|(id, s)| ChildEntry {
            name: format!("jsmpeg:{}:{id}", s.transmission_id),
            kind: "jsmpeg_session",
            actor: Some(Box::new(s.actor.clone()) as Box<dyn Observable>),
            status_without_actor: "restarting",
            restarts: 0,
            last_error: None,
        })
        .collect()
}

pub enum SessionMsg {
    Exited(String),
    Reprime,
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
}

crate::supervised_messages!(SessionMsg);

pub struct SessionArgs {
    request: SessionRequest,
    chunks: mpsc::Sender<Bytes>,
    counters: Arc<Counters>,
}

pub struct SessionActor;

pub struct SessionState {
    transmission_id: String,
    output_id: String,
    size: (u32, u32),
    lease: Duration,
    child: ProcessWithTasks,
}

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SessionMsg>,
        args: SessionArgs,
    ) -> Result<SessionState, ActorProcessingErr> {
        let SessionArgs {
            request,
            chunks,
            counters,
        } = args;
        let settings = &request.settings;
        let size = dimensions(request.resolution, settings.max_width, settings.max_height);
        let camera = request
            .viewing
            .bypass
            .as_ref()
            .map(|b: &BypassSource| b.url.as_str());
        let script = camera.and_then(crate::ffmpeg::stdin_script);
        let mut command = tokio::process::Command::new(crate::ffmpeg::ffmpeg_program());
        command
            .args(ffmpeg_args(size, settings.bitrate_kbps, camera))
            .stdin(if camera.is_none() || script.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let exited = myself.clone();
        let (process, mut io) = OwnedProcess::spawn(command, move |status| {
            let reason = match status {
                Ok(status) => format!("JSMpeg FFmpeg exited ({status})"),
                Err(err) => format!("JSMpeg FFmpeg could not be waited for: {err}"),
            };
            let _ = exited.send_message(SessionMsg::Exited(reason));
        })
        .map_err(|err| format!("cannot start FFmpeg for JSMpeg: {err}"))?;
        let mut child = ProcessWithTasks::default();
        child.set_process(process);
        if let Some(script) = script {
            let stdin = io.stdin.take().ok_or("FFmpeg has no stdin")?;
            crate::ffmpeg::feed_stdin(stdin, script).await?;
        } else if let Some(stdin) = io.stdin.take() {
            let refresh = Duration::from_secs_f64(1.0 / settings.fps.max(1.0));
            child.spawn_task(pump_frames(
                stdin,
                request.transmission_id.clone(),
                request.viewing,
                size,
                refresh,
                counters.clone(),
            ));
        }
        let mut stdout = io.stdout.take().ok_or("FFmpeg has no stdout")?;
        let opened = Instant::now();
        child.spawn_task(async move {
            let mut buffer = vec![0u8; CHUNK_BYTES];
            let mut first = true;
            while let Ok(n) = stdout.read(&mut buffer).await {
                if n == 0 {
                    return;
                }
                if std::mem::take(&mut first) {
                    crate::metrics::events().first_frame(
                        "jsmpeg",
                        crate::metrics::MeasuredBy::Server,
                        opened.elapsed().as_secs_f64(),
                    );
                }
                counters.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
                if chunks
                    .send(Bytes::copy_from_slice(&buffer[..n]))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        let lease = Duration::from_secs_f64(settings.lease_seconds.max(5.0));
        let every = Duration::from_secs_f64(
            settings
                .heartbeat_interval_seconds
                .max(1.0)
                .min((settings.lease_seconds * 0.8).max(1.0)),
        );
        myself.send_interval(every, || SessionMsg::Reprime);
        Ok(SessionState {
            transmission_id: request.transmission_id,
            output_id: request.output_id,
            size,
            lease,
            child,
        })
    }

    async fn post_start(
        &self,
        _myself: ActorRef<SessionMsg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        reprime(state);
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SessionMsg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        state.child.stop(STOP_GRACE).await;
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<SessionMsg>,
        msg: SessionMsg,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Exited(reason) => {
                state.child.exited();
                return Err(reason.into());
            }
            SessionMsg::Reprime => reprime(state),
            SessionMsg::Fault(fault) => fault.strike().await?,
            SessionMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
            }
            SessionMsg::Observe(reply) => {
                let _ = reply.send(Observation {
                    pid: state.child.pid(),
                    state: json!({"transmission_id": state.transmission_id, "output_id": state.output_id,
                                  "size": [state.size.0, state.size.1]}),
                    children: Vec::new(),
                });
            }
        }
        Ok(())
    }
}

/// Keeps the output demanded while someone watches (so camera readers keep delivering frames).
fn reprime(state: &SessionState) {
    let (transmission_id, output_id, lease) = (
        state.transmission_id.clone(),
        state.output_id.clone(),
        state.lease,
    );
    tokio::spawn(async move {
        crate::demand::prime_output(&transmission_id, &output_id, lease).await;
    });
}

/// The transmission's current selection, from its (possibly restarted) actor.
async fn current_viewing(transmission_id: &str) -> Option<Viewing> {
    let actor = crate::transmissions::lookup(transmission_id, RESUBSCRIBE_DEADLINE)
        .await
        .ok()
        .flatten()?;
    ask(
        &actor,
        crate::transmissions::actor::TransmissionMsg::Viewing,
        RESUBSCRIBE_DEADLINE,
    )
    .await
    .ok()
}

const RESUBSCRIBE_DEADLINE: Duration = Duration::from_millis(500);

/// Writes a frame every 1/25 s; the picture is refreshed from the selection every `refresh`
/// (frozen up to 8 s after the selection goes away, then the placeholder).
async fn pump_frames(
    mut stdin: tokio::process::ChildStdin,
    transmission_id: String,
    mut viewing: Viewing,
    size: (u32, u32),
    refresh: Duration,
    counters: Arc<Counters>,
) {
    let placeholders = Placeholders::default();
    let mut resizer = ContainResizer::default();
    let mut shown = placeholders.get(size, viewing.placeholder);
    let mut live_at: Option<Instant> = None;
    let mut last_refresh: Option<Instant> = None;
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / ENCODER_FPS);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let now = Instant::now();
        if last_refresh.is_none_or(|at| now.duration_since(at) >= refresh) {
            last_refresh = Some(now);
            // The transmission restarted: its selection channel closed with it. Follow the new
            // actor; until there is one, the last frame freezes and then the placeholder shows.
            if viewing.selected.has_changed().is_err() {
                if let Some(fresh) = current_viewing(&transmission_id).await {
                    viewing.selected = fresh.selected;
                } else {
                    viewing.selected = tokio::sync::watch::channel(None).1;
                }
            }
            let selected = viewing
                .selected
                .borrow_and_update()
                .as_ref()
                .map(|s| s.frame.clone());
            match selected {
                Some(frame) => {
                    let Some((back, resized)) = resizer.resize_off_runtime(frame, size).await
                    else {
                        return;
                    };
                    (resizer, shown) = (back, resized);
                    live_at = Some(now);
                }
                None if live_at.is_some_and(|at| now.duration_since(at) < PLACEHOLDER_AFTER) => {}
                None => shown = placeholders.get(size, viewing.placeholder),
            }
        }
        if stdin.write_all(&shown.data).await.is_err() {
            return;
        }
        counters.frames_written.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn jsmpeg() -> Option<ActorRef<JsmpegMsg>> {
    ractor::registry::where_is(JSMPEG).map(ActorRef::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_sizes_follow_the_original() {
        let r = |width, height| Some(Resolution { width, height });
        assert_eq!(dimensions(r(1920, 1080), 854, 480), (852, 480));
        assert_eq!(dimensions(r(1280, 720), 854, 480), (852, 480));
        assert_eq!(dimensions(None, 854, 480), (854, 480));
        assert_eq!(
            dimensions(r(640, 480), 854, 480),
            (640, 480),
            "never upscaled"
        );
        assert_eq!(dimensions(r(320, 240), 855, 481), (320, 240));
    }

    #[test]
    fn the_original_command_line() {
        assert_eq!(
            ffmpeg_args((852, 480), 700, None).join(" "),
            "-hide_banner -loglevel warning -nostats -f rawvideo -pix_fmt bgr24 -s 852x480 -r 25 \
             -i pipe:0 -an -c:v mpeg1video -b:v 700k -bf 0 -g 25 -muxdelay 0.001 -f mpegts pipe:1"
        );
        let pulled = ffmpeg_args((640, 360), 10, Some("demo:1280x720")).join(" ");
        assert!(
            pulled
                .contains("-re -f lavfi -i testsrc=size=1280x720:rate=25 -vf fps=25,scale=640:360"),
            "{pulled}"
        );
        assert!(pulled.contains("-b:v 64k"));
    }
}
