//! The range of every number locusta reads, in one place, with the checked conversions that
//! turn a number into a duration, a count or a rate.
//!
//! Numbers come from the command line, `LOCUST_*` variables, config files, scenario files and
//! the network. Each is checked where it is read against the bounds below, so that everything
//! downstream (spawn intervals, deadlines, waits, allocations) works on values it can hold:
//! `Duration::from_secs_f64(1e300)` panics, `Instant::now() + Duration::MAX` panics, and a
//! count of 10^18 users is an allocation no machine makes. The bounds are far outside any real
//! load test, so they only ever turn a typo or a hostile message into a clear error.

use std::time::Duration;

/// The longest span anywhere a number becomes a duration (run time, stages, waits, timeouts):
/// 10 years. The guides' longest soak runs 72 hours; `Instant + 10 years` cannot overflow, and
/// tokio's timer already treats anything past ~30 years as "never".
pub const MAX_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// The longest span, as a `Duration`.
pub const MAX_DURATION: Duration = Duration::from_secs(MAX_SECONDS);

/// The most users one run may ask for, in one process or over all of a master's workers.
/// A locusta user costs ~7 KB, so 10 million of them are 70 GB: beyond any one machine, and
/// beyond the largest Locust runs reported (a few million over hundreds of workers).
pub const MAX_USERS: u64 = 10_000_000;

/// The slowest spawn rate: one user every 11.6 days. Slower than this is a typo (`1e-30`).
pub const MIN_SPAWN_RATE: f64 = 1e-6;

/// The fastest spawn rate anyone can mean: every user at once.
pub const MAX_SPAWN_RATE: f64 = MAX_USERS as f64;

/// A user type's weight: its share is `weight / sum of weights`, and the sum of a few weights
/// near `f64::MAX` would be infinite. Locust's weights are small integers; a million to one is
/// already finer than any run can show.
pub const MAX_WEIGHT: f64 = 1_000_000.0;

/// Local worker processes (`--processes`): one per core is the point; more than this many
/// forks is a typo, not a machine.
pub const MAX_PROCESSES: u64 = 1024;

/// Seconds as a `Duration`: finite, 0 or more, at most [`MAX_SECONDS`].
pub fn seconds(x: f64) -> Result<Duration, String> {
    if x.is_nan() || x < 0.0 {
        return Err(format!(
            "must be 0 or more seconds, got {}",
            crate::pyfmt::float(x)
        ));
    }
    if x > MAX_SECONDS as f64 {
        return Err(format!(
            "must be at most {MAX_SECONDS} seconds (10 years), got {}",
            crate::pyfmt::float(x)
        ));
    }
    Duration::try_from_secs_f64(x).map_err(|e| format!("{e}: {}", crate::pyfmt::float(x)))
}

/// A duration read some other way (`1h30m`, `2 days`): at most [`MAX_DURATION`].
pub fn span(d: Duration) -> Result<Duration, String> {
    if d > MAX_DURATION {
        Err(format!(
            "must be at most {MAX_SECONDS} seconds (10 years), got {} seconds",
            d.as_secs()
        ))
    } else {
        Ok(d)
    }
}

/// A user count: at most [`MAX_USERS`].
pub fn users(n: u64) -> Result<u64, String> {
    if n > MAX_USERS {
        Err(format!("must be at most {MAX_USERS} users, got {n}"))
    } else {
        Ok(n)
    }
}

/// A spawn rate given by a person: users per second, from [`MIN_SPAWN_RATE`] to
/// [`MAX_SPAWN_RATE`].
pub fn spawn_rate(x: f64) -> Result<f64, String> {
    if !x.is_finite() || x <= 0.0 {
        return Err("must be > 0".to_string());
    }
    if !(MIN_SPAWN_RATE..=MAX_SPAWN_RATE).contains(&x) {
        return Err(format!(
            "must be from {MIN_SPAWN_RATE:e} to {MAX_SPAWN_RATE:e} users per second, got {x:e}"
        ));
    }
    Ok(x)
}

/// Locust's batches for a ramp at `rate` users per second: `max(1, floor(rate))` users every
/// `batch / rate` seconds. Rates are checked where they are read (or derived from checked
/// durations), so the clamps here only guard the arithmetic: a batch is at most
/// [`MAX_USERS`] and an interval at most [`MAX_DURATION`].
pub fn batches(rate: f64) -> (u64, Duration) {
    let rate = if rate.is_finite() && rate > 0.0 {
        rate
    } else {
        MIN_SPAWN_RATE
    };
    let batch = rate.floor().clamp(1.0, MAX_USERS as f64);
    let interval = Duration::try_from_secs_f64(batch / rate)
        .unwrap_or(MAX_DURATION)
        .min(MAX_DURATION);
    (batch as u64, interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_take_every_float_without_panicking() {
        assert_eq!(seconds(0.5), Ok(Duration::from_millis(500)));
        assert_eq!(seconds(MAX_SECONDS as f64), Ok(MAX_DURATION));
        for bad in [
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            -0.1,
        ] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(seconds(-0.0), Ok(Duration::ZERO));
        assert_eq!(seconds(1e-300), Ok(Duration::ZERO));
    }

    #[test]
    fn batches_hold_for_any_rate() {
        assert_eq!(batches(10.0), (10, Duration::from_secs(1)));
        assert_eq!(batches(2.5), (2, Duration::from_millis(800)));
        assert_eq!(batches(0.5), (1, Duration::from_secs(2)));
        for rate in [
            0.0,
            -1.0,
            1e-300,
            f64::NAN,
            f64::INFINITY,
            1e300,
            f64::MIN_POSITIVE,
        ] {
            let (batch, interval) = batches(rate);
            assert!((1..=MAX_USERS).contains(&batch), "{rate}");
            assert!(interval <= MAX_DURATION, "{rate}");
        }
    }

    #[test]
    fn rates_and_counts_say_their_range() {
        assert_eq!(spawn_rate(0.0), Err("must be > 0".to_string()));
        assert_eq!(
            spawn_rate(1e-300).unwrap_err(),
            "must be from 1e-6 to 1e7 users per second, got 1e-300"
        );
        assert_eq!(spawn_rate(1e-6), Ok(1e-6));
        assert!(users(MAX_USERS).is_ok());
        assert!(users(u64::MAX).is_err());
        assert!(span(Duration::MAX).is_err());
    }
}
