//! The go2rtc sidecar's config (`runtime/streaming/go2rtc/go2rtc.yaml`): its API on loopback, no
//! RTSP or WebRTC server of its own, and one stream per browser-compatible (HLS) output, read
//! from the engine's internal RTSP URL — never a camera URL or camera credentials.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::settings::StreamingSettings;
use crate::model::transmission::{Protocol, normalize_path_slug};

/// go2rtc modules the MSE proxy needs: its API and WebSocket, RTSP as a client, fMP4.
const MODULES: [&str; 4] = ["api", "ws", "rtsp", "mp4"];

#[derive(Serialize)]
struct App {
    modules: [&'static str; 4],
}

#[derive(Serialize)]
struct Log {
    level: &'static str,
    format: &'static str,
}

#[derive(Serialize)]
struct Api {
    listen: String,
    origin: &'static str,
}

#[derive(Serialize)]
struct Disabled {
    listen: &'static str,
}

#[derive(Serialize)]
struct Config<'a> {
    app: App,
    log: Log,
    api: Api,
    rtsp: Disabled,
    webrtc: Disabled,
    streams: &'a BTreeMap<String, String>,
}

/// The go2rtc stream name of an engine path (`mse-<path>`).
pub fn stream_name(engine_path: &str) -> String {
    format!("mse-{}", normalize_path_slug(engine_path, "stream"))
}

/// Stream name -> the engine's internal RTSP URL (read credentials when the output has them,
/// `#tcp` so go2rtc reads over TCP), for every enabled HLS output of every enabled local
/// transmission.
pub fn streams(settings: &StreamingSettings, engine_rtsp_port: u16) -> BTreeMap<String, String> {
    let mut streams = BTreeMap::new();
    for transmission in settings
        .transmissions
        .iter()
        .filter(|t| t.enabled && t.host_server_id == "local")
    {
        for output in transmission
            .enabled_outputs()
            .filter(|o| o.protocol == Protocol::Hls)
        {
            let path = transmission.engine_path(output);
            let userinfo = output
                .credentials()
                .map(|(user, pass)| format!("{user}:{pass}@"))
                .unwrap_or_default();
            streams.insert(
                stream_name(&path),
                format!("rtsp://{userinfo}127.0.0.1:{engine_rtsp_port}/{path}#tcp"),
            );
        }
    }
    streams
}

pub fn render(api_port: u16, streams: &BTreeMap<String, String>) -> String {
    let config = Config {
        app: App { modules: MODULES },
        log: Log {
            level: "info",
            format: "text",
        },
        api: Api {
            listen: format!("127.0.0.1:{api_port}"),
            origin: "*",
        },
        rtsp: Disabled { listen: "" },
        webrtc: Disabled { listen: "" },
        streams,
    };
    serde_norway::to_string(&config).expect("the go2rtc config serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn settings() -> StreamingSettings {
        serde_json::from_value(json!({
            "cameras": [{"id": "cam", "sources": [{"id": "main",
                "origin": {"rtsp_url": "rtsp://10.0.0.5/main", "stream_password": "camera-secret"}}]}],
            "transmissions": [
                {"id": "a", "path": "front-door", "outputs": [
                    {"id": "hls", "protocol": "hls",
                     "authentication": {"enabled": true, "username": "viewer", "password": "pw"}},
                    {"id": "rtsp", "protocol": "rtsp"}]},
                {"id": "b", "path": "off", "enabled": false, "outputs": [{"id": "hls", "protocol": "hls"}]},
                {"id": "c", "path": "remote", "host_server_id": "nas", "outputs": [{"id": "hls", "protocol": "hls"}]}
            ],
            "processing_servers": [{"id": "nas"}]
        }))
        .unwrap()
    }

    #[test]
    fn only_local_hls_outputs_through_the_engine() {
        let streams = streams(&settings(), 8554);
        assert_eq!(
            streams,
            BTreeMap::from([(
                "mse-front-door-hls".to_string(),
                "rtsp://viewer:pw@127.0.0.1:8554/front-door-hls#tcp".to_string()
            )])
        );
        let text = render(18764, &streams);
        assert!(
            !text.contains("camera-secret") && !text.contains("10.0.0.5"),
            "{text}"
        );
    }

    /// Checks `value` against the subset of JSON Schema that go2rtc's schema uses.
    fn check(schema: &Value, value: &Value, root: &Value, at: &str) -> Result<(), String> {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.trim_start_matches("#/definitions/");
            return check(&root["definitions"][name], value, root, at);
        }
        if let Some(options) = schema["anyOf"].as_array() {
            return options
                .iter()
                .any(|option| check(option, value, root, at).is_ok())
                .then_some(())
                .ok_or(format!("{at}: matches no anyOf option"));
        }
        let kind = match value {
            Value::Object(_) => "object",
            Value::Array(_) => "array",
            Value::String(_) => "string",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::Bool(_) => "boolean",
            Value::Null => "null",
        };
        if let Some(expected) = schema["type"].as_str() {
            let ok = expected == kind || (expected == "number" && kind == "integer");
            if !ok {
                return Err(format!("{at}: expected {expected}, found {kind}"));
            }
        }
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(value) {
                return Err(format!("{at}: {value} is not one of {allowed:?}"));
            }
        }
        if let Value::Array(items) = value {
            for (index, item) in items.iter().enumerate() {
                check(&schema["items"], item, root, &format!("{at}[{index}]"))?;
            }
        }
        if let Value::Object(fields) = value {
            for (key, field) in fields {
                let at = format!("{at}.{key}");
                match (&schema["properties"][key], &schema["additionalProperties"]) {
                    (Value::Null, Value::Bool(false)) => return Err(format!("{at}: not allowed")),
                    (Value::Null, Value::Object(_)) => {
                        check(&schema["additionalProperties"], field, root, &at)?
                    }
                    (Value::Null, _) => {}
                    (property, _) => check(property, field, root, &at)?,
                }
            }
        }
        Ok(())
    }

    #[test]
    fn the_rendered_config_follows_go2rtcs_schema() {
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/go2rtc-v1.9.14/schema.json"),
            )
            .unwrap(),
        )
        .unwrap();
        for streams in [streams(&settings(), 8554), BTreeMap::new()] {
            let text = render(18764, &streams);
            let config: Value = serde_norway::from_str(&text).unwrap();
            check(&schema, &config, &schema, "config")
                .unwrap_or_else(|err| panic!("{err}\n{text}"));
            assert_eq!(config["api"]["listen"], "127.0.0.1:18764");
        }
        // The checker does refuse what the schema refuses.
        let wrong = json!({"app": {"modules": ["streams"]}, "bogus": 1});
        assert!(check(&schema, &wrong, &schema, "config").is_err());
    }
}
