//! Cost of demanded outputs in the real service, printed as a table:
//! `cargo bench --bench publishers`.
//!
//! For N outputs at 1280x720/12 fps, each primed (so demanded) and fed by its own writer at
//! 12 fps over the WebSocket (or showing the placeholder), runs the release service with the
//! MediaMTX TEST STAND-IN for the API and a real receiving RTSP server (GStreamer, RECORD mode,
//! `tests/rtsp/rtsp_record_server.py`) in the engine's RTSP place, and reports the service's own
//! CPU (FFmpeg excluded: it runs in child processes) per output, and frames written and dropped.
//! Needs ffmpeg and the GStreamer packages `scripts/test` installs.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[path = "common/mod.rs"]
mod common;

use common::{BenchService, Killed, cpu_seconds};

const MEASURE: Duration = Duration::from_secs(10);
const FPS: u64 = 12;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn json(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    response.json().await.unwrap()
}

async fn run(outputs: usize, with_writers: bool) {
    let stand_in = toposync_test_stand_ins::mediamtx_stand_in();
    let service = BenchService::start(&[
        ("TOPOSYNC_STREAMING_ENGINE_PATH", stand_in.as_ref()),
        ("STAND_IN_SKIP_RTSP", "1".as_ref()),
    ]);
    let pid = service.pid();
    let base = service.base.clone();
    let http = toposync_actors::net::http_client();

    let ports = json!({"rtsp": free_port(), "hls": free_port(), "webrtc": free_port(),
                       "api": free_port(), "metrics": free_port()});
    json(
        http.patch(format!("{base}/settings"))
            .json(&json!({"engine": {"preferred_ports": ports}})),
    )
    .await;
    let engine = json(http.post(format!("{base}/engine/start"))).await;
    let rtsp = engine["ports"]["rtsp"].as_u64().unwrap();
    let paths: Vec<String> = (0..outputs).map(|i| format!("bench-{i}")).collect();
    let mut receiver = Command::new("/usr/bin/python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rtsp/rtsp_record_server.py"))
        .arg(rtsp.to_string())
        .args(&paths)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(receiver.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let _receiver = Killed(receiver);

    let mut ids = Vec::new();
    for path in &paths {
        let created = json(http.post(format!("{base}/transmissions")).json(&json!({
            "name": path, "path": path,
            "outputs": [{"id": "main", "protocol": "rtsp",
                         "resolution": {"width": 1280, "height": 720}, "fps_limit": FPS}]
        })))
        .await;
        let id = created["id"].as_str().unwrap().to_string();
        json(http.post(format!(
            "{base}/transmissions/{id}/demand/prime?ttl_seconds=600"
        )))
        .await;
        ids.push(id);
    }
    // Writers: 12 fps of 1280x720 BGR24 each, as a camera reader would deliver.
    let frame: Vec<u8> = (0..1280 * 720 * 3).map(|i| (i % 251) as u8).collect();
    let mut writers = Vec::new();
    if with_writers {
        for id in &ids {
            let url = format!(
                "{}/transmissions/{id}/writers/bench/ws",
                base.replacen("http", "ws", 1)
            );
            let frame = frame.clone();
            writers.push(tokio::spawn(async move {
                let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
                let format =
                    r#"{"type": "format", "format": "bgr24", "width": 1280, "height": 720}"#;
                socket.send(Message::Text(format.into())).await.unwrap();
                let mut ticks = tokio::time::interval(Duration::from_millis(1000 / FPS));
                loop {
                    ticks.tick().await;
                    if socket
                        .send(Message::Binary(frame.clone().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }));
        }
    }
    // Every publisher runs and encodes before measuring.
    let runtime = loop {
        let runtime = json(http.get(format!("{base}/runtime/outputs"))).await;
        let all = runtime["outputs"].as_array().unwrap();
        if all.iter().all(|o| o["frames_encoded"].as_u64() > Some(FPS)) {
            break runtime;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let counters = |runtime: &Value, key: &str| -> u64 {
        runtime["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o[key].as_u64().unwrap())
            .sum()
    };
    let (written_before, dropped_before) = (
        counters(&runtime, "frames_written"),
        counters(&runtime, "frames_dropped"),
    );
    let cpu_before = cpu_seconds(pid);
    tokio::time::sleep(MEASURE).await;
    let cpu = cpu_seconds(pid) - cpu_before;
    let runtime = json(http.get(format!("{base}/runtime/outputs"))).await;
    let written = counters(&runtime, "frames_written") - written_before;
    let dropped = counters(&runtime, "frames_dropped") - dropped_before;
    let restarts = counters(&runtime, "restarts");
    for writer in writers {
        writer.abort();
    }
    println!(
        "| {outputs} | {} | {:.1} % | {:.2} ms | {:.1} | {dropped} | {restarts} |",
        if with_writers {
            "writer, 12 fps"
        } else {
            "placeholder"
        },
        cpu / MEASURE.as_secs_f64() * 100.0 / outputs as f64,
        cpu * 1000.0 / written.max(1) as f64,
        written as f64 / MEASURE.as_secs_f64() / outputs as f64,
    );
    drop(service);
}

#[tokio::main]
async fn main() {
    println!(
        "| outputs | input | service CPU per output | per frame written | frames/s per output | dropped | restarts |"
    );
    println!("|---|---|---|---|---|---|---|");
    for outputs in [1, 2, 4] {
        run(outputs, false).await;
        run(outputs, true).await;
    }
}
