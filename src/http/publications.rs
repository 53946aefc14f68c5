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

pub async fn quality_profiles() -> Json<Catalogue> {
    Json(catalogue())
}

pub async fn live_views() -> Result<Json<Vec<CameraLiveView>>, ApiError> {
    let revision = store::read(STORE_DEADLINE).await?;
    Ok(Json(revision.settings.camera_live_views.clone()))
}

/// `PUT /live-views/{id}`: the whole live view replaced; answers it normalised.
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
pub async fn delete_live_view(Path(id): Path<String>) -> Result<Json<Done>, ApiError> {
    store::mutate(move |doc| live_views::delete(doc, &id), STORE_DEADLINE).await?;
    Ok(Json(DONE))
}

/// `POST /camera-live-views/generate`: reconcile now and show what was generated.
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
