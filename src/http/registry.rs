//! `/api/cameras` and `/api/pipelines`: the camera registry and pipeline graphs. Every write
//! reconciles publications in the same atomic settings revision.

use axum::Json;
use axum::extract::Path;
use toposync_actors::model::camera::Camera;
use toposync_actors::model::edit::now_rfc3339;
use toposync_actors::model::pipeline::Pipeline;
use toposync_actors::model::registry;
use toposync_actors::store;

use super::STORE_DEADLINE;
use super::error::ApiError;
use super::extract::{JsonBody, Params};
use super::replies::{DELETED, Deleted};

fn shown(camera: Camera, include_secrets: bool) -> Camera {
    if include_secrets {
        camera
    } else {
        camera.redacted()
    }
}

#[utoipa::path(get, path = "/", tag = "cameras", params(super::openapi::IncludeSecrets), responses((status = 200, body = Vec<Camera>)))]
pub async fn list_cameras(params: Params) -> Result<Json<Vec<Camera>>, ApiError> {
    let secrets = params.flag("include_secrets")?;
    let revision = store::read(STORE_DEADLINE).await?;
    Ok(Json(
        revision
            .settings
            .cameras
            .iter()
            .map(|c| shown(c.clone(), secrets))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/{id}", tag = "cameras", params(("id" = String, Path), super::openapi::IncludeSecrets), responses((status = 200, body = Camera)))]
pub async fn get_camera(Path(id): Path<String>, params: Params) -> Result<Json<Camera>, ApiError> {
    let secrets = params.flag("include_secrets")?;
    let revision = store::read(STORE_DEADLINE).await?;
    let camera = revision
        .settings
        .camera(&id)
        .ok_or_else(|| ApiError::not_found("Camera not found"))?;
    Ok(Json(shown(camera.clone(), secrets)))
}

#[utoipa::path(post, path = "/", tag = "cameras", params(super::openapi::IncludeSecrets), request_body = Camera, responses((status = 200, body = Camera)))]
pub async fn create_camera(
    params: Params,
    JsonBody(body): JsonBody,
) -> Result<Json<Camera>, ApiError> {
    let secrets = params.flag("include_secrets")?;
    let camera = store::mutate(
        move |doc| registry::create_camera(doc, body, &now_rfc3339()),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(shown(camera, secrets)))
}

#[utoipa::path(put, path = "/{id}", tag = "cameras", params(("id" = String, Path), super::openapi::IncludeSecrets), request_body = Camera, responses((status = 200, body = Camera)))]
pub async fn replace_camera(
    Path(id): Path<String>,
    params: Params,
    JsonBody(body): JsonBody,
) -> Result<Json<Camera>, ApiError> {
    let secrets = params.flag("include_secrets")?;
    let camera = store::mutate(
        move |doc| registry::replace_camera(doc, &id, body, &now_rfc3339()),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(shown(camera, secrets)))
}

#[utoipa::path(delete, path = "/{id}", tag = "cameras", params(("id" = String, Path)), responses((status = 200, body = Deleted)))]
pub async fn delete_camera(Path(id): Path<String>) -> Result<Json<Deleted>, ApiError> {
    store::mutate(
        move |doc| registry::delete_camera(doc, &id, &now_rfc3339()),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(DELETED))
}

/// Pipelines with node passwords redacted unless `include_secrets=true`.
fn shown_pipeline(pipeline: Pipeline, include_secrets: bool) -> Pipeline {
    if include_secrets {
        pipeline
    } else {
        pipeline.redacted()
    }
}

#[utoipa::path(get, path = "/", tag = "pipelines", params(super::openapi::IncludeSecrets), responses((status = 200, body = Vec<Pipeline>)))]
pub async fn list_pipelines(params: Params) -> Result<Json<Vec<Pipeline>>, ApiError> {
    let secrets = params.flag("include_secrets")?;
    let revision = store::read(STORE_DEADLINE).await?;
    Ok(Json(
        revision
            .settings
            .pipelines
            .iter()
            .map(|p| shown_pipeline(p.clone(), secrets))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/{name}", tag = "pipelines", params(("name" = String, Path), super::openapi::IncludeSecrets), responses((status = 200, body = Pipeline)))]
pub async fn get_pipeline(
    Path(name): Path<String>,
    params: Params,
) -> Result<Json<Pipeline>, ApiError> {
    let secrets = params.flag("include_secrets")?;
    let revision = store::read(STORE_DEADLINE).await?;
    let pipeline = revision
        .settings
        .pipeline(&name)
        .ok_or_else(|| ApiError::not_found("Pipeline not found"))?;
    Ok(Json(shown_pipeline(pipeline.clone(), secrets)))
}

#[utoipa::path(put, path = "/{name}", tag = "pipelines", params(("name" = String, Path), super::openapi::IncludeSecrets), request_body = Pipeline, responses((status = 200, body = Pipeline)))]
pub async fn put_pipeline(
    Path(name): Path<String>,
    params: Params,
    JsonBody(body): JsonBody,
) -> Result<Json<Pipeline>, ApiError> {
    let secrets = params.flag("include_secrets")?;
    let pipeline = store::mutate(
        move |doc| registry::put_pipeline(doc, &name, body, &now_rfc3339()),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(shown_pipeline(pipeline, secrets)))
}

#[utoipa::path(delete, path = "/{name}", tag = "pipelines", params(("name" = String, Path)), responses((status = 200, body = Deleted)))]
pub async fn delete_pipeline(Path(name): Path<String>) -> Result<Json<Deleted>, ApiError> {
    store::mutate(
        move |doc| registry::delete_pipeline(doc, &name, &now_rfc3339()),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(DELETED))
}
