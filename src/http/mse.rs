//! MSE through the go2rtc sidecar: its status and controls, and the signed WebSocket that relays
//! go2rtc's fMP4 session to a browser (text control messages and binary fragments, both ways).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Upstream;
use toposync_actors::Runtime;
use toposync_actors::engine::EngineMsg;
use toposync_actors::media_token::Transport;
use toposync_actors::model::edit::now_rfc3339;
use toposync_actors::model::transmission::normalize_path_slug;
use toposync_actors::sidecar::config::stream_name;
use toposync_actors::sidecar::{SidecarMsg, sidecar};
use toposync_actors::store;
use toposync_actors::supervision::{AskError, ask};

use super::STORE_DEADLINE;
use super::error::ApiError;
use super::extract::Params;

/// Starting go2rtc includes waiting for its API (3 s).
const SIDECAR_DEADLINE: Duration = Duration::from_secs(8);
const DOWNLOAD_DEADLINE: Duration = Duration::from_secs(620);
/// An MSE viewer keeps its output demanded this long, renewed while it watches.
const MSE_PRIME: Duration = Duration::from_secs(45);
const PATH_READY_TIMEOUT: Duration = Duration::from_secs(8);

fn actor() -> Result<ractor::ActorRef<SidecarMsg>, ApiError> {
    sidecar().ok_or_else(|| ApiError::unavailable("MSE sidecar", AskError::Unavailable))
}

async fn call<T: Send + 'static>(
    request: impl FnOnce(ractor::RpcReplyPort<T>) -> SidecarMsg,
    deadline: Duration,
) -> Result<T, ApiError> {
    ask(&actor()?, request, deadline)
        .await
        .map_err(|err| ApiError::unavailable("MSE sidecar", err))
}

pub async fn status() -> Result<Json<Value>, ApiError> {
    let status = call(SidecarMsg::Status, SIDECAR_DEADLINE).await?;
    let engine_enabled = store::read(STORE_DEADLINE).await?.settings.engine.enabled;
    let answer = toposync_actors::sidecar::summary::response(status, engine_enabled).await;
    Ok(Json(json!(answer)))
}

/// `POST /mse/download`: installs go2rtc; answers the MSE status (with `binary_path`).
pub async fn download() -> Result<Json<Value>, ApiError> {
    let path = call(SidecarMsg::Download, DOWNLOAD_DEADLINE)
        .await?
        .map_err(|err| failed("Failed to download go2rtc sidecar", err))?;
    let Json(mut answer) = status().await?;
    answer["binary_path"] = json!(path);
    Ok(Json(answer))
}

/// `POST /mse/start`: enables the sidecar in settings and runs it until `/mse/stop` (while the
/// engine is disabled it stays stopped, as the original).
pub async fn start() -> Result<Json<Value>, ApiError> {
    start_as("Failed to start MSE sidecar").await
}

async fn start_as(failure: &str) -> Result<Json<Value>, ApiError> {
    set_enabled(true).await?;
    let engine_enabled = store::read(STORE_DEADLINE).await?.settings.engine.enabled;
    if !engine_enabled {
        call(SidecarMsg::Stop, SIDECAR_DEADLINE).await?;
        return status().await;
    }
    call(SidecarMsg::Start, SIDECAR_DEADLINE)
        .await?
        .map_err(|err| failed(failure, err))?;
    status().await
}

/// `POST /mse/stop`: stops go2rtc and disables the sidecar in settings.
pub async fn stop() -> Result<Json<Value>, ApiError> {
    call(SidecarMsg::Stop, SIDECAR_DEADLINE).await?;
    set_enabled(false).await?;
    status().await
}

pub async fn restart() -> Result<Json<Value>, ApiError> {
    call(SidecarMsg::Stop, SIDECAR_DEADLINE).await?;
    start_as("Failed to restart MSE sidecar").await
}

/// The original's failure message; 503 as the engine's (see docs/api.md).
fn failed(what: &str, err: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{what}: {err}"))
}

async fn set_enabled(enabled: bool) -> Result<(), ApiError> {
    store::mutate(
        move |doc| {
            let patch = json!({"engine": {"mse_sidecar": {"enabled": enabled}}});
            toposync_actors::model::edit::patch_settings(doc, patch, &now_rfc3339()).map(|_| ())
        },
        STORE_DEADLINE,
    )
    .await?;
    Ok(())
}

/// `WS /media/mse/{engine_path}/ws?media_token=…`: a browser's MSE session, relayed to go2rtc.
/// Before relaying, JSON status messages say what is happening; failures send
/// `{"type":"error",...}` and close with 1011; bad tokens close with 1008 at once.
pub async fn socket(
    State(runtime): State<Arc<Runtime>>,
    Path(engine_path): Path<String>,
    params: Params,
    upgrade: WebSocketUpgrade,
) -> Response {
    let path = normalize_path_slug(&engine_path, "");
    let token = params.get("media_token").unwrap_or("").to_string();
    let target = authorize(&runtime, &path, &token).await;
    upgrade.on_upgrade(move |socket| async move {
        match target {
            Ok((transmission_id, output_id)) => {
                session(socket, path, transmission_id, output_id).await
            }
            Err(reason) => super::media::close(socket, 1008, reason).await,
        }
    })
}

/// The (transmission, output) a token grants for this path, if it does.
async fn authorize(runtime: &Runtime, path: &str, token: &str) -> Result<(String, String), String> {
    if path.is_empty() {
        return Err("Invalid media path".into());
    }
    let revision = store::read(STORE_DEADLINE)
        .await
        .map_err(|err| format!("{err:?}"))?;
    let grant = runtime
        .media_tokens
        .authorize(
            &revision.settings,
            token,
            Transport::Mse,
            path,
            toposync_actors::unix_now(),
        )
        .map_err(|err| err.detail().to_string())?;
    let claims = grant.claims;
    Ok((claims.transmission_id, claims.output_id))
}

fn status_message(message: &str) -> Message {
    Message::Text(
        json!({"type": "status", "message": message, "value": message})
            .to_string()
            .into(),
    )
}

async fn fail(socket: WebSocket, message: String) {
    fail_with(socket, message, json!({})).await;
}

/// An error message (with `extra` fields, as the original adds `engine_path` or `stream`), then
/// close 1011.
async fn fail_with(mut socket: WebSocket, message: String, extra: Value) {
    let mut error = json!({"type": "error", "message": message, "value": message});
    if let (Some(error), Value::Object(extra)) = (error.as_object_mut(), extra) {
        error.extend(extra);
    }
    let _ = socket.send(Message::Text(error.to_string().into())).await;
    super::media::close(socket, 1011, message).await;
}

async fn session(mut socket: WebSocket, path: String, transmission_id: String, output_id: String) {
    let _ = socket
        .send(status_message("Priming MSE backing stream demand."))
        .await;
    super::demand::prime_output(&transmission_id, &output_id, MSE_PRIME).await;
    let _ = socket
        .send(status_message("Waiting for MSE backing RTSP path."))
        .await;
    if !path_ready(&path).await {
        return fail_with(
            socket,
            "MSE backing RTSP path did not become ready before timeout.".into(),
            json!({"engine_path": path}),
        )
        .await;
    }
    let _ = socket
        .send(status_message("Starting MSE go2rtc sidecar."))
        .await;
    let Some(sidecar) = sidecar() else {
        return fail(socket, "MSE sidecar did not start.".into()).await;
    };
    let api_port = match ask(&sidecar, SidecarMsg::EnsureRunning, SIDECAR_DEADLINE).await {
        Ok(Ok(port)) => port,
        Ok(Err(err)) => return fail(socket, format!("Failed to start MSE sidecar: {err}")).await,
        Err(err) => return fail(socket, format!("Failed to start MSE sidecar: {err:?}")).await,
    };
    let _ = socket
        .send(status_message("Waiting for MSE go2rtc API."))
        .await;
    if !api_ready(api_port).await {
        return fail(
            socket,
            "MSE sidecar API did not become reachable before timeout.".into(),
        )
        .await;
    }
    let stream = stream_name(&path);
    let _ = socket
        .send(Message::Text(
            json!({"type": "status", "message": "Connecting to MSE go2rtc WebSocket.",
                   "value": "Connecting to MSE go2rtc WebSocket.", "stream": stream})
            .to_string()
            .into(),
        ))
        .await;
    let upstream_url = format!("ws://127.0.0.1:{api_port}/api/ws?src={stream}");
    let upstream = match tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(&upstream_url),
    )
    .await
    {
        Ok(Ok((upstream, _))) => upstream,
        Ok(Err(err)) => return fail(socket, format!("MSE upstream WebSocket failed: {err}")).await,
        Err(_) => return fail(socket, "MSE upstream WebSocket failed: timeout".into()).await,
    };
    // Counted while it relays, however the relay ends (the guard reports the close on drop).
    let _counted = toposync_actors::sidecar::MseSessionCount::open(&sidecar);
    relay(socket, upstream, &transmission_id, &output_id).await;
}

/// Text and binary both ways until either side closes; the demand is renewed meanwhile.
async fn relay(
    socket: WebSocket,
    upstream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    transmission_id: &str,
    output_id: &str,
) {
    let (mut to_client, mut from_client) = socket.split();
    let (mut to_go2rtc, mut from_go2rtc) = upstream.split();
    let mut renew = tokio::time::interval(MSE_PRIME / 3);
    renew.tick().await;
    loop {
        tokio::select! {
            message = from_client.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if to_go2rtc.send(Upstream::Text(text.as_str().into())).await.is_err() { break; }
                }
                Some(Ok(Message::Binary(data))) => {
                    if to_go2rtc.send(Upstream::Binary(data)).await.is_err() { break; }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => break,
            },
            message = from_go2rtc.next() => match message {
                Some(Ok(Upstream::Text(text))) => {
                    if to_client.send(Message::Text(text.as_str().into())).await.is_err() { break; }
                }
                Some(Ok(Upstream::Binary(data))) => {
                    if to_client.send(Message::Binary(data)).await.is_err() { break; }
                }
                Some(Ok(Upstream::Ping(_) | Upstream::Pong(_) | Upstream::Frame(_))) => {}
                _ => break,
            },
            _ = renew.tick() => super::demand::prime_output(transmission_id, output_id, MSE_PRIME).await,
        }
    }
    let _ = to_go2rtc.close().await;
    let _ = to_client.close().await;
}

/// Polls the engine until the path has a publisher (ready), up to `PATH_READY_TIMEOUT`.
async fn path_ready(path: &str) -> bool {
    let deadline = tokio::time::Instant::now() + PATH_READY_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        if let Some(engine) = toposync_actors::engine::engine() {
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        if toposync_actors::sidecar::summary::api_reachable(api_port).await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
