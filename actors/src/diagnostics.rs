//! `GET /runtime/diagnostics` and `GET /runtime/diagnostic-snapshot` (original-api.md §6.5):
//! everything needed to tell why a stream does not play, in one JSON document a user can attach
//! to a bug report. Whatever goes in is scrubbed last: every string holding a URL becomes
//! `"[REDACTED_URL]"` (URLs carry hosts, credentials and media tokens), and keys that name a
//! secret are `"[REDACTED]"`, so no camera password, host, token or publish credential leaves.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::model::settings::StreamingSettings;

/// Keys whose values are never shown, whatever they hold.
const SECRET_KEYS: [&str; 6] = [
    "password",
    "secret",
    "token",
    "authorization",
    "cookie",
    "credential",
];

/// The parts the HTTP layer gathered from the actors, each already in its answer's shape.
pub struct Parts {
    pub now: f64,
    pub settings: std::sync::Arc<StreamingSettings>,
    pub engine: Value,
    pub engine_paths: Value,
    pub health: Value,
    pub outputs: Value,
    pub pipelines: Value,
    pub observability: Value,
    pub encoders: Value,
    pub actors: Value,
    pub events: Value,
    pub retained_events: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
struct PublicMedia<'a> {
    public_base_path: &'a Value,
    media_url_origin: &'a Value,
    hls_proxy_reachable: &'a Value,
    hls_playlist_rewrite_ok: bool,
}

/// `GET /runtime/diagnostics`.
pub fn diagnostics(parts: &Parts) -> Value {
    let media_auth = &parts.settings.engine.media_auth;
    let public_media = PublicMedia {
        public_base_path: &parts.health["public_base_path"],
        media_url_origin: &parts.health["media_url_origin"],
        hls_proxy_reachable: &parts.health["hls_proxy_reachable"],
        hls_playlist_rewrite_ok: true,
    };
    scrub(json!({
        "server_id": crate::model::transmission::local(),
        "quality_profiles": crate::model::publication::catalogue().profiles,
        "public_media": public_media,
        "engine": parts.engine,
        "media_auth": {
            "mode": media_auth.mode,
            "token_ttl_seconds": media_auth.token_ttl_seconds,
            "renew_margin_seconds": media_auth.renew_margin_seconds,
        },
        "camera_ingest_auth": Value::Null,
        "mediamtx": parts.engine_paths,
        "publisher": parts.encoders,
        "runtime_state": parts.health,
        "bridge": Value::Null,
        "source_health": {"sources": []},
        "playback_events": {
            "retention_seconds": crate::playback_events::RETENTION_SECONDS,
            "retained_count": parts.retained_events,
            "events": parts.events,
        },
    }))
}

/// `GET /runtime/diagnostic-snapshot`: the diagnostics and every runtime view, with the actor
/// tree.
pub fn snapshot(parts: &Parts) -> Value {
    scrub(json!({
        "generated_at_unix": parts.now,
        "server_id": crate::model::transmission::local(),
        "health": parts.health,
        "outputs": parts.outputs,
        "pipelines": parts.pipelines,
        "observability": parts.observability,
        "encoders": parts.encoders,
        "source_health": {"sources": []},
        "diagnostics": diagnostics(parts),
        "actors": parts.actors,
    }))
}

fn scrub(value: Value) -> Value {
    match value {
        Value::String(text) if text.contains("://") || text.contains("media_token=") => {
            Value::from("[REDACTED_URL]")
        }
        Value::Array(items) => Value::Array(items.into_iter().map(scrub).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let lower = key.to_lowercase();
                    let value = if SECRET_KEYS.iter().any(|k| lower.contains(k)) && !value.is_null()
                    {
                        Value::from("[REDACTED]")
                    } else {
                        scrub(value)
                    };
                    (key, value)
                })
                .collect::<Map<String, Value>>(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_secret_keys_never_leave() {
        let scrubbed = scrub(json!({
            "source": "rtsp://admin:pw@192.0.2.5/main",
            "nested": [{"publish_password": "x", "ok": 1, "media_token": null}],
            "path": "door",
        }));
        assert_eq!(
            scrubbed,
            json!({"source": "[REDACTED_URL]",
                   "nested": [{"publish_password": "[REDACTED]", "ok": 1, "media_token": null}],
                   "path": "door"})
        );
    }
}
