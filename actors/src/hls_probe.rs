//! `GET /transmissions/{id}/hls/probe`: is the engine's HLS of an output playable right now?
//! Fetches the playlist (and its first variant), then asks for the first bytes of the newest
//! segment. The original's answer (§6.1), every field always present.
//!
//! The playlists are read for four things (variant URIs, `#EXT-X-TARGETDURATION`,
//! `#EXT-X-MEDIA-SEQUENCE`, segment URIs); a full m3u8 parser (m3u8-rs brings nom and chrono)
//! would cost more build time than these few lines, which are tested below. URIs are resolved
//! with `url::Url::join`, as a player does.

use std::time::Duration;

use serde::Serialize;
use url::Url;

use crate::model::transmission::{Protocol, Transmission};
use crate::urls::PlaybackPorts;

const PROBE_TIMEOUT: Duration = Duration::from_millis(2500);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProbeStatus {
    Ok,
    EngineStopped,
    NoHlsOutput,
    PlaylistUnreachable,
    TailUnavailable,
    ProbeError,
}

/// `StreamingHlsProbeResponse`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HlsProbe {
    pub transmission_id: String,
    pub output_id: Option<String>,
    pub url: Option<String>,
    pub media_playlist_url: Option<String>,
    pub playlist_reachable: bool,
    pub target_duration_seconds: Option<f64>,
    pub media_sequence: Option<i64>,
    pub tail_segment_url: Option<String>,
    pub tail_segment_http_status: Option<u16>,
    pub tail_segment_reachable: bool,
    pub sampled_at_unix: f64,
    pub status: ProbeStatus,
    pub error: Option<String>,
}

/// What the probe reads of a playlist.
#[derive(Debug, Default, PartialEq)]
struct Playlist {
    /// It has `#EXT-X-STREAM-INF` tags: a master playlist.
    master: bool,
    /// URIs after `#EXT-X-STREAM-INF`.
    variants: Vec<String>,
    target_duration: Option<f64>,
    media_sequence: Option<i64>,
    /// Every other URI line (a media playlist's segments).
    segments: Vec<String>,
}

impl Playlist {
    fn parse(text: &str) -> Playlist {
        let mut playlist = Playlist::default();
        let mut variant_next = false;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(tag) = line.strip_prefix('#') {
                if tag.starts_with("EXT-X-STREAM-INF") {
                    playlist.master = true;
                    variant_next = true;
                } else if let Some(value) = tag.strip_prefix("EXT-X-TARGETDURATION:") {
                    playlist.target_duration = value.trim().parse::<f64>().ok().map(|v| v.max(0.0));
                } else if let Some(value) = tag.strip_prefix("EXT-X-MEDIA-SEQUENCE:") {
                    playlist.media_sequence = value.trim().parse().ok();
                }
                continue;
            }
            if std::mem::take(&mut variant_next) {
                playlist.variants.push(line.to_string());
            } else {
                playlist.segments.push(line.to_string());
            }
        }
        playlist
    }
}

/// Probes `transmission`'s HLS output (`output_id`, else its first enabled one) on the engine at
/// `ports` (`None`: not running).
pub async fn probe(
    transmission: &Transmission,
    output_id: Option<&str>,
    ports: Option<PlaybackPorts>,
    preferred_hls_port: u16,
) -> HlsProbe {
    let output = transmission
        .enabled_outputs()
        .filter(|o| o.protocol == Protocol::Hls)
        .find(|o| output_id.is_none_or(|wanted| o.id == wanted));
    let mut answer = HlsProbe {
        transmission_id: transmission.id.clone(),
        output_id: output
            .map(|o| o.id.clone())
            .or(output_id.map(str::to_string)),
        url: None,
        media_playlist_url: None,
        playlist_reachable: false,
        target_duration_seconds: None,
        media_sequence: None,
        tail_segment_url: None,
        tail_segment_http_status: None,
        tail_segment_reachable: false,
        sampled_at_unix: crate::unix_now(),
        status: ProbeStatus::NoHlsOutput,
        error: Some("Transmission does not expose a matching HLS output.".into()),
    };
    let Some(output) = output else {
        return answer;
    };
    let port = ports.map_or(preferred_hls_port, |p| p.hls);
    let path = transmission.engine_path(output);
    let url = format!("http://127.0.0.1:{port}/{path}/index.m3u8");
    answer.url = Some(url.clone());
    if ports.is_none() {
        answer.status = ProbeStatus::EngineStopped;
        answer.error = Some("Streaming engine is stopped.".into());
        return answer;
    }
    let client = Client {
        http: crate::net::http_client(),
        credentials: output
            .credentials()
            .map(|(u, p)| (u.to_string(), p.to_string())),
    };
    match walk(&client, &url, &mut answer).await {
        Ok(()) => {}
        Err(error) => {
            answer.status = ProbeStatus::ProbeError;
            answer.error = Some(error);
        }
    }
    answer
}

struct Client {
    http: reqwest::Client,
    credentials: Option<(String, String)>,
}

impl Client {
    async fn get(&self, url: &Url, first_bytes: bool) -> Result<reqwest::Response, String> {
        let mut request = self.http.get(url.clone()).timeout(PROBE_TIMEOUT);
        request = if first_bytes {
            request.header("range", "bytes=0-1")
        } else {
            request.header("accept", "application/vnd.apple.mpegurl")
        };
        if let Some((user, pass)) = &self.credentials {
            request = request.basic_auth(user, Some(pass));
        }
        request.send().await.map_err(|err| err.to_string())
    }

    /// A playlist's text, or the status it answered with.
    async fn playlist(&self, url: &Url) -> Result<Result<String, u16>, String> {
        let response = self.get(url, false).await?;
        if !response.status().is_success() {
            return Ok(Err(response.status().as_u16()));
        }
        response.text().await.map(Ok).map_err(|err| err.to_string())
    }
}

/// Master playlist -> media playlist -> tail segment, filling `answer` as far as it gets.
/// `Err` is a transport failure (`probe_error`).
async fn walk(client: &Client, url: &str, answer: &mut HlsProbe) -> Result<(), String> {
    let unreachable = |answer: &mut HlsProbe, error: String| {
        answer.status = ProbeStatus::PlaylistUnreachable;
        answer.error = Some(error);
    };
    let master_url = Url::parse(url).map_err(|err| err.to_string())?;
    let master = match client.playlist(&master_url).await? {
        Ok(text) => text,
        Err(code) => {
            unreachable(answer, format!("HLS master playlist returned {code}."));
            return Ok(());
        }
    };
    let master = Playlist::parse(&master);
    let (media_url, media) = if !master.master {
        answer.media_playlist_url = Some(master_url.to_string());
        (master_url, master)
    } else if let Some(variant) = master.variants.first() {
        let media_url = master_url.join(variant).map_err(|err| err.to_string())?;
        answer.media_playlist_url = Some(media_url.to_string());
        match client.playlist(&media_url).await? {
            Ok(text) => (media_url, Playlist::parse(&text)),
            Err(code) => {
                unreachable(answer, format!("HLS media playlist returned {code}."));
                return Ok(());
            }
        }
    } else {
        unreachable(
            answer,
            "HLS master playlist is missing variant entries.".into(),
        );
        return Ok(());
    };
    answer.playlist_reachable = true;
    answer.target_duration_seconds = media.target_duration;
    answer.media_sequence = media.media_sequence;
    let Some(tail) = media.segments.last() else {
        unreachable(answer, "HLS media playlist is empty.".into());
        return Ok(());
    };
    let tail_url = media_url.join(tail).map_err(|err| err.to_string())?;
    let response = client.get(&tail_url, true).await?;
    let code = response.status().as_u16();
    let reachable = response.status().is_success();
    answer.tail_segment_url = Some(tail_url.to_string());
    answer.tail_segment_http_status = Some(code);
    answer.tail_segment_reachable = reachable;
    if reachable {
        answer.status = ProbeStatus::Ok;
        answer.error = None;
    } else {
        answer.status = ProbeStatus::TailUnavailable;
        answer.error = Some(format!("HLS tail segment returned {code}."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_and_media_playlists_as_mediamtx_writes_them() {
        let master = Playlist::parse(
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1200000,CODECS=\"avc1.64001f\",RESOLUTION=1280x720\n\
             main_stream.m3u8\n",
        );
        assert!(master.master);
        assert_eq!(master.variants, ["main_stream.m3u8"]);
        assert!(master.segments.is_empty());
        let media = Playlist::parse(
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:41\n\
             #EXTINF:1.00000,\n1a2b_seg41.mp4\n#EXTINF:1.00000,\n1a2b_seg42.mp4\n",
        );
        assert!(!media.master);
        assert_eq!(media.target_duration, Some(2.0));
        assert_eq!(media.media_sequence, Some(41));
        assert_eq!(media.segments, ["1a2b_seg41.mp4", "1a2b_seg42.mp4"]);
    }

    #[test]
    fn uris_resolve_as_a_player_resolves_them() {
        let master = Url::parse("http://127.0.0.1:8888/door/index.m3u8").unwrap();
        let join = |uri: &str| master.join(uri).unwrap().to_string();
        assert_eq!(join("main.m3u8"), "http://127.0.0.1:8888/door/main.m3u8");
        assert_eq!(
            join("/other/seg.mp4"),
            "http://127.0.0.1:8888/other/seg.mp4"
        );
        assert_eq!(join("http://cdn/x.ts"), "http://cdn/x.ts");
    }
}
