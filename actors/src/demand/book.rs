//! Per-output demand as pure bookkeeping over instants: viewers (from the engine), primes,
//! heartbeat leases and synthetic hints (from the engine log), and the debounced decision of which
//! outputs should be encoding. The demand actor owns one book and drives it from a clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::model::transmission::{QualityProfileId, Transmission};
use crate::publishers::target::output_key;

/// Encoding stops this long after the last demand went away (spec: 3 s), so a player that
/// reconnects does not restart the encoder.
pub const STOP_DEBOUNCE: Duration = Duration::from_secs(3);
/// A prime with no TTL given (spec: 60 s); TTLs are clamped to `PRIME_TTL_RANGE`.
pub const DEFAULT_PRIME_TTL: Duration = Duration::from_secs(60);
pub const PRIME_TTL_RANGE: (u64, u64) = (1, 1800);
/// A "no stream is available on path" line keeps its path demanded this long (spec: 4 s).
pub const HINT_TTL: Duration = Duration::from_secs(4);
/// Heartbeat TTLs a client may ask for.
pub const HEARTBEAT_TTL_RANGE: (u64, u64) = (5, 1800);

/// Who renews a heartbeat lease. Players renew every third of their lease; a Home Assistant
/// entity polls less often, so its lease is longer (the original's 45 s / 90 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeartbeatClient {
    Web,
    App,
    Pip,
    Ptz,
    HaEntity,
}

impl HeartbeatClient {
    pub fn default_ttl(self) -> Duration {
        match self {
            HeartbeatClient::HaEntity => Duration::from_secs(90),
            _ => Duration::from_secs(45),
        }
    }
}

/// Why an output is (or is not) demanded, most direct reason first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DemandReason {
    ViewerCount,
    HeartbeatLease,
    Prime,
    EngineNoStreamHint,
    NoActiveDemand,
}

impl DemandReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DemandReason::ViewerCount => "viewer_count",
            DemandReason::HeartbeatLease => "heartbeat_lease",
            DemandReason::Prime => "prime",
            DemandReason::EngineNoStreamHint => "engine_no_stream_hint",
            DemandReason::NoActiveDemand => "no_active_demand",
        }
    }

    /// The reason in words, for people reading `/runtime/outputs`.
    pub fn why(self) -> &'static str {
        match self {
            DemandReason::ViewerCount => "the engine counts readers on this path",
            DemandReason::HeartbeatLease => "a player renewed a heartbeat lease",
            DemandReason::Prime => "primed (a player is about to connect)",
            DemandReason::EngineNoStreamHint => "a reader just asked the engine for this path",
            DemandReason::NoActiveDemand => "nobody is watching",
        }
    }
}

/// Selects some outputs of a transmission (both filters optional).
#[derive(Debug, Clone, Default)]
pub struct OutputFilter {
    pub output_id: Option<String>,
    pub quality_profile_id: Option<QualityProfileId>,
}

struct OutputDemand {
    transmission_id: String,
    output_id: String,
    engine_path: String,
    quality_profile_id: Option<QualityProfileId>,
    viewers: usize,
    prime_until: Option<Instant>,
    /// playback_session_id -> (client, lease end).
    leases: BTreeMap<String, (HeartbeatClient, Instant)>,
    hint_until: Option<Instant>,
    /// Since when nothing demands it (while still encoding, for the debounce).
    idle_since: Option<Instant>,
    encoding: bool,
}

impl OutputDemand {
    fn reason(&self, now: Instant) -> DemandReason {
        if self.viewers > 0 {
            DemandReason::ViewerCount
        } else if self.leases.values().any(|(_, until)| *until > now) {
            DemandReason::HeartbeatLease
        } else if self.prime_until.is_some_and(|until| until > now) {
            DemandReason::Prime
        } else if self.hint_until.is_some_and(|until| until > now) {
            DemandReason::EngineNoStreamHint
        } else {
            DemandReason::NoActiveDemand
        }
    }

    fn matches(&self, filter: &OutputFilter) -> bool {
        filter
            .output_id
            .as_ref()
            .is_none_or(|id| *id == self.output_id)
            && filter
                .quality_profile_id
                .is_none_or(|profile| Some(profile) == self.quality_profile_id)
    }
}

/// One output's demand as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutputDemandView {
    pub output_key: String,
    pub output_id: String,
    pub transmission_id: String,
    pub engine_path: String,
    pub quality_profile_id: Option<QualityProfileId>,
    pub viewer_count: usize,
    pub demanded: bool,
    pub reason: DemandReason,
    pub encoding: bool,
    pub primed: bool,
    pub primed_expires_in_seconds: Option<f64>,
    pub heartbeat_sessions: usize,
    pub hint_active: bool,
    /// Seconds left before an idle output stops encoding.
    pub stops_in_seconds: Option<f64>,
}

/// `GET /transmissions/{id}/demand`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DemandAnswer {
    pub transmission_id: String,
    /// As the original: viewers counted by the engine; primes and leases are in `demand_active`.
    pub demand_signal: bool,
    pub demand_active: bool,
    /// The most direct reason any matching output is demanded, or `no_matching_outputs`.
    pub reason: &'static str,
    pub viewer_count_total: usize,
    pub outputs: Vec<OutputDemandView>,
}

impl DemandAnswer {
    /// The matching outputs of a transmission's demand views, sorted by output id.
    pub fn of(
        transmission_id: String,
        views: Vec<OutputDemandView>,
        filter: &OutputFilter,
    ) -> Self {
        let mut outputs: Vec<OutputDemandView> = views
            .into_iter()
            .filter(|v| filter.output_id.as_ref().is_none_or(|o| *o == v.output_id))
            .filter(|v| {
                filter
                    .quality_profile_id
                    .is_none_or(|q| Some(q) == v.quality_profile_id)
            })
            .collect();
        outputs.sort_by(|a, b| a.output_id.cmp(&b.output_id));
        let viewer_count_total = outputs.iter().map(|o| o.viewer_count).sum();
        DemandAnswer {
            transmission_id,
            demand_signal: viewer_count_total > 0,
            demand_active: outputs.iter().any(|o| o.demanded),
            // Reasons are declared most direct first.
            reason: outputs
                .iter()
                .map(|o| o.reason)
                .min_by_key(|r| *r as u8)
                .map_or("no_matching_outputs", DemandReason::as_str),
            viewer_count_total,
            outputs,
        }
    }
}

/// `POST /transmissions/{id}/demand/prime`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Primed {
    pub transmission_id: String,
    pub primed: bool,
    pub primed_outputs: usize,
    pub ttl_seconds: f64,
}

/// `POST /transmissions/{id}/demand/heartbeat`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Renewed {
    pub transmission_id: String,
    pub playback_session_id: String,
    pub client: HeartbeatClient,
    pub renewed: bool,
    pub renewed_outputs: usize,
    pub output_ids: Vec<String>,
    pub lease_seconds: f64,
}

#[derive(Default)]
pub struct DemandBook {
    outputs: BTreeMap<String, OutputDemand>,
}

impl DemandBook {
    /// Follows the enabled outputs of the stored transmissions, keeping the state of outputs
    /// that stay.
    pub fn set_transmissions<'a>(&mut self, transmissions: impl Iterator<Item = &'a Transmission>) {
        let mut next = BTreeMap::new();
        for transmission in transmissions.filter(|t| t.enabled) {
            for output in transmission.enabled_outputs() {
                let key = output_key(&transmission.id, &output.id);
                let engine_path = transmission.engine_path(output);
                let entry = match self.outputs.remove(&key) {
                    Some(mut kept) => {
                        kept.engine_path = engine_path;
                        kept.quality_profile_id = output.quality_profile_id;
                        kept
                    }
                    None => OutputDemand {
                        transmission_id: transmission.id.clone(),
                        output_id: output.id.clone(),
                        engine_path,
                        quality_profile_id: output.quality_profile_id,
                        viewers: 0,
                        prime_until: None,
                        leases: BTreeMap::new(),
                        hint_until: None,
                        idle_since: None,
                        encoding: false,
                    },
                };
                next.insert(key, entry);
            }
        }
        self.outputs = next;
    }

    /// Readers per engine path. A counted viewer ends the output's prime: a prime bridges the
    /// gap to the first viewer, it is not a lease on the encoder.
    pub fn set_viewers(&mut self, readers_by_path: &HashMap<String, usize>) {
        for output in self.outputs.values_mut() {
            output.viewers = readers_by_path
                .get(&output.engine_path)
                .copied()
                .unwrap_or(0);
            if output.viewers > 0 {
                output.prime_until = None;
            }
        }
    }

    /// Primes the matching outputs of a transmission until `now + ttl` (never shortening an
    /// earlier prime); returns how many outputs were primed.
    pub fn prime(
        &mut self,
        now: Instant,
        transmission_id: &str,
        filter: &OutputFilter,
        ttl: Duration,
    ) -> usize {
        let until = now + ttl;
        self.matching(transmission_id, filter)
            .map(|output| {
                output.prime_until = Some(output.prime_until.map_or(until, |u| u.max(until)));
            })
            .count()
    }

    /// Renews one playback session's lease on the matching outputs; returns the output ids.
    pub fn heartbeat(
        &mut self,
        now: Instant,
        transmission_id: &str,
        filter: &OutputFilter,
        session: &str,
        client: HeartbeatClient,
        ttl: Duration,
    ) -> Vec<String> {
        self.matching(transmission_id, filter)
            .map(|output| {
                output
                    .leases
                    .insert(session.to_string(), (client, now + ttl));
                output.output_id.clone()
            })
            .collect()
    }

    /// A reader asked the engine for `path` while nothing published it.
    pub fn hint(&mut self, now: Instant, path: &str) {
        for output in self.outputs.values_mut() {
            if output.engine_path == path {
                output.hint_until = Some(now + HINT_TTL);
            }
        }
    }

    /// Drops what expired and decides which outputs encode now: demanded ones at once, idle ones
    /// only after `STOP_DEBOUNCE`. Returns the keys of the outputs that should be encoding.
    pub fn evaluate(&mut self, now: Instant) -> BTreeSet<String> {
        let mut encoding = BTreeSet::new();
        for (key, output) in &mut self.outputs {
            output.leases.retain(|_, (_, until)| *until > now);
            output.prime_until = output.prime_until.filter(|until| *until > now);
            output.hint_until = output.hint_until.filter(|until| *until > now);
            if output.reason(now) != DemandReason::NoActiveDemand {
                output.idle_since = None;
                output.encoding = true;
            } else if output.encoding {
                let since = *output.idle_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= STOP_DEBOUNCE {
                    output.encoding = false;
                    output.idle_since = None;
                }
            }
            if output.encoding {
                encoding.insert(key.clone());
            }
        }
        encoding
    }

    /// The next instant at which [`DemandBook::evaluate`] can decide differently with nothing
    /// else happening (a prime, hint or lease running out, a debounce ending); `None` when only
    /// an event can change anything. Call after `evaluate(now)`.
    pub fn next_change(&self) -> Option<Instant> {
        self.outputs
            .values()
            .flat_map(|output| {
                let leases = output.leases.values().map(|(_, until)| *until);
                let debounce_end = output.idle_since.map(|since| since + STOP_DEBOUNCE);
                leases
                    .chain(output.prime_until)
                    .chain(output.hint_until)
                    .chain(debounce_end)
            })
            .min()
    }

    /// The engine path of the output `key`.
    pub fn engine_path(&self, key: &str) -> Option<&str> {
        self.outputs.get(key).map(|o| o.engine_path.as_str())
    }

    /// The outputs of one transmission (or all), as the API shows them.
    pub fn views(&self, now: Instant, transmission_id: Option<&str>) -> Vec<OutputDemandView> {
        self.outputs
            .iter()
            .filter(|(_, o)| transmission_id.is_none_or(|id| id == o.transmission_id))
            .map(|(key, output)| {
                let reason = output.reason(now);
                let left = |until: Instant| until.saturating_duration_since(now).as_secs_f64();
                OutputDemandView {
                    output_key: key.clone(),
                    output_id: output.output_id.clone(),
                    transmission_id: output.transmission_id.clone(),
                    engine_path: output.engine_path.clone(),
                    quality_profile_id: output.quality_profile_id,
                    viewer_count: output.viewers,
                    demanded: reason != DemandReason::NoActiveDemand,
                    reason,
                    encoding: output.encoding,
                    primed: output.prime_until.is_some_and(|u| u > now),
                    primed_expires_in_seconds: output.prime_until.filter(|u| *u > now).map(left),
                    heartbeat_sessions: output.leases.values().filter(|(_, u)| *u > now).count(),
                    hint_active: output.hint_until.is_some_and(|u| u > now),
                    stops_in_seconds: output
                        .idle_since
                        .filter(|_| output.encoding)
                        .map(|since| left(since + STOP_DEBOUNCE)),
                }
            })
            .collect()
    }

    fn matching<'a>(
        &'a mut self,
        transmission_id: &'a str,
        filter: &'a OutputFilter,
    ) -> impl Iterator<Item = &'a mut OutputDemand> + 'a {
        self.outputs
            .values_mut()
            .filter(move |o| o.transmission_id == transmission_id && o.matches(filter))
    }
}

/// A TTL asked by a client, clamped to `range` (seconds); `None` takes `default`.
pub fn clamp_ttl(seconds: Option<f64>, default: Duration, range: (u64, u64)) -> Duration {
    match seconds {
        Some(s) if s.is_finite() => {
            Duration::from_secs_f64(s.clamp(range.0 as f64, range.1 as f64))
        }
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn book() -> DemandBook {
        let t: Transmission = serde_json::from_value(json!({
            "id": "t", "path": "door",
            "outputs": [
                {"id": "main", "protocol": "rtsp", "quality_profile_id": "fullscreen_quality"},
                {"id": "sub", "protocol": "hls", "quality_profile_id": "quad_grid"},
                {"id": "off", "protocol": "hls", "enabled": false}
            ]
        }))
        .unwrap();
        let mut book = DemandBook::default();
        book.set_transmissions(std::iter::once(&t));
        book
    }

    fn viewers(book: &mut DemandBook, path: &str, n: usize) {
        book.set_viewers(&HashMap::from([(path.to_string(), n)]));
    }

    const S: Duration = Duration::from_secs(1);
    const MAIN: &str = "t:main";
    const SUB: &str = "t:sub";

    #[test]
    fn the_next_change_is_the_earliest_expiry_or_debounce_end() {
        let t0 = Instant::now();
        let mut book = book();
        book.evaluate(t0);
        assert_eq!(
            book.next_change(),
            None,
            "nothing pending: nothing to wake for"
        );
        let main = OutputFilter {
            output_id: Some("main".into()),
            ..Default::default()
        };
        book.prime(t0, "t", &main, 10 * S);
        book.hint(t0, "door-sub");
        book.evaluate(t0);
        assert_eq!(book.next_change(), Some(t0 + HINT_TTL));
        book.evaluate(t0 + HINT_TTL);
        // The hint ran out: the sub output's debounce now ends first.
        assert_eq!(book.next_change(), Some(t0 + HINT_TTL + STOP_DEBOUNCE));
        book.evaluate(t0 + HINT_TTL + STOP_DEBOUNCE);
        assert_eq!(book.next_change(), Some(t0 + 10 * S));
        book.evaluate(t0 + 10 * S);
        assert_eq!(book.next_change(), Some(t0 + 10 * S + STOP_DEBOUNCE));
        assert!(book.evaluate(t0 + 10 * S + STOP_DEBOUNCE).is_empty());
        assert_eq!(book.next_change(), None);
    }

    #[test]
    fn nothing_encodes_without_demand_and_disabled_outputs_are_not_tracked() {
        let mut book = book();
        let now = Instant::now();
        assert!(book.evaluate(now).is_empty());
        assert_eq!(book.views(now, Some("t")).len(), 2);
    }

    #[test]
    fn viewers_start_at_once_and_stop_exactly_after_the_debounce() {
        let mut book = book();
        let t0 = Instant::now();
        viewers(&mut book, "door-main", 1);
        assert_eq!(book.evaluate(t0), BTreeSet::from([MAIN.to_string()]));
        viewers(&mut book, "door-main", 0);
        let idle = t0 + S;
        assert!(book.evaluate(idle).contains(MAIN), "debounce starts");
        assert!(
            book.evaluate(idle + STOP_DEBOUNCE - Duration::from_millis(1))
                .contains(MAIN)
        );
        assert!(book.evaluate(idle + STOP_DEBOUNCE).is_empty());
    }

    #[test]
    fn a_viewer_returning_within_the_debounce_keeps_the_encoder() {
        let mut book = book();
        let t0 = Instant::now();
        viewers(&mut book, "door-main", 1);
        book.evaluate(t0);
        viewers(&mut book, "door-main", 0);
        book.evaluate(t0 + S);
        viewers(&mut book, "door-main", 2);
        assert!(book.evaluate(t0 + 2 * S).contains(MAIN));
        viewers(&mut book, "door-main", 0);
        book.evaluate(t0 + 3 * S);
        assert!(
            book.evaluate(t0 + 5 * S).contains(MAIN),
            "debounce restarted at 3 s"
        );
        assert!(book.evaluate(t0 + 6 * S).is_empty());
    }

    #[test]
    fn a_prime_lasts_its_ttl_and_filters_outputs() {
        let mut book = book();
        let t0 = Instant::now();
        let only_sub = OutputFilter {
            quality_profile_id: Some(QualityProfileId::QuadGrid),
            ..Default::default()
        };
        assert_eq!(book.prime(t0, "t", &only_sub, 10 * S), 1);
        assert_eq!(book.prime(t0, "other", &OutputFilter::default(), 10 * S), 0);
        assert_eq!(book.evaluate(t0), BTreeSet::from([SUB.to_string()]));
        // A shorter prime later never shortens the first.
        book.prime(t0 + S, "t", &only_sub, S);
        assert!(
            book.evaluate(t0 + 10 * S - Duration::from_millis(1))
                .contains(SUB)
        );
        assert!(
            book.evaluate(t0 + 10 * S).contains(SUB),
            "debounce after expiry"
        );
        assert!(book.evaluate(t0 + 13 * S).is_empty());
    }

    #[test]
    fn the_first_viewer_ends_the_prime() {
        let mut book = book();
        let t0 = Instant::now();
        book.prime(t0, "t", &OutputFilter::default(), 60 * S);
        viewers(&mut book, "door-main", 1);
        book.evaluate(t0 + S);
        viewers(&mut book, "door-main", 0);
        book.evaluate(t0 + 2 * S);
        let views = book.views(t0 + 2 * S, Some("t"));
        assert!(!views[0].primed, "main's prime ended with its viewer");
        assert!(views[1].primed, "sub had no viewer: still primed");
        assert!(
            !book.evaluate(t0 + 5 * S).contains(MAIN),
            "stops a debounce after the viewer"
        );
    }

    #[test]
    fn heartbeat_leases_per_client_and_session() {
        let mut book = book();
        let t0 = Instant::now();
        let main = OutputFilter {
            output_id: Some("main".into()),
            ..Default::default()
        };
        let ha = HeartbeatClient::HaEntity;
        let renewed = book.heartbeat(t0, "t", &main, "s1", ha, ha.default_ttl());
        assert_eq!(renewed, vec!["main".to_string()]);
        book.heartbeat(
            t0,
            "t",
            &main,
            "s2",
            HeartbeatClient::Web,
            HeartbeatClient::Web.default_ttl(),
        );
        assert_eq!(book.views(t0, Some("t"))[0].heartbeat_sessions, 2);
        assert_eq!(
            book.views(t0, Some("t"))[0].reason,
            DemandReason::HeartbeatLease
        );
        let after_web = t0 + 45 * S;
        assert!(book.evaluate(after_web).contains(MAIN));
        assert_eq!(book.views(after_web, Some("t"))[0].heartbeat_sessions, 1);
        assert!(book.evaluate(t0 + 90 * S).contains(MAIN), "debounce");
        assert!(book.evaluate(t0 + 93 * S).is_empty());
    }

    #[test]
    fn engine_hints_demand_the_path_briefly() {
        let mut book = book();
        let t0 = Instant::now();
        book.hint(t0, "door-sub");
        book.hint(t0, "unknown");
        assert_eq!(book.evaluate(t0), BTreeSet::from([SUB.to_string()]));
        assert_eq!(
            book.views(t0, None)[1].reason,
            DemandReason::EngineNoStreamHint
        );
        assert!(book.evaluate(t0 + HINT_TTL).contains(SUB));
        assert!(book.evaluate(t0 + HINT_TTL + STOP_DEBOUNCE).is_empty());
    }

    #[test]
    fn outputs_that_stay_keep_their_state_across_settings_changes() {
        let mut book = book();
        let t0 = Instant::now();
        book.prime(t0, "t", &OutputFilter::default(), 60 * S);
        let renamed: Transmission = serde_json::from_value(json!({
            "id": "t", "path": "porch", "outputs": [{"id": "main", "protocol": "rtsp"}]
        }))
        .unwrap();
        book.set_transmissions(std::iter::once(&renamed));
        let views = book.views(t0, None);
        assert_eq!(views.len(), 1);
        assert!(views[0].primed);
        assert_eq!(views[0].engine_path, "porch");
    }

    #[test]
    fn ttls_are_clamped() {
        assert_eq!(
            clamp_ttl(None, DEFAULT_PRIME_TTL, PRIME_TTL_RANGE),
            DEFAULT_PRIME_TTL
        );
        assert_eq!(clamp_ttl(Some(0.0), DEFAULT_PRIME_TTL, PRIME_TTL_RANGE), S);
        assert_eq!(clamp_ttl(Some(1e9), S, HEARTBEAT_TTL_RANGE), 1800 * S);
        assert_eq!(clamp_ttl(Some(f64::NAN), S, HEARTBEAT_TTL_RANGE), S);
    }
}
