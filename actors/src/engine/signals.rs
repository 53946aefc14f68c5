//! What the engine tells the rest of the system: per-path readers from its API, and demand hints
//! from its log (a client asked for a path nobody publishes yet).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One engine path as `/v3/paths/list` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PathState {
    pub name: String,
    pub ready: bool,
    /// Readers of any kind; an HLS muxer counts as one however many clients fetch it.
    pub readers: usize,
    pub reader_kinds: Vec<String>,
    /// When its publisher made it ready (the engine's `readyTime`), as Unix seconds.
    pub ready_at_unix: Option<f64>,
}

#[derive(Deserialize)]
struct PathsList {
    #[serde(default)]
    items: Vec<PathItem>,
}

#[derive(Deserialize)]
struct PathItem {
    name: String,
    #[serde(default)]
    ready: bool,
    #[serde(default)]
    available: Option<bool>,
    #[serde(default)]
    readers: Vec<Reader>,
    #[serde(default, rename = "readyTime")]
    ready_time: Option<String>,
}

#[derive(Deserialize)]
struct Reader {
    #[serde(rename = "type", default)]
    kind: String,
}

/// Parses a `/v3/paths/list` body.
pub fn parse_paths_list(body: &[u8]) -> Result<Vec<PathState>, String> {
    let list: PathsList =
        serde_json::from_slice(body).map_err(|err| format!("unexpected paths list: {err}"))?;
    Ok(list
        .items
        .into_iter()
        .map(|item| PathState {
            ready: item.ready || item.available.unwrap_or(false),
            readers: item.readers.len(),
            reader_kinds: item.readers.into_iter().map(|r| r.kind).collect(),
            ready_at_unix: item.ready_time.as_deref().and_then(unix_seconds),
            name: item.name,
        })
        .collect())
}

/// One HLS muxer as `/v3/hlsmuxers/list` reports it (MediaMTX's own names, as the original
/// passes them on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HlsMuxer {
    pub path: String,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub last_request: Option<String>,
    #[serde(default)]
    pub bytes_sent: u64,
}

#[derive(Deserialize)]
struct HlsMuxersList {
    #[serde(default)]
    items: Vec<HlsMuxer>,
}

/// Parses a `/v3/hlsmuxers/list` body.
pub fn parse_hls_muxers(body: &[u8]) -> Result<Vec<HlsMuxer>, String> {
    let list: HlsMuxersList =
        serde_json::from_slice(body).map_err(|err| format!("unexpected HLS muxers list: {err}"))?;
    Ok(list.items)
}

/// An RFC 3339 time in UTC (the engine runs with `TZ=UTC`) as Unix seconds.
fn unix_seconds(time: &str) -> Option<f64> {
    let at = humantime::parse_rfc3339_weak(time).ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64())
}

/// Client of the engine's local API.
#[derive(Clone)]
pub struct EngineApi {
    base: String,
    client: reqwest::Client,
}

/// One page holds every item (MediaMTX pages lists at 100 by default).
const ALL_ITEMS: usize = 100_000;

impl EngineApi {
    pub fn new(api_port: u16) -> EngineApi {
        EngineApi {
            base: format!("http://127.0.0.1:{api_port}"),
            client: crate::net::http_client(),
        }
    }

    /// A request to `route` (starting with `/v3/`) of the engine's API.
    pub fn request(&self, method: reqwest::Method, route: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{route}", self.base))
    }

    pub async fn paths(&self) -> Result<Vec<PathState>, String> {
        parse_paths_list(&self.list("/v3/paths/list", ALL_ITEMS).await?)
    }

    pub async fn hls_muxers(&self) -> Result<Vec<HlsMuxer>, String> {
        parse_hls_muxers(&self.list("/v3/hlsmuxers/list", ALL_ITEMS).await?)
    }

    /// The body of the first page of one of the API's lists.
    async fn list(&self, route: &str, items_per_page: usize) -> Result<bytes::Bytes, String> {
        let response = self
            .request(
                reqwest::Method::GET,
                &format!("{route}?itemsPerPage={items_per_page}"),
            )
            .header("accept", "application/json")
            .timeout(Duration::from_millis(1200))
            .send()
            .await
            .map_err(|err| format!("engine API unreachable: {err}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "engine API answered HTTP {}",
                response.status().as_u16()
            ));
        }
        response
            .bytes()
            .await
            .map_err(|err| format!("engine API body: {err}"))
    }

    /// The engine is ready once its API answers. Asked through the paths list, as that goes
    /// through the engine's path manager (a deadlocked one is caught), but for one item only: a
    /// heartbeat should cost nothing however many paths there are.
    pub async fn is_ready(&self) -> bool {
        self.list("/v3/paths/list", 1).await.is_ok()
    }
}

/// Events the engine publishes to whoever listens (demand, diagnostics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// A reader asked for this path while nothing published it: treat it as demanded for a while.
    DemandHint { path: String },
    /// The engine process started (or restarted) and its API answers.
    Ready { pid: u32 },
    /// The engine process is gone.
    Stopped,
}

const NO_STREAM: &str = "no stream is available on path '";

/// `... closed: no stream is available on path 'front-door'` -> `front-door`.
pub fn demand_hint(line: &str) -> Option<&str> {
    let start = line.find(NO_STREAM)? + NO_STREAM.len();
    let end = start + line[start..].find('\'')?;
    let path = &line[start..end];
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(name: &str) -> Vec<u8> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mediamtx-v1.16.2/recorded");
        std::fs::read(dir.join(name)).unwrap()
    }

    #[test]
    fn recorded_paths_lists() {
        assert_eq!(
            parse_paths_list(&recorded("01-paths-list-empty.json")).unwrap(),
            vec![]
        );
        let published =
            parse_paths_list(&recorded("05-paths-list-published-noreaders.json")).unwrap();
        // readyTime 2026-11-23T21:10:04.523701747Z
        let ready_at = published[0].ready_at_unix.unwrap();
        assert!(
            (ready_at - 1_795_468_204.523_701_7).abs() < 1e-6,
            "{ready_at}"
        );
        assert_eq!(
            published,
            vec![PathState {
                name: "front-door".into(),
                ready: true,
                readers: 0,
                reader_kinds: vec![],
                ready_at_unix: Some(ready_at),
            }]
        );
        let watched = parse_paths_list(&recorded("07-paths-list-with-readers.json")).unwrap();
        assert_eq!(watched[0].readers, 2);
        assert_eq!(watched[0].reader_kinds, vec!["hlsMuxer", "rtspSession"]);
        assert_eq!(
            parse_paths_list(&recorded("13-paths-list-after-unpublish.json")).unwrap(),
            vec![]
        );
        assert!(parse_paths_list(b"{\"status\":\"error\"").is_err());
    }

    #[test]
    fn recorded_hls_muxers_list() {
        let muxers = parse_hls_muxers(&recorded("11-hlsmuxers-list.json")).unwrap();
        assert_eq!(muxers.len(), 1);
        assert_eq!(muxers[0].path, "front-door");
        assert_eq!(muxers[0].bytes_sent, 378);
        assert_eq!(
            serde_json::to_value(&muxers[0]).unwrap()["lastRequest"],
            "2026-11-23T21:10:11.455508752Z"
        );
    }

    #[test]
    fn demand_hints_from_the_recorded_log() {
        let log = String::from_utf8(recorded("20-mediamtx-log.txt")).unwrap();
        let hints: Vec<&str> = log.lines().filter_map(demand_hint).collect();
        assert_eq!(
            hints,
            vec!["front-door", "front-door"],
            "the RTSP reader and the HLS muxer"
        );
        assert_eq!(demand_hint("INF [RTSP] [conn 1] closed: EOF"), None);
        assert_eq!(demand_hint("no stream is available on path ''"), None);
    }
}
