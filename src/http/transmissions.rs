//! `/api/streams/transmissions`: manual CRUD and URL resolution.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use toposync_actors::Runtime;
use toposync_actors::media_token::{Claims, SCOPE, Transport, now_unix, ttl_seconds};
use toposync_actors::model::edit;
use toposync_actors::model::error::{Loc, ModelError};
use toposync_actors::model::transmission::{Protocol, Transmission};
use toposync_actors::store;
use toposync_actors::urls::{UrlRequest, UrlsResponse, resolve_urls};

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
    let requested_ttl = match params.get("media_token_ttl_seconds") {
        None => None,
        Some(raw) => Some(raw.parse::<f64>().map_err(|_| {
            ModelError::invalid(
                &Loc::query().key("media_token_ttl_seconds"),
                "media_token_ttl_seconds must be a number",
            )
        })?),
    };
    super::demand::prime_quietly(&id, output_id).await;
    let request = UrlRequest {
        running_ports: super::engine::running_ports().await,
        request_host: super::request_host(&headers),
        output_id,
    };
    let resolved: UrlsResponse = resolve_urls(&revision.settings, transmission, &request);
    let mut answer = serde_json::to_value(&resolved).expect("URLs serialize");
    // Every HLS output also plays over JSMpeg through this service, with a signed URL.
    let api_host = super::request_host(&headers).unwrap_or("127.0.0.1:8100");
    let ttl = ttl_seconds(
        revision.settings.engine.media_auth.token_ttl_seconds,
        requested_ttl,
    );
    let now = now_unix();
    let signed: Vec<Value> = resolved
        .outputs
        .iter()
        .filter(|o| o.protocol == Protocol::Hls)
        .map(|o| {
            let token = runtime.media_tokens.sign(&Claims {
                engine_path: o.resolved_engine_path.clone(),
                exp: now + ttl,
                iat: now,
                output_id: o.output_id.clone(),
                scope: SCOPE.into(),
                transmission_id: id.clone(),
                transport: Some(Transport::Jsmpeg),
            });
            json!({
                "output_id": o.output_id,
                "protocol": "jsmpeg",
                "resolved_engine_path": o.resolved_engine_path,
                "url": format!("ws://{api_host}/api/streams/media/jsmpeg/{}/ws?media_token={token}",
                               o.resolved_engine_path),
                "requires_auth": false,
                "auth_username": null,
                "media_auth_type": "signed_token",
                "quality_profile_id": o.quality_profile_id,
                "url_expires_at_unix": now + ttl,
            })
        })
        .collect();
    if let Some(outputs) = answer["outputs"].as_array_mut() {
        outputs.extend(signed);
    }
    Ok(Json(answer))
}

fn shown(transmission: Transmission, include_secrets: bool) -> Transmission {
    if include_secrets {
        transmission
    } else {
        transmission.redacted()
    }
}
