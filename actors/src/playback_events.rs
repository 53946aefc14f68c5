//! What players report (`POST /runtime/playback-events`, original-runtime.md §9): validated
//! batches of events, kept in a bounded in-memory store (900 s, 500 events) with their `data`
//! sanitised, and read back as evidence by the runtime health and observability. Nothing a
//! client sends can grow memory without bound: the batch, each field and the store are capped.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::error::{Errors, Loc, ModelError, from_value};

pub const RETENTION_SECONDS: f64 = 900.0;
pub const MAX_EVENTS: usize = 500;
/// Events this recent are evidence; a session with one is active.
pub const RECENT_SECONDS: f64 = 30.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    App,
    Web,
    HaIngress,
    HaEntity,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

/// The body of `POST /runtime/playback-events`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    playback_session_id: String,
    transmission_id: String,
    #[serde(default)]
    output_id: Option<String>,
    client_kind: ClientKind,
    platform: String,
    #[serde(default)]
    app_state: Option<String>,
    #[serde(default)]
    pip_active: Option<bool>,
    events: Vec<Event>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    severity: Severity,
    at_unix: f64,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Option<Map<String, Value>>,
}

impl Batch {
    /// The body checked as the original's model: lengths, enums, 1 to 50 events (422 naming
    /// the field).
    pub fn parse(body: Value) -> Result<Batch, ModelError> {
        let batch: Batch = from_value(body, &Loc::body())?;
        let mut errors = Errors::default();
        let body = Loc::body();
        let mut length = |loc: Loc, name: &str, value: &str, min: usize, max: usize| {
            let len = value.chars().count();
            if len < min || len > max {
                errors.push(&loc, format!("{name} must be {min} to {max} characters"));
            }
        };
        length(
            body.key("playback_session_id"),
            "playback_session_id",
            &batch.playback_session_id,
            1,
            160,
        );
        length(
            body.key("transmission_id"),
            "transmission_id",
            &batch.transmission_id,
            1,
            160,
        );
        if let Some(output) = &batch.output_id {
            length(body.key("output_id"), "output_id", output, 0, 160);
        }
        length(body.key("platform"), "platform", &batch.platform, 1, 80);
        if let Some(state) = &batch.app_state {
            length(body.key("app_state"), "app_state", state, 0, 80);
        }
        for (index, event) in batch.events.iter().enumerate() {
            let loc = body.key("events").index(index);
            length(loc.key("type"), "type", &event.kind, 1, 80);
            if let Some(message) = &event.message {
                length(loc.key("message"), "message", message, 0, 500);
            }
        }
        if batch.events.is_empty() || batch.events.len() > 50 {
            errors.push(&body.key("events"), "events must have 1 to 50 items");
        }
        for (index, event) in batch.events.iter().enumerate() {
            if !event.at_unix.is_finite() {
                errors.push(
                    &body.key("events").index(index).key("at_unix"),
                    "at_unix must be a finite number",
                );
            }
        }
        errors.into_result()?;
        Ok(batch)
    }
}

/// One event as stored and shown, with its session's fields.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Record {
    pub playback_session_id: String,
    pub transmission_id: String,
    pub output_id: Option<String>,
    pub client_kind: ClientKind,
    pub platform: String,
    pub app_state: Option<String>,
    pub pip_active: Option<bool>,
    #[serde(rename = "type")]
    pub kind: String,
    pub severity: Severity,
    pub at_unix: f64,
    pub received_at_unix: f64,
    pub message: Option<String>,
    pub data: Map<String, Value>,
}

/// `{accepted, retained}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Recorded {
    pub accepted: usize,
    pub retained: usize,
}

/// A session that reported within `RECENT_SECONDS`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ActiveSession {
    pub playback_session_id: String,
    pub transmission_id: String,
    pub output_id: Option<String>,
    pub client_kind: ClientKind,
    pub platform: String,
    pub app_state: Option<String>,
    pub pip_active: Option<bool>,
    pub first_event_at_unix: f64,
    pub last_event_at_unix: f64,
    pub last_type: String,
    pub last_severity: Severity,
}

/// The bounded store.
#[derive(Default)]
pub struct PlaybackEvents {
    events: Mutex<VecDeque<Record>>,
}

/// The process's store (players report to the service, not to one actor).
pub fn store() -> &'static PlaybackEvents {
    static STORE: OnceLock<PlaybackEvents> = OnceLock::new();
    STORE.get_or_init(PlaybackEvents::default)
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

impl PlaybackEvents {
    pub fn record(&self, batch: Batch, now: f64) -> Recorded {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let mut accepted = 0;
        let output_id = batch.output_id.filter(|o| !o.trim().is_empty());
        let app_state = batch.app_state.filter(|s| !s.trim().is_empty());
        for event in batch.events {
            let kind = cut(event.kind.trim(), 80);
            if kind.is_empty() {
                continue;
            }
            let data = event.data.map(|d| sanitize_map(d, 1)).unwrap_or_default();
            // Scanned only for a first frame that does not say its own time.
            let since_session_began = || {
                let began = events
                    .iter()
                    .filter(|e| e.playback_session_id == batch.playback_session_id)
                    .map(|e| e.at_unix)
                    .fold(event.at_unix, f64::min);
                event.at_unix - began
            };
            count(&kind, &data, since_session_began);
            events.push_back(Record {
                playback_session_id: batch.playback_session_id.clone(),
                transmission_id: batch.transmission_id.clone(),
                output_id: output_id.clone(),
                client_kind: batch.client_kind,
                platform: batch.platform.clone(),
                app_state: app_state.clone(),
                pip_active: batch.pip_active,
                kind,
                severity: event.severity,
                at_unix: event.at_unix,
                received_at_unix: now,
                message: event.message.map(|m| cut(m.trim(), 500)),
                data,
            });
            accepted += 1;
        }
        prune(&mut events, now);
        Recorded {
            accepted,
            retained: events.len(),
        }
    }

    /// Events of `transmission_id` (all with `None`) at or after `since`, oldest first, at most
    /// `limit` (the newest ones), as retained at `now`.
    pub fn list(
        &self,
        transmission_id: Option<&str>,
        since: Option<f64>,
        limit: usize,
        now: f64,
    ) -> Vec<Record> {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut events, now);
        let mut found: Vec<Record> = events
            .iter()
            .rev()
            .filter(|e| transmission_id.is_none_or(|t| e.transmission_id == t))
            .filter(|e| since.is_none_or(|s| e.at_unix >= s || e.received_at_unix >= s))
            .take(limit)
            .cloned()
            .collect();
        found.reverse();
        found
    }
}

/// Longer than this from a session's first event to its first frame is a clock problem, not a
/// measurement.
const MAX_FIRST_FRAME_SECONDS: f64 = 600.0;

/// What an event adds to `/metrics`: a `first_frame` is a time-to-first-frame sample (its
/// `time_to_first_frame_ms`, else the time since the session's first retained event), a
/// `transport_fallback` counts its `from` -> `to` (docs/api.md "Playback events").
fn count(kind: &str, data: &Map<String, Value>, since_session_began: impl FnOnce() -> f64) {
    let text = |keys: &[&str]| keys.iter().find_map(|k| data.get(*k)?.as_str());
    match kind {
        "first_frame" => {
            let transport = text(&["effective_transport", "playback_transport", "transport"])
                .map_or("other", crate::metrics::transport_label);
            let seconds = data
                .get("time_to_first_frame_ms")
                .and_then(Value::as_f64)
                .map_or_else(since_session_began, |ms| ms / 1000.0);
            if seconds <= MAX_FIRST_FRAME_SECONDS {
                crate::metrics::events().first_frame(
                    transport,
                    crate::metrics::MeasuredBy::Player,
                    seconds,
                );
            }
        }
        "transport_fallback" | "fallback" => {
            if let (Some(from), Some(to)) = (
                text(&["from", "from_transport"]),
                text(&["to", "to_transport"]),
            ) {
                crate::metrics::events().fallback(
                    crate::metrics::transport_label(from),
                    crate::metrics::transport_label(to),
                );
            }
        }
        _ => {}
    }
}

fn prune(events: &mut VecDeque<Record>, now: f64) {
    while events
        .front()
        .is_some_and(|e| e.received_at_unix < now - RETENTION_SECONDS)
    {
        events.pop_front();
    }
    while events.len() > MAX_EVENTS {
        events.pop_front();
    }
}

const SECRET_KEYS: [&str; 7] = [
    "authorization",
    "cookie",
    "header",
    "password",
    "secret",
    "token",
    "url",
];

fn sanitize_map(map: Map<String, Value>, depth: usize) -> Map<String, Value> {
    map.into_iter()
        .map(|(key, value)| {
            let lower = key.to_lowercase();
            let value = if SECRET_KEYS.iter().any(|k| lower.contains(k)) {
                Value::from("[REDACTED]")
            } else {
                sanitize(value, depth + 1)
            };
            (key, value)
        })
        .collect()
}

/// The original's rules: depth over 4 truncated, lists to 30 items, URLs hidden, strings cut.
fn sanitize(value: Value, depth: usize) -> Value {
    if depth > 4 {
        return Value::from("[TRUNCATED]");
    }
    match value {
        // A signed media path is a credential too, even without a scheme.
        Value::String(text) if text.contains("://") || text.contains("media_token=") => {
            Value::from("[REDACTED_URL]")
        }
        Value::String(text) => Value::from(cut(&text, 500)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .take(30)
                .map(|item| sanitize(item, depth + 1))
                .collect(),
        ),
        Value::Object(map) => Value::Object(sanitize_map(map, depth)),
        other => other,
    }
}

/// Sessions with an event in the last `RECENT_SECONDS`, most recent first.
pub fn active_sessions(events: &[&Record], now: f64) -> Vec<ActiveSession> {
    let mut sessions: BTreeMap<&str, ActiveSession> = BTreeMap::new();
    for event in events {
        let session = sessions
            .entry(&event.playback_session_id)
            .or_insert_with(|| ActiveSession {
                playback_session_id: event.playback_session_id.clone(),
                transmission_id: event.transmission_id.clone(),
                output_id: event.output_id.clone(),
                client_kind: event.client_kind,
                platform: event.platform.clone(),
                app_state: event.app_state.clone(),
                pip_active: event.pip_active,
                first_event_at_unix: event.at_unix,
                last_event_at_unix: f64::MIN,
                last_type: event.kind.clone(),
                last_severity: event.severity,
            });
        session.first_event_at_unix = session.first_event_at_unix.min(event.at_unix);
        if event.at_unix >= session.last_event_at_unix {
            session.output_id = event.output_id.clone();
            session.client_kind = event.client_kind;
            session.platform = event.platform.clone();
            session.app_state = event.app_state.clone();
            session.pip_active = event.pip_active;
            session.last_event_at_unix = event.at_unix;
            session.last_type = event.kind.clone();
            session.last_severity = event.severity;
        }
    }
    let mut active: Vec<ActiveSession> = sessions
        .into_values()
        .filter(|s| s.last_event_at_unix >= now - RECENT_SECONDS)
        .collect();
    active.sort_by(|a, b| b.last_event_at_unix.total_cmp(&a.last_event_at_unix));
    active
}

/// What recent events say about playback, by the classes they can prove (docs/api.md,
/// "Playback events"): matched on the event type and message, lower-cased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    AuthOrUrl { auth: bool },
    HlsTailUnavailable,
    HlsPlaylistStale,
    WebrtcTransport,
    PlayerLifecycle,
}

fn finding(event: &Record) -> Option<Finding> {
    let text = format!(
        "{} {}",
        event.kind.to_lowercase(),
        event.message.as_deref().unwrap_or("").to_lowercase()
    );
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let problem = matches!(event.severity, Severity::Warn | Severity::Error);
    if has(&["auth", "401", "403", "unauthorized", "forbidden"]) && problem {
        return Some(Finding::AuthOrUrl { auth: true });
    }
    if has(&["url"]) && has(&["invalid", "port", "proxy", "404", "unreachable"]) && problem {
        return Some(Finding::AuthOrUrl { auth: false });
    }
    if has(&["hls"]) && has(&["tail", "segment_unavailable", "segment unavailable"]) {
        return Some(Finding::HlsTailUnavailable);
    }
    if has(&["hls"]) && has(&["stale", "stopped advancing", "not advancing"]) {
        return Some(Finding::HlsPlaylistStale);
    }
    if has(&["webrtc", "whep"]) && has(&["ice", "signaling", "signalling", "transport"]) && problem
    {
        return Some(Finding::WebrtcTransport);
    }
    if problem && has(&["stall", "error", "lifecycle", "failed"]) {
        return Some(Finding::PlayerLifecycle);
    }
    None
}

/// Events that mean playback works again.
pub fn is_recovery(event: &Record) -> bool {
    let kind = event.kind.to_lowercase();
    [
        "first_frame",
        "playing",
        "playback_started",
        "recovered",
        "resumed",
    ]
    .iter()
    .any(|k| kind.contains(k))
}

/// The findings of `events` (oldest first) that playback has not recovered from since: a
/// recovery event of the same session clears that session's earlier problems.
pub fn open_findings(events: &[&Record]) -> Vec<Finding> {
    let mut open: Vec<(&str, Finding)> = Vec::new();
    for event in events {
        if is_recovery(event) {
            open.retain(|(session, _)| *session != event.playback_session_id);
        } else if let Some(found) = finding(event) {
            open.push((&event.playback_session_id, found));
        }
    }
    open.into_iter().map(|(_, found)| found).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn batch(events: Value) -> Batch {
        Batch::parse(
            json!({"playback_session_id": "s1", "transmission_id": "t", "client_kind": "web",
                            "platform": "chrome", "events": events}),
        )
        .unwrap()
    }

    #[test]
    fn the_body_is_checked_as_the_original() {
        let ok = json!({"playback_session_id": "s", "transmission_id": "t", "client_kind": "app",
                        "platform": "ios", "events": [{"type": "first_frame", "at_unix": 1.0}]});
        assert!(Batch::parse(ok.clone()).is_ok());
        for (patch, loc) in [
            (json!({"client_kind": "tv"}), "client_kind"),
            (json!({"events": []}), "events"),
            (json!({"platform": ""}), "platform"),
            (
                json!({"playback_session_id": "x".repeat(161)}),
                "playback_session_id",
            ),
            (json!({"extra": 1}), "extra"),
        ] {
            let mut body = ok.clone();
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            let Err(ModelError::Invalid(errors)) = Batch::parse(body) else {
                panic!("{loc} accepted")
            };
            assert_eq!(errors[0].loc[1], loc, "{errors:?}");
        }
        let mut many = ok;
        many["events"] = json!(vec![json!({"type": "x", "at_unix": 1.0}); 51]);
        assert!(Batch::parse(many).is_err());
    }

    #[test]
    fn data_is_sanitised_and_the_store_is_bounded() {
        let events = PlaybackEvents::default();
        let data = json!({"url": "http://x", "Auth_Token": "t", "note": "see rtsp://a:b@c/d",
                          "list": (0..40).collect::<Vec<_>>(), "deep": {"a": {"b": {"c": {"d": 1}}}}});
        events.record(
            batch(json!([{"type": "error", "at_unix": 1.0, "data": data}])),
            100.0,
        );
        let stored = &events.list(None, None, 10, 100.0)[0];
        assert_eq!(stored.data["url"], "[REDACTED]");
        assert_eq!(stored.data["Auth_Token"], "[REDACTED]");
        assert_eq!(stored.data["note"], "[REDACTED_URL]");
        assert_eq!(stored.data["list"].as_array().unwrap().len(), 30);
        assert_eq!(stored.data["deep"]["a"]["b"]["c"], "[TRUNCATED]");
        for round in 0..30 {
            let many: Vec<Value> = (0..50)
                .map(|_| json!({"type": "tick", "at_unix": 1.0}))
                .collect();
            let recorded = events.record(batch(json!(many)), 100.0 + f64::from(round));
            assert!(recorded.retained <= MAX_EVENTS);
        }
        // Past the retention, nothing is kept.
        let later = events.record(batch(json!([{"type": "tick", "at_unix": 1.0}])), 2000.0);
        assert_eq!(later.retained, 1);
    }

    #[test]
    fn findings_clear_when_playback_recovers() {
        let events = PlaybackEvents::default();
        events.record(
            batch(
                json!([{"type": "hls_error", "severity": "error", "at_unix": 1.0,
                          "message": "HTTP 401 Unauthorized"}]),
            ),
            10.0,
        );
        let list = events.list(None, None, 10, 10.0);
        let refs: Vec<&Record> = list.iter().collect();
        assert_eq!(open_findings(&refs), [Finding::AuthOrUrl { auth: true }]);
        events.record(
            batch(json!([{"type": "first_frame", "at_unix": 2.0}])),
            11.0,
        );
        let list = events.list(None, None, 10, 11.0);
        let refs: Vec<&Record> = list.iter().collect();
        assert_eq!(open_findings(&refs), []);
        let refs: Vec<&Record> = list.iter().collect();
        let sessions = active_sessions(&refs, 12.0);
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].last_type, "first_frame");
    }
}
