//! `/api/streams/engine/*`: status and lifecycle of the MediaMTX engine.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
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

pub async fn status(headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    Ok(Json(status_json(&headers).await?))
}

pub async fn start(headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    set_enabled(true).await?;
    wait_ready("start").await?;
    status(headers).await
}

pub async fn stop(headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    set_enabled(false).await?;
    status(headers).await
}

pub async fn restart(headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    ask(&actor()?, EngineMsg::Restart, STORE_DEADLINE)
        .await
        .map_err(|err| ApiError::unavailable("streaming engine", err))?;
    // Disabled: a restart is a no-op that answers the status, as the original.
    if current_status().await?.enabled {
        wait_ready("restart").await?;
    }
    status(headers).await
}

pub async fn download(headers: HeaderMap) -> Result<Json<Value>, ApiError> {
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
            let patch = json!({"engine": {"enabled": enabled}});
            edit::patch_settings(doc, patch, &edit::now_rfc3339()).map(|_| ())
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

async fn status_json(headers: &HeaderMap) -> Result<Value, ApiError> {
    let status = current_status().await?;
    let settings = store::read(STORE_DEADLINE).await?.settings;
    let host = advertised_host(&settings.engine, super::request_host(headers));
    let preferred = status.preferred_ports;
    let (rtsp, hls, webrtc) = match status.ports {
        Some(p) => (p.rtsp as i64, p.hls as i64, p.webrtc as i64),
        None => (preferred.rtsp, preferred.hls, preferred.webrtc),
    };
    let path = status.test_path;
    let metrics_reachable = match status.ports.filter(|_| settings.engine.metrics_enabled) {
        Some(ports) => toposync_actors::net::http_client()
            .get(format!("http://127.0.0.1:{}/metrics", ports.metrics))
            .timeout(std::time::Duration::from_millis(500))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success()),
        None => false,
    };
    let mut body = serde_json::to_value(&status).expect("status serializes");
    // The original's shape: ports are the preferred ones while the engine is stopped.
    if status.ports.is_none() {
        body["ports"] = json!(preferred);
    }
    body["metrics_enabled"] = json!(settings.engine.metrics_enabled);
    body["metrics_reachable"] = json!(metrics_reachable);
    body["network_contract"] = Value::Null;
    body["orphan_pids"] = json!([]);
    body["port_policy"] = json!("flexible");
    body["port_blocking_errors"] = json!([]);
    // Signed mode serves HLS through this service's proxy, so that is the URL to show.
    let hls_url = if settings.engine.media_auth.mode
        == toposync_actors::model::settings::MediaAuthMode::SignedProxy
    {
        format!("/api/streams/media/hls/{path}/index.m3u8")
    } else {
        format!("http://{host}:{hls}/{path}/index.m3u8")
    };
    body["urls"] = json!({
        "rtsp_url": format!("rtsp://{host}:{rtsp}/{path}"),
        "hls_url": hls_url,
        "webrtc_url": format!("http://{host}:{webrtc}/{path}/whep"),
    });
    Ok(body)
}

fn actor() -> Result<ractor::ActorRef<EngineMsg>, ApiError> {
    engine().ok_or_else(|| ApiError::unavailable("streaming engine", AskError::Unavailable))
}
