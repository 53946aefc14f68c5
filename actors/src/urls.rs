//! Playback URLs of a transmission's outputs (`GET /transmissions/{id}/urls`), as pure logic.

use serde::{Deserialize, Serialize};

use crate::model::settings::{EngineSettings, StreamingSettings};
use crate::model::transmission::{
    LatencyProfile, Protocol, QualityProfileId, Resolution, Transmission,
};

pub const ENGINE_NOT_RUNNING: &str = "Engine is not running. URLs are based on preferred ports.";

/// The engine's listening ports that playback URLs point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PlaybackPorts {
    pub rtsp: u16,
    pub hls: u16,
    pub webrtc: u16,
}

/// What an entry of `/urls` plays: an engine protocol, or MSE/JSMpeg through this service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryProtocol {
    Rtsp,
    Hls,
    Webrtc,
    Mse,
    Jsmpeg,
}

impl From<Protocol> for EntryProtocol {
    fn from(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Rtsp => EntryProtocol::Rtsp,
            Protocol::Hls => EntryProtocol::Hls,
            Protocol::Webrtc => EntryProtocol::Webrtc,
        }
    }
}

/// Also read back: a core reads a processing server's answer (distributed mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutputUrl {
    pub output_id: String,
    pub protocol: EntryProtocol,
    pub resolved_engine_path: String,
    pub url: String,
    pub requires_auth: bool,
    pub auth_username: Option<String>,
    pub media_auth_type: MediaAuthType,
    pub quality_profile_id: Option<QualityProfileId>,
    pub resolution: Option<Resolution>,
    pub fps_limit: Option<i64>,
    pub bitrate_kbps: Option<i64>,
    pub latency_profile: LatencyProfile,
    /// Where the picture sits in the output's frame, as fractions of it (letterbox/pillarbox).
    pub content_rect: NormalizedRect,
    /// Set on signed entries only; always present, as the original's model.
    pub url_expires_at_unix: Option<f64>,
    pub renew_after_unix: Option<f64>,
}

/// How a client authenticates to play an entry's URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaAuthType {
    None,
    /// HTTP Basic (the output's credentials; never in the URL).
    Basic,
    /// The signed media token in the URL.
    SignedUrl,
}

/// A rectangle as fractions of the frame it sits in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NormalizedRect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl NormalizedRect {
    pub const FULL: NormalizedRect = NormalizedRect {
        x: 0.0,
        y: 0.0,
        width: 1.0,
        height: 1.0,
    };
}

/// The original's `content_rect` (§5.4): the camera source's size contained in the output's,
/// or the full frame when a size is unknown or the output does not resize.
pub fn content_rect(
    settings: &StreamingSettings,
    transmission: &Transmission,
    output: &crate::model::transmission::TransmissionOutput,
) -> NormalizedRect {
    let source = transmission
        .camera_controls
        .as_ref()
        .and_then(|controls| {
            let camera = settings.camera(controls.camera_id.as_deref()?)?;
            let wanted = controls.camera_source_id.as_deref();
            camera
                .sources
                .iter()
                .find(|s| wanted.is_none_or(|id| s.id == id))
        })
        .and_then(|source| source.video.as_ref())
        .and_then(|video| Some((video.width?, video.height?)));
    let target = output
        .resolution
        .map(|r| (r.width.max(1) as u32, r.height.max(1) as u32));
    let (Some(source), Some(target)) = (source, target) else {
        return NormalizedRect::FULL;
    };
    if output.resize_mode() == crate::model::transmission::ResizeMode::None || source == target {
        return NormalizedRect::FULL;
    }
    let rect = crate::frames::contain_rect(source, target);
    let (tw, th) = (target.0 as f64, target.1 as f64);
    NormalizedRect {
        x: rect.x as f64 / tw,
        y: rect.y as f64 / th,
        width: rect.width as f64 / tw,
        height: rect.height as f64 / th,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UrlsResponse {
    pub transmission_id: String,
    pub engine_running: bool,
    pub outputs: Vec<OutputUrl>,
    pub warnings: Vec<String>,
    pub hls_warnings: Vec<String>,
    pub webrtc_warnings: Vec<String>,
    pub blocking_errors: Vec<String>,
    /// `network_contract::NetworkContract` (kept as JSON: a processing server's answer is
    /// relayed as it came).
    #[schema(value_type = Object)]
    pub network_contract: Option<serde_json::Value>,
    #[serde(flatten)]
    pub origin: PublicOrigin,
}

/// Where the caller reached this service, through whatever proxy (Home Assistant ingress, a
/// reverse proxy): the original's `public_base_path` and `media_url_origin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicOrigin {
    pub public_base_path: String,
    pub media_url_origin: Option<String>,
}

impl PublicOrigin {
    /// From the request headers (`header(name)` answers a header's value): the base path is the
    /// first of `x-ingress-path`, `x-forwarded-prefix`, `x-script-name`; the origin's scheme comes
    /// from `x-forwarded-proto` and its host from `x-forwarded-host`, else `host`.
    pub fn from_headers<'a>(header: impl Fn(&str) -> Option<&'a str>) -> PublicOrigin {
        let first = |name: &str| {
            header(name)
                .and_then(|value| value.split(',').next())
                .map(str::trim)
                .filter(|value| !value.is_empty())
        };
        let base = ["x-ingress-path", "x-forwarded-prefix", "x-script-name"]
            .into_iter()
            .find_map(first)
            .unwrap_or("");
        let public_base_path = normalize_base_path(base);
        let scheme = match first("x-forwarded-proto") {
            Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let suffix = if public_base_path == "/" {
            ""
        } else {
            public_base_path.as_str()
        };
        let media_url_origin = first("x-forwarded-host")
            .or_else(|| first("host"))
            .map(|host| format!("{scheme}://{host}{suffix}"));
        PublicOrigin {
            public_base_path,
            media_url_origin,
        }
    }
}

/// A leading `/`, no doubled or trailing `/`; `/` when empty. A header is the caller's word, and
/// the pages put this path in their `<base href>`: a segment of anything but unreserved URL
/// characters (or `%`-escapes), or a `.`/`..`, makes the whole header ignored (`/`).
fn normalize_base_path(raw: &str) -> String {
    let parts: Vec<&str> = raw.split('/').filter(|part| !part.is_empty()).collect();
    let plain = |part: &&str| {
        *part != "."
            && *part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '%'))
    };
    if !parts.iter().all(plain) {
        return "/".into();
    }
    format!("/{}", parts.join("/"))
}

/// What the caller knows beyond the settings: the engine's actual ports when it runs, the host
/// the client used to reach this service (advertised when the engine is exposed to the LAN), and
/// what the network contract is judged on (gathered by the caller, which reads the environment).
pub struct UrlRequest<'a> {
    pub running_ports: Option<PlaybackPorts>,
    pub request_host: Option<&'a str>,
    pub output_id: Option<&'a str>,
    pub origin: PublicOrigin,
    pub network: crate::network_contract::ContractInputs,
}

pub fn resolve_urls(
    settings: &StreamingSettings,
    transmission: &Transmission,
    request: &UrlRequest<'_>,
) -> UrlsResponse {
    let engine = &settings.engine;
    let host = advertised_host(engine, request.request_host);
    let mut warnings = Vec::new();
    let ports = request.running_ports.unwrap_or_else(|| {
        warnings.push(ENGINE_NOT_RUNNING.to_string());
        let preferred = engine.preferred_ports;
        PlaybackPorts {
            rtsp: preferred.rtsp as u16,
            hls: preferred.hls as u16,
            webrtc: preferred.webrtc as u16,
        }
    });
    let outputs = transmission
        .enabled_outputs()
        .filter(|o| request.output_id.is_none_or(|id| id == o.id))
        .map(|output| {
            let path = transmission.engine_path(output);
            let url = match output.protocol {
                Protocol::Rtsp => format!("rtsp://{host}:{}/{path}", ports.rtsp),
                Protocol::Hls => format!("http://{host}:{}/{path}/index.m3u8", ports.hls),
                Protocol::Webrtc => format!("http://{host}:{}/{path}/whep", ports.webrtc),
            };
            let credentials = output.credentials();
            OutputUrl {
                output_id: output.id.clone(),
                protocol: output.protocol.into(),
                resolved_engine_path: path,
                url,
                requires_auth: credentials.is_some(),
                auth_username: credentials.map(|(user, _)| user.to_string()),
                media_auth_type: if credentials.is_some() {
                    MediaAuthType::Basic
                } else {
                    MediaAuthType::None
                },
                quality_profile_id: output.quality_profile_id,
                resolution: output.resolution,
                fps_limit: output.fps_limit,
                bitrate_kbps: output.bitrate_kbps,
                latency_profile: output.latency_profile,
                content_rect: content_rect(settings, transmission, output),
                url_expires_at_unix: None,
                renew_after_unix: None,
            }
        })
        .collect();
    let contract = crate::network_contract::evaluate(&request.network);
    let (webrtc, general): (Vec<&String>, Vec<&String>) = contract
        .warnings
        .iter()
        .partition(|w| crate::network_contract::is_webrtc_related(w));
    warnings.extend(general.iter().map(|w| w.to_string()));
    let hls_warnings = general
        .iter()
        .filter(|w| crate::network_contract::is_hls_related(w))
        .map(|w| w.to_string())
        .collect();
    let webrtc_warnings = match webrtc.as_slice() {
        [] => Vec::new(),
        reasons => vec![format!(
            "WebRTC WHEP unavailable: {}",
            reasons
                .iter()
                .take(2)
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        )],
    };
    UrlsResponse {
        transmission_id: transmission.id.clone(),
        engine_running: request.running_ports.is_some(),
        outputs,
        warnings,
        hls_warnings,
        webrtc_warnings,
        blocking_errors: contract.blocking_errors.clone(),
        network_contract: serde_json::to_value(&contract).ok(),
        origin: request.origin.clone(),
    }
}

/// The original's warning when HLS is served without tokens.
pub const OPEN_HLS_WARNING: &str =
    "Open HLS media access is enabled. Use it only on trusted LAN or for diagnostics.";

/// How media URLs are signed for one answer.
pub struct Signing<'a> {
    pub tokens: &'a crate::media_token::MediaTokens,
    pub engine: &'a EngineSettings,
    pub now: f64,
    /// The caller's `media_token_ttl_seconds`.
    pub requested_ttl: Option<f64>,
    /// Why MSE cannot be offered now (`None`: it can, if enabled).
    pub mse_blocked: Option<String>,
}

impl UrlsResponse {
    /// Keeps what a quality-profile filter keeps (§5.3): that profile's HLS outputs and every
    /// WebRTC output.
    pub fn keep_profile(&mut self, profile: QualityProfileId) {
        self.outputs.retain(|o| match o.protocol {
            EntryProtocol::Hls => o.quality_profile_id == Some(profile),
            EntryProtocol::Webrtc => true,
            _ => false,
        });
    }

    /// Signed mode: each HLS output through this service's proxy with a token; then its MSE
    /// entry (when the sidecar can serve it) and its JSMpeg entry, signed for their transport.
    /// Open mode: HLS direct, with the original's warning.
    pub fn sign(mut self, signing: &Signing<'_>) -> UrlsResponse {
        use crate::media_token::{Claims, SCOPE, Transport, ttl_seconds};
        let auth = &signing.engine.media_auth;
        let signed_hls = auth.mode == crate::model::settings::MediaAuthMode::SignedProxy;
        let ttl = ttl_seconds(auth.token_ttl_seconds, signing.requested_ttl);
        let now = signing.now;
        let renew_after = now.max(now + ttl - auth.renew_margin_seconds.max(1.0).min(ttl - 1.0));
        let mse = signing.engine.mse_sidecar.enabled && signing.mse_blocked.is_none();
        let transmission_id = self.transmission_id.clone();
        // Proxy URLs are relative to where the caller reached this service (spec §4.7).
        let base = self
            .origin
            .public_base_path
            .trim_end_matches('/')
            .to_string();
        let signed_entry = |output: &OutputUrl, transport: Transport| {
            let path = &output.resolved_engine_path;
            let (protocol, url) = match transport {
                Transport::Hls => (
                    EntryProtocol::Hls,
                    format!("{base}/api/streams/media/hls/{path}/index.m3u8"),
                ),
                Transport::Mse => (
                    EntryProtocol::Mse,
                    format!("{base}/api/streams/media/mse/{path}/ws"),
                ),
                Transport::Jsmpeg => (
                    EntryProtocol::Jsmpeg,
                    format!("{base}/api/streams/media/jsmpeg/{path}/ws"),
                ),
            };
            let token = signing.tokens.sign(&Claims {
                engine_path: output.resolved_engine_path.clone(),
                exp: now + ttl,
                iat: now,
                output_id: output.output_id.clone(),
                scope: SCOPE.into(),
                transmission_id: transmission_id.clone(),
                transport: Some(transport),
            });
            OutputUrl {
                protocol,
                url: format!("{url}?media_token={token}"),
                requires_auth: false,
                auth_username: None,
                media_auth_type: MediaAuthType::SignedUrl,
                url_expires_at_unix: Some(now + ttl),
                renew_after_unix: Some(renew_after),
                ..output.clone()
            }
        };
        let mut outputs = Vec::new();
        for output in std::mem::take(&mut self.outputs) {
            if output.protocol != EntryProtocol::Hls {
                outputs.push(output);
                continue;
            }
            outputs.push(if signed_hls {
                signed_entry(&output, Transport::Hls)
            } else {
                output.clone()
            });
            if mse {
                outputs.push(signed_entry(&output, Transport::Mse));
            }
            // Every HLS output also plays over JSMpeg through this service (a path on this
            // API; the client makes it a ws:// or wss:// URL, as the original's clients do).
            outputs.push(signed_entry(&output, Transport::Jsmpeg));
        }
        self.outputs = outputs;
        if !signed_hls {
            self.warnings.push(OPEN_HLS_WARNING.into());
            self.hls_warnings.push(OPEN_HLS_WARNING.into());
        }
        if signing.engine.mse_sidecar.enabled {
            self.warnings.extend(signing.mse_blocked.clone());
        }
        self
    }
}

/// The host put in playback URLs: the one the client used to reach us when the engine is exposed
/// to the LAN, else loopback.
pub fn advertised_host<'a>(engine: &EngineSettings, request_host: Option<&'a str>) -> &'a str {
    if engine.expose_to_lan {
        request_host
            .and_then(host_without_port)
            .unwrap_or("127.0.0.1")
    } else {
        "127.0.0.1"
    }
}

/// `example.lan:8100` -> `example.lan`, `[::1]:8100` -> `[::1]`; `None` for an empty host.
pub(crate) fn host_without_port(host: &str) -> Option<&str> {
    let host = host.trim();
    let bare = if host.starts_with('[') {
        host.find(']').map(|end| &host[..=end]).unwrap_or(host)
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    (!bare.is_empty()).then_some(bare)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::error::Loc;
    use serde_json::json;

    #[test]
    fn public_origin_follows_the_proxy_headers() {
        let origin = |headers: &[(&str, &'static str)]| {
            let headers = headers.to_vec();
            PublicOrigin::from_headers(move |name| {
                headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
            })
        };
        assert_eq!(
            origin(&[("host", "box.lan:8100")]),
            PublicOrigin {
                public_base_path: "/".into(),
                media_url_origin: Some("http://box.lan:8100".into()),
            }
        );
        let ingress = origin(&[
            ("host", "internal:8100"),
            ("x-ingress-path", "/api/hassio_ingress//abc/"),
            ("x-forwarded-proto", "https, http"),
            ("x-forwarded-host", "ha.example.com"),
        ]);
        assert_eq!(ingress.public_base_path, "/api/hassio_ingress/abc");
        assert_eq!(
            ingress.media_url_origin.as_deref(),
            Some("https://ha.example.com/api/hassio_ingress/abc")
        );
        assert_eq!(origin(&[]).media_url_origin, None);
        // What could break out of a URL or an HTML attribute is not a base path.
        for hostile in [
            "/x\"><script>",
            "/a/../b",
            "/a b",
            "/a?b",
            "/a#b",
            "//evil.example",
        ] {
            let base = origin(&[("x-forwarded-prefix", hostile)]).public_base_path;
            assert!(
                base == "/" || base == "/evil.example",
                "{hostile} -> {base}"
            );
        }
    }

    fn settings(expose: bool, transmission: serde_json::Value) -> StreamingSettings {
        StreamingSettings::from_json(
            json!({"engine": {"expose_to_lan": expose}, "transmissions": [transmission]}),
            &Loc::body(),
        )
        .unwrap()
    }

    #[test]
    fn content_rect_letterboxes_the_camera_into_the_output() {
        let s = StreamingSettings::from_json(
            json!({
                "cameras": [{"id": "cam", "sources": [{"id": "s", "rtsp_url": "rtsp://c/s",
                    "video": {"width": 640, "height": 480}}]}],
                "transmissions": [{"id": "t", "path": "door",
                    "camera_controls": {"camera_id": "cam", "camera_source_id": "s"},
                    "outputs": [
                        {"id": "wide", "protocol": "hls", "resolution": {"width": 1280, "height": 720}},
                        {"id": "same", "protocol": "hls", "resolution": {"width": 640, "height": 480}},
                        {"id": "unsized", "protocol": "hls"}]}]}),
            &Loc::body(),
        )
        .unwrap();
        let transmission = &s.transmissions[0];
        let rect = |i: usize| content_rect(&s, transmission, &transmission.outputs[i]);
        // 640x480 in 1280x720: 960x720 centred, 160 px bars left and right.
        assert_eq!(
            rect(0),
            NormalizedRect {
                x: 0.125,
                y: 0.0,
                width: 0.75,
                height: 1.0
            }
        );
        assert_eq!(rect(1), NormalizedRect::FULL);
        assert_eq!(rect(2), NormalizedRect::FULL);
    }

    #[test]
    fn stopped_engine_uses_preferred_ports_and_warns() {
        let s = settings(
            false,
            json!({"id": "t", "path": "door", "outputs": [
            {"id": "main", "protocol": "hls"}]}),
        );
        let request = UrlRequest {
            running_ports: None,
            request_host: Some("lan.example:8100"),
            output_id: None,
            origin: PublicOrigin::from_headers(|_| None),
            network: Default::default(),
        };
        let urls = resolve_urls(&s, &s.transmissions[0], &request);
        assert_eq!(urls.outputs[0].url, "http://127.0.0.1:8888/door/index.m3u8");
        assert_eq!(urls.warnings, vec![ENGINE_NOT_RUNNING]);
        assert!(!urls.engine_running);
    }

    #[test]
    fn lan_exposure_advertises_the_request_host_and_actual_ports() {
        let s = settings(
            true,
            json!({"id": "t", "path": "door", "outputs": [
            {"id": "a", "protocol": "rtsp", "authentication": {"enabled": true, "username": "u", "password": "p"}},
            {"id": "b", "protocol": "webrtc"}]}),
        );
        let ports = PlaybackPorts {
            rtsp: 18554,
            hls: 18888,
            webrtc: 18889,
        };
        let request = UrlRequest {
            running_ports: Some(ports),
            request_host: Some("[fd00::5]:8100"),
            output_id: None,
            origin: PublicOrigin::from_headers(|_| None),
            network: Default::default(),
        };
        let urls = resolve_urls(&s, &s.transmissions[0], &request);
        assert_eq!(urls.outputs[0].url, "rtsp://[fd00::5]:18554/door-a");
        assert!(urls.outputs[0].requires_auth);
        assert_eq!(urls.outputs[0].auth_username.as_deref(), Some("u"));
        assert_eq!(urls.outputs[1].url, "http://[fd00::5]:18889/door-b/whep");
        assert!(urls.warnings.is_empty());
    }

    #[test]
    fn host_parsing() {
        assert_eq!(host_without_port("cam.lan:80"), Some("cam.lan"));
        assert_eq!(host_without_port("cam.lan"), Some("cam.lan"));
        assert_eq!(host_without_port("[::1]:1"), Some("[::1]"));
        assert_eq!(host_without_port(""), None);
    }
}
