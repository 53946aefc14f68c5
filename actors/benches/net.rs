//! What a loopback HTTP request costs (the HLS proxy's and the engine poll's kind), with a client
//! built per request (as before) and with the shared client. Printed as a table:
//! `cargo bench -p toposync-actors --bench net`.

use std::time::{Duration, Instant};

/// This process's user + system CPU time.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// A loopback server answering every GET with a 1 KiB body (a small playlist).
async fn server() -> String {
    let app = axum::Router::new().route(
        "/{*path}",
        axum::routing::get(|| async { "#EXTM3U\n".repeat(128) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/door/index.m3u8")
}

async fn run(
    url: &str,
    requests: u32,
    client: impl Fn() -> reqwest::Client,
) -> (Duration, Duration) {
    let (wall, cpu) = (Instant::now(), cpu_time());
    for _ in 0..requests {
        let body = client()
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(body.len(), 1024);
    }
    (wall.elapsed() / requests, (cpu_time() - cpu) / requests)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = server().await;
        let requests = 500;
        println!("| client | wall per request | CPU per request (client + server) |");
        println!("|---|---|---|");
        let fresh = || toposync_actors::net::http_client_builder().build().unwrap();
        for (name, result) in [
            (
                "built per request (before)",
                run(&url, requests, fresh).await,
            ),
            (
                "shared (`net::http_client`)",
                run(&url, requests, toposync_actors::net::http_client).await,
            ),
        ] {
            println!(
                "| {name} | {:.0} µs | {:.0} µs |",
                result.0.as_secs_f64() * 1e6,
                result.1.as_secs_f64() * 1e6
            );
        }
    });
}
