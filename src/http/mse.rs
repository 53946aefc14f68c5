//! MSE through the go2rtc sidecar: its status and controls, and the signed WebSocket bridged to
//! an MSE session actor (text control messages and binary fragments, both ways).

use std::sync::Arc;

use axum::Json;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use toposync_actors::Runtime;
use toposync_actors::api::sidecar;
use toposync_actors::media_token::Transport;
use toposync_actors::model::edit;
use toposync_actors::model::transmission::normalize_path_slug;
use toposync_actors::sidecar::session::{
    Control, FromBrowser, MseSession, SessionRequest, ToBrowser,
};
use toposync_actors::sidecar::summary::MseStatusResponse;
use toposync_actors::store;

use super::STORE_DEADLINE;
use super::error::ApiError;
use super::extract::{Params, Upgrade};

#[utoipa::path(get, path = "/mse/status", tag = "mse", responses((status = 200, body = MseStatusResponse)))]
pub async fn status() -> Result<Json<MseStatusResponse>, ApiError> {
    let status = sidecar::status().await?;
    let engine_enabled = store::read(STORE_DEADLINE).await?.settings.engine.enabled;
    let answer = toposync_actors::sidecar::summary::response(status, engine_enabled).await;
    Ok(Json(answer))
}

/// `POST /mse/download`: installs go2rtc; answers the MSE status (with `binary_path`).
#[utoipa::path(post, path = "/mse/download", tag = "mse", responses((status = 200, body = MseStatusResponse)))]
pub async fn download() -> Result<Json<MseStatusResponse>, ApiError> {
    let path = sidecar::download()
        .await?
        .map_err(|err| failed("Failed to download go2rtc sidecar", err))?;
    let Json(mut answer) = status().await?;
    answer.status.binary_path = Some(path);
    Ok(Json(answer))
}

/// `POST /mse/start`: enables the sidecar in settings and runs it until `/mse/stop` (while the
/// engine is disabled it stays stopped, as the original).
#[utoipa::path(post, path = "/mse/start", tag = "mse", responses((status = 200, body = MseStatusResponse)))]
pub async fn start() -> Result<Json<MseStatusResponse>, ApiError> {
    start_as("Failed to start MSE sidecar").await
}

async fn start_as(failure: &str) -> Result<Json<MseStatusResponse>, ApiError> {
    set_enabled(true).await?;
    let engine_enabled = store::read(STORE_DEADLINE).await?.settings.engine.enabled;
    if !engine_enabled {
        sidecar::stop().await?;
        return status().await;
    }
    sidecar::start()
        .await?
        .map_err(|err| failed(failure, err))?;
    status().await
}

/// `POST /mse/stop`: stops go2rtc and disables the sidecar in settings.
#[utoipa::path(post, path = "/mse/stop", tag = "mse", responses((status = 200, body = MseStatusResponse)))]
pub async fn stop() -> Result<Json<MseStatusResponse>, ApiError> {
    sidecar::stop().await?;
    set_enabled(false).await?;
    status().await
}

#[utoipa::path(post, path = "/mse/restart", tag = "mse", responses((status = 200, body = MseStatusResponse)))]
pub async fn restart() -> Result<Json<MseStatusResponse>, ApiError> {
    sidecar::stop().await?;
    start_as("Failed to restart MSE sidecar").await
}

/// The original's failure message; 503 as the engine's (see docs/api.md).
fn failed(what: &str, err: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{what}: {err}"))
}

async fn set_enabled(enabled: bool) -> Result<(), ApiError> {
    store::mutate(
        move |doc| {
            edit::switch(doc, edit::Switch::MseSidecar, enabled);
            Ok(())
        },
        STORE_DEADLINE,
    )
    .await?;
    Ok(())
}

/// `WS /media/mse/{engine_path}/ws?media_token=…`: a browser's MSE session, relayed to go2rtc
/// by an `MseSessionActor` (its status and error messages, then go2rtc's fMP4). Bad tokens close
/// with 1008 at once.
#[utoipa::path(get, path = "/media/mse/{engine_path}/ws", tag = "media", description = "WebSocket: go2rtc MSE relayed", params(("engine_path" = String, Path), super::openapi::MediaToken), responses((status = 101, description = "Switching to the WebSocket protocol")))]
pub async fn socket(
    State(runtime): State<Arc<Runtime>>,
    Path(engine_path): Path<String>,
    params: Params,
    Upgrade(upgrade): Upgrade,
) -> Response {
    let path = normalize_path_slug(&engine_path, "");
    let token = params.get("media_token").unwrap_or("").to_string();
    let request = authorize(&runtime, &path, &token).await;
    upgrade.on_upgrade(move |socket| async move {
        match request {
            Ok(request) => bridge(socket, request).await,
            Err(reason) => super::media::close(socket, 1008, reason).await,
        }
    })
}

/// The session a token grants for this path, if it does.
async fn authorize(runtime: &Runtime, path: &str, token: &str) -> Result<SessionRequest, String> {
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
    Ok(SessionRequest {
        engine_path: path.to_string(),
        transmission_id: grant.claims.transmission_id,
        output_id: grant.claims.output_id,
    })
}

/// Carries the session's messages to the socket and the socket's to the session, until either
/// ends; the session stops with the socket.
async fn bridge(mut socket: WebSocket, request: SessionRequest) {
    let opened = sidecar::open_session(request)
        .await
        .map_err(|_| "MSE sidecar did not start.".to_string())
        .and_then(|opened| opened);
    let session = match opened {
        Ok(session) => session,
        Err(message) => {
            let error = serde_json::to_string(&Control::error(message.clone())).unwrap_or_default();
            let _ = socket.send(Message::Text(error.into())).await;
            return super::media::close(socket, 1011, message).await;
        }
    };
    let MseSession {
        mut to_browser,
        from_browser,
        actor,
    } = session;
    let mut reading = super::media::ReadingViewer::new();
    loop {
        tokio::select! {
            _ = reading.tick() => {
                if !reading.still_reading()
                    || !super::media::send_within(&mut socket, Message::Ping(Default::default())).await
                {
                    super::media::close(socket, 1008, "viewer stopped reading".into()).await;
                    break;
                }
            }
            message = to_browser.recv() => {
                let message = match message {
                    Some(ToBrowser::Control(control)) => {
                        Message::Text(serde_json::to_string(&control).unwrap_or_default().into())
                    }
                    Some(ToBrowser::Text(text)) => Message::Text(text.into()),
                    Some(ToBrowser::Binary(data)) => Message::Binary(data),
                    Some(ToBrowser::Close(code, reason)) => {
                        super::media::close(socket, code, reason).await;
                        break;
                    }
                    None => break,
                };
                if !super::media::send_within(&mut socket, message).await {
                    break;
                }
            }
            message = socket.recv() => {
                reading.heard();
                let message = match message {
                    Some(Ok(Message::Text(text))) => FromBrowser::Text(text.as_str().to_string()),
                    Some(Ok(Message::Binary(data))) => FromBrowser::Binary(data),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    _ => break,
                };
                if from_browser.send(message).await.is_err() {
                    break;
                }
            }
        }
    }
    // A browser leaving is the normal end of a session: no reason, so nothing is logged as failed.
    actor.stop(None);
}
