//! Demand: which outputs should be encoding now, and why.

pub mod actor;
pub mod book;
pub mod first_frame;

pub use actor::{DEMAND, DemandActor, DemandArgs, DemandMsg, demand, demand_subscriber};
pub use book::{
    DemandAnswer, DemandBook, DemandReason, HeartbeatClient, OutputDemandView, OutputFilter,
    Primed, Renewed,
};

/// Keeps one output demanded for `ttl`, best effort (a player about to read it); answers how many
/// outputs matched, or `None` when the demand actor did not answer.
pub async fn prime_output(
    transmission_id: &str,
    output_id: &str,
    ttl: std::time::Duration,
) -> Option<usize> {
    let demand = demand()?;
    crate::supervision::ask(
        &demand,
        |reply| DemandMsg::Prime {
            transmission_id: transmission_id.to_string(),
            filter: OutputFilter {
                output_id: Some(output_id.to_string()),
                quality_profile_id: None,
            },
            ttl,
            reply,
        },
        std::time::Duration::from_secs(2),
    )
    .await
    .ok()
}
