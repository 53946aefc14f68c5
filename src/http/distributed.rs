//! Distributed mode, core side (docs/operations.md, "Two machines"): the settings a processing
//! server pulls. A processing server's sync credentials open this route and no other.

use axum::Json;
use axum::extract::Path;
use toposync_actors::distributed;
use toposync_actors::model::settings::StreamingSettings;
use toposync_actors::store;

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
    let secrets = params.flag("include_secrets")? || principal.method == Proof::Sync;
    let revision = store::read(STORE_DEADLINE).await?;
    let share = distributed::share_for(&revision.settings, &server_id)?;
    Ok(Json(if secrets { share } else { share.redacted() }))
}
