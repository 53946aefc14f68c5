//! One error type for every handler, rendered as FastAPI does: `{"detail": ...}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use toposync_actors::model::error::ModelError;
use toposync_actors::store::StoreError;
use toposync_actors::supervision::AskError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<Value>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }

    pub fn not_found(detail: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn unavailable(what: &str, err: AskError) -> Self {
        let detail = match err {
            AskError::Timeout => format!("The {what} did not answer in time; retry shortly."),
            AskError::Unavailable => format!("The {what} is restarting; retry shortly."),
        };
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }
}

impl From<ModelError> for ApiError {
    fn from(err: ModelError) -> Self {
        match err {
            ModelError::Invalid(errors) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, json!(errors))
            }
            ModelError::Conflict(error) => Self::new(StatusCode::CONFLICT, json!([error])),
            ModelError::Refused(msg) => Self::new(StatusCode::CONFLICT, msg),
            ModelError::BadRequest(msg) => Self::new(StatusCode::BAD_REQUEST, msg),
            ModelError::NotFound(msg) => Self::new(StatusCode::NOT_FOUND, msg),
        }
    }
}

impl From<toposync_actors::supervision::Unreachable> for ApiError {
    fn from(err: toposync_actors::supervision::Unreachable) -> Self {
        Self::unavailable(err.what, err.err)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Rejected(err) => err.into(),
            StoreError::Persist(msg) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Failed to save streaming settings: {msg}"),
            ),
            StoreError::Unavailable(err) => Self::unavailable("settings store", err),
            StoreError::Panicked(why) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Internal error; the change was not applied: {why}"),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"detail": self.detail}))).into_response()
    }
}
