//! Ingest costs of the real service, printed as a table: `cargo bench --bench ingest`.
//! Starts the release binary, feeds 1280x720 frames over the writer WebSocket as fast as the
//! socket takes them, and reads the service's CPU time and RSS from /proc.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const FRAMES: usize = 1000;

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // utime and stime, in clock ticks (100 per second on Linux).
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap();
    kib / 1024.0
}

async fn writer_closed(http: &reqwest::Client, base: &str, id: &str) -> bool {
    let health: Value = http
        .get(format!("{base}/runtime/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["transmissions"][id]["writers"][0]["lifecycle"] == "close"
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_toposync-streaming"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .env("TOPOSYNC_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line.trim().rsplit(' ').next().unwrap().to_string();
    let base = format!("{address}/api/streams");
    let pid = child.id();
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

    println!("| measurement | value |");
    println!("|---|---|");
    let rss_before = rss_mib(pid);
    let url = format!(
        "{}/transmissions/{id}/writers/bench:1/ws",
        base.replacen("http", "ws", 1)
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket
        .send(Message::Text(
            r#"{"type": "format", "format": "bgr24", "width": 1280, "height": 720}"#.into(),
        ))
        .await
        .unwrap();
    let cpu_before = cpu_seconds(pid);
    let start = Instant::now();
    for _ in 0..FRAMES {
        socket
            .send(Message::Binary(frame.clone().into()))
            .await
            .unwrap();
    }
    socket.close(None).await.unwrap();
    // The writer closes after its last frame was handled: everything sent has been ingested.
    while !writer_closed(&http, &base, &id).await {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed();
    let cpu = cpu_seconds(pid) - cpu_before;
    println!("| 1280x720 BGR24 frames over one WebSocket | {FRAMES} |");
    println!(
        "| ingest rate | {:.0} frames/s |",
        FRAMES as f64 / elapsed.as_secs_f64()
    );
    println!(
        "| service CPU per ingested frame | {:.3} ms |",
        cpu * 1000.0 / FRAMES as f64
    );
    println!(
        "| service RSS before / after | {rss_before:.1} MiB / {:.1} MiB |",
        rss_mib(pid)
    );

    let _ = child.kill();
    let _ = child.wait();
}
