//! The supervisors of media processes, with the real MediaMTX (its path from
//! `TOPOSYNC_STREAMING_ENGINE_PATH`; skipped without it) and real FFmpeg: a publisher, a
//! pipeline's camera reader and the MediaMTX process actor that return `Err`, panic or freeze
//! are each restarted by their supervisor with a new process, the old one reaped, a sibling
//! untouched, and no task left behind. One test function: actor names are process-global.

use std::time::{Duration, Instant};

use serde_json::json;
use toposync_actors::Runtime;
use toposync_actors::demand::{DemandMsg, OutputFilter, demand};
use toposync_actors::engine::{EngineMsg, engine};
use toposync_actors::model::edit;
use toposync_actors::store;
use toposync_actors::supervision::observe::ActorSnapshot;
use toposync_actors::supervision::{Fault, ask};

const DEADLINE: Duration = Duration::from_secs(20);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn node<'a>(tree: &'a ActorSnapshot, path: &[&str]) -> Option<&'a ActorSnapshot> {
    path.iter().try_fold(tree, |node, name| {
        node.children.iter().find(|c| c.name == *name)
    })
}

/// Waits until the actor at `path` (or, with `owner`, its child `owner`, for actors whose
/// process is owned one level down) runs a process other than `old`; answers (pid, restarts).
async fn running_process(runtime: &Runtime, path: &[&str], old: Option<u32>) -> (u32, u32) {
    let start = Instant::now();
    loop {
        let tree = runtime.snapshot(Duration::from_millis(500)).await;
        if let Some(actor) = node(&tree, path).filter(|n| n.status == "running") {
            if let Some(pid) = actor.pid.filter(|pid| Some(*pid) != old) {
                return (pid, actor.restarts);
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no new process at {path:?}: {tree:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn media_processes_that_error_panic_or_freeze_are_restarted_alone() {
    let Ok(engine_path) = std::env::var("TOPOSYNC_STREAMING_ENGINE_PATH") else {
        eprintln!("skipped: TOPOSYNC_STREAMING_ENGINE_PATH is not set (the real MediaMTX)");
        return;
    };
    assert!(std::path::Path::new(&engine_path).is_absolute());
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::start(dir.path().to_path_buf()).await.unwrap();
    let patch = json!({"engine": {"enabled": true, "preferred_ports": {
        "rtsp": free_port(), "hls": free_port(), "webrtc": free_port(), "api": free_port(),
        "metrics": free_port()}}});
    store::mutate(
        move |doc| edit::patch_settings(doc, patch, &edit::now_rfc3339()).map(|_| ()),
        DEADLINE,
    )
    .await
    .unwrap();
    ask(&engine().unwrap(), EngineMsg::WaitReady, DEADLINE)
        .await
        .unwrap()
        .unwrap();
    let body = json!({"name": "door", "path": "door", "outputs": [
        {"id": "a", "protocol": "rtsp"}, {"id": "b", "protocol": "rtsp"}]});
    let id = store::mutate(
        move |doc| edit::create_transmission(doc, body, &edit::now_rfc3339()),
        DEADLINE,
    )
    .await
    .unwrap()
    .id;
    let primed = ask(
        &demand().unwrap(),
        |reply| DemandMsg::Prime {
            transmission_id: id.clone(),
            filter: OutputFilter::default(),
            ttl: Duration::from_secs(300),
            reply,
        },
        DEADLINE,
    )
    .await
    .unwrap();
    assert_eq!(primed, 2);

    let transmission = format!("transmission:{id}");
    let output_a = ["transmissions", transmission.as_str(), "output:a"];
    let output_b = ["transmissions", transmission.as_str(), "output:b"];
    // The publisher: restarted by its transmission (a freeze is found by its liveness check).
    faults_restart_alone(&runtime, &output_a, &output_a, &output_b).await;

    // A camera reader: restarted by the pipelines supervisor. Demo pattern camera, frame path.
    let camera = json!({"id": "pattern", "sources": [{"id": "main", "role": "main",
        "is_default": true, "origin": {"rtsp_url": "demo:320x240"}}]});
    store::mutate(
        move |doc| {
            toposync_actors::model::registry::create_camera(doc, camera, &edit::now_rfc3339())
                .map(|_| ())
        },
        DEADLINE,
    )
    .await
    .unwrap();
    for name in ["lab_a", "lab_b"] {
        let request = toposync_actors::wizard::Request::parse(json!({
            "transmission_id": id, "camera_id": "pattern", "preset_id": "simple_stream",
            "optional_parameters": {"pipeline_name": name, "bypass_mode": "force_off"}}))
        .unwrap();
        store::mutate(
            move |doc| {
                toposync_actors::wizard::create(doc, request, true, &edit::now_rfc3339())
                    .map(|_| ())
            },
            DEADLINE,
        )
        .await
        .unwrap();
    }
    let reader_a = ["pipelines", "pipeline:lab_a"];
    let decoder_a = ["pipelines", "pipeline:lab_a", "ffmpeg-decoder"];
    let decoder_b = ["pipelines", "pipeline:lab_b", "ffmpeg-decoder"];
    faults_restart_alone(&runtime, &reader_a, &decoder_a, &decoder_b).await;

    // The MediaMTX process actor: restarted by the engine actor (its only child). Publishers
    // reconnect to the new engine; a camera decoder, which does not use the engine, is the
    // process that must not be replaced.
    faults_restart_alone(
        &runtime,
        &["engine", "mediamtx"],
        &["engine", "mediamtx"],
        &decoder_b,
    )
    .await;

    mse_sessions_that_fail_end_alone(&runtime).await;

    let mut pids = Vec::new();
    for path in [
        &output_a[..],
        &output_b,
        &decoder_a,
        &decoder_b,
        &["engine", "mediamtx"],
    ] {
        pids.push(running_process(&runtime, path, None).await.0);
    }
    runtime.shutdown().await;
    for pid in pids {
        assert!(!process_alive(pid), "{pid} outlived the shutdown");
    }
}

/// Two MSE sessions relaying the real go2rtc (skipped without `TOPOSYNC_STREAMING_GO2RTC_PATH`);
/// one errors, panics or freezes (found by the sidecar's liveness check): it ends, its browser
/// channel closes, the other session relays on. Sessions are never restarted.
async fn mse_sessions_that_fail_end_alone(runtime: &Runtime) {
    use toposync_actors::sidecar::session::{MseSession, SessionRequest, ToBrowser};
    use toposync_actors::sidecar::{SidecarMsg, sidecar};
    if std::env::var("TOPOSYNC_STREAMING_GO2RTC_PATH").is_err() {
        eprintln!("MSE part skipped: TOPOSYNC_STREAMING_GO2RTC_PATH is not set (the real go2rtc)");
        return;
    }
    let patch = json!({"engine": {"mse_sidecar": {"enabled": true, "api_port": free_port()}}});
    store::mutate(
        move |doc| edit::patch_settings(doc, patch, &edit::now_rfc3339()).map(|_| ()),
        DEADLINE,
    )
    .await
    .unwrap();
    let body = json!({"name": "hall", "path": "hall", "outputs": [
        {"id": "h", "protocol": "hls", "resolution": {"width": 320, "height": 240}}]});
    let hall = store::mutate(
        move |doc| edit::create_transmission(doc, body, &edit::now_rfc3339()),
        DEADLINE,
    )
    .await
    .unwrap();
    let engine_path = hall.engine_path(&hall.outputs[0]);
    // Opens a session and waits until it relays go2rtc (the status naming the stream).
    let open = || async {
        let request = SessionRequest {
            engine_path: engine_path.clone(),
            transmission_id: hall.id.clone(),
            output_id: "h".into(),
        };
        let mut session: MseSession = ask(
            &sidecar().unwrap(),
            |reply| SidecarMsg::OpenSession(request, reply),
            DEADLINE,
        )
        .await
        .unwrap()
        .unwrap();
        loop {
            match tokio::time::timeout(DEADLINE, session.to_browser.recv()).await {
                Ok(Some(ToBrowser::Control(control))) if control.stream.is_some() => break,
                Ok(Some(ToBrowser::Control(control))) => {
                    assert!(
                        control.engine_path.is_none() && !control.message.contains("ailed"),
                        "{control:?}"
                    )
                }
                other => panic!("MSE session did not connect: {other:?}"),
            }
        }
        session
    };
    let session_names = |tree: &ActorSnapshot| -> Vec<String> {
        node(tree, &["sidecar"])
            .map(|n| n.children.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default()
    };
    let name_of = |session: &MseSession| format!("mse:{}", session.actor.get_id());
    let kept = open().await;
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let tasks_before = alive();
    for fault in [Fault::Error, Fault::Panic, Fault::Freeze] {
        let mut victim = open().await;
        let name = name_of(&victim);
        assert!(
            runtime.inject_fault(&["sidecar", &name], fault).await,
            "{fault:?}"
        );
        let start = Instant::now();
        loop {
            let tree = runtime.snapshot(Duration::from_millis(500)).await;
            let names = session_names(&tree);
            if !names.contains(&name) {
                assert!(
                    names.contains(&name_of(&kept)),
                    "{fault:?}: the other session ended: {names:?}"
                );
                break;
            }
            assert!(start.elapsed() < DEADLINE, "{fault:?}: {name} still there");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Its relay went with it: the browser side sees the end.
        loop {
            match tokio::time::timeout(DEADLINE, victim.to_browser.recv()).await {
                Ok(None) => break,
                Ok(Some(_)) => continue,
                Err(_) => panic!("{fault:?}: the browser channel stayed open"),
            }
        }
    }
    let start = Instant::now();
    while alive() > tasks_before {
        assert!(
            start.elapsed() < DEADLINE,
            "MSE: tasks {tasks_before} -> {}: leaked",
            alive()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(kept);
}

/// Makes the actor at `faulted` return `Err`, panic and freeze in turn; each time the process
/// shown at `process` (the actor's own, or its child's) is replaced and the old one reaped,
/// `restarts` grows by one, the process at `sibling` stays, and no task is left behind.
async fn faults_restart_alone(
    runtime: &Runtime,
    faulted: &[&str],
    process: &[&str],
    sibling: &[&str],
) {
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let restarts_of = |tree: &ActorSnapshot| node(tree, faulted).map(|n| n.restarts);
    let (mut pid, _) = running_process(runtime, process, None).await;
    let (sibling_pid, _) = running_process(runtime, sibling, None).await;
    let tasks_before = alive();
    for fault in [Fault::Error, Fault::Panic, Fault::Freeze] {
        let tree = runtime.snapshot(Duration::from_millis(500)).await;
        let restarts = restarts_of(&tree).expect("faulted actor present");
        assert!(
            runtime.inject_fault(faulted, fault).await,
            "{faulted:?} {fault:?}"
        );
        // A freeze is found by the supervisor's liveness check (every 3 s, two misses).
        let (new_pid, _) = running_process(runtime, process, Some(pid)).await;
        // Counted once the new one is ready (for the engine: once its API answers).
        let start = Instant::now();
        let tree = loop {
            let tree = runtime.snapshot(Duration::from_millis(500)).await;
            if restarts_of(&tree) == Some(restarts + 1) {
                break tree;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{faulted:?} {fault:?}: restarts {:?}, expected {}",
                restarts_of(&tree),
                restarts + 1
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let start = Instant::now();
        while process_alive(pid) {
            assert!(
                start.elapsed() < DEADLINE,
                "{faulted:?} {fault:?}: process {pid} left behind"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            node(&tree, sibling).and_then(|n| n.pid),
            Some(sibling_pid),
            "{faulted:?} {fault:?}: the sibling was restarted"
        );
        pid = new_pid;
    }
    let start = Instant::now();
    while alive() > tasks_before {
        assert!(
            start.elapsed() < DEADLINE,
            "{faulted:?}: tasks {tasks_before} -> {}: leaked",
            alive()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
