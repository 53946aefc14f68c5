//! Transmissions at runtime: one actor per enabled transmission, under a dynamic supervisor that
//! keeps the set equal to what the store holds.

pub mod actor;
pub mod arbitration;
pub mod supervisor;

pub use actor::{TransmissionActor, TransmissionMsg};
pub use supervisor::{
    TRANSMISSIONS, TransmissionsMsg, TransmissionsSupervisor, lookup, transmissions,
};
