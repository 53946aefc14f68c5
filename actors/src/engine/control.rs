//! Brings a running MediaMTX's paths and users in line with the settings through its control
//! API. The config file is still written for the next start, but its watcher ignores a change
//! less than 1 s after the previous reload, so a burst of changes could leave the engine on an
//! old file; the API applies each change synchronously and answers when it is in force.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::config::{self, PathRule};
use super::signals::EngineApi;

/// The engine's catch-all path entry: part of every config, never removed.
const ALL_OTHERS: &str = "all_others";
/// MediaMTX pages its lists (100 items by default); one page this large holds every path.
const ONE_PAGE: &str = "itemsPerPage=100000";
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Deserialize)]
struct PathConfList {
    #[serde(default)]
    items: Vec<PathConfItem>,
}

#[derive(Deserialize)]
struct PathConfItem {
    name: String,
    /// `publisher`, or the URL a relayed path pulls (with credentials: never logged).
    #[serde(default = "publisher_source")]
    source: String,
}

fn publisher_source() -> String {
    PUBLISHER_SOURCE.into()
}

/// MediaMTX's `source` of a path that takes a publisher.
const PUBLISHER_SOURCE: &str = "publisher";

/// What one sync changed, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: Vec<String>,
    /// Paths switched between a publisher and a relayed camera.
    pub replaced: Vec<String>,
    pub removed: Vec<String>,
}

/// Adds missing paths, replaces those whose source changed (a publisher's path became a relayed
/// camera or back: its readers reconnect), replaces the user list, then removes paths no longer
/// wanted: new credentials are in force before anyone is told to publish, and stale ones are
/// gone after.
pub async fn sync(
    api: &EngineApi,
    rules: &[PathRule],
    setup: config::PathSetup<'_>,
) -> Result<SyncReport, String> {
    let configured = configured_paths(api).await?;
    let wanted: BTreeSet<&str> = rules.iter().map(|r| r.path.as_str()).collect();
    let mut report = SyncReport::default();
    for path in wanted.iter().copied() {
        let source = setup.relay(path).unwrap_or(PUBLISHER_SOURCE);
        let conf = Some(serde_json::Value::Object(setup.conf(path)));
        let (verb, applied) = match configured.get(path) {
            None => ("add", &mut report.added),
            Some(current) if current != source => ("replace", &mut report.replaced),
            Some(_) => continue,
        };
        let route = format!("/v3/config/paths/{verb}/{path}");
        call(api, reqwest::Method::POST, &route, conf).await?;
        applied.push(path.to_string());
    }
    call(
        api,
        reqwest::Method::PATCH,
        "/v3/config/global/patch",
        Some(json!({ "authInternalUsers": config::auth_users(rules) })),
    )
    .await?;
    for path in configured
        .keys()
        .filter(|p| p.as_str() != ALL_OTHERS && !wanted.contains(p.as_str()))
    {
        call(
            api,
            reqwest::Method::DELETE,
            &format!("/v3/config/paths/delete/{path}"),
            None,
        )
        .await?;
        report.removed.push(path.clone());
    }
    Ok(report)
}

/// Each configured path's name and source.
async fn configured_paths(api: &EngineApi) -> Result<BTreeMap<String, String>, String> {
    let response = api
        .request(
            reqwest::Method::GET,
            &format!("/v3/config/paths/list?{ONE_PAGE}"),
        )
        .timeout(CALL_TIMEOUT)
        .send()
        .await
        .map_err(|err| format!("engine API unreachable: {err}"))?;
    let body = checked(response, "listing path configs").await?;
    let list: PathConfList = serde_json::from_slice(&body)
        .map_err(|err| format!("unexpected path config list: {err}"))?;
    Ok(list
        .items
        .into_iter()
        .map(|item| (item.name, item.source))
        .collect())
}

async fn call(
    api: &EngineApi,
    method: reqwest::Method,
    route: &str,
    body: Option<serde_json::Value>,
) -> Result<(), String> {
    let mut request = api.request(method, route).timeout(CALL_TIMEOUT);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request
        .send()
        .await
        .map_err(|err| format!("engine API unreachable: {err}"))?;
    // The route names a path, never a secret; the body (with passwords) is not echoed.
    checked(response, route).await.map(drop)
}

async fn checked(response: reqwest::Response, what: &str) -> Result<bytes::Bytes, String> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|err| format!("engine API body: {err}"))?;
    if status.is_success() {
        return Ok(body);
    }
    #[derive(Deserialize)]
    struct ApiError {
        error: String,
    }
    let reason = serde_json::from_slice::<ApiError>(&body)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
    // It may quote a relayed path's source, credentials included.
    let reason = crate::model::camera::redact_urls_in(&reason);
    Err(format!(
        "engine API refused {what}: HTTP {} {reason}",
        status.as_u16()
    ))
}
