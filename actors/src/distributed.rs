//! Distributed mode's pure parts (docs/operations.md, "Two machines"): the settings document a
//! core hands one processing server, and the sync credentials the core accepts for it.
//!
//! The processing side stores what it is handed with its own id turned into `local`: every part
//! of this service already runs what is hosted `local`, so a processing server runs exactly its
//! share, and its document stays valid without the core's list of processing servers.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::model::error::{Loc, ModelError};
use crate::model::settings::StreamingSettings;

/// The `host_server_id` of what runs on this machine (and what every host field of the
/// processing side's document carries for "hosted here").
pub const LOCAL_SERVER_ID: &str = "local";

/// The part of `doc` processing server `server_id` needs: the transmissions, live views,
/// publications and pipelines it hosts, the cameras those use, and the shared engine,
/// ingest and stale policies. Never the core's credentials for processing servers. Secrets of
/// what it hosts stay in (a processing engine enforces output auth and pulls cameras).
pub fn share_for(
    doc: &StreamingSettings,
    server_id: &str,
) -> Result<StreamingSettings, ModelError> {
    let server_id = crate::model::transmission::normalize_server_id(server_id);
    if !doc.is_known_host(&server_id) {
        return Err(ModelError::BadRequest(format!(
            "Unknown host_server_id: {server_id}"
        )));
    }
    let mut share = doc.clone();
    // Its own entry, without the credentials the core uses to reach it, keeps the share valid.
    share.processing_servers.retain(|s| s.id == server_id);
    for server in &mut share.processing_servers {
        server.username = None;
        server.password = None;
    }
    share
        .transmissions
        .retain(|t| t.host_server_id == server_id);
    share
        .camera_live_views
        .retain(|v| v.host_server_id == server_id);
    share.publications.retain(|p| p.host_server_id == server_id);
    share
        .pipelines
        .retain(|p| p.processing_server_id == server_id);
    let mut cameras: BTreeSet<String> = share
        .publications
        .iter()
        .filter_map(|p| p.camera_id.clone())
        .collect();
    for pipeline in &share.pipelines {
        for node in &pipeline.graph.nodes {
            if let Some(camera) = node.text("camera_id") {
                cameras.insert(camera.to_string());
            }
        }
    }
    share.cameras.retain(|c| cameras.contains(&c.id));
    Ok(share)
}

/// What a processing server stores from its share: its own id becomes `local`.
pub fn adopt(mut share: StreamingSettings, server_id: &str) -> StreamingSettings {
    let here = |host: &mut String| {
        if host == server_id {
            *host = LOCAL_SERVER_ID.to_string();
        }
    };
    share.processing_servers.clear();
    share
        .transmissions
        .iter_mut()
        .for_each(|t| here(&mut t.host_server_id));
    share
        .camera_live_views
        .iter_mut()
        .for_each(|v| here(&mut v.host_server_id));
    share
        .publications
        .iter_mut()
        .for_each(|p| here(&mut p.host_server_id));
    share
        .pipelines
        .iter_mut()
        .for_each(|p| here(&mut p.processing_server_id));
    share
}

/// A share as received: a JSON object that is a valid settings document, every part of it
/// hosted on `server_id` (a core that answers anything else is not trusted with this server).
pub fn parse_share(body: &[u8], server_id: &str) -> Result<StreamingSettings, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| format!("Invalid JSON response: {err}"))?;
    if !value.is_object() {
        return Err("Invalid JSON payload: not an object".into());
    }
    let share = StreamingSettings::from_json(value, &Loc::body())
        .map_err(|err| format!("Invalid settings payload: {err}"))?;
    let foreign = share
        .transmissions
        .iter()
        .map(|t| &t.host_server_id)
        .chain(share.camera_live_views.iter().map(|v| &v.host_server_id))
        .chain(share.publications.iter().map(|p| &p.host_server_id))
        .chain(share.pipelines.iter().map(|p| &p.processing_server_id))
        .find(|host| host.as_str() != server_id);
    match foreign {
        Some(host) => Err(format!(
            "Invalid settings payload: it names host_server_id '{host}', not '{server_id}'"
        )),
        None => Ok(adopt(share, server_id)),
    }
}

/// The Basic credentials a core accepts from its processing servers, on the sync routes only
/// (`TOPOSYNC_STREAMING_SYNC_USERNAME` / `_PASSWORD`). Kept as digests, compared in constant time.
#[derive(Clone)]
pub struct SyncCredentials {
    username: [u8; 32],
    password: [u8; 32],
}

impl SyncCredentials {
    /// Both set and non-empty, or none.
    pub fn new(username: Option<&str>, password: Option<&str>) -> Option<SyncCredentials> {
        match (username, password) {
            (Some(user), Some(pass)) if !user.is_empty() && !pass.is_empty() => {
                Some(SyncCredentials {
                    username: Sha256::digest(user.as_bytes()).into(),
                    password: Sha256::digest(pass.as_bytes()).into(),
                })
            }
            _ => None,
        }
    }

    pub fn matches(&self, username: &str, password: &str) -> bool {
        let user: [u8; 32] = Sha256::digest(username.as_bytes()).into();
        let pass: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        // Both compared whatever the first says, so the time tells nothing.
        let diff = self
            .username
            .iter()
            .zip(&user)
            .chain(self.password.iter().zip(&pass))
            .fold(0u8, |diff, (a, b)| diff | (a ^ b));
        diff == 0
    }
}

impl std::fmt::Debug for SyncCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncCredentials(..)")
    }
}

/// The processing server a remote transmission lives on, reachable over HTTP (spec §5.7's
/// refusals: unknown, not `http`, no URL). `what` ends the not-`http` message.
pub fn remote_server<'a>(
    doc: &'a StreamingSettings,
    host_server_id: &str,
    what: &str,
) -> Result<&'a crate::model::settings::ProcessingServer, ModelError> {
    let server = doc
        .processing_servers
        .iter()
        .find(|s| s.id == host_server_id)
        .ok_or_else(|| {
            ModelError::BadRequest(format!("Unknown host_server_id: {host_server_id}"))
        })?;
    if server.kind != "http" {
        return Err(ModelError::BadRequest(format!(
            "host_server_id '{host_server_id}' does not support {what}."
        )));
    }
    if server.url.trim().is_empty() {
        return Err(ModelError::BadRequest(format!(
            "host_server_id '{host_server_id}' has an empty URL."
        )));
    }
    Ok(server)
}

/// A processing server's `/urls` answer as the core hands it out (spec §5.7): absolute URLs
/// point at the processing server's host (their ports kept), and its relative media-proxy
/// paths (signed HLS, MSE, JSMpeg) become absolute URLs of the processing server itself, which
/// signed them and is the one that can serve them (docs/api.md, "Distributed mode").
pub fn remote_urls(
    mut urls: crate::urls::UrlsResponse,
    server_id: &str,
    server_url: &url::Url,
) -> crate::urls::UrlsResponse {
    let host = server_url.host_str().unwrap_or_default().to_string();
    let origin = server_url.origin().ascii_serialization();
    let mut returned_localhost = false;
    for output in &mut urls.outputs {
        if output.url.starts_with('/') && !output.url.starts_with("//") {
            output.url = format!("{origin}{}", output.url);
        } else if let Ok(mut absolute) = url::Url::parse(&output.url) {
            returned_localhost |= matches!(absolute.host_str(), Some("127.0.0.1" | "localhost"));
            if absolute.set_host(Some(&host)).is_ok() {
                output.url = absolute.to_string();
            }
        }
    }
    urls.warnings
        .push(format!("Resolved via processing server '{server_id}'."));
    urls.warnings
        .push(format!("URLs normalized to host '{host}'."));
    if returned_localhost {
        urls.warnings.push(
            "Processing engine returned a localhost URL. If you need LAN access, enable \
             expose_to_lan on that processing server."
                .into(),
        );
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn core() -> StreamingSettings {
        StreamingSettings::from_json(
            json!({
                "processing_servers": [{"id": "gpu", "name": "GPU box", "url": "http://gpu:8100",
                    "username": "core", "password": "server-secret"}],
                "cameras": [
                    {"id": "porch", "sources": [{"id": "main", "origin": {"rtsp_url": "rtsp://cam/1", "stream_password": "cam-secret"}}]},
                    {"id": "yard", "sources": [{"id": "main", "origin": {"rtsp_url": "rtsp://cam/2"}}]}
                ],
                "transmissions": [
                    {"id": "remote", "name": "r", "path": "remote", "host_server_id": "gpu"},
                    {"id": "here", "name": "h", "path": "here"}
                ],
                "pipelines": [{"name": "p", "processing_server_id": "gpu", "graph": {"nodes": [
                    {"id": "source", "operator": "camera.source", "config": {"camera_id": "porch", "source_id": "main"}},
                    {"id": "stream", "operator": "stream.publish_video", "config": {"transmission_id": "remote"}}
                ], "edges": [{"from": {"node": "source", "port": "out"}, "to": {"node": "stream", "port": "in"}}]}}]
            }),
            &Loc::body(),
        )
        .unwrap()
    }

    #[test]
    fn a_share_holds_what_the_server_hosts_and_the_cameras_it_pulls() {
        let share = share_for(&core(), " GPU ").unwrap();
        let ids: Vec<_> = share.transmissions.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["remote"]);
        assert_eq!(share.pipelines.len(), 1);
        let cameras: Vec<_> = share.cameras.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(cameras, ["porch"]);
        assert_eq!(share.processing_servers.len(), 1);
        assert_eq!(
            share.processing_servers[0].password, None,
            "the core's credentials stay home"
        );
        let text = serde_json::to_string(&share).unwrap();
        assert!(
            text.contains("cam-secret"),
            "the processing side pulls the camera"
        );
        assert!(!text.contains("server-secret"));
        assert!(
            matches!(share_for(&core(), "nas"), Err(ModelError::BadRequest(m)) if m == "Unknown host_server_id: nas")
        );
    }

    #[test]
    fn the_processing_side_stores_its_share_as_local() {
        let body = serde_json::to_vec(&share_for(&core(), "gpu").unwrap()).unwrap();
        let adopted = parse_share(&body, "gpu").unwrap();
        assert_eq!(adopted.transmissions[0].host_server_id, "local");
        assert_eq!(adopted.pipelines[0].processing_server_id, "local");
        adopted.validate(&Loc::body()).unwrap();
        assert!(adopted.processing_servers.is_empty());
        // Another server's share, garbage, or not an object: refused.
        assert!(
            parse_share(&body, "nas")
                .unwrap_err()
                .contains("host_server_id 'gpu'")
        );
        assert!(
            parse_share(b"<html>", "gpu")
                .unwrap_err()
                .starts_with("Invalid JSON response")
        );
        assert!(
            parse_share(b"[1]", "gpu")
                .unwrap_err()
                .starts_with("Invalid JSON payload")
        );
        // A publication for the core itself would have this server reconcile it: refused too.
        let mut share: serde_json::Value = serde_json::from_slice(&body).unwrap();
        share["publications"] = json!([{"id": "camera:porch:main", "camera_id": "porch",
            "camera_source_id": "main", "host_server_id": "local"}]);
        let body = serde_json::to_vec(&share).unwrap();
        assert!(
            parse_share(&body, "gpu")
                .unwrap_err()
                .contains("host_server_id 'local'")
        );
    }

    #[test]
    fn sync_credentials_need_both_parts() {
        let credentials = SyncCredentials::new(Some("core"), Some("pw")).unwrap();
        assert!(credentials.matches("core", "pw"));
        assert!(!credentials.matches("core", "pW"));
        assert!(!credentials.matches("admin", "pw"));
        assert!(SyncCredentials::new(Some("core"), Some("")).is_none());
        assert!(SyncCredentials::new(None, Some("pw")).is_none());
        assert_eq!(format!("{credentials:?}"), "SyncCredentials(..)");
    }

    #[test]
    fn remote_urls_point_at_the_processing_server() {
        let answer: crate::urls::UrlsResponse = serde_json::from_value(json!({
            "transmission_id": "remote", "engine_running": true, "warnings": [], "hls_warnings": [],
            "webrtc_warnings": [], "blocking_errors": [], "network_contract": null,
            "public_base_path": "/", "media_url_origin": null,
            "outputs": [
                {"output_id": "main", "protocol": "rtsp", "resolved_engine_path": "remote",
                 "url": "rtsp://127.0.0.1:8554/remote", "requires_auth": false, "auth_username": null,
                 "media_auth_type": "none", "quality_profile_id": null, "resolution": null,
                 "fps_limit": null, "bitrate_kbps": null, "latency_profile": "normal",
                 "content_rect": {"x": 0.0, "y": 0.0, "width": 1.0, "height": 1.0},
                 "url_expires_at_unix": null, "renew_after_unix": null},
                {"output_id": "main", "protocol": "jsmpeg", "resolved_engine_path": "remote",
                 "url": "/api/streams/media/jsmpeg/remote/ws?media_token=T", "requires_auth": false,
                 "auth_username": null, "media_auth_type": "signed_url", "quality_profile_id": null,
                 "resolution": null, "fps_limit": null, "bitrate_kbps": null,
                 "latency_profile": "normal",
                 "content_rect": {"x": 0.0, "y": 0.0, "width": 1.0, "height": 1.0},
                 "url_expires_at_unix": 1.0, "renew_after_unix": 1.0}
            ]
        }))
        .unwrap();
        let server = url::Url::parse("http://gpu.lan:8100").unwrap();
        let urls = remote_urls(answer, "gpu", &server);
        assert_eq!(urls.outputs[0].url, "rtsp://gpu.lan:8554/remote");
        assert_eq!(
            urls.outputs[1].url,
            "http://gpu.lan:8100/api/streams/media/jsmpeg/remote/ws?media_token=T"
        );
        assert_eq!(
            urls.warnings,
            [
                "Resolved via processing server 'gpu'.",
                "URLs normalized to host 'gpu.lan'.",
                "Processing engine returned a localhost URL. If you need LAN access, enable expose_to_lan on that processing server."
            ]
        );
    }
}
