//! The facade the HTTP layer asks through: one typed call per request it makes of a singleton,
//! each with its deadline, failing with which actor did not answer ([`Unreachable`]). The message
//! protocols stay inside this crate; callers never build an actor message.

use std::path::PathBuf;
use std::time::Duration;

use crate::supervision::{AskError, Unreachable, ask};

const ENGINE: &str = "streaming engine";
const SIDECAR: &str = "MSE sidecar";
const DEMAND: &str = "demand runtime";
const JSMPEG: &str = "JSMpeg runtime";
const PIPELINES: &str = "pipelines runtime";

const STATUS_DEADLINE: Duration = Duration::from_secs(2);
/// Starting go2rtc includes waiting for its API (3 s).
const SIDECAR_DEADLINE: Duration = Duration::from_secs(8);
/// A release download on a slow link.
const DOWNLOAD_DEADLINE: Duration = Duration::from_secs(900);
/// A JSMpeg session starts FFmpeg before it answers.
const JSMPEG_DEADLINE: Duration = Duration::from_secs(5);

async fn call<M: ractor::Message, T: Send + 'static>(
    what: &'static str,
    actor: Option<ractor::ActorRef<M>>,
    request: impl FnOnce(ractor::RpcReplyPort<T>) -> M,
    deadline: Duration,
) -> Result<T, Unreachable> {
    let actor = actor.ok_or(Unreachable::new(what, AskError::Unavailable))?;
    ask(&actor, request, deadline)
        .await
        .map_err(|err| Unreachable::new(what, err))
}

pub mod engine {
    use super::*;
    use crate::engine::ports::EnginePorts;
    use crate::engine::{EngineMsg, EngineStatus, engine};

    pub async fn status() -> Result<EngineStatus, Unreachable> {
        call(ENGINE, engine(), EngineMsg::Status, STATUS_DEADLINE).await
    }

    /// Stops and starts MediaMTX again (a no-op while disabled).
    pub async fn restart() -> Result<(), Unreachable> {
        call(
            ENGINE,
            engine(),
            EngineMsg::Restart,
            crate::store::WRITE_DEADLINE,
        )
        .await
    }

    pub async fn download() -> Result<Result<PathBuf, String>, Unreachable> {
        call(ENGINE, engine(), EngineMsg::Download, DOWNLOAD_DEADLINE).await
    }

    /// Answers once the engine runs (`Ok`), or why it does not; `Timeout` when it is still
    /// starting (e.g. downloading) after `deadline`.
    pub async fn wait_ready(deadline: Duration) -> Result<Result<(), String>, Unreachable> {
        call(ENGINE, engine(), EngineMsg::WaitReady, deadline).await
    }

    /// The engine's paths (and their readers) while it runs and answers.
    pub async fn paths() -> Option<Vec<crate::engine::signals::PathState>> {
        call(ENGINE, engine(), EngineMsg::Paths, STATUS_DEADLINE)
            .await
            .ok()?
            .ok()
    }

    /// The engine's HLS muxers while it runs and answers.
    pub async fn hls_muxers() -> Option<Vec<crate::engine::signals::HlsMuxer>> {
        call(ENGINE, engine(), EngineMsg::HlsMuxers, STATUS_DEADLINE)
            .await
            .ok()?
            .ok()
    }

    /// The actual ports while the engine runs and answers.
    pub async fn ready_ports() -> Option<EnginePorts> {
        call(ENGINE, engine(), EngineMsg::ReadyPorts, STATUS_DEADLINE)
            .await
            .ok()
            .flatten()
    }
}

pub mod sidecar {
    use super::*;
    use crate::sidecar::actor::SidecarStatus;
    use crate::sidecar::session::{MseSession, SessionRequest};
    use crate::sidecar::{SidecarMsg, sidecar};

    pub async fn status() -> Result<SidecarStatus, Unreachable> {
        call(SIDECAR, sidecar(), SidecarMsg::Status, SIDECAR_DEADLINE).await
    }

    pub async fn download() -> Result<Result<PathBuf, String>, Unreachable> {
        call(SIDECAR, sidecar(), SidecarMsg::Download, DOWNLOAD_DEADLINE).await
    }

    /// Runs go2rtc until [`stop`]; answers its API port, or why it cannot run.
    pub async fn start() -> Result<Result<u16, String>, Unreachable> {
        call(SIDECAR, sidecar(), SidecarMsg::Start, SIDECAR_DEADLINE).await
    }

    pub async fn stop() -> Result<(), Unreachable> {
        call(SIDECAR, sidecar(), SidecarMsg::Stop, SIDECAR_DEADLINE).await
    }

    /// Why MSE cannot start right now, if it cannot (starts nothing).
    pub async fn blocking() -> Option<String> {
        match call(SIDECAR, sidecar(), SidecarMsg::Blocking, STATUS_DEADLINE).await {
            Ok(blocking) => blocking,
            Err(Unreachable {
                err: AskError::Timeout,
                ..
            }) => Some("MSE sidecar unavailable: it did not answer.".into()),
            Err(_) => Some("MSE sidecar unavailable: it is restarting.".into()),
        }
    }

    /// A browser's MSE session, relaying go2rtc until either side ends.
    pub async fn open_session(
        request: SessionRequest,
    ) -> Result<Result<MseSession, String>, Unreachable> {
        call(
            SIDECAR,
            sidecar(),
            |reply| SidecarMsg::OpenSession(request, reply),
            SIDECAR_DEADLINE,
        )
        .await
    }
}

pub mod demand {
    use super::*;
    use crate::demand::{DemandMsg, HeartbeatClient, OutputDemandView, OutputFilter, demand};

    pub async fn views(transmission_id: &str) -> Result<Vec<OutputDemandView>, Unreachable> {
        let id = transmission_id.to_string();
        call(
            DEMAND,
            demand(),
            |reply| DemandMsg::Views(Some(id), reply),
            STATUS_DEADLINE,
        )
        .await
    }

    /// Keeps the matching outputs demanded for `ttl`; answers how many matched.
    pub async fn prime(
        transmission_id: &str,
        filter: OutputFilter,
        ttl: Duration,
    ) -> Result<usize, Unreachable> {
        let transmission_id = transmission_id.to_string();
        call(
            DEMAND,
            demand(),
            |reply| DemandMsg::Prime {
                transmission_id,
                filter,
                ttl,
                reply,
            },
            STATUS_DEADLINE,
        )
        .await
    }

    /// [`heartbeat`] without waiting for the answer (a hot path: each proxied playlist).
    pub fn heartbeat_quietly(
        transmission_id: &str,
        filter: OutputFilter,
        session: String,
        client: HeartbeatClient,
        ttl: Duration,
    ) {
        let Some(actor) = demand() else { return };
        let (reply, _) = tokio::sync::oneshot::channel();
        let _ = actor.send_message(DemandMsg::Heartbeat {
            transmission_id: transmission_id.to_string(),
            filter,
            session,
            client,
            ttl,
            reply: reply.into(),
        });
    }

    /// Renews one viewer's lease on the matching outputs; answers the outputs renewed.
    pub async fn heartbeat(
        transmission_id: &str,
        filter: OutputFilter,
        session: &str,
        client: HeartbeatClient,
        ttl: Duration,
    ) -> Result<Vec<String>, Unreachable> {
        let (transmission_id, session) = (transmission_id.to_string(), session.to_string());
        call(
            DEMAND,
            demand(),
            |reply| DemandMsg::Heartbeat {
                transmission_id,
                filter,
                session,
                client,
                ttl,
                reply,
            },
            STATUS_DEADLINE,
        )
        .await
    }
}

pub mod jsmpeg {
    use super::*;
    use crate::jsmpeg::{JsmpegMsg, JsmpegStatus, Refusal, Session, SessionRequest, jsmpeg};
    use crate::model::settings::Jsmpeg;

    pub async fn status(
        settings: Jsmpeg,
        engine_enabled: bool,
    ) -> Result<JsmpegStatus, Unreachable> {
        call(
            JSMPEG,
            jsmpeg(),
            |reply| JsmpegMsg::Status {
                settings,
                engine_enabled,
                reply,
            },
            JSMPEG_DEADLINE,
        )
        .await
    }

    pub async fn open(request: SessionRequest) -> Result<Result<Session, Refusal>, Unreachable> {
        call(
            JSMPEG,
            jsmpeg(),
            |reply| JsmpegMsg::Open(Box::new(request), reply),
            JSMPEG_DEADLINE,
        )
        .await
    }
}

pub mod pipelines {
    use super::*;
    use crate::pipelines::supervisor::PipelineRuntime;
    use crate::pipelines::{PipelinesMsg, pipelines};

    pub async fn status() -> Result<Vec<PipelineRuntime>, Unreachable> {
        call(
            PIPELINES,
            pipelines(),
            PipelinesMsg::Status,
            STATUS_DEADLINE,
        )
        .await
    }
}
