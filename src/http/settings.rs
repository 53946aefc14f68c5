//! `/api/streams/settings`: the whole settings document.

use axum::Json;
use toposync_actors::model::edit;
use toposync_actors::model::settings::StreamingSettings;
use toposync_actors::store;

use super::STORE_DEADLINE;
use super::error::ApiError;
use super::extract::{JsonBody, Params};

#[utoipa::path(get, path = "/settings", tag = "settings", params(super::openapi::IncludeSecrets), responses((status = 200, body = StreamingSettings)))]
pub async fn get(params: Params) -> Result<Json<StreamingSettings>, ApiError> {
    let secrets = params.flag("include_secrets")?;
    let revision = store::read(STORE_DEADLINE).await?;
    Ok(Json(shown(&revision.settings, secrets)))
}

#[utoipa::path(patch, path = "/settings", tag = "settings", params(super::openapi::IncludeSecrets), request_body(content = Object, description = "Any subset of the settings fields, merged into the stored settings"), responses((status = 200, body = StreamingSettings)))]
pub async fn patch(
    params: Params,
    JsonBody(body): JsonBody,
) -> Result<Json<StreamingSettings>, ApiError> {
    let secrets = params.flag("include_secrets")?;
    let saved = store::mutate(
        move |doc| edit::patch_settings(doc, body, &edit::now_rfc3339()),
        STORE_DEADLINE,
    )
    .await?;
    Ok(Json(shown(&saved, secrets)))
}

fn shown(settings: &StreamingSettings, include_secrets: bool) -> StreamingSettings {
    if include_secrets {
        settings.clone()
    } else {
        settings.redacted()
    }
}

/// `POST /api/streams/settings/recovery/acknowledge`: the user has seen what a recovery set
/// aside; `/health` stops reporting it.
#[utoipa::path(post, path = "/settings/recovery/acknowledge", tag = "settings", responses((status = 200, body = Acknowledged)))]
pub async fn acknowledge_recovery() -> Result<Json<Acknowledged>, ApiError> {
    let had_recovery = store::acknowledge_recovery(STORE_DEADLINE)
        .await?
        .map_err(|err| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("Cannot remove the recovery record: {err}"),
            )
        })?;
    Ok(Json(Acknowledged {
        acknowledged: true,
        had_recovery,
    }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Acknowledged {
    acknowledged: bool,
    had_recovery: bool,
}
