//! `/api/streams/engine/*`: status and lifecycle of the MediaMTX engine.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use toposync_actors::engine::view::EngineStatusResponse;
use toposync_actors::engine::{EngineMsg, EngineStatus, engine};
use toposync_actors::model::edit;
use toposync_actors::store;
use toposync_actors::supervision::{AskError, ask};
use toposync_actors::urls::{PlaybackPorts, advertised_host};

use super::STORE_DEADLINE;
use super::error::ApiError;

const STATUS_DEADLINE: Duration = Duration::from_secs(2);
/// How long start/restart wait for the engine to answer before reporting what they see.
const START_WAIT: Duration = Duration::from_secs(20);
/// A release download on a slow link.
const DOWNLOAD_WAIT: Duration = Duration::from_secs(900);

pub async fn status(headers: HeaderMap) -> Result<Json<EngineStatusResponse>, ApiError> {
    Ok(Json(status_json(&headers).await?))
}

pub async fn start(headers: HeaderMap) -> Result<Json<EngineStatusResponse>, ApiError> {
    set_enabled(true).await?;
    wait_ready("start").await?;
    status(headers).await
}

pub async fn stop(headers: HeaderMap) -> Result<Json<EngineStatusResponse>, ApiError> {
    set_enabled(false).await?;
    status(headers).await
}

pub async fn restart(headers: HeaderMap) -> Result<Json<EngineStatusResponse>, ApiError> {
    ask(&actor()?, EngineMsg::Restart, STORE_DEADLINE)
        .await
        .map_err(|err| ApiError::unavailable("streaming engine", err))?;
    // Disabled: a restart is a no-op that answers the status, as the original.
    if current_status().await?.enabled {
        wait_ready("restart").await?;
    }
    status(headers).await
}

pub async fn download(headers: HeaderMap) -> Result<Json<EngineStatusResponse>, ApiError> {
    ask(&actor()?, EngineMsg::Download, DOWNLOAD_WAIT)
        .await
        .map_err(|err| ApiError::unavailable("streaming engine", err))?
        .map_err(|err| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Failed to download MediaMTX engine: {err}"),
            )
        })?;
    status(headers).await
}

/// The engine's ports when it runs and answers, for URL resolution.
pub async fn running_ports() -> Option<PlaybackPorts> {
    let ports = ask(&actor().ok()?, EngineMsg::ReadyPorts, STATUS_DEADLINE)
        .await
        .ok()
        .flatten()?;
    Some(PlaybackPorts {
        rtsp: ports.rtsp,
        hls: ports.hls,
        webrtc: ports.webrtc,
    })
}

async fn set_enabled(enabled: bool) -> Result<(), ApiError> {
    store::mutate(
        move |doc| {
            edit::switch(doc, edit::Switch::Engine, enabled);
            Ok(())
        },
        STORE_DEADLINE,
    )
    .await?;
    Ok(())
}

/// Waits for the engine to run. A failure is reported; a slow start (a download) is not.
async fn wait_ready(action: &str) -> Result<(), ApiError> {
    match ask(&actor()?, EngineMsg::WaitReady, START_WAIT).await {
        Ok(Ok(())) | Err(AskError::Timeout) => Ok(()),
        Ok(Err(reason)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Failed to {action} streaming engine: {reason}"),
        )),
        Err(err) => Err(ApiError::unavailable("streaming engine", err)),
    }
}

async fn current_status() -> Result<EngineStatus, ApiError> {
    ask(&actor()?, EngineMsg::Status, STATUS_DEADLINE)
        .await
        .map_err(|err| ApiError::unavailable("streaming engine", err))
}

async fn status_json(headers: &HeaderMap) -> Result<EngineStatusResponse, ApiError> {
    let status = current_status().await?;
    let settings = store::read(STORE_DEADLINE).await?.settings;
    let host = advertised_host(&settings.engine, super::request_host(headers));
    Ok(EngineStatusResponse::build(status, &settings, host).await)
}

fn actor() -> Result<ractor::ActorRef<EngineMsg>, ApiError> {
    engine().ok_or_else(|| ApiError::unavailable("streaming engine", AskError::Unavailable))
}
