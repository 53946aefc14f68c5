//! The network contract (original §5.6): whether the ports players will use are the ports the
//! deployment publishes, said as the original's warnings, statuses and blocking errors. The
//! inputs come from the environment, the settings and the request ([`ContractInputs::gather`]);
//! the judgement is a pure function ([`evaluate`]), table-tested on §5.6's strings.

use serde::Serialize;

use crate::model::settings::{MediaAuthMode, StreamingSettings};

pub const HOME_ASSISTANT_ADDON: &str = "home_assistant_addon";

/// `TOPOSYNC_DEPLOYMENT_TARGET`, `generic` when unset or empty.
pub fn deployment_target() -> String {
    std::env::var("TOPOSYNC_DEPLOYMENT_TARGET")
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "generic".into())
}

/// One port per thing a player or the add-on's network maps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ContractPorts {
    pub direct_api: Option<u16>,
    pub rtsp: Option<u16>,
    pub hls: Option<u16>,
    pub webrtc: Option<u16>,
    pub webrtc_udp: Option<u16>,
    pub mediamtx_api: Option<u16>,
}

/// Everything the contract is judged on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContractInputs {
    /// `TOPOSYNC_DEPLOYMENT_TARGET`, `generic` by default.
    pub environment: String,
    /// HLS reaches players through this service's proxy (signed URLs), not the engine's port.
    pub hls_proxy: bool,
    /// `TOPOSYNC_EXPECTED_*_PORT`.
    pub expected: ContractPorts,
    /// The request's own port as `direct_api`; the engine's ports while it runs; the WebRTC UDP
    /// port active or preferred.
    pub actual: ContractPorts,
    /// The host the client used, without its port.
    pub request_host: Option<String>,
    /// The request came through a path prefix (ingress).
    pub behind_base_path: bool,
    pub expose_to_lan: bool,
    pub webrtc_additional_hosts: Vec<String>,
    /// The add-on's published ports (`8554/tcp`...) from its network snapshot, if one was read.
    pub published_ports: Option<Vec<String>>,
    /// `TOPOSYNC_FAIL_STREAM_URLS_ON_PORT_MISMATCH`: an HLS mismatch blocks even when not strict.
    pub fail_on_hls_mismatch: bool,
}

/// `network_contract` in `/urls`, the engine status and diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NetworkContract {
    pub environment: String,
    /// Equal to `public_hls_mode` (the original's two names).
    pub mode: &'static str,
    pub public_hls_mode: &'static str,
    /// `ok`, `not_applicable`, `port_mismatch`, `proxy_unavailable` or `proxy_required`.
    pub status: &'static str,
    pub active: bool,
    /// Mismatches block playback (an add-on, or any port named as expected).
    pub strict: bool,
    pub request_host: Option<String>,
    pub expected_ports: ContractPorts,
    pub actual_ports: ContractPorts,
    pub published_ports: Option<Vec<String>>,
    pub webrtc_additional_hosts: Vec<String>,
    pub warnings: Vec<String>,
    pub blocking_errors: Vec<String>,
}

impl ContractInputs {
    /// From the environment, the settings and the request. `running` are the engine's actual
    /// (rtsp, hls, webrtc) ports when it runs.
    pub fn gather(
        settings: &StreamingSettings,
        running: Option<(u16, u16, u16)>,
        request_host: Option<&str>,
        behind_base_path: bool,
    ) -> ContractInputs {
        let env = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_string());
        let port = |name: &str| {
            env(name)
                .and_then(|v| v.parse::<u16>().ok())
                .filter(|p| *p > 0)
        };
        let engine = &settings.engine;
        let hls_proxy = engine.media_auth.mode == MediaAuthMode::SignedProxy
            || env("TOPOSYNC_STREAMING_HLS_PUBLIC_MODE").as_deref() == Some("proxy");
        let (host, request_port) = split_host(request_host.unwrap_or(""));
        let preferred = engine.preferred_ports;
        ContractInputs {
            environment: deployment_target(),
            hls_proxy,
            expected: ContractPorts {
                direct_api: port("TOPOSYNC_EXPECTED_DIRECT_API_PORT"),
                rtsp: port("TOPOSYNC_EXPECTED_RTSP_PORT"),
                hls: port("TOPOSYNC_EXPECTED_HLS_PORT"),
                webrtc: port("TOPOSYNC_EXPECTED_WEBRTC_PORT"),
                webrtc_udp: port("TOPOSYNC_EXPECTED_WEBRTC_UDP_PORT"),
                mediamtx_api: port("TOPOSYNC_EXPECTED_MEDIAMTX_API_PORT"),
            },
            actual: ContractPorts {
                direct_api: request_port,
                rtsp: running.map(|r| r.0),
                hls: running.map(|r| r.1),
                webrtc: running.map(|r| r.2),
                webrtc_udp: u16::try_from(preferred.webrtc_udp).ok(),
                mediamtx_api: running.and(u16::try_from(preferred.api).ok()),
            },
            request_host: host,
            behind_base_path,
            expose_to_lan: engine.expose_to_lan,
            webrtc_additional_hosts: crate::engine::config::WebrtcEnv::from_env()
                .additional_hosts(engine),
            published_ports: env("TOPOSYNC_ADDON_NETWORK_SNAPSHOT_PATH")
                .and_then(|path| std::fs::read(path).ok())
                .and_then(|bytes| published_ports(&bytes)),
            fail_on_hls_mismatch: matches!(
                env("TOPOSYNC_FAIL_STREAM_URLS_ON_PORT_MISMATCH").as_deref(),
                Some("1" | "true" | "yes" | "on")
            ),
        }
    }
}

/// `host:port` -> (host, port); the scheme's default port is not known here, so a host without
/// one has none.
fn split_host(raw: &str) -> (Option<String>, Option<u16>) {
    let raw = raw.trim();
    let Some(host) = crate::urls::host_without_port(raw) else {
        return (None, None);
    };
    let port = raw[host.len()..]
        .strip_prefix(':')
        .and_then(|port| port.parse().ok());
    (Some(host.to_string()), port)
}

/// The published ports of an add-on network snapshot: Home Assistant's `network` map
/// (`{"8554/tcp": 8554, "18762/udp": null}`, null = not published), alone or under `network`.
pub fn published_ports(snapshot: &[u8]) -> Option<Vec<String>> {
    let value: serde_json::Value = serde_json::from_slice(snapshot).ok()?;
    let map = value.get("network").unwrap_or(&value).as_object()?;
    Some(
        map.iter()
            .filter(|(_, host_port)| !host_port.is_null())
            .map(|(port, _)| port.to_ascii_lowercase())
            .collect(),
    )
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// §5.6.
pub fn evaluate(inputs: &ContractInputs) -> NetworkContract {
    let addon = inputs.environment == HOME_ASSISTANT_ADDON;
    let mode = if inputs.hls_proxy { "proxy" } else { "direct" };
    let mut expected = inputs.expected;
    if inputs.hls_proxy {
        expected.hls = None;
    }
    let mut warnings = Vec::new();
    let mut blocking = Vec::new();
    if let Some(host) = inputs.request_host.as_deref() {
        let listed = inputs
            .webrtc_additional_hosts
            .iter()
            .any(|known| known.eq_ignore_ascii_case(host));
        if inputs.expose_to_lan && !is_loopback(host) && !listed {
            warnings.push(format!(
                "WebRTC WHEP host '{host}' is not listed in WebRTC additional hosts; ICE may fail outside localhost."
            ));
        }
    }
    let any_expected = expected != ContractPorts::default();
    let active = addon || inputs.hls_proxy || any_expected;
    let strict = addon || any_expected;
    let mut status = "ok";
    if active {
        let pairs = [
            ("Direct API", expected.direct_api, inputs.actual.direct_api),
            ("RTSP", expected.rtsp, inputs.actual.rtsp),
            ("HLS", expected.hls, inputs.actual.hls),
            ("WebRTC", expected.webrtc, inputs.actual.webrtc),
            ("WebRTC UDP", expected.webrtc_udp, inputs.actual.webrtc_udp),
        ];
        for (label, wanted, actual) in pairs {
            if label == "Direct API" && addon && inputs.behind_base_path {
                continue;
            }
            let (Some(wanted), Some(actual)) = (wanted, actual) else {
                continue;
            };
            if wanted == actual {
                continue;
            }
            let whose = if addon { "add-on" } else { "streaming" };
            let warning = format!(
                "{label} active port {actual} does not match expected {whose} port {wanted}."
            );
            if strict || (label == "HLS" && inputs.fail_on_hls_mismatch) {
                blocking.push(warning.clone());
            }
            warnings.push(warning);
            status = "port_mismatch";
        }
        if let (true, Some(published), Some(udp)) =
            (addon, &inputs.published_ports, inputs.actual.webrtc_udp)
        {
            if !published.is_empty() && !published.contains(&format!("{udp}/udp")) {
                warnings.push(format!(
                    "WebRTC UDP port {udp}/udp is not published by the Home Assistant add-on; HLS proxy playback is unaffected, but low latency WebRTC media may fail."
                ));
            }
        }
        if inputs.hls_proxy && inputs.request_host.is_none() {
            let refusal = "HLS media proxy is unavailable because the request host is missing.";
            warnings.push(refusal.into());
            blocking.push(refusal.into());
            status = "proxy_unavailable";
        }
        if addon && !inputs.hls_proxy {
            warnings.push(
                "Home Assistant add-on HLS should use the Toposync API proxy; direct HLS is for advanced diagnostics."
                    .into(),
            );
            if status == "ok" {
                status = "proxy_required";
            }
        }
    } else {
        status = "not_applicable";
    }
    NetworkContract {
        environment: inputs.environment.clone(),
        mode,
        public_hls_mode: mode,
        status,
        active,
        strict,
        request_host: inputs.request_host.clone(),
        expected_ports: expected,
        actual_ports: inputs.actual,
        published_ports: inputs.published_ports.clone(),
        webrtc_additional_hosts: inputs.webrtc_additional_hosts.clone(),
        warnings,
        blocking_errors: blocking,
    }
}

/// Mentions WebRTC (or its WHEP signalling or ICE): such warnings concern WebRTC players only.
pub fn is_webrtc_related(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("webrtc")
        || lower.contains("whep")
        || lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word == "ice")
}

/// Concerns HLS (or its media proxy).
pub fn is_hls_related(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("hls") || lower.contains("media proxy")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(rtsp: u16, hls: u16, webrtc: u16, udp: u16) -> ContractPorts {
        ContractPorts {
            direct_api: Some(8100),
            rtsp: Some(rtsp),
            hls: Some(hls),
            webrtc: Some(webrtc),
            webrtc_udp: Some(udp),
            mediamtx_api: Some(9997),
        }
    }

    fn addon() -> ContractInputs {
        ContractInputs {
            environment: HOME_ASSISTANT_ADDON.into(),
            hls_proxy: true,
            expected: ContractPorts {
                rtsp: Some(8554),
                webrtc_udp: Some(18762),
                ..ContractPorts::default()
            },
            actual: ports(8554, 8888, 8889, 18762),
            request_host: Some("homeassistant.local".into()),
            behind_base_path: true,
            published_ports: Some(vec!["8554/tcp".into(), "18762/udp".into()]),
            ..ContractInputs::default()
        }
    }

    #[test]
    fn the_contract_by_case() {
        struct Case {
            name: &'static str,
            inputs: ContractInputs,
            status: &'static str,
            warnings: Vec<&'static str>,
            blocking: Vec<&'static str>,
        }
        let generic = ContractInputs {
            environment: "generic".into(),
            actual: ports(8554, 8888, 8889, 18762),
            request_host: Some("127.0.0.1".into()),
            ..ContractInputs::default()
        };
        let cases = vec![
            Case {
                name: "add-on, ports as published",
                inputs: addon(),
                status: "ok",
                warnings: vec![],
                blocking: vec![],
            },
            Case {
                name: "add-on, RTSP moved off its published port",
                inputs: ContractInputs {
                    actual: ports(8555, 8888, 8889, 18762),
                    ..addon()
                },
                status: "port_mismatch",
                warnings: vec!["RTSP active port 8555 does not match expected add-on port 8554."],
                blocking: vec!["RTSP active port 8555 does not match expected add-on port 8554."],
            },
            Case {
                name: "add-on, WebRTC UDP not published",
                inputs: ContractInputs {
                    published_ports: Some(vec!["8554/tcp".into()]),
                    ..addon()
                },
                status: "ok",
                warnings: vec![
                    "WebRTC UDP port 18762/udp is not published by the Home Assistant add-on; HLS proxy playback is unaffected, but low latency WebRTC media may fail.",
                ],
                blocking: vec![],
            },
            Case {
                name: "add-on, direct HLS",
                inputs: ContractInputs {
                    hls_proxy: false,
                    ..addon()
                },
                status: "proxy_required",
                warnings: vec![
                    "Home Assistant add-on HLS should use the Toposync API proxy; direct HLS is for advanced diagnostics.",
                ],
                blocking: vec![],
            },
            Case {
                name: "proxy mode without a request host",
                inputs: ContractInputs {
                    hls_proxy: true,
                    request_host: None,
                    ..generic.clone()
                },
                status: "proxy_unavailable",
                warnings: vec![
                    "HLS media proxy is unavailable because the request host is missing.",
                ],
                blocking: vec![
                    "HLS media proxy is unavailable because the request host is missing.",
                ],
            },
            Case {
                name: "generic, direct, nothing expected",
                inputs: generic.clone(),
                status: "not_applicable",
                warnings: vec![],
                blocking: vec![],
            },
            Case {
                name: "generic, an expected HLS port in direct mode is strict",
                inputs: ContractInputs {
                    expected: ContractPorts {
                        hls: Some(8080),
                        ..ContractPorts::default()
                    },
                    ..generic.clone()
                },
                status: "port_mismatch",
                warnings: vec!["HLS active port 8888 does not match expected streaming port 8080."],
                blocking: vec!["HLS active port 8888 does not match expected streaming port 8080."],
            },
            Case {
                name: "proxy mode drops the HLS expectation",
                inputs: ContractInputs {
                    hls_proxy: true,
                    expected: ContractPorts {
                        hls: Some(8080),
                        ..ContractPorts::default()
                    },
                    ..generic.clone()
                },
                status: "ok",
                warnings: vec![],
                blocking: vec![],
            },
            Case {
                name: "LAN exposure with an unlisted host",
                inputs: ContractInputs {
                    expose_to_lan: true,
                    request_host: Some("nvr.lan".into()),
                    ..generic.clone()
                },
                status: "not_applicable",
                warnings: vec![
                    "WebRTC WHEP host 'nvr.lan' is not listed in WebRTC additional hosts; ICE may fail outside localhost.",
                ],
                blocking: vec![],
            },
        ];
        for case in cases {
            let contract = evaluate(&case.inputs);
            assert_eq!(contract.status, case.status, "{}", case.name);
            assert_eq!(contract.warnings, case.warnings, "{}", case.name);
            assert_eq!(contract.blocking_errors, case.blocking, "{}", case.name);
            assert_eq!(contract.mode, contract.public_hls_mode);
        }
        // Behind ingress the add-on's direct API port is not compared; without it, it is.
        let exposed = ContractInputs {
            expected: ContractPorts {
                direct_api: Some(8100),
                ..addon().expected
            },
            actual: ContractPorts {
                direct_api: Some(8123),
                ..addon().actual
            },
            ..addon()
        };
        assert_eq!(evaluate(&exposed).status, "ok");
        let direct = ContractInputs {
            behind_base_path: false,
            ..exposed
        };
        assert_eq!(
            evaluate(&direct).warnings,
            ["Direct API active port 8123 does not match expected add-on port 8100."]
        );
    }

    #[test]
    fn snapshots_hosts_and_topics() {
        assert_eq!(
            published_ports(
                br#"{"network": {"8554/tcp": 8554, "18762/UDP": 18762, "8889/tcp": null}}"#
            ),
            Some(vec!["18762/udp".to_string(), "8554/tcp".to_string()])
        );
        assert_eq!(published_ports(b"[1]"), None);
        assert_eq!(
            split_host("nvr.lan:8100"),
            (Some("nvr.lan".into()), Some(8100))
        );
        assert_eq!(split_host("[::1]:8100"), (Some("[::1]".into()), Some(8100)));
        assert_eq!(split_host(""), (None, None));
        assert!(is_loopback("[::1]") && is_loopback("localhost") && !is_loopback("nvr.lan"));
        assert!(is_webrtc_related("WebRTC WHEP host 'x' is not listed"));
        assert!(is_webrtc_related("ICE may fail") && !is_webrtc_related("the service's notice"));
        assert!(is_hls_related(
            "HLS media proxy is unavailable because the request host is missing."
        ));
    }
}
