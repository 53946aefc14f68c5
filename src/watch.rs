//! `toposync-streaming watch`: resolves a transmission's signed JSMpeg URL through the API and
//! copies the MPEG-TS it streams to stdout, so any player that reads a pipe can show it.

use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

use crate::cli::WatchArgs;

/// The token given, else a viewer session signed with the service's key.
fn credential(args: &WatchArgs) -> Result<String, String> {
    if let Some(token) = &args.token {
        return Ok(token.clone());
    }
    let data_dir = args.data.path();
    let credentials = toposync_actors::auth::Credentials::load(&data_dir)?.ok_or_else(|| {
        format!(
            "no credentials in {} (start the service once, or pass --token)",
            data_dir.display()
        )
    })?;
    credentials.session(
        toposync_actors::auth::Role::Viewer,
        std::time::SystemTime::now(),
    )
}

pub async fn watch(args: WatchArgs) -> Result<(), String> {
    let api = args.api.trim_end_matches('/');
    let mut query = String::new();
    if let Some(output) = &args.output_id {
        query = format!("?output_id={output}");
    }
    let url = format!(
        "{api}/api/streams/transmissions/{}/urls{query}",
        args.transmission_id
    );
    let authorization = format!("Bearer {}", credential(&args)?);
    let response = toposync_actors::net::http_client()
        .get(&url)
        .header("authorization", &authorization)
        .send()
        .await
        .map_err(|err| format!("cannot reach the service at {api}: {err}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|err| format!("cannot read the answer: {err}"))?;
    if !status.is_success() {
        return Err(format!("{url} answered {status}: {body}"));
    }
    let urls: Value =
        serde_json::from_str(&body).map_err(|err| format!("unexpected answer: {err}"))?;
    let socket_url = urls["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["protocol"] == "jsmpeg")
        .and_then(|o| o["url"].as_str())
        .ok_or("the transmission has no HLS output to watch over JSMpeg")?;
    // The URL names the host the API was reached on; connect where we reached it.
    let path = &socket_url[socket_url.find("/api/").ok_or("unexpected JSMpeg URL")?..];
    let ws = format!("{}{path}", api.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws)
        .await
        .map_err(|err| format!("cannot open the JSMpeg socket: {err}"))?;
    let mut stdout = tokio::io::stdout();
    while let Some(message) = socket.next().await {
        match message.map_err(|err| format!("the socket failed: {err}"))? {
            // A failed write means the player went away: that ends watching, quietly.
            Message::Binary(chunk) if stdout.write_all(&chunk).await.is_err() => return Ok(()),
            Message::Close(frame) => {
                let reason = frame
                    .map(|f| format!("{} {}", u16::from(f.code), f.reason))
                    .unwrap_or_default();
                return Err(format!("the service closed the stream: {reason}"));
            }
            _ => {}
        }
    }
    Ok(())
}
