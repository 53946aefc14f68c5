//! The MediaMTX process as an actor: it owns exactly one engine process. The process exiting on
//! its own, or not becoming ready, is this actor's failure; its supervisor (the engine actor)
//! decides when to start a new one.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::broadcast;

use super::actor::EngineMsg;
use super::signals::{EngineApi, EngineEvent, demand_hint};
use crate::supervision::OwnedTask;
use crate::supervision::observe::Observation;
use crate::supervision::process::{OwnedProcess, STOP_GRACE};

/// How long a new engine gets to answer on its API port.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const READY_POLL: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct EngineProcessArgs {
    pub binary: PathBuf,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
    pub api_port: u16,
    /// Where its `runOnDemand` hooks connect (see `hooks`).
    pub hook_socket: Option<PathBuf>,
    pub manager: ActorRef<EngineMsg>,
    pub events: broadcast::Sender<EngineEvent>,
}

pub enum EngineProcessMsg {
    /// The process exited by itself.
    Exited(String),
    /// The API never answered.
    NotReady,
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
}

crate::supervised_messages!(EngineProcessMsg);

pub struct EngineProcessActor;

pub struct EngineProcessState {
    args: EngineProcessArgs,
    process: Option<OwnedProcess>,
    /// Copies stdout to the log; answers the last error line once the process closed stdout.
    log_follower: Option<OwnedTask<Option<String>>>,
    /// Polls the API until the engine answers (or gives up).
    readiness: Option<OwnedTask<()>>,
}

impl Actor for EngineProcessActor {
    type Msg = EngineProcessMsg;
    type State = EngineProcessState;
    type Arguments = EngineProcessArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<EngineProcessMsg>,
        args: EngineProcessArgs,
    ) -> Result<EngineProcessState, ActorProcessingErr> {
        // The process is spawned in post_start, where a failure is a supervised failure.
        Ok(EngineProcessState {
            args,
            process: None,
            log_follower: None,
            readiness: None,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<EngineProcessMsg>,
        state: &mut EngineProcessState,
    ) -> Result<(), ActorProcessingErr> {
        let args = &state.args;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&args.log_path)?;
        let mut command = tokio::process::Command::new(&args.binary);
        command
            .arg(&args.config_path)
            // Its API's times (a path's `readyTime`) then end in `Z`, which the clocks here parse.
            .env("TZ", "UTC")
            .current_dir(
                args.config_path
                    .parent()
                    .unwrap_or(std::path::Path::new(".")),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.try_clone()?));
        if let Some(socket) = &args.hook_socket {
            command.env(super::hooks::SOCKET_ENV, socket);
        }
        let exited = myself.clone();
        let (process, mut io) = OwnedProcess::spawn(command, move |status| {
            let reason = match status {
                Ok(status) => match status.code() {
                    Some(code) => format!("MediaMTX exited unexpectedly (code={code})"),
                    None => format!("MediaMTX exited unexpectedly ({status})"),
                },
                Err(err) => format!("MediaMTX could not be waited for: {err}"),
            };
            let _ = exited.send_message(EngineProcessMsg::Exited(reason));
        })
        .map_err(|err| format!("cannot start MediaMTX ({}): {err}", args.binary.display()))?;
        let pid = process.pid();
        tracing::info!(pid, binary = %args.binary.display(), "MediaMTX started");
        state.process = Some(process);

        if let Some(stdout) = io.stdout.take() {
            state.log_follower = Some(OwnedTask::spawn(follow_log(
                stdout,
                tokio::fs::File::from_std(log),
                args.events.clone(),
            )));
        }
        let api = EngineApi::new(args.api_port);
        let manager = args.manager.clone();
        state.readiness = Some(OwnedTask::spawn(async move {
            let deadline = Instant::now() + READY_TIMEOUT;
            while Instant::now() < deadline {
                if api.is_ready().await {
                    let _ = manager.send_message(EngineMsg::ProcessReady { pid });
                    return;
                }
                tokio::time::sleep(READY_POLL).await;
            }
            let _ = myself.send_message(EngineProcessMsg::NotReady);
        }));
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<EngineProcessMsg>,
        state: &mut EngineProcessState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(process) = state.process.take() {
            let pid = process.pid();
            let how = process.stop(STOP_GRACE).await;
            tracing::info!(pid, ?how, "MediaMTX stopped");
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<EngineProcessMsg>,
        msg: EngineProcessMsg,
        state: &mut EngineProcessState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            EngineProcessMsg::Exited(reason) => {
                state.process = None;
                // The last error line the engine printed usually says why it exited.
                let hint = match state.log_follower.take() {
                    Some(follower) => tokio::time::timeout(Duration::from_secs(1), follower.join())
                        .await
                        .ok()
                        .flatten()
                        .flatten(),
                    None => None,
                };
                Err(match hint {
                    Some(hint) => format!("{reason}. MediaMTX log: {hint}"),
                    None => reason,
                }
                .into())
            }
            EngineProcessMsg::NotReady => Err(format!(
                "MediaMTX startup timed out on API port {}",
                state.args.api_port
            )
            .into()),
            EngineProcessMsg::Fault(fault) => fault.strike().await,
            EngineProcessMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
                Ok(())
            }
            EngineProcessMsg::Observe(reply) => {
                let _ = reply.send(Observation {
                    pid: state.process.as_ref().map(OwnedProcess::pid),
                    state: json!({
                        "binary": state.args.binary,
                        "config_path": state.args.config_path,
                        "log_path": state.args.log_path,
                        "api_port": state.args.api_port,
                    }),
                    children: Vec::new(),
                });
                Ok(())
            }
        }
    }
}

/// Copies the engine's log lines to its log file, turns "no stream is available on path" lines
/// into demand hints for the rest of the system, and returns the last error line it saw.
async fn follow_log(
    stdout: tokio::process::ChildStdout,
    mut file: tokio::fs::File,
    events: broadcast::Sender<EngineEvent>,
) -> Option<String> {
    let mut lines = BufReader::new(stdout).lines();
    let mut last_error = None;
    while let Ok(Some(line)) = lines.next_line().await {
        // A relayed path's source URL holds the camera's credentials.
        let line = crate::model::camera::redact_urls_in(&line);
        if let Some(path) = demand_hint(&line) {
            let _ = events.send(EngineEvent::DemandHint {
                path: path.to_string(),
            });
        }
        if let Some(error) = error_text(&line) {
            last_error = Some(error.to_string());
        }
        let _ = file.write_all(line.as_bytes()).await;
        let _ = file.write_all(b"\n").await;
    }
    let _ = file.flush().await;
    last_error
}

/// The message of an `ERR`/`FTL` log line.
fn error_text(line: &str) -> Option<&str> {
    [" ERR ", " FTL "]
        .iter()
        .find_map(|marker| line.find(marker).map(|at| line[at + marker.len()..].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_explain_a_failure() {
        assert_eq!(
            error_text("2026/01/01 00:00:01 ERR listen tcp :8554: bind: address already in use"),
            Some("listen tcp :8554: bind: address already in use")
        );
        assert_eq!(
            error_text("2026/01/01 00:00:01 FTL bad config"),
            Some("bad config")
        );
        assert_eq!(error_text("2026/01/01 00:00:01 INF fine"), None);
    }
}
