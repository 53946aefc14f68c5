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
use toposync_actors::model::settings::MediaAuthMode;
use toposync_actors::model::transmission::{Protocol, Transmission};
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
    let engine = &revision.settings.engine;
    let signed_hls = engine.media_auth.mode == MediaAuthMode::SignedProxy;
    let ttl = ttl_seconds(engine.media_auth.token_ttl_seconds, requested_ttl);
    let now = now_unix();
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
    let mut outputs = Vec::new();
    for output in &resolved.outputs {
        let mut entry = serde_json::to_value(output).expect("URLs serialize");
        if output.protocol != Protocol::Hls {
            outputs.push(entry);
            continue;
        }
        let path = &output.resolved_engine_path;
        if signed_hls {
            // Signed mode: HLS goes through this service's proxy, which checks the token.
            entry["url"] = json!(format!(
                "/api/streams/media/hls/{path}/index.m3u8?media_token={}",
                sign(output, Transport::Hls)
            ));
            entry["requires_auth"] = json!(false);
            entry["auth_username"] = Value::Null;
            entry["media_auth_type"] = json!("signed_url");
            entry["url_expires_at_unix"] = json!(now + ttl);
            entry["renew_after_unix"] = json!(renew_after);
        }
        outputs.push(entry);
        // Every HLS output also plays over JSMpeg through this service (a path on this API; the
        // client makes it a ws:// or wss:// URL, as the original's clients do).
        let mut jsmpeg = serde_json::to_value(output).expect("URLs serialize");
        jsmpeg["protocol"] = json!("jsmpeg");
        jsmpeg["url"] = json!(format!(
            "/api/streams/media/jsmpeg/{path}/ws?media_token={}",
            sign(output, Transport::Jsmpeg)
        ));
        jsmpeg["requires_auth"] = json!(false);
        jsmpeg["auth_username"] = Value::Null;
        jsmpeg["media_auth_type"] = json!("signed_url");
        jsmpeg["url_expires_at_unix"] = json!(now + ttl);
        jsmpeg["renew_after_unix"] = json!(renew_after);
        outputs.push(jsmpeg);
    }
    let mut answer = serde_json::to_value(&resolved).expect("URLs serialize");
    answer["outputs"] = Value::Array(outputs);
    if !signed_hls {
        if let Some(warnings) = answer["warnings"].as_array_mut() {
            warnings.push(json!(OPEN_HLS_WARNING));
        }
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
