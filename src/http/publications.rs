//! Publications, reconciliation, quality profiles, camera live views, the pipeline runtime view
//! and the advanced wizard.

use axum::Json;
use axum::extract::Path;
use toposync_actors::model::edit::now_rfc3339;
use toposync_actors::model::live_views;
use toposync_actors::model::publication::{CameraLiveView, Catalogue, Publication, catalogue};
use toposync_actors::model::registry;
use toposync_actors::playback::{Context, LiveViewPlayback};
use toposync_actors::reconcile;
use toposync_actors::store;
use toposync_actors::wizard;

use super::STORE_DEADLINE;
use super::error::ApiError;
use super::extract::{JsonBody, Params};
use super::replies::{DONE, Done, PipelineLinks, Reconciled};

#[utoipa::path(get, path = "/publications", tag = "publications", params(super::openapi::PublicationsQuery), responses((status = 200, body = Vec<Publication>)))]
pub async fn list(params: Params) -> Result<Json<Vec<Publication>>, ApiError> {
    let revision = store::read(STORE_DEADLINE).await?;
    let camera = params.get("camera_id").map(str::trim);
    Ok(Json(
        reconcile::publications(&revision.settings)
            .into_iter()
            .filter(|p| camera.is_none_or(|c| p.camera_id.as_deref() == Some(c)))
            .collect(),
    ))
}

#[utoipa::path(put, path = "/publications/camera-sources/{camera_id}/{source_id}", tag = "publications", params(("camera_id" = String, Path), ("source_id" = String, Path)), request_body = Publication, responses((status = 200, body = Publication)))]
pub async fn put_camera_source(
    Path((camera_id, source_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Publication>, ApiError> {
    let publication = store::mutate(
        move |doc| {
            registry::put_camera_source_publication(
                doc,
                &camera_id,
                &source_id,
                body,
                &now_rfc3339(),
            )
        },
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(publication))
}

/// `POST /reconcile`: the saved document (secrets redacted) and what could not be generated.
#[utoipa::path(post, path = "/reconcile", tag = "publications", responses((status = 200, body = Reconciled)))]
pub async fn reconcile_now() -> Result<Json<Reconciled>, ApiError> {
    let warnings = store::mutate(
        |doc| Ok(reconcile::reconcile(doc, &now_rfc3339())),
        STORE_DEADLINE,
    )
    .await?;
    let revision = store::read(STORE_DEADLINE).await?;
    Ok(Json(Reconciled {
        settings: revision.settings.redacted(),
        warnings,
    }))
}

#[utoipa::path(get, path = "/quality-profiles", tag = "publications", responses((status = 200, body = Catalogue)))]
pub async fn quality_profiles() -> Json<Catalogue> {
    Json(catalogue())
}

#[utoipa::path(get, path = "/live-views", tag = "live-views", responses((status = 200, body = Vec<CameraLiveView>)))]
pub async fn live_views() -> Result<Json<Vec<CameraLiveView>>, ApiError> {
    let revision = store::read(STORE_DEADLINE).await?;
    Ok(Json(revision.settings.camera_live_views.clone()))
}

/// `PUT /live-views/{id}`: the whole live view replaced; answers it normalised.
#[utoipa::path(put, path = "/live-views/{id}", tag = "live-views", params(("id" = String, Path)), request_body = CameraLiveView, responses((status = 200, body = CameraLiveView)))]
pub async fn replace_live_view(
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<CameraLiveView>, ApiError> {
    let view = store::mutate(
        move |doc| live_views::replace(doc, &id, body),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(view))
}

/// `DELETE /live-views/{id}`: the view and what was generated for it alone.
#[utoipa::path(delete, path = "/live-views/{id}", tag = "live-views", params(("id" = String, Path)), responses((status = 200, body = Done)))]
pub async fn delete_live_view(Path(id): Path<String>) -> Result<Json<Done>, ApiError> {
    store::mutate(move |doc| live_views::delete(doc, &id), STORE_DEADLINE).await?;
    Ok(Json(DONE))
}

/// `POST /camera-live-views/generate`: reconcile now and show what was generated.
#[utoipa::path(post, path = "/camera-live-views/generate", tag = "live-views", request_body(content = Option<live_views::GenerateRequest>, description = "Optional"), responses((status = 200, body = live_views::Generated)))]
pub async fn generate_live_views(
    body: Option<JsonBody>,
) -> Result<Json<live_views::Generated>, ApiError> {
    let body = body.map(|JsonBody(value)| value);
    let generated = store::mutate(
        move |doc| live_views::generate(doc, body, &now_rfc3339()),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(generated))
}

/// `GET /runtime/pipelines`: which pipeline feeds which transmission, and how.
#[utoipa::path(get, path = "/runtime/pipelines", tag = "runtime", responses((status = 200, body = PipelineLinks)))]
pub async fn runtime_pipelines() -> Result<Json<PipelineLinks>, ApiError> {
    let runtimes = toposync_actors::api::pipelines::status().await?;
    let settings = store::read(STORE_DEADLINE).await?.settings;
    let links = toposync_actors::pipelines::links::links(&settings, &runtimes);
    Ok(Json(PipelineLinks {
        updated_at_unix: toposync_actors::unix_now(),
        pipelines: links,
    }))
}

/// `POST /wizard/create-pipeline`: a pipeline from a preset, reconciled in one revision.
#[utoipa::path(post, path = "/wizard/create-pipeline", tag = "publications", request_body = wizard::Request, responses((status = 200, body = wizard::Created)))]
pub async fn wizard(JsonBody(body): JsonBody) -> Result<Json<wizard::Created>, ApiError> {
    let request = wizard::Request::parse(body)?;
    // The original reports whether the local engine runs, not whether it is enabled.
    let engine_running = super::engine::running_ports().await.is_some();
    let created = store::mutate(
        move |doc| wizard::create(doc, request, engine_running, &now_rfc3339()),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(created))
}

/// `GET /live-views/{id}/playback[?context=&variant_id=&media_token_ttl_seconds=]`: the variant
/// the context shows (or the one asked for), its signed URLs, the output to play and the plan.
#[utoipa::path(get, path = "/live-views/{id}/playback", tag = "live-views", params(("id" = String, Path), super::openapi::LiveViewPlaybackQuery), responses((status = 200, body = LiveViewPlayback)))]
pub async fn live_view_playback(
    axum::extract::State(runtime): axum::extract::State<std::sync::Arc<toposync_actors::Runtime>>,
    Path(id): Path<String>,
    params: Params,
    headers: axum::http::HeaderMap,
) -> Result<Json<LiveViewPlayback>, ApiError> {
    let context = params.named("context")?.unwrap_or(Context::Thumbnail);
    let revision = store::read(STORE_DEADLINE).await?;
    let chosen = live_views::choose(&revision.settings, &id, context, params.get("variant_id"))?;
    let mut query = std::collections::HashMap::new();
    if let Some(profile) = chosen.quality_profile_name() {
        query.insert("quality_profile_id".to_string(), profile);
    }
    if let Some(ttl) = params.get("media_token_ttl_seconds") {
        query.insert("media_token_ttl_seconds".to_string(), ttl.to_string());
    }
    let transmission_id = chosen.variant.transmission_id.clone();
    let urls = super::transmissions::signed_urls(
        &runtime,
        &transmission_id,
        &Params::from_map(query),
        &headers,
    )
    .await?;
    // One health reading serves the plan's entries and the answer's `runtime_health`.
    let health = toposync_actors::health::transmission(&transmission_id).await;
    Ok(Json(LiveViewPlayback::answer(
        chosen, context, urls, health,
    )))
}

// The `/camera-live-views` spellings of the routes above (the original serves both), each
// its own operation so the OpenAPI document lists them.

#[utoipa::path(get, path = "/camera-live-views", tag = "live-views", description = "Alias of GET /live-views.", responses((status = 200, body = Vec<CameraLiveView>)))]
pub async fn camera_live_views() -> Result<Json<Vec<CameraLiveView>>, ApiError> {
    live_views().await
}

#[utoipa::path(put, path = "/camera-live-views/{id}", tag = "live-views", description = "Alias of PUT /live-views/{id}.", params(("id" = String, Path)), request_body = CameraLiveView, responses((status = 200, body = CameraLiveView)))]
pub async fn replace_camera_live_view(
    id: Path<String>,
    body: JsonBody,
) -> Result<Json<CameraLiveView>, ApiError> {
    replace_live_view(id, body).await
}

#[utoipa::path(delete, path = "/camera-live-views/{id}", tag = "live-views", description = "Alias of DELETE /live-views/{id}.", params(("id" = String, Path)), responses((status = 200, body = Done)))]
pub async fn delete_camera_live_view(id: Path<String>) -> Result<Json<Done>, ApiError> {
    delete_live_view(id).await
}

#[utoipa::path(get, path = "/camera-live-views/{id}/playback", tag = "live-views", description = "Alias of GET /live-views/{id}/playback.", params(("id" = String, Path), super::openapi::LiveViewPlaybackQuery), responses((status = 200, body = LiveViewPlayback)))]
pub async fn camera_live_view_playback(
    state: axum::extract::State<std::sync::Arc<toposync_actors::Runtime>>,
    id: Path<String>,
    params: Params,
    headers: axum::http::HeaderMap,
) -> Result<Json<LiveViewPlayback>, ApiError> {
    live_view_playback(state, id, params, headers).await
}
