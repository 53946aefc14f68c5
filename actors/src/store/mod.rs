//! The settings store: the single owner of the settings document and its file.

pub mod actor;
pub mod persist;

pub use actor::{
    ActorSubscriber, Revision, STORE, SettingsSubscriber, StoreActor, StoreError, StoreMsg,
    StoreStatus, mutate, read, status,
};
