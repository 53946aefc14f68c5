//! The gate every request passes (docs/security.md): the `Host` allow-list, then who the caller
//! is (bearer token, Basic, or a browser session cookie with its CSRF header) and whether that
//! role may use the route; cross-site changes are refused whatever the credential. Media routes
//! carry their own signed token and pass through; `/api/streams/health` is open for watchdogs.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use toposync_actors::auth::{Credentials, FailedLogins, Provisioned, Role, SESSION_TTL};
use toposync_actors::distributed::SyncCredentials;

use super::error::ApiError;
use super::extract::JsonBody;

pub const SESSION_COOKIE: &str = "toposync_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The credentials file is looked at this often for a rotation made by the CLI.
const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Who a request is, once it passed the gate (an extension handlers can read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Principal {
    pub role: Role,
    pub method: Proof,
}

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Proof {
    Bearer,
    Basic,
    Session,
    /// `TOPOSYNC_AUTH_MODE=bypass`: development only.
    Bypass,
    /// A processing server's sync Basic credentials, on the sync routes only.
    Sync,
    /// Home Assistant's ingress proxy (add-on deployments only): HA authenticated the user.
    Ingress,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Health, the login form and its endpoints.
    Open,
    /// HLS proxy and media sockets: the signed media token in the URL decides (in the handler).
    Media,
    Needs(Role),
}

pub struct Auth {
    bypass: bool,
    data_dir: PathBuf,
    loaded: Mutex<Loaded>,
    failed: Mutex<FailedLogins>,
    hosts: AllowedHosts,
    /// What processing servers present to pull their settings (`TOPOSYNC_STREAMING_SYNC_*`).
    sync: Option<SyncCredentials>,
    /// The ingress proxy's address, in a Home Assistant add-on only.
    ingress: Option<IpAddr>,
}

/// Home Assistant Supervisor's ingress proxy, as every add-on sees it.
const HA_INGRESS_PROXY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(172, 30, 32, 2));

/// The ingress proxy to trust: only when `TOPOSYNC_DEPLOYMENT_TARGET=home_assistant_addon`
/// (elsewhere an `X-Ingress-Path` header is only a path prefix, like `X-Forwarded-Prefix`), at
/// `TOPOSYNC_INGRESS_PROXY` if set, else the Supervisor's fixed address.
fn ingress_proxy() -> Result<Option<IpAddr>, String> {
    use toposync_actors::network_contract::{HOME_ASSISTANT_ADDON, deployment_target};
    if deployment_target() != HOME_ASSISTANT_ADDON {
        return Ok(None);
    }
    match std::env::var("TOPOSYNC_INGRESS_PROXY") {
        Ok(address) => {
            address.trim().parse().map(Some).map_err(|_| {
                format!("TOPOSYNC_INGRESS_PROXY must be an IP address, not {address:?}")
            })
        }
        Err(_) => Ok(Some(HA_INGRESS_PROXY)),
    }
}

struct Loaded {
    credentials: Credentials,
    modified: Option<SystemTime>,
    checked: Instant,
}

/// Tokens created at this start, to be shown once.
pub struct Started {
    pub auth: Arc<Auth>,
    pub issued: toposync_actors::auth::Issued,
}

impl Auth {
    /// Loads (or creates) the credentials; `TOPOSYNC_ADMIN_TOKEN` / `TOPOSYNC_VIEWER_TOKEN`
    /// provision them, `TOPOSYNC_AUTH_MODE=bypass` turns checks off (development only).
    pub fn start(data_dir: PathBuf) -> Result<Started, String> {
        let provisioned = Provisioned {
            admin: std::env::var("TOPOSYNC_ADMIN_TOKEN").ok(),
            viewer: std::env::var("TOPOSYNC_VIEWER_TOKEN").ok(),
        };
        let (credentials, issued) = Credentials::load_or_create(&data_dir, provisioned)?;
        let bypass = match std::env::var("TOPOSYNC_AUTH_MODE").as_deref() {
            Ok("bypass") => true,
            Ok("enforced") | Err(_) => false,
            Ok(other) => {
                return Err(format!(
                    "TOPOSYNC_AUTH_MODE must be 'enforced' or 'bypass', not {other:?}"
                ));
            }
        };
        let modified = modified(&data_dir);
        Ok(Started {
            auth: Arc::new(Auth {
                bypass,
                data_dir,
                loaded: Mutex::new(Loaded {
                    credentials,
                    modified,
                    checked: Instant::now(),
                }),
                failed: Mutex::new(FailedLogins::new()),
                hosts: AllowedHosts::from_env(),
                sync: SyncCredentials::new(
                    std::env::var("TOPOSYNC_STREAMING_SYNC_USERNAME")
                        .ok()
                        .as_deref(),
                    std::env::var("TOPOSYNC_STREAMING_SYNC_PASSWORD")
                        .ok()
                        .as_deref(),
                ),
                ingress: ingress_proxy()?,
            }),
            issued,
        })
    }

    pub fn bypassed(&self) -> bool {
        self.bypass
    }

    /// The credentials in force, re-read when the CLI rotated them (looked at every
    /// `RELOAD_EVERY`, or now with `at_once`: a credential about to be refused may be new).
    fn credentials(&self, at_once: bool) -> Credentials {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if at_once || loaded.checked.elapsed() >= RELOAD_EVERY {
            loaded.checked = Instant::now();
            let now = modified(&self.data_dir);
            if now != loaded.modified {
                match Credentials::load(&self.data_dir) {
                    Ok(Some(credentials)) => {
                        tracing::info!("credentials changed on disk; reloaded");
                        loaded.credentials = credentials;
                        loaded.modified = now;
                    }
                    Ok(None) => {}
                    Err(err) => {
                        tracing::error!(%err, "cannot reload the credentials; keeping the previous ones")
                    }
                }
            }
        }
        loaded.credentials.clone()
    }

    fn locked(&self, address: IpAddr) -> Option<std::time::Duration> {
        let failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        failed.locked(address, Instant::now())
    }

    fn failed(&self, address: IpAddr) {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        failed.failed(address, Instant::now());
    }

    fn succeeded(&self, address: IpAddr) {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        failed.succeeded(address);
    }
}

fn modified(data_dir: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(toposync_actors::auth::credentials_path(data_dir))
        .and_then(|m| m.modified())
        .ok()
}

/// Host names this service answers to: loopback names, IP literals, this machine's names, and
/// `TOPOSYNC_ALLOWED_HOSTS` (comma-separated). Anything else is a DNS-rebinding attempt or a
/// misdirected request.
struct AllowedHosts {
    names: Vec<String>,
}

impl AllowedHosts {
    fn from_env() -> Self {
        let mut names: Vec<String> = std::env::var("TOPOSYNC_ALLOWED_HOSTS")
            .unwrap_or_default()
            .split(',')
            .map(|name| name.trim().to_ascii_lowercase())
            .filter(|name| !name.is_empty())
            .collect();
        if let Some(own) = own_hostname() {
            names.push(format!("{own}.local"));
            names.push(own);
        }
        Self { names }
    }

    fn allows(&self, host_header: &str) -> bool {
        let host = host_name(host_header).to_ascii_lowercase();
        if host.parse::<IpAddr>().is_ok() || host == "localhost" || host.ends_with(".localhost") {
            return true;
        }
        self.names.contains(&host)
    }
}

/// The name part of a `Host` header: without the port, IPv6 brackets removed.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

fn own_hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

/// What the route at `method path?query` needs (original-api.md §2.1: READ is the viewer,
/// WRITE and WIZARD the admin).
pub fn access(method: &Method, path: &str, query: Option<&str>) -> Access {
    const OPEN: [&str; 4] = [
        "/api/streams/health",
        super::openapi::PATH,
        "/api/streams/auth/login",
        "/api/streams/auth/logout",
    ];
    // The pages and their assets hold no data; what they show comes from the gated API.
    if OPEN.contains(&path)
        || matches!(path, "/login" | "/" | "/streams/debug" | "/settings")
        || path.starts_with("/assets/")
    {
        return Access::Open;
    }
    if path.starts_with("/api/streams/media/") {
        return Access::Media;
    }
    let admin = Access::Needs(Role::Admin);
    let viewer = Access::Needs(Role::Viewer);
    // Writers inject frames (their socket is a GET upgrade); the HA manifest embeds stream
    // passwords for Home Assistant's stream source; secrets only ever go to the admin.
    if path.starts_with("/api/streams/transmissions/") && path.contains("/writers/") {
        return admin;
    }
    if path == "/api/streams/home-assistant/cameras" || reveals_secrets(query) {
        return admin;
    }
    if matches!(*method, Method::GET | Method::HEAD) {
        return viewer;
    }
    // POSTs the original classes READ: players asking for demand, offers, events.
    let read_posts = [
        "/webrtc/offer",
        "/demand/prime",
        "/demand/heartbeat",
        "/camera/goto-preset",
        "/camera/move",
        "/camera/stop",
    ];
    let read_post = (path.starts_with("/api/streams/transmissions/")
        && read_posts.iter().any(|suffix| path.ends_with(suffix)))
        || path == "/api/streams/runtime/playback-events"
        || path == "/api/streams/internal/camera-ingest/resolve";
    if *method == Method::POST && read_post {
        viewer
    } else {
        admin
    }
}

fn reveals_secrets(query: Option<&str>) -> bool {
    query.into_iter().flat_map(|q| q.split('&')).any(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        name == "include_secrets"
            && matches!(
                value.to_ascii_lowercase().as_str(),
                "true" | "1" | "yes" | "on"
            )
    })
}

fn refuse(status: StatusCode, detail: impl Into<String>) -> Response {
    ApiError::new(status, detail).into_response()
}

/// The middleware: host, origin, credential, role. Inserts the [`Principal`] it found.
pub async fn gate(
    State(auth): State<Arc<Auth>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    let headers = request.headers();
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if path != "/api/streams/health" && !auth.hosts.allows(host) {
        let shown: String = host.chars().take(100).collect();
        return refuse(
            StatusCode::FORBIDDEN,
            format!("Host not allowed: {shown:?}; add it to TOPOSYNC_ALLOWED_HOSTS"),
        );
    }
    let method = request.method().clone();
    if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) && cross_site(headers, host)
    {
        return refuse(StatusCode::FORBIDDEN, "Cross-site request refused");
    }
    // In an add-on, the ingress header is Home Assistant's word that it signed the user in: it
    // counts only from the ingress proxy itself.
    let ingress = match auth.ingress {
        Some(proxy) if headers.contains_key("x-ingress-path") => {
            if peer.ip() != proxy {
                tracing::warn!(peer = %peer.ip(), "refused an ingress header from outside the ingress proxy");
                return refuse(
                    StatusCode::FORBIDDEN,
                    "Ingress access is restricted to Home Assistant",
                );
            }
            true
        }
        _ => false,
    };
    let access = access(&method, &path, request.uri().query());
    let Access::Needs(needed) = access else {
        return next.run(request).await;
    };
    let principal = if ingress {
        Principal {
            role: Role::Admin,
            method: Proof::Ingress,
        }
    } else if auth.bypass {
        Principal {
            role: Role::Admin,
            method: Proof::Bypass,
        }
    } else if let Some(sync) = sync_principal(&auth, headers, &path, peer.ip()) {
        sync
    } else {
        match authenticate(&auth, headers, &method, peer.ip()) {
            Ok(principal) => principal,
            Err(refusal) => return refusal.into_response(),
        }
    };
    if principal.role < needed {
        return refuse(StatusCode::FORBIDDEN, "Permission denied");
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// The routes a processing server's sync credentials open (and no others: anywhere else the
/// same Basic header is an invalid credential).
fn is_sync_route(path: &str) -> bool {
    path.starts_with("/api/streams/distributed/settings/")
        || path.starts_with("/api/streams/internal/")
}

/// A processing server presenting the sync credentials on a sync route: it may read as a
/// viewer, and its share comes with the secrets it runs on.
fn sync_principal(
    auth: &Auth,
    headers: &HeaderMap,
    path: &str,
    address: IpAddr,
) -> Option<Principal> {
    let sync = auth.sync.as_ref()?;
    // A locked-out address is refused before any credential is looked at, this one too.
    if !is_sync_route(path) || auth.locked(address).is_some() {
        return None;
    }
    match presented(headers)? {
        Presented::Basic(user, password) if sync.matches(&user, &password) => Some(Principal {
            role: Role::Viewer,
            method: Proof::Sync,
        }),
        _ => None,
    }
}

/// A state-changing request a browser sent from another site: `Sec-Fetch-Site: cross-site`, or
/// an `Origin` that is neither this host nor the host a reverse proxy in front says the browser
/// used (`X-Forwarded-Host`, as Home Assistant ingress sends; a cross-site page cannot set it
/// without a CORS preflight this service never grants).
fn cross_site(headers: &HeaderMap, host: &str) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site == Some("cross-site") {
        return true;
    }
    let forwarded_host = headers
        .get("x-forwarded-host")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim);
    match headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        None => false,
        Some(origin) => {
            let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            !authority.eq_ignore_ascii_case(host)
                && !forwarded_host
                    .is_some_and(|forwarded| authority.eq_ignore_ascii_case(forwarded))
        }
    }
}

/// Why a request was not let in.
enum Refusal {
    /// Too many failures from this address: wait this long.
    Locked(std::time::Duration),
    Missing,
    Invalid,
    Csrf,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Locked(wait) => {
                let seconds = wait.as_secs().max(1);
                let mut response = refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Too many failed authentication attempts; retry in {seconds} s"),
                );
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(seconds));
                response
            }
            Refusal::Missing => {
                let mut response = refuse(StatusCode::UNAUTHORIZED, "Authentication required");
                // Bearer, not Basic: a browser must not prompt for a password and replay it.
                response
                    .headers_mut()
                    .insert("www-authenticate", HeaderValue::from_static("Bearer"));
                response
            }
            Refusal::Invalid => refuse(StatusCode::UNAUTHORIZED, "Invalid credentials"),
            Refusal::Csrf => refuse(StatusCode::FORBIDDEN, "CSRF token missing or invalid"),
        }
    }
}

fn authenticate(
    auth: &Auth,
    headers: &HeaderMap,
    method: &Method,
    address: IpAddr,
) -> Result<Principal, Refusal> {
    if let Some(wait) = auth.locked(address) {
        return Err(Refusal::Locked(wait));
    }
    let Some(presented) = presented(headers) else {
        return Err(Refusal::Missing);
    };
    let now = SystemTime::now();
    let check = |credentials: &Credentials| match &presented {
        Presented::Bearer(token) if Credentials::is_session(token) => credentials
            .verify_session(token, now)
            .map(|role| (role, Proof::Session)),
        Presented::Bearer(token) => credentials.role_of(token).map(|role| (role, Proof::Bearer)),
        Presented::Basic(user, password) => credentials
            .role_of(password)
            .filter(|role| user.is_empty() || user == role.name())
            .map(|role| (role, Proof::Basic)),
        Presented::Cookie(session) => credentials
            .verify_session(session, now)
            .map(|role| (role, Proof::Session)),
    };
    let mut credentials = auth.credentials(false);
    let mut found = check(&credentials);
    if found.is_none() {
        credentials = auth.credentials(true);
        found = check(&credentials);
    }
    let Some((role, how)) = found else {
        auth.failed(address);
        tracing::warn!(%address, "refused invalid credentials");
        return Err(Refusal::Invalid);
    };
    auth.succeeded(address);
    // A cookie comes with every request the browser makes, wanted or not: a change also needs
    // the session's CSRF token, which only this site's pages can read.
    if let Presented::Cookie(session) = &presented {
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let token = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !safe && !token.is_some_and(|t| credentials.csrf_matches(session, t)) {
            return Err(Refusal::Csrf);
        }
    }
    Ok(Principal { role, method: how })
}

enum Presented {
    Bearer(String),
    Basic(String, String),
    Cookie(String),
}

fn presented(headers: &HeaderMap) -> Option<Presented> {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(Presented::Bearer(rest.to_string()));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .unwrap_or_default();
            let (user, password) = decoded.split_once(':').unwrap_or(("", ""));
            return Some(Presented::Basic(user.to_string(), password.to_string()));
        }
        return Some(Presented::Bearer(String::new()));
    }
    session_cookie(headers).map(Presented::Cookie)
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    #[serde(default)]
    username: String,
    password: String,
}

/// `POST /api/streams/auth/login` and `GET /api/streams/auth/session`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionAnswer {
    role: Role,
    method: Proof,
    /// Send it back in `X-CSRF-Token` with every change made with the session cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at_unix: Option<u64>,
}

/// `POST /api/streams/auth/login {"username", "password"}`: the password is a token; answers a
/// session cookie (HttpOnly, SameSite=Strict) and its CSRF token. Failures count per address.
#[utoipa::path(post, path = "/api/streams/auth/login", tag = "auth", request_body = Login, responses((status = 200, description = "A session cookie and its CSRF token", body = SessionAnswer)))]
pub async fn login(
    State(auth): State<Arc<Auth>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let login: Login = toposync_actors::model::error::from_value(
        body,
        &toposync_actors::model::error::Loc::body(),
    )?;
    let address = peer.ip();
    if auth.locked(address).is_some() {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed authentication attempts; retry later",
        ));
    }
    let credentials = auth.credentials(true);
    let username = login.username.trim();
    let Some(role) = credentials
        .role_of(&login.password)
        .filter(|role| username.is_empty() || username == role.name())
    else {
        auth.failed(address);
        tracing::warn!(%address, "refused a login");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Invalid credentials",
        ));
    };
    auth.succeeded(address);
    let now = SystemTime::now();
    let session = credentials
        .session(role, now)
        .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err))?;
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    let answer = SessionAnswer {
        role,
        method: Proof::Session,
        csrf_token: Some(credentials.csrf_token(&session)),
        expires_at_unix: Some(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                + SESSION_TTL.as_secs(),
        ),
    };
    let mut response = Json(answer).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    Ok(response)
}

/// `POST /api/streams/auth/logout`: forgets the session cookie.
#[utoipa::path(post, path = "/api/streams/auth/logout", tag = "auth", responses((status = 200, body = super::replies::Done)))]
pub async fn logout() -> Response {
    let mut response = Json(super::replies::DONE).into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static("toposync_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// `GET /api/streams/auth/session`: who this request is.
#[utoipa::path(get, path = "/api/streams/auth/session", tag = "auth", responses((status = 200, body = SessionAnswer)))]
pub async fn session(
    State(auth): State<Arc<Auth>>,
    axum::Extension(principal): axum::Extension<Principal>,
    headers: HeaderMap,
) -> Json<SessionAnswer> {
    let csrf_token = (principal.method == Proof::Session)
        .then(|| session_cookie(&headers))
        .flatten()
        .map(|session| auth.credentials(false).csrf_token(&session));
    Json(SessionAnswer {
        role: principal.role,
        method: principal.method,
        csrf_token,
        expires_at_unix: None,
    })
}

/// `GET /login`: the sign-in form for browser pages.
#[utoipa::path(get, path = "/login", tag = "auth", responses((status = 200, description = "The sign-in form", content_type = "text/html", body = String)))]
pub async fn login_page(
    super::extract::Origin(origin): super::extract::Origin,
) -> axum::response::Html<String> {
    super::dashboard::page(include_str!("login.html"), &origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_what_the_original_table_says() {
        let get = Method::GET;
        let post = Method::POST;
        let viewer = Access::Needs(Role::Viewer);
        let admin = Access::Needs(Role::Admin);
        let cases = [
            (&get, "/api/streams/health", None, Access::Open),
            (&get, "/api/streams/settings", None, viewer),
            (
                &get,
                "/api/streams/settings",
                Some("include_secrets=true"),
                admin,
            ),
            (
                &get,
                "/api/streams/settings",
                Some("include_secrets=false"),
                viewer,
            ),
            (&Method::PATCH, "/api/streams/settings", None, admin),
            (&post, "/api/streams/engine/stop", None, admin),
            (
                &post,
                "/api/streams/transmissions/t/demand/prime",
                None,
                viewer,
            ),
            (
                &post,
                "/api/streams/transmissions/t/webrtc/offer",
                None,
                viewer,
            ),
            (
                &post,
                "/api/streams/transmissions/t/writers/w/frame",
                None,
                admin,
            ),
            (
                &get,
                "/api/streams/transmissions/t/writers/w/ws",
                None,
                admin,
            ),
            (&get, "/api/streams/home-assistant/cameras", None, admin),
            (
                &get,
                "/api/streams/media/hls/p/index.m3u8",
                None,
                Access::Media,
            ),
            (&get, "/api/streams/transmissions/t/still.jpg", None, viewer),
            (&post, "/api/cameras", None, admin),
            (&get, "/api/cameras", None, viewer),
            (&Method::DELETE, "/api/pipelines/p", None, admin),
            (&post, "/api/streams/wizard/create-pipeline", None, admin),
            (&post, "/api/streams/auth/login", None, Access::Open),
        ];
        for (method, path, query, expected) in cases {
            assert_eq!(
                access(method, path, query),
                expected,
                "{method} {path} {query:?}"
            );
        }
    }

    #[test]
    fn hosts_are_loopback_ip_literals_or_configured_names() {
        let hosts = AllowedHosts {
            names: vec!["nvr.home.arpa".into()],
        };
        for allowed in [
            "127.0.0.1:8100",
            "localhost:8100",
            "LOCALHOST",
            "app.localhost",
            "[::1]:8100",
            "192.168.1.20",
            "nvr.home.arpa:8100",
        ] {
            assert!(hosts.allows(allowed), "{allowed}");
        }
        for refused in [
            "evil.example",
            "evil.example:8100",
            "",
            "nvr.home.arpa.evil.example",
        ] {
            assert!(!hosts.allows(refused), "{refused}");
        }
    }

    #[test]
    fn only_same_origin_changes_pass() {
        let mut headers = HeaderMap::new();
        assert!(
            !cross_site(&headers, "127.0.0.1:8100"),
            "no Origin: not a browser page"
        );
        headers.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8100"));
        assert!(!cross_site(&headers, "127.0.0.1:8100"));
        headers.insert(ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(cross_site(&headers, "127.0.0.1:8100"));
        // Behind a proxy: the browser's origin is the proxy's, which it names.
        let mut proxied = HeaderMap::new();
        proxied.insert(ORIGIN, HeaderValue::from_static("https://ha.example.com"));
        assert!(cross_site(&proxied, "127.0.0.1:8100"));
        proxied.insert(
            "x-forwarded-host",
            HeaderValue::from_static("ha.example.com"),
        );
        assert!(!cross_site(&proxied, "127.0.0.1:8100"));
        let mut fetch = HeaderMap::new();
        fetch.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(cross_site(&fetch, "127.0.0.1:8100"));
    }
}
