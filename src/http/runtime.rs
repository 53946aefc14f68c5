//! Health and runtime introspection.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use toposync_actors::Runtime;
use toposync_actors::health::{
    self, EncodersReport, QuarantineCleared, RuntimeHealth, RuntimeOutputs,
};
use toposync_actors::model::settings::StreamingSettings;
use toposync_actors::store;
use toposync_actors::supervision::observe::ActorSnapshot;

use super::STORE_DEADLINE;
use super::error::ApiError;
use super::extract::{JsonBody, Origin};

/// Each actor gets this long to describe itself before it is shown as unresponsive.
const OBSERVE_DEADLINE: Duration = Duration::from_millis(500);

/// `GET /health`: liveness stays "ok" as in the original contract; problems are in `warnings`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServiceHealth {
    status: &'static str,
    extension: &'static str,
    version: &'static str,
    settings: Option<store::StoreStatus>,
    /// On a processing server: its pull of the settings from the core.
    sync: Option<toposync_actors::sync::SyncStatus>,
    warnings: Vec<String>,
}

#[utoipa::path(get, path = "/health", tag = "runtime", responses((status = 200, body = ServiceHealth)))]
pub async fn health() -> Json<ServiceHealth> {
    let mut warnings = Vec::new();
    let settings = match store::status(STORE_DEADLINE).await {
        Ok(status) => {
            if let Some(recovery) = &status.recovery {
                warnings.push(recovery.warning());
            }
            Some(status)
        }
        Err(err) => {
            warnings.push(format!("The settings store is not available: {err:?}"));
            None
        }
    };
    let sync = toposync_actors::sync::status(STORE_DEADLINE).await;
    if let Some(error) = sync.as_ref().and_then(|s| s.last_error.as_ref()) {
        warnings.push(format!(
            "Settings sync from the core failed; serving the last revision: {error}"
        ));
    }
    Json(ServiceHealth {
        status: "ok",
        extension: "com.toposync.streaming",
        version: env!("CARGO_PKG_VERSION"),
        settings,
        sync,
        warnings,
    })
}

#[utoipa::path(get, path = "/runtime/actors", tag = "runtime", responses((status = 200, body = ActorSnapshot)))]
pub async fn actors(State(runtime): State<Arc<Runtime>>) -> Json<ActorSnapshot> {
    Json(runtime.snapshot(OBSERVE_DEADLINE).await)
}

/// The health now, and the settings it was built from.
async fn current_health(
    runtime: &Runtime,
    origin: Origin,
) -> Result<(RuntimeHealth, Arc<StreamingSettings>), ApiError> {
    let facts = health::collect().await?;
    let settings = facts.settings.clone();
    let now = toposync_actors::unix_now();
    Ok((
        health::build(facts, &runtime.frame_rates, origin.0, now),
        settings,
    ))
}

/// `GET /runtime/health`: every transmission hosted here, sorted by id, with its outputs.
#[utoipa::path(get, path = "/runtime/health", tag = "runtime", responses((status = 200, body = RuntimeHealth)))]
pub async fn runtime_health(
    State(runtime): State<Arc<Runtime>>,
    origin: Origin,
) -> Result<Json<RuntimeHealth>, ApiError> {
    Ok(Json(current_health(&runtime, origin).await?.0))
}

/// `GET /runtime/outputs`: one flattened entry per enabled output.
#[utoipa::path(get, path = "/runtime/outputs", tag = "runtime", responses((status = 200, body = RuntimeOutputs)))]
pub async fn runtime_outputs(
    State(runtime): State<Arc<Runtime>>,
    origin: Origin,
) -> Result<Json<RuntimeOutputs>, ApiError> {
    Ok(Json(health::outputs(
        current_health(&runtime, origin).await?.0,
    )))
}

/// `GET /runtime/encoders`.
#[utoipa::path(get, path = "/runtime/encoders", tag = "runtime", responses((status = 200, body = EncodersReport)))]
pub async fn encoders(
    State(runtime): State<Arc<Runtime>>,
    origin: Origin,
) -> Result<Json<EncodersReport>, ApiError> {
    let (health, settings) = current_health(&runtime, origin).await?;
    Ok(Json(health::encoders(&health, &settings)))
}

/// `POST /runtime/encoders/quarantine/clear` with an optional `{"encoder": "..."}`.
#[utoipa::path(post, path = "/runtime/encoders/quarantine/clear", tag = "runtime", request_body(content = Option<toposync_actors::health::ClearQuarantine>, description = "Optional: every quarantine when absent"), responses((status = 200, body = QuarantineCleared)))]
pub async fn clear_quarantine(body: Option<JsonBody>) -> Result<Json<QuarantineCleared>, ApiError> {
    // Validated so a bad body is refused as the original refuses it; libx264 is never
    // quarantined, so there is nothing to clear.
    health::ClearQuarantine::parse(body.map(|JsonBody(value)| value))?;
    Ok(Json(QuarantineCleared {
        cleared: 0,
        encoders: Vec::new(),
    }))
}

/// `POST /runtime/playback-events`: what a player saw, kept as evidence for the health.
#[utoipa::path(post, path = "/runtime/playback-events", tag = "runtime", request_body = toposync_actors::playback_events::Batch, responses((status = 200, body = toposync_actors::playback_events::Recorded)))]
pub async fn playback_events(
    JsonBody(body): JsonBody,
) -> Result<Json<toposync_actors::playback_events::Recorded>, ApiError> {
    use toposync_actors::playback_events::{Batch, store};
    let batch = Batch::parse(body)?;
    Ok(Json(store().record(batch, toposync_actors::unix_now())))
}

/// `GET /runtime/observability`: per output, why it plays or not, with what players reported.
#[utoipa::path(get, path = "/runtime/observability", tag = "runtime", responses((status = 200, body = toposync_actors::observability::Observability)))]
pub async fn observability(
    State(runtime): State<Arc<Runtime>>,
    origin: Origin,
    headers: axum::http::HeaderMap,
) -> Result<Json<toposync_actors::observability::Observability>, ApiError> {
    use toposync_actors::playback_events::{MAX_EVENTS, store};
    let (health, settings) = current_health(&runtime, origin).await?;
    let now = toposync_actors::unix_now();
    let events = store().list(None, None, MAX_EVENTS, now);
    let Json(links) = super::publications::runtime_pipelines().await?;
    let contract = network_contract(&settings, &headers).await;
    Ok(Json(toposync_actors::observability::build(
        health,
        &events,
        &links.pipelines,
        engine_facts().await,
        &contract,
        now,
    )))
}

/// This request's network contract, with the running engine's ports.
async fn network_contract(
    settings: &StreamingSettings,
    headers: &axum::http::HeaderMap,
) -> toposync_actors::network_contract::NetworkContract {
    let running = super::engine::running_ports().await;
    toposync_actors::network_contract::evaluate(&super::engine::contract_inputs(
        settings, running, headers,
    ))
}

/// The engine's paths and HLS muxers, asked together.
async fn engine_facts() -> toposync_actors::observability::EngineFacts {
    use toposync_actors::api::engine;
    let (paths, hls_muxers) = tokio::join!(engine::paths(), engine::hls_muxers());
    toposync_actors::observability::EngineFacts {
        paths,
        hls_muxers: hls_muxers.unwrap_or_default(),
    }
}

/// Every runtime view the diagnostics bundle, each in its own answer's shape.
async fn diagnostic_parts(
    runtime: &Runtime,
    origin: Origin,
    headers: &axum::http::HeaderMap,
) -> Result<toposync_actors::diagnostics::Parts, ApiError> {
    use toposync_actors::playback_events::{MAX_EVENTS, store};
    let shown = |value: Result<serde_json::Value, serde_json::Error>| value.unwrap_or_default();
    let (health, settings) = current_health(runtime, origin).await?;
    let now = toposync_actors::unix_now();
    let events = store().list(None, None, MAX_EVENTS, now);
    let engine_facts = engine_facts().await;
    let paths = engine_facts.paths.clone();
    let engine = super::engine::status_json(headers).await?;
    let contract = network_contract(&settings, headers).await;
    let Json(pipelines) = super::publications::runtime_pipelines().await?;
    let shown_events: Vec<_> = events
        .iter()
        .skip(events.len().saturating_sub(100))
        .collect();
    Ok(toposync_actors::diagnostics::Parts {
        now,
        engine: shown(serde_json::to_value(&engine)),
        engine_paths: shown(serde_json::to_value(&paths)),
        outputs: shown(serde_json::to_value(health::outputs(health.clone()))),
        encoders: shown(serde_json::to_value(health::encoders(&health, &settings))),
        observability: shown(serde_json::to_value(toposync_actors::observability::build(
            health.clone(),
            &events,
            &pipelines.pipelines,
            engine_facts,
            &contract,
            now,
        ))),
        health: shown(serde_json::to_value(&health)),
        pipelines: shown(serde_json::to_value(&pipelines)),
        actors: shown(serde_json::to_value(
            runtime.snapshot(OBSERVE_DEADLINE).await,
        )),
        events: shown(serde_json::to_value(&shown_events)),
        retained_events: events.len(),
        settings,
    })
}

/// `GET /runtime/diagnostics`.
#[utoipa::path(get, path = "/runtime/diagnostics", tag = "runtime", responses((status = 200, description = "Engine, publishers, runtime state, log paths, media-auth mode; secrets scrubbed", body = Object)))]
pub async fn diagnostics(
    State(runtime): State<Arc<Runtime>>,
    origin: Origin,
    headers: axum::http::HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let parts = diagnostic_parts(&runtime, origin, &headers).await?;
    Ok(Json(toposync_actors::diagnostics::diagnostics(&parts)))
}

/// `GET /runtime/diagnostic-snapshot`: one JSON file to attach to a bug report.
#[utoipa::path(get, path = "/runtime/diagnostic-snapshot", tag = "runtime", responses((status = 200, description = "Everything above plus the actor tree, as one file for a bug report; secrets scrubbed", body = Object)))]
pub async fn diagnostic_snapshot(
    State(runtime): State<Arc<Runtime>>,
    origin: Origin,
    headers: axum::http::HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let parts = diagnostic_parts(&runtime, origin, &headers).await?;
    Ok(Json(toposync_actors::diagnostics::snapshot(&parts)))
}

/// `GET /metrics`: Prometheus text format (docs/operations.md "Metrics").
#[utoipa::path(get, path = "/metrics", tag = "runtime", responses((status = 200, description = "Prometheus text exposition 0.0.4 (docs/operations.md)", content_type = "text/plain", body = String)))]
pub async fn metrics(
    State(runtime): State<Arc<Runtime>>,
    origin: Origin,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use toposync_actors::playback_events::{MAX_EVENTS, active_sessions, store};
    let now = toposync_actors::unix_now();
    // Its own rate counters: a scrape must not shorten the window `/runtime/health` reports.
    let health = health::collect()
        .await
        .ok()
        .map(|facts| health::build(facts, &health::FrameRates::default(), origin.0, now));
    let events = store().list(None, None, MAX_EVENTS, now);
    // Asked together: a scrape waits for the slowest part, not for their sum.
    let (engine, sidecar, actors) = tokio::join!(
        toposync_actors::api::engine::status(),
        toposync_actors::api::sidecar::status(),
        runtime.snapshot(OBSERVE_DEADLINE),
    );
    let facts = toposync_actors::metrics::Facts {
        health,
        engine: engine.ok(),
        sidecar: sidecar.ok(),
        actors,
        active_playback_sessions: active_sessions(&events.iter().collect::<Vec<_>>(), now).len(),
    };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            toposync_actors::metrics::CONTENT_TYPE,
        )],
        toposync_actors::metrics::render(&facts),
    )
        .into_response()
}
