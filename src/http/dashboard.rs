//! The dashboard: the Streams, transport debug and Settings pages and their assets, built from `web/` (docs/dashboard.md) and
//! embedded, so the binary serves it with nothing else installed.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::extract::Origin;

/// One built file of `web/dist/assets`, embedded.
macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        (
            $name,
            $content_type,
            include_bytes!(concat!("../../web/dist/assets/", $name)),
        )
    };
}

/// Every built file: its name under `/assets/`, its type, its bytes (a test checks that this is
/// all of `web/dist/assets`).
const ASSETS: [(&str, &str, &[u8]); 7] = [
    asset!("streams.js", "text/javascript"),
    asset!("debug.js", "text/javascript"),
    asset!("settings.js", "text/javascript"),
    asset!("common.js", "text/javascript"),
    asset!("common.css", "text/css"),
    asset!("hls.js", "text/javascript"),
    asset!("jsmpeg.js", "text/javascript"),
];

/// `GET /`: the Streams page (it signs in through `/login` when it has no session).
#[utoipa::path(get, path = "/", tag = "dashboard", responses((status = 200, description = "The Streams page", content_type = "text/html", body = String)))]
pub async fn streams_page(Origin(origin): Origin) -> axum::response::Html<String> {
    page(include_str!("../../web/dist/index.html"), &origin)
}

/// `GET /streams/debug?live_view_id=&variant_id=&transport=`: one live view over one fixed
/// transport, with a step log to copy into a bug report.
#[utoipa::path(get, path = "/streams/debug", tag = "dashboard", responses((status = 200, description = "The transport debug page", content_type = "text/html", body = String)))]
pub async fn debug_page(Origin(origin): Origin) -> axum::response::Html<String> {
    page(include_str!("../../web/dist/debug.html"), &origin)
}

/// `GET /settings`: cameras and their publications (it needs the admin sign-in to show them).
#[utoipa::path(get, path = "/settings", tag = "dashboard", responses((status = 200, description = "The Settings page", content_type = "text/html", body = String)))]
pub async fn settings_page(Origin(origin): Origin) -> axum::response::Html<String> {
    page(include_str!("../../web/dist/settings.html"), &origin)
}

/// A page whose relative URLs (its scripts, the API, the other pages) resolve under the path the
/// caller reached this service at: `/`, or a reverse proxy's or Home Assistant ingress's prefix
/// (`X-Ingress-Path`, `X-Forwarded-Prefix`; only plain path characters, see `PublicOrigin`).
pub fn page(
    html: &'static str,
    origin: &toposync_actors::urls::PublicOrigin,
) -> axum::response::Html<String> {
    let base = origin.public_base_path.trim_end_matches('/');
    axum::response::Html(html.replacen(
        "<head>",
        &format!("<head>\n    <base href=\"{base}/\" />"),
        1,
    ))
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

#[cfg(test)]
mod tests {
    use super::ASSETS;

    #[test]
    fn every_built_asset_is_served() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist/assets");
        let mut built: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        built.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|(name, ..)| name.to_string()).collect();
        served.sort();
        assert_eq!(served, built);
    }
}
