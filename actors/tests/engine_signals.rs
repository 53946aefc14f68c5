//! The engine's signals as the rest of the system consumes them: per-path readers from its API
//! and demand hints from its log, with the MediaMTX TEST STAND-IN in place of MediaMTX and a real
//! FFmpeg reader. One test function: actor names are process-global.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use toposync_actors::Runtime;
use toposync_actors::engine::signals::EngineEvent;
use toposync_actors::engine::{EngineMsg, engine};
use toposync_actors::model::edit;
use toposync_actors::store;
use toposync_actors::supervision::ask;

const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn readers_and_demand_hints_reach_subscribers() {
    let fixtures =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mediamtx-v1.16.2/recorded");
    // SAFETY: set before any thread of this test binary reads the environment.
    unsafe {
        std::env::set_var(
            "TOPOSYNC_STREAMING_ENGINE_PATH",
            toposync_test_stand_ins::mediamtx_stand_in(),
        );
        std::env::set_var(
            "STAND_IN_PATHS_FILE",
            fixtures.join("07-paths-list-with-readers.json"),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::start(dir.path().to_path_buf()).await.unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let patch = json!({"engine": {"enabled": true, "preferred_ports": {
        "rtsp": free(), "hls": free(), "webrtc": free(), "api": free(), "metrics": free()}}});
    store::mutate(
        move |doc| edit::patch_settings(doc, patch, &edit::now_rfc3339()).map(|_| ()),
        DEADLINE,
    )
    .await
    .unwrap();
    let engine = engine().unwrap();
    let mut events = ask(&engine, EngineMsg::Subscribe, DEADLINE).await.unwrap();
    ask(&engine, EngineMsg::WaitReady, DEADLINE)
        .await
        .unwrap()
        .unwrap();

    let paths = ask(&engine, EngineMsg::Paths, DEADLINE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(paths[0].name, "front-door");
    assert_eq!(paths[0].readers, 2);

    // A real reader arriving before any publisher: the engine logs it, and a hint goes out.
    let status = ask(&engine, EngineMsg::Status, DEADLINE).await.unwrap();
    let rtsp = status.ports.unwrap().rtsp;
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-rtsp_transport", "tcp"])
        .arg(format!("rtsp://127.0.0.1:{rtsp}/front-door"))
        .output()
        .expect("ffprobe runs");
    assert!(
        !probe.status.success(),
        "nothing is published, the reader is refused"
    );
    let hint = tokio::time::timeout(DEADLINE, async {
        loop {
            match events.recv().await {
                Ok(EngineEvent::DemandHint { path }) => return path,
                Ok(_) => continue,
                Err(err) => panic!("event stream ended: {err}"),
            }
        }
    })
    .await
    .expect("a demand hint arrives");
    assert_eq!(hint, "front-door");
    runtime.shutdown().await;
}
