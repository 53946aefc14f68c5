//! The engine over HTTP: lifecycle, hot reload, supervision, install. MediaMTX cannot be
//! downloaded on test machines, so these run the TEST STAND-IN (`stand-ins/`) in its place; the
//! `real_engine` module runs the real binary when `TOPOSYNC_STREAMING_ENGINE_PATH` names one.

/// CPU time of a process from /proc, shared with the benchmarks.
#[path = "../benches/common/mod.rs"]
mod process_stats;
mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Service, eventually, is_alive};
use toposync_test_stand_ins::mediamtx_stand_in;

const PATIENCE: Duration = Duration::from_secs(20);

async fn with_stand_in(dir: &Path) -> Service {
    let stand_in = mediamtx_stand_in();
    isolated(Service::start_with(
        dir,
        &[("TOPOSYNC_STREAMING_ENGINE_PATH", &stand_in)],
    ))
    .await
}

/// Tests run in parallel, each with its own engine: give each its own preferred ports (fresh
/// ones from the OS) so two engines never race for the defaults.
async fn isolated(service: Service) -> Service {
    let free_tcp = || support::free_port();
    let free_udp = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ports = json!({"rtsp": free_tcp(), "hls": free_tcp(), "webrtc": free_tcp(), "webrtc_udp": free_udp,
                       "api": free_tcp(), "metrics": free_tcp()});
    let (status, body) = service
        .patch("/settings", &json!({"engine": {"preferred_ports": ports}}))
        .await;
    assert_eq!(status, 200, "{body}");
    service
}

async fn start_engine(service: &Service) -> Value {
    let (status, body) = service.post("/engine/start", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["running"], true, "{body}");
    assert_eq!(body["ready"], true, "{body}");
    body
}

/// A GET on the running engine's own API (`route` starts with `/v3/`).
async fn engine_api(service: &Service, route: &str) -> Value {
    let (_, status) = service.get("/engine/status").await;
    let api = status["ports"]["api"].as_u64().unwrap();
    service
        .http
        .get(format!("http://127.0.0.1:{api}{route}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The stand-in told to misbehave through one of its `STAND_IN_*` knobs.
async fn with_misbehaving_stand_in(dir: &Path, knob: &str, value: &str) -> Service {
    let stand_in = mediamtx_stand_in();
    isolated(Service::start_with(
        dir,
        &[
            ("TOPOSYNC_STREAMING_ENGINE_PATH", &stand_in),
            (knob, Path::new(value)),
        ],
    ))
    .await
}

/// Starting answers 503 with a detail that contains `expected`, and the engine does not run.
async fn start_fails(service: &Service, expected: &str) -> String {
    let (status, body) = service.post("/engine/start", &json!({})).await;
    assert_eq!(status, 503, "{body}");
    let detail = body["detail"].as_str().unwrap().to_string();
    assert!(detail.contains(expected), "{detail}");
    let (_, status) = service.get("/engine/status").await;
    assert_eq!(status["running"], false, "{status}");
    detail
}

/// The engine actor's node in the live actor tree.
async fn engine_node(service: &Service) -> Value {
    let (_, tree) = service.get("/runtime/actors").await;
    tree["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "engine")
        .cloned()
        .expect("an engine actor in the tree")
}

fn pid_of(status: &Value) -> u32 {
    status["pid"].as_u64().expect("a pid") as u32
}

/// Waits until the engine reports ready with a PID different from `old`.
async fn wait_for_new_pid(service: &Service, old: u32) -> Value {
    eventually(PATIENCE, || async {
        let (_, status) = service.get("/engine/status").await;
        (status["ready"] == true && status["pid"].as_u64().is_some_and(|p| p as u32 != old))
            .then_some(status)
    })
    .await
}

/// ffprobe's first video stream of `url` (RTSP over TCP, or HTTP/HLS): `codec,width,height`.
/// HLS lists the stream again under its program; the first line is the stream.
fn probe(url: &str) -> Option<String> {
    let mut command = std::process::Command::new("ffprobe");
    command.args(["-v", "error"]);
    if url.starts_with("rtsp://") {
        command.args(["-rtsp_transport", "tcp"]);
    }
    let output = command
        .args(["-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(str::to_string)
}

fn read(path: &Value) -> String {
    std::fs::read_to_string(path.as_str().unwrap()).unwrap_or_default()
}

mod lifecycle {
    use super::*;

    #[tokio::test]
    async fn start_reports_ports_pid_config_and_log() {
        let dir = tempfile::tempdir().unwrap();
        let service = with_stand_in(dir.path()).await;
        let (_, before) = service.get("/engine/status").await;
        assert_eq!(before["running"], false);
        assert!(
            before["warnings"]
                .as_array()
                .unwrap()
                .contains(&json!("Engine is disabled in settings."))
        );

        let status = start_engine(&service).await;
        let pid = pid_of(&status);
        assert!(is_alive(pid));
        assert_eq!(status["bind_host"], "127.0.0.1");
        assert_eq!(status["mediamtx_version"], "v1.16.2");
        assert_eq!(status["test_path"], "test");
        let rtsp = status["ports"]["rtsp"].as_u64().unwrap();
        assert_eq!(
            status["urls"]["rtsp_url"],
            format!("rtsp://127.0.0.1:{rtsp}/test")
        );
        assert!(status["preferred_ports"]["rtsp"].is_number());
        let config = read(&status["config_path"]);
        assert!(config.contains("authMethod: internal"), "{config}");
        assert!(config.contains("  test: {}"), "{config}");
        // The engine's output reaches its log file asynchronously.
        eventually(PATIENCE, || async {
            read(&status["log_path"])
                .contains("configuration loaded")
                .then_some(())
        })
        .await;

        let engine = engine_node(&service).await;
        assert_eq!(engine["children"][0]["kind"], "engine_process");
        assert_eq!(engine["children"][0]["pid"], json!(pid));
    }

    #[tokio::test]
    async fn stop_means_stopped_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut service = with_stand_in(dir.path()).await;
        let pid = pid_of(&start_engine(&service).await);
        let (status, stopped) = service.post("/engine/stop", &json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(stopped["running"], false);
        assert_eq!(stopped["pid"], Value::Null);
        assert!(
            !is_alive(pid),
            "the engine process is gone when stop answers"
        );
        let (_, settings) = service.get("/settings").await;
        assert_eq!(settings["engine"]["enabled"], false);

        service.signal_and_wait(libc::SIGTERM);
        let service = with_stand_in(dir.path()).await;
        let (_, status) = service.get("/engine/status").await;
        assert_eq!(
            status["running"], false,
            "a stopped engine stays stopped after a restart"
        );
    }

    #[tokio::test]
    async fn an_enabled_engine_comes_back_with_the_service() {
        let dir = tempfile::tempdir().unwrap();
        let mut service = with_stand_in(dir.path()).await;
        let pid = pid_of(&start_engine(&service).await);
        assert!(service.signal_and_wait(libc::SIGTERM).success());
        assert!(!is_alive(pid), "a graceful shutdown stops the engine first");
        let service = with_stand_in(dir.path()).await;
        let status = wait_for_new_pid(&service, pid).await;
        assert_eq!(status["enabled"], true);
    }

    #[tokio::test]
    async fn transmissions_change_without_restarting_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let service = with_stand_in(dir.path()).await;
        let status = start_engine(&service).await;
        let pid = pid_of(&status);
        let (_, created) = service
            .post("/transmissions", &json!({"name": "Door", "path": "door", "outputs": [{"id": "main", "protocol": "rtsp"}]}))
            .await;
        // Applied through the engine's control API before the write answered; the file is
        // left for the next start (MediaMTX's watcher drops quick changes).
        let configured = || async {
            engine_api(&service, "/v3/config/paths/list")
                .await
                .to_string()
        };
        assert!(configured().await.contains(r#""name":"door""#));
        assert!(read(&status["log_path"]).contains("reloading configuration (API request)"));
        assert!(!read(&status["config_path"]).contains("door"));
        service
            .delete(&format!(
                "/transmissions/{}",
                created["id"].as_str().unwrap()
            ))
            .await;
        assert!(!configured().await.contains("door"));
        let (_, after) = service.get("/engine/status").await;
        assert_eq!(
            pid_of(&after),
            pid,
            "paths are hot-reloaded; the engine was not restarted"
        );
        assert_eq!(after["restart_count"], 0);
    }

    #[tokio::test]
    async fn a_port_change_restarts_the_engine_and_a_taken_port_moves() {
        let dir = tempfile::tempdir().unwrap();
        let service = with_stand_in(dir.path()).await;
        let pid = pid_of(&start_engine(&service).await);
        let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = squatter.local_addr().unwrap().port();
        let (status, _) = service
            .patch(
                "/settings",
                &json!({"engine": {"preferred_ports": {"rtsp": taken}}}),
            )
            .await;
        assert_eq!(status, 200);
        let status = wait_for_new_pid(&service, pid).await;
        let actual = status["ports"]["rtsp"].as_u64().unwrap() as u16;
        assert_ne!(actual, taken);
        assert!(
            status["warnings"]
                .as_array()
                .unwrap()
                .contains(&json!(format!(
                    "RTSP port {taken} unavailable; using {actual}."
                )))
        );
    }

    #[tokio::test]
    async fn urls_use_the_running_engine_ports() {
        let dir = tempfile::tempdir().unwrap();
        let service = with_stand_in(dir.path()).await;
        let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = squatter.local_addr().unwrap().port();
        service
            .patch(
                "/settings",
                // Open mode: HLS URLs name the engine's own port (signed ones go via the proxy).
                &json!({"engine": {"preferred_ports": {"hls": taken}, "media_auth": {"mode": "open"}}}),
            )
            .await;
        let status = start_engine(&service).await;
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "n", "path": "p", "outputs": [{"id": "h", "protocol": "hls"}]}),
            )
            .await;
        let (_, urls) = service
            .get(&format!(
                "/transmissions/{}/urls",
                created["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(urls["engine_running"], true);
        assert_eq!(
            urls["warnings"],
            json!([
                "Open HLS media access is enabled. Use it only on trusted LAN or for diagnostics.",
                "go2rtc binary is unavailable: not installed (POST /api/streams/mse/download, or set TOPOSYNC_STREAMING_GO2RTC_PATH)"
            ]),
            "no engine warning once it runs"
        );
        assert_eq!(
            urls["outputs"][0]["url"],
            format!("http://127.0.0.1:{}/p/index.m3u8", status["ports"]["hls"])
        );
    }
}

mod supervision {
    use super::*;

    #[tokio::test]
    async fn a_killed_engine_is_restarted_within_the_backoff() {
        let dir = tempfile::tempdir().unwrap();
        let service = with_stand_in(dir.path()).await;
        let pid = pid_of(&start_engine(&service).await);
        // SAFETY: kill(2) on a PID this test just read from the service.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let status = wait_for_new_pid(&service, pid).await;
        assert_eq!(status["restart_count"], 1, "{status}");
        assert!(!is_alive(pid));
        let engine = engine_node(&service).await;
        assert_eq!(engine["children"][0]["restarts"], 1);
        assert!(
            engine["children"][0]["last_error"]
                .as_str()
                .unwrap()
                .contains("MediaMTX exited unexpectedly")
        );
    }

    #[tokio::test]
    async fn killing_the_service_leaves_no_engine_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut service = with_stand_in(dir.path()).await;
        let pid = pid_of(&start_engine(&service).await);
        service.signal_and_wait(libc::SIGKILL);
        eventually(PATIENCE, || async { (!is_alive(pid)).then_some(()) }).await;
    }

    #[tokio::test]
    async fn an_engine_failing_at_start_is_reported_and_backed_off() {
        let dir = tempfile::tempdir().unwrap();
        let service = with_misbehaving_stand_in(dir.path(), "STAND_IN_FAIL_AT_START", "3").await;
        let detail = start_fails(&service, "MediaMTX log: stand-in told to fail at start").await;
        assert!(
            detail.starts_with(
                "Failed to start streaming engine: MediaMTX exited unexpectedly (code=3)"
            ),
            "{detail}"
        );
        let (_, status) = service.get("/engine/status").await;
        assert!(status["last_error"].as_str().unwrap().contains("code=3"));
        let warnings = status["warnings"].as_array().unwrap();
        assert!(
            warnings.iter().any(|w| w
                .as_str()
                .unwrap()
                .starts_with("MediaMTX auto-restart backoff active")),
            "{status}"
        );
    }

    /// TEST STAND-IN: a port taken between resolving and binding cannot be timed with the real
    /// binary. The engine resolves ports again at once; the start succeeds without a backoff.
    #[tokio::test]
    async fn a_port_taken_while_starting_is_retried_at_once_with_fresh_ports() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("clashed");
        let service = with_misbehaving_stand_in(
            dir.path(),
            "STAND_IN_PORT_CLASH_ONCE",
            marker.to_str().unwrap(),
        )
        .await;
        let status = start_engine(&service).await;
        assert!(marker.exists(), "the first start clashed");
        assert_eq!(status["last_error"], Value::Null, "{status}");
        assert_eq!(status["restart_count"], 0, "{status}");
    }

    #[tokio::test]
    async fn an_engine_that_never_answers_is_given_up_on_and_retried() {
        let dir = tempfile::tempdir().unwrap();
        let service = with_misbehaving_stand_in(dir.path(), "STAND_IN_SKIP_API", "1").await;
        start_fails(&service, "MediaMTX startup timed out on API port").await;
    }

    #[tokio::test]
    async fn without_binary_or_network_start_fails_clearly_and_stop_stops_retrying() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (status, body) = service.post("/engine/start", &json!({})).await;
        assert_eq!(status, 503, "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("MediaMTX download failed: Failed to download http://127.0.0.1:9/unreachable/v1.16.2/checksums.sha256"), "{detail}");
        let (_, status) = service.get("/engine/status").await;
        assert!(status["warnings"].as_array().unwrap().contains(&json!(
            "MediaMTX binary is not installed yet. Starting the engine will download it (internet required), or set TOPOSYNC_STREAMING_ENGINE_PATH to a local path."
        )));
        let (_, stopped) = service.post("/engine/stop", &json!({})).await;
        assert_eq!(
            stopped["warnings"],
            json!(["Engine is disabled in settings."])
        );
    }
}

mod install {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use sha2::{Digest, Sha256};

    /// A release mirror holding the stand-in packed as `mediamtx` in the release layout.
    async fn mirror_with_stand_in() -> String {
        let binary = std::fs::read(mediamtx_stand_in()).unwrap();
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(binary.len() as u64);
        header.set_mode(0o755);
        builder
            .append_data(
                &mut header,
                "mediamtx_v1.16.2_linux_amd64/mediamtx",
                binary.as_slice(),
            )
            .unwrap();
        let archive = builder.into_inner().unwrap().finish().unwrap();
        let arch = if cfg!(target_arch = "aarch64") {
            "arm64"
        } else {
            "amd64"
        };
        let asset = format!("mediamtx_v1.16.2_linux_{arch}.tar.gz");
        let checksums = format!(
            "{}  {asset}\n",
            toposync_actors::engine::install::hex(&Sha256::digest(&archive))
        );
        let app = Router::new()
            .route(
                "/v1.16.2/checksums.sha256",
                get(move || async move { checksums }),
            )
            .route(
                &format!("/v1.16.2/{asset}"),
                get(move || async move { archive }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn download_installs_without_starting_then_start_uses_it() {
        let dir = tempfile::tempdir().unwrap();
        let mirror = mirror_with_stand_in().await;
        let service = isolated(Service::start_with(
            dir.path(),
            &[(
                "TOPOSYNC_STREAMING_ENGINE_DOWNLOAD_BASE_URL",
                Path::new(&mirror),
            )],
        ))
        .await;
        let (status, body) = service.post("/engine/download", &json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["running"], false, "download does not start the engine");
        let expected = dir.path().join("cache/streaming/mediamtx/v1.16.2");
        assert!(
            body["binary_path"]
                .as_str()
                .unwrap()
                .starts_with(expected.to_str().unwrap()),
            "{body}"
        );
        assert_eq!(body["download"]["bytes"], body["download"]["total"]);
        let started = start_engine(&service).await;
        assert_eq!(started["binary_path"], body["binary_path"]);
    }
}

mod real_engine {
    use super::*;

    /// Runs only against a real MediaMTX named by `TOPOSYNC_STREAMING_ENGINE_PATH`.
    pub(super) fn real_binary() -> Option<std::path::PathBuf> {
        match std::env::var_os("TOPOSYNC_STREAMING_ENGINE_PATH") {
            Some(path) => Some(path.into()),
            None => {
                {
                    // Written to the stream itself (not eprintln!, which the harness captures)
                    // so the reason shows in CI logs.
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "real_engine: skipped: set TOPOSYNC_STREAMING_ENGINE_PATH to a real MediaMTX binary to run it"
                    );
                }
                None
            }
        }
    }

    /// The service with the real engine started (and its data dir), or `None` when skipped.
    pub(super) async fn started() -> Option<(Service, Value, tempfile::TempDir)> {
        started_with(&[]).await
    }

    /// The service on the real engine, with more environment for the service.
    pub(super) async fn started_with(
        env: &[(&str, &Path)],
    ) -> Option<(Service, Value, tempfile::TempDir)> {
        let binary = real_binary()?;
        let dir = tempfile::tempdir().unwrap();
        let mut all = vec![("TOPOSYNC_STREAMING_ENGINE_PATH", binary.as_path())];
        all.extend_from_slice(env);
        let service = isolated(Service::start_with(dir.path(), &all)).await;
        let status = start_engine(&service).await;
        Some((service, status, dir))
    }

    /// A MediaMTX that freezes (SIGSTOP) still "runs": only its API going silent shows it. It is
    /// killed and restarted within a bounded time, and the status says why.
    #[tokio::test]
    async fn a_frozen_engine_is_restarted() {
        let Some((service, status, _dir)) = started().await else {
            return;
        };
        let frozen = pid_of(&status);
        // SAFETY: kill(2) on the engine the service reported.
        unsafe { libc::kill(frozen as i32, libc::SIGSTOP) };
        let restarted = eventually(Duration::from_secs(30), || async {
            let (_, status) = service.get("/engine/status").await;
            (status["ready"] == true && status["pid"].as_u64() != Some(u64::from(frozen)))
                .then_some(status)
        })
        .await;
        assert_eq!(restarted["restart_count"], 1, "{restarted}");
        let (_, tree) = service.get("/runtime/actors").await;
        let engine = tree["children"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "engine")
            .unwrap()
            .clone();
        assert!(
            engine.to_string().contains("stopped answering its API"),
            "{engine}"
        );
        assert!(!is_alive(frozen), "the frozen engine is gone");
    }

    #[tokio::test]
    async fn publish_a_test_pattern_and_read_it_back() {
        let Some(binary) = real_binary() else { return };
        let dir = tempfile::tempdir().unwrap();
        let mut service = isolated(Service::start_with(
            dir.path(),
            &[("TOPOSYNC_STREAMING_ENGINE_PATH", &binary)],
        ))
        .await;
        let status = start_engine(&service).await;
        let pid = pid_of(&status);
        let rtsp = status["ports"]["rtsp"].as_u64().unwrap();
        let secret = toposync_actors::engine::credentials::PublishSecret::load_or_create(
            &dir.path().join("runtime/streaming"),
        )
        .unwrap();
        let creds = secret.credentials_for("test");
        let mut publisher = std::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=10",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
                "-g",
                "10",
                "-f",
                "rtsp",
                "-rtsp_transport",
                "tcp",
            ])
            .arg(format!(
                "rtsp://{}:{}@127.0.0.1:{rtsp}/test",
                creds.user, creds.pass
            ))
            .spawn()
            .unwrap();
        let probe = eventually(PATIENCE, || async {
            probe(&format!("rtsp://127.0.0.1:{rtsp}/test"))
        })
        .await;
        assert_eq!(probe, "h264,320,240");
        let _ = publisher.kill();
        let _ = publisher.wait();
        service.post("/engine/stop", &json!({})).await;
        assert!(!is_alive(pid));
        service.signal_and_wait(libc::SIGTERM);
    }
}

mod real_engine_publishing {
    use super::*;

    /// Readers on RTSP and on HLS of an idle output get the stream on their first request (no
    /// prime, no retry: the engine holds them while its hook demands the path), the publisher
    /// stops after the last reader left, and a reader of a disabled output is refused at once.
    #[tokio::test]
    async fn readers_start_the_publisher_and_it_stops_after_they_leave() {
        let Some((service, status, _dir)) = super::real_engine::started().await else {
            return;
        };
        let (rtsp, hls) = (
            status["ports"]["rtsp"].as_u64().unwrap(),
            status["ports"]["hls"].as_u64().unwrap(),
        );
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "Door", "path": "door", "outputs": [{"id": "main", "protocol": "rtsp",
                        "resolution": {"width": 320, "height": 240}},
                        {"id": "off", "protocol": "rtsp", "enabled": false}]}),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        let encoding = |want: bool| {
            let service = &service;
            let id = id.clone();
            async move {
                eventually(Duration::from_secs(30), || async {
                    let (_, demand) = service.get(&format!("/transmissions/{id}/demand")).await;
                    (demand["outputs"][0]["encoding"] == want).then_some(())
                })
                .await
            }
        };
        // The engine holds readers of the path once it knows it (with its hook).
        eventually(Duration::from_secs(10), || async {
            let conf = engine_api(&service, "/v3/config/paths/get/door").await;
            conf["runOnDemand"]
                .as_str()?
                .ends_with(" engine-hook")
                .then_some(())
        })
        .await;
        let first_try = probe(&format!("rtsp://127.0.0.1:{rtsp}/door"));
        assert_eq!(first_try.as_deref(), Some("h264,320,240"));
        encoding(false).await;

        // HLS: the first playlist request is answered; a client polling it keeps it going.
        let playlist = format!("http://127.0.0.1:{hls}/door/index.m3u8");
        let first = service.http.get(&playlist).send().await.unwrap();
        assert_eq!(first.status(), 200);
        encoding(true).await;
        // Observability shows the engine's muxer for the path while it runs.
        let muxer = eventually(Duration::from_secs(10), || async {
            let (_, seen) = service.get("/runtime/observability").await;
            let muxer = seen["items"][0]["mediamtx"]["hls_muxer"].clone();
            (muxer["path"] == "door").then_some(muxer)
        })
        .await;
        assert!(muxer["bytesSent"].as_u64() > Some(0), "{muxer}");
        encoding(false).await;

        // A path that will never publish (its output is disabled) is refused promptly, not held.
        let asked = std::time::Instant::now();
        assert_eq!(probe(&format!("rtsp://127.0.0.1:{rtsp}/door-off")), None);
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "{:?}",
            asked.elapsed()
        );
    }

    /// A viewer connected while the placeholder shows sees the writer's pixels when they come,
    /// in the same RTSP session: one FFmpeg publishes both (real MediaMTX).
    #[tokio::test]
    async fn placeholder_then_live_frames_reach_a_connected_viewer_in_one_session() {
        use super::publishing::Receiver;
        let Some((service, status, dir)) = super::real_engine::started().await else {
            return;
        };
        let rtsp = status["ports"]["rtsp"].as_u64().unwrap();
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "Switch", "path": "switch", "placeholder": "gray",
                        "outputs": [{"id": "main", "protocol": "rtsp", "fps_limit": 10,
                                     "resolution": {"width": 320, "height": 240}}]}),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        eventually(Duration::from_secs(10), || async {
            let conf = engine_api(&service, "/v3/config/paths/get/switch").await;
            conf["runOnDemand"].as_str().map(|_| ())
        })
        .await;
        let url = format!("rtsp://127.0.0.1:{rtsp}/switch");
        let mut viewer = Receiver::reading(dir.path(), &url, (320, 240));
        viewer.until_centre_is([128, 128, 128]).await;
        let publisher = || async {
            let (_, body) = service.get("/runtime/outputs").await;
            body["outputs"][0]["publisher_pid"].as_u64()
        };
        let placeholder_pid = publisher().await.expect("a publisher runs");
        let sessions = || async {
            let list = engine_api(&service, "/v3/rtspsessions/list").await;
            let mut ids: Vec<(String, String)> = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["state"].as_str().unwrap_or_default().to_string(),
                        s["id"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            ids.sort();
            ids
        };
        let before = sessions().await;
        assert_eq!(
            before
                .iter()
                .map(|(state, _)| state.as_str())
                .collect::<Vec<_>>(),
            ["publish", "read"],
            "{before:?}"
        );

        // A writer arrives: red frames, ten a second, while the viewer keeps reading.
        let feeding = {
            let http = service.http.clone();
            let url = service.url(&format!(
                "/transmissions/{id}/writers/cam/frame?width=320&height=240"
            ));
            let red: Vec<u8> = [0u8, 0, 255].repeat(320 * 240);
            tokio::spawn(async move {
                loop {
                    let sent = http
                        .post(&url)
                        .header("content-type", "application/octet-stream")
                        .body(red.clone())
                        .send()
                        .await;
                    assert!(
                        sent.is_ok_and(|r| r.status() == 200),
                        "the frame was refused"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        viewer.until_centre_is([255, 0, 0]).await;
        feeding.abort();
        assert!(is_alive(viewer.pid()), "the viewer never had to reconnect");
        assert_eq!(publisher().await, Some(placeholder_pid), "one FFmpeg");
        assert_eq!(
            sessions().await,
            before,
            "the same publishing and reading sessions"
        );
    }

    /// Creates a transmission publishing 320x240 RTSP at `path` and primes it for ten minutes;
    /// answers its id.
    pub(super) async fn primed_rtsp_transmission(service: &Service, path: &str) -> String {
        let (code, created) = service
            .post(
                "/transmissions",
                &json!({"name": path, "path": path, "outputs": [{"id": "main",
                    "protocol": "rtsp", "resolution": {"width": 320, "height": 240}}]}),
            )
            .await;
        assert_eq!(code, 200, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        let (code, primed) = service
            .post(
                &format!("/transmissions/{id}/demand/prime?ttl_seconds=600"),
                &json!({}),
            )
            .await;
        assert_eq!(code, 200, "{primed}");
        id
    }

    /// The service's share of a core over `window`.
    async fn cpu_share(pid: u32, window: Duration) -> f64 {
        let before = process_stats::cpu_seconds(pid);
        tokio::time::sleep(window).await;
        (process_stats::cpu_seconds(pid) - before) / window.as_secs_f64()
    }

    async fn alive_tasks(service: &Service) -> u64 {
        let (_, tree) = service.get("/runtime/actors").await;
        tree["state"]["alive_tasks"].as_u64().expect("alive_tasks")
    }

    /// Every FFmpeg crash once leaked the publisher's tasks, which kept pacing frames: the
    /// service's tasks and CPU grew with each crash. After 20 kills both are where they were.
    #[tokio::test]
    async fn twenty_ffmpeg_kills_leave_no_task_or_cpu_behind() {
        let quick = Path::new("1");
        let Some((service, _status, _dir)) =
            super::real_engine::started_with(&[("TOPOSYNC_STREAMING_RESTART_MAX_SECONDS", quick)])
                .await
        else {
            return;
        };
        primed_rtsp_transmission(&service, "crash").await;
        let running = |old: Option<u64>| {
            let service = &service;
            async move {
                eventually(Duration::from_secs(30), || async {
                    let (_, outputs) = service.get("/runtime/outputs").await;
                    let output = outputs["outputs"][0].clone();
                    (output["publisher_state"] == "running"
                        && output["pid"].as_u64().is_some_and(|p| Some(p) != old)
                        && output["frames_encoded"].as_u64() > Some(0))
                    .then(|| output["pid"].as_u64().unwrap())
                })
                .await
            }
        };
        let mut pid = running(None).await;
        let tasks_before = alive_tasks(&service).await;
        let cpu_before = cpu_share(service.pid(), Duration::from_secs(3)).await;
        for _ in 0..20 {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            pid = running(Some(pid)).await;
        }
        let settled = eventually(Duration::from_secs(10), || async {
            let tasks = alive_tasks(&service).await;
            (tasks <= tasks_before + 2).then_some(tasks)
        })
        .await;
        let cpu_after = cpu_share(service.pid(), Duration::from_secs(3)).await;
        println!(
            "tasks {tasks_before} -> {settled}; cpu {:.1}% -> {:.1}% of a core",
            cpu_before * 100.0,
            cpu_after * 100.0
        );
        // Leaked pacers cost a few percent of a core each; 20 of them would be far above this.
        assert!(
            cpu_after <= cpu_before + 0.05,
            "CPU grew from {cpu_before:.3} to {cpu_after:.3} of a core"
        );
    }
}

/// Bursts of transmission changes against the real MediaMTX: its config-file watcher drops a
/// change less than 1 s after the previous one, so only the control API makes these hold.
mod real_engine_bursts {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// An FFmpeg RTSP reader counting the frames it decodes.
    struct Reader {
        child: Child,
        frames: Arc<AtomicU64>,
    }

    impl Reader {
        fn start(url: &str) -> Reader {
            let mut child = Command::new("ffmpeg")
                .args([
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-rtsp_transport",
                    "tcp",
                    "-i",
                ])
                .arg(url)
                .args(["-f", "null", "-progress", "pipe:1", "-"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let frames = Arc::new(AtomicU64::new(0));
            let counter = frames.clone();
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(Ok(n)) = line.strip_prefix("frame=").map(|n| n.trim().parse()) {
                        counter.store(n, Ordering::SeqCst);
                    }
                }
            });
            Reader { child, frames }
        }

        fn frames(&self) -> u64 {
            self.frames.load(Ordering::SeqCst)
        }

        fn running(&mut self) -> bool {
            matches!(self.child.try_wait(), Ok(None))
        }
    }

    impl Drop for Reader {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn size(index: usize) -> (u64, u64) {
        (320 + 32 * index as u64, 240)
    }

    async fn create(service: &Service, index: usize) -> String {
        let (width, height) = size(index);
        let (status, body) = service
            .post(
                "/transmissions",
                &json!({"name": format!("Burst {index}"), "path": format!("burst-{index}"),
                        "outputs": [{"id": "main", "protocol": "rtsp",
                                     "resolution": {"width": width, "height": height}}]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    async fn prime(service: &Service, id: &str) {
        let (status, body) = service
            .post(&format!("/transmissions/{id}/demand/prime"), &json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Every URL probes as h264 at its size within `deadline`, probed in parallel.
    async fn all_readable(urls: Vec<(String, (u64, u64))>, deadline: Duration) {
        let probes = urls.into_iter().map(|(url, (width, height))| {
            tokio::spawn(async move {
                let expected = format!("h264,{width},{height}");
                let started = std::time::Instant::now();
                loop {
                    let probed = url.clone();
                    let got = tokio::task::spawn_blocking(move || probe(&probed))
                        .await
                        .unwrap();
                    if got.as_deref() == Some(expected.as_str()) {
                        return Ok(());
                    }
                    if started.elapsed() > deadline {
                        return Err(format!("{url}: {got:?}, expected {expected}"));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        });
        for result in futures_util::future::join_all(probes).await {
            result.unwrap().unwrap();
        }
    }

    async fn configured_paths(service: &Service) -> Vec<String> {
        let list = engine_api(service, "/v3/config/paths/list?itemsPerPage=1000").await;
        let mut names: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    async fn user_names(service: &Service) -> Vec<String> {
        let global = engine_api(service, "/v3/config/global/get").await;
        global["authInternalUsers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|user| user["user"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn ten_transmissions_created_in_a_burst_are_all_readable() {
        let Some((service, status, _dir)) = super::real_engine::started().await else {
            return;
        };
        let rtsp = status["ports"]["rtsp"].as_u64().unwrap();
        let url = |index: usize| format!("rtsp://127.0.0.1:{rtsp}/burst-{index}");

        let first = create(&service, 0).await;
        prime(&service, &first).await;
        all_readable(vec![(url(0), size(0))], PATIENCE).await;
        let mut reader = Reader::start(&url(0));
        eventually(PATIENCE, || async { (reader.frames() > 0).then_some(()) }).await;

        // The engine the burst must not restart: the one serving the reader now.
        let (_, before_burst) = service.get("/engine/status").await;
        let engine_pid = pid_of(&before_burst);
        let mut ids = Vec::new();
        for index in 1..10 {
            ids.push(create(&service, index).await);
        }
        let before = reader.frames();
        for id in &ids {
            prime(&service, id).await;
        }
        all_readable(
            (1..10).map(|index| (url(index), size(index))).collect(),
            Duration::from_secs(10),
        )
        .await;
        eventually(PATIENCE, || async {
            (reader.frames() > before + 20).then_some(())
        })
        .await;
        assert!(
            reader.running(),
            "the first reader was dropped by the burst"
        );
        let (_, status) = service.get("/engine/status").await;
        assert_eq!(
            pid_of(&status),
            engine_pid,
            "the engine was restarted: {status}"
        );
        assert_eq!(status["config_applied"], true, "{status}");
    }

    #[tokio::test]
    async fn updates_and_deletes_in_a_burst_leave_no_stale_path_or_user() {
        let Some((service, status, _dir)) = super::real_engine::started().await else {
            return;
        };
        let rtsp = status["ports"]["rtsp"].as_u64().unwrap();
        let mut ids = Vec::new();
        for index in 0..10 {
            ids.push(create(&service, index).await);
        }
        // Each gets a second output, reading the first needs credentials.
        for (index, id) in ids.iter().enumerate() {
            let (_, list) = service.get("/transmissions").await;
            let mut transmission = list
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["id"] == id.as_str())
                .unwrap()
                .clone();
            transmission["outputs"][0]["authentication"] = json!({"enabled": true, "username": format!("viewer{index}"), "password": "secret-pw"});
            transmission["outputs"]
                .as_array_mut()
                .unwrap()
                .push(json!({"id": "hls", "protocol": "hls"}));
            let (status, body) = service
                .put(&format!("/transmissions/{id}"), &transmission)
                .await;
            assert_eq!(status, 200, "{body}");
        }
        let mut expected: Vec<String> = (0..10)
            .flat_map(|i| [format!("burst-{i}-hls"), format!("burst-{i}-main")])
            .chain(["all_others".to_string(), "test".to_string()])
            .collect();
        expected.sort();
        assert_eq!(configured_paths(&service).await, expected);
        let users = user_names(&service).await;
        for index in 0..10 {
            assert!(users.contains(&format!("viewer{index}")), "{users:?}");
        }
        // The credentials are in force: a reader without them is refused, with them it reads.
        prime(&service, &ids[3]).await;
        let open = format!("rtsp://127.0.0.1:{rtsp}/burst-3-main");
        let with_credentials = format!("rtsp://viewer3:secret-pw@127.0.0.1:{rtsp}/burst-3-main");
        all_readable(vec![(with_credentials, size(3))], PATIENCE).await;
        assert_eq!(probe(&open), None);

        for id in &ids {
            let (status, body) = service.delete(&format!("/transmissions/{id}")).await;
            assert_eq!(status, 200, "{body}");
        }
        assert_eq!(configured_paths(&service).await, vec!["all_others", "test"]);
        let users = user_names(&service).await;
        assert!(
            users.iter().all(|user| !user.starts_with("viewer")),
            "{users:?}"
        );
        // Left: the API user, the anonymous reader and the publisher of the `test` path.
        assert_eq!(users.len(), 3, "{users:?}");
        assert_eq!(
            users.iter().filter(|u| u.starts_with("pub_")).count(),
            1,
            "{users:?}"
        );
    }
}

/// Output publishers and demand, end to end with real FFmpeg: the engine is the stand-in (for
/// viewer counts and publish credentials) with its RTSP port left to a real receiving RTSP
/// server, FFmpeg in listen mode, that decodes what a viewer of the engine path would get.
mod publishing {
    use super::*;
    use std::io::Read;
    use std::process::{Child, Command, Stdio};

    const W: usize = 320;
    const H: usize = 240;
    const PATH: &str = "door";

    pub(super) struct Setup {
        pub service: Service,
        pub rtsp: u16,
        paths_file: std::path::PathBuf,
        pub transmission: String,
        pub dir: tempfile::TempDir,
    }

    /// The service with the stand-in engine started, its RTSP port left free for a receiver.
    pub(super) async fn engine_without_rtsp()
    -> (Service, u16, std::path::PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let stand_in = mediamtx_stand_in();
        let paths_file = dir.path().join("paths.json");
        std::fs::write(&paths_file, r#"{"items": []}"#).unwrap();
        let service = isolated(Service::start_with(
            dir.path(),
            &[
                ("TOPOSYNC_STREAMING_ENGINE_PATH", &stand_in),
                ("STAND_IN_SKIP_RTSP", Path::new("1")),
                ("STAND_IN_PATHS_FILE", &paths_file),
            ],
        ))
        .await;
        let status = start_engine(&service).await;
        let rtsp = status["ports"]["rtsp"].as_u64().unwrap() as u16;
        (service, rtsp, paths_file, dir)
    }

    async fn setup() -> Setup {
        let (service, rtsp, paths_file, dir) = engine_without_rtsp().await;
        let (code, created) = service
            .post(
                "/transmissions",
                &json!({"name": "Door", "path": PATH, "outputs": [{
                    "id": "main", "protocol": "rtsp",
                    "resolution": {"width": W, "height": H}, "fps_limit": 10
                }]}),
            )
            .await;
        assert_eq!(code, 200, "{created}");
        Setup {
            service,
            rtsp,
            paths_file,
            transmission: created["id"].as_str().unwrap().to_string(),
            dir,
        }
    }

    /// A real RTSP server for one publisher: FFmpeg listening on the engine's RTSP port,
    /// decoding what it receives to RGB frames on stdout and describing the stream on stderr.
    pub(super) struct Receiver {
        child: Child,
        stderr_path: std::path::PathBuf,
        width: usize,
        height: usize,
    }

    impl Receiver {
        fn listen(setup: &Setup) -> Receiver {
            Receiver::at(setup.dir.path(), setup.rtsp, PATH, (W, H))
        }

        /// A receiver of `path` on the engine's RTSP port, for frames of `size`.
        pub(super) fn at(dir: &Path, rtsp: u16, path: &str, size: (usize, usize)) -> Receiver {
            let listening = ["-rtsp_flags", "listen", "-timeout", "60", "-i"]
                .map(String::from)
                .into_iter()
                .chain([format!("rtsp://127.0.0.1:{rtsp}/{path}")]);
            let receiver = Receiver::spawn(dir, listening, size);
            wait_until_listening(rtsp);
            receiver
        }

        /// A player of `url` (an RTSP client, as a viewer is), for frames of `size`.
        pub(super) fn reading(dir: &Path, url: &str, size: (usize, usize)) -> Receiver {
            let input = ["-rtsp_transport", "tcp", "-i", url].map(String::from);
            Receiver::spawn(dir, input, size)
        }

        fn spawn(
            dir: &Path,
            input: impl IntoIterator<Item = String>,
            size: (usize, usize),
        ) -> Receiver {
            let stderr_path = dir.join(format!(
                "receiver-{}.log",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            let child = Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "info"])
                .args(input)
                .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&stderr_path).unwrap())
                .spawn()
                .expect("ffmpeg runs");
            Receiver {
                child,
                stderr_path,
                width: size.0,
                height: size.1,
            }
        }

        /// The next decoded frame (RGB), or `None` when the publisher went away or sent nothing
        /// for `PATIENCE` (then every later call is `None` too: the read ends with the child).
        pub(super) async fn frame(&mut self) -> Option<Vec<u8>> {
            let mut stdout = self.child.stdout.take()?;
            let len = self.width * self.height * 3;
            let read = tokio::task::spawn_blocking(move || {
                let mut frame = vec![0u8; len];
                let read = stdout.read_exact(&mut frame).ok().map(|_| frame);
                (stdout, read)
            });
            let (stdout, frame) = tokio::time::timeout(PATIENCE, read).await.ok()?.unwrap();
            self.child.stdout = Some(stdout);
            frame
        }

        /// Reads frames until one has `rgb` in its centre (within the encoder's loss).
        pub(super) async fn until_centre_is(&mut self, rgb: [u8; 3]) -> Vec<u8> {
            let deadline = std::time::Instant::now() + PATIENCE;
            loop {
                let frame = self.frame().await.expect("the publisher keeps publishing");
                if close(centre(&frame), rgb) {
                    return frame;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "centre never became {rgb:?}, last {:?}",
                    centre(&frame)
                );
            }
        }

        pub(super) fn pid(&self) -> u32 {
            self.child.id()
        }

        pub(super) fn described(&self) -> String {
            std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
        }
    }

    impl Drop for Receiver {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Waits until something listens on the TCP port, read from /proc (connecting to find out
    /// would use up the listener's one connection).
    fn wait_until_listening(port: u16) {
        let wanted = format!(":{port:04X} ");
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
            // Columns: sl local_address rem_address st ...; st 0A is LISTEN.
            let listening = table.lines().any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.len() > 3
                    && format!("{} ", fields[1]).ends_with(&wanted)
                    && fields[3] == "0A"
            });
            if listening {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nothing listens on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn centre(frame: &[u8]) -> [u8; 3] {
        let at = ((H / 2) * W + W / 2) * 3;
        [frame[at], frame[at + 1], frame[at + 2]]
    }

    fn close(a: [u8; 3], b: [u8; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 12)
    }

    async fn prime(setup: &Setup, ttl: u32) -> Value {
        let (code, body) = setup
            .service
            .post(
                &format!(
                    "/transmissions/{}/demand/prime?ttl_seconds={ttl}",
                    setup.transmission
                ),
                &json!({}),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        body
    }

    async fn output_runtime(setup: &Setup) -> Value {
        let (code, body) = setup.service.get("/runtime/outputs").await;
        assert_eq!(code, 200, "{body}");
        body["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["transmission_id"] == setup.transmission.as_str())
            .cloned()
            .expect("the output is listed")
    }

    /// Waits until the output's publisher runs with a PID other than `old`; returns it.
    async fn running_publisher(setup: &Setup, old: Option<u64>) -> Value {
        eventually(PATIENCE, || async {
            let output = output_runtime(setup).await;
            (output["publisher_state"] == "running"
                && output["pid"].as_u64().is_some_and(|p| Some(p) != old)
                && output["frames_encoded"].as_u64() > Some(0))
            .then_some(output)
        })
        .await
    }

    async fn stopped_publisher(setup: &Setup) -> Value {
        eventually(Duration::from_secs(30), || async {
            let output = output_runtime(setup).await;
            (output["publisher_state"] == "stopped").then_some(output)
        })
        .await
    }

    #[tokio::test]
    async fn a_player_asking_the_engine_too_early_makes_demand() {
        // The stand-in's own RTSP port here: it answers 404 and logs MediaMTX's no-stream line.
        let dir = tempfile::tempdir().unwrap();
        let service = with_stand_in(dir.path()).await;
        let status = start_engine(&service).await;
        let rtsp = status["ports"]["rtsp"].as_u64().unwrap();
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "Door", "path": PATH, "outputs": [{"id": "main", "protocol": "rtsp"}]}),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        let player = Command::new("ffprobe")
            .args(["-v", "quiet", "-rtsp_transport", "tcp"])
            .arg(format!("rtsp://127.0.0.1:{rtsp}/{PATH}"))
            .status()
            .unwrap();
        assert!(!player.success(), "nothing is published yet");
        let demand = eventually(PATIENCE, || async {
            let (_, demand) = service.get(&format!("/transmissions/{id}/demand")).await;
            (demand["outputs"][0]["hint_active"] == true).then_some(demand)
        })
        .await;
        assert_eq!(demand["demand_active"], true, "{demand}");
        assert_eq!(demand["demand_signal"], false, "a hint is not a viewer");
    }

    #[tokio::test]
    async fn nothing_encodes_until_demanded() {
        let setup = setup().await;
        let output = output_runtime(&setup).await;
        assert_eq!(output["publisher_state"], "stopped", "{output}");
        assert_eq!(output["demand"]["reason"], "no_active_demand");
        assert!(output["pid"].is_null());
    }

    #[tokio::test]
    async fn a_prime_publishes_h264_placeholder_then_writer_pixels_and_ends_after_its_ttl() {
        let setup = setup().await;
        let mut receiver = Receiver::listen(&setup);
        let primed = prime(&setup, 6).await;
        assert_eq!(primed["primed_outputs"], 1, "{primed}");

        // No writer: the gray placeholder, at the output size, in H.264.
        receiver.until_centre_is([127, 127, 127]).await;
        let described = receiver.described();
        assert!(described.contains("Video: h264"), "{described}");
        assert!(described.contains(&format!("{W}x{H}")), "{described}");
        let running = running_publisher(&setup, None).await;
        assert_eq!(running["demand"]["reason"], "prime", "{running}");
        assert_eq!(running["input_mode"], "rawvideo_pipe");
        assert_eq!(running["showing"], "placeholder");

        // A writer's frame (BGR red) is what the viewer sees next.
        setup
            .service
            .send_solid_frame(
                &setup.transmission,
                "camera",
                (W as u32, H as u32),
                [0, 0, 255],
            )
            .await;
        receiver.until_centre_is([255, 0, 0]).await;

        // Roughly the output fps: 10 frames take about a second.
        let started = std::time::Instant::now();
        for _ in 0..20 {
            receiver.frame().await.expect("frames keep coming");
        }
        let fps = 20.0 / started.elapsed().as_secs_f64();
        assert!(
            (6.0..16.0).contains(&fps),
            "received {fps:.1} fps for a 10 fps output"
        );

        // The prime ends (6 s), the debounce passes (3 s): the encoder is gone.
        let pid = running["pid"].as_u64().unwrap() as u32;
        let stopped = stopped_publisher(&setup).await;
        assert_eq!(stopped["demand"]["reason"], "no_active_demand");
        // Stopping FFmpeg (SIGINT, then its exit) follows the detach shortly.
        eventually(PATIENCE, || async { (!is_alive(pid)).then_some(()) }).await;
        // What was already in flight drains, then the stream ends.
        let mut in_flight = 0;
        while receiver.frame().await.is_some() {
            in_flight += 1;
            assert!(
                in_flight < 100,
                "frames keep coming after the publisher stopped"
            );
        }
        let log = read(&running["log_path"]);
        assert!(
            !log.contains("pub_"),
            "publish credentials in the FFmpeg log: {log}"
        );
    }

    #[tokio::test]
    async fn engine_viewers_keep_it_running_end_the_prime_and_it_stops_after_they_leave() {
        let setup = setup().await;
        let _receiver = Receiver::listen(&setup);
        prime(&setup, 600).await;
        running_publisher(&setup, None).await;
        std::fs::write(
            &setup.paths_file,
            json!({"items": [{"name": PATH, "ready": true,
                              "readers": [{"type": "rtspSession", "id": "r1"}]}]})
            .to_string(),
        )
        .unwrap();
        let watched = eventually(PATIENCE, || async {
            let output = output_runtime(&setup).await;
            (output["demand"]["viewer_count"] == 1).then_some(output)
        })
        .await;
        assert_eq!(watched["demand"]["reason"], "viewer_count", "{watched}");
        assert_eq!(
            watched["demand"]["primed"], false,
            "a counted viewer ends the prime"
        );
        let (_, demand) = setup
            .service
            .get(&format!("/transmissions/{}/demand", setup.transmission))
            .await;
        assert_eq!(demand["demand_signal"], true, "{demand}");
        assert_eq!(demand["viewer_count_total"], 1);

        // The viewer leaves: the 600 s prime no longer holds the encoder.
        std::fs::write(&setup.paths_file, r#"{"items": []}"#).unwrap();
        let stopped = stopped_publisher(&setup).await;
        assert_eq!(stopped["demand"]["viewer_count"], 0, "{stopped}");
    }

    #[tokio::test]
    async fn a_killed_or_frozen_ffmpeg_is_replaced_and_publishes_again() {
        let setup = setup().await;
        let mut receiver = Receiver::listen(&setup);
        prime(&setup, 600).await;
        receiver.until_centre_is([127, 127, 127]).await;
        let first = running_publisher(&setup, None).await;
        let first_pid = first["pid"].as_u64().unwrap();

        // kill -9: FFmpeg exits, the transmission restarts it after its backoff.
        // (The receiver is replaced after the signal: dropping it first would end FFmpeg too.)
        unsafe { libc::kill(first_pid as i32, libc::SIGKILL) };
        let mut receiver = Receiver::listen_after(receiver, &setup);
        let second = running_publisher(&setup, Some(first_pid)).await;
        assert_eq!(second["restarts"], 1, "{second}");
        assert!(
            second["last_error"].as_str().unwrap().contains("exited"),
            "{second}"
        );
        receiver.until_centre_is([127, 127, 127]).await;

        // SIGSTOP: no progress, the watchdog stops it and a new one takes over.
        let second_pid = second["pid"].as_u64().unwrap();
        unsafe { libc::kill(second_pid as i32, libc::SIGSTOP) };
        let receiver = Receiver::listen_after(receiver, &setup);
        let third = running_publisher(&setup, Some(second_pid)).await;
        assert_eq!(third["restarts"], 2, "{third}");
        assert!(
            third["last_error"].as_str().unwrap().contains("stalled"),
            "{third}"
        );
        eventually(PATIENCE, || async {
            (!is_alive(second_pid as u32)).then_some(())
        })
        .await;
        drop(receiver);
    }

    impl Receiver {
        /// A fresh listener for the next publisher run, once this one's connection is gone.
        fn listen_after(previous: Receiver, setup: &Setup) -> Receiver {
            drop(previous);
            Receiver::listen(setup)
        }
    }

    #[tokio::test]
    async fn killing_the_service_leaves_no_publisher_behind() {
        let mut setup = setup().await;
        let _receiver = Receiver::listen(&setup);
        prime(&setup, 600).await;
        let running = running_publisher(&setup, None).await;
        let pid = running["pid"].as_u64().unwrap() as u32;
        setup.service.signal_and_wait(libc::SIGKILL);
        eventually(PATIENCE, || async { (!is_alive(pid)).then_some(()) }).await;
    }

    #[tokio::test]
    async fn heartbeats_hold_demand_per_client_and_bad_ones_change_nothing() {
        let setup = setup().await;
        let path = format!("/transmissions/{}/demand/heartbeat", setup.transmission);
        let (code, body) = setup
            .service
            .post(
                &path,
                &json!({"playback_session_id": "s1", "client": "ha_entity"}),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["lease_seconds"], 90.0);
        assert_eq!(body["renewed_outputs"], 1);
        let (_, body) = setup
            .service
            .post(
                &path,
                &json!({"playback_session_id": "s2", "source": "player", "ttl_seconds": 5}),
            )
            .await;
        assert_eq!(body["lease_seconds"], 5.0, "{body}");
        let output = output_runtime(&setup).await;
        assert_eq!(output["demand"]["reason"], "heartbeat_lease", "{output}");
        assert_eq!(output["demand"]["heartbeat_sessions"], 2);

        for (bad, loc) in [
            (
                json!({"playback_session_id": ""}),
                "body.playback_session_id",
            ),
            (
                json!({"playback_session_id": "s", "ttl_seconds": 2}),
                "body.ttl_seconds",
            ),
            (
                json!({"playback_session_id": "s", "client": "tv"}),
                "body.client",
            ),
            (
                json!({"playback_session_id": "s", "transport": "smoke"}),
                "body.transport",
            ),
            (json!({"ttl_seconds": 10}), "body.playback_session_id"),
        ] {
            let (code, body) = setup.service.post(&path, &bad).await;
            assert_eq!(code, 422, "{bad} -> {body}");
            assert_eq!(support::first_loc(&body), loc, "{body}");
        }
        let (code, _) = setup
            .service
            .post(
                "/transmissions/nope/demand/heartbeat",
                &json!({"playback_session_id": "s"}),
            )
            .await;
        assert_eq!(code, 404);
        let (code, body) = setup
            .service
            .post(
                &format!(
                    "/transmissions/{}/demand/prime?quality_profile_id=huge",
                    setup.transmission
                ),
                &json!({}),
            )
            .await;
        assert_eq!(code, 422, "{body}");
        assert_eq!(support::first_loc(&body), "query.quality_profile_id");
        let after = output_runtime(&setup).await;
        assert_eq!(
            after["demand"]["heartbeat_sessions"], 2,
            "nothing changed: {after}"
        );
    }
}

/// A camera added is a camera you can watch: the registry, the reconciler, bypass publishers and
/// camera readers, end to end with a real GStreamer RTSP camera and real FFmpeg.
mod cameras {
    use super::publishing::{Receiver, engine_without_rtsp};
    use super::*;
    use toposync_test_stand_ins::TestCamera;

    async fn output_of(service: &Service, key: &str) -> Value {
        let (_, body) = service.get("/runtime/outputs").await;
        body["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["output_key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no output {key} in {body}"))
    }

    #[tokio::test]
    async fn a_published_rtsp_camera_is_watchable_and_unpublishing_removes_everything() {
        let camera = TestCamera::start("640x360", 10);
        let (service, rtsp, _, dir) = engine_without_rtsp().await;
        let root = service.root.clone();
        let response = service
            .http
            .post(format!("{root}/api/cameras"))
            .json(&json!({"id": "front", "name": "Front Door", "sources": [
                {"id": "main", "name": "Principal", "role": "main", "is_default": true,
                 "origin": {"rtsp_url": camera.url, "stream_username": "viewer", "stream_password": "s3cret"}}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let created: Value = response.json().await.unwrap();
        assert_eq!(
            created["sources"][0]["origin"]["stream_password"],
            "********"
        );

        let (_, views) = service.get("/camera-live-views").await;
        let view = &views[0];
        assert_eq!(view["id"], "live-front-door-front");
        assert_eq!(view["defaults"]["fullscreen_variant_id"], "main");
        let tx = view["variants"][0]["transmission_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(tx, "tx-camera-front-main-main");
        let (_, transmissions) = service.get("/transmissions").await;
        assert_eq!(transmissions[0]["id"], tx.as_str());
        assert_eq!(transmissions[0]["generated_by"], "stream_publication");
        let (_, pipelines) = service.get("/runtime/pipelines").await;
        assert_eq!(pipelines["pipelines"][0]["mode"], "bypass", "{pipelines}");
        assert_eq!(pipelines["pipelines"][0]["stream_behavior"], "continuous");
        assert_eq!(pipelines["pipelines"][0]["event_gate_reasons"], json!([]));
        assert!(
            !pipelines.to_string().contains("s3cret"),
            "credentials shown: {pipelines}"
        );

        // Prime the quad-grid output (640x360, 10 fps): its publisher pulls the camera.
        let path = format!("{tx}-hls_quad_grid");
        let mut receiver = Receiver::at(dir.path(), rtsp, &path, (640, 360));
        let (code, primed) = service
            .post(
                &format!("/transmissions/{tx}/demand/prime?output_id=hls_quad_grid"),
                &json!({}),
            )
            .await;
        assert_eq!(code, 200, "{primed}");
        let frame = receiver.frame().await.expect("video from the camera");
        assert_eq!(frame.len(), 640 * 360 * 3);
        let described = receiver.described();
        assert!(described.contains("Video: h264"), "{described}");
        let key = format!("{tx}:hls_quad_grid");
        let output = output_of(&service, &key).await;
        assert_eq!(output["input_mode"], "rtsp_pull", "{output}");
        assert_eq!(
            output["target"]["input"]["source"],
            camera.url.replace("rtsp://", "rtsp://viewer:********@")
        );
        let pid = output["pid"].as_u64().unwrap() as u32;
        // What `ps -eo args` shows every local user: no process names the camera's password
        // (FFmpeg read the URL from its stdin).
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(
            String::from_utf8_lossy(&cmdline).contains("ffmpeg"),
            "the publisher is the FFmpeg reading the camera"
        );
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(args) = std::fs::read(entry.path().join("cmdline")) {
                let args = String::from_utf8_lossy(&args).replace('\0', " ");
                assert!(!args.contains("s3cret"), "password in argv: {args}");
            }
        }
        // The original's flattened names.
        assert_eq!(output["publisher_running"], true, "{output}");
        assert_eq!(output["publisher_pid"], pid, "{output}");
        assert_eq!(output["resolved_engine_path"], path.as_str(), "{output}");
        assert_eq!(output["demand_signal"], true, "{output}");
        assert!(output["publisher_restart_count"].is_u64(), "{output}");
        assert!(output["viewer_count"].is_u64(), "{output}");

        // Unpublish: transmission, implicit pipeline and publisher go away.
        let (code, body) = service
            .put(
                "/publications/camera-sources/front/main",
                &json!({"enabled": false}),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["enabled"], false);
        let (_, transmissions) = service.get("/transmissions").await;
        assert_eq!(transmissions, json!([]));
        let pipelines: Value = service
            .http
            .get(format!("{root}/api/pipelines"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(pipelines, json!([]));
        eventually(PATIENCE, || async { (!is_alive(pid)).then_some(()) }).await;
    }

    #[tokio::test]
    async fn force_off_runs_the_camera_reader_and_the_frame_path() {
        // The demo camera (generated pattern) into a manual transmission, bypass forced off:
        // a camera reader decodes it and the publisher encodes the writer's frames from the pipe.
        let (service, rtsp, _, dir) = engine_without_rtsp().await;
        let root = service.root.clone();
        let camera = json!({"id": "pattern", "sources": [{"id": "main", "role": "main", "is_default": true,
                                                          "origin": {"rtsp_url": "demo:320x240"}}]});
        let response = service
            .http
            .post(format!("{root}/api/cameras"))
            .json(&camera)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        // The camera's own publication is not what this test watches: switch it off.
        service
            .put(
                "/publications/camera-sources/pattern/main",
                &json!({"enabled": false}),
            )
            .await;
        let (_, created) = service
            .post("/transmissions", &json!({"name": "Lab", "path": "lab", "outputs": [
                {"id": "main", "protocol": "rtsp", "resolution": {"width": 320, "height": 240}, "fps_limit": 10}]}))
            .await;
        let tx = created["id"].as_str().unwrap().to_string();
        let (code, wizard) = service
            .post("/wizard/create-pipeline", &json!({
                "transmission_id": tx, "camera_id": "pattern", "preset_id": "simple_stream",
                "optional_parameters": {"pipeline_name": "lab_reader", "bypass_mode": "force_off"}}))
            .await;
        assert_eq!(code, 200, "{wizard}");
        assert_eq!(wizard["pipeline_name"], "lab_reader");
        let (_, pipelines) = service.get("/runtime/pipelines").await;
        let lab = pipelines["pipelines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["pipeline_name"] == "lab_reader")
            .cloned()
            .unwrap();
        assert_eq!(lab["mode"], "reader", "{lab}");

        let mut receiver = Receiver::at(dir.path(), rtsp, "lab", (320, 240));
        service
            .post(&format!("/transmissions/{tx}/demand/prime"), &json!({}))
            .await;
        receiver.frame().await.expect("video");
        let (_, health) = service.get("/runtime/health").await;
        let writers = &health["transmissions"]
            .as_array()
            .and_then(|all| all.iter().find(|t| t["transmission_id"] == tx.as_str()))
            .expect("the transmission's health")["writers"];
        assert_eq!(writers[0]["writer_id"], "lab_reader:stream", "{health}");
        let output = eventually(PATIENCE, || async {
            let output = output_of(&service, &format!("{tx}:main")).await;
            (output["showing"] == "live").then_some(output)
        })
        .await;
        assert_eq!(output["input_mode"], "rawvideo_pipe");
        // Watched and encoding: live, healthy, working, in the original's words.
        let main = eventually(PATIENCE, || async {
            let (_, health) = service.get("/runtime/health").await;
            let transmission = health["transmissions"]
                .as_array()?
                .iter()
                .find(|t| t["transmission_id"] == tx.as_str())?
                .clone();
            (transmission["status"] == "live").then_some(transmission)
        })
        .await;
        assert_eq!(main["summary_status"], "working", "{main}");
        let encoding = main["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["output_id"] == "main")
            .unwrap();
        assert_eq!(encoding["classification"], "healthy", "{encoding}");
        assert_eq!(encoding["publisher_running"], true);
        assert_eq!(encoding["publisher_active_codec"], "libx264");
        assert_eq!(encoding["demand_signal"], true);
        let (_, pipelines) = service.get("/runtime/pipelines").await;
        assert!(
            pipelines
                .to_string()
                .contains("\"reader_state\":\"reading\""),
            "{pipelines}"
        );

        // Generated pipelines are read-only; manual ones can go.
        let (code, body) = service
            .post(&format!("/transmissions/{tx}/demand/prime"), &json!({}))
            .await;
        assert_eq!(code, 200, "{body}");
        let deleted = service
            .http
            .delete(format!("{root}/api/pipelines/lab_reader"))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 200);
    }
}

/// Passthrough: the real engine pulls a camera's own H.264 itself (no FFmpeg at all) and holds
/// the first reader until it plays, and an H.265 camera is encoded to H.264 for browsers
/// (GStreamer cameras, real MediaMTX and FFmpeg).
mod passthrough {
    use super::*;
    use toposync_test_stand_ins::TestCamera;

    /// Publishes `camera` as camera `id`'s main source; answers its transmission and the native
    /// output once `/runtime/outputs` shows it decided (`ready`).
    async fn published(
        service: &Service,
        id: &str,
        camera: &TestCamera,
        ready: impl Fn(&Value) -> bool,
    ) -> (String, Value) {
        let response = service
            .http
            .post(format!("{}/api/cameras", service.root))
            .json(
                &json!({"id": id, "name": id, "sources": [{"id": "main", "role": "main",
                "is_default": true, "origin": {"rtsp_url": camera.url}}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let tx = format!("tx-camera-{id}-main-main");
        let (_, views) = service.get("/camera-live-views").await;
        let view = views
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["variants"][0]["transmission_id"] == tx.as_str())
            .unwrap_or_else(|| panic!("no live view for {tx}: {views}"))
            .clone();
        assert_eq!(
            view["variants"][0]["output_id"], "hls_native",
            "the main view plays the camera's own stream: {view}"
        );
        let output = native_output(service, &tx, ready).await;
        (tx, output)
    }

    /// `tx`'s native output as `/runtime/outputs` shows it, once `ready` holds.
    async fn native_output(service: &Service, tx: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let key = format!("{tx}:hls_native");
        eventually(Duration::from_secs(30), || async {
            let (_, body) = service.get("/runtime/outputs").await;
            body["outputs"]
                .as_array()?
                .iter()
                .find(|o| o["output_key"] == key.as_str() && ready(o))
                .cloned()
        })
        .await
    }

    /// Every process under `pid` (children, grandchildren...) by its command name.
    fn descendants(pid: u32) -> Vec<String> {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        children
            .split_whitespace()
            .filter_map(|child| child.parse::<u32>().ok())
            .flat_map(|child| {
                let comm = std::fs::read_to_string(format!("/proc/{child}/comm"))
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                std::iter::once(comm).chain(descendants(child))
            })
            .collect()
    }

    #[tokio::test]
    async fn an_h264_camera_is_relayed_and_an_h265_camera_is_encoded() {
        let Some((service, status, _dir)) = super::real_engine::started().await else {
            return;
        };
        let rtsp = status["ports"]["rtsp"].as_u64().unwrap();

        let camera = TestCamera::start_codec("1280x720", 12, "h264");
        let (tx, output) = published(&service, "front", &camera, |o| {
            o["publisher_state"] == "relayed"
        })
        .await;
        assert_eq!(output["target"]["video_codec"], "copy", "{output}");
        assert!(output["pid"].is_null(), "no publisher: {output}");
        let path = format!("{tx}-hls_native");
        let source = eventually(Duration::from_secs(10), || async {
            let conf = engine_api(&service, &format!("/v3/config/paths/get/{path}")).await;
            (conf["source"] != "publisher").then_some(conf)
        })
        .await;
        assert_eq!(source["source"], camera.url.as_str(), "{source}");
        assert_eq!(source["sourceOnDemand"], true, "{source}");
        // Not primed: the reader's own request is the demand, and the engine holds it until
        // the camera answers, so the first try plays.
        let url = format!("rtsp://127.0.0.1:{rtsp}/{path}");
        assert_eq!(
            probe(&url).as_deref(),
            Some("h264,1280,720"),
            "the camera's own video, first try"
        );
        let processes = descendants(service.pid());
        assert!(
            !processes.iter().any(|name| name == "ffmpeg"),
            "nothing decodes, encodes or copies: {processes:?}"
        );

        let camera = TestCamera::start_codec("640x360", 10, "h265");
        let (tx, _) = published(&service, "back", &camera, |o| {
            o["target"]["video_codec"] == "libx264"
        })
        .await;
        let (code, primed) = service
            .post(
                &format!("/transmissions/{tx}/demand/prime?output_id=hls_native&ttl_seconds=120"),
                &json!({}),
            )
            .await;
        assert_eq!(code, 200, "{primed}");
        let output = native_output(&service, &tx, |o| o["publisher_pid"].is_u64()).await;
        assert_eq!(
            output["target"]["video_reason"],
            "encoded: the camera sends hevc; browsers need H.264"
        );
        let pid = output["publisher_pid"].as_u64().unwrap();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(String::from_utf8_lossy(&cmdline).contains("libx264"));
        let url = format!("rtsp://127.0.0.1:{rtsp}/{tx}-hls_native");
        let seen = eventually(Duration::from_secs(20), || async { probe(&url) }).await;
        assert_eq!(seen, "h264,640,360", "H.264 at the camera's size");
    }
}

mod bypass_chaos {
    use super::publishing::{Receiver, engine_without_rtsp};
    use super::*;

    /// A camera that refuses connections makes its bypass publisher fail and back off (1 s,
    /// 2 s, 4 s ... 30 s), while another output keeps publishing undisturbed.
    #[tokio::test]
    async fn a_dead_camera_restarts_with_backoff_and_disturbs_nobody() {
        let (service, rtsp, _, dir) = engine_without_rtsp().await;
        let root = service.root.clone();
        let refused = support::free_port();
        let camera = json!({"id": "dead", "sources": [{"id": "main", "role": "main",
            "origin": {"rtsp_url": format!("rtsp://127.0.0.1:{refused}/cam")}}]});
        let response = service
            .http
            .post(format!("{root}/api/cameras"))
            .json(&camera)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let (_, healthy) = service
            .post("/transmissions", &json!({"name": "Lab", "path": "lab", "outputs": [
                {"id": "main", "protocol": "rtsp", "resolution": {"width": 320, "height": 240}, "fps_limit": 10}]}))
            .await;
        let healthy = healthy["id"].as_str().unwrap().to_string();
        let mut receiver = Receiver::at(dir.path(), rtsp, "lab", (320, 240));
        let dead_tx = "tx-camera-dead-main-main";
        for (tx, output) in [
            (dead_tx, "output_id=hls_diagnostic_low&"),
            (healthy.as_str(), ""),
        ] {
            let (code, body) = service
                .post(
                    &format!("/transmissions/{tx}/demand/prime?{output}ttl_seconds=600"),
                    &json!({}),
                )
                .await;
            assert_eq!(code, 200, "{body}");
        }
        receiver
            .frame()
            .await
            .expect("the healthy output publishes");
        let started = std::time::Instant::now();
        let window = Duration::from_secs(20);
        let mut frames = 0;
        while started.elapsed() < window {
            receiver
                .frame()
                .await
                .expect("the healthy output is not disturbed");
            frames += 1;
        }
        let (_, outputs) = service.get("/runtime/outputs").await;
        let find = |key: String| {
            outputs["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["output_key"] == key)
                .cloned()
                .unwrap()
        };
        let dead = find(format!("{dead_tx}:hls_diagnostic_low"));
        let restarts = dead["restarts"].as_u64().unwrap();
        // 1 + 2 + 4 + 8 s of backoff fit in 20 s; 16 more do not.
        assert!(
            (2..=5).contains(&restarts),
            "{restarts} restarts in {window:?}: {dead}"
        );
        assert!(
            dead["last_error"].as_str().unwrap().contains("FFmpeg"),
            "{dead}"
        );
        let live = find(format!("{healthy}:main"));
        assert_eq!(live["restarts"], 0, "{live}");
        assert_eq!(live["publisher_state"], "running");
        assert!(
            frames > 100,
            "only {frames} frames in {window:?} on the healthy output"
        );
    }
}

/// The signed HLS proxy against the stand-in engine serving real HLS that FFmpeg made.
mod hls_proxy {
    use super::*;

    #[tokio::test]
    async fn players_get_hls_through_the_proxy_only_with_a_valid_token() {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("hls");
        std::fs::create_dir_all(media.join("door")).unwrap();
        let made = std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=320x240:rate=10",
                "-t",
                "3",
            ])
            .args([
                "-c:v",
                "libx264",
                "-g",
                "10",
                "-f",
                "hls",
                "-hls_time",
                "1",
                "-hls_list_size",
                "0",
            ])
            .arg(media.join("door/index.m3u8"))
            .status()
            .unwrap();
        assert!(made.success());
        let stand_in = mediamtx_stand_in();
        let service = isolated(Service::start_with(
            dir.path(),
            &[
                ("TOPOSYNC_STREAMING_ENGINE_PATH", &stand_in),
                ("STAND_IN_HLS_DIR", &media),
            ],
        ))
        .await;
        start_engine(&service).await;
        let (_, created) = service
            .post("/transmissions", &json!({"name": "Door", "path": "door", "outputs": [{"id": "hls", "protocol": "hls"}]}))
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        let (_, urls) = service.get(&format!("/transmissions/{id}/urls")).await;
        let path = urls["outputs"][0]["url"].as_str().unwrap().to_string();
        let root = service.root.clone();
        let playlist_url = format!("{root}{path}");

        let playlist = service.http.get(&playlist_url).send().await.unwrap();
        assert_eq!(playlist.status(), 200);
        let text = playlist.text().await.unwrap();
        let token = path.split("media_token=").nth(1).unwrap();
        let segment = text
            .lines()
            .find(|l| !l.starts_with('#') && !l.is_empty())
            .unwrap()
            .to_string();
        assert_eq!(
            segment,
            format!("/api/streams/media/hls/door/index0.ts?media_token={token}")
        );
        let bytes = service
            .http
            .get(format!("{root}{segment}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(
            bytes.as_ref(),
            std::fs::read(media.join("door/index0.ts")).unwrap(),
            "relayed unchanged"
        );

        // A real player follows the rewritten playlist through the proxy.
        let probe = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name,width,height",
                "-of",
                "csv=p=0",
            ])
            .arg(&playlist_url)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&probe.stdout).lines().next(),
            Some("h264,320,240")
        );

        // Every playlist fetch is a viewer for a few seconds.
        let (_, demand) = service.get(&format!("/transmissions/{id}/demand")).await;
        assert_eq!(demand["outputs"][0]["heartbeat_sessions"], 1, "{demand}");

        // The probe walks the same HLS straight from the engine, as a player would.
        let (_, probe) = service.get(&format!("/transmissions/{id}/hls/probe")).await;
        assert_eq!(probe["status"], "ok", "{probe}");
        assert_eq!(probe["tail_segment_reachable"], true);
        assert!(
            probe["tail_segment_url"]
                .as_str()
                .unwrap()
                .ends_with("/door/index2.ts"),
            "{probe}"
        );
        assert!(probe["target_duration_seconds"].as_f64().unwrap() >= 1.0);
        let (_, lonely) = service
            .post(
                "/transmissions",
                &json!({"name": "R", "path": "r", "outputs": [{"id": "r", "protocol": "rtsp"}]}),
            )
            .await;
        let (_, none) = service
            .get(&format!(
                "/transmissions/{}/hls/probe",
                lonely["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(none["status"], "no_hls_output", "{none}");
        // Every field of the original's answer is there, whatever the status.
        for key in [
            "url",
            "media_playlist_url",
            "playlist_reachable",
            "target_duration_seconds",
            "media_sequence",
            "tail_segment_url",
            "tail_segment_http_status",
            "tail_segment_reachable",
            "sampled_at_unix",
            "error",
        ] {
            assert!(none.get(key).is_some(), "{key} missing: {none}");
        }

        let forged = playlist_url.replace("media_token=", "media_token=x");
        for (url, status, detail) in [
            (forged.as_str(), 401, "media_token_invalid"),
            (
                &format!("{root}/api/streams/media/hls/door/index.m3u8") as &str,
                401,
                "media_token_invalid",
            ),
            (
                &playlist_url.replace("/door/", "/other/") as &str,
                401,
                "media_token_invalid",
            ),
            (
                &format!("{root}/api/streams/media/hls/door/a//b.ts?media_token={token}") as &str,
                400,
                "Invalid HLS media path",
            ),
        ] {
            let response = service.http.get(url).send().await.unwrap();
            assert_eq!(response.status().as_u16(), status, "{url}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["detail"], detail, "{url}");
        }

        // With the engine stopped, authentication still comes first: a bad token is 401, and
        // only a caller with a valid one hears that the engine is down.
        let (code, _) = service.post("/engine/stop", &json!({})).await;
        assert_eq!(code, 200);
        let missing = format!("{root}/api/streams/media/hls/door/index.m3u8");
        for (url, status, detail) in [
            (forged.as_str(), 401, "media_token_invalid"),
            (missing.as_str(), 401, "media_token_invalid"),
            (
                playlist_url.as_str(),
                503,
                "Streaming engine is not running",
            ),
        ] {
            let response = service.http.get(url).send().await.unwrap();
            assert_eq!(response.status().as_u16(), status, "{url}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["detail"], detail, "{url}");
        }
    }
}

/// Home Assistant: the camera manifest and the WHEP offer relay (the stand-in engine answers WHEP:
/// MediaMTX's recorded 400 for a bad offer, a canned answer for a good one).
mod home_assistant {
    use super::*;

    #[tokio::test]
    async fn the_manifest_and_offers_relayed_to_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let stand_in = mediamtx_stand_in();
        let service = isolated(Service::start_with(
            dir.path(),
            &[
                ("TOPOSYNC_STREAMING_ENGINE_PATH", &stand_in),
                (
                    "TOPOSYNC_HOME_ASSISTANT_NATIVE_WEBRTC_ENABLED",
                    Path::new("true"),
                ),
            ],
        ))
        .await;
        let status = start_engine(&service).await;
        let rtsp = status["ports"]["rtsp"].as_u64().unwrap();
        let (_, created) = service
            .post("/transmissions", &json!({"name": "Porch", "path": "porch", "outputs": [
                {"id": "hls", "protocol": "hls", "authentication": {"enabled": true, "username": "ha", "password": "pw"}},
                {"id": "live", "protocol": "webrtc"}]}))
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        let (code, manifest) = service.get("/home-assistant/cameras").await;
        assert_eq!(code, 200, "{manifest}");
        let camera = &manifest["cameras"][0];
        assert_eq!(
            camera["rtsp_url"],
            format!("rtsp://ha:pw@127.0.0.1:{rtsp}/porch-hls")
        );
        assert_eq!(
            camera["redacted_rtsp_url"],
            format!("rtsp://[REDACTED]@127.0.0.1:{rtsp}/porch-hls")
        );
        assert_eq!(
            camera["webrtc_offer_url"],
            format!("/api/streams/transmissions/{id}/webrtc/offer?output_id=live")
        );
        assert_eq!(manifest["native_webrtc_enabled"], true);

        let offer = "v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nt=0 0\n";
        let (code, answer) = service
            .post(
                &format!("/transmissions/{id}/webrtc/offer"),
                &json!({"sdp": offer}),
            )
            .await;
        assert_eq!(code, 200, "{answer}");
        assert_eq!(answer["output_id"], "live");
        assert!(
            answer["answer_sdp"]
                .as_str()
                .unwrap()
                .starts_with("v=0\r\n"),
            "{answer}"
        );
        let (_, demand) = service
            .get(&format!("/transmissions/{id}/demand?output_id=live"))
            .await;
        assert_eq!(
            demand["outputs"][0]["primed"], true,
            "an offer primes its output: {demand}"
        );

        let (code, refused) = service
            .post(
                &format!("/transmissions/{id}/webrtc/offer"),
                &json!({"sdp": "hello"}),
            )
            .await;
        assert_eq!(code, 502, "{refused}");
        let detail = refused["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("WHEP offer failed: 400 ")
                && detail.contains("failed to unmarshal SDP: EOF"),
            "{detail}"
        );
        let (code, body) = service
            .post(
                &format!("/transmissions/{id}/webrtc/offer"),
                &json!({"sdp": ""}),
            )
            .await;
        assert_eq!(code, 422);
        assert_eq!(support::first_loc(&body), "body.sdp");
        let (code, _) = service
            .post("/transmissions/nope/webrtc/offer", &json!({"sdp": offer}))
            .await;
        assert_eq!(code, 404);
    }
}

/// MSE through the go2rtc sidecar. go2rtc cannot be downloaded here, so its TEST STAND-IN
/// (`stand-ins/`) runs in its place and speaks the recorded MSE session.
mod mse {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    /// The service with the stand-in engine (running) and the go2rtc stand-in, on free ports.
    async fn with_sidecar(dir: &Path, extra: &[(&str, &Path)]) -> (Service, u16) {
        let go2rtc = toposync_test_stand_ins::go2rtc_stand_in();
        let engine = mediamtx_stand_in();
        let mut env: Vec<(&str, &Path)> = vec![
            ("TOPOSYNC_STREAMING_ENGINE_PATH", &engine),
            ("TOPOSYNC_STREAMING_GO2RTC_PATH", &go2rtc),
        ];
        env.extend_from_slice(extra);
        let service = isolated(Service::start_with(dir, &env)).await;
        let api_port = support::free_port();
        service
            .patch(
                "/settings",
                &json!({"engine": {"mse_sidecar": {"api_port": api_port}}}),
            )
            .await;
        start_engine(&service).await;
        (service, api_port)
    }

    #[tokio::test]
    async fn a_browser_session_is_relayed_through_a_lazily_started_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let paths = dir.path().join("paths.json");
        std::fs::write(
            &paths,
            json!({"items": [{"name": "door", "ready": true, "readers": []}]}).to_string(),
        )
        .unwrap();
        let (service, api_port) =
            with_sidecar(dir.path(), &[("STAND_IN_PATHS_FILE", &paths)]).await;
        let (_, created) = service
            .post("/transmissions", &json!({"name": "Door", "path": "door", "outputs": [{"id": "hls", "protocol": "hls"}]}))
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        let (_, status) = service.get("/mse/status").await;
        assert_eq!(
            status["running"], false,
            "idle until the first viewer: {status}"
        );
        assert_eq!(status["api_reachable"], false, "{status}");
        assert_eq!(status["technical_status"], "stopped", "{status}");
        assert_eq!(status["summary_status"], "warming", "{status}");
        assert_eq!(status["summary_message"], "MSE sidecar is starting.");
        assert_eq!(status["summary_action"], Value::Null);

        let path = service.media_path(&id, "mse").await;
        let (mut socket, _) = tokio_tungstenite::connect_async(service.ws_url(&path))
            .await
            .unwrap();
        let mut statuses = Vec::new();
        loop {
            let Some(Ok(Message::Text(text))) = support::next_data(&mut socket).await else {
                panic!("status messages first")
            };
            let message: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(message["type"], "status", "{message}");
            statuses.push(message["message"].as_str().unwrap().to_string());
            if message["stream"] == "mse-door" {
                break;
            }
        }
        assert_eq!(
            statuses,
            [
                "Priming MSE backing stream demand.",
                "Waiting for MSE backing RTSP path.",
                "Starting MSE go2rtc sidecar.",
                "Waiting for MSE go2rtc API.",
                "Connecting to MSE go2rtc WebSocket."
            ],
            "the original's sequence"
        );
        // Now the browser talks to go2rtc through the proxy.
        socket
            .send(Message::Text(
                r#"{"type":"mse","value":"avc1.640029"}"#.into(),
            ))
            .await
            .unwrap();
        let Some(Ok(Message::Text(mime))) = support::next_data(&mut socket).await else {
            panic!("the MIME message")
        };
        assert!(mime.contains("video/mp4"), "{mime}");
        let Some(Ok(Message::Binary(init))) = support::next_data(&mut socket).await else {
            panic!("the init segment")
        };
        assert_eq!(&init[4..8], b"ftyp");
        let Some(Ok(Message::Binary(fragment))) = support::next_data(&mut socket).await else {
            panic!("a fragment")
        };
        assert_eq!(&fragment[4..8], b"moof");

        let (_, status) = service.get("/mse/status").await;
        assert_eq!(status["running"], true, "{status}");
        assert_eq!(status["api_reachable"], true, "{status}");
        assert_eq!(
            (&status["summary_status"], &status["technical_status"]),
            (&json!("working"), &json!("running")),
            "{status}"
        );
        assert_eq!(status["mse_sessions"], 1);
        assert_eq!(status["api_port"], api_port);
        let pid = status["pid"].as_u64().unwrap() as u32;
        let config = std::fs::read_to_string(status["config_path"].as_str().unwrap()).unwrap();
        assert!(config.contains("mse-door"), "{config}");
        socket.close(None).await.unwrap();
        eventually(PATIENCE, || async {
            let (_, status) = service.get("/mse/status").await;
            (status["mse_sessions"] == 0).then_some(())
        })
        .await;

        // A token for another transport is refused at once.
        let jsmpeg = service
            .media_path(&id, "jsmpeg")
            .await
            .replace("/jsmpeg/", "/mse/");
        let (mut refused, _) = tokio_tungstenite::connect_async(service.ws_url(&jsmpeg))
            .await
            .unwrap();
        match refused.next().await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1008),
            other => panic!("expected a 1008 close, got {other:?}"),
        }

        let (code, stopped) = service.post("/mse/stop", &json!({})).await;
        assert_eq!(code, 200, "{stopped}");
        assert_eq!(stopped["running"], false);
        assert_eq!(stopped["enabled"], false);
        assert!(!is_alive(pid), "go2rtc {pid} still runs");
        let (_, urls) = service.get(&format!("/transmissions/{id}/urls")).await;
        assert!(
            !urls["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["protocol"] == "mse"),
            "disabled: no MSE"
        );
    }

    #[tokio::test]
    async fn a_killed_go2rtc_is_restarted_while_wanted() {
        let dir = tempfile::tempdir().unwrap();
        let (service, _) = with_sidecar(dir.path(), &[]).await;
        let (code, started) = service.post("/mse/start", &json!({})).await;
        assert_eq!(code, 200, "{started}");
        let pid = started["pid"].as_u64().unwrap();
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let restarted = eventually(PATIENCE, || async {
            let (_, status) = service.get("/mse/status").await;
            (status["running"] == true && status["pid"].as_u64().is_some_and(|p| p != pid))
                .then_some(status)
        })
        .await;
        assert_eq!(restarted["restart_count"], 1, "{restarted}");
        assert!(
            restarted["last_error"].is_null(),
            "cleared once running again: {restarted}"
        );
    }

    #[tokio::test]
    async fn without_binary_or_network_mse_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (code, body) = service.post("/mse/download", &json!({})).await;
        assert_eq!(code, 503, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("Failed to download"),
            "{body}"
        );
        // The engine is disabled: the sidecar stays stopped and the status says why.
        let (code, status) = service.post("/mse/start", &json!({})).await;
        assert_eq!(code, 200, "{status}");
        assert_eq!(status["running"], false);
        assert!(
            status["warnings"]
                .to_string()
                .contains("MSE sidecar needs the MediaMTX streaming engine to be enabled."),
            "{status}"
        );
        assert!(
            status["warnings"]
                .to_string()
                .contains("go2rtc binary is not installed yet."),
            "{status}"
        );
        assert!(status["api_port"].as_u64().is_some(), "{status}");
        assert_eq!(status["started_at_unix"], Value::Null);
    }
}

mod real_mse {
    use super::*;
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    /// Runs only with a real MediaMTX and a real go2rtc (`TOPOSYNC_STREAMING_ENGINE_PATH`,
    /// `TOPOSYNC_STREAMING_GO2RTC_PATH`): a browser's MSE request gets real fMP4 of the
    /// placeholder the publisher encodes.
    #[tokio::test]
    async fn real_go2rtc_serves_fmp4_of_a_published_output() {
        let (Some(engine), Some(go2rtc)) = (
            std::env::var_os("TOPOSYNC_STREAMING_ENGINE_PATH"),
            std::env::var_os("TOPOSYNC_STREAMING_GO2RTC_PATH"),
        ) else {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "real_mse: skipped: set TOPOSYNC_STREAMING_ENGINE_PATH and TOPOSYNC_STREAMING_GO2RTC_PATH to real binaries to run it"
            );
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let service = isolated(Service::start_with(
            dir.path(),
            &[
                ("TOPOSYNC_STREAMING_ENGINE_PATH", Path::new(&engine)),
                ("TOPOSYNC_STREAMING_GO2RTC_PATH", Path::new(&go2rtc)),
            ],
        ))
        .await;
        let api_port = support::free_port();
        service
            .patch(
                "/settings",
                &json!({"engine": {"mse_sidecar": {"api_port": api_port}}}),
            )
            .await;
        start_engine(&service).await;
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "Door", "path": "door", "outputs": [
                {"id": "hls", "protocol": "hls", "resolution": {"width": 320, "height": 240}}]}),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        let path = service.media_path(&id, "mse").await;
        let (mut socket, _) = tokio_tungstenite::connect_async(service.ws_url(&path))
            .await
            .unwrap();
        loop {
            let Some(Ok(Message::Text(text))) = support::next_data(&mut socket).await else {
                panic!("status messages")
            };
            assert!(!text.contains("\"error\""), "{text}");
            if text.contains("mse-door") {
                break;
            }
        }
        socket
            .send(Message::Text(
                r#"{"type":"mse","value":"avc1.640029,avc1.42E01E"}"#.into(),
            ))
            .await
            .unwrap();
        let Some(Ok(Message::Text(mime))) = support::next_data(&mut socket).await else {
            panic!("MIME")
        };
        assert!(mime.contains("video/mp4"), "{mime}");
        let Some(Ok(Message::Binary(init))) = support::next_data(&mut socket).await else {
            panic!("init segment")
        };
        assert_eq!(&init[4..8], b"ftyp");
    }
}

/// `GET /metrics` against the real engine: a standard text-format parser reads it, a primed RTSP
/// read leaves a server-side time-to-first-frame sample for `rtsp`, and a killed FFmpeg counts
/// as a publisher restart.
mod metrics {
    use super::*;
    use support::{metric, scrape_metrics as scrape};

    #[tokio::test]
    async fn first_frame_and_restarts_are_counted() {
        let Some((service, status, _dir)) = super::real_engine::started().await else {
            return;
        };
        let rtsp = status["ports"]["rtsp"].as_u64().unwrap();
        let id = super::real_engine_publishing::primed_rtsp_transmission(&service, "gate").await;
        let probe = eventually(Duration::from_secs(30), || async {
            probe(&format!("rtsp://127.0.0.1:{rtsp}/gate"))
        })
        .await;
        assert_eq!(probe, "h264,320,240");

        let first_frame = [("transport", "rtsp"), ("measured_by", "server")];
        let scraped = eventually(Duration::from_secs(20), || async {
            let scraped = scrape(&service).await;
            let samples = metric(
                &scraped,
                "toposync_time_to_first_frame_seconds",
                &first_frame,
            );
            samples.is_some_and(|n| n >= 1.0).then_some(scraped)
        })
        .await;
        let output = [("transmission", id.as_str()), ("output", "main")];
        assert_eq!(metric(&scraped, "toposync_engine_up", &[]), Some(1.0));
        assert_eq!(
            metric(&scraped, "toposync_output_encoding", &output),
            Some(1.0)
        );
        assert_eq!(
            metric(&scraped, "toposync_encoders_running", &[]),
            Some(1.0)
        );
        assert_eq!(
            metric(&scraped, "toposync_publisher_restarts_total", &output),
            Some(0.0)
        );
        let created_route = [
            ("route", "/api/streams/transmissions"),
            ("method", "POST"),
            ("status", "200"),
        ];
        assert_eq!(
            metric(&scraped, "toposync_http_requests_total", &created_route),
            Some(1.0)
        );

        let (_, outputs) = service.get("/runtime/outputs").await;
        let pid = outputs["outputs"][0]["pid"]
            .as_u64()
            .expect("a running publisher");
        // SAFETY: kill(2) on the publisher's FFmpeg, as a crash would end it.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        eventually(Duration::from_secs(30), || async {
            let scraped = scrape(&service).await;
            let restarts = metric(&scraped, "toposync_publisher_restarts_total", &output)?;
            let actor = [("kind", "publisher")];
            let actor_restarts = metric(&scraped, "toposync_actor_restarts_total", &actor)?;
            (restarts >= 1.0 && actor_restarts >= 1.0).then_some(())
        })
        .await;
    }
}

/// Distributed mode with a real engine on the processing side (docs/operations.md, "Two
/// machines"): two instances of the binary on loopback, the core without an engine.
mod real_distributed {
    use super::*;

    const SYNC_USER: &str = "gpu-sync";
    const SYNC_PASSWORD: &str = "sync-password-for-the-test";

    fn url_of(urls: &Value, protocol: &str) -> String {
        urls["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["protocol"] == protocol)
            .unwrap_or_else(|| panic!("no {protocol} entry in {urls}"))["url"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn a_transmission_on_the_processing_server_plays_from_the_urls_the_core_hands_out() {
        let Some(binary) = super::real_engine::real_binary() else {
            return;
        };
        let sync_env = [
            ("TOPOSYNC_STREAMING_SYNC_USERNAME", Path::new(SYNC_USER)),
            ("TOPOSYNC_STREAMING_SYNC_PASSWORD", Path::new(SYNC_PASSWORD)),
        ];
        let core_dir = tempfile::tempdir().unwrap();
        let core = Service::start_with(core_dir.path(), &sync_env);
        let gpu_dir = tempfile::tempdir().unwrap();
        let mut gpu_env = vec![
            ("TOPOSYNC_STREAMING_ENGINE_PATH", binary.as_path()),
            ("TOPOSYNC_ROLE", Path::new("processing")),
            ("TOPOSYNC_PROCESSING_SERVER_ID", Path::new("gpu")),
            ("TOPOSYNC_STREAMING_SYNC_CORE_URL", Path::new(&core.root)),
            ("TOPOSYNC_STREAMING_SYNC_INTERVAL_SECONDS", Path::new("0.5")),
        ];
        gpu_env.extend_from_slice(&sync_env);
        let gpu = Service::start_with(gpu_dir.path(), &gpu_env);
        // The engine settings are the core's: enabled, on ports free here.
        let free_udp = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let free = support::free_port;
        let (status, body) = core
            .patch(
                "/settings",
                &json!({
                    "processing_servers": [{"id": "gpu", "url": gpu.root, "username": "viewer",
                        "password": gpu.viewer_token}],
                    "engine": {"enabled": true, "preferred_ports": {"rtsp": free(), "hls": free(),
                        "webrtc": free(), "webrtc_udp": free_udp, "api": free(), "metrics": free()}}
                }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, created) = core
            .post(
                "/transmissions",
                &json!({"name": "Garden", "path": "garden", "host_server_id": "gpu", "outputs": [
                    {"id": "main", "protocol": "rtsp", "resolution": {"width": 320, "height": 240}},
                    {"id": "web", "protocol": "hls", "resolution": {"width": 320, "height": 240}}]}),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        eventually(Duration::from_secs(30), || async {
            let (_, engine) = gpu.get("/engine/status").await;
            let (_, hosted) = gpu.get("/transmissions").await;
            (engine["ready"] == true && hosted[0]["id"] == id.as_str()).then_some(())
        })
        .await;

        // Priming through the core starts the publisher where the transmission runs.
        let (status, primed) = core
            .post(
                &format!("/transmissions/{id}/demand/prime?ttl_seconds=600"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{primed}");
        let pid = eventually(PATIENCE, || async {
            let (_, outputs) = gpu.get("/runtime/outputs").await;
            let main = outputs["outputs"]
                .as_array()?
                .iter()
                .find(|o| o["output_id"] == "main")?
                .clone();
            (main["publisher_running"] == true).then(|| main["publisher_pid"].as_u64())?
        })
        .await;
        assert!(pid > 0);

        let (status, urls) = core.get(&format!("/transmissions/{id}/urls")).await;
        assert_eq!(status, 200, "{urls}");
        let rtsp = url_of(&urls, "rtsp");
        assert!(rtsp.starts_with("rtsp://127.0.0.1:"), "{rtsp}");
        let rtsp_probe = eventually(PATIENCE, || async { probe(&rtsp) }).await;
        assert_eq!(rtsp_probe, "h264,320,240");
        let hls = url_of(&urls, "hls");
        assert!(
            hls.starts_with(&format!("{}/api/streams/media/hls/", gpu.root)),
            "{hls}"
        );
        let hls_probe = eventually(PATIENCE, || async { probe(&hls) }).await;
        assert_eq!(hls_probe, "h264,320,240");
        // A page of another origin (the core's dashboard) may fetch it: the token is the credential.
        let playlist = core.anonymous.get(&hls).send().await.unwrap();
        assert_eq!(playlist.status(), 200);
        assert_eq!(playlist.headers()["access-control-allow-origin"], "*");
        let forged = hls.replace("media_token=", "media_token=x");
        let refused = core.anonymous.get(&forged).send().await.unwrap();
        assert_eq!(refused.status(), 401);

        // Home Assistant's manifest asks the processing server too; on loopback the RTSP URL it
        // returns cannot reach another machine's Home Assistant, and the entity says why.
        let (status, manifest) = core.get("/home-assistant/cameras").await;
        assert_eq!(status, 200, "{manifest}");
        let garden = manifest["cameras"]
            .as_array()
            .unwrap()
            .iter()
            .find(|camera| camera["transmission_id"] == id.as_str())
            .unwrap();
        assert!(
            garden["warnings"]
                .as_array()
                .unwrap()
                .contains(&json!("Resolved via processing server 'gpu'.")),
            "{garden}"
        );
        assert_eq!(
            garden["blocking_errors"],
            json!([
                "Remote processing server returned a loopback RTSP URL; configure it with a LAN-reachable URL or expose the RTSP port."
            ]),
        );
        assert_eq!(garden["rtsp_url"], Value::Null);

        // Without the core, the processing server keeps publishing its last revision.
        drop(core);
        eventually(Duration::from_secs(10), || async {
            let (_, health) = gpu.get("/health").await;
            health["sync"]["last_error"].as_str().map(|_| ())
        })
        .await;
        assert_eq!(probe(&rtsp).as_deref(), Some("h264,320,240"));
    }
}
