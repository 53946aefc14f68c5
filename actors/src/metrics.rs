//! Prometheus metrics (`GET /metrics`, text format 0.0.4, encoded by `prometheus-client`).
//!
//! Two kinds of numbers: events counted as they happen, process-wide in [`events`] (HTTP
//! requests, time to first frame, transport fallbacks, engine config failures), and the state
//! of the runtime read at scrape time from the same views `/runtime/*` shows ([`Facts`]), so a
//! deleted transmission leaves no series behind. Every label value comes from a closed set or
//! from a configured transmission, output or actor name: nothing a client sends becomes a label.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::engine::EngineStatus;
use crate::health::RuntimeHealth;
use crate::sidecar::actor::SidecarStatus;
use crate::supervision::observe::ActorSnapshot;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Who measured a first frame: the service (demand start to the engine's ready path, or a
/// relay's first media byte) or a player (its `first_frame` playback event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasuredBy {
    Server,
    Player,
}

impl MeasuredBy {
    fn as_str(self) -> &'static str {
        match self {
            MeasuredBy::Server => "server",
            MeasuredBy::Player => "player",
        }
    }
}

/// Transports as labels: a closed set, whatever a player calls them.
pub const TRANSPORTS: [&str; 7] = ["rtsp", "hls", "webrtc", "mse", "jsmpeg", "rtmp", "srt"];

/// A player's or the API's transport name as a label (`other` when not one of [`TRANSPORTS`]).
pub fn transport_label(name: &str) -> &'static str {
    let name = name.trim().to_ascii_lowercase();
    let name = match name.as_str() {
        "rtsps" => "rtsp",
        "ll-hls" | "llhls" | "native_hls" | "hls.js" | "hlsjs" => "hls",
        "whep" => "webrtc",
        other => other,
    };
    TRANSPORTS
        .iter()
        .find(|known| **known == name)
        .copied()
        .unwrap_or("other")
}

/// The transport of one of the engine's reader kinds (`/v3/paths/list` `readers[].type`).
pub fn reader_transport(kind: &str) -> &'static str {
    match kind {
        "rtspSession" | "rtspsSession" => "rtsp",
        "hlsMuxer" => "hls",
        "webRTCSession" => "webrtc",
        "rtmpConn" | "rtmpsConn" => "rtmp",
        "srtConn" => "srt",
        _ => "other",
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FirstFrameLabels {
    transport: &'static str,
    measured_by: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FallbackLabels {
    from: &'static str,
    to: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn first_frame_histogram() -> Histogram {
    // From a warm path (a fraction of a second) to a cold engine start with a slow camera.
    Histogram::new([0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0])
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// What is counted as it happens, for the life of the process.
pub struct Events {
    first_frame: Histograms<FirstFrameLabels>,
    fallbacks: Family<FallbackLabels, Counter>,
    http_requests: Family<RequestLabels, Counter>,
    http_latency: Histograms<RouteLabels>,
    engine_config_failures: Counter,
}

static EVENTS: LazyLock<Events> = LazyLock::new(|| Events {
    first_frame: Family::new_with_constructor(first_frame_histogram),
    fallbacks: Family::default(),
    http_requests: Family::default(),
    http_latency: Family::new_with_constructor(latency_histogram),
    engine_config_failures: Counter::default(),
});

pub fn events() -> &'static Events {
    &EVENTS
}

impl Events {
    /// A first frame `seconds` after the viewer's demand started.
    pub fn first_frame(&self, transport: &'static str, by: MeasuredBy, seconds: f64) {
        if seconds.is_finite() && seconds >= 0.0 {
            self.first_frame
                .get_or_create(&FirstFrameLabels {
                    transport,
                    measured_by: by.as_str(),
                })
                .observe(seconds);
        }
    }

    /// A player moved from one transport to the next.
    pub fn fallback(&self, from: &'static str, to: &'static str) {
        self.fallbacks
            .get_or_create(&FallbackLabels { from, to })
            .inc();
    }

    /// One answered HTTP request. `route` is the router's template (`/api/streams/transmissions/{id}`)
    /// or `unmatched`, never the raw path.
    pub fn http_request(&self, route: String, method: &str, status: u16, elapsed: Duration) {
        let method = match method {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "PATCH" => "PATCH",
            "DELETE" => "DELETE",
            "HEAD" => "HEAD",
            "OPTIONS" => "OPTIONS",
            _ => "other",
        };
        self.http_requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                method,
                status,
            })
            .inc();
        self.http_latency
            .get_or_create(&RouteLabels { route, method })
            .observe(elapsed.as_secs_f64());
    }

    /// The engine refused (or did not answer) a path/user change.
    pub fn engine_config_failed(&self) {
        self.engine_config_failures.inc();
    }
}

/// The runtime's state at scrape time; a part that did not answer is `None` and its metrics are
/// absent (never zero, which would read as "nothing running").
pub struct Facts {
    pub health: Option<RuntimeHealth>,
    pub engine: Option<EngineStatus>,
    pub sidecar: Option<SidecarStatus>,
    pub actors: ActorSnapshot,
    pub active_playback_sessions: usize,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransmissionLabels {
    transmission: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutputLabels {
    transmission: String,
    output: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DemandLabels {
    transmission: String,
    output: String,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActorLabels {
    kind: &'static str,
    path: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// Actors made per viewer: counted by kind alone, so viewers cannot grow the label set.
const SESSION_KINDS: [&str; 2] = ["jsmpeg_session", "mse_session"];

/// The whole exposition: the runtime's state now and the events so far.
pub fn render(facts: &Facts) -> String {
    let mut registry = Registry::with_prefix("toposync");
    let build = Family::<VersionLabels, Gauge>::default();
    build
        .get_or_create(&VersionLabels {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
    registry.register("build_info", "The running version", build);
    register_events(&mut registry);
    if let Some(health) = &facts.health {
        register_health(&mut registry, health);
    }
    register_actors(&mut registry, &facts.actors);
    if let Some(engine) = &facts.engine {
        let gauge = |value: bool| {
            let gauge = Gauge::<i64>::default();
            gauge.set(i64::from(value));
            gauge
        };
        registry.register(
            "engine_up",
            "1 while MediaMTX runs and its API answers",
            gauge(engine.ready),
        );
        registry.register(
            "engine_config_applied",
            "1 while the running engine has every path and user of the settings in force",
            gauge(engine.config_applied),
        );
        let restarts = Counter::<u64>::default();
        restarts.inc_by(u64::from(engine.restart_count));
        registry.register(
            "engine_restarts",
            "Times MediaMTX was started again after a failure",
            restarts,
        );
    }
    if let Some(sidecar) = &facts.sidecar {
        let up = Gauge::<i64>::default();
        up.set(i64::from(sidecar.running));
        registry.register("mse_sidecar_up", "1 while the go2rtc sidecar runs", up);
    }
    let playback = Gauge::<i64>::default();
    playback.set(i64::try_from(facts.active_playback_sessions).unwrap_or(i64::MAX));
    registry.register(
        "playback_sessions_active",
        "Player sessions that reported a playback event in the last 30 s",
        playback,
    );
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
    text
}

fn register_events(registry: &mut Registry) {
    let events = events();
    registry.register_with_unit(
        "time_to_first_frame",
        "From a viewer's demand to its first frame, per transport and who measured it",
        Unit::Seconds,
        events.first_frame.clone(),
    );
    registry.register(
        "transport_fallbacks",
        "Players moving from one transport to the next",
        events.fallbacks.clone(),
    );
    registry.register(
        "http_requests",
        "HTTP requests answered, per route template, method and status",
        events.http_requests.clone(),
    );
    registry.register_with_unit(
        "http_request_duration",
        "Time to the response head, per route template and method",
        Unit::Seconds,
        events.http_latency.clone(),
    );
    registry.register(
        "engine_config_apply_failures",
        "Path/user changes the engine refused or did not answer (each is retried)",
        events.engine_config_failures.clone(),
    );
}

fn register_health(registry: &mut Registry, health: &RuntimeHealth) {
    let ingested = Family::<TransmissionLabels, Counter>::default();
    let frame_age =
        Family::<TransmissionLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let encoding = Family::<OutputLabels, Gauge>::default();
    let viewers = Family::<OutputLabels, Gauge>::default();
    let demand = Family::<DemandLabels, Gauge>::default();
    let restarts = Family::<OutputLabels, Counter>::default();
    let sent = Family::<OutputLabels, Counter>::default();
    let encoded = Family::<OutputLabels, Counter>::default();
    let dropped = Family::<OutputLabels, Counter>::default();
    let mut running = 0;
    for transmission in &health.transmissions {
        let labels = TransmissionLabels {
            transmission: transmission.transmission_id.clone(),
        };
        ingested
            .get_or_create(&labels)
            .inc_by(transmission.frames_ingested);
        if let Some(age) = transmission.selection.selected_frame_age_seconds {
            frame_age.get_or_create(&labels).set(age);
        }
        for output in &transmission.outputs {
            let labels = OutputLabels {
                transmission: output.transmission_id.clone(),
                output: output.output_id.clone(),
            };
            let publisher = &output.publisher;
            running += usize::from(publisher.publisher_running);
            encoding
                .get_or_create(&labels)
                .set(i64::from(publisher.publisher_running));
            viewers
                .get_or_create(&labels)
                .set(i64::try_from(output.viewer_count).unwrap_or(i64::MAX));
            if let Some(view) = &output.runtime.view {
                demand
                    .get_or_create(&DemandLabels {
                        transmission: labels.transmission.clone(),
                        output: labels.output.clone(),
                        reason: view.reason.as_str(),
                    })
                    .set(1);
            }
            restarts
                .get_or_create(&labels)
                .inc_by(u64::from(publisher.publisher_restart_count));
            if let Some(status) = &output.runtime.publisher {
                sent.get_or_create(&labels).inc_by(status.frames_written);
                encoded.get_or_create(&labels).inc_by(status.frames_encoded);
                dropped.get_or_create(&labels).inc_by(status.frames_dropped);
            }
        }
    }
    let total = Gauge::<i64>::default();
    total.set(i64::try_from(running).unwrap_or(i64::MAX));
    registry.register("encoders_running", "FFmpeg publishers running now", total);
    registry.register(
        "transmission_frames_ingested",
        "Frames writers delivered to a transmission (since its actor started)",
        ingested,
    );
    registry.register_with_unit(
        "transmission_frame_age",
        "Age of the frame a transmission shows",
        Unit::Seconds,
        frame_age,
    );
    registry.register(
        "output_encoding",
        "1 while an output's publisher runs",
        encoding,
    );
    registry.register(
        "output_viewers",
        "Readers the engine counts on an output's path",
        viewers,
    );
    registry.register(
        "output_demand",
        "1 for an output's current demand reason",
        demand,
    );
    registry.register(
        "publisher_restarts",
        "Times an output's publisher was restarted after a failure",
        restarts,
    );
    registry.register(
        "publisher_frames_sent",
        "Frames written to an output's FFmpeg (since its publisher started)",
        sent,
    );
    registry.register(
        "publisher_frames_encoded",
        "Frames an output's FFmpeg reports encoded (since its publisher started)",
        encoded,
    );
    registry.register(
        "publisher_frames_dropped",
        "Frames an output's publisher skipped because FFmpeg was behind",
        dropped,
    );
}

fn register_actors(registry: &mut Registry, root: &ActorSnapshot) {
    let restarts = Family::<ActorLabels, Counter>::default();
    let count = Family::<ActorLabels, Gauge>::default();
    // The path below the root names an actor uniquely (two transmissions both have an
    // `output:main` publisher).
    let mut stack: Vec<(&ActorSnapshot, String)> =
        root.children.iter().map(|c| (c, c.name.clone())).collect();
    while let Some((actor, path)) = stack.pop() {
        let labels = ActorLabels {
            kind: actor.kind,
            path: if SESSION_KINDS.contains(&actor.kind) {
                String::new()
            } else {
                path.clone()
            },
        };
        restarts
            .get_or_create(&labels)
            .inc_by(u64::from(actor.restarts));
        count.get_or_create(&labels).inc();
        stack.extend(
            actor
                .children
                .iter()
                .map(|child| (child, format!("{path}/{}", child.name))),
        );
    }
    registry.register(
        "actor_restarts",
        "Times a supervisor restarted an actor, per kind and path in the tree (sessions summed per kind)",
        restarts,
    );
    registry.register(
        "actors",
        "Live actors per kind and path in the tree (sessions counted per kind)",
        count,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_are_a_closed_set() {
        assert_eq!(transport_label("WebRTC"), "webrtc");
        assert_eq!(transport_label("whep"), "webrtc");
        assert_eq!(transport_label("ll-hls"), "hls");
        assert_eq!(transport_label("<script>"), "other");
        assert_eq!(reader_transport("rtspSession"), "rtsp");
        assert_eq!(reader_transport("hlsMuxer"), "hls");
        assert_eq!(reader_transport("somethingNew"), "other");
    }

    #[test]
    fn an_idle_service_exposes_its_version_and_actor_tree() {
        let facts = Facts {
            health: None,
            engine: None,
            sidecar: None,
            actors: ActorSnapshot {
                name: "root".into(),
                kind: "root_supervisor",
                status: "running".into(),
                restarts: 0,
                last_error: None,
                pid: None,
                state: serde_json::Value::Null,
                children: vec![ActorSnapshot {
                    name: "abc".into(),
                    kind: "mse_session",
                    status: "running".into(),
                    restarts: 2,
                    last_error: None,
                    pid: None,
                    state: serde_json::Value::Null,
                    children: Vec::new(),
                }],
            },
            active_playback_sessions: 0,
        };
        let text = render(&facts);
        assert!(text.contains("toposync_build_info{version=\""), "{text}");
        assert!(
            !text.contains("root_supervisor"),
            "the root is the tree itself: {text}"
        );
        assert!(
            text.contains("toposync_actor_restarts_total{kind=\"mse_session\",path=\"\"} 2"),
            "{text}"
        );
        assert!(
            !text.contains("abc"),
            "session ids never become labels: {text}"
        );
        assert!(!text.contains("toposync_engine_up"), "{text}");
    }
}
