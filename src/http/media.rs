//! Media endpoints that carry video: the JSMpeg WebSocket (MPEG-TS relayed from a session actor)
//! and its status. Each is authorised by a signed media token, never by anything else.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::Value;
use toposync_actors::Runtime;
use toposync_actors::jsmpeg::{JsmpegMsg, Refusal, SessionRequest, jsmpeg};
use toposync_actors::media_token::{Transport, now_unix};
use toposync_actors::model::transmission::normalize_path_slug;
use toposync_actors::store;
use toposync_actors::supervision::{AskError, ask};
use toposync_actors::transmissions::{TransmissionMsg, TransmissionsMsg, transmissions};

use super::STORE_DEADLINE;
use super::error::ApiError;
use super::extract::Params;

const ACTOR_DEADLINE: Duration = Duration::from_secs(5);
/// Policy violation (bad token or target), as the original closes.
const CLOSE_POLICY: u16 = 1008;

pub async fn jsmpeg_status() -> Result<Json<Value>, ApiError> {
    let revision = store::read(STORE_DEADLINE).await?;
    let supervisor =
        jsmpeg().ok_or_else(|| ApiError::unavailable("JSMpeg runtime", AskError::Unavailable))?;
    let settings = revision.settings.engine.jsmpeg.clone();
    let status = ask(
        &supervisor,
        |reply| JsmpegMsg::Status(settings, reply),
        ACTOR_DEADLINE,
    )
    .await
    .map_err(|err| ApiError::unavailable("JSMpeg runtime", err))?;
    Ok(Json(status))
}

/// `WS /media/jsmpeg/{engine_path}/ws?media_token=…`: binary MPEG-TS (MPEG-1 video) for a
/// JSMpeg player. Refusals close the socket with a code and the reason: 1008 bad token or
/// target, 1013 session limits, 1011 failures.
pub async fn jsmpeg_socket(
    State(runtime): State<Arc<Runtime>>,
    Path(engine_path): Path<String>,
    params: Params,
    upgrade: WebSocketUpgrade,
) -> Response {
    let token = params.get("media_token").unwrap_or("").to_string();
    let session = open_session(&runtime, &normalize_path_slug(&engine_path, ""), &token).await;
    upgrade.on_upgrade(move |socket| async move {
        match session {
            Ok(session) => relay(socket, session).await,
            Err((code, reason)) => close(socket, code, reason).await,
        }
    })
}

async fn open_session(
    runtime: &Runtime,
    engine_path: &str,
    token: &str,
) -> Result<toposync_actors::jsmpeg::Session, (u16, String)> {
    let policy = |reason: &str| (CLOSE_POLICY, reason.to_string());
    if engine_path.is_empty() {
        return Err(policy("Invalid media path"));
    }
    let claims = runtime
        .media_tokens
        .verify_for(token, Transport::Jsmpeg, engine_path, now_unix())
        .map_err(|err| policy(err.detail()))?;
    let revision = store::read(STORE_DEADLINE)
        .await
        .map_err(|err| (1011, format!("settings unavailable: {err:?}")))?;
    let settings = &revision.settings;
    let transmission = settings
        .transmission(&claims.transmission_id)
        .filter(|t| t.enabled && t.host_server_id == "local")
        .ok_or_else(|| policy("media_token_invalid"))?;
    let output = transmission
        .enabled_outputs()
        .find(|o| o.id == claims.output_id && transmission.engine_path(o) == engine_path)
        .ok_or_else(|| policy("media_token_invalid"))?;
    let supervisor =
        transmissions().ok_or((1011, "transmissions runtime unavailable".to_string()))?;
    let actor = ask(
        &supervisor,
        |reply| TransmissionsMsg::Lookup(transmission.id.clone(), reply),
        ACTOR_DEADLINE,
    )
    .await
    .ok()
    .flatten()
    .ok_or((1011, "transmission runtime unavailable".to_string()))?;
    let viewing = ask(&actor, TransmissionMsg::Viewing, ACTOR_DEADLINE)
        .await
        .map_err(|err| (1011, format!("transmission did not answer: {err:?}")))?;
    let request = SessionRequest {
        transmission_id: transmission.id.clone(),
        output_id: output.id.clone(),
        resolution: output.resolution,
        settings: settings.engine.jsmpeg.clone(),
        viewing,
    };
    let supervisor = jsmpeg().ok_or((1011, "JSMpeg runtime unavailable".to_string()))?;
    ask(
        &supervisor,
        |reply| JsmpegMsg::Open(Box::new(request), reply),
        ACTOR_DEADLINE,
    )
    .await
    .map_err(|err| (1011, format!("JSMpeg runtime did not answer: {err:?}")))?
    .map_err(|refusal: Refusal| (refusal.close_code(), refusal.message()))
}

async fn close(mut socket: WebSocket, code: u16, reason: String) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// MPEG-TS chunks to the socket until either side ends; the session (and its FFmpeg) stops then.
async fn relay(mut socket: WebSocket, mut session: toposync_actors::jsmpeg::Session) {
    loop {
        tokio::select! {
            chunk = session.chunks.recv() => match chunk {
                Some(chunk) => {
                    if socket.send(Message::Binary(chunk)).await.is_err() {
                        break;
                    }
                }
                None => {
                    close(socket, 1011, "JSMpeg session ended".into()).await;
                    session.actor.stop(None);
                    return;
                }
            },
            incoming = socket.recv() => match incoming {
                // Client messages are ignored; a close or an error ends the session.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    session.actor.stop(Some("viewer left".into()));
}

/// `GET /transmissions/{id}/still.jpg[?output_id=&quality_profile_id=]`: the latest frame shown
/// (at its own size) or the placeholder (at the output's size), as JPEG, encoded once per frame.
/// Headers say which: `x-toposync-frame-state: live|placeholder` and, for live frames,
/// `x-toposync-selected-frame-age-seconds`.
pub async fn still(Path(id): Path<String>, params: Params) -> Result<Response, ApiError> {
    use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
    use axum::response::IntoResponse;
    let revision = store::read(STORE_DEADLINE).await?;
    let transmission = revision
        .settings
        .transmission(&id)
        .ok_or_else(|| ApiError::not_found("Transmission not found"))?;
    let output = match params.get("output_id") {
        Some(output_id) => Some(
            transmission
                .outputs
                .iter()
                .find(|o| o.id == output_id)
                .ok_or_else(|| ApiError::not_found("Output not found"))?,
        ),
        None => transmission.enabled_outputs().next(),
    };
    let size = output
        .map(|o| toposync_actors::publishers::OutputTarget::resolve(transmission, o).size())
        .unwrap_or(toposync_actors::publishers::target::DEFAULT_SIZE);
    // A Home Assistant entity polling stills keeps the picture coming (camera readers run on demand).
    super::demand::prime_quietly(&id, output.map(|o| o.id.as_str())).await;
    let supervisor = transmissions()
        .ok_or_else(|| ApiError::unavailable("transmissions runtime", AskError::Unavailable))?;
    let actor = ask(
        &supervisor,
        |reply| TransmissionsMsg::Lookup(id.clone(), reply),
        ACTOR_DEADLINE,
    )
    .await
    .map_err(|err| ApiError::unavailable("transmissions runtime", err))?
    .ok_or_else(|| ApiError::new(axum::http::StatusCode::CONFLICT, "Transmission is disabled"))?;
    let still = ask(
        &actor,
        |reply| TransmissionMsg::Still(size, reply),
        ACTOR_DEADLINE,
    )
    .await
    .map_err(|err| ApiError::unavailable("transmission runtime", err))?;
    let (cache, frame) = (still.cache.clone(), still.frame.clone());
    let jpeg = tokio::task::spawn_blocking(move || cache.jpeg(&frame))
        .await
        .map_err(|err| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                err.to_string(),
            )
        })?
        .map_err(|err| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, err))?;
    let mut response = (
        [(CONTENT_TYPE, "image/jpeg"), (CACHE_CONTROL, "no-store")],
        jpeg,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        "x-toposync-frame-state",
        axum::http::HeaderValue::from_static(still.state),
    );
    if let Some(age) = still.age_seconds {
        if let Ok(value) = axum::http::HeaderValue::from_str(&format!("{age:.3}")) {
            headers.insert("x-toposync-selected-frame-age-seconds", value);
        }
    }
    Ok(response)
}
