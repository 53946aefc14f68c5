//! Restart policy shared by every supervisor: exponential backoff, capped, forgiven after a
//! healthy period. Pure bookkeeping over instants so it is tested without actors or sleeps.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Delay before the first restart after a healthy run.
    pub initial: Duration,
    /// No restart waits longer than this, however often the child fails.
    pub max: Duration,
    /// A child that ran this long before failing is treated as healthy: backoff starts over.
    pub reset_after: Duration,
}

impl RestartPolicy {
    /// For in-process actors that hold no external resource (store, transmissions).
    pub const INTERNAL: RestartPolicy = RestartPolicy {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(5),
        reset_after: Duration::from_secs(30),
    };

    /// For actors owning a child process (FFmpeg, MediaMTX, go2rtc).
    pub const PROCESS: RestartPolicy = RestartPolicy {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
        reset_after: Duration::from_secs(60),
    };

    /// [`Self::PROCESS`] with its cap from `TOPOSYNC_STREAMING_RESTART_MAX_SECONDS` (1..=300)
    /// when set: a box whose cameras drop often may prefer quicker retries.
    pub fn process() -> RestartPolicy {
        static POLICY: std::sync::OnceLock<RestartPolicy> = std::sync::OnceLock::new();
        *POLICY.get_or_init(|| {
            let cap = std::env::var("TOPOSYNC_STREAMING_RESTART_MAX_SECONDS")
                .ok()
                .and_then(|raw| raw.trim().parse::<f64>().ok())
                .filter(|seconds| (1.0..=300.0).contains(seconds))
                .map(Duration::from_secs_f64);
            match cap {
                Some(max) => RestartPolicy {
                    initial: Self::PROCESS.initial.min(max),
                    max,
                    ..Self::PROCESS
                },
                None => Self::PROCESS,
            }
        })
    }
}

/// Failure history of one supervised child.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: RestartPolicy,
    /// Restarts over the child's whole life (shown in the actor snapshot).
    pub restarts: u32,
    /// Failures since the last healthy period; drives the backoff exponent.
    consecutive: u32,
    pub last_error: Option<String>,
    started_at: Instant,
}

impl RestartTracker {
    pub fn new(policy: RestartPolicy, now: Instant) -> Self {
        Self {
            policy,
            restarts: 0,
            consecutive: 0,
            last_error: None,
            started_at: now,
        }
    }

    /// Records a failure and returns how long to wait before restarting.
    pub fn failed(&mut self, now: Instant, error: String) -> Duration {
        if now.saturating_duration_since(self.started_at) >= self.policy.reset_after {
            self.consecutive = 0;
        }
        let factor = 1u32.checked_shl(self.consecutive).unwrap_or(u32::MAX);
        let delay = self
            .policy
            .initial
            .saturating_mul(factor)
            .min(self.policy.max);
        self.consecutive = self.consecutive.saturating_add(1);
        self.last_error = Some(error);
        delay
    }

    /// Records that the child is running again.
    pub fn restarted(&mut self, now: Instant) {
        self.restarts = self.restarts.saturating_add(1);
        self.started_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RestartPolicy = RestartPolicy {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
        reset_after: Duration::from_secs(60),
    };

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let start = Instant::now();
        let mut tracker = RestartTracker::new(POLICY, start);
        let mut now = start;
        let mut delays = Vec::new();
        for _ in 0..7 {
            now += Duration::from_millis(10);
            let delay = tracker.failed(now, "exit 1".into());
            delays.push(delay.as_secs());
            now += delay;
            tracker.restarted(now);
        }
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(tracker.restarts, 7);
        assert_eq!(tracker.last_error.as_deref(), Some("exit 1"));
    }

    #[test]
    fn a_healthy_period_resets_the_backoff_but_not_the_count() {
        let start = Instant::now();
        let mut tracker = RestartTracker::new(POLICY, start);
        assert_eq!(tracker.failed(start, "a".into()), Duration::from_secs(1));
        tracker.restarted(start + Duration::from_secs(1));
        assert_eq!(
            tracker.failed(start + Duration::from_secs(2), "b".into()),
            Duration::from_secs(2)
        );
        tracker.restarted(start + Duration::from_secs(4));
        // Ran for exactly the reset period: forgiven.
        let later = start + Duration::from_secs(64);
        assert_eq!(tracker.failed(later, "c".into()), Duration::from_secs(1));
        assert_eq!(tracker.restarts, 2);
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let start = Instant::now();
        let mut tracker = RestartTracker::new(POLICY, start);
        for _ in 0..100 {
            assert!(tracker.failed(start, "x".into()) <= POLICY.max);
        }
    }
}
