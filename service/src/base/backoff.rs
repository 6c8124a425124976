//! One retry schedule for every loop that waits on something down (the archive store, a CI
//! provider's API, a notification endpoint).

use std::time::Duration;

/// Exponential backoff: the n-th failure in a row waits `base·2^(n-1)`, capped at `cap`, scaled
/// into [½, 1] of that by jitter, so that replicas that failed together do not come back
/// together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap: cap.max(base),
            failures: 0,
        }
    }

    /// Records a failure and returns how long to wait, with fresh jitter.
    pub fn fail(&mut self) -> Duration {
        self.fail_with(rand::random::<f64>())
    }

    /// [`Backoff::fail`] with the jitter given: uniform in [0, 1).
    pub fn fail_with(&mut self, jitter: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let exponent = self.failures.saturating_sub(1).min(20);
        let step = self.base.saturating_mul(1u32 << exponent).min(self.cap);
        step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// An answer came back: the next failure starts from `base` again.
    pub fn succeed(&mut self) {
        self.failures = 0;
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_is_capped_jittered_and_resets() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(5), s(600));
        assert_eq!(b.fail_with(1.0), s(5));
        assert_eq!(b.fail_with(1.0), s(10));
        assert_eq!(b.fail_with(0.0), s(10), "half of 20s at the lowest jitter");
        for _ in 0..30 {
            assert!(b.fail() <= s(600));
        }
        assert_eq!(b.fail_with(1.0), s(600));
        assert_eq!(b.failures(), 34);
        b.succeed();
        assert_eq!(b.fail_with(1.0), s(5));
        let jittered = b.fail();
        assert!(jittered >= s(5) && jittered <= s(10), "{jittered:?}");
    }

    #[test]
    fn a_cap_below_the_base_is_the_base() {
        let mut b = Backoff::new(Duration::from_secs(3), Duration::from_secs(1));
        assert_eq!(b.fail_with(1.0), Duration::from_secs(3));
        assert_eq!(b.fail_with(1.0), Duration::from_secs(3));
    }
}
