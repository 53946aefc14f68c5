//! The HTTP layer: routes grouped by API area. Handlers parse, ask an actor, map the reply.

mod auth;
mod demand;
mod engine;
mod error;
mod extract;
mod home_assistant;
mod ingest;
mod media;
mod mse;
mod publications;
mod registry;
mod replies;
mod runtime;
mod server;
mod settings;
mod transmissions;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::HOST;
use axum::routing::{get, post, put};
use toposync_actors::Runtime;

use crate::cli::ServeArgs;
use error::ApiError;

/// Store calls include an fsync'd write and telling the actors; the store answers within this
/// (inner deadlines are shorter), so a write never answers 503 after it applied.
pub const STORE_DEADLINE: Duration = toposync_actors::store::WRITE_DEADLINE;

pub fn router(runtime: Arc<Runtime>, gatekeeper: Arc<auth::Auth>) -> Router {
    let api = Router::new()
        .route("/health", get(runtime::health))
        .route("/settings", get(settings::get).patch(settings::patch))
        .route(
            "/settings/recovery/acknowledge",
            post(settings::acknowledge_recovery),
        )
        .route(
            "/transmissions",
            get(transmissions::list).post(transmissions::create),
        )
        .route(
            "/transmissions/{id}",
            put(transmissions::replace).delete(transmissions::delete),
        )
        .route(
            "/transmissions/{id}/quality-profiles/apply",
            post(transmissions::apply_quality_profiles),
        )
        .route(
            "/transmissions/{id}/webrtc/companion/apply",
            post(transmissions::apply_webrtc_companion),
        )
        .route("/transmissions/{id}/urls", get(transmissions::urls))
        .route(
            "/transmissions/{id}/playback-plan",
            get(transmissions::playback_plan),
        )
        .route("/transmissions/{id}/demand", get(demand::get))
        .route("/transmissions/{id}/demand/prime", post(demand::prime))
        .route(
            "/transmissions/{id}/demand/heartbeat",
            post(demand::heartbeat),
        )
        .route("/runtime/outputs", get(runtime::runtime_outputs))
        .route("/runtime/encoders", get(runtime::encoders))
        .route(
            "/runtime/encoders/quarantine/clear",
            post(runtime::clear_quarantine),
        )
        .route("/runtime/pipelines", get(publications::runtime_pipelines))
        .route("/publications", get(publications::list))
        .route(
            "/publications/camera-sources/{camera_id}/{source_id}",
            put(publications::put_camera_source),
        )
        .route("/reconcile", post(publications::reconcile_now))
        .route("/quality-profiles", get(publications::quality_profiles))
        .route("/live-views", get(publications::live_views))
        .route("/camera-live-views", get(publications::live_views))
        .route(
            "/camera-live-views/generate",
            post(publications::generate_live_views),
        )
        .route(
            "/live-views/{id}",
            put(publications::replace_live_view).delete(publications::delete_live_view),
        )
        .route(
            "/camera-live-views/{id}",
            put(publications::replace_live_view).delete(publications::delete_live_view),
        )
        .route(
            "/live-views/{id}/playback",
            get(publications::live_view_playback),
        )
        .route(
            "/camera-live-views/{id}/playback",
            get(publications::live_view_playback),
        )
        .route("/wizard/create-pipeline", post(publications::wizard))
        .route("/jsmpeg/status", get(media::jsmpeg_status))
        .route("/mse/status", get(mse::status))
        .route("/mse/download", post(mse::download))
        .route("/mse/start", post(mse::start))
        .route("/mse/stop", post(mse::stop))
        .route("/mse/restart", post(mse::restart))
        .route("/media/mse/{engine_path}/ws", get(mse::socket))
        .route("/home-assistant/cameras", get(home_assistant::cameras))
        .route(
            "/transmissions/{id}/webrtc/offer",
            post(home_assistant::webrtc_offer),
        )
        .route("/transmissions/{id}/still.jpg", get(media::still))
        .route("/media/hls/{engine_path}/{*file}", get(media::hls))
        .route("/transmissions/{id}/hls/probe", get(media::hls_probe))
        .route("/media/jsmpeg/{engine_path}/ws", get(media::jsmpeg_socket))
        .route("/runtime/actors", get(runtime::actors))
        .route("/runtime/health", get(runtime::runtime_health))
        .route("/runtime/playback-events", post(runtime::playback_events))
        .route("/runtime/observability", get(runtime::observability))
        .route("/runtime/diagnostics", get(runtime::diagnostics))
        .route(
            "/runtime/diagnostic-snapshot",
            get(runtime::diagnostic_snapshot),
        )
        .route(
            "/transmissions/{id}/writers/{writer_id}/frame",
            post(ingest::frame).layer(DefaultBodyLimit::max(ingest::FRAME_LIMIT)),
        )
        .route(
            "/transmissions/{id}/writers/{writer_id}/close",
            post(ingest::close),
        )
        .route(
            "/transmissions/{id}/writers/{writer_id}/ws",
            get(ingest::socket),
        )
        .route("/engine/status", get(engine::status))
        .route("/engine/start", post(engine::start))
        .route("/engine/stop", post(engine::stop))
        .route("/engine/restart", post(engine::restart))
        .route("/engine/download", post(engine::download));
    let cameras = Router::new()
        .route(
            "/",
            get(registry::list_cameras).post(registry::create_camera),
        )
        .route(
            "/{id}",
            get(registry::get_camera)
                .put(registry::replace_camera)
                .delete(registry::delete_camera),
        );
    let pipelines = Router::new()
        .route("/", get(registry::list_pipelines))
        .route(
            "/{name}",
            get(registry::get_pipeline)
                .put(registry::put_pipeline)
                .delete(registry::delete_pipeline),
        );
    let sign_in = Router::new()
        .route("/login", get(auth::login_page))
        .route("/api/streams/auth/login", post(auth::login))
        .route("/api/streams/auth/logout", post(auth::logout))
        .route("/api/streams/auth/session", get(auth::session))
        .with_state(gatekeeper.clone());
    Router::new()
        .nest("/api/streams", api)
        .nest("/api/cameras", cameras)
        .nest("/api/pipelines", pipelines)
        .route("/metrics", get(runtime::metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "Not Found") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        })
        .with_state(runtime)
        .merge(sign_in)
        .layer(axum::middleware::from_fn_with_state(gatekeeper, auth::gate))
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(axum::middleware::from_fn(count_request))
}

/// Counts every answer (refusals included) per route template for `/metrics`; the raw path
/// never becomes a label.
async fn count_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    toposync_actors::metrics::events().http_request(
        route,
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The `Host` the client used, for URLs advertised to the LAN.
pub fn request_host(headers: &HeaderMap) -> Option<&str> {
    headers.get(HOST).and_then(|h| h.to_str().ok())
}

/// Runs the service until SIGINT or SIGTERM, then stops HTTP and the actor tree in order.
pub async fn serve(args: ServeArgs) -> Result<(), String> {
    let data_dir = args.data_dir();
    // Settings, keys and engine configs live in it: only this user may enter.
    toposync_actors::private_file::ensure_dir(&data_dir)
        .map_err(|err| format!("cannot create data dir {}: {err}", data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind((args.host, args.port))
        .await
        .map_err(|err| format!("cannot listen on {}:{}: {err}", args.host, args.port))?;
    let address = listener
        .local_addr()
        .map_err(|err| format!("cannot read the listening address: {err}"))?;
    let started = auth::Auth::start(data_dir.clone())?;
    announce(&started, &data_dir);
    let runtime = Arc::new(
        Runtime::start(data_dir.clone())
            .await
            .map_err(|err| format!("cannot start the actor tree: {err}"))?,
    );
    if args.demo {
        let added = toposync_actors::store::mutate(
            |doc| {
                toposync_actors::model::registry::ensure_demo_camera(
                    doc,
                    &toposync_actors::model::edit::now_rfc3339(),
                )
            },
            STORE_DEADLINE,
        )
        .await
        .map_err(|err| format!("cannot register the demo camera: {err:?}"))?;
        if added {
            tracing::info!("registered the demo camera (id 'demo')");
        }
    }
    tracing::info!(data_dir = %data_dir.display(), %address, "started");
    // Tests and scripts read this line to find a port chosen with --port 0.
    println!("toposync-streaming listening on http://{address}");
    // A root supervisor that ends on its own leaves nothing to serve: stop with an error so
    // the supervisor of this process (systemd, the Home Assistant watchdog) starts it again.
    let (tree_lost_tx, tree_lost) = tokio::sync::oneshot::channel::<()>();
    let watched = runtime.clone();
    let stop = async move {
        tokio::select! {
            () = shutdown_signal() => {}
            () = watched.ended() => {
                tracing::error!("the actor tree stopped on its own; exiting");
                let _ = tree_lost_tx.send(());
            }
        }
    };
    let app = router(runtime.clone(), started.auth);
    server::serve(listener, app, server::max_connections(), stop).await;
    tracing::info!("shutting down");
    runtime.shutdown().await;
    match tree_lost.await {
        Ok(()) => Err("the actor tree stopped unexpectedly".into()),
        Err(_) => Ok(()),
    }
}

/// Shows the tokens created at this start, once (stderr, never the log), and warns loudly when
/// authentication is off.
fn announce(started: &auth::Started, data_dir: &std::path::Path) {
    let issued = &started.issued;
    if issued.admin.is_some() || issued.viewer.is_some() {
        let path = toposync_actors::auth::credentials_path(data_dir);
        eprintln!(
            "toposync-streaming: created API credentials (shown once; only their digests are kept in {}):",
            path.display()
        );
        if let Some(admin) = &issued.admin {
            eprintln!("  admin token:  {admin}");
        }
        if let Some(viewer) = &issued.viewer {
            eprintln!("  viewer token: {viewer}");
        }
        eprintln!(
            "  send one as 'Authorization: Bearer <token>'; new ones: toposync-streaming auth rotate --role admin|viewer"
        );
    }
    if started.auth.bypassed() {
        let warning = "TOPOSYNC_AUTH_MODE=bypass: AUTHENTICATION IS OFF; anyone who can reach this port controls the service. Development only.";
        eprintln!("toposync-streaming: WARNING: {warning}");
        tracing::warn!("{warning}");
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(err) => {
            tracing::error!(%err, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
