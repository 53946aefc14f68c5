//! Time to first frame as the service sees it: from the moment demand starts an output encoding
//! to the moment the engine reports its path ready (its `readyTime`, else the poll that saw it),
//! attributed to the transport of the first reader on the path. Measured once per demand: an
//! output that keeps encoding is not measured again when its publisher restarts.

use std::collections::{BTreeSet, HashMap};

use crate::engine::signals::PathState;
use crate::metrics::reader_transport;

/// A ready path with no reader yet gets this long for one to appear; after it the sample is
/// `unattributed` (a prime nobody followed, or a viewer outside the engine).
pub const READER_WAIT_SECONDS: f64 = 10.0;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Clock {
    Waiting { started: f64 },
    Ready { seconds: f64, seen: f64 },
    Measured,
}

#[derive(Debug, Default)]
pub struct FirstFrames {
    /// Output key -> its engine path and clock.
    outputs: HashMap<String, (String, Clock)>,
}

impl FirstFrames {
    /// Follows the outputs demand has encoding now: a newly encoding output starts its clock, one
    /// that stopped is forgotten (its next demand is measured afresh).
    pub fn follow<'a>(
        &mut self,
        encoding: &BTreeSet<String>,
        engine_path: impl Fn(&str) -> Option<&'a str>,
        now: f64,
    ) {
        self.outputs.retain(|key, _| encoding.contains(key));
        for key in encoding {
            if self.outputs.contains_key(key) {
                continue;
            }
            if let Some(path) = engine_path(key) {
                self.outputs.insert(
                    key.clone(),
                    (path.to_string(), Clock::Waiting { started: now }),
                );
            }
        }
    }

    /// One poll of the engine's paths: the samples it completes, as (transport, seconds).
    pub fn observe(&mut self, paths: &[PathState], now: f64) -> Vec<(&'static str, f64)> {
        let mut samples = Vec::new();
        for (path, clock) in self.outputs.values_mut() {
            let Some(state) = paths.iter().find(|p| p.name == *path && p.ready) else {
                continue;
            };
            let seconds = match *clock {
                Clock::Waiting { started } => {
                    let ready_at = state.ready_at_unix.unwrap_or(now).max(started);
                    ready_at - started
                }
                Clock::Ready { seconds, .. } => seconds,
                Clock::Measured => continue,
            };
            if let Some(kind) = state.reader_kinds.first() {
                samples.push((reader_transport(kind), seconds));
                *clock = Clock::Measured;
            } else {
                match *clock {
                    Clock::Ready { seen, .. } if now - seen >= READER_WAIT_SECONDS => {
                        samples.push(("unattributed", seconds));
                        *clock = Clock::Measured;
                    }
                    Clock::Ready { .. } => {}
                    _ => *clock = Clock::Ready { seconds, seen: now },
                }
            }
        }
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(ready_at: Option<f64>, readers: &[&str]) -> PathState {
        PathState {
            name: "front".into(),
            ready: true,
            readers: readers.len(),
            reader_kinds: readers.iter().map(|r| r.to_string()).collect(),
            ready_at_unix: ready_at,
        }
    }

    fn following(now: f64) -> FirstFrames {
        let mut clocks = FirstFrames::default();
        let encoding = BTreeSet::from(["t/main".to_string()]);
        clocks.follow(&encoding, |_| Some("front"), now);
        clocks
    }

    #[test]
    fn demand_to_ready_is_measured_once_for_the_first_reader() {
        let mut clocks = following(100.0);
        assert_eq!(clocks.observe(&[], 101.0), vec![]);
        let ready = [path(Some(102.5), &["rtspSession", "hlsMuxer"])];
        assert_eq!(clocks.observe(&ready, 103.0), vec![("rtsp", 2.5)]);
        assert_eq!(clocks.observe(&ready, 104.0), vec![], "measured once");
    }

    #[test]
    fn a_reader_arriving_after_readiness_names_the_transport() {
        let mut clocks = following(100.0);
        assert_eq!(clocks.observe(&[path(None, &[])], 101.5), vec![]);
        assert_eq!(
            clocks.observe(&[path(None, &["hlsMuxer"])], 103.0),
            vec![("hls", 1.5)]
        );
    }

    #[test]
    fn a_ready_path_nobody_reads_is_unattributed_after_the_wait() {
        let mut clocks = following(100.0);
        assert_eq!(clocks.observe(&[path(Some(101.0), &[])], 101.2), vec![]);
        assert_eq!(clocks.observe(&[path(Some(101.0), &[])], 110.0), vec![]);
        assert_eq!(
            clocks.observe(&[path(Some(101.0), &[])], 111.3),
            vec![("unattributed", 1.0)]
        );
    }

    #[test]
    fn stopping_forgets_and_a_new_demand_measures_again() {
        let mut clocks = following(100.0);
        let ready = [path(Some(100.0), &["webRTCSession"])];
        assert_eq!(clocks.observe(&ready, 100.5), vec![("webrtc", 0.0)]);
        clocks.follow(&BTreeSet::new(), |_| Some("front"), 200.0);
        let encoding = BTreeSet::from(["t/main".to_string()]);
        clocks.follow(&encoding, |_| Some("front"), 300.0);
        let ready = [path(Some(301.0), &["webRTCSession"])];
        assert_eq!(clocks.observe(&ready, 302.0), vec![("webrtc", 1.0)]);
    }

    #[test]
    fn a_path_ready_before_the_demand_counts_as_immediate() {
        let mut clocks = following(100.0);
        let ready = [path(Some(50.0), &["rtspSession"])];
        assert_eq!(clocks.observe(&ready, 100.5), vec![("rtsp", 0.0)]);
    }
}
