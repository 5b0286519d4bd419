//! One row of the statistics: a (method, name) endpoint, or the Aggregated total.
//!
//! Response times are kept twice: raw `f64` milliseconds for total/min/max (so averages and
//! extremes are exact, as Locust's are), and an HDR histogram in microseconds with 3 significant
//! digits for percentiles. Locust rounds every sample to 2 significant digits before taking a
//! percentile; we do not, which is the one deliberate difference in these numbers.

use std::collections::VecDeque;

use hdrhistogram::Histogram;

/// Percentiles Locust reports in its console tables and CSV files.
pub const PERCENTILES_TO_REPORT: [f64; 11] = [
    0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];

/// How far back "current" figures look, as Locust's ~10 second window does.
pub const CURRENT_WINDOW_SECS: f64 = 10.0;

/// Per-second request counts are kept this long; the current-RPS window needs 12.
const PER_SECOND_KEEP: u64 = 20;

/// The response times of one collection tick, sorted ascending, run-length encoded.
#[derive(Debug, Clone, Default)]
pub struct TickSamples {
    pub at: f64,
    pub values: Vec<(u32, u32)>,
}

impl TickSamples {
    /// Builds the run-length form from raw microsecond samples (sorts them in place).
    pub fn from_raw(at: f64, raw: &mut [u32]) -> Self {
        raw.sort_unstable();
        let mut values: Vec<(u32, u32)> = Vec::new();
        for &v in raw.iter() {
            match values.last_mut() {
                Some((last, n)) if *last == v => *n += 1,
                _ => values.push((v, 1)),
            }
        }
        TickSamples { at, values }
    }
}

#[derive(Debug, Clone)]
pub struct StatsEntry {
    pub method: String,
    pub name: String,
    pub num_requests: u64,
    pub num_failures: u64,
    /// Sum of response times in milliseconds.
    pub total_response_time: f64,
    pub min_response_time: Option<f64>,
    pub max_response_time: f64,
    pub total_content_length: u64,
    pub start_time: f64,
    pub last_request_timestamp: Option<f64>,
    histogram: Histogram<u64>,
    /// (epoch second, requests, failures), ascending, the last `PER_SECOND_KEEP` seconds.
    per_second: VecDeque<(u64, u64, u64)>,
    /// Samples of recent ticks, for the "current" percentiles of the history CSV and charts.
    window: VecDeque<TickSamples>,
    /// Samples absorbed since the last closed tick.
    pending: Vec<u32>,
}

impl StatsEntry {
    pub fn new(method: &str, name: &str, start_time: f64) -> Self {
        StatsEntry {
            method: method.to_string(),
            name: name.to_string(),
            num_requests: 0,
            num_failures: 0,
            total_response_time: 0.0,
            min_response_time: None,
            max_response_time: 0.0,
            total_content_length: 0,
            start_time,
            last_request_timestamp: None,
            // Auto-resizing, so an endpoint only pays for the range it actually saw.
            histogram: Histogram::new(3).expect("3 significant digits is a valid HDR precision"),
            per_second: VecDeque::new(),
            window: VecDeque::new(),
            pending: Vec::new(),
        }
    }

    pub fn reset(&mut self, now: f64) {
        *self = StatsEntry::new(&self.method, &self.name, now);
    }

    /// Folds a batch of requests (already summed by a shard) into this entry.
    pub fn absorb(&mut self, batch: &Batch<'_>) {
        self.num_requests += batch.requests;
        self.num_failures += batch.failures;
        self.total_response_time += batch.total_response_time;
        self.min_response_time = Some(match self.min_response_time {
            Some(m) => m.min(batch.min_response_time),
            None => batch.min_response_time,
        });
        self.max_response_time = self.max_response_time.max(batch.max_response_time);
        self.total_content_length += batch.content_length;
        self.last_request_timestamp = Some(match self.last_request_timestamp {
            Some(t) => t.max(batch.last_timestamp),
            None => batch.last_timestamp,
        });
        for &v in batch.samples {
            // `record` grows the auto-resizing histogram; `saturating_record` would clamp to
            // its current range instead.
            if self.histogram.record(u64::from(v)).is_err() {
                self.histogram.saturating_record(u64::from(v));
            }
        }
        self.pending.extend_from_slice(batch.samples);
        for &(sec, reqs, fails) in batch.per_second {
            self.add_per_second(sec, reqs, fails);
        }
    }

    fn add_per_second(&mut self, sec: u64, reqs: u64, fails: u64) {
        let pos = self.per_second.iter().rposition(|&(s, _, _)| s <= sec);
        match pos {
            Some(i) if self.per_second[i].0 == sec => {
                self.per_second[i].1 += reqs;
                self.per_second[i].2 += fails;
            }
            Some(i) => self.per_second.insert(i + 1, (sec, reqs, fails)),
            None => self.per_second.push_front((sec, reqs, fails)),
        }
        let newest = self.per_second.back().map_or(sec, |e| e.0);
        while self
            .per_second
            .front()
            .is_some_and(|e| e.0 + PER_SECOND_KEEP < newest)
        {
            self.per_second.pop_front();
        }
    }

    /// Ends a collection tick: what was absorbed since the last one joins the current window.
    pub fn close_tick(&mut self, at: f64) {
        let tick = TickSamples::from_raw(at, &mut self.pending);
        self.pending.clear();
        self.push_tick(tick);
    }

    /// Remembers one tick's samples and forgets ticks older than the current window.
    fn push_tick(&mut self, tick: TickSamples) {
        let horizon = tick.at - CURRENT_WINDOW_SECS;
        if !tick.values.is_empty() {
            self.window.push_back(tick);
        }
        while self.window.front().is_some_and(|t| t.at <= horizon) {
            self.window.pop_front();
        }
    }

    pub fn avg_response_time(&self) -> f64 {
        if self.num_requests == 0 {
            0.0
        } else {
            self.total_response_time / self.num_requests as f64
        }
    }

    /// Locust prints int `0` when there were no requests, a float otherwise.
    pub fn avg_content_length(&self) -> Option<f64> {
        (self.num_requests > 0).then(|| self.total_content_length as f64 / self.num_requests as f64)
    }

    pub fn fail_ratio(&self) -> f64 {
        if self.num_requests == 0 {
            if self.num_failures > 0 { 1.0 } else { 0.0 }
        } else {
            self.num_failures as f64 / self.num_requests as f64
        }
    }

    /// Percentiles in milliseconds over the whole run, `None` before the first request.
    ///
    /// The rank is Locust's (0-based `min(floor(n*p), n-1)` of the sorted samples), and every
    /// value is clamped to the raw [min, max]: an HDR bucket's upper edge must not report a
    /// 100th percentile above the slowest request actually seen.
    pub fn percentiles(&self, ps: &[f64]) -> Option<Vec<f64>> {
        let n = self.histogram.len();
        if n == 0 {
            return None;
        }
        let iter = self
            .histogram
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()));
        Some(self.clamp_all(values_at_ranks(iter, n, ps)))
    }

    /// Response times in Locust's buckets (`bucket_response_time`: whole ms below 100, then
    /// tens, hundreds, thousands) with their counts, as Locust's JSON output shows them.
    pub fn locust_buckets(&self) -> std::collections::BTreeMap<u64, u64> {
        let mut out = std::collections::BTreeMap::new();
        for v in self.histogram.iter_recorded() {
            let ms = self.histogram.median_equivalent(v.value_iterated_to()) as f64 / 1000.0;
            *out.entry(locust_bucket(ms)).or_insert(0) += v.count_at_value();
        }
        out
    }

    /// How many requests took at most each bound (milliseconds, ascending): the cumulative
    /// buckets of a Prometheus histogram, read off the HDR histogram (3 significant digits).
    pub fn counts_at_most(&self, bounds_ms: &[f64]) -> Vec<u64> {
        bounds_ms
            .iter()
            .map(|b| {
                let us = (b * 1000.0).max(0.0) as u64;
                self.histogram.count_between(0, us)
            })
            .collect()
    }

    /// (epoch second, requests, failures) of the last seconds, oldest first.
    pub fn per_second(&self) -> impl Iterator<Item = &(u64, u64, u64)> {
        self.per_second.iter()
    }

    pub fn percentile(&self, p: f64) -> Option<f64> {
        self.percentiles(&[p]).map(|v| v[0])
    }

    /// Median as Locust defines it: 0 without samples, otherwise clamped to [min, max].
    pub fn median(&self) -> f64 {
        self.percentile(0.5).unwrap_or(0.0)
    }

    /// Percentiles over the requests of the last `CURRENT_WINDOW_SECS`; `None` when the window
    /// holds no sample (Locust prints `0` then).
    pub fn current_percentiles(&self, ps: &[f64]) -> Option<Vec<f64>> {
        let mut merged: Vec<(u32, u32)> = self
            .window
            .iter()
            .flat_map(|t| t.values.iter().copied())
            .collect();
        if merged.is_empty() {
            return None;
        }
        merged.sort_unstable_by_key(|&(v, _)| v);
        let n: u64 = merged.iter().map(|&(_, c)| u64::from(c)).sum();
        let iter = merged
            .into_iter()
            .map(|(v, c)| (u64::from(v), u64::from(c)));
        Some(self.clamp_all(values_at_ranks(iter, n, ps)))
    }

    fn clamp_all(&self, micros: Vec<u64>) -> Vec<f64> {
        micros
            .into_iter()
            .map(|us| {
                let ms = us as f64 / 1000.0;
                let lo = self.min_response_time.unwrap_or(ms);
                ms.clamp(
                    lo.min(self.max_response_time),
                    self.max_response_time.max(lo),
                )
            })
            .collect()
    }

    /// Locust's "current" rate: the mean of the per-second counts over the seconds
    /// `[max(L-12, S), L-2)`, where L and S are the run's (not this entry's) last request and
    /// start times. Returns (requests/s, failures/s).
    pub fn current_rates(&self, global_start: f64, global_last: Option<f64>) -> (f64, f64) {
        let Some(last) = global_last else {
            return (0.0, 0.0);
        };
        let l = last.trunc() as i64;
        let s = global_start.trunc() as i64;
        let from = (l - 12).max(s);
        let to = l - 2;
        let len = (to - from).max(0);
        let (mut reqs, mut fails) = (0u64, 0u64);
        for &(sec, r, f) in &self.per_second {
            let sec = sec as i64;
            if sec >= from && sec < to {
                reqs += r;
                fails += f;
            }
        }
        let denom = len.max(1) as f64;
        (reqs as f64 / denom, fails as f64 / denom)
    }
}

/// What a shard hands over for one endpoint at collection time.
pub struct Batch<'a> {
    pub requests: u64,
    pub failures: u64,
    pub total_response_time: f64,
    pub min_response_time: f64,
    pub max_response_time: f64,
    pub content_length: u64,
    pub last_timestamp: f64,
    /// Response times in microseconds.
    pub samples: &'a [u32],
    pub per_second: &'a [(u64, u64, u64)],
}

/// Locust 2.47's `bucket_response_time`: round to 1 ms below 100 ms, to 10 below 1 s, to 100
/// below 10 s, to 1000 above, half to even as Python's `round`.
pub fn locust_bucket(ms: f64) -> u64 {
    let k = match ms {
        m if m < 100.0 => 0,
        m if m < 1000.0 => 1,
        m if m < 10_000.0 => 2,
        _ => 3,
    };
    let unit = 10f64.powi(k);
    ((ms / unit).round_ties_even() * unit) as u64
}

/// Walks ascending (value, count) pairs once and returns the value at Locust's rank for each
/// of `ps` (which must be ascending).
pub fn values_at_ranks(mut iter: impl Iterator<Item = (u64, u64)>, n: u64, ps: &[f64]) -> Vec<u64> {
    let ranks: Vec<u64> = ps
        .iter()
        .map(|&p| ((n as f64 * p) as u64).min(n.saturating_sub(1)))
        .collect();
    let mut out = Vec::with_capacity(ps.len());
    let mut seen = 0u64;
    let mut last = 0u64;
    for rank in ranks {
        while seen <= rank {
            match iter.next() {
                Some((value, count)) => {
                    seen += count;
                    last = value;
                }
                None => break,
            }
        }
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn buckets_follow_locusts_rounding() {
        // Locust 2.47's observed test vectors (locust-spec.md 3.3).
        for (ms, bucket) in [
            (0.4, 0),
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (99.5, 100),
            (99.6, 100),
            (145.0, 140),
            (155.0, 160),
            (994.0, 990),
            (995.0, 1000),
            (1049.9, 1000),
            (1050.0, 1000),
            (1150.0, 1200),
            (9949.0, 9900),
            (9950.0, 10000),
            (10500.0, 10000),
            (11500.0, 12000),
            (123456.7, 123000),
        ] {
            assert_eq!(locust_bucket(ms), bucket, "{ms}");
        }
    }

    use super::*;
    use rand::{RngExt, SeedableRng, rngs::SmallRng};

    fn entry_from(samples_ms: &[f64]) -> StatsEntry {
        let mut e = StatsEntry::new("GET", "/x", 0.0);
        for &ms in samples_ms {
            let us = [(ms * 1000.0).round() as u32];
            e.absorb(&Batch {
                requests: 1,
                failures: 0,
                total_response_time: ms,
                min_response_time: ms,
                max_response_time: ms,
                content_length: 10,
                last_timestamp: 1.0,
                samples: &us,
                per_second: &[(1, 1, 0)],
            });
        }
        e
    }

    /// The independent oracle: sort the samples and index them the way Locust does.
    fn oracle(samples_ms: &[f64], p: f64) -> f64 {
        let mut s: Vec<f64> = samples_ms
            .iter()
            .map(|ms| (ms * 1000.0).round() / 1000.0)
            .collect();
        s.sort_by(f64::total_cmp);
        let k = ((s.len() as f64 * p) as usize).min(s.len() - 1);
        s[k]
    }

    #[test]
    fn percentiles_match_sorted_samples_within_hdr_precision() {
        let mut rng = SmallRng::seed_from_u64(7);
        for round in 0..200 {
            let n = rng.random_range(1..3000);
            let samples: Vec<f64> = (0..n)
                .map(|_| match round % 4 {
                    0 => rng.random_range(0.05..5.0),
                    1 => rng.random_range(1.0..2000.0),
                    2 => (rng.random_range(0.0f64..1.0)).powi(8) * 60_000.0 + 0.2,
                    _ => [1.0, 150.0, 151.5, 3000.0][rng.random_range(0..4)],
                })
                .collect();
            let e = entry_from(&samples);
            let got = e.percentiles(&PERCENTILES_TO_REPORT).unwrap();
            for (p, g) in PERCENTILES_TO_REPORT.iter().zip(got) {
                let want = oracle(&samples, *p);
                // HDR with 3 significant digits: within 0.1% of the sample, never below it.
                let tolerance = want * 0.001 + 0.0005;
                assert!(
                    (g - want).abs() <= tolerance,
                    "round {round}, n {n}, p {p}: got {g}, oracle {want}"
                );
            }
        }
    }

    #[test]
    fn small_values_are_exact_to_the_microsecond() {
        let samples = [2.345, 1.001, 7.5, 0.25];
        let e = entry_from(&samples);
        for p in PERCENTILES_TO_REPORT {
            assert_eq!(e.percentile(p).unwrap(), oracle(&samples, p), "p {p}");
        }
    }

    #[test]
    fn locust_rank_is_the_upper_median() {
        // Locust: 50% of [100, 145] is the second sample.
        let e = entry_from(&[100.0, 145.0]);
        assert_eq!(e.median(), 145.0);
    }

    #[test]
    fn median_and_percentiles_clamp_to_raw_extremes() {
        let e = entry_from(&[2.3344879]);
        assert_eq!(e.median(), 2.3344879);
        assert_eq!(e.percentile(1.0).unwrap(), 2.3344879);
        let empty = StatsEntry::new("GET", "/", 0.0);
        assert_eq!(empty.median(), 0.0);
        assert!(empty.percentiles(&[0.5]).is_none());
    }

    #[test]
    fn current_rate_uses_lockusts_window() {
        let mut e = StatsEntry::new("GET", "/", 100.0);
        for sec in 100..120u64 {
            e.add_per_second(sec, sec - 99, 1);
        }
        // L = 119: window [107, 117) → counts 8..=17, mean 12.5
        let (rps, fps) = e.current_rates(100.0, Some(119.4));
        assert_eq!(rps, 12.5);
        assert_eq!(fps, 1.0);
        // Too early: empty window divides by 1.
        assert_eq!(e.current_rates(100.0, Some(101.0)), (0.0, 0.0));
    }

    #[test]
    fn current_percentiles_forget_old_ticks() {
        let mut e = StatsEntry::new("GET", "/", 0.0);
        e.min_response_time = Some(0.001);
        e.max_response_time = 1000.0;
        e.push_tick(TickSamples::from_raw(1.0, &mut [500_000, 500_000]));
        e.push_tick(TickSamples::from_raw(5.0, &mut [2_000, 1_000, 3_000]));
        assert_eq!(e.current_percentiles(&[0.5]).unwrap(), vec![3.0]);
        e.push_tick(TickSamples::from_raw(12.0, &mut [4_000]));
        // The tick at t=1 left the window; the ones at 5 and 12 remain.
        assert_eq!(e.current_percentiles(&[1.0]).unwrap(), vec![4.0]);
        assert_eq!(e.current_percentiles(&[0.0]).unwrap(), vec![1.0]);
    }
}
