//! The small acknowledgements routes answer with, in the original's shapes.

use serde::Serialize;
use toposync_actors::model::settings::StreamingSettings;
use toposync_actors::model::transmission::{QualityProfileId, Transmission};
use toposync_actors::pipelines::links::PipelineLink;

/// `{"deleted": true}`: a DELETE that removed what it named.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub deleted: bool,
}

pub const DELETED: Deleted = Deleted { deleted: true };

/// `{"ok": true}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Done {
    pub ok: bool,
}

pub const DONE: Done = Done { ok: true };

/// A frame handed to the transmission's arbitration.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FrameAccepted {
    pub transmission_id: String,
    pub writer_id: String,
    pub accepted: bool,
}

/// A writer made ineligible.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WriterClosed {
    pub transmission_id: String,
    pub writer_id: String,
    pub closed: bool,
}

/// A refused writer-socket message: `{"type": "error", "detail": ...}`; the socket stays open.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SocketError<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub detail: &'a str,
}

impl<'a> SocketError<'a> {
    pub fn new(detail: &'a str) -> Self {
        Self {
            kind: "error",
            detail,
        }
    }
}

/// A WHEP offer answered by the engine, for Home Assistant's WebRTC entity (read back from a
/// processing server for a remote transmission).
#[derive(Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WhepAnswer {
    pub transmission_id: String,
    pub output_id: String,
    pub answer_sdp: String,
}

/// `POST /transmissions/{id}/quality-profiles/apply`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProfilesApplied {
    pub transmission_id: String,
    pub applied_profile_ids: Vec<QualityProfileId>,
    /// Secrets redacted.
    pub transmission: Transmission,
}

/// `POST /transmissions/{id}/webrtc/companion/apply`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CompanionApplied {
    pub transmission_id: String,
    pub output_id: &'static str,
    /// Secrets redacted.
    pub transmission: Transmission,
}

/// `POST /reconcile`: the saved document (secrets redacted) with what could not be generated.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Reconciled {
    #[serde(flatten)]
    pub settings: StreamingSettings,
    pub warnings: Vec<String>,
}

/// `GET /runtime/pipelines`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PipelineLinks {
    pub updated_at_unix: f64,
    pub pipelines: Vec<PipelineLink>,
}
