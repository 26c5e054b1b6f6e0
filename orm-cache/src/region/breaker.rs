//! A circuit breaker for a remote store, and a log that speaks once per
//! interval.
//!
//! Closed: every call goes through; `threshold` failures in a row open it.
//! Open: calls are refused at once (the caller goes to the database) until
//! `open_for` has passed. Then one call is let through as a probe
//! (half-open): its success closes the breaker, its failure opens it again.
//! A probe that never reports back (its future was dropped) is replaced by
//! another after `probe_timeout`, so the breaker cannot stay half-open.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { since: Instant },
}

#[derive(Debug)]
pub(crate) struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    open_for: Duration,
    probe_timeout: Duration,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, open_for: Duration, probe_timeout: Duration) -> Breaker {
        Breaker {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            open_for,
            probe_timeout,
        }
    }

    /// Whether a call may go through now.
    pub(crate) fn allow(&self) -> bool {
        let mut state = self.state.lock();
        let now = Instant::now();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if now < until => false,
            State::HalfOpen { since } if now.duration_since(since) < self.probe_timeout => false,
            State::Open { .. } | State::HalfOpen { .. } => {
                *state = State::HalfOpen { since: now };
                true
            }
        }
    }

    pub(crate) fn success(&self) {
        *self.state.lock() = State::Closed { failures: 0 };
    }

    /// Records a failure; true if this one opened the breaker.
    pub(crate) fn failure(&self) -> bool {
        let mut state = self.state.lock();
        let open = State::Open {
            until: Instant::now() + self.open_for,
        };
        match *state {
            State::Closed { failures } if failures + 1 < self.threshold => {
                *state = State::Closed {
                    failures: failures + 1,
                };
                false
            }
            State::Open { .. } => false,
            State::Closed { .. } | State::HalfOpen { .. } => {
                *state = open;
                true
            }
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        !matches!(*self.state.lock(), State::Closed { .. })
    }
}

/// Logs a warning at most once per interval, with how many were held back.
#[derive(Debug)]
pub(crate) struct ThrottledLog {
    every: Duration,
    last: Mutex<Option<(Instant, u64)>>,
}

impl ThrottledLog {
    pub(crate) fn new(every: Duration) -> ThrottledLog {
        ThrottledLog {
            every,
            last: Mutex::new(None),
        }
    }

    /// Calls `log` with the number of messages suppressed since the last
    /// one, if the interval has passed; otherwise only counts.
    pub(crate) fn warn(&self, log: impl FnOnce(u64)) {
        let mut last = self.last.lock();
        let now = Instant::now();
        match &mut *last {
            Some((at, held)) if now.duration_since(*at) < self.every => *held += 1,
            _ => {
                let held = last.as_ref().map_or(0, |&(_, held)| held);
                *last = Some((now, 0));
                drop(last);
                log(held);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_probes() {
        let b = Breaker::new(3, Duration::from_millis(30), Duration::from_millis(30));
        assert!(b.allow());
        assert!(!b.failure());
        assert!(!b.failure());
        assert!(b.failure(), "the third failure opens it");
        assert!(!b.allow(), "open: refused");
        std::thread::sleep(Duration::from_millis(35));
        assert!(b.allow(), "one probe after the pause");
        assert!(!b.allow(), "only one probe at a time");
        assert!(b.failure(), "a failed probe opens it again");
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(35));
        assert!(b.allow());
        b.success();
        assert!(b.allow() && b.allow() && !b.is_open(), "closed again");
    }

    #[test]
    fn a_lost_probe_is_replaced() {
        let b = Breaker::new(1, Duration::ZERO, Duration::from_millis(20));
        b.failure();
        assert!(b.allow(), "probe");
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(25));
        assert!(b.allow(), "the first probe never reported: a new one");
    }

    #[test]
    fn logs_once_per_interval() {
        let log = ThrottledLog::new(Duration::from_secs(60));
        let mut said = Vec::new();
        for _ in 0..5 {
            log.warn(|held| said.push(held));
        }
        assert_eq!(said, [0]);
    }
}
