//! Renders `mediamtx.yml` from settings, as pure data serialized with a YAML library.

use std::net::IpAddr;

use serde::Serialize;
use serde::ser::SerializeMap;

use super::credentials::{Credentials, PublishSecret};
use super::ports::EnginePorts;
use super::relays::PathSources;
use crate::model::settings::{EngineSettings, MediaAuthMode, StreamingSettings};

/// Always served, so a user can check the engine with a test publisher.
pub const TEST_PATH: &str = "test";
const LOCALHOST_IPS: [&str; 2] = ["127.0.0.1", "::1"];

/// One engine path: who may publish (this service, from localhost) and who may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    pub path: String,
    pub publish: Credentials,
    /// `None`: anyone may read.
    pub read: Option<Credentials>,
}

/// WebRTC knobs for containers/add-ons, from `TOPOSYNC_STREAMING_WEBRTC_*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebrtcEnv {
    pub additional_hosts: Vec<String>,
    pub local_udp_address: Option<String>,
    pub local_tcp_address: Option<String>,
}

impl WebrtcEnv {
    pub fn from_env() -> WebrtcEnv {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        WebrtcEnv {
            additional_hosts: var("TOPOSYNC_STREAMING_WEBRTC_ADDITIONAL_HOSTS")
                .map(|v| {
                    v.split([',', ';'])
                        .map(str::trim)
                        .filter(|h| !h.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            local_udp_address: var("TOPOSYNC_STREAMING_WEBRTC_LOCAL_UDP_ADDRESS"),
            local_tcp_address: var("TOPOSYNC_STREAMING_WEBRTC_LOCAL_TCP_ADDRESS"),
        }
    }

    /// The settings' WebRTC additional hosts, then this environment's, without repeats (names
    /// compared without case).
    pub fn additional_hosts(&self, engine: &EngineSettings) -> Vec<String> {
        let mut hosts = engine.webrtc_additional_hosts.clone();
        for host in &self.additional_hosts {
            if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
                hosts.push(host.clone());
            }
        }
        hosts
    }
}

/// The engine paths of this host: `test`, then every enabled output of every enabled local
/// transmission (a transmission without enabled outputs keeps its own path). Read credentials
/// come from the first output of a path that enforces them.
pub fn path_rules(settings: &StreamingSettings, secret: &PublishSecret) -> Vec<PathRule> {
    let mut rules: Vec<PathRule> = Vec::new();
    let mut add = |path: String, read: Option<Credentials>| match rules
        .iter_mut()
        .find(|rule| rule.path == path)
    {
        Some(rule) => {
            if rule.read.is_none() {
                rule.read = read;
            }
        }
        None => rules.push(PathRule {
            publish: secret.credentials_for(&path),
            path,
            read,
        }),
    };
    add(TEST_PATH.to_string(), None);
    for transmission in settings
        .transmissions
        .iter()
        .filter(|t| t.enabled && t.host_server_id == "local")
    {
        if transmission.enabled_outputs().next().is_none() {
            add(transmission.path.clone(), None);
        }
        for output in transmission.enabled_outputs() {
            let read = output.credentials().map(|(user, pass)| Credentials {
                user: user.into(),
                pass: pass.into(),
            });
            add(transmission.engine_path(output), read);
        }
    }
    rules
}

pub fn bind_host(engine: &EngineSettings) -> IpAddr {
    if engine.expose_to_lan {
        IpAddr::from([0, 0, 0, 0])
    } else {
        IpAddr::from([127, 0, 0, 1])
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MediaMtxConfig<'a> {
    log_level: &'static str,
    log_destinations: [&'static str; 1],
    auth_method: &'static str,
    auth_internal_users: Vec<AuthUser>,
    api: bool,
    api_address: String,
    api_allow_origins: [&'static str; 1],
    metrics: bool,
    metrics_address: String,
    pprof: bool,
    rtsp: bool,
    rtsp_address: String,
    rtp_address: String,
    rtcp_address: String,
    rtsp_transports: [&'static str; 2],
    rtmp: bool,
    srt: bool,
    playback: bool,
    hls: bool,
    hls_address: String,
    hls_allow_origins: [&'static str; 1],
    hls_variant: &'static str,
    hls_muxer_close_after: &'static str,
    webrtc: bool,
    webrtc_address: String,
    webrtc_allow_origins: [&'static str; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    webrtc_additional_hosts: Vec<String>,
    #[serde(rename = "webrtcLocalUDPAddress")]
    webrtc_local_udp_address: String,
    #[serde(
        rename = "webrtcLocalTCPAddress",
        skip_serializing_if = "Option::is_none"
    )]
    webrtc_local_tcp_address: Option<String>,
    #[serde(rename = "webrtcICEServers2", skip_serializing_if = "Vec::is_empty")]
    webrtc_ice_servers2: Vec<IceServer>,
    paths: Paths<'a>,
}

#[derive(Serialize)]
pub struct AuthUser {
    user: String,
    pass: String,
    ips: Vec<&'static str>,
    permissions: Vec<Permission>,
}

#[derive(Serialize)]
pub struct Permission {
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

#[derive(Serialize)]
struct IceServer {
    url: String,
}

/// Paths in order, each with its [`PathSetup::conf`], then `all_others` (defaults: a reader of
/// any other path is refused at once).
struct Paths<'a> {
    names: Vec<String>,
    setup: PathSetup<'a>,
}

impl Serialize for Paths<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.names.len() + 1))?;
        for path in &self.names {
            map.serialize_entry(path, &self.setup.conf(path))?;
        }
        map.serialize_entry("all_others", &serde_json::Map::new())?;
        map.end()
    }
}

/// How long MediaMTX keeps pulling a relayed camera after the path's last reader left: about
/// as long as an encoding publisher outlives its last viewer (hook, debounce), so a player that
/// reconnects at once finds the stream still there.
pub const RELAY_CLOSE_AFTER: &str = "5s";

/// What decides each path's configuration: the `runOnDemand` hook command, and the paths the
/// engine fills by pulling a camera itself.
#[derive(Clone, Copy)]
pub struct PathSetup<'a> {
    pub on_demand: Option<&'a str>,
    pub relays: &'a PathSources,
}

impl PathSetup<'_> {
    /// The camera URL the engine pulls into `path`, if it relays one.
    pub fn relay(&self, path: &str) -> Option<&str> {
        self.relays
            .get(path)
            .map(String::as_str)
            .filter(|_| path != TEST_PATH)
    }

    /// One path's configuration. A relayed path pulls its camera over TCP while it has readers
    /// (MediaMTX holds the first reader until the camera answers). Any other output path holds
    /// its early readers for the publisher through the hook command (see `hooks`); the test
    /// path takes whoever publishes.
    pub fn conf(&self, path: &str) -> serde_json::Map<String, serde_json::Value> {
        let mut conf = serde_json::Map::new();
        if let Some(url) = self.relay(path) {
            conf.insert("source".into(), url.into());
            conf.insert("sourceOnDemand".into(), true.into());
            conf.insert(
                "sourceOnDemandStartTimeout".into(),
                super::hooks::START_TIMEOUT.into(),
            );
            conf.insert("sourceOnDemandCloseAfter".into(), RELAY_CLOSE_AFTER.into());
            conf.insert("rtspTransport".into(), "tcp".into());
            return conf;
        }
        if let Some(command) = self.on_demand.filter(|_| path != TEST_PATH) {
            conf.insert("runOnDemand".into(), command.into());
            conf.insert(
                "runOnDemandStartTimeout".into(),
                super::hooks::START_TIMEOUT.into(),
            );
            conf.insert(
                "runOnDemandCloseAfter".into(),
                super::hooks::CLOSE_AFTER.into(),
            );
        }
        conf
    }
}

/// How long MediaMTX keeps an HLS muxer after its last request. The muxer counts as the path's
/// reader, so this bounds how long the encoder outlives the last HLS viewer (plus the 1 s viewer
/// poll and the 3 s stop debounce: about 9 s). The original's 60 s kept it a minute.
pub const HLS_MUXER_CLOSE_AFTER: &str = "5s";

/// The engine's internal users: the local API user, then one user per distinct credential with
/// its read/playback and publish grants. Sent whole to `/v3/config/global/patch` on a change.
pub fn auth_users(rules: &[PathRule]) -> Vec<AuthUser> {
    let mut users = vec![AuthUser {
        user: "any".into(),
        pass: String::new(),
        ips: LOCALHOST_IPS.to_vec(),
        permissions: ["api", "metrics", "pprof"]
            .into_iter()
            .map(|action| Permission { action, path: None })
            .collect(),
    }];
    let mut user_for = |user: &str, pass: &str, ips: Vec<&'static str>| -> usize {
        match users
            .iter()
            .position(|u| u.user == user && u.pass == pass && u.ips == ips)
        {
            Some(index) => index,
            None => {
                users.push(AuthUser {
                    user: user.into(),
                    pass: pass.into(),
                    ips,
                    permissions: Vec::new(),
                });
                users.len() - 1
            }
        }
    };
    let mut grants: Vec<(usize, &'static str, String)> = Vec::new();
    for rule in rules {
        let reader = match &rule.read {
            Some(creds) => user_for(&creds.user, &creds.pass, Vec::new()),
            None => user_for("any", "", Vec::new()),
        };
        grants.push((reader, "read", rule.path.clone()));
        grants.push((reader, "playback", rule.path.clone()));
        let publisher = user_for(
            &rule.publish.user,
            &rule.publish.pass,
            LOCALHOST_IPS.to_vec(),
        );
        grants.push((publisher, "publish", rule.path.clone()));
    }
    for (user, action, path) in grants {
        users[user].permissions.push(Permission {
            action,
            path: Some(path),
        });
    }
    users
}

pub fn render(
    engine: &EngineSettings,
    ports: &EnginePorts,
    rules: &[PathRule],
    env: &WebrtcEnv,
    setup: PathSetup<'_>,
) -> String {
    let bind = bind_host(engine);
    let address = |host: IpAddr, port: u16| {
        if host.is_unspecified() {
            format!(":{port}")
        } else {
            format!("{host}:{port}")
        }
    };
    // With signed media URLs the service proxies HLS, so the engine's HLS stays on loopback.
    let hls_host = match engine.media_auth.mode {
        MediaAuthMode::SignedProxy => IpAddr::from([127, 0, 0, 1]),
        MediaAuthMode::Open => bind,
    };
    let users = auth_users(rules);
    let additional_hosts = env.additional_hosts(engine);
    let config = MediaMtxConfig {
        log_level: "info",
        log_destinations: ["stdout"],
        auth_method: "internal",
        auth_internal_users: users,
        api: true,
        api_address: address(IpAddr::from([127, 0, 0, 1]), ports.api),
        api_allow_origins: ["*"],
        metrics: engine.metrics_enabled,
        metrics_address: address(IpAddr::from([127, 0, 0, 1]), ports.metrics),
        pprof: false,
        rtsp: true,
        rtsp_address: address(bind, ports.rtsp),
        rtp_address: address(bind, ports.rtp),
        rtcp_address: address(bind, ports.rtcp),
        rtsp_transports: ["udp", "tcp"],
        rtmp: false,
        srt: false,
        playback: false,
        hls: true,
        hls_address: address(hls_host, ports.hls),
        hls_allow_origins: ["*"],
        hls_variant: "mpegts",
        hls_muxer_close_after: HLS_MUXER_CLOSE_AFTER,
        webrtc: true,
        webrtc_address: address(bind, ports.webrtc),
        webrtc_allow_origins: ["*"],
        webrtc_additional_hosts: additional_hosts,
        webrtc_local_udp_address: env
            .local_udp_address
            .clone()
            .unwrap_or_else(|| format!(":{}", ports.webrtc_udp)),
        webrtc_local_tcp_address: env.local_tcp_address.clone(),
        webrtc_ice_servers2: engine
            .webrtc_ice_servers
            .iter()
            .map(|url| IceServer { url: url.clone() })
            .collect(),
        paths: Paths {
            names: rules.iter().map(|r| r.path.clone()).collect(),
            setup,
        },
    };
    serde_norway::to_string(&config).expect("the engine config serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::error::Loc;
    use serde_norway::Value;

    const REFERENCE: &str = include_str!("../../tests/fixtures/mediamtx-v1.16.2/mediamtx.yml");

    fn ports() -> EnginePorts {
        EnginePorts {
            rtsp: 8554,
            hls: 8888,
            webrtc: 8889,
            webrtc_udp: 18762,
            api: 9997,
            metrics: 9998,
            rtp: 50000,
            rtcp: 50001,
        }
    }

    fn settings(value: serde_json::Value) -> StreamingSettings {
        StreamingSettings::from_json(value, &Loc::body()).unwrap()
    }

    fn rendered(settings: &StreamingSettings, env: &WebrtcEnv) -> Value {
        let secret = PublishSecret::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        let text = render(
            &settings.engine,
            &ports(),
            &path_rules(settings, &secret),
            env,
            PathSetup {
                on_demand: Some("'/usr/bin/toposync-streaming' engine-hook"),
                relays: &PathSources::from([(
                    "door-c".to_string(),
                    "rtsp://admin:pw@10.0.0.5/main".to_string(),
                )]),
            },
        );
        serde_norway::from_str(&text).unwrap()
    }

    fn compatible(ours: &Value, reference: &Value) -> bool {
        matches!(
            (ours, reference),
            (_, Value::Null)
                | (Value::Bool(_), Value::Bool(_))
                | (Value::Number(_), Value::Number(_))
                | (Value::String(_), Value::String(_))
                | (Value::Sequence(_), Value::Sequence(_))
                | (Value::Mapping(_), Value::Mapping(_))
        )
    }

    /// Every key we emit exists in the reference config of the pinned version, with a
    /// compatible type; users' and paths' keys are checked against their reference entries.
    fn assert_keys_known(ours: &Value, reference: &Value) {
        let reference_users = &reference["authInternalUsers"][0];
        let path_defaults = &reference["pathDefaults"];
        for (key, value) in ours.as_mapping().unwrap() {
            let key = key.as_str().unwrap();
            let expected = reference
                .get(key)
                .unwrap_or_else(|| panic!("unknown key {key}"));
            assert!(
                compatible(value, expected),
                "{key}: {value:?} vs reference {expected:?}"
            );
        }
        for user in ours["authInternalUsers"].as_sequence().unwrap() {
            for (key, value) in user.as_mapping().unwrap() {
                let expected = reference_users
                    .get(key)
                    .unwrap_or_else(|| panic!("unknown user key {key:?}"));
                assert!(compatible(value, expected), "user {key:?}");
            }
            for permission in user["permissions"].as_sequence().unwrap() {
                for key in permission.as_mapping().unwrap().keys() {
                    assert!(
                        reference_users["permissions"][0].get(key).is_some(),
                        "permission key {key:?}"
                    );
                }
            }
        }
        for (_, path) in ours["paths"].as_mapping().unwrap() {
            for key in path.as_mapping().unwrap().keys() {
                assert!(path_defaults.get(key).is_some(), "path key {key:?}");
            }
        }
    }

    #[test]
    fn every_emitted_key_exists_in_the_reference() {
        let reference: Value = serde_norway::from_str(REFERENCE).unwrap();
        let s = settings(serde_json::json!({
            "engine": {"expose_to_lan": true, "webrtc_ice_servers": ["stun:stun.example:3478"],
                        "webrtc_additional_hosts": ["nas.lan"]},
            "transmissions": [{"id": "t", "path": "door", "outputs": [
                {"id": "a", "protocol": "rtsp", "authentication": {"enabled": true, "username": "v", "password": "p"}},
                {"id": "b", "protocol": "hls"}, {"id": "c", "protocol": "hls"}]}]
        }));
        let env = WebrtcEnv {
            local_tcp_address: Some(":18763".into()),
            ..WebrtcEnv::default()
        };
        assert_keys_known(&rendered(&s, &env), &reference);
    }

    #[test]
    fn security_posture_and_paths() {
        let s = settings(serde_json::json!({
            "transmissions": [
                {"id": "t", "path": "door", "outputs": [
                    {"id": "a", "protocol": "rtsp", "authentication": {"enabled": true, "username": "viewer", "password": "pw"}},
                    {"id": "b", "protocol": "hls"}, {"id": "c", "protocol": "hls"}]},
                {"id": "off", "path": "off", "enabled": false}]
        }));
        let config = rendered(&s, &WebrtcEnv::default());
        assert_eq!(config["authMethod"], "internal");
        assert_eq!(config["rtspAddress"], "127.0.0.1:8554");
        assert_eq!(config["apiAddress"], "127.0.0.1:9997");
        assert_eq!(config["hlsVariant"], "mpegts");
        assert_eq!(
            config["rtspTransports"],
            serde_norway::from_str::<Value>("[udp, tcp]").unwrap()
        );
        let paths: Vec<&str> = config["paths"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            vec!["test", "door-a", "door-b", "door-c", "all_others"]
        );
        // Output paths hold early readers for the publisher; the test path and others do not.
        assert_eq!(
            config["paths"]["door-a"]["runOnDemand"],
            "'/usr/bin/toposync-streaming' engine-hook"
        );
        assert_eq!(config["paths"]["door-b"]["runOnDemandStartTimeout"], "10s");
        assert_eq!(config["paths"]["door-b"]["runOnDemandCloseAfter"], "1s");
        assert!(config["paths"]["test"].get("runOnDemand").is_none());
        assert!(config["paths"]["all_others"].get("runOnDemand").is_none());
        // A relayed path: the engine pulls the camera while someone reads, no hook, no publisher.
        let relayed = &config["paths"]["door-c"];
        assert_eq!(relayed["source"], "rtsp://admin:pw@10.0.0.5/main");
        assert_eq!(relayed["sourceOnDemand"], true);
        assert_eq!(relayed["sourceOnDemandCloseAfter"], RELAY_CLOSE_AFTER);
        assert_eq!(relayed["rtspTransport"], "tcp");
        assert!(relayed.get("runOnDemand").is_none());
        let users = config["authInternalUsers"].as_sequence().unwrap();
        let admin = &users[0];
        assert_eq!(
            admin["ips"],
            serde_norway::from_str::<Value>("['127.0.0.1', '::1']").unwrap()
        );
        let viewer = users.iter().find(|u| u["user"] == "viewer").unwrap();
        assert_eq!(viewer["pass"], "pw");
        let viewer_paths: Vec<&str> = viewer["permissions"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p["path"].as_str().unwrap())
            .collect();
        assert_eq!(viewer_paths, vec!["door-a", "door-a"]);
        for publisher in users
            .iter()
            .filter(|u| u["user"].as_str().unwrap().starts_with("pub_"))
        {
            assert_eq!(
                publisher["ips"], admin["ips"],
                "publishing only from localhost"
            );
            assert_eq!(publisher["permissions"].as_sequence().unwrap().len(), 1);
        }
    }

    #[test]
    fn lan_exposure_binds_everywhere_but_api_and_signed_hls_stay_local() {
        let s = settings(serde_json::json!({"engine": {"expose_to_lan": true}}));
        let config = rendered(&s, &WebrtcEnv::default());
        assert_eq!(config["rtspAddress"], ":8554");
        assert_eq!(config["webrtcAddress"], ":8889");
        assert_eq!(config["apiAddress"], "127.0.0.1:9997");
        assert_eq!(config["hlsAddress"], "127.0.0.1:8888");
        let open = settings(
            serde_json::json!({"engine": {"expose_to_lan": true, "media_auth": {"mode": "open"}}}),
        );
        assert_eq!(
            rendered(&open, &WebrtcEnv::default())["hlsAddress"],
            ":8888"
        );
    }

    #[test]
    fn webrtc_environment_knobs() {
        let s = settings(serde_json::json!({"engine": {"webrtc_additional_hosts": ["nas.lan"]}}));
        let env = WebrtcEnv {
            additional_hosts: vec!["NAS.lan".into(), "192.0.2.4".into()],
            local_udp_address: Some(":18762".into()),
            local_tcp_address: None,
        };
        let config = rendered(&s, &env);
        assert_eq!(
            config["webrtcAdditionalHosts"],
            serde_norway::from_str::<Value>("[nas.lan, 192.0.2.4]").unwrap()
        );
        assert_eq!(config["webrtcLocalUDPAddress"], ":18762");
        assert!(config.get("webrtcLocalTCPAddress").is_none());
    }
}
