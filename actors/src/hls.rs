//! The signed HLS proxy's pure parts: which media paths are acceptable, and rewriting playlist
//! URIs so every segment and sub-playlist request carries the token (spec: original-api.md §5.5).

/// `file` without a leading `/`, when every segment is a plain name of the characters the
/// engine's HLS files use (`[A-Za-z0-9._-]`, never `.` or `..`). A `%` would be decoded once
/// more by the upstream URL (`%2e%2e` is `..`), so it is never let through.
pub fn media_file(file: &str) -> Option<String> {
    let file = file.trim().trim_start_matches('/');
    let plain = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    (!file.is_empty() && file.split('/').all(plain)).then(|| file.to_string())
}

/// The engine URL of `file` under `engine_path`, checked after the URL parser normalised it:
/// its path must still be exactly `/{engine_path}/{file}` (a token names one engine path).
pub fn upstream_url(hls_port: u16, engine_path: &str, file: &str) -> Option<url::Url> {
    let url = url::Url::parse(&format!("http://127.0.0.1:{hls_port}/{engine_path}/{file}")).ok()?;
    (url.path() == format!("/{engine_path}/{file}")).then_some(url)
}

pub fn is_playlist(file: &str, content_type: Option<&str>, body: &[u8]) -> bool {
    file.ends_with(".m3u8")
        || content_type.is_some_and(|t| t.to_lowercase().contains("mpegurl"))
        || body.starts_with(b"#EXTM3U")
}

/// The proxy URL of `file` under `engine_path`.
pub fn proxy_url(base: &str, engine_path: &str, file: &str, token: &str) -> String {
    format!("{base}/api/streams/media/hls/{engine_path}/{file}?media_token={token}")
}

/// Rewrites every URI line and `URI="…"` attribute of a playlist to the signed proxy URL; line
/// endings are kept; `data:` URIs and URIs escaping the path are left alone.
pub fn rewrite_playlist(
    body: &str,
    engine_path: &str,
    requested_file: &str,
    token: &str,
    base: &str,
) -> String {
    let directory = requested_file
        .rsplit_once('/')
        .map(|(dir, _)| dir)
        .unwrap_or("");
    let rewrite = |uri: &str| -> Option<String> {
        let file = target_file(uri, engine_path, directory)?;
        Some(proxy_url(base, engine_path, &file, token))
    };
    let mut out = String::with_capacity(body.len() * 2);
    for line in body.split_inclusive('\n') {
        let (text, ending) = match line.strip_suffix("\r\n") {
            Some(text) => (text, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(text) => (text, "\n"),
                None => (line, ""),
            },
        };
        if text.trim().is_empty() {
            out.push_str(line);
            continue;
        }
        if text.starts_with('#') {
            out.push_str(&rewrite_attribute(text, &rewrite));
        } else {
            out.push_str(&rewrite(text.trim()).unwrap_or_else(|| text.to_string()));
        }
        out.push_str(ending);
    }
    out
}

fn rewrite_attribute(line: &str, rewrite: &dyn Fn(&str) -> Option<String>) -> String {
    let Some(start) = line.find("URI=\"") else {
        return line.to_string();
    };
    let value_start = start + 5;
    let Some(length) = line[value_start..].find('"') else {
        return line.to_string();
    };
    let value = &line[value_start..value_start + length];
    match rewrite(value) {
        Some(url) => format!(
            "{}{url}{}",
            &line[..value_start],
            &line[value_start + length..]
        ),
        None => line.to_string(),
    }
}

/// The file under the engine path that `uri` names, seen from `directory`.
fn target_file(uri: &str, engine_path: &str, directory: &str) -> Option<String> {
    if uri.starts_with("data:") {
        return None;
    }
    let prefix = format!("/{engine_path}/");
    let path = if let Some((_, rest)) = uri.split_once("://") {
        let path = &rest[rest.find('/').unwrap_or(rest.len())..];
        let path = path.split('?').next().unwrap_or("");
        if path == format!("/{engine_path}") || path == prefix {
            "index.m3u8".to_string()
        } else if let Some(inside) = path.find(&prefix).map(|at| &path[at + prefix.len()..]) {
            inside.to_string()
        } else {
            path.rsplit('/').next().unwrap_or("").to_string()
        }
    } else if let Some(absolute) = uri.strip_prefix('/') {
        absolute
            .strip_prefix(&format!("{engine_path}/"))
            .unwrap_or(absolute)
            .to_string()
    } else if directory.is_empty() {
        uri.to_string()
    } else {
        format!("{directory}/{uri}")
    };
    let path = path.split('?').next().unwrap_or("");
    normalize(path)
}

/// Resolves `.` and `..`; `None` when the path escapes.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_files_never_leave_their_engine_path() {
        assert_eq!(media_file("index.m3u8").as_deref(), Some("index.m3u8"));
        assert_eq!(
            media_file("/main_stream/seg-12.mp4").as_deref(),
            Some("main_stream/seg-12.mp4")
        );
        for escape in [
            "../b/index.m3u8",
            "%2e%2e/b/index.m3u8",
            "%252e%252e/b/index.m3u8",
            ".%2e/b/index.m3u8",
            "a/./b",
            "a//b",
            "a\\..\\b",
            "",
        ] {
            assert_eq!(media_file(escape), None, "{escape}");
        }
        assert!(upstream_url(8888, "door", "index.m3u8").is_some());
        assert!(upstream_url(8888, "door", "%2e%2e/hall/index.m3u8").is_none());
    }

    #[test]
    fn media_paths() {
        assert_eq!(media_file("/index.m3u8").as_deref(), Some("index.m3u8"));
        assert_eq!(media_file("a/seg1.ts").as_deref(), Some("a/seg1.ts"));
        for bad in ["", "/", "a//b", "../x", "a/./b"] {
            assert_eq!(media_file(bad), None, "{bad}");
        }
    }

    #[test]
    fn playlists_are_rewritten_to_signed_proxy_urls() {
        let playlist = "#EXTM3U\r\n#EXT-X-MAP:URI=\"init.mp4\"\r\n#EXTINF:1.0,\r\nseg1.ts\r\n\
                        http://127.0.0.1:8888/door/stream.m3u8\r\n/door/sub/seg2.ts\r\n../../etc/passwd\r\n\
                        data:xyz\r\n#EXT-X-ENDLIST";
        let rewritten = rewrite_playlist(playlist, "door", "index.m3u8", "T", "");
        let lines: Vec<&str> = rewritten.split("\r\n").collect();
        assert_eq!(
            lines[1],
            "#EXT-X-MAP:URI=\"/api/streams/media/hls/door/init.mp4?media_token=T\""
        );
        assert_eq!(
            lines[3],
            "/api/streams/media/hls/door/seg1.ts?media_token=T"
        );
        assert_eq!(
            lines[4],
            "/api/streams/media/hls/door/stream.m3u8?media_token=T"
        );
        assert_eq!(
            lines[5],
            "/api/streams/media/hls/door/sub/seg2.ts?media_token=T"
        );
        assert_eq!(
            lines[6], "../../etc/passwd",
            "escaping paths are left alone"
        );
        assert_eq!(lines[7], "data:xyz");
        assert_eq!(lines[8], "#EXT-X-ENDLIST");
        let nested = rewrite_playlist("a.ts\n", "door", "sub/list.m3u8", "T", "/base");
        assert_eq!(
            nested,
            "/base/api/streams/media/hls/door/sub/a.ts?media_token=T\n"
        );
    }
}
