//! What a camera sends: its first video stream's codec, size and frame rate, asked of `ffprobe`
//! once per bypassed camera so a publisher can relay a stream browsers already play instead of
//! decoding and re-encoding it (docs/performance.md, "Passthrough").

use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Long enough for a camera on a slow network to answer DESCRIBE and send a keyframe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// ffprobe's answer is a few hundred bytes; anything much larger is not ffprobe.
const MAX_ANSWER: usize = 64 * 1024;

/// The camera's first video stream.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CameraStream {
    /// FFmpeg's codec name: `h264`, `hevc`, `mjpeg`...
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Frames per second the camera declares, when it does.
    pub fps: Option<f64>,
    pub pix_fmt: Option<String>,
    /// The stream reorders frames (B-frames), which WebRTC players do not accept.
    pub b_frames: bool,
}

impl CameraStream {
    /// Why this stream cannot be relayed as it is to every player (browsers over HLS, WebRTC
    /// and MSE; VLC and NVRs over RTSP), or `None` when it can.
    pub fn relay_refusal(&self) -> Option<String> {
        if self.codec != "h264" {
            return Some(format!(
                "the camera sends {}; browsers need H.264",
                self.codec
            ));
        }
        if !matches!(self.pix_fmt.as_deref(), None | Some("yuv420p" | "yuvj420p")) {
            return Some(format!(
                "the camera's H.264 is {}; browsers need 4:2:0 8-bit",
                self.pix_fmt.as_deref().unwrap_or_default()
            ));
        }
        if self.b_frames {
            return Some("the camera's H.264 has B-frames, which WebRTC cannot play".into());
        }
        None
    }
}

/// `ffprobe` beside the FFmpeg this service runs (`TOPOSYNC_STREAMING_FFMPEG_PATH`), else from PATH.
pub fn ffprobe_program() -> std::ffi::OsString {
    let ffmpeg = std::path::PathBuf::from(crate::ffmpeg::ffmpeg_program());
    match ffmpeg.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        Some(dir) => dir.join("ffprobe").into(),
        None => "ffprobe".into(),
    }
}

/// Asks ffprobe about `url` (an RTSP camera, credentials included: they reach ffprobe on stdin,
/// never in its arguments). The process dies with the future (timeout, abort, drop).
pub async fn probe(url: &str) -> Result<CameraStream, String> {
    let mut command = tokio::process::Command::new(ffprobe_program());
    command
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,avg_frame_rate,r_frame_rate,pix_fmt,has_b_frames",
            "-of",
            "json",
        ])
        .args(crate::ffmpeg::input_args(url))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let script = crate::ffmpeg::stdin_script(url);
    command.stdin(if script.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let run = async {
        let mut child = command
            .spawn()
            .map_err(|err| format!("cannot start ffprobe: {err}"))?;
        if let (Some(script), Some(stdin)) = (script, child.stdin.take()) {
            crate::ffmpeg::feed_stdin(stdin, script)
                .await
                .map_err(|err| format!("cannot hand ffprobe its input: {err}"))?;
        }
        child
            .wait_with_output()
            .await
            .map_err(|err| format!("ffprobe failed: {err}"))
    };
    let output = tokio::time::timeout(PROBE_TIMEOUT, run)
        .await
        .map_err(|_| format!("the camera did not answer ffprobe within {PROBE_TIMEOUT:?}"))??;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("no error output");
        // ffprobe's errors name the input, which may carry a password.
        return Err(format!(
            "ffprobe failed ({}): {}",
            output.status,
            last.replace(url, &crate::model::camera::redact_url(url))
        ));
    }
    parse(&output.stdout)
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    streams: Vec<Stream>,
}

#[derive(Deserialize)]
struct Stream {
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    pix_fmt: Option<String>,
    has_b_frames: Option<u32>,
}

/// ffprobe's JSON for one video stream.
pub fn parse(answer: &[u8]) -> Result<CameraStream, String> {
    if answer.len() > MAX_ANSWER {
        return Err("ffprobe's answer is too large".into());
    }
    let answer: Answer = serde_json::from_slice(answer)
        .map_err(|err| format!("ffprobe's answer is not understood: {err}"))?;
    let stream = answer
        .streams
        .into_iter()
        .next()
        .ok_or("the camera sends no video stream")?;
    let (Some(codec), Some(width), Some(height)) = (stream.codec_name, stream.width, stream.height)
    else {
        return Err("ffprobe did not report the video's codec and size".into());
    };
    let fps = [stream.avg_frame_rate, stream.r_frame_rate]
        .into_iter()
        .flatten()
        .find_map(|rate| frame_rate(&rate));
    Ok(CameraStream {
        codec,
        width,
        height,
        fps,
        pix_fmt: stream.pix_fmt,
        b_frames: stream.has_b_frames.unwrap_or(0) > 0,
    })
}

/// `"30000/1001"` -> 29.97; `"0/0"` and nonsense -> `None`.
fn frame_rate(text: &str) -> Option<f64> {
    let (num, den) = text.split_once('/')?;
    let (num, den): (f64, f64) = (num.parse().ok()?, den.parse().ok()?);
    let fps = num / den;
    (fps.is_finite() && fps > 0.0 && fps <= 1000.0).then_some(fps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffprobe_answers_are_read() {
        let h264 = br#"{"programs": [], "streams": [{"codec_name": "h264", "width": 1280,
            "height": 720, "pix_fmt": "yuv420p", "has_b_frames": 0, "r_frame_rate": "12/1",
            "avg_frame_rate": "0/0"}]}"#;
        let stream = parse(h264).unwrap();
        assert_eq!(
            (stream.width, stream.height, stream.fps),
            (1280, 720, Some(12.0))
        );
        assert_eq!(stream.relay_refusal(), None);

        let hevc = br#"{"streams": [{"codec_name": "hevc", "width": 640, "height": 360,
            "avg_frame_rate": "30000/1001"}]}"#;
        let stream = parse(hevc).unwrap();
        assert!((stream.fps.unwrap() - 29.97).abs() < 0.01);
        assert_eq!(
            stream.relay_refusal().as_deref(),
            Some("the camera sends hevc; browsers need H.264")
        );

        let reordered = br#"{"streams": [{"codec_name": "h264", "width": 64, "height": 64,
            "has_b_frames": 2}]}"#;
        assert!(
            parse(reordered)
                .unwrap()
                .relay_refusal()
                .unwrap()
                .contains("B-frames")
        );
        let high10 = br#"{"streams": [{"codec_name": "h264", "width": 64, "height": 64,
            "pix_fmt": "yuv420p10le"}]}"#;
        assert!(
            parse(high10)
                .unwrap()
                .relay_refusal()
                .unwrap()
                .contains("4:2:0")
        );

        assert_eq!(
            parse(br#"{"streams": []}"#).unwrap_err(),
            "the camera sends no video stream"
        );
        assert!(parse(b"not json").is_err());
        assert!(parse(br#"{"streams": [{"codec_name": "h264"}]}"#).is_err());
    }
}
