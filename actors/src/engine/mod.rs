//! The MediaMTX engine: install, ports, config, the supervised process and its signals.

pub mod config;
pub mod credentials;
pub mod install;
pub mod ports;
pub mod signals;
