//! Which FFmpeg this service runs, and how talkative it is.

use std::ffi::OsString;
use std::path::PathBuf;

/// `TOPOSYNC_STREAMING_FFMPEG_PATH` (a binary, or a directory holding `ffmpeg`), else `ffmpeg`
/// from PATH.
pub fn ffmpeg_program() -> OsString {
    match std::env::var_os("TOPOSYNC_STREAMING_FFMPEG_PATH").filter(|p| !p.is_empty()) {
        Some(path) if PathBuf::from(&path).is_dir() => PathBuf::from(path).join("ffmpeg").into(),
        Some(path) => path,
        None => "ffmpeg".into(),
    }
}

/// FFmpeg's log level: `TOPOSYNC_STREAMING_FFMPEG_LOGLEVEL`, default `warning`.
pub fn ffmpeg_loglevel() -> String {
    std::env::var("TOPOSYNC_STREAMING_FFMPEG_LOGLEVEL")
        .ok()
        .map(|level| level.trim().to_string())
        .filter(|level| !level.is_empty())
        .unwrap_or_else(|| "warning".into())
}
