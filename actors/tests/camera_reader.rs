//! The camera reader with real FFmpeg decoding a generated source: frames reach the
//! transmission at the asked size, and a killed or frozen FFmpeg is replaced.

use std::sync::Arc;
use std::time::Duration;

use ractor::Actor;
use toposync_actors::model::transmission::Transmission;
use toposync_actors::pipelines::camera_reader::{CameraReaderActor, CameraReaderArgs};
use toposync_actors::supervision::ask;
use toposync_actors::supervision::observe::{ActorSnapshot, ChildEntry, snapshot};
use toposync_actors::transmissions::actor::TransmissionArgs;
use toposync_actors::transmissions::{TransmissionActor, TransmissionMsg};
use toposync_test_stand_ins::TestCamera;

/// Long enough for a stalled start, its backoff and a second start on a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(45);

async fn decoder_node(
    reader: &ractor::ActorRef<toposync_actors::pipelines::camera_reader::CameraReaderMsg>,
) -> Option<ActorSnapshot> {
    let entry = ChildEntry {
        name: "reader".into(),
        kind: "camera_reader",
        actor: Some(Box::new(reader.clone())),
        status_without_actor: "restarting",
        restarts: 0,
        last_error: None,
    };
    // No children while the reader is still starting.
    let mut tree = snapshot(entry, Duration::from_secs(1)).await;
    (!tree.children.is_empty()).then(|| tree.children.remove(0))
}

/// Waits until the decoder runs with a PID other than `old` and has read a frame.
async fn running_decoder(
    reader: &ractor::ActorRef<toposync_actors::pipelines::camera_reader::CameraReaderMsg>,
    old: Option<u32>,
) -> ActorSnapshot {
    let start = std::time::Instant::now();
    loop {
        let node = decoder_node(reader).await;
        let ready = node.as_ref().is_some_and(|n| {
            n.pid.is_some() && n.pid != old && n.state["frames"].as_u64().unwrap_or(0) > 0
        });
        if ready {
            return node.expect("checked above");
        }
        assert!(start.elapsed() < PATIENCE, "decoder not back: {node:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A transmission on its own and a camera reader feeding it from `source` at `size`, 5 fps.
async fn reader_on(
    source: &str,
    size: (u32, u32),
) -> (
    ractor::ActorRef<TransmissionMsg>,
    ractor::ActorRef<toposync_actors::pipelines::camera_reader::CameraReaderMsg>,
) {
    let config: Transmission = serde_json::from_value(
        serde_json::json!({"id": "t", "path": "t", "arbitration": "latest"}),
    )
    .unwrap();
    let (transmission, _) = Actor::spawn(
        None,
        TransmissionActor,
        TransmissionArgs::without_demand(Arc::new(config)),
    )
    .await
    .unwrap();
    let args = CameraReaderArgs {
        source: source.into(),
        size,
        fps: 5.0,
        writer_id: "camera.source:reader".into(),
        priority: 0,
        transmission: transmission.clone(),
        // Generous: a decoder restarting while another test starts its camera may be slow to
        // send its first frame (seen taking over 5 s on a loaded machine), which must not count
        // as a stall.
        stall_after: Duration::from_secs(10),
    };
    let (reader, _) = Actor::spawn(None, CameraReaderActor, args).await.unwrap();
    (transmission, reader)
}

#[tokio::test]
async fn frames_flow_and_a_killed_or_frozen_ffmpeg_is_replaced() {
    let (transmission, reader) = reader_on("lavfi:testsrc2=size=640x480:rate=10", (320, 180)).await;
    let mut selected = ask(&transmission, TransmissionMsg::SubscribeSelected, PATIENCE)
        .await
        .unwrap();

    // A 4:3 source contained into 16:9: the frame has the asked size.
    tokio::time::timeout(PATIENCE, selected.changed())
        .await
        .unwrap()
        .unwrap();
    let frame = selected.borrow_and_update().clone().expect("a frame");
    assert_eq!((frame.frame.width, frame.frame.height), (320, 180));
    assert_eq!(frame.writer_id, "camera.source:reader");

    let first = running_decoder(&reader, None).await;
    let pid = first.pid.unwrap();
    // SAFETY: kill(2) on the PID the decoder reported.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let second = running_decoder(&reader, Some(pid)).await;
    assert_eq!(second.restarts, 1);
    assert!(
        second
            .last_error
            .as_deref()
            .unwrap()
            .contains("FFmpeg decoder exited")
    );

    // A frozen FFmpeg produces nothing: the watchdog replaces it.
    let frozen = second.pid.unwrap();
    unsafe { libc::kill(frozen as i32, libc::SIGSTOP) };
    let third = running_decoder(&reader, Some(frozen)).await;
    assert_eq!(third.restarts, 2);
    assert!(
        third
            .last_error
            .as_deref()
            .unwrap()
            .contains("no frame from the source")
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{frozen}")).exists(),
        "the frozen FFmpeg was reaped"
    );

    reader.stop_and_wait(None, Some(PATIENCE)).await.unwrap();
    let pid = third.pid.unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "stopping the reader stops FFmpeg"
    );
    let health = ask(&transmission, TransmissionMsg::Health, PATIENCE)
        .await
        .unwrap();
    assert_eq!(
        health.writers[0].lifecycle,
        toposync_actors::transmissions::arbitration::Lifecycle::Close
    );
}

/// The decoder actor (not its FFmpeg) returning `Err`, panicking and freezing: each time the
/// reader replaces it, with a new FFmpeg, and nothing is left behind.
#[tokio::test]
async fn a_decoder_that_errors_panics_or_freezes_is_replaced() {
    use toposync_actors::supervision::Fault;
    use toposync_actors::supervision::observe::find;
    let (_transmission, reader) =
        reader_on("lavfi:testsrc2=size=320x240:rate=10", (320, 240)).await;
    let mut previous = running_decoder(&reader, None).await;
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let tasks = alive();
    for fault in [Fault::Error, Fault::Panic, Fault::Freeze] {
        let entry = ChildEntry {
            name: "reader".into(),
            kind: "camera_reader",
            actor: Some(Box::new(reader.clone())),
            status_without_actor: "restarting",
            restarts: 0,
            last_error: None,
        };
        find(entry, &["ffmpeg-decoder"], PATIENCE)
            .await
            .expect("the decoder runs")
            .inject(fault);
        let next = running_decoder(&reader, previous.pid).await;
        // At least this restart: a decoder slow to send its first frame on a loaded machine may
        // also have been restarted for stalling.
        assert!(next.restarts > previous.restarts, "{fault:?}: {next:?}");
        let old = previous.pid.unwrap();
        let start = std::time::Instant::now();
        while std::path::Path::new(&format!("/proc/{old}")).exists() {
            assert!(
                start.elapsed() < PATIENCE,
                "{fault:?}: FFmpeg {old} left behind"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        previous = next;
    }
    let start = std::time::Instant::now();
    while alive() > tasks {
        assert!(start.elapsed() < PATIENCE, "tasks {tasks} -> {}", alive());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reader.stop_and_wait(None, Some(PATIENCE)).await.unwrap();
}

#[tokio::test]
async fn a_real_rtsp_camera_produces_fresh_frames() {
    let camera = TestCamera::start("640x360", 10);
    let config: Transmission =
        serde_json::from_value(serde_json::json!({"id": "cam", "path": "cam"})).unwrap();
    let (transmission, _) = Actor::spawn(
        None,
        TransmissionActor,
        TransmissionArgs::without_demand(Arc::new(config)),
    )
    .await
    .unwrap();
    let mut selected = ask(&transmission, TransmissionMsg::SubscribeSelected, PATIENCE)
        .await
        .unwrap();
    let args = CameraReaderArgs {
        source: camera.url.clone(),
        size: (320, 240),
        fps: 5.0,
        writer_id: "front:camera.source".into(),
        priority: 0,
        transmission: transmission.clone(),
        stall_after: Duration::from_secs(5),
    };
    let (reader, _) = Actor::spawn(None, CameraReaderActor, args).await.unwrap();
    // Several distinct frames: the camera is live, not one decoded picture.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        tokio::time::timeout(PATIENCE, selected.changed())
            .await
            .unwrap()
            .unwrap();
        let frame = selected.borrow_and_update().clone().expect("a frame");
        assert_eq!(
            (frame.frame.width, frame.frame.height),
            (320, 240),
            "16:9 contained into 4:3"
        );
        seen.push(frame.frame.data);
    }
    assert_ne!(seen[0], seen[2], "the ball moves");
    // Letterbox: the top rows are black padding, the middle is picture.
    let top = &seen[2][..320 * 3];
    assert!(
        top.iter().all(|b| *b == 0),
        "black bar above a 16:9 picture in 4:3"
    );
    let health = ask(&transmission, TransmissionMsg::Health, PATIENCE)
        .await
        .unwrap();
    assert_eq!(
        health.active_writer_id.as_deref(),
        Some("front:camera.source")
    );
    assert!(health.selected_frame_age_seconds.unwrap() < 2.0, "fresh");
    reader.stop_and_wait(None, Some(PATIENCE)).await.unwrap();
}
