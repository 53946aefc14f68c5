//! One enabled transmission: its writers' latest frames, arbitration between them, and the
//! selected frame on a latest-wins channel for whoever shows it (publishers, stills, JSMpeg).

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
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
    /// The selected frame, latest wins: a slow reader skips frames, it never queues them.
    SubscribeSelected(RpcReplyPort<watch::Receiver<Option<SelectedFrame>>>),
    Observe(RpcReplyPort<Observation>),
}

crate::observe_requests!(TransmissionMsg);

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
    /// The live selection (`None` while no writer is eligible).
    selected: watch::Sender<Option<SelectedFrame>>,
}

impl TransmissionState {
    /// Re-arbitrates and remembers what is shown, so it can still be shown when no writer is
    /// eligible any more.
    fn refresh(&mut self, now: Instant) {
        self.arbiter.select(now);
        let current = self
            .arbiter
            .selected_frame()
            .map(|(id, frame)| SelectedFrame {
                writer_id: id.to_string(),
                frame: frame.clone(),
            });
        if let Some(shown) = &current {
            let frame_at = self.arbiter.writers()[&shown.writer_id]
                .frame_at
                .unwrap_or(now);
            self.last_shown = Some((shown.clone(), frame_at));
        }
        // Wake readers only for a different writer or a new frame (same bytes = same frame).
        self.selected.send_if_modified(|published| {
            let changed = match (published.as_ref(), current.as_ref()) {
                (Some(old), Some(new)) => {
                    old.writer_id != new.writer_id
                        || old.frame.data.as_ptr() != new.frame.data.as_ptr()
                }
                (None, None) => false,
                _ => true,
            };
            if changed {
                *published = current;
            }
            changed
        });
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
            selected: watch::channel(None).0,
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
            TransmissionMsg::SubscribeSelected(reply) => {
                let _ = reply.send(state.selected.subscribe());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervision::ask;
    use bytes::Bytes;
    use std::time::Duration;

    const DEADLINE: Duration = Duration::from_secs(5);

    fn frame(fill: u8) -> Frame {
        Frame::bgr24(Bytes::from(vec![fill; 320 * 240 * 3]), 320, 240).unwrap()
    }

    async fn push(actor: &ActorRef<TransmissionMsg>, writer: &str, frame: Frame) {
        ask(
            actor,
            |reply| TransmissionMsg::WriterUpdate {
                writer_id: writer.into(),
                lifecycle: Lifecycle::Update,
                priority: 0,
                frame: Some(frame),
                reply,
            },
            DEADLINE,
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_slow_reader_sees_only_the_latest_frame_and_nothing_is_queued() {
        let config: Transmission =
            serde_json::from_value(json!({"id": "t", "path": "t", "arbitration": "latest"}))
                .unwrap();
        let (actor, _) = Actor::spawn(None, TransmissionActor, Arc::new(config))
            .await
            .unwrap();
        let mut selected = ask(&actor, TransmissionMsg::SubscribeSelected, DEADLINE)
            .await
            .unwrap();
        assert!(selected.borrow().is_none());

        // 200 frames while the reader looks away: it is woken once and sees the last one.
        let frames: Vec<Frame> = (0..200).map(|n| frame(n as u8)).collect();
        for f in &frames {
            push(&actor, "w", f.clone()).await;
        }
        assert!(selected.has_changed().unwrap());
        let seen = selected.borrow_and_update().clone().expect("a selection");
        assert_eq!(seen.writer_id, "w");
        assert_eq!(
            seen.frame.data.as_ptr(),
            frames[199].data.as_ptr(),
            "the latest frame, not a copy"
        );
        assert!(!selected.has_changed().unwrap(), "one value, not a queue");

        // Closing the only writer withdraws the selection.
        ask(
            &actor,
            |reply| TransmissionMsg::WriterClose {
                writer_id: "w".into(),
                reply,
            },
            DEADLINE,
        )
        .await
        .unwrap();
        assert!(selected.has_changed().unwrap());
        assert!(selected.borrow_and_update().is_none());
        actor.stop(None);
    }
}
