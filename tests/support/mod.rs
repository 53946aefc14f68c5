//! Starts the real service binary as a child process and talks to it over HTTP.

#![allow(dead_code)] // Each test target uses a different part of this helper.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_toposync-streaming");

/// A running `toposync-streaming serve`, killed (and reaped) when dropped.
pub struct Service {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub root: String,
    /// `<root>/api/streams`.
    pub base: String,
    pub data_dir: PathBuf,
    /// Sends the admin token with every request.
    pub http: reqwest::Client,
    /// Sends no credential.
    pub anonymous: reqwest::Client,
    pub admin_token: String,
    pub viewer_token: String,
}

/// A client that sends `token` as a bearer credential with every request.
pub fn client_with(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    toposync_actors::net::http_client_builder()
        .pool_max_idle_per_host(0)
        .default_headers(headers)
        .build()
        .unwrap()
}

impl Service {
    /// Starts the service on a free port with its own data dir and waits until it listens.
    pub fn start(data_dir: &Path) -> Service {
        Service::start_with(data_dir, &[])
    }

    /// As [`Service::start`], with extra environment variables.
    pub fn start_with(data_dir: &Path, env: &[(&str, &Path)]) -> Service {
        Service::start_on(data_dir, env, 0)
    }

    /// As [`Service::start_with`], on `port` (0: any free one), e.g. to come back where it was.
    pub fn start_on(data_dir: &Path, env: &[(&str, &Path)], port: u16) -> Service {
        let admin_token = toposync_actors::auth::new_token().unwrap();
        let viewer_token = toposync_actors::auth::new_token().unwrap();
        let mut command = Command::new(BIN);
        command
            .env_remove("TOPOSYNC_AUTH_MODE")
            .env("TOPOSYNC_ADMIN_TOKEN", &admin_token)
            .env("TOPOSYNC_VIEWER_TOKEN", &viewer_token)
            // Only what a test passes decides which engine runs (a developer may have a real one set).
            .env_remove("TOPOSYNC_STREAMING_ENGINE_PATH")
            .env_remove("TOPOSYNC_STREAMING_GO2RTC_PATH")
            .env_remove("TOPOSYNC_STREAMING_GO2RTC_SHA256")
            .env("TOPOSYNC_LOG", "warn")
            // Never reach out to the internet from tests, whatever a test forgets to set.
            .env(
                "TOPOSYNC_STREAMING_ENGINE_DOWNLOAD_BASE_URL",
                "http://127.0.0.1:9/unreachable",
            )
            .env(
                "TOPOSYNC_STREAMING_ENGINE_CACHE_DIR",
                data_dir.join("cache"),
            )
            .env(
                "TOPOSYNC_STREAMING_GO2RTC_DOWNLOAD_BASE_URL",
                "http://127.0.0.1:9/unreachable",
            )
            .env(
                "TOPOSYNC_STREAMING_GO2RTC_CACHE_DIR",
                data_dir.join("cache"),
            )
            .envs(env.iter().map(|(k, v)| (k, v.as_os_str())));
        let mut child = command
            .args(["serve", "--port", &port.to_string(), "--data-dir"])
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("service binary starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("service prints its address");
        let address = line
            .trim()
            .strip_prefix("toposync-streaming listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Service {
            child,
            base: format!("{address}/api/streams"),
            root: address,
            data_dir: data_dir.to_path_buf(),
            http: client_with(&admin_token),
            anonymous: toposync_actors::net::http_client(),
            admin_token,
            viewer_token,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        into_parts(self.http.get(self.url(path)).send().await).await
    }

    /// The service with the demo camera registered (`TOPOSYNC_STREAMING_DEMO`, as `--demo`).
    pub fn start_demo(data_dir: &Path) -> Service {
        Service::start_with(data_dir, &[("TOPOSYNC_STREAMING_DEMO", Path::new("true"))])
    }

    /// One transmission of `GET /runtime/health` (null when it is not there).
    pub async fn transmission_health(&self, id: &str) -> Value {
        let (status, health) = self.get("/runtime/health").await;
        assert_eq!(status, 200, "{health}");
        // The original's shape: a list sorted by id.
        health["transmissions"]
            .as_array()
            .and_then(|all| all.iter().find(|t| t["transmission_id"] == id))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// The ids of the stored transmissions, in the order the API lists them.
    pub async fn transmission_ids(&self) -> Vec<String> {
        let (code, list) = self.get("/transmissions").await;
        assert_eq!(code, 200, "{list}");
        list.as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        into_parts(self.http.post(self.url(path)).json(body).send().await).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        into_parts(self.http.put(self.url(path)).json(body).send().await).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        into_parts(self.http.patch(self.url(path)).json(body).send().await).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        into_parts(self.http.delete(self.url(path)).send().await).await
    }

    /// A WebSocket request for `url` carrying the admin token (writer sockets need it; media
    /// sockets go by their signed URL alone).
    pub fn ws_request(
        &self,
        url: &str,
    ) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.admin_token).parse().unwrap(),
        );
        request
    }

    /// A `ws://` URL for a path on this service (media URLs are handed out as paths).
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.root.trim_start_matches("http://"))
    }

    /// The path of the first `protocol` URL (`mse`, `jsmpeg`, `hls`) URL resolution hands out for
    /// a transmission.
    pub async fn media_path(&self, transmission: &str, protocol: &str) -> String {
        let (_, urls) = self
            .get(&format!("/transmissions/{transmission}/urls"))
            .await;
        urls["outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["protocol"] == protocol)
            .and_then(|o| o["url"].as_str())
            .unwrap_or_else(|| panic!("no {protocol} URL in {urls}"))
            .to_string()
    }

    /// Posts one solid-colour BGR24 frame of `size` as `writer` of a transmission; the frame
    /// is accepted (200).
    pub async fn send_solid_frame(
        &self,
        transmission: &str,
        writer: &str,
        size: (u32, u32),
        bgr: [u8; 3],
    ) {
        let (width, height) = size;
        let body: Vec<u8> = bgr
            .iter()
            .copied()
            .cycle()
            .take((width * height * 3) as usize)
            .collect();
        let response = self
            .http
            .post(self.url(&format!(
                "/transmissions/{transmission}/writers/{writer}/frame?width={width}&height={height}"
            )))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .expect("request reaches the service");
        assert_eq!(response.status(), 200, "the frame was refused");
    }

    /// Sends a signal and waits for the process to exit; returns its exit status.
    pub fn signal_and_wait(&mut self, signal: i32) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's PID has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        self.child.wait().expect("service exits")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn into_parts(response: reqwest::Result<reqwest::Response>) -> (u16, Value) {
    let response = response.expect("request reaches the service");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body reads");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether a process with this PID exists (and is not a zombie).
pub fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_string();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

/// Polls `probe` until it returns `Some`, failing the test after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "condition not met within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `loc` of the first error in a 4xx body, joined with dots (`body.outputs.0.protocol`).
pub fn first_loc(body: &Value) -> String {
    body["detail"][0]["loc"]
        .as_array()
        .unwrap_or_else(|| panic!("no loc in {body}"))
        .iter()
        .map(|part| match part {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Names of the transmission actors in the live actor tree.
pub fn transmission_actors(tree: &Value) -> Vec<String> {
    tree["children"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["kind"] == "transmissions_supervisor")
        .flat_map(|s| s["children"].as_array().cloned().unwrap_or_default())
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The next message of a WebSocket that is not a ping or pong (the service pings viewers to see
/// that they still read; tungstenite answers them while it reads).
pub async fn next_data<S>(
    socket: &mut tokio_tungstenite::WebSocketStream<S>,
) -> Option<Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match socket.next().await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => return other,
        }
    }
}

/// `GET /metrics` as the admin, checked to be the Prometheus text format and parsed by a
/// standard parser.
pub async fn scrape_metrics(service: &Service) -> prometheus_parse::Scrape {
    let response = service
        .http
        .get(format!("{}/metrics", service.root))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_string()))).unwrap()
}

/// The value of the sample `name` whose labels include all of `labels` (a histogram's value is
/// its count).
pub fn metric(
    scrape: &prometheus_parse::Scrape,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    use prometheus_parse::Value as Metric;
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => *v,
            Metric::Histogram(buckets) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map_or(0.0, |b| b.count),
            Metric::Summary(_) => f64::NAN,
        })
}
