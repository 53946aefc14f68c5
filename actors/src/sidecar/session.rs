//! One browser's MSE session (`MseSessionActor`, a child of the sidecar actor, which counts its
//! children to know when go2rtc is idle): it primes the output, waits for the engine path and
//! for go2rtc, then relays go2rtc's fMP4 WebSocket to the browser both ways, renewing the demand
//! while it runs. The HTTP layer only bridges its socket to the session's two channels.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Upstream;

use super::actor::SidecarMsg;
use super::config::stream_name;
use crate::engine::EngineMsg;
use crate::supervision::observe::Observation;
use crate::supervision::{OwnedTask, ask};

/// A viewer keeps its output demanded this long, renewed every third of it while it watches.
const PRIME: Duration = Duration::from_secs(45);
const PATH_READY_TIMEOUT: Duration = Duration::from_secs(8);
/// Starting go2rtc includes waiting for its API (3 s).
const SIDECAR_DEADLINE: Duration = Duration::from_secs(8);
const API_READY_TIMEOUT: Duration = Duration::from_secs(3);
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages queued towards a browser that reads slowly; the relay then waits (TCP back-pressure
/// on go2rtc) instead of growing memory.
const QUEUED: usize = 32;

/// What the session sends the browser, in order.
#[derive(Debug)]
pub enum ToBrowser {
    /// A JSON control message (the original's `status` and `error` messages).
    Control(Control),
    /// go2rtc's own text message, relayed as is.
    Text(String),
    /// An fMP4 fragment.
    Binary(Bytes),
    /// The last message: close the socket with this code and reason.
    Close(u16, String),
}

/// What the browser sends go2rtc.
#[derive(Debug)]
pub enum FromBrowser {
    Text(String),
    Binary(Bytes),
}

/// The original's control messages: `{"type": "status"|"error", "message", "value", ...}`
/// (`value` repeats `message`; an error may name the engine path, a status the go2rtc stream).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Control {
    #[serde(rename = "type")]
    pub kind: ControlKind,
    pub message: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_path: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlKind {
    Status,
    Error,
}

impl Control {
    fn new(kind: ControlKind, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            kind,
            value: message.clone(),
            message,
            stream: None,
            engine_path: None,
        }
    }

    pub fn status(message: impl Into<String>) -> Self {
        Self::new(ControlKind::Status, message)
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self::new(ControlKind::Error, message)
    }
}

/// Which output of which transmission a viewer's token granted, on which engine path.
pub struct SessionRequest {
    pub engine_path: String,
    pub transmission_id: String,
    pub output_id: String,
}

/// A running session as the HTTP layer holds it.
pub struct MseSession {
    pub to_browser: mpsc::Receiver<ToBrowser>,
    pub from_browser: mpsc::Sender<FromBrowser>,
    /// Stopped when the browser goes away.
    pub actor: ActorRef<SessionMsg>,
}

pub enum SessionMsg {
    /// The relay ended (either side closed, or a step failed and the browser was told).
    Ended,
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    /// Supervision tests only: fail the way production can.
    Fault(crate::supervision::Fault),
}

crate::supervised_messages!(SessionMsg);

pub struct SessionArgs {
    pub request: SessionRequest,
    pub sidecar: ActorRef<SidecarMsg>,
    pub to_browser: mpsc::Sender<ToBrowser>,
    pub from_browser: mpsc::Receiver<FromBrowser>,
}

pub struct MseSessionActor;

pub struct SessionState {
    engine_path: String,
    transmission_id: String,
    output_id: String,
    /// The whole session; aborted (closing both sockets) however the actor ends.
    _relay: OwnedTask<()>,
}

/// Opens the channels and the session's arguments; the caller spawns the actor.
pub fn channels(
    request: SessionRequest,
    sidecar: ActorRef<SidecarMsg>,
) -> (
    SessionArgs,
    mpsc::Receiver<ToBrowser>,
    mpsc::Sender<FromBrowser>,
) {
    let (to_browser, browser_reads) = mpsc::channel(QUEUED);
    let (browser_writes, from_browser) = mpsc::channel(QUEUED);
    let args = SessionArgs {
        request,
        sidecar,
        to_browser,
        from_browser,
    };
    (args, browser_reads, browser_writes)
}

impl Actor for MseSessionActor {
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
            sidecar,
            to_browser,
            from_browser,
        } = args;
        let steps = Steps {
            engine_path: request.engine_path.clone(),
            transmission_id: request.transmission_id.clone(),
            output_id: request.output_id.clone(),
            sidecar,
            to_browser,
            opened: Instant::now(),
        };
        let relay = OwnedTask::spawn(async move {
            steps.run(from_browser).await;
            let _ = myself.send_message(SessionMsg::Ended);
        });
        Ok(SessionState {
            engine_path: request.engine_path,
            transmission_id: request.transmission_id,
            output_id: request.output_id,
            _relay: relay,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SessionMsg>,
        msg: SessionMsg,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Ended => myself.stop(Some("MSE session ended".into())),
            SessionMsg::Fault(fault) => fault.strike().await?,
            SessionMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
            }
            SessionMsg::Observe(reply) => {
                let _ = reply.send(Observation {
                    pid: None,
                    state: json!({"engine_path": state.engine_path,
                                  "transmission_id": state.transmission_id,
                                  "output_id": state.output_id}),
                    children: Vec::new(),
                });
            }
        }
        Ok(())
    }
}

type UpstreamSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The session's workflow, in the original's order and words.
struct Steps {
    engine_path: String,
    transmission_id: String,
    output_id: String,
    sidecar: ActorRef<SidecarMsg>,
    to_browser: mpsc::Sender<ToBrowser>,
    /// For the time to the first media bytes relayed.
    opened: Instant,
}

impl Steps {
    async fn run(&self, from_browser: mpsc::Receiver<FromBrowser>) {
        match self.connect().await {
            Ok(upstream) => {
                self.relay(upstream, from_browser).await;
                let _ = self
                    .to_browser
                    .send(ToBrowser::Close(1000, "MSE session ended".into()))
                    .await;
            }
            Err(error) => {
                let message = error.message.clone();
                let _ = self.to_browser.send(ToBrowser::Control(error)).await;
                let _ = self.to_browser.send(ToBrowser::Close(1011, message)).await;
            }
        }
    }

    async fn status(&self, control: Control) {
        let _ = self.to_browser.send(ToBrowser::Control(control)).await;
    }

    /// Everything before the relay; an `Err` is the error message the browser gets.
    async fn connect(&self) -> Result<UpstreamSocket, Control> {
        self.status(Control::status("Priming MSE backing stream demand."))
            .await;
        crate::demand::prime_output(&self.transmission_id, &self.output_id, PRIME).await;
        self.status(Control::status("Waiting for MSE backing RTSP path."))
            .await;
        if !path_ready(&self.engine_path).await {
            let mut error =
                Control::error("MSE backing RTSP path did not become ready before timeout.");
            error.engine_path = Some(self.engine_path.clone());
            return Err(error);
        }
        self.status(Control::status("Starting MSE go2rtc sidecar."))
            .await;
        let api_port = match ask(&self.sidecar, SidecarMsg::EnsureRunning, SIDECAR_DEADLINE).await {
            Ok(Ok(port)) => port,
            Ok(Err(err)) => {
                return Err(Control::error(format!(
                    "Failed to start MSE sidecar: {err}"
                )));
            }
            Err(err) => {
                return Err(Control::error(format!(
                    "Failed to start MSE sidecar: {err:?}"
                )));
            }
        };
        self.status(Control::status("Waiting for MSE go2rtc API."))
            .await;
        if !api_ready(api_port).await {
            return Err(Control::error(
                "MSE sidecar API did not become reachable before timeout.",
            ));
        }
        let stream = stream_name(&self.engine_path);
        let mut connecting = Control::status("Connecting to MSE go2rtc WebSocket.");
        connecting.stream = Some(stream.clone());
        self.status(connecting).await;
        let url = format!("ws://127.0.0.1:{api_port}/api/ws?src={stream}");
        match tokio::time::timeout(
            UPSTREAM_CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async(&url),
        )
        .await
        {
            Ok(Ok((upstream, _))) => Ok(upstream),
            Ok(Err(err)) => Err(Control::error(format!(
                "MSE upstream WebSocket failed: {err}"
            ))),
            Err(_) => Err(Control::error("MSE upstream WebSocket failed: timeout")),
        }
    }

    /// Text and binary both ways until either side closes; the demand is renewed meanwhile.
    async fn relay(&self, upstream: UpstreamSocket, mut from_browser: mpsc::Receiver<FromBrowser>) {
        let (mut to_go2rtc, mut from_go2rtc) = upstream.split();
        let mut renew = tokio::time::interval(PRIME / 3);
        renew.tick().await;
        let mut first_media = true;
        loop {
            tokio::select! {
                message = from_browser.recv() => {
                    let sent = match message {
                        Some(FromBrowser::Text(text)) => to_go2rtc.send(Upstream::Text(text.into())).await,
                        Some(FromBrowser::Binary(data)) => to_go2rtc.send(Upstream::Binary(data)).await,
                        None => break,
                    };
                    if sent.is_err() {
                        break;
                    }
                }
                message = from_go2rtc.next() => {
                    let relayed = match message {
                        Some(Ok(Upstream::Text(text))) => ToBrowser::Text(text.as_str().to_string()),
                        Some(Ok(Upstream::Binary(data))) => {
                            if std::mem::take(&mut first_media) {
                                crate::metrics::events().first_frame(
                                    "mse",
                                    crate::metrics::MeasuredBy::Server,
                                    self.opened.elapsed().as_secs_f64(),
                                );
                            }
                            ToBrowser::Binary(data)
                        }
                        Some(Ok(Upstream::Ping(_) | Upstream::Pong(_) | Upstream::Frame(_))) => continue,
                        _ => break,
                    };
                    if self.to_browser.send(relayed).await.is_err() {
                        break;
                    }
                }
                _ = renew.tick() => {
                    crate::demand::prime_output(&self.transmission_id, &self.output_id, PRIME).await;
                }
            }
        }
        let _ = to_go2rtc.close().await;
    }
}

/// Polls the engine until the path has a publisher (ready), up to `PATH_READY_TIMEOUT`.
async fn path_ready(path: &str) -> bool {
    let deadline = tokio::time::Instant::now() + PATH_READY_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        if let Some(engine) = crate::engine::engine() {
            if let Ok(Ok(paths)) = ask(&engine, EngineMsg::Paths, Duration::from_secs(2)).await {
                if paths.iter().any(|p| p.name == path && p.ready) {
                    return true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// go2rtc answers its API within 3 s (it usually does at once: the sidecar waits for it too).
async fn api_ready(api_port: u16) -> bool {
    let deadline = tokio::time::Instant::now() + API_READY_TIMEOUT;
    loop {
        if super::summary::api_reachable(api_port).await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_have_the_original_shape() {
        let mut status = Control::status("Connecting to MSE go2rtc WebSocket.");
        status.stream = Some("mse-door".into());
        assert_eq!(
            serde_json::to_value(&status).unwrap(),
            json!({"type": "status", "message": "Connecting to MSE go2rtc WebSocket.",
                   "value": "Connecting to MSE go2rtc WebSocket.", "stream": "mse-door"})
        );
        let mut error =
            Control::error("MSE backing RTSP path did not become ready before timeout.");
        error.engine_path = Some("door".into());
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({"type": "error", "message": "MSE backing RTSP path did not become ready before timeout.",
                   "value": "MSE backing RTSP path did not become ready before timeout.",
                   "engine_path": "door"})
        );
    }
}
