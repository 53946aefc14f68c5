//! The go2rtc sidecar for MSE playback in browsers.

pub mod actor;
pub mod config;
pub mod session;
pub mod summary;

pub use actor::{SIDECAR, SidecarActor, SidecarMsg, sidecar, sidecar_subscriber};
