//! `GET /runtime/observability` (original-api.md §6.5): one item per output — its
//! classification and evidence, the playback sessions and events players reported, the
//! publisher's frame rate, and what the engine says about its path — so why a stream does not
//! play is in one place.

use serde::Serialize;

use crate::engine::signals::{HlsMuxer, PathState};
use crate::health::{Diagnosis, OutputHealth, RuntimeHealth};
use crate::network_contract::NetworkContract;
use crate::pipelines::links::PipelineLink;
use crate::playback_events::{
    ActiveSession, MAX_EVENTS, RETENTION_SECONDS, Record, active_sessions,
};
use crate::urls::PublicOrigin;

/// Events shown per item.
const RECENT_EVENTS: usize = 20;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Observability {
    pub updated_at_unix: f64,
    pub retention_seconds: f64,
    pub retained_event_count: usize,
    /// The engine's paths while it runs and answers, else null.
    pub mediamtx: Option<EnginePaths>,
    pub items: Vec<Item>,
    #[serde(flatten)]
    pub origin: PublicOrigin,
    pub hls_proxy_reachable: bool,
    pub hls_playlist_rewrite_ok: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EnginePaths {
    pub paths: Vec<PathState>,
    /// Empty when the engine did not list them.
    pub hls_muxers: Vec<HlsMuxer>,
}

/// What the engine answered: its paths and HLS muxers.
#[derive(Debug, Clone, Default)]
pub struct EngineFacts {
    pub paths: Option<Vec<PathState>>,
    pub hls_muxers: Vec<HlsMuxer>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Item {
    pub transmission_id: String,
    pub output_key: String,
    pub output_id: String,
    #[serde(flatten)]
    pub diagnosis: Diagnosis,
    pub active_playback_sessions: Vec<ActiveSession>,
    pub publisher_frames_sent_rate: Option<f64>,
    pub health: OutputHealth,
    /// The first pipeline link feeding the transmission (as `/runtime/pipelines` shows it).
    pub pipeline: Option<PipelineLink>,
    pub mediamtx: ItemEngine,
    /// The request's contract, the same for every item (never null here).
    pub network_contract: Option<NetworkContract>,
    pub recent_events: Vec<Record>,
    /// The transport the player said it plays, from its newest event that names one.
    pub transport_selected: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemEngine {
    /// The engine's view of the output's path, or just its name when the engine does not know it.
    pub path: ItemPath,
    /// The engine's HLS muxer of the path while one runs.
    pub hls_muxer: Option<HlsMuxer>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ItemPath {
    Known(PathState),
    Named { name: String },
}

/// Builds the answer from one health reading, the retained events, the pipeline links and the
/// engine's paths.
pub fn build(
    health: RuntimeHealth,
    events: &[Record],
    links: &[PipelineLink],
    engine: EngineFacts,
    contract: &NetworkContract,
    now: f64,
) -> Observability {
    let EngineFacts { paths, hls_muxers } = engine;
    let mut items = Vec::new();
    for transmission in &health.transmissions {
        let of_transmission: Vec<&Record> = events
            .iter()
            .filter(|e| e.transmission_id == transmission.transmission_id)
            .collect();
        for output in &transmission.outputs {
            let of_output: Vec<&Record> = of_transmission
                .iter()
                .filter(|e| e.output_id.as_deref().is_none_or(|o| o == output.output_id))
                .copied()
                .collect();
            let path = paths
                .as_ref()
                .and_then(|paths| paths.iter().find(|p| p.name == output.resolved_engine_path))
                .cloned()
                .map_or_else(
                    || ItemPath::Named {
                        name: output.resolved_engine_path.clone(),
                    },
                    ItemPath::Known,
                );
            let transport_selected = of_output.iter().rev().find_map(|e| {
                [
                    "effective_transport",
                    "playback_transport",
                    "transport_preference",
                ]
                .iter()
                .find_map(|key| e.data.get(*key)?.as_str().map(str::to_string))
            });
            let recent_events = of_output
                .iter()
                .skip(of_output.len().saturating_sub(RECENT_EVENTS))
                .map(|e| (*e).clone())
                .collect();
            items.push(Item {
                transmission_id: transmission.transmission_id.clone(),
                output_key: output.output_key.clone(),
                output_id: output.output_id.clone(),
                diagnosis: output.diagnosis.clone(),
                active_playback_sessions: active_sessions(&of_output, now),
                publisher_frames_sent_rate: output.publisher.publisher_frames_sent_rate,
                health: output.clone(),
                pipeline: links
                    .iter()
                    .find(|link| link.transmission_id == transmission.transmission_id)
                    .cloned(),
                mediamtx: ItemEngine {
                    path,
                    hls_muxer: hls_muxers
                        .iter()
                        .find(|m| m.path == output.resolved_engine_path)
                        .cloned(),
                },
                network_contract: Some(contract.clone()),
                recent_events,
                transport_selected,
            });
        }
    }
    items.sort_by(|a, b| {
        (&a.transmission_id, &a.output_id).cmp(&(&b.transmission_id, &b.output_id))
    });
    Observability {
        updated_at_unix: now,
        retention_seconds: RETENTION_SECONDS,
        retained_event_count: events.len().min(MAX_EVENTS),
        mediamtx: paths.map(|paths| EnginePaths { paths, hls_muxers }),
        items,
        origin: health.origin,
        hls_proxy_reachable: health.hls_proxy_reachable,
        hls_playlist_rewrite_ok: health.hls_playlist_rewrite_ok,
    }
}
