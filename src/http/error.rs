//! One error type for every handler, rendered as FastAPI does: `{"detail": ...}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use toposync_actors::model::error::{FieldError, ModelError};
use toposync_actors::store::StoreError;
use toposync_actors::supervision::AskError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: Detail,
}

/// FastAPI's two `detail` shapes: a message, or the list of fields that broke a rule.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Detail {
    Message(String),
    Fields(Vec<FieldError>),
}

/// Every refusal's body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    detail: &'a Detail,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: Detail::Message(message.into()),
        }
    }

    /// 422 for fields that broke a rule.
    pub fn fields(errors: Vec<FieldError>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: Detail::Fields(errors),
        }
    }

    /// The refusal as one line, for an answer that carries it as a warning or blocking error.
    pub fn message(&self) -> String {
        match &self.detail {
            Detail::Message(message) => message.clone(),
            Detail::Fields(errors) => errors
                .iter()
                .map(|error| error.msg.as_str())
                .collect::<Vec<_>>()
                .join(" "),
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
            ModelError::Invalid(errors) => Self::fields(errors),
            ModelError::Conflict(error) => Self {
                status: StatusCode::CONFLICT,
                detail: Detail::Fields(vec![error]),
            },
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
            StoreError::Unavailable(err) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                match err {
                    AskError::Timeout => {
                        "The settings store is busy; nothing was changed. Retry shortly."
                    }
                    AskError::Unavailable => {
                        "The settings store is restarting; nothing was changed. Retry shortly."
                    }
                },
            ),
            StoreError::Panicked(why) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Internal error; the change was not applied: {why}"),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            detail: &self.detail,
        };
        (self.status, axum::Json(body)).into_response()
    }
}
