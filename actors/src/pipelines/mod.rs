//! Pipelines this service runs itself: the camera reader that feeds a transmission from any
//! FFmpeg input, under the pipelines supervisor that follows the stored graphs.

pub mod camera_reader;
pub mod links;
pub mod supervisor;

pub use supervisor::{
    PIPELINES, PipelinesMsg, PipelinesSupervisor, pipelines, pipelines_subscriber,
};
