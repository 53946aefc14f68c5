//! The OpenAPI 3.1 document at `/api/streams/openapi.json`. Each route is registered through
//! its handler's `#[utoipa::path]` (see `router`), so the router and the document cannot
//! disagree; schemas are derived from the types the handlers parse and answer. What every
//! operation shares (who may call it, the error shape) is added here from the same rules the
//! gate applies.

use axum::http::Method;
use serde_json::{Value, json};
use toposync_actors::auth::Role;
use toposync_actors::model::transmission::QualityProfileId;
use toposync_actors::playback::{Client, Context};
use utoipa::{IntoParams, OpenApi};

use super::auth::{Access, access};
use super::error::ErrorBody;

pub const PATH: &str = "/api/streams/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "toposync-streaming",
        description = "Publishes camera and pipeline video (RTSP, HLS, WebRTC, MSE, JSMpeg). \
                       Shapes are a superset of the original streaming extension's; see docs/api.md."
    ),
    // Enums only query parameters name: IntoParams refers to them without registering them.
    components(schemas(ErrorBody, Client, Context, QualityProfileId))
)]
struct Document;

/// The base document `router` fills with paths.
pub fn base() -> utoipa::openapi::OpenApi {
    Document::openapi()
}

/// The finished document: axum's wildcard spelled as OpenAPI's, and per operation who may call
/// it and the refusals it can answer.
pub fn finish(openapi: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(openapi).expect("an OpenAPI document serialises");
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer", "description": "An admin or viewer token (docs/security.md)"},
        "session": {"type": "apiKey", "in": "cookie", "name": "toposync_session", "description": "The cookie POST /api/streams/auth/login sets; changes also need X-CSRF-Token"},
    });
    let Some(paths) = doc["paths"].as_object_mut() else {
        return doc;
    };
    let renamed: Vec<(String, Value)> = std::mem::take(paths)
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    for (path, mut item) in renamed {
        for (method, operation) in item.as_object_mut().into_iter().flatten() {
            let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else {
                continue;
            };
            conventions(operation, &method, &path);
        }
        paths.insert(path, item);
    }
    doc
}

fn conventions(operation: &mut Value, method: &Method, path: &str) {
    // Handlers in different modules share names (`list`, `delete`); the tag makes the id unique.
    if let (Some(tag), Some(id)) = (
        operation["tags"][0].as_str(),
        operation["operationId"].as_str(),
    ) {
        operation["operationId"] = json!(format!("{tag}.{id}"));
    }
    let (security, who) = match access(method, path, None) {
        Access::Open => (json!([]), "Anyone may call this."),
        Access::Media => (
            json!([]),
            "Authorised by the signed `media_token` in the URL (from the urls or playback-plan answer).",
        ),
        Access::Needs(Role::Viewer) => (
            json!([{"bearer": []}, {"session": []}]),
            "Needs the viewer role (an admin may too).",
        ),
        Access::Needs(Role::Admin) => (
            json!([{"bearer": []}, {"session": []}]),
            "Needs the admin role.",
        ),
    };
    operation["security"] = security;
    operation["x-required-role"] = json!(match access(method, path, None) {
        Access::Needs(Role::Admin) => "admin",
        Access::Needs(Role::Viewer) => "viewer",
        Access::Media => "media_token",
        Access::Open => "none",
    });
    let description = operation["description"].as_str().unwrap_or("").to_string();
    operation["description"] = json!(if description.is_empty() {
        who.to_string()
    } else {
        format!("{description}\n\n{who}")
    });
    let error = json!({
        "description": "Refused: `detail` is a message, or the list of fields that broke a rule (each naming its `loc`)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    });
    let responses = &mut operation["responses"];
    responses["4XX"] = error.clone();
    responses["503"] = json!({
        "description": "An actor did not answer in time or is restarting; nothing was changed",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    });
}

/// `include_secrets=true` answers stored passwords (admin only).
#[derive(IntoParams)]
#[expect(dead_code, reason = "describes the query Params reads by name")]
#[into_params(parameter_in = Query)]
pub struct IncludeSecrets {
    /// Answer stored secrets instead of redacting them; needs the admin role.
    pub include_secrets: Option<bool>,
}

#[derive(IntoParams)]
#[expect(dead_code, reason = "describes the query Params reads by name")]
#[into_params(parameter_in = Query)]
pub struct MediaToken {
    /// The signed token from the urls answer (required when media auth is `signed`).
    pub media_token: Option<String>,
}

#[derive(IntoParams)]
#[expect(dead_code, reason = "describes the query Params reads by name")]
#[into_params(parameter_in = Query)]
pub struct OutputQuery {
    pub output_id: Option<String>,
}

#[derive(IntoParams)]
#[expect(dead_code, reason = "describes the query Params reads by name")]
#[into_params(parameter_in = Query)]
pub struct OutputSelection {
    pub output_id: Option<String>,
    pub quality_profile_id: Option<QualityProfileId>,
}

#[derive(IntoParams)]
#[expect(dead_code, reason = "describes the query Params reads by name")]
#[into_params(parameter_in = Query)]
pub struct PrimeQuery {
    pub output_id: Option<String>,
    pub quality_profile_id: Option<QualityProfileId>,
    /// How long the demand lease lasts.
    pub ttl_seconds: Option<f64>,
}

#[derive(IntoParams)]
#[expect(dead_code, reason = "describes the query Params reads by name")]
#[into_params(parameter_in = Query)]
pub struct StillQuery {
    pub output_id: Option<String>,
    pub quality_profile_id: Option<QualityProfileId>,
}

#[derive(IntoParams)]
#[expect(dead_code, reason = "describes the query Params reads by name")]
#[into_params(parameter_in = Query)]
pub struct UrlsQuery {
    pub output_id: Option<String>,
    pub quality_profile_id: Option<QualityProfileId>,
    /// Lifetime of the signed media tokens, clamped to the configured bounds.
    pub media_token_ttl_seconds: Option<f64>,
}

#[derive(IntoParams)]
#[expect(dead_code, reason = "describes the query Params reads by name")]
#[into_params(parameter_in = Query)]
pub struct PlanQuery {
    pub client: Option<Client>,
    pub context: Option<Context>,
    pub low_latency: Option<bool>,
    pub output_id: Option<String>,
    pub quality_profile_id: Option<QualityProfileId>,
    pub media_token_ttl_seconds: Option<f64>,
}

#[derive(IntoParams)]
#[expect(dead_code, reason = "describes the query Params reads by name")]
#[into_params(parameter_in = Query)]
pub struct PublicationsQuery {
    pub camera_id: Option<String>,
}

#[derive(IntoParams)]
#[expect(dead_code, reason = "describes the query Params reads by name")]
#[into_params(parameter_in = Query)]
pub struct LiveViewPlaybackQuery {
    pub context: Option<Context>,
    pub variant_id: Option<String>,
    pub media_token_ttl_seconds: Option<f64>,
}

#[derive(IntoParams)]
#[expect(dead_code, reason = "describes the query Params reads by name")]
#[into_params(parameter_in = Query)]
pub struct FrameQuery {
    pub width: u32,
    pub height: u32,
    /// Higher wins arbitration.
    pub priority: Option<i64>,
    /// `open` or `update` (the default); a writer closes with the close route.
    #[param(value_type = Option<String>, pattern = "^(open|update)$")]
    pub lifecycle: Option<String>,
}

#[derive(IntoParams)]
#[expect(dead_code, reason = "describes the query Params reads by name")]
#[into_params(parameter_in = Query)]
pub struct WriterSocketQuery {
    /// Higher wins arbitration.
    pub priority: Option<i64>,
}
