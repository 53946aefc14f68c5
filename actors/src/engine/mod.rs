//! The MediaMTX engine: install, ports, config, the supervised process and its signals.

pub mod actor;
pub mod config;
pub mod control;
pub mod credentials;
pub mod hooks;
pub mod install;
pub mod ports;
pub mod process;
pub mod relays;
pub mod signals;
pub mod view;

pub use actor::{
    ENGINE, EngineActor, EngineArgs, EngineMsg, EngineStatus, engine, engine_subscriber,
};
