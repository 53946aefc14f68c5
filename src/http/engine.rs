//! `/api/streams/engine/*`: status and lifecycle of the MediaMTX engine.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use toposync_actors::api::engine;
use toposync_actors::engine::EngineStatus;
use toposync_actors::engine::view::EngineStatusResponse;
use toposync_actors::model::edit;
use toposync_actors::model::settings::StreamingSettings;
use toposync_actors::network_contract::{self, ContractInputs};
use toposync_actors::store;
use toposync_actors::supervision::{AskError, Unreachable};
use toposync_actors::urls::{PlaybackPorts, PublicOrigin, advertised_host};

use super::STORE_DEADLINE;
use super::error::ApiError;

/// How long start/restart wait for the engine to answer before reporting what they see.
const START_WAIT: Duration = Duration::from_secs(20);

#[utoipa::path(get, path = "/engine/status", tag = "engine", responses((status = 200, body = EngineStatusResponse)))]
pub async fn status(headers: HeaderMap) -> Result<Json<EngineStatusResponse>, ApiError> {
    Ok(Json(status_json(&headers).await?))
}

#[utoipa::path(post, path = "/engine/start", tag = "engine", responses((status = 200, body = EngineStatusResponse)))]
pub async fn start(headers: HeaderMap) -> Result<Json<EngineStatusResponse>, ApiError> {
    set_enabled(true).await?;
    wait_ready("start").await?;
    status(headers).await
}

#[utoipa::path(post, path = "/engine/stop", tag = "engine", responses((status = 200, body = EngineStatusResponse)))]
pub async fn stop(headers: HeaderMap) -> Result<Json<EngineStatusResponse>, ApiError> {
    set_enabled(false).await?;
    status(headers).await
}

#[utoipa::path(post, path = "/engine/restart", tag = "engine", responses((status = 200, body = EngineStatusResponse)))]
pub async fn restart(headers: HeaderMap) -> Result<Json<EngineStatusResponse>, ApiError> {
    engine::restart().await?;
    // Disabled: a restart is a no-op that answers the status, as the original.
    if current_status().await?.enabled {
        wait_ready("restart").await?;
    }
    status(headers).await
}

#[utoipa::path(post, path = "/engine/download", tag = "engine", responses((status = 200, body = EngineStatusResponse)))]
pub async fn download(headers: HeaderMap) -> Result<Json<EngineStatusResponse>, ApiError> {
    engine::download().await?.map_err(|err| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Failed to download MediaMTX engine: {err}"),
        )
    })?;
    status(headers).await
}

/// The engine's ports when it runs and answers, for URL resolution.
pub async fn running_ports() -> Option<PlaybackPorts> {
    let ports = engine::ready_ports().await?;
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
    match engine::wait_ready(START_WAIT).await {
        Ok(Ok(())) => Ok(()),
        Err(Unreachable {
            err: AskError::Timeout,
            ..
        }) => Ok(()),
        Ok(Err(reason)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Failed to {action} streaming engine: {reason} (it stays enabled and retries \
                 with backoff; POST /engine/stop disables it)"
            ),
        )),
        Err(unreachable) => Err(unreachable.into()),
    }
}

async fn current_status() -> Result<EngineStatus, ApiError> {
    Ok(engine::status().await?)
}

pub(super) async fn status_json(headers: &HeaderMap) -> Result<EngineStatusResponse, ApiError> {
    let status = current_status().await?;
    let settings = store::read(STORE_DEADLINE).await?.settings;
    let host = advertised_host(&settings.engine, super::request_host(headers));
    let running = status
        .ports
        .filter(|_| status.ready)
        .map(|p| PlaybackPorts {
            rtsp: p.rtsp,
            hls: p.hls,
            webrtc: p.webrtc,
        });
    let contract = network_contract::evaluate(&contract_inputs(&settings, running, headers));
    Ok(EngineStatusResponse::build(status, &settings, host, contract).await)
}

/// What this request's network contract is made of: the settings, the running engine's ports
/// and where the request came from (host, ingress base path); the environment is read by
/// `ContractInputs::gather`.
pub(super) fn contract_inputs(
    settings: &StreamingSettings,
    running: Option<PlaybackPorts>,
    headers: &HeaderMap,
) -> ContractInputs {
    let origin =
        PublicOrigin::from_headers(|name| headers.get(name).and_then(|value| value.to_str().ok()));
    ContractInputs::gather(
        settings,
        running.map(|p| (p.rtsp, p.hls, p.webrtc)),
        super::request_host(headers),
        origin.public_base_path != "/",
    )
}
