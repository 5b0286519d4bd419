//! When each iteration of the open model is meant to start: the instants follow the rate
//! alone, never the responses.
//!
//! Arrival `i` is due where the integral of the rate reaches `i` (uniform) or the `i`-th sum of
//! unit exponential gaps (Poisson, by time rescaling: a non-homogeneous Poisson process with
//! this rate), so stages of different rates join without a gap or a burst and a stage of R per
//! second over D seconds holds R x D arrivals, exactly. Instants are computed from the start,
//! never by adding intervals one to the next, so no rounding adds up over a long run (a
//! 10-hour run at 10,000/s is 3.6e8 arrivals; f64 holds their offsets to the nanosecond).

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// A stretch of the run at one rate: iterations per second over `duration` (`None`: until
/// the run ends).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    pub duration: Option<Duration>,
    pub rate: f64,
}

/// How arrivals are spaced within a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spacing {
    /// Evenly: 1/R apart.
    #[default]
    Uniform,
    /// As independent arrivals would come: exponential gaps of mean 1/R.
    Poisson,
}

/// The successive intended offsets from the start of the run.
pub struct Schedule {
    stages: Vec<RateStage>,
    spacing: Spacing,
    rng: SmallRng,
    /// The arrival count the next arrival is due at (the integral of the rate).
    target: f64,
    /// The stage the search resumes from, its start and the count at its start.
    stage: usize,
    stage_start: f64,
    stage_count: f64,
}

impl Schedule {
    pub fn new(stages: Vec<RateStage>, spacing: Spacing, seed: u64) -> Schedule {
        let mut s = Schedule {
            stages,
            spacing,
            rng: SmallRng::seed_from_u64(seed),
            target: 0.0,
            stage: 0,
            stage_start: 0.0,
            stage_count: 0.0,
        };
        if spacing == Spacing::Poisson {
            s.target = s.gap();
        }
        s
    }

    /// A unit exponential gap (in arrivals).
    fn gap(&mut self) -> f64 {
        // 1 - U is in (0, 1]: never ln(0).
        let u: f64 = 1.0 - self.rng.random::<f64>();
        -u.ln()
    }

    /// The rate at an offset (what the schedule asks for then), or `None` past the end.
    pub fn rate_at(&self, offset: Duration) -> Option<f64> {
        let t = offset.as_secs_f64();
        let mut start = 0.0;
        for s in &self.stages {
            match s.duration {
                None => return Some(s.rate),
                Some(d) if t < start + d.as_secs_f64() => return Some(s.rate),
                Some(d) => start += d.as_secs_f64(),
            }
        }
        None
    }

    /// The next arrival's intended offset from the start; `None` once the stages are over.
    pub fn next_offset(&mut self) -> Option<Duration> {
        loop {
            let stage = *self.stages.get(self.stage)?;
            let length = stage.duration.map(|d| d.as_secs_f64());
            let in_stage = stage.rate * length.unwrap_or(f64::INFINITY);
            if self.target < self.stage_count + in_stage && stage.rate > 0.0 {
                let at = self.stage_start + (self.target - self.stage_count) / stage.rate;
                self.target = match self.spacing {
                    Spacing::Uniform => self.target + 1.0,
                    Spacing::Poisson => self.target + self.gap(),
                };
                return Some(Duration::from_secs_f64(at));
            }
            // Past this stage (or a stage at rate 0): the next.
            let length = length?;
            self.stage_start += length;
            self.stage_count += in_stage;
            self.stage += 1;
        }
    }

    /// How long the stages last (`None`: until the run is stopped).
    pub fn duration(&self) -> Option<Duration> {
        self.stages.iter().map(|s| s.duration).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(secs: u64, rate: f64) -> RateStage {
        RateStage {
            duration: Some(Duration::from_secs(secs)),
            rate,
        }
    }

    fn all(mut s: Schedule) -> Vec<Duration> {
        std::iter::from_fn(|| s.next_offset()).collect()
    }

    #[test]
    fn a_uniform_rate_is_evenly_spaced_and_exact_in_count() {
        let offsets = all(Schedule::new(vec![stage(2, 4.0)], Spacing::Uniform, 1));
        let ms: Vec<u128> = offsets.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 250, 500, 750, 1000, 1250, 1500, 1750]);
    }

    #[test]
    fn stages_join_without_a_gap_or_a_burst() {
        // 2/s for 1.5 s is 3 arrivals (0, 0.5, 1.0); the 4th is due at count 3, which the
        // next stage (10/s) reaches at once at 1.5 s; then every 0.1 s.
        let offsets = all(Schedule::new(
            vec![
                RateStage {
                    duration: Some(Duration::from_millis(1500)),
                    rate: 2.0,
                },
                stage(1, 10.0),
            ],
            Spacing::Uniform,
            1,
        ));
        let ms: Vec<u128> = offsets.iter().map(Duration::as_millis).collect();
        assert_eq!(ms[..5], [0, 500, 1000, 1500, 1600]);
        assert_eq!(offsets.len(), 3 + 10);
        assert!(*offsets.last().unwrap() < Duration::from_millis(2500));
    }

    #[test]
    fn a_stage_at_rate_zero_is_a_pause() {
        let offsets = all(Schedule::new(
            vec![stage(1, 2.0), stage(2, 0.0), stage(1, 2.0)],
            Spacing::Uniform,
            1,
        ));
        let ms: Vec<u128> = offsets.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 500, 3000, 3500]);
    }

    #[test]
    fn an_open_ended_stage_goes_on() {
        let mut s = Schedule::new(
            vec![RateStage {
                duration: None,
                rate: 1000.0,
            }],
            Spacing::Uniform,
            1,
        );
        let last = (0..1_000_000).filter_map(|_| s.next_offset()).last();
        assert_eq!(last, Some(Duration::from_micros(999_999_000)));
        assert_eq!(s.duration(), None);
    }

    #[test]
    fn poisson_arrivals_keep_the_rate_with_exponential_gaps() {
        let offsets = all(Schedule::new(vec![stage(100, 100.0)], Spacing::Poisson, 7));
        // 10,000 expected; a Poisson count's standard deviation is 100.
        assert!(
            (9_600..=10_400).contains(&offsets.len()),
            "{}",
            offsets.len()
        );
        let gaps: Vec<f64> = offsets
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean - 0.01).abs() < 0.0005, "mean gap {mean}");
        // An exponential's share of gaps above its mean is 1/e.
        let above = gaps.iter().filter(|g| **g > 0.01).count() as f64 / gaps.len() as f64;
        assert!((above - (-1f64).exp()).abs() < 0.02, "{above}");
    }

    #[test]
    fn the_rate_at_an_offset_follows_the_stages() {
        let s = Schedule::new(vec![stage(1, 2.0), stage(1, 5.0)], Spacing::Uniform, 1);
        assert_eq!(s.rate_at(Duration::from_millis(500)), Some(2.0));
        assert_eq!(s.rate_at(Duration::from_millis(1500)), Some(5.0));
        assert_eq!(s.rate_at(Duration::from_millis(2500)), None);
        assert_eq!(s.duration(), Some(Duration::from_secs(2)));
    }
}
