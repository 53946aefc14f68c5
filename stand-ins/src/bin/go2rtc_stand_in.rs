//! TEST STAND-IN for go2rtc. Not go2rtc, and never shipped: the tests start it where the service
//! would start the real sidecar, because the real binary cannot be downloaded on test machines.
//! It does what the recorded real session (`recorded/01-mse-session.txt`) shows:
//!
//! - takes `-c <config>` and reads `api.listen` and the `streams` names from it;
//! - answers `GET /api/streams` with the configured streams;
//! - on `GET /api/ws?src=<stream>` (WebSocket) waits for the client's `{"type":"mse",...}`, then
//!   answers the MIME text message, a binary init segment (`ftyp`) and a binary fragment (`moof`)
//!   every 100 ms until the client leaves; an unknown stream gets
//!   `{"type":"error","value":"mse: stream not found"}` as go2rtc does.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use tungstenite::Message;

fn log(line: &str) {
    println!("{line}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let config_path = args
        .iter()
        .position(|a| a == "-c")
        .and_then(|i| args.get(i + 1))
        .expect("usage: go2rtc-stand-in -c <config>");
    log("INF go2rtc TEST STAND-IN (not go2rtc)");
    let config = std::fs::read_to_string(config_path).expect("config readable");
    let (listen, streams) = parse(&config);
    let listener = TcpListener::bind(&listen).expect("api address free");
    log(&format!("INF [api] listen addr={listen}"));
    for stream in listener.incoming().flatten() {
        let streams = streams.clone();
        std::thread::spawn(move || serve(stream, &streams));
    }
}

/// `api.listen` and the stream names of a go2rtc YAML config (the layout this service writes).
fn parse(config: &str) -> (String, Vec<(String, String)>) {
    let mut section = "";
    let mut listen = String::new();
    let mut streams = Vec::new();
    for line in config.lines() {
        if !line.starts_with(' ') {
            section = line.trim_end_matches(':').trim();
            continue;
        }
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        let value = value
            .trim()
            .trim_matches('\'')
            .trim_matches('"')
            .to_string();
        match section {
            "api" if key == "listen" => listen = value,
            "streams" => streams.push((key.trim().to_string(), value)),
            _ => {}
        }
    }
    (listen, streams)
}

fn serve(mut stream: TcpStream, streams: &[(String, String)]) {
    let mut head = [0u8; 2048];
    let Ok(n) = stream.peek(&mut head) else {
        return;
    };
    let request = String::from_utf8_lossy(&head[..n]).to_string();
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    if request.to_ascii_lowercase().contains("upgrade: websocket") {
        let src = path
            .split_once("src=")
            .map(|(_, s)| s.split('&').next().unwrap_or("").to_string())
            .unwrap_or_default();
        let known = streams.iter().any(|(name, _)| *name == src);
        let Ok(mut socket) = tungstenite::accept(stream) else {
            return;
        };
        // The client speaks first: it says which codecs it supports.
        if !matches!(socket.read(), Ok(Message::Text(_))) {
            return;
        }
        if !known {
            let _ = socket.send(Message::Text(
                r#"{"type":"error","value":"mse: stream not found"}"#.into(),
            ));
            return;
        }
        log(&format!("INF [mse] consumer added src={src}"));
        let mime = r#"{"type":"mse","value":"video/mp4; codecs=\"avc1.420029\""}"#;
        if socket.send(Message::Text(mime.into())).is_err() {
            return;
        }
        let init = [&[0u8, 0, 0, 16][..], b"ftyp", b"isom", &[0, 0, 2, 0]].concat();
        if socket.send(Message::Binary(init.into())).is_err() {
            return;
        }
        let _ = socket
            .get_mut()
            .set_read_timeout(Some(Duration::from_millis(100)));
        loop {
            let fragment = [&[0u8, 0, 0, 8][..], b"moof"].concat();
            if socket.send(Message::Binary(fragment.into())).is_err() {
                return;
            }
            match socket.read() {
                Ok(Message::Close(_)) => return,
                Err(tungstenite::Error::Io(err))
                    if err.kind() == std::io::ErrorKind::WouldBlock
                        || err.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return,
                Ok(_) => {}
            }
        }
    }
    let mut buffer = vec![0u8; n];
    let _ = stream.read(&mut buffer);
    let (status, body) = if path.starts_with("/api/streams") {
        let entries: Vec<String> = streams
            .iter()
            .map(|(name, url)| {
                format!(r#""{name}":{{"producers":[{{"url":"{url}"}}],"consumers":[]}}"#)
            })
            .collect();
        ("200 OK", format!("{{{}}}", entries.join(",")))
    } else {
        ("404 Not Found", "404 page not found".to_string())
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
