//! Per-process log files under `runtime/streaming/logs/`, and the line sanitiser applied before a
//! child's output is shown anywhere (status, snapshot, errors).

use std::path::{Path, PathBuf};

/// `<dir>/<prefix>-YYYYMMDD-HHMMSS.log` (UTC), after deleting the oldest files with that prefix so
/// that at most `keep` remain including the new one.
pub fn new_log_path(dir: &Path, prefix: &str, keep: usize) -> PathBuf {
    let mut existing: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&format!("{prefix}-")) && n.ends_with(".log"))
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    existing.sort();
    while existing.len() >= keep.max(1) {
        let _ = std::fs::remove_file(existing.remove(0).1);
    }
    let stamp: String = crate::model::edit::now_rfc3339()
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    dir.join(format!("{prefix}-{}-{}.log", &stamp[..8], &stamp[8..]))
}

/// `front:hls_main` -> `front-hls_main`: lowercase, anything but alphanumerics, `-` and `_`
/// becomes `-`, trimmed of `-`/`_` (the original's file-name rule).
pub fn safe_file_id(id: &str) -> String {
    let mapped: String = id
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches(|c| c == '-' || c == '_');
    if trimmed.is_empty() {
        "output".into()
    } else {
        trimmed.into()
    }
}

/// A child's output line made safe to show: a line that looks like it carries a secret is
/// replaced whole; URLs (which may carry credentials) are replaced but the rest of the line, which
/// says what went wrong, is kept; long lines are cut.
pub fn sanitize_line(line: &str) -> String {
    let line = line.trim();
    let lower = line.to_lowercase();
    let secret_words = [
        "authorization",
        "password",
        "token=",
        "token:",
        "cookie",
        "secret",
    ];
    if secret_words.iter().any(|marker| lower.contains(marker)) {
        return "[REDACTED]".into();
    }
    let line: String = line
        .split(' ')
        .map(|word| match word.split_once("://") {
            Some((scheme, _)) => {
                let scheme = scheme
                    .rsplit(|c: char| !c.is_ascii_alphanumeric())
                    .next()
                    .unwrap_or("");
                format!("{scheme}://[REDACTED_URL]")
            }
            None => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    if line.chars().count() > 500 {
        let cut: String = line.chars().take(497).collect();
        return format!("{cut}...");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_ids_follow_the_original() {
        assert_eq!(safe_file_id("cam1:cam1"), "cam1-cam1");
        assert_eq!(safe_file_id("Front:HLS_main"), "front-hls_main");
        assert_eq!(safe_file_id("::"), "output");
    }

    #[test]
    fn secrets_and_urls_never_pass() {
        assert_eq!(
            sanitize_line("[rtsp @ 0x1] rtsp://pub_1:abc@127.0.0.1:8554/x: 401 Unauthorized"),
            "[rtsp @ 0x1] rtsp://[REDACTED_URL] 401 Unauthorized"
        );
        assert_eq!(
            sanitize_line("Error opening input file (rtsp://u:p@cam/x)."),
            "Error opening input file rtsp://[REDACTED_URL]"
        );
        assert_eq!(sanitize_line("bad Password given"), "[REDACTED]");
        assert_eq!(
            sanitize_line("  Conversion failed!  "),
            "Conversion failed!"
        );
        assert_eq!(sanitize_line(&"x".repeat(600)).len(), 500);
    }

    #[test]
    fn old_logs_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..5 {
            std::fs::write(
                dir.path().join(format!("ffmpeg-a-2026010{n}-000000.log")),
                "",
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("mediamtx-20260101-000000.log"), "").unwrap();
        let path = new_log_path(dir.path(), "ffmpeg-a", 3);
        assert!(
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("ffmpeg-a-")
        );
        let left = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(
            left,
            2 + 1,
            "two ffmpeg-a logs kept for the new one, mediamtx untouched"
        );
    }
}
