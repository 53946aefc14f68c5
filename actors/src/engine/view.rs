//! `GET /engine/status` as the original answers it: the engine actor's status, the ports it shows
//! (the running engine's, else the preferred ones), the original's extra fields and test URLs.

use serde::Serialize;

use super::actor::EngineStatus;
use super::ports::EnginePorts;
use crate::model::settings::{MediaAuthMode, PreferredPorts, StreamingSettings};
use crate::network_contract::NetworkContract;

/// The running engine's ports, else the preferred ones (never `null`, as the original).
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ShownPorts {
    Running(EnginePorts),
    Preferred(PreferredPorts),
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestUrls {
    pub rtsp_url: String,
    pub hls_url: String,
    pub webrtc_url: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EngineStatusResponse {
    #[serde(flatten)]
    pub status: EngineStatus,
    pub ports: ShownPorts,
    pub metrics_enabled: bool,
    pub metrics_reachable: bool,
    /// Never null here: the contract is evaluated for every answer.
    pub network_contract: Option<NetworkContract>,
    /// Every MediaMTX this service runs is its child: nothing else to reclaim.
    pub orphan_pids: Vec<u32>,
    /// Ports fall back when taken (with a warning).
    pub port_policy: &'static str,
    pub port_blocking_errors: Vec<String>,
    pub urls: TestUrls,
}

impl EngineStatusResponse {
    /// `host` is where the URLs point (see `urls::advertised_host`).
    pub async fn build(
        status: EngineStatus,
        settings: &StreamingSettings,
        host: &str,
        network_contract: NetworkContract,
    ) -> EngineStatusResponse {
        let preferred = status.preferred_ports;
        let (rtsp, hls, webrtc) = match status.ports {
            Some(p) => (i64::from(p.rtsp), i64::from(p.hls), i64::from(p.webrtc)),
            None => (preferred.rtsp, preferred.hls, preferred.webrtc),
        };
        let metrics_enabled = settings.engine.metrics_enabled;
        let metrics_reachable = match status.ports.filter(|_| metrics_enabled) {
            Some(ports) => crate::net::http_client()
                .get(format!("http://127.0.0.1:{}/metrics", ports.metrics))
                .timeout(std::time::Duration::from_millis(500))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success()),
            None => false,
        };
        let path = status.test_path;
        // Signed mode serves HLS through this service's proxy, so that is the URL to show.
        let hls_url = if settings.engine.media_auth.mode == MediaAuthMode::SignedProxy {
            format!("/api/streams/media/hls/{path}/index.m3u8")
        } else {
            format!("http://{host}:{hls}/{path}/index.m3u8")
        };
        EngineStatusResponse {
            ports: status
                .ports
                .map_or(ShownPorts::Preferred(preferred), ShownPorts::Running),
            metrics_enabled,
            metrics_reachable,
            network_contract: Some(network_contract),
            orphan_pids: Vec::new(),
            port_policy: "flexible",
            port_blocking_errors: Vec::new(),
            urls: TestUrls {
                rtsp_url: format!("rtsp://{host}:{rtsp}/{path}"),
                hls_url,
                webrtc_url: format!("http://{host}:{webrtc}/{path}/whep"),
            },
            status,
        }
    }
}
