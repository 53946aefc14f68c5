//! The camera registry: cameras with their video sources, shaped as the original cameras
//! extension stored them. This service stands alone, so it keeps them in its settings document.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{Errors, Loc, ModelError};
use super::transmission::REDACTED;

/// What a source is for. Read with the original's mapping: `thumbnail`/`pip` are `sub`,
/// `large`/`fullscreen`/`ptz` are `main`, anything else (or null) is `custom`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SourceRole {
    Main,
    Sub,
    Zoom,
    #[default]
    Custom,
}

impl<'de> Deserialize<'de> for SourceRole {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = Option::<Value>::deserialize(deserializer)?;
        let name = name.as_ref().and_then(Value::as_str).map(str::trim);
        Ok(match name.map(str::to_ascii_lowercase).as_deref() {
            Some("main" | "large" | "fullscreen" | "ptz") => SourceRole::Main,
            Some("sub" | "thumbnail" | "pip") => SourceRole::Sub,
            Some("zoom") => SourceRole::Zoom,
            _ => SourceRole::Custom,
        })
    }
}

impl SourceRole {
    /// The label the original shows for a role.
    pub fn label(self) -> &'static str {
        match self {
            SourceRole::Main => "Principal",
            SourceRole::Sub => "Baixa resolução",
            SourceRole::Zoom => "Zoom",
            SourceRole::Custom => "Personalizada",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SourceRole::Main => "main",
            SourceRole::Sub => "sub",
            SourceRole::Zoom => "zoom",
            SourceRole::Custom => "custom",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VideoInfo {
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    #[serde(default)]
    pub fps: Option<f64>,
}

/// Where a source's video comes from. `rtsp_url` may also be `demo:<name>` (a generated test
/// pattern, for the demo camera) or any other input FFmpeg reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceOrigin {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub rtsp_url: Option<String>,
    #[serde(default)]
    pub stream_username: Option<String>,
    #[serde(default)]
    pub stream_password: Option<String>,
    #[serde(default)]
    pub has_ptz: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraSource {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default = "video")]
    pub kind: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub role: SourceRole,
    #[serde(default)]
    pub video: Option<VideoInfo>,
    #[serde(default)]
    pub origin: Option<SourceOrigin>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CameraSource {
    /// An enabled video source: the only kind that is published.
    pub fn is_live_video(&self) -> bool {
        self.enabled && self.kind == "video" && !self.id.is_empty()
    }

    /// The URL FFmpeg reads, with the stream credentials put into it. Secret: never log it.
    pub fn input_url(&self) -> Option<String> {
        let origin = self.origin.as_ref()?;
        let url = origin.rtsp_url.as_deref()?.trim();
        if url.is_empty() {
            return None;
        }
        let user = origin.stream_username.as_deref().unwrap_or("").trim();
        let (scheme, rest) = match url.split_once("://") {
            Some(parts) if !user.is_empty() && !parts.1.contains('@') => parts,
            _ => return Some(url.to_string()),
        };
        let pass = origin.stream_password.as_deref().unwrap_or("");
        let userinfo = if pass.is_empty() {
            encode_userinfo(user)
        } else {
            format!("{}:{}", encode_userinfo(user), encode_userinfo(pass))
        };
        Some(format!("{scheme}://{userinfo}@{rest}"))
    }

    /// A display name: the source's name, else its id.
    pub fn display_name(&self) -> &str {
        if self.name.trim().is_empty() {
            &self.id
        } else {
            self.name.trim()
        }
    }
}

/// Percent-encodes the characters that would break a URL's userinfo.
fn encode_userinfo(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' | '_' | '~' => c.to_string(),
            other => {
                let mut buffer = [0u8; 4];
                other
                    .encode_utf8(&mut buffer)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Camera {
    #[serde(default = "super::transmission::new_id")]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub sources: Vec<CameraSource>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Camera {
    pub fn normalize(&mut self) {
        self.id = self.id.trim().to_string();
        self.name = self.name.trim().to_string();
        for source in &mut self.sources {
            source.id = source.id.trim().to_string();
            source.name = source.name.trim().to_string();
            source.kind = source.kind.trim().to_lowercase();
        }
    }

    pub fn validate(&self, loc: &Loc, errors: &mut Errors) {
        if self.id.is_empty() {
            errors.push(&loc.key("id"), "camera id must not be empty");
        } else {
            errors.identifier(&loc.key("id"), "camera id", &self.id);
        }
        errors.name(&loc.key("name"), "name", &self.name);
        errors.count(
            &loc.key("sources"),
            "sources",
            self.sources.len(),
            super::checks::MAX_SOURCES,
        );
        let mut seen = std::collections::HashSet::new();
        for (index, source) in self.sources.iter().enumerate() {
            let source_loc = loc.key("sources").index(index);
            errors.name(&source_loc.key("name"), "name", &source.name);
            if let Some(video) = &source.video {
                let video_loc = source_loc.key("video");
                if let Some(fps) = video.fps {
                    errors.range_f64(&video_loc.key("fps"), "fps", fps, 0.1, 240.0);
                }
                for (key, value, max) in
                    [("width", video.width, 7680), ("height", video.height, 4320)]
                {
                    if let Some(value) = value {
                        errors.range_i64(&video_loc.key(key), key, i64::from(value), 1, max);
                    }
                }
            }
            if let Some(url) = source.origin.as_ref().and_then(|o| o.rtsp_url.as_deref()) {
                errors.source_url(&source_loc.key("origin").key("rtsp_url"), "rtsp_url", url);
            }
            if source.id.is_empty() {
                errors.push(&source_loc.key("id"), "source id must not be empty");
            } else if !errors.identifier(&source_loc.key("id"), "source id", &source.id) {
            } else if !seen.insert(source.id.as_str()) {
                errors.push(
                    &source_loc.key("id"),
                    format!("Duplicate source id in camera '{}': {}", self.id, source.id),
                );
            }
        }
    }

    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }

    /// An enabled video source by id.
    pub fn live_source(&self, source_id: &str) -> Option<&CameraSource> {
        self.sources
            .iter()
            .find(|s| s.id == source_id && s.is_live_video())
    }

    /// The enabled video source `source_id` names, or the default one when it names none.
    pub fn video_source(&self, source_id: Option<&str>) -> Option<&CameraSource> {
        match source_id {
            Some(id) => self.live_source(id),
            None => self
                .sources
                .iter()
                .find(|s| s.is_default && s.is_live_video()),
        }
    }

    pub fn has_ptz(&self) -> bool {
        self.sources
            .iter()
            .any(|s| s.origin.as_ref().is_some_and(|o| o.has_ptz))
    }

    /// A copy safe to show: stream passwords, and passwords written inline in a URL, replaced
    /// by the marker.
    pub fn redacted(&self) -> Camera {
        let mut copy = self.clone();
        for source in &mut copy.sources {
            if let Some(origin) = &mut source.origin {
                origin.rtsp_url = origin.rtsp_url.as_deref().map(redact_url);
                if origin
                    .stream_password
                    .as_deref()
                    .is_some_and(|p| !p.is_empty())
                {
                    origin.stream_password = Some(REDACTED.to_string());
                }
            }
        }
        copy
    }

    /// Puts back stored passwords where a client sent the redaction marker (as a password, or
    /// inside a URL it read redacted). A marker with nothing stored behind it is refused: it
    /// would otherwise become the password.
    pub fn restore_redacted_passwords(
        &mut self,
        stored: Option<&Camera>,
    ) -> Result<(), ModelError> {
        let mut errors = Errors::default();
        for (index, source) in self.sources.iter_mut().enumerate() {
            let Some(origin) = &mut source.origin else {
                continue;
            };
            let kept = stored
                .and_then(|c| c.sources.iter().find(|s| s.id == source.id))
                .and_then(|s| s.origin.as_ref());
            let loc = Loc::body().key("sources").index(index).key("origin");
            if origin.stream_password.as_deref() == Some(REDACTED) {
                origin.stream_password = kept.and_then(|o| o.stream_password.clone());
                if origin.stream_password.is_none() {
                    errors.push(
                        &loc.key("stream_password"),
                        "stream_password is the redaction marker but no password is stored for this source",
                    );
                }
            }
            if let Some(url) = origin
                .rtsp_url
                .as_deref()
                .filter(|u| has_redacted_password(u))
            {
                let stored_url = kept
                    .and_then(|o| o.rtsp_url.clone())
                    .filter(|s| redact_url(s) == url);
                match stored_url {
                    Some(stored_url) => origin.rtsp_url = Some(stored_url),
                    None => errors.push(
                        &loc.key("rtsp_url"),
                        "rtsp_url has the redaction marker as its password but no such URL is stored for this source",
                    ),
                }
            }
        }
        errors.into_result()
    }
}

/// The URL with the password of its user info replaced by the marker
/// (`rtsp://admin:********@cam/...`), for everything shown or logged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!(
                "{scheme}://{user}:{REDACTED}@{host}{}",
                &rest[authority_end..]
            )
        }
        None => url.to_string(),
    }
}

/// `text` with the password of every URL in it redacted: for the engine's own words (its log
/// lines and API errors), which may quote a relayed camera's URL.
pub fn redact_urls_in(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("://") {
        return text.into();
    }
    text.split(' ')
        .map(|word| match word.contains("://") {
            true => redact_url(word).into(),
            false => std::borrow::Cow::Borrowed(word),
        })
        .collect::<Vec<_>>()
        .join(" ")
        .into()
}

fn has_redacted_password(url: &str) -> bool {
    url.contains(&format!(":{REDACTED}@"))
}

fn video() -> String {
    "video".into()
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(origin: Value) -> CameraSource {
        serde_json::from_value(json!({"id": "main", "origin": origin})).unwrap()
    }

    #[test]
    fn stream_credentials_go_into_the_url_encoded() {
        let s = source(json!({"rtsp_url": "rtsp://10.0.0.5:554/main",
                              "stream_username": "admin", "stream_password": "p@ss:w/rd"}));
        assert_eq!(
            s.input_url().unwrap(),
            "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.5:554/main"
        );
        let inline = source(json!({"rtsp_url": "rtsp://u:p@cam/x", "stream_username": "other"}));
        assert_eq!(
            inline.input_url().unwrap(),
            "rtsp://u:p@cam/x",
            "URL credentials win"
        );
        assert_eq!(
            source(json!({"rtsp_url": "demo:main"}))
                .input_url()
                .unwrap(),
            "demo:main"
        );
        assert_eq!(source(json!({})).input_url(), None);
    }

    #[test]
    fn urls_quoted_in_engine_words_lose_their_passwords() {
        assert_eq!(
            redact_urls_in("'rtsp://admin:hunter2@10.0.0.5/main' is not a valid URL"),
            format!("'rtsp://admin:{REDACTED}@10.0.0.5/main' is not a valid URL")
        );
        let plain = "INF [path cam] [RTSP source] started";
        assert!(matches!(redact_urls_in(plain), std::borrow::Cow::Borrowed(p) if p == plain));
    }

    #[test]
    fn unknown_roles_are_custom_and_passwords_redact_and_restore() {
        let camera: Camera = serde_json::from_value(json!({
            "id": "c", "sources": [{"id": "a", "role": "thermal",
                "origin": {"rtsp_url": "rtsp://x", "stream_password": "secret"}}]
        }))
        .unwrap();
        assert_eq!(camera.sources[0].role, SourceRole::Custom);
        let shown = camera.redacted();
        assert_eq!(
            shown.sources[0]
                .origin
                .as_ref()
                .unwrap()
                .stream_password
                .as_deref(),
            Some(REDACTED)
        );
        let mut back = shown.clone();
        back.restore_redacted_passwords(Some(&camera)).unwrap();
        assert_eq!(back, camera);
    }
}
