//! One enabled transmission. It will own writers' latest frames, arbitration and the output
//! publishers; for now it holds its configuration and reports it.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::{Value, json};

use crate::model::transmission::Transmission;
use crate::supervision::observe::Observation;

pub enum TransmissionMsg {
    /// The stored configuration changed (the supervisor only sends real changes).
    Update(Arc<Transmission>),
    Observe(RpcReplyPort<Observation>),
}

impl From<RpcReplyPort<Observation>> for TransmissionMsg {
    fn from(reply: RpcReplyPort<Observation>) -> Self {
        TransmissionMsg::Observe(reply)
    }
}

pub struct TransmissionActor;

pub struct TransmissionState {
    config: Arc<Transmission>,
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
        Ok(TransmissionState { config })
    }

    async fn handle(
        &self,
        _myself: ActorRef<TransmissionMsg>,
        msg: TransmissionMsg,
        state: &mut TransmissionState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TransmissionMsg::Update(config) => state.config = config,
            TransmissionMsg::Observe(reply) => {
                let _ = reply.send(Observation {
                    pid: None,
                    state: observed_state(&state.config),
                    children: Vec::new(),
                });
            }
        }
        Ok(())
    }
}

fn observed_state(config: &Transmission) -> Value {
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
    json!({
        "transmission_id": config.id,
        "name": config.name,
        "path": config.path,
        "arbitration": config.arbitration,
        "outputs": outputs,
        "writers": [],
    })
}
