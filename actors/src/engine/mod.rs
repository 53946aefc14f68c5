//! The MediaMTX engine: install, ports, config, the supervised process and its signals.

pub mod install;
