//! `/api/streams/transmissions`: manual CRUD and URL resolution.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use toposync_actors::Runtime;
use toposync_actors::media_token::{Claims, SCOPE, Transport, ttl_seconds};
use toposync_actors::model::edit;
use toposync_actors::model::error::{Loc, ModelError};
use toposync_actors::model::settings::MediaAuthMode;
use toposync_actors::model::transmission::{Protocol, QualityProfileId, Transmission};
use toposync_actors::playback::{Client, Context, PlanRequest, Urls as PlanUrls, plan};
use toposync_actors::supervision::ask;

const HEALTH_DEADLINE: std::time::Duration = std::time::Duration::from_millis(500);
use toposync_actors::store;
use toposync_actors::urls::{OutputUrl, UrlRequest, UrlsResponse, resolve_urls};

const OPEN_HLS_WARNING: &str =
    "Open HLS media access is enabled. Use it only on trusted LAN or for diagnostics.";

use super::STORE_DEADLINE;
use super::error::ApiError;
use super::extract::{JsonBody, Params};

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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ApplyProfilesRequest {
    #[serde(default)]
    mode: ApplyMode,
    #[serde(default)]
    profile_ids: Option<Vec<QualityProfileId>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "snake_case")]
enum ApplyMode {
    #[default]
    ReplaceHlsProfiles,
}

/// `POST /transmissions/{id}/quality-profiles/apply`; the body is optional (all four profiles).
pub async fn apply_quality_profiles(
    Path(id): Path<String>,
    body: Option<JsonBody>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({
        "transmission_id": transmission.id,
        "applied_profile_ids": applied,
        "transmission": transmission.redacted(),
    })))
}

/// `POST /transmissions/{id}/webrtc/companion/apply`: adds the low-latency WebRTC output.
pub async fn apply_webrtc_companion(Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let transmission = store::mutate(
        move |doc| edit::apply_webrtc_companion(doc, &id, &edit::now_rfc3339()),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(json!({
        "transmission_id": transmission.id,
        "output_id": "webrtc_low_latency",
        "transmission": transmission.redacted(),
    })))
}

pub async fn delete(Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    store::mutate(
        move |doc| edit::delete_transmission(doc, &id),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(json!({"deleted": true})))
}

pub async fn urls(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(signed_urls(&runtime, &id, &params, &headers).await?))
}

/// `GET /transmissions/{id}/playback-plan`: every transport ranked for this client and context.
pub async fn playback_plan(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let client: Client = query_enum(&params, "client")?.unwrap_or_default();
    let context: Option<Context> = query_enum(&params, "context")?;
    let low_latency = params.flag("low_latency")?;
    let urls = signed_urls(&runtime, &id, &params, &headers).await?;
    let revision = store::read(STORE_DEADLINE).await?;
    let role = revision
        .settings
        .transmission(&id)
        .and_then(|t| t.extra.get("role"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let request = PlanRequest {
        client,
        context,
        low_latency,
        transmission_role: role,
        quality_profile_id: params.get("quality_profile_id").map(str::to_string),
    };
    Ok(Json(plan_from(&id, &request, &urls).await))
}

/// The plan over resolved URLs, with the transmission's runtime health in each entry.
pub async fn plan_from(id: &str, request: &PlanRequest, urls: &Value) -> Value {
    let strings = |key: &str| strings(urls, key);
    let resolved = PlanUrls {
        engine_running: urls["engine_running"] == true,
        outputs: urls["outputs"].as_array().cloned().unwrap_or_default(),
        warnings: strings("warnings"),
        hls_warnings: strings("hls_warnings"),
        webrtc_warnings: strings("webrtc_warnings"),
        blocking_errors: strings("blocking_errors"),
    };
    let health = toposync_actors::health::transmission(id)
        .await
        .map(|health| toposync_actors::health::PlanHealthSource::of(&health))
        .unwrap_or_default();
    plan(id, request, &resolved, &health)
}

/// A list of strings of a URL answer (`warnings`, `blocking_errors`, ...).
pub fn strings(urls: &Value, key: &str) -> Vec<String> {
    urls[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// A query parameter naming an enum value; 422 naming the parameter when it is not one.
fn query_enum<T: serde::de::DeserializeOwned>(
    params: &Params,
    name: &str,
) -> Result<Option<T>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(raw) => serde_json::from_value(json!(raw)).map(Some).map_err(|_| {
            ModelError::invalid(
                &Loc::query().key(name),
                format!("'{raw}' is not a valid {name}"),
            )
            .into()
        }),
    }
}

/// URL resolution (spec §5.3) with signed proxy URLs: HLS through the signed proxy (or direct in
/// open mode), a JSMpeg entry per HLS output; `output_id` / `quality_profile_id` filter; primes
/// demand best-effort.
pub async fn signed_urls(
    runtime: &Runtime,
    id: &str,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Value, ApiError> {
    let id = id.to_string();
    let revision = store::read(STORE_DEADLINE).await?;
    let transmission = revision
        .settings
        .transmission(&id)
        .ok_or_else(|| ApiError::not_found("Transmission not found"))?;
    let output_id = params.get("output_id");
    if let Some(output_id) = output_id {
        if !transmission.outputs.iter().any(|o| o.id == output_id) {
            return Err(ApiError::not_found("Output not found"));
        }
    }
    let profile: Option<QualityProfileId> = query_enum(params, "quality_profile_id")?;
    let requested_ttl = match params.get("media_token_ttl_seconds") {
        None => None,
        Some(raw) => Some(raw.parse::<f64>().map_err(|_| {
            ModelError::invalid(
                &Loc::query().key("media_token_ttl_seconds"),
                "media_token_ttl_seconds must be a number",
            )
        })?),
    };
    let request = UrlRequest {
        running_ports: super::engine::running_ports().await,
        request_host: super::request_host(headers),
        output_id,
        origin: toposync_actors::urls::PublicOrigin::from_headers(|name| {
            headers.get(name).and_then(|value| value.to_str().ok())
        }),
    };
    let mut resolved: UrlsResponse = resolve_urls(&revision.settings, transmission, &request);
    if let Some(profile) = profile {
        // A profile filter keeps that profile's HLS outputs and every WebRTC output (§5.3).
        resolved.outputs.retain(|o| match o.protocol {
            Protocol::Rtsp => false,
            Protocol::Hls => o.quality_profile_id == Some(profile),
            Protocol::Webrtc => true,
        });
    }
    // Demand only what was asked (spec: demand scoped to the active output): one output, a
    // profile's HLS outputs (its WebRTC fallback starts when a player asks for it), or all.
    match (output_id, profile) {
        (Some(output_id), _) => super::demand::prime_quietly(&id, Some(output_id)).await,
        (None, Some(_)) => {
            for output in resolved
                .outputs
                .iter()
                .filter(|o| o.protocol == Protocol::Hls)
            {
                super::demand::prime_quietly(&id, Some(&output.output_id)).await;
            }
        }
        (None, None) => super::demand::prime_quietly(&id, None).await,
    }
    let engine = &revision.settings.engine;
    let signed_hls = engine.media_auth.mode == MediaAuthMode::SignedProxy;
    let ttl = ttl_seconds(engine.media_auth.token_ttl_seconds, requested_ttl);
    let now = toposync_actors::unix_now();
    let renew_after = now.max(
        now + ttl
            - engine
                .media_auth
                .renew_margin_seconds
                .max(1.0)
                .min(ttl - 1.0),
    );
    let sign = |output: &OutputUrl, transport: Transport| {
        runtime.media_tokens.sign(&Claims {
            engine_path: output.resolved_engine_path.clone(),
            exp: now + ttl,
            iat: now,
            output_id: output.output_id.clone(),
            scope: SCOPE.into(),
            transmission_id: id.clone(),
            transport: Some(transport),
        })
    };
    // MSE is offered while the sidecar could start (it may stay stopped until the first viewer).
    let mse_blocked = if engine.mse_sidecar.enabled {
        match toposync_actors::sidecar::sidecar() {
            Some(sidecar) => ask(
                &sidecar,
                toposync_actors::sidecar::SidecarMsg::Blocking,
                HEALTH_DEADLINE * 4,
            )
            .await
            .unwrap_or_else(|_| Some("MSE sidecar unavailable: it did not answer.".into())),
            None => Some("MSE sidecar unavailable: it is restarting.".into()),
        }
    } else {
        None
    };
    let mut outputs = Vec::new();
    for output in &resolved.outputs {
        if output.protocol != Protocol::Hls {
            outputs.push(serde_json::to_value(output).expect("URLs serialize"));
            continue;
        }
        let path = &output.resolved_engine_path;
        let signed_entry = |transport: Transport, kind: &str, url: String| {
            let mut entry = serde_json::to_value(output).expect("URLs serialize");
            entry["protocol"] = json!(kind);
            entry["url"] = json!(format!("{url}?media_token={}", sign(output, transport)));
            entry["requires_auth"] = json!(false);
            entry["auth_username"] = Value::Null;
            entry["media_auth_type"] = json!("signed_url");
            entry["url_expires_at_unix"] = json!(now + ttl);
            entry["renew_after_unix"] = json!(renew_after);
            entry
        };
        outputs.push(if signed_hls {
            // Signed mode: HLS goes through this service's proxy, which checks the token.
            signed_entry(
                Transport::Hls,
                "hls",
                format!("/api/streams/media/hls/{path}/index.m3u8"),
            )
        } else {
            serde_json::to_value(output).expect("URLs serialize")
        });
        if engine.mse_sidecar.enabled && mse_blocked.is_none() {
            outputs.push(signed_entry(
                Transport::Mse,
                "mse",
                format!("/api/streams/media/mse/{path}/ws"),
            ));
        }
        // Every HLS output also plays over JSMpeg through this service (a path on this API; the
        // client makes it a ws:// or wss:// URL, as the original's clients do).
        outputs.push(signed_entry(
            Transport::Jsmpeg,
            "jsmpeg",
            format!("/api/streams/media/jsmpeg/{path}/ws"),
        ));
    }
    let mut answer = serde_json::to_value(&resolved).expect("URLs serialize");
    answer["outputs"] = Value::Array(outputs);
    if let Some(warnings) = answer["warnings"].as_array_mut() {
        if !signed_hls {
            warnings.push(json!(OPEN_HLS_WARNING));
        }
        if let Some(reason) = &mse_blocked {
            warnings.push(json!(reason));
        }
    }
    // The original reports the open-mode warning in both lists.
    answer["hls_warnings"] = if signed_hls {
        json!([])
    } else {
        json!([OPEN_HLS_WARNING])
    };
    answer["webrtc_warnings"] = json!([]);
    answer["blocking_errors"] = json!([]);
    Ok(answer)
}

fn shown(transmission: Transmission, include_secrets: bool) -> Transmission {
    if include_secrets {
        transmission
    } else {
        transmission.redacted()
    }
}
