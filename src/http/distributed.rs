//! Distributed mode, core side (docs/operations.md, "Two machines"): the settings a processing
//! server pulls (its sync credentials open that route and no other), and the calls a core makes
//! to a processing server for what it hosts: its URLs and its demand.

use axum::Json;
use axum::extract::Path;
use serde_json::Value;
use toposync_actors::distributed;
use toposync_actors::model::settings::{ProcessingServer, StreamingSettings};
use toposync_actors::model::transmission::Transmission;
use toposync_actors::store;
use toposync_actors::urls::UrlsResponse;

use super::STORE_DEADLINE;
use super::auth::{Principal, Proof};
use super::error::ApiError;
use super::extract::Params;

/// `GET /distributed/settings/{server_id}`: what `server_id` hosts, the cameras it pulls, and the
/// shared engine, ingest and stale settings. The processing server itself (its sync
/// credentials) gets the secrets it runs on; anyone else sees them redacted, as in `/settings`.
#[utoipa::path(get, path = "/distributed/settings/{server_id}", tag = "distributed", params(("server_id" = String, Path), super::openapi::IncludeSecrets), responses((status = 200, body = StreamingSettings)))]
pub async fn settings(
    Path(server_id): Path<String>,
    params: Params,
    axum::Extension(principal): axum::Extension<Principal>,
) -> Result<Json<StreamingSettings>, ApiError> {
    let sync = principal.method == Proof::Sync;
    if sync
        && toposync_actors::model::transmission::normalize_server_id(&server_id)
            == toposync_actors::distributed::LOCAL_SERVER_ID
    {
        // The sync credentials read processing servers' shares, never the core's own.
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "The sync credentials read processing servers' settings only",
        ));
    }
    let secrets = params.flag("include_secrets")? || sync;
    let revision = store::read(STORE_DEADLINE).await?;
    let share = distributed::share_for(&revision.settings, &server_id)?;
    Ok(Json(if secrets { share } else { share.redacted() }))
}

/// How long the core waits for a processing server (spec §5.7).
const REMOTE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(6);
/// A processing server's answer bigger than this is not one of ours.
const REMOTE_BODY_LIMIT: usize = 4 * 1024 * 1024;

fn bad_gateway(detail: String) -> ApiError {
    ApiError::new(axum::http::StatusCode::BAD_GATEWAY, detail)
}

/// Calls `server` (Basic with its credentials when set) and reads its answer (its content type
/// and bytes), or says why not in the original's words ("HTTP <code>: <body>", "Connection
/// failed: …"). The error never names the URL (it may carry a media token's query).
async fn call_remote_bytes(
    server: &ProcessingServer,
    method: reqwest::Method,
    path_and_query: &str,
    body: Option<&Value>,
    accept: &str,
) -> Result<(Option<String>, Vec<u8>), String> {
    let url = format!("{}{path_and_query}", server.url.trim_end_matches('/'));
    let mut request = toposync_actors::net::peer_client()
        .request(method, url)
        .header("accept", accept)
        .timeout(REMOTE_TIMEOUT);
    if let Some(username) = server.username.as_deref().filter(|u| !u.is_empty()) {
        request = request.basic_auth(username, server.password.as_deref());
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let mut response = request
        .send()
        .await
        .map_err(|err| format!("Connection failed: {}", err.without_url()))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| format!("Connection failed: {}", err.without_url()))?
    {
        if bytes.len() + chunk.len() > REMOTE_BODY_LIMIT {
            return Err(format!(
                "the answer is larger than {REMOTE_BODY_LIMIT} bytes"
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&bytes).chars().take(400).collect();
        return Err(format!("HTTP {}: {text}", status.as_u16()));
    }
    Ok((content_type, bytes))
}

/// [`call_remote_bytes`] for a JSON answer ("Invalid JSON response" when it is not).
async fn call_remote(
    server: &ProcessingServer,
    method: reqwest::Method,
    path_and_query: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let (_, bytes) =
        call_remote_bytes(server, method, path_and_query, body, "application/json").await?;
    serde_json::from_slice(&bytes).map_err(|_| "Invalid JSON response".to_string())
}

/// A query of the parameters that are set, in the order given.
fn query_of(params: &Params, names: &[&str]) -> String {
    let pairs: Vec<String> = names
        .iter()
        .filter_map(|name| {
            params.get(name).map(|value| {
                format!(
                    "{name}={}",
                    url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
                )
            })
        })
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

fn quoted(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// A remote transmission's URLs, from its processing server's internal route, as the core
/// hands them out (`distributed::remote_urls`).
pub async fn remote_urls(
    settings: &StreamingSettings,
    transmission: &Transmission,
    params: &Params,
) -> Result<UrlsResponse, ApiError> {
    let host = &transmission.host_server_id;
    let server = distributed::remote_server(settings, host, "remote HTTP URL resolution")?;
    let server_url = url::Url::parse(server.url.trim()).map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            format!("host_server_id '{host}' has an invalid URL."),
        )
    })?;
    let path = format!(
        "/api/streams/internal/transmissions/{}/urls{}",
        quoted(&transmission.id),
        query_of(
            params,
            &["output_id", "quality_profile_id", "media_token_ttl_seconds"]
        )
    );
    let answer = call_remote(server, reqwest::Method::GET, &path, None)
        .await
        .map_err(|err| {
            bad_gateway(format!(
                "Failed to resolve URLs from processing server '{host}': {err}"
            ))
        })?;
    let urls: UrlsResponse = serde_json::from_value(answer).map_err(|_| {
        bad_gateway(format!(
            "Invalid URL payload returned by processing server '{host}'."
        ))
    })?;
    Ok(distributed::remote_urls(urls, host, &server_url))
}

/// `POST /transmissions/{id}/demand/{prime|heartbeat}` of a remote transmission, forwarded to
/// its processing server; its answer is passed through.
pub async fn forward_demand(
    settings: &StreamingSettings,
    transmission: &Transmission,
    action: DemandAction,
    params: &Params,
    body: Option<&Value>,
) -> Result<Value, ApiError> {
    let host = &transmission.host_server_id;
    let server = distributed::remote_server(settings, host, "remote HTTP access")?;
    let (suffix, failure) = match action {
        DemandAction::Prime => ("prime", "Failed to prime demand"),
        DemandAction::Heartbeat => ("heartbeat", "Failed to renew demand"),
    };
    let path = format!(
        "/api/streams/transmissions/{}/demand/{suffix}{}",
        quoted(&transmission.id),
        query_of(params, &["output_id", "quality_profile_id", "ttl_seconds"])
    );
    let empty = Value::Object(Default::default());
    call_remote(
        server,
        reqwest::Method::POST,
        &path,
        Some(body.unwrap_or(&empty)),
    )
    .await
    .map_err(|err| bad_gateway(format!("{failure} on processing server '{host}': {err}")))
}

#[derive(Debug, Clone, Copy)]
pub enum DemandAction {
    Prime,
    Heartbeat,
}

/// `GET /transmissions/{id}/still.jpg` of a remote transmission: its processing server's JPEG.
pub async fn remote_still(
    settings: &StreamingSettings,
    transmission: &Transmission,
    params: &Params,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let host = &transmission.host_server_id;
    let server = distributed::remote_server(settings, host, "remote HTTP access")?;
    let path = format!(
        "/api/streams/transmissions/{}/still.jpg{}",
        quoted(&transmission.id),
        query_of(params, &["output_id", "quality_profile_id"])
    );
    let (content_type, bytes) =
        call_remote_bytes(server, reqwest::Method::GET, &path, None, "image/jpeg,*/*")
            .await
            .map_err(|err| {
                bad_gateway(format!(
                    "Failed to resolve still image from processing server '{host}': {err}"
                ))
            })?;
    // Only a picture is passed on, marked so a browser never reads it as anything else: the
    // answer is served from the core's origin.
    if !content_type.is_some_and(|t| t.starts_with("image/jpeg")) {
        return Err(bad_gateway(format!(
            "Failed to resolve still image from processing server '{host}': not a JPEG"
        )));
    }
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/jpeg"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
            (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}

/// `POST /transmissions/{id}/webrtc/offer` of a remote transmission, negotiated by its
/// processing server (whose engine answers the WHEP offer).
pub async fn forward_offer(
    settings: &StreamingSettings,
    transmission: &Transmission,
    params: &Params,
    body: &Value,
) -> Result<Value, ApiError> {
    let host = &transmission.host_server_id;
    let server = distributed::remote_server(settings, host, "remote HTTP access")?;
    let path = format!(
        "/api/streams/transmissions/{}/webrtc/offer{}",
        quoted(&transmission.id),
        query_of(params, &["output_id", "quality_profile_id"])
    );
    call_remote(server, reqwest::Method::POST, &path, Some(body))
        .await
        .map_err(|err| {
            bad_gateway(format!(
                "Failed to negotiate WebRTC offer with processing server '{host}': {err}"
            ))
        })
}
