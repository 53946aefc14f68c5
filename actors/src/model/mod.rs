//! Serde types of the settings document and API payloads, with their validation.

pub mod camera;
pub mod edit;
pub mod error;
pub mod live_views;
pub mod pipeline;
pub mod publication;
pub mod registry;
pub mod settings;
pub mod transmission;
