//! Home Assistant: the camera manifest its integration reads, and the WebRTC offer relay to the
//! engine's WHEP endpoint for native WebRTC entities.

use std::time::Duration;

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use toposync_actors::home_assistant::{
    Reach, manifest, remote_transmissions, webrtc_output, whep_offer,
};
use toposync_actors::model::error::{Loc, from_value};
use toposync_actors::model::transmission::QualityProfileId;
use toposync_actors::store;

use super::STORE_DEADLINE;
use super::error::ApiError;
use super::extract::{JsonBody, Params};
use super::replies::WhepAnswer;

/// Home Assistant polls entities slowly: an offer keeps the output demanded this long.
const HA_ENTITY_PRIME: Duration = Duration::from_secs(90);

fn native_webrtc() -> bool {
    std::env::var("TOPOSYNC_HOME_ASSISTANT_NATIVE_WEBRTC_ENABLED").is_ok_and(|v| {
        matches!(
            v.trim().to_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// The host Home Assistant should use for RTSP: `TOPOSYNC_HOME_ASSISTANT_RTSP_HOST`, else the
/// host this request came to.
fn desired_host(headers: &HeaderMap) -> String {
    let from_env = std::env::var("TOPOSYNC_HOME_ASSISTANT_RTSP_HOST").ok();
    let host = from_env
        .or_else(|| {
            super::request_host(headers).map(|h| match h.rsplit_once(':') {
                Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_string(),
                _ => h.to_string(),
            })
        })
        .unwrap_or_default();
    let host = host
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if host.is_empty() || host == "0.0.0.0" {
        "127.0.0.1".into()
    } else {
        host
    }
}

#[utoipa::path(get, path = "/home-assistant/cameras", tag = "home-assistant", responses((status = 200, description = "The Home Assistant camera manifest (docs/api.md)", body = Object)))]
pub async fn cameras(headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let revision = store::read(STORE_DEADLINE).await?;
    let settings = &revision.settings;
    let rtsp_port = match super::engine::running_ports().await {
        Some(ports) => ports.rtsp,
        None => settings.engine.preferred_ports.rtsp as u16,
    };
    let host = desired_host(&headers);
    // Every processing server is asked at once; each answer is bounded by the remote timeout.
    let remote = futures_util::future::join_all(remote_transmissions(settings).map(
        |transmission| async move {
            let urls = super::distributed::remote_urls(settings, transmission, &Params::default())
                .await
                .map_err(|refusal| refusal.message());
            (transmission.id.clone(), urls)
        },
    ))
    .await
    .into_iter()
    .collect();
    let reach = Reach {
        desired_host: &host,
        rtsp_port,
        native_webrtc: native_webrtc(),
        remote: &remote,
    };
    Ok(Json(manifest(settings, &reach)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct OfferRequest {
    sdp: String,
    #[serde(default)]
    output_id: Option<String>,
    #[serde(default)]
    quality_profile_id: Option<QualityProfileId>,
}

/// `POST /transmissions/{id}/webrtc/offer`: relays the SDP offer (CRLF-terminated) to the
/// engine's WHEP endpoint and answers `{transmission_id, output_id, answer_sdp}`.
#[utoipa::path(post, path = "/transmissions/{id}/webrtc/offer", tag = "home-assistant", params(("id" = String, Path), super::openapi::OutputSelection), request_body = OfferRequest, responses((status = 200, body = WhepAnswer)))]
pub async fn webrtc_offer(
    Path(id): Path<String>,
    params: Params,
    JsonBody(body): JsonBody,
) -> Result<Json<WhepAnswer>, ApiError> {
    if !native_webrtc() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Home Assistant native WebRTC is not enabled for Toposync yet.",
        ));
    }
    let request: OfferRequest = from_value(body.clone(), &Loc::body())?;
    if request.sdp.trim().is_empty() {
        return Err(toposync_actors::model::error::ModelError::invalid(
            &Loc::body().key("sdp"),
            "sdp must not be empty",
        )
        .into());
    }
    let revision = store::read(STORE_DEADLINE).await?;
    let transmission = revision
        .settings
        .transmission(&id)
        .ok_or_else(|| ApiError::not_found("Transmission not found"))?;
    if transmission.host_server_id != toposync_actors::distributed::LOCAL_SERVER_ID {
        let answer =
            super::distributed::forward_offer(&revision.settings, transmission, &params, &body);
        let answer: WhepAnswer = serde_json::from_value(answer.await?).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "Failed to negotiate WebRTC offer with processing server '{}': Invalid JSON payload",
                    transmission.host_server_id
                ),
            )
        })?;
        return Ok(Json(answer));
    }
    // The body wins; the query is the original's fallback.
    let wanted = request.output_id.as_deref().or(params.get("output_id"));
    let profile = request.quality_profile_id.or_else(|| {
        params
            .get("quality_profile_id")
            .and_then(toposync_actors::model::parse_name)
    });
    let output = webrtc_output(transmission, wanted, profile).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "No WebRTC/WHEP output is available for this transmission.",
        )
    })?;
    let ports = super::engine::running_ports().await.ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Streaming engine is not running",
        )
    })?;
    toposync_actors::demand::prime_output(&id, &output.id, HA_ENTITY_PRIME).await;
    let text = whep_offer(transmission, output, ports.webrtc, &request.sdp)
        .await
        .map_err(|err| ApiError::new(StatusCode::BAD_GATEWAY, err))?;
    Ok(Json(WhepAnswer {
        transmission_id: id,
        output_id: output.id.clone(),
        answer_sdp: text,
    }))
}
