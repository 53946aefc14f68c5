//! The Home Assistant camera manifest (`GET /home-assistant/cameras`, spec: original-api.md
//! §6.4): one camera per live view (its primary variant) and per transmission no live view uses,
//! with a still URL, an RTSP URL Home Assistant can reach (credentials embedded, and a redacted
//! copy), the WebRTC offer URL when native WebRTC is on, and capabilities. Pure.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::model::publication::{LiveVariant, VariantRole};
use crate::model::settings::StreamingSettings;
use crate::model::transmission::{Protocol, QualityProfileId, Transmission, TransmissionOutput};
use crate::urls::{EntryProtocol, UrlsResponse};

pub const CLOUD_WARNING: &str = "Home Assistant Cloud support is provided through Home Assistant camera entities; the Toposync ingress UI remains HLS-first.";
pub const NO_OUTPUT: &str = "No enabled output is available for Home Assistant camera playback.";
pub const LOOPBACK_RTSP: &str = "Local streaming engine returned a loopback RTSP URL for Home Assistant camera playback; enable engine.expose_to_lan and set TOPOSYNC_HOME_ASSISTANT_RTSP_HOST to a host reachable by Home Assistant.";

pub const REMOTE_NOT_RESOLVED: &str =
    "Failed to resolve remote Home Assistant camera playback: the processing server was not asked.";
pub const REMOTE_NO_RTSP: &str =
    "Remote processing server did not expose an RTSP URL for Home Assistant camera playback.";
pub const REMOTE_LOOPBACK_RTSP: &str = "Remote processing server returned a loopback RTSP URL; configure it with a LAN-reachable URL or expose the RTSP port.";

/// Where Home Assistant reaches the engine.
pub struct Reach<'a> {
    /// `TOPOSYNC_HOME_ASSISTANT_RTSP_HOST`, else the host the request came to.
    pub desired_host: &'a str,
    pub rtsp_port: u16,
    /// `TOPOSYNC_HOME_ASSISTANT_NATIVE_WEBRTC_ENABLED`.
    pub native_webrtc: bool,
    /// Each remote transmission's URLs as its processing server resolved them (already
    /// rewritten to that server's host), or why they could not be resolved.
    pub remote: &'a HashMap<String, Result<UrlsResponse, String>>,
}

const PROFILE_ORDER: [QualityProfileId; 4] = [
    QualityProfileId::StableAppleTv,
    QualityProfileId::QuadGrid,
    QualityProfileId::FullscreenQuality,
    QualityProfileId::DiagnosticLow,
];

/// The output Home Assistant plays (spec §6.2): the asked one, else HLS of the profile, else HLS
/// by profile preference, else the first HLS, else the first enabled output.
pub fn best_output<'a>(
    transmission: &'a Transmission,
    output_id: Option<&str>,
    profile: Option<QualityProfileId>,
) -> Option<&'a TransmissionOutput> {
    let enabled: Vec<&TransmissionOutput> = transmission.enabled_outputs().collect();
    let hls = |wanted: QualityProfileId| {
        enabled
            .iter()
            .copied()
            .find(|o| o.protocol == Protocol::Hls && o.quality_profile_id == Some(wanted))
    };
    output_id
        .and_then(|id| enabled.iter().copied().find(|o| o.id == id))
        .or_else(|| profile.and_then(hls))
        .or_else(|| PROFILE_ORDER.iter().find_map(|p| hls(*p)))
        .or_else(|| {
            enabled
                .iter()
                .copied()
                .find(|o| o.protocol == Protocol::Hls)
        })
        .or_else(|| enabled.first().copied())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.starts_with("127.") || host == "::1"
}

/// The RTSP URL Home Assistant plays and its redacted copy, the output's credentials embedded.
fn with_credentials(output: &TransmissionOutput, address: &str) -> (String, String) {
    match output.credentials() {
        Some((user, pass)) => (
            format!("rtsp://{user}:{pass}@{address}"),
            format!("rtsp://[REDACTED]@{address}"),
        ),
        None => (format!("rtsp://{address}"), format!("rtsp://{address}")),
    }
}

/// The transmissions whose URLs [`Reach::remote`] should hold: the enabled remote ones.
pub fn remote_transmissions(settings: &StreamingSettings) -> impl Iterator<Item = &Transmission> {
    settings
        .transmissions
        .iter()
        .filter(|t| t.enabled && t.host_server_id != crate::distributed::LOCAL_SERVER_ID)
}

/// A remote transmission's RTSP for Home Assistant (spec §6.4 "Remote"): the processing
/// server's RTSP entry of the output (else any RTSP entry) with the output's credentials.
fn remote_rtsp<'a>(
    urls: &'a UrlsResponse,
    output: &TransmissionOutput,
    warnings: &mut Vec<&'a str>,
    blocking: &mut Vec<&'a str>,
) -> Option<(String, String)> {
    warnings.extend(urls.warnings.iter().map(String::as_str));
    blocking.extend(urls.blocking_errors.iter().map(String::as_str));
    let rtsp = |entry: &&crate::urls::OutputUrl| entry.protocol == EntryProtocol::Rtsp;
    let Some(entry) = urls
        .outputs
        .iter()
        .filter(rtsp)
        .find(|entry| entry.output_id == output.id)
        .or_else(|| urls.outputs.iter().find(rtsp))
    else {
        blocking.push(REMOTE_NO_RTSP);
        return None;
    };
    let parsed = url::Url::parse(&entry.url).ok()?;
    if parsed.host_str().is_none_or(is_loopback) {
        blocking.push(REMOTE_LOOPBACK_RTSP);
        return None;
    }
    let address = entry.url.trim_start_matches("rtsp://");
    // A URL that already carries a user keeps it; the processing side never embeds one.
    let address = address.split_once('@').map_or(address, |(_, rest)| rest);
    Some(with_credentials(output, address))
}

pub fn manifest(settings: &StreamingSettings, reach: &Reach<'_>) -> Value {
    let mut items = Vec::new();
    let mut referenced: Vec<&str> = Vec::new();
    // The original's primary-variant order.
    let role_rank = |role: VariantRole| match role {
        VariantRole::Sub => 0,
        VariantRole::Main => 1,
        VariantRole::Thumbnail => 2,
        VariantRole::Pip => 3,
        VariantRole::Large => 4,
        VariantRole::Fullscreen => 5,
        VariantRole::Zoom => 6,
        VariantRole::Custom => 7,
        VariantRole::Ptz => 8,
    };
    for view in settings.camera_live_views.iter().filter(|v| v.enabled) {
        let enabled: Vec<&LiveVariant> = view.variants.iter().filter(|v| v.enabled).collect();
        referenced.extend(enabled.iter().map(|v| v.transmission_id.as_str()));
        let Some(primary) = enabled.iter().copied().min_by_key(|v| role_rank(v.role)) else {
            continue;
        };
        let Some(transmission) = settings.transmission(&primary.transmission_id) else {
            continue;
        };
        let variants: Vec<Value> = enabled
            .iter()
            .map(|v| json!({"variant_id": v.id, "role": v.role, "label": v.label,
                            "camera_source_id": v.camera_source_id, "transmission_id": v.transmission_id,
                            "output_id": v.output_id, "quality_profile_id": v.quality_profile_id}))
            .collect();
        let name = if view.name.is_empty() {
            transmission.name.clone()
        } else {
            view.name.clone()
        };
        let mut item = camera_item(
            settings,
            transmission,
            Some("hls_stable_apple_tv"),
            Some(QualityProfileId::StableAppleTv),
            reach,
        );
        item["id"] = json!(view.id);
        item["name"] = json!(if name.is_empty() {
            view.id.clone()
        } else {
            name
        });
        item["camera_id"] = json!(view.camera_id);
        item["live_view_id"] = json!(view.id);
        item["variant_id"] = json!(primary.id);
        item["role"] = json!(primary.role);
        item["capabilities"]["ptz"] = json!(primary.role == VariantRole::Ptz);
        item["variants"] = json!(variants);
        items.push(item);
    }
    for transmission in settings
        .transmissions
        .iter()
        .filter(|t| t.enabled && !referenced.contains(&t.id.as_str()))
    {
        let mut item = camera_item(settings, transmission, None, None, reach);
        item["id"] = json!(transmission.id);
        let name = if transmission.name.is_empty() {
            &transmission.id
        } else {
            &transmission.name
        };
        item["name"] = json!(name);
        items.push(item);
    }
    items.sort_by_key(|item| {
        (
            item["name"].as_str().unwrap_or_default().to_lowercase(),
            item["id"].as_str().unwrap_or_default().to_string(),
        )
    });
    json!({"cameras": items, "native_webrtc_enabled": reach.native_webrtc, "warnings": [CLOUD_WARNING]})
}

fn camera_item(
    settings: &StreamingSettings,
    transmission: &Transmission,
    output_id: Option<&str>,
    profile: Option<QualityProfileId>,
    reach: &Reach<'_>,
) -> Value {
    let output = best_output(transmission, output_id, profile);
    let mut warnings: Vec<&str> = Vec::new();
    let mut blocking: Vec<&str> = Vec::new();
    if !transmission.enabled {
        warnings.push("Transmission is disabled.");
    }
    let mut rtsp = None;
    let remote = (transmission.host_server_id != crate::distributed::LOCAL_SERVER_ID)
        .then(|| reach.remote.get(&transmission.id));
    match (output, remote) {
        (None, _) => blocking.push(NO_OUTPUT),
        (Some(output), None) => {
            let host = if settings.engine.expose_to_lan {
                reach.desired_host
            } else {
                "127.0.0.1"
            };
            if is_loopback(host) && !is_loopback(reach.desired_host) {
                blocking.push(LOOPBACK_RTSP);
            } else {
                let path = transmission.engine_path(output);
                rtsp = Some(with_credentials(
                    output,
                    &format!("{host}:{}/{path}", reach.rtsp_port),
                ));
            }
        }
        (Some(output), Some(Some(Ok(urls)))) => {
            rtsp = remote_rtsp(urls, output, &mut warnings, &mut blocking);
        }
        (Some(_), Some(Some(Err(reason)))) => blocking.push(reason),
        (Some(_), Some(None)) => blocking.push(REMOTE_NOT_RESOLVED),
    }
    let (rtsp_url, redacted) = rtsp.unzip();
    let profile_id = output.and_then(|o| o.quality_profile_id).or(profile);
    let query = |output: &str| match profile_id {
        Some(profile) => format!(
            "?output_id={output}&quality_profile_id={}",
            json!(profile).as_str().unwrap_or_default()
        ),
        None => format!("?output_id={output}"),
    };
    // The WebRTC output of the item's profile when there is one, else the first.
    let webrtc = transmission
        .enabled_outputs()
        .filter(|o| o.protocol == Protocol::Webrtc)
        .min_by_key(|o| profile_id.is_none() || o.quality_profile_id != profile_id);
    let offer_url = webrtc.filter(|_| reach.native_webrtc).map(|o| {
        let profile = o
            .quality_profile_id
            .filter(|p| Some(*p) == profile_id)
            .map(|p| {
                format!(
                    "&quality_profile_id={}",
                    json!(p).as_str().unwrap_or_default()
                )
            })
            .unwrap_or_default();
        format!(
            "/api/streams/transmissions/{}/webrtc/offer?output_id={}{profile}",
            transmission.id, o.id
        )
    });
    json!({
        "transmission_id": transmission.id,
        "camera_id": Value::Null,
        "live_view_id": Value::Null,
        "variant_id": Value::Null,
        "role": Value::Null,
        "variants": [],
        "output_id": output.map(|o| &o.id),
        "quality_profile_id": profile_id,
        "still_url": output.map(|o| format!("/api/streams/transmissions/{}/still.jpg{}", transmission.id, query(&o.id))),
        "rtsp_url": rtsp_url,
        "redacted_rtsp_url": redacted,
        "webrtc_offer_url": offer_url,
        "capabilities": {"still": true, "rtsp": rtsp_url.is_some(),
                         "native_webrtc": reach.native_webrtc && webrtc.is_some(), "ptz": false},
        "warnings": warnings,
        "blocking_errors": blocking,
    })
}

/// The WebRTC output an offer plays: the one named, else the profile's, else the first.
pub fn webrtc_output<'a>(
    transmission: &'a Transmission,
    output_id: Option<&str>,
    profile: Option<QualityProfileId>,
) -> Option<&'a TransmissionOutput> {
    let webrtc = || {
        transmission
            .enabled_outputs()
            .filter(|o| o.protocol == Protocol::Webrtc)
    };
    output_id
        .and_then(|wanted| webrtc().find(|o| o.id == wanted))
        .or_else(|| webrtc().find(|o| profile.is_some() && o.quality_profile_id == profile))
        .or_else(|| webrtc().next())
}

/// Relays an SDP offer to the engine's WHEP endpoint for `output` and returns the answer. Any
/// refusal is the original's `WHEP offer failed: <code> <body>` (the caller answers 502).
pub async fn whep_offer(
    transmission: &Transmission,
    output: &TransmissionOutput,
    webrtc_port: u16,
    sdp: &str,
) -> Result<String, String> {
    let path = transmission.engine_path(output);
    let mut whep = crate::net::http_client()
        .post(format!("http://127.0.0.1:{webrtc_port}/{path}/whep"))
        .header("content-type", "application/sdp")
        .header("accept", "application/sdp")
        .timeout(WHEP_TIMEOUT)
        .body(crlf_sdp(sdp));
    if let Some((user, pass)) = output.credentials() {
        whep = whep.basic_auth(user, Some(pass));
    }
    let response = whep
        .send()
        .await
        .map_err(|err| format!("WHEP offer failed: {err}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        let excerpt: String = text.chars().take(300).collect();
        return Err(format!("WHEP offer failed: {} {excerpt}", status.as_u16()));
    }
    if text.trim().is_empty() {
        return Err("WHEP answer is empty.".into());
    }
    Ok(text)
}

/// The original's WHEP POST timeout.
const WHEP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An SDP offer with every line ending in CRLF, as WHEP servers require.
pub fn crlf_sdp(sdp: &str) -> String {
    let mut out: String = sdp
        .lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\r\n");
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(expose: bool) -> StreamingSettings {
        let mut doc: StreamingSettings = serde_json::from_value(json!({
            "engine": {"expose_to_lan": expose},
            "cameras": [{"id": "front", "name": "Front Door", "sources": [
                {"id": "main", "role": "main", "origin": {"rtsp_url": "rtsp://10.0.0.5/main"}},
                {"id": "sub", "role": "sub", "origin": {"rtsp_url": "rtsp://10.0.0.5/sub"}}]}],
            "transmissions": [{"id": "lab", "name": "Lab", "path": "lab", "outputs": [
                {"id": "rtsp", "protocol": "rtsp",
                 "authentication": {"enabled": true, "username": "ha", "password": "pw"}},
                {"id": "live", "protocol": "webrtc"}]}]
        }))
        .unwrap();
        crate::reconcile::reconcile(&mut doc, "2026-12-01T00:00:00Z");
        doc
    }

    #[test]
    fn live_views_and_lone_transmissions_become_cameras() {
        let reach = Reach {
            desired_host: "127.0.0.1",
            rtsp_port: 8554,
            native_webrtc: true,
            remote: &HashMap::new(),
        };
        let manifest = manifest(&settings(false), &reach);
        let cameras = manifest["cameras"].as_array().unwrap();
        assert_eq!(cameras.len(), 2);
        let front = &cameras[0];
        assert_eq!(front["id"], "live-front-door-front");
        assert_eq!(
            front["role"], "sub",
            "the sub stream is the entity's primary"
        );
        assert_eq!(front["transmission_id"], "tx-camera-front-sub-sub");
        assert_eq!(front["output_id"], "hls_stable_apple_tv");
        assert_eq!(
            front["rtsp_url"],
            "rtsp://127.0.0.1:8554/tx-camera-front-sub-sub-hls_stable_apple_tv"
        );
        assert_eq!(
            front["still_url"],
            "/api/streams/transmissions/tx-camera-front-sub-sub/still.jpg?output_id=hls_stable_apple_tv&quality_profile_id=stable_apple_tv"
        );
        assert_eq!(front["variants"].as_array().unwrap().len(), 2);
        assert_eq!(front["variant_id"], "sub");
        let lab = &cameras[1];
        assert_eq!(lab["rtsp_url"], "rtsp://ha:pw@127.0.0.1:8554/lab-rtsp");
        assert_eq!(
            lab["redacted_rtsp_url"],
            "rtsp://[REDACTED]@127.0.0.1:8554/lab-rtsp"
        );
        assert_eq!(
            lab["webrtc_offer_url"],
            "/api/streams/transmissions/lab/webrtc/offer?output_id=live"
        );
        assert_eq!(lab["capabilities"]["native_webrtc"], true);
        assert_eq!(manifest["warnings"], json!([CLOUD_WARNING]));
    }

    #[test]
    fn a_lan_home_assistant_needs_the_engine_on_the_lan() {
        let reach = Reach {
            desired_host: "192.168.1.10",
            rtsp_port: 8554,
            native_webrtc: false,
            remote: &HashMap::new(),
        };
        let closed = manifest(&settings(false), &reach);
        assert_eq!(closed["cameras"][1]["rtsp_url"], Value::Null);
        assert_eq!(
            closed["cameras"][1]["blocking_errors"],
            json!([LOOPBACK_RTSP])
        );
        let open = manifest(&settings(true), &reach);
        assert_eq!(
            open["cameras"][1]["rtsp_url"],
            "rtsp://ha:pw@192.168.1.10:8554/lab-rtsp"
        );
        assert_eq!(open["cameras"][1]["webrtc_offer_url"], Value::Null);
    }

    /// The core's document with `lab` hosted on processing server `gpu`.
    fn remote_settings() -> StreamingSettings {
        let mut doc = settings(true);
        doc.transmissions
            .iter_mut()
            .find(|t| t.id == "lab")
            .unwrap()
            .host_server_id = "gpu".into();
        doc
    }

    /// What the processing server answers for `lab`, after the core's host rewrite.
    fn remote_answer(entries: &[(&str, &str, &str)]) -> UrlsResponse {
        let outputs: Vec<Value> = entries
            .iter()
            .map(|(output_id, protocol, url)| {
                json!({"output_id": output_id, "protocol": protocol, "resolved_engine_path": "lab",
                       "url": url, "requires_auth": false, "auth_username": null,
                       "media_auth_type": "none", "quality_profile_id": null, "resolution": null,
                       "fps_limit": null, "bitrate_kbps": null, "latency_profile": "normal",
                       "content_rect": {"x": 0.0, "y": 0.0, "width": 1.0, "height": 1.0},
                       "url_expires_at_unix": null, "renew_after_unix": null})
            })
            .collect();
        serde_json::from_value(json!({"transmission_id": "lab", "engine_running": true,
            "outputs": outputs, "warnings": ["Resolved via processing server 'gpu'."],
            "hls_warnings": [], "webrtc_warnings": [], "blocking_errors": [],
            "network_contract": null, "public_base_path": "", "media_url_origin": null}))
        .unwrap()
    }

    fn lab_of(remote: HashMap<String, Result<UrlsResponse, String>>) -> Value {
        let reach = Reach {
            desired_host: "192.168.1.10",
            rtsp_port: 8554,
            native_webrtc: false,
            remote: &remote,
        };
        let manifest = manifest(&remote_settings(), &reach);
        manifest["cameras"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "lab")
            .unwrap()
            .clone()
    }

    #[test]
    fn a_remote_transmission_plays_from_its_processing_server() {
        let answer = remote_answer(&[
            ("live", "webrtc", "http://gpu.lan:8889/lab-live/whep"),
            ("rtsp", "rtsp", "rtsp://gpu.lan:8554/lab-rtsp"),
        ]);
        let lab = lab_of(HashMap::from([("lab".to_string(), Ok(answer))]));
        assert_eq!(lab["rtsp_url"], "rtsp://ha:pw@gpu.lan:8554/lab-rtsp");
        assert_eq!(
            lab["redacted_rtsp_url"],
            "rtsp://[REDACTED]@gpu.lan:8554/lab-rtsp"
        );
        assert_eq!(lab["capabilities"]["rtsp"], true);
        assert_eq!(
            lab["warnings"],
            json!(["Resolved via processing server 'gpu'."])
        );
        assert_eq!(lab["blocking_errors"], json!([]));
    }

    #[test]
    fn a_remote_transmission_without_a_reachable_rtsp_url_is_blocked_with_the_reason() {
        let cases = [
            (
                Ok(remote_answer(&[("live", "webrtc", "http://gpu.lan:8889/lab-live/whep")])),
                REMOTE_NO_RTSP,
            ),
            (
                Ok(remote_answer(&[("rtsp", "rtsp", "rtsp://127.0.0.1:8554/lab-rtsp")])),
                REMOTE_LOOPBACK_RTSP,
            ),
            (
                Err("Failed to resolve URLs from processing server 'gpu': Connection failed: refused".to_string()),
                "Failed to resolve URLs from processing server 'gpu': Connection failed: refused",
            ),
        ];
        for (answer, reason) in cases {
            let lab = lab_of(HashMap::from([("lab".to_string(), answer)]));
            assert_eq!(lab["rtsp_url"], Value::Null, "{reason}");
            assert_eq!(lab["capabilities"]["rtsp"], false);
            let blocking = lab["blocking_errors"].as_array().unwrap();
            assert!(blocking.contains(&json!(reason)), "{blocking:?}");
        }
        let unasked = lab_of(HashMap::new());
        assert_eq!(unasked["blocking_errors"], json!([REMOTE_NOT_RESOLVED]));
    }

    #[test]
    fn offers_are_sent_with_crlf() {
        assert_eq!(
            crlf_sdp("v=0\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\n"),
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n"
        );
    }
}
