//! Transmissions and their outputs: the technical stream entities the engine and publishers consume.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{Errors, Loc};

/// Shown instead of a stored password in every response unless the caller asks for secrets.
pub const REDACTED: &str = "********";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Hls,
    Rtsp,
    Webrtc,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LatencyProfile {
    #[default]
    Normal,
    Low,
    UltraLow,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EncoderMode {
    #[default]
    Inherit,
    Auto,
    Cpu,
}

impl EncoderMode {
    pub fn as_str(self) -> &'static str {
        match self {
            EncoderMode::Inherit => "inherit",
            EncoderMode::Auto => "auto",
            EncoderMode::Cpu => "cpu",
        }
    }
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Placeholder {
    #[default]
    Gray,
    Black,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Arbitration {
    Latest,
    #[default]
    PriorityLatest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QualityProfileId {
    QuadGrid,
    StableAppleTv,
    FullscreenQuality,
    DiagnosticLow,
    /// The camera's own stream: relayed as it is when players can take it, else encoded at
    /// the camera's size and rate (not in the original; docs/api.md, "Native profile").
    Native,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    #[default]
    Contain,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    pub width: i64,
    pub height: i64,
}

/// Read/playback credentials of one output, enforced by the engine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Authentication {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

impl Authentication {
    /// Credentials are enforced only when enabled and both parts are present (spec, "Notes").
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match (
            self.enabled,
            self.username.as_deref(),
            self.password.as_deref(),
        ) {
            (true, Some(user), Some(pass)) if !user.is_empty() && !pass.is_empty() => {
                Some((user, pass))
            }
            _ => None,
        }
    }
}

/// PTZ link of a transmission to a camera source (kept for compatibility with the original).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraControls {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub camera_id: Option<String>,
    #[serde(default)]
    pub camera_source_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TransmissionOutput {
    #[serde(default = "new_id")]
    pub id: String,
    pub protocol: Protocol,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub resolution: Option<Resolution>,
    #[serde(default)]
    pub fps_limit: Option<i64>,
    #[serde(default)]
    pub bitrate_kbps: Option<i64>,
    #[serde(default)]
    pub latency_profile: LatencyProfile,
    #[serde(default)]
    pub encoder_mode: EncoderMode,
    #[serde(default)]
    pub quality_profile_id: Option<QualityProfileId>,
    #[serde(default)]
    pub authentication: Option<Authentication>,
    /// Fields this service does not model are kept verbatim; `path` and `resize_mode` are read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl TransmissionOutput {
    /// The engine path override (`output.path` extra), slugified; `None` when absent or empty.
    pub fn path_override(&self) -> Option<String> {
        let raw = self.extra.get("path")?.as_str()?;
        let slug = normalize_path_slug(raw, "");
        (!slug.is_empty()).then_some(slug)
    }

    pub fn resize_mode(&self) -> ResizeMode {
        self.extra
            .get("resize_mode")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.authentication.as_ref()?.credentials()
    }

    fn normalize(&mut self) {
        self.id = self.id.trim().to_string();
        if let Some(auth) = &mut self.authentication {
            auth.username = trimmed_non_empty(auth.username.take());
            auth.password = trimmed_non_empty(auth.password.take());
        }
    }

    fn validate(&self, loc: &Loc, errors: &mut Errors) {
        if self.id.is_empty() {
            errors.push(&loc.key("id"), "output id must not be empty");
        } else {
            errors.identifier(&loc.key("id"), "output id", &self.id);
        }
        if let Some(res) = self.resolution {
            let loc = loc.key("resolution");
            errors.range_i64(&loc.key("width"), "width", res.width, 1, 7680);
            errors.range_i64(&loc.key("height"), "height", res.height, 1, 4320);
        }
        if let Some(fps) = self.fps_limit {
            errors.range_i64(&loc.key("fps_limit"), "fps_limit", fps, 1, 120);
        }
        if let Some(kbps) = self.bitrate_kbps {
            errors.range_i64(&loc.key("bitrate_kbps"), "bitrate_kbps", kbps, 64, 250_000);
        }
        if let Some(path) = self.extra.get("path") {
            if !path.is_string() && !path.is_null() {
                errors.push(&loc.key("path"), "path must be a string");
            }
        }
        if let Some(mode) = self.extra.get("resize_mode") {
            if serde_json::from_value::<ResizeMode>(mode.clone()).is_err() {
                errors.push(
                    &loc.key("resize_mode"),
                    "resize_mode must be one of 'contain', 'none'",
                );
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transmission {
    #[serde(default = "new_id")]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "local")]
    pub host_server_id: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub placeholder: Placeholder,
    #[serde(default)]
    pub arbitration: Arbitration,
    #[serde(default)]
    pub camera_controls: Option<CameraControls>,
    #[serde(default)]
    pub outputs: Vec<TransmissionOutput>,
    /// Server-managed timestamps (RFC 3339, UTC, microseconds).
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Transmission {
    /// Applies the original's normalisation: trimmed name, lowercase host, path slug.
    pub fn normalize(&mut self) {
        self.id = self.id.trim().to_string();
        self.name = self.name.trim().to_string();
        self.host_server_id = normalize_server_id(&self.host_server_id);
        self.path = normalize_path_slug(&self.path, &self.id);
        if let Some(controls) = &mut self.camera_controls {
            controls.camera_id = trimmed_non_empty(controls.camera_id.take());
            controls.camera_source_id = trimmed_non_empty(controls.camera_source_id.take());
        }
        for output in &mut self.outputs {
            output.normalize();
        }
    }

    /// Rules of one transmission on its own; cross-document uniqueness lives in settings.
    pub fn validate(&self, loc: &Loc, errors: &mut Errors) {
        if self.id.is_empty() {
            errors.push(&loc.key("id"), "id must not be empty");
        } else {
            errors.identifier(&loc.key("id"), "id", &self.id);
        }
        errors.name(&loc.key("name"), "name", &self.name);
        if self.path.is_empty() {
            errors.push(
                &loc.key("path"),
                "path must contain letters or digits (a-z, 0-9)",
            );
        } else if self.path.len() > super::checks::MAX_ID {
            errors.push(
                &loc.key("path"),
                format!("path must be at most {} characters", super::checks::MAX_ID),
            );
        }
        errors.count(
            &loc.key("outputs"),
            "outputs",
            self.outputs.len(),
            super::checks::MAX_OUTPUTS,
        );
        if let Some(controls) = &self.camera_controls {
            if controls.enabled && controls.camera_id.is_none() {
                errors.push(
                    &loc.key("camera_controls").key("camera_id"),
                    "camera_id is required when camera_controls.enabled is true",
                );
            }
        }
        for (index, output) in self.outputs.iter().enumerate() {
            output.validate(&loc.key("outputs").index(index), errors);
        }
    }

    pub fn enabled_outputs(&self) -> impl Iterator<Item = &TransmissionOutput> {
        self.outputs.iter().filter(|o| o.enabled)
    }

    /// The MediaMTX path an output is served on (spec, "URL paths and stability"):
    /// the `output.path` override; else the transmission path when it has one enabled output;
    /// else `{path}-{output.id}`.
    pub fn engine_path(&self, output: &TransmissionOutput) -> String {
        if let Some(path) = output.path_override() {
            return path;
        }
        if self.enabled_outputs().count() <= 1 {
            return self.path.clone();
        }
        normalize_path_slug(&format!("{}-{}", self.path, output.id), &self.path)
    }

    /// Replaces redacted passwords sent back by a client with the stored ones, so a client can
    /// round-trip what it read. A redaction marker with nothing stored behind it is an error.
    pub fn restore_redacted_passwords(
        &mut self,
        stored: Option<&Transmission>,
        loc: &Loc,
    ) -> Result<(), super::error::ModelError> {
        for (index, output) in self.outputs.iter_mut().enumerate() {
            let Some(auth) = &mut output.authentication else {
                continue;
            };
            if auth.password.as_deref() != Some(REDACTED) {
                continue;
            }
            let kept = stored
                .and_then(|t| t.outputs.iter().find(|o| o.id == output.id))
                .and_then(|o| o.authentication.as_ref())
                .and_then(|a| a.password.clone());
            match kept {
                Some(password) => auth.password = Some(password),
                None => {
                    return Err(super::error::ModelError::invalid(
                        &loc.key("outputs")
                            .index(index)
                            .key("authentication")
                            .key("password"),
                        "password is the redaction marker but no password is stored for this output",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The role a publication gave it (`zoom`, `main`...), kept among its extra fields.
    pub fn role(&self) -> Option<&str> {
        self.extra.get("role").and_then(Value::as_str)
    }

    pub fn redacted(&self) -> Transmission {
        let mut copy = self.clone();
        for output in &mut copy.outputs {
            if let Some(auth) = &mut output.authentication {
                if auth.password.is_some() {
                    auth.password = Some(REDACTED.to_string());
                }
            }
        }
        copy
    }
}

/// The original's path slug: lowercase; anything not alphanumeric, `-` or `_` becomes `-`;
/// leading/trailing `-`/`_` stripped; empty falls back (unslugified). Runs are not collapsed.
pub fn normalize_path_slug(value: &str, fallback: &str) -> String {
    let slug = |raw: &str| {
        let slug: String = raw
            .trim()
            .to_lowercase()
            .chars()
            .map(|c| match ascii_letter(c) {
                Some(c) if c.is_ascii_alphanumeric() || c == '-' || c == '_' => c,
                _ => '-',
            })
            .collect();
        slug.trim_matches(|c| c == '-' || c == '_').to_string()
    };
    // Only `[a-z0-9_-]`: MediaMTX accepts `[0-9a-zA-Z_-/.~]` in path names, and a path is also
    // part of URLs and file names. The fallback goes through the same rule.
    let primary = slug(value);
    if primary.is_empty() {
        slug(fallback)
    } else {
        primary
    }
}

/// The ASCII letter an accented Latin letter is written without its accent (`ç` -> `c`), so
/// `câmera-sala` keeps its name as `camera-sala`; other characters stay as they are.
fn ascii_letter(c: char) -> Option<char> {
    const FOLDS: [(&str, char); 12] = [
        ("àáâãäåā", 'a'),
        ("çćč", 'c'),
        ("èéêëēę", 'e'),
        ("ìíîïī", 'i'),
        ("ñń", 'n'),
        ("òóôõöøō", 'o'),
        ("ùúûüū", 'u'),
        ("ýÿ", 'y'),
        ("ß", 's'),
        ("žźż", 'z'),
        ("šś", 's'),
        ("ł", 'l'),
    ];
    if c.is_ascii() {
        return Some(c);
    }
    FOLDS
        .iter()
        .find(|(accented, _)| accented.contains(c))
        .map(|(_, plain)| *plain)
}

pub fn normalize_server_id(value: &str) -> String {
    let id = value.trim().to_lowercase();
    if id.is_empty() { local() } else { id }
}

fn trimmed_non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn yes() -> bool {
    true
}

pub fn local() -> String {
    "local".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_keeps_runs_and_strips_edges() {
        assert_eq!(normalize_path_slug("Cam 1 / A", "x"), "cam-1---a");
        assert_eq!(normalize_path_slug("  Front Door! ", "x"), "front-door");
        assert_eq!(normalize_path_slug("__--", "fallback"), "fallback");
        assert_eq!(normalize_path_slug("Câmera_2", "x"), "camera_2");
        assert_eq!(
            normalize_path_slug("Sala de Estar Ção", "x"),
            "sala-de-estar-cao"
        );
        assert_eq!(normalize_path_slug("カメラ", "../Front"), "front");
        assert_eq!(normalize_path_slug("!!!", "///"), "");
    }

    fn transmission(outputs: Vec<(&str, bool, Option<&str>)>) -> Transmission {
        let outputs: Vec<Value> = outputs
            .into_iter()
            .map(|(id, enabled, path)| {
                let mut o = serde_json::json!({"id": id, "protocol": "hls", "enabled": enabled});
                if let Some(p) = path {
                    o["path"] = Value::from(p);
                }
                o
            })
            .collect();
        serde_json::from_value(serde_json::json!({"id": "t", "path": "front", "outputs": outputs}))
            .unwrap()
    }

    #[test]
    fn engine_path_rules() {
        let one = transmission(vec![("main", true, None), ("off", false, None)]);
        assert_eq!(one.engine_path(&one.outputs[0]), "front");
        let two = transmission(vec![("main", true, None), ("Sub", true, None)]);
        assert_eq!(two.engine_path(&two.outputs[0]), "front-main");
        assert_eq!(two.engine_path(&two.outputs[1]), "front-sub");
        let overridden = transmission(vec![("main", true, Some("Lobby Cam")), ("sub", true, None)]);
        assert_eq!(overridden.engine_path(&overridden.outputs[0]), "lobby-cam");
        let empty_override = transmission(vec![("main", true, Some("  "))]);
        assert_eq!(
            empty_override.engine_path(&empty_override.outputs[0]),
            "front"
        );
    }

    #[test]
    fn credentials_need_both_parts() {
        let mut auth = Authentication {
            enabled: true,
            username: Some("u".into()),
            password: None,
        };
        assert_eq!(auth.credentials(), None);
        auth.password = Some("p".into());
        assert_eq!(auth.credentials(), Some(("u", "p")));
        auth.enabled = false;
        assert_eq!(auth.credentials(), None);
    }
}
