//! `GET /mse/status` as the original's clients read it: the actor's status, whether go2rtc's API
//! answers, and the one-line summary the settings page shows (original §2.9).

use std::time::Duration;

use serde::Serialize;

use super::actor::SidecarStatus;

const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = SidecarSummary)]
pub struct Summary {
    pub summary_status: &'static str,
    pub summary_message: &'static str,
    pub summary_action: Option<&'static str>,
    pub technical_status: &'static str,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MseStatusResponse {
    #[serde(flatten)]
    pub status: SidecarStatus,
    pub api_reachable: bool,
    #[serde(flatten)]
    pub summary: Summary,
}

/// go2rtc answers its API below 500 within 1.5 s, as the original checked.
pub async fn api_reachable(api_port: u16) -> bool {
    crate::net::http_client()
        .get(format!("http://127.0.0.1:{api_port}/api/streams"))
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
        .is_ok_and(|r| r.status().as_u16() < 500)
}

/// The original's summary rules, first match wins.
pub fn summary(status: &SidecarStatus, engine_enabled: bool, api_reachable: bool) -> Summary {
    let summary = |summary_status, summary_message, summary_action, technical_status| Summary {
        summary_status,
        summary_message,
        summary_action,
        technical_status,
    };
    if !status.enabled {
        summary("working", "MSE sidecar is disabled.", None, "disabled")
    } else if !engine_enabled {
        summary(
            "action_required",
            "Action needed: MSE needs the streaming engine to be enabled.",
            Some("Enable the streaming engine before using MSE playback."),
            "engine_disabled",
        )
    } else if status.running && api_reachable {
        summary("working", "Working.", None, "running")
    } else if status.running {
        summary(
            "warming",
            "MSE sidecar is restarting, wait a few seconds.",
            None,
            "running_unreachable",
        )
    } else if status.last_error.is_some() {
        summary(
            "action_required",
            "Action needed: MSE sidecar is not running.",
            Some("Restart MSE or inspect the go2rtc log."),
            "stopped_error",
        )
    } else {
        summary("warming", "MSE sidecar is starting.", None, "stopped")
    }
}

/// The whole answer of `GET /mse/status`.
pub async fn response(status: SidecarStatus, engine_enabled: bool) -> MseStatusResponse {
    let api_reachable = match Some(status.api_port).filter(|_| status.running) {
        Some(port) => api_reachable(port).await,
        None => false,
    };
    MseStatusResponse {
        summary: summary(&status, engine_enabled, api_reachable),
        status,
        api_reachable,
    }
}
