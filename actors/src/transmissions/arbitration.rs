//! Multi-writer arbitration of one transmission, as pure logic over explicit instants.
//!
//! Rules (spec "Multi-writer arbitration", original `arbitration.py`): a writer is eligible while
//! its lifecycle is open/update and its latest frame is at most `freshness` old (inclusive);
//! `latest` picks the most recent frame (priority breaks ties), `priority_latest` the highest
//! priority (recency breaks ties), the writer id last. A selected writer is kept until its sticky
//! window ends (strictly) while it stays eligible. Writers silent for `stale_after` are evicted,
//! and beyond `max_writers` the least recently updated go first.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::model::transmission::Arbitration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Open,
    Update,
    Close,
}

/// One BGR24 frame: `width * height * 3` bytes, shared, never copied on the way through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub data: Bytes,
    pub width: u32,
    pub height: u32,
}

impl Frame {
    /// Checks the byte length against the declared size.
    pub fn bgr24(data: Bytes, width: u32, height: u32) -> Result<Frame, String> {
        let expected = width as usize * height as usize * 3;
        if width == 0 || height == 0 {
            return Err(format!(
                "frame size must not be empty (got {width}x{height})"
            ));
        }
        if data.len() != expected {
            return Err(format!(
                "a {width}x{height} BGR24 frame is {expected} bytes, got {}",
                data.len()
            ));
        }
        Ok(Frame {
            data,
            width,
            height,
        })
    }
}

impl Frame {
    /// Decodes a JPEG straight to BGR24 (the only buffer made for it).
    pub fn from_jpeg(jpeg: &[u8]) -> Result<Frame, String> {
        use zune_jpeg::zune_core::bytestream::ZCursor;
        use zune_jpeg::zune_core::colorspace::ColorSpace;
        use zune_jpeg::zune_core::options::DecoderOptions;
        let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::BGR);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
        let pixels = decoder
            .decode()
            .map_err(|err| format!("not a decodable JPEG: {err:?}"))?;
        let info = decoder
            .info()
            .ok_or("not a decodable JPEG: no image header")?;
        Frame::bgr24(
            Bytes::from(pixels),
            u32::from(info.width),
            u32::from(info.height),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArbitrationConfig {
    /// A writer's frame older than this makes it ineligible.
    pub freshness: Duration,
    /// How long a selection holds while its writer stays eligible.
    pub sticky: Duration,
    /// Writers not updated for this long are evicted.
    pub stale_after: Duration,
    pub max_writers: usize,
}

impl Default for ArbitrationConfig {
    fn default() -> Self {
        ArbitrationConfig {
            freshness: Duration::from_secs(2),
            sticky: Duration::from_millis(500),
            stale_after: Duration::from_secs(30),
            max_writers: 32,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WriterRecord {
    pub lifecycle: Lifecycle,
    pub priority: i64,
    pub frame: Option<Frame>,
    pub frame_at: Option<Instant>,
    pub updated_at: Instant,
}

impl WriterRecord {
    fn eligible(&self, now: Instant, freshness: Duration) -> bool {
        self.lifecycle != Lifecycle::Close
            && self.frame.is_some()
            && self
                .frame_at
                .is_some_and(|at| now.saturating_duration_since(at) <= freshness)
    }
}

/// Why writers left the transmission.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Evicted {
    pub stale: Vec<String>,
    /// Evicted because the transmission had more than `max_writers`.
    pub excess: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Arbiter {
    pub config: ArbitrationConfig,
    pub mode: Arbitration,
    writers: BTreeMap<String, WriterRecord>,
    active: Option<String>,
    sticky_until: Option<Instant>,
}

impl Arbiter {
    pub fn new(mode: Arbitration, config: ArbitrationConfig) -> Arbiter {
        Arbiter {
            config,
            mode,
            writers: BTreeMap::new(),
            active: None,
            sticky_until: None,
        }
    }

    pub fn writers(&self) -> &BTreeMap<String, WriterRecord> {
        &self.writers
    }

    /// A writer's open/update, with or without a new frame (without keeps the old one).
    pub fn update(
        &mut self,
        now: Instant,
        writer: &str,
        lifecycle: Lifecycle,
        priority: i64,
        frame: Option<Frame>,
    ) -> Evicted {
        let record = self
            .writers
            .entry(writer.to_string())
            .or_insert(WriterRecord {
                lifecycle,
                priority,
                frame: None,
                frame_at: None,
                updated_at: now,
            });
        record.lifecycle = lifecycle;
        record.priority = priority;
        record.updated_at = now;
        if let Some(frame) = frame {
            record.frame = Some(frame);
            record.frame_at = Some(now);
        }
        let evicted = self.evict(now);
        self.select(now);
        evicted
    }

    /// A closed writer is ineligible at once; its record stays until it goes stale.
    pub fn close(&mut self, now: Instant, writer: &str) {
        if let Some(record) = self.writers.get_mut(writer) {
            record.lifecycle = Lifecycle::Close;
            record.updated_at = now;
        }
        self.select(now);
    }

    /// Drops stale writers, then the least recently updated beyond the limit.
    pub fn evict(&mut self, now: Instant) -> Evicted {
        let stale_after = self.config.stale_after;
        let mut evicted = Evicted::default();
        self.writers.retain(|id, record| {
            let keep = now.saturating_duration_since(record.updated_at) < stale_after;
            if !keep {
                evicted.stale.push(id.clone());
            }
            keep
        });
        let excess = self.writers.len().saturating_sub(self.config.max_writers);
        if excess > 0 {
            let mut by_age: Vec<(Instant, String)> = self
                .writers
                .iter()
                .map(|(id, record)| (record.updated_at, id.clone()))
                .collect();
            by_age.sort();
            for (_, id) in by_age.into_iter().take(excess) {
                self.writers.remove(&id);
                evicted.excess.push(id);
            }
        }
        if self
            .active
            .as_ref()
            .is_some_and(|id| !self.writers.contains_key(id))
        {
            self.active = None;
            self.sticky_until = None;
        }
        evicted
    }

    /// Re-evaluates the selection at `now` and returns the selected writer.
    pub fn select(&mut self, now: Instant) -> Option<&str> {
        let freshness = self.config.freshness;
        let still_sticky = self.active.as_ref().is_some_and(|id| {
            self.writers
                .get(id)
                .is_some_and(|r| r.eligible(now, freshness))
                && self.sticky_until.is_some_and(|until| now < until)
        });
        if !still_sticky {
            let best = self
                .writers
                .iter()
                .filter(|(_, r)| r.eligible(now, freshness))
                .max_by(|(a_id, a), (b_id, b)| match self.mode {
                    Arbitration::Latest => (a.frame_at, a.priority, a.updated_at, a_id).cmp(&(
                        b.frame_at,
                        b.priority,
                        b.updated_at,
                        b_id,
                    )),
                    Arbitration::PriorityLatest => (a.priority, a.frame_at, a.updated_at, a_id)
                        .cmp(&(b.priority, b.frame_at, b.updated_at, b_id)),
                })
                .map(|(id, _)| id.clone());
            self.sticky_until = best.as_ref().map(|_| now + self.config.sticky);
            self.active = best;
        }
        self.active.as_deref()
    }

    /// The selected writer's frame, if a writer is selected.
    pub fn selected_frame(&self) -> Option<(&str, &Frame)> {
        let id = self.active.as_deref()?;
        let frame = self.writers.get(id)?.frame.as_ref()?;
        Some((id, frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn frame() -> Frame {
        Frame::bgr24(Bytes::from(vec![0u8; 12]), 2, 2).unwrap()
    }

    fn arbiter(mode: Arbitration) -> Arbiter {
        Arbiter::new(mode, ArbitrationConfig::default())
    }

    #[test]
    fn latest_prefers_the_newest_frame_and_priority_only_breaks_ties() {
        let t0 = Instant::now();
        let mut a = arbiter(Arbitration::Latest);
        a.update(t0, "high", Lifecycle::Open, 10, Some(frame()));
        a.update(t0, "low", Lifecycle::Open, 1, Some(frame()));
        assert_eq!(a.select(t0), Some("high"), "same instant: priority decides");
        // After the sticky window, the newer frame wins whatever its priority.
        let t1 = t0 + 600 * MS;
        a.update(t1, "low", Lifecycle::Update, 1, Some(frame()));
        assert_eq!(a.select(t1), Some("low"));
    }

    #[test]
    fn priority_latest_prefers_priority_then_recency() {
        let t0 = Instant::now();
        let mut a = arbiter(Arbitration::PriorityLatest);
        a.update(t0, "high", Lifecycle::Open, 10, Some(frame()));
        let t1 = t0 + 600 * MS;
        a.update(t1, "low", Lifecycle::Open, 1, Some(frame()));
        assert_eq!(
            a.select(t1),
            Some("high"),
            "an older but fresh high-priority frame wins"
        );
        a.update(t1, "high-too", Lifecycle::Open, 10, Some(frame()));
        assert_eq!(
            a.select(t1 + 500 * MS),
            Some("high-too"),
            "equal priority: the newer frame"
        );
    }

    #[test]
    fn freshness_is_two_seconds_inclusive() {
        let t0 = Instant::now();
        let mut a = arbiter(Arbitration::Latest);
        a.update(t0, "w", Lifecycle::Open, 0, Some(frame()));
        assert_eq!(a.select(t0 + 2000 * MS), Some("w"));
        assert_eq!(a.select(t0 + 2001 * MS), None);
        assert!(a.selected_frame().is_none());
    }

    #[test]
    fn a_selection_sticks_for_half_a_second_while_eligible() {
        let t0 = Instant::now();
        let mut a = arbiter(Arbitration::Latest);
        a.update(t0, "a", Lifecycle::Open, 0, Some(frame()));
        a.update(t0 + 100 * MS, "b", Lifecycle::Open, 0, Some(frame()));
        assert_eq!(
            a.select(t0 + 499 * MS),
            Some("a"),
            "b is newer, but a sticks"
        );
        assert_eq!(
            a.select(t0 + 500 * MS),
            Some("b"),
            "the window ends strictly"
        );
    }

    #[test]
    fn a_closed_writer_loses_the_selection_at_once() {
        let t0 = Instant::now();
        let mut a = arbiter(Arbitration::Latest);
        a.update(t0, "a", Lifecycle::Open, 0, Some(frame()));
        a.update(t0, "b", Lifecycle::Open, 0, Some(frame()));
        assert_eq!(a.select(t0), Some("a"), "first selected, and sticky");
        a.close(t0 + MS, "a");
        assert_eq!(
            a.select(t0 + MS),
            Some("b"),
            "sticky does not protect a closed writer"
        );
        assert_eq!(
            a.writers()["a"].lifecycle,
            Lifecycle::Close,
            "kept until stale"
        );
        a.update(t0 + 2 * MS, "a", Lifecycle::Update, 0, None);
        assert_eq!(
            a.writers()["a"].frame,
            Some(frame()),
            "an update without a frame keeps the old one"
        );
    }

    #[test]
    fn the_greatest_writer_id_breaks_a_full_tie() {
        let t0 = Instant::now();
        let mut a = arbiter(Arbitration::PriorityLatest);
        a.update(t0, "a", Lifecycle::Open, 0, Some(frame()));
        a.update(t0, "b", Lifecycle::Open, 0, Some(frame()));
        assert_eq!(a.select(t0 + 500 * MS), Some("b"));
    }

    #[test]
    fn silent_writers_are_evicted_after_thirty_seconds() {
        let t0 = Instant::now();
        let mut a = arbiter(Arbitration::Latest);
        a.update(t0, "old", Lifecycle::Open, 0, Some(frame()));
        let evicted = a.update(t0 + 29_999 * MS, "new", Lifecycle::Open, 0, Some(frame()));
        assert!(evicted.stale.is_empty());
        let evicted = a.evict(t0 + 30_000 * MS);
        assert_eq!(evicted.stale, vec!["old".to_string()]);
        assert_eq!(a.writers().len(), 1);
    }

    #[test]
    fn beyond_32_writers_the_least_recently_updated_go() {
        let t0 = Instant::now();
        let mut a = arbiter(Arbitration::Latest);
        for n in 0..32 {
            a.update(
                t0 + n * MS,
                &format!("w{n:02}"),
                Lifecycle::Open,
                0,
                Some(frame()),
            );
        }
        let evicted = a.update(t0 + 40 * MS, "extra", Lifecycle::Open, 0, Some(frame()));
        assert_eq!(evicted.excess, vec!["w00".to_string()]);
        assert_eq!(a.writers().len(), 32);
        assert!(a.writers().contains_key("extra"));
    }

    #[test]
    fn frames_must_match_their_declared_size() {
        assert!(Frame::bgr24(Bytes::from(vec![0u8; 11]), 2, 2).is_err());
        assert!(Frame::bgr24(Bytes::new(), 0, 0).is_err());
        assert_eq!(
            Frame::bgr24(Bytes::from(vec![0u8; 1280 * 720 * 3]), 1280, 720)
                .unwrap()
                .width,
            1280
        );
    }
}
