//! TEST STAND-IN for MediaMTX. Not MediaMTX, and never shipped: the tests start it where the
//! service would start the real engine, because the real binary cannot be downloaded on test
//! machines. It does just enough of what the engine does for supervision tests:
//!
//! - takes the config path as its only argument and reads `apiAddress` and `rtspAddress`;
//! - answers `GET /v3/paths/list` on the API address with the contents of the file named by
//!   `STAND_IN_PATHS_FILE` (an empty list when unset or missing);
//! - on the RTSP address, answers any request with `404 Not Found` and logs MediaMTX's
//!   `no stream is available on path '<path>'` line, as the real engine does for a reader
//!   that arrives before any publisher;
//! - keeps path configs for the control API (`GET /v3/config/paths/list`,
//!   `POST /v3/config/paths/add/<name>`, `POST /v3/config/paths/replace/<name>`,
//!   `DELETE /v3/config/paths/delete/<name>`, `PATCH /v3/config/global/patch`) with each path's
//!   `source` (it pulls nothing: a relayed path stays empty), starting from the config file's `paths`, logging
//!   `reloading configuration (API request)` for each change as MediaMTX does;
//! - logs `reloading configuration (file changed)` when the config file changes, like MediaMTX;
//! - `STAND_IN_FAIL_AT_START=<code>` makes it log an ERR line and exit with that code at once;
//!   `STAND_IN_SKIP_API=1` makes it never open the API (a hung start);
//!   `STAND_IN_PORT_CLASH_ONCE=<file>` makes the first start (while `<file>` does not exist) fail
//!   as MediaMTX does when a port it was given is taken before it binds;
//!   `STAND_IN_SKIP_RTSP=1` leaves the RTSP port to a real receiving RTSP server (FFmpeg in
//!   listen mode) that the publisher tests start there;
//! - on the WebRTC address, answers a WHEP `POST /<path>/whep`: an offer that is not CRLF SDP gets
//!   MediaMTX's recorded 400 (`failed to unmarshal SDP: EOF`), a well-formed one a canned answer
//!   that says it comes from the stand-in;
//! - `STAND_IN_HLS_DIR=<dir>` serves `GET /<path>/<file>` on the HLS address from `<dir>` (HLS
//!   that a test made with FFmpeg), logging the request's `Authorization` header if any.
//!
//! Crashes and hangs at run time are made from outside with SIGKILL and SIGSTOP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, SystemTime};

fn log(line: &str) {
    // Same shape as MediaMTX's lines: date, time, level, message.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "2026/01/01 00:00:00 {line}");
    let _ = out.flush();
}

fn setting(config: &str, key: &str) -> Option<String> {
    config.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?.trim();
        Some(value.trim_matches('\'').to_string())
    })
}

fn bind_address(value: &str) -> String {
    if value.starts_with(':') {
        format!("0.0.0.0{value}")
    } else {
        value.to_string()
    }
}

/// One HTTP/1.1 request as the stand-in's servers read it.
struct Request {
    line: String,
    headers: Vec<String>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.headers
            .iter()
            .find(|h| h.to_ascii_lowercase().starts_with(&prefix))
            .map(|h| h[prefix.len()..].trim())
    }

    fn path(&self) -> &str {
        self.line.split_whitespace().nth(1).unwrap_or("/")
    }
}

/// Serves each connection on its own thread: reads one request, writes `handle`'s
/// (status, content type, body) and closes.
fn serve_http(
    listener: TcpListener,
    handle: impl Fn(&Request) -> (&'static str, &'static str, Vec<u8>) + Send + Sync + 'static,
) {
    let handle = std::sync::Arc::new(handle);
    for stream in listener.incoming().flatten() {
        let handle = handle.clone();
        std::thread::spawn(move || {
            let mut stream = stream;
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let mut headers = Vec::new();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                headers.push(header.trim_end().to_string());
            }
            let mut request = Request {
                line,
                headers,
                body: Vec::new(),
            };
            let length = request
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            request.body = vec![0u8; length];
            let _ = reader.read_exact(&mut request.body);
            let (status, kind, body) = handle(&request);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        });
    }
}

fn answer_whep(request: &Request) -> (&'static str, &'static str, Vec<u8>) {
    let offer = String::from_utf8_lossy(&request.body);
    let well_formed = request.line.starts_with("POST ")
        && request.path().contains("/whep")
        && offer.starts_with("v=0\r\n")
        && !offer.replace("\r\n", "").contains('\n');
    if well_formed {
        let answer =
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=MediaMTX TEST STAND-IN answer\r\nt=0 0\r\n";
        ("201 Created", "application/sdp", answer.as_bytes().to_vec())
    } else {
        let error = r#"{"status":"error","error":"failed to unmarshal SDP: EOF"}"#;
        (
            "400 Bad Request",
            "application/json",
            error.as_bytes().to_vec(),
        )
    }
}

fn answer_file(dir: &str, request: &Request) -> (&'static str, &'static str, Vec<u8>) {
    if let Some(auth) = request.header("authorization") {
        log(&format!("INF [HLS] request with Authorization: {auth}"));
    }
    let path = request
        .path()
        .split('?')
        .next()
        .unwrap_or("/")
        .trim_start_matches('/');
    let file = (!path.split('/').any(|part| part == ".." || part.is_empty()))
        .then(|| std::fs::read(std::path::Path::new(dir).join(path)).ok())
        .flatten();
    match file {
        Some(body) if path.ends_with(".m3u8") => ("200 OK", "application/vnd.apple.mpegurl", body),
        Some(body) => ("200 OK", "video/mp2t", body),
        None => ("404 Not Found", "text/plain", b"not found".to_vec()),
    }
}

/// The path configs as the control API keeps them, (name, source): the config file's at start,
/// then changed by `/v3/config/paths/add|replace|delete` only (like MediaMTX, API changes are not
/// written to the file).
static CONFIGURED: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// The `source` of a path config in a request body, `publisher` when it names none.
fn source_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|conf| conf["source"].as_str().map(str::to_string))
        .unwrap_or_else(|| "publisher".into())
}

/// The keys under `paths:` of the config the service rendered (`  name: {}` lines).
fn config_paths(config: &str) -> Vec<(String, String)> {
    config
        .lines()
        .skip_while(|line| *line != "paths:")
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.trim().strip_suffix(": {}"))
        .map(|name| (name.trim_matches('\'').to_string(), "publisher".to_string()))
        .collect()
}

fn ok_json(body: String) -> (&'static str, &'static str, Vec<u8>) {
    ("200 OK", "application/json", body.into_bytes())
}

fn answer_api(request: &Request) -> (&'static str, &'static str, Vec<u8>) {
    let route = request.path().split('?').next().unwrap_or("");
    let method = request.line.split_whitespace().next().unwrap_or("");
    let mut configured = CONFIGURED.lock().expect("configured paths");
    if method == "GET" && route == "/v3/config/paths/list" {
        let items: Vec<String> = configured
            .iter()
            .map(|(name, source)| serde_json::json!({"name": name, "source": source}).to_string())
            .collect();
        return ok_json(format!(
            r#"{{"itemCount":{},"pageCount":1,"items":[{}]}}"#,
            items.len(),
            items.join(",")
        ));
    }
    if let Some(name) = route.strip_prefix("/v3/config/paths/add/") {
        if method == "POST" && !configured.iter().any(|(p, _)| p == name) {
            configured.push((name.to_string(), source_of(&request.body)));
            log("INF reloading configuration (API request)");
            return ok_json(String::new());
        }
    }
    if let Some(name) = route.strip_prefix("/v3/config/paths/replace/") {
        if let Some(entry) = configured.iter_mut().find(|(p, _)| p == name) {
            entry.1 = source_of(&request.body);
            log("INF reloading configuration (API request)");
            return ok_json(String::new());
        }
    }
    if let Some(name) = route.strip_prefix("/v3/config/paths/delete/") {
        if let Some(index) = configured.iter().position(|(p, _)| p == name) {
            configured.remove(index);
            log("INF reloading configuration (API request)");
            return ok_json(String::new());
        }
    }
    if method == "PATCH" && route == "/v3/config/global/patch" {
        log("INF reloading configuration (API request)");
        return ok_json(String::new());
    }
    drop(configured);
    if request.line.starts_with("GET /v3/paths/list") {
        let body = std::env::var("STAND_IN_PATHS_FILE")
            .ok()
            .and_then(|file| std::fs::read_to_string(file).ok())
            .unwrap_or_else(|| r#"{"itemCount":0,"pageCount":0,"items":[]}"#.to_string());
        ("200 OK", "application/json", body.into_bytes())
    } else {
        let error = r#"{"status":"error","error":"not found"}"#;
        (
            "404 Not Found",
            "application/json",
            error.as_bytes().to_vec(),
        )
    }
}

fn serve_rtsp(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || answer_rtsp(stream));
    }
}

fn answer_rtsp(mut stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    log(&format!("INF [RTSP] [conn {peer}] opened"));
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let request = String::from_utf8_lossy(&buffer);
    let url = request.split_whitespace().nth(1).unwrap_or("");
    let path = url
        .splitn(4, '/')
        .nth(3)
        .unwrap_or("")
        .trim_end_matches('/');
    let cseq = request
        .lines()
        .find_map(|l| l.strip_prefix("CSeq:").map(str::trim))
        .unwrap_or("1");
    let _ = write!(stream, "RTSP/1.0 404 Not Found\r\nCSeq: {cseq}\r\n\r\n");
    log(&format!(
        "INF [RTSP] [conn {peer}] closed: no stream is available on path '{path}'"
    ));
}

fn modified(path: &str) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn main() {
    let config_path = std::env::args()
        .nth(1)
        .expect("usage: mediamtx-stand-in <config>");
    log("INF MediaMTX TEST STAND-IN (not MediaMTX)");
    if let Some(marker) = std::env::var_os("STAND_IN_PORT_CLASH_ONCE") {
        if std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)
            .is_ok()
        {
            log("ERR listen tcp :8554: bind: address already in use");
            std::process::exit(1);
        }
    }
    if let Ok(code) = std::env::var("STAND_IN_FAIL_AT_START") {
        log("ERR stand-in told to fail at start");
        std::process::exit(code.parse().unwrap_or(1));
    }
    let config = std::fs::read_to_string(&config_path).expect("config readable");
    log(&format!("INF configuration loaded from {config_path}"));
    *CONFIGURED.lock().expect("configured paths") = config_paths(&config);
    let rtsp =
        setting(&config, "rtspAddress").filter(|_| std::env::var("STAND_IN_SKIP_RTSP").is_err());
    if let Some(rtsp) = rtsp {
        let listener = TcpListener::bind(bind_address(&rtsp)).expect("rtsp address free");
        log(&format!("INF [RTSP] listener opened on {rtsp} (TCP/RTSP)"));
        std::thread::spawn(move || serve_rtsp(listener));
    }
    if let Some(webrtc) = setting(&config, "webrtcAddress") {
        let listener = TcpListener::bind(bind_address(&webrtc)).expect("webrtc address free");
        log(&format!("INF [WebRTC] listener opened on {webrtc} (HTTP)"));
        std::thread::spawn(move || serve_http(listener, answer_whep));
    }
    if let (Ok(dir), Some(hls)) = (
        std::env::var("STAND_IN_HLS_DIR"),
        setting(&config, "hlsAddress"),
    ) {
        let listener = TcpListener::bind(bind_address(&hls)).expect("hls address free");
        log(&format!("INF [HLS] listener opened on {hls}"));
        std::thread::spawn(move || serve_http(listener, move |r| answer_file(&dir, r)));
    }
    if std::env::var("STAND_IN_SKIP_API").is_err() {
        let api = setting(&config, "apiAddress").expect("apiAddress in config");
        let listener = TcpListener::bind(bind_address(&api)).expect("api address free");
        log(&format!("INF [API] listener opened on {api}"));
        std::thread::spawn(move || serve_http(listener, answer_api));
    }
    let mut last = modified(&config_path);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = modified(&config_path);
        if now != last {
            last = now;
            log("INF reloading configuration (file changed)");
        }
    }
}
