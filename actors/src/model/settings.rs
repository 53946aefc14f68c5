//! The streaming settings document: what the store persists and `GET /api/streams/settings` shows.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::camera::Camera;
use super::error::{Errors, FieldError, Loc, ModelError};
use super::pipeline::Pipeline;
use super::publication::{CameraLiveView, Publication};
use super::transmission::{REDACTED, Transmission, normalize_path_slug};

pub const MEDIAMTX_VERSION: &str = "v1.16.2";
pub const GO2RTC_VERSION: &str = "v1.9.14";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamingSettings {
    /// Publication intents, kept equal to the cameras and pipelines by the reconciler.
    #[serde(default)]
    pub publications: Vec<Publication>,
    #[serde(default)]
    pub camera_live_views: Vec<CameraLiveView>,
    /// The camera registry (the original kept it in its cameras extension).
    #[serde(default)]
    pub cameras: Vec<Camera>,
    /// Pipeline graphs (the original kept them in its core).
    #[serde(default)]
    pub pipelines: Vec<Pipeline>,
    #[serde(default)]
    pub transmissions: Vec<Transmission>,
    #[serde(default)]
    pub engine: EngineSettings,
    #[serde(default)]
    pub camera_ingest: CameraIngestSettings,
    #[serde(default)]
    pub stale_policy: StalePolicy,
    /// Remote hosts a transmission may live on (`host_server_id`). The original read these from
    /// its core settings; a standalone service keeps them here.
    #[serde(default)]
    pub processing_servers: Vec<ProcessingServer>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn http_kind() -> String {
    "http".into()
}

impl Default for StreamingSettings {
    fn default() -> Self {
        serde_json::from_value(Value::Object(Map::new())).expect("defaults deserialize")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessingServer {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// How the core reaches it; `http` is the only kind (the original's too).
    #[serde(default = "http_kind")]
    pub kind: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    pub enabled: bool,
    pub expose_to_lan: bool,
    pub metrics_enabled: bool,
    pub encoder_policy: EncoderPolicy,
    pub media_auth: MediaAuth,
    pub mse_sidecar: MseSidecar,
    pub jsmpeg: Jsmpeg,
    pub preferred_ports: PreferredPorts,
    pub mediamtx_version: String,
    pub webrtc_ice_servers: Vec<String>,
    pub webrtc_additional_hosts: Vec<String>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            expose_to_lan: false,
            metrics_enabled: true,
            encoder_policy: EncoderPolicy::default(),
            media_auth: MediaAuth::default(),
            mse_sidecar: MseSidecar::default(),
            jsmpeg: Jsmpeg::default(),
            preferred_ports: PreferredPorts::default(),
            mediamtx_version: MEDIAMTX_VERSION.to_string(),
            webrtc_ice_servers: Vec::new(),
            webrtc_additional_hosts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EncoderPolicyMode {
    #[default]
    Auto,
    Cpu,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderPolicy {
    pub mode: EncoderPolicyMode,
    pub quarantine_enabled: bool,
    pub quarantine_after_restarts: i64,
    pub quarantine_window_seconds: f64,
    pub quarantine_duration_seconds: f64,
    pub max_restarts_per_minute: i64,
}

impl Default for EncoderPolicy {
    fn default() -> Self {
        Self {
            mode: EncoderPolicyMode::Auto,
            quarantine_enabled: true,
            quarantine_after_restarts: 2,
            quarantine_window_seconds: 600.0,
            quarantine_duration_seconds: 3600.0,
            max_restarts_per_minute: 4,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaAuthMode {
    #[default]
    SignedProxy,
    Open,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MediaAuth {
    pub mode: MediaAuthMode,
    pub token_ttl_seconds: f64,
    pub renew_margin_seconds: f64,
}

impl Default for MediaAuth {
    fn default() -> Self {
        Self {
            mode: MediaAuthMode::SignedProxy,
            token_ttl_seconds: 300.0,
            renew_margin_seconds: 60.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MseSidecar {
    pub enabled: bool,
    pub api_port: i64,
    pub go2rtc_version: String,
}

impl Default for MseSidecar {
    fn default() -> Self {
        Self {
            enabled: true,
            api_port: 18764,
            go2rtc_version: GO2RTC_VERSION.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Jsmpeg {
    pub enabled: bool,
    pub max_width: i64,
    pub max_height: i64,
    pub fps: f64,
    pub bitrate_kbps: i64,
    pub max_total_sessions: i64,
    pub max_sessions_per_transmission: i64,
    pub lease_seconds: f64,
    pub heartbeat_interval_seconds: f64,
}

impl Default for Jsmpeg {
    fn default() -> Self {
        Self {
            enabled: true,
            max_width: 854,
            max_height: 480,
            fps: 8.0,
            bitrate_kbps: 700,
            max_total_sessions: 8,
            max_sessions_per_transmission: 2,
            lease_seconds: 45.0,
            heartbeat_interval_seconds: 10.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PreferredPorts {
    pub rtsp: i64,
    pub hls: i64,
    pub webrtc: i64,
    pub webrtc_udp: i64,
    pub api: i64,
    pub metrics: i64,
}

impl Default for PreferredPorts {
    fn default() -> Self {
        Self {
            rtsp: 8554,
            hls: 8888,
            webrtc: 8889,
            webrtc_udp: 18762,
            api: 9997,
            metrics: 9998,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CameraIngestSettings {
    pub enabled: bool,
    pub path_prefix: String,
    pub allowed_cidrs: Vec<String>,
}

impl Default for CameraIngestSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            path_prefix: "ingest".to_string(),
            allowed_cidrs: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StalePolicy {
    pub stale_after_seconds: f64,
    pub placeholder_after_seconds: f64,
}

impl Default for StalePolicy {
    fn default() -> Self {
        Self {
            stale_after_seconds: 3.0,
            placeholder_after_seconds: 8.0,
        }
    }
}

impl StreamingSettings {
    /// Parses and checks a whole document; `loc` says where it came from (request body or file).
    pub fn from_json(value: Value, loc: &Loc) -> Result<Self, ModelError> {
        let mut settings: StreamingSettings = super::error::from_value(value, loc)?;
        settings.normalize();
        settings.validate(loc)?;
        Ok(settings)
    }

    pub fn normalize(&mut self) {
        for transmission in &mut self.transmissions {
            transmission.normalize();
        }
        for camera in &mut self.cameras {
            camera.normalize();
        }
        for pipeline in &mut self.pipelines {
            pipeline.normalize();
        }
        for view in &mut self.camera_live_views {
            view.normalize();
        }
        let engine = &mut self.engine;
        engine.webrtc_ice_servers = normalize_string_list(&engine.webrtc_ice_servers)
            .into_iter()
            .filter(|url| {
                let lower = url.to_lowercase();
                ["stun:", "turn:", "turns:"]
                    .iter()
                    .any(|prefix| lower.starts_with(prefix))
            })
            .collect();
        engine.webrtc_additional_hosts = normalize_string_list(&engine.webrtc_additional_hosts);
        engine.mediamtx_version = engine.mediamtx_version.trim().to_string();
        self.camera_ingest.path_prefix =
            normalize_path_slug(&self.camera_ingest.path_prefix, "ingest");
        self.camera_ingest.allowed_cidrs = normalize_string_list(&self.camera_ingest.allowed_cidrs);
        for server in &mut self.processing_servers {
            server.id = super::transmission::normalize_server_id(&server.id);
        }
    }

    /// Every rule of the document: ranges (422) first, then uniqueness (409).
    pub fn validate(&self, loc: &Loc) -> Result<(), ModelError> {
        let mut errors = Errors::default();
        self.engine.validate(&loc.key("engine"), &mut errors);
        let stale = &self.stale_policy;
        let stale_loc = loc.key("stale_policy");
        errors.range_f64(
            &stale_loc.key("stale_after_seconds"),
            "stale_after_seconds",
            stale.stale_after_seconds,
            0.1,
            300.0,
        );
        errors.range_f64(
            &stale_loc.key("placeholder_after_seconds"),
            "placeholder_after_seconds",
            stale.placeholder_after_seconds,
            0.1,
            600.0,
        );
        if stale.placeholder_after_seconds < stale.stale_after_seconds {
            errors.push(
                &stale_loc.key("placeholder_after_seconds"),
                "placeholder_after_seconds must be greater than or equal to stale_after_seconds",
            );
        }
        for (key, len) in [
            ("transmissions", self.transmissions.len()),
            ("cameras", self.cameras.len()),
            ("pipelines", self.pipelines.len()),
            ("publications", self.publications.len()),
            ("camera_live_views", self.camera_live_views.len()),
            ("processing_servers", self.processing_servers.len()),
        ] {
            errors.count(&loc.key(key), key, len, super::checks::MAX_ENTITIES);
        }
        for (index, transmission) in self.transmissions.iter().enumerate() {
            transmission.validate(&loc.key("transmissions").index(index), &mut errors);
        }
        for (index, camera) in self.cameras.iter().enumerate() {
            camera.validate(&loc.key("cameras").index(index), &mut errors);
        }
        for (index, pipeline) in self.pipelines.iter().enumerate() {
            pipeline.validate(&loc.key("pipelines").index(index), &mut errors);
        }
        for (index, view) in self.camera_live_views.iter().enumerate() {
            view.validate(&loc.key("camera_live_views").index(index), &mut errors);
        }
        errors.into_result()?;
        self.check_unique(loc)?;
        self.check_hosts()
    }

    fn check_unique(&self, loc: &Loc) -> Result<(), ModelError> {
        let mut ids = HashSet::new();
        let mut paths: HashMap<(&str, &str), usize> = HashMap::new();
        for (index, t) in self.transmissions.iter().enumerate() {
            let t_loc = loc.key("transmissions").index(index);
            if !ids.insert(t.id.as_str()) {
                return Err(conflict(
                    &t_loc.key("id"),
                    format!("Duplicate transmission id: {}", t.id),
                ));
            }
            if paths
                .insert((t.host_server_id.as_str(), t.path.as_str()), index)
                .is_some()
            {
                return Err(conflict(
                    &t_loc.key("path"),
                    format!(
                        "Duplicate transmission path for host_server_id='{}': {}",
                        t.host_server_id, t.path
                    ),
                ));
            }
            let mut output_ids = HashSet::new();
            for (o_index, output) in t.outputs.iter().enumerate() {
                if !output_ids.insert(output.id.as_str()) {
                    return Err(conflict(
                        &t_loc.key("outputs").index(o_index).key("id"),
                        format!(
                            "Duplicate output id in transmission '{}': {}",
                            t.id, output.id
                        ),
                    ));
                }
            }
        }
        let mut camera_ids = HashSet::new();
        for (index, camera) in self.cameras.iter().enumerate() {
            if !camera_ids.insert(camera.id.as_str()) {
                return Err(conflict(
                    &loc.key("cameras").index(index).key("id"),
                    format!("Duplicate camera id: {}", camera.id),
                ));
            }
        }
        let mut pipeline_names = HashSet::new();
        for (index, pipeline) in self.pipelines.iter().enumerate() {
            if !pipeline_names.insert(pipeline.name.as_str()) {
                return Err(conflict(
                    &loc.key("pipelines").index(index).key("name"),
                    format!("Pipeline already exists: {}", pipeline.name),
                ));
            }
        }
        let mut server_ids = HashSet::new();
        for (index, server) in self.processing_servers.iter().enumerate() {
            if !server_ids.insert(server.id.as_str()) {
                return Err(conflict(
                    &loc.key("processing_servers").index(index).key("id"),
                    format!("Duplicate processing server id: {}", server.id),
                ));
            }
        }
        Ok(())
    }

    /// A transmission may only live on this server or a configured processing server.
    fn check_hosts(&self) -> Result<(), ModelError> {
        for t in &self.transmissions {
            // 400 with the original's string detail (its clients match on both); the message
            // names the field.
            if !self.is_known_host(&t.host_server_id) {
                return Err(ModelError::BadRequest(format!(
                    "Unknown host_server_id: {}",
                    t.host_server_id
                )));
            }
        }
        Ok(())
    }

    pub fn is_known_host(&self, host_server_id: &str) -> bool {
        host_server_id == "local"
            || self
                .processing_servers
                .iter()
                .any(|s| s.id == host_server_id)
    }

    pub fn transmission(&self, id: &str) -> Option<&Transmission> {
        self.transmissions.iter().find(|t| t.id == id)
    }

    pub fn camera(&self, id: &str) -> Option<&Camera> {
        self.cameras.iter().find(|c| c.id == id)
    }

    pub fn pipeline(&self, name: &str) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.name == name)
    }

    /// A copy safe to show: output and processing-server passwords replaced by the marker.
    pub fn redacted(&self) -> StreamingSettings {
        let mut copy = self.clone();
        copy.transmissions = self
            .transmissions
            .iter()
            .map(Transmission::redacted)
            .collect();
        copy.cameras = self.cameras.iter().map(Camera::redacted).collect();
        copy.pipelines = self.pipelines.iter().map(Pipeline::redacted).collect();
        for server in &mut copy.processing_servers {
            if server.password.is_some() {
                server.password = Some(REDACTED.to_string());
            }
        }
        copy
    }
}

impl EngineSettings {
    fn validate(&self, loc: &Loc, errors: &mut Errors) {
        let policy = &self.encoder_policy;
        let p_loc = loc.key("encoder_policy");
        errors.range_i64(
            &p_loc.key("quarantine_after_restarts"),
            "quarantine_after_restarts",
            policy.quarantine_after_restarts,
            1,
            100,
        );
        errors.range_f64(
            &p_loc.key("quarantine_window_seconds"),
            "quarantine_window_seconds",
            policy.quarantine_window_seconds,
            1.0,
            86_400.0,
        );
        errors.range_f64(
            &p_loc.key("quarantine_duration_seconds"),
            "quarantine_duration_seconds",
            policy.quarantine_duration_seconds,
            1.0,
            604_800.0,
        );
        errors.range_i64(
            &p_loc.key("max_restarts_per_minute"),
            "max_restarts_per_minute",
            policy.max_restarts_per_minute,
            1,
            120,
        );
        let auth = &self.media_auth;
        let a_loc = loc.key("media_auth");
        errors.range_f64(
            &a_loc.key("token_ttl_seconds"),
            "token_ttl_seconds",
            auth.token_ttl_seconds,
            30.0,
            86_400.0,
        );
        errors.range_f64(
            &a_loc.key("renew_margin_seconds"),
            "renew_margin_seconds",
            auth.renew_margin_seconds,
            1.0,
            3600.0,
        );
        if auth.renew_margin_seconds >= auth.token_ttl_seconds {
            errors.push(
                &a_loc.key("renew_margin_seconds"),
                "renew_margin_seconds must be lower than token_ttl_seconds",
            );
        }
        errors.range_i64(
            &loc.key("mse_sidecar").key("api_port"),
            "api_port",
            self.mse_sidecar.api_port,
            1,
            65_535,
        );
        let j = &self.jsmpeg;
        let j_loc = loc.key("jsmpeg");
        errors.range_i64(&j_loc.key("max_width"), "max_width", j.max_width, 160, 1920);
        errors.range_i64(
            &j_loc.key("max_height"),
            "max_height",
            j.max_height,
            120,
            1080,
        );
        errors.range_f64(&j_loc.key("fps"), "fps", j.fps, 1.0, 15.0);
        errors.range_i64(
            &j_loc.key("bitrate_kbps"),
            "bitrate_kbps",
            j.bitrate_kbps,
            64,
            4000,
        );
        errors.range_i64(
            &j_loc.key("max_total_sessions"),
            "max_total_sessions",
            j.max_total_sessions,
            1,
            64,
        );
        errors.range_i64(
            &j_loc.key("max_sessions_per_transmission"),
            "max_sessions_per_transmission",
            j.max_sessions_per_transmission,
            1,
            16,
        );
        errors.range_f64(
            &j_loc.key("lease_seconds"),
            "lease_seconds",
            j.lease_seconds,
            5.0,
            120.0,
        );
        errors.range_f64(
            &j_loc.key("heartbeat_interval_seconds"),
            "heartbeat_interval_seconds",
            j.heartbeat_interval_seconds,
            1.0,
            60.0,
        );
        let ports = &self.preferred_ports;
        let ports_loc = loc.key("preferred_ports");
        for (name, value) in [
            ("rtsp", ports.rtsp),
            ("hls", ports.hls),
            ("webrtc", ports.webrtc),
            ("webrtc_udp", ports.webrtc_udp),
            ("api", ports.api),
            ("metrics", ports.metrics),
        ] {
            errors.range_i64(&ports_loc.key(name), name, value, 1, 65_535);
        }
        // Joined into the binary's cache path and the download URL: nothing but a version.
        errors.version(
            &loc.key("mediamtx_version"),
            "mediamtx_version",
            &self.mediamtx_version,
        );
        errors.version(
            &loc.key("mse_sidecar").key("go2rtc_version"),
            "go2rtc_version",
            &self.mse_sidecar.go2rtc_version,
        );
    }
}

fn conflict(loc: &Loc, msg: String) -> ModelError {
    ModelError::Conflict(FieldError::new("conflict", loc, msg))
}

/// Trims, drops empties and de-duplicates case-insensitively, keeping the first spelling.
fn normalize_string_list(values: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty() && seen.insert(v.to_lowercase()))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_document_gets_the_original_defaults() {
        let settings = StreamingSettings::from_json(json!({}), &Loc::body()).unwrap();
        assert_eq!(settings.engine.preferred_ports.rtsp, 8554);
        assert_eq!(settings.engine.mediamtx_version, "v1.16.2");
        assert_eq!(settings.engine.jsmpeg.max_sessions_per_transmission, 2);
        assert!(!settings.engine.enabled);
    }

    #[test]
    fn ice_servers_keep_only_known_schemes_once() {
        let settings = StreamingSettings::from_json(
            json!({"engine": {"webrtc_ice_servers": [" stun:a ", "STUN:a", "http://x", "turns:b"]}}),
            &Loc::body(),
        )
        .unwrap();
        assert_eq!(
            settings.engine.webrtc_ice_servers,
            vec!["stun:a", "turns:b"]
        );
    }

    #[test]
    fn range_errors_name_the_field() {
        let err = StreamingSettings::from_json(
            json!({"engine": {"preferred_ports": {"rtsp": 0}}}),
            &Loc::body(),
        )
        .unwrap_err();
        let ModelError::Invalid(errors) = err else {
            panic!("expected invalid")
        };
        assert_eq!(
            errors[0].loc,
            vec![
                json!("body"),
                json!("engine"),
                json!("preferred_ports"),
                json!("rtsp")
            ]
        );
    }

    #[test]
    fn duplicate_paths_on_one_host_conflict() {
        let err = StreamingSettings::from_json(
            json!({"transmissions": [{"id": "a", "path": "x"}, {"id": "b", "path": "X"}]}),
            &Loc::body(),
        )
        .unwrap_err();
        assert!(
            matches!(err, ModelError::Conflict(ref e) if e.msg.contains("Duplicate transmission path"))
        );
    }
}
