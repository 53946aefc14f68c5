//! Publications, reconciliation, quality profiles, camera live views, the pipeline runtime view
//! and the advanced wizard.

use std::time::Duration;

use axum::Json;
use axum::extract::Path;
use serde_json::{Value, json};
use toposync_actors::model::edit::now_rfc3339;
use toposync_actors::model::error::{Loc, ModelError};
use toposync_actors::model::live_views;
use toposync_actors::model::publication::{
    CameraLiveView, DEFAULT_PROFILE, Publication, QUALITY_PROFILES,
};
use toposync_actors::model::registry;
use toposync_actors::pipelines::{PipelinesMsg, pipelines};
use toposync_actors::reconcile;
use toposync_actors::store;
use toposync_actors::supervision::{AskError, ask};
use toposync_actors::wizard;

use super::STORE_DEADLINE;
use super::error::ApiError;
use super::extract::{JsonBody, Params};

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
pub async fn reconcile_now() -> Result<Json<Value>, ApiError> {
    let warnings = store::mutate(
        |doc| Ok(reconcile::reconcile(doc, &now_rfc3339())),
        STORE_DEADLINE,
    )
    .await?;
    let revision = store::read(STORE_DEADLINE).await?;
    let mut document =
        serde_json::to_value(revision.settings.redacted()).expect("settings serialize");
    document["warnings"] = json!(warnings);
    Ok(Json(document))
}

pub async fn quality_profiles() -> Json<Value> {
    Json(json!({
        "default_profile_id": DEFAULT_PROFILE,
        "profiles": QUALITY_PROFILES.iter().map(|p| p.view()).collect::<Vec<_>>(),
    }))
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
pub async fn delete_live_view(Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    store::mutate(move |doc| live_views::delete(doc, &id), STORE_DEADLINE).await?;
    Ok(Json(json!({"ok": true})))
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
pub async fn runtime_pipelines() -> Result<Json<Value>, ApiError> {
    let supervisor = pipelines()
        .ok_or_else(|| ApiError::unavailable("pipelines runtime", AskError::Unavailable))?;
    let runtimes = ask(&supervisor, PipelinesMsg::Status, Duration::from_secs(2))
        .await
        .map_err(|err| ApiError::unavailable("pipelines runtime", err))?;
    let settings = store::read(STORE_DEADLINE).await?.settings;
    let links = toposync_actors::pipelines::links::links(&settings, &runtimes);
    Ok(Json(
        json!({"updated_at_unix": toposync_actors::unix_now(), "pipelines": links}),
    ))
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
) -> Result<Json<Value>, ApiError> {
    use toposync_actors::playback::{
        Client, Context, LiveSelection, PlanRequest, context_variant, plan_over, select_live_output,
    };
    let context = match params.get("context") {
        None => Context::Thumbnail,
        Some(raw) => serde_json::from_value(json!(raw)).map_err(|_| {
            ModelError::invalid(
                &Loc::query().key("context"),
                format!("'{raw}' is not a valid context"),
            )
        })?,
    };
    let revision = store::read(STORE_DEADLINE).await?;
    let view = revision
        .settings
        .camera_live_views
        .iter()
        .find(|v| v.id == id && v.enabled)
        .ok_or_else(|| ApiError::not_found("Camera live view not found"))?;
    let explicit = params
        .get("variant_id")
        .and_then(|wanted| view.variants.iter().find(|v| v.id == wanted && v.enabled));
    let variant = explicit
        .or_else(|| {
            let default = context_variant(&view.defaults, context)?;
            view.variants.iter().find(|v| v.id == default && v.enabled)
        })
        .ok_or_else(|| ApiError::not_found("Camera live variant not found"))?
        .clone();
    // The camera and source names the original's clients label the player with (§2.12 step 3).
    let mut camera_name = String::new();
    let mut camera_source_name = String::new();
    let mut source_role = None;
    if let (Some(camera_id), Some(source_id)) = (&view.camera_id, &variant.camera_source_id) {
        let camera = revision.settings.camera(camera_id);
        let source = camera.and_then(|c| c.video_source(Some(source_id)));
        let (Some(camera), Some(source)) = (camera, source) else {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "Camera source not found or disabled",
            ));
        };
        camera_name = camera.display_name().to_string();
        camera_source_name = source.name.clone();
        source_role = Some(source.role);
    }
    let Some(transmission) = revision
        .settings
        .transmission(&variant.transmission_id)
        .cloned()
    else {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "Transmission not found for live variant",
        ));
    };
    let profile = variant
        .quality_profile_id
        .map(|p| json!(p).as_str().unwrap_or_default().to_string());
    let mut query = std::collections::HashMap::new();
    if let Some(profile) = &profile {
        query.insert("quality_profile_id".to_string(), profile.clone());
    }
    if let Some(ttl) = params.get("media_token_ttl_seconds") {
        query.insert("media_token_ttl_seconds".to_string(), ttl.to_string());
    }
    let urls = super::transmissions::signed_urls(
        &runtime,
        &variant.transmission_id,
        &Params::from_map(query),
        &headers,
    )
    .await?;
    let LiveSelection {
        selected_output: selected,
        warnings,
        blocking_errors,
    } = select_live_output(&variant, &urls);
    let request = PlanRequest {
        client: Client::Web,
        context: Some(context),
        low_latency: variant.preferred_transport == "webrtc" || context == Context::Ptz,
        transmission_role: Some(variant.role.as_str().to_string()),
        quality_profile_id: profile,
    };
    // One health reading serves the plan's entries and the answer's `runtime_health`.
    let runtime_health = toposync_actors::health::transmission(&variant.transmission_id).await;
    let plan = plan_over(
        &variant.transmission_id,
        &request,
        &urls,
        runtime_health.as_ref(),
    );
    Ok(Json(json!({
        "live_view": view,
        "live_view_id": view.id,
        "camera_id": view.camera_id.clone().unwrap_or_default(),
        "camera_name": camera_name,
        "camera_source_id": variant.camera_source_id.clone().unwrap_or_default(),
        "camera_source_name": camera_source_name,
        "source_role": source_role,
        "context": context,
        "variant": variant,
        "transmission": transmission.redacted(),
        "transmission_id": variant.transmission_id,
        "runtime_health": runtime_health,
        "source_health": Value::Null,
        "selected_output": selected,
        "urls": urls,
        "playback_plan": plan,
        "warnings": warnings,
        "blocking_errors": blocking_errors,
    })))
}
