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

/// The original's message when no FFmpeg can be found.
pub const FFMPEG_NOT_FOUND: &str = "ffmpeg executable not found. Install FFmpeg and ensure it is available in PATH, or set TOPOSYNC_STREAMING_FFMPEG_PATH to the binary path.";

/// The FFmpeg file that runs, if found, and where it came from: `override`
/// (`TOPOSYNC_STREAMING_FFMPEG_PATH`) or `system` (PATH).
pub fn ffmpeg_resolved() -> (Option<String>, &'static str) {
    let program = PathBuf::from(ffmpeg_program());
    let source =
        if std::env::var_os("TOPOSYNC_STREAMING_FFMPEG_PATH").is_some_and(|p| !p.is_empty()) {
            "override"
        } else {
            "system"
        };
    let found = if program.components().count() > 1 {
        program.is_file().then_some(program)
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(&program))
                .find(|candidate| candidate.is_file())
        })
    };
    (found.map(|path| path.display().to_string()), source)
}

/// FFmpeg's log level: `TOPOSYNC_STREAMING_FFMPEG_LOGLEVEL`, default `warning`.
pub fn ffmpeg_loglevel() -> String {
    std::env::var("TOPOSYNC_STREAMING_FFMPEG_LOGLEVEL")
        .ok()
        .map(|level| level.trim().to_string())
        .filter(|level| !level.is_empty())
        .unwrap_or_else(|| "warning".into())
}

/// FFmpeg input options for a source URL: `rtsp://` over TCP; `lavfi:<graph>` and
/// `demo:<W>x<H>` (a test pattern with a running frame counter, for the demo camera) generated
/// in real time; anything else as FFmpeg reads it (a file, `http://`...). A URL with a password
/// is not named here at all: FFmpeg reads it from stdin ([`stdin_script`]), since every local
/// user can read a process's arguments.
pub fn input_args(source: &str) -> Vec<String> {
    if stdin_script(source).is_some() {
        return [
            "-f",
            "concat",
            "-safe",
            "0",
            "-protocol_whitelist",
            "pipe,rtsp,rtsps,tcp,udp,rtp,tls,crypto",
            "-i",
            "pipe:0",
        ]
        .map(String::from)
        .to_vec();
    }
    let generated = |graph: String| {
        ["-re", "-f", "lavfi", "-i"]
            .map(String::from)
            .into_iter()
            .chain([graph])
            .collect()
    };
    if let Some(graph) = source.strip_prefix("lavfi:") {
        return generated(graph.to_string());
    }
    if let Some(size) = source.strip_prefix("demo:") {
        let size = if is_size(size) { size } else { "1280x720" };
        return generated(format!("testsrc=size={size}:rate=25"));
    }
    let mut args = Vec::new();
    if source.starts_with("rtsp://") || source.starts_with("rtsps://") {
        args.extend(["-rtsp_transport", "tcp"].map(String::from));
    }
    args.extend(["-i".to_string(), source.to_string()]);
    args
}

/// What FFmpeg must read on stdin (then see it closed) for [`input_args`]: an ffconcat list
/// naming the one URL, for a source that carries a password in its user info.
pub fn stdin_script(source: &str) -> Option<String> {
    let url = url::Url::parse(source).ok()?;
    if !matches!(url.scheme(), "rtsp" | "rtsps") || url.password().is_none() {
        return None;
    }
    // ffconcat quotes with '...'; a quote inside is written '\''.
    let quoted = source.replace('\'', "'\\''");
    Some(format!(
        "ffconcat version 1.0\nfile '{quoted}'\noption rtsp_transport tcp\n"
    ))
}

/// Hands a child the [`stdin_script`] of its input and closes its stdin.
pub async fn feed_stdin(
    mut stdin: tokio::process::ChildStdin,
    script: String,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    stdin.write_all(script.as_bytes()).await?;
    stdin.shutdown().await
}

/// The `-vf` chain that paces to `fps` and contains the picture in `width`x`height`: scaled
/// keeping its aspect, centred on black.
pub fn contain_filter(fps: &str, (width, height): (u32, u32)) -> String {
    format!(
        "fps={fps},scale={width}:{height}:force_original_aspect_ratio=decrease,\
         pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:black"
    )
}

/// `1280x720` and the like.
fn is_size(text: &str) -> bool {
    text.split_once('x').is_some_and(|(w, h)| {
        [w, h]
            .iter()
            .all(|n| !n.is_empty() && n.len() <= 5 && n.chars().all(|c| c.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_by_kind() {
        assert_eq!(
            input_args("rtsp://cam/x").join(" "),
            "-rtsp_transport tcp -i rtsp://cam/x"
        );
        assert_eq!(
            input_args("lavfi:color=red").join(" "),
            "-re -f lavfi -i color=red"
        );
        assert_eq!(
            input_args("demo:640x360").join(" "),
            "-re -f lavfi -i testsrc=size=640x360:rate=25"
        );
        assert_eq!(
            input_args("demo:;rm").join(" "),
            "-re -f lavfi -i testsrc=size=1280x720:rate=25"
        );
        assert_eq!(input_args("/tmp/a.mp4").join(" "), "-i /tmp/a.mp4");
        // A password never reaches the command line.
        let secret = "rtsp://admin:s3cret@10.0.0.5/main";
        let args = input_args(secret).join(" ");
        assert!(!args.contains("s3cret"), "{args}");
        assert!(args.ends_with(
            "-f concat -safe 0 -protocol_whitelist pipe,rtsp,rtsps,tcp,udp,rtp,tls,crypto -i pipe:0"
        ));
        let script = stdin_script(secret).unwrap();
        assert!(
            script.contains("file 'rtsp://admin:s3cret@10.0.0.5/main'"),
            "{script}"
        );
        assert_eq!(stdin_script("rtsp://admin@10.0.0.5/main"), None);
        assert_eq!(stdin_script("rtsp://10.0.0.5/main"), None);
    }
}
