//! `/api/streams/transmissions`: manual CRUD and URL resolution.

use axum::Json;
use axum::extract::Path;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use toposync_actors::model::edit;
use toposync_actors::model::transmission::Transmission;
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
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Result<Json<UrlsResponse>, ApiError> {
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
    super::demand::prime_quietly(&id, output_id).await;
    let request = UrlRequest {
        running_ports: super::engine::running_ports().await,
        request_host: super::request_host(&headers),
        output_id,
    };
    Ok(Json(resolve_urls(
        &revision.settings,
        transmission,
        &request,
    )))
}

fn shown(transmission: Transmission, include_secrets: bool) -> Transmission {
    if include_secrets {
        transmission
    } else {
        transmission.redacted()
    }
}
