//! Settings writes as the document grows, printed as a table: `cargo bench --bench store`.
//! Starts the release binary, fills the document with N transmissions (two outputs each),
//! then times 100 sequential creates and 40 concurrent ones (p50/p99 round trip, and whether
//! every answer told the truth: 200 applied, anything else not applied).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "common/mod.rs"]
mod common;

use common::BenchService;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn transmission(n: usize, prefix: &str) -> Value {
    json!({"id": format!("{prefix}{n}"), "name": format!("Camera {n}"), "path": format!("{prefix}-{n}"),
           "outputs": [{"id": "hls", "protocol": "hls"}, {"id": "rtsp", "protocol": "rtsp"}]})
}

#[tokio::main]
async fn main() {
    println!(
        "| transmissions | sequential p50 | sequential p99 | 40 concurrent p50 | p99 | answers true |"
    );
    println!("|---|---|---|---|---|---|");
    for size in [10usize, 150, 500] {
        let service = BenchService::start(&[]);
        let base = service.base.clone();
        let http = toposync_actors::net::http_client();
        let all: Vec<Value> = (0..size).map(|n| transmission(n, "t")).collect();
        let filled = http
            .patch(format!("{base}/settings"))
            .json(&json!({"transmissions": all}))
            .send()
            .await
            .unwrap();
        assert_eq!(filled.status(), 200);
        let mut sequential = Vec::new();
        for n in 0..100 {
            let start = Instant::now();
            let response = http
                .post(format!("{base}/transmissions"))
                .json(&transmission(n, "s"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            sequential.push(start.elapsed());
        }
        let writes: Vec<_> = (0..40)
            .map(|n| {
                let (http, base) = (http.clone(), base.clone());
                tokio::spawn(async move {
                    let start = Instant::now();
                    let status = http
                        .post(format!("{base}/transmissions"))
                        .json(&transmission(n, "c"))
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16();
                    (format!("c{n}"), status, start.elapsed())
                })
            })
            .collect();
        let mut concurrent = Vec::new();
        let mut answers = Vec::new();
        for write in writes {
            let (id, status, took) = write.await.unwrap();
            concurrent.push(took);
            answers.push((id, status));
        }
        let stored: Value = http
            .get(format!("{base}/transmissions"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<&str> = stored
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["id"].as_str())
            .collect();
        let truthful = answers
            .iter()
            .all(|(id, status)| (*status == 200) == ids.contains(&id.as_str()));
        let ok = answers.iter().filter(|(_, s)| *s == 200).count();
        println!(
            "| {size} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {} ({ok}/40 applied) |",
            percentile(&mut sequential, 0.5).as_secs_f64() * 1000.0,
            percentile(&mut sequential, 0.99).as_secs_f64() * 1000.0,
            percentile(&mut concurrent, 0.5).as_secs_f64() * 1000.0,
            percentile(&mut concurrent, 0.99).as_secs_f64() * 1000.0,
            if truthful { "yes" } else { "NO" },
        );
        drop(service);
    }
}
