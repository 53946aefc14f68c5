//! Publication intents ("publish this camera source", "publish this pipeline node"), the camera
//! live views generated from them, and the quality-profile catalogue.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::camera::SourceRole;
use super::transmission::{LatencyProfile, QualityProfileId};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerKind {
    #[default]
    CameraSource,
    PipelineOutput,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
                SourceRole::Sub => QualityProfileId::QuadGrid,
                SourceRole::Main | SourceRole::Zoom => QualityProfileId::FullscreenQuality,
                SourceRole::Custom => QualityProfileId::StableAppleTv,
            })
    }

    pub fn transport_flag(&self, key: &str) -> Option<bool> {
        self.transport_policy.get(key).and_then(Value::as_bool)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveViewDefaults {
    pub thumbnail_variant_id: Option<String>,
    pub pip_variant_id: Option<String>,
    pub large_variant_id: Option<String>,
    pub fullscreen_variant_id: Option<String>,
    pub ptz_variant_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveVariant {
    pub id: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub role: SourceRole,
    #[serde(default)]
    pub camera_source_id: Option<String>,
    pub transmission_id: String,
    #[serde(default)]
    pub output_id: Option<String>,
    #[serde(default)]
    pub quality_profile_id: Option<QualityProfileId>,
    #[serde(default = "auto")]
    pub preferred_transport: String,
    #[serde(default = "yes")]
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraLiveView {
    pub id: String,
    #[serde(default)]
    pub owner_kind: OwnerKind,
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
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "label": self.label,
            "resolution": {"width": self.width, "height": self.height},
            "fps_limit": self.fps,
            "bitrate_kbps": self.kbps,
            "latency_profile": self.latency,
            "usage": self.usage,
            "default": self.id == DEFAULT_PROFILE,
        })
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
