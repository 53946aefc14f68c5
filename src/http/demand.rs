//! Demand routes: what each output's demand is and why, primes, heartbeat leases, and the
//! runtime view of every output (demand joined with its publisher).

use std::time::Duration;

use axum::Json;
use axum::extract::Path;
use serde::Deserialize;
use serde_json::{Value, json};
use toposync_actors::api::demand;
use toposync_actors::demand::book::{
    DEFAULT_PRIME_TTL, HEARTBEAT_TTL_RANGE, PRIME_TTL_RANGE, clamp_ttl,
};
use toposync_actors::demand::{DemandAnswer, HeartbeatClient, OutputFilter, Primed, Renewed};
use toposync_actors::model::error::{Errors, Loc, ModelError, from_value};
use toposync_actors::model::settings::StreamingSettings;
use toposync_actors::model::transmission::{QualityProfileId, Transmission};
use toposync_actors::store;

use super::STORE_DEADLINE;
use super::distributed::{self, DemandAction};
use super::error::ApiError;
use super::extract::{JsonBody, Params};

#[utoipa::path(get, path = "/transmissions/{id}/demand", tag = "demand", params(("id" = String, Path), super::openapi::OutputSelection), responses((status = 200, body = DemandAnswer)))]
pub async fn get(Path(id): Path<String>, params: Params) -> Result<Json<DemandAnswer>, ApiError> {
    let transmission = stored(&id).await?;
    let filter = filter(&transmission, &params)?;
    let views = demand::views(&id).await?;
    Ok(Json(DemandAnswer::of(id, views, &filter)))
}

#[utoipa::path(post, path = "/transmissions/{id}/demand/prime", tag = "demand", params(("id" = String, Path), super::openapi::PrimeQuery), responses((status = 200, body = Primed)))]
pub async fn prime(Path(id): Path<String>, params: Params) -> Result<Json<Value>, ApiError> {
    let (transmission, settings) = stored_with(&id).await?;
    if transmission.host_server_id != toposync_actors::distributed::LOCAL_SERVER_ID {
        let forwarded = distributed::forward_demand(
            &settings,
            &transmission,
            DemandAction::Prime,
            &params,
            None,
        );
        return Ok(Json(forwarded.await?));
    }
    let filter = filter(&transmission, &params)?;
    let ttl = match params.get("ttl_seconds") {
        None => DEFAULT_PRIME_TTL,
        Some(raw) => {
            let seconds = raw
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite())
                .ok_or_else(|| {
                    ModelError::invalid(
                        &Loc::query().key("ttl_seconds"),
                        "ttl_seconds must be a number",
                    )
                })?;
            clamp_ttl(Some(seconds), DEFAULT_PRIME_TTL, PRIME_TTL_RANGE)
        }
    };
    let primed = prime_outputs(id.clone(), filter, ttl).await?;
    Ok(Json(json!(Primed {
        transmission_id: id,
        primed: primed > 0,
        primed_outputs: primed,
        ttl_seconds: ttl.as_secs_f64(),
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct HeartbeatRequest {
    playback_session_id: String,
    #[serde(default)]
    output_id: Option<String>,
    #[serde(default)]
    quality_profile_id: Option<QualityProfileId>,
    /// Accepted (and checked) for compatibility; every transport renews the same lease.
    #[serde(default, rename = "transport")]
    _transport: Option<Transport>,
    /// The original's `player` / `home_assistant_entity`; `client` is more precise.
    #[serde(default)]
    source: Option<HeartbeatSource>,
    #[serde(default)]
    client: Option<HeartbeatClient>,
    #[serde(default)]
    ttl_seconds: Option<f64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum Transport {
    Hls,
    Webrtc,
    Rtsp,
    Mse,
    Jsmpeg,
}

#[derive(Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum HeartbeatSource {
    Player,
    HomeAssistantEntity,
}

#[utoipa::path(post, path = "/transmissions/{id}/demand/heartbeat", tag = "demand", params(("id" = String, Path)), request_body = HeartbeatRequest, responses((status = 200, body = Renewed)))]
pub async fn heartbeat(
    Path(id): Path<String>,
    params: Params,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let request: HeartbeatRequest = from_value(body.clone(), &Loc::body())?;
    let mut errors = Errors::default();
    let session_len = request.playback_session_id.chars().count();
    if !(1..=256).contains(&session_len) {
        errors.push(
            &Loc::body().key("playback_session_id"),
            "playback_session_id must be 1 to 256 characters",
        );
    }
    if let Some(ttl) = request.ttl_seconds {
        let (min, max) = HEARTBEAT_TTL_RANGE;
        errors.range_f64(
            &Loc::body().key("ttl_seconds"),
            "ttl_seconds",
            ttl,
            min as f64,
            max as f64,
        );
    }
    errors.into_result()?;
    let (transmission, settings) = stored_with(&id).await?;
    if transmission.host_server_id != toposync_actors::distributed::LOCAL_SERVER_ID {
        let forwarded = distributed::forward_demand(
            &settings,
            &transmission,
            DemandAction::Heartbeat,
            &params,
            Some(&body),
        );
        return Ok(Json(forwarded.await?));
    }
    if let Some(output_id) = &request.output_id {
        if !transmission.outputs.iter().any(|o| o.id == *output_id) {
            return Err(ApiError::not_found("Output not found"));
        }
    }
    let client = request.client.unwrap_or(match request.source {
        Some(HeartbeatSource::HomeAssistantEntity) => HeartbeatClient::HaEntity,
        _ => HeartbeatClient::Web,
    });
    let ttl = clamp_ttl(
        request.ttl_seconds,
        client.default_ttl(),
        HEARTBEAT_TTL_RANGE,
    );
    let filter = OutputFilter {
        output_id: request.output_id,
        quality_profile_id: request.quality_profile_id,
    };
    let session = request.playback_session_id;
    let renewed = demand::heartbeat(&id, filter, &session, client, ttl).await?;
    Ok(Json(json!(Renewed {
        transmission_id: id,
        playback_session_id: session,
        client,
        renewed: !renewed.is_empty(),
        renewed_outputs: renewed.len(),
        output_ids: renewed,
        lease_seconds: ttl.as_secs_f64(),
    })))
}

/// URL resolution primes the outputs it answers for, best effort (spec: "URL resolution also
/// primes demand"): a player opening the URL then finds a publisher starting.
pub async fn prime_quietly(transmission_id: &str, output_id: Option<&str>) {
    let filter = OutputFilter {
        output_id: output_id.map(str::to_string),
        quality_profile_id: None,
    };
    let _ = prime_outputs(transmission_id.to_string(), filter, DEFAULT_PRIME_TTL).await;
}

/// Primes the matching outputs; answers how many.
async fn prime_outputs(
    transmission_id: String,
    filter: OutputFilter,
    ttl: Duration,
) -> Result<usize, ApiError> {
    Ok(demand::prime(&transmission_id, filter, ttl).await?)
}

/// The transmission and the settings it was read from (a remote one needs its server's).
async fn stored_with(
    id: &str,
) -> Result<(Transmission, std::sync::Arc<StreamingSettings>), ApiError> {
    let revision = store::read(STORE_DEADLINE).await?;
    let transmission = revision
        .settings
        .transmission(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Transmission not found"))?;
    Ok((transmission, revision.settings))
}

async fn stored(id: &str) -> Result<Transmission, ApiError> {
    let revision = store::read(STORE_DEADLINE).await?;
    revision
        .settings
        .transmission(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Transmission not found"))
}

/// `output_id` / `quality_profile_id` query filters, checked against the transmission.
fn filter(transmission: &Transmission, params: &Params) -> Result<OutputFilter, ApiError> {
    let output_id = params.get("output_id").map(str::to_string);
    if let Some(output_id) = &output_id {
        if !transmission.outputs.iter().any(|o| o.id == *output_id) {
            return Err(ApiError::not_found("Output not found"));
        }
    }
    let quality_profile_id: Option<QualityProfileId> =
        params.named_or("quality_profile_id", |_| {
            "quality_profile_id must be one of 'quad_grid', 'stable_apple_tv', \
             'fullscreen_quality', 'diagnostic_low', 'native'"
                .to_string()
        })?;
    Ok(OutputFilter {
        output_id,
        quality_profile_id,
    })
}
