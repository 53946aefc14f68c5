//! Frame ingest for writers running outside the service (vision pipelines, scripts), and the
//! runtime health that shows what arbitration selected.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use ractor::ActorRef;
use serde_json::{Value, json};
use toposync_actors::supervision::{AskError, ask};
use toposync_actors::transmissions::arbitration::{Frame, Lifecycle};
use toposync_actors::transmissions::{TransmissionMsg, TransmissionsMsg, transmissions};

use super::error::ApiError;
use super::extract::Params;

/// A 4K BGR24 frame is 24.9 MB; anything larger is not a frame.
pub const FRAME_LIMIT: usize = 32 * 1024 * 1024;
const DEADLINE: Duration = Duration::from_secs(2);

/// `POST /transmissions/{id}/writers/{writer_id}/frame?width=W&height=H[&priority=P][&lifecycle=open|update]`
/// with a raw BGR24 body of exactly `W * H * 3` bytes.
pub async fn frame(
    Path((id, writer_id)): Path<(String, String)>,
    params: Params,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let width = dimension(&params, "width", 7680)?;
    let height = dimension(&params, "height", 4320)?;
    let priority = match params.get("priority") {
        None => 0,
        Some(raw) => raw
            .parse::<i64>()
            .map_err(|_| query_error("priority", "Input should be a valid integer", raw))?,
    };
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
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                rejection.status(),
                format!("A frame is at most {FRAME_LIMIT} bytes"),
            )
        } else {
            ApiError::new(rejection.status(), rejection.body_text())
        }
    })?;
    let frame = Frame::bgr24(body, width, height).map_err(|msg| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([{"type": "value_error", "loc": ["body"], "msg": msg}]),
        )
    })?;
    let transmission = transmission(&id).await?;
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
    Ok(Json(
        json!({"transmission_id": id, "writer_id": writer_id, "accepted": true}),
    ))
}

/// `POST /transmissions/{id}/writers/{writer_id}/close`: the writer is ineligible at once.
pub async fn close(Path((id, writer_id)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(
        json!({"transmission_id": id, "writer_id": writer_id, "closed": true}),
    ))
}

/// `GET /runtime/health`: per transmission, what arbitration selected and why.
pub async fn health() -> Result<Json<Value>, ApiError> {
    let all = ask(&supervisor()?, TransmissionsMsg::Health, DEADLINE)
        .await
        .map_err(|err| ApiError::unavailable("transmissions supervisor", err))?;
    let by_id: serde_json::Map<String, Value> = all
        .into_iter()
        .map(|health| (health.transmission_id.clone(), json!(health)))
        .collect();
    Ok(Json(json!({"transmissions": by_id})))
}

async fn transmission(id: &str) -> Result<ActorRef<TransmissionMsg>, ApiError> {
    let id = id.to_string();
    ask(
        &supervisor()?,
        |reply| TransmissionsMsg::Lookup(id, reply),
        DEADLINE,
    )
    .await
    .map_err(|err| ApiError::unavailable("transmissions supervisor", err))?
    .ok_or_else(|| ApiError::not_found("Transmission not found or disabled"))
}

fn supervisor() -> Result<ActorRef<TransmissionsMsg>, ApiError> {
    transmissions()
        .ok_or_else(|| ApiError::unavailable("transmissions supervisor", AskError::Unavailable))
}

fn dimension(params: &Params, name: &str, max: u32) -> Result<u32, ApiError> {
    let raw = params.get(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([{"type": "missing", "loc": ["query", name], "msg": "Field required"}]),
        )
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
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!([{"type": "value_error", "loc": ["query", name], "msg": msg, "input": input}]),
    )
}
