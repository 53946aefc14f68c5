//! Runtime health in the original's shape (`GET /runtime/health`, `GET /runtime/outputs`): what
//! arbitration selected, each output's demand and publisher, the status rules, a classification
//! with its evidence, and a summary a person can act on. The rules are pure (`build`); `collect`
//! asks the actors for the facts.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::demand::{DemandMsg, OutputDemandView, demand};
use crate::model::settings::StreamingSettings;
use crate::model::transmission::{Protocol, QualityProfileId, Transmission};
use crate::pipelines::supervisor::{PipelineRuntime, PipelinesMsg, pipelines};
use crate::playback_events::{Finding, RECENT_SECONDS, Record, active_sessions, open_findings};
use crate::publishers::target::output_key;
use crate::publishers::{OutputTarget, PublisherStatus};
use crate::supervision::{AskError, Unreachable, ask};
use crate::transmissions::actor::{OutputRuntime, RELAYED, TransmissionHealth, WriterHealth};
use crate::transmissions::{TransmissionsMsg, transmissions};
use crate::urls::PublicOrigin;

const DEADLINE: Duration = Duration::from_secs(2);
/// A frame at most this old is "fresh" for the summaries (the original's rule).
const FRESH_FRAME_SECONDS: f64 = 10.0;
/// The only encoder this service runs (no hardware encoders are probed or used).
pub const ENCODER: &str = "libx264";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Live,
    Degraded,
    Stale,
    Offline,
}

/// The original's observability classes, most severe first (the order is the priority).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    DemandIdle,
    EventGatedIdle,
    NetworkContractError,
    AuthUrlError,
    SourceStale,
    SourcePipelineStale,
    PublisherDown,
    HlsTailUnavailable,
    HlsPlaylistStale,
    WebrtcTransportError,
    AppPlayerLifecycle,
    Healthy,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SummaryStatus {
    Working,
    Warming,
    ActionRequired,
}

/// `summary_status`, `summary_message`, `summary_action`, `technical_status`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub summary_status: SummaryStatus,
    pub summary_message: &'static str,
    pub summary_action: Option<&'static str>,
    pub technical_status: Classification,
}

/// What is wrong (or right) with a transmission or an output, and what to do about it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Diagnosis {
    pub classification: Classification,
    pub evidence: Vec<String>,
    #[serde(flatten)]
    pub summary: Summary,
    /// Sessions that reported a playback event in the last 30 s.
    pub active_playback_session_count: usize,
    pub last_playback_event_at_unix: Option<f64>,
    pub source_health: Option<serde_json::Value>,
}

impl Diagnosis {
    fn new(classification: Classification, evidence: Vec<String>, summary: Summary) -> Self {
        Diagnosis {
            classification,
            evidence,
            summary,
            active_playback_session_count: 0,
            last_playback_event_at_unix: None,
            source_health: None,
        }
    }
}

/// How the frames of a transmission behave, from the pipeline feeding it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Behaviour {
    pub stream_behavior: &'static str,
    pub event_gated: bool,
    pub event_gated_idle: bool,
    pub event_gate_reasons: Vec<&'static str>,
    pub demand_driven: bool,
    pub demand_idle: bool,
}

/// What arbitration shows, with the stale policy applied.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Selection {
    pub active_writer_id: Option<String>,
    pub selected_writer_id: Option<String>,
    pub selected_frame_age_seconds: Option<f64>,
    pub last_incoming_frame_age_seconds: Option<f64>,
    pub last_live_frame_at_unix: Option<f64>,
    pub fallback_active: bool,
    pub fallback_reason: Option<&'static str>,
    pub stale: bool,
    pub placeholder_active: bool,
}

/// The original's `publisher_*` fields of an output.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublisherFields {
    pub publisher_running: bool,
    pub publisher_pid: Option<u32>,
    pub publisher_frames_sent: u64,
    pub publisher_last_error: Option<String>,
    pub publisher_active_codec: Option<&'static str>,
    pub publisher_hardware_accelerated: bool,
    pub publisher_restart_count: u32,
    pub publisher_last_frame_at_unix: Option<f64>,
    pub publisher_encoder_mode: &'static str,
    pub publisher_encoder_state: Option<&'static str>,
    pub publisher_encoder_reason: Option<&'static str>,
    pub publisher_encoder_quarantined_until_unix: Option<f64>,
    pub publisher_encoder_fallback_active: bool,
    /// Frames per second sent since the previous health call; null on the first.
    pub publisher_frames_sent_rate: Option<f64>,
}

/// One output of `GET /runtime/health` (`StreamingRuntimeOutputHealth`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutputHealth {
    pub output_key: String,
    pub output_id: String,
    pub transmission_id: String,
    pub protocol: Protocol,
    pub resolved_engine_path: String,
    pub quality_profile_id: Option<QualityProfileId>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub fps_limit: Option<i64>,
    pub bitrate_kbps: Option<i64>,
    pub viewer_count: usize,
    pub demand_signal: bool,
    #[serde(flatten)]
    pub publisher: PublisherFields,
    pub status: Status,
    #[serde(flatten)]
    pub behaviour: Behaviour,
    #[serde(flatten)]
    pub diagnosis: Diagnosis,
    /// This service's detail: demand and the publisher as its actors see them.
    #[serde(skip)]
    pub runtime: OutputDetail,
}

/// Fields `/runtime/outputs` adds beyond the original's, kept from earlier versions.
#[derive(Debug, Clone, Default)]
pub struct OutputDetail {
    pub view: Option<OutputDemandView>,
    pub target: Option<OutputTarget>,
    pub publisher_state: &'static str,
    pub publisher: Option<PublisherStatus>,
}

/// One transmission of `GET /runtime/health` (`StreamingRuntimeTransmissionHealth`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransmissionRuntimeHealth {
    pub transmission_id: String,
    pub enabled: bool,
    pub status: Status,
    #[serde(flatten)]
    pub selection: Selection,
    #[serde(flatten)]
    pub behaviour: Behaviour,
    #[serde(flatten)]
    pub diagnosis: Diagnosis,
    pub outputs: Vec<OutputHealth>,
    /// This service's detail: the arbitration mode and every writer it knows.
    pub arbitration: Option<crate::model::transmission::Arbitration>,
    /// Frames writers delivered since the transmission's actor started.
    pub frames_ingested: u64,
    pub writers: Vec<WriterHealth>,
}

/// `GET /runtime/health` (`StreamingRuntimeHealthResponse`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuntimeHealth {
    pub updated_at_unix: f64,
    pub stale_after_seconds: f64,
    pub placeholder_after_seconds: f64,
    pub transmissions: Vec<TransmissionRuntimeHealth>,
    #[serde(flatten)]
    pub origin: PublicOrigin,
    pub hls_proxy_reachable: bool,
    pub hls_playlist_rewrite_ok: bool,
}

/// The demand part of a `/runtime/outputs` entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DemandDetail {
    pub demanded: bool,
    pub reason: crate::demand::DemandReason,
    pub why: &'static str,
    pub viewer_count: usize,
    pub primed: bool,
    pub primed_expires_in_seconds: Option<f64>,
    pub heartbeat_sessions: usize,
    pub hint_active: bool,
    pub encoding: bool,
    pub stops_in_seconds: Option<f64>,
}

/// One entry of `GET /runtime/outputs` (`StreamingOutputRuntimeStatus`): the output's health,
/// its transmission's selection and behaviour, and this service's demand/publisher detail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutputRuntimeStatus {
    #[serde(flatten)]
    pub health: OutputHealth,
    #[serde(flatten)]
    pub selection: Selection,
    pub engine_path: String,
    pub target: Option<OutputTarget>,
    pub demand: Option<DemandDetail>,
    pub publisher_state: &'static str,
    pub pid: Option<u32>,
    pub input_mode: Option<&'static str>,
    pub restarts: u32,
    pub last_error: Option<String>,
    pub frames_written: u64,
    pub frames_dropped: u64,
    pub frames_encoded: u64,
    pub showing: Option<&'static str>,
    #[schema(value_type = Option<String>)]
    pub log_path: Option<std::path::PathBuf>,
    pub stderr_tail: Option<Vec<String>>,
}

/// `GET /runtime/outputs`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuntimeOutputs {
    pub updated_at_unix: f64,
    pub outputs: Vec<OutputRuntimeStatus>,
}

/// Frames-sent counters from the previous health call, for `publisher_frames_sent_rate`.
#[derive(Debug, Clone, Default)]
pub struct FrameRates(Arc<Mutex<HashMap<String, (f64, u64)>>>);

impl FrameRates {
    /// Frames per second since the last sample of `key` (null on its first sample or after a
    /// publisher restart reset its counter).
    fn sample(&self, key: &str, now: f64, frames: u64) -> Option<f64> {
        let mut samples = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let previous = samples.insert(key.to_string(), (now, frames));
        let (at, before) = previous?;
        let elapsed = now - at;
        (elapsed > 0.0 && frames >= before).then(|| (frames - before) as f64 / elapsed)
    }

    /// Forgets outputs that no longer exist, so the map stays as large as the configuration.
    fn retain(&self, keys: &[&str]) {
        let mut samples = self.0.lock().unwrap_or_else(|e| e.into_inner());
        samples.retain(|key, _| keys.contains(&key.as_str()));
    }
}

/// The actors' facts at one moment.
pub struct Facts {
    pub settings: Arc<StreamingSettings>,
    pub transmissions: Vec<TransmissionHealth>,
    pub outputs: Vec<OutputRuntime>,
    pub views: Vec<OutputDemandView>,
    pub pipelines: Vec<PipelineRuntime>,
}

/// Asks the store, the transmissions supervisor, the demand actor and the pipelines supervisor.
pub async fn collect() -> Result<Facts, Unreachable> {
    let settings = crate::store::read(DEADLINE)
        .await
        .map_err(|_| Unreachable::new("settings store", AskError::Unavailable))?
        .settings;
    let supervisor = transmissions()
        .ok_or_else(|| Unreachable::new("transmissions supervisor", AskError::Unavailable))?;
    let health = ask(&supervisor, TransmissionsMsg::Health, DEADLINE)
        .await
        .map_err(|err| Unreachable::new("transmissions supervisor", err))?;
    let outputs = ask(&supervisor, TransmissionsMsg::Outputs, DEADLINE)
        .await
        .map_err(|err| Unreachable::new("transmissions supervisor", err))?;
    let demand =
        demand().ok_or_else(|| Unreachable::new("demand runtime", AskError::Unavailable))?;
    let views = ask(&demand, |reply| DemandMsg::Views(None, reply), DEADLINE)
        .await
        .map_err(|err| Unreachable::new("demand runtime", err))?;
    let pipelines =
        pipelines().ok_or_else(|| Unreachable::new("pipelines runtime", AskError::Unavailable))?;
    let pipelines = ask(&pipelines, PipelinesMsg::Status, DEADLINE)
        .await
        .map_err(|err| Unreachable::new("pipelines runtime", err))?;
    Ok(Facts {
        settings,
        transmissions: health,
        outputs,
        views,
        pipelines,
    })
}

/// One transmission's health now, for answers that embed it (plans, live-view playback);
/// `None` when the actors cannot say or it is not hosted here. Rates are not sampled.
pub async fn transmission(transmission_id: &str) -> Option<TransmissionRuntimeHealth> {
    let facts = collect().await.ok()?;
    let origin = PublicOrigin::from_headers(|_| None);
    build(facts, &FrameRates::default(), origin, crate::unix_now())
        .transmissions
        .into_iter()
        .find(|t| t.transmission_id == transmission_id)
}

/// The health of every transmission hosted here, sorted by id, outputs sorted by key.
pub fn build(facts: Facts, rates: &FrameRates, origin: PublicOrigin, now: f64) -> RuntimeHealth {
    let policy = &facts.settings.stale_policy;
    let stale_after = policy.stale_after_seconds.max(0.1);
    let placeholder_after = policy.placeholder_after_seconds.max(stale_after);
    let running: BTreeMap<&str, &TransmissionHealth> = facts
        .transmissions
        .iter()
        .map(|health| (health.transmission_id.as_str(), health))
        .collect();
    let mut transmissions: Vec<TransmissionRuntimeHealth> = facts
        .settings
        .transmissions
        .iter()
        .filter(|t| t.host_server_id == crate::distributed::LOCAL_SERVER_ID)
        .map(|transmission| {
            let context = TransmissionContext {
                transmission,
                running: running.get(transmission.id.as_str()).copied(),
                outputs: &facts.outputs,
                views: &facts.views,
                pipeline: pipeline_for(
                    &facts.pipelines,
                    transmission,
                    running.get(transmission.id.as_str()).copied(),
                ),
                events: crate::playback_events::store().list(
                    Some(&transmission.id),
                    None,
                    crate::playback_events::MAX_EVENTS,
                    now,
                ),
                stale_after,
                placeholder_after,
            };
            context.health(rates, now)
        })
        .collect();
    transmissions.sort_by(|a, b| a.transmission_id.cmp(&b.transmission_id));
    let keys: Vec<&str> = transmissions
        .iter()
        .flat_map(|t| t.outputs.iter().map(|o| o.output_key.as_str()))
        .collect();
    rates.retain(&keys);
    RuntimeHealth {
        updated_at_unix: now,
        stale_after_seconds: stale_after,
        placeholder_after_seconds: placeholder_after,
        transmissions,
        hls_proxy_reachable: origin.media_url_origin.is_some(),
        origin,
        hls_playlist_rewrite_ok: true,
    }
}

/// `/runtime/outputs`: one flattened entry per output, sorted by (transmission, output).
pub fn outputs(health: RuntimeHealth) -> RuntimeOutputs {
    let mut outputs: Vec<OutputRuntimeStatus> = health
        .transmissions
        .into_iter()
        .flat_map(|transmission| {
            let selection = transmission.selection;
            transmission
                .outputs
                .into_iter()
                // The synthetic "default" output of a transmission without outputs is health only.
                .filter(|output| output.runtime.view.is_some())
                .map(move |output| output_status(output, selection.clone()))
        })
        .collect();
    outputs.sort_by(|a, b| {
        (&a.health.transmission_id, &a.health.output_id)
            .cmp(&(&b.health.transmission_id, &b.health.output_id))
    });
    RuntimeOutputs {
        updated_at_unix: health.updated_at_unix,
        outputs,
    }
}

fn output_status(mut health: OutputHealth, selection: Selection) -> OutputRuntimeStatus {
    let detail = std::mem::take(&mut health.runtime);
    // The original leaves these false on the flattened entries.
    health.behaviour.demand_driven = false;
    health.behaviour.demand_idle = false;
    let publisher = detail.publisher.as_ref();
    OutputRuntimeStatus {
        engine_path: health.resolved_engine_path.clone(),
        target: detail.target,
        demand: detail.view.as_ref().map(|view| DemandDetail {
            demanded: view.demanded,
            reason: view.reason,
            why: view.reason.why(),
            viewer_count: view.viewer_count,
            primed: view.primed,
            primed_expires_in_seconds: view.primed_expires_in_seconds,
            heartbeat_sessions: view.heartbeat_sessions,
            hint_active: view.hint_active,
            encoding: view.encoding,
            stops_in_seconds: view.stops_in_seconds,
        }),
        publisher_state: detail.publisher_state,
        pid: publisher.and_then(|p| p.pid),
        input_mode: publisher.map(|p| p.input_mode),
        restarts: health.publisher.publisher_restart_count,
        last_error: health.publisher.publisher_last_error.clone(),
        frames_written: publisher.map_or(0, |p| p.frames_written),
        frames_dropped: publisher.map_or(0, |p| p.frames_dropped),
        frames_encoded: publisher.map_or(0, |p| p.frames_encoded),
        showing: publisher.map(|p| p.showing),
        log_path: publisher.map(|p| p.log_path.clone()),
        stderr_tail: publisher.map(|p| p.stderr_tail.clone()),
        selection,
        health,
    }
}

/// The pipeline link of a transmission: the one whose writer is active, then selected, else
/// the first.
fn pipeline_for<'a>(
    pipelines: &'a [PipelineRuntime],
    transmission: &Transmission,
    running: Option<&TransmissionHealth>,
) -> Option<&'a PipelineRuntime> {
    let links: Vec<&PipelineRuntime> = pipelines
        .iter()
        .filter(|p| p.plan.transmission_id.as_deref() == Some(transmission.id.as_str()))
        .collect();
    let writer = |id: Option<&String>| {
        id.and_then(|id| {
            links
                .iter()
                .find(|p| p.plan.writer_id.as_ref() == Some(id))
                .copied()
        })
    };
    writer(running.and_then(|r| r.active_writer_id.as_ref()))
        .or_else(|| writer(running.and_then(|r| r.selected_writer_id.as_ref())))
        .or_else(|| links.first().copied())
}

struct TransmissionContext<'a> {
    transmission: &'a Transmission,
    running: Option<&'a TransmissionHealth>,
    outputs: &'a [OutputRuntime],
    views: &'a [OutputDemandView],
    pipeline: Option<&'a PipelineRuntime>,
    /// The transmission's retained playback events, oldest first.
    events: Vec<Record>,
    stale_after: f64,
    placeholder_after: f64,
}

/// Events that are evidence (the last `RECENT_SECONDS`), for one output or (`None`) all.
fn recent<'e>(events: &'e [Record], output_id: Option<&str>, now: f64) -> Vec<&'e Record> {
    events
        .iter()
        .filter(|e| e.at_unix >= now - RECENT_SECONDS || e.received_at_unix >= now - RECENT_SECONDS)
        .filter(|e| match (output_id, e.output_id.as_deref()) {
            (Some(wanted), Some(of)) => wanted == of,
            _ => true,
        })
        .collect()
}

/// A diagnosis with what players said: active sessions and the newest event.
fn with_playback(mut diagnosis: Diagnosis, events: &[&Record], now: f64) -> Diagnosis {
    diagnosis.active_playback_session_count = active_sessions(events, now).len();
    diagnosis.last_playback_event_at_unix = events.iter().map(|e| e.at_unix).reduce(f64::max);
    diagnosis
}

impl TransmissionContext<'_> {
    fn health(&self, rates: &FrameRates, now: f64) -> TransmissionRuntimeHealth {
        let transmission = self.transmission;
        let mut selection = self.selection();
        let mut selection_status = selection_status(transmission.enabled, &selection);
        let event_gated = self.pipeline.is_some_and(|p| p.plan.event_gated);
        let demand_driven = self.pipeline.is_some_and(|p| p.plan.demand_driven);
        let demanded = self
            .views
            .iter()
            .any(|v| v.transmission_id == transmission.id && v.demanded);
        let quiet = matches!(selection_status, Status::Offline | Status::Stale);
        let demand_idle = demand_driven && !demanded && quiet;
        if demand_idle {
            selection_status = Status::Offline;
            selection.stale = false;
            selection.placeholder_active = false;
        }
        let behaviour = Behaviour {
            stream_behavior: if event_gated {
                "event_gated"
            } else {
                "continuous"
            },
            event_gated,
            event_gated_idle: event_gated && !demand_idle && quiet,
            event_gate_reasons: self
                .pipeline
                .map(|p| p.plan.event_gate_reasons.clone())
                .unwrap_or_default(),
            demand_driven,
            demand_idle,
        };
        let mut outputs = self.outputs_health(&selection, selection_status, &behaviour, rates, now);
        outputs.sort_by(|a, b| a.output_key.cmp(&b.output_key));
        let status = transmission_status(selection_status, &outputs);
        let fresh = fresh(
            status,
            &selection,
            outputs.iter().any(|o| o.publisher.publisher_running),
        );
        let events = recent(&self.events, None, now);
        let findings = open_findings(&events);
        let (base, mut evidence) = classify(&Signals {
            behaviour: &behaviour,
            findings: &findings,
            status,
            selection: &selection,
            publisher: None,
        });
        let classification = outputs
            .iter()
            .map(|o| o.diagnosis.classification)
            .chain([base])
            .min()
            .unwrap_or(base);
        for output in &outputs {
            for line in &output.diagnosis.evidence {
                if !evidence.contains(line) {
                    evidence.push(line.clone());
                }
            }
        }
        let publisher_down_with_demand = outputs.iter().any(|o| {
            o.diagnosis.classification == Classification::PublisherDown && o.demand_signal
        });
        let summary = summarize(&SummaryInputs {
            classification,
            status,
            enabled: transmission.enabled,
            selection: &selection,
            behaviour: &behaviour,
            fresh,
            publisher_down_with_demand,
        });
        TransmissionRuntimeHealth {
            transmission_id: transmission.id.clone(),
            enabled: transmission.enabled,
            status,
            selection,
            behaviour,
            diagnosis: with_playback(
                Diagnosis::new(classification, evidence, summary),
                &events,
                now,
            ),
            outputs,
            arbitration: self.running.map(|r| r.arbitration),
            frames_ingested: self.running.map_or(0, |r| r.frames_ingested),
            writers: self.running.map(|r| r.writers.clone()).unwrap_or_default(),
        }
    }

    fn selection(&self) -> Selection {
        let Some(running) = self.running else {
            return Selection {
                active_writer_id: None,
                selected_writer_id: None,
                selected_frame_age_seconds: None,
                last_incoming_frame_age_seconds: None,
                last_live_frame_at_unix: None,
                fallback_active: true,
                fallback_reason: Some("no_frame"),
                stale: true,
                placeholder_active: false,
            };
        };
        let age = running.selected_frame_age_seconds;
        Selection {
            active_writer_id: running.active_writer_id.clone(),
            selected_writer_id: running.selected_writer_id.clone(),
            selected_frame_age_seconds: age,
            last_incoming_frame_age_seconds: running.last_incoming_frame_age_seconds,
            last_live_frame_at_unix: running.last_live_frame_at_unix,
            fallback_active: running.fallback_active,
            fallback_reason: running.fallback_reason,
            stale: age.is_none_or(|age| age >= self.stale_after),
            placeholder_active: age.is_some_and(|age| age >= self.placeholder_after),
        }
    }

    fn outputs_health(
        &self,
        selection: &Selection,
        selection_status: Status,
        behaviour: &Behaviour,
        rates: &FrameRates,
        now: f64,
    ) -> Vec<OutputHealth> {
        let transmission = self.transmission;
        let enabled: Vec<_> = transmission.enabled_outputs().collect();
        // How an output stands: its status, then what is wrong with it and what to do.
        let diagnose = |output_id: &str, publisher: &PublisherFields, demand_signal: bool| {
            let status = output_status_of(selection_status, publisher, selection);
            let events = recent(&self.events, Some(output_id), now);
            let findings = open_findings(&events);
            let (classification, evidence) = classify(&Signals {
                behaviour,
                findings: &findings,
                status,
                selection,
                publisher: Some((publisher, demand_signal)),
            });
            let summary = summarize(&SummaryInputs {
                classification,
                status,
                enabled: transmission.enabled,
                selection,
                behaviour,
                fresh: fresh(status, selection, publisher.publisher_running),
                publisher_down_with_demand: classification == Classification::PublisherDown
                    && demand_signal,
            });
            let diagnosis = Diagnosis::new(classification, evidence, summary);
            (status, with_playback(diagnosis, &events, now))
        };
        if enabled.is_empty() {
            // The original's synthetic output for a transmission without outputs.
            let publisher = publisher_fields(None, None, None);
            let (status, diagnosis) = diagnose("default", &publisher, false);
            return vec![OutputHealth {
                output_key: output_key(&transmission.id, "default"),
                output_id: "default".into(),
                transmission_id: transmission.id.clone(),
                protocol: Protocol::Rtsp,
                resolved_engine_path: transmission.path.clone(),
                quality_profile_id: None,
                width: None,
                height: None,
                fps_limit: None,
                bitrate_kbps: None,
                viewer_count: 0,
                demand_signal: false,
                publisher,
                status,
                behaviour: behaviour.clone(),
                diagnosis,
                runtime: OutputDetail::default(),
            }];
        }
        enabled
            .into_iter()
            .map(|output| {
                let key = output_key(&transmission.id, &output.id);
                let view = self.views.iter().find(|v| v.output_key == key);
                let runtime = self.outputs.iter().find(|r| r.output_key == key);
                let mut publisher = publisher_fields(
                    runtime,
                    runtime.and_then(|r| r.publisher.as_ref()),
                    Some(output.encoder_mode.as_str()),
                );
                publisher.publisher_frames_sent_rate =
                    rates.sample(&key, now, publisher.publisher_frames_sent);
                let demand_signal = view.is_some_and(|v| v.demanded);
                let (status, diagnosis) = diagnose(&output.id, &publisher, demand_signal);
                OutputHealth {
                    output_key: key.clone(),
                    output_id: output.id.clone(),
                    transmission_id: transmission.id.clone(),
                    protocol: output.protocol,
                    resolved_engine_path: transmission.engine_path(output),
                    quality_profile_id: output.quality_profile_id,
                    width: output.resolution.as_ref().map(|r| r.width),
                    height: output.resolution.as_ref().map(|r| r.height),
                    fps_limit: output.fps_limit,
                    bitrate_kbps: output.bitrate_kbps,
                    viewer_count: view.map_or(0, |v| v.viewer_count),
                    demand_signal,
                    publisher,
                    status,
                    behaviour: behaviour.clone(),
                    diagnosis,
                    runtime: OutputDetail {
                        view: view.cloned(),
                        target: runtime.map(|r| r.target.clone()),
                        publisher_state: runtime.map_or("stopped", |r| r.publisher_state),
                        publisher: runtime.and_then(|r| r.publisher.clone()),
                    },
                }
            })
            .collect()
    }
}

fn publisher_fields(
    runtime: Option<&OutputRuntime>,
    publisher: Option<&PublisherStatus>,
    encoder_mode: Option<&'static str>,
) -> PublisherFields {
    // A relayed output has no publisher: the engine pulls the camera while it has readers.
    let relayed = runtime.is_some_and(|r| r.publisher_state == RELAYED && r.encoding_wanted);
    let running = relayed || publisher.is_some_and(|p| p.pid.is_some());
    PublisherFields {
        publisher_running: running,
        publisher_pid: publisher.and_then(|p| p.pid),
        publisher_frames_sent: publisher.map_or(0, |p| p.frames_written),
        publisher_last_error: runtime.and_then(|r| r.last_error.clone()),
        publisher_active_codec: running.then_some(if relayed { "copy" } else { ENCODER }),
        publisher_hardware_accelerated: false,
        publisher_restart_count: runtime.map_or(0, |r| r.restarts),
        publisher_last_frame_at_unix: publisher.and_then(|p| p.last_frame_at_unix),
        publisher_encoder_mode: encoder_mode.unwrap_or("inherit"),
        publisher_encoder_state: None,
        publisher_encoder_reason: None,
        publisher_encoder_quarantined_until_unix: None,
        publisher_encoder_fallback_active: false,
        publisher_frames_sent_rate: None,
    }
}

/// Offline (disabled, nothing to show) / stale (old frame or placeholder) / degraded
/// (fallback) / live.
fn selection_status(enabled: bool, selection: &Selection) -> Status {
    if !enabled
        || selection.selected_writer_id.is_none()
        || selection.fallback_reason == Some("no_frame")
    {
        Status::Offline
    } else if selection.stale || selection.placeholder_active {
        Status::Stale
    } else if selection.fallback_active {
        Status::Degraded
    } else {
        Status::Live
    }
}

fn output_status_of(selection: Status, publisher: &PublisherFields, sel: &Selection) -> Status {
    match selection {
        Status::Offline | Status::Stale => selection,
        _ if !publisher.publisher_running => Status::Offline,
        _ if sel.fallback_active || publisher.publisher_last_error.is_some() => Status::Degraded,
        _ => Status::Live,
    }
}

fn transmission_status(selection: Status, outputs: &[OutputHealth]) -> Status {
    let any = |status: Status| outputs.iter().any(|o| o.status == status);
    match selection {
        Status::Offline | Status::Stale => selection,
        _ if outputs.is_empty() => Status::Degraded,
        _ if any(Status::Live) => {
            if selection == Status::Degraded {
                Status::Degraded
            } else {
                Status::Live
            }
        }
        _ if any(Status::Stale) => Status::Stale,
        _ if any(Status::Degraded) => Status::Degraded,
        _ => Status::Offline,
    }
}

/// Live or degraded, not stale, publisher running, and the newest known frame at most 10 s old.
fn fresh(status: Status, selection: &Selection, publisher_running: bool) -> bool {
    let youngest = [
        selection.selected_frame_age_seconds,
        selection.last_incoming_frame_age_seconds,
    ]
    .into_iter()
    .flatten()
    .reduce(f64::min);
    matches!(status, Status::Live | Status::Degraded)
        && !selection.stale
        && !selection.placeholder_active
        && publisher_running
        && youngest.is_none_or(|age| age <= FRESH_FRAME_SECONDS)
}

struct Signals<'a> {
    behaviour: &'a Behaviour,
    /// What players reported recently and have not recovered from.
    findings: &'a [Finding],
    status: Status,
    selection: &'a Selection,
    /// The output's publisher and whether the output is demanded; `None` for the transmission.
    publisher: Option<(&'a PublisherFields, bool)>,
}

/// The first class that matches, with the evidence for it. Classes fed by source health and
/// the network contract never match here: this service has no such evidence source yet, so it
/// never claims them.
fn classify(signals: &Signals) -> (Classification, Vec<String>) {
    let found = |wanted: fn(&Finding) -> bool| signals.findings.iter().find(|f| wanted(f));
    let evidence = |line: String| vec![line];
    if signals.behaviour.demand_idle {
        return (
            Classification::DemandIdle,
            evidence(
                "Stream is demand-driven and currently has no viewer or heartbeat demand.".into(),
            ),
        );
    }
    if signals.behaviour.event_gated_idle {
        return (
            Classification::EventGatedIdle,
            evidence("Stream is event-gated and currently has no event frames.".into()),
        );
    }
    if let Some(Finding::AuthOrUrl { auth }) = found(|f| matches!(f, Finding::AuthOrUrl { .. })) {
        let line = if *auth {
            "Recent playback event indicates auth failure."
        } else {
            "Recent playback event indicates URL/network playback failure."
        };
        return (Classification::AuthUrlError, evidence(line.into()));
    }
    if signals.status == Status::Stale {
        let age = signals
            .selection
            .selected_frame_age_seconds
            .map(|age| format!(" selected_frame_age_seconds={age:.1}"))
            .unwrap_or_default();
        return (
            Classification::SourcePipelineStale,
            evidence(format!("Selected frame is stale.{age}")),
        );
    }
    if let Some((publisher, demanded)) = signals.publisher {
        if !publisher.publisher_running || publisher.publisher_last_error.is_some() {
            if !demanded {
                return (
                    Classification::Unknown,
                    evidence(
                        "Output is idle because no viewer or heartbeat demand is active.".into(),
                    ),
                );
            }
            let line = match &publisher.publisher_last_error {
                Some(error) => format!("Publisher error: {error}"),
                None => "Publisher is not running.".into(),
            };
            return (Classification::PublisherDown, evidence(line));
        }
    }
    for (finding, class, line) in [
        (
            Finding::HlsTailUnavailable,
            Classification::HlsTailUnavailable,
            "Recent HLS liveness event reports tail segment unavailable.",
        ),
        (
            Finding::HlsPlaylistStale,
            Classification::HlsPlaylistStale,
            "Recent HLS liveness event reports playlist stopped advancing.",
        ),
        (
            Finding::WebrtcTransport,
            Classification::WebrtcTransportError,
            "Recent WebRTC event reports signaling or ICE transport failure.",
        ),
        (
            Finding::PlayerLifecycle,
            Classification::AppPlayerLifecycle,
            "Recent playback/player lifecycle event indicates stall or error.",
        ),
    ] {
        if signals.findings.contains(&finding) {
            return (class, evidence(line.into()));
        }
    }
    if signals.publisher.is_some() && signals.status == Status::Live {
        return (
            Classification::Healthy,
            evidence("Runtime health is live and no recent playback error was reported.".into()),
        );
    }
    (
        Classification::Unknown,
        evidence("Insufficient recent evidence to classify the stream.".into()),
    )
}

struct SummaryInputs<'a> {
    classification: Classification,
    status: Status,
    enabled: bool,
    selection: &'a Selection,
    behaviour: &'a Behaviour,
    fresh: bool,
    publisher_down_with_demand: bool,
}

/// The original's summary rules, in its order (the ones fed by sources this service does not
/// have — network contract, source health, playback events — cannot fire).
fn summarize(inputs: &SummaryInputs) -> Summary {
    use SummaryStatus::{ActionRequired, Warming, Working};
    let (status, message, action) = match inputs.classification {
        Classification::SourceStale | Classification::SourcePipelineStale if !inputs.fresh => (
            ActionRequired,
            "Action needed: no fresh frame is available for this stream.",
            Some("Check the camera source and stream pipeline."),
        ),
        Classification::PublisherDown if inputs.publisher_down_with_demand && !inputs.fresh => (
            ActionRequired,
            "Action needed: the stream publisher is down while playback is requested.",
            Some("Restart streaming or inspect the publisher logs."),
        ),
        Classification::PublisherDown if inputs.fresh => (Working, "Working.", None),
        Classification::AuthUrlError
        | Classification::WebrtcTransportError
        | Classification::AppPlayerLifecycle => {
            if inputs.fresh {
                (Working, "Working.", None)
            } else {
                (
                    ActionRequired,
                    "Action needed: playback failed and has not recovered.",
                    Some(
                        "Open the player again and review the playback diagnostics if it still fails.",
                    ),
                )
            }
        }
        _ if inputs.behaviour.demand_idle => (Warming, "Waiting for viewer demand.", None),
        _ if inputs.behaviour.event_gated_idle => (Warming, "Waiting for an event frame.", None),
        Classification::HlsTailUnavailable | Classification::HlsPlaylistStale => {
            (Warming, "Warming up playback, wait a few seconds.", None)
        }
        _ if inputs.selection.fallback_active && inputs.fresh => {
            (Warming, "Recovering with a fallback frame.", None)
        }
        _ if inputs.status == Status::Stale => (
            ActionRequired,
            "Action needed: the selected stream frame is stale.",
            Some("Check the camera source and stream pipeline."),
        ),
        _ if inputs.status == Status::Offline && !inputs.enabled => {
            (Warming, "Stream is disabled.", None)
        }
        _ if inputs.status == Status::Offline => (Warming, "Waiting for the first frame.", None),
        _ if inputs.fresh => (Working, "Working.", None),
        _ => (Warming, "Starting stream runtime.", None),
    };
    Summary {
        summary_status: status,
        summary_message: message,
        summary_action: action,
        technical_status: inputs.classification,
    }
}

/// `GET /runtime/encoders`: the encoder this service runs and each output's publisher. Only
/// libx264 is used (hardware encoders are never probed), so nothing is ever quarantined and
/// `states` stays empty; the policy is reported as configured.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EncodersReport {
    pub updated_at_unix: f64,
    pub host_id: String,
    pub ffmpeg_path: Option<String>,
    pub ffmpeg_source: &'static str,
    pub supported_encoders: Vec<&'static str>,
    pub policy: crate::model::settings::EncoderPolicy,
    pub states: Vec<serde_json::Value>,
    pub outputs: Vec<EncoderOutput>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EncoderOutput {
    pub output_key: String,
    pub output_id: String,
    pub transmission_id: String,
    pub engine_path: String,
    pub running: bool,
    pub active_codec: Option<&'static str>,
    pub hardware_accelerated: bool,
    pub encoder_mode: &'static str,
    pub encoder_state: Option<&'static str>,
    pub encoder_reason: Option<&'static str>,
    pub encoder_quarantined_until_unix: Option<f64>,
    pub encoder_fallback_active: bool,
    pub restart_count: u32,
    pub restart_window_count: u32,
    pub frames_sent: u64,
    pub last_frame_at_unix: Option<f64>,
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>)]
    pub log_path: Option<std::path::PathBuf>,
    pub stderr_tail: Vec<String>,
}

/// `POST /runtime/encoders/quarantine/clear`: nothing is ever quarantined here.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuarantineCleared {
    pub cleared: usize,
    pub encoders: Vec<String>,
}

/// Builds the encoders report from the same facts as the health.
pub fn encoders(health: &RuntimeHealth, settings: &StreamingSettings) -> EncodersReport {
    let (ffmpeg_path, ffmpeg_source) = crate::ffmpeg::ffmpeg_resolved();
    let mut outputs: Vec<EncoderOutput> = health
        .transmissions
        .iter()
        .flat_map(|t| &t.outputs)
        .filter(|output| output.runtime.view.is_some())
        .map(|output| {
            let publisher = &output.publisher;
            let detail = output.runtime.publisher.as_ref();
            EncoderOutput {
                output_key: output.output_key.clone(),
                output_id: output.output_id.clone(),
                transmission_id: output.transmission_id.clone(),
                engine_path: output.resolved_engine_path.clone(),
                running: publisher.publisher_running,
                active_codec: publisher.publisher_active_codec,
                hardware_accelerated: false,
                encoder_mode: publisher.publisher_encoder_mode,
                encoder_state: None,
                encoder_reason: None,
                encoder_quarantined_until_unix: None,
                encoder_fallback_active: false,
                restart_count: publisher.publisher_restart_count,
                restart_window_count: 0,
                frames_sent: publisher.publisher_frames_sent,
                last_frame_at_unix: publisher.publisher_last_frame_at_unix,
                last_error: publisher.publisher_last_error.clone(),
                log_path: detail.map(|p| p.log_path.clone()),
                stderr_tail: detail
                    .map(|p| {
                        let skip = p.stderr_tail.len().saturating_sub(20);
                        p.stderr_tail[skip..].to_vec()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    outputs.sort_by(|a, b| a.output_key.cmp(&b.output_key));
    EncodersReport {
        updated_at_unix: health.updated_at_unix,
        host_id: host_id(),
        ffmpeg_path,
        ffmpeg_source,
        supported_encoders: vec![ENCODER],
        policy: settings.engine.encoder_policy.clone(),
        states: Vec::new(),
        outputs,
    }
}

/// This machine's name, as the original's encoder store keys its records.
fn host_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| crate::distributed::LOCAL_SERVER_ID.into())
}

/// The body of `POST /runtime/encoders/quarantine/clear` (`encoder` null: all).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearQuarantine {
    #[serde(default)]
    pub encoder: Option<String>,
}

impl ClearQuarantine {
    pub fn parse(body: Option<serde_json::Value>) -> Result<Self, crate::model::error::ModelError> {
        use crate::model::error::{Loc, ModelError, from_value};
        let Some(body) = body else {
            return Ok(Self::default());
        };
        let request: ClearQuarantine = from_value(body, &Loc::body())?;
        if request
            .encoder
            .as_ref()
            .is_some_and(|e| e.chars().count() > 120)
        {
            return Err(ModelError::invalid(
                &Loc::body().key("encoder"),
                "String should have at most 120 characters",
            ));
        }
        Ok(request)
    }
}

/// The transmission-level `health` of a Playback Plan entry (§4.5): its status and selection.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanHealth {
    pub status: Status,
    #[serde(flatten)]
    pub selection: Selection,
}

/// What a plan entry adds for its output.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanOutputHealth {
    pub transport_health: Status,
    pub viewer_count: usize,
    pub publisher_running: bool,
    pub publisher_frames_sent: u64,
    pub publisher_last_error: Option<String>,
}

/// Runtime health as a plan shows it; empty when the health is not known.
#[derive(Debug, Clone, Default)]
pub struct PlanHealthSource {
    pub transmission: Option<PlanHealth>,
    pub outputs: BTreeMap<String, PlanOutputHealth>,
}

impl PlanHealthSource {
    pub fn of(health: &TransmissionRuntimeHealth) -> PlanHealthSource {
        PlanHealthSource {
            transmission: Some(PlanHealth {
                status: health.status,
                selection: health.selection.clone(),
            }),
            outputs: health
                .outputs
                .iter()
                .map(|output| {
                    (
                        output.output_id.clone(),
                        PlanOutputHealth {
                            transport_health: output.status,
                            viewer_count: output.viewer_count,
                            publisher_running: output.publisher.publisher_running,
                            publisher_frames_sent: output.publisher.publisher_frames_sent,
                            publisher_last_error: output.publisher.publisher_last_error.clone(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// The `health` object of the entry playing `output_id`.
    pub fn entry(&self, output_id: Option<&str>) -> serde_json::Value {
        let Some(transmission) = &self.transmission else {
            return serde_json::json!({});
        };
        let mut health = serde_json::to_value(transmission).unwrap_or_default();
        if let (Some(fields), Some(output)) = (
            health.as_object_mut(),
            output_id.and_then(|id| self.outputs.get(id)),
        ) {
            if let Ok(serde_json::Value::Object(extra)) = serde_json::to_value(output) {
                fields.extend(extra);
            }
        }
        health
    }
}
