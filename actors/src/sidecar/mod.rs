//! The go2rtc sidecar for MSE playback in browsers.

pub mod config;
