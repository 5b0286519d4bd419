//! How long a user waits after each task, with Locust's semantics.

use std::time::Duration;

use rand::{RngExt, rngs::SmallRng};
use tokio::time::Instant;

use crate::scenario::WaitTime;

/// Per-user state behind `constant_pacing`: Locust measures the time since the previous task
/// started, minus the wait it already took, so tasks start every `x` seconds when they are
/// shorter than `x` and back to back when they are longer.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    last_run: Instant,
    last_wait: Duration,
}

impl Pacer {
    pub fn new(now: Instant) -> Self {
        Pacer {
            last_run: now,
            last_wait: Duration::ZERO,
        }
    }
}

/// The wait after a task that has just finished at `now`.
pub fn next_wait(wait: &WaitTime, rng: &mut SmallRng, pacer: &mut Pacer, now: Instant) -> Duration {
    match *wait {
        WaitTime::Constant(d) => d,
        // Locust: `min + random() * (max - min)`, uniform in [min, max).
        WaitTime::Between(lo, hi) => lo + (hi - lo).mul_f64(rng.random::<f64>()),
        WaitTime::ConstantPacing(period) => {
            let run_time = now
                .saturating_duration_since(pacer.last_run)
                .saturating_sub(pacer.last_wait);
            let wait = period.saturating_sub(run_time);
            pacer.last_wait = wait;
            pacer.last_run = now;
            wait
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn between_stays_in_range() {
        let mut rng = SmallRng::seed_from_u64(3);
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        let w = WaitTime::Between(Duration::from_secs(2), Duration::from_secs(5));
        let waits: Vec<Duration> = (0..1000)
            .map(|_| next_wait(&w, &mut rng, &mut pacer, start))
            .collect();
        assert!(
            waits
                .iter()
                .all(|d| *d >= Duration::from_secs(2) && *d < Duration::from_secs(5))
        );
        let mean = waits.iter().sum::<Duration>().as_secs_f64() / 1000.0;
        assert!((mean - 3.5).abs() < 0.15, "mean {mean}");
    }

    #[test]
    fn pacing_follows_locusts_arithmetic() {
        let mut rng = SmallRng::seed_from_u64(3);
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0);
        let w = WaitTime::ConstantPacing(Duration::from_secs(10));
        // First task took 3 s: wait 7 s.
        assert_eq!(
            next_wait(&w, &mut rng, &mut pacer, t0 + Duration::from_secs(3)),
            Duration::from_secs(7)
        );
        // Next task started at 10 s and took 4 s: wait 6 s, so it starts again at 20 s.
        assert_eq!(
            next_wait(&w, &mut rng, &mut pacer, t0 + Duration::from_secs(14)),
            Duration::from_secs(6)
        );
        // A task longer than the period: no wait at all.
        assert_eq!(
            next_wait(&w, &mut rng, &mut pacer, t0 + Duration::from_secs(32)),
            Duration::ZERO
        );
    }
}
