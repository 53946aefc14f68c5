//! Edits of camera live views (`PUT`/`DELETE /live-views/{id}`, `POST /camera-live-views/generate`)
//! and the reference checks the original ran on every live view a write touches (§2.13).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{Loc, ModelError, from_value};
use super::publication::{CameraLiveView, LiveViewOwner};
use super::settings::StreamingSettings;
use super::transmission::Transmission;

/// The original's §2.13: the host is known (400); the camera, the variants' sources, transmissions
/// and outputs exist (409 with its messages).
pub fn check_references(doc: &StreamingSettings, view: &CameraLiveView) -> Result<(), ModelError> {
    if !doc.is_known_host(&view.host_server_id) {
        return Err(ModelError::BadRequest(format!(
            "Unknown host_server_id: {}",
            view.host_server_id
        )));
    }
    let camera = view.camera_id.as_deref().and_then(|id| doc.camera(id));
    let camera_has_video = camera.is_some_and(|c| c.sources.iter().any(|s| s.is_live_video()));
    let needs_camera = view.owner_kind == LiveViewOwner::CameraSource || view.camera_id.is_some();
    if needs_camera && !camera_has_video {
        return Err(ModelError::Refused(
            "Camera not found or has no enabled video source".into(),
        ));
    }
    for variant in &view.variants {
        if let (Some(camera), Some(source)) = (camera, &variant.camera_source_id) {
            if camera.live_source(source).is_none() {
                return Err(ModelError::Refused(format!(
                    "Camera source not found or disabled: {source}"
                )));
            }
        }
        let Some(transmission) = doc.transmission(&variant.transmission_id) else {
            return Err(ModelError::Refused(format!(
                "Transmission not found for live variant '{}': {}",
                variant.id, variant.transmission_id
            )));
        };
        if let Some(output) = &variant.output_id {
            if !transmission.outputs.iter().any(|o| &o.id == output) {
                return Err(ModelError::Refused(format!(
                    "Output not found for live variant '{}': {output}",
                    variant.id
                )));
            }
        }
    }
    Ok(())
}

/// `PUT /live-views/{id}`: the whole view replaced (its id is the path's), checked alone and with
/// the document.
pub fn replace(
    doc: &mut StreamingSettings,
    id: &str,
    body: Value,
) -> Result<CameraLiveView, ModelError> {
    let index = doc
        .camera_live_views
        .iter()
        .position(|v| v.id == id)
        .ok_or_else(|| ModelError::NotFound("Camera live view not found".into()))?;
    let mut view: CameraLiveView = from_value(body, &Loc::body())?;
    view.id = id.to_string();
    view.normalize();
    let mut errors = super::error::Errors::default();
    view.validate(&Loc::body(), &mut errors);
    errors.into_result()?;
    check_references(doc, &view)?;
    let mut next = doc.clone();
    next.camera_live_views[index] = view.clone();
    next.validate(&Loc::body())?;
    *doc = next;
    Ok(view)
}

/// `DELETE /live-views/{id}`: the view, the transmissions generated for it alone, and the
/// pipelines generated for it.
pub fn delete(doc: &mut StreamingSettings, id: &str) -> Result<(), ModelError> {
    let index = doc
        .camera_live_views
        .iter()
        .position(|v| v.id == id)
        .ok_or_else(|| ModelError::NotFound("Camera live view not found".into()))?;
    doc.camera_live_views.remove(index);
    let still_used = |t: &Transmission| {
        doc.camera_live_views
            .iter()
            .flat_map(|v| &v.variants)
            .any(|variant| variant.transmission_id == t.id)
    };
    let owned =
        |t: &Transmission| t.extra.get("camera_live_view_id").and_then(Value::as_str) == Some(id);
    let removed: Vec<String> = doc
        .transmissions
        .iter()
        .filter(|t| owned(t) && !still_used(t))
        .map(|t| t.id.clone())
        .collect();
    doc.transmissions.retain(|t| !removed.contains(&t.id));
    doc.pipelines.retain(|pipeline| {
        let streaming = pipeline.graph.meta.get("streaming");
        let field = |key: &str| streaming.and_then(|s| s.get(key)).and_then(Value::as_str);
        !(field("generated_by") == Some("camera_live_view")
            && field("camera_live_view_id") == Some(id))
    });
    Ok(())
}

/// The body of `POST /camera-live-views/generate` (all optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    #[serde(default)]
    pub camera_id: Option<String>,
    #[serde(default)]
    pub host_server_id: Option<String>,
    /// Accepted and ignored, as the original.
    #[serde(default)]
    pub replace_existing: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Generated {
    pub camera_live_views: Vec<CameraLiveView>,
    pub transmissions: Vec<Transmission>,
    pub generated_count: usize,
    pub warnings: Vec<String>,
}

/// `POST /camera-live-views/generate`: a full reconciliation, answered with the generated live
/// views and transmissions (of one camera when asked).
pub fn generate(
    doc: &mut StreamingSettings,
    body: Option<Value>,
    now: &str,
) -> Result<Generated, ModelError> {
    let request: GenerateRequest = match body {
        Some(body) => from_value(body, &Loc::body())?,
        None => GenerateRequest::default(),
    };
    let host = request
        .host_server_id
        .as_deref()
        .map(super::transmission::normalize_server_id)
        .unwrap_or_else(|| "local".into());
    if !doc.is_known_host(&host) {
        return Err(ModelError::BadRequest(format!(
            "Unknown host_server_id: {host}"
        )));
    }
    let camera_id = request
        .camera_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if let Some(camera_id) = camera_id {
        if doc.camera(camera_id).is_none() {
            return Err(ModelError::NotFound("Camera not found".into()));
        }
    }
    let warnings = crate::reconcile::reconcile(doc, now);
    let camera_live_views: Vec<CameraLiveView> = doc
        .camera_live_views
        .iter()
        .filter(|v| camera_id.is_none_or(|c| v.camera_id.as_deref() == Some(c)))
        .cloned()
        .collect();
    let transmissions = doc
        .transmissions
        .iter()
        .filter(|t| t.extra.contains_key("publication_id"))
        .filter(|t| {
            camera_id.is_none_or(|c| t.extra.get("camera_id").and_then(Value::as_str) == Some(c))
        })
        .map(Transmission::redacted)
        .collect();
    Ok(Generated {
        generated_count: camera_live_views.len(),
        camera_live_views,
        transmissions,
        warnings,
    })
}

/// What a live view shows in one context: the view, the variant (the one asked for, else the
/// context's default), the names its player is labelled with, and the transmission it plays.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub view: CameraLiveView,
    pub variant: super::publication::LiveVariant,
    pub camera_name: String,
    pub camera_source_name: String,
    pub source_role: Option<super::camera::SourceRole>,
    pub transmission: Transmission,
}

impl Chosen {
    /// The variant's quality profile, by name (for URL resolution).
    pub fn quality_profile_name(&self) -> Option<String> {
        self.variant.quality_profile_id.as_ref().map(super::name_of)
    }
}

/// The original's §2.12 steps 1-3: an enabled view (404), an enabled variant (404), its camera
/// source (409) and its transmission (409).
pub fn choose(
    doc: &StreamingSettings,
    id: &str,
    context: crate::playback::Context,
    variant_id: Option<&str>,
) -> Result<Chosen, ModelError> {
    let view = doc
        .camera_live_views
        .iter()
        .find(|v| v.id == id && v.enabled)
        .ok_or_else(|| ModelError::NotFound("Camera live view not found".into()))?;
    let explicit =
        variant_id.and_then(|wanted| view.variants.iter().find(|v| v.id == wanted && v.enabled));
    let variant = explicit
        .or_else(|| {
            let default = crate::playback::context_variant(&view.defaults, context)?;
            view.variants.iter().find(|v| v.id == default && v.enabled)
        })
        .ok_or_else(|| ModelError::NotFound("Camera live variant not found".into()))?;
    let (mut camera_name, mut camera_source_name, mut source_role) =
        (String::new(), String::new(), None);
    if let (Some(camera_id), Some(source_id)) = (&view.camera_id, &variant.camera_source_id) {
        let camera = doc.camera(camera_id);
        let source = camera.and_then(|c| c.video_source(Some(source_id)));
        let (Some(camera), Some(source)) = (camera, source) else {
            return Err(ModelError::Refused(
                "Camera source not found or disabled".into(),
            ));
        };
        camera_name = camera.display_name().to_string();
        camera_source_name = source.name.clone();
        source_role = Some(source.role);
    }
    let transmission = doc
        .transmission(&variant.transmission_id)
        .ok_or_else(|| ModelError::Refused("Transmission not found for live variant".into()))?;
    Ok(Chosen {
        view: view.clone(),
        variant: variant.clone(),
        camera_name,
        camera_source_name,
        source_role,
        transmission: transmission.clone(),
    })
}
