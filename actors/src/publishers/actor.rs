//! One output's publisher: an actor that *is* one FFmpeg process encoding the transmission's
//! selected frame (or the placeholder) at the output's size and fps, and pushing H.264 over RTSP
//! to the engine path. Its transmission starts it while the output is demanded and restarts it
//! with backoff when it fails: FFmpeg exiting, or no progress reported for `stall_after`.
//!
//! Frame path: a pacer task ticks at the output fps, samples the latest selected frame, resizes
//! it once per new frame, and leaves it in a one-slot mailbox; a writer task moves that slot into
//! FFmpeg's stdin. A slow FFmpeg makes the pacer replace the waiting frame (counted as dropped),
//! never queue it, so memory stays at one frame in flight whatever the rates.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::target::{OutputTarget, PublisherInput, publisher_args};
use crate::engine::EngineMsg;
use crate::ffmpeg::{ffmpeg_loglevel, ffmpeg_program};
use crate::frames::{ContainResizer, Placeholders};
use crate::logs::{new_log_path, safe_file_id, sanitize_line};
use crate::supervision::ask;
use crate::supervision::observe::Observation;
use crate::supervision::process::{OwnedProcess, ProcessWithTasks, STOP_GRACE};
use crate::transmissions::actor::SelectedFrame;
use crate::transmissions::arbitration::Frame;

/// A selection that went away keeps being shown (frozen) this long, then the placeholder.
pub const PLACEHOLDER_AFTER: Duration = Duration::from_secs(8);
/// No progress from FFmpeg for this long is a stall (a few GOPs at any fps this service allows).
pub const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(5);
/// A pulling publisher also waits for the camera to answer and send a keyframe.
pub const PULL_STALL_AFTER: Duration = Duration::from_secs(10);
const WATCHDOG_TICK: Duration = Duration::from_millis(500);
/// A frozen FFmpeg will not honour SIGINT; it gets this long before SIGKILL.
const STALLED_GRACE: Duration = Duration::from_millis(500);
const ENGINE_DEADLINE: Duration = Duration::from_secs(2);
const LOGS_KEPT: usize = 20;
const STDERR_TAIL: usize = 20;

pub struct PublisherArgs {
    pub target: OutputTarget,
    pub selected: watch::Receiver<Option<SelectedFrame>>,
    pub placeholders: Placeholders,
    /// The transmission's resize cache, shared by its publishers.
    pub resizes: crate::frames::SharedResizes,
    pub logs_dir: PathBuf,
    pub stall_after: Duration,
}

pub enum PublisherMsg {
    Exited(String),
    CheckStall,
    Status(RpcReplyPort<PublisherStatus>),
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
}

crate::supervised_messages!(PublisherMsg);

/// Counters shared between the publisher's tasks and its status.
#[derive(Default)]
struct Counters {
    /// Frames handed to FFmpeg's stdin.
    written: AtomicU64,
    /// Frames replaced in the slot before FFmpeg took them.
    dropped: AtomicU64,
    /// Frames FFmpeg reports encoded.
    encoded: AtomicU64,
    /// Milliseconds after start of the last progress report that advanced (0: none yet).
    progressed_ms: AtomicU64,
    placeholder_frames: AtomicU64,
}

/// What `GET /runtime/outputs` shows of a running publisher.
#[derive(Debug, Clone, Serialize)]
pub struct PublisherStatus {
    pub pid: Option<u32>,
    pub input_mode: &'static str,
    pub started_at_unix: f64,
    pub frames_written: u64,
    pub frames_dropped: u64,
    pub frames_encoded: u64,
    /// When FFmpeg last reported a newly encoded frame.
    pub last_frame_at_unix: Option<f64>,
    pub placeholder_frames: u64,
    pub showing: &'static str,
    pub log_path: PathBuf,
    pub stderr_tail: Vec<String>,
}

pub struct PublisherActor;

pub struct PublisherState {
    args: PublisherArgs,
    child: ProcessWithTasks,
    started: Instant,
    started_at: SystemTime,
    log_path: PathBuf,
    counters: Arc<Counters>,
    showing: Arc<Mutex<&'static str>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl Actor for PublisherActor {
    type Msg = PublisherMsg;
    type State = PublisherState;
    type Arguments = PublisherArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<PublisherMsg>,
        args: PublisherArgs,
    ) -> Result<PublisherState, ActorProcessingErr> {
        // The process starts in post_start, where a failure is a supervised failure.
        let prefix = format!("ffmpeg-{}", safe_file_id(&args.target.output_key));
        Ok(PublisherState {
            log_path: new_log_path(&args.logs_dir, &prefix, LOGS_KEPT),
            args,
            child: ProcessWithTasks::default(),
            started: Instant::now(),
            started_at: SystemTime::now(),
            counters: Arc::default(),
            showing: Arc::new(Mutex::new("nothing")),
            stderr_tail: Arc::default(),
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<PublisherMsg>,
        state: &mut PublisherState,
    ) -> Result<(), ActorProcessingErr> {
        let target = state.args.target.clone();
        let engine = crate::engine::engine().ok_or("the engine actor is not running")?;
        let publish_url = ask(
            &engine,
            |reply| EngineMsg::PublishUrl(target.engine_path.clone(), reply),
            ENGINE_DEADLINE,
        )
        .await
        .map_err(|err| format!("the engine did not answer: {err:?}"))?
        .ok_or("Engine is not running.")?;

        std::fs::create_dir_all(&state.args.logs_dir)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&state.log_path)?;
        let ffmpeg = ffmpeg_program();
        let mut command = tokio::process::Command::new(&ffmpeg);
        let piped = target.input == PublisherInput::RawvideoPipe;
        let script = match &target.input {
            PublisherInput::RtspPull { url } => crate::ffmpeg::stdin_script(url),
            PublisherInput::RawvideoPipe => None,
        };
        command
            .args(publisher_args(&target, &ffmpeg_loglevel(), &publish_url))
            .stdin(if piped || script.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let exited = myself.clone();
        let (process, mut io) = OwnedProcess::spawn(command, move |status| {
            let reason = match status {
                Ok(status) => match status.code() {
                    Some(code) => format!("FFmpeg exited unexpectedly (code={code})"),
                    None => format!("FFmpeg exited unexpectedly ({status})"),
                },
                Err(err) => format!("FFmpeg could not be waited for: {err}"),
            };
            let _ = exited.send_message(PublisherMsg::Exited(reason));
        })
        .map_err(|err| {
            format!(
                "cannot start FFmpeg ({}): {err}. Install FFmpeg and ensure it is available in \
                 PATH, or set TOPOSYNC_STREAMING_FFMPEG_PATH to the binary path.",
                ffmpeg.to_string_lossy()
            )
        })?;
        tracing::info!(output = %target.output_key, pid = process.pid(), path = %target.engine_path,
                       input = target.input.mode(), "publisher started");
        state.child.set_process(process);

        if piped {
            let slot = Arc::new(FrameSlot::default());
            state.child.spawn_task(pace(
                target.clone(),
                state.args.selected.clone(),
                state.args.placeholders.clone(),
                state.args.resizes.clone(),
                slot.clone(),
                state.counters.clone(),
                state.showing.clone(),
            ));
            let stdin = io.stdin.take().ok_or("FFmpeg has no stdin")?;
            state
                .child
                .spawn_task(write_frames(stdin, slot, state.counters.clone()));
        } else {
            if let (Some(script), Some(stdin)) = (script, io.stdin.take()) {
                crate::ffmpeg::feed_stdin(stdin, script).await?;
            }
            *state.showing.lock().expect("showing lock") = "camera";
        }
        let stdout = io.stdout.take().ok_or("FFmpeg has no stdout")?;
        state
            .child
            .spawn_task(read_progress(stdout, state.started, state.counters.clone()));
        let stderr = io.stderr.take().ok_or("FFmpeg has no stderr")?;
        state.child.spawn_task(keep_stderr(
            stderr,
            tokio::fs::File::from_std(log),
            state.stderr_tail.clone(),
        ));
        myself.send_interval(WATCHDOG_TICK, || PublisherMsg::CheckStall);
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<PublisherMsg>,
        state: &mut PublisherState,
    ) -> Result<(), ActorProcessingErr> {
        if state.child.stop(STOP_GRACE).await.is_some() {
            tracing::info!(output = %state.args.target.output_key, "publisher stopped");
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<PublisherMsg>,
        msg: PublisherMsg,
        state: &mut PublisherState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PublisherMsg::Exited(reason) => {
                state.child.exited();
                Err(with_last_error(reason, &state.stderr_tail).into())
            }
            PublisherMsg::CheckStall => {
                let last =
                    Duration::from_millis(state.counters.progressed_ms.load(Ordering::Relaxed));
                let silent = state.started.elapsed().saturating_sub(last);
                if silent > state.args.stall_after {
                    state.child.stop(STALLED_GRACE).await;
                    return Err(format!(
                        "FFmpeg stalled: no encoding progress for {:.1} s",
                        silent.as_secs_f64()
                    )
                    .into());
                }
                Ok(())
            }
            PublisherMsg::Status(reply) => {
                let _ = reply.send(status(state));
                Ok(())
            }
            PublisherMsg::Fault(fault) => fault.strike().await,
            PublisherMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
                Ok(())
            }
            PublisherMsg::Observe(reply) => {
                let status = status(state);
                let _ = reply.send(Observation {
                    pid: status.pid,
                    state: json!({
                        "output_key": state.args.target.output_key,
                        "engine_path": state.args.target.engine_path,
                        "size": [state.args.target.width, state.args.target.height],
                        "fps": state.args.target.fps,
                        "frames_written": status.frames_written,
                        "frames_dropped": status.frames_dropped,
                        "showing": status.showing,
                    }),
                    children: Vec::new(),
                });
                Ok(())
            }
        }
    }
}

fn status(state: &PublisherState) -> PublisherStatus {
    let counters = &state.counters;
    let started_at_unix = state
        .started_at
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let progressed_ms = counters.progressed_ms.load(Ordering::Relaxed);
    PublisherStatus {
        pid: state.child.pid(),
        input_mode: state.args.target.input.mode(),
        started_at_unix,
        last_frame_at_unix: (progressed_ms > 0)
            .then(|| started_at_unix + progressed_ms as f64 / 1000.0),
        frames_written: counters.written.load(Ordering::Relaxed),
        frames_dropped: counters.dropped.load(Ordering::Relaxed),
        frames_encoded: counters.encoded.load(Ordering::Relaxed),
        placeholder_frames: counters.placeholder_frames.load(Ordering::Relaxed),
        showing: *state.showing.lock().expect("showing lock"),
        log_path: state.log_path.clone(),
        stderr_tail: state
            .stderr_tail
            .lock()
            .expect("stderr tail lock")
            .iter()
            .cloned()
            .collect(),
    }
}

/// `reason` plus FFmpeg's last words, which usually say why (already sanitised).
fn with_last_error(reason: String, tail: &Mutex<VecDeque<String>>) -> String {
    match tail.lock().expect("stderr tail lock").back() {
        Some(line) => format!("{reason}: {line}"),
        None => reason,
    }
}

/// One frame waiting for FFmpeg; a newer frame replaces it.
#[derive(Default)]
struct FrameSlot {
    frame: Mutex<Option<Frame>>,
    ready: Notify,
}

impl FrameSlot {
    /// Returns whether a frame that FFmpeg never took was replaced.
    fn put(&self, frame: Frame) -> bool {
        let replaced = self.frame.lock().expect("frame slot lock").replace(frame);
        self.ready.notify_one();
        replaced.is_some()
    }

    async fn take(&self) -> Frame {
        loop {
            if let Some(frame) = self.frame.lock().expect("frame slot lock").take() {
                return frame;
            }
            self.ready.notified().await;
        }
    }
}

/// How often a picture that does not change (the placeholder, a frozen last frame) is handed to
/// FFmpeg, which keeps the output's constant frame rate by repeating it (`-fps_mode cfr`).
pub const STATIC_EVERY: Duration = Duration::from_millis(500);
/// For this long after FFmpeg starts every picture goes at the full rate: FFmpeg repeats a
/// frame only once the next arrives, and a first viewer (and a prober counting frames, and the
/// first HLS segment) would otherwise wait for it.
const FULL_RATE_AT_START: Duration = Duration::from_secs(2);

/// Ticks at the output fps and offers FFmpeg the frame to show now, resized once per new frame.
/// While a static picture shows it wakes every `STATIC_EVERY` (or at once when the selection
/// changes) instead of every tick, so a placeholder costs two wake-ups and pipe writes a second
/// instead of one per output frame.
async fn pace(
    target: OutputTarget,
    mut selected: watch::Receiver<Option<SelectedFrame>>,
    placeholders: Placeholders,
    resizes: crate::frames::SharedResizes,
    slot: Arc<FrameSlot>,
    counters: Arc<Counters>,
    showing: Arc<Mutex<&'static str>>,
) {
    let size = target.size();
    let mut resizer = ContainResizer::default();
    // (source buffer, its resized version, when it was last the live selection)
    let mut last: Option<(Frame, Frame, Instant)> = None;
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / target.fps.max(1.0)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let started = Instant::now();
    let mut showing_static = false;
    loop {
        if showing_static {
            tokio::select! {
                changed = selected.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(STATIC_EVERY) => {}
            }
            ticks.reset();
        } else {
            ticks.tick().await;
        }
        let now = Instant::now();
        let live = selected
            .borrow_and_update()
            .as_ref()
            .map(|s| s.frame.clone());
        let (frame, shown) = match live {
            Some(source) => {
                let same = last
                    .as_ref()
                    .is_some_and(|(seen, _, _)| seen.data.as_ptr() == source.data.as_ptr());
                let resized = match (&last, same) {
                    (Some((_, resized, _)), true) => resized.clone(),
                    _ => match resizes.resized(resizer, source.clone(), size).await {
                        Some((back, resized)) => {
                            resizer = back;
                            resized
                        }
                        None => return,
                    },
                };
                last = Some((source, resized.clone(), now));
                (resized, "live")
            }
            None => match &last {
                Some((_, resized, at)) if now.duration_since(*at) < PLACEHOLDER_AFTER => {
                    (resized.clone(), "frozen")
                }
                _ => (placeholders.get(size, target.placeholder), "placeholder"),
            },
        };
        *showing.lock().expect("showing lock") = shown;
        showing_static = shown != "live" && now.duration_since(started) >= FULL_RATE_AT_START;
        if shown == "placeholder" {
            counters.placeholder_frames.fetch_add(1, Ordering::Relaxed);
        }
        if slot.put(frame) {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn write_frames(
    mut stdin: tokio::process::ChildStdin,
    slot: Arc<FrameSlot>,
    counters: Arc<Counters>,
) {
    loop {
        let frame = slot.take().await;
        if stdin.write_all(&frame.data).await.is_err() {
            // FFmpeg is gone; its exit is reported by the process guard.
            return;
        }
        counters.written.fetch_add(1, Ordering::Relaxed);
    }
}

/// Follows `-progress` reports: `frame=N` ... `progress=continue`. A report whose frame count
/// grew marks progress for the stall watchdog.
async fn read_progress(
    stdout: tokio::process::ChildStdout,
    started: Instant,
    counters: Arc<Counters>,
) {
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Some(frames) = line
            .strip_prefix("frame=")
            .and_then(|n| n.trim().parse::<u64>().ok())
        else {
            continue;
        };
        if frames > counters.encoded.swap(frames, Ordering::Relaxed) {
            counters.progressed_ms.store(
                started.elapsed().as_millis().max(1) as u64,
                Ordering::Relaxed,
            );
        }
    }
}

/// Copies FFmpeg's stderr to the log file and keeps its last lines, sanitised, for the status.
async fn keep_stderr(
    stderr: tokio::process::ChildStderr,
    mut file: tokio::fs::File,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = sanitize_line(&line);
        if line.is_empty() {
            continue;
        }
        let _ = file.write_all(line.as_bytes()).await;
        let _ = file.write_all(b"\n").await;
        let mut tail = tail.lock().expect("stderr tail lock");
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let _ = file.flush().await;
}
