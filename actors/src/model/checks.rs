//! The input rules every document part shares (docs/security.md, "Input"): identifiers, names,
//! versions, camera source URLs and sizes. One place, so a hostile value is refused the same way
//! wherever it appears, with a 422 naming the field.

use super::error::{Errors, Loc};

/// Longest identifier (ids, output ids, pipeline and node names).
pub const MAX_ID: usize = 128;
/// Longest display name.
pub const MAX_NAME: usize = 200;
/// Longest source URL.
pub const MAX_URL: usize = 2048;
pub const MAX_OUTPUTS: usize = 32;
pub const MAX_SOURCES: usize = 32;
pub const MAX_NODES: usize = 256;
pub const MAX_EDGES: usize = 1024;
pub const MAX_VARIANTS: usize = 32;
/// Entities of one kind in the document (transmissions, cameras, pipelines, live views...).
pub const MAX_ENTITIES: usize = 2000;

impl Errors {
    /// An identifier: 1 to `MAX_ID` characters, no control characters, no `/` or `\`, not `.`
    /// or `..` (ids end up in URLs, file names and log lines). Answers whether it is one.
    pub fn identifier(&mut self, loc: &Loc, name: &str, value: &str) -> bool {
        let problem = if value.is_empty() {
            Some(format!("{name} must not be empty"))
        } else if value.chars().count() > MAX_ID {
            Some(format!("{name} must be at most {MAX_ID} characters"))
        } else if value
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
        {
            Some(format!(
                "{name} must not contain control characters, '/' or '\\'"
            ))
        } else if value == "." || value == ".." {
            Some(format!("{name} must not be '.' or '..'"))
        } else {
            None
        };
        let valid = problem.is_none();
        if let Some(problem) = problem {
            self.push(loc, problem);
        }
        valid
    }

    /// A display name: at most `MAX_NAME` characters, no control characters.
    pub fn name(&mut self, loc: &Loc, name: &str, value: &str) {
        if value.chars().count() > MAX_NAME {
            self.push(loc, format!("{name} must be at most {MAX_NAME} characters"));
        } else if value.chars().any(char::is_control) {
            self.push(loc, format!("{name} must not contain control characters"));
        }
    }

    /// At most `max` entries.
    pub fn count(&mut self, loc: &Loc, name: &str, len: usize, max: usize) {
        if len > max {
            self.push(loc, format!("{name} must have at most {max} entries"));
        }
    }

    /// A release version: `vX.Y.Z`.
    pub fn version(&mut self, loc: &Loc, name: &str, value: &str) {
        if !is_version(value) {
            self.push(loc, format!("{name} must look like v1.2.3"));
        }
    }

    /// A camera source URL: `rtsp://` or `rtsps://` with a host, or the generated `demo:WxH`.
    pub fn source_url(&mut self, loc: &Loc, name: &str, value: &str) {
        if let Err(problem) = source_url(value) {
            self.push(loc, format!("{name} {problem}"));
        }
    }
}

/// `v` and three dot-separated numbers.
pub fn is_version(value: &str) -> bool {
    let Some(numbers) = value.strip_prefix('v') else {
        return false;
    };
    let parts: Vec<&str> = numbers.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| (1..=6).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()))
}

/// What a camera may be read from. Files, `http://` (SSRF to the LAN or this host), FFmpeg's
/// other protocols and `lavfi` graphs are refused: cameras speak RTSP; the demo pattern is a
/// fixed generated picture whose only parameter is its size.
pub fn source_url(value: &str) -> Result<(), String> {
    if value.len() > MAX_URL {
        return Err(format!("must be at most {MAX_URL} characters"));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".into());
    }
    if let Some(size) = value.strip_prefix("demo:") {
        let valid = size.split_once('x').is_some_and(|(w, h)| {
            let dimension = |d: &str, max: u32| {
                d.len() <= 4
                    && d.chars().all(|c| c.is_ascii_digit())
                    && d.parse::<u32>().is_ok_and(|n| (16..=max).contains(&n))
            };
            dimension(w, 3840) && dimension(h, 2160)
        });
        return if valid {
            Ok(())
        } else {
            Err("must be demo:<width>x<height> (16 to 3840 by 16 to 2160)".into())
        };
    }
    let url =
        url::Url::parse(value).map_err(|_| "must be an rtsp:// or rtsps:// URL".to_string())?;
    if !matches!(url.scheme(), "rtsp" | "rtsps") {
        return Err("must be an rtsp:// or rtsps:// URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name the camera's host".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(is_version("v1.16.2"));
        for bad in [
            "1.16.2",
            "v1.16",
            "v1.16.2-rc1",
            "/tmp/x",
            "v1..2",
            "v../../x",
            "",
        ] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn camera_sources() {
        for good in [
            "rtsp://192.168.1.20:554/stream1",
            "rtsp://admin:pw@cam.local/h264",
            "rtsps://cam.example/live",
            "demo:1280x720",
        ] {
            assert_eq!(source_url(good), Ok(()), "{good}");
        }
        for bad in [
            "/etc/passwd",
            "file:///etc/passwd",
            "http://127.0.0.1:9997/v3/config/global/get",
            "lavfi:movie=/etc/passwd",
            "demo:;rm",
            "demo:99999x1",
            "rtsp://",
            "rtsp:///path",
            "rtsp://cam/ x",
            "concat:a|b",
        ] {
            assert!(source_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identifiers() {
        let mut errors = Errors::default();
        for good in ["front", "tx-camera-demo-main-main", "câmera", "a.b:c"] {
            errors.identifier(&Loc::body().key("id"), "id", good);
        }
        assert!(errors.0.is_empty(), "{:?}", errors.0);
        for bad in [
            "",
            "..",
            "a/b",
            "a\\b",
            "a\nb",
            "nul\0",
            &"x".repeat(MAX_ID + 1),
        ] {
            let mut errors = Errors::default();
            errors.identifier(&Loc::body().key("id"), "id", bad);
            assert_eq!(errors.0.len(), 1, "{bad:?}");
            assert_eq!(errors.0[0].loc, Loc::body().key("id").0);
        }
    }
}

/// Garbage thrown at the validators: whatever they accept obeys the rules they promise.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::model::settings::StreamingSettings;
    use crate::model::transmission::normalize_path_slug;

    proptest! {
        #[test]
        fn accepted_source_urls_are_rtsp_or_the_demo(raw in ".{0,80}", host in "[a-z0-9.]{0,20}") {
            for candidate in [raw.clone(), format!("rtsp://{host}/{raw}"), format!("demo:{raw}")] {
                if source_url(&candidate).is_ok() {
                    prop_assert!(
                        candidate.starts_with("rtsp://") || candidate.starts_with("rtsps://")
                            || candidate.starts_with("demo:"),
                        "{candidate:?}"
                    );
                    prop_assert!(!candidate.chars().any(|c| c.is_control() || c.is_whitespace()));
                }
            }
        }

        #[test]
        fn accepted_identifiers_are_safe(raw in toposync_test_stand_ins::hostile::text()) {
            let mut errors = Errors::default();
            if errors.identifier(&Loc::body().key("id"), "id", &raw) {
                prop_assert!(!raw.is_empty() && raw.chars().count() <= MAX_ID);
                prop_assert!(!raw.contains('/') && !raw.contains('\\'));
                prop_assert!(!raw.chars().any(char::is_control));
                prop_assert!(raw != "." && raw != "..");
            } else {
                prop_assert_eq!(errors.0.len(), 1);
            }
        }

        #[test]
        fn slugs_are_in_the_engine_alphabet(raw in ".{0,60}", fallback in ".{0,20}") {
            let slug = normalize_path_slug(&raw, &fallback);
            prop_assert!(slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'), "{slug:?}");
        }

        #[test]
        fn versions_name_no_path(raw in ".{0,30}") {
            if is_version(&raw) {
                prop_assert!(raw.starts_with('v'));
                prop_assert!(raw[1..].chars().all(|c| c.is_ascii_digit() || c == '.'));
            }
        }

        #[test]
        fn media_files_stay_under_their_path(raw in "[a-z./%2e_-]{0,30}") {
            if let Some(file) = crate::hls::media_file(&raw) {
                prop_assert!(!file.contains('%'));
                prop_assert!(file.split('/').all(|part| part != ".." && part != "." && !part.is_empty()));
                prop_assert!(crate::hls::upstream_url(8888, "door", &file).is_some());
            }
        }

        #[test]
        fn any_document_is_read_or_refused_never_a_panic(value in toposync_test_stand_ins::hostile::json()) {
            let loc = Loc::body();
            if let Ok(settings) = StreamingSettings::from_json(value, &loc) {
                prop_assert!(settings.validate(&loc).is_ok());
            }
        }

        #[test]
        fn a_refused_patch_changes_nothing(patch in toposync_test_stand_ins::hostile::json()) {
            let mut doc = StreamingSettings::default();
            let before = doc.clone();
            match crate::model::edit::patch_settings(&mut doc, patch, "2026-01-01T00:00:00Z") {
                Ok(saved) => prop_assert!(saved.validate(&Loc::body()).is_ok()),
                Err(_) => prop_assert_eq!(doc, before),
            }
        }
    }
}
