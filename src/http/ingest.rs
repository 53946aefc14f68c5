//! Frame ingest for writers running outside the service (vision pipelines, scripts), and the
//! runtime health that shows what arbitration selected.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::ws::{Message, WebSocket};
use axum::http::StatusCode;
use axum::response::Response;
use ractor::ActorRef;
use serde::Deserialize;
use toposync_actors::model::error::{FieldError, Loc};
use toposync_actors::supervision::{AskError, ask};
use toposync_actors::transmissions::TransmissionMsg;
use toposync_actors::transmissions::arbitration::{Frame, Lifecycle};

use super::error::ApiError;
use super::extract::{Params, Upgrade};
use super::replies::{FrameAccepted, SocketError, WriterClosed};

/// A 4K BGR24 frame is 24.9 MB; anything larger is not a frame.
pub const FRAME_LIMIT: usize = 32 * 1024 * 1024;
/// The largest raw frame a writer may declare (8K UHD), on every ingest path.
pub const MAX_WIDTH: u32 = 7680;
pub const MAX_HEIGHT: u32 = 4320;
const DEADLINE: Duration = Duration::from_secs(2);

/// `POST /transmissions/{id}/writers/{writer_id}/frame?width=W&height=H[&priority=P][&lifecycle=open|update]`
/// with a raw BGR24 body of exactly `W * H * 3` bytes.
#[utoipa::path(post, path = "/transmissions/{id}/writers/{writer_id}/frame", tag = "ingest", params(("id" = String, Path), ("writer_id" = String, Path), super::openapi::FrameQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "Exactly width*height*3 bytes of BGR24"), responses((status = 200, body = FrameAccepted)))]
pub async fn frame(
    Path((id, writer_id)): Path<(String, String)>,
    params: Params,
    request: axum::extract::Request,
) -> Result<Json<FrameAccepted>, ApiError> {
    let width = dimension(&params, "width", MAX_WIDTH)?;
    let height = dimension(&params, "height", MAX_HEIGHT)?;
    let priority = priority(&params)?;
    let lifecycle = match params.get("lifecycle") {
        None | Some("update") => Lifecycle::Update,
        Some("open") => Lifecycle::Open,
        Some(other) => {
            return Err(query_error(
                "lifecycle",
                "Input should be 'open' or 'update'",
                other,
            ));
        }
    };
    let transmission = transmission(&id).await?;
    let body = frame_body(request, (width, height)).await?;
    let frame = Frame::bgr24(body, width, height)
        .map_err(|msg| ApiError::fields(vec![FieldError::new("value_error", &Loc::body(), msg)]))?;
    ask(
        &transmission,
        |reply| TransmissionMsg::WriterUpdate {
            writer_id: writer_id.clone(),
            lifecycle,
            priority,
            frame: Some(frame),
            reply,
        },
        DEADLINE,
    )
    .await
    .map_err(|err| ApiError::unavailable("transmission", err))?;
    Ok(Json(FrameAccepted {
        transmission_id: id,
        writer_id,
        accepted: true,
    }))
}

/// `POST /transmissions/{id}/writers/{writer_id}/close`: the writer is ineligible at once.
#[utoipa::path(post, path = "/transmissions/{id}/writers/{writer_id}/close", tag = "ingest", params(("id" = String, Path), ("writer_id" = String, Path)), responses((status = 200, body = WriterClosed)))]
pub async fn close(
    Path((id, writer_id)): Path<(String, String)>,
) -> Result<Json<WriterClosed>, ApiError> {
    let transmission = transmission(&id).await?;
    ask(
        &transmission,
        |reply| TransmissionMsg::WriterClose {
            writer_id: writer_id.clone(),
            reply,
        },
        DEADLINE,
    )
    .await
    .map_err(|err| ApiError::unavailable("transmission", err))?;
    Ok(Json(WriterClosed {
        transmission_id: id,
        writer_id,
        closed: true,
    }))
}

/// `WS /transmissions/{id}/writers/{writer_id}/ws[?priority=P]`: a long-lived writer.
/// Binary messages are frames (JPEG by default, or raw BGR24 after a `format` message); text
/// messages are JSON control (`open`, `update`, `close`, `format`). Problems are answered with a
/// text `{"type": "error", "detail": ...}` and change nothing; closing the socket closes the writer.
#[utoipa::path(get, path = "/transmissions/{id}/writers/{writer_id}/ws", tag = "ingest", description = "WebSocket: JSON control messages and binary frames", params(("id" = String, Path), ("writer_id" = String, Path), super::openapi::WriterSocketQuery), responses((status = 101, description = "Switching to the WebSocket protocol")))]
pub async fn socket(
    Path((id, writer_id)): Path<(String, String)>,
    params: Params,
    Upgrade(upgrade): Upgrade,
) -> Result<Response, ApiError> {
    let priority = priority(&params)?;
    let target = Target::find(&id).await?;
    Ok(upgrade
        .max_message_size(FRAME_LIMIT)
        .on_upgrade(move |socket| writer_session(socket, target, writer_id, priority)))
}

/// The transmission a long-lived writer (WebSocket, local socket) feeds: its id, and its actor
/// as last found (a transmission that restarts gets a new actor, which the writer follows).
pub(crate) struct Target {
    transmission_id: String,
    actor: ActorRef<TransmissionMsg>,
}

impl Target {
    pub(crate) async fn find(id: &str) -> Result<Target, ApiError> {
        Ok(Target {
            transmission_id: id.to_string(),
            actor: transmission(id).await?,
        })
    }

    /// The writer's lifecycle, priority and (optionally) a new frame.
    pub(crate) async fn update(
        &mut self,
        writer_id: &str,
        lifecycle: Lifecycle,
        priority: i64,
        frame: Option<Frame>,
    ) -> Result<(), String> {
        self.ask(|reply| TransmissionMsg::WriterUpdate {
            writer_id: writer_id.to_string(),
            lifecycle,
            priority,
            frame: frame.clone(),
            reply,
        })
        .await
    }

    /// The writer is ineligible at once.
    pub(crate) async fn close(&mut self, writer_id: &str) -> Result<(), String> {
        self.ask(|reply| TransmissionMsg::WriterClose {
            writer_id: writer_id.to_string(),
            reply,
        })
        .await
    }

    /// Asks the transmission; if its actor is gone, asks the one that replaced it (once).
    async fn ask<T: Send + 'static>(
        &mut self,
        request: impl Fn(ractor::RpcReplyPort<T>) -> TransmissionMsg,
    ) -> Result<T, String> {
        match ask(&self.actor, &request, DEADLINE).await {
            Ok(answer) => return Ok(answer),
            Err(AskError::Timeout) => return Err("the transmission did not answer in time".into()),
            Err(AskError::Unavailable) => {}
        }
        let replacement = transmission(&self.transmission_id)
            .await
            .map_err(|_| "the transmission is not running any more".to_string())?;
        self.actor = replacement;
        ask(&self.actor, &request, DEADLINE)
            .await
            .map_err(|err| format!("the transmission did not answer: {err:?}"))
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Control {
    Open {
        priority: Option<i64>,
    },
    Update {
        priority: Option<i64>,
    },
    Close,
    Format {
        format: FrameFormat,
        width: Option<u32>,
        height: Option<u32>,
    },
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum FrameFormat {
    Jpeg,
    Bgr24,
}

/// What one socket's writer has declared so far.
struct Session {
    writer_id: String,
    priority: i64,
    lifecycle: Lifecycle,
    /// `None`: JPEG (each frame carries its size); `Some`: raw BGR24 of this size.
    raw_size: Option<(u32, u32)>,
}

async fn writer_session(
    mut socket: WebSocket,
    mut transmission: Target,
    writer_id: String,
    priority: i64,
) {
    let mut session = Session {
        writer_id,
        priority,
        lifecycle: Lifecycle::Open,
        raw_size: None,
    };
    while let Some(Ok(message)) = socket.recv().await {
        let outcome = match message {
            Message::Text(text) => control(&mut transmission, &mut session, &text).await,
            Message::Binary(data) => frame_message(&mut transmission, &mut session, data).await,
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => Ok(()),
        };
        if let Err(detail) = outcome {
            let error = serde_json::to_string(&SocketError::new(&detail)).unwrap_or_default();
            if socket.send(Message::Text(error.into())).await.is_err() {
                break;
            }
        }
    }
    let _ = transmission.close(&session.writer_id).await;
}

async fn control(
    transmission: &mut Target,
    session: &mut Session,
    text: &str,
) -> Result<(), String> {
    let control: Control =
        serde_json::from_str(text).map_err(|err| format!("invalid control message: {err}"))?;
    match control {
        Control::Open { priority } => {
            session.priority = priority.unwrap_or(session.priority);
            session.lifecycle = Lifecycle::Open;
            deliver(transmission, session, None).await
        }
        Control::Update { priority } => {
            session.priority = priority.unwrap_or(session.priority);
            session.lifecycle = Lifecycle::Update;
            deliver(transmission, session, None).await
        }
        Control::Close => {
            session.lifecycle = Lifecycle::Close;
            transmission.close(&session.writer_id).await
        }
        Control::Format {
            format: FrameFormat::Jpeg,
            ..
        } => {
            session.raw_size = None;
            Ok(())
        }
        Control::Format {
            format: FrameFormat::Bgr24,
            width,
            height,
        } => match (width, height) {
            (Some(w), Some(h)) if (1..=MAX_WIDTH).contains(&w) && (1..=MAX_HEIGHT).contains(&h) => {
                session.raw_size = Some((w, h));
                Ok(())
            }
            _ => Err("bgr24 needs width (1..7680) and height (1..4320)".into()),
        },
    }
}

async fn frame_message(
    transmission: &mut Target,
    session: &mut Session,
    data: Bytes,
) -> Result<(), String> {
    if session.lifecycle == Lifecycle::Close {
        return Err("the writer is closed; send {\"type\": \"open\"} first".into());
    }
    let frame = match session.raw_size {
        Some((width, height)) => Frame::bgr24(data, width, height)?,
        // Decoding costs milliseconds per frame: off the async workers, bounded.
        None => toposync_actors::frames::off_runtime(move || Frame::from_jpeg(&data))
            .await
            .unwrap_or_else(|| Err("the JPEG decoder failed".into()))?,
    };
    deliver(transmission, session, Some(frame)).await
}

async fn deliver(
    transmission: &mut Target,
    session: &mut Session,
    frame: Option<Frame>,
) -> Result<(), String> {
    let lifecycle = session.lifecycle;
    // After the first message the writer is updating.
    session.lifecycle = Lifecycle::Update;
    transmission
        .update(&session.writer_id, lifecycle, session.priority, frame)
        .await
}

fn priority(params: &Params) -> Result<i64, ApiError> {
    match params.get("priority") {
        None => Ok(0),
        Some(raw) => raw
            .parse::<i64>()
            .map_err(|_| query_error("priority", "Input should be a valid integer", raw)),
    }
}

/// The frame's bytes, refused on its declared length before anything is read (a wrong size is
/// never buffered), read within `BODY_READ_TIMEOUT` and never past the expected size.
async fn frame_body(
    request: axum::extract::Request,
    (width, height): (u32, u32),
) -> Result<Bytes, ApiError> {
    let expected = width as usize * height as usize * 3;
    let wrong_size = |got: String| {
        ApiError::fields(vec![FieldError::new(
            "value_error",
            &Loc::body(),
            format!("a {width}x{height} BGR24 frame is {expected} bytes, got {got}"),
        )])
    };
    if expected > FRAME_LIMIT {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("A frame is at most {FRAME_LIMIT} bytes"),
        ));
    }
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(declared) = declared.filter(|d| *d != expected as u64) {
        return Err(wrong_size(declared.to_string()));
    }
    let read = axum::body::to_bytes(request.into_body(), expected);
    match tokio::time::timeout(super::extract::BODY_READ_TIMEOUT, read).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(wrong_size(format!("more than {expected}"))),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "The frame was not received in time",
        )),
    }
}

async fn transmission(id: &str) -> Result<ActorRef<TransmissionMsg>, ApiError> {
    toposync_actors::transmissions::lookup(id, DEADLINE)
        .await?
        .ok_or_else(|| ApiError::not_found("Transmission not found or disabled"))
}

fn dimension(params: &Params, name: &str, max: u32) -> Result<u32, ApiError> {
    let raw = params.get(name).ok_or_else(|| {
        ApiError::fields(vec![FieldError::new(
            "missing",
            &Loc::query().key(name),
            "Field required",
        )])
    })?;
    match raw.parse::<u32>() {
        Ok(value) if (1..=max).contains(&value) => Ok(value),
        _ => Err(query_error(
            name,
            &format!("{name} must be an integer between 1 and {max}"),
            raw,
        )),
    }
}

fn query_error(name: &str, msg: &str, input: &str) -> ApiError {
    ApiError::fields(vec![
        FieldError::new("value_error", &Loc::query().key(name), msg).with_input(input),
    ])
}
