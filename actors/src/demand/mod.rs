//! Demand: which outputs should be encoding now, and why.

pub mod actor;
pub mod book;

pub use actor::{DEMAND, DemandActor, DemandArgs, DemandMsg, demand, demand_subscriber};
pub use book::{
    DemandAnswer, DemandBook, DemandReason, HeartbeatClient, OutputDemandView, OutputFilter,
    Primed, Renewed,
};
