//! The Playback Plan (spec: original-api.md §4): for one client and context, every transport
//! ranked, each with the output it would play, whether it is available, and the exact reason
//! when it is not. Pure: it reads the resolved URL entries, so it is table-tested.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Client {
    App,
    #[default]
    Web,
    HaIngress,
    HaEntity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Context {
    Thumbnail,
    Pip,
    Large,
    Fullscreen,
    Ptz,
    SpatialMap,
}

pub const NO_HLS: &str = "No HLS output is available.";
pub const NO_WEBRTC: &str = "This transmission has no WebRTC/WHEP output. Enable low-latency playback on a zoom/PTZ publication or set transport_policy.enable_webrtc=true.";
pub const HA_INGRESS_WEBRTC: &str = "Home Assistant ingress must use the Home Assistant native camera path for Cloud/WebRTC relay; direct Toposync WebRTC is disabled by default.";
pub const HA_ENTITY_WEBRTC: &str =
    "Home Assistant entity playback is negotiated by the Home Assistant camera platform.";
pub const WEBRTC_RESERVED: &str = "WebRTC is reserved for explicit low-latency or PTZ playback.";
pub const APP_HLS_FIRST: &str = "Native app playback uses HLS first.";
pub const MSE_ENGINE_DOWN: &str =
    "MediaMTX engine is not running; MSE needs the internal RTSP output.";
pub const MSE_NO_HLS: &str = "No HLS backing output is available for MSE.";
pub const MSE_UNAVAILABLE: &str = "MSE is not available for this output.";
pub const JSMPEG_NO_HLS: &str = "No HLS backing output is available for JSMpeg.";
pub const JSMPEG_UNAVAILABLE: &str = "JSMpeg fallback is unavailable. Check /api/streams/jsmpeg/status for FFmpeg and session limits.";
pub const HA_ENTITY_CONTRACT: &str = "Home Assistant entity playback uses the Home Assistant camera contract from /api/streams/home-assistant/cameras.";
pub const HA_INGRESS_PREFERS_HLS: &str = "Home Assistant ingress prefers HLS; use HA camera entities for Home Assistant Cloud/WebRTC relay.";
pub const HA_INGRESS_WEBRTC_WARNING: &str =
    "WebRTC is reserved for Home Assistant native camera/WebRTC relay in HA ingress mode.";

#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    pub client: Client,
    pub context: Option<Context>,
    pub low_latency: bool,
    /// The transmission's role (`zoom` makes WebRTC contextual for the web).
    pub transmission_role: Option<String>,
    pub quality_profile_id: Option<String>,
}

/// The URL resolution a plan is made from (the `/urls` answer).
#[derive(Debug, Clone, Default)]
pub struct Urls {
    pub engine_running: bool,
    pub outputs: Vec<Value>,
    pub warnings: Vec<String>,
    pub hls_warnings: Vec<String>,
    pub webrtc_warnings: Vec<String>,
    pub blocking_errors: Vec<String>,
    /// The resolution's `network_contract`, shown with the plan (an addition to the original's).
    pub network_contract: Option<Value>,
}

impl From<&crate::urls::UrlsResponse> for Urls {
    fn from(urls: &crate::urls::UrlsResponse) -> Urls {
        Urls {
            engine_running: urls.engine_running,
            outputs: urls
                .outputs
                .iter()
                .map(|o| serde_json::to_value(o).unwrap_or_default())
                .collect(),
            warnings: urls.warnings.clone(),
            hls_warnings: urls.hls_warnings.clone(),
            webrtc_warnings: urls.webrtc_warnings.clone(),
            blocking_errors: urls.blocking_errors.clone(),
            network_contract: urls.network_contract.clone(),
        }
    }
}

/// What a live-view playback plays: the output the variant asks for when it can be played,
/// else WebRTC for a low-latency variant, else HLS (§4.6), with the URL resolution's warnings and
/// errors followed by the choice's own.
pub struct LiveSelection {
    pub selected_output: Option<crate::urls::OutputUrl>,
    pub warnings: Vec<String>,
    pub blocking_errors: Vec<String>,
}

pub fn select_live_output(
    variant: &crate::model::publication::LiveVariant,
    urls: &crate::urls::UrlsResponse,
) -> LiveSelection {
    use crate::urls::EntryProtocol;
    let playable = |o: &&crate::urls::OutputUrl| {
        matches!(o.protocol, EntryProtocol::Hls | EntryProtocol::Webrtc)
    };
    let of = |protocol: EntryProtocol| urls.outputs.iter().find(|o| o.protocol == protocol);
    let selected = variant
        .output_id
        .as_ref()
        .and_then(|wanted| {
            urls.outputs
                .iter()
                .filter(playable)
                .find(|o| &o.output_id == wanted)
        })
        .or_else(|| {
            (variant.preferred_transport == "webrtc")
                .then(|| of(EntryProtocol::Webrtc))
                .flatten()
        })
        .or_else(|| of(EntryProtocol::Hls))
        .or_else(|| urls.outputs.iter().find(playable))
        .cloned();
    let mut warnings = urls.warnings.clone();
    let mut blocking_errors = urls.blocking_errors.clone();
    match &selected {
        None => blocking_errors
            .push("No playable HLS/WebRTC output is available for this live view.".into()),
        Some(chosen) => {
            if let Some(wanted) = variant
                .output_id
                .as_ref()
                .filter(|w| **w != chosen.output_id)
            {
                warnings.push(format!(
                    "Requested playback output '{wanted}' was unavailable; using '{}'.",
                    chosen.output_id
                ));
                if variant.preferred_transport == "webrtc" && chosen.protocol == EntryProtocol::Hls
                {
                    warnings.push("Baixa latência indisponível; usando HLS.".into());
                }
            }
        }
    }
    LiveSelection {
        selected_output: selected,
        warnings,
        blocking_errors,
    }
}

/// The plan over resolved URLs, with the transmission's runtime health (when known) in each
/// entry.
pub fn plan_over(
    transmission_id: &str,
    request: &PlanRequest,
    urls: &crate::urls::UrlsResponse,
    health: Option<&crate::health::TransmissionRuntimeHealth>,
) -> Value {
    let health = health
        .map(crate::health::PlanHealthSource::of)
        .unwrap_or_default();
    plan(transmission_id, request, &Urls::from(urls), &health)
}

/// The entry of `protocol` preferred for the requested profile, else by `preference`, else the
/// first one.
fn candidate<'a>(
    urls: &'a Urls,
    protocol: &str,
    requested: Option<&str>,
    preference: &[&str],
) -> Option<&'a Value> {
    let entries: Vec<&Value> = urls
        .outputs
        .iter()
        .filter(|o| o["protocol"] == protocol)
        .collect();
    let by_profile = |profile: &str| {
        entries
            .iter()
            .copied()
            .find(|o| o["quality_profile_id"] == profile)
    };
    requested
        .and_then(by_profile)
        .or_else(|| preference.iter().find_map(|p| by_profile(p)))
        .or_else(|| entries.first().copied())
}

fn first_warning(urls: &Urls, needles: &[&str]) -> Option<String> {
    urls.warnings
        .iter()
        .find(|w| needles.iter().any(|n| w.to_lowercase().contains(n)))
        .cloned()
}

pub fn plan(
    transmission_id: &str,
    request: &PlanRequest,
    urls: &Urls,
    health: &crate::health::PlanHealthSource,
) -> Value {
    let client = request.client;
    if client == Client::HaEntity {
        let mut warnings = urls.warnings.clone();
        warnings.push(HA_ENTITY_CONTRACT.into());
        return json!({
            "transmission_id": transmission_id, "client": client, "lease_seconds": 45.0,
            "heartbeat_interval_seconds": 10.0, "transports": [], "selected_transport": null,
            "warnings": warnings, "hls_warnings": urls.hls_warnings,
            "webrtc_warnings": urls.webrtc_warnings, "blocking_errors": urls.blocking_errors,
            "network_contract": urls.network_contract,
        });
    }
    let requested = request.quality_profile_id.as_deref();
    let hls = candidate(urls, "hls", requested, &["stable_apple_tv", "quad_grid"]);
    let webrtc = candidate(urls, "webrtc", None, &[]);
    let mse = candidate(
        urls,
        "mse",
        requested,
        &["stable_apple_tv", "quad_grid", "fullscreen_quality"],
    );
    let jsmpeg = candidate(
        urls,
        "jsmpeg",
        requested,
        &[
            "diagnostic_low",
            "quad_grid",
            "stable_apple_tv",
            "fullscreen_quality",
        ],
    );
    let contextual = client == Client::Web
        && (request.low_latency
            || request.context == Some(Context::Ptz)
            || request
                .transmission_role
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case("zoom")));

    let hls_blocking: Vec<String> = if hls.is_none() {
        vec![NO_HLS.into()]
    } else {
        vec![]
    };
    let mut webrtc_blocking: Vec<String> = Vec::new();
    if webrtc.is_none() {
        webrtc_blocking.push(NO_WEBRTC.into());
    }
    match client {
        Client::HaIngress => webrtc_blocking.push(HA_INGRESS_WEBRTC.into()),
        Client::Web if !contextual => webrtc_blocking.push(WEBRTC_RESERVED.into()),
        _ => {}
    }
    for warning in &urls.webrtc_warnings {
        if !webrtc_blocking.contains(warning) {
            webrtc_blocking.push(warning.clone());
        }
    }
    if client == Client::App {
        webrtc_blocking.push(APP_HLS_FIRST.into());
    }
    let mut mse_blocking: Vec<String> = Vec::new();
    if !urls.engine_running {
        mse_blocking.push(MSE_ENGINE_DOWN.into());
    }
    if hls.is_none() {
        mse_blocking.push(MSE_NO_HLS.into());
    }
    if mse.is_none() {
        mse_blocking.push(
            first_warning(urls, &["mse", "go2rtc"]).unwrap_or_else(|| MSE_UNAVAILABLE.into()),
        );
    }
    let mut jsmpeg_blocking: Vec<String> = Vec::new();
    if hls.is_none() {
        jsmpeg_blocking.push(JSMPEG_NO_HLS.into());
    }
    if jsmpeg.is_none() {
        jsmpeg_blocking.push(
            first_warning(urls, &["jsmpeg", "ffmpeg"]).unwrap_or_else(|| JSMPEG_UNAVAILABLE.into()),
        );
    }

    let order: [&str; 4] = if matches!(client, Client::App | Client::HaIngress) {
        ["hls", "mse", "jsmpeg", "webrtc"]
    } else if contextual {
        ["webrtc", "mse", "hls", "jsmpeg"]
    } else {
        ["mse", "hls", "jsmpeg", "webrtc"]
    };
    let mut transports = Vec::new();
    for (rank, transport) in order.iter().enumerate() {
        let (output, blocking, warnings) = match *transport {
            "hls" => (hls, &hls_blocking, urls.hls_warnings.clone()),
            "webrtc" => {
                let mut warnings = urls.webrtc_warnings.clone();
                if client == Client::HaIngress {
                    warnings.push(HA_INGRESS_WEBRTC_WARNING.into());
                }
                (webrtc, &webrtc_blocking, warnings)
            }
            "mse" => (mse, &mse_blocking, vec![]),
            _ => (jsmpeg, &jsmpeg_blocking, vec![]),
        };
        let available = output.is_some()
            && blocking.is_empty()
            && !(*transport == "webrtc" && matches!(client, Client::App | Client::HaIngress));
        let field = |key: &str| output.map_or(Value::Null, |o| o[key].clone());
        transports.push(json!({
            "transport": transport, "rank": rank, "fallback_rank": rank, "available": available,
            "output_id": field("output_id"),
            "protocol": output.map_or(json!(transport), |o| o["protocol"].clone()),
            "url": field("url"),
            "media_auth_type": output.map_or(json!("none"), |o| o["media_auth_type"].clone()),
            "requires_auth": output.is_some_and(|o| o["requires_auth"] == true),
            "quality_profile_id": field("quality_profile_id"), "resolution": field("resolution"),
            "fps_limit": field("fps_limit"), "bitrate_kbps": field("bitrate_kbps"),
            "latency_profile": field("latency_profile"),
            "blocking_errors": blocking, "warnings": warnings,
            "health": health.entry(output.and_then(|o| o["output_id"].as_str())),
        }));
    }
    let selected = transports
        .iter()
        .find(|t| t["available"] == true)
        .map_or(Value::Null, |t| t["transport"].clone());
    let mut warnings = urls.warnings.clone();
    if client == Client::HaIngress {
        warnings.push(HA_INGRESS_PREFERS_HLS.into());
    }
    json!({
        "transmission_id": transmission_id, "client": client, "context": request.context,
        "lease_seconds": 45.0, "heartbeat_interval_seconds": 10.0,
        "transports": transports, "selected_transport": selected, "warnings": warnings,
        "hls_warnings": urls.hls_warnings, "webrtc_warnings": urls.webrtc_warnings,
        "blocking_errors": urls.blocking_errors, "network_contract": urls.network_contract,
    })
}

/// Which live-view variant a context shows by default (spec §4.6).
pub fn context_variant(
    defaults: &crate::model::publication::LiveViewDefaults,
    context: Context,
) -> Option<&str> {
    match context {
        Context::Thumbnail | Context::SpatialMap => defaults.thumbnail_variant_id.as_deref(),
        Context::Pip => defaults.pip_variant_id.as_deref(),
        Context::Large => defaults.large_variant_id.as_deref(),
        Context::Fullscreen => defaults.fullscreen_variant_id.as_deref(),
        Context::Ptz => defaults
            .ptz_variant_id
            .as_deref()
            .or(defaults.large_variant_id.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(protocol: &str, output: &str, profile: Option<&str>) -> Value {
        json!({"protocol": protocol, "output_id": output, "quality_profile_id": profile,
               "url": format!("/{protocol}/{output}"), "media_auth_type": "signed_url", "requires_auth": false})
    }

    /// A generated transmission's URLs: four HLS profiles (each with JSMpeg), optionally WebRTC
    /// and MSE.
    fn urls(webrtc: bool, mse: bool, engine_running: bool) -> Urls {
        let mut outputs = Vec::new();
        for profile in [
            "quad_grid",
            "stable_apple_tv",
            "fullscreen_quality",
            "diagnostic_low",
        ] {
            let output = format!("hls_{profile}");
            outputs.push(entry("hls", &output, Some(profile)));
            if mse {
                outputs.push(entry("mse", &output, Some(profile)));
            }
            outputs.push(entry("jsmpeg", &output, Some(profile)));
        }
        if webrtc {
            outputs.push(entry("webrtc", "webrtc_low_latency", None));
        }
        Urls {
            engine_running,
            outputs,
            ..Default::default()
        }
    }

    fn order(plan: &Value) -> Vec<(String, bool)> {
        plan["transports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["transport"].as_str().unwrap().to_string(),
                    t["available"] == true,
                )
            })
            .collect()
    }

    fn request(
        client: Client,
        context: Option<Context>,
        low_latency: bool,
        role: Option<&str>,
    ) -> PlanRequest {
        PlanRequest {
            client,
            context,
            low_latency,
            transmission_role: role.map(str::to_string),
            quality_profile_id: None,
        }
    }

    fn owned(rows: &[(&str, bool)]) -> Vec<(String, bool)> {
        rows.iter().map(|(t, a)| (t.to_string(), *a)).collect()
    }

    #[test]
    fn rank_orders_per_client_and_context() {
        let all = urls(true, true, true);
        let cases = [
            (
                request(Client::Web, Some(Context::Fullscreen), false, None),
                [
                    ("mse", true),
                    ("hls", true),
                    ("jsmpeg", true),
                    ("webrtc", false),
                ],
                "mse",
            ),
            (
                request(Client::Web, Some(Context::Ptz), false, None),
                [
                    ("webrtc", true),
                    ("mse", true),
                    ("hls", true),
                    ("jsmpeg", true),
                ],
                "webrtc",
            ),
            (
                request(Client::Web, Some(Context::Large), true, None),
                [
                    ("webrtc", true),
                    ("mse", true),
                    ("hls", true),
                    ("jsmpeg", true),
                ],
                "webrtc",
            ),
            (
                request(Client::Web, Some(Context::Thumbnail), false, Some("zoom")),
                [
                    ("webrtc", true),
                    ("mse", true),
                    ("hls", true),
                    ("jsmpeg", true),
                ],
                "webrtc",
            ),
            (
                request(Client::App, Some(Context::Ptz), true, None),
                [
                    ("hls", true),
                    ("mse", true),
                    ("jsmpeg", true),
                    ("webrtc", false),
                ],
                "hls",
            ),
            (
                request(Client::HaIngress, None, false, None),
                [
                    ("hls", true),
                    ("mse", true),
                    ("jsmpeg", true),
                    ("webrtc", false),
                ],
                "hls",
            ),
        ];
        for (req, expected, selected) in cases {
            let plan = plan("t", &req, &all, &Default::default());
            assert_eq!(order(&plan), owned(&expected), "{req:?}");
            assert_eq!(plan["selected_transport"], selected, "{req:?}");
        }
    }

    #[test]
    fn blocking_reasons_use_the_original_strings() {
        let plan_of = |urls: &Urls, req: PlanRequest| plan("t", &req, urls, &Default::default());
        let web = || request(Client::Web, None, false, None);
        let no_webrtc_no_mse = urls(false, false, false);
        let p = plan_of(&no_webrtc_no_mse, web());
        let reasons = |p: &Value, transport: &str| -> Vec<String> {
            p["transports"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["transport"] == transport)
                .unwrap()["blocking_errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(reasons(&p, "webrtc"), [NO_WEBRTC, WEBRTC_RESERVED]);
        assert_eq!(reasons(&p, "mse"), [MSE_ENGINE_DOWN, MSE_UNAVAILABLE]);
        assert_eq!(p["selected_transport"], "hls", "MSE blocked: HLS is next");
        let mut warned = urls(false, false, true);
        warned
            .warnings
            .push("MSE sidecar unavailable: go2rtc is not in this build.".into());
        assert_eq!(
            reasons(&plan_of(&warned, web()), "mse"),
            ["MSE sidecar unavailable: go2rtc is not in this build."]
        );
        let empty = Urls::default();
        let p = plan_of(&empty, web());
        assert_eq!(reasons(&p, "hls"), [NO_HLS]);
        assert_eq!(reasons(&p, "jsmpeg"), [JSMPEG_NO_HLS, JSMPEG_UNAVAILABLE]);
        assert_eq!(p["selected_transport"], Value::Null);
        let p = plan_of(
            &urls(true, true, true),
            request(Client::HaIngress, None, false, None),
        );
        assert_eq!(reasons(&p, "webrtc"), [HA_INGRESS_WEBRTC]);
        let p = plan_of(
            &urls(true, true, true),
            request(Client::App, None, false, None),
        );
        assert_eq!(reasons(&p, "webrtc"), [APP_HLS_FIRST]);
        let p = plan_of(
            &urls(true, true, true),
            request(Client::HaEntity, None, false, None),
        );
        assert_eq!(p["transports"], json!([]));
        assert_eq!(p["warnings"], json!([HA_ENTITY_CONTRACT]));
    }

    #[test]
    fn candidates_follow_the_requested_profile_then_preferences() {
        let all = urls(true, true, true);
        let pick = |profile: Option<&str>, transport: &str| {
            let req = PlanRequest {
                quality_profile_id: profile.map(str::to_string),
                ..Default::default()
            };
            let p = plan("t", &req, &all, &Default::default());
            p["transports"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["transport"] == transport)
                .unwrap()["output_id"]
                .clone()
        };
        assert_eq!(pick(None, "hls"), "hls_stable_apple_tv");
        assert_eq!(pick(None, "jsmpeg"), "hls_diagnostic_low");
        assert_eq!(pick(None, "mse"), "hls_stable_apple_tv");
        assert_eq!(
            pick(Some("fullscreen_quality"), "hls"),
            "hls_fullscreen_quality"
        );
        assert_eq!(
            pick(Some("fullscreen_quality"), "jsmpeg"),
            "hls_fullscreen_quality"
        );
    }
}

/// `GET /live-views/{id}/playback`: the chosen variant, its signed URLs, the output to play, the
/// plan and the runtime health it was ranked with (the original's §2.12 answer).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LiveViewPlayback {
    pub live_view: crate::model::publication::CameraLiveView,
    pub live_view_id: String,
    pub camera_id: String,
    pub camera_name: String,
    pub camera_source_id: String,
    pub camera_source_name: String,
    pub source_role: Option<crate::model::camera::SourceRole>,
    pub context: Context,
    pub variant: crate::model::publication::LiveVariant,
    /// Secrets redacted.
    pub transmission: crate::model::transmission::Transmission,
    pub transmission_id: String,
    pub runtime_health: Option<crate::health::TransmissionRuntimeHealth>,
    /// Always null: sources have no health of their own here.
    pub source_health: Option<()>,
    pub selected_output: Option<crate::urls::OutputUrl>,
    pub urls: crate::urls::UrlsResponse,
    pub playback_plan: Value,
    pub warnings: Vec<String>,
    pub blocking_errors: Vec<String>,
}

impl LiveViewPlayback {
    /// Picks the output among `urls` and ranks the transports, for the web in `context`.
    pub fn answer(
        chosen: crate::model::live_views::Chosen,
        context: Context,
        urls: crate::urls::UrlsResponse,
        runtime_health: Option<crate::health::TransmissionRuntimeHealth>,
    ) -> Self {
        let crate::model::live_views::Chosen {
            view,
            variant,
            camera_name,
            camera_source_name,
            source_role,
            transmission,
        } = chosen;
        let LiveSelection {
            selected_output,
            warnings,
            blocking_errors,
        } = select_live_output(&variant, &urls);
        let request = PlanRequest {
            client: Client::Web,
            context: Some(context),
            low_latency: variant.preferred_transport == "webrtc" || context == Context::Ptz,
            transmission_role: Some(variant.role.as_str().to_string()),
            quality_profile_id: variant
                .quality_profile_id
                .as_ref()
                .map(crate::model::name_of),
        };
        let playback_plan = plan_over(
            &variant.transmission_id,
            &request,
            &urls,
            runtime_health.as_ref(),
        );
        Self {
            live_view_id: view.id.clone(),
            camera_id: view.camera_id.clone().unwrap_or_default(),
            live_view: view,
            camera_name,
            camera_source_id: variant.camera_source_id.clone().unwrap_or_default(),
            camera_source_name,
            source_role,
            context,
            transmission: transmission.redacted(),
            transmission_id: variant.transmission_id.clone(),
            variant,
            runtime_health,
            source_health: None,
            selected_output,
            urls,
            playback_plan,
            warnings,
            blocking_errors,
        }
    }
}
