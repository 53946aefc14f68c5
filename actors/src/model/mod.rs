//! Serde types of the settings document and API payloads, with their validation.

pub mod edit;
pub mod error;
pub mod settings;
pub mod transmission;
