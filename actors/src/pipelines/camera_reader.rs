//! The camera reader: FFmpeg decodes a source (an RTSP camera, a file, any FFmpeg input) to BGR24
//! frames at a capped fps and size, and feeds them to a transmission as one writer.
//!
//! Two actors, like the engine: [`CameraReaderActor`] supervises a [`DecoderActor`] that *is* the
//! FFmpeg process. FFmpeg exiting, or no frame for `stall_after`, fails the decoder; the reader
//! restarts it with the `PROCESS` backoff, so a dead camera costs a retry every 30 s at most.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::model::camera::redact_url;
use crate::supervision::observe::{ChildEntry, Observation};
use crate::supervision::process::{OwnedProcess, ProcessWithTasks, STOP_GRACE};
use crate::supervision::restart::{RestartPolicy, RestartTracker};
use crate::supervision::{Liveness, LivenessPolicy, ask};
use crate::transmissions::TransmissionMsg;
use crate::transmissions::arbitration::{Frame, Lifecycle};

const WATCHDOG_TICK: Duration = Duration::from_millis(500);
/// How long a stalled FFmpeg gets after SIGINT before SIGKILL.
const STALLED_GRACE: Duration = Duration::from_millis(500);
/// A transmission that does not take a frame within this is treated as gone.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(2);

/// What to read and where the frames go.
#[derive(Clone)]
pub struct CameraReaderArgs {
    /// An FFmpeg input: `rtsp://...`, a file, `lavfi:<filter graph>` or `demo:<W>x<H>` (generated).
    pub source: String,
    /// Frames are contained (letterboxed) into this size.
    pub size: (u32, u32),
    pub fps: f64,
    pub writer_id: String,
    pub priority: i64,
    pub transmission: ActorRef<TransmissionMsg>,
    /// No frame for this long counts as a failure.
    pub stall_after: Duration,
}

/// The FFmpeg command line that decodes `source` to raw BGR24 of exactly `size` at `fps`.
pub fn decoder_args(source: &str, (width, height): (u32, u32), fps: f64) -> Vec<String> {
    let mut args: Vec<String> = ["-hide_banner", "-loglevel", "error", "-nostdin"]
        .map(String::from)
        .to_vec();
    args.extend(crate::ffmpeg::input_args(source));
    let filter = format!(
        "{},format=bgr24",
        crate::ffmpeg::contain_filter(&fps.to_string(), (width, height))
    );
    args.extend(["-an", "-vf", &filter, "-f", "rawvideo", "pipe:1"].map(String::from));
    args
}

pub enum CameraReaderMsg {
    Restart,
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
    /// Time to check that the decoder still answers.
    CheckDecoder,
}

crate::supervised_messages!(CameraReaderMsg);

pub struct CameraReaderActor;

/// The decoder as the snapshot and the liveness check see it.
fn decoder_entry(state: &CameraReaderState) -> Vec<ChildEntry> {
    vec![ChildEntry::supervised(
        "ffmpeg-decoder".into(),
        "camera_decoder",
        state.decoder.clone(),
        &state.tracker,
    )]
}

pub struct CameraReaderState {
    args: CameraReaderArgs,
    decoder: Option<ActorRef<DecoderMsg>>,
    tracker: RestartTracker,
    liveness: Liveness,
}

impl Actor for CameraReaderActor {
    type Msg = CameraReaderMsg;
    type State = CameraReaderState;
    type Arguments = CameraReaderArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<CameraReaderMsg>,
        args: CameraReaderArgs,
    ) -> Result<CameraReaderState, ActorProcessingErr> {
        let decoder = spawn_decoder(&myself, &args).await?;
        let liveness = Liveness::new(LivenessPolicy::CHILD);
        myself.send_interval(liveness.every(), || CameraReaderMsg::CheckDecoder);
        Ok(CameraReaderState {
            args,
            decoder: Some(decoder),
            tracker: RestartTracker::new(RestartPolicy::process(), Instant::now()),
            liveness,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<CameraReaderMsg>,
        state: &mut CameraReaderState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(decoder) = state.decoder.take() {
            let _ = decoder.stop_and_wait(None, Some(STOP_GRACE * 2)).await;
        }
        let writer_id = state.args.writer_id.clone();
        let _ = ask(
            &state.args.transmission,
            |reply| TransmissionMsg::WriterClose { writer_id, reply },
            DELIVERY_DEADLINE,
        )
        .await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<CameraReaderMsg>,
        msg: CameraReaderMsg,
        state: &mut CameraReaderState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CameraReaderMsg::Restart => {
                if state.decoder.is_none() {
                    state.decoder = Some(spawn_decoder(&myself, &state.args).await?);
                    state.tracker.restarted(Instant::now());
                }
            }
            CameraReaderMsg::CheckDecoder => state.liveness.check(decoder_entry(state)),
            CameraReaderMsg::Fault(fault) => fault.strike().await?,
            CameraReaderMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
            }
            CameraReaderMsg::Observe(reply) => {
                let children = decoder_entry(state);
                let _ = reply.send(Observation {
                    pid: None,
                    state: json!({
                        "source": redact_url(&state.args.source),
                        "writer_id": state.args.writer_id,
                        "size": [state.args.size.0, state.args.size.1],
                        "fps": state.args.fps,
                    }),
                    children,
                });
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<CameraReaderMsg>,
        event: ractor::SupervisionEvent,
        state: &mut CameraReaderState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) = crate::supervision::child_exit(event, "decoder stopped") else {
            return Ok(());
        };
        if state
            .decoder
            .as_ref()
            .is_some_and(|d| d.get_id() == cell.get_id())
        {
            state.decoder = None;
            // A transmission that is gone will not come back under this reference: fail, so the
            // pipelines supervisor starts a reader bound to the new one.
            if state.args.transmission.get_status() != ractor::ActorStatus::Running {
                return Err(format!("its transmission stopped ({reason})").into());
            }
            let delay = state.tracker.failed(Instant::now(), reason.clone());
            tracing::warn!(source = %redact_url(&state.args.source), %reason, ?delay, "camera decoder failed");
            myself.send_after(delay, || CameraReaderMsg::Restart);
        }
        Ok(())
    }
}

async fn spawn_decoder(
    myself: &ActorRef<CameraReaderMsg>,
    args: &CameraReaderArgs,
) -> Result<ActorRef<DecoderMsg>, ActorProcessingErr> {
    let (decoder, _) =
        Actor::spawn_linked(None, DecoderActor, args.clone(), myself.get_cell()).await?;
    Ok(decoder)
}

pub enum DecoderMsg {
    Exited(String),
    /// Watchdog tick: fail if no frame came for `stall_after`.
    CheckStall,
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
}

crate::supervised_messages!(DecoderMsg);

pub struct DecoderActor;

pub struct DecoderState {
    args: CameraReaderArgs,
    child: ProcessWithTasks,
    started: Instant,
    /// Milliseconds after `started` of the last frame read (0: none yet).
    last_frame_ms: Arc<AtomicU64>,
    frames: Arc<AtomicU64>,
}

impl Actor for DecoderActor {
    type Msg = DecoderMsg;
    type State = DecoderState;
    type Arguments = CameraReaderArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<DecoderMsg>,
        args: CameraReaderArgs,
    ) -> Result<DecoderState, ActorProcessingErr> {
        Ok(DecoderState {
            args,
            child: ProcessWithTasks::default(),
            started: Instant::now(),
            last_frame_ms: Arc::new(AtomicU64::new(0)),
            frames: Arc::new(AtomicU64::new(0)),
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<DecoderMsg>,
        state: &mut DecoderState,
    ) -> Result<(), ActorProcessingErr> {
        let args = &state.args;
        let script = crate::ffmpeg::stdin_script(&args.source);
        let mut command = tokio::process::Command::new(crate::ffmpeg::ffmpeg_program());
        command
            .args(decoder_args(&args.source, args.size, args.fps))
            .stdin(if script.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let exited = myself.clone();
        let (process, mut io) = OwnedProcess::spawn(command, move |status| {
            let reason = match status {
                Ok(status) => format!("FFmpeg decoder exited ({status})"),
                Err(err) => format!("FFmpeg decoder could not be waited for: {err}"),
            };
            let _ = exited.send_message(DecoderMsg::Exited(reason));
        })
        .map_err(|err| format!("cannot start FFmpeg: {err}"))?;
        state.child.set_process(process);
        if let (Some(script), Some(stdin)) = (script, io.stdin.take()) {
            crate::ffmpeg::feed_stdin(stdin, script).await?;
        }

        let stdout = io.stdout.take().ok_or("FFmpeg has no stdout")?;
        let (latest, mut frames) = watch::channel::<Option<Frame>>(None);
        let (width, height) = args.size;
        let frame_len = width as usize * height as usize * 3;
        let (started, last_frame, count) = (
            state.started,
            state.last_frame_ms.clone(),
            state.frames.clone(),
        );
        // Reads frames as fast as FFmpeg writes them; only the newest waits for the transmission.
        state.child.spawn_task(async move {
            let mut stdout = stdout;
            loop {
                let mut buffer = BytesMut::zeroed(frame_len);
                if stdout.read_exact(&mut buffer).await.is_err() {
                    return;
                }
                let Ok(frame) = Frame::bgr24(buffer.freeze(), width, height) else {
                    return;
                };
                last_frame.store(
                    started.elapsed().as_millis().max(1) as u64,
                    Ordering::Relaxed,
                );
                count.fetch_add(1, Ordering::Relaxed);
                latest.send_replace(Some(frame));
            }
        });
        let (transmission, writer_id, priority) = (
            args.transmission.clone(),
            args.writer_id.clone(),
            args.priority,
        );
        let decoder = myself.clone();
        state.child.spawn_task(async move {
            let mut lifecycle = Lifecycle::Open;
            while frames.changed().await.is_ok() {
                let Some(frame) = frames.borrow_and_update().clone() else {
                    continue;
                };
                let writer_id = writer_id.clone();
                let delivered = ask(
                    &transmission,
                    |reply| TransmissionMsg::WriterUpdate {
                        writer_id,
                        lifecycle,
                        priority,
                        frame: Some(frame),
                        reply,
                    },
                    DELIVERY_DEADLINE,
                )
                .await;
                if delivered.is_err() {
                    let _ = decoder.send_message(DecoderMsg::Exited(
                        "the transmission stopped taking frames".into(),
                    ));
                    return;
                }
                lifecycle = Lifecycle::Update;
            }
        });
        myself.send_interval(WATCHDOG_TICK, || DecoderMsg::CheckStall);
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<DecoderMsg>,
        state: &mut DecoderState,
    ) -> Result<(), ActorProcessingErr> {
        state.child.stop(STOP_GRACE).await;
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<DecoderMsg>,
        msg: DecoderMsg,
        state: &mut DecoderState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            DecoderMsg::Exited(reason) => {
                state.child.exited();
                Err(reason.into())
            }
            DecoderMsg::CheckStall => {
                let last = Duration::from_millis(state.last_frame_ms.load(Ordering::Relaxed));
                let silent = state.started.elapsed().saturating_sub(last);
                if silent > state.args.stall_after {
                    // A frozen FFmpeg will not honour SIGINT: stop it now, before failing.
                    state.child.stop(STALLED_GRACE).await;
                    return Err(format!(
                        "no frame from the source for {:.1} s",
                        silent.as_secs_f64()
                    )
                    .into());
                }
                Ok(())
            }
            DecoderMsg::Fault(fault) => fault.strike().await,
            DecoderMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
                Ok(())
            }
            DecoderMsg::Observe(reply) => {
                let _ = reply.send(Observation {
                    pid: state.child.pid(),
                    state: json!({"frames": state.frames.load(Ordering::Relaxed)}),
                    children: Vec::new(),
                });
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_command_lines() {
        let rtsp = decoder_args("rtsp://cam/main", (640, 360), 10.0).join(" ");
        assert!(
            rtsp.contains("-rtsp_transport tcp -i rtsp://cam/main"),
            "{rtsp}"
        );
        assert!(
            rtsp.contains("fps=10,scale=640:360:force_original_aspect_ratio=decrease,pad=640:360"),
            "{rtsp}"
        );
        assert!(rtsp.ends_with("-f rawvideo pipe:1"));
        let generated = decoder_args("lavfi:testsrc2=size=320x240", (320, 240), 5.0).join(" ");
        assert!(
            generated.contains("-re -f lavfi -i testsrc2=size=320x240"),
            "{generated}"
        );
    }

    #[test]
    fn credentials_never_show() {
        assert_eq!(
            redact_url("rtsp://admin:s3cret@10.0.0.5:554/main"),
            "rtsp://admin:********@10.0.0.5:554/main"
        );
        assert_eq!(redact_url("rtsp://10.0.0.5/main"), "rtsp://10.0.0.5/main");
        assert_eq!(redact_url("lavfi:testsrc2"), "lavfi:testsrc2");
    }
}
