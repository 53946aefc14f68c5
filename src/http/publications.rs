//! Publications, reconciliation, quality profiles, camera live views, the pipeline runtime view
//! and the advanced wizard.

use std::time::Duration;

use axum::Json;
use axum::extract::Path;
use serde::Deserialize;
use serde_json::{Value, json};
use toposync_actors::model::edit::now_rfc3339;
use toposync_actors::model::error::{Loc, ModelError, from_value};
use toposync_actors::model::live_views;
use toposync_actors::model::pipeline::Pipeline;
use toposync_actors::model::publication::{
    CameraLiveView, DEFAULT_PROFILE, Publication, QUALITY_PROFILES,
};
use toposync_actors::model::registry;
use toposync_actors::pipelines::{PipelinesMsg, pipelines};
use toposync_actors::reconcile;
use toposync_actors::store;
use toposync_actors::supervision::{AskError, ask};
use toposync_actors::wizard::{self, Options, Preset};

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WizardRequest {
    transmission_id: String,
    camera_id: String,
    #[serde(default)]
    camera_source_id: Option<String>,
    /// Parsed after the body so an unknown preset is the original's 400, not a 422.
    preset_id: String,
    #[serde(default)]
    optional_parameters: Option<Options>,
}

pub async fn wizard(JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    let request: WizardRequest = from_value(body, &Loc::body())?;
    let preset: Preset = serde_json::from_value(json!(request.preset_id.trim()))
        .map_err(|_| ModelError::BadRequest("Unknown preset_id".into()))?;
    for (field, value) in [
        ("transmission_id", &request.transmission_id),
        ("camera_id", &request.camera_id),
    ] {
        if value.trim().is_empty() {
            return Err(ModelError::invalid(&Loc::body().key(field), "Field is required").into());
        }
    }
    let options = request.optional_parameters.unwrap_or_default();
    // The original reports whether the local engine runs, not whether it is enabled.
    let engine_running = super::engine::running_ports().await.is_some();
    if let Some(fps) = options.fps_limit {
        if !(0.5..=60.0).contains(&fps) {
            return Err(ModelError::invalid(
                &Loc::body().key("optional_parameters").key("fps_limit"),
                "fps_limit must be between 0.5 and 60",
            )
            .into());
        }
    }
    let answer = store::mutate(
        move |doc| {
            let transmission_id = request.transmission_id.trim().to_string();
            let transmission = doc
                .transmission(&transmission_id)
                .cloned()
                .ok_or_else(|| ModelError::NotFound("Transmission not found".into()))?;
            let camera_id = request.camera_id.trim().to_string();
            let camera = doc.camera(&camera_id).cloned().ok_or_else(|| ModelError::NotFound("Camera not found".into()))?;
            let wanted = request.camera_source_id.as_deref().map(str::trim).filter(|s| !s.is_empty());
            let source = camera
                .video_source(wanted)
                .ok_or_else(|| conflict("Camera source not found or disabled"))?;
            let host = options
                .processing_server_id
                .as_deref()
                .map(toposync_actors::model::transmission::normalize_server_id)
                .unwrap_or_else(|| "local".into());
            if !doc.is_known_host(&host) {
                return Err(ModelError::BadRequest(format!("Unknown host_server_id: {host}")));
            }
            if host != transmission.host_server_id {
                return Err(ModelError::BadRequest(format!(
                    "Transmission host_server_id must match pipeline processing_server_id. \
                     Transmission='{}' Pipeline='{host}'.",
                    transmission.host_server_id
                )));
            }
            let name = match options.pipeline_name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                Some(name) => {
                    if doc.pipeline(name).is_some() {
                        return Err(conflict(&format!("Pipeline already exists: {name}")));
                    }
                    name.to_string()
                }
                None => {
                    let base = wizard::suggested_name(&transmission.path, &camera.id, &source.id, preset);
                    let mut name = base.clone();
                    let mut n = 2;
                    while doc.pipeline(&name).is_some() {
                        name = format!("{base}_{n}");
                        n += 1;
                    }
                    name
                }
            };
            let graph = wizard::graph(&transmission.id, &camera.id, &source.id, preset, &options);
            let pipeline: Pipeline = serde_json::from_value(json!({
                "name": name, "enabled": options.enabled.unwrap_or(true), "processing_server_id": host,
                "editor_mode": "interactive", "python_source": "", "graph": graph,
            }))
            .expect("wizard pipelines are well-formed");
            doc.pipelines.push(pipeline);
            reconcile::reconcile(doc, &now_rfc3339());
            let mut warnings: Vec<String> = Vec::new();
            if host != "local" {
                warnings.push(
                    "Pipeline is assigned to a remote processing server. Check engine status on the selected \
                     processing server."
                        .into(),
                );
            } else if !engine_running {
                warnings.push("Streaming engine is not running. Start the engine to publish this pipeline.".into());
            }
            if !transmission.enabled {
                warnings.push("Transmission is disabled. Enable it to publish frames.".into());
            }
            if options.stream_behavior == wizard::StreamBehavior::EventGated {
                warnings.push(
                    "This pipeline is event-gated. It may intentionally stop publishing frames when no \
                     motion/detection event is present."
                        .into(),
                );
            }
            let runnable = doc.pipeline(&name).map(|p| p.unsupported_operators().is_empty()).unwrap_or(false);
            if !runnable {
                warnings.push(format!(
                    "Pipeline '{name}' uses operators that do not run in this service; it is stored for a \
                     processing server that has them."
                ));
            }
            Ok(json!({
                "pipeline_name": name, "transmission_id": transmission.id, "camera_id": camera.id,
                "camera_source_id": source.id, "preset_id": preset,
                "engine_running": host == "local" && engine_running, "warnings": warnings,
            }))
        },
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(answer))
}

fn conflict(message: &str) -> ModelError {
    ModelError::Refused(message.to_string())
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
        Client, Context, LiveSelection, PlanRequest, context_variant, plan_with_health,
        select_live_output,
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
    let plan = plan_with_health(&variant.transmission_id, &request, &urls).await;
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
        "runtime_health": toposync_actors::health::transmission(&variant.transmission_id).await,
        "source_health": Value::Null,
        "selected_output": selected,
        "urls": urls,
        "playback_plan": plan,
        "warnings": warnings,
        "blocking_errors": blocking_errors,
    })))
}
