//! `/api/streams/transmissions`: manual CRUD and URL resolution.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;
use toposync_actors::Runtime;
use toposync_actors::model::edit;
use toposync_actors::model::error::{Loc, ModelError};

use toposync_actors::model::transmission::{QualityProfileId, Transmission};
use toposync_actors::playback::{Client, Context, PlanRequest, plan_over};

use toposync_actors::store;
use toposync_actors::urls::{EntryProtocol, Signing, UrlRequest, UrlsResponse, resolve_urls};

use super::STORE_DEADLINE;
use super::error::ApiError;
use super::extract::{JsonBody, Params};
use super::replies::{CompanionApplied, DELETED, Deleted, ProfilesApplied};

#[utoipa::path(get, path = "/transmissions", tag = "transmissions", params(super::openapi::IncludeSecrets), responses((status = 200, body = Vec<Transmission>)))]
pub async fn list(params: Params) -> Result<Json<Vec<Transmission>>, ApiError> {
    let secrets = params.flag("include_secrets")?;
    let revision = store::read(STORE_DEADLINE).await?;
    Ok(Json(
        revision
            .settings
            .transmissions
            .iter()
            .map(|t| shown(t.clone(), secrets))
            .collect(),
    ))
}

#[utoipa::path(post, path = "/transmissions", tag = "transmissions", params(super::openapi::IncludeSecrets), request_body = Transmission, responses((status = 200, description = "The transmission as stored", body = Transmission)))]
pub async fn create(
    params: Params,
    JsonBody(body): JsonBody,
) -> Result<Json<Transmission>, ApiError> {
    let secrets = params.flag("include_secrets")?;
    let created = store::mutate(
        move |doc| edit::create_transmission(doc, body, &edit::now_rfc3339()),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(shown(created, secrets)))
}

#[utoipa::path(put, path = "/transmissions/{id}", tag = "transmissions", params(("id" = String, Path), super::openapi::IncludeSecrets), request_body = Transmission, responses((status = 200, body = Transmission)))]
pub async fn replace(
    Path(id): Path<String>,
    params: Params,
    JsonBody(body): JsonBody,
) -> Result<Json<Transmission>, ApiError> {
    let secrets = params.flag("include_secrets")?;
    let replaced = store::mutate(
        move |doc| edit::replace_transmission(doc, &id, body, &edit::now_rfc3339()),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(shown(replaced, secrets)))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ApplyProfilesRequest {
    #[serde(default)]
    mode: ApplyMode,
    #[serde(default)]
    profile_ids: Option<Vec<QualityProfileId>>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum ApplyMode {
    #[default]
    ReplaceHlsProfiles,
}

/// `POST /transmissions/{id}/quality-profiles/apply`; the body is optional (all four profiles).
#[utoipa::path(post, path = "/transmissions/{id}/quality-profiles/apply", tag = "transmissions", params(("id" = String, Path)), request_body(content = Option<ApplyProfilesRequest>, description = "Optional: all four profiles when absent"), responses((status = 200, body = ProfilesApplied)))]
pub async fn apply_quality_profiles(
    Path(id): Path<String>,
    body: Option<JsonBody>,
) -> Result<Json<ProfilesApplied>, ApiError> {
    let request: ApplyProfilesRequest = match body {
        None => ApplyProfilesRequest::default(),
        Some(JsonBody(value)) => toposync_actors::model::error::from_value(value, &Loc::body())?,
    };
    let ApplyMode::ReplaceHlsProfiles = request.mode;
    let (transmission, applied) = store::mutate(
        move |doc| {
            edit::apply_quality_profiles(
                doc,
                &id,
                request.profile_ids.as_deref(),
                &edit::now_rfc3339(),
            )
        },
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(ProfilesApplied {
        transmission_id: transmission.id.clone(),
        applied_profile_ids: applied,
        transmission: transmission.redacted(),
    }))
}

/// `POST /transmissions/{id}/webrtc/companion/apply`: adds the low-latency WebRTC output.
#[utoipa::path(post, path = "/transmissions/{id}/webrtc/companion/apply", tag = "transmissions", params(("id" = String, Path)), responses((status = 200, body = CompanionApplied)))]
pub async fn apply_webrtc_companion(
    Path(id): Path<String>,
) -> Result<Json<CompanionApplied>, ApiError> {
    let transmission = store::mutate(
        move |doc| edit::apply_webrtc_companion(doc, &id, &edit::now_rfc3339()),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(CompanionApplied {
        transmission_id: transmission.id.clone(),
        output_id: "webrtc_low_latency",
        transmission: transmission.redacted(),
    }))
}

#[utoipa::path(delete, path = "/transmissions/{id}", tag = "transmissions", params(("id" = String, Path)), responses((status = 200, body = Deleted)))]
pub async fn delete(Path(id): Path<String>) -> Result<Json<Deleted>, ApiError> {
    store::mutate(
        move |doc| edit::delete_transmission(doc, &id),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(DELETED))
}

#[utoipa::path(get, path = "/transmissions/{id}/urls", tag = "playback", params(("id" = String, Path), super::openapi::UrlsQuery), responses((status = 200, body = UrlsResponse)))]
pub async fn urls(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Result<Json<UrlsResponse>, ApiError> {
    Ok(Json(signed_urls(&runtime, &id, &params, &headers).await?))
}

/// `GET /transmissions/{id}/playback-plan`: every transport ranked for this client and context.
#[utoipa::path(get, path = "/transmissions/{id}/playback-plan", tag = "playback", params(("id" = String, Path), super::openapi::PlanQuery), responses((status = 200, description = "Every transport ranked for this client and context (docs/api.md)", body = Object)))]
pub async fn playback_plan(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let client: Client = params.named("client")?.unwrap_or_default();
    let context: Option<Context> = params.named("context")?;
    let low_latency = params.flag("low_latency")?;
    let urls = signed_urls(&runtime, &id, &params, &headers).await?;
    let revision = store::read(STORE_DEADLINE).await?;
    let role = revision
        .settings
        .transmission(&id)
        .and_then(Transmission::role)
        .map(str::to_string);
    let request = PlanRequest {
        client,
        context,
        low_latency,
        transmission_role: role,
        quality_profile_id: params.get("quality_profile_id").map(str::to_string),
    };
    let health = toposync_actors::health::transmission(&id).await;
    Ok(Json(plan_over(&id, &request, &urls, health.as_ref())))
}

/// `GET /internal/transmissions/{id}/urls`: what a core asks a processing server for the
/// transmissions it hosts (the same answer as `/urls`, only for what runs here).
#[utoipa::path(get, path = "/internal/transmissions/{id}/urls", tag = "distributed", params(("id" = String, Path), super::openapi::UrlsQuery), responses((status = 200, body = UrlsResponse)))]
pub async fn internal_urls(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Result<Json<UrlsResponse>, ApiError> {
    let revision = store::read(STORE_DEADLINE).await?;
    let transmission = revision
        .settings
        .transmission(&id)
        .ok_or_else(|| ApiError::not_found("Transmission not found"))?;
    if transmission.host_server_id != toposync_actors::distributed::LOCAL_SERVER_ID {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!(
                "Transmission is not hosted on this server. transmission_host_server_id='{}' server_id='local'",
                transmission.host_server_id
            ),
        ));
    }
    Ok(Json(signed_urls(&runtime, &id, &params, &headers).await?))
}

/// URL resolution (spec §5.3) with signed proxy URLs: HLS through the signed proxy (or direct in
/// open mode), a JSMpeg entry per HLS output; `output_id` / `quality_profile_id` filter; primes
/// demand best-effort.
pub async fn signed_urls(
    runtime: &Runtime,
    id: &str,
    params: &Params,
    headers: &HeaderMap,
) -> Result<UrlsResponse, ApiError> {
    let id = id.to_string();
    let revision = store::read(STORE_DEADLINE).await?;
    let transmission = revision
        .settings
        .transmission(&id)
        .ok_or_else(|| ApiError::not_found("Transmission not found"))?;
    if transmission.host_server_id != toposync_actors::distributed::LOCAL_SERVER_ID {
        // Its processing server resolves (and primes) it; the core pulls nothing itself.
        return super::distributed::remote_urls(&revision.settings, transmission, params).await;
    }
    let output_id = params.get("output_id");
    if let Some(output_id) = output_id {
        if !transmission.outputs.iter().any(|o| o.id == output_id) {
            return Err(ApiError::not_found("Output not found"));
        }
    }
    let profile: Option<QualityProfileId> = params.named("quality_profile_id")?;
    let requested_ttl = match params.get("media_token_ttl_seconds") {
        None => None,
        Some(raw) => Some(
            raw.parse::<f64>()
                .ok()
                .filter(|t| t.is_finite())
                .ok_or_else(|| {
                    ModelError::invalid(
                        &Loc::query().key("media_token_ttl_seconds"),
                        "media_token_ttl_seconds must be a finite number",
                    )
                })?,
        ),
    };
    let running_ports = super::engine::running_ports().await;
    let request_host = super::request_host(headers);
    let origin = toposync_actors::urls::PublicOrigin::from_headers(|name| {
        headers.get(name).and_then(|value| value.to_str().ok())
    });
    let network = super::engine::contract_inputs(&revision.settings, running_ports, headers);
    let request = UrlRequest {
        running_ports,
        request_host,
        output_id,
        origin,
        network,
    };
    let mut resolved: UrlsResponse = resolve_urls(&revision.settings, transmission, &request);
    if let Some(profile) = profile {
        resolved.keep_profile(profile);
    }
    // Demand only what was asked (spec: demand scoped to the active output): one output, a
    // profile's HLS outputs (its WebRTC fallback starts when a player asks for it), or all.
    match (output_id, profile) {
        (Some(output_id), _) => super::demand::prime_quietly(&id, Some(output_id)).await,
        (None, Some(_)) => {
            for output in resolved
                .outputs
                .iter()
                .filter(|o| o.protocol == EntryProtocol::Hls)
            {
                super::demand::prime_quietly(&id, Some(&output.output_id)).await;
            }
        }
        (None, None) => super::demand::prime_quietly(&id, None).await,
    }
    let engine = &revision.settings.engine;
    // MSE is offered while the sidecar could start (it may stay stopped until the first viewer).
    let mse_blocked = if engine.mse_sidecar.enabled {
        toposync_actors::api::sidecar::blocking().await
    } else {
        None
    };
    Ok(resolved.sign(&Signing {
        tokens: &runtime.media_tokens,
        engine,
        now: toposync_actors::unix_now(),
        requested_ttl,
        mse_blocked,
    }))
}

fn shown(transmission: Transmission, include_secrets: bool) -> Transmission {
    if include_secrets {
        transmission
    } else {
        transmission.redacted()
    }
}
