//! One enabled transmission: its writers' latest frames and arbitration between them.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::arbitration::{Arbiter, ArbitrationConfig, Frame, Lifecycle};
use crate::model::transmission::Transmission;
use crate::supervision::observe::Observation;

/// The frame outputs should show now, shared (never copied).
#[derive(Debug, Clone)]
pub struct SelectedFrame {
    pub writer_id: String,
    pub frame: Frame,
}

pub enum TransmissionMsg {
    /// The stored configuration changed (the supervisor only sends real changes).
    Update(Arc<Transmission>),
    /// A writer's open/update, with a new frame or keeping its last one.
    WriterUpdate {
        writer_id: String,
        lifecycle: Lifecycle,
        priority: i64,
        frame: Option<Frame>,
        reply: RpcReplyPort<()>,
    },
    WriterClose {
        writer_id: String,
        reply: RpcReplyPort<()>,
    },
    Health(RpcReplyPort<TransmissionHealth>),
    Observe(RpcReplyPort<Observation>),
}

impl From<RpcReplyPort<Observation>> for TransmissionMsg {
    fn from(reply: RpcReplyPort<Observation>) -> Self {
        TransmissionMsg::Observe(reply)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WriterHealth {
    pub writer_id: String,
    pub lifecycle: Lifecycle,
    pub priority: i64,
    pub has_frame: bool,
    pub frame_age_seconds: Option<f64>,
    pub updated_age_seconds: f64,
}

/// What `GET /runtime/health` shows for a transmission.
#[derive(Debug, Clone, Serialize)]
pub struct TransmissionHealth {
    pub transmission_id: String,
    pub arbitration: crate::model::transmission::Arbitration,
    /// The writer arbitration selects now (live), if any.
    pub active_writer_id: Option<String>,
    /// The writer whose frame is shown: the active one, or the last one shown when none is.
    pub selected_writer_id: Option<String>,
    /// `no_active_writer` (showing the last frame), `no_frame` (nothing to show), or null.
    pub fallback_reason: Option<&'static str>,
    pub selected_frame_age_seconds: Option<f64>,
    pub writers: Vec<WriterHealth>,
}

pub struct TransmissionActor;

pub struct TransmissionState {
    config: Arc<Transmission>,
    arbiter: Arbiter,
    /// Last frame shown and when it arrived, kept when its writer stops being eligible.
    last_shown: Option<(SelectedFrame, Instant)>,
}

impl TransmissionState {
    /// Re-arbitrates and remembers what is shown, so it can still be shown when no writer is
    /// eligible any more.
    fn refresh(&mut self, now: Instant) {
        self.arbiter.select(now);
        if let Some((id, frame)) = self.arbiter.selected_frame() {
            let frame_at = self.arbiter.writers()[id].frame_at.unwrap_or(now);
            let shown = SelectedFrame {
                writer_id: id.to_string(),
                frame: frame.clone(),
            };
            self.last_shown = Some((shown, frame_at));
        }
    }

    fn health(&mut self, now: Instant) -> TransmissionHealth {
        self.arbiter.evict(now);
        self.refresh(now);
        let active = self.arbiter.selected_frame().map(|(id, _)| id.to_string());
        let age = |at: Instant| now.saturating_duration_since(at).as_secs_f64();
        let (selected, fallback, frame_age) = match (&active, &self.last_shown) {
            (Some(id), Some((_, at))) => (Some(id.clone()), None, Some(age(*at))),
            (None, Some((shown, at))) => (
                Some(shown.writer_id.clone()),
                Some("no_active_writer"),
                Some(age(*at)),
            ),
            _ => (None, Some("no_frame"), None),
        };
        TransmissionHealth {
            transmission_id: self.config.id.clone(),
            arbitration: self.arbiter.mode,
            active_writer_id: active,
            selected_writer_id: selected,
            fallback_reason: fallback,
            selected_frame_age_seconds: frame_age,
            writers: self
                .arbiter
                .writers()
                .iter()
                .map(|(id, record)| WriterHealth {
                    writer_id: id.clone(),
                    lifecycle: record.lifecycle,
                    priority: record.priority,
                    has_frame: record.frame.is_some(),
                    frame_age_seconds: record.frame_at.map(age),
                    updated_age_seconds: age(record.updated_at),
                })
                .collect(),
        }
    }
}

impl Actor for TransmissionActor {
    type Msg = TransmissionMsg;
    type State = TransmissionState;
    type Arguments = Arc<Transmission>;

    async fn pre_start(
        &self,
        _myself: ActorRef<TransmissionMsg>,
        config: Arc<Transmission>,
    ) -> Result<TransmissionState, ActorProcessingErr> {
        Ok(TransmissionState {
            arbiter: Arbiter::new(config.arbitration, ArbitrationConfig::default()),
            config,
            last_shown: None,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<TransmissionMsg>,
        msg: TransmissionMsg,
        state: &mut TransmissionState,
    ) -> Result<(), ActorProcessingErr> {
        let now = Instant::now();
        match msg {
            TransmissionMsg::Update(config) => {
                state.arbiter.mode = config.arbitration;
                state.config = config;
                state.refresh(now);
            }
            TransmissionMsg::WriterUpdate {
                writer_id,
                lifecycle,
                priority,
                frame,
                reply,
            } => {
                let evicted = state
                    .arbiter
                    .update(now, &writer_id, lifecycle, priority, frame);
                if !evicted.excess.is_empty() {
                    tracing::warn!(
                        transmission = %state.config.id,
                        evicted = ?evicted.excess,
                        "more writers than allowed; evicted the least recently updated"
                    );
                }
                state.refresh(now);
                let _ = reply.send(());
            }
            TransmissionMsg::WriterClose { writer_id, reply } => {
                state.arbiter.close(now, &writer_id);
                state.refresh(now);
                let _ = reply.send(());
            }
            TransmissionMsg::Health(reply) => {
                let _ = reply.send(state.health(now));
            }
            TransmissionMsg::Observe(reply) => {
                let _ = reply.send(Observation {
                    pid: None,
                    state: observed_state(state),
                    children: Vec::new(),
                });
            }
        }
        Ok(())
    }
}

fn observed_state(state: &TransmissionState) -> Value {
    let config = &state.config;
    let outputs: Vec<Value> = config
        .enabled_outputs()
        .map(|output| {
            json!({
                "output_id": output.id,
                "protocol": output.protocol,
                "engine_path": config.engine_path(output),
            })
        })
        .collect();
    let writers: Vec<Value> = state
        .arbiter
        .writers()
        .iter()
        .map(|(id, record)| json!({"writer_id": id, "lifecycle": record.lifecycle, "priority": record.priority}))
        .collect();
    json!({
        "transmission_id": config.id,
        "name": config.name,
        "path": config.path,
        "arbitration": config.arbitration,
        "outputs": outputs,
        "writers": writers,
    })
}
