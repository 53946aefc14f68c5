//! The HTTP layer: routes grouped by API area. Handlers parse, ask an actor, map the reply.

mod auth;
mod dashboard;
mod demand;
mod distributed;
mod engine;
mod error;
mod extract;
mod home_assistant;
pub(crate) mod ingest;
mod media;
mod mse;
mod openapi;
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
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::routing::get;
use toposync_actors::Runtime;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::cli::ServeArgs;
use error::ApiError;

/// Store calls include an fsync'd write and telling the actors; the store answers within this
/// (inner deadlines are shorter), so a write never answers 503 after it applied.
pub const STORE_DEADLINE: Duration = toposync_actors::store::WRITE_DEADLINE;

pub fn router(runtime: Arc<Runtime>, gatekeeper: Arc<auth::Auth>) -> Router {
    let api = OpenApiRouter::new()
        .routes(routes!(runtime::health))
        .routes(routes!(settings::get, settings::patch))
        .routes(routes!(settings::acknowledge_recovery))
        .routes(routes!(distributed::settings))
        .routes(routes!(transmissions::list, transmissions::create))
        .routes(routes!(transmissions::replace, transmissions::delete))
        .routes(routes!(transmissions::apply_quality_profiles))
        .routes(routes!(transmissions::apply_webrtc_companion))
        .routes(routes!(transmissions::urls))
        .routes(routes!(transmissions::internal_urls))
        .routes(routes!(transmissions::playback_plan))
        .routes(routes!(demand::get))
        .routes(routes!(demand::prime))
        .routes(routes!(demand::heartbeat))
        .routes(routes!(runtime::runtime_outputs))
        .routes(routes!(runtime::encoders))
        .routes(routes!(runtime::clear_quarantine))
        .routes(routes!(publications::runtime_pipelines))
        .routes(routes!(publications::list))
        .routes(routes!(publications::put_camera_source))
        .routes(routes!(publications::reconcile_now))
        .routes(routes!(publications::quality_profiles))
        .routes(routes!(publications::live_views))
        .routes(routes!(publications::camera_live_views))
        .routes(routes!(publications::generate_live_views))
        .routes(routes!(
            publications::replace_live_view,
            publications::delete_live_view
        ))
        .routes(routes!(
            publications::replace_camera_live_view,
            publications::delete_camera_live_view
        ))
        .routes(routes!(publications::live_view_playback))
        .routes(routes!(publications::camera_live_view_playback))
        .routes(routes!(publications::wizard))
        .routes(routes!(media::jsmpeg_status))
        .routes(routes!(mse::status))
        .routes(routes!(mse::download))
        .routes(routes!(mse::start))
        .routes(routes!(mse::stop))
        .routes(routes!(mse::restart))
        .routes(routes!(mse::socket))
        .routes(routes!(home_assistant::cameras))
        .routes(routes!(home_assistant::webrtc_offer))
        .routes(routes!(media::still))
        .routes(routes!(media::hls))
        .routes(routes!(media::hls_probe))
        .routes(routes!(media::jsmpeg_socket))
        .routes(routes!(runtime::actors))
        .routes(routes!(runtime::runtime_health))
        .routes(routes!(runtime::playback_events))
        .routes(routes!(runtime::observability))
        .routes(routes!(runtime::diagnostics))
        .routes(routes!(runtime::diagnostic_snapshot))
        .routes(routes!(ingest::frame).layer(DefaultBodyLimit::max(ingest::FRAME_LIMIT)))
        .routes(routes!(ingest::close))
        .routes(routes!(ingest::socket))
        .routes(routes!(engine::status))
        .routes(routes!(engine::start))
        .routes(routes!(engine::stop))
        .routes(routes!(engine::restart))
        .routes(routes!(engine::download));
    let cameras = OpenApiRouter::new()
        .routes(routes!(registry::list_cameras, registry::create_camera))
        .routes(routes!(
            registry::get_camera,
            registry::replace_camera,
            registry::delete_camera
        ));
    let pipelines = OpenApiRouter::new()
        .routes(routes!(registry::list_pipelines))
        .routes(routes!(
            registry::get_pipeline,
            registry::put_pipeline,
            registry::delete_pipeline
        ));
    let sign_in = OpenApiRouter::new()
        .routes(routes!(auth::login_page))
        .routes(routes!(dashboard::streams_page))
        .routes(routes!(dashboard::debug_page))
        .routes(routes!(dashboard::settings_page))
        .routes(routes!(dashboard::asset))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::session))
        .with_state(gatekeeper.clone());
    let (routes, document) = OpenApiRouter::with_openapi(openapi::base())
        .nest("/api/streams", api)
        .nest("/api/cameras", cameras)
        .nest("/api/pipelines", pipelines)
        .routes(routes!(runtime::metrics))
        .merge(sign_in)
        .split_for_parts();
    let document = axum::body::Bytes::from(openapi::finish(document).to_string());
    let serve_document = move || {
        let document = document.clone();
        async move { ([(CONTENT_TYPE, "application/json")], document) }
    };
    routes
        .route(openapi::PATH, get(serve_document))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "Not Found") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        })
        .with_state(runtime)
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

/// Writes the engine settings the environment sets, only when they change the stored ones (a
/// start without news writes nothing).
async fn apply_start_options(
    options: toposync_actors::model::start_options::StartOptions,
) -> Result<(), String> {
    let current = toposync_actors::store::read(STORE_DEADLINE)
        .await
        .map_err(|err| format!("cannot read the settings: {err:?}"))?;
    if options.apply(&mut (*current.settings).clone()).is_empty() {
        return Ok(());
    }
    let applied = toposync_actors::store::mutate(move |doc| Ok(options.apply(doc)), STORE_DEADLINE)
        .await
        .map_err(|err| format!("cannot apply the start options: {err:?}"))?;
    tracing::info!(variables = ?applied, "engine settings set from the environment");
    Ok(())
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
    let start_options =
        toposync_actors::model::start_options::StartOptions::read(|name| std::env::var(name).ok())?;
    let started = auth::Auth::start(data_dir.clone())?;
    announce(&started, &data_dir);
    let runtime = Arc::new(
        Runtime::start_with(
            data_dir.clone(),
            Runtime::sync_from_env().map_err(|err| format!("{err}"))?,
            std::env::current_exe().ok(),
        )
        .await
        .map_err(|err| format!("cannot start the actor tree: {err}"))?,
    );
    apply_start_options(start_options).await?;
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
    // On stderr: callers read stdout's one line for the address, then may close it.
    eprintln!("toposync-streaming: the dashboard is at http://{address}/");
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
    // Dropped at shutdown: the socket closes and every local writer with it.
    let _local_writers =
        match crate::local_ingest::bind(&toposync_actors::private_file::runtime_dir(&data_dir)) {
            Ok((socket, path)) => {
                tracing::info!(socket = %path.display(), "local frame socket ready");
                Some(tokio_util::task::AbortOnDropHandle::new(tokio::spawn(
                    crate::local_ingest::serve(socket),
                )))
            }
            Err(err) => {
                tracing::warn!(%err, "no local frame socket; writers use the WebSocket or HTTP");
                None
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
