//! Publication intents ("publish this camera source", "publish this pipeline node"), the camera
//! live views generated from them, and the quality-profile catalogue.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::camera::SourceRole;
use super::error::{Errors, Loc};
use super::transmission::{LatencyProfile, QualityProfileId};

#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OwnerKind {
    #[default]
    CameraSource,
    PipelineOutput,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Publication {
    pub id: String,
    #[serde(default)]
    pub owner_kind: OwnerKind,
    #[serde(default)]
    pub camera_id: Option<String>,
    #[serde(default)]
    pub camera_source_id: Option<String>,
    #[serde(default)]
    pub pipeline_name: Option<String>,
    #[serde(default)]
    pub publish_node_id: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub role: SourceRole,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub live_view_id: Option<String>,
    #[serde(default)]
    pub live_view_label: Option<String>,
    #[serde(default)]
    pub variant_id: Option<String>,
    #[serde(default)]
    pub variant_label: Option<String>,
    #[serde(default = "super::transmission::local")]
    pub host_server_id: String,
    #[serde(default)]
    pub quality_policy: Map<String, Value>,
    #[serde(default)]
    pub transport_policy: Map<String, Value>,
}

impl Publication {
    /// `quality_policy.default_profile_id` when it names a profile, else the role's default.
    pub fn default_profile(&self) -> QualityProfileId {
        self.quality_policy
            .get("default_profile_id")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or(match self.role {
                // Main and sub views relay the camera's own stream when they can (docs/api.md,
                // "Native profile"); the original defaulted to quad_grid / fullscreen_quality.
                SourceRole::Sub | SourceRole::Main => QualityProfileId::Native,
                SourceRole::Zoom => QualityProfileId::FullscreenQuality,
                SourceRole::Custom => QualityProfileId::StableAppleTv,
            })
    }

    pub fn transport_flag(&self, key: &str) -> Option<bool> {
        self.transport_policy.get(key).and_then(Value::as_bool)
    }
}

/// Who made a live view; unknown reads as `camera_source` (the original's rule).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LiveViewOwner {
    #[default]
    CameraSource,
    PipelineOutput,
    Manual,
}

impl<'de> Deserialize<'de> for LiveViewOwner {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Option::<Value>::deserialize(deserializer)?;
        Ok(
            match value.as_ref().and_then(Value::as_str).map(str::trim) {
                Some("pipeline_output") => LiveViewOwner::PipelineOutput,
                Some("manual") => LiveViewOwner::Manual,
                _ => LiveViewOwner::CameraSource,
            },
        )
    }
}

impl From<OwnerKind> for LiveViewOwner {
    fn from(owner: OwnerKind) -> Self {
        match owner {
            OwnerKind::CameraSource => LiveViewOwner::CameraSource,
            OwnerKind::PipelineOutput => LiveViewOwner::PipelineOutput,
        }
    }
}

/// What a live variant is for; unknown reads as `custom`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum VariantRole {
    Thumbnail,
    Pip,
    Large,
    Fullscreen,
    Ptz,
    Main,
    Sub,
    Zoom,
    #[default]
    #[serde(other)]
    Custom,
}

impl From<SourceRole> for VariantRole {
    fn from(role: SourceRole) -> Self {
        match role {
            SourceRole::Main => VariantRole::Main,
            SourceRole::Sub => VariantRole::Sub,
            SourceRole::Zoom => VariantRole::Zoom,
            SourceRole::Custom => VariantRole::Custom,
        }
    }
}

impl VariantRole {
    pub fn as_str(self) -> &'static str {
        match self {
            VariantRole::Thumbnail => "thumbnail",
            VariantRole::Pip => "pip",
            VariantRole::Large => "large",
            VariantRole::Fullscreen => "fullscreen",
            VariantRole::Ptz => "ptz",
            VariantRole::Main => "main",
            VariantRole::Sub => "sub",
            VariantRole::Zoom => "zoom",
            VariantRole::Custom => "custom",
        }
    }
}

/// The variant each viewing context shows, by id (the original's defaults: a variant per
/// context named after it, no PTZ variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LiveViewDefaults {
    pub thumbnail_variant_id: Option<String>,
    pub pip_variant_id: Option<String>,
    pub large_variant_id: Option<String>,
    pub fullscreen_variant_id: Option<String>,
    pub ptz_variant_id: Option<String>,
}

impl Default for LiveViewDefaults {
    fn default() -> Self {
        Self {
            thumbnail_variant_id: Some("thumbnail".into()),
            pip_variant_id: Some("pip".into()),
            large_variant_id: Some("large".into()),
            fullscreen_variant_id: Some("fullscreen".into()),
            ptz_variant_id: None,
        }
    }
}

impl LiveViewDefaults {
    /// The four context defaults that must name a variant, with their field names.
    fn required(&self) -> [(&'static str, &Option<String>); 4] {
        [
            ("thumbnail_variant_id", &self.thumbnail_variant_id),
            ("pip_variant_id", &self.pip_variant_id),
            ("large_variant_id", &self.large_variant_id),
            ("fullscreen_variant_id", &self.fullscreen_variant_id),
        ]
    }

    fn normalize(&mut self) {
        for id in [
            &mut self.thumbnail_variant_id,
            &mut self.pip_variant_id,
            &mut self.large_variant_id,
            &mut self.fullscreen_variant_id,
            &mut self.ptz_variant_id,
        ] {
            *id = trimmed(id.take());
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveVariant {
    pub id: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub role: VariantRole,
    #[serde(default)]
    pub camera_source_id: Option<String>,
    pub transmission_id: String,
    #[serde(default)]
    pub output_id: Option<String>,
    #[serde(default)]
    pub quality_profile_id: Option<QualityProfileId>,
    #[serde(default = "auto", deserialize_with = "preferred_transport")]
    pub preferred_transport: String,
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// `hls` and `webrtc` are kept; anything else, null included, is `auto`.
fn preferred_transport<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    let name = value
        .as_ref()
        .and_then(Value::as_str)
        .map(|s| s.trim().to_ascii_lowercase());
    Ok(match name.as_deref() {
        Some(kept @ ("hls" | "webrtc")) => kept.to_string(),
        _ => "auto".into(),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraLiveView {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub owner_kind: LiveViewOwner,
    #[serde(default)]
    pub camera_id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "super::transmission::local")]
    pub host_server_id: String,
    #[serde(default)]
    pub defaults: LiveViewDefaults,
    #[serde(default)]
    pub variants: Vec<LiveVariant>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CameraLiveView {
    /// The original's normalisation: trimmed ids, a new UUID for an empty id, the name from the
    /// camera or the id, labels from ids.
    pub fn normalize(&mut self) {
        self.id = self.id.trim().to_string();
        if self.id.is_empty() {
            self.id = super::transmission::new_id();
        }
        self.camera_id = trimmed(self.camera_id.take());
        self.host_server_id = super::transmission::normalize_server_id(&self.host_server_id);
        if self.name.trim().is_empty() {
            self.name = self.camera_id.clone().unwrap_or_else(|| self.id.clone());
        }
        self.defaults.normalize();
        for variant in &mut self.variants {
            variant.id = variant.id.trim().to_string();
            variant.transmission_id = variant.transmission_id.trim().to_string();
            variant.camera_source_id = trimmed(variant.camera_source_id.take());
            variant.output_id = trimmed(variant.output_id.take());
            if variant.label.trim().is_empty() {
                variant.label = variant.id.clone();
            }
        }
    }

    /// The original's shape rules (422 naming the field).
    pub fn validate(&self, loc: &Loc, errors: &mut Errors) {
        if self.owner_kind == LiveViewOwner::CameraSource && self.camera_id.is_none() {
            errors.push(
                &loc.key("camera_id"),
                "camera_id is required for camera live view",
            );
        }
        errors.name(&loc.key("name"), "name", &self.name);
        errors.count(
            &loc.key("variants"),
            "variants",
            self.variants.len(),
            super::checks::MAX_VARIANTS,
        );
        let mut ids = std::collections::HashSet::new();
        for (index, variant) in self.variants.iter().enumerate() {
            let v_loc = loc.key("variants").index(index);
            if !variant.id.is_empty() {
                errors.identifier(&v_loc.key("id"), "variant id", &variant.id);
            }
            if variant.id.is_empty() {
                errors.push(&v_loc.key("id"), "Camera live variant id is required");
            } else if !ids.insert(variant.id.as_str()) {
                errors.push(
                    &v_loc.key("id"),
                    format!(
                        "Duplicate camera live variant id in '{}': {}",
                        self.id, variant.id
                    ),
                );
            }
            if variant.transmission_id.is_empty() {
                errors.push(
                    &v_loc.key("transmission_id"),
                    format!(
                        "transmission_id is required for camera live variant '{}'",
                        variant.id
                    ),
                );
            }
        }
        if self.variants.is_empty() {
            return;
        }
        let defaults_loc = loc.key("defaults");
        for (field, id) in self.defaults.required() {
            match id {
                Some(id) if ids.contains(id.as_str()) => {}
                _ => errors.push(
                    &defaults_loc.key(field),
                    format!(
                        "Camera live view default variant is missing: {}",
                        id.as_deref().unwrap_or("")
                    ),
                ),
            }
        }
        if let Some(ptz) = &self.defaults.ptz_variant_id {
            if !ids.contains(ptz.as_str()) {
                errors.push(
                    &defaults_loc.key("ptz_variant_id"),
                    format!("Camera live view PTZ default variant is missing: {ptz}"),
                );
            }
        }
    }
}

fn trimmed(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// One entry of the fixed quality catalogue (spec §1.8).
pub struct QualityProfile {
    pub id: QualityProfileId,
    pub label: &'static str,
    pub width: i64,
    pub height: i64,
    pub fps: i64,
    pub kbps: i64,
    pub latency: LatencyProfile,
    pub usage: &'static str,
}

pub const DEFAULT_PROFILE: QualityProfileId = QualityProfileId::StableAppleTv;

pub const QUALITY_PROFILES: [QualityProfile; 4] = [
    QualityProfile {
        id: QualityProfileId::QuadGrid,
        label: "Quad grid",
        width: 640,
        height: 360,
        fps: 10,
        kbps: 500,
        latency: LatencyProfile::Low,
        usage: "4 simultaneous cameras.",
    },
    QualityProfile {
        id: QualityProfileId::StableAppleTv,
        label: "Stable Apple TV",
        width: 1280,
        height: 720,
        fps: 15,
        kbps: 1800,
        latency: LatencyProfile::Normal,
        usage: "Default stable playback.",
    },
    QualityProfile {
        id: QualityProfileId::FullscreenQuality,
        label: "Fullscreen quality",
        width: 1920,
        height: 1080,
        fps: 15,
        kbps: 3500,
        latency: LatencyProfile::Normal,
        usage: "Fullscreen on a good network.",
    },
    QualityProfile {
        id: QualityProfileId::DiagnosticLow,
        label: "Diagnostic low",
        width: 426,
        height: 240,
        fps: 5,
        kbps: 250,
        latency: LatencyProfile::Low,
        usage: "Poor network or remote diagnostics.",
    },
];

impl QualityProfile {
    pub fn id_str(&self) -> String {
        serde_json::to_value(self.id)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The HLS output this profile generates (`hls_<profile>`).
    pub fn output(&self) -> Value {
        json!({
            "id": format!("hls_{}", self.id_str()),
            "protocol": "hls",
            "enabled": true,
            "resolution": {"width": self.width, "height": self.height},
            "fps_limit": self.fps,
            "bitrate_kbps": self.kbps,
            "latency_profile": self.latency,
            "encoder_mode": "inherit",
            "quality_profile_id": self.id,
        })
    }

    /// `GET /quality-profiles` entry.
    pub fn view(&self) -> ProfileView {
        ProfileView {
            id: self.id,
            label: self.label,
            resolution: super::transmission::Resolution {
                width: self.width,
                height: self.height,
            },
            fps_limit: self.fps,
            bitrate_kbps: self.kbps,
            latency_profile: self.latency,
            usage: self.usage,
            default: self.id == DEFAULT_PROFILE,
        }
    }
}

/// One profile as `GET /quality-profiles` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProfileView {
    pub id: QualityProfileId,
    pub label: &'static str,
    pub resolution: super::transmission::Resolution,
    pub fps_limit: i64,
    pub bitrate_kbps: i64,
    pub latency_profile: LatencyProfile,
    pub usage: &'static str,
    pub default: bool,
}

/// `GET /quality-profiles`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Catalogue {
    pub default_profile_id: QualityProfileId,
    pub profiles: Vec<ProfileView>,
    /// The `native` profile, apart from `profiles` because it has no fixed size, rate or
    /// bitrate (an original client reads numbers there).
    pub native_profile: NativeProfileView,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NativeProfileView {
    pub id: QualityProfileId,
    pub label: &'static str,
    pub output_id: &'static str,
    pub usage: &'static str,
}

pub const NATIVE_OUTPUT_ID: &str = "hls_native";

/// The HLS output of the `native` profile: no size, rate or bitrate of its own, so a bypassed
/// H.264 camera is relayed without an encoder.
pub fn native_output() -> Value {
    json!({
        "id": NATIVE_OUTPUT_ID,
        "protocol": "hls",
        "enabled": true,
        "latency_profile": "normal",
        "encoder_mode": "inherit",
        "quality_profile_id": QualityProfileId::Native,
    })
}

/// The HLS output a profile generates.
pub fn profile_output(id: QualityProfileId) -> Value {
    QUALITY_PROFILES
        .iter()
        .find(|p| p.id == id)
        .map_or_else(native_output, QualityProfile::output)
}

pub fn catalogue() -> Catalogue {
    Catalogue {
        default_profile_id: DEFAULT_PROFILE,
        profiles: QUALITY_PROFILES.iter().map(QualityProfile::view).collect(),
        native_profile: NativeProfileView {
            id: QualityProfileId::Native,
            label: "Native",
            output_id: NATIVE_OUTPUT_ID,
            usage: "The camera's own stream, relayed without re-encoding when it is H.264.",
        },
    }
}

/// The WebRTC output generated for zoom sources and `transport_policy.enable_webrtc`.
pub fn webrtc_low_latency_output() -> Value {
    json!({
        "id": "webrtc_low_latency",
        "protocol": "webrtc",
        "enabled": true,
        "resolution": {"width": 1280, "height": 720},
        "fps_limit": 15,
        "bitrate_kbps": 1800,
        "latency_profile": "ultra_low",
        "encoder_mode": "inherit",
    })
}

fn yes() -> bool {
    true
}

fn auto() -> String {
    "auto".into()
}
