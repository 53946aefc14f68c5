//! Request extractors whose failures answer with the same JSON error shape as the handlers.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Query, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use serde_json::Value;
use toposync_actors::model::error::{FieldError, Loc, ModelError};

use super::error::ApiError;

/// Largest accepted request body; larger ones get 413 before any parsing.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// A body still arriving after this is refused (408): a slow upload must not hold a
/// connection and its buffer forever.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A JSON request body, parsed but not yet typed: the model decides what is valid, so every
/// field error is reported with its location in the body.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = declares_json(&req);
        let bytes = read_body(req, state).await?;
        if bytes.is_empty() {
            return Err(ApiError::fields(vec![FieldError::new(
                "missing",
                &Loc::body(),
                "Field required",
            )]));
        }
        json?;
        parse_json(&bytes)
    }
}

/// `Option<JsonBody>`: an empty body is `None`, for routes whose body is optional.
impl<S: Send + Sync> OptionalFromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        let json = declares_json(&req);
        let bytes = read_body(req, state).await?;
        if bytes.is_empty() {
            return Ok(None);
        }
        json?;
        parse_json(&bytes).map(Some)
    }
}

/// A body is JSON only when it says so: a web page can send a "simple" cross-site POST with
/// `text/plain` and no preflight, but never one with `application/json`.
fn declares_json(req: &Request) -> Result<(), ApiError> {
    let content_type = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ))
    }
}

/// The body, refused with 413 past [`BODY_LIMIT`].
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than {BODY_LIMIT} bytes"),
        )
    };
    // Refuse on the declared length before reading anything: no pointless upload.
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT as u64) {
        return Err(too_large());
    }
    let read = Bytes::from_request(req, state);
    let bytes = tokio::time::timeout(BODY_READ_TIMEOUT, read)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "The request body was not received in time",
            )
        })?;
    bytes.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::new(rejection.status(), rejection.body_text())
        }
    })
}

fn parse_json(bytes: &[u8]) -> Result<JsonBody, ApiError> {
    serde_json::from_slice(bytes).map(JsonBody).map_err(|err| {
        ApiError::fields(vec![FieldError::new(
            "json_invalid",
            &Loc::body().index(err.column()),
            format!("JSON decode error: {err}"),
        )])
    })
}

/// Where the caller reached the service (`public_base_path`, `media_url_origin`).
pub struct Origin(pub toposync_actors::urls::PublicOrigin);

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        Ok(Origin(toposync_actors::urls::PublicOrigin::from_headers(
            |name| headers.get(name).and_then(|value| value.to_str().ok()),
        )))
    }
}

/// Query parameters by name.
#[derive(Default)]
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(map) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
        Ok(Params(map))
    }
}

impl Params {
    pub fn from_map(map: HashMap<String, String>) -> Params {
        Params(map)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter naming an enum value; 422 naming the parameter when it names none.
    pub fn named<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.named_or(name, |raw| format!("'{raw}' is not a valid {name}"))
    }

    /// [`Self::named`] with the refusal's message.
    pub fn named_or<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        message: impl FnOnce(&str) -> String,
    ) -> Result<Option<T>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(raw) => toposync_actors::model::parse_name(raw)
                .map(Some)
                .ok_or_else(|| {
                    ApiError::from(ModelError::invalid(&Loc::query().key(name), message(raw)))
                }),
        }
    }

    /// A boolean flag, accepting what FastAPI accepts; anything else is a 422 naming it.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(false),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(ApiError::fields(vec![
                FieldError::new(
                    "bool_parsing",
                    &Loc::query().key(name),
                    "Input should be a valid boolean",
                )
                .with_input(other),
            ])),
        }
    }
}

/// A WebSocket upgrade whose refusal (a plain GET, a wrong version) answers the JSON error
/// shape like every other route, instead of axum's plain text.
pub struct Upgrade(pub axum::extract::ws::WebSocketUpgrade);

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::ws::WebSocketUpgrade::from_request_parts(parts, state)
            .await
            .map(Upgrade)
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
    }
}
