//! Media endpoints that carry video: the JSMpeg WebSocket (MPEG-TS relayed from a session actor)
//! and its status. Each is authorised by a signed media token, never by anything else.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{Path, State};
use axum::response::Response;

use toposync_actors::Runtime;
use toposync_actors::api::jsmpeg;
use toposync_actors::jsmpeg::{JsmpegStatus, Refusal, SessionRequest};
use toposync_actors::media_token::Transport;
use toposync_actors::model::transmission::normalize_path_slug;
use toposync_actors::store;
use toposync_actors::supervision::ask;
use toposync_actors::transmissions::TransmissionMsg;

use super::STORE_DEADLINE;
use super::error::ApiError;
use super::extract::{Origin, Params, Upgrade};

const ACTOR_DEADLINE: Duration = Duration::from_secs(5);
/// Policy violation (bad token or target), as the original closes.
const CLOSE_POLICY: u16 = 1008;

#[utoipa::path(get, path = "/jsmpeg/status", tag = "media", responses((status = 200, body = JsmpegStatus)))]
pub async fn jsmpeg_status() -> Result<Json<JsmpegStatus>, ApiError> {
    let revision = store::read(STORE_DEADLINE).await?;
    let engine = &revision.settings.engine;
    Ok(Json(
        jsmpeg::status(engine.jsmpeg.clone(), engine.enabled).await?,
    ))
}

/// `WS /media/jsmpeg/{engine_path}/ws?media_token=…`: binary MPEG-TS (MPEG-1 video) for a
/// JSMpeg player. Refusals close the socket with a code and the reason: 1008 bad token or
/// target, 1013 session limits, 1011 failures.
#[utoipa::path(get, path = "/media/jsmpeg/{engine_path}/ws", tag = "media", description = "WebSocket: MPEG-TS for JSMpeg; refusals close the socket with a reason", params(("engine_path" = String, Path), super::openapi::MediaToken), responses((status = 101, description = "Switching to the WebSocket protocol")))]
pub async fn jsmpeg_socket(
    State(runtime): State<Arc<Runtime>>,
    Path(engine_path): Path<String>,
    params: Params,
    Upgrade(upgrade): Upgrade,
) -> Response {
    let token = params.get("media_token").unwrap_or("").to_string();
    let session = open_session(&runtime, &normalize_path_slug(&engine_path, ""), &token).await;
    upgrade.on_upgrade(move |socket| async move {
        match session {
            Ok(session) => relay(socket, session).await,
            Err((code, reason)) => close(socket, code, reason).await,
        }
    })
}

async fn open_session(
    runtime: &Runtime,
    engine_path: &str,
    token: &str,
) -> Result<toposync_actors::jsmpeg::Session, (u16, String)> {
    let policy = |reason: &str| (CLOSE_POLICY, reason.to_string());
    if engine_path.is_empty() {
        return Err(policy("Invalid media path"));
    }
    let revision = store::read(STORE_DEADLINE)
        .await
        .map_err(|err| (1011, format!("settings unavailable: {err:?}")))?;
    let settings = &revision.settings;
    let grant = runtime
        .media_tokens
        .authorize(
            settings,
            token,
            Transport::Jsmpeg,
            engine_path,
            toposync_actors::unix_now(),
        )
        .map_err(|err| policy(err.detail()))?;
    let (transmission, output) = (&grant.transmission, &grant.output);
    let actor = toposync_actors::transmissions::lookup(&transmission.id, ACTOR_DEADLINE)
        .await
        .ok()
        .flatten()
        .ok_or((1011, "transmission runtime unavailable".to_string()))?;
    let viewing = ask(&actor, TransmissionMsg::Viewing, ACTOR_DEADLINE)
        .await
        .map_err(|err| (1011, format!("transmission did not answer: {err:?}")))?;
    let request = SessionRequest {
        transmission_id: transmission.id.clone(),
        output_id: output.id.clone(),
        resolution: output.resolution,
        settings: settings.engine.jsmpeg.clone(),
        viewing,
    };
    jsmpeg::open(request)
        .await
        .map_err(|err| {
            (
                1011,
                format!("JSMpeg runtime did not answer: {:?}", err.err),
            )
        })?
        .map_err(|refusal: Refusal| (refusal.close_code(), refusal.message()))
}

/// Ends a socket with a close code and the reason.
pub(super) async fn close(mut socket: WebSocket, code: u16, reason: String) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// MPEG-TS chunks to the socket until either side ends; the session (and its FFmpeg) stops then.
async fn relay(mut socket: WebSocket, mut session: toposync_actors::jsmpeg::Session) {
    let mut reading = ReadingViewer::new();
    loop {
        tokio::select! {
            _ = reading.tick() => {
                if !reading.still_reading() || !send_within(&mut socket, Message::Ping(Default::default())).await {
                    close(socket, 1008, "viewer stopped reading".into()).await;
                    break;
                }
            }
            chunk = session.chunks.recv() => match chunk {
                Some(chunk) => {
                    if !send_within(&mut socket, Message::Binary(chunk)).await {
                        break;
                    }
                }
                None => {
                    close(socket, 1011, "JSMpeg session ended".into()).await;
                    session.actor.stop(None);
                    return;
                }
            },
            incoming = socket.recv() => match incoming {
                // Client messages are ignored; a close or an error ends the session.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => reading.heard(),
            },
        }
    }
    session.actor.stop(Some("viewer left".into()));
}

/// Whether a viewer still reads: it is pinged every `PING_EVERY` and must answer (any message
/// counts) within `SILENT_LIMIT`. A player that stops reading never answers, however slowly
/// its socket's buffers fill.
pub(super) struct ReadingViewer {
    pings: tokio::time::Interval,
    last_heard: tokio::time::Instant,
}

const PING_EVERY: Duration = Duration::from_secs(5);
const SILENT_LIMIT: Duration = Duration::from_secs(15);

impl ReadingViewer {
    pub(super) fn new() -> Self {
        let mut pings =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            pings,
            last_heard: tokio::time::Instant::now(),
        }
    }

    pub(super) async fn tick(&mut self) {
        self.pings.tick().await;
    }

    pub(super) fn heard(&mut self) {
        self.last_heard = tokio::time::Instant::now();
    }

    pub(super) fn still_reading(&self) -> bool {
        self.last_heard.elapsed() < SILENT_LIMIT
    }
}

/// A viewer that has not taken a message for this long is gone (or hostile): its session ends,
/// so it cannot hold a session slot and its FFmpeg forever.
pub(super) const SEND_DEADLINE: Duration = Duration::from_secs(10);

/// Sends `message`, answering false if the socket failed or did not take it within
/// `SEND_DEADLINE`.
pub(super) async fn send_within(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_DEADLINE, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// `GET /transmissions/{id}/still.jpg[?output_id=&quality_profile_id=]`: the latest frame shown
/// (at its own size) or the placeholder (at the output's size), as JPEG, encoded once per frame.
/// Headers say which: `x-toposync-frame-state: live|placeholder` and, for live frames,
/// `x-toposync-selected-frame-age-seconds`.
#[utoipa::path(get, path = "/transmissions/{id}/still.jpg", tag = "media", params(("id" = String, Path), super::openapi::StillQuery), responses((status = 200, description = "The latest picture", content_type = "image/jpeg", body = Vec<u8>)))]
pub async fn still(Path(id): Path<String>, params: Params) -> Result<Response, ApiError> {
    use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
    use axum::response::IntoResponse;
    let revision = store::read(STORE_DEADLINE).await?;
    let transmission = revision
        .settings
        .transmission(&id)
        .ok_or_else(|| ApiError::not_found("Transmission not found"))?;
    if transmission.host_server_id != toposync_actors::distributed::LOCAL_SERVER_ID {
        return super::distributed::remote_still(&revision.settings, transmission, &params).await;
    }
    let output = match params.get("output_id") {
        Some(output_id) => Some(
            transmission
                .outputs
                .iter()
                .find(|o| o.id == output_id)
                .ok_or_else(|| ApiError::not_found("Output not found"))?,
        ),
        // The original's choice: the profile's HLS output, then the preferred profiles.
        None => toposync_actors::home_assistant::best_output(
            transmission,
            None,
            params
                .get("quality_profile_id")
                .and_then(toposync_actors::model::parse_name),
        ),
    };
    let size = output
        .map(|o| toposync_actors::publishers::OutputTarget::resolve(transmission, o).size())
        .unwrap_or(toposync_actors::publishers::target::DEFAULT_SIZE);
    // A Home Assistant entity polling stills keeps the picture coming (camera readers run on demand).
    super::demand::prime_quietly(&id, output.map(|o| o.id.as_str())).await;
    let actor = toposync_actors::transmissions::lookup(&id, ACTOR_DEADLINE)
        .await
        .map_err(|err| ApiError::unavailable("transmissions runtime", err.err))?;
    let still = match actor {
        Some(actor) => ask(
            &actor,
            |reply| TransmissionMsg::Still(size, reply),
            ACTOR_DEADLINE,
        )
        .await
        .map_err(|err| ApiError::unavailable("transmission runtime", err))?,
        // Disabled: no actor and no frame, so the placeholder, as the original.
        None => toposync_actors::transmissions::actor::Still::placeholder(
            size,
            transmission.placeholder,
        ),
    };
    let (cache, frame) = (still.cache.clone(), still.frame.clone());
    let jpeg = toposync_actors::frames::off_runtime(move || cache.jpeg(&frame))
        .await
        .unwrap_or_else(|| Err("the JPEG encoder failed".into()))
        .map_err(|err| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, err))?;
    let mut response = (
        [
            (CONTENT_TYPE, "image/jpeg"),
            (CACHE_CONTROL, "no-store, max-age=0"),
            (axum::http::header::PRAGMA, "no-cache"),
        ],
        jpeg,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        "x-toposync-frame-state",
        axum::http::HeaderValue::from_static(still.state),
    );
    if let Some(age) = still.age_seconds {
        if let Ok(value) = axum::http::HeaderValue::from_str(&format!("{age:.3}")) {
            headers.insert("x-toposync-selected-frame-age-seconds", value);
        }
    }
    Ok(response)
}

/// An HLS viewer keeps its output demanded this long after its last request through the proxy
/// (players fetch the playlist every segment, about every second).
const HLS_PROXY_LEASE: Duration = Duration::from_secs(6);
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /media/hls/{engine_path}/{file…}[?media_token=…]`: the engine's HLS relayed with the
/// token checked on every request (signed mode), playlists rewritten so segments carry it, and
/// segments streamed through without being buffered whole. Each request renews a short demand
/// lease, so HLS viewers are counted by what they fetch, not by the engine's lingering muxer.
#[utoipa::path(get, path = "/media/hls/{engine_path}/{*file}", tag = "media", description = "The engine's HLS relayed with the media token checked on every request", params(("engine_path" = String, Path), ("file" = String, Path, description = "index.m3u8, a variant playlist or a segment"), super::openapi::MediaToken), responses((status = 200, description = "A playlist or a segment", content_type = "application/vnd.apple.mpegurl", body = String)))]
pub async fn hls(
    State(runtime): State<Arc<Runtime>>,
    Path((engine_path, file)): Path<(String, String)>,
    params: Params,
    Origin(origin): Origin,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use toposync_actors::hls;
    use toposync_actors::model::settings::MediaAuthMode;
    let unauthorized = |detail: &str| ApiError::new(StatusCode::UNAUTHORIZED, detail);
    let engine_path = normalize_path_slug(&engine_path, "");
    let file = hls::media_file(&file)
        .filter(|_| !engine_path.is_empty())
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "Invalid HLS media path"))?;
    let revision = store::read(STORE_DEADLINE).await?;
    let settings = &revision.settings;
    let signed = settings.engine.media_auth.mode == MediaAuthMode::SignedProxy;
    let token = params.get("media_token").unwrap_or("").to_string();
    let mut credentials = None;
    if signed {
        let grant = runtime
            .media_tokens
            .authorize(
                settings,
                &token,
                Transport::Hls,
                &engine_path,
                toposync_actors::unix_now(),
            )
            .map_err(|err| unauthorized(err.detail()))?;
        let (transmission, output, claims) = (&grant.transmission, &grant.output, &grant.claims);
        credentials = output
            .credentials()
            .map(|(u, p)| (u.to_string(), p.to_string()));
        if file.ends_with(".m3u8") {
            renew_hls_lease(&transmission.id, &output.id, claims.iat);
        }
    }
    // Authentication first: a caller without a valid token learns nothing about the engine.
    let ports = super::engine::running_ports().await.ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Streaming engine is not running",
        )
    })?;
    let url = hls::upstream_url(ports.hls, &engine_path, &file)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "Invalid HLS media path"))?;
    let mut upstream = toposync_actors::net::http_client()
        .get(url)
        .timeout(UPSTREAM_TIMEOUT);
    for name in ["accept", "range", "user-agent"] {
        if let Some(value) = headers.get(name) {
            upstream = upstream.header(name, value.as_bytes());
        }
    }
    if let Some((user, pass)) = &credentials {
        upstream = upstream.basic_auth(user, Some(pass));
    }
    let response = upstream.send().await.map_err(|err| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("HLS media proxy unavailable: {err}"),
        )
    })?;
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut passed = axum::http::HeaderMap::new();
    for name in [
        "content-type",
        "cache-control",
        "accept-ranges",
        "content-range",
        "etag",
        "last-modified",
    ] {
        if let Some(value) = response
            .headers()
            .get(name)
            .and_then(|v| axum::http::HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            passed.insert(axum::http::HeaderName::from_static(name), value);
        }
    }
    // The token in the URL is the whole credential (no cookie is read), so a page of another
    // origin may fetch it: the core's dashboard plays a processing server's HLS this way.
    passed.insert(
        axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        axum::http::HeaderValue::from_static("*"),
    );
    let content_type = passed
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let maybe_playlist = file.ends_with(".m3u8")
        || content_type
            .as_deref()
            .is_some_and(|t| t.contains("mpegurl"));
    if status.is_success() && maybe_playlist {
        let body = response.bytes().await.map_err(|err| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("HLS media proxy unavailable: {err}"),
            )
        })?;
        let body = if signed && hls::is_playlist(&file, content_type.as_deref(), &body) {
            let text = String::from_utf8_lossy(&body);
            axum::body::Bytes::from(hls::rewrite_playlist(
                &text,
                &engine_path,
                &file,
                &token,
                // Segments are fetched through the same proxy prefix as the playlist.
                origin.public_base_path.trim_end_matches('/'),
            ))
        } else {
            body
        };
        if !passed.contains_key("content-type") {
            passed.insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/vnd.apple.mpegurl"),
            );
        }
        return Ok((status, passed, body).into_response());
    }
    // Segments (and errors) stream through as they arrive.
    let body = axum::body::Body::from_stream(response.bytes_stream());
    Ok((status, passed, body).into_response())
}

/// A playlist fetched through the proxy is a viewer: renew its short demand lease.
fn renew_hls_lease(transmission_id: &str, output_id: &str, issued_at: f64) {
    use toposync_actors::demand::{HeartbeatClient, OutputFilter};
    let filter = OutputFilter {
        output_id: Some(output_id.to_string()),
        quality_profile_id: None,
    };
    // One lease per signed URL: a player that resolves a new URL counts as one more viewer for a
    // few seconds at most.
    let session = format!("hls-proxy:{output_id}:{issued_at}");
    toposync_actors::api::demand::heartbeat_quietly(
        transmission_id,
        filter,
        session,
        HeartbeatClient::Web,
        HLS_PROXY_LEASE,
    );
}

/// `GET /transmissions/{id}/hls/probe[?output_id=]`: fetches the output's HLS as a player would
/// (playlist, media playlist, the tail segment's first bytes) straight from the engine, and says
/// where it breaks. Always 200 (but 404 for an unknown transmission).
#[utoipa::path(get, path = "/transmissions/{id}/hls/probe", tag = "media", params(("id" = String, Path), super::openapi::OutputQuery), responses((status = 200, body = toposync_actors::hls_probe::HlsProbe)))]
pub async fn hls_probe(
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<toposync_actors::hls_probe::HlsProbe>, ApiError> {
    let revision = store::read(STORE_DEADLINE).await?;
    let settings = &revision.settings;
    let transmission = settings
        .transmission(&id)
        .ok_or_else(|| ApiError::not_found("Transmission not found"))?;
    let ports = super::engine::running_ports().await;
    Ok(Json(
        toposync_actors::hls_probe::probe(
            transmission,
            params.get("output_id"),
            ports,
            settings.engine.preferred_ports.hls as u16,
        )
        .await,
    ))
}
