//! The settings store: the single owner of the settings document and its file.

pub mod actor;
pub mod persist;

pub use actor::{
    APPLY_BUDGET, ActorSubscriber, Revision, STORE, SettingsSubscriber, StoreActor, StoreError,
    StoreMsg, StoreStatus, WRITE_DEADLINE, acknowledge_recovery, mutate, read, status,
};
