//! What one output's publisher encodes, resolved from the stored output with the original's
//! defaults, and the FFmpeg command line for it. Pure, so every argument is unit-tested.

use serde::{Serialize, Serializer};

use crate::camera_probe::CameraStream;
use crate::model::transmission::{
    LatencyProfile, Placeholder, QualityProfileId, ResizeMode, Transmission, TransmissionOutput,
};

/// Output size when the output leaves it empty.
pub const DEFAULT_SIZE: (u32, u32) = (1280, 720);
pub const DEFAULT_FPS: f64 = 12.0;
/// Smallest encoded dimension (x264 and the engine's muxers dislike tiny frames).
const MIN_DIMENSION: u32 = 16;
const MAX_FPS: f64 = 60.0;

/// `"<transmission_id>:<output_id>"`, the key every runtime view of an output uses.
pub fn output_key(transmission_id: &str, output_id: &str) -> String {
    format!("{transmission_id}:{output_id}")
}

/// Where a publisher's pictures come from.
#[derive(Debug, Clone, PartialEq)]
pub enum PublisherInput {
    /// BGR24 frames of the transmission's selection, written to FFmpeg's stdin.
    RawvideoPipe,
    /// Bypass: FFmpeg reads the camera itself (the URL holds its credentials).
    RtspPull { url: String },
}

impl PublisherInput {
    pub fn mode(&self) -> &'static str {
        match self {
            PublisherInput::RawvideoPipe => "rawvideo_pipe",
            PublisherInput::RtspPull { .. } => "rtsp_pull",
        }
    }
}

/// Shows the mode and, for a pull, the source with its password redacted.
impl Serialize for PublisherInput {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("mode", self.mode())?;
        if let PublisherInput::RtspPull { url } = self {
            map.serialize_entry("source", &crate::model::camera::redact_url(url))?;
        }
        map.end()
    }
}

/// What the publisher's FFmpeg does to the video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VideoCodec {
    /// Encodes H.264 (frames from the pipe, or the camera decoded and scaled).
    Libx264,
    /// Passthrough: the camera's own H.264, pulled by the engine itself (no FFmpeg at all), or
    /// for an `rtsps://` camera copied by the publisher's FFmpeg (nothing decoded or encoded).
    Copy,
}

/// Everything a publisher needs to know about its output; compared by value to decide whether a
/// running publisher must be restarted after a settings change.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OutputTarget {
    pub output_key: String,
    pub transmission_id: String,
    pub output_id: String,
    pub engine_path: String,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub bitrate_kbps: Option<u32>,
    pub latency_profile: LatencyProfile,
    pub resize_mode: ResizeMode,
    pub placeholder: Placeholder,
    /// `{"mode": ..., "source": <redacted camera URL>}`.
    #[schema(value_type = Object)]
    pub input: PublisherInput,
    pub video_codec: VideoCodec,
    /// Why a camera pull is relayed or encoded (`None` for pipe input).
    pub video_reason: Option<String>,
}

impl OutputTarget {
    pub fn resolve(transmission: &Transmission, output: &TransmissionOutput) -> OutputTarget {
        let (width, height) = output
            .resolution
            .map(|r| {
                (
                    (r.width.max(0) as u32).max(MIN_DIMENSION),
                    (r.height.max(0) as u32).max(MIN_DIMENSION),
                )
            })
            .unwrap_or(DEFAULT_SIZE);
        OutputTarget {
            output_key: output_key(&transmission.id, &output.id),
            transmission_id: transmission.id.clone(),
            output_id: output.id.clone(),
            engine_path: transmission.engine_path(output),
            width,
            height,
            fps: output
                .fps_limit
                .map_or(DEFAULT_FPS, |fps| (fps as f64).clamp(1.0, MAX_FPS)),
            bitrate_kbps: output
                .bitrate_kbps
                .filter(|kbps| *kbps > 0)
                .map(|kbps| kbps.clamp(64, 250_000) as u32),
            latency_profile: output.latency_profile,
            resize_mode: output.resize_mode(),
            placeholder: transmission.placeholder,
            input: PublisherInput::RawvideoPipe,
            video_codec: VideoCodec::Libx264,
            video_reason: None,
        }
    }

    /// The same output pulling `url` directly, at most at `fps_limit`.
    pub fn pulling(mut self, url: &str, fps_limit: Option<f64>) -> OutputTarget {
        self.input = PublisherInput::RtspPull {
            url: url.to_string(),
        };
        if let Some(limit) = fps_limit {
            self.fps = self.fps.min(limit.clamp(1.0, MAX_FPS));
        }
        self
    }

    /// Decides, for a camera pull, between relaying the camera's stream (passthrough) and
    /// encoding: it relays when players take the camera's codec and the output asks for nothing
    /// the camera does not already send (no other size, no lower rate, no bitrate; a `native`
    /// output asks for nothing). A `native` output that must be encoded keeps the camera's size
    /// and rate. `camera` is the probe's answer, or why there is none.
    pub fn for_camera(
        mut self,
        output: &TransmissionOutput,
        camera: Result<&CameraStream, &str>,
        reducer_fps: Option<f64>,
    ) -> OutputTarget {
        let native = output.quality_profile_id == Some(QualityProfileId::Native);
        let camera = match camera {
            Ok(camera) => camera,
            Err(why) => {
                self.video_reason = Some(format!("encoded: {why}"));
                return self;
            }
        };
        let camera_fps = camera.fps.map(|fps| fps.clamp(1.0, MAX_FPS));
        if native {
            self.width = camera.width.max(MIN_DIMENSION);
            self.height = camera.height.max(MIN_DIMENSION);
            if let Some(fps) = camera_fps {
                self.fps = reducer_fps.map_or(fps, |limit| fps.min(limit.clamp(1.0, MAX_FPS)));
            }
        }
        let slower = |limit: f64| camera.fps.is_none_or(|fps| limit + 0.5 < fps);
        let camera_rate = camera
            .fps
            .map_or("an undeclared rate".into(), |fps| format!("{fps:.3} fps"));
        let refusal = camera
            .relay_refusal()
            .or_else(|| {
                reducer_fps.filter(|limit| slower(*limit)).map(|limit| {
                    format!("the pipeline limits the rate to {limit} fps; the camera sends {camera_rate}")
                })
            })
            .or_else(|| {
                if native {
                    return None;
                }
                let size = output.resolution.map(|r| (r.width, r.height));
                if let Some((width, height)) =
                    size.filter(|s| *s != (camera.width as i64, camera.height as i64))
                {
                    return Some(format!(
                        "the output asks for {width}x{height}; the camera sends {}x{}",
                        camera.width, camera.height
                    ));
                }
                if let Some(limit) = output.fps_limit.filter(|limit| slower(*limit as f64)) {
                    return Some(format!(
                        "the output limits the rate to {limit} fps; the camera sends {camera_rate}"
                    ));
                }
                output.bitrate_kbps.filter(|kbps| *kbps > 0).map(|kbps| {
                    format!("the output asks for {kbps} kbps, which takes an encoder")
                })
            });
        match refusal {
            Some(why) => self.video_reason = Some(format!("encoded: {why}")),
            None => {
                self.video_codec = VideoCodec::Copy;
                (self.width, self.height) = (camera.width, camera.height);
                if let Some(fps) = camera_fps {
                    self.fps = fps;
                }
                self.video_reason = Some(format!(
                    "relayed: the camera's H.264 {}x{} at {camera_rate} is what the output asks for",
                    camera.width, camera.height
                ));
            }
        }
        self
    }

    /// The camera the engine pulls into this output's path itself, when it is relayed. Only
    /// `rtsp://`: MediaMTX checks an `rtsps://` camera's certificate (home cameras' are
    /// self-signed), so those are copied by a publisher's FFmpeg instead.
    pub fn relayed_camera(&self) -> Option<&str> {
        match &self.input {
            PublisherInput::RtspPull { url }
                if self.video_codec == VideoCodec::Copy && url.starts_with("rtsp://") =>
            {
                Some(url)
            }
            _ => None,
        }
    }

    /// Every enabled output of a transmission.
    pub fn all(transmission: &Transmission) -> Vec<OutputTarget> {
        transmission
            .enabled_outputs()
            .map(|output| OutputTarget::resolve(transmission, output))
            .collect()
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Frames between keyframes: one per second (round half to even, at least 1).
    pub fn gop(&self) -> u32 {
        (self.fps.round_ties_even() as u32).max(1)
    }
}

/// x264 preset for a latency profile. The original meant this mapping but always used
/// `veryfast` by accident; this service applies it.
fn x264_preset(profile: LatencyProfile) -> &'static str {
    match profile {
        LatencyProfile::Normal => "veryfast",
        LatencyProfile::Low => "faster",
        LatencyProfile::UltraLow => "ultrafast",
    }
}

/// The publisher's command line (after the program name): the input (BGR24 frames of exactly
/// the output size on stdin at the output fps, or the camera pulled and contained into the output
/// size at the output fps), libx264 with a one-second GOP (or, for an `rtsps://` passthrough, the
/// camera's stream copied), progress reports on stdout (the stall watchdog reads them), RTSP over
/// TCP to `publish_url`. An `rtsp://` passthrough has no publisher (see `relayed_camera`).
pub fn publisher_args(target: &OutputTarget, loglevel: &str, publish_url: &str) -> Vec<String> {
    let (width, height) = (target.width, target.height);
    let fps = format!("{:.3}", target.fps.max(1.0));
    let mut args: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        loglevel,
        "-nostats",
        "-progress",
        "pipe:1",
        "-stats_period",
        "0.5",
    ]
    .map(String::from)
    .to_vec();
    match &target.input {
        // Frames are stamped with the time FFmpeg reads them (to the millisecond), so a static
        // picture sent twice a second is repeated into the output's constant rate below. Nothing
        // to probe (the format is given): without the limits FFmpeg would read 5 s of such
        // irregular timestamps before its first output frame.
        PublisherInput::RawvideoPipe => args.extend(
            [
                "-analyzeduration",
                "0",
                "-probesize",
                "32",
                "-use_wallclock_as_timestamps",
                "1",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "bgr24",
                "-s",
                &format!("{width}x{height}"),
                "-framerate",
                "1000",
            ]
            .map(String::from)
            .into_iter()
            .chain(["-i".into(), "pipe:0".into()]),
        ),
        PublisherInput::RtspPull { url } => {
            if url.starts_with("rtsp") {
                args.extend(["-fflags".into(), "nobuffer".into()]);
            }
            args.extend(crate::ffmpeg::input_args(url));
        }
    }
    if target.video_codec == VideoCodec::Copy {
        args.extend(["-an", "-c:v", "copy"].map(String::from));
        args.extend(["-f", "rtsp", "-rtsp_transport", "tcp", publish_url].map(String::from));
        return args;
    }
    args.extend(
        [
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            x264_preset(target.latency_profile),
        ]
        .map(String::from),
    );
    args.extend(["-tune", "zerolatency", "-pix_fmt", "yuv420p"].map(String::from));
    if target.latency_profile != LatencyProfile::Normal {
        args.extend(["-bf".into(), "0".into()]);
    }
    if matches!(target.input, PublisherInput::RtspPull { .. }) {
        args.extend([
            "-vf".into(),
            crate::ffmpeg::contain_filter(&fps, (width, height)),
        ]);
    }
    if target.input == PublisherInput::RawvideoPipe {
        args.extend(["-fps_mode".into(), "cfr".into(), "-r".into(), fps.clone()]);
    }
    if let Some(kbps) = target.bitrate_kbps {
        let maxrate = (kbps as f64 * 1.1).round_ties_even() as u32;
        args.extend([
            "-b:v".into(),
            format!("{kbps}k"),
            "-maxrate".into(),
            format!("{maxrate}k"),
            "-bufsize".into(),
            format!("{}k", (2 * kbps).max(512)),
        ]);
    }
    let gop = target.gop().to_string();
    args.extend(["-g", &gop, "-keyint_min", &gop, "-sc_threshold", "0"].map(String::from));
    args.extend(["-f", "rtsp", "-rtsp_transport", "tcp", publish_url].map(String::from));
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn transmission(outputs: serde_json::Value) -> Transmission {
        serde_json::from_value(json!({"id": "t1", "path": "front-door", "outputs": outputs}))
            .unwrap()
    }

    #[test]
    fn empty_outputs_get_the_spec_defaults() {
        let t = transmission(json!([{"id": "main", "protocol": "rtsp"}]));
        let target = OutputTarget::resolve(&t, &t.outputs[0]);
        assert_eq!(target.output_key, "t1:main");
        assert_eq!(target.engine_path, "front-door");
        assert_eq!(target.size(), (1280, 720));
        assert_eq!(target.fps, 12.0);
        assert_eq!(target.bitrate_kbps, None);
        assert_eq!(target.gop(), 12);
    }

    #[test]
    fn values_are_clamped_like_the_original() {
        let t = transmission(json!([
            {"id": "a", "protocol": "hls", "resolution": {"width": 8, "height": 4000}, "fps_limit": 120},
            {"id": "b", "protocol": "hls", "fps_limit": 1, "path": "custom"}
        ]));
        let targets = OutputTarget::all(&t);
        assert_eq!(targets[0].size(), (16, 4000));
        assert_eq!(targets[0].fps, 60.0);
        assert_eq!(targets[0].engine_path, "front-door-a");
        assert_eq!(targets[1].engine_path, "custom");
        assert_eq!(targets[1].gop(), 1);
    }

    #[test]
    fn the_command_line_for_a_720p_output() {
        let t = transmission(json!([{
            "id": "main", "protocol": "rtsp", "resolution": {"width": 1280, "height": 720},
            "fps_limit": 12, "bitrate_kbps": 2000
        }]));
        let target = OutputTarget::resolve(&t, &t.outputs[0]);
        let args = publisher_args(&target, "warning", "rtsp://u:p@127.0.0.1:8554/front-door");
        assert_eq!(
            args.join(" "),
            "-hide_banner -loglevel warning -nostats -progress pipe:1 -stats_period 0.5 \
             -analyzeduration 0 -probesize 32 -use_wallclock_as_timestamps 1 -f rawvideo -pix_fmt bgr24 -s 1280x720 -framerate 1000 \
             -i pipe:0 -an -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p \
             -fps_mode cfr -r 12.000 -b:v 2000k -maxrate 2200k \
             -bufsize 4000k -g 12 -keyint_min 12 -sc_threshold 0 -f rtsp -rtsp_transport tcp \
             rtsp://u:p@127.0.0.1:8554/front-door"
        );
    }

    #[test]
    fn latency_profiles_pick_preset_and_b_frames() {
        let t = transmission(json!([
            {"id": "a", "protocol": "webrtc", "latency_profile": "ultra_low", "bitrate_kbps": 100},
            {"id": "b", "protocol": "hls", "latency_profile": "low"}
        ]));
        let targets = OutputTarget::all(&t);
        let ultra = publisher_args(&targets[0], "error", "rtsp://x").join(" ");
        assert!(ultra.contains("-preset ultrafast -tune zerolatency -pix_fmt yuv420p -bf 0"));
        assert!(
            ultra.contains("-b:v 100k -maxrate 110k -bufsize 512k"),
            "{ultra}"
        );
        let low = publisher_args(&targets[1], "error", "rtsp://x").join(" ");
        assert!(low.contains("-preset faster") && low.contains("-bf 0"));
        assert!(
            !low.contains("-b:v"),
            "no bitrate: x264's default rate control"
        );
    }

    #[test]
    fn bypass_pulls_the_camera_and_contains_it() {
        let t = transmission(json!([{"id": "main", "protocol": "hls", "fps_limit": 15,
                                     "resolution": {"width": 640, "height": 360}}]));
        let target = OutputTarget::resolve(&t, &t.outputs[0]).pulling("rtsp://cam/main", Some(5.0));
        assert_eq!(target.fps, 5.0);
        let args = publisher_args(&target, "warning", "rtsp://pub@engine/door").join(" ");
        assert!(
            args.contains("-fflags nobuffer -rtsp_transport tcp -i rtsp://cam/main -an"),
            "{args}"
        );
        assert!(
            args.contains("-vf fps=5.000,scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2:black"),
            "{args}"
        );
        assert!(!args.contains("pipe:0"));
        // With a password, FFmpeg reads the URL from stdin, never from its arguments, and it
        // is shown redacted.
        let secret = OutputTarget::resolve(&t, &t.outputs[0]).pulling("rtsp://u:pw@cam/main", None);
        let shown = serde_json::to_value(&secret.input).unwrap();
        assert_eq!(
            shown,
            json!({"mode": "rtsp_pull", "source": "rtsp://u:********@cam/main"})
        );
        let args = publisher_args(&secret, "warning", "rtsp://pub@engine/door").join(" ");
        assert!(
            !args.contains("pw@cam") && args.contains("-i pipe:0"),
            "{args}"
        );
    }

    fn camera(codec: &str, (width, height): (u32, u32), fps: f64) -> CameraStream {
        CameraStream {
            codec: codec.into(),
            width,
            height,
            fps: Some(fps),
            pix_fmt: Some("yuv420p".into()),
            b_frames: false,
        }
    }

    #[test]
    fn outputs_that_ask_for_what_the_camera_sends_relay_it() {
        let t = transmission(json!([
            {"id": "hls_native", "protocol": "hls", "quality_profile_id": "native"},
            {"id": "same", "protocol": "rtsp", "resolution": {"width": 1280, "height": 720},
             "fps_limit": 15},
            {"id": "smaller", "protocol": "hls", "resolution": {"width": 640, "height": 360}},
            {"id": "slower", "protocol": "hls", "fps_limit": 5},
            {"id": "capped", "protocol": "hls", "bitrate_kbps": 500}
        ]));
        let h264 = camera("h264", (1280, 720), 12.0);
        let decide = |i: usize, camera: Result<&CameraStream, &str>, reducer: Option<f64>| {
            OutputTarget::resolve(&t, &t.outputs[i])
                .pulling("rtsp://cam/main", reducer)
                .for_camera(&t.outputs[i], camera, reducer)
        };
        let native = decide(0, Ok(&h264), None);
        assert_eq!(native.video_codec, VideoCodec::Copy);
        assert_eq!((native.size(), native.fps), ((1280, 720), 12.0));
        assert_eq!(native.relayed_camera(), Some("rtsp://cam/main"));
        // An rtsps:// camera's certificate would be checked by the engine: FFmpeg copies it.
        let tls = OutputTarget::resolve(&t, &t.outputs[0])
            .pulling("rtsps://cam/main", None)
            .for_camera(&t.outputs[0], Ok(&h264), None);
        assert_eq!(
            (tls.video_codec, tls.relayed_camera()),
            (VideoCodec::Copy, None)
        );
        let args = publisher_args(&tls, "warning", "rtsp://pub@engine/door").join(" ");
        assert!(
            args.ends_with(
                "-i rtsps://cam/main -an -c:v copy -f rtsp -rtsp_transport tcp rtsp://pub@engine/door"
            ),
            "{args}"
        );
        assert!(!args.contains("libx264") && !args.contains("-vf"), "{args}");
        assert_eq!(decide(1, Ok(&h264), None).video_codec, VideoCodec::Copy);

        let reason = |target: OutputTarget| {
            assert_eq!(target.video_codec, VideoCodec::Libx264);
            target.video_reason.unwrap()
        };
        assert_eq!(
            reason(decide(2, Ok(&h264), None)),
            "encoded: the output asks for 640x360; the camera sends 1280x720"
        );
        assert_eq!(
            reason(decide(3, Ok(&h264), None)),
            "encoded: the output limits the rate to 5 fps; the camera sends 12.000 fps"
        );
        assert!(reason(decide(4, Ok(&h264), None)).contains("500 kbps"));
        assert!(reason(decide(0, Ok(&h264), Some(4.0))).contains("pipeline limits the rate to 4"));
        assert!(reason(decide(0, Err("the camera could not be probed"), None)).contains("probed"));

        // H.265 is encoded for browsers, at the camera's own size and rate for `native`.
        let hevc = camera("hevc", (1920, 1080), 25.0);
        let encoded = decide(0, Ok(&hevc), None);
        assert_eq!((encoded.size(), encoded.fps), ((1920, 1080), 25.0));
        let args = publisher_args(&encoded, "warning", "rtsp://pub@engine/door").join(" ");
        assert!(
            args.contains("-c:v libx264") && args.contains("scale=1920:1080"),
            "{args}"
        );
        assert_eq!(
            encoded.video_reason.as_deref(),
            Some("encoded: the camera sends hevc; browsers need H.264")
        );
    }
}
