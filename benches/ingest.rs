//! Ingest costs of the real service, printed as a table: `cargo bench --bench ingest`.
//! Starts the release binary, feeds 1280x720 frames (raw BGR24 and JPEG over the writer
//! WebSocket, raw over HTTP POST) as fast as the service takes them, and reads the service's CPU
//! time and RSS from /proc. Needs `ffmpeg` for the test JPEG.

use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[path = "common/mod.rs"]
mod common;

use common::{BenchService, cpu_seconds, rss_mib};

const FRAMES: usize = 1000;

async fn writer_closed(http: &reqwest::Client, base: &str, id: &str, writer: &str) -> bool {
    let health: Value = http
        .get(format!("{base}/runtime/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["transmissions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["transmission_id"] == id)
        .flat_map(|t| t["writers"].as_array().into_iter().flatten())
        .any(|w| w["writer_id"] == writer && w["lifecycle"] == "close")
}

/// Prints one row for `frames` ingested since `start`, reading the service's CPU and RSS now.
fn report(label: &str, frames: usize, pid: u32, start: Instant, cpu_before: f64, rss_before: f64) {
    let elapsed = start.elapsed();
    let cpu = cpu_seconds(pid) - cpu_before;
    println!(
        "| {label} | {frames} | {:.0} | {:.3} ms | {rss_before:.1} / {:.1} MiB |",
        frames as f64 / elapsed.as_secs_f64(),
        cpu * 1000.0 / frames as f64,
        rss_mib(pid)
    );
}

#[tokio::main]
async fn main() {
    let service = BenchService::start(&[]);
    let base = service.base.clone();
    let pid = service.pid();
    let http = toposync_actors::net::http_client();

    let created: Value = http
        .post(format!("{base}/transmissions"))
        .json(&json!({"name": "bench", "path": "bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let frame: Vec<u8> = (0..1280 * 720 * 3).map(|i| (i % 251) as u8).collect();

    let jpeg = {
        let output = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1280x720",
                "-frames:v",
                "1",
                "-q:v",
                "4",
                "-f",
                "mjpeg",
                "-",
            ])
            .output()
            .expect("ffmpeg makes the test JPEG");
        output.stdout
    };

    println!("| path | frames | frames/s | service CPU per frame | RSS before / after |");
    println!("|---|---|---|---|---|");
    let mut writer = 0;
    for (label, format, payload) in [
        (
            "WebSocket, 1280x720 BGR24",
            Some(r#"{"type": "format", "format": "bgr24", "width": 1280, "height": 720}"#),
            &frame,
        ),
        ("WebSocket, 1280x720 JPEG", None, &jpeg),
    ] {
        writer += 1;
        let rss_before = rss_mib(pid);
        let url = format!(
            "{}/transmissions/{id}/writers/bench:{writer}/ws",
            base.replacen("http", "ws", 1)
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        if let Some(format) = format {
            socket.send(Message::Text(format.into())).await.unwrap();
        }
        let cpu_before = cpu_seconds(pid);
        let start = Instant::now();
        for _ in 0..FRAMES {
            socket
                .send(Message::Binary(payload.clone().into()))
                .await
                .unwrap();
        }
        socket.close(None).await.unwrap();
        // The writer closes after its last frame was handled: everything sent has been ingested.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !writer_closed(&http, &base, &id, &format!("bench:{writer}")).await {
            assert!(Instant::now() < deadline, "the writer never closed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        report(label, FRAMES, pid, start, cpu_before, rss_before);
    }
    // Local writers: tests/writers/local_writer.py (its own CPU is not the service's).
    for transport in ["stream", "memfd", "memfd_ring"] {
        // The ring costs so little that 1000 frames are a couple of clock ticks (10 ms) of CPU.
        let frames = if transport == "memfd_ring" {
            10 * FRAMES
        } else {
            FRAMES
        };
        let rss_before = rss_mib(pid);
        let socket = service.data_dir().join("runtime/streaming/writers.sock");
        let writer = format!("bench:local-{transport}");
        let mut command = Command::new("/usr/bin/python3");
        command
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/writers/local_writer.py"
            ))
            .arg(&socket)
            .args([&id, &writer, "1280x720", transport])
            .arg(frames.to_string())
            .args(["40,80,120", "0", "0"])
            .stdout(std::process::Stdio::null());
        let cpu_before = cpu_seconds(pid);
        let start = Instant::now();
        let status = command.status().expect("python3 runs the local writer");
        assert!(status.success(), "the local writer failed");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !writer_closed(&http, &base, &id, &writer).await {
            assert!(Instant::now() < deadline, "the local writer never closed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        report(
            &format!("Local socket ({transport}), 1280x720 BGR24"),
            frames,
            pid,
            start,
            cpu_before,
            rss_before,
        );
    }
    {
        let rss_before = rss_mib(pid);
        let url =
            format!("{base}/transmissions/{id}/writers/bench:http/frame?width=1280&height=720");
        let cpu_before = cpu_seconds(pid);
        let start = Instant::now();
        for _ in 0..FRAMES {
            let response = http.post(&url).body(frame.clone()).send().await.unwrap();
            assert!(response.status().is_success());
        }
        report(
            "HTTP POST, 1280x720 BGR24",
            FRAMES,
            pid,
            start,
            cpu_before,
            rss_before,
        );
    }

    // The floor: copying the frame once in memory, measured in this run on the same cores.
    {
        let mut into = vec![0u8; frame.len()];
        let start = Instant::now();
        for _ in 0..FRAMES {
            into.copy_from_slice(std::hint::black_box(&frame));
            std::hint::black_box(&mut into);
        }
        println!(
            "| floor: one memcpy of the 1280x720 BGR24 frame (in the bench process) | {FRAMES} | {:.0} | {:.3} ms | - |",
            FRAMES as f64 / start.elapsed().as_secs_f64(),
            start.elapsed().as_secs_f64() * 1000.0 / FRAMES as f64
        );
    }

    // A writer pushing 200 frames/s into a transmission nobody reads: RSS must stay flat.
    {
        let url = format!(
            "{}/transmissions/{id}/writers/bench:paced/ws",
            base.replacen("http", "ws", 1)
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let format = r#"{"type": "format", "format": "bgr24", "width": 1280, "height": 720}"#;
        socket.send(Message::Text(format.into())).await.unwrap();
        let mut ticks = tokio::time::interval(Duration::from_millis(5));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let start = Instant::now();
        let mut samples = Vec::new();
        let mut sent = 0u64;
        while start.elapsed() < Duration::from_secs(15) {
            ticks.tick().await;
            socket
                .send(Message::Binary(frame.clone().into()))
                .await
                .unwrap();
            sent += 1;
            if sent.is_multiple_of(200) {
                samples.push(rss_mib(pid));
            }
        }
        socket.close(None).await.unwrap();
        let (low, high) = samples
            .iter()
            .skip(1)
            .fold((f64::MAX, 0.0f64), |(l, h), v| (l.min(*v), h.max(*v)));
        println!();
        let trace: Vec<String> = samples.iter().map(|v| format!("{v:.1}")).collect();
        println!("RSS each second (MiB): {}", trace.join(" "));
        println!(
            "| paced writer | frames sent | achieved frames/s | RSS after 1 s | RSS min / max after that |"
        );
        println!("|---|---|---|---|---|");
        println!(
            "| WebSocket, 1280x720 BGR24, 200 fps target, nobody reading | {sent} | {:.0} | {:.1} MiB | {low:.1} / {high:.1} MiB |",
            sent as f64 / start.elapsed().as_secs_f64(),
            samples[0]
        );
    }

    drop(service);
}
