//! Pipeline operators this service runs itself. For now: the camera reader that feeds a
//! transmission from any FFmpeg input.

pub mod camera_reader;
