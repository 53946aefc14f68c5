//! Distributed mode, processing side (docs/operations.md, "Two machines"): an actor that pulls
//! this server's share of the settings from the core every interval and applies it through the
//! store as one revision (persisted like any write). The core being down, refusing, or
//! answering garbage changes nothing here: the last good revision keeps running, and the
//! failure is reported (`/api/streams/health` and the actor tree).

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use serde_json::json;

use crate::distributed::parse_share;
use crate::supervision::Fault;
use crate::supervision::observe::Observation;

pub const SYNC: &str = "sync";
/// A share bigger than this is not a settings document; reading stops there.
pub const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// How the processing server proves itself to the core.
#[derive(Clone)]
pub enum SyncAuth {
    None,
    Bearer(String),
    Basic { username: String, password: String },
}

impl std::fmt::Debug for SyncAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SyncAuth::None => "none",
            SyncAuth::Bearer(_) => "bearer",
            SyncAuth::Basic { .. } => "basic",
        })
    }
}

#[derive(Clone, Debug)]
pub struct SyncConfig {
    pub server_id: String,
    /// The core's root URL, without a trailing `/`.
    pub core_url: String,
    pub auth: SyncAuth,
    pub interval: Duration,
    pub timeout: Duration,
}

impl SyncConfig {
    /// `TOPOSYNC_ROLE=processing` and its companions (the original's names), or `None` for a
    /// core. A processing role without its server id or core URL is a start-up error.
    pub fn from_env() -> Result<Option<SyncConfig>, String> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        match var("TOPOSYNC_ROLE").as_deref() {
            None | Some("core") => return Ok(None),
            Some("processing") => {}
            Some(other) => {
                return Err(format!(
                    "TOPOSYNC_ROLE must be 'core' or 'processing', not {other:?}"
                ));
            }
        }
        let server_id = var("TOPOSYNC_PROCESSING_SERVER_ID")
            .map(|id| crate::model::transmission::normalize_server_id(&id))
            .filter(|id| id != crate::distributed::LOCAL_SERVER_ID)
            .ok_or("TOPOSYNC_ROLE=processing needs TOPOSYNC_PROCESSING_SERVER_ID (not 'local')")?;
        let core_url = var("TOPOSYNC_STREAMING_SYNC_CORE_URL")
            .or_else(|| var("TOPOSYNC_CORE_URL"))
            .ok_or("TOPOSYNC_ROLE=processing needs TOPOSYNC_STREAMING_SYNC_CORE_URL (or TOPOSYNC_CORE_URL)")?;
        let parsed = url::Url::parse(&core_url)
            .map_err(|err| format!("TOPOSYNC_STREAMING_SYNC_CORE_URL is not a URL: {err}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("TOPOSYNC_STREAMING_SYNC_CORE_URL must be http:// or https://".into());
        }
        // It is shown in /health; credentials have their own variables.
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("TOPOSYNC_STREAMING_SYNC_CORE_URL must not hold credentials; use TOPOSYNC_STREAMING_SYNC_USERNAME / _PASSWORD or _BEARER_TOKEN".into());
        }
        let auth = match (
            var("TOPOSYNC_STREAMING_SYNC_BEARER_TOKEN"),
            var("TOPOSYNC_STREAMING_SYNC_USERNAME"),
            var("TOPOSYNC_STREAMING_SYNC_PASSWORD"),
        ) {
            (Some(token), _, _) => SyncAuth::Bearer(token),
            (None, Some(username), Some(password)) => SyncAuth::Basic { username, password },
            _ => SyncAuth::None,
        };
        let seconds = |name: &str| -> Result<Duration, String> {
            match var(name) {
                None => Ok(Duration::from_secs(5)),
                Some(raw) => raw
                    .parse::<f64>()
                    .ok()
                    .filter(|s| (0.1..=3600.0).contains(s))
                    .map(Duration::from_secs_f64)
                    .ok_or(format!("{name} must be seconds between 0.1 and 3600")),
            }
        };
        Ok(Some(SyncConfig {
            server_id,
            core_url: core_url.trim_end_matches('/').to_string(),
            auth,
            interval: seconds("TOPOSYNC_STREAMING_SYNC_INTERVAL_SECONDS")?,
            timeout: seconds("TOPOSYNC_STREAMING_SYNC_TIMEOUT_SECONDS")?,
        }))
    }

    fn share_url(&self) -> String {
        format!(
            "{}/api/streams/distributed/settings/{}",
            self.core_url, self.server_id
        )
    }
}

/// What `/api/streams/health` says of the sync.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SyncStatus {
    pub role: &'static str,
    pub server_id: String,
    pub core_url: String,
    pub interval_seconds: f64,
    pub last_attempt_at_unix: Option<f64>,
    pub last_success_at_unix: Option<f64>,
    /// Why the last pull was not applied (cleared by the next good one).
    pub last_error: Option<String>,
    /// Revisions applied from the core since this start (a pull that changed nothing is none).
    pub applied_revisions: u64,
}

pub enum SyncMsg {
    Pull,
    /// The pull's answer, fetched off the actor so it keeps answering while the core is slow.
    Fetched(Result<bytes::Bytes, String>),
    Status(RpcReplyPort<SyncStatus>),
    Observe(RpcReplyPort<Observation>),
    Ping(RpcReplyPort<crate::supervision::observe::Alive>),
    Fault(Fault),
}

crate::supervised_messages!(SyncMsg);

pub struct SyncActor;

pub struct SyncState {
    config: SyncConfig,
    status: SyncStatus,
    /// The pull in flight; aborted if the actor stops.
    fetching: Option<tokio::task::JoinHandle<()>>,
}

impl Actor for SyncActor {
    type Msg = SyncMsg;
    type State = SyncState;
    type Arguments = SyncConfig;

    async fn pre_start(
        &self,
        myself: ActorRef<SyncMsg>,
        config: SyncConfig,
    ) -> Result<SyncState, ActorProcessingErr> {
        myself.send_message(SyncMsg::Pull)?;
        myself.send_interval(config.interval, || SyncMsg::Pull);
        Ok(SyncState {
            status: SyncStatus {
                role: "processing",
                server_id: config.server_id.clone(),
                core_url: config.core_url.clone(),
                interval_seconds: config.interval.as_secs_f64(),
                last_attempt_at_unix: None,
                last_success_at_unix: None,
                last_error: None,
                applied_revisions: 0,
            },
            config,
            fetching: None,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SyncMsg>,
        state: &mut SyncState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(task) = state.fetching.take() {
            task.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SyncMsg>,
        msg: SyncMsg,
        state: &mut SyncState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SyncMsg::Pull => {
                // One pull at a time: a slow core is not asked again until it answered.
                if state.fetching.as_ref().is_some_and(|t| !t.is_finished()) {
                    return Ok(());
                }
                state.status.last_attempt_at_unix = Some(crate::unix_now());
                let config = state.config.clone();
                state.fetching = Some(tokio::spawn(async move {
                    let fetched = fetch(&config).await;
                    let _ = myself.send_message(SyncMsg::Fetched(fetched));
                }));
            }
            SyncMsg::Fetched(fetched) => {
                let applied = match fetched {
                    Ok(body) => apply(&body, &state.config.server_id).await,
                    Err(err) => Err(err),
                };
                match applied {
                    Ok(changed) => {
                        state.status.last_success_at_unix = Some(crate::unix_now());
                        state.status.last_error = None;
                        state.status.applied_revisions += u64::from(changed);
                    }
                    Err(err) => {
                        tracing::warn!(server_id = %state.config.server_id, %err,
                            "Failed to sync streaming settings from core; keeping the last revision");
                        state.status.last_error = Some(err);
                    }
                }
            }
            SyncMsg::Status(reply) => {
                let _ = reply.send(state.status.clone());
            }
            SyncMsg::Ping(reply) => {
                let _ = reply.send(crate::supervision::observe::Alive);
            }
            SyncMsg::Observe(reply) => {
                let _ = reply.send(Observation {
                    pid: None,
                    state: json!(state.status),
                    children: Vec::new(),
                });
            }
            SyncMsg::Fault(fault) => fault.strike().await?,
        }
        Ok(())
    }
}

/// The core's answer, read up to [`BODY_LIMIT`] within the timeout.
async fn fetch(config: &SyncConfig) -> Result<bytes::Bytes, String> {
    let request = crate::net::peer_client()
        .get(config.share_url())
        .header("accept", "application/json")
        .timeout(config.timeout);
    let request = match &config.auth {
        SyncAuth::None => request,
        SyncAuth::Bearer(token) => request.bearer_auth(token),
        SyncAuth::Basic { username, password } => request.basic_auth(username, Some(password)),
    };
    let mut response = request
        .send()
        .await
        .map_err(|err| format!("Connection failed: {}", without_url(&err)))?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| format!("Reading the answer failed: {}", without_url(&err)))?
    {
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(format!("The answer is larger than {BODY_LIMIT} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body).chars().take(400).collect();
        return Err(format!(
            "Core sync request failed ({}): {text}",
            status.as_u16()
        ));
    }
    Ok(body.into())
}

/// reqwest's message without the URL it names (it could carry a query).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "the core");
    }
    text
}

/// Parses and checks the share off the async workers, then stores it when it differs.
async fn apply(body: &[u8], server_id: &str) -> Result<bool, String> {
    let body = body.to_vec();
    let server_id = server_id.to_string();
    let adopted = tokio::task::spawn_blocking(move || parse_share(&body, &server_id))
        .await
        .map_err(|err| format!("Parsing the answer failed: {err}"))??;
    let current = crate::store::read(crate::store::WRITE_DEADLINE)
        .await
        .map_err(|err| format!("The settings store is not available: {err:?}"))?;
    if *current.settings == adopted {
        return Ok(false);
    }
    crate::store::mutate(
        move |doc| {
            *doc = adopted;
            Ok(())
        },
        crate::store::WRITE_DEADLINE,
    )
    .await
    .map_err(|err| format!("The core's settings were refused here: {err:?}"))?;
    Ok(true)
}

/// The sync's status, when this is a processing server.
pub async fn status(deadline: Duration) -> Option<SyncStatus> {
    let sync = ractor::registry::where_is(SYNC)?;
    crate::supervision::ask(&ActorRef::<SyncMsg>::from(sync), SyncMsg::Status, deadline)
        .await
        .ok()
}
