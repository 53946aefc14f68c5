//! The dashboard: the Streams page and its assets, built from `web/` (docs/dashboard.md) and
//! embedded, so the binary serves it with nothing else installed.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Every built file: its name under `/assets/`, its type, its bytes.
const ASSETS: [(&str, &str, &[u8]); 4] = [
    (
        "streams.js",
        "text/javascript",
        include_bytes!("../../web/dist/assets/streams.js"),
    ),
    (
        "streams.css",
        "text/css",
        include_bytes!("../../web/dist/assets/streams.css"),
    ),
    (
        "hls.js",
        "text/javascript",
        include_bytes!("../../web/dist/assets/hls.js"),
    ),
    (
        "jsmpeg.js",
        "text/javascript",
        include_bytes!("../../web/dist/assets/jsmpeg.js"),
    ),
];

/// `GET /`: the Streams page (it signs in through `/login` when it has no session).
#[utoipa::path(get, path = "/", tag = "dashboard", responses((status = 200, description = "The Streams page", content_type = "text/html", body = String)))]
pub async fn streams_page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("../../web/dist/index.html"))
}

/// `GET /assets/{file}`: the pages' scripts and styles.
#[utoipa::path(get, path = "/assets/{file}", tag = "dashboard", params(("file" = String, Path)), responses((status = 200, description = "A script or stylesheet of the pages", body = String)))]
pub async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "No such asset"))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Names are fixed, not hashed: a browser revalidates rather than keep an old build.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        *bytes,
    )
        .into_response())
}
