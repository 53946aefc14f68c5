//! Engine relays: output paths MediaMTX fills by pulling the camera itself (`source` with
//! `sourceOnDemand`), so a camera whose own H.264 is what the output asks for costs no FFmpeg
//! at all. Transmissions decide (they hold the camera probe); the engine applies. The book lives
//! with the root supervisor, so a restarted engine or transmission finds it as it was.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Engine path -> camera URL (with its credentials: never log it).
pub type PathSources = BTreeMap<String, String>;

/// Each transmission's relayed paths.
#[derive(Clone, Default)]
pub struct Relays(Arc<Mutex<BTreeMap<String, PathSources>>>);

impl Relays {
    /// Replaces `transmission_id`'s relays; true when that changed anything.
    pub fn set(&self, transmission_id: &str, sources: PathSources) -> bool {
        let mut book = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        let previous = if sources.is_empty() {
            book.remove(transmission_id)
        } else {
            book.insert(transmission_id.to_string(), sources.clone())
        };
        previous.unwrap_or_default() != sources
    }

    /// Every relayed path. Two transmissions naming one path relay the same camera (their
    /// outputs share a path only when everything about them is equal); the first wins.
    pub fn by_path(&self) -> PathSources {
        let book = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        let mut all = PathSources::new();
        for sources in book.values() {
            for (path, url) in sources {
                all.entry(path.clone()).or_insert_with(|| url.clone());
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(pairs: &[(&str, &str)]) -> PathSources {
        pairs
            .iter()
            .map(|(p, u)| (p.to_string(), u.to_string()))
            .collect()
    }

    #[test]
    fn a_transmission_replaces_its_own_relays_and_reports_changes() {
        let relays = Relays::default();
        assert!(relays.set("a", sources(&[("a-hls", "rtsp://cam/1")])));
        assert!(!relays.set("a", sources(&[("a-hls", "rtsp://cam/1")])));
        assert!(relays.set("b", sources(&[("b-hls", "rtsp://cam/2")])));
        assert_eq!(relays.by_path().len(), 2);
        assert!(relays.set("a", PathSources::new()));
        assert!(!relays.set("a", PathSources::new()));
        assert_eq!(relays.by_path(), sources(&[("b-hls", "rtsp://cam/2")]));
    }
}
